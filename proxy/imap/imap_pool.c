/* Kept upstream connections; contracts in imap_pool.h. */

#include "imap_pool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "imap_caps_memo.h"
#include "imap_client.h"
#include "log.h"

struct imap_pool_entry {
	TAILQ_ENTRY(imap_pool_entry) link;   /* oldest first */
	struct imap_pool *pool;
	char *key;
	unsigned char digest[TLS_DIGEST_LEN];
	struct imap_client *c;
	struct event *timer;     /* idle expiry; then the deferred free */
	bool closing;            /* LOGOUT sent: not on the list any more */
};

TAILQ_HEAD(imap_pool_list, imap_pool_entry);

struct imap_pool {
	struct event_base *base;
	struct imap_pool_list kept;
	unsigned int count;
	unsigned char secret[TLS_DIGEST_LEN];
	/* Entries logging out: freed once the server answered. */
	struct imap_pool_list closing;
	struct imap_caps_memo *caps;  /* what logins to each server showed */
};

struct imap_pool *imap_pool_new(struct event_base *base)
{
	struct imap_pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return NULL;
	if (tls_random(pool->secret, sizeof(pool->secret)) < 0 ||
	    (pool->caps = imap_caps_memo_new()) == NULL) {
		free(pool);
		return NULL;
	}
	pool->base = base;
	TAILQ_INIT(&pool->kept);
	TAILQ_INIT(&pool->closing);
	return pool;
}

const unsigned char *imap_pool_secret(const struct imap_pool *pool)
{
	return pool->secret;
}

struct imap_caps_memo *imap_pool_caps_memo(struct imap_pool *pool)
{
	return pool != NULL ? pool->caps : NULL;
}

unsigned int imap_pool_count(const struct imap_pool *pool)
{
	return pool->count;
}

static void imap_pool_entry_free(struct imap_pool_entry *e)
{
	if (e->timer != NULL)
		event_free(e->timer);
	imap_client_free(&e->c);
	explicit_bzero(e->digest, sizeof(e->digest));
	free(e->key);
	free(e);
}

/* From the loop: never inside one of the client's own callbacks. */
static void imap_pool_deferred_free(evutil_socket_t fd, short what, void *arg)
{
	struct imap_pool_entry *e = arg;

	TAILQ_REMOVE(&e->pool->closing, e, link);
	imap_pool_entry_free(e);
}

static void imap_pool_logged_out(void *ctx)
{
	struct imap_pool_entry *e = ctx;
	struct timeval now = { 0, 0 };

	imap_client_close(e->c);
	event_del(e->timer);
	event_assign(e->timer, e->pool->base, -1, 0, imap_pool_deferred_free, e);
	event_add(e->timer, &now);
}

/* Off the list; LOGOUT when it is still usable, else freed soon. */
static void imap_pool_close(struct imap_pool_entry *e, const char *why)
{
	struct imap_pool *pool = e->pool;

	TAILQ_REMOVE(&pool->kept, e, link);
	pool->count--;
	e->closing = true;
	TAILQ_INSERT_TAIL(&pool->closing, e, link);
	log_debug("event=upstream_kept_closed reason=%s kept=%u", why, pool->count);
	if (imap_client_is_connected(e->c) &&
	    imap_client_logout(e->c, imap_pool_logged_out, e) == 0)
		return;
	imap_pool_logged_out(e);
}

bool imap_pool_logout(struct imap_pool *pool, struct imap_client *c)
{
	struct imap_pool_entry *e;

	if (pool == NULL || c == NULL || (e = calloc(1, sizeof(*e))) == NULL)
		return false;
	e->pool = pool;
	if ((e->timer = evtimer_new(pool->base, imap_pool_deferred_free, e)) == NULL) {
		free(e);
		return false;
	}
	e->c = c;
	e->closing = true;
	TAILQ_INSERT_TAIL(&pool->closing, e, link);
	if (imap_client_is_connected(c) && imap_client_logout(c, imap_pool_logged_out, e) == 0)
		return true;
	imap_pool_logged_out(e);
	return true;
}

