/* Finding, probing and logging in for popgate setup; contracts in
   setup_find.h. */

#include "setup_find.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "imap_login.h"
#include "resolver.h"
#include "setup_srv.h"
#include "text.h"
#include "upstream_probe.h"

#define SETUP_MAX_CANDIDATES (2 * DNS_SRV_MAX + 5)

enum setup_source {
	SETUP_SRC_TABLE,
	SETUP_SRC_SRV_IMAPS,
	SETUP_SRC_SRV_IMAP,
	SETUP_SRC_NAMES,
	SETUP_SRC_DONE,
};

struct setup_find {
	const struct setup_find_settings *set;
	struct setup_server cand[SETUP_MAX_CANDIDATES];
	unsigned int n, next;
	enum setup_source source;
	struct upstream_probe *probe;
	struct setup_srv *srv;
	int found;                     /* index, or -1 */
};

const char *setup_tls_words(enum imap_tls_mode tls)
{
	switch (tls) {
	case IMAP_TLS_IMAPS:
		return "SSL/TLS";
	case IMAP_TLS_STARTTLS:
		return "STARTTLS";
	case IMAP_TLS_NONE:
		break;
	}
	return "none";
}

static void setup_add(struct setup_find *f, const char *host, uint16_t port,
		      enum imap_tls_mode tls, enum provider_login login, const char *source)
{
	struct setup_server *c;

	if (f->n == SETUP_MAX_CANDIDATES || strlen(host) > PROVIDER_HOST_MAX)
		return;
	for (unsigned int i = 0; i < f->n; i++) {
		if (f->cand[i].port == port && f->cand[i].tls == tls &&
		    ascii_eq(f->cand[i].host, strlen(f->cand[i].host), host))
			return;
	}
	c = &f->cand[f->n++];
	strcpy(c->host, host);
	c->port = port;
	c->tls = tls;
	c->login = login;
	c->source = source;
}

static void setup_step(struct setup_find *f);

static void setup_step_cb(evutil_socket_t fd, short what, void *arg)
{
	setup_step(arg);
}

/* Goes on from the event loop: the probe or lookup that called us is
   freed there, outside its own callback. */
static void setup_continue(struct setup_find *f)
{
	struct timeval now = { 0, 0 };

	event_base_once(f->set->base, -1, EV_TIMEOUT, setup_step_cb, f, &now);
}

static void setup_probed(void *ctx, bool ok, const char *error)
{
	struct setup_find *f = ctx;
	const struct setup_server *c = &f->cand[f->next];
	char why[300];

	text_escape_quoted(error != NULL ? error : "", error != NULL ? strlen(error) : 0, why,
			   sizeof(why));
	fprintf(f->set->out, "  %s:%u %s (%s): %s%s\n", c->host, c->port, setup_tls_words(c->tls),
		c->source, ok ? "answers, certificate valid" : "no: ", ok ? "" : why);
	if (ok) {
		f->found = (int)f->next;
		event_base_loopbreak(f->set->base);
		return;
	}
	f->next++;
	setup_continue(f);
}

static void setup_srv_done(void *ctx, enum dns_srv_result r, const struct dns_srv *srv,
			   size_t n, const char *error)
{
	struct setup_find *f = ctx;
	bool imaps = f->source == SETUP_SRC_SRV_IMAPS;
	const char *name = imaps ? "_imaps._tcp" : "_imap._tcp";

	if (r == DNS_SRV_OK && n == 0)
		fprintf(f->set->out, "  DNS SRV %s.%s: no records\n", name, f->set->domain);
	else if (r == DNS_SRV_NXDOMAIN)
		fprintf(f->set->out, "  DNS SRV %s.%s: no such name\n", name, f->set->domain);
	else if (r != DNS_SRV_OK)
		fprintf(f->set->out, "  DNS SRV %s.%s: %s\n", name, f->set->domain,
			error != NULL ? error : r == DNS_SRV_TRUNCATED ?
			"the answer was truncated (too large for UDP)" : "the DNS server failed");
	for (size_t i = 0; r == DNS_SRV_OK && i < n; i++) {
		/* "." says there is no such service (RFC 2782, RFC 6186). */
		if (srv[i].target[0] == '\0' || srv[i].port == 0) {
			fprintf(f->set->out, "  DNS SRV %s.%s: the domain offers no %s\n", name,
				f->set->domain, imaps ? "IMAP over TLS" : "IMAP");
			continue;
		}
		setup_add(f, srv[i].target, srv[i].port, imaps ? IMAP_TLS_IMAPS : IMAP_TLS_STARTTLS,
			  PROVIDER_LOGIN_FULL, imaps ? "DNS SRV _imaps._tcp" : "DNS SRV _imap._tcp");
	}
	f->source++;
	setup_continue(f);
}

