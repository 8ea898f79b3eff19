/* What --check looks at beyond the file, and the upstream probes of the
   start and of --check --connect; see popgate.h. */

#include "popgate.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "oauth_http.h"
#include "pop3_account.h"
#include "resolver.h"
#include "settings.h"
#include "text.h"
#include "upstream_probe.h"

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

void popgate_check_upstreams(struct popgate *pg, const struct settings *set)
{
	const struct conf *conf = set->conf;

	if (conf->upstream != NULL)
		probe_start(pg, set, conf->upstream);
	for (unsigned int i = 0; i < conf->route_count && pg->probe_count < POPGATE_PROBE_MAX; i++)
		probe_start(pg, set, &conf->routes[i]);
}

void popgate_probes_free(struct popgate *pg)
{
	for (unsigned int i = 0; i < pg->probe_count; i++)
		upstream_probe_free(&pg->probes[i].probe);
	pg->probe_count = 0;
}

/* --check --connect: 0 when every probed upstream answers. */
int popgate_check_connect(struct popgate *pg)
{
	bool bad = false;

	pg->check_only = true;
	pg->base = event_base_new();
	if (pg->base == NULL || (pg->dns = resolver_new(pg->base, pg->conf->resolver)) == NULL) {
		fprintf(stderr, "popgate: out of memory\n");
		return -1;
	}
	popgate_check_upstreams(pg, pg->startup);
	while (pg->probes_left > 0 && event_base_loop(pg->base, 0) == 0)
		;
	for (unsigned int i = 0; i < pg->probe_count; i++)
		bad |= !pg->probes[i].ok;
	popgate_probes_free(pg);
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
int popgate_check_startup(const struct conf *conf, char **error_r)
{
	struct cache_settings cache = popgate_cache_settings(conf, NULL);

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
void popgate_check_oauth_library(const char *path, const struct conf *conf)
{
	const char *error;

	if (popgate_wants_oauth(conf) && oauth_http_global_init(&error) < 0)
		fprintf(stderr, "popgate: %s: warning: %s; auth = oauth2 logins will answer "
			"-ERR [SYS/TEMP] and the enrolment page will be off\n", path, error);
}
