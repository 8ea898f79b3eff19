/* The listing shared in Redis; contracts in shared_listing.h. */

#include "shared_listing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_shared.h"
#include "conf.h"
#include "imap_listing.h"
#include "imap_listing_blob.h"
#include "log.h"
#include "metrics.h"
#include "session.h"

/* Room in max_listing_memory for a decoded copy of len octets (its
   records are as long as the blob's): within half the budget, so copies
   read before any password is accepted never crowd out a login. */
static bool shared_reserve(struct pop3_shared *sh, size_t len)
{
	struct pop3_session *s = sh->s;
	uint64_t half = ((uint64_t)s->conf->max_listing_mib << 20) / 2;

	if (s->srv->listing_bytes + len > half || !pop3_session_reserve(s, len))
		return false;
	sh->reserved = len;
	return true;
}

static void shared_unreserve(struct pop3_shared *sh)
{
	if (sh->reserved != 0)
		pop3_session_unreserve(sh->s, sh->reserved);
	sh->reserved = 0;
}

static void shared_read(void *ctx, enum cache_status st, const uint8_t *data, size_t len)
{
	struct pop3_shared *sh = ctx;
	const char *log_id = sh->s->log_id;
	const char *error = NULL;

	sh->req = NULL;
	sh->state = POP3_SHARED_ANSWERED;
	if (st != CACHE_OK) {
		log_info("%s event=listing_shared state=unavailable status=%s", log_id,
			 cache_status_name(st));
		metrics_listing_shared(METRICS_SHARED_UNAVAILABLE);
	} else if (data == NULL) {
		log_info("%s event=listing_shared state=unused why=\"none stored\"", log_id);
		metrics_listing_shared(METRICS_SHARED_UNUSED);
	} else if (!shared_reserve(sh, len)) {
		log_info("%s event=listing_shared state=unused octets=%zu why=\"listing memory\"",
			 log_id, len);
		metrics_listing_shared(METRICS_SHARED_UNUSED);
	} else if ((sh->copy = imap_listing_blob_decode(data, len, IMAP_LISTING_BLOB_MAX,
							&error)) == NULL) {
		shared_unreserve(sh);
		log_warn("%s event=listing_shared state=unused octets=%zu why=\"%s\"", log_id,
			 len, error);
		metrics_listing_shared(METRICS_SHARED_UNUSED);
	}
	if (sh->answered != NULL)
		sh->answered(sh->ctx);
}

void pop3_shared_ask(struct pop3_shared *sh, struct pop3_session *s, const char *account,
		     const struct conf_upstream *up, void (*answered)(void *ctx), void *ctx)
{
	struct cache *c = s->srv->cache;

	sh->s = s;
	if (c == NULL || account == NULL || strlen(account) >= sizeof(sh->account))
		return;
	if (!cache_available(c)) {
		log_info("%s event=listing_shared state=unavailable status=down", s->log_id);
		metrics_listing_shared(METRICS_SHARED_UNAVAILABLE);
		return;
	}
	snprintf(sh->account, sizeof(sh->account), "%s", account);
	imap_listing_blob_id(up->host, up->port, up->mailbox, sh->id);
	sh->answered = answered;
	sh->ctx = ctx;
	sh->req = cache_shared_listing_get(c, sh->account, sh->id, shared_read, sh);
	if (sh->req != NULL)
		sh->state = POP3_SHARED_ASKED;
}

bool pop3_shared_pending(const struct pop3_shared *sh)
{
	return sh->state == POP3_SHARED_ASKED;
}

bool pop3_shared_has_copy(const struct pop3_shared *sh)
{
	return sh->state == POP3_SHARED_ANSWERED && sh->copy != NULL;
}

void pop3_shared_late(struct pop3_shared *sh)
{
	if (sh->state != POP3_SHARED_ASKED)
		return;
	cache_req_cancel(&sh->req);
	sh->state = POP3_SHARED_OVER;
	log_info("%s event=listing_shared state=late", sh->s->log_id);
	metrics_listing_shared(METRICS_SHARED_LATE);
}

