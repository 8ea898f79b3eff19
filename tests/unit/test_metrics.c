/* Metrics: the exposition after a sequence of events, line by line, checked
   against the text format (test_metrics_http.c: the HTTP endpoint). */
#include <check.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "metrics.h"

/* The exposition as one string, with a '\n' in front so that every line,
   the first included, can be searched as "\n<line>\n". */
static char *render(void)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *s;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(metrics_render(b), 0);
	n = evbuffer_get_length(b);
	s = malloc(n + 2);
	ck_assert_ptr_nonnull(s);
	s[0] = '\n';
	ck_assert_int_eq(evbuffer_remove(b, s + 1, n), (int)n);
	s[n + 1] = '\0';
	evbuffer_free(b);
	ck_assert_msg(n > 0 && s[n] == '\n', "exposition does not end with a newline");
	return s;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if (p > text && p[-1] == '\n' && p[n] == '\n')
			return true;
		p++;
	}
	return false;
}

static void __attribute__((format(printf, 2, 3)))
expect_line(const char *text, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ck_assert_msg(has_line(text, line), "missing line: %s\nin:%.1500s", line, text);
}

static void expect_no(const char *text, const char *part)
{
	ck_assert_msg(strstr(text, part) == NULL, "unexpected \"%s\" in:%.1500s", part, text);
}

static unsigned int count_prefix(const char *text, const char *prefix)
{
	unsigned int n = 0;
	size_t len = strlen(prefix);

	for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
		if (strncmp(p + 1, prefix, len) == 0)
			n++;
	return n;
}

/* ------------------------------------------------ a text format checker */

static const char *parse_name(const char *p, char *name, size_t size)
{
	size_t n = 0;

	if (!(isalpha((unsigned char)*p) || *p == '_' || *p == ':'))
		return NULL;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == ':') {
		ck_assert_uint_lt(n + 1, size);
		name[n++] = *p++;
	}
	name[n] = '\0';
	return p;
}

/* {name="value",...}: only \\ \" \n may follow a backslash. */
static const char *parse_labels(const char *p)
{
	char name[64];

	if (*p != '{')
		return p;
	p++;
	while (*p != '}') {
		p = parse_name(p, name, sizeof(name));
		ck_assert_msg(p != NULL && p[0] == '=' && p[1] == '"', "bad label");
		for (p += 2; *p != '"'; p++) {
			ck_assert_msg(*p != '\n' && *p != '\0', "unterminated label value");
			if (*p == '\\') {
				p++;
				ck_assert_msg(*p == '\\' || *p == '"' || *p == 'n',
					      "bad escape \\%c", *p);
			}
		}
		p++;
		if (*p == ',')
			p++;
		else
			ck_assert_msg(*p == '}', "bad label list");
	}
	return p + 1;
}

/* Every line is a HELP, a TYPE or a sample of the family typed last; each
   family is declared once. */
static void check_format(const char *text)
{
	char family[128] = "", type[32] = "", name[128], seen[2][32][128];
	unsigned int nseen[2] = { 0, 0 };
	const char *p = text + 1, *eol;

	for (; *p != '\0'; p = eol + 1) {
		eol = strchr(p, '\n');
		ck_assert_ptr_nonnull(eol);
		if (p[0] == '#') {
			int kind = strncmp(p, "# TYPE ", 7) == 0;
			const char *q;

			ck_assert_msg(kind || strncmp(p, "# HELP ", 7) == 0, "bad comment");
			q = parse_name(p + 7, name, sizeof(name));
			ck_assert_ptr_nonnull(q);
			ck_assert_msg(*q == ' ', "no text after the name");
			for (unsigned int i = 0; i < nseen[kind]; i++)
				ck_assert_msg(strcmp(seen[kind][i], name) != 0,
					      "%s declared twice", name);
			ck_assert_uint_lt(nseen[kind], 32);
			strcpy(seen[kind][nseen[kind]++], name);
			if (kind) {
				strcpy(family, name);
				ck_assert_int_eq(sscanf(q, " %31s", type), 1);
			}
			continue;
		}
		const char *q = parse_name(p, name, sizeof(name));
		char *end;

		ck_assert_msg(q != NULL, "bad sample line");
		ck_assert_msg(family[0] != '\0', "%s before any TYPE", name);
		if (strcmp(type, "histogram") == 0) {
			size_t n = strlen(family);

			ck_assert_msg(strncmp(name, family, n) == 0 &&
				      (strcmp(name + n, "_bucket") == 0 ||
				       strcmp(name + n, "_sum") == 0 ||
				       strcmp(name + n, "_count") == 0),
				      "%s outside its family %s", name, family);
		} else {
			ck_assert_msg(strcmp(name, family) == 0, "%s outside its family %s",
				      name, family);
		}
		q = parse_labels(q);
		ck_assert_msg(*q == ' ', "no value");
		strtod(q + 1, &end);
		ck_assert_msg(end == eol, "bad value in %.*s", (int)(eol - p), p);
	}
}

