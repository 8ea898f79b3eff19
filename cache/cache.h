#ifndef CACHE_H
#define CACHE_H

/*
 * The per-account state store: Redis through hiredis's async API on the
 * caller's libevent loop. No call here blocks the loop, except cache_new()
 * and cache_free() in managed mode (start-up and shut-down of the private
 * redis-server, bounded).
 *
 * Keys, all of one account in one Redis Cluster slot (hash tag; the
 * account name is built by cache_account_name(), cache_key.h, so it holds
 * no brace):
 *
 *   popgate:{<account>}:uidvalidity       string, UIDVALIDITY the state is for
 *   popgate:{<account>}:devices           hash device -> "<first_uidnext> <unix time>"
 *   popgate:{<account>}:hidden:<device>   hash uid -> fingerprint
 *   popgate:{<account>}:hidden_all        hash uid -> fingerprint
 *   popgate:{<account>}:lock:<device>     string lock token, with expiry
 *   popgate:{<account>}:uidl              hash uid -> "<fingerprint> <uidl>":
 *                                         each message's UIDL, assigned
 *                                         once ("-" when it has no
 *                                         fingerprint)
 *   popgate:{<account>}:legacy            hash Message-ID -> "<size> <uidl>"
 *                                         (several, space-separated): the
 *                                         UIDLs of an import, taken by the
 *                                         messages as they are assigned
 *   popgate:{<account>}:legacy_lease      string token, with expiry: one login
 *                                         imports from the legacy POP3 server
 *   popgate:{<account>}:legacy_done       string "<unix time> <summary>": the
 *                                         lazy import happened (never again)
 *   popgate:{<account>}:remap:<random>    hash fingerprint -> new uids,
 *                                         while a cache_remap() stages
 *                                         (expires after an hour)
 *   popgate:{<account>}:oauth             hash gen -> n, record -> an
 *                                         enrolled OAuth2 account's record
 *                                         (opaque here: its secrets are
 *                                         sealed by the caller, proxy/oauth/)
 *   popgate:{<account>}:oauth_lease       string lease token, with expiry:
 *                                         one token refresh at a time
 *   popgate:{<account>}:sizes:<uidvalidity> hash uid -> "<rfc822> <octets>"
 *                                         (cache_sizes.h: exact_sizes)
 *   popgate:{<account>}:listing:<id>  string, the copy of a mailbox's last
 *                                         listing (cache_shared.h)
 *   popgate:{<account>}:gen               hash "*" or device -> generation
 *                                         (cache_gen.h: bumped by the writes
 *                                         of the state above)
 *   popgate:{<tag>}:<what>                string, an expiring count or mark
 *                                         (cache_count_incr() and below:
 *                                         shared failure delays, LOGIN-DELAY)
 *
 * Nothing else is stored: no password, no message content, no token in
 * clear.
 *
 * Requests. Every request function returns a handle, or NULL only when
 * out of memory (then its callback never runs). Otherwise the callback
 * runs exactly once, always from the event loop and never inside the call
 * that made the request, unless the request is cancelled first. Invalid
 * arguments give CACHE_ERROR. A request waits for the connection (being
 * set up, backing off after a failure, the server still loading its
 * data) and goes out once it is ready; no reply within timeout_ms of the
 * call, waiting included, gives CACHE_UNAVAILABLE for that request alone:
 * its late reply is dropped, the connection and the other requests go
 * on. The handle is valid
 * until the callback has started or the request is cancelled: clear the
 * stored handle first thing in the callback. Callbacks may make new
 * requests, cancel others and call cache_free().
 *
 * CACHE_UNAVAILABLE after a request was sent (timeout, connection lost)
 * means "outcome unknown": the server may still have applied it. Every
 * write here is atomic, and repeating it with the same arguments is
 * harmless; a lock taken that way expires after its ttl.
 *
 * Connection. It is ready once connected, AUTH and SELECT done and a
 * PING answered PONG; while the server answers LOADING (a restarted
 * server reading its AOF, a replica in a full resync) it PINGs again
 * every 50 ms, and a request that got LOADING (so was not run) is sent
 * again, in its place, once the server is done. When the connection
 * fails, every request sent on it completes with CACHE_UNAVAILABLE
 * (outcome unknown); those not sent yet keep waiting; reconnection is
 * retried forever, with a backoff from 100 ms doubling to 5 s. After a
 * request times out, a PING follows it: no answer to that within
 * timeout_ms either (or a socket error) and the connection is recycled.
 * A reply that no request asked for (a server answering twice, or not
 * Redis at all) is a protocol error: the connection is recycled.
 *
 * The process must ignore SIGPIPE (hiredis writes with write(2)). The
 * cache keeps events on the loop (reconnect timer, managed server watch)
 * until cache_free(), so free it before expecting the loop to run dry.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache_key.h"

struct event_base;
struct evdns_base;
struct cache;
struct cache_req;

enum cache_status {
	CACHE_OK,
	CACHE_IN_USE,      /* lock held by another token */
	CACHE_UNAVAILABLE, /* Redis down, loading, read-only, timed out */
	CACHE_CONFLICT,    /* stored UIDVALIDITY differs (or none stored) */
	CACHE_ERROR,       /* invalid arguments, unexpected reply, corrupt
			      state; logged; retrying will not help */
	CACHE_LIMIT,       /* a bound below would be passed (devices of an
			      account, hidden entries of a device); logged;
			      nothing written */
};