struct imap_listing *pop3_shared_take(struct pop3_shared *sh)
{
	struct imap_listing *l = sh->copy;

	sh->copy = NULL;
	/* Taken once the upstream accepted the password: from now on the
	   listing kept with the connection, as one kept in memory. */
	shared_unreserve(sh);
	if (sh->state == POP3_SHARED_ANSWERED)
		sh->state = POP3_SHARED_OVER;
	if (l != NULL)
		metrics_listing_shared(METRICS_SHARED_USED);
	return l;
}

void pop3_shared_release(struct pop3_shared *sh)
{
	cache_req_cancel(&sh->req);
	if (sh->copy != NULL) {
		log_info("%s event=listing_shared state=unused why=\"not needed\"",
			 sh->s->log_id);
		metrics_listing_shared(METRICS_SHARED_UNUSED);
	}
	imap_listing_free(&sh->copy);
	if (sh->s != NULL)
		shared_unreserve(sh);
	if (sh->state != POP3_SHARED_OFF)
		sh->state = POP3_SHARED_OVER;
}

void pop3_shared_mark_of(struct pop3_shared_mark *m, const struct imap_listing *l)
{
	*m = (struct pop3_shared_mark){ 0 };
	if (l == NULL || l->uidvalidity == 0)
		return;
	*m = (struct pop3_shared_mark){ .any = true, .uidvalidity = l->uidvalidity,
					.uidnext = l->uidnext, .count = l->count,
					.highestmodseq = l->has_modseq ? l->highestmodseq : 0 };
}

struct shared_write {
	char log_id[32];
	size_t messages;
};

static void shared_written(void *ctx, enum cache_status st)
{
	struct shared_write *w = ctx;

	if (st == CACHE_OK) {
		log_info("%s event=listing_shared state=stored messages=%zu", w->log_id,
			 w->messages);
		metrics_listing_shared(METRICS_SHARED_STORED);
	} else {
		log_warn("%s event=listing_shared state=store_failed status=%s", w->log_id,
			 cache_status_name(st));
		metrics_listing_shared(METRICS_SHARED_STORE_FAILED);
	}
	free(w);
}

uint8_t *pop3_shared_encode(const struct imap_listing *l, uint32_t exists,
			    const struct pop3_shared_mark *before, const char *log_id,
			    size_t *len_r)
{
	struct pop3_shared_mark now;
	const char *error = NULL;
	uint8_t *blob;

	*len_r = 0;
	pop3_shared_mark_of(&now, l);
	if (before != NULL && before->any && now.uidvalidity == before->uidvalidity &&
	    now.uidnext == before->uidnext && now.count == before->count &&
	    now.highestmodseq == before->highestmodseq)
		return NULL;
	if ((blob = imap_listing_blob_encode(l, exists, IMAP_LISTING_BLOB_MAX, len_r,
					     &error)) == NULL) {
		log_info("%s event=listing_shared state=refused messages=%zu limit=%u why=\"%s\"",
			 log_id, l->count, IMAP_LISTING_BLOB_MAX, error);
		metrics_listing_shared(METRICS_SHARED_REFUSED);
	}
	return blob;
}

void pop3_shared_put(struct cache *c, const char *account, const struct conf_upstream *up,
		     const uint8_t *blob, size_t len, size_t messages, const char *log_id)
{
	struct shared_write *w;
	char id[17];

	if (c == NULL || account == NULL || blob == NULL || (w = calloc(1, sizeof(*w))) == NULL)
		return;
	snprintf(w->log_id, sizeof(w->log_id), "%s", log_id);
	w->messages = messages;
	imap_listing_blob_id(up->host, up->port, up->mailbox, id);
	if (cache_shared_listing_put(c, account, id, blob, len, shared_written, w) == NULL)
		free(w);
}
