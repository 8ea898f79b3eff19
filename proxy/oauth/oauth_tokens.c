/* The access tokens of enrolled accounts; contracts in oauth_tokens.h. */

#include "oauth_tokens.h"
#include "oauth_http.h"
#include "oauth_json.h"
#include "oauth_kdf.h"
#include "oauth_record.h"
#include "oauth_unlock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "cache.h"
#include "conf.h"
#include "crypto.h"
#include "log.h"

/* An access token this close to its expiry is refreshed first. */
#define OAUTH_EXPIRY_MARGIN 120
/* How often a gateway waiting for another's refresh looks again. */
#define OAUTH_POLL_MS 250

static const char *const oauth_result_names[] = {
	[OAUTH_OK] = "ok", [OAUTH_NO_ACCOUNT] = "no_account",
	[OAUTH_BAD_PASSWORD] = "bad_password", [OAUTH_REAUTH] = "reauth",
	[OAUTH_TEMP] = "temp", [OAUTH_DAMAGED] = "damaged",
};

_Static_assert(sizeof(oauth_result_names) / sizeof(oauth_result_names[0]) ==
	       OAUTH_RESULT_COUNT, "oauth_result_names");

const char *oauth_result_name(enum oauth_result r)
{
	return r < OAUTH_RESULT_COUNT ? oauth_result_names[r] : "?";
}

struct oauth_flight;

struct oauth_get {
	struct oauth_tokens *t;
	struct oauth_get *next;          /* among a flight's waiters */
	struct oauth_flight *flight;
	char *account;
	char *pass;
	size_t pass_len;
	char *stale;
	char log_id[64];
	char route[200];
	struct cache_req *req;
	struct oauth_kdf_job *job;       /* the password check on the worker */
	struct oauth_record rec;         /* as loaded */
	uint64_t gen;
	uint8_t mac[32];
	oauth_get_cb *cb;
	void *ctx;
	/* What the refresh needs, copied from the route. */
	char *token_endpoint, *client_id, *client_secret;
	unsigned int timeout_ms;
};

/* The one refresh of an account in this process. */
struct oauth_flight {
	struct oauth_tokens *t;
	struct oauth_flight *next;
	struct oauth_get *waiters;
	char *account;
	char route[200];
	char log_id[64];
	char *token_endpoint, *client_id, *client_secret;
	unsigned int timeout_ms;
	char *stale;                     /* an access token not to take */
	uint8_t key[CRYPTO_KEY_LEN];
	struct oauth_record rec;
	uint64_t gen;
	struct oauth_secrets sec;
	struct cache_req *req;
	struct oauth_http_req *http;
	struct event *timer;
	struct timespec deadline;
	bool leased;
	bool polling;                    /* another gateway holds the lease */
};

struct oauth_tokens {
	struct event_base *base;
	struct cache *cache;
	struct oauth_http *http;
	struct oauth_kdf *kdf;
	struct oauth_hooks hooks;
	struct oauth_flight *flights;
	unsigned int in_flight;
	char lease_token[33];            /* this process, in the lease */
	struct oauth_unlock *unlocked;   /* passwords checked recently */
};

struct oauth_tokens *oauth_tokens_new(struct event_base *base, struct cache *cache,
				      struct oauth_http *http, const struct oauth_hooks *hooks)
{
	struct oauth_tokens *t = calloc(1, sizeof(*t));
	uint8_t rnd[16];

