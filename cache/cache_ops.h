#ifndef CACHE_OPS_H
#define CACHE_OPS_H

/*
 * The single-request operations of cache.h (cache_lock(),
 * cache_lock_refresh(), cache_hide(), cache_unlock()), on top of the
 * connection (cache_conn.h): their Lua scripts and arguments, and the
 * unlocks kept until Redis confirms them. They run on the struct cache of
 * cache_private.h and reach only its connection and its unlock queue.
 * The view and the remap, of several requests each: cache_view.c,
 * cache_remap.c.
 */

struct cache;
struct cache_unlocks;

/* The unconfirmed unlocks of cache_unlock() on c's connections; takes
   their connected hook to send them again when one is back. NULL when
   out of memory. */
struct cache_unlocks *cache_unlocks_new(struct cache *c);
/* Cancels their requests and forgets them (those locks expire), and
   gives the connected hook back. Sets *u to NULL; NULL is fine. */
void cache_unlocks_free(struct cache_unlocks **u);

#endif