/* "ok", "in-use", "unavailable", "conflict", "error", "limit". */
const char *cache_status_name(enum cache_status st);

#define CACHE_ACCOUNT_MAX 512      /* bytes, no control characters */
#define CACHE_TOKEN_MAX 64         /* bytes of 0x21..0x7e */
#define CACHE_FINGERPRINT_MAX 255  /* bytes, no NUL */
#define CACHE_HIDE_MAX 100000      /* uids in one cache_hide() */
#define CACHE_TTL_MAX 86400        /* lock ttl, seconds */
#define CACHE_VIEW_MAX 2000000     /* uids in one view, messages in one
				      remap */
/* Bounds of the stored state, so that one big account cannot fill Redis
   for everyone: devices registered in one account (cache_load_view()),
   and entries of one hidden hash, a device's or hidden_all (cache_hide()).
   Past them: CACHE_LIMIT. */
#define CACHE_DEVICES_MAX 100
#define CACHE_REPLICAS_MAX 16
#define CACHE_HIDDEN_MAX 200000

enum cache_log_level {
	CACHE_LOG_ERROR,
	CACHE_LOG_WARN,
	CACHE_LOG_INFO,
	CACHE_LOG_DEBUG,
};

/* How the cache reports to its owner; it never logs or counts on its own.
   Every member may be NULL. Called from the event loop (and from
   cache_new()/cache_free()). */
struct cache_hooks {
	/* One key=value line ("event=cache_down cache=... error=..."), every
	   text from Redis or the network already escaped. */
	void (*log)(void *ctx, enum cache_log_level level, const char *line);
	/* A request completed with CACHE_UNAVAILABLE or CACHE_ERROR. */
	void (*request_failed)(void *ctx);
	/* The server to write to changed: Sentinel switched masters (a
	   +switch-master, a READONLY reply, ROLE not master), or a
	   cluster's slot map changed. */
	void (*failover)(void *ctx);
	void *ctx;
};

struct cache_settings {
	/* "auto", "redis://[[user]:password@]host[:port][/db]",
	   "unix:/path/to/sock[?db=N]", "redis-sentinel://..." (the master
	   these sentinels name: cache_sentinel.h) or "redis-cluster://..."
	   (a connection per node, requests by slot: cache_cluster.h); see
	   cache_url.h. */
	const char *url;
	/* AUTH password; NULL = none, or the one in the url (giving both
	   is an error). Never logged. */
	const char *password;
	/* auto: directory of the private redis-server's socket, config, AOF,
	   log, pid file; created 0700 if missing (its parent must exist); if
	   it exists it must be ours and not writable by group or others.
	   Its absolute path + "/redis.sock" must fit in 107 bytes. */
	const char *state_dir;
	/* auto: the redis-server binary, a path or a name looked up in
	   PATH; NULL = "redis-server". */
	const char *redis_server;
	/* Per request, and for each connection attempt; 0 = 3000 ms. At
	   most 600000. */
	unsigned int timeout_ms;
	/* Resolver for redis:// host names; NULL = the cache makes its own
	   when needed. Not owned. */
	struct evdns_base *dns;
	/* auto: the private redis-server's maxmemory, in bytes, with
	   maxmemory-policy noeviction: when full it refuses writes (OOM:
	   CACHE_UNAVAILABLE) instead of dropping state. 0 = 256 MB (about
	   2 million hidden entries with 64-byte fingerprints); below 1 MB
	   is an error. An external Redis is configured by its operator. */
	uint64_t max_memory;
	/* The writes a QUIT or a remap relies on (cache_hide(), the swap of
	   cache_remap(), and cache_unlock(), so that a failover does not
	   bring an ended session's lock back) are followed by WAIT replicas
	   timeout_ms/2: they
	   give CACHE_OK only once that many replicas have them, else
	   CACHE_UNAVAILABLE (outcome unknown: written on the master, but a
	   failover may lose it). 0 = no WAIT: CACHE_OK means written on the
	   master, and a failover before it reached a replica loses it.
	   At most CACHE_REPLICAS_MAX; not with auto. */
	unsigned int replicas;
	struct cache_hooks hooks;
};

