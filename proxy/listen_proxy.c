/* Reading PROXY headers from load balancers; contracts in listen_proxy.h. */

#include "listen_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "proxy_parse.h"
#include "server.h"
#include "settings.h"

/* Peeked at once: a whole v1 line, or a v2 header in a few reads. */
#define PROXY_PEEK 512

struct proxy_wait {
	LIST_ENTRY(proxy_wait) link;
	struct proxy_waits *w;
	struct event *ev;
	struct event *deadline;   /* from accept, not reset by reads */
	evutil_socket_t fd;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	bool tls;
	struct proxy_parser parser;
};

struct proxy_waits {
	struct pop3_server *srv;
	LIST_HEAD(, proxy_wait) list;
	unsigned int count;
};

struct proxy_waits *proxy_waits_new(struct pop3_server *srv)
{
	struct proxy_waits *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->srv = srv;
	LIST_INIT(&w->list);
	return w;
}

static void proxy_wait_free(struct proxy_wait *pw, bool close_fd)
{
	LIST_REMOVE(pw, link);
	pw->w->count--;
	event_free(pw->ev);
	event_free(pw->deadline);
	if (close_fd)
		evutil_closesocket(pw->fd);
	free(pw);
}

void proxy_waits_free(struct proxy_waits **wp)
{
	struct proxy_waits *w = *wp;

	if (w == NULL)
		return;
	*wp = NULL;
	while (!LIST_EMPTY(&w->list))
		proxy_wait_free(LIST_FIRST(&w->list), true);
	free(w);
}

unsigned int proxy_waits_count(const struct proxy_waits *w)
{
	return w->count;
}

bool proxy_peer_trusted(const struct conf *conf, const struct sockaddr *peer)
{
	return pop3_addr_in(conf->proxy_networks, conf->proxy_network_count, peer);
}

/* "address" of a socket address, for logs. */
static const char *proxy_peer_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	uint16_t port;

	pop3_format_addr((const struct sockaddr *)ss, buf, size, &port);
	return buf;
}

static void proxy_wait_fail(struct proxy_wait *pw, enum metrics_refusal why, const char *error)
{
	char peer[INET6_ADDRSTRLEN + 8];

	metrics_refused(why);
	log_warn("event=proxy_refused peer=%s reason=%s error=\"%s\"",
		 proxy_peer_text(&pw->peer, peer, sizeof(peer)), metrics_refusal_name(why),
		 error);
	proxy_wait_free(pw, true);
}

/* The header's addresses as socket addresses, or the connection's own for
   LOCAL and UNKNOWN headers. */
static void proxy_addresses(const struct proxy_wait *pw, struct sockaddr_storage *client,
			    struct sockaddr_storage *local, bool *have_local_r)
{
	const struct proxy_header *h = &pw->parser.hdr;

	memset(client, 0, sizeof(*client));
	memset(local, 0, sizeof(*local));
	*have_local_r = false;
	if (h->kind == PROXY_KIND_TCP4) {
		struct sockaddr_in *c = (struct sockaddr_in *)client;
		struct sockaddr_in *l = (struct sockaddr_in *)local;

		c->sin_family = l->sin_family = AF_INET;
		memcpy(&c->sin_addr, h->src_addr, 4);
		memcpy(&l->sin_addr, h->dst_addr, 4);
		c->sin_port = htons(h->src_port);
		l->sin_port = htons(h->dst_port);
		*have_local_r = true;
	} else if (h->kind == PROXY_KIND_TCP6) {
		struct sockaddr_in6 *c = (struct sockaddr_in6 *)client;
		struct sockaddr_in6 *l = (struct sockaddr_in6 *)local;

		c->sin6_family = l->sin6_family = AF_INET6;
		memcpy(&c->sin6_addr, h->src_addr, 16);
		memcpy(&l->sin6_addr, h->dst_addr, 16);
		c->sin6_port = htons(h->src_port);
		l->sin6_port = htons(h->dst_port);
		*have_local_r = true;
	} else {
		memcpy(client, &pw->peer, pw->peer_len);
	}
}