static const char *const families[] = {
	"start_time_seconds gauge", "sessions_current gauge",
	"sessions_total counter", "connections_refused_total counter",
	"logins_total counter", "upstream_connect_seconds histogram",
	"upstream_connect_failures_total counter", "bytes_out_total counter",
	"commands_total counter", "redis_errors_total counter",
	"redis_failovers_total counter",
	"auth_delayed_total counter", "config_reloads_total counter",
	"metrics_connections gauge", "metrics_refused_total counter",
	"metrics_timeouts_total counter",
};

static const char *const results[] = {
	"ok", "auth_failed", "no_route", "upstream_unavailable", "upstream_error",
	"in_use", "state_store", "login_delay",
};

static void setup(void)
{
	metrics_reset();
}

/* ------------------------------------------------ counters */

START_TEST(fresh_exposition)
{
	char *t = render();
	char line[128];
	const char *p;

	check_format(t);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		snprintf(line, sizeof(line), "# TYPE popgate_%s", families[i]);
		ck_assert_msg(has_line(t, line), "missing %s", line);
		snprintf(line, sizeof(line), "# HELP popgate_%.*s ",
			 (int)strcspn(families[i], " "), families[i]);
		ck_assert_uint_eq(count_prefix(t, line), 1);
	}
	expect_line(t, "popgate_sessions_current 0");
	expect_line(t, "popgate_sessions_total 0");
	expect_line(t, "popgate_connections_refused_total{reason=\"max_connections\"} 0");
	expect_line(t, "popgate_connections_refused_total{reason=\"max_connections_per_ip\"} 0");
	expect_line(t, "popgate_connections_refused_total{reason=\"shutting_down\"} 0");
	expect_line(t, "popgate_redis_errors_total 0");
	expect_line(t, "popgate_redis_failovers_total 0");
	expect_line(t, "popgate_auth_delayed_total 0");
	expect_line(t, "popgate_config_reloads_total{result=\"ok\"} 0");
	expect_line(t, "popgate_config_reloads_total{result=\"failed\"} 0");
	expect_line(t, "popgate_metrics_connections 0");
	expect_line(t, "popgate_metrics_refused_total 0");
	expect_line(t, "popgate_metrics_timeouts_total 0");
	/* no route used yet: no per-route series */
	expect_no(t, "route=");
	p = strstr(t, "\npopgate_start_time_seconds ");
	ck_assert_ptr_nonnull(p);
	ck_assert(strtod(p + 28, NULL) > 1.6e9);
	free(t);
}
END_TEST

START_TEST(sessions_gauge_goes_down)
{
	char *t;

	metrics_session_opened();
	metrics_session_opened();
	metrics_session_opened();
	metrics_session_closed();
	t = render();
	expect_line(t, "popgate_sessions_current 2");
	expect_line(t, "popgate_sessions_total 3");
	free(t);

	for (int i = 0; i < 4; i++)          /* one close too many */
		metrics_session_closed();
	t = render();
	expect_line(t, "popgate_sessions_current 0");
	expect_line(t, "popgate_sessions_total 3");
	free(t);
}
END_TEST

