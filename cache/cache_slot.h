#ifndef CACHE_SLOT_H
#define CACHE_SLOT_H

/*
 * Redis Cluster, the parts without I/O: the hash slot of a key and the
 * error replies that redirect a request. Pure: libc only.
 *
 * Slot (Redis cluster specification): CRC16-XMODEM (polynomial 0x1021,
 * initial 0) of the key mod 16384; when the key has a '{' followed later
 * by a '}' with at least one byte between them, only the bytes between
 * the first '{' and the first '}' after it count (the hash tag).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_SLOTS 16384

uint16_t cache_crc16(const char *buf, size_t len);
/* 0..CACHE_SLOTS-1. */
uint16_t cache_slot(const char *key, size_t len);

/* The keys of a command as popgate sends them: EVAL/EVALSHA script
   numkeys key..., or a command whose first argument is its only key
   (SET, GET, DEL...). The slot they all share, -1 when they do not share
   one, -2 when the command has no key (PING, WAIT, CLUSTER). argv[0] is matched
   case-insensitively. */
int cache_slot_of_command(int argc, const char *const *argv,
			  const size_t *argvlen);

enum cache_redirect_kind {
	CACHE_REDIRECT_NONE,        /* not a cluster error */
	CACHE_REDIRECT_MOVED,       /* the slot lives elsewhere now */
	CACHE_REDIRECT_ASK,         /* this one request, during a migration */
	CACHE_REDIRECT_TRYAGAIN,    /* keys of one request split by a
				       migration: again in a moment */
	CACHE_REDIRECT_CLUSTERDOWN, /* the cluster cannot serve now */
};

/* "none", "moved", "ask", "tryagain", "clusterdown". */
const char *cache_redirect_name(enum cache_redirect_kind kind);

#define CACHE_REDIRECT_HOST_MAX 253

struct cache_redirect {
	enum cache_redirect_kind kind;
	uint16_t slot;              /* MOVED, ASK */
	/* MOVED, ASK: the endpoint; "" = the one that answered (Redis 7
	   says ":port" when its endpoint is unknown). An IPv6 address comes
	   without brackets. */
	char host[CACHE_REDIRECT_HOST_MAX + 1];
	uint16_t port;
};

/*
 * An error reply (its text without the '-', len bytes, no NUL needed):
 * "MOVED <slot> <host>:<port>", "ASK <slot> <host>:<port>",
 * "TRYAGAIN ...", "CLUSTERDOWN ...". Returns 0 with *r filled (kind NONE
 * for any other error), -1 for a MOVED or ASK that does not parse (slot
 * out of range, bad port, host with spaces or control bytes, junk):
 * *r is then all zero.
 */
int cache_redirect_parse(const char *s, size_t len, struct cache_redirect *r);

#endif
