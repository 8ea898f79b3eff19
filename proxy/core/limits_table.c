#include "limits_table.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/*
 * Each table: chained buckets (a power of two, grown up to about one per
 * entry) plus an intrusive LRU list, most recently updated first. Auth and
 * login entries are moved to the front when written, never when read, so
 * with a monotonic clock the list is sorted by stamp_ms and its tail is
 * both the eviction victim and the first record to expire.
 *
 * The bucket index comes from SipHash-2-4 under a secret 128-bit key.
 * A fast unkeyed hash (FNV, djb2) lets anyone who can send user names
 * choose names that share one bucket and turn every lookup into a long
 * list walk; SipHash is a PRF designed for exactly this use, short inputs
 * in hash tables, and without the key its output cannot be steered.
 */

#define LIMITS_BUCKETS_MIN 16u
/* Beyond this chains just get longer; keeps the array at <= 128 MiB. */
#define LIMITS_BUCKETS_MAX ((size_t)1 << 24)
/* Expired records dropped from a list's tail per call: O(1) per call,
   and every record is dropped at most once, so none pile up. */
#define LIMITS_PURGE_STEP 2

struct limits_entry {
	struct limits_entry *hnext;
	struct limits_entry *lru_prev, *lru_next;
	uint64_t hash;
	uint64_t stamp_ms;	/* last failure, last login */
	unsigned int count;	/* open connections, failures */
	size_t full_len;	/* the key's length; the first stored_len kept */
	size_t stored_len;
	char key[];
};

struct limits_table {
	struct limits_entry **buckets;
	size_t nbuckets;	/* a power of two */
	size_t entries;
	size_t max_entries;
	struct limits_entry *lru_head, *lru_tail;
};

struct limits {
	uint64_t k0, k1;
	struct limits_table t[LIMITS_TABLES];
};

/* --- SipHash-2-4 (Aumasson, Bernstein 2012), from the paper's description --- */

static inline uint64_t lim_rotl(uint64_t x, unsigned int b)
{
	return (x << b) | (x >> (64 - b));
}

struct sip_state {
	uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip_state *s)
{
	s->v0 += s->v1;
	s->v1 = lim_rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = lim_rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = lim_rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = lim_rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = lim_rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = lim_rotl(s->v2, 32);
}

