#ifndef CACHE_OPS_H
#define CACHE_OPS_H

/*
 * The operations of cache.h (cache_lock() ... cache_remap(),
 * cache_unlock(), cache_device_valid()), on top of the connection
 * (cache_conn.h): argument checks, key names, the Lua scripts, the reply
 * parsers, and the unlocks kept until Redis confirms them. They run on
 * the struct cache of cache_private.h and reach only its connection and
 * its unlock queue.
 */

struct cache_conn;
struct cache_unlocks;

/* The unconfirmed unlocks of cache_unlock() on conn; takes conn's
   connected hook to send them again when the connection is back. NULL
   when out of memory. */
struct cache_unlocks *cache_unlocks_new(struct cache_conn *conn);
/* Cancels their requests and forgets them (those locks expire), and
   gives the connected hook back. Sets *u to NULL; NULL is fine. */
void cache_unlocks_free(struct cache_unlocks **u);

#endif
