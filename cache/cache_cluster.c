/* Redis Cluster: the nodes, the slot map, routing and redirections; see
   cache_cluster.h. */

#include "cache_cluster.h"
#include "cache_backoff.h"
#include "cache_conn.h"
#include "cache_log.h"
#include "cache_slot.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

struct cache_cluster_node {
	char host[CACHE_URL_HOST_MAX + 1];
	uint16_t port;
	struct cache_conn *conn;
};

struct cache_cluster {
	struct event_base *base;
	struct cache_hooks hooks;
	char *password;
	char user[CACHE_URL_USER_MAX + 1];
	unsigned int timeout_ms;
	unsigned int replicas;
	struct evdns_base *dns;
	char desc[300];

	struct cache_cluster_node nodes[CACHE_CLUSTER_NODES_MAX];
	unsigned int count;
	int16_t slots[CACHE_SLOTS];    /* node index, -1 = not known */
	bool mapped;
	bool started;                  /* new nodes connect at once */
	unsigned int turn;             /* the node asked for the map last */

	struct cache_req *refresh_req; /* CLUSTER SLOTS out */
	struct event *refresh_ev;      /* the next one */
	struct event *retry_ev;        /* TRYAGAIN, CLUSTERDOWN: send again */

	void (*connected_fn)(void *ctx);
	void *connected_ctx;
	void (*idle_fn)(void *ctx);
	void *idle_ctx;
};

/* What CLUSTER SLOTS said: ranges of slots and their master. */
struct cache_cluster_range {
	uint16_t first, last;
	char host[CACHE_URL_HOST_MAX + 1];  /* "" = the node asked */
	uint16_t port;
};

struct cache_cluster_map {
	struct cache_cluster_range *ranges;
	size_t count;
};

static void cache_cluster_redirect(void *ctx, struct cache_req *req,
				   const struct cache_redirect *r);
static void cache_cluster_refresh_soon(struct cache_cluster *cl);

/* --- nodes --- */

static int cache_cluster_find(const struct cache_cluster *cl,
			      const char *host, uint16_t port)
{
	unsigned int i;

	for (i = 0; i < cl->count; i++) {
		if (cl->nodes[i].port == port &&
		    strcmp(cl->nodes[i].host, host) == 0)
			return (int)i;
	}
	return -1;
}

static int cache_cluster_of_conn(const struct cache_cluster *cl,
				 const struct cache_conn *conn)
{
	unsigned int i;

	for (i = 0; i < cl->count; i++) {
		if (cl->nodes[i].conn == conn)
			return (int)i;
	}
	return 0;
}

static void cache_cluster_node_up(void *ctx)
{
	struct cache_cluster *cl = ctx;

	if (!cl->mapped)
		cache_cluster_refresh_soon(cl);
	if (cl->connected_fn != NULL)
		cl->connected_fn(cl->connected_ctx);
}

/* The node host:port, connected to (started) if new; -1 when there are
   too many or out of memory. */
static int cache_cluster_node(struct cache_cluster *cl, const char *host,
			      uint16_t port, char **error_r)
{
	struct cache_cluster_node *n;
	struct cache_url url;
	unsigned char addr[sizeof(struct in6_addr)];
	struct cache_conn_settings set = {
		.base = cl->base, .hooks = cl->hooks, .url = &url,
		.password = cl->password, .timeout_ms = cl->timeout_ms,
		.replicas = cl->replicas, .redirect = cache_cluster_redirect,
		.redirect_ctx = cl, .dns = cl->dns,
	};
	int i = cache_cluster_find(cl, host, port);

	if (i >= 0)
		return i;
	if (cl->count == CACHE_CLUSTER_NODES_MAX || strlen(host) == 0 ||
	    strlen(host) > CACHE_URL_HOST_MAX) {
		cache_log(&cl->hooks, CACHE_LOG_WARN,
			  "event=cache_cluster_error cache=%s error=\"node "
			  "not added (more than %d, or no host)\"", cl->desc,
			  CACHE_CLUSTER_NODES_MAX);
		return -1;
	}
	memset(&url, 0, sizeof(url));
	url.kind = CACHE_URL_TCP;
	memcpy(url.user, cl->user, sizeof(url.user));
	snprintf(url.host, sizeof(url.host), "%s", host);
	url.port = port;
	url.host_numeric = inet_pton(AF_INET, host, addr) == 1 ||
		inet_pton(AF_INET6, host, addr) == 1;
	n = &cl->nodes[cl->count];
	n->conn = cache_conn_new(&set, error_r);
	if (n->conn == NULL)
		return -1;
	snprintf(n->host, sizeof(n->host), "%s", host);
	n->port = port;
	cache_conn_set_connected(n->conn, cache_cluster_node_up, cl);
	if (cl->started)
		cache_conn_start(n->conn);
	return (int)cl->count++;
}

