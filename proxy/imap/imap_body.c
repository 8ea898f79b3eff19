/* A message body streamed from the server; contracts in imap_body.h. */

#include "imap_body.h"

#include <stdlib.h>
#include <string.h>

#include "imap_resp.h"

static const char *imap_body_section(enum imap_body_part part)
{
	switch (part) {
	case IMAP_BODY_WHOLE:
		return "";
	case IMAP_BODY_HEADER:
		return "HEADER";
	case IMAP_BODY_TEXT:
		return "TEXT";
	}
	return "";
}

/* Whether a FETCH item is the one asked for (servers may add unsolicited
   FETCH responses, e.g. FLAGS, and a range comes back with its origin). */
static bool imap_body_wanted(const struct imap_body_op *op, const struct imap_fetch *f)
{
	if (op->found || f->body_count == 0)
		return false;
	if (f->has_uid && f->uid != op->req.uid)
		return false;
	if (strcmp(f->body.section, imap_body_section(op->req.part)) != 0)
		return false;
	return op->req.part == IMAP_BODY_TEXT ? f->body.has_origin : !f->body.has_origin;
}

static bool imap_body_literal_begin(void *ctx, const char *prefix, size_t len, uint64_t size)
{
	struct imap_body_op *op = ctx;
	struct imap_fetch f;
	const char *error;

	if (imap_fetch_line(prefix, len, true, &f, &error) != 0 ||
	    !f.ends_with_body_literal || f.body.kind != IMAP_VALUE_LITERAL ||
	    !imap_body_wanted(op, &f))
		return false;
	struct imap_body_start start = {
		.size = size, .has_rfc822_size = f.has_size, .rfc822_size = f.size,
		.has_flags = f.has_flags, .flags = f.flags,
	};

	op->found = true;
	op->streaming = true;
	op->size = size;
	op->h->begin(op->ctx, &start);
	return true;
}

static size_t imap_body_literal_room(void *ctx)
{
	struct imap_body_op *op = ctx;

	return op->h->room(op->ctx);
}

static void imap_body_literal_data(void *ctx, const unsigned char *data, size_t len)
{
	struct imap_body_op *op = ctx;

	op->h->data(op->ctx, data, len);
}

static void imap_body_literal_end(void *ctx)
{
	struct imap_body_op *op = ctx;

	op->streaming = false;
}

/* Small bodies may come as a quoted string instead of a literal; NIL is
   no message and is not taken for an empty one. */
static void imap_body_untagged(void *ctx, const struct imap_resp *resp)
{
	struct imap_body_op *op = ctx;
	struct imap_fetch f;
	const char *error;
	char *buf;
	size_t n;

	if (imap_fetch_resp(resp, false, &f, &error) != 0 ||
	    f.body.kind != IMAP_VALUE_QUOTED || !imap_body_wanted(op, &f))
		return;
	/* Bounded by the client's line limit. */
	buf = malloc(f.body.value_len + 1);
	if (buf == NULL) {
		op->oom = true;
		return;
	}
	n = imap_unquote(f.body.value, f.body.value_len, buf);
	op->found = true;
	op->size = n;
	op->h->begin(op->ctx, &(struct imap_body_start){
		.size = n, .has_rfc822_size = f.has_size, .rfc822_size = f.size,
		.has_flags = f.has_flags, .flags = f.flags });
	op->h->data(op->ctx, (const unsigned char *)buf, n);
	free(buf);
}

/* A FETCH of this UID with the section asked for (UID FETCH answers
   carry the UID: RFC 3501 6.4.8); a later pipelined fetch's small body,
   sent quoted, is then its own. */
static bool imap_body_claims(void *ctx, const struct imap_resp *resp)
{
	const struct imap_body_op *op = ctx;
	struct imap_fetch f;
	const char *error;

	return imap_fetch_resp(resp, false, &f, &error) == 0 && f.has_uid &&
	       imap_body_wanted(op, &f);
}

static void imap_body_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_body_op *op = ctx;
	static const struct imap_reply oom = {
		.result = IMAP_REPLY_FAILED, .text = "out of memory",
	};
	struct imap_body_result result = {
		.reply = op->oom ? &oom : reply,
		.found = op->found,
		.complete = op->found && !op->streaming,
		.size = op->size,
	};

	op->h->done(op->ctx, &result);
}

static const struct imap_cmd_handlers imap_body_handlers = {
	.untagged = imap_body_untagged,
	.claims = imap_body_claims,
	.literal_begin = imap_body_literal_begin,
	.literal_room = imap_body_literal_room,
	.literal_data = imap_body_literal_data,
	.literal_end = imap_body_literal_end,
	.done = imap_body_done,
};

int imap_body_mark_seen(struct imap_client *c, uint32_t uid,
			const struct imap_cmd_handlers *h, void *ctx)
{
	return imap_client_cmdf(c, h, ctx, "UID STORE %u +FLAGS.SILENT (\\Seen)", uid);
}

int imap_body_fetch(struct imap_body_op *op, struct imap_client *c,
		    const struct imap_body_request *req,
		    const struct imap_body_handlers *h, void *ctx)
{
	*op = (struct imap_body_op){ .req = *req, .h = h, .ctx = ctx };
	switch (req->part) {
	case IMAP_BODY_WHOLE:
		/* Not PEEK: reading the message marks it \Seen upstream. */
		if (req->with_size && req->with_flags)
			return imap_client_cmdf(c, &imap_body_handlers, op, req->peek ?
						"UID FETCH %u (RFC822.SIZE FLAGS BODY.PEEK[])" :
						"UID FETCH %u (RFC822.SIZE FLAGS BODY[])", req->uid);
		if (req->with_size)
			return imap_client_cmdf(c, &imap_body_handlers, op, req->peek ?
						"UID FETCH %u (RFC822.SIZE BODY.PEEK[])" :
						"UID FETCH %u (RFC822.SIZE BODY[])", req->uid);
		return imap_client_cmdf(c, &imap_body_handlers, op, req->peek ?
					"UID FETCH %u BODY.PEEK[]" : "UID FETCH %u BODY[]",
					req->uid);
	case IMAP_BODY_HEADER:
		if (req->with_size)
			return imap_client_cmdf(c, &imap_body_handlers, op,
						"UID FETCH %u (RFC822.SIZE BODY.PEEK[HEADER])",
						req->uid);
		return imap_client_cmdf(c, &imap_body_handlers, op,
					"UID FETCH %u BODY.PEEK[HEADER]", req->uid);
	case IMAP_BODY_TEXT:
		return imap_client_cmdf(c, &imap_body_handlers, op,
					"UID FETCH %u BODY.PEEK[TEXT]<%U.%u>", req->uid,
					req->offset, (unsigned int)req->length);
	}
	return -1;
}
