/* A device's state in the state store; contracts in device.h. */

#include "device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"

struct pop3_device {
	struct cache *cache;
	struct event_base *base;
	char *account;
	char name[CACHE_DEVICE_MAX + 1];
	char token[40];
	char log_id[32];
	unsigned int ttl_secs;
	bool locked;              /* we hold the lock */
	bool lock_requested;      /* a lock request went out: its outcome may
				     be unknown, so unlock at the end */
	struct cache_req *req;    /* the request in flight */
	struct cache_req *refresh_req;
	struct event *refresh_timer;
	cache_status_cb *status_cb;
	cache_view_cb *view_cb;
	cache_uidls_cb *uidls_cb;
	cache_lock_gen_cb *gen_cb;
	cache_peek_cb *peek_cb;
	struct cache_gen_change hide_change;  /* the last hide's, 0s: none */
	void *ctx;
};

struct pop3_device *pop3_device_new(struct cache *cache, struct event_base *base,
				    const char *account, const char *device,
				    unsigned int lock_ttl_secs, const char *session_id,
				    const char *log_id)
{
	struct pop3_device *d = calloc(1, sizeof(*d));

	if (d == NULL || (d->account = strdup(account)) == NULL) {
		free(d);
		return NULL;
	}
	d->cache = cache;
	d->base = base;
	d->ttl_secs = lock_ttl_secs;
	snprintf(d->name, sizeof(d->name), "%s", device);
	snprintf(d->log_id, sizeof(d->log_id), "%s", log_id);
	/* Not a secret: names the session as the lock holder. */
	snprintf(d->token, sizeof(d->token), "%.20s.%08x", session_id, (unsigned int)random());
	return d;
}

const char *pop3_device_name(const struct pop3_device *d)
{
	return d->name;
}

const char *pop3_device_account(const struct pop3_device *d)
{
	return d->account;
}

const char *pop3_device_token(const struct pop3_device *d)
{
	return d->token;
}

bool pop3_device_locked(const struct pop3_device *d)
{
	return d->locked;
}

/* ---- lock refresh ---- */

static void pop3_device_refreshed(void *ctx, enum cache_status st)
{
	struct pop3_device *d = ctx;

	d->refresh_req = NULL;
	if (st == CACHE_IN_USE) {
		/* Expired and taken: exclusivity is gone. QUIT will refuse to
		   apply anything; nothing else can go wrong meanwhile. */
		d->locked = false;
		log_warn("%s event=lock_lost device=%s", d->log_id, d->name);
	} else if (st != CACHE_OK) {
		log_warn("%s event=lock_refresh_failed device=%s status=%s", d->log_id,
			 d->name, cache_status_name(st));
	}
}

static void pop3_device_refresh_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_device *d = arg;

	/* One refresh at a time; its own handle, apart from a request's. */
	if (!d->locked || d->refresh_req != NULL)
		return;
	d->refresh_req = cache_lock_refresh(d->cache, d->account, d->name, d->token,
					    d->ttl_secs, pop3_device_refreshed, d);
}

static void pop3_device_refresh_start(struct pop3_device *d)
{
	unsigned int secs = d->ttl_secs / 3;
	struct timeval tv = { .tv_sec = secs > 0 ? secs : 1, .tv_usec = 0 };

	if (d->refresh_timer == NULL)
		d->refresh_timer = event_new(d->base, -1, EV_PERSIST, pop3_device_refresh_cb, d);
	if (d->refresh_timer != NULL)
		event_add(d->refresh_timer, &tv);
}

/* ---- requests ---- */

static void pop3_device_status(void *ctx, enum cache_status st)
{
	struct pop3_device *d = ctx;
	cache_status_cb *cb = d->status_cb;

	d->req = NULL;
	d->status_cb = NULL;
	cb(d->ctx, st);
}

static void pop3_device_lock_outcome(struct pop3_device *d, enum cache_status st)
{
	if (st == CACHE_IN_USE)
		/* Someone else's: never ours to release. */
		d->lock_requested = false;
	if (st == CACHE_OK) {
		d->locked = true;
		pop3_device_refresh_start(d);
	}
}

static void pop3_device_locked_cb(void *ctx, enum cache_status st)
{
	struct pop3_device *d = ctx;

	pop3_device_lock_outcome(d, st);
	pop3_device_status(d, st);
}

static int pop3_device_started(struct pop3_device *d, struct cache_req *req)
{
	d->req = req;
	return req != NULL ? 0 : -1;
}

int pop3_device_lock(struct pop3_device *d, cache_status_cb *cb, void *ctx)
{
	d->status_cb = cb;
	d->ctx = ctx;
	d->lock_requested = true;
	return pop3_device_started(d, cache_lock(d->cache, d->account, d->name, d->token,
						 d->ttl_secs, pop3_device_locked_cb, d));
}

static void pop3_device_locked_gen(void *ctx, enum cache_status st, const struct cache_gens *g)
{
	struct pop3_device *d = ctx;
	cache_lock_gen_cb *cb = d->gen_cb;

	d->req = NULL;
	d->gen_cb = NULL;
	pop3_device_lock_outcome(d, st);
	cb(d->ctx, st, g);
}

int pop3_device_lock_gen(struct pop3_device *d, cache_lock_gen_cb *cb, void *ctx)
{
	d->gen_cb = cb;
	d->ctx = ctx;
	d->lock_requested = true;
	return pop3_device_started(d, cache_lock_gen(d->cache, d->account, d->name, d->token,
						     d->ttl_secs, pop3_device_locked_gen, d));
}