static void setup_ask_srv(struct setup_find *f)
{
	struct sockaddr_storage ns;
	socklen_t ns_len = sizeof(ns);
	char name[DNS_NAME_MAX + 1];
	const char *error = NULL;

	snprintf(name, sizeof(name), "%s.%s",
		 f->source == SETUP_SRC_SRV_IMAPS ? "_imaps._tcp" : "_imap._tcp", f->set->domain);
	if (resolver_server(f->set->dns, &ns, &ns_len) < 0) {
		fprintf(f->set->out, "  DNS SRV %s: no DNS server configured\n", name);
	} else {
		f->srv = setup_srv_start(f->set->base, (struct sockaddr *)&ns, ns_len, name,
					 f->set->timeout_secs, setup_srv_done, f, &error);
		if (f->srv != NULL)
			return;
		fprintf(f->set->out, "  DNS SRV %s: %s\n", name, error);
	}
	f->source++;
	setup_continue(f);
}

static void setup_add_names(struct setup_find *f)
{
	static const char *const prefixes[] = { "imap", "mail" };
	char host[PROVIDER_HOST_MAX + 8];

	for (size_t i = 0; i < 2; i++) {
		snprintf(host, sizeof(host), "%s.%s", prefixes[i], f->set->domain);
		setup_add(f, host, 993, IMAP_TLS_IMAPS, PROVIDER_LOGIN_FULL, "conventional name");
		setup_add(f, host, 143, IMAP_TLS_STARTTLS, PROVIDER_LOGIN_FULL,
			  "conventional name");
	}
}

static void setup_step(struct setup_find *f)
{
	upstream_probe_free(&f->probe);
	setup_srv_free(&f->srv);
	if (f->next < f->n) {
		const struct setup_server *c = &f->cand[f->next];
		struct upstream_probe_target t = {
			.host = c->host, .port = c->port, .tls = c->tls,
			.tls_ctx = f->set->tls, .timeout_secs = f->set->timeout_secs,
		};

		f->probe = upstream_probe_start(f->set->base, f->set->dns, &t, setup_probed, f);
		if (f->probe == NULL) {
			fprintf(f->set->out, "  out of memory\n");
			event_base_loopbreak(f->set->base);
		}
		return;
	}
	switch (f->source) {
	case SETUP_SRC_TABLE:
		f->source++;
		setup_step(f);
		return;
	case SETUP_SRC_SRV_IMAPS:
	case SETUP_SRC_SRV_IMAP:
		setup_ask_srv(f);
		return;
	case SETUP_SRC_NAMES:
		setup_add_names(f);
		f->source++;
		setup_step(f);
		return;
	case SETUP_SRC_DONE:
		break;
	}
	event_base_loopbreak(f->set->base);
}

int setup_find(const struct setup_find_settings *set, struct setup_server *found_r)
{
	struct setup_find *f = calloc(1, sizeof(*f));
	int ret = -1;

	if (f == NULL)
		return -1;
	f->set = set;
	f->found = -1;
	if (set->provider != NULL)
		setup_add(f, set->provider->host, set->provider->port,
			  set->provider->tls == PROVIDER_TLS_IMAPS ? IMAP_TLS_IMAPS :
			  IMAP_TLS_STARTTLS, set->provider->login, "the built-in table");
	setup_step(f);
	event_base_loop(set->base, 0);
	upstream_probe_free(&f->probe);
	setup_srv_free(&f->srv);
	if (f->found >= 0) {
		*found_r = f->cand[f->found];
		ret = 0;
	}
	free(f);
	return ret;
}

