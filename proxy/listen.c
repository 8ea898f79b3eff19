/* The POP3 listeners; contracts in listen.h. */

#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "conf.h"
#include "listen_proxy.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "settings.h"

/* How long accepting pauses when descriptors run out. */
#define LISTEN_PAUSE_MS 1000
/* At most one "out of descriptors" line per this many seconds. */
#define LISTEN_LOG_EVERY_SECS 60
/* Descriptors beyond two per session: listeners, log, Redis, metrics. */
#define LISTEN_FD_SPARE 128
/* Queued connections listeners_close() takes per listener at most (the
   kernel's default somaxconn). */
#define LISTEN_DRAIN_MAX 4096
/* listeners_fd_prepare() goes no further (48 octets each: 3 MB). */
#define LISTEN_FD_PREPARE_MAX 65536

struct listener {
	struct listeners *ls;
	struct evconnlistener *l;
	bool tls;
	bool proxy;       /* proxy_protocol: only load balancers */
};

struct listeners {
	struct pop3_server *srv;
	struct proxy_waits *waits;
	struct listener l[CONF_MAX_LISTEN];
	unsigned int count;
	struct event *resume;
	bool paused;
	time_t last_log;
	unsigned long pauses_unlogged;
};

static void listeners_enable(struct listeners *ls, bool on)
{
	for (unsigned int i = 0; i < ls->count; i++)
		(on ? evconnlistener_enable : evconnlistener_disable)(ls->l[i].l);
	ls->paused = !on;
}

static void listeners_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	listeners_enable(arg, true);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct listener *pl = arg;
	const struct conf *conf = pl->ls->srv->settings->conf;
	char peer[64];
	uint16_t port;

	if (proxy_peer_trusted(conf, sa)) {
		proxy_wait_start(pl->ls->waits, fd, sa, (socklen_t)salen, pl->tls);
	} else if (pl->proxy) {
		pop3_format_addr(sa, peer, sizeof(peer), &port);
		metrics_refused(METRICS_REFUSED_PROXY_UNTRUSTED);
		log_warn("event=proxy_refused peer=%s reason=proxy_untrusted", peer);
		evutil_closesocket(fd);
	} else {
		pop3_session_create(pl->ls->srv, fd, sa, (socklen_t)salen, pl->tls);
	}
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct listeners *ls = ((struct listener *)arg)->ls;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval pause = { .tv_sec = LISTEN_PAUSE_MS / 1000,
				 .tv_usec = (LISTEN_PAUSE_MS % 1000) * 1000 };
	time_t now = time(NULL);

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_error("event=accept_error error=\"%s\"", evutil_socket_error_to_string(err));
		return;
	}
	/* The listening socket stays readable: accepting again at once
	   would fail again, on every loop pass. */
	if (!ls->paused) {
		listeners_enable(ls, false);
		event_add(ls->resume, &pause);
	}
	if (now - ls->last_log >= LISTEN_LOG_EVERY_SECS) {
		log_error("event=accept_paused error=\"%s\" pause_ms=%u sessions=%u "
			  "pauses_since_last=%lu", evutil_socket_error_to_string(err),
			  LISTEN_PAUSE_MS, ls->srv->sessions, ls->pauses_unlogged);
		ls->last_log = now;
		ls->pauses_unlogged = 0;
	} else {
		ls->pauses_unlogged++;
	}
}

/* A bound, non-blocking socket; "::" also serves IPv4 whatever the
   system's bindv6only default (libevent 2.1.12 has no option for it).
   reuse_port: SO_REUSEPORT before bind, so that other processes of the
   same user that set it too bind the same address (the kernel spreads
   new connections over their sockets). */
static evutil_socket_t listen_socket(const struct addrinfo *ai, bool dual_stack,
				     bool reuse_port)
{
	evutil_socket_t fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
				    SOCK_CLOEXEC, ai->ai_protocol);
	int on = 1, off = 0;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0) ||
	    (dual_stack && ai->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* What an operator does about an address in use. */
static const char *listen_in_use_reason(bool reuse_port)
{
	return reuse_port ?
		"another process listens there without reuse_port = yes, or as another user" :
		"another process listens there; to share the address, set [server] reuse_port = "
		"yes in every popgate on it";
}

static int listeners_bind(struct listeners *ls, const struct conf_listen *cl,
			  bool stls, bool reuse_port)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE,
	};
	struct listener *pl = &ls->l[ls->count];
	struct addrinfo *res;
	evutil_socket_t fd;
	char port[8];
	int err;

	snprintf(port, sizeof(port), "%u", cl->port);
	err = getaddrinfo(cl->host, port, &hints, &res);
	if (err != 0) {
		log_error("event=listen_failed address=%s:%u error=\"%s\"", cl->host, cl->port,
			  gai_strerror(err));
		return -1;
	}
	fd = listen_socket(res, strcmp(cl->host, "::") == 0, reuse_port);
	freeaddrinfo(res);
	pl->ls = ls;
	pl->tls = cl->tls;
	pl->proxy = cl->proxy;
	if (fd >= 0)
		pl->l = evconnlistener_new(ls->srv->base, accept_cb, pl,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 512, fd);
	if (pl->l == NULL) {
		err = errno;
		if (fd >= 0)
			evutil_closesocket(fd);
		if (err == EADDRINUSE)
			log_error("event=listen_failed address=%s:%u error=\"%s\" reuse_port=%s "
				  "reason=\"%s\"", cl->host, cl->port, strerror(err),
				  reuse_port ? "yes" : "no", listen_in_use_reason(reuse_port));
		else
			log_error("event=listen_failed address=%s:%u error=\"%s\"", cl->host,
				  cl->port, strerror(err));
		return -1;
	}
	evconnlistener_set_error_cb(pl->l, accept_error_cb);
	ls->count++;
	log_info("event=listening address=%s:%u tls=%s proxy_protocol=%s reuse_port=%s",
		 cl->host, cl->port, cl->tls ? "implicit" : stls ? "stls" : "none",
		 cl->proxy ? "yes" : "no", reuse_port ? "yes" : "no");
	return 0;
}

