#ifndef UIDL_H
#define UIDL_H

/*
 * UIDLs: the forms a route may give new messages (uidl_format), and
 * uniqueness within a maildrop. Pure: libc only.
 *
 * Forms (uidl_format_parse()):
 *   dovecot    "%08x%08x" of UID and UIDVALIDITY: what popgate always gave
 *   gmail      "GmailId" + X-GM-MSGID in lower-case hex (Gmail's POP3)
 *   a template Dovecot's pop3_uidl_format syntax: %u UID, %v UIDVALIDITY,
 *              %m MD5 of the header as Dovecot's mbox "apop3d" form
 *              computes it (uidl_md5_input()), %g X-GUID, %% a '%';
 *              a width and "0" and "X"/"x" modifiers (%08Xu: 8 upper-case
 *              hex digits, zero padded) for %u and %v
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UIDL_LEN 70           /* RFC 1939 */
#define UIDL_TEMPLATE_MAX 64

enum uidl_kind {
	UIDL_DOVECOT,
	UIDL_GMAIL,
	UIDL_TEMPLATE,
};

/* What a form needs of each message, besides UID and UIDVALIDITY. */
enum uidl_need {
	UIDL_NEED_MD5 = 1 << 0,    /* the header (BODY.PEEK[HEADER]) */
	UIDL_NEED_GUID = 1 << 1,   /* X-GUID (Dovecot) */
	UIDL_NEED_GMID = 1 << 2,   /* X-GM-MSGID (X-GM-EXT-1) */
};

struct uidl_format {
	enum uidl_kind kind;
	unsigned int needs;             /* enum uidl_need bits */
	char tmpl[UIDL_TEMPLATE_MAX + 1];
};

/*
 * "dovecot", "gmail" (case-insensitive), or a template of at most
 * UIDL_TEMPLATE_MAX octets of 0x21..0x7e with at least one of %u %m
 * %g (%v alone is the same for every message) and no other '%' than
 * those, %v and %%. 0, or -1 with a static *error_r.
 */
int uidl_format_parse(const char *s, size_t len, struct uidl_format *f,
			   const char **error_r);

/* One message's data; md5 (32 hex digits) and guid may be NULL when the
   form does not need them. */
struct uidl_input {
	uint32_t uid, uidvalidity;
	const char *md5;
	const char *guid;
	uint64_t gmid;
};

/* The message's UIDL into buf (UIDL_LEN + 1). Returns its length, or
   0 when the form cannot give one: a needed input missing, the result
   longer than UIDL_LEN, or an octet outside 0x21..0x7e (an X-GUID
   that holds one). */
size_t uidl_format_apply(const struct uidl_format *f,
			      const struct uidl_input *in, char *buf);

/*
 * What Dovecot's "apop3d" header MD5 hashes, from a header block
 * hdr[0..len) (as BODY.PEEK[HEADER] returns it): the values of Date and
 * Message-ID when no Received came before them, of the first Received,
 * of every Delivered-To and X-Delivery-ID, each physical line of a folded
 * field on its own without its line end (the first after "Name:" and the
 * white space after it, the others whole). Appended to out (out_size);
 * returns the length, or out_size + 1 when it does not fit.
 */
size_t uidl_md5_input(const char *hdr, size_t len, char *out, size_t out_size);

/* A slot of uidl_unique(). */
struct uidl_slot {
	uint32_t uid;
	bool fresh;                     /* assigned now, not stored yet */
	bool changed;                   /* set by uidl_unique() */
	char uidl[UIDL_LEN + 1];   /* "" : none (left out) */
};

/*
 * Makes the UIDLs of slots[0..n) (ascending uids) unique. Stored ones
 * come first: of stored duplicates the lowest uid keeps its UIDL; every
 * other duplicate, and a fresh UIDL equal to any other, becomes
 * "<uidl cut to fit>.<uid in hex>" (then ".<uid>.<k>", k = 1, 2, ... if
 * that is taken as well), in uid order: the same slots always give the
 * same result. Sets changed on those. Returns how many changed, or -1
 * when out of memory (nothing changed).
 */
long uidl_unique(struct uidl_slot *slots, size_t n);


/* One line of a dump made on a legacy server, for popgate uidl import:
   "<address> <uidl> <message-id> <size>", fields separated by runs of
   spaces or tabs, a CR before the line end allowed. */
#define UIDL_DUMP_ADDRESS_MAX 320
#define UIDL_DUMP_MESSAGE_ID_MAX 255

struct uidl_dump_line {
	char address[UIDL_DUMP_ADDRESS_MAX + 1];
	char uidl[UIDL_LEN + 1];
	char message_id[UIDL_DUMP_MESSAGE_ID_MAX + 1];
	uint64_t size;
};

/* line[0..len) without its LF. 0 and *out; 1 for an empty line or a
   comment ('#' first); -1 with a static *error_r (a field missing or one
   too many, too long, a UIDL that RFC 1939 forbids, a size that is no
   decimal below 2^63, a NUL or control character). */
int uidl_dump_parse(const char *line, size_t len, struct uidl_dump_line *out,
		    const char **error_r);

#endif
