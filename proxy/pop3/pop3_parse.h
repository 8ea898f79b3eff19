#ifndef POP3_PARSE_H
#define POP3_PARSE_H

/*
 * POP3 command-line scanner and parser. Pure: libc only, no I/O.
 *
 * The scanner is resumable: feed it whatever bytes have arrived; it stops
 * after exactly one complete line (so pipelined commands stay queued in the
 * caller's buffer, in order) and reports how many bytes it consumed.
 */

#include <stdbool.h>
#include <stddef.h>

#include "cache_key.h"

/* RFC 2449: a command line is at most 255 octets including CRLF. */
#define POP3_MAX_CMD_LINE 255
/* RFC 5034 allows longer client lines inside an AUTH exchange. */
#define POP3_MAX_AUTH_LINE 2048
/* Keyword 3-4 characters (RFC 1939), arguments split on spaces. */
#define POP3_MAX_ARGS 4

enum pop3_parse_status {
	POP3_PARSE_OK,        /* one complete line is in the scanner */
	POP3_PARSE_NEED_MORE, /* all input consumed, line not complete */
	POP3_PARSE_ERROR,     /* line rejected; *error_r says why */
};

struct pop3_scanner {
	size_t max_len;  /* maximum octets including the line end */
	size_t len;      /* octets of the current line stored in buf */
	bool saw_cr;     /* previous octet was CR */
	bool complete;   /* buf holds a finished line: the next feed starts
			    over (the contract lets callers read buf until
			    then, so it cannot be cleared on return) */
	char buf[POP3_MAX_AUTH_LINE + 1];
};

/* Resets the scanner for a new line; max_len (including CRLF) is clamped
   to 2..POP3_MAX_AUTH_LINE. */
void pop3_scanner_init(struct pop3_scanner *s, size_t max_len);

/* Changes the limit for the next line (AUTH continuation lines are longer);
   only valid between lines. */
void pop3_scanner_set_max(struct pop3_scanner *s, size_t max_len);

/*
 * Consumes input up to and including the first line end (CRLF, or a bare LF
 * which is tolerated). *consumed_r is always set.
 * OK: s->buf holds the line without its line end, NUL-terminated, s->len its
 *     length; the next feed starts a new line.
 * NEED_MORE: every byte was consumed and stored.
 * ERROR: the line is longer than max_len, contains NUL or a bare CR;
 *     the connection cannot be trusted to be in sync any more: the caller
 *     replies -ERR and closes. *error_r is a static string. *consumed_r
 *     counts up to and including the offending octet; the scanner is reset.
 * The limit counts the line end actually received: with max_len 255 a line
 * may hold 253 octets before CRLF or 254 before a bare LF. An overlong line
 * is rejected as soon as it cannot fit any more, without waiting for its end.
 * error_r may be NULL.
 */
enum pop3_parse_status pop3_scanner_feed(struct pop3_scanner *s,
					 const unsigned char *data, size_t len,
					 size_t *consumed_r, const char **error_r);

struct pop3_cmd {
	char name[5];             /* keyword, upper-cased, NUL-terminated */
	unsigned int argc;        /* number of space-separated arguments,
				     at most POP3_MAX_ARGS (see too_many_args) */
	const char *argv[POP3_MAX_ARGS]; /* NUL-terminated, inside the line */
	const char *rest;         /* everything after "KEYWORD ", unsplit and
				     unmodified (PASS takes spaces); "" if none */
	bool too_many_args;       /* more than POP3_MAX_ARGS arguments */
	char copy[POP3_MAX_AUTH_LINE + 1]; /* split copy argv points into */
};

/*
 * Splits one line (as left in the scanner's buf, len <= POP3_MAX_AUTH_LINE)
 * into keyword and arguments. line[len] must be NUL (the scanner's buf is),
 * because rest points into line itself, unmodified. argv point into
 * cmd->copy. Arguments are separated by one or more spaces; leading and
 * trailing spaces produce no empty arguments. The keyword ends at the first
 * space or the end of the line.
 * Returns 0, or -1 with *error_r (static string, error_r may be NULL) for an
 * empty line, an overlong line, a NUL inside the line or a keyword that is
 * not 3-4 ASCII letters.
 */
int pop3_cmd_parse(const char *line, size_t len, struct pop3_cmd *cmd,
		   const char **error_r);

/*
 * Parses a POP3 message-number argument: decimal, 1..max, no sign, no
 * leading/trailing junk, no overflow (leading zeros are accepted, "0" is
 * not). arg may be NULL. Returns 0 and *num_r, or -1 leaving *num_r alone.
 */
int pop3_parse_msgnum(const char *arg, unsigned int max, unsigned int *num_r);

/* Parses a non-negative decimal line count for TOP (0..UINT32_MAX), same
   syntax rules as pop3_parse_msgnum(). Returns 0 and *count_r, or -1. */
int pop3_parse_linecount(const char *arg, unsigned long *count_r);

/* Device names: the state store's rule (cache_key.h). */
#define POP3_DEVICE_MAX CACHE_DEVICE_MAX
#define POP3_DEVICE_DEFAULT "default"

/*
 * Splits a login name "user<sep>device" at the LAST separator (so a user
 * name may itself contain the separator). Without a separator the device
 * is POP3_DEVICE_DEFAULT. Returns 0, the length of the user part in
 * *user_len_r and the device NUL-terminated in device; -1 with *error_r
 * (static) for an empty user or device, an overlong device or one with a
 * character outside the safe set.
 */
int pop3_split_device(const char *login, size_t len, char sep, size_t *user_len_r,
		      char device[POP3_DEVICE_MAX + 1], const char **error_r);

#endif
