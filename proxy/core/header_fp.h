#ifndef HEADER_FP_H
#define HEADER_FP_H

/*
 * Message fingerprints for re-mapping per-device state when an upstream
 * mailbox is recreated (new UIDVALIDITY, new UIDs). Pure: libc only.
 *
 * The input is what BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)]
 * returns. The canonical form does not depend on line ends, folding,
 * runs of white space, field-name case or field order, so the same message
 * stored again (by a migration, a restore, another server) gives the same
 * form; the caller digests it.
 */

#include <stddef.h>

#define HEADER_FP_FIELDS "MESSAGE-ID DATE FROM SUBJECT"
/* Longest canonical form; a longer header block is cut (the digest then
   covers its start, still stable for the same message). */
#define HEADER_FP_MAX 4096

/*
 * Writes the canonical form of the header block hdr[0..len) into out
 * (HEADER_FP_MAX + 1 bytes): for each of the four fields present,
 * "<lower-case name>:<value>\n" with the value unfolded, white space runs
 * as one space, trimmed, cut at 998 octets; empty fields left out; lines
 * sorted. Returns its length (0: none of the
 * fields present). Never fails; NUL and 8-bit octets are kept as they are.
 */
size_t header_fp_canonical(const char *hdr, size_t len, char *out);

/* The Message-ID field's value in hdr[0..len), unfolded and trimmed as in
   the canonical form, NUL-terminated into out (out_size). Returns its
   length, or 0 when there is none, it is empty, holds a NUL or does not
   fit. */
size_t header_fp_message_id(const char *hdr, size_t len, char *out, size_t out_size);

/*
 * The header block hdr[0..len) as the lazy import from a legacy POP3
 * server compares it (as Dovecot's pop3-migration plugin does): every
 * field but those in HEADER_FP_MIGRATION_SKIP, in the header's order, as
 * "<lower-case name>:<value>\n" where name and value have no white space
 * at all (a server may refold or trim lines) and each octet of 0x80 and
 * up is '?' (some convert 8-bit text); up to the first empty line; lines
 * that are no field (an mbox "From " line) left out. out needs room for
 * len + 2 bytes; the form is NUL-terminated. Returns its length (0: no
 * field).
 */
size_t header_fp_migration(const char *hdr, size_t len, char *out);

#endif
