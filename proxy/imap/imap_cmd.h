#ifndef IMAP_CMD_H
#define IMAP_CMD_H

/*
 * IMAP command builders. Pure: libc only, no I/O.
 *
 * Anything that came from a POP3 client (user name, password, mailbox
 * name) is only ever written as an IMAP literal or as base64, never spliced
 * into command syntax, so quotes, CR, LF, "{5}" and the like cannot inject
 * a command. NUL cannot be carried by an IMAP literal and is refused.
 *
 * A built command is one buffer split into parts: after sending part i
 * (i < nparts-1) the client must wait for a "+" continuation before sending
 * part i+1 (synchronising literals). With non-synchronising literals
 * (LITERAL+, LITERAL-) the whole command is one part.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_CMD_MAX_PARTS 8
#define IMAP_TAG_MAX 16
/* Longest user name or password we pass on. */
#define IMAP_CRED_MAX 1024
/* Longest OAuth2 access token we send (Microsoft's run to a few KB). */
#define IMAP_TOKEN_MAX 8192
/* Longest XOAUTH2/OAUTHBEARER message: the token, the user name escaped
   (3 octets per octet at worst), the host and the framing. */
#define IMAP_SASL_OAUTH_MAX (IMAP_TOKEN_MAX + 3 * IMAP_CRED_MAX + 300)
/* RFC 7888: LITERAL- allows non-synchronising literals up to this size. */
#define IMAP_LITERAL_MINUS_MAX 4096
/* Longest ID values we send (RFC 2971 allows 1024). */
#define IMAP_ID_IP_MAX 45         /* INET6_ADDRSTRLEN - 1 */
#define IMAP_ID_SESSION_MAX 64
#define IMAP_ID_VERSION_MAX 32

struct imap_cmd_text {
	char *buf;           /* owned; free with imap_cmd_text_clear() */
	size_t len;
	size_t cap;
	unsigned int nparts;
	size_t part_end[IMAP_CMD_MAX_PARTS]; /* end offset of each part */
};

void imap_cmd_text_clear(struct imap_cmd_text *cmd);

/*
 * "<tag> <args>\r\n" where args is trusted text built by the caller
 * (e.g. "SELECT INBOX", "UID FETCH 12 BODY[]"). Fails on CR/LF/NUL in args.
 * Returns 0, or -1 with *error_r.
 */
int imap_cmd_simple(struct imap_cmd_text *cmd, const char *tag,
		    const char *args, const char **error_r);

/* What the server allows, for imap_cmd_format(). */
struct imap_cmd_opts {
	bool literal_plus;   /* LITERAL+: every literal non-synchronising */
	bool literal_minus;  /* LITERAL-: those up to IMAP_LITERAL_MINUS_MAX */
	bool utf8;           /* UTF8=ACCEPT enabled: 8-bit octets may be quoted */
};

/* Longest string sent as a quoted string; longer ones go as literals. */
#define IMAP_QUOTED_MAX 1024

/*
 * The command builder: "<tag> " + fmt + "\r\n". Call sites never quote
 * by hand: the text of fmt is command syntax (trusted, no control
 * characters) and every argument is written by its directive:
 *
 *   %u  unsigned int             %U  uint64_t
 *   %s  const char *: a string, as a quoted string, or as a literal when
 *       it cannot be one (CR, LF, 8-bit octets without opts->utf8, longer
 *       than IMAP_QUOTED_MAX); the empty string is ""
 *   %b  const char *, size_t: the same for counted bytes (a NUL is an
 *       error: IMAP cannot carry it)
 *   %L  const char *, size_t: always a literal (credentials: never
 *       quoted, never seen by a quoted-string parser), non-empty
 *   %S  const char *: a sequence set, only [0-9:,*] (e.g. from
 *       imap_cmd_uid_set())
 *   %%  a '%'
 *
 * Literals are non-synchronising where opts allow, else each ends a part
 * (the client waits for "+" before the next). Returns 0, or -1 with a
 * static *error_r (bad directive or argument, too many parts, memory).
 */
int imap_cmd_format(struct imap_cmd_text *cmd, const char *tag,
		    const struct imap_cmd_opts *opts, const char **error_r,
		    const char *fmt, ...);
int imap_cmd_vformat(struct imap_cmd_text *cmd, const char *tag,
		     const struct imap_cmd_opts *opts, const char **error_r,
		     const char *fmt, va_list args);

/* Longest UID set written in one command; more UIDs take more commands. */
#define IMAP_UID_SET_MAX 4000

/*
 * Writes uids[start..n) (ascending) as a compact IMAP set ("3:7,9") of at
 * most about max_len octets into buf (size > max_len + 24, NUL-terminated);
 * returns the index of the first UID left out (n when all fit).
 */
size_t imap_cmd_uid_set(const uint32_t *uids, size_t n, size_t start, char *buf,
			size_t size, size_t max_len);