/* --- the slot map --- */

static void cache_cluster_map_free(void *data)
{
	struct cache_cluster_map *map = data;

	free(map->ranges);
	free(map);
}

static bool cache_cluster_range(const redisReply *e,
				struct cache_cluster_range *r)
{
	const redisReply *m;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
	    e->element[0]->type != REDIS_REPLY_INTEGER ||
	    e->element[1]->type != REDIS_REPLY_INTEGER)
		return false;
	m = e->element[2];
	if (e->element[0]->integer < 0 ||
	    e->element[1]->integer >= CACHE_SLOTS ||
	    e->element[0]->integer > e->element[1]->integer ||
	    m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
	    m->element[0]->type != REDIS_REPLY_STRING ||
	    m->element[0]->len > CACHE_URL_HOST_MAX ||
	    m->element[1]->type != REDIS_REPLY_INTEGER ||
	    m->element[1]->integer <= 0 || m->element[1]->integer > 65535)
		return false;
	r->first = (uint16_t)e->element[0]->integer;
	r->last = (uint16_t)e->element[1]->integer;
	memcpy(r->host, m->element[0]->str, m->element[0]->len);
	r->host[m->element[0]->len] = '\0';
	if (strcmp(r->host, "?") == 0)
		r->host[0] = '\0';   /* unknown endpoint */
	if (strpbrk(r->host, " \r\n") != NULL)
		return false;
	r->port = (uint16_t)m->element[1]->integer;
	return true;
}

static enum cache_status cache_cluster_parse_slots(struct cache_req *req,
						   const redisReply *reply)
{
	struct cache_cluster_map *map;
	size_t i;

	if (reply->type == REDIS_REPLY_ERROR) {
		cache_req_log(req, CACHE_LOG_WARN, "cache_error",
			      "error=\"CLUSTER SLOTS refused\"");
		return CACHE_UNAVAILABLE;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements > CACHE_SLOTS)
		return CACHE_ERROR;
	map = calloc(1, sizeof(*map));
	if (map == NULL || (reply->elements > 0 &&
	    (map->ranges = calloc(reply->elements, sizeof(*map->ranges))) == NULL)) {
		free(map);
		return CACHE_UNAVAILABLE;
	}
	req->data = map;
	for (i = 0; i < reply->elements; i++) {
		if (!cache_cluster_range(reply->element[i], &map->ranges[i])) {
			cache_req_log(req, CACHE_LOG_ERROR, "cache_error",
				      "error=\"unexpected CLUSTER SLOTS entry\"");
			return CACHE_ERROR;
		}
	}
	map->count = reply->elements;
	return CACHE_OK;
}

/* A request that waits on a node that no longer serves its slot goes to
   the one that does (a failover promoted a replica, say). */
static void cache_cluster_reroute(void *ctx, struct cache_req *req)
{
	struct cache_cluster *cl = ctx;
	int n;

	if (req->slot < 0 || (n = cl->slots[req->slot]) < 0 ||
	    cl->nodes[n].conn == req->conn)
		return;
	cache_req_move(req, cl->nodes[n].conn, false);
}

static void cache_cluster_apply(struct cache_cluster *cl,
				const struct cache_cluster_map *map,
				const struct cache_cluster_node *asked)
{
	int16_t slots[CACHE_SLOTS];
	size_t i;
	unsigned int s, covered = 0;
	char *error = NULL;

	memset(slots, 0xff, sizeof(slots));
	for (i = 0; i < map->count; i++) {
		const struct cache_cluster_range *r = &map->ranges[i];
		int n = cache_cluster_node(cl, r->host[0] != '\0' ? r->host :
					   asked->host, r->port, &error);

		free(error);
		error = NULL;
		if (n < 0)
			continue;
		for (s = r->first; s <= r->last; s++)
			slots[s] = (int16_t)n;
	}
	for (s = 0; s < CACHE_SLOTS; s++)
		covered += slots[s] >= 0;
	if (cl->mapped && memcmp(slots, cl->slots, sizeof(slots)) != 0)
		cache_failover(&cl->hooks);
	if (!cl->mapped || memcmp(slots, cl->slots, sizeof(slots)) != 0)
		cache_log(&cl->hooks, CACHE_LOG_INFO,
			  "event=cache_cluster_map cache=%s ranges=%zu "
			  "nodes=%u slots_covered=%u", cl->desc, map->count,
			  cl->count, covered);
	memcpy(cl->slots, slots, sizeof(slots));
	cl->mapped = true;
	for (s = 0; s < cl->count; s++)
		cache_conn_each_waiting(cl->nodes[s].conn, cache_cluster_reroute,
					cl);
	for (s = 0; s < cl->count; s++)
		cache_conn_flush(cl->nodes[s].conn);
}

