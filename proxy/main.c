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

#include "cache.h"
#include "conf.h"
#include "daemon.h"
#include "enrol_web.h"
#include "imap_pool.h"
#include "limits_table.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "oauth_http.h"
#include "oauth_tokens.h"
#include "pop3_account.h"
#include "server.h"
#include "settings.h"
#include "text.h"
#include "tls.h"
#include "resolver.h"
#include "tools.h"
#include "upstream_probe.h"
#include "version.h"

/* Entries per table of the per-IP and auth failure records. */
#define POPGATE_LIMITS_ENTRIES 100000
/* Upstreams probed at start and by --check --connect: the default and
   the first routes (a gateway with thousands of routes is not one whose
   first run needs telling). */
#define POPGATE_PROBE_MAX 16

struct popgate;

/* Whether one upstream answers (see check_upstreams). */
struct popgate_probe {
	struct popgate *pg;
	const struct conf_upstream *up;
	struct upstream_probe *probe;
	bool done, ok;
	char error[200];
};

struct popgate {
	struct event_base *base;
	struct evdns_base *dns;
	char *path;                  /* the config file, absolute */
	struct settings *startup;    /* kept: listeners, cache, process and
					metrics use its config until exit */
	const struct conf *conf;     /* startup->conf */
	struct pop3_server srv;
	struct metrics_http *metrics;
	struct oauth_http *http;     /* token endpoints (auth = oauth2) */
	struct enrol_web *enrol;     /* [enrol] listen */
	struct daemon_pidfile *pidfile;
	struct listeners *listeners;
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *stop_timer;
	unsigned int stop_ticks;
	unsigned int stop_grace_secs;
	struct popgate_probe probes[POPGATE_PROBE_MAX];
	unsigned int probe_count, probes_left;
	bool check_only;             /* --check --connect: report and stop */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: popgate [-c FILE] [--check [--connect]]\n"
		"  -c, --config FILE  configuration (default " POPGATE_DEFAULT_CONFIG ")\n"
		"  -t, --check        validate the configuration and exit\n"
		"      --connect      with --check: also connect to each upstream\n"
		"  -V, --version      print the version and exit\n");
	popgate_tools_usage(out);
}

static void stop_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct popgate *pg = arg;

	if (pg->srv.sessions == 0) {
		event_base_loopexit(pg->base, NULL);
		return;
	}
	if (fd != -1 || what != 0)
		pg->stop_ticks++;
	if (pg->stop_ticks >= pg->stop_grace_secs) {
		/* What was not QUITted is not applied (RFC 1939 UPDATE). */
		log_warn("event=stop_grace_over sessions=%u", pg->srv.sessions);
		pop3_server_close_all(&pg->srv, "shutdown");
	}
}

static bool listen_equal(const struct conf *a, const struct conf *b)
{
	if (a->listen_count != b->listen_count)
		return false;
	for (unsigned int i = 0; i < a->listen_count; i++) {
		if (a->listen[i].port != b->listen[i].port || a->listen[i].tls != b->listen[i].tls ||
		    strcmp(a->listen[i].host, b->listen[i].host) != 0)
			return false;
	}
	return true;
}