START_TEST(refusals_and_process_counters)
{
	char *t;

	metrics_refused(METRICS_REFUSED_MAX_PER_IP);
	metrics_refused(METRICS_REFUSED_MAX_PER_IP);
	metrics_refused(METRICS_REFUSED_SHUTTING_DOWN);
	metrics_redis_error();
	metrics_redis_failover();
	metrics_auth_delayed();
	metrics_auth_delayed();
	metrics_reload(true);
	metrics_reload(true);
	metrics_reload(false);
	metrics_endpoint_connections(5);
	metrics_endpoint_connections(3);
	metrics_endpoint_refused();
	metrics_endpoint_refused();
	metrics_endpoint_timed_out();
	metrics_listing_shared(METRICS_SHARED_USED);
	metrics_listing_shared(METRICS_SHARED_USED);
	metrics_listing_shared(METRICS_SHARED_LATE);
	metrics_listing_shared(METRICS_SHARED_COUNT);   /* out of range: nothing */
	t = render();
	check_format(t);
	expect_line(t, "popgate_listing_shared_total{state=\"used\"} 2");
	expect_line(t, "popgate_listing_shared_total{state=\"late\"} 1");
	expect_line(t, "popgate_listing_shared_total{state=\"store_failed\"} 0");
	expect_line(t, "popgate_metrics_connections 3");
	expect_line(t, "popgate_metrics_refused_total 2");
	expect_line(t, "popgate_metrics_timeouts_total 1");
	expect_line(t, "popgate_connections_refused_total{reason=\"max_connections\"} 0");
	expect_line(t, "popgate_connections_refused_total{reason=\"max_connections_per_ip\"} 2");
	expect_line(t, "popgate_connections_refused_total{reason=\"shutting_down\"} 1");
	expect_line(t, "popgate_redis_errors_total 1");
	expect_line(t, "popgate_redis_failovers_total 1");
	expect_line(t, "popgate_auth_delayed_total 2");
	expect_line(t, "popgate_config_reloads_total{result=\"ok\"} 2");
	expect_line(t, "popgate_config_reloads_total{result=\"failed\"} 1");
	free(t);
}
END_TEST

START_TEST(logins_every_result_shown)
{
	char *t;

	metrics_login("default", METRICS_LOGIN_OK);
	metrics_login("default", METRICS_LOGIN_OK);
	metrics_login("default", METRICS_LOGIN_AUTH_FAILED);
	metrics_login("example.com", METRICS_LOGIN_IN_USE);
	t = render();
	check_format(t);
	expect_line(t, "popgate_logins_total{route=\"default\",result=\"ok\"} 2");
	expect_line(t, "popgate_logins_total{route=\"default\",result=\"auth_failed\"} 1");
	for (size_t i = 2; i < sizeof(results) / sizeof(results[0]); i++)
		expect_line(t, "popgate_logins_total{route=\"default\",result=\"%s\"} 0",
			    results[i]);
	expect_line(t, "popgate_logins_total{route=\"example.com\",result=\"in_use\"} 1");
	expect_line(t, "popgate_logins_total{route=\"example.com\",result=\"ok\"} 0");
	ck_assert_uint_eq(count_prefix(t, "popgate_logins_total{"), 16);
	/* a known route shows its other series too, at zero */
	expect_line(t, "popgate_commands_total{route=\"example.com\",command=\"retr\"} 0");
	expect_line(t, "popgate_commands_total{route=\"example.com\",command=\"top\"} 0");
	expect_line(t, "popgate_commands_total{route=\"example.com\",command=\"dele\"} 0");
	expect_line(t, "popgate_upstream_connect_failures_total{route=\"example.com\"} 0");
	expect_line(t, "popgate_upstream_connect_seconds_count{route=\"example.com\"} 0");
	expect_line(t, "popgate_bytes_out_total{route=\"default\"} 0");
	free(t);
}
END_TEST