/*
 * Parses the settings and starts connecting (the attempt goes on from the
 * loop; requests may be made at once and wait for it). In auto mode, also
 * starts the private redis-server and waits (blocking, at most 10 s)
 * until it answers PING with PONG, i.e. has loaded its AOF (one still
 * loading after 10 s is left to it: requests wait); its later deaths
 * are noticed on the loop and it is restarted with a backoff from 100 ms
 * doubling to 5 s. Fails (NULL, malloc'd *error_r for the caller to free)
 * on bad settings or when the managed server cannot be started; an
 * unreachable external Redis is not an error (reconnection goes on).
 * Settings strings are copied. base must outlive the cache.
 */
/*
 * What cache_new() would refuse, checked without connecting or starting
 * anything (popgate --check): a url or password that does not parse or
 * does not fit together, and in auto mode a missing redis-server or state
 * directory parent. 0, or -1 with a malloc'd *error_r.
 */
int cache_settings_validate(const struct cache_settings *set, char **error_r);

struct cache *cache_new(struct event_base *base,
			const struct cache_settings *set, char **error_r);

/*
 * Closes the connection and, in auto mode, stops the redis-server
 * (SIGTERM, up to 5 s, then SIGKILL; blocking). Pending requests are
 * dropped: their callbacks never run and their handles become invalid,
 * so cancel the stored ones first. From inside a cache callback the free
 * is deferred until the callback returns. Sets *c to NULL; NULL is fine.
 */
void cache_free(struct cache **c);

/* Where the cache is, for logs: the url with any password removed. */
const char *cache_describe(const struct cache *c);

/* Connected and ready (AUTH/SELECT done, server not loading). */
bool cache_available(const struct cache *c);

/* Its callback will never run. Sets *req to NULL; NULL or *req == NULL is
   fine; so is cancelling a request from inside its own callback. What
   was already sent still happens; of a view or a remap (several requests
   each), the rest is not sent: a remap then changes nothing. */
void cache_req_cancel(struct cache_req **req);

/* 1..32 of [A-Za-z0-9._-]. */
bool cache_device_valid(const char *device);

typedef void cache_status_cb(void *ctx, enum cache_status st);

/*
 * The account string is built by the caller, e.g.
 * "alice@example.com@imap.example.com:993"; any bytes but control
 * characters, 1..CACHE_ACCOUNT_MAX. token identifies the lock holder (a
 * random session id: 1..64 of 0x21..0x7e, not a secret). ttl_secs is
 * 1..CACHE_TTL_MAX.
 *
 * cache_lock: SET lock:<device> token NX EX ttl -> CACHE_OK, or
 * CACHE_IN_USE when held (by anyone, the same token included).
 */
struct cache_req *cache_lock(struct cache *c, const char *account,
			     const char *device, const char *token,
			     unsigned int ttl_secs, cache_status_cb *cb,
			     void *ctx);

/* Extends the lock to ttl_secs if token holds it -> CACHE_OK; otherwise
   (expired, taken over) CACHE_IN_USE: the session lost exclusivity. */
struct cache_req *cache_lock_refresh(struct cache *c, const char *account,
				     const char *device, const char *token,
				     unsigned int ttl_secs,
				     cache_status_cb *cb, void *ctx);

/* Deletes the lock if token holds it. Fire and forget: nothing is
   reported. When Redis is unreachable the unlock is kept (up to 4096)
   and sent again once the connection is back, so an outage does not
   keep devices locked for their whole ttl; past that, locks expire. */
