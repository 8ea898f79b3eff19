/* The enrolment page's bounds over real HTTP on loopback ([enrol]
   max_connections, request_timeout): idle connections beyond the cap are
   refused with a 503 while the page still serves, slow clients are closed
   at the deadline while others enrol, the deadline after a reply, limits
   changed by a reload. Served meanwhile: the form and /start (sent on to
   the provider). */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "enrol_web.h"
#include "http_raw.h"

static const char form_get[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/* A port nothing listens on now. */
static int free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* [enrol] on port with those limits ("" for the defaults). */
static struct conf *enrol_conf(int port, const char *limits)
{
	char path[] = "/tmp/popgate-test-enrol-XXXXXX", text[1024], *error = NULL;
	struct conf *conf = NULL;
	int fd = mkstemp(path), len;

	ck_assert_int_ge(fd, 0);
	len = snprintf(text, sizeof(text), "[upstream]\nhost = imap.example.com\n"
		       "[route oauth.test]\nhost = imap.oauth.test\nauth = oauth2\n"
		       "client_id = popgate\nauthorization_endpoint = https://idp.test/authorize\n"
		       "token_endpoint = https://idp.test/token\n"
		       "[enrol]\nlisten = 127.0.0.1:%d\n%s", port, limits);
	ck_assert_int_eq(write(fd, text, (size_t)len), len);
	close(fd);
	ck_assert_msg(conf_load(path, &conf, &error) == 0, "%s", error);
	unlink(path);
	return conf;
}

/* The page without a provider or a store: the form and /start need
   neither. */
static struct enrol_web *page(struct event_base *base, const struct conf *conf)
{
	char *error = NULL;
	struct enrol_web *w = enrol_web_start(base, conf, NULL, NULL, NULL, &error);

	ck_assert_msg(w != NULL, "enrol_web_start: %s", error != NULL ? error : "?");
	return w;
}

/* One request on a connection of its own: true when it is answered with
   want (its status line's start) and the body holds text. */
static bool served(struct event_base *base, int port, const char *req, const char *want,
		   const char *text)
{
	int fd = raw_connect(port);
	char buf[16384];
	bool ok;

	ck_assert_int_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	read_until_closed(base, fd, buf, sizeof(buf), 5);
	close(fd);
	ok = strncmp(buf, want, strlen(want)) == 0 && strstr(buf, text) != NULL;
	if (!ok)
		fprintf(stderr, "got: %.300s\n", buf);
	return ok;
}

START_TEST(cap_refuses_then_serves)
{
	struct event_base *base = event_base_new();
	int port = free_port(), idle[3];
	struct conf *conf = enrol_conf(port, "max_connections = 3\nrequest_timeout = 60s\n");
	struct enrol_web *w = page(base, conf);
	char buf[16384];
	double end;

	for (int i = 0; i < 3; i++)
		idle[i] = raw_connect(port);
	pump(base, 100);
	expect_refused(base, port, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "\r\nRetry-After: 1\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\r\n\r\ntoo many connections to the enrolment page\n"));
	/* the idle ones are still served: the form on one */
	ck_assert_int_eq(send(idle[0], "GET / HTTP/1.0\r\n\r\n", 18, 0), 18);
	ck_assert(read_until_closed(base, idle[0], buf, sizeof(buf), 5));
	ck_assert_msg(strncmp(buf, "HTTP/1.0 200", 12) == 0 ||
		      strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
	ck_assert_ptr_nonnull(strstr(buf, "Connect a mailbox"));
	for (int i = 0; i < 3; i++)
		close(idle[i]);
	/* once they are gone, a new one is served (bounded retries) */
	end = now_secs() + 5;
	while (!served(base, port, form_get, "HTTP/1.1 200", "Connect a mailbox"))
		ck_assert_msg(now_secs() < end, "not served within 5 s of the idle ones closing");
	enrol_web_free(&w);
	ck_assert_ptr_null(w);
	conf_free(&conf);
	event_base_free(base);
}
END_TEST

/* Three slowloris clients, a header byte every 100 ms: each closed about
   request_timeout after its start, while others are served all along. */
START_TEST(deadline_closes_slowloris_while_others_enrol)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	static const char start[] = "POST /start HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		"Content-Type: "
		"application/x-www-form-urlencoded\r\nContent-Length: 22\r\n\r\n"
		"address=a%40oauth.test";
	struct event_base *base = event_base_new();
	int port = free_port(), slow[3], open = 3;
	struct conf *conf = enrol_conf(port, "max_connections = 4\nrequest_timeout = 1s\n");
	struct enrol_web *w = page(base, conf);
	double t0 = now_secs(), closed_at[3] = { 0, 0, 0 };
	unsigned int served_n = 0;
	char buf[256];

	for (int i = 0; i < 3; i++) {
		slow[i] = raw_connect(port);
		ck_assert_int_eq(send(slow[i], head, sizeof(head) - 1, 0),
				 (ssize_t)sizeof(head) - 1);
	}
	while (open > 0 && now_secs() < t0 + 6) {
		pump(base, 100);
		for (int i = 0; i < 3; i++) {
			ssize_t n;

			if (closed_at[i] != 0)
				continue;
			n = recv(slow[i], buf, sizeof(buf), 0);
			if (n == 0 || (n < 0 && errno == ECONNRESET)) {
				closed_at[i] = now_secs();
				open--;
			} else {
				(void)!send(slow[i], "a", 1, MSG_NOSIGNAL);
			}
		}
		/* meanwhile: the form, and /start of an address, sent on to
		   the provider */
		if (open > 0 && served_n < 2) {
			ck_assert(served(base, port, served_n == 0 ? form_get : start,
					 served_n == 0 ? "HTTP/1.1 200" : "HTTP/1.1 303",
					 served_n == 0 ? "Connect a mailbox" :
					 "\r\nLocation: https://idp.test/authorize?"));
			served_n++;
		}
	}
	ck_assert_msg(open == 0, "%d slowloris clients stay past request_timeout", open);
	ck_assert_uint_eq(served_n, 2);
	for (int i = 0; i < 3; i++) {
		ck_assert_double_ge(closed_at[i] - t0, 0.9);
		ck_assert_double_lt(closed_at[i] - t0, 4);
		close(slow[i]);
	}
	enrol_web_free(&w);
	conf_free(&conf);
	event_base_free(base);
}
END_TEST

