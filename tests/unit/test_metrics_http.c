/* The metrics endpoint over real HTTP on loopback: paths, methods, HEAD,
   the port in use. */
#include <check.h>
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

#include "metrics.h"
#include "metrics_http.h"

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

static struct metrics_http *start(struct event_base *base, int *port)
{
	char *error = NULL;
	struct metrics_http *mh = metrics_http_start(base, "127.0.0.1", 0, &error);

	ck_assert_msg(mh != NULL, "metrics_http_start: %s", error ? error : "?");
	ck_assert_ptr_null(error);
	*port = metrics_http_port(mh);
	ck_assert_int_gt(*port, 0);
	return mh;
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

	mh = metrics_http_start(base, "127.0.0.1", (uint16_t)port, &error);
	ck_assert_ptr_null(mh);
	snprintf(want, sizeof(want), "cannot bind 127.0.0.1:%d: Address already in use", port);
	ck_assert_str_eq(error, want);
	free(error);
	close(fd);

	/* our own listener, twice */
	mh = start(base, &port);
	error = NULL;
	again = metrics_http_start(base, "127.0.0.1", (uint16_t)port, &error);
	ck_assert_ptr_null(again);
	snprintf(want, sizeof(want), "cannot bind 127.0.0.1:%d: Address already in use", port);
	ck_assert_str_eq(error, want);
	free(error);
	metrics_http_free(&mh);
	event_base_free(base);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics_http");
	TCase *th = tcase_create("http");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(th, setup, NULL);
	tcase_set_timeout(th, 30);
	tcase_add_test(th, http_get_metrics);
	tcase_add_test(th, http_head_has_no_body);
	tcase_add_test(th, http_other_paths_and_methods);
	tcase_add_test(th, http_port_in_use);
	suite_add_tcase(s, th);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