void cache_unlock(struct cache *c, const char *account, const char *device,
		  const char *token);

/* ---- enrolled OAuth2 accounts (proxy/oauth/ gives the records) ---- */

#define CACHE_OAUTH_RECORD_MAX 65536

/* The record: st CACHE_OK with gen 0 and record NULL when there is none,
   else gen >= 1 and len bytes at record (valid during the call). */
typedef void cache_oauth_cb(void *ctx, enum cache_status st, uint64_t gen,
			    const char *record, size_t len);
struct cache_req *cache_oauth_get(struct cache *c, const char *account,
				  cache_oauth_cb *cb, void *ctx);

/* Writes the record if the stored gen is still expect_gen (0: none
   stored), atomically: cb gets CACHE_OK and the new gen (expect_gen + 1),
   or CACHE_CONFLICT and the gen found, so two writers never overwrite
   each other's newer record. record: 1..CACHE_OAUTH_RECORD_MAX bytes. */
typedef void cache_gen_cb(void *ctx, enum cache_status st, uint64_t gen);
struct cache_req *cache_oauth_put(struct cache *c, const char *account, uint64_t expect_gen,
				  const char *record, size_t len, cache_gen_cb *cb,
				  void *ctx);

/* Deletes the record (and any lease): CACHE_OK, or CACHE_CONFLICT when
   there was none. */
struct cache_req *cache_oauth_delete(struct cache *c, const char *account,
				     cache_status_cb *cb, void *ctx);

/* The refresh lease: SET oauth_lease token NX PX ttl_ms -> CACHE_OK, or
   CACHE_IN_USE while another holder has it. ttl_ms 1..600000. */
struct cache_req *cache_oauth_lease(struct cache *c, const char *account, const char *token,
				    unsigned int ttl_ms, cache_status_cb *cb, void *ctx);
/* Drops the lease if token holds it; fire and forget. */
void cache_oauth_release(struct cache *c, const char *account, const char *token);

/* One SCAN step over the enrolled accounts (cursor 0 first, done when
   next is 0): the account names of the records found, valid during the
   call. Administration only (popgate account list): it walks the whole
   key space of the server. */
typedef void cache_oauth_scan_cb(void *ctx, enum cache_status st, uint64_t next,
				 const char *const *accounts, size_t n);
struct cache_req *cache_oauth_scan(struct cache *c, uint64_t cursor, cache_oauth_scan_cb *cb,
				   void *ctx);

/* What cache_load_view() found for one listed UID: bits. */
enum cache_hidden {
	CACHE_HIDDEN_DEVICE = 1 << 0,  /* hidden for this device */
	CACHE_HIDDEN_ALL = 1 << 1,     /* hidden for every device */
};

/*
 * Completes once Redis has answered every request made before it for this
 * account, cache_unlock()'s included: CACHE_OK, or CACHE_UNAVAILABLE when
 * the connection went meanwhile (a lost unlock is sent again when it is
 * back). One round trip (a PING behind them). So a reply sent after the
 * callback never races the unlock, as seen by any other client of Redis.
 */
struct cache_req *cache_barrier(struct cache *c, const char *account, cache_status_cb *cb,
				void *ctx);

struct cache_view {
	uint32_t uidvalidity;      /* stored before this call; 0 = none (then
				      the given one was stored) */
	bool new_device;           /* this call registered the device */
	uint32_t first_uidnext;    /* UIDNEXT when the device was first seen */
	uint64_t first_seen;       /* unix time of that */
	/* When uidvalidity is 0 or the listing's: hidden[i] holds the
	   enum cache_hidden bits of the listing's uids[i] (0: visible), for
	   i < count (its n). NULL when the stored uidvalidity
	   differs: the caller re-maps (cache_remap() reads the stored
	   fingerprints itself), then loads the view again. */
	const uint8_t *hidden;
	size_t count;
	size_t hidden_count;       /* listed uids hidden for this device */
	size_t hidden_all_count;   /* listed uids hidden for every device */
	size_t pruned;             /* entries removed: their message is gone */
};

/* view is non-NULL exactly when st == CACHE_OK, and valid only during the
   callback. */
typedef void cache_view_cb(void *ctx, enum cache_status st,
			   const struct cache_view *view);