static void imap_pool_expired(evutil_socket_t fd, short what, void *arg)
{
	imap_pool_close(arg, "idle");
}

bool imap_pool_put(struct imap_pool *pool, const char *key,
		   const unsigned char digest[TLS_DIGEST_LEN], struct imap_client *c,
		   unsigned int idle_secs, unsigned int max_key, unsigned int max_total)
{
	struct imap_pool_entry *e, *next;
	struct timeval tv = { idle_secs, 0 };
	unsigned int same = 0;

	if (!imap_client_idle(c) || idle_secs == 0 || max_key == 0 || max_total == 0 ||
	    (e = calloc(1, sizeof(*e))) == NULL)
		return false;
	e->pool = pool;
	memcpy(e->digest, digest, sizeof(e->digest));
	e->key = strdup(key);
	e->timer = evtimer_new(pool->base, imap_pool_expired, e);
	if (e->key == NULL || e->timer == NULL) {
		imap_pool_entry_free(e);
		return false;
	}
	e->c = c;
	/* Within the bounds: the oldest of the key, then the oldest of all. */
	for (struct imap_pool_entry *k = TAILQ_FIRST(&pool->kept); k != NULL; k = next) {
		next = TAILQ_NEXT(k, link);
		if (strcmp(k->key, key) == 0 && ++same >= max_key)
			imap_pool_close(k, "account_full");
	}
	while (pool->count >= max_total && !TAILQ_EMPTY(&pool->kept))
		imap_pool_close(TAILQ_FIRST(&pool->kept), "pool_full");
	TAILQ_INSERT_TAIL(&pool->kept, e, link);
	pool->count++;
	evtimer_add(e->timer, &tv);
	log_debug("event=upstream_kept kept=%u idle_secs=%u", pool->count, idle_secs);
	return true;
}

struct imap_client *imap_pool_take(struct imap_pool *pool, const char *key,
				   const unsigned char digest[TLS_DIGEST_LEN],
				   unsigned int *evicted_r)
{
	struct imap_pool_entry *e, *next;
	struct imap_client *c = NULL;
	unsigned int evicted = 0;

	/* The newest first: the least likely to have timed out upstream. */
	for (e = TAILQ_LAST(&pool->kept, imap_pool_list); e != NULL; e = next) {
		next = TAILQ_PREV(e, imap_pool_list, link);
		if (strcmp(e->key, key) != 0)
			continue;
		if (!tls_equal_secret(e->digest, digest, sizeof(e->digest))) {
			imap_pool_close(e, "other_credentials");
			evicted++;
			continue;
		}
		if (c != NULL || !imap_client_idle(e->c)) {
			if (c == NULL)
				imap_pool_close(e, "broken");
			continue;
		}
		TAILQ_REMOVE(&pool->kept, e, link);
		pool->count--;
		c = e->c;
		e->c = NULL;
		imap_pool_entry_free(e);
	}
	if (evicted_r != NULL)
		*evicted_r = evicted;
	return c;
}

void imap_pool_flush(struct imap_pool *pool)
{
	while (!TAILQ_EMPTY(&pool->kept))
		imap_pool_close(TAILQ_FIRST(&pool->kept), "reload");
	imap_caps_memo_clear(pool->caps);
}

void imap_pool_free(struct imap_pool **poolp)
{
	struct imap_pool *pool = *poolp;
	struct imap_pool_entry *e;

	if (pool == NULL)
		return;
	*poolp = NULL;
	while ((e = TAILQ_FIRST(&pool->kept)) != NULL) {
		TAILQ_REMOVE(&pool->kept, e, link);
		imap_client_close(e->c);
		imap_pool_entry_free(e);
	}
	while ((e = TAILQ_FIRST(&pool->closing)) != NULL) {
		TAILQ_REMOVE(&pool->closing, e, link);
		imap_client_close(e->c);
		imap_pool_entry_free(e);
	}
	explicit_bzero(pool->secret, sizeof(pool->secret));
	imap_caps_memo_free(&pool->caps);
	free(pool);
}