static inline void sip_block(struct sip_state *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

uint64_t limits_siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
	const unsigned char *p = data;
	struct sip_state s = {
		.v0 = k0 ^ 0x736f6d6570736575ull,
		.v1 = k1 ^ 0x646f72616e646f6dull,
		.v2 = k0 ^ 0x6c7967656e657261ull,
		.v3 = k1 ^ 0x7465646279746573ull,
	};
	size_t full = len & ~(size_t)7;
	uint64_t m;

	for (size_t i = 0; i < full; i += 8) {
		m = 0;
		for (unsigned int j = 0; j < 8; j++)
			m |= (uint64_t)p[i + j] << (8 * j);
		sip_block(&s, m);
	}
	/* the last block: the remaining bytes, the length's low byte on top */
	m = (uint64_t)(len & 0xff) << 56;
	for (size_t j = 0; j < (len & 7); j++)
		m |= (uint64_t)p[full + j] << (8 * j);
	sip_block(&s, m);
	s.v2 ^= 0xff;
	for (int r = 0; r < 4; r++)
		sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/* --- one table --- */

static void lru_unlink(struct limits_table *t, struct limits_entry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		t->lru_head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		t->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct limits_table *t, struct limits_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = t->lru_head;
	if (t->lru_head != NULL)
		t->lru_head->lru_prev = e;
	else
		t->lru_tail = e;
	t->lru_head = e;
}

static void lru_touch(struct limits_table *t, struct limits_entry *e)
{
	if (t->lru_head == e)
		return;
	lru_unlink(t, e);
	lru_push_front(t, e);
}

static struct limits_entry *table_find(const struct limits_table *t, uint64_t h,
				       const char *key, size_t len)
{
	size_t stored = len < LIMITS_KEY_MAX ? len : LIMITS_KEY_MAX;
	struct limits_entry *e;

	for (e = t->buckets[h & (t->nbuckets - 1)]; e != NULL; e = e->hnext) {
		if (e->hash == h && e->full_len == len && e->stored_len == stored &&
		    memcmp(e->key, key, stored) == 0)
			return e;
	}
	return NULL;
}

static void table_remove(struct limits_table *t, struct limits_entry *e)
{
	struct limits_entry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(t, e);
	t->entries--;
	free(e);
}

/* Doubles the bucket array; on ENOMEM keeps the old one (longer chains). */
static void table_grow(struct limits_table *t)
{
	size_t n = t->nbuckets * 2;
	struct limits_entry **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct limits_entry *e = t->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

/*
 * Adds a key known to be absent, count 0, at the LRU front. A full table
 * evicts its LRU tail if may_evict, else fails. NULL: full or ENOMEM.
 */
static struct limits_entry *table_insert(struct limits_table *t, uint64_t h, const char *key,
					 size_t len, bool may_evict)
{
	size_t stored = len < LIMITS_KEY_MAX ? len : LIMITS_KEY_MAX;
	struct limits_entry *e, **bucket;

	if (t->entries >= t->max_entries) {
		if (!may_evict || t->lru_tail == NULL)
			return NULL;
		table_remove(t, t->lru_tail);
	}
	e = malloc(sizeof(*e) + stored + 1);
	if (e == NULL)
		return NULL;
	memcpy(e->key, key, stored);
	e->key[stored] = '\0';
	e->full_len = len;
	e->stored_len = stored;
	e->hash = h;
	e->count = 0;
	e->stamp_ms = 0;
	if (t->entries >= t->nbuckets && t->nbuckets < LIMITS_BUCKETS_MAX)
		table_grow(t);
	bucket = &t->buckets[h & (t->nbuckets - 1)];
	e->hnext = *bucket;
	*bucket = e;
	lru_push_front(t, e);
	t->entries++;
	return e;
}

static void table_clear(struct limits_table *t)
{
	while (t->lru_head != NULL)
		table_remove(t, t->lru_head);
}

static int table_init(struct limits_table *t, size_t max_entries)
{
	t->nbuckets = LIMITS_BUCKETS_MIN;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->entries = 0;
	t->max_entries = max_entries;
	t->lru_head = t->lru_tail = NULL;
	return t->buckets == NULL ? -1 : 0;
}

/* --- the set of tables --- */

struct limits *limits_new(size_t max_entries)
{
	struct limits *l = calloc(1, sizeof(*l));
	uint64_t key[2];
	size_t got = 0;

	if (l == NULL)
		return NULL;
	for (int i = 0; i < LIMITS_TABLES; i++) {
		if (table_init(&l->t[i], max_entries > 0 ? max_entries : 1) < 0) {
			limits_free(&l);
			errno = ENOMEM;
			return NULL;
		}
	}
	while (got < sizeof(key)) {
		ssize_t n = getrandom((char *)key + got, sizeof(key) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;

			limits_free(&l);
			errno = err;
			return NULL;
		}
		got += (size_t)n;
	}
	l->k0 = key[0];
	l->k1 = key[1];
	return l;
}

void limits_free(struct limits **lp)
{
	struct limits *l = lp != NULL ? *lp : NULL;

	if (l == NULL)
		return;
	for (int i = 0; i < LIMITS_TABLES; i++) {
		if (l->t[i].buckets != NULL)
			table_clear(&l->t[i]);
		free(l->t[i].buckets);
	}
	free(l);
	*lp = NULL;
}

void limits_set_seed_for_tests(struct limits *l, uint64_t k0, uint64_t k1)
{
	/* stored hashes were made with the old key and long keys are cut,
	   so the entries cannot be rehashed: start empty */
	for (int i = 0; i < LIMITS_TABLES; i++)
		table_clear(&l->t[i]);
	l->k0 = k0;
	l->k1 = k1;
}

uint64_t limits_key_hash(const struct limits *l, const char *key)
{
	return limits_siphash24(l->k0, l->k1, key, strlen(key));
}

static struct limits_entry *lim_find(const struct limits *l, enum limits_table_id id,
				     const char *key)
{
	size_t len = strlen(key);

	return table_find(&l->t[id], limits_siphash24(l->k0, l->k1, key, len), key, len);
}

/* Finds key or adds it with count 0 (may_evict: at the cost of the LRU tail). */
static struct limits_entry *lim_get(struct limits *l, enum limits_table_id id, const char *key,
				    bool may_evict)
{
	size_t len = strlen(key);
	uint64_t h = limits_siphash24(l->k0, l->k1, key, len);
	struct limits_entry *e = table_find(&l->t[id], h, key, len);

	return e != NULL ? e : table_insert(&l->t[id], h, key, len, may_evict);
}

static uint64_t lim_elapsed(const struct limits_entry *e, uint64_t now_ms)
{
	/* a clock that went back counts as no time passed */
	return now_ms > e->stamp_ms ? now_ms - e->stamp_ms : 0;
}

/* Drops a few records from the LRU tail that are older than ttl_ms. */
static void lim_purge(struct limits *l, enum limits_table_id id, uint64_t ttl_ms,
		      uint64_t now_ms)
{
	struct limits_table *t = &l->t[id];

	for (int i = 0; i < LIMITS_PURGE_STEP && t->lru_tail != NULL; i++) {
		if (lim_elapsed(t->lru_tail, now_ms) < ttl_ms)
			break;
		table_remove(t, t->lru_tail);
	}
}

size_t limits_entries(const struct limits *l)
{
	size_t n = 0;

	for (int i = 0; i < LIMITS_TABLES; i++)
		n += l->t[i].entries;
	return n;
}

size_t limits_table_entries(const struct limits *l, enum limits_table_id t)
{
	return (unsigned int)t < LIMITS_TABLES ? l->t[t].entries : 0;
}

/* --- connections --- */

bool limits_conn_open(struct limits *l, const char *ip, unsigned int max_per_ip)
{
	struct limits_entry *e = lim_get(l, LIMITS_CONN, ip != NULL ? ip : "", false);

	if (e == NULL)
		return false;
	if ((max_per_ip != 0 && e->count >= max_per_ip) || e->count == UINT_MAX)
		return false;	/* an existing entry: a new one has count 0 */
	e->count++;
	return true;
}

void limits_conn_close(struct limits *l, const char *ip)
{
	struct limits_entry *e = lim_find(l, LIMITS_CONN, ip != NULL ? ip : "");

	if (e != NULL && --e->count == 0)
		table_remove(&l->t[LIMITS_CONN], e);
}

unsigned int limits_conn_count(const struct limits *l, const char *ip)
{
	const struct limits_entry *e = lim_find(l, LIMITS_CONN, ip != NULL ? ip : "");

	return e != NULL ? e->count : 0;
}

/* --- authentication failures --- */

unsigned int limits_auth_delay(const struct limits_auth *a, unsigned int n)
{
	uint64_t d;

	if (a->delay_ms == 0 || n == 0)
		return 0;
	/* delay_ms < 2^32, so up to a shift of 31 it fits in 64 bits */
	d = n - 1 < 32 ? (uint64_t)a->delay_ms << (n - 1) : UINT64_MAX;
	return d < a->delay_max_ms ? (unsigned int)d : a->delay_max_ms;
}

/* The key's live failure count; an expired record is removed. */
static unsigned int auth_count(struct limits *l, enum limits_table_id id, const char *key,
			       uint64_t window_ms, uint64_t now_ms)
{
	struct limits_entry *e = lim_find(l, id, key);

	if (e == NULL)
		return 0;
	if (lim_elapsed(e, now_ms) >= window_ms) {
		table_remove(&l->t[id], e);
		return 0;
	}
	return e->count;
}

static unsigned int auth_record(struct limits *l, enum limits_table_id id, const char *key,
				uint64_t window_ms, uint64_t now_ms)
{
	struct limits_entry *e = lim_get(l, id, key, true);

	if (e == NULL)
		return 1;	/* ENOMEM: still this one failure */
	if (lim_elapsed(e, now_ms) >= window_ms)
		e->count = 0;
	if (e->count < UINT_MAX)
		e->count++;
	e->stamp_ms = now_ms;
	lru_touch(&l->t[id], e);
	return e->count;
}

/* The larger failure count of ip and user, recording one more first when
   record is set. */
static unsigned int auth_max(struct limits *l, const char *ip, const char *user,
			     const struct limits_auth *a, uint64_t now_ms, bool record)
{
	uint64_t window_ms = (uint64_t)a->window_secs * 1000;
	unsigned int (*get)(struct limits *, enum limits_table_id, const char *, uint64_t,
			    uint64_t) = record ? auth_record : auth_count;
	unsigned int n, nu;

	lim_purge(l, LIMITS_AUTH_IP, window_ms, now_ms);
	lim_purge(l, LIMITS_AUTH_USER, window_ms, now_ms);
	n = get(l, LIMITS_AUTH_IP, ip != NULL ? ip : "", window_ms, now_ms);
	if (user != NULL) {
		nu = get(l, LIMITS_AUTH_USER, user, window_ms, now_ms);
		if (nu > n)
			n = nu;
	}
	return n;
}

unsigned int limits_auth_failed(struct limits *l, const char *ip, const char *user,
				const struct limits_auth *a, uint64_t now_ms)
{
	return limits_auth_delay(a, auth_max(l, ip, user, a, now_ms, true));
}

unsigned int limits_auth_failures(struct limits *l, const char *ip, const char *user,
				  const struct limits_auth *a, uint64_t now_ms)
{
	return auth_max(l, ip, user, a, now_ms, false);
}

void limits_auth_succeeded(struct limits *l, const char *ip, const char *user)
{
	struct limits_entry *e = user != NULL ? lim_find(l, LIMITS_AUTH_USER, user) : NULL;
	struct limits_entry *a = lim_find(l, LIMITS_AUTH_IP, ip != NULL ? ip : "");
	unsigned int own = e != NULL ? e->count : 0;

	if (e != NULL)
		table_remove(&l->t[LIMITS_AUTH_USER], e);
	/* The address keeps what other users' guesses cost it, not what
	   this user's own mistakes did (one office NAT, many people). */
	if (a != NULL) {
		if (a->count > own)
			a->count -= own;
		else
			table_remove(&l->t[LIMITS_AUTH_IP], a);
	}
}

/* --- LOGIN-DELAY --- */

unsigned int limits_login_wait(struct limits *l, const char *login, unsigned int delay_secs,
			       uint64_t now_ms)
{
	uint64_t delay = (uint64_t)delay_secs * 1000, elapsed;
	struct limits_entry *e;

	if (login == NULL)
		return 0;
	lim_purge(l, LIMITS_LOGIN, delay, now_ms);
	e = lim_find(l, LIMITS_LOGIN, login);
	if (e == NULL)
		return 0;
	elapsed = lim_elapsed(e, now_ms);
	if (elapsed >= delay) {
		table_remove(&l->t[LIMITS_LOGIN], e);
		return 0;
	}
	/* rounded up: 1 ms left is still "not yet" */
	return (unsigned int)((delay - elapsed + 999) / 1000);
}

void limits_login_record(struct limits *l, const char *login, uint64_t now_ms)
{
	struct limits_entry *e = login != NULL ? lim_get(l, LIMITS_LOGIN, login, true) : NULL;

	if (e == NULL)
		return;
	e->stamp_ms = now_ms;
	lru_touch(&l->t[LIMITS_LOGIN], e);
}

/* --- provider back-off --- */

unsigned int limits_throttle_left(struct limits *l, const char *key, const struct limits_auth *a,
				  uint64_t now_ms)
{
	uint64_t window_ms = (uint64_t)a->window_secs * 1000;
	struct limits_entry *e;
	uint64_t elapsed;
	unsigned int delay;

	if (key == NULL)
		return 0;
	lim_purge(l, LIMITS_THROTTLE, window_ms, now_ms);
	e = lim_find(l, LIMITS_THROTTLE, key);
	if (e == NULL)
		return 0;
	elapsed = lim_elapsed(e, now_ms);
	if (elapsed >= window_ms) {
		table_remove(&l->t[LIMITS_THROTTLE], e);
		return 0;
	}
	delay = limits_auth_delay(a, e->count);
	return elapsed < delay ? (unsigned int)(delay - elapsed) : 0;
}

unsigned int limits_throttle_hit(struct limits *l, const char *key, const struct limits_auth *a,
				 uint64_t now_ms)
{
	uint64_t window_ms = (uint64_t)a->window_secs * 1000;

	unsigned int left = limits_throttle_left(l, key, a, now_ms);

	/* Several logins of the account were under way at once: one
	   back-off for all of them, not one level each. */
	if (key == NULL || left > 0)
		return left;
	return limits_auth_delay(a, auth_record(l, LIMITS_THROTTLE, key, window_ms, now_ms));
}

void limits_throttle_clear(struct limits *l, const char *key)
{
	struct limits_entry *e = key != NULL ? lim_find(l, LIMITS_THROTTLE, key) : NULL;

	if (e != NULL)
		table_remove(&l->t[LIMITS_THROTTLE], e);
}