/* The upstream mailbox as the caller listed it. */
struct cache_listing {
	uint32_t uidvalidity;      /* nonzero (RFC 3501 nz-number) */
	uint32_t uidnext;          /* nonzero, above every uid */
	/* Every UID that exists upstream, \Deleted ones included, strictly
	   ascending. Read, not copied, while the request runs: keep it
	   unchanged until the callback has started or the request is
	   cancelled. NULL when n is 0. */
	const uint32_t *uids;
	size_t n;                  /* at most CACHE_VIEW_MAX */
};

/*
 * The device's view of the listing (copied; not its uids). first_uidnext
 * (nonzero) is recorded for a device seen for the first time: the
 * listing's uidnext, or 1 for one that sees the whole mailbox. Anything
 * invalid -> CACHE_ERROR, nothing sent.
 *
 * First one atomic script: registers the device if unknown (first_uidnext,
 * first_seen = now; an account that has CACHE_DEVICES_MAX devices already
 * -> CACHE_LIMIT, nothing written), stores the uidvalidity if the account
 * has none, and returns the stored uidvalidity and the device entry. When
 * the stored uidvalidity differs, nothing else is changed nor read: the
 * view has hidden NULL. Otherwise only the listed uids are looked up in
 * both hidden hashes, in requests of a few thousand uids (the cost grows
 * with the listing, not with what is stored), each checking that the
 * stored uidvalidity is still the listing's (else CACHE_CONFLICT: load
 * again).
 *
 * Then pruning: the entries of a hidden hash for uids below the
 * listing's uidnext that it does not hold are deleted (their message is
 * gone: UIDs are never reused under one UIDVALIDITY), in steps that each
 * check the uidvalidity first, so each delete is right on its own. It
 * runs only when a hash holds more entries than the listed uids found in
 * it, so an unchanged mailbox costs nothing more; and, to keep its cost
 * in proportion, on a hash of more than 10,000 entries only once a
 * sixteenth of them is dead. A hidden entry whose uid does not parse ->
 * CACHE_ERROR (corrupt state).
 *
 * Each request of it has its own timeout_ms; a failure of one ends the
 * whole (what was written stays: the registration, prunes).
 */
struct cache_req *cache_load_view(struct cache *c, const char *account,
				  const char *device,
				  const struct cache_listing *listing,
				  uint32_t first_uidnext, cache_view_cb *cb,
				  void *ctx);

/*
 * One atomic script (a crash never leaves half of it): if token does not
 * hold lock:<device> -> CACHE_IN_USE; else if the stored uidvalidity is
 * not uidvalidity (or none is stored: call cache_load_view first) ->
 * CACHE_CONFLICT; else if the hash would hold more than CACHE_HIDDEN_MAX
 * entries -> CACHE_LIMIT; else adds uids[i] -> fingerprints[i] to
 * hidden:<device>, or to hidden_all when all_devices -> CACHE_OK. Nothing
 * is written unless CACHE_OK. fingerprints may be NULL, and so may any
 * of its entries (stored as ""); each is at most CACHE_FINGERPRINT_MAX
 * bytes and should be a digest of headers, never headers themselves.
 * uids are nonzero; 0 <= n <= CACHE_HIDE_MAX; the arrays are copied
 * before this returns.
 */
struct cache_req *cache_hide(struct cache *c, const char *account,
			     const char *device, const char *token,
			     bool all_devices, uint32_t uidvalidity,
			     const uint32_t *uids,
			     const char *const *fingerprints, size_t n,
			     cache_status_cb *cb, void *ctx);

/* One message of the re-created mailbox, for cache_remap(). */
struct cache_remap_msg {
	uint32_t uid;              /* in the new mailbox, nonzero */
	const char *fingerprint;   /* header digest, 1..CACHE_FINGERPRINT_MAX
				      bytes, no NUL (the same digest given to
				      cache_hide()) */
	uint64_t internaldate;     /* unix time the message arrived (IMAP
				      INTERNALDATE) */
};

