#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "cache.h"
#include "conf.h"
#include "log.h"
#include "pop3_session.h"
#include "tls.h"

#define POPGATE_VERSION "0.1"
/* How long running sessions may go on after SIGTERM. */
#define POPGATE_STOP_GRACE_SECS 10

struct popgate;

struct popgate_listener {
	struct popgate *pg;
	struct evconnlistener *l;
	bool tls;
};

struct popgate {
	struct event_base *base;
	struct evdns_base *dns;
	struct conf *conf;
	struct pop3_server srv;
	struct popgate_listener listeners[CONF_MAX_LISTEN];
	unsigned int listener_count;
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *stop_timer;
	unsigned int stop_ticks;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: popgate [-c FILE] [--check]\n"
		"  -c, --config FILE  configuration (default /etc/popgate/popgate.conf)\n"
		"  -t, --check        validate the configuration and exit\n"
		"  -V, --version      print the version and exit\n");
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct popgate_listener *pl = arg;

	pop3_session_create(&pl->pg->srv, fd, sa, (socklen_t)salen, pl->tls);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	/* Out of descriptors and the like: log, keep listening. */
	log_error("event=accept_error error=\"%s\"", evutil_socket_error_to_string(err));
}

/* A bound, non-blocking socket; "::" also serves IPv4 whatever the
   system's bindv6only default (libevent 2.1.12 has no option for it). */
static evutil_socket_t listen_socket(const struct addrinfo *ai, bool dual_stack)
{
	evutil_socket_t fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
				    SOCK_CLOEXEC, ai->ai_protocol);
	int on = 1, off = 0;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
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

static int listen_all(struct popgate *pg)
{
	for (unsigned int i = 0; i < pg->conf->listen_count; i++) {
		const struct conf_listen *l = &pg->conf->listen[i];
		struct addrinfo hints = {
			.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
			.ai_flags = AI_PASSIVE,
		};
		struct addrinfo *res;
		char port[8];
		int err;

		snprintf(port, sizeof(port), "%u", l->port);
		err = getaddrinfo(l->host, port, &hints, &res);
		if (err != 0) {
			log_error("event=listen_failed address=%s:%u error=\"%s\"",
				  l->host, l->port, gai_strerror(err));
			return -1;
		}
		evutil_socket_t fd = listen_socket(res, strcmp(l->host, "::") == 0);

		freeaddrinfo(res);
		pg->listeners[i].pg = pg;
		pg->listeners[i].tls = l->tls;
		if (fd >= 0)
			pg->listeners[i].l = evconnlistener_new(
				pg->base, accept_cb, &pg->listeners[i],
				LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 512, fd);
		if (pg->listeners[i].l == NULL) {
			if (fd >= 0)
				evutil_closesocket(fd);
			log_error("event=listen_failed address=%s:%u error=\"%s\"",
				  l->host, l->port, strerror(errno));
			return -1;
		}
		evconnlistener_set_error_cb(pg->listeners[i].l, accept_error_cb);
		pg->listener_count++;
		log_info("event=listening address=%s:%u tls=%s", l->host, l->port,
			 l->tls ? "implicit" : pg->srv.client_tls != NULL ? "stls" : "none");
	}
	return 0;
}

static void close_listeners(struct popgate *pg)
{
	for (unsigned int i = 0; i < pg->listener_count; i++)
		evconnlistener_free(pg->listeners[i].l);
	pg->listener_count = 0;
}

static void stop_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct popgate *pg = arg;

	if (pg->srv.sessions == 0) {
		event_base_loopexit(pg->base, NULL);
		return;
	}
	if (++pg->stop_ticks >= POPGATE_STOP_GRACE_SECS) {
		log_warn("event=stop_grace_over sessions=%u", pg->srv.sessions);
		pop3_server_close_all(&pg->srv, "shutdown");
	}
}

/* New sessions get the new certificate; running ones keep theirs (OpenSSL
   keeps the old context alive for them). A broken pair keeps the old. */
static void reload_client_tls(struct popgate *pg)
{
	const struct conf *conf = pg->conf;
	struct tls_server_ctx *ctx;
	char *error = NULL;

	if (conf->tls_cert_file == NULL) {
		log_info("event=sighup action=none reason=\"no [tls] certificate configured; "
			 "only the certificate is re-read on SIGHUP\"");
		return;
	}
	ctx = tls_server_ctx_new(conf->tls_cert_file, conf->tls_key_file, &error);
	if (ctx == NULL) {
		log_error("event=tls_reload_failed action=kept_old error=\"%s\"", error);
		free(error);
		return;
	}
	tls_server_ctx_free(&pg->srv.client_tls);
	pg->srv.client_tls = ctx;
	log_info("event=tls_reloaded cert_file=%s", conf->tls_cert_file);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct popgate *pg = arg;
	struct timeval second = { 1, 0 };

	if (sig == SIGHUP) {
		reload_client_tls(pg);
		return;
	}
	if (pg->srv.stopping) {
		/* A second signal: stop now. */
		pop3_server_close_all(&pg->srv, "shutdown");
		return;
	}
	log_info("event=stopping signal=%d sessions=%u grace_secs=%u", (int)sig,
		 pg->srv.sessions, POPGATE_STOP_GRACE_SECS);
	pg->srv.stopping = true;
	close_listeners(pg);
	pg->stop_timer = event_new(pg->base, -1, EV_PERSIST, stop_tick_cb, pg);
	event_add(pg->stop_timer, &second);
	stop_tick_cb(-1, 0, pg);
}