static void cache_cluster_slots_done(struct cache_req *req)
{
	struct cache_cluster *cl = req->ctx;

	cl->refresh_req = NULL;
	if (req->status == CACHE_OK)
		cache_cluster_apply(cl, req->data, &cl->nodes[
			cache_cluster_of_conn(cl, req->conn)]);
	else
		cl->turn++;  /* ask another node next time */
}

static const struct cache_req_type cache_type_cluster_slots = {
	.name = "cluster_slots", .step = true,
	.parse = cache_cluster_parse_slots,
	.deliver = cache_cluster_slots_done,
	.free_data = cache_cluster_map_free,
};

/* CLUSTER SLOTS to a ready node (the next one each time), or to the
   first if none is. */
static void cache_cluster_refresh(struct cache_cluster *cl)
{
	static const char *argv[] = { "CLUSTER", "SLOTS" };
	static const size_t argvlen[] = { 7, 5 };
	struct cache_conn *conn = cl->nodes[0].conn;
	unsigned int i;

	if (cl->refresh_req != NULL)
		return;
	for (i = 0; i < cl->count; i++) {
		unsigned int n = (cl->turn + i) % cl->count;

		if (cache_conn_ready(cl->nodes[n].conn)) {
			conn = cl->nodes[n].conn;
			cl->turn = n;
			break;
		}
	}
	cl->refresh_req = cache_req_new(conn, &cache_type_cluster_slots,
					(union cache_req_cb){ .status = NULL },
					cl);
	if (cl->refresh_req != NULL)
		cache_req_submit(cl->refresh_req, 2, argv, argvlen);
}

static void cache_cluster_refresh_event(evutil_socket_t fd, short what,
					void *arg)
{
	struct cache_cluster *cl = arg;
	/* While a node is lost, every second: its replica may take over. */
	struct timeval tv = cache_timeval_ms(cache_cluster_ready(cl) ?
					     CACHE_CLUSTER_REFRESH_MS :
					     CACHE_CLUSTER_LOST_REFRESH_MS);

	cache_cluster_refresh(cl);
	event_add(cl->refresh_ev, &tv);
}

static void cache_cluster_refresh_soon(struct cache_cluster *cl)
{
	struct timeval tv = cache_timeval_ms(10);

	event_del(cl->refresh_ev);
	event_add(cl->refresh_ev, &tv);
}

/* --- routing and redirections --- */

struct cache_conn *cache_cluster_route(struct cache_cluster *cl,
				       const char *account)
{
	/* The account is the whole hash tag of its keys (no brace in it). */
	int n = cl->slots[cache_crc16(account, strlen(account)) % CACHE_SLOTS];

	return cl->nodes[n >= 0 ? n : 0].conn;
}

static void cache_cluster_retry_event(evutil_socket_t fd, short what,
				      void *arg)
{
	struct cache_cluster *cl = arg;
	unsigned int i;

	for (i = 0; i < cl->count; i++)
		cache_conn_flush(cl->nodes[i].conn);
}

static void cache_cluster_redirect(void *ctx, struct cache_req *req,
				   const struct cache_redirect *r)
{
	struct cache_cluster *cl = ctx;
	const struct cache_cluster_node *from =
		&cl->nodes[cache_cluster_of_conn(cl, req->conn)];
	struct timeval tv = cache_timeval_ms(CACHE_CLUSTER_RETRY_MS);
	char *error = NULL;
	int n = -1;

	if (r->kind == CACHE_REDIRECT_MOVED || r->kind == CACHE_REDIRECT_ASK) {
		n = cache_cluster_node(cl, r->host[0] != '\0' ? r->host :
				       from->host, r->port, &error);
		free(error);
	}
	cache_req_log(req, CACHE_LOG_DEBUG, "cache_redirect",
		      "kind=%s slot=%u to=%s:%u", cache_redirect_name(r->kind),
		      r->slot,
		      n >= 0 ? cl->nodes[n].host : from->host,
		      n >= 0 ? cl->nodes[n].port : from->port);
	if (r->kind != CACHE_REDIRECT_TRYAGAIN && r->kind != CACHE_REDIRECT_ASK)
		cache_cluster_refresh_soon(cl);
	if (n < 0) {
		/* TRYAGAIN, CLUSTERDOWN (or a node not added): here again,
		   a moment later. */
		if (!event_pending(cl->retry_ev, EV_TIMEOUT, NULL))
			event_add(cl->retry_ev, &tv);
		return;
	}
	if (r->kind == CACHE_REDIRECT_MOVED && cl->slots[r->slot] != n) {
		cl->slots[r->slot] = (int16_t)n;
		cache_failover(&cl->hooks);
	}
	cache_req_move(req, cl->nodes[n].conn, r->kind == CACHE_REDIRECT_ASK);
	cache_conn_flush(cl->nodes[n].conn);
}

