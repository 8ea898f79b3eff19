#ifndef CACHE_ARGS_H
#define CACHE_ARGS_H

/*
 * What every operation (cache_ops.c, cache_view.c, cache_remap.c) builds
 * its commands from: the checks of the arguments of cache.h, the key
 * names, and a command's argument list with room for the decimals in it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"

struct cache_req;

#define CACHE_KEY_MAX (sizeof("popgate:{}:hidden:") + CACHE_ACCOUNT_MAX + \
		       CACHE_DEVICE_MAX + 1)
/* Bytes of a decimal, with its NUL. */
#define CACHE_U32_LEN 11
#define CACHE_U64_LEN 21

/* 1..CACHE_ACCOUNT_MAX bytes, no control characters. */
bool cache_account_valid(const char *account);

/* The account, the device and (need_token) the lock token are valid; else
   logs on req and returns false. */
bool cache_args_valid(const struct cache_req *req, const char *account,
		      const char *device, const char *token, bool need_token);

/* uids[0..n) are nonzero and strictly ascending (uids may be NULL when n
   is 0). */
bool cache_uids_ascending(const uint32_t *uids, size_t n);

/* e[0..n) have ascending nonzero uids, fingerprints of at most
   CACHE_FINGERPRINT_MAX bytes without a space and valid UIDLs (e may be
   NULL when n is 0). In cache_uidl.c, beside cache_uidl_valid(). */
bool cache_uidl_entries_valid(const struct cache_uidl_new *e, size_t n);

/*
 * "popgate:{<account>}:<what>[<device>]" into buf (CACHE_KEY_MAX bytes).
 * Device names cannot hold '}' or ':', so the last "}:" of a key always
 * closes the account: no two accounts share a key, whatever bytes the
 * account holds.
 */
void cache_key(char *buf, const char *account, const char *what,
	       const char *device);

/* A command being built: its arguments, and room for the decimals
   formatted among them. */
struct cache_args {
	const char **argv;
	size_t *len;
	size_t argc, max;
	char *nums;
	size_t nums_used, nums_size;
};

/* Room for max arguments, nums_size bytes of them decimals (CACHE_U32_LEN
   or CACHE_U64_LEN each); false when out of memory. */
bool cache_args_init(struct cache_args *a, size_t max, size_t nums_size);
void cache_args_free(struct cache_args *a);
/* Appends s (or len bytes at s), which must live until
   cache_args_send(). Past the room reckoned at init: abort (a bug). */
void cache_arg(struct cache_args *a, const char *s);
void cache_arg_len(struct cache_args *a, const char *s, size_t len);
void cache_arg_num(struct cache_args *a, uint64_t v);
/* Submits the command on req (cache_req_submit()) and frees the
   arguments. */
void cache_args_send(struct cache_req *req, struct cache_args *a);

/* What an operation asks of its arguments before it builds its command;
   see cache_req_begin(). */
struct cache_begin {
	/* When device is not NULL: account, device and (need_token) token,
	   checked as by cache_args_valid(). */
	const char *account, *device, *token;
	bool need_token;
	/* The operation's own checks passed; when not, why (the rest of the
	   log line, e.g. "error=\"bad ttl\"") is logged, unless NULL. */
	bool ok;
	const char *why;
	/* The command's room, as cache_args_init(). */
	size_t argc, nums_size;
};

/*
 * The start every operation shares, on *reqp fresh from cache_req_new()
 * (NULL when that was out of memory): the checks of b, then room for the
 * command in a. True: a is ready for the arguments. False: the operation
 * returns *reqp at once, which is then NULL (out of memory; a request made
 * is cancelled) or a request completed with CACHE_ERROR (arguments
 * refused, what was wrong logged on it).
 */
bool cache_req_begin(struct cache_req **reqp, const struct cache_begin *b,
		     struct cache_args *a);

#endif
