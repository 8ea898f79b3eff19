/* The metrics endpoint over real HTTP on loopback: paths, methods, HEAD,
   the port in use; the cap on connections and the request deadline with
   raw sockets that idle, dribble or stay after a reply. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http_raw.h"
#include "metrics.h"
#include "metrics_http.h"

static int port_unused;

static void setup(void)
{
	metrics_reset();
}

struct reply {
	struct event_base *base;
	bool done;
	int code;
	char type[128];
	char allow[64];
	char length[32];
	char *body;
};

static void copy_header(struct evhttp_request *req, const char *name, char *dst,
			size_t size)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);

	snprintf(dst, size, "%s", v != NULL ? v : "");
}

static void on_reply(struct evhttp_request *req, void *arg)
{
	struct reply *r = arg;
	struct evbuffer *in;
	size_t n;

	r->done = true;
	event_base_loopbreak(r->base);
	if (req == NULL || evhttp_request_get_response_code(req) == 0)
		return;
	r->code = evhttp_request_get_response_code(req);
	copy_header(req, "Content-Type", r->type, sizeof(r->type));
	copy_header(req, "Allow", r->allow, sizeof(r->allow));
	copy_header(req, "Content-Length", r->length, sizeof(r->length));
	in = evhttp_request_get_input_buffer(req);
	n = evbuffer_get_length(in);
	r->body = malloc(n + 1);
	evbuffer_remove(in, r->body, n);
	r->body[n] = '\0';
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* One request on its own connection, the loop bounded to 5 seconds. */
static void fetch(struct event_base *base, int port, enum evhttp_cmd_type method,
		  const char *path, struct reply *r)
{
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	struct event *deadline = evtimer_new(base, on_deadline, base);
	struct timeval tv = { 5, 0 };

	memset(r, 0, sizeof(*r));
	r->base = base;
	conn = evhttp_connection_base_new(base, NULL, "127.0.0.1", (uint16_t)port);
	ck_assert_ptr_nonnull(conn);
	evhttp_connection_set_timeout(conn, 5);
	req = evhttp_request_new(on_reply, r);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
	if (method == EVHTTP_REQ_POST)
		evbuffer_add(evhttp_request_get_output_buffer(req), "a=1", 3);
	ck_assert_int_eq(evhttp_make_request(conn, req, method, path), 0);
	evtimer_add(deadline, &tv);
	event_base_dispatch(base);
	event_free(deadline);
	evhttp_connection_free(conn);
	ck_assert_msg(r->done, "no HTTP reply within 5 seconds");
	ck_assert_msg(r->code != 0, "HTTP request failed");
}

static struct metrics_http *start_limited(struct event_base *base,
					  const struct http_limits *limits, int *port)
{
	char *error = NULL;
	struct metrics_http *mh = metrics_http_start(base, "127.0.0.1", 0, limits, &error);

	ck_assert_msg(mh != NULL, "metrics_http_start: %s", error ? error : "?");
	ck_assert_ptr_null(error);
	*port = metrics_http_port(mh);
	ck_assert_int_gt(*port, 0);
	return mh;
}

static struct metrics_http *start(struct event_base *base, int *port)
{
	return start_limited(base, NULL, port);
}

