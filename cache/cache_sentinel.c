/* Redis Sentinel: asking for the master and watching +switch-master; see
   cache_sentinel.h. */

#include "cache_sentinel.h"
#include "cache_backoff.h"
#include "cache_log.h"
#include "cache_reader.h"
#include "cache_sentinel_msg.h"
#include "num.h"
#include "text.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

/* After the watching connection is lost: the next attempt. */
#define CACHE_SENTINEL_RESUB_MS 1000

struct cache_sentinel {
	struct event_base *base;
	struct cache_hooks hooks;
	struct evdns_base *dns;
	unsigned int timeout_ms;
	cache_sentinel_switch_cb *switched;
	void *ctx;

	struct cache_url_node nodes[CACHE_URL_NODES_MAX];
	char addrs[CACHE_URL_NODES_MAX][INET6_ADDRSTRLEN]; /* "" = unknown */
	unsigned int count;
	char master[CACHE_URL_NAME_MAX + 1];
	char *password;            /* sentinels' AUTH, NULL = none */

	/* The round of asking. */
	bool asking;
	cache_sentinel_found_cb *cb;
	void *cb_ctx;
	unsigned int turn;         /* the node asked (first) */
	unsigned int tried;        /* in this round */
	redisAsyncContext *q_ac;
	struct cache_reader_guard q_guard;   /* on q_ac's reader */
	struct evdns_getaddrinfo_request *q_dns;
	struct event *q_ev;        /* timeout of the node asked */
	struct event *done_ev;     /* delivers the round's outcome */
	bool found;
	char found_host[CACHE_URL_HOST_MAX + 1];
	uint16_t found_port;
	char error[200];

	/* Watching. */
	redisAsyncContext *sub_ac;
	struct cache_reader_guard sub_guard; /* on sub_ac's reader */
	unsigned int sub_node;
	struct event *sub_ev;      /* next attempt */
	bool watching;             /* a sentinel has answered once */
};

static void cache_sentinel_try(struct cache_sentinel *s);
static void cache_sentinel_watch(struct cache_sentinel *s);

/* Node i's address without a lookup: resolved before, or given as one. */
static bool cache_sentinel_known(struct cache_sentinel *s, unsigned int i)
{
	if (s->addrs[i][0] == '\0' && s->nodes[i].host_numeric)
		memcpy(s->addrs[i], s->nodes[i].host, sizeof(s->addrs[i]) - 1);
	return s->addrs[i][0] != '\0';
}


/* --- hiredis connections to sentinels --- */

static void cache_sentinel_auth(struct cache_sentinel *s,
				redisAsyncContext *ac, redisCallbackFn *fn)
{
	const char *argv[2] = { "AUTH", s->password };
	size_t argvlen[2] = { 4, 0 };

	if (s->password == NULL)
		return;
	argvlen[1] = strlen(s->password);
	redisAsyncCommandArgv(ac, fn, NULL, 2, argv, argvlen);
}

/* A connection to node's resolved address, or NULL with why. */
static redisAsyncContext *cache_sentinel_open(struct cache_sentinel *s,
					      unsigned int node,
					      struct cache_reader_guard *guard,
					      redisConnectCallback *on_connect,
					      redisDisconnectCallback *on_drop,
					      char *why, size_t size)
{
	redisAsyncContext *ac = redisAsyncConnect(s->addrs[node],
						  s->nodes[node].port);

	if (ac == NULL || ac->err != 0) {
		snprintf(why, size, "connect: %s", ac != NULL ? ac->errstr :
			 "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		return NULL;
	}
	if (redisLibeventAttach(ac, s->base) != REDIS_OK) {
		redisAsyncFree(ac);
		snprintf(why, size, "cannot attach to the event loop");
		return NULL;
	}
	ac->data = s;
	cache_reader_guard(guard, ac);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_drop);
	return ac;
}

/* Closes ac, ours no more (from anywhere, hiredis defers it when inside
   one of its callbacks): its callbacks see data NULL and do nothing. */
static void cache_sentinel_close(redisAsyncContext **acp)
{
	redisAsyncContext *ac = *acp;

	*acp = NULL;
	if (ac == NULL)
		return;
	ac->data = NULL;
	redisAsyncFree(ac);
}

/* --- asking --- */

static void cache_sentinel_stop_query(struct cache_sentinel *s)
{
	struct evdns_getaddrinfo_request *dreq = s->q_dns;

	s->q_dns = NULL;
	if (dreq != NULL)
		evdns_getaddrinfo_cancel(dreq);
	cache_sentinel_close(&s->q_ac);
	event_del(s->q_ev);
}

