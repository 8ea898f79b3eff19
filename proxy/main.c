/* popgate: the command line, then the daemon's run from start to stop,
   whose steps are in startup.c, startup_check.c and signals.c (see
   popgate.h); "popgate NAME ..." runs a subcommand of proxy/tools/. */

#include <errno.h>
#include <getopt.h>
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
#include "popgate.h"
#include "server.h"
#include "settings.h"
#include "sockout.h"
#include "tls.h"
#include "resolver.h"
#include "tools.h"
#include "version.h"

/* Entries per table of the per-IP and auth failure records. */
#define POPGATE_LIMITS_ENTRIES 100000

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
		int bad = popgate_check_startup(pg.conf, &error);

		if (!bad && connect && popgate_check_connect(&pg) < 0) {
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
		popgate_check_oauth_library(path, pg.conf);
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
	pg.base = sockout_base_new();
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
	popgate_signals_start(&pg);
	/* Privileged first (ports, pid file), then the user's own. */
	listeners_fd_limit(pg.conf);
	listeners_fd_prepare(pg.base, pg.conf);
	if (popgate_setup_pidfile(&pg) < 0 ||
	    (pg.listeners = listeners_open(&pg.srv, pg.conf)) == NULL ||
	    popgate_setup_metrics(&pg) < 0 || popgate_setup_process(&pg) < 0 ||
	    popgate_setup_cache(&pg) < 0 || popgate_setup_oauth(&pg, pg.conf) < 0)
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
	popgate_check_upstreams(&pg, pg.startup);
	event_base_dispatch(pg.base);
	/* Let the deferred frees of closed sessions run. */
	event_base_loop(pg.base, EVLOOP_NONBLOCK);
	log_info("event=stopped sessions_total=%llu",
		 (unsigned long long)pg.srv.sessions_total);
	ret = 0;
out:
	if (ret != 0)
		daemon_ready(false, true);
	popgate_probes_free(&pg);
	listeners_free(&pg.listeners);
	metrics_http_free(&pg.metrics);
	popgate_signals_free(&pg);
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
