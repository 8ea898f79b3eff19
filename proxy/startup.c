/* The daemon's start-up steps, in the order main() runs them, and what a
   reload sets up again; see popgate.h. */

#include "popgate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "enrol_web.h"
#include "log.h"
#include "metrics.h"
#include "oauth_http.h"
#include "oauth_tokens.h"
#include "settings.h"

struct http_limits popgate_metrics_limits(const struct conf *conf)
{
	struct http_limits l = {
		.max_connections = conf->metrics_max_connections,
		.request_timeout_ms = conf->metrics_request_timeout_ms,
	};

	return l;
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

struct cache_settings popgate_cache_settings(const struct conf *conf,
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
int popgate_setup_cache(struct popgate *pg)
{
	struct cache_settings set = popgate_cache_settings(pg->conf, pg->dns);
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
bool popgate_wants_oauth(const struct conf *conf)
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
int popgate_setup_oauth(struct popgate *pg, const struct conf *conf)
{
	static const struct oauth_hooks hooks = { .refreshed = oauth_refreshed_hook };
	const char *http_error;

	if (pg->srv.oauth != NULL || !popgate_wants_oauth(conf))
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
		log_info("event=enrol_listening address=%s:%u tls=%s max_connections=%u "
			 "request_timeout_ms=%u", pg->conf->enrol_host, pg->conf->enrol_port,
			 pg->startup->client_tls != NULL ? "yes" : "no",
			 pg->conf->enrol_max_connections, pg->conf->enrol_request_timeout_ms);
	}
	return 0;
}

int popgate_setup_metrics(struct popgate *pg)
{
	struct http_limits limits = popgate_metrics_limits(pg->conf);
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
int popgate_setup_pidfile(struct popgate *pg)
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
int popgate_setup_process(struct popgate *pg)
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