static void cache_sentinel_finish(struct cache_sentinel *s, bool found)
{
	cache_sentinel_stop_query(s);
	s->found = found;
	event_active(s->done_ev, EV_TIMEOUT, 1);
}

/* The node asked failed: the next one. */
static void cache_sentinel_next(struct cache_sentinel *s, const char *why)
{
	const struct cache_url_node *n = &s->nodes[s->turn];

	cache_log(&s->hooks, CACHE_LOG_WARN,
		  "event=cache_sentinel_error sentinel=%s:%u master=%s "
		  "error=\"%s\"", n->host, n->port, s->master, why);
	snprintf(s->error, sizeof(s->error), "sentinel %.80s:%u: %s",
		 n->host, n->port, why);
	cache_sentinel_stop_query(s);
	s->turn = (s->turn + 1) % s->count;
	cache_sentinel_try(s);
}

static void cache_sentinel_q_connect(const redisAsyncContext *ac, int status)
{
	struct cache_sentinel *s = ac->data;
	char why[160];

	if (status == REDIS_OK || s == NULL || ac != s->q_ac)
		return;
	snprintf(why, sizeof(why), "connect: %s", ac->errstr);
	s->q_ac = NULL;            /* hiredis frees it */
	cache_sentinel_next(s, why);
}

static void cache_sentinel_q_drop(const redisAsyncContext *ac, int status)
{
	struct cache_sentinel *s = ac->data;

	if (s == NULL || ac != s->q_ac)
		return;
	s->q_ac = NULL;
	cache_sentinel_next(s, cache_reader_why(&s->q_guard, ac));
}

static void cache_sentinel_q_auth(redisAsyncContext *ac, void *r, void *priv)
{
	struct cache_sentinel *s = ac->data;
	const redisReply *reply = r;
	char esc[100], why[120];

	if (s == NULL || ac != s->q_ac || reply == NULL ||
	    reply->type != REDIS_REPLY_ERROR)
		return;
	snprintf(why, sizeof(why), "AUTH: %s",
		 text_escape(reply->str, reply->len, esc, sizeof(esc)));
	cache_sentinel_next(s, why);
}

/* A printable host and a port 1..65535 from the two-element answer. */
static bool cache_sentinel_addr(struct cache_sentinel *s,
				const redisReply *reply)
{
	const redisReply *h, *p;
	uint64_t port;
	size_t i;

	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
		return false;
	h = reply->element[0];
	p = reply->element[1];
	if (h->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_STRING ||
	    h->len == 0 || h->len > CACHE_URL_HOST_MAX ||
	    num_parse_u64(p->str, p->len, 65535, &port) != NUM_OK || port == 0)
		return false;
	for (i = 0; i < h->len; i++) {
		if ((unsigned char)h->str[i] <= 0x20 ||
		    (unsigned char)h->str[i] >= 0x7f)
			return false;
	}
	memcpy(s->found_host, h->str, h->len);
	s->found_host[h->len] = '\0';
	s->found_port = (uint16_t)port;
	return true;
}

static void cache_sentinel_q_reply(redisAsyncContext *ac, void *r,
				   void *priv)
{
	struct cache_sentinel *s = ac->data;
	const redisReply *reply = r;
	char esc[100], why[160];

	if (s == NULL || ac != s->q_ac || reply == NULL)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "%s",
			 text_escape(reply->str, reply->len, esc, sizeof(esc)));
		cache_sentinel_next(s, why);
		return;
	}
	if (reply->type == REDIS_REPLY_NIL) {
		cache_sentinel_next(s, "does not know the master");
		return;
	}
	if (!cache_sentinel_addr(s, reply)) {
		cache_sentinel_next(s, "unexpected answer");
		return;
	}
	cache_log(&s->hooks, CACHE_LOG_DEBUG,
		  "event=cache_sentinel_master sentinel=%s:%u master=%s "
		  "addr=%s:%u", s->nodes[s->turn].host, s->nodes[s->turn].port,
		  s->master, s->found_host, s->found_port);
	cache_sentinel_finish(s, true);
	if (!s->watching) {
		s->watching = true;
		s->sub_node = s->turn;
		cache_sentinel_watch(s);
	}
}