/*
 * Moves the account's state to a new UIDVALIDITY when the upstream
 * mailbox was re-created (cache_load_view() returned another
 * uidvalidity). Atomic (see below); no lock is needed or touched.
 *
 * If the stored uidvalidity is not old_uidvalidity (or none is stored)
 * -> CACHE_CONFLICT and nothing is written: another session re-mapped
 * first, or the store moved on; load the view again. Otherwise, for
 * every device registered in the account (the devices hash) and for
 * hidden_all, each hidden entry (old uid -> fingerprint) is re-keyed to
 * the new uid of the message with the same fingerprint. Entries with an
 * empty fingerprint or no matching message are dropped (their message is
 * gone). When several messages share a fingerprint, each entry with that
 * fingerprint takes a different one of them, in ascending uid order: k
 * such entries become the k lowest of those uids, and entries beyond the
 * number of such messages are dropped. Each device entry
 * "<first_uidnext> <first_seen>" with first_uidnext > 1 gets as new
 * first_uidnext the smallest new uid whose internaldate >= first_seen, or
 * new_uidnext if there is none; first_uidnext 1 stays 1; first_seen is
 * kept; an entry that does not parse is left as it is. The UIDL map
 * moves the same way: each entry "<fp> <uidl>" goes to the new uid of the
 * message with that fingerprint, entries sharing a fingerprint taking
 * those uids in the order of their old uids; the rest is dropped. Then
 * uidvalidity := new_uidvalidity -> CACHE_OK.
 *
 * A hidden hash of a device missing from the devices hash is not seen
 * (cache_load_view() registers the device before anything is hidden).
 * After CACHE_UNAVAILABLE, repeating the call gives CACHE_CONFLICT if the
 * first one went through: either way, load the view again.
 *
 * msgs is every message of the new mailbox, sorted by strictly ascending
 * uid (checked); 0 <= n <= CACHE_VIEW_MAX. The three uidvalidity/uidnext
 * values are nonzero and old_uidvalidity != new_uidvalidity. Anything
 * else -> CACHE_ERROR, nothing sent. The array is read, not copied, while
 * the request runs: keep it unchanged until the callback has started or
 * the request is cancelled.
 *
 * Streamed, in requests of bounded size: the new mapping (fingerprint ->
 * new uids) is staged in chunks of 2,000 messages into a hash of the
 * account, popgate:{<account>}:remap:<random>, and one last script, which
 * checks the uidvalidity again, swaps it in as described above and
 * deletes it. Only that script changes the state, so the remap is still
 * atomic as a whole; one cancelled, timed out or cut short leaves only the
 * staging hash, which expires after an hour. A device entry that changed
 * while the chunks were staged (a device registered meanwhile) is left as
 * it is then. The staging hash lost before the swap -> CACHE_UNAVAILABLE,
 * nothing changed.
 *
 * Cost: per message about 80 bytes sent (with 64-byte fingerprints) and
 * about as much held in Redis until the swap; the swap blocks Redis about
 * linearly in hidden entries: measured ~0.9 s for 100,000 messages and
 * 200,000 hidden entries. Each request has its own timeout_ms; past
 * Redis's busy-reply-threshold (5 s) other requests get BUSY
 * (CACHE_UNAVAILABLE) until the swap ends.
 *
 * Redis Cluster: the hidden:<device> key names come from the devices hash,
 * so the script builds them itself (from the "popgate:{<account>}:" prefix
 * it is passed) instead of receiving them in KEYS. All of them carry the
 * account's hash tag and live in the slot of the declared keys, which
 * Redis accepts, but it breaks the rule that scripts declare every key.
 */
struct cache_req *cache_remap(struct cache *c, const char *account,
			      uint32_t old_uidvalidity,
			      uint32_t new_uidvalidity, uint32_t new_uidnext,
			      const struct cache_remap_msg *msgs, size_t n,
			      cache_status_cb *cb, void *ctx);


/* ---- the UIDL map ---- */

/* Longest UIDL (RFC 1939: 1..70 of 0x21..0x7e), and most entries kept. */
#define CACHE_UIDL_MAX 70
#define CACHE_UIDL_MAP_MAX CACHE_VIEW_MAX

/* 1..CACHE_UIDL_MAX of 0x21..0x7e. */
bool cache_uidl_valid(const char *uidl);

struct cache_uidls {
	/* uidls[i]: the stored UIDL of the request's i-th uid (load) or,
	   for an assign, the one another session stored first for entry i
	   (then it was left as it is); NULL: none (load), set as asked
	   (assign). For i < count; valid during the callback. */
	const char *const *uidls;
	size_t count;
	size_t found;              /* non-NULL entries */
	size_t pruned;             /* load: entries removed, their message gone */
	bool legacy;               /* load: the account has an import */
};

/* u is non-NULL exactly when st == CACHE_OK. */
typedef void cache_uidls_cb(void *ctx, enum cache_status st, const struct cache_uidls *u);

