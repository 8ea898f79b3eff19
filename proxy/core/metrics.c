/* Counters for Prometheus and their exposition (metrics_http.c serves it). */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "metrics.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const login_names[] = {
	[METRICS_LOGIN_OK] = "ok",
	[METRICS_LOGIN_AUTH_FAILED] = "auth_failed",
	[METRICS_LOGIN_NO_ROUTE] = "no_route",
	[METRICS_LOGIN_UPSTREAM_UNAVAILABLE] = "upstream_unavailable",
	[METRICS_LOGIN_UPSTREAM_ERROR] = "upstream_error",
	[METRICS_LOGIN_IN_USE] = "in_use",
	[METRICS_LOGIN_STATE_STORE] = "state_store",
	[METRICS_LOGIN_LOGIN_DELAY] = "login_delay",
};
_Static_assert(N(login_names) == METRICS_LOGIN_COUNT, "login_names");

static const char *const refusal_names[] = {
	[METRICS_REFUSED_MAX_CONNECTIONS] = "max_connections",
	[METRICS_REFUSED_MAX_PER_IP] = "max_connections_per_ip",
	[METRICS_REFUSED_SHUTTING_DOWN] = "shutting_down",
	[METRICS_REFUSED_MAX_UNAUTHENTICATED] = "max_unauthenticated",
	[METRICS_REFUSED_PROXY_UNTRUSTED] = "proxy_untrusted",
	[METRICS_REFUSED_PROXY_HEADER] = "proxy_header",
};
_Static_assert(N(refusal_names) == METRICS_REFUSED_COUNT, "refusal_names");

static const char *const cmd_names[] = {
	[METRICS_CMD_RETR] = "retr",
	[METRICS_CMD_TOP] = "top",
	[METRICS_CMD_DELE] = "dele",
};
_Static_assert(N(cmd_names) == METRICS_CMD_COUNT, "cmd_names");

/* Upper bounds of the connect latency buckets; +Inf comes after them. */
static const double bucket_le[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
static const char *const bucket_label[] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
	"5", "10"
};
_Static_assert(N(bucket_le) == N(bucket_label), "bucket tables");
#define BUCKETS N(bucket_le)

struct route {
	char *name;             /* the label value, valid UTF-8 */
	char *escaped;          /* the same, escaped for the exposition */
	/* Used with a route name (not only as "none"): all its series are
	   shown, zeros included. */
	bool named;
	uint64_t logins[METRICS_LOGIN_COUNT];
	uint64_t connect_bucket[BUCKETS + 1];  /* not cumulative; last: > 10 s */
	double connect_sum;
	uint64_t connect_failures;
	uint64_t bytes_out;
	uint64_t commands[METRICS_CMD_COUNT];
};

/* Twice the most routes there can be ("none" and "other" on top of the
   cap), a power of two: open addressing stays short. */
#define SLOTS 4096
_Static_assert(SLOTS >= 2 * (METRICS_MAX_ROUTES + 2) && (SLOTS & (SLOTS - 1)) == 0,
	       "SLOTS");

static struct {
	double start_time;      /* 0: not taken yet */
	uint64_t sessions_current;
	uint64_t sessions_total;
	uint64_t refused[METRICS_REFUSED_COUNT];
	uint64_t proxied[2];    /* PROXY headers taken, v1 and v2 */
	uint64_t redis_errors;
	uint64_t redis_failovers;
	uint64_t auth_delayed;
	uint64_t reloads_ok;
	uint64_t prefetch_used;
	uint64_t prefetch_dropped;
	uint64_t shared[METRICS_SHARED_COUNT];
	uint64_t retention_passes[3];     /* removed, nothing, skipped */
	uint64_t retention_removed;
	uint64_t reloads_failed;
	uint64_t oauth_refresh[6];
	uint64_t oauth_reauth;
	uint64_t enrol_ok, enrol_failed;
	uint64_t throttled[5];
	uint64_t endpoint_open, endpoint_refused, endpoint_timeouts;
	/* routes in order of first use; the cap counts all but none/other */
	struct route *routes[METRICS_MAX_ROUTES + 2];
	unsigned int route_count;
	unsigned int capped_count;
	struct route *slots[SLOTS];
} m;

const char *metrics_login_name(enum metrics_login result)
{
	return (unsigned int)result < METRICS_LOGIN_COUNT ? login_names[result] : "unknown";
}

const char *metrics_refusal_name(enum metrics_refusal why)
{
	return (unsigned int)why < METRICS_REFUSED_COUNT ? refusal_names[why] : "unknown";
}