/* Asks the node at s->turn, whose address is known. */
static void cache_sentinel_query(struct cache_sentinel *s)
{
	const char *argv[3] = { "SENTINEL", "get-master-addr-by-name",
				s->master };
	size_t argvlen[3] = { 8, 23, strlen(s->master) };
	struct timeval tv = cache_timeval_ms(s->timeout_ms);
	char why[160];

	s->q_ac = cache_sentinel_open(s, s->turn, &s->q_guard,
				      cache_sentinel_q_connect,
				      cache_sentinel_q_drop, why, sizeof(why));
	if (s->q_ac == NULL) {
		cache_sentinel_next(s, why);
		return;
	}
	cache_sentinel_auth(s, s->q_ac, cache_sentinel_q_auth);
	redisAsyncCommandArgv(s->q_ac, cache_sentinel_q_reply, NULL, 3, argv,
			      argvlen);
	event_add(s->q_ev, &tv);
}

static void cache_sentinel_dns_cb(int result, struct evutil_addrinfo *res,
				  void *arg)
{
	struct cache_sentinel *s = arg;
	char why[160];
	const void *in;

	if (result == EVUTIL_EAI_CANCEL)
		return;
	s->q_dns = NULL;
	if (result != 0 || res == NULL) {
		snprintf(why, sizeof(why), "resolving: %s",
			 evutil_gai_strerror(result));
		if (res != NULL)
			evutil_freeaddrinfo(res);
		cache_sentinel_next(s, why);
		return;
	}
	if (res->ai_family == AF_INET6)
		in = &((const struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
	else
		in = &((const struct sockaddr_in *)res->ai_addr)->sin_addr;
	evutil_inet_ntop(res->ai_family, in, s->addrs[s->turn],
			 sizeof(s->addrs[s->turn]));
	evutil_freeaddrinfo(res);
	cache_sentinel_query(s);
}

static void cache_sentinel_try(struct cache_sentinel *s)
{
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *dreq;
	struct timeval tv = cache_timeval_ms(s->timeout_ms);

	if (s->tried == s->count) {
		cache_sentinel_finish(s, false);
		return;
	}
	s->tried++;
	if (cache_sentinel_known(s, s->turn)) {
		cache_sentinel_query(s);
		return;
	}
	if (s->dns == NULL) {
		cache_sentinel_next(s, "no resolver");
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	event_add(s->q_ev, &tv);
	/* The callback may run before this returns. */
	dreq = evdns_getaddrinfo(s->dns, s->nodes[s->turn].host, NULL, &hints,
				 cache_sentinel_dns_cb, s);
	if (dreq != NULL)
		s->q_dns = dreq;
}

static void cache_sentinel_q_event(evutil_socket_t fd, short what, void *arg)
{
	cache_sentinel_next(arg, "timed out");
}

static void cache_sentinel_done_event(evutil_socket_t fd, short what,
				      void *arg)
{
	struct cache_sentinel *s = arg;

	if (!s->asking)
		return;
	s->asking = false;
	if (s->found)
		s->cb(s->cb_ctx, s->found_host, s->found_port, NULL);
	else
		s->cb(s->cb_ctx, NULL, 0, s->error[0] != '\0' ? s->error :
		      "no sentinel answered");
}

void cache_sentinel_ask(struct cache_sentinel *s, cache_sentinel_found_cb *cb,
			void *ctx)
{
	cache_sentinel_cancel(s);
	s->asking = true;
	s->cb = cb;
	s->cb_ctx = ctx;
	s->tried = 0;
	s->error[0] = '\0';
	cache_sentinel_try(s);
}

void cache_sentinel_cancel(struct cache_sentinel *s)
{
	cache_sentinel_stop_query(s);
	event_del(s->done_ev);
	s->asking = false;
}

/* --- watching --- */

static void cache_sentinel_resub_later(struct cache_sentinel *s)
{
	struct timeval tv = cache_timeval_ms(CACHE_SENTINEL_RESUB_MS);

	s->sub_node = (s->sub_node + 1) % s->count;
	event_add(s->sub_ev, &tv);
}

static void cache_sentinel_sub_drop(const redisAsyncContext *ac, int status)
{
	struct cache_sentinel *s = ac->data;

	if (s == NULL || ac != s->sub_ac)
		return;
	s->sub_ac = NULL;
	cache_log(&s->hooks, CACHE_LOG_WARN,
		  "event=cache_sentinel_unwatched sentinel=%s:%u master=%s "
		  "error=\"%s\"", s->nodes[s->sub_node].host,
		  s->nodes[s->sub_node].port, s->master,
		  cache_reader_why(&s->sub_guard, ac));
	cache_sentinel_resub_later(s);
}

static void cache_sentinel_sub_connect(const redisAsyncContext *ac,
				       int status)
{
	if (status != REDIS_OK)
		cache_sentinel_sub_drop(ac, status);
}

static void cache_sentinel_sub_auth(redisAsyncContext *ac, void *r,
				    void *priv)
{
	struct cache_sentinel *s = ac->data;
	const redisReply *reply = r;

	if (s == NULL || ac != s->sub_ac || reply == NULL ||
	    reply->type != REDIS_REPLY_ERROR)
		return;
	cache_log(&s->hooks, CACHE_LOG_WARN,
		  "event=cache_sentinel_error sentinel=%s:%u master=%s "
		  "error=\"AUTH refused on the watching connection\"",
		  s->nodes[s->sub_node].host, s->nodes[s->sub_node].port,
		  s->master);
	cache_sentinel_close(&s->sub_ac);
	cache_sentinel_resub_later(s);
}

static void cache_sentinel_sub_msg(redisAsyncContext *ac, void *r, void *priv)
{
	struct cache_sentinel *s = ac->data;
	const redisReply *reply = r, *payload;
	char host[CACHE_URL_HOST_MAX + 1];
	uint16_t port;

	if (s == NULL || ac != s->sub_ac || reply == NULL ||
	    reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(reply->element[0]->str, "message") != 0)
		return;
	payload = reply->element[2];
	if (payload->type != REDIS_REPLY_STRING ||
	    !cache_sentinel_parse_switch(payload->str, payload->len,
					 s->master, host, sizeof(host), &port))
		return;
	cache_log(&s->hooks, CACHE_LOG_INFO,
		  "event=cache_switch_master master=%s addr=%s:%u",
		  s->master, host, port);
	s->switched(s->ctx, host, port);
}


static void cache_sentinel_watch(struct cache_sentinel *s)
{
	char why[160];
	unsigned int i;

	/* Only to a sentinel whose address is known; if none is, later
	   (a round of asking resolves names). */
	for (i = 0; i < s->count && !cache_sentinel_known(s, s->sub_node); i++)
		s->sub_node = (s->sub_node + 1) % s->count;
	if (!cache_sentinel_known(s, s->sub_node)) {
		cache_sentinel_resub_later(s);
		return;
	}
	s->sub_ac = cache_sentinel_open(s, s->sub_node, &s->sub_guard,
					cache_sentinel_sub_connect,
					cache_sentinel_sub_drop, why,
					sizeof(why));
	if (s->sub_ac == NULL) {
		cache_sentinel_resub_later(s);
		return;
	}
	cache_sentinel_auth(s, s->sub_ac, cache_sentinel_sub_auth);
	redisAsyncCommand(s->sub_ac, cache_sentinel_sub_msg, NULL,
			  "SUBSCRIBE +switch-master");
}

static void cache_sentinel_sub_event(evutil_socket_t fd, short what,
				     void *arg)
{
	struct cache_sentinel *s = arg;

	if (s->sub_ac == NULL)
		cache_sentinel_watch(s);
}

/* --- life cycle --- */

struct cache_sentinel *cache_sentinel_new(
	const struct cache_sentinel_settings *set)
{
	struct cache_sentinel *s = calloc(1, sizeof(*s));
	const struct cache_url *url = set->url;

	if (s == NULL)
		return NULL;
	s->base = set->base;
	s->hooks = set->hooks;
	s->dns = set->dns;
	s->timeout_ms = set->timeout_ms;
	s->switched = set->switched;
	s->ctx = set->ctx;
	s->count = url->node_count;
	memcpy(s->nodes, url->nodes, sizeof(s->nodes));
	memcpy(s->master, url->master, sizeof(s->master));
	if (url->sentinel_password[0] != '\0' &&
	    (s->password = strdup(url->sentinel_password)) == NULL)
		goto fail;
	s->q_ev = event_new(s->base, -1, 0, cache_sentinel_q_event, s);
	s->done_ev = event_new(s->base, -1, 0, cache_sentinel_done_event, s);
	s->sub_ev = event_new(s->base, -1, 0, cache_sentinel_sub_event, s);
	if (s->q_ev == NULL || s->done_ev == NULL || s->sub_ev == NULL ||
	    s->count == 0)
		goto fail;
	return s;
fail:
	cache_sentinel_free(&s);
	return NULL;
}

void cache_sentinel_free(struct cache_sentinel **sp)
{
	struct cache_sentinel *s = *sp;

	*sp = NULL;
	if (s == NULL)
		return;
	if (s->q_ev != NULL)
		cache_sentinel_cancel(s);
	cache_sentinel_close(&s->sub_ac);
	if (s->q_ev != NULL)
		event_free(s->q_ev);
	if (s->done_ev != NULL)
		event_free(s->done_ev);
	if (s->sub_ev != NULL)
		event_free(s->sub_ev);
	if (s->password != NULL) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}
