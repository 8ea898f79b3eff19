#ifndef IMAP_VALUES_H
#define IMAP_VALUES_H

/*
 * IMAP values outside the response grammar proper: LIST and NAMESPACE
 * responses, date-time, quoted strings. Pure: libc only.
 */

#include <stddef.h>
#include <stdint.h>

/* Mailbox attributes of a LIST response that we use. */
enum imap_list_attr {
	IMAP_LIST_NOSELECT = 1u << 0, /* \Noselect, \NonExistent */
	IMAP_LIST_TRASH    = 1u << 1, /* \Trash (RFC 6154) */
	/* the other RFC 6154 special uses */
	IMAP_LIST_ALL      = 1u << 2, /* \All */
	IMAP_LIST_ARCHIVE  = 1u << 3, /* \Archive */
	IMAP_LIST_DRAFTS   = 1u << 4, /* \Drafts */
	IMAP_LIST_FLAGGED  = 1u << 5, /* \Flagged */
	IMAP_LIST_JUNK     = 1u << 6, /* \Junk */
	IMAP_LIST_SENT     = 1u << 7, /* \Sent */
};

/* The attribute bit of a special-use name ("\Sent", any case), 0 for
   none. */
unsigned int imap_list_special_attr(const char *name, size_t len);

/*
 * Parses the rest of "* LIST (attrs) delim mailbox": the attribute bits
 * and the mailbox name (an atom or a quoted string, unescaped) into name
 * (name_size, NUL-terminated). Literal names (a "{n}" marker) and names
 * that do not fit are refused. Returns 0, or -1 with *error_r.
 */
int imap_list_parse(const char *rest, size_t len, unsigned int *attrs_r,
		    char *name, size_t name_size, const char **error_r);

/*
 * Parses the rest of "* NAMESPACE (("INBOX." ".")) NIL NIL" (RFC 2342):
 * the prefix of the first personal namespace (unescaped, NUL-terminated,
 * into prefix of size octets; may be "") and its hierarchy delimiter
 * ('\0' for NIL). -1 with *error_r when there is no personal namespace
 * or the text is not one.
 */
int imap_namespace_personal(const char *rest, size_t len, char *prefix, size_t size,
			    char *delim_r, const char **error_r);

/*
 * Parses an IMAP date-time ("17-Jul-1996 02:44:25 -0700", RFC 3501 9,
 * with a space instead of the leading zero of a one-digit day) into unix
 * time. Returns 0, or -1 for anything else.
 */
int imap_parse_date_time(const char *s, size_t len, int64_t *time_r);

/* Undoes quoted-string escaping (\" and \\) of src into dst (at least
   src_len octets). Returns the length written. */
size_t imap_unquote(const char *src, size_t src_len, char *dst);

#endif
