#ifndef CACHE_ADMIN_H
#define CACHE_ADMIN_H

/*
 * Device administration (popgate device ...): what the store holds about
 * one account's devices, and the changes an administrator makes to one
 * device (reset, forget, unlock). Each request is one Lua script, so
 * each change is atomic and is checked against the device's lock in the
 * same step. The keys are those of cache.h; like cache_remap(), the
 * scripts build the hidden:<device> and lock:<device> names from the
 * account's "popgate:{<account>}:" prefix (same Cluster slot).
 *
 * A device whose maildrop has several folders keeps each folder's state
 * under that folder's own account (cache_account_name() with its
 * mailbox). Which those are is recorded in the first folder's account:
 *
 *   popgate:{<account>}:folders:<device>  set of the mailbox names after
 *                                         the first that its logins have
 *                                         built (special-use names
 *                                         resolved), at most
 *                                         CACHE_ADMIN_FOLDERS_MAX
 *
 * so that popgate device, which has no IMAP login, finds every account
 * that holds the device's state.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"

#define CACHE_ADMIN_FOLDERS_MAX 64
#define CACHE_ADMIN_FOLDER_NAME_MAX 1000
#define CACHE_ADMIN_NOTE_MAX 16    /* names of one cache_admin_note_folders() */

struct cache_admin_device {
	char name[CACHE_DEVICE_MAX + 1];
	bool registered;           /* in the devices hash (else: a lock only) */
	uint32_t first_uidnext;    /* 1: it sees the whole mailbox */
	uint64_t first_seen;       /* unix time */
	uint64_t hidden;           /* entries of its hidden hash */
	/* Milliseconds its lock has left: -1 no lock, -2 a lock without
	   expiry (not made by popgate). */
	int64_t lock_ttl_ms;
	/* Retention (cache_retention.h): entries of its retr hash (messages
	   it RETRieved, recorded at QUIT), and the unix time of its last
	   QUIT (its seen entry; 0: none yet). */
	uint64_t retrieved;
	uint64_t last_quit;
	/* Its folders record (above), NUL-terminated names. */
	size_t folder_count;
	char **folders;
};

struct cache_admin_info {
	uint32_t uidvalidity;      /* stored; 0 = none */
	uint64_t hidden_all;       /* entries of hidden_all */
	/* cache_admin_change(): the device was locked and force not given:
	   nothing was changed. */
	bool refused;
	size_t n;                  /* at most CACHE_DEVICES_MAX (+1) */
	struct cache_admin_device *devices;
};

/* info is non-NULL exactly when st == CACHE_OK, valid only during the
   callback. */
typedef void cache_admin_cb(void *ctx, enum cache_status st,
			    const struct cache_admin_info *info);

/* Every registered device of the account (device NULL), or only device
   (then n is 0 when it is neither registered nor locked). Reads only. */
struct cache_req *cache_admin_info(struct cache *c, const char *account,
				   const char *device, cache_admin_cb *cb,
				   void *ctx);

enum cache_admin_op {
	/* Delete its hidden hash and set its first_uidnext to 1: it sees the
	   whole mailbox again (hidden_all stays). */
	CACHE_ADMIN_RESET,
	/* Remove its registration, hidden hash, folders record and lock. */
	CACHE_ADMIN_FORGET,
	/* Delete its lock. */
	CACHE_ADMIN_UNLOCK,
};

/*
 * One atomic script. While the device's lock exists and force is false:
 * nothing changed, info->refused. Otherwise the change is made and the
 * lock deleted with it (a live session's QUIT then finds its token gone
 * and applies nothing: cache_hide() gives CACHE_IN_USE). info describes
 * the device as it was before (n 0: unknown, nothing done).
 */
struct cache_req *cache_admin_change(struct cache *c, const char *account,
				     const char *device, enum cache_admin_op op,
				     bool force, cache_admin_cb *cb, void *ctx);

/*
 * Adds the mailbox names (1..CACHE_ADMIN_FOLDER_NAME_MAX bytes, no NUL;
 * 1..CACHE_ADMIN_NOTE_MAX of them) to the device's folders record in
 * account, while it has fewer than CACHE_ADMIN_FOLDERS_MAX. cb may be
 * NULL.
 */
struct cache_req *cache_admin_note_folders(struct cache *c, const char *account,
					   const char *device, const char *const *names,
					   size_t n, cache_status_cb *cb, void *ctx);

#endif