/* cache = auto starts the private redis-server here, before serving. */
static int setup_cache(struct popgate *pg)
{
	const struct conf *conf = pg->conf;
	struct cache_settings set = {
		.url = conf->cache_url,
		.password = conf->cache_password,
		.state_dir = conf->cache_state_dir,
		.redis_server = conf->cache_redis_server,
		.timeout_ms = conf->cache_timeout_ms,
		.dns = pg->dns,
	};
	char *error = NULL;

	pg->srv.cache = cache_new(pg->base, &set, &error);
	if (pg->srv.cache == NULL) {
		/* The url may hold a password: only the error is logged. */
		log_error("event=cache_setup_failed error=\"%s\"",
			  error != NULL ? error : "out of memory");
		free(error);
		return -1;
	}
	log_info("event=cache cache=%s", cache_describe(pg->srv.cache));
	return 0;
}

static int setup_tls(struct popgate *pg)
{
	const struct conf *conf = pg->conf;
	char *error = NULL;

	if (conf->tls_cert_file != NULL) {
		pg->srv.client_tls = tls_server_ctx_new(conf->tls_cert_file,
							conf->tls_key_file, &error);
		if (pg->srv.client_tls == NULL) {
			log_error("event=tls_setup_failed error=\"%s\"", error);
			free(error);
			return -1;
		}
	}

	if (conf->upstream_tls == CONF_TLS_NONE) {
		log_warn("event=config_warning upstream=%s:%u "
			 "warning=\"upstream tls = none: passwords cross the network in clear\"",
			 conf->upstream_host, conf->upstream_port);
		return 0;
	}
	if (!conf->upstream_verify)
		log_warn("event=config_warning upstream=%s:%u "
			 "warning=\"upstream verify = no: certificates are not checked\"",
			 conf->upstream_host, conf->upstream_port);
	pg->srv.upstream_tls = tls_client_ctx_new(conf->upstream_verify,
						  conf->upstream_ca_file, &error);
	if (pg->srv.upstream_tls == NULL) {
		log_error("event=tls_setup_failed error=\"%s\"", error);
		free(error);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = "/etc/popgate/popgate.conf";
	struct popgate pg;
	bool check_only = false;
	char *error = NULL;
	int opt, ret = 1;

	while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'V':
			printf("popgate %s\n", POPGATE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	memset(&pg, 0, sizeof(pg));
	if (conf_load(path, &pg.conf, &error) < 0) {
		fprintf(stderr, "popgate: %s\n", error);
		free(error);
		return 1;
	}
	if (check_only) {
		printf("popgate: %s: configuration OK\n", path);
		conf_free(&pg.conf);
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	/* Lock tokens only need to differ between sessions and restarts. */
	srandom((unsigned int)time(NULL) ^ (unsigned int)getpid() << 16);
	log_open(pg.conf->log_target, pg.conf->log_level, pg.conf->log_ident);
	tls_init();
	pg.base = event_base_new();
	if (pg.base == NULL) {
		log_error("event=startup_failed error=\"cannot create event base\"");
		goto out;
	}
	/* Non-blocking name resolution for upstream host names. */
	pg.dns = evdns_base_new(pg.base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
				EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (pg.dns == NULL)
		pg.dns = evdns_base_new(pg.base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	pg.srv.base = pg.base;
	pg.srv.dns = pg.dns;
	pg.srv.conf = pg.conf;
	LIST_INIT(&pg.srv.list);
	if (setup_tls(&pg) < 0 || setup_cache(&pg) < 0 || listen_all(&pg) < 0)
		goto out;

	pg.sig_term = evsignal_new(pg.base, SIGTERM, signal_cb, &pg);
	pg.sig_int = evsignal_new(pg.base, SIGINT, signal_cb, &pg);
	pg.sig_hup = evsignal_new(pg.base, SIGHUP, signal_cb, &pg);
	event_add(pg.sig_term, NULL);
	event_add(pg.sig_int, NULL);
	event_add(pg.sig_hup, NULL);

	log_info("event=started version=%s config=%s upstream=%s:%u", POPGATE_VERSION,
		 path, pg.conf->upstream_host, pg.conf->upstream_port);
	event_base_dispatch(pg.base);
	/* Let the deferred frees of closed sessions run. */
	event_base_loop(pg.base, EVLOOP_NONBLOCK);
	log_info("event=stopped sessions_total=%llu",
		 (unsigned long long)pg.srv.sessions_total);
	ret = 0;
out:
	close_listeners(&pg);
	if (pg.sig_term != NULL)
		event_free(pg.sig_term);
	if (pg.sig_int != NULL)
		event_free(pg.sig_int);
	if (pg.sig_hup != NULL)
		event_free(pg.sig_hup);
	if (pg.stop_timer != NULL)
		event_free(pg.stop_timer);
	tls_client_ctx_free(&pg.srv.upstream_tls);
	tls_server_ctx_free(&pg.srv.client_tls);
	/* After the sessions: stops a managed redis-server. */
	cache_free(&pg.srv.cache);
	if (pg.dns != NULL)
		evdns_base_free(pg.dns, 0);
	if (pg.base != NULL)
		event_base_free(pg.base);
	conf_free(&pg.conf);
	log_close();
	return ret;
}