/* reuse_port spreads the clients over processes that must share state. */
static void listeners_check_shared(const struct conf *conf)
{
	if (!conf->reuse_port)
		return;
	if (strcmp(conf->cache_url, "auto") == 0)
		log_warn("event=config_warning warning=\"reuse_port = yes with [cache] url = "
			 "auto: each process has its own state store, so device state and locks "
			 "depend on the process a client reaches; give every process on the "
			 "address one [cache] url\"");
	else if (!conf->shared_limits)
		log_warn("event=config_warning warning=\"reuse_port = yes without "
			 "shared_limits: failure delays and LOGIN-DELAY count per process\"");
}

struct listeners *listeners_open(struct pop3_server *srv, const struct conf *conf)
{
	struct listeners *ls = calloc(1, sizeof(*ls));

	if (ls == NULL || (ls->resume = evtimer_new(srv->base, listeners_resume_cb, ls)) == NULL ||
	    (ls->waits = proxy_waits_new(srv)) == NULL) {
		if (ls != NULL && ls->resume != NULL)
			event_free(ls->resume);
		free(ls);
		log_error("event=startup_failed error=\"out of memory\"");
		return NULL;
	}
	ls->srv = srv;
	listeners_check_shared(conf);
	for (unsigned int i = 0; i < conf->listen_count; i++) {
		if (listeners_bind(ls, &conf->listen[i], srv->settings->client_tls != NULL,
				   conf->reuse_port) < 0) {
			listeners_free(&ls);
			return NULL;
		}
	}
	return ls;
}

/* Connections the kernel completed before the close are taken, not
   reset; with reuse_port the others in the group get the new ones. */
static void listeners_drain(struct listeners *ls)
{
	for (unsigned int i = 0; i < ls->count; i++) {
		evutil_socket_t lfd = evconnlistener_get_fd(ls->l[i].l);

		for (unsigned int n = 0; n < LISTEN_DRAIN_MAX; n++) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			int fd = accept4(lfd, (struct sockaddr *)&ss, &len,
					 SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd < 0 && errno == EINTR)
				continue;
			if (fd < 0)
				break;
			accept_cb(ls->l[i].l, fd, (struct sockaddr *)&ss, (int)len, &ls->l[i]);
		}
	}
}

void listeners_close(struct listeners **lsp)
{
	if (*lsp != NULL)
		listeners_drain(*lsp);
	listeners_free(lsp);
}

void listeners_free(struct listeners **lsp)
{
	struct listeners *ls = *lsp;

	if (ls == NULL)
		return;
	*lsp = NULL;
	for (unsigned int i = 0; i < ls->count; i++)
		evconnlistener_free(ls->l[i].l);
	proxy_waits_free(&ls->waits);
	event_free(ls->resume);
	free(ls);
}

static void listeners_fd_noop(evutil_socket_t fd, short what, void *arg)
{
}

void listeners_fd_prepare(struct event_base *base, const struct conf *conf)
{
	rlim_t want = (rlim_t)conf->max_connections * 2 + LISTEN_FD_SPARE;
	struct event *ev;
	struct rlimit rl;
	int pipefd[2];

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
		return;
	if (want > rl.rlim_cur)
		want = rl.rlim_cur;
	if (want > LISTEN_FD_PREPARE_MAX)
		want = LISTEN_FD_PREPARE_MAX;
	/* A free number is given the pipe for a moment: watched once (the
	   record is made), then let go. */
	for (int fd = 3; (rlim_t)fd < want; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF || dup2(pipefd[0], fd) != fd)
			continue;
		if ((ev = event_new(base, fd, EV_READ, listeners_fd_noop, NULL)) != NULL) {
			if (event_add(ev, NULL) == 0)
				event_del(ev);
			event_free(ev);
		}
		close(fd);
	}
	close(pipefd[0]);
	close(pipefd[1]);
}

void listeners_fd_limit(const struct conf *conf)
{
	rlim_t want = (rlim_t)conf->max_connections * 2 + LISTEN_FD_SPARE +
		(conf->metrics_host != NULL ? conf->metrics_max_connections : 0);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < want)
		log_warn("event=fd_limit_low soft=%llu hard=%llu needed=%llu max_connections=%u "
			 "reason=\"raise LimitNOFILE (systemd) or ulimit -n, or lower "
			 "max_connections: new connections pause when descriptors run out\"",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
			 (unsigned long long)want, conf->max_connections);
	else
		log_info("event=fd_limit_raised soft=%llu", (unsigned long long)rl.rlim_cur);
}