/*
 * LOGIN with both arguments as literals:
 *   "<tag> LOGIN {u}\r\n" user " {p}\r\n" pass "\r\n"
 * literal_plus: use "{n+}" and one part; otherwise three parts.
 * Fails (-1) for empty or NUL-containing or overlong credentials.
 * imap_cmd_nonsync_ok() says whether literal_plus may be used.
 */
int imap_cmd_login(struct imap_cmd_text *cmd, const char *tag,
		   const char *user, size_t user_len,
		   const char *pass, size_t pass_len, bool literal_plus,
		   const char **error_r);

/*
 * Whether literals of these sizes may be sent non-synchronising: always
 * with LITERAL+, with LITERAL- only up to IMAP_LITERAL_MINUS_MAX each.
 */
bool imap_cmd_nonsync_ok(bool literal_plus, bool literal_minus,
			 size_t len1, size_t len2);

/*
 * AUTHENTICATE <mech> with the already base64-encoded initial response,
 * as imap_cmd_authenticate_plain below; mech is a SASL mechanism name
 * (1..20 of [A-Z0-9_-]).
 */
int imap_cmd_authenticate(struct imap_cmd_text *cmd, const char *tag, const char *mech,
			  const char *b64, size_t b64_len, bool sasl_ir,
			  const char **error_r);

/*
 * AUTHENTICATE PLAIN with the already base64-encoded SASL message:
 * sasl_ir: "<tag> AUTHENTICATE PLAIN <b64>\r\n" (one part);
 * otherwise "<tag> AUTHENTICATE PLAIN\r\n" then "<b64>\r\n" (two parts).
 * b64 must be non-empty base64 alphabet only.
 */
int imap_cmd_authenticate_plain(struct imap_cmd_text *cmd, const char *tag,
				const char *b64, size_t b64_len, bool sasl_ir,
				const char **error_r);

/*
 * What popgate tells the server in ID (RFC 2971) about itself and the POP3
 * client it acts for. NULL or 0: the field is not sent.
 */
struct imap_id_params {
	const char *version;    /* 1..IMAP_ID_VERSION_MAX of [A-Za-z0-9.+~_-] */
	const char *client_ip;  /* numeric IPv4 or IPv6 (no zone, no brackets) */
	uint16_t client_port;
	const char *local_ip;   /* our address the client connected to */
	uint16_t local_port;
	const char *session_id; /* 1..IMAP_ID_SESSION_MAX of [A-Za-z0-9._-] */
};

/*
 * "<tag> ID ("name" "popgate" "version" "<v>" "x-originating-ip" "<ip>"
 * "x-originating-port" "<n>" "x-connected-ip" "<ip>" "x-connected-port"
 * "<n>" "x-session-ext-id" "<id>")\r\n" (one part), in that order, fields
 * that are NULL/0 left out. Every value is checked to be exactly what its
 * field says (a numeric address, a port, a plain token), so a value never
 * needs escaping and cannot break out of its quoted string; anything else
 * fails the whole command (-1 with *error_r naming the field).
 */
int imap_cmd_id(struct imap_cmd_text *cmd, const char *tag,
		const struct imap_id_params *id, const char **error_r);

/*
 * Builds the SASL PLAIN message "\0<authcid>\0<passwd>" (empty authzid)
 * into dst (capacity dst_size). Returns its length, or 0 if it does not fit
 * or a credential is empty or holds a NUL.
 */
size_t imap_sasl_plain_message(const char *user, size_t user_len,
			       const char *pass, size_t pass_len,
			       char *dst, size_t dst_size);

/*
 * The initial client responses of the OAuth2 mechanisms, into dst
 * (capacity dst_size); each returns its length, or 0 (with *error_r) if
 * it does not fit or an argument cannot be sent. The user is 1 to
 * IMAP_CRED_MAX octets without control characters; the token is an RFC
 * 6750 b64token (1..IMAP_TOKEN_MAX of letters, digits, "-._~+/", then
 * any "="), so neither can end a field.
 *
 * XOAUTH2 (Google, Microsoft): "user=" user "^Aauth=Bearer " token "^A^A".
 * OAUTHBEARER (RFC 7628): "n,a=" saslname ",^Ahost=" host "^Aport=" port
 * "^Aauth=Bearer " token "^A^A", the saslname being the user with "," and
 * "=" written "=2C" and "=3D" (RFC 5801); host 1..255 of [A-Za-z0-9.:-].
 */
size_t imap_sasl_xoauth2_message(const char *user, size_t user_len, const char *token,
				 size_t token_len, char *dst, size_t dst_size,
				 const char **error_r);
size_t imap_sasl_oauthbearer_message(const char *user, size_t user_len, const char *host,
				     uint16_t port, const char *token, size_t token_len,
				     char *dst, size_t dst_size, const char **error_r);

/* What a client answers to an OAuth2 mechanism's error challenge (RFC
   7628 3.2.3: a lone ^A for OAUTHBEARER; an empty response for XOAUTH2),
   base64-encoded with its CRLF: "AQ==\r\n" or "\r\n". */
const char *imap_sasl_oauth_abort(bool oauthbearer);

#endif