/* ---- one probe ---- */

struct setup_one {
	struct event_base *base;
	bool done, ok;
	char *err;
	size_t err_size;
};

static void setup_one_done(void *ctx, bool ok, const char *error)
{
	struct setup_one *o = ctx;

	o->done = true;
	o->ok = ok;
	if (!ok)
		snprintf(o->err, o->err_size, "%s", error);
	event_base_loopbreak(o->base);
}

int setup_probe(struct event_base *base, struct evdns_base *dns, const char *host,
		uint16_t port, enum imap_tls_mode tls, struct tls_client_ctx *tls_ctx,
		unsigned int timeout_secs, char *err, size_t err_size)
{
	struct setup_one o = { base, false, false, err, err_size };
	struct upstream_probe_target t = {
		.host = host, .port = port, .tls = tls, .tls_ctx = tls_ctx,
		.timeout_secs = timeout_secs,
	};
	struct upstream_probe *p = upstream_probe_start(base, dns, &t, setup_one_done, &o);

	if (p == NULL) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	while (!o.done && event_base_loop(base, 0) == 0)
		;
	upstream_probe_free(&p);
	if (!o.done)
		snprintf(err, err_size, "no answer");
	return o.ok ? 0 : -1;
}

/* ---- the login ---- */

struct setup_login {
	struct event_base *base;
	struct imap_client *imap;
	const char *user, *pass;
	enum setup_login_result result;
	bool done;
	char *err;
	size_t err_size;
};

static void setup_login_end(struct setup_login *l, enum setup_login_result r, const char *why)
{
	l->result = r;
	l->done = true;
	if (why != NULL)
		text_escape_quoted(why, strlen(why), l->err, l->err_size);
	event_base_loopbreak(l->base);
}

static void setup_logged_out(void *ctx)
{
	struct setup_login *l = ctx;

	setup_login_end(l, SETUP_LOGIN_OK, NULL);
}

static void setup_login_done(void *ctx, const struct imap_reply *reply)
{
	struct setup_login *l = ctx;

	if (reply->result == IMAP_REPLY_OK) {
		if (imap_client_logout(l->imap, setup_logged_out, l) < 0)
			setup_login_end(l, SETUP_LOGIN_OK, NULL);
		return;
	}
	setup_login_end(l, reply->result == IMAP_REPLY_FAILED ? SETUP_LOGIN_FAILED :
			SETUP_LOGIN_REFUSED, reply->text != NULL ? reply->text : "");
}

static void setup_login_connected(void *ctx, bool ok, const char *error)
{
	static const struct imap_cmd_handlers h = { .done = setup_login_done };
	struct setup_login *l = ctx;
	const char *why;

	if (!ok) {
		setup_login_end(l, SETUP_LOGIN_FAILED, error);
		return;
	}
	if (imap_client_login(l->imap, l->user, strlen(l->user), l->pass, strlen(l->pass), &h, l,
			      &why) < 0)
		setup_login_end(l, SETUP_LOGIN_FAILED, why);
}

enum setup_login_result setup_login(struct event_base *base, struct evdns_base *dns,
				    struct tls_client_ctx *tls_ctx,
				    const struct setup_server *server, unsigned int timeout_secs,
				    const char *user, const char *pass, char *err,
				    size_t err_size)
{
	struct imap_client_settings set = {
		.host = server->host, .port = server->port, .tls = server->tls,
		.tls_ctx = tls_ctx, .timeout_secs = timeout_secs, .log_id = "setup=1",
	};
	struct setup_login l = { .base = base, .user = user, .pass = pass,
				 .result = SETUP_LOGIN_FAILED, .err = err, .err_size = err_size };

	snprintf(err, err_size, "no answer");
	l.imap = imap_client_new(base, dns, &set);
	if (l.imap == NULL) {
		snprintf(err, err_size, "out of memory");
		return SETUP_LOGIN_FAILED;
	}
	imap_client_connect(l.imap, setup_login_connected, &l);
	while (!l.done && event_base_loop(base, 0) == 0)
		;
	imap_client_close(l.imap);
	imap_client_free(&l.imap);
	return l.result;
}
