#ifndef CACHE_GEN_H
#define CACHE_GEN_H

/*
 * Generations: one cheap read that tells a gateway whether what it read
 * of an account's state at an earlier login is still what is stored, so
 * that a warm poll need not read 10,000 hides and UIDLs again.
 *
 *   popgate:{<account>}:gen   hash "*" -> n: the account (uidvalidity,
 *                             hidden_all, the UIDL map's imports and
 *                             re-maps); <device> -> n: that device's
 *                             hides and its devices entry
 *
 * Every script that changes one of those bumps its field in the same
 * script (so atomically with the change): hide (the device, or "*" for
 * hidden_all), remap (all of it: "*"), popgate device reset/forget (the
 * device), the legacy import's store and popgate uidl import ("*"),
 * retention's removal of hides ("*"). A bump sets max(old + 1, Redis
 * TIME in microseconds), so a value is never seen twice for different
 * states, also after the hash was lost (flushed, a failover to a replica
 * that had an older one): the next bump jumps past every value handed
 * out before. The account's field is made (bumped from nothing) by the
 * first cache_lock_gen() that finds it missing, so it is never 0 for a
 * reader; a device's is 0 until its first change: all of a device's
 * state writes bump it, so 0 names its state before any of them. A copy
 * read under an account generation of 0 must never be used.
 *
 * Not bumped, because they cannot change what an earlier read found for
 * the messages it read: UIDL assignments (an entry is only ever added
 * for a uid that had none, never replaced), the prunes of hides and
 * UIDLs of expunged messages (their uids are never listed again), a new
 * device's registration (another device's entry), the first store of
 * the uidvalidity (before anything could be read under it). A reader
 * that finds a listed uid it did not read before must read it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"

/* Lua, put first in a script: gen_bump(key, field), which returns the
   value before ("" for none) and the new one. The gen key goes in
   KEYS (or is built from the account's prefix, as the scripts that build
   hidden:<device> names do). */
#define CACHE_GEN_LUA \
	"if redis.replicate_commands then redis.replicate_commands() end\n" \
	"local function gen_bump(key, field)\n" \
	"  local t = redis.call('TIME')\n" \
	"  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n" \
	"  local was = redis.call('HGET', key, field) or ''\n" \
	"  local old = tonumber(was) or 0\n" \
	"  local new = string.format('%.0f', math.max(old + 1, now))\n" \
	"  redis.call('HSET', key, field, new)\n" \
	"  return was, new\n" \
	"end\n"

/* The hash's field of the account itself (no device is named "*"). */
#define CACHE_GEN_ACCOUNT "*"

struct cache_gens {
	uint64_t account;    /* 0: none stored, or damaged */
	uint64_t device;     /* 0: none stored (no change yet), or damaged */
};

/* A hide's bump (cache_hide_gen()): the field's generation before it and
   after it (0: none before). */
struct cache_gen_change {
	uint64_t before, after;
};
typedef void cache_hide_gen_cb(void *ctx, enum cache_status st,
			       const struct cache_gen_change *change);

/* cache_hide() (cache.h), and with CACHE_OK the generation it bumped
   (change NULL when n was 0: nothing written, nothing bumped): the
   device's, or the account's for all_devices. So a writer that knew the
   generation before can tell that the change is its own alone. */
struct cache_req *cache_hide_gen(struct cache *c, const char *account, const char *device,
				 const char *token, bool all_devices, uint32_t uidvalidity,
				 const uint32_t *uids, const char *const *fingerprints, size_t n,
				 cache_hide_gen_cb *cb, void *ctx);

/* g non-NULL exactly when st == CACHE_OK, valid during the call. */
typedef void cache_lock_gen_cb(void *ctx, enum cache_status st, const struct cache_gens *g);

/*
 * cache_lock() (SET lock:<device> token NX EX ttl: CACHE_OK, or
 * CACHE_IN_USE when held) and, when taken, the account's (made when
 * missing) and the device's generations, in one atomic script: what is read under the
 * lock afterwards is at least as new as the generations.
 */
struct cache_req *cache_lock_gen(struct cache *c, const char *account, const char *device,
				 const char *token, unsigned int ttl_secs, cache_lock_gen_cb *cb,
				 void *ctx);

/*
 * What cache_load_view() and cache_uidl_load() would answer for a few
 * listed uids (new mail since a kept read), read only: nothing is
 * registered, stored or pruned. For uids[i]: its enum cache_hidden bits
 * for device, its stored UIDL (NULL: none); and whether the account has
 * an import. The stored uidvalidity must be uidvalidity (else
 * CACHE_CONFLICT). 1 <= n <= CACHE_PEEK_MAX uids, nonzero; one script.
 * uids are copied before this returns.
 */
#define CACHE_PEEK_MAX 2000

struct cache_peek {
	const uint8_t *hidden;        /* n */
	const char *const *uidls;     /* n, NULL: none stored */
	size_t n;
	bool legacy;
};

/* p non-NULL exactly when st == CACHE_OK, valid during the call. */
typedef void cache_peek_cb(void *ctx, enum cache_status st, const struct cache_peek *p);

struct cache_req *cache_peek(struct cache *c, const char *account, const char *device,
			     uint32_t uidvalidity, const uint32_t *uids, size_t n,
			     cache_peek_cb *cb, void *ctx);

#endif
