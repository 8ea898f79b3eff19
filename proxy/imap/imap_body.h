#ifndef IMAP_BODY_H
#define IMAP_BODY_H

/*
 * Streaming one message's body (or its header, or a range of its text)
 * from the server to a consumer: UID FETCH n BODY[...]. The octets are
 * handed on as they arrive, with the consumer's room as backpressure, so
 * a message of any size passes through bounded memory.
 *
 * The op struct is the caller's, as for imap_mailbox.h: alive until done
 * has run or the client was closed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_client.h"

enum imap_body_part {
	IMAP_BODY_WHOLE,   /* BODY[]: the whole message */
	IMAP_BODY_HEADER,  /* BODY[HEADER]: the header and its blank line */
	IMAP_BODY_TEXT,    /* BODY[TEXT]<offset.length>: a range of the body */
};

struct imap_body_request {
	uint32_t uid;
	enum imap_body_part part;
	bool peek;         /* BODY.PEEK: leave \Seen alone (WHOLE only; HEADER
			      and TEXT are always fetched with PEEK) */
	bool with_size;    /* WHOLE, HEADER: ask for RFC822.SIZE in the same response */
	bool with_flags;   /* WHOLE with with_size: and FLAGS (the flags as the
			      body is read: a PEEK that knows whether the
			      message was \Seen already) */
	uint64_t offset;   /* TEXT: range start */
	uint32_t length;   /* TEXT: range length */
};

struct imap_body_result {
	const struct imap_reply *reply; /* the tagged reply; FAILED: lost */
	bool found;        /* the wanted item came (begin ran) */
	bool complete;     /* ... and all of its octets (not cut off) */
	uint64_t size;     /* its size as the server announced it */
};

/* What the server says as the item starts. */
struct imap_body_start {
	uint64_t size;             /* octets that follow through data */
	bool has_rfc822_size;      /* with_size: RFC822.SIZE came before it */
	uint64_t rfc822_size;
	bool has_flags;            /* FLAGS came before it (with_flags) */
	unsigned int flags;        /* enum imap_flag bits */
};

struct imap_body_handlers {
	/* The item starts. */
	void (*begin)(void *ctx, const struct imap_body_start *start);
	/* Octets the consumer can take now; 0 pauses reading until
	   imap_client_resume(). */
	size_t (*room)(void *ctx);
	void (*data)(void *ctx, const unsigned char *data, size_t len);
	/* Exactly once, after the tagged reply or the connection's end. */
	void (*done)(void *ctx, const struct imap_body_result *result);
};

struct imap_body_op {
	struct imap_body_request req;
	const struct imap_body_handlers *h;
	void *ctx;
	bool found, streaming, oom;
	uint64_t size;
};

/* 0, or -1 when the command cannot be queued (nothing runs then). */
int imap_body_fetch(struct imap_body_op *op, struct imap_client *c,
		    const struct imap_body_request *req,
		    const struct imap_body_handlers *h, void *ctx);

/* UID STORE uid +FLAGS.SILENT (\Seen): what BODY[] does by itself, for a
   message fetched ahead with BODY.PEEK[] and then asked for. h->done gets
   the reply; 0, or -1 when nothing could be queued. */
int imap_body_mark_seen(struct imap_client *c, uint32_t uid,
			const struct imap_cmd_handlers *h, void *ctx);

#endif
