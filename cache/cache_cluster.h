#ifndef CACHE_CLUSTER_H
#define CACHE_CLUSTER_H

/*
 * The client side of Redis Cluster for a redis-cluster:// url (hiredis
 * 0.14 has none): one connection (cache_conn.h) per master, the slot map,
 * and the routing of each request to the node of its account's slot.
 *
 * The map comes from CLUSTER SLOTS, asked of a ready node once one is
 * connected, every CACHE_CLUSTER_REFRESH_MS (every
 * CACHE_CLUSTER_LOST_REFRESH_MS while the node of a slot is not
 * connected), and soon after a MOVED or CLUSTERDOWN. When the map changes,
 * requests waiting on a node that no longer serves their slot move to the
 * one that does. Until it is known, requests go to the first seed node
 * (its MOVED says where). Redirections (the connection's hook):
 *   MOVED  the slot's entry is corrected at once, the request goes to the
 *          named node (connected to first if new), the map is refreshed;
 *   ASK    the request alone goes to the named node, behind ASKING;
 *   TRYAGAIN, CLUSTERDOWN  sent again to the same node after
 *          CACHE_CLUSTER_RETRY_MS (CLUSTERDOWN also refreshes the map);
 * MOVED and ASK at most CACHE_MAX_REDIRECTS times per request, TRYAGAIN
 * and CLUSTERDOWN as long as its timeout lets them. A request's keys must share one slot (they do: one account,
 * one hash tag; a request whose keys do not is refused). Scripts go with
 * EVAL every time (cache_ops.c), so every node has them without a
 * SCRIPT LOAD and NOSCRIPT cannot happen.
 */

#include <stdbool.h>
#include <stddef.h>

#include "cache.h"
#include "cache_url.h"

struct event_base;
struct evdns_base;
struct cache_conn;
struct cache_cluster;

#define CACHE_CLUSTER_NODES_MAX 64
#define CACHE_CLUSTER_REFRESH_MS 5000
#define CACHE_CLUSTER_LOST_REFRESH_MS 1000
#define CACHE_CLUSTER_RETRY_MS 100

struct cache_cluster_settings {
	struct event_base *base;
	struct cache_hooks hooks;
	const struct cache_url *url;   /* CLUSTER: the seed nodes */
	const char *password;          /* AUTH on every node; NULL = none */
	unsigned int timeout_ms;
	unsigned int replicas;         /* WAIT on each node's master */
	struct evdns_base *dns;        /* not owned; NULL = own per node */
};

/* NULL with malloc'd *error_r (or NULL: out of memory). Connects once
   started. */
struct cache_cluster *cache_cluster_new(const struct cache_cluster_settings *set,
					char **error_r);
void cache_cluster_start(struct cache_cluster *cl);
/* Every node's connection and request; no callback runs. Not while
   cache_cluster_busy(). Sets *cl to NULL; NULL is fine. */
void cache_cluster_free(struct cache_cluster **cl);

/* The connection of the node serving the account's slot (the account is
   the hash tag of its keys, cache.h), or of the first seed while the
   map does not say. Never NULL. */
struct cache_conn *cache_cluster_route(struct cache_cluster *cl,
				       const char *account);
/* fn(ctx) each time a node's connection becomes ready. */
void cache_cluster_set_connected(struct cache_cluster *cl,
				 void (*fn)(void *ctx), void *ctx);
/* Runs fn(ctx) once no delivery runs on any node: now, or when the last
   one returns (fn may then free the cluster). One at a time. */
void cache_cluster_when_idle(struct cache_cluster *cl, void (*fn)(void *ctx),
			     void *ctx);
/* The slot map is known and the node of every slot in it is ready. */
bool cache_cluster_ready(const struct cache_cluster *cl);
const char *cache_cluster_describe(const struct cache_cluster *cl);

#endif