/* --- the rest --- */

void cache_cluster_set_connected(struct cache_cluster *cl,
				 void (*fn)(void *ctx), void *ctx)
{
	cl->connected_fn = fn;
	cl->connected_ctx = ctx;
}

static void cache_cluster_idle_check(void *ctx)
{
	struct cache_cluster *cl = ctx;
	void (*fn)(void *ctx) = cl->idle_fn;
	unsigned int i;

	for (i = 0; i < cl->count; i++) {
		if (cache_conn_busy(cl->nodes[i].conn)) {
			cache_conn_when_idle(cl->nodes[i].conn,
					     cache_cluster_idle_check, cl);
			return;
		}
	}
	cl->idle_fn = NULL;
	fn(cl->idle_ctx);
}

void cache_cluster_when_idle(struct cache_cluster *cl, void (*fn)(void *ctx),
			     void *ctx)
{
	cl->idle_fn = fn;
	cl->idle_ctx = ctx;
	cache_cluster_idle_check(cl);
}

bool cache_cluster_ready(const struct cache_cluster *cl)
{
	unsigned int s;

	if (!cl->mapped)
		return false;
	for (s = 0; s < CACHE_SLOTS; s++) {
		if (cl->slots[s] >= 0 &&
		    !cache_conn_ready(cl->nodes[cl->slots[s]].conn))
			return false;
	}
	return true;
}

const char *cache_cluster_describe(const struct cache_cluster *cl)
{
	return cl->desc;
}

struct cache_cluster *cache_cluster_new(const struct cache_cluster_settings *set,
					char **error_r)
{
	struct cache_cluster *cl = calloc(1, sizeof(*cl));
	unsigned int i;

	*error_r = NULL;
	if (cl == NULL)
		return NULL;
	cl->base = set->base;
	cl->hooks = set->hooks;
	cl->timeout_ms = set->timeout_ms;
	cl->replicas = set->replicas;
	cl->dns = set->dns;
	memcpy(cl->user, set->url->user, sizeof(cl->user));
	memset(cl->slots, 0xff, sizeof(cl->slots));
	cache_url_describe(set->url, cl->desc, sizeof(cl->desc));
	if (set->password != NULL &&
	    (cl->password = strdup(set->password)) == NULL)
		goto fail;
	cl->refresh_ev = event_new(cl->base, -1, 0,
				   cache_cluster_refresh_event, cl);
	cl->retry_ev = event_new(cl->base, -1, 0, cache_cluster_retry_event,
				 cl);
	if (cl->refresh_ev == NULL || cl->retry_ev == NULL)
		goto fail;
	for (i = 0; i < set->url->node_count; i++) {
		if (cache_cluster_node(cl, set->url->nodes[i].host,
				       set->url->nodes[i].port, error_r) < 0)
			goto fail;
	}
	return cl;
fail:
	cache_cluster_free(&cl);
	if (*error_r == NULL)
		*error_r = strdup("cache: out of memory");
	return NULL;
}

void cache_cluster_start(struct cache_cluster *cl)
{
	struct timeval tv = cache_timeval_ms(CACHE_CLUSTER_REFRESH_MS);
	unsigned int i;

	cl->started = true;
	for (i = 0; i < cl->count; i++)
		cache_conn_start(cl->nodes[i].conn);
	event_add(cl->refresh_ev, &tv);
	cache_cluster_refresh(cl);
}

void cache_cluster_free(struct cache_cluster **clp)
{
	struct cache_cluster *cl = *clp;
	unsigned int i;

	*clp = NULL;
	if (cl == NULL)
		return;
	for (i = 0; i < cl->count; i++)
		cache_conn_free(&cl->nodes[i].conn);
	if (cl->refresh_ev != NULL)
		event_free(cl->refresh_ev);
	if (cl->retry_ev != NULL)
		event_free(cl->retry_ev);
	if (cl->password != NULL) {
		explicit_bzero(cl->password, strlen(cl->password));
		free(cl->password);
	}
	free(cl);
}