/* Kept alive after a reply, then silent: closed a deadline after the
   reply was written. */
START_TEST(deadline_after_reply)
{
	struct event_base *base = event_base_new();
	int port = free_port();
	struct conf *conf = enrol_conf(port, "request_timeout = 1s\n");
	struct enrol_web *w = page(base, conf);

	expect_deadline_after_reply(base, port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
				    "HTTP/1.1 200 OK\r\n");
	enrol_web_free(&w);
	conf_free(&conf);
	event_base_free(base);
}
END_TEST

/* A reload's limits hold for connections accepted after it. */
START_TEST(limits_change)
{
	struct event_base *base = event_base_new();
	int port = free_port(), a, b;
	struct conf *conf = enrol_conf(port, "");
	struct conf *one = enrol_conf(port, "max_connections = 1\n");
	struct enrol_web *w = page(base, conf);

	ck_assert_uint_eq(conf->enrol_max_connections, 128);
	enrol_web_set_limits(w, one);
	expect_cap_of_one(base, port, &a, &b);
	/* freeing the page with one open (and one in the backlog) is clean */
	enrol_web_free(&w);
	close(a);
	close(b);
	conf_free(&one);
	conf_free(&conf);
	event_base_free(base);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("enrol_web");
	TCase *tc = tcase_create("bounds");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, cap_refuses_then_serves);
	tcase_add_test(tc, deadline_closes_slowloris_while_others_enrol);
	tcase_add_test(tc, deadline_after_reply);
	tcase_add_test(tc, limits_change);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