static void proxy_wait_done(struct proxy_wait *pw)
{
	struct pop3_server *srv = pw->w->srv;
	struct sockaddr_storage client, local;
	char via[INET6_ADDRSTRLEN + 8];
	evutil_socket_t fd = pw->fd;
	bool tls = pw->tls, have_local;
	const struct proxy_header *h = &pw->parser.hdr;

	proxy_addresses(pw, &client, &local, &have_local);
	proxy_peer_text(&pw->peer, via, sizeof(via));
	metrics_proxied(h->version);
	log_debug("event=proxy_header peer=%s version=%u kind=%s tlvs=%u", via, h->version,
		  proxy_kind_name(h->kind), h->tlv_count);
	proxy_wait_free(pw, false);
	pop3_session_create_at(srv, fd, (struct sockaddr *)&client,
			       have_local ? (struct sockaddr *)&local : NULL, via, tls);
}

static void proxy_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_wait *pw = arg;
	uint8_t buf[PROXY_PEEK];
	enum proxy_parse_status st;
	const char *error = NULL;
	size_t used = 0;
	ssize_t n;

	n = recv(fd, buf, sizeof(buf), MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n == 0 && pw->parser.pos == 0) {
		char peer[INET6_ADDRSTRLEN + 8];

		/* A balancer's plain TCP health check: connected, closed. */
		log_debug("event=proxy_probe peer=%s",
			  proxy_peer_text(&pw->peer, peer, sizeof(peer)));
		proxy_wait_free(pw, true);
		return;
	}
	if (n <= 0) {
		proxy_wait_fail(pw, METRICS_REFUSED_PROXY_HEADER,
				n == 0 ? "closed before the header ended" : strerror(errno));
		return;
	}
	st = proxy_parse_feed(&pw->parser, buf, (size_t)n, &used, &error);
	if (st == PROXY_PARSE_ERROR) {
		proxy_wait_fail(pw, METRICS_REFUSED_PROXY_HEADER, error);
		return;
	}
	/* Takes off exactly what the scanner used: at most what was peeked,
	   so this read cannot come short on a stream socket. */
	if (used > 0 && recv(fd, buf, used, 0) != (ssize_t)used) {
		proxy_wait_fail(pw, METRICS_REFUSED_PROXY_HEADER, "short read after peek");
		return;
	}
	if (st == PROXY_PARSE_OK)
		proxy_wait_done(pw);
}

static void proxy_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	proxy_wait_fail(arg, METRICS_REFUSED_PROXY_HEADER, "no complete header in time");
}

void proxy_wait_start(struct proxy_waits *w, evutil_socket_t fd, const struct sockaddr *peer,
		      socklen_t peer_len, bool tls)
{
	const struct conf *conf = w->srv->settings->conf;
	unsigned int ms = conf->proxy_timeout_ms;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	struct proxy_wait *pw;

	if (w->srv->stopping || w->srv->unauthenticated + w->count >= conf->max_unauthenticated) {
		metrics_refused(w->srv->stopping ? METRICS_REFUSED_SHUTTING_DOWN :
				METRICS_REFUSED_MAX_UNAUTHENTICATED);
		log_warn("event=proxy_refused reason=%s", w->srv->stopping ? "shutting_down" :
			 "max_unauthenticated");
		evutil_closesocket(fd);
		return;
	}
	pw = calloc(1, sizeof(*pw));
	if (pw == NULL || (size_t)peer_len > sizeof(pw->peer) ||
	    (pw->ev = event_new(w->srv->base, fd, EV_READ | EV_PERSIST, proxy_read_cb,
				pw)) == NULL ||
	    (pw->deadline = evtimer_new(w->srv->base, proxy_deadline_cb, pw)) == NULL) {
		if (pw != NULL && pw->ev != NULL)
			event_free(pw->ev);
		free(pw);
		log_warn("event=connection_dropped reason=\"out of memory\"");
		evutil_closesocket(fd);
		return;
	}
	pw->w = w;
	pw->fd = fd;
	pw->tls = tls;
	memcpy(&pw->peer, peer, peer_len);
	pw->peer_len = peer_len;
	proxy_parser_init(&pw->parser);
	LIST_INSERT_HEAD(&w->list, pw, link);
	w->count++;
	event_add(pw->ev, NULL);
	event_add(pw->deadline, &tv);
	/* The balancer sends the header right after connecting: it is often
	   there already, and reading it now saves a pass of the loop. */
	proxy_read_cb(fd, EV_READ, pw);
}
