/* Message fingerprints from the server; contracts in imap_fp.h. */

#include "imap_fp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "header_fp.h"
#include "imap_cmd.h"
#include "imap_resp.h"
#include "imap_values.h"
#include "tls.h"
#include "uidl.h"

/* Header octets kept per message (the canonical form is bounded too). */
#define IMAP_FP_RAW_MAX 8192
/* What fetches the whole header. */
#define IMAP_FP_HEADER_ANY (IMAP_FP_HEADER_MD5 | IMAP_FP_HEADER_HASH)

void imap_fp_op_clear(struct imap_fp_op *op)
{
	free(op->raw);
	op->raw = NULL;
	free(op->hdr);
	op->hdr = NULL;
	free(op->seen);
	op->seen = NULL;
}

/* Index of uid in the list, or -1. */
static long imap_fp_index(const struct imap_fp_op *op, uint32_t uid)
{
	size_t lo = 0, hi = op->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (op->uids[mid] == uid)
			return (long)mid;
		if (op->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* What the fetch asked for besides the fingerprint. */
static void imap_fp_report_more(struct imap_fp_op *op, const struct imap_fetch *f,
				const char *raw, size_t raw_len, const char *hdr, size_t hdr_len,
				bool hdr_ok)
{
	struct imap_fp_more_values v = { .gmid = f->has_gmid ? f->gmid : 0 };

	if ((op->more & IMAP_FP_MESSAGE_ID) != 0)
		(void)header_fp_message_id(raw, raw_len, v.message_id, sizeof(v.message_id));

	if (f->guid != NULL && f->guid_len <= IMAP_FP_GUID_MAX)
		v.guid[imap_unquote(f->guid, f->guid_len, v.guid)] = '\0';
	if ((op->more & IMAP_FP_HEADER_ANY) != 0 && hdr_ok) {
		/* What is hashed is never longer than the header. */
		char *in = malloc(hdr_len + 2);
		size_t n;

		if (in != NULL && (op->more & IMAP_FP_HEADER_MD5) != 0) {
			n = uidl_md5_input(hdr, hdr_len, in, hdr_len + 1);
			if (n <= hdr_len + 1)
				tls_md5_hex(in, n, v.md5);
		}
		if (in != NULL && (op->more & IMAP_FP_HEADER_HASH) != 0 &&
		    (n = header_fp_migration(hdr, hdr_len, in)) > 0)
			tls_sha256_hex(in, n, v.hdr_hash);
		free(in);
	}
	if (op->h->more != NULL)
		op->h->more(op->ctx, f->uid, &v);
}

static void imap_fp_report(struct imap_fp_op *op, const struct imap_fetch *f,
			   const char *raw, size_t raw_len)
{
	char canon[HEADER_FP_MAX + 1], hex[IMAP_FP_HEX + 1] = "";
	long i;
	size_t n;

	if (!f->has_uid || (i = imap_fp_index(op, f->uid)) < 0 ||
	    (op->seen[i / 8] & (1u << (i % 8))) != 0)
		return;
	op->seen[i / 8] |= (uint8_t)(1u << (i % 8));
	if (op->more != 0)
		imap_fp_report_more(op, f, raw, raw_len, op->hdr, op->hdr_len,
				    op->have_hdr && !op->hdr_over);
	n = header_fp_canonical(raw, raw_len, canon);
	/* No identifying field at all: nothing to recognise it by later. */
	if (n > 0)
		tls_sha256_hex(canon, n, hex);
	op->h->message(op->ctx, f->uid, hex, f->has_internaldate ? f->internaldate : 0);
}

static bool imap_fp_literal_begin(void *ctx, const char *prefix, size_t len, uint64_t size)
{
	struct imap_fp_op *op = ctx;
	struct imap_fetch f;
	const char *error;

	if (imap_fetch_line(prefix, len, true, &f, &error) != 0 || !f.ends_with_body_literal)
		return false;
	if (strcmp(f.body.section, "HEADER") == 0 && (op->more & IMAP_FP_HEADER_ANY) != 0) {
		op->hdr_len = 0;
		op->have_hdr = true;
		op->hdr_over = size > IMAP_FP_HEADER_MAX;
		op->into_hdr = true;
		return true;
	}
	if (strncmp(f.body.section, "HEADER.FIELDS", 13) != 0)
		return false;
	op->raw_len = 0;
	op->have_raw = true;
	op->into_hdr = false;
	return true;
}

static void imap_fp_literal_data(void *ctx, const unsigned char *data, size_t len)
{
	struct imap_fp_op *op = ctx;
	size_t room;

	if (op->into_hdr) {
		room = IMAP_FP_HEADER_MAX - op->hdr_len;
		if (len > room)
			len = room;
		memcpy(op->hdr + op->hdr_len, data, len);
		op->hdr_len += len;
		return;
	}
	room = IMAP_FP_RAW_MAX - op->raw_len;
	if (len > room)
		len = room;
	memcpy(op->raw + op->raw_len, data, len);
	op->raw_len += len;
}

/* The whole FETCH line, after any literal: UID and INTERNALDATE may come
   before or after the header data. */
static void imap_fp_untagged(void *ctx, const struct imap_resp *resp)
{
	struct imap_fp_op *op = ctx;
	struct imap_fetch f;
	const char *error;

	if (imap_fetch_resp(resp, false, &f, &error) != 0 || f.body_count == 0) {
		op->have_raw = op->have_hdr = false;
		return;
	}
	if (strcmp(f.body.section, "HEADER") == 0 && (op->more & IMAP_FP_HEADER_ANY) != 0) {
		/* The header came last: the fields' literal came before it. */
		if (f.body.kind == IMAP_VALUE_QUOTED && f.body.value_len <= IMAP_FP_HEADER_MAX) {
			op->hdr_len = imap_unquote(f.body.value, f.body.value_len, op->hdr);
			op->have_hdr = true;
			op->hdr_over = false;
		}
		if (op->have_raw)
			imap_fp_report(op, &f, op->raw, op->raw_len);
		op->have_raw = op->have_hdr = false;
		return;
	}
	if (strncmp(f.body.section, "HEADER.FIELDS", 13) != 0) {
		op->have_raw = op->have_hdr = false;
		return;
	}
	if (f.body.kind == IMAP_VALUE_LITERAL && op->have_raw) {
		imap_fp_report(op, &f, op->raw, op->raw_len);
	} else if (f.body.kind == IMAP_VALUE_QUOTED) {
		size_t n = f.body.value_len < IMAP_FP_RAW_MAX ? f.body.value_len : IMAP_FP_RAW_MAX;

		imap_fp_report(op, &f, op->raw, imap_unquote(f.body.value, n, op->raw));
	} else if (f.body.kind == IMAP_VALUE_NIL) {
		imap_fp_report(op, &f, "", 0);
	}
	op->have_raw = op->have_hdr = false;
}

/* A FETCH of one of the UIDs asked for, with the header data asked for:
   a fingerprint sent quoted or NIL while a fetch queued before is not
   done yet is its own. */
static bool imap_fp_claims(void *ctx, const struct imap_resp *resp)
{
	const struct imap_fp_op *op = ctx;
	struct imap_fetch f;
	const char *error;

	if (imap_fetch_resp(resp, false, &f, &error) != 0 || !f.has_uid || f.body_count == 0 ||
	    imap_fp_index(op, f.uid) < 0)
		return false;
	return strncmp(f.body.section, "HEADER.FIELDS", 13) == 0 ||
	       (strcmp(f.body.section, "HEADER") == 0 && (op->more & IMAP_FP_HEADER_ANY) != 0);
}

static void imap_fp_finish(struct imap_fp_op *op, bool ok)
{
	imap_fp_op_clear(op);
	op->h->done(op->ctx, ok);
}

static int imap_fp_next(struct imap_fp_op *op, struct imap_client *c);

static void imap_fp_done(void *ctx, const struct imap_reply *reply);

static const struct imap_cmd_handlers imap_fp_handlers = {
	.untagged = imap_fp_untagged,
	.claims = imap_fp_claims,
	.literal_begin = imap_fp_literal_begin,
	.literal_data = imap_fp_literal_data,
	.done = imap_fp_done,
};

static int imap_fp_next(struct imap_fp_op *op, struct imap_client *c)
{
	char set[IMAP_UID_SET_MAX + 32], fmt[200];

	op->next = imap_cmd_uid_set(op->uids, op->count, op->next, set, sizeof(set),
				    IMAP_UID_SET_MAX);
	op->client = c;

	/* The command's text from constants only: no argument goes in it. */
	snprintf(fmt, sizeof(fmt), "UID FETCH %%S (UID INTERNALDATE%s%s BODY.PEEK[HEADER.FIELDS ("
		 HEADER_FP_FIELDS ")]%s)",
		 (op->more & IMAP_FP_GMID) != 0 ? " X-GM-MSGID" : "",
		 (op->more & IMAP_FP_GUID) != 0 ? " X-GUID" : "",
		 (op->more & IMAP_FP_HEADER_ANY) != 0 ? " BODY.PEEK[HEADER]" : "");
	return imap_client_cmdf(c, &imap_fp_handlers, op, fmt, set);
}

static void imap_fp_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_fp_op *op = ctx;

	if (reply->result != IMAP_REPLY_OK) {
		imap_fp_finish(op, false);
		return;
	}
	if (op->next == op->count) {
		imap_fp_finish(op, true);
		return;
	}
	if (imap_fp_next(op, op->client) < 0)
		imap_fp_finish(op, false);
}

int imap_fp_fetch(struct imap_fp_op *op, struct imap_client *c, const uint32_t *uids,
		  size_t n, const struct imap_fp_handlers *h, void *ctx)
{
	return imap_fp_fetch_more(op, c, uids, n, 0, h, ctx);
}

int imap_fp_fetch_more(struct imap_fp_op *op, struct imap_client *c, const uint32_t *uids,
		       size_t n, unsigned int more, const struct imap_fp_handlers *h,
		       void *ctx)
{
	*op = (struct imap_fp_op){ .uids = uids, .count = n, .h = h, .ctx = ctx, .more = more };
	op->raw = malloc(IMAP_FP_RAW_MAX);
	op->seen = calloc(n / 8 + 1, 1);
	if ((more & IMAP_FP_HEADER_ANY) != 0 && (op->hdr = malloc(IMAP_FP_HEADER_MAX)) == NULL)
		n = 0;
	if (op->raw == NULL || op->seen == NULL || n == 0 || imap_fp_next(op, c) < 0) {
		imap_fp_op_clear(op);
		return -1;
	}
	return 0;
}