START_TEST(connect_histogram_cumulative)
{
	static const char *const want[][2] = {
		{ "0.005", "2" }, { "0.01", "2" }, { "0.025", "2" }, { "0.05", "2" },
		{ "0.1", "2" }, { "0.25", "3" }, { "0.5", "4" }, { "1", "4" },
		{ "2.5", "4" }, { "5", "5" }, { "10", "5" }, { "+Inf", "6" },
	};
	char *t;

	/* binary fractions, so the sum is exact */
	metrics_upstream_connect("default", 0.00390625, true);
	metrics_upstream_connect("default", 0.25, true);    /* le is inclusive */
	metrics_upstream_connect("default", 0.5, true);
	metrics_upstream_connect("default", 3, true);
	metrics_upstream_connect("default", 20, true);
	metrics_upstream_connect("default", -1, true);      /* clock step: 0 */
	metrics_upstream_connect("default", 7, false);
	metrics_upstream_connect("default", 0.1, false);
	t = render();
	check_format(t);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		expect_line(t, "popgate_upstream_connect_seconds_bucket{route=\"default\",le=\"%s\"} %s",
			    want[i][0], want[i][1]);
	ck_assert_uint_eq(count_prefix(t, "popgate_upstream_connect_seconds_bucket{"), 12);
	expect_line(t, "popgate_upstream_connect_seconds_sum{route=\"default\"} 23.75390625");
	expect_line(t, "popgate_upstream_connect_seconds_count{route=\"default\"} 6");
	expect_line(t, "popgate_upstream_connect_failures_total{route=\"default\"} 2");
	/* the buckets come in increasing order */
	for (size_t i = 1; i < sizeof(want) / sizeof(want[0]); i++) {
		char a[32], b[32];

		snprintf(a, sizeof(a), "le=\"%s\"}", want[i - 1][0]);
		snprintf(b, sizeof(b), "le=\"%s\"}", want[i][0]);
		ck_assert(strstr(t, a) < strstr(t, b));
	}
	free(t);
}
END_TEST

START_TEST(bytes_and_commands)
{
	char *t;

	metrics_bytes_out(NULL, 10);
	metrics_bytes_out("default", 100);
	metrics_bytes_out("default", 5);
	metrics_bytes_out(NULL, 1);
	metrics_command("default", METRICS_CMD_RETR);
	metrics_command("default", METRICS_CMD_RETR);
	metrics_command("default", METRICS_CMD_DELE);
	metrics_command("b.example", METRICS_CMD_TOP);
	t = render();
	check_format(t);
	expect_line(t, "popgate_bytes_out_total{route=\"none\"} 11");
	expect_line(t, "popgate_bytes_out_total{route=\"default\"} 105");
	expect_line(t, "popgate_bytes_out_total{route=\"b.example\"} 0");
	expect_line(t, "popgate_commands_total{route=\"default\",command=\"retr\"} 2");
	expect_line(t, "popgate_commands_total{route=\"default\",command=\"top\"} 0");
	expect_line(t, "popgate_commands_total{route=\"default\",command=\"dele\"} 1");
	expect_line(t, "popgate_commands_total{route=\"b.example\",command=\"top\"} 1");
	/* "none" is only where bytes before login go */
	expect_no(t, "popgate_logins_total{route=\"none\"");
	expect_no(t, "popgate_commands_total{route=\"none\"");
	expect_no(t, "popgate_upstream_connect_seconds_count{route=\"none\"");
	free(t);
}
END_TEST

