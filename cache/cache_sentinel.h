#ifndef CACHE_SENTINEL_H
#define CACHE_SENTINEL_H

/*
 * The client side of Redis Sentinel for a redis-sentinel:// url (hiredis
 * 0.14 has none): which server is the master now, and word when that
 * changes. Used by the connection (cache_conn.c), which checks what it is
 * told with ROLE; nothing here blocks, everything runs on hiredis async
 * connections on the caller's loop.
 *
 * Asking: the sentinels are tried one at a time, starting with the one
 * that answered last, each with AUTH (the url's sentinel_password, if
 * any) and SENTINEL get-master-addr-by-name, each within timeout_ms
 * (names resolved with evdns first). The first that names an address
 * ends the round; a sentinel that is unreachable, refuses, or does not
 * know the master is skipped. The answer comes from the loop, never
 * inside the call.
 *
 * Watching: once a sentinel has answered, one more connection to it
 * stays SUBSCRIBEd to +switch-master; a message about our master calls
 * the switched hook with the new address. When that connection is lost
 * it is made again, to the next sentinel, after a second. Failovers
 * missed meanwhile are still noticed by the connection: the old master
 * refuses writes (READONLY) or Sentinel kills its clients when it
 * demotes it, and a new round of asking follows.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "cache_url.h"

struct event_base;
struct evdns_base;
struct cache_sentinel;

/* The master's address as a sentinel announced it (an IP address, or a
   name with announce-hostnames), or host NULL and why no sentinel
   answered. */
typedef void cache_sentinel_found_cb(void *ctx, const char *host,
				     uint16_t port, const char *error);
/* +switch-master for our master. */
typedef void cache_sentinel_switch_cb(void *ctx, const char *host,
				      uint16_t port);

struct cache_sentinel_settings {
	struct event_base *base;
	struct cache_hooks hooks;
	/* A SENTINEL url: nodes, master, sentinel_password (copied). */
	const struct cache_url *url;
	unsigned int timeout_ms;   /* per sentinel asked, > 0 */
	/* For sentinel host names; not owned. NULL only when every
	   sentinel is given by address. */
	struct evdns_base *dns;
	cache_sentinel_switch_cb *switched;
	void *ctx;
};

/* NULL when out of memory. Connects to nothing until asked. */
struct cache_sentinel *cache_sentinel_new(
	const struct cache_sentinel_settings *set);
/* Closes everything; no callback runs. Not from inside one of its own
   callbacks. Sets *s to NULL; NULL is fine. */
void cache_sentinel_free(struct cache_sentinel **s);

/* Starts a round of asking; cb(ctx, ...) runs once, from the loop. A
   round already running is cancelled first (its cb never runs). */
void cache_sentinel_ask(struct cache_sentinel *s, cache_sentinel_found_cb *cb,
			void *ctx);
/* The running round, if any, stops; its cb never runs. */
void cache_sentinel_cancel(struct cache_sentinel *s);


#endif