void metrics_init(void)
{
	struct timespec ts;

	if (m.start_time != 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	m.start_time = (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3;
}

/* ---------------------------------------------------------------- routes */

/* Length of the valid UTF-8 sequence at s, 0 if it is not one (overlong
   forms, surrogates and code points past U+10FFFF are not). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	uint32_t cp, min;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		/* also stops at the terminating NUL */
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* The label value for a route name, cut at METRICS_ROUTE_LABEL_MAX. Two
   names with the same label share one route: no duplicate series. */
static void route_label(const char *route, char label[METRICS_ROUTE_LABEL_MAX + 1])
{
	const unsigned char *s = (const unsigned char *)route;
	size_t o = 0, n;

	while (*s != '\0') {
		n = utf8_len(s);
		if (n == 0) {
			if (o + 4 > METRICS_ROUTE_LABEL_MAX)
				break;
			snprintf(label + o, 5, "\\x%02x", *s);
			o += 4;
			s++;
			continue;
		}
		if (o + n > METRICS_ROUTE_LABEL_MAX)
			break;
		memcpy(label + o, s, n);
		o += n;
		s += n;
	}
	label[o] = '\0';
}

static size_t label_escape(const char *src, char *dst)
{
	size_t o = 0;

	for (; *src != '\0'; src++) {
		if (*src == '\\' || *src == '"') {
			dst[o++] = '\\';
			dst[o++] = *src;
		} else if (*src == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else {
			dst[o++] = *src;
		}
	}
	dst[o] = '\0';
	return o;
}

static uint32_t route_hash(const char *s)
{
	uint32_t h = 2166136261u;      /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static bool route_uncapped(const char *label)
{
	return strcmp(label, "none") == 0 || strcmp(label, "other") == 0;
}

static struct route *route_add(const char *label, unsigned int slot)
{
	size_t len = strlen(label);
	struct route *r = calloc(1, sizeof(*r));
	char *mem = malloc(len + 1 + 2 * len + 1);

	if (r == NULL || mem == NULL) {
		free(r);
		free(mem);
		return NULL;
	}
	r->name = mem;
	memcpy(r->name, label, len + 1);
	r->escaped = mem + len + 1;
	label_escape(label, r->escaped);
	m.slots[slot] = r;
	m.routes[m.route_count++] = r;
	if (!route_uncapped(label))
		m.capped_count++;
	return r;
}

static struct route *route_find(const char *label, bool named)
{
	unsigned int slot = route_hash(label) & (SLOTS - 1);
	struct route *r;

	while ((r = m.slots[slot]) != NULL) {
		if (strcmp(r->name, label) == 0)
			break;
		slot = (slot + 1) & (SLOTS - 1);
	}
	if (r == NULL) {
		if (m.capped_count >= METRICS_MAX_ROUTES && !route_uncapped(label))
			return route_find("other", true);
		r = route_add(label, slot);
		if (r == NULL)
			return NULL;
	}
	if (named)
		r->named = true;
	return r;
}

/* NULL: the pseudo route "none" (before login). */
static struct route *route_get(const char *route)
{
	char label[METRICS_ROUTE_LABEL_MAX + 1];

	metrics_init();
	if (route == NULL)
		return route_find("none", false);
	route_label(route, label);
	return route_find(label, true);
}

/* ---------------------------------------------------------------- counting */

void metrics_session_opened(void)
{
	metrics_init();
	m.sessions_current++;
	m.sessions_total++;
}

void metrics_session_closed(void)
{
	metrics_init();
	if (m.sessions_current > 0)
		m.sessions_current--;
}

void metrics_refused(enum metrics_refusal why)
{
	metrics_init();
	if ((unsigned int)why < METRICS_REFUSED_COUNT)
		m.refused[why]++;
}

void metrics_proxied(unsigned int version)
{
	metrics_init();
	if (version == 1 || version == 2)
		m.proxied[version - 1]++;
}

void metrics_login(const char *route, enum metrics_login result)
{
	struct route *r = route_get(route);

	if (r != NULL && (unsigned int)result < METRICS_LOGIN_COUNT)
		r->logins[result]++;
}

void metrics_upstream_connect(const char *route, double seconds, bool ok)
{
	struct route *r = route_get(route);
	size_t i;

	if (r == NULL)
		return;
	if (!ok) {
		r->connect_failures++;
		return;
	}
	if (!(seconds >= 0))
		seconds = 0;
	for (i = 0; i < BUCKETS && seconds > bucket_le[i]; i++)
		;
	r->connect_bucket[i]++;
	r->connect_sum += seconds;
}

void metrics_bytes_out(const char *route, uint64_t n)
{
	struct route *r = route_get(route);

	if (r != NULL)
		r->bytes_out += n;
}

void metrics_command(const char *route, enum metrics_cmd cmd)
{
	struct route *r = route_get(route);

	if (r != NULL && (unsigned int)cmd < METRICS_CMD_COUNT)
		r->commands[cmd]++;
}

void metrics_redis_error(void)
{
	metrics_init();
	m.redis_errors++;
}

void metrics_retention(enum metrics_retention result, uint64_t removed)
{
	metrics_init();
	if ((unsigned int)result < 3)
		m.retention_passes[result]++;
	m.retention_removed += removed;
}

static const char *const shared_names[] = {
	[METRICS_SHARED_USED] = "used",
	[METRICS_SHARED_UNUSED] = "unused",
	[METRICS_SHARED_LATE] = "late",
	[METRICS_SHARED_UNAVAILABLE] = "unavailable",
	[METRICS_SHARED_STORED] = "stored",
	[METRICS_SHARED_REFUSED] = "refused",
	[METRICS_SHARED_STORE_FAILED] = "store_failed",
};
_Static_assert(sizeof(shared_names) / sizeof(shared_names[0]) == METRICS_SHARED_COUNT,
	       "names must match enum metrics_shared");

void metrics_listing_shared(enum metrics_shared state)
{
	metrics_init();
	if ((unsigned int)state < METRICS_SHARED_COUNT)
		m.shared[state]++;
}

void metrics_prefetch(bool used)
{
	metrics_init();
	if (used)
		m.prefetch_used++;
	else
		m.prefetch_dropped++;
}

void metrics_redis_failover(void)
{
	metrics_init();
	m.redis_failovers++;
}

void metrics_auth_delayed(void)
{
	metrics_init();
	m.auth_delayed++;
}

void metrics_reload(bool ok)
{
	metrics_init();
	if (ok)
		m.reloads_ok++;
	else
		m.reloads_failed++;
}

static const char *const oauth_refresh_names[] = {
	"ok", "invalid_grant", "error", "unavailable", "timeout", "shared",
};

void metrics_oauth_refresh(const char *result)
{
	size_t i;

	metrics_init();
	for (i = 0; i < 6 && strcmp(oauth_refresh_names[i], result) != 0; i++)
		;
	m.oauth_refresh[i < 6 ? i : 2]++;
}

static const char *const throttled_names[] = {
	"throttled", "limit", "unavailable", "connections", "other",
};

void metrics_upstream_throttled(const char *code)
{
	size_t i;

	metrics_init();
	for (i = 0; i < 4 && strcmp(throttled_names[i], code) != 0; i++)
		;
	m.throttled[i]++;
}

void metrics_oauth_reauth(const char *route)
{
	(void)route;
	metrics_init();
	m.oauth_reauth++;
}

void metrics_oauth_enrolment(bool ok)
{
	metrics_init();
	if (ok)
		m.enrol_ok++;
	else
		m.enrol_failed++;
}

void metrics_endpoint_connections(unsigned int open)
{
	metrics_init();
	m.endpoint_open = open;
}

void metrics_endpoint_refused(void)
{
	metrics_init();
	m.endpoint_refused++;
}

void metrics_endpoint_timed_out(void)
{
	metrics_init();
	m.endpoint_timeouts++;
}

void metrics_reset(void)
{
	for (unsigned int i = 0; i < m.route_count; i++) {
		free(m.routes[i]->name);
		free(m.routes[i]);
	}
	memset(&m, 0, sizeof(m));
}

/* ---------------------------------------------------------------- exposition */

struct out {
	struct evbuffer *buf;
	bool failed;
};

static void __attribute__((format(printf, 2, 3)))
put(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->failed)
		return;
	va_start(ap, fmt);
	if (evbuffer_add_vprintf(o->buf, fmt, ap) < 0)
		o->failed = true;
	va_end(ap);
}

static void family(struct out *o, const char *name, const char *type,
		   const char *help)
{
	put(o, "# HELP popgate_%s %s\n# TYPE popgate_%s %s\n", name, help, name, type);
}

/* The shortest form that reads back as the same double. */
static const char *fmt_double(double v, char buf[32])
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

static void render_histogram(struct out *o, const struct route *r)
{
	const char *name = "popgate_upstream_connect_seconds";
	uint64_t cum = 0;
	char num[32];

	for (size_t i = 0; i < BUCKETS; i++) {
		cum += r->connect_bucket[i];
		put(o, "%s_bucket{route=\"%s\",le=\"%s\"} %llu\n", name, r->escaped,
		    bucket_label[i], (unsigned long long)cum);
	}
	cum += r->connect_bucket[BUCKETS];
	put(o, "%s_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", name, r->escaped,
	    (unsigned long long)cum);
	put(o, "%s_sum{route=\"%s\"} %s\n", name, r->escaped,
	    fmt_double(r->connect_sum, num));
	put(o, "%s_count{route=\"%s\"} %llu\n", name, r->escaped,
	    (unsigned long long)cum);
}

/* One sample per value of the second label, for every named route; offset:
   of the uint64_t array in struct route that holds the values. */
static void render_by_name(struct out *o, const char *metric, const char *label,
			   const char *const *names, size_t count,
			   size_t offset)
{
	const struct route *r;
	const uint64_t *v;

	for (unsigned int i = 0; i < m.route_count; i++) {
		r = m.routes[i];
		v = (const uint64_t *)((const char *)r + offset);
		for (size_t k = 0; r->named && k < count; k++)
			put(o, "popgate_%s{route=\"%s\",%s=\"%s\"} %llu\n", metric,
			    r->escaped, label, names[k], (unsigned long long)v[k]);
	}
}

static void render_routes(struct out *o)
{
	const struct route *r;
	unsigned int i;

	family(o, "logins_total", "counter", "POP3 logins by route and result.");
	render_by_name(o, "logins_total", "result", login_names, METRICS_LOGIN_COUNT,
		       offsetof(struct route, logins));
	family(o, "upstream_connect_seconds", "histogram",
	       "Time to connect to the IMAP upstream, TLS included.");
	for (i = 0; i < m.route_count; i++)
		if (m.routes[i]->named)
			render_histogram(o, m.routes[i]);
	family(o, "upstream_connect_failures_total", "counter",
	       "Failed connections to the IMAP upstream.");
	for (i = 0; i < m.route_count; i++) {
		r = m.routes[i];
		if (r->named)
			put(o, "popgate_upstream_connect_failures_total{route=\"%s\"} %llu\n",
			    r->escaped, (unsigned long long)r->connect_failures);
	}
	family(o, "bytes_out_total", "counter",
	       "Octets sent to POP3 clients (route \"none\": before login).");
	for (i = 0; i < m.route_count; i++) {
		r = m.routes[i];
		put(o, "popgate_bytes_out_total{route=\"%s\"} %llu\n", r->escaped,
		    (unsigned long long)r->bytes_out);
	}
	family(o, "commands_total", "counter", "POP3 RETR, TOP and DELE commands.");
	render_by_name(o, "commands_total", "command", cmd_names, METRICS_CMD_COUNT,
		       offsetof(struct route, commands));
}

int metrics_render(struct evbuffer *dst)
{
	struct out o = { .buf = evbuffer_new(), .failed = false };
	char num[32];
	size_t k;

	if (o.buf == NULL)
		return -1;
	metrics_init();
	family(&o, "start_time_seconds", "gauge", "Start time of the process, unix seconds.");
	put(&o, "popgate_start_time_seconds %s\n", fmt_double(m.start_time, num));
	family(&o, "sessions_current", "gauge", "POP3 sessions open now.");
	put(&o, "popgate_sessions_current %llu\n", (unsigned long long)m.sessions_current);
	family(&o, "sessions_total", "counter", "POP3 sessions opened.");
	put(&o, "popgate_sessions_total %llu\n", (unsigned long long)m.sessions_total);
	family(&o, "connections_refused_total", "counter",
	       "Connections refused before the greeting.");
	for (k = 0; k < METRICS_REFUSED_COUNT; k++)
		put(&o, "popgate_connections_refused_total{reason=\"%s\"} %llu\n",
		    refusal_names[k], (unsigned long long)m.refused[k]);
	family(&o, "proxy_headers_total", "counter",
	       "Connections from load balancers that sent a valid PROXY header.");
	for (k = 0; k < 2; k++)
		put(&o, "popgate_proxy_headers_total{version=\"%zu\"} %llu\n", k + 1,
		    (unsigned long long)m.proxied[k]);
	render_routes(&o);
	family(&o, "redis_errors_total", "counter", "Failed requests to the state store.");
	put(&o, "popgate_redis_errors_total %llu\n", (unsigned long long)m.redis_errors);
	family(&o, "redis_failovers_total", "counter",
	       "Changes of the state store's master (Sentinel) or slot map (Cluster).");
	put(&o, "popgate_redis_failovers_total %llu\n",
	    (unsigned long long)m.redis_failovers);
	family(&o, "auth_delayed_total", "counter", "Authentication failures answered late.");
	put(&o, "popgate_auth_delayed_total %llu\n", (unsigned long long)m.auth_delayed);
	family(&o, "prefetch_total", "counter",
	       "Messages fetched ahead, by whether RETR used them or they were dropped.");
	put(&o, "popgate_prefetch_total{result=\"used\"} %llu\n",
	    (unsigned long long)m.prefetch_used);
	put(&o, "popgate_prefetch_total{result=\"dropped\"} %llu\n",
	    (unsigned long long)m.prefetch_dropped);
	family(&o, "listing_shared_total", "counter",
	       "The listing copy shared in Redis: read and used, unused, late, unavailable, "
	       "stored, refused, failed to store.");
	for (unsigned int i = 0; i < METRICS_SHARED_COUNT; i++)
		put(&o, "popgate_listing_shared_total{state=\"%s\"} %llu\n", shared_names[i],
		    (unsigned long long)m.shared[i]);
	family(&o, "retention_passes_total", "counter",
	       "Retention passes at QUIT: removed mail, removed none, skipped (busy or failed).");
	put(&o, "popgate_retention_passes_total{result=\"removed\"} %llu\n",
	    (unsigned long long)m.retention_passes[METRICS_RETENTION_REMOVED]);
	put(&o, "popgate_retention_passes_total{result=\"none\"} %llu\n",
	    (unsigned long long)m.retention_passes[METRICS_RETENTION_NONE]);
	put(&o, "popgate_retention_passes_total{result=\"skipped\"} %llu\n",
	    (unsigned long long)m.retention_passes[METRICS_RETENTION_SKIPPED]);
	family(&o, "retention_removed_total", "counter",
	       "Messages retention moved to the Trash or expunged upstream.");
	put(&o, "popgate_retention_removed_total %llu\n",
	    (unsigned long long)m.retention_removed);
	family(&o, "config_reloads_total", "counter", "Configuration reloads by result.");
	put(&o, "popgate_config_reloads_total{result=\"ok\"} %llu\n",
	    (unsigned long long)m.reloads_ok);
	put(&o, "popgate_config_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)m.reloads_failed);
	family(&o, "upstream_throttled_total", "counter",
	       "Upstream answers that throttled an account, by kind.");
	for (size_t i = 0; i < 5; i++)
		put(&o, "popgate_upstream_throttled_total{code=\"%s\"} %llu\n",
		    throttled_names[i], (unsigned long long)m.throttled[i]);
	family(&o, "oauth_refreshes_total", "counter", "OAuth2 token refreshes by result.");
	for (size_t i = 0; i < 6; i++)
		put(&o, "popgate_oauth_refreshes_total{result=\"%s\"} %llu\n",
		    oauth_refresh_names[i], (unsigned long long)m.oauth_refresh[i]);
	family(&o, "oauth_reauth_needed_total", "counter",
	       "Logins refused because the provider revoked the account's authorization.");
	put(&o, "popgate_oauth_reauth_needed_total %llu\n", (unsigned long long)m.oauth_reauth);
	family(&o, "oauth_enrolments_total", "counter",
	       "Enrolments through the enrolment page by result.");
	put(&o, "popgate_oauth_enrolments_total{result=\"ok\"} %llu\n",
	    (unsigned long long)m.enrol_ok);
	put(&o, "popgate_oauth_enrolments_total{result=\"failed\"} %llu\n",
	    (unsigned long long)m.enrol_failed);
	family(&o, "metrics_connections", "gauge",
	       "Connections open to this endpoint, the one asking included.");
	put(&o, "popgate_metrics_connections %llu\n", (unsigned long long)m.endpoint_open);
	family(&o, "metrics_refused_total", "counter",
	       "Connections to this endpoint refused at [metrics] max_connections.");
	put(&o, "popgate_metrics_refused_total %llu\n", (unsigned long long)m.endpoint_refused);
	family(&o, "metrics_timeouts_total", "counter",
	       "Connections to this endpoint closed at [metrics] request_timeout.");
	put(&o, "popgate_metrics_timeouts_total %llu\n",
	    (unsigned long long)m.endpoint_timeouts);
	if (!o.failed && evbuffer_add_buffer(dst, o.buf) < 0)
		o.failed = true;
	evbuffer_free(o.buf);
	return o.failed ? -1 : 0;
}