/*
 * The stored UIDLs of the listed uids, in requests of a few thousand
 * uids, each checking that the stored uidvalidity is the listing's (else
 * CACHE_CONFLICT: nothing is answered; cache_load_view() stores it, and
 * cache_remap() moves the map with the messages). Then, as
 * cache_load_view() does for the hidden hashes, map entries of uids below
 * the listing's uidnext that it does not hold are deleted (their message
 * is gone), only when there are enough of them. The listing is read, not
 * copied, while the request runs. Invalid arguments -> CACHE_ERROR.
 */
struct cache_req *cache_uidl_load(struct cache *c, const char *account,
				  const struct cache_listing *listing, cache_uidls_cb *cb,
				  void *ctx);

/* One new entry of the map. */
struct cache_uidl_new {
	uint32_t uid;
	const char *fingerprint;   /* header digest, no space, at most
				      CACHE_FINGERPRINT_MAX; "" for none */
	const char *uidl;          /* cache_uidl_valid() */
};

/*
 * Stores entries[0..n) (uids strictly ascending) under uidvalidity, in
 * requests of a few thousand entries, each one atomic script that checks
 * the uidvalidity (else CACHE_CONFLICT) and that the map stays within
 * CACHE_UIDL_MAP_MAX (else CACHE_LIMIT, that request writes nothing), and
 * sets only the entries that are still missing: a UIDL once stored is
 * never replaced. u->uidls[i] gives the UIDL found stored instead, for
 * the caller to use. A failure of one request ends the whole (the
 * requests before it stay written: each entry is right on its own).
 * Durable: with replicas, each request waits for them (a UIDL shown to a
 * client must not be lost by a failover and given again otherwise).
 * entries are read, not copied, while the request runs.
 */
struct cache_req *cache_uidl_assign(struct cache *c, const char *account, uint32_t uidvalidity,
				    const struct cache_uidl_new *entries, size_t n,
				    cache_uidls_cb *cb, void *ctx);

/* Longest Message-ID kept for matching an import. */
#define CACHE_MESSAGE_ID_MAX 255

/* A message that has no UIDL yet, to match against an import. */
struct cache_uidl_query {
	const char *message_id;    /* as header_fp_message_id() gives it; ""
				      matches nothing */
	uint64_t size;             /* its size upstream */
};

/*
 * The imported UIDL for each query (u->uidls[i], NULL: none): of the
 * imported entries with that Message-ID, the first of that size, else
 * the only one there is. In requests of a few thousand; read only.
 */
struct cache_req *cache_uidl_legacy(struct cache *c, const char *account,
				    const struct cache_uidl_query *queries, size_t n,
				    cache_uidls_cb *cb, void *ctx);

/* One line of an import (a dump made on the legacy server). */
struct cache_uidl_legacy_entry {
	const char *message_id;    /* 1..CACHE_MESSAGE_ID_MAX bytes */
	uint64_t size;             /* on the legacy server */
	const char *uidl;          /* cache_uidl_valid() */
};

/*
 * Replaces the account's import with e[0..n) (1 <= n <= CACHE_VIEW_MAX) in
 * one atomic script: either all of it is stored or nothing (durable, as
 * above). Entries sharing a Message-ID are kept in their order. Copied
 * before it returns.
 */
struct cache_req *cache_uidl_import(struct cache *c, const char *account,
				    const struct cache_uidl_legacy_entry *e, size_t n,
				    cache_status_cb *cb, void *ctx);

/* Everything stored for an account's UIDLs, for popgate uidl show. */
struct cache_uidl_dump {
	uint32_t uidvalidity;      /* 0: none stored */
	/* field, value pairs, in Redis's order: uid, "<fp> <uidl>" ... */
	const char *const *map;
	size_t map_n;
	/* Message-ID, "<size> <uidl> ..." */
	const char *const *legacy;
	size_t legacy_n;
	/* The lazy import's mark ("<unix time> <summary>"), "" for none. */
	char legacy_done[256];
};

/* d is non-NULL exactly when st == CACHE_OK, valid during the callback. */
typedef void cache_uidl_dump_cb(void *ctx, enum cache_status st, const struct cache_uidl_dump *d);

/* One request; its reply holds the whole map (a tool's, not a login's). */
struct cache_req *cache_uidl_dump(struct cache *c, const char *account, cache_uidl_dump_cb *cb,
				  void *ctx);