	if (t == NULL || crypto_random(rnd, sizeof(rnd)) < 0 ||
	    (t->unlocked = oauth_unlock_new()) == NULL) {
		free(t);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(t->lease_token + 2 * i, 3, "%02x", rnd[i]);
	t->base = base;
	t->cache = cache;
	t->http = http;
	if ((t->kdf = oauth_kdf_new(base)) == NULL) {
		oauth_unlock_free(&t->unlocked);
		free(t);
		return NULL;
	}
	if (hooks != NULL)
		t->hooks = *hooks;
	return t;
}

static void oauth_wipe(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static void oauth_get_free(struct oauth_get *g)
{
	cache_req_cancel(&g->req);
	oauth_kdf_cancel(&g->job);
	oauth_record_clear(&g->rec);
	free(g->account);
	if (g->pass != NULL) {
		explicit_bzero(g->pass, g->pass_len);
		free(g->pass);
	}
	oauth_wipe(&g->stale);
	free(g->token_endpoint);
	free(g->client_id);
	oauth_wipe(&g->client_secret);
	free(g);
}

static void oauth_flight_free(struct oauth_flight *f)
{
	struct oauth_flight **p;

	for (p = &f->t->flights; *p != NULL; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	f->t->in_flight--;
	cache_req_cancel(&f->req);
	oauth_http_cancel(&f->http);
	if (f->timer != NULL)
		event_free(f->timer);
	if (f->leased)
		cache_oauth_release(f->t->cache, f->account, f->t->lease_token);
	free(f->account);
	free(f->token_endpoint);
	free(f->client_id);
	oauth_wipe(&f->client_secret);
	oauth_wipe(&f->stale);
	explicit_bzero(f->key, sizeof(f->key));
	oauth_record_clear(&f->rec);
	oauth_secrets_clear(&f->sec);
	free(f);
}

void oauth_tokens_free(struct oauth_tokens **tp)
{
	struct oauth_tokens *t = *tp;

	if (t == NULL)
		return;
	while (t->flights != NULL) {
		struct oauth_flight *f = t->flights;

		while (f->waiters != NULL) {
			struct oauth_get *g = f->waiters;

			f->waiters = g->next;
			oauth_get_free(g);
		}
		oauth_flight_free(f);
	}
	oauth_unlock_free(&t->unlocked);
	oauth_kdf_free(&t->kdf);
	free(t);
	*tp = NULL;
}

unsigned int oauth_tokens_in_flight(const struct oauth_tokens *t)
{
	return t->in_flight;
}

/* The caller's callback, once; then g is gone. */
static void oauth_get_finish(struct oauth_get *g, enum oauth_result result, const char *token)
{
	oauth_get_cb *cb = g->cb;
	void *ctx = g->ctx;

	if (result != OAUTH_OK)
		log_info("%s event=oauth_token result=%s", g->log_id, oauth_result_name(result));
	oauth_get_free(g);
	cb(ctx, result, token);
}

/* Every waiter gets the result; then the flight is gone. */
static void oauth_flight_finish(struct oauth_flight *f, enum oauth_result result,
				const char *hook_result)
{
	char *token = NULL;

	if (hook_result != NULL && f->t->hooks.refreshed != NULL)
		f->t->hooks.refreshed(f->route, hook_result);
	if (result == OAUTH_OK && (token = strdup(f->sec.access_token)) == NULL)
		result = OAUTH_TEMP;
	log_info("%s event=oauth_refresh result=%s waiters=%s", f->log_id,
		 hook_result != NULL ? hook_result : oauth_result_name(result),
		 f->waiters != NULL ? "yes" : "no");
	while (f->waiters != NULL) {
		struct oauth_get *g = f->waiters;

		f->waiters = g->next;
		g->flight = NULL;
		oauth_get_finish(g, result, token);
	}
	oauth_wipe(&token);
	oauth_flight_free(f);
}

static bool oauth_token_fresh(const struct oauth_secrets *s, const char *stale)
{
	return s->access_token != NULL &&
		s->expires > (int64_t)time(NULL) + OAUTH_EXPIRY_MARGIN &&
		(stale == NULL || strcmp(stale, s->access_token) != 0);
}

static bool oauth_past(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
		(now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static void oauth_flight_lease(struct oauth_flight *f);
static void oauth_flight_reread(void *ctx, enum cache_status st, uint64_t gen,
				const char *json, size_t len);

/* ---- the refresh itself ---- */

static void oauth_flight_stored(void *ctx, enum cache_status st, uint64_t gen)
{
	struct oauth_flight *f = ctx;

	f->req = NULL;
	if (st == CACHE_OK) {
		f->gen = gen;
		oauth_flight_finish(f, OAUTH_OK, "ok");
		return;
	}
	/* The access token works either way; a rotated refresh token that
	   could not be written is lost, and the next refresh will say so. */
	log_error("%s event=oauth_store_failed status=%s gen=%llu", f->log_id,
		  cache_status_name(st), (unsigned long long)gen);
	oauth_flight_finish(f, OAUTH_OK, "ok");
}

static void oauth_flight_store(struct oauth_flight *f)
{
	char *json;

	if (oauth_record_seal(&f->rec, f->key, f->account, &f->sec) < 0 ||
	    (json = oauth_record_format(&f->rec)) == NULL) {
		log_error("%s event=oauth_store_failed error=\"cannot seal the record\"",
			  f->log_id);
		oauth_flight_finish(f, OAUTH_OK, "ok");
		return;
	}
	f->req = cache_oauth_put(f->t->cache, f->account, f->gen, json, strlen(json),
				 oauth_flight_stored, f);
	free(json);
	if (f->req == NULL)
		oauth_flight_finish(f, OAUTH_OK, "ok");
}

static void oauth_flight_refreshed(void *ctx, long status, const char *body, size_t len,
				   const char *error)
{
	struct oauth_flight *f = ctx;
	struct oauth_token_reply reply;
	enum oauth_json_kind kind;

	f->http = NULL;
	if (status == 0) {
		log_warn("%s event=token_endpoint_failed error=\"%s\"", f->log_id, error);
		oauth_flight_finish(f, OAUTH_TEMP, strstr(error, "imeout") != NULL ||
				    strstr(error, "imed out") != NULL ? "timeout" : "unavailable");
		return;
	}
	kind = oauth_json_token(body, len, &reply);
	if (kind == OAUTH_JSON_OK && status == 200) {
		oauth_wipe(&f->sec.access_token);
		f->sec.access_token = reply.access_token;
		reply.access_token = NULL;
		if (reply.refresh_token != NULL) {
			oauth_wipe(&f->sec.refresh_token);
			f->sec.refresh_token = reply.refresh_token;
			reply.refresh_token = NULL;
		}
		f->sec.expires = (int64_t)time(NULL) + reply.expires_in;
		oauth_token_reply_clear(&reply);
		oauth_flight_store(f);
		return;
	}
	if (kind == OAUTH_JSON_ERROR && strcmp(reply.error, "invalid_grant") == 0) {
		log_warn("%s event=oauth_reauth_needed http_status=%ld error=invalid_grant",
			 f->log_id, status);
		oauth_flight_finish(f, OAUTH_REAUTH, "invalid_grant");
		return;
	}
	log_warn("%s event=token_endpoint_refused http_status=%ld error=%s", f->log_id, status,
		 kind == OAUTH_JSON_ERROR ? reply.error : "unreadable_reply");
	oauth_token_reply_clear(&reply);
	oauth_flight_finish(f, OAUTH_TEMP, "error");
}

static void oauth_flight_post(struct oauth_flight *f)
{
	char form[OAUTH_TOKEN_MAX * 3 + 2048];

	form[0] = '\0';
	if (oauth_form_add(form, sizeof(form), "grant_type", "refresh_token") < 0 ||
	    oauth_form_add(form, sizeof(form), "refresh_token", f->sec.refresh_token) < 0 ||
	    oauth_form_add(form, sizeof(form), "client_id", f->client_id) < 0 ||
	    (f->client_secret != NULL &&
	     oauth_form_add(form, sizeof(form), "client_secret", f->client_secret) < 0)) {
		explicit_bzero(form, sizeof(form));
		oauth_flight_finish(f, OAUTH_DAMAGED, NULL);
		return;
	}
	f->http = oauth_http_post(f->t->http, f->token_endpoint, form, f->timeout_ms,
				  oauth_flight_refreshed, f);
	explicit_bzero(form, sizeof(form));
	if (f->http == NULL)
		oauth_flight_finish(f, OAUTH_TEMP, "error");
}

/* ---- the lease, and waiting for another gateway ---- */

static void oauth_flight_reread(void *ctx, enum cache_status st, uint64_t gen,
				const char *json, size_t len)
{
	struct oauth_flight *f = ctx;
	struct oauth_record rec;
	struct oauth_secrets sec;
	const char *why;

	f->req = NULL;
	if (st != CACHE_OK) {
		oauth_flight_finish(f, OAUTH_TEMP, "unavailable");
		return;
	}
	if (json == NULL) {
		oauth_flight_finish(f, OAUTH_NO_ACCOUNT, NULL);
		return;
	}
	if (gen == f->gen) {
		if (f->leased)
			oauth_flight_post(f);
		else
			oauth_flight_lease(f);
		return;
	}
	/* Another gateway wrote it: its tokens, under the same password. */
	if (oauth_record_parse(json, len, &rec, &why) < 0 ||
	    oauth_record_open(&rec, f->key, f->account, &sec) < 0) {
		oauth_record_clear(&rec);
		oauth_flight_finish(f, OAUTH_DAMAGED, NULL);
		return;
	}
	oauth_record_clear(&f->rec);
	oauth_secrets_clear(&f->sec);
	f->rec = rec;
	f->sec = sec;
	f->gen = gen;
	if (oauth_token_fresh(&f->sec, f->stale)) {
		oauth_flight_finish(f, OAUTH_OK, "shared");
		return;
	}
	if (f->leased)
		oauth_flight_post(f);
	else
		oauth_flight_lease(f);
}

static void oauth_flight_poll(evutil_socket_t fd, short what, void *arg)
{
	struct oauth_flight *f = arg;

	(void)fd;
	(void)what;
	if (oauth_past(&f->deadline)) {
		log_warn("%s event=oauth_lease_wait_timeout", f->log_id);
		oauth_flight_finish(f, OAUTH_TEMP, "timeout");
		return;
	}
	f->req = cache_oauth_get(f->t->cache, f->account, oauth_flight_reread, f);
	if (f->req == NULL)
		oauth_flight_finish(f, OAUTH_TEMP, "unavailable");
}

static void oauth_flight_leased(void *ctx, enum cache_status st)
{
	struct oauth_flight *f = ctx;
	struct timeval tv = { 0, OAUTH_POLL_MS * 1000 };

	f->req = NULL;
	if (st == CACHE_OK) {
		/* Read once more under the lease: a refresh that ended between
		   our read and the lease rotated the refresh token we hold. */
		f->leased = true;
		f->polling = false;
		f->req = cache_oauth_get(f->t->cache, f->account, oauth_flight_reread, f);
		if (f->req == NULL)
			oauth_flight_finish(f, OAUTH_TEMP, "unavailable");
		return;
	}
	if (st != CACHE_IN_USE) {
		oauth_flight_finish(f, OAUTH_TEMP, "unavailable");
		return;
	}
	if (!f->polling)
		log_info("%s event=oauth_refresh_elsewhere action=wait", f->log_id);
	f->polling = true;
	if (f->timer == NULL)
		f->timer = evtimer_new(f->t->base, oauth_flight_poll, f);
	if (f->timer == NULL || evtimer_add(f->timer, &tv) < 0)
		oauth_flight_finish(f, OAUTH_TEMP, "error");
}

static void oauth_flight_lease(struct oauth_flight *f)
{
	if (oauth_past(&f->deadline)) {
		oauth_flight_finish(f, OAUTH_TEMP, "timeout");
		return;
	}
	/* Held for the request and a margin; it ends on its own if this
	   process dies. */
	f->req = cache_oauth_lease(f->t->cache, f->account, f->t->lease_token,
				   f->timeout_ms + 5000, oauth_flight_leased, f);
	if (f->req == NULL)
		oauth_flight_finish(f, OAUTH_TEMP, "unavailable");
}

/* ---- a caller ---- */

static struct oauth_flight *oauth_flight_find(struct oauth_tokens *t, const char *account)
{
	for (struct oauth_flight *f = t->flights; f != NULL; f = f->next) {
		if (strcmp(f->account, account) == 0)
			return f;
	}
	return NULL;
}

/* g needs a refresh: it joins the account's flight, or starts one with
   what it opened (rec, sec, key move into the flight). */
static void oauth_get_join(struct oauth_get *g, struct oauth_record *rec, uint64_t gen,
			   struct oauth_secrets *sec, const uint8_t *key)
{
	struct oauth_tokens *t = g->t;
	struct oauth_flight *f = oauth_flight_find(t, g->account);

	if (f != NULL) {
		oauth_record_clear(rec);
		oauth_secrets_clear(sec);
		g->next = f->waiters;
		f->waiters = g;
		g->flight = f;
		return;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL || (f->account = strdup(g->account)) == NULL ||
	    (f->token_endpoint = strdup(g->token_endpoint)) == NULL ||
	    (f->client_id = strdup(g->client_id)) == NULL ||
	    (g->client_secret != NULL && (f->client_secret = strdup(g->client_secret)) == NULL) ||
	    (g->stale != NULL && (f->stale = strdup(g->stale)) == NULL)) {
		if (f != NULL) {
			free(f->account);
			free(f->token_endpoint);
			free(f->client_id);
			free(f->client_secret);
			free(f);
		}
		oauth_record_clear(rec);
		oauth_secrets_clear(sec);
		oauth_get_finish(g, OAUTH_TEMP, NULL);
		return;
	}
	f->t = t;
	snprintf(f->route, sizeof(f->route), "%s", g->route);
	snprintf(f->log_id, sizeof(f->log_id), "%s", g->log_id);
	f->timeout_ms = g->timeout_ms;
	memcpy(f->key, key, CRYPTO_KEY_LEN);
	f->rec = *rec;
	f->sec = *sec;
	memset(rec, 0, sizeof(*rec));
	memset(sec, 0, sizeof(*sec));
	f->gen = gen;
	clock_gettime(CLOCK_MONOTONIC, &f->deadline);
	f->deadline.tv_sec += (time_t)(g->timeout_ms / 1000 + 5);
	f->next = t->flights;
	t->flights = f;
	t->in_flight++;
	g->next = NULL;
	f->waiters = g;
	g->flight = f;
	oauth_flight_lease(f);
}

/* The password checked: the key opens the tokens. rec is g's. */
static void oauth_get_unlocked(struct oauth_get *g, const uint8_t key[CRYPTO_KEY_LEN])
{
	struct oauth_secrets sec;

	if (oauth_record_open(&g->rec, key, g->account, &sec) < 0) {
		log_error("%s event=oauth_record_damaged error=\"the tokens do not open\"",
			  g->log_id);
		oauth_get_finish(g, OAUTH_DAMAGED, NULL);
		return;
	}
	if (oauth_token_fresh(&sec, g->stale)) {
		char *token = strdup(sec.access_token);

		oauth_secrets_clear(&sec);
		oauth_get_finish(g, token != NULL ? OAUTH_OK : OAUTH_TEMP, token);
		oauth_wipe(&token);
		return;
	}
	oauth_get_join(g, &g->rec, g->gen, &sec, key);
}

static void oauth_get_derived(void *ctx, int ok, const uint8_t *out)
{
	struct oauth_get *g = ctx;

	g->job = NULL;
	if (ok < 0) {
		oauth_get_finish(g, OAUTH_TEMP, NULL);
		return;
	}
	if (!crypto_equal(out, g->rec.verifier, OAUTH_VERIFIER_LEN)) {
		oauth_get_finish(g, OAUTH_BAD_PASSWORD, NULL);
		return;
	}
	oauth_unlock_remember(g->t->unlocked, g->account, g->rec.salt, g->mac,
			      out + OAUTH_VERIFIER_LEN);
	oauth_get_unlocked(g, out + OAUTH_VERIFIER_LEN);
}

static void oauth_get_loaded(void *ctx, enum cache_status st, uint64_t gen, const char *json,
			     size_t len)
{
	struct oauth_get *g = ctx;
	uint8_t key[CRYPTO_KEY_LEN];
	const char *why;

	g->req = NULL;
	if (st != CACHE_OK) {
		oauth_get_finish(g, OAUTH_TEMP, NULL);
		return;
	}
	if (json == NULL) {
		oauth_get_finish(g, OAUTH_NO_ACCOUNT, NULL);
		return;
	}
	if (oauth_record_parse(json, len, &g->rec, &why) < 0) {
		log_error("%s event=oauth_record_damaged error=\"%s\"", g->log_id, why);
		oauth_get_finish(g, OAUTH_DAMAGED, NULL);
		return;
	}
	g->gen = gen;
	oauth_unlock_mac(g->t->unlocked, g->pass, g->pass_len, g->mac);
	if (oauth_unlock_find(g->t->unlocked, g->account, g->rec.salt, g->mac, key) == 0) {
		explicit_bzero(g->pass, g->pass_len);
		oauth_get_unlocked(g, key);
		explicit_bzero(key, sizeof(key));
		return;
	}
	/* scrypt on the worker: the loop serves everyone else meanwhile. */
	g->job = oauth_kdf_run(g->t->kdf, g->pass, g->pass_len, g->rec.salt, sizeof(g->rec.salt),
			       g->rec.log2_n, g->rec.r, g->rec.p, oauth_get_derived, g);
	explicit_bzero(g->pass, g->pass_len);
	if (g->job == NULL) {
		log_warn("%s event=oauth_busy error=\"password checks queued: %d\"", g->log_id,
			 OAUTH_KDF_QUEUE_MAX);
		oauth_get_finish(g, OAUTH_TEMP, NULL);
	}
}

struct oauth_get *oauth_token_get(struct oauth_tokens *t, const struct conf_upstream *up,
				  const char *account, const char *pass, size_t pass_len,
				  const char *stale, const char *log_id, oauth_get_cb *cb,
				  void *ctx)
{
	struct oauth_get *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->t = t;
	g->cb = cb;
	g->ctx = ctx;
	g->pass_len = pass_len;
	g->timeout_ms = up->token_timeout_secs * 1000;
	snprintf(g->log_id, sizeof(g->log_id), "%s", log_id);
	snprintf(g->route, sizeof(g->route), "%s", up->name);
	if ((g->account = strdup(account)) == NULL || (g->pass = malloc(pass_len + 1)) == NULL ||
	    (stale != NULL && (g->stale = strdup(stale)) == NULL) ||
	    up->token_endpoint == NULL || up->client_id == NULL ||
	    (g->token_endpoint = strdup(up->token_endpoint)) == NULL ||
	    (g->client_id = strdup(up->client_id)) == NULL ||
	    (up->client_secret != NULL && (g->client_secret = strdup(up->client_secret)) == NULL)) {
		oauth_get_free(g);
		return NULL;
	}
	memcpy(g->pass, pass, pass_len);
	g->pass[pass_len] = '\0';
	g->req = cache_oauth_get(t->cache, account, oauth_get_loaded, g);
	if (g->req == NULL) {
		oauth_get_free(g);
		return NULL;
	}
	return g;
}

void oauth_token_cancel(struct oauth_get **gp)
{
	struct oauth_get *g = *gp;

	if (g == NULL)
		return;
	if (g->flight != NULL) {
		struct oauth_get **p;

		for (p = &g->flight->waiters; *p != NULL; p = &(*p)->next) {
			if (*p == g) {
				*p = g->next;
				break;
			}
		}
	}
	oauth_get_free(g);
	*gp = NULL;
}
