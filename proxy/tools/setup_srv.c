/* The SRV lookup's exchange; contracts in setup_srv.h. */

#include "setup_srv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#define SETUP_SRV_RESEND_SECS 1

struct setup_srv {
	struct event *ev;
	evutil_socket_t fd;
	uint8_t query[DNS_QUERY_MAX];
	size_t query_len;
	uint16_t id;
	char name[DNS_NAME_MAX + 1];
	unsigned int waited_secs, timeout_secs;
	setup_srv_cb *cb;
	void *ctx;
};

static void setup_srv_finish(struct setup_srv *l, enum dns_srv_result r,
			     const struct dns_srv *srv, size_t n, const char *error)
{
	setup_srv_cb *cb = l->cb;

	event_del(l->ev);
	l->cb = NULL;
	if (cb != NULL)
		cb(l->ctx, r, srv, n, error);
}

static void setup_srv_event(evutil_socket_t fd, short what, void *arg)
{
	struct setup_srv *l = arg;
	struct dns_srv srv[DNS_SRV_MAX];
	uint8_t msg[4096];
	size_t n;
	ssize_t got;

	if ((what & EV_TIMEOUT) != 0) {
		l->waited_secs += SETUP_SRV_RESEND_SECS;
		if (l->waited_secs >= l->timeout_secs) {
			setup_srv_finish(l, DNS_SRV_SERVFAIL, NULL, 0, "no answer from the DNS server");
			return;
		}
		/* UDP may lose it: ask again, the same question and id. */
		(void)send(l->fd, l->query, l->query_len, 0);
		return;
	}
	while ((got = recv(fd, msg, sizeof(msg), 0)) >= 0) {
		enum dns_srv_result r = dns_srv_parse(msg, (size_t)got, l->id, l->name, srv, &n);

		if (r != DNS_SRV_MALFORMED) {
			setup_srv_finish(l, r, srv, n, NULL);
			return;
		}
	}
	if (errno == ECONNREFUSED) {
		setup_srv_finish(l, DNS_SRV_SERVFAIL, NULL, 0,
				 "the DNS server refused the connection (port closed)");
	}
}

struct setup_srv *setup_srv_start(struct event_base *base, const struct sockaddr *server,
				  socklen_t server_len, const char *name,
				  unsigned int timeout_secs, setup_srv_cb *cb, void *ctx,
				  const char **error_r)
{
	struct timeval resend = { SETUP_SRV_RESEND_SECS, 0 };
	struct setup_srv *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		*error_r = "out of memory";
		return NULL;
	}
	l->fd = -1;
	evutil_secure_rng_get_bytes(&l->id, sizeof(l->id));
	if (strlen(name) > DNS_NAME_MAX ||
	    (l->query_len = dns_srv_query(l->query, sizeof(l->query), l->id, name)) == 0) {
		*error_r = "the name cannot be asked";
		goto fail;
	}
	strcpy(l->name, name);
	l->timeout_secs = timeout_secs;
	l->cb = cb;
	l->ctx = ctx;
	l->fd = socket(server->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* Connected: replies from other addresses are not even read. */
	if (l->fd < 0 || connect(l->fd, server, server_len) < 0 ||
	    send(l->fd, l->query, l->query_len, 0) < 0) {
		*error_r = strerror(errno);
		goto fail;
	}
	l->ev = event_new(base, l->fd, EV_READ | EV_PERSIST, setup_srv_event, l);
	if (l->ev == NULL || event_add(l->ev, &resend) < 0) {
		*error_r = "out of memory";
		goto fail;
	}
	return l;
fail:
	setup_srv_free(&l);
	return NULL;
}

void setup_srv_free(struct setup_srv **lookup)
{
	struct setup_srv *l = *lookup;

	if (l == NULL)
		return;
	*lookup = NULL;
	if (l->ev != NULL)
		event_free(l->ev);
	if (l->fd >= 0)
		close(l->fd);
	free(l);
}