START_TEST(http_get_metrics)
{
	struct event_base *base = event_base_new();
	struct metrics_http *mh;
	struct reply r;
	int port;

	metrics_session_opened();
	metrics_session_opened();
	metrics_login("default", METRICS_LOGIN_OK);
	mh = start(base, &port);

	fetch(base, port, EVHTTP_REQ_GET, "/metrics", &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_str_eq(r.type, "text/plain; version=0.0.4; charset=utf-8");
	ck_assert_msg(strstr(r.body, "\npopgate_sessions_total 2\n") != NULL, "%s", r.body);
	ck_assert_ptr_nonnull(strstr(r.body,
		"\npopgate_logins_total{route=\"default\",result=\"ok\"} 1\n"));
	free(r.body);

	/* a second scrape sees later events; a query string is fine */
	metrics_session_opened();
	fetch(base, port, EVHTTP_REQ_GET, "/metrics?x=1", &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\npopgate_sessions_total 3\n"));
	free(r.body);

	metrics_http_free(&mh);
	ck_assert_ptr_null(mh);
	metrics_http_free(&mh);
	event_base_free(base);
}
END_TEST

START_TEST(http_head_has_no_body)
{
	struct event_base *base = event_base_new();
	struct metrics_http *mh = NULL;
	struct reply r;
	int port;

	mh = start(base, &port);
	fetch(base, port, EVHTTP_REQ_HEAD, "/metrics", &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_str_eq(r.type, "text/plain; version=0.0.4; charset=utf-8");
	ck_assert_str_eq(r.body, "");
	ck_assert_int_gt(atoi(r.length), 100);
	free(r.body);
	metrics_http_free(&mh);
	event_base_free(base);
}
END_TEST

START_TEST(http_other_paths_and_methods)
{
	static const char *const missing[] = { "/", "/other", "/metrics/", "/metricsx" };
	struct event_base *base = event_base_new();
	struct metrics_http *mh;
	struct reply r;
	int port;

	mh = start(base, &port);
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		fetch(base, port, EVHTTP_REQ_GET, missing[i], &r);
		ck_assert_msg(r.code == 404, "%s: %d", missing[i], r.code);
		ck_assert_ptr_null(strstr(r.body, "popgate_"));
		free(r.body);
	}
	fetch(base, port, EVHTTP_REQ_POST, "/metrics", &r);
	ck_assert_int_eq(r.code, 405);
	ck_assert_str_eq(r.allow, "GET, HEAD");
	ck_assert_ptr_null(strstr(r.body, "popgate_"));
	free(r.body);
	fetch(base, port, EVHTTP_REQ_DELETE, "/metrics", &r);
	ck_assert_int_eq(r.code, 405);
	free(r.body);
	metrics_http_free(&mh);
	event_base_free(base);
}
END_TEST

START_TEST(http_port_in_use)
{
	struct event_base *base = event_base_new();
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	struct metrics_http *mh, *again;
	char want[64], *error = NULL;
	int fd, port;

	/* someone else's listener */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);

	mh = metrics_http_start(base, "127.0.0.1", (uint16_t)port, NULL, &error);
	ck_assert_ptr_null(mh);
	snprintf(want, sizeof(want), "cannot bind 127.0.0.1:%d: Address already in use", port);
	ck_assert_str_eq(error, want);
	free(error);
	close(fd);

	/* our own listener, twice */
	mh = start(base, &port);
	error = NULL;
	again = metrics_http_start(base, "127.0.0.1", (uint16_t)port, NULL, &error);
	ck_assert_ptr_null(again);
	snprintf(want, sizeof(want), "cannot bind 127.0.0.1:%d: Address already in use", port);
	ck_assert_str_eq(error, want);
	free(error);
	metrics_http_free(&mh);
	event_base_free(base);
}
END_TEST

/* ------------------------------------------------ limits */

/* One GET, retried (bounded) until it is answered 200: the exposition. */
static char *scrape(struct event_base *base, int port)
{
	double end = now_secs() + 5;
	struct reply r;

	for (;;) {
		fetch(base, port, EVHTTP_REQ_GET, "/metrics", &r);
		if (r.code == 200)
			return r.body;
		free(r.body);
		ck_assert_msg(now_secs() < end, "no 200 within 5 s (last %d)", r.code);
		pump(base, 50);
	}
}

static void expect_line(const char *body, const char *line)
{
	char want[128];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (strstr(body, want) == NULL)
		fprintf(stderr, "%s", body);
	ck_assert_msg(strstr(body, want) != NULL, "no line \"%s\" (exposition above)", line);
}

START_TEST(http_cap_refuses_then_counts_down)
{
	struct http_limits limits = { .max_connections = 3,
					      .request_timeout_ms = 60000 };
	struct event_base *base = event_base_new();
	struct metrics_http *mh = start_limited(base, &limits, &port_unused);
	int idle[3], extra, port = metrics_http_port(mh);
	char buf[16384], *body, want[64];
	double t;

	/* twice: the first round's connections, which never sent a request,
	   must have left the count when they closed */
	for (int round = 1; round <= 2; round++) {
		for (int i = 0; i < 3; i++)
			idle[i] = raw_connect(port);
		pump(base, 100);
		extra = raw_connect(port);
		t = now_secs();
		ck_assert_msg(read_until_closed(base, extra, buf, sizeof(buf), 5),
			      "round %d: the connection beyond the cap stays open", round);
		ck_assert_double_lt(now_secs() - t, 2);
		ck_assert_msg(strncmp(buf, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0,
			      "round %d: %s", round, buf);
		ck_assert_ptr_nonnull(strstr(buf, "\r\n\r\ntoo many connections to the "
					     "metrics endpoint\n"));
		close(extra);
		/* the idle ones are still served: a request on one is answered */
		ck_assert_int_eq(send(idle[0], "GET /metrics HTTP/1.0\r\n\r\n", 25, 0), 25);
		ck_assert(read_until_closed(base, idle[0], buf, sizeof(buf), 5));
		ck_assert_msg(strncmp(buf, "HTTP/1.0 200", 12) == 0 ||
			      strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
		for (int i = 0; i < 3; i++)
			close(idle[i]);
		body = scrape(base, port);
		expect_line(body, "popgate_metrics_connections 1");
		snprintf(want, sizeof(want), "popgate_metrics_refused_total %d", round);
		expect_line(body, want);
		free(body);
	}
	metrics_http_free(&mh);
	event_base_free(base);
}
END_TEST

START_TEST(http_deadline_closes_dribbler)
{
	struct http_limits limits = { .max_connections = 4,
					      .request_timeout_ms = 1000 };
	static const char head[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	struct event_base *base = event_base_new();
	struct metrics_http *mh = start_limited(base, &limits, &port_unused);
	int port = metrics_http_port(mh), fd = raw_connect(port);
	double start = now_secs(), end = start + 5;
	bool closed = false;
	char buf[256], *body;
	ssize_t n = 0;

	ck_assert_int_eq(send(fd, head, sizeof(head) - 1, 0), (ssize_t)sizeof(head) - 1);
	/* a byte every 100 ms: each read is recent, the request never ends */
	while (!closed && now_secs() < end) {
		pump(base, 100);
		n = recv(fd, buf, sizeof(buf), 0);
		closed = n == 0 || (n < 0 && errno == ECONNRESET);
		if (!closed)
			(void)!send(fd, "a", 1, MSG_NOSIGNAL);
	}
	ck_assert_msg(closed, "a dribbling client stays past request_timeout");
	ck_assert_double_ge(now_secs() - start, 0.9);
	ck_assert_double_lt(now_secs() - start, 3);
	close(fd);
	body = scrape(base, port);
	expect_line(body, "popgate_metrics_timeouts_total 1");
	expect_line(body, "popgate_metrics_connections 1");
	free(body);
	metrics_http_free(&mh);
	event_base_free(base);
}
END_TEST

START_TEST(http_deadline_after_reply)
{
	struct http_limits limits = { .max_connections = 4,
					      .request_timeout_ms = 1000 };
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct event_base *base = event_base_new();
	struct metrics_http *mh = start_limited(base, &limits, &port_unused);
	int port = metrics_http_port(mh);
	char *body;

	expect_deadline_after_reply(base, port, req, "HTTP/1.1 200 OK\r\n");
	body = scrape(base, port);
	expect_line(body, "popgate_metrics_timeouts_total 1");
	free(body);
	metrics_http_free(&mh);
	event_base_free(base);
}
END_TEST

START_TEST(http_limits_change)
{
	struct http_limits one = { .max_connections = 1, .request_timeout_ms = 60000 };
	struct event_base *base = event_base_new();
	struct metrics_http *mh = start(base, &port_unused);
	int port = metrics_http_port(mh), a, b;

	metrics_http_set_limits(mh, &one);
	expect_cap_of_one(base, port, &a, &b);
	/* freeing the server with one open (and one more waiting in the
	   backlog) leaks nothing */
	metrics_http_free(&mh);
	close(a);
	close(b);
	event_base_free(base);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics_http");
	TCase *th = tcase_create("http");

	tcase_add_checked_fixture(th, setup, NULL);
	tcase_set_timeout(th, 30);
	tcase_add_test(th, http_get_metrics);
	tcase_add_test(th, http_head_has_no_body);
	tcase_add_test(th, http_other_paths_and_methods);
	tcase_add_test(th, http_port_in_use);
	tcase_add_test(th, http_cap_refuses_then_counts_down);
	tcase_add_test(th, http_deadline_closes_dribbler);
	tcase_add_test(th, http_deadline_after_reply);
	tcase_add_test(th, http_limits_change);
	suite_add_tcase(s, th);
	return run_suite(s);
}