static void pop3_device_peeked(void *ctx, enum cache_status st, const struct cache_peek *p)
{
	struct pop3_device *d = ctx;
	cache_peek_cb *cb = d->peek_cb;

	d->req = NULL;
	d->peek_cb = NULL;
	cb(d->ctx, st, p);
}

int pop3_device_peek(struct pop3_device *d, uint32_t uidvalidity, const uint32_t *uids, size_t n,
		     cache_peek_cb *cb, void *ctx)
{
	d->peek_cb = cb;
	d->ctx = ctx;
	return pop3_device_started(d, cache_peek(d->cache, d->account, d->name, uidvalidity, uids,
						 n, pop3_device_peeked, d));
}

static void pop3_device_view(void *ctx, enum cache_status st, const struct cache_view *view)
{
	struct pop3_device *d = ctx;
	cache_view_cb *cb = d->view_cb;

	d->req = NULL;
	d->view_cb = NULL;
	cb(d->ctx, st, view);
}

int pop3_device_load_view(struct pop3_device *d, const struct cache_listing *listing,
			  uint32_t first_uidnext, cache_view_cb *cb, void *ctx)
{
	d->view_cb = cb;
	d->ctx = ctx;
	return pop3_device_started(d, cache_load_view(d->cache, d->account, d->name, listing,
						      first_uidnext, pop3_device_view, d));
}

int pop3_device_remap(struct pop3_device *d, uint32_t old_uidvalidity,
		      uint32_t new_uidvalidity, uint32_t new_uidnext,
		      const struct cache_remap_msg *msgs, size_t n,
		      cache_status_cb *cb, void *ctx)
{
	d->status_cb = cb;
	d->ctx = ctx;
	return pop3_device_started(d, cache_remap(d->cache, d->account, old_uidvalidity,
						  new_uidvalidity, new_uidnext, msgs, n,
						  pop3_device_status, d));
}

static void pop3_device_uidls(void *ctx, enum cache_status st, const struct cache_uidls *u)
{
	struct pop3_device *d = ctx;
	cache_uidls_cb *cb = d->uidls_cb;

	d->req = NULL;
	d->uidls_cb = NULL;
	cb(d->ctx, st, u);
}

int pop3_device_uidl_load(struct pop3_device *d, const struct cache_listing *listing,
			  cache_uidls_cb *cb, void *ctx)
{
	d->uidls_cb = cb;
	d->ctx = ctx;
	return pop3_device_started(d, cache_uidl_load(d->cache, d->account, listing,
						      pop3_device_uidls, d));
}

int pop3_device_uidl_legacy(struct pop3_device *d, const struct cache_uidl_query *queries,
			    size_t n, cache_uidls_cb *cb, void *ctx)
{
	d->uidls_cb = cb;
	d->ctx = ctx;
	return pop3_device_started(d, cache_uidl_legacy(d->cache, d->account, queries, n,
							pop3_device_uidls, d));
}

int pop3_device_uidl_assign(struct pop3_device *d, uint32_t uidvalidity,
			    const struct cache_uidl_new *entries, size_t n,
			    cache_uidls_cb *cb, void *ctx)
{
	d->uidls_cb = cb;
	d->ctx = ctx;
	return pop3_device_started(d, cache_uidl_assign(d->cache, d->account, uidvalidity,
							entries, n, pop3_device_uidls, d));
}

static void pop3_device_hidden(void *ctx, enum cache_status st,
			       const struct cache_gen_change *change)
{
	struct pop3_device *d = ctx;

	d->hide_change = change != NULL ? *change : (struct cache_gen_change){ 0, 0 };
	pop3_device_status(d, st);
}

int pop3_device_hide(struct pop3_device *d, bool all_devices, uint32_t uidvalidity,
		     const uint32_t *uids, const char *const *fingerprints, size_t n,
		     cache_status_cb *cb, void *ctx)
{
	d->status_cb = cb;
	d->ctx = ctx;
	d->hide_change = (struct cache_gen_change){ 0, 0 };
	return pop3_device_started(d, cache_hide_gen(d->cache, d->account, d->name, d->token,
						     all_devices, uidvalidity, uids, fingerprints,
						     n, pop3_device_hidden, d));
}

bool pop3_device_hide_change(const struct pop3_device *d, struct cache_gen_change *change)
{
	*change = d->hide_change;
	return change->after != 0;
}

void pop3_device_release(struct pop3_device *d)
{
	cache_req_cancel(&d->req);
	cache_req_cancel(&d->refresh_req);
	if (d->refresh_timer != NULL) {
		event_free(d->refresh_timer);
		d->refresh_timer = NULL;
	}
	/* Also after a request whose outcome is unknown (timed out, client
	   gone meanwhile). */
	if (d->locked || d->lock_requested) {
		cache_unlock(d->cache, d->account, d->name, d->token);
		d->locked = false;
		d->lock_requested = false;
	}
}

int pop3_device_release_wait(struct pop3_device *d, cache_status_cb *cb, void *ctx)
{
	pop3_device_release(d);
	d->status_cb = cb;
	d->ctx = ctx;
	return pop3_device_started(d, cache_barrier(d->cache, d->account, pop3_device_status,
						     d));
}

void pop3_device_free(struct pop3_device **dp)
{
	struct pop3_device *d = *dp;

	if (d == NULL)
		return;
	*dp = NULL;
	pop3_device_release(d);
	free(d->account);
	free(d);
}