START_TEST(hostile_route_names_escaped)
{
	char long_name[400], *t;

	metrics_login("a\"b\\c\nd", METRICS_LOGIN_OK);
	metrics_bytes_out("a\"b\\c\nd", 7);
	metrics_login("x\xffy", METRICS_LOGIN_NO_ROUTE);      /* not UTF-8 */
	metrics_login("caf\xc3\xa9.example", METRICS_LOGIN_OK);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	metrics_login(long_name, METRICS_LOGIN_OK);
	t = render();
	check_format(t);
	expect_line(t, "popgate_logins_total{route=\"a\\\"b\\\\c\\nd\",result=\"ok\"} 1");
	expect_line(t, "popgate_bytes_out_total{route=\"a\\\"b\\\\c\\nd\"} 7");
	expect_line(t, "popgate_upstream_connect_seconds_bucket{route=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 0");
	expect_line(t, "popgate_logins_total{route=\"x\\\\xffy\",result=\"no_route\"} 1");
	expect_line(t, "popgate_logins_total{route=\"caf\xc3\xa9.example\",result=\"ok\"} 1");
	expect_line(t, "popgate_logins_total{route=\"%.*s\",result=\"ok\"} 1",
		    METRICS_ROUTE_LABEL_MAX, long_name);
	expect_no(t, "\xff");
	free(t);
}
END_TEST

START_TEST(route_cap_folds_into_other)
{
	char name[64], *t;

	for (int i = 0; i < METRICS_MAX_ROUTES; i++) {
		snprintf(name, sizeof(name), "r%d.example", i);
		metrics_login(name, METRICS_LOGIN_OK);
	}
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "late%d.example", i);
		metrics_login(name, METRICS_LOGIN_AUTH_FAILED);
		metrics_bytes_out(name, 10);
	}
	metrics_login("r7.example", METRICS_LOGIN_OK);      /* known: its own */
	metrics_bytes_out(NULL, 3);                          /* "none" still there */
	t = render();
	check_format(t);
	expect_line(t, "popgate_logins_total{route=\"r0.example\",result=\"ok\"} 1");
	expect_line(t, "popgate_logins_total{route=\"r7.example\",result=\"ok\"} 2");
	expect_line(t, "popgate_logins_total{route=\"r%d.example\",result=\"ok\"} 1",
		    METRICS_MAX_ROUTES - 1);
	expect_line(t, "popgate_logins_total{route=\"other\",result=\"auth_failed\"} 5");
	expect_line(t, "popgate_logins_total{route=\"other\",result=\"ok\"} 0");
	expect_line(t, "popgate_bytes_out_total{route=\"other\"} 50");
	expect_line(t, "popgate_bytes_out_total{route=\"none\"} 3");
	expect_no(t, "route=\"late");
	ck_assert_uint_eq(count_prefix(t, "popgate_upstream_connect_seconds_count{"),
			  METRICS_MAX_ROUTES + 1);
	free(t);
}
END_TEST

START_TEST(reset_forgets_everything)
{
	char *t;

	metrics_session_opened();
	metrics_login("default", METRICS_LOGIN_OK);
	metrics_bytes_out(NULL, 4);
	metrics_reload(false);
	metrics_reset();
	t = render();
	check_format(t);
	expect_line(t, "popgate_sessions_current 0");
	expect_line(t, "popgate_sessions_total 0");
	expect_line(t, "popgate_config_reloads_total{result=\"failed\"} 0");
	expect_no(t, "route=");
	free(t);
}
END_TEST

START_TEST(render_appends)
{
	struct evbuffer *b = evbuffer_new();
	char head[8];

	evbuffer_add(b, "keep\n", 5);
	ck_assert_int_eq(metrics_render(b), 0);
	ck_assert_uint_gt(evbuffer_get_length(b), 5);
	evbuffer_copyout(b, head, 7);
	ck_assert_mem_eq(head, "keep\n# ", 7);
	evbuffer_free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("exposition");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, fresh_exposition);
	tcase_add_test(tc, sessions_gauge_goes_down);
	tcase_add_test(tc, refusals_and_process_counters);
	tcase_add_test(tc, logins_every_result_shown);
	tcase_add_test(tc, connect_histogram_cumulative);
	tcase_add_test(tc, bytes_and_commands);
	tcase_add_test(tc, hostile_route_names_escaped);
	tcase_add_test(tc, route_cap_folds_into_other);
	tcase_add_test(tc, reset_forgets_everything);
	tcase_add_test(tc, render_appends);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
