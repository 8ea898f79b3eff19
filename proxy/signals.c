/* The signals of the running daemon: SIGTERM and SIGINT stop it, after a
   grace for the sessions; SIGHUP reads the file again; see popgate.h. */

#include "popgate.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conf.h"
#include "enrol_web.h"
#include "imap_pool.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "settings.h"

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

/* Settings read only at start: a reload names those it cannot apply. */
static void reload_check_fixed(const struct conf *old, const struct conf *new)
{
	char what[200] = "";

	if (!listen_equal(old, new) || old->reuse_port != new->reuse_port)
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

/*
 * SIGHUP: the file is read again into a new generation. New sessions get
 * it; running ones keep the one they started with. A file that does not
 * load (or whose TLS files do not) changes nothing.
 */
static void reload(struct popgate *pg)
{
	struct settings *old = pg->srv.settings, *set;
	struct http_limits limits;
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
	limits = popgate_metrics_limits(set->conf);
	metrics_http_set_limits(pg->metrics, &limits);
	enrol_web_set_limits(pg->enrol, set->conf);
	/* The first oauth2 route: OAuth2 is set up now (a failure is logged;
	   its logins then fail with a temporary error). */
	popgate_setup_oauth(pg, set->conf);
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
	/* What was already queued is served, then nothing new. */
	listeners_close(&pg->listeners);
	pg->srv.stopping = true;
	metrics_http_free(&pg->metrics);
	pg->stop_timer = event_new(pg->base, -1, EV_PERSIST, stop_tick_cb, pg);
	event_add(pg->stop_timer, &second);
	stop_tick_cb(-1, 0, pg);
}

void popgate_signals_start(struct popgate *pg)
{
	pg->sig_term = evsignal_new(pg->base, SIGTERM, signal_cb, pg);
	pg->sig_int = evsignal_new(pg->base, SIGINT, signal_cb, pg);
	pg->sig_hup = evsignal_new(pg->base, SIGHUP, signal_cb, pg);
	event_add(pg->sig_term, NULL);
	event_add(pg->sig_int, NULL);
	event_add(pg->sig_hup, NULL);
}

void popgate_signals_free(struct popgate *pg)
{
	if (pg->sig_term != NULL)
		event_free(pg->sig_term);
	if (pg->sig_int != NULL)
		event_free(pg->sig_int);
	if (pg->sig_hup != NULL)
		event_free(pg->sig_hup);
	if (pg->stop_timer != NULL)
		event_free(pg->stop_timer);
}
