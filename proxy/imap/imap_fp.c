/* Message fingerprints from the server; contracts in imap_fp.h. */

#include "imap_fp.h"

#include <stdlib.h>
#include <string.h>

#include "header_fp.h"
#include "imap_cmd.h"
#include "imap_resp.h"
#include "tls.h"

/* Header octets kept per message (the canonical form is bounded too). */
#define IMAP_FP_RAW_MAX 8192

void imap_fp_op_clear(struct imap_fp_op *op)
{
	free(op->raw);
	op->raw = NULL;
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

	if (imap_fetch_line(prefix, len, true, &f, &error) != 0 ||
	    !f.ends_with_body_literal || strncmp(f.body.section, "HEADER.FIELDS", 13) != 0)
		return false;
	op->raw_len = 0;
	op->have_raw = true;
	return true;
}

static void imap_fp_literal_data(void *ctx, const unsigned char *data, size_t len)
{
	struct imap_fp_op *op = ctx;
	size_t room = IMAP_FP_RAW_MAX - op->raw_len;

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

	if (imap_fetch_resp(resp, false, &f, &error) != 0 ||
	    f.body_count == 0 || strncmp(f.body.section, "HEADER.FIELDS", 13) != 0) {
		op->have_raw = false;
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
	op->have_raw = false;
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
	.literal_begin = imap_fp_literal_begin,
	.literal_data = imap_fp_literal_data,
	.done = imap_fp_done,
};

static int imap_fp_next(struct imap_fp_op *op, struct imap_client *c)
{
	char set[IMAP_UID_SET_MAX + 32];

	op->next = imap_cmd_uid_set(op->uids, op->count, op->next, set, sizeof(set),
				    IMAP_UID_SET_MAX);
	op->client = c;
	return imap_client_cmdf(c, &imap_fp_handlers, op,
				"UID FETCH %S (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS ("
				HEADER_FP_FIELDS ")])", set);
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
	*op = (struct imap_fp_op){ .uids = uids, .count = n, .h = h, .ctx = ctx };
	op->raw = malloc(IMAP_FP_RAW_MAX);
	op->seen = calloc(n / 8 + 1, 1);
	if (op->raw == NULL || op->seen == NULL || n == 0 || imap_fp_next(op, c) < 0) {
		imap_fp_op_clear(op);
		return -1;
	}
	return 0;
}