/*
 * Counters and marks that expire ([server] shared_limits: failure counts
 * and LOGIN-DELAY records that hold across gateways), one string key each:
 *
 *   popgate:{<tag>}:<what>   a count, or a mark ("1"), always with an expiry
 *
 * tag is an account (cache_account_name()) or another name of 1 to
 * CACHE_ACCOUNT_MAX bytes without control characters or braces (an
 * address: "ip:192.0.2.7"), so each key lives in the Cluster slot of its
 * tag and no request names two slots; what is 1..CACHE_WHAT_MAX bytes of
 * [A-Za-z0-9._:-]. Each value is at most CACHE_COUNT_MAX and every key
 * expires after at most CACHE_COUNT_TTL_MAX ms: the store holds no more
 * than one small key per address or user active within that time.
 * cb may be NULL (nothing to learn from the reply); value is meaningful
 * only with CACHE_OK.
 */
#define CACHE_COUNT_MAX 1000000
#define CACHE_COUNT_TTL_MAX (86400u * 1000u)
#define CACHE_WHAT_MAX 64

typedef void cache_count_cb(void *ctx, enum cache_status st, uint64_t value);

/* One more (saturating at CACHE_COUNT_MAX), expiring ttl_ms after this
   call; value: the new count. One atomic script. */
struct cache_req *cache_count_incr(struct cache *c, const char *tag, const char *what,
				   unsigned int ttl_ms, cache_count_cb *cb, void *ctx);
/* value: the count, 0 when there is none. */
struct cache_req *cache_count_get(struct cache *c, const char *tag, const char *what,
				  cache_count_cb *cb, void *ctx);
/* n off the count, its expiry kept; at 0 the key goes (n UINT64_MAX: all
   of it). value: what is left. One atomic script. */
struct cache_req *cache_count_sub(struct cache *c, const char *tag, const char *what,
				  uint64_t n, cache_count_cb *cb, void *ctx);
/* A mark that expires ttl_ms from now (set again: the expiry moves). */
struct cache_req *cache_mark_set(struct cache *c, const char *tag, const char *what,
				 unsigned int ttl_ms, cache_count_cb *cb, void *ctx);
/* value: milliseconds the mark has left, 0 when there is none. */
struct cache_req *cache_mark_left(struct cache *c, const char *tag, const char *what,
				  cache_count_cb *cb, void *ctx);

/* ---- the lazy import's marks ---- */

/*
 * The lazy import from a legacy POP3 server ([route] legacy_pop3), once
 * per account. cache_legacy_claim(): one atomic script; value
 * CACHE_LEGACY_CLAIMED (the lease is the caller's for ttl_ms, under
 * token), CACHE_LEGACY_DONE (an import happened: nothing to do) or
 * CACHE_LEGACY_BUSY (another login holds the lease).
 */
enum cache_legacy_claim {
	CACHE_LEGACY_CLAIMED = 0,
	CACHE_LEGACY_DONE = 1,
	CACHE_LEGACY_BUSY = 2,
};
#define CACHE_LEGACY_TOKEN_MAX 64
#define CACHE_LEGACY_SUMMARY_MAX 200

struct cache_req *cache_legacy_claim(struct cache *c, const char *account, const char *token,
				     unsigned int ttl_ms, cache_count_cb *cb, void *ctx);
/*
 * The import's result in one atomic script: entries e[0..n) (n <=
 * CACHE_UIDL_MAP_MAX, uids ascending, as for cache_uidl_assign(): only
 * those still without a UIDL are set), the done mark with summary (no
 * control characters), the lease released. CACHE_CONFLICT when the lease
 * is no longer token's or the stored uidvalidity differs, CACHE_LIMIT
 * past the map's limit: then nothing is written. An account with no
 * uidvalidity stored yet (the bulk import, before any login) gets this
 * one. Durable. e is read, not
 * copied, while the request runs.
 */
struct cache_req *cache_legacy_store(struct cache *c, const char *account, const char *token,
				     uint32_t uidvalidity, const struct cache_uidl_new *e, size_t n,
				     const char *summary, cache_status_cb *cb, void *ctx);
/* The lease given back (only if still token's): nothing was imported. */
struct cache_req *cache_legacy_release(struct cache *c, const char *account, const char *token,
				       cache_status_cb *cb, void *ctx);

#endif
