/* Following a recreated mailbox; contracts in remap.h. */

#include "remap.h"

#include <stdio.h>
#include <stdlib.h>

#include "device.h"
#include "imap_fp.h"

struct pop3_remap {
	struct pop3_device *dev;
	const uint32_t *uids;
	size_t count;
	uint32_t old_uidvalidity, new_uidvalidity, new_uidnext;
	struct imap_fp_op fp;
	struct cache_remap_msg *msgs;
	char (*fps)[IMAP_FP_HEX + 1];
	size_t n;
	pop3_remap_cb *cb;
	void *ctx;
};

size_t pop3_remap_bytes(size_t n)
{
	return (n + 1) * (sizeof(struct cache_remap_msg) + IMAP_FP_HEX + 1);
}

void pop3_remap_free(struct pop3_remap **rp)
{
	struct pop3_remap *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	imap_fp_op_clear(&r->fp);
	free(r->msgs);
	free(r->fps);
	free(r);
}

static void pop3_remap_stored(void *ctx, enum cache_status st)
{
	struct pop3_remap *r = ctx;

	/* CONFLICT: another session re-mapped first; the view read next
	   must then match. */
	r->cb(r->ctx, st == CACHE_OK || st == CACHE_CONFLICT ? POP3_REMAP_OK :
	      st == CACHE_UNAVAILABLE ? POP3_REMAP_STORE_TEMP : POP3_REMAP_STORE_PERM, st);
}

static void pop3_remap_message(void *ctx, uint32_t uid, const char *fp, int64_t internaldate)
{
	struct pop3_remap *r = ctx;
	size_t i = r->n;

	/* The op reports each listed UID at most once. */
	r->msgs[i].uid = uid;
	r->msgs[i].internaldate = internaldate > 0 ? (uint64_t)internaldate : 0;
	/* A message with no identifying header matches nothing. */
	if (fp[0] != '\0')
		snprintf(r->fps[i], sizeof(r->fps[i]), "%s", fp);
	else
		snprintf(r->fps[i], sizeof(r->fps[i]), "none:%u", uid);
	r->msgs[i].fingerprint = r->fps[i];
	r->n++;
}

static int pop3_remap_cmp(const void *a, const void *b)
{
	const struct cache_remap_msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void pop3_remap_fps(void *ctx, bool ok)
{
	struct pop3_remap *r = ctx;

	if (!ok) {
		r->cb(r->ctx, POP3_REMAP_UPSTREAM, CACHE_OK);
		return;
	}
	/* The server answers in UID order for a UID range, but nothing
	   requires it; the fingerprint strings stay where they are. */
	qsort(r->msgs, r->n, sizeof(*r->msgs), pop3_remap_cmp);
	if (pop3_device_remap(r->dev, r->old_uidvalidity, r->new_uidvalidity, r->new_uidnext,
			      r->msgs, r->n, pop3_remap_stored, r) < 0)
		r->cb(r->ctx, POP3_REMAP_MEMORY, CACHE_OK);
}

static const struct imap_fp_handlers pop3_remap_fp_handlers = {
	.message = pop3_remap_message,
	.done = pop3_remap_fps,
};

struct pop3_remap *pop3_remap_start(struct imap_client *imap, struct pop3_device *dev,
				    const uint32_t *uids, size_t n, uint32_t old_uidvalidity,
				    uint32_t new_uidvalidity, uint32_t new_uidnext,
				    pop3_remap_cb *cb, void *ctx)
{
	struct pop3_remap *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	*r = (struct pop3_remap){
		.dev = dev, .uids = uids, .count = n, .old_uidvalidity = old_uidvalidity,
		.new_uidvalidity = new_uidvalidity, .new_uidnext = new_uidnext,
		.cb = cb, .ctx = ctx,
	};
	r->msgs = calloc(n + 1, sizeof(*r->msgs));
	r->fps = calloc(n + 1, sizeof(*r->fps));
	if (r->msgs == NULL || r->fps == NULL)
		goto fail;
	if (n == 0) {
		/* Nothing to fingerprint: straight to the store (its callback
		   runs from the loop). */
		if (pop3_device_remap(dev, old_uidvalidity, new_uidvalidity, new_uidnext, r->msgs,
				      0, pop3_remap_stored, r) < 0)
			goto fail;
		return r;
	}
	if (imap_fp_fetch(&r->fp, imap, uids, n, &pop3_remap_fp_handlers, r) < 0)
		goto fail;
	return r;
fail:
	pop3_remap_free(&r);
	return NULL;
}