static bool str_equal(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static struct metrics_http_limits metrics_limits(const struct conf *conf)
{
	struct metrics_http_limits l = {
		.max_connections = conf->metrics_max_connections,
		.request_timeout_ms = conf->metrics_request_timeout_ms,
	};

	return l;
}

/* Settings read only at start: a reload names those it cannot apply. */
static void reload_check_fixed(const struct conf *old, const struct conf *new)
{
	char what[200] = "";

	if (!listen_equal(old, new))
		strcat(what, ",listen");
	if (!str_equal(old->cache_url, new->cache_url) ||
	    !str_equal(old->cache_password, new->cache_password) ||
	    !str_equal(old->cache_state_dir, new->cache_state_dir) ||
	    !str_equal(old->cache_redis_server, new->cache_redis_server) ||
	    old->cache_timeout_ms != new->cache_timeout_ms ||
	    old->cache_replicas != new->cache_replicas)
		strcat(what, ",cache");
	if (old->daemon != new->daemon || !str_equal(old->pid_file, new->pid_file) ||
	    !str_equal(old->user, new->user) || !str_equal(old->group, new->group))
		strcat(what, ",process");
	if (!str_equal(old->metrics_host, new->metrics_host) ||
	    old->metrics_port != new->metrics_port)
		strcat(what, ",metrics");
	if (what[0] != '\0')
		log_warn("event=reload_needs_restart sections=%s "
			 "reason=\"read only at start; the running values stay\"", what + 1);
}

/* What the running process cannot switch to: refused, the old kept. */
static bool reload_refused(struct popgate *pg, const struct settings *set)
{
	const char *why = NULL;
	bool tls_listener = false;

	for (unsigned int i = 0; i < pg->conf->listen_count; i++)
		tls_listener |= pg->conf->listen[i].tls;
	if (tls_listener && set->client_tls == NULL)
		why = "the listen_tls addresses stay open and need [tls] cert_file and key_file";
	else if (pg->conf->daemon && set->conf->log_target == LOG_TARGET_STDERR)
		why = "running detached: [log] target must stay syslog";
	if (why == NULL)
		return false;
	log_error("event=reload_failed action=kept_old generation=%u error=\"%s\"",
		  pg->srv.settings->generation, why);
	return true;
}

static int setup_oauth(struct popgate *pg, const struct conf *conf);

/*
 * SIGHUP: the file is read again into a new generation. New sessions get
 * it; running ones keep the one they started with. A file that does not
 * load (or whose TLS files do not) changes nothing.
 */
static void reload(struct popgate *pg)
{
	struct settings *old = pg->srv.settings, *set;
	struct metrics_http_limits limits;
	struct conf *conf;
	char *error = NULL;

	if (conf_load(pg->path, &conf, &error) < 0 ||
	    (set = settings_new(conf, old->generation + 1, &error)) == NULL) {
		/* Quoted: the message may repeat text of the file. */
		for (char *p = error; p != NULL && *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				*p = '\'';
			else if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		}
		log_error("event=reload_failed action=kept_old generation=%u error=\"%s\"",
			  old->generation, error != NULL ? error : "out of memory");
		free(error);
		metrics_reload(false);
		return;
	}
	if (reload_refused(pg, set)) {
		settings_unref(&set);
		metrics_reload(false);
		return;
	}
	reload_check_fixed(pg->conf, set->conf);
	log_open(set->conf->log_target, set->conf->log_level, set->conf->log_ident,
		 set->conf->log_facility);
	pg->srv.settings = set;
	limits = metrics_limits(set->conf);
	metrics_http_set_limits(pg->metrics, &limits);
	/* The first oauth2 route: OAuth2 is set up now (a failure is logged;
	   its logins then fail with a temporary error). */
	setup_oauth(pg, set->conf);
	/* Kept upstream sessions may belong to routes that changed. */
	if (pg->srv.pool != NULL)
		imap_pool_flush(pg->srv.pool);
	log_info("event=reloaded generation=%u default_upstream=%s routes=%u "
		 "sessions_on_older=%u", set->generation,
		 set->conf->upstream != NULL ? set->conf->upstream->host : "-",
		 set->conf->route_count, pg->srv.sessions);
	metrics_reload(true);
	settings_unref(&old);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct popgate *pg = arg;
	struct timeval second = { 1, 0 };

	if (sig == SIGHUP) {
		if (!pg->srv.stopping)
			reload(pg);
		return;
	}
	if (pg->srv.stopping) {
		/* A second signal: stop now. */
		pop3_server_close_all(&pg->srv, "shutdown");
		return;
	}
	pg->stop_grace_secs = pg->srv.settings->conf->shutdown_grace_secs;
	log_info("event=stopping signal=%d sessions=%u grace_secs=%u", (int)sig,
		 pg->srv.sessions, pg->stop_grace_secs);
	pg->srv.stopping = true;
	listeners_free(&pg->listeners);
	metrics_http_free(&pg->metrics);
	pg->stop_timer = event_new(pg->base, -1, EV_PERSIST, stop_tick_cb, pg);
	event_add(pg->stop_timer, &second);
	stop_tick_cb(-1, 0, pg);
}

/* The state store reports through these: its lines go into our log, its
   failed requests into the metrics. */
static void cache_log_hook(void *ctx, enum cache_log_level level, const char *line)
{
	static const enum log_level levels[] = {
		[CACHE_LOG_ERROR] = LOG_LEVEL_ERROR,
		[CACHE_LOG_WARN] = LOG_LEVEL_WARN,
		[CACHE_LOG_INFO] = LOG_LEVEL_INFO,
		[CACHE_LOG_DEBUG] = LOG_LEVEL_DEBUG,
	};

	log_msg(levels[level], "%s", line);
}

static void cache_failed_hook(void *ctx)
{
	metrics_redis_error();
}

static void cache_failover_hook(void *ctx)
{
	metrics_redis_failover();
}

static struct cache_settings cache_settings_of(const struct conf *conf,
					      struct evdns_base *dns)
{
	struct cache_settings set = {
		.url = conf->cache_url,
		.password = conf->cache_password,
		.state_dir = conf->cache_state_dir,
		.redis_server = conf->cache_redis_server,
		.timeout_ms = conf->cache_timeout_ms,
		.max_memory = (uint64_t)conf->cache_max_memory_mib << 20,
		.replicas = conf->cache_replicas,
		.dns = dns,
		.hooks = { .log = cache_log_hook, .request_failed = cache_failed_hook,
			   .failover = cache_failover_hook },
	};

	return set;
}

/* cache = auto starts the private redis-server here, before serving. */
static int setup_cache(struct popgate *pg)
{
	struct cache_settings set = cache_settings_of(pg->conf, pg->dns);
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

static void oauth_refreshed_hook(const char *route, const char *result)
{
	(void)route;
	metrics_oauth_refresh(result);
}

/* Whether conf needs OAuth2: a route (or the default upstream) with auth
   = oauth2, or the enrolment page. */
static bool conf_wants_oauth(const struct conf *conf)
{
	if (conf->enrol_host != NULL ||
	    (conf->upstream != NULL && conf->upstream->auth == CONF_AUTH_OAUTH2))
		return true;
	for (unsigned int i = 0; i < conf->route_count; i++) {
		if (conf->routes[i].auth == CONF_AUTH_OAUTH2)
			return true;
	}
	return false;
}

/*
 * HTTP to token endpoints and the token manager, on the loop: only when
 * conf needs them (libcurl is loaded then, see oauth_curl.h), at start and
 * on a reload that adds the first oauth2 route; once set up they stay.
 * Without libcurl the daemon serves on: -1 only when out of memory (or the
 * enrolment page cannot start), and then only at start is it fatal.
 */
static int setup_oauth(struct popgate *pg, const struct conf *conf)
{
	static const struct oauth_hooks hooks = { .refreshed = oauth_refreshed_hook };
	const char *http_error;

	if (pg->srv.oauth != NULL || !conf_wants_oauth(conf))
		return 0;
	if (oauth_http_global_init(&http_error) < 0) {
		log_error("event=oauth_setup_failed error=\"%s\" effect=\"auth = oauth2 logins "
			  "fail with -ERR [SYS/TEMP], the enrolment page is off\"", http_error);
		return 0;
	}
	if (pg->http == NULL && (pg->http = oauth_http_new(pg->base, NULL)) == NULL) {
		log_error("event=oauth_setup_failed error=\"out of memory\"");
		return -1;
	}
	pg->srv.oauth = oauth_tokens_new(pg->base, pg->srv.cache, pg->http, &hooks);
	if (pg->srv.oauth == NULL) {
		log_error("event=oauth_setup_failed error=\"out of memory\"");
		return -1;
	}
	log_info("event=oauth_ready");
	/* [enrol] listen is read at start only (like the other listeners). */
	if (pg->enrol == NULL && pg->conf->enrol_host != NULL) {
		char *error = NULL;

		pg->enrol = enrol_web_start(pg->base, pg->conf, pg->srv.cache, pg->http,
					    pg->startup->client_tls, &error);
		if (pg->enrol == NULL) {
			log_error("event=enrol_setup_failed error=\"%s\"",
				  error != NULL ? error : "out of memory");
			free(error);
			return -1;
		}
		log_info("event=enrol_listening address=%s:%u tls=%s", pg->conf->enrol_host,
			 pg->conf->enrol_port, pg->startup->client_tls != NULL ? "yes" : "no");
	}
	return 0;
}

static int setup_metrics(struct popgate *pg)
{
	struct metrics_http_limits limits = metrics_limits(pg->conf);
	char *error = NULL;

	if (pg->conf->metrics_host == NULL)
		return 0;
	pg->metrics = metrics_http_start(pg->base, pg->conf->metrics_host,
					 pg->conf->metrics_port, &limits, &error);
	if (pg->metrics == NULL) {
		log_error("event=metrics_setup_failed error=\"%s\"",
			  error != NULL ? error : "out of memory");
		free(error);
		return -1;
	}
	log_info("event=metrics_listening address=%s:%u max_connections=%u "
		 "request_timeout_ms=%u", pg->conf->metrics_host, pg->conf->metrics_port,
		 limits.max_connections, limits.request_timeout_ms);
	return 0;
}

/* A second instance with the same pid file stops here, before its
   listeners would fail on the ports in use. */
static int setup_pidfile(struct popgate *pg)
{
	char *error = NULL;

	if (pg->conf->pid_file == NULL)
		return 0;
	pg->pidfile = daemon_pidfile_create(pg->conf->pid_file, &error);
	if (pg->pidfile == NULL) {
		log_error("event=startup_failed error=\"%s\"",
			  error != NULL ? error : "out of memory");
		free(error);
		return -1;
	}
	return 0;
}

/*
 * After the privileged steps (binding ports, the pid file): the managed
 * redis-server's directory must belong to the user popgate runs as, since
 * popgate restarts redis-server when it dies; it is started after the
 * drop, as that user.
 */
static int setup_process(struct popgate *pg)
{
	const struct conf *conf = pg->conf;
	char *error = NULL;

	if (conf->user == NULL) {
		if (geteuid() == 0)
			log_warn("event=config_warning warning=\"running as root: set "
				 "[process] user\"");
		return 0;
	}
	if (strcmp(conf->cache_url, "auto") == 0 &&
	    daemon_prepare_dir(conf->cache_state_dir, conf->user, conf->group, &error) < 0)
		goto fail;
	if (daemon_drop_privileges(conf->user, conf->group, &error) < 0)
		goto fail;
	log_info("event=privileges_dropped user=%s", conf->user);
	return 0;
fail:
	log_error("event=startup_failed error=\"%s\"", error != NULL ? error : "out of memory");
	free(error);
	return -1;
}

static const char *upstream_section(const struct conf_upstream *up, char *buf, size_t size)
{
	if (up->domain == NULL)
		return "[upstream]";
	snprintf(buf, size, "[route %s]", up->domain);
	return buf;
}

/*
 * At start: an upstream that does not answer is said once, in the log and
 * in a sentence on stderr for whoever ran popgate. With --check --connect:
 * one line per upstream on stdout, and the loop ends with the last.
 */
static void probe_done_cb(void *ctx, bool ok, const char *error)
{
	struct popgate_probe *p = ctx;
	struct popgate *pg = p->pg;
	char buf[CONF_DOMAIN_MAX + 16];
	const char *section = upstream_section(p->up, buf, sizeof(buf));

	p->done = true;
	p->ok = ok;
	text_escape_quoted(ok ? "" : error, ok ? 0 : strlen(error), p->error, sizeof(p->error));
	if (pg->check_only) {
		printf("popgate: %s %s:%u: %s%s\n", section, p->up->host, p->up->port,
		       ok ? "answers" : "does not answer: ", ok ? "" : p->error);
	} else if (ok) {
		log_info("event=upstream_reachable upstream=%s host=%s port=%u", p->up->name,
			 p->up->host, p->up->port);
	} else {
		log_warn("event=upstream_unreachable upstream=%s host=%s port=%u error=\"%s\"",
			 p->up->name, p->up->host, p->up->port, p->error);
		fprintf(stderr, "popgate: the IMAP server of %s, %s:%u, does not answer (%s). "
			"POP3 logins it serves fail with -ERR [SYS/TEMP] until it does. To find "
			"and check your provider's settings, run: popgate setup you@example.com "
			"-c %s\n", section, p->up->host, p->up->port, p->error, pg->path);
	}
	if (--pg->probes_left == 0 && pg->check_only)
		event_base_loopbreak(pg->base);
}

static void probe_start(struct popgate *pg, const struct settings *set,
			const struct conf_upstream *up)
{
	struct popgate_probe *p = &pg->probes[pg->probe_count];
	struct upstream_probe_target t = {
		.host = up->host, .port = up->port, .tls = pop3_account_tls_mode(up),
		.tls_ctx = settings_upstream_tls(set, up), .timeout_secs = up->timeout_secs,
	};

	p->pg = pg;
	p->up = up;
	p->probe = upstream_probe_start(pg->base, pg->dns, &t, probe_done_cb, p);
	if (p->probe == NULL)
		return;
	pg->probe_count++;
	pg->probes_left++;
}

static void check_upstreams(struct popgate *pg, const struct settings *set)
{
	const struct conf *conf = set->conf;

	if (conf->upstream != NULL)
		probe_start(pg, set, conf->upstream);
	for (unsigned int i = 0; i < conf->route_count && pg->probe_count < POPGATE_PROBE_MAX; i++)
		probe_start(pg, set, &conf->routes[i]);
}

static void probes_free(struct popgate *pg)
{
	for (unsigned int i = 0; i < pg->probe_count; i++)
		upstream_probe_free(&pg->probes[i].probe);
	pg->probe_count = 0;
}

/* --check --connect: 0 when every probed upstream answers. */
static int check_connect(struct popgate *pg)
{
	bool bad = false;

	pg->check_only = true;
	pg->base = event_base_new();
	if (pg->base == NULL || (pg->dns = resolver_new(pg->base, pg->conf->resolver)) == NULL) {
		fprintf(stderr, "popgate: out of memory\n");
		return -1;
	}
	check_upstreams(pg, pg->startup);
	while (pg->probes_left > 0 && event_base_loop(pg->base, 0) == 0)
		;
	for (unsigned int i = 0; i < pg->probe_count; i++)
		bad |= !pg->probes[i].ok;
	probes_free(pg);
	evdns_base_free(pg->dns, 0);
	event_base_free(pg->base);
	pg->dns = NULL;
	pg->base = NULL;
	return bad ? -1 : 0;
}

/*
 * --check: what start-up would refuse beyond the file and its TLS files
 * (loaded already): the state store's settings, the run user, listen
 * addresses that do not resolve. Binding (a port in use) is left to the
 * start. 0, or -1 with a malloc'd *error_r.
 */
static int check_startup(const struct conf *conf, char **error_r)
{
	struct cache_settings cache = cache_settings_of(conf, NULL);

	if (cache_settings_validate(&cache, error_r) < 0)
		return -1;
	if (conf->user != NULL && daemon_check_user(conf->user, conf->group, error_r) < 0)
		return -1;
	for (unsigned int i = 0; i < conf->listen_count; i++) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
		struct addrinfo *res;
		int err = getaddrinfo(conf->listen[i].host, NULL, &hints, &res);

		if (err != 0) {
			if (asprintf(error_r, "listen address %s: %s", conf->listen[i].host,
				     gai_strerror(err)) < 0)
				*error_r = NULL;
			return -1;
		}
		freeaddrinfo(res);
	}
	return 0;
}

/* --check: OAuth2 configured without a usable libcurl is no start-up
   error (the other routes serve), but said. */
static void check_oauth_library(const char *path, const struct conf *conf)
{
	const char *error;

	if (conf_wants_oauth(conf) && oauth_http_global_init(&error) < 0)
		fprintf(stderr, "popgate: %s: warning: %s; auth = oauth2 logins will answer "
			"-ERR [SYS/TEMP] and the enrolment page will be off\n", path, error);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 't' },
		{ "connect", no_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = POPGATE_DEFAULT_CONFIG;
	struct conf *conf;
	struct popgate pg;
	bool check_only = false, connect = false;
	char *error = NULL;
	int opt, ret = 1;

	/* "popgate NAME ...": a subcommand, which parses the rest itself. */
	if (argc >= 2 && argv[1][0] != '-') {
		const struct popgate_tool *tool = popgate_tool_find(argv[1]);

		if (tool == NULL) {
			fprintf(stderr, "popgate: unknown command \"%s\"\n", argv[1]);
			usage(stderr);
			return 2;
		}
		return tool->run(argc - 1, argv + 1);
	}
	while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'C':
			connect = true;
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
	if (optind != argc || (connect && !check_only)) {
		usage(stderr);
		return 2;
	}

	memset(&pg, 0, sizeof(pg));
	/* Absolute: a daemon changes to "/", and SIGHUP reads it again. */
	pg.path = realpath(path, NULL);
	if (pg.path == NULL) {
		fprintf(stderr, "popgate: %s: cannot open: %s\n", path, strerror(errno));
		return 1;
	}
	if (conf_load(pg.path, &conf, &error) < 0) {
		fprintf(stderr, "popgate: %s\n", error);
		free(error);
		free(pg.path);
		return 1;
	}
	log_open(LOG_TARGET_STDERR, conf->log_level, conf->log_ident, conf->log_facility);
	tls_init();
	/* The TLS files are loaded too: a bad certificate is found now. */
	pg.srv.settings = settings_new(conf, 1, &error);
	if (pg.srv.settings == NULL) {
		fprintf(stderr, "popgate: %s: %s\n", path, error);
		free(error);
		free(pg.path);
		return 1;
	}
	pg.startup = settings_ref(pg.srv.settings);
	pg.conf = pg.startup->conf;
	if (check_only) {
		int bad = check_startup(pg.conf, &error);

		if (!bad && connect && check_connect(&pg) < 0) {
			settings_unref(&pg.startup);
			settings_unref(&pg.srv.settings);
			free(pg.path);
			return 1;
		}
		settings_unref(&pg.startup);
		if (bad) {
			fprintf(stderr, "popgate: %s: %s\n", path, error);
			free(error);
			settings_unref(&pg.srv.settings);
			free(pg.path);
			return 1;
		}
		check_oauth_library(path, pg.conf);
		printf("popgate: %s: configuration OK\n", path);
		settings_unref(&pg.srv.settings);
		free(pg.path);
		return 0;
	}
	if (pg.conf->daemon && daemon_detach(&error) < 0) {
		fprintf(stderr, "popgate: %s\n", error);
		free(error);
		settings_unref(&pg.startup);
		settings_unref(&pg.srv.settings);
		free(pg.path);
		return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	/* Lock tokens only need to differ between sessions and restarts. */
	srandom((unsigned int)time(NULL) ^ (unsigned int)getpid() << 16);
	metrics_init();
	pg.base = event_base_new();
	pg.srv.limits = limits_new(POPGATE_LIMITS_ENTRIES);
	if (pg.base == NULL || pg.srv.limits == NULL) {
		log_error("event=startup_failed error=\"out of memory\"");
		goto out;
	}
	/* Non-blocking name resolution for upstream host names. */
	pg.dns = resolver_new(pg.base, pg.conf->resolver);
	if (pg.dns == NULL) {
		log_error("event=startup_failed error=\"cannot set up the resolver\"");
		goto out;
	}
	pg.srv.base = pg.base;
	pg.srv.dns = pg.dns;
	pg.srv.pool = imap_pool_new(pg.base);
	LIST_INIT(&pg.srv.list);
	/* Before the ports open: a SIGHUP sent as soon as popgate listens
	   must reload, not kill it. */
	pg.sig_term = evsignal_new(pg.base, SIGTERM, signal_cb, &pg);
	pg.sig_int = evsignal_new(pg.base, SIGINT, signal_cb, &pg);
	pg.sig_hup = evsignal_new(pg.base, SIGHUP, signal_cb, &pg);
	event_add(pg.sig_term, NULL);
	event_add(pg.sig_int, NULL);
	event_add(pg.sig_hup, NULL);
	/* Privileged first (ports, pid file), then the user's own. */
	listeners_fd_limit(pg.conf);
	listeners_fd_prepare(pg.base, pg.conf);
	if (setup_pidfile(&pg) < 0 ||
	    (pg.listeners = listeners_open(&pg.srv, pg.conf)) == NULL ||
	    setup_metrics(&pg) < 0 || setup_process(&pg) < 0 || setup_cache(&pg) < 0 ||
	    setup_oauth(&pg, pg.conf) < 0)
		goto out;


	log_info("event=started version=%s config=%s pid=%ld default_upstream=%s routes=%u",
		 POPGATE_VERSION, path, (long)getpid(),
		 pg.conf->upstream != NULL ? pg.conf->upstream->host : "-",
		 pg.conf->route_count);
	/* Start-up errors went to stderr, where the starting command shows
	   them; from here on the configured target. */
	log_open(pg.conf->log_target, pg.conf->log_level, pg.conf->log_ident,
		 pg.conf->log_facility);
	daemon_ready(true, pg.conf->log_target == LOG_TARGET_STDERR);
	check_upstreams(&pg, pg.startup);
	event_base_dispatch(pg.base);
	/* Let the deferred frees of closed sessions run. */
	event_base_loop(pg.base, EVLOOP_NONBLOCK);
	log_info("event=stopped sessions_total=%llu",
		 (unsigned long long)pg.srv.sessions_total);
	ret = 0;
out:
	if (ret != 0)
		daemon_ready(false, true);
	probes_free(&pg);
	listeners_free(&pg.listeners);
	metrics_http_free(&pg.metrics);
	if (pg.sig_term != NULL)
		event_free(pg.sig_term);
	if (pg.sig_int != NULL)
		event_free(pg.sig_int);
	if (pg.sig_hup != NULL)
		event_free(pg.sig_hup);
	if (pg.stop_timer != NULL)
		event_free(pg.stop_timer);
	/* After the sessions, before the cache its refreshes use. */
	enrol_web_free(&pg.enrol);
	oauth_tokens_free(&pg.srv.oauth);
	oauth_http_free(&pg.http);
	/* After the sessions: stops a managed redis-server. */
	imap_pool_free(&pg.srv.pool);
	pop3_server_cleanup(&pg.srv);
	cache_free(&pg.srv.cache);
	limits_free(&pg.srv.limits);
	daemon_pidfile_remove(&pg.pidfile);
	if (pg.dns != NULL)
		evdns_base_free(pg.dns, 0);
	if (pg.base != NULL)
		event_base_free(pg.base);
	settings_unref(&pg.srv.settings);
	settings_unref(&pg.startup);
	free(pg.path);
	log_close();
	return ret;
}
