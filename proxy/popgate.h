#ifndef POPGATE_H
#define POPGATE_H

/*
 * The daemon itself: what main() (main.c) holds while it runs, and the
 * steps it is made of: the start-up (startup.c), the checks of --check and
 * the upstream probes (startup_check.c), the signals: stop and reload
 * (signals.c). None of those files calls main.c or another of them but
 * startup.c.
 */

#include <stdbool.h>

#include "cache.h"
#include "metrics_http.h"
#include "server.h"

struct conf;
struct conf_upstream;
struct settings;

/* Upstreams probed at start and by --check --connect: the default and
   the first routes (a gateway with thousands of routes is not one whose
   first run needs telling). */
#define POPGATE_PROBE_MAX 16

struct popgate;

/* Whether one upstream answers (see popgate_check_upstreams). */
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

/* --- startup.c: each step 0, or -1 logged --- */

int popgate_setup_cache(struct popgate *pg);
int popgate_setup_oauth(struct popgate *pg, const struct conf *conf);
int popgate_setup_metrics(struct popgate *pg);
int popgate_setup_pidfile(struct popgate *pg);
int popgate_setup_process(struct popgate *pg);
/* [metrics] max_connections and request_timeout of conf. */
struct http_limits popgate_metrics_limits(const struct conf *conf);
/* The state store's settings from conf; dns may be NULL. */
struct cache_settings popgate_cache_settings(const struct conf *conf, struct evdns_base *dns);
/* A route (or the default upstream) with auth = oauth2, or the enrolment
   page. */
bool popgate_wants_oauth(const struct conf *conf);

/* --- startup_check.c --- */

/* Probes the default upstream and the first routes, each told once when
   it answers or not (with check_only: on stdout, the loop broken after
   the last). */
void popgate_check_upstreams(struct popgate *pg, const struct settings *set);
void popgate_probes_free(struct popgate *pg);
/* --check --connect: 0 when every probed upstream answers. */
int popgate_check_connect(struct popgate *pg);
/* --check: what start-up would refuse beyond the file; 0, or -1 with a
   malloc'd *error_r. */
int popgate_check_startup(const struct conf *conf, char **error_r);
/* --check: a warning on stderr when OAuth2 is configured without a usable
   libcurl. */
void popgate_check_oauth_library(const char *path, const struct conf *conf);

/* --- signals.c --- */

/* SIGTERM and SIGINT stop (a second one at once), SIGHUP reloads. */
void popgate_signals_start(struct popgate *pg);
/* The signal events and the stop timer; safe when none were made. */
void popgate_signals_free(struct popgate *pg);

#endif
