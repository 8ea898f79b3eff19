#ifndef HTTP_RAW_H
#define HTTP_RAW_H

/*
 * Test-only: an HTTP server on the test's own event loop (the metrics
 * endpoint, the enrolment page) against raw client sockets that idle,
 * dribble or read what comes: the loop is run in short slices between the
 * client's steps, every wait bounded.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

static inline double now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the loop (the server) for about ms milliseconds. */
static inline void pump(struct event_base *base, unsigned int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* A client socket, connected (the kernel completes it on loopback before
   the server accepts), non-blocking. */
static inline int raw_connect(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

/* Reads what fd gets while the server runs, until the server closes it
   (true) or secs pass (false). */
static inline bool read_until_closed(struct event_base *base, int fd, char *buf, size_t size,
			      double secs)
{
	double end = now_secs() + secs;
	size_t len = 0;
	ssize_t n;

	buf[0] = '\0';
	while (now_secs() < end) {
		pump(base, 20);
		n = recv(fd, buf + len, size - 1 - len, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n > 0) {
			len += (size_t)n;
			buf[len] = '\0';
			ck_assert_uint_lt(len, size - 1);
		}
	}
	return false;
}

/* A connection beyond the cap: answered within 2 s with a 503 (what came
   in buf) and closed. */
static inline void expect_refused(struct event_base *base, int port, char *buf, size_t size)
{
	int fd = raw_connect(port);
	double t = now_secs();

	ck_assert_msg(read_until_closed(base, fd, buf, size, 5),
		      "the connection beyond the cap stays open");
	ck_assert_double_lt(now_secs() - t, 2);
	ck_assert_msg(strncmp(buf, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0, "%s", buf);
	close(fd);
}

/* request_timeout = 1s: a request (HTTP/1.1, kept alive) after 600 ms of
   silence is answered with want, then the silent connection is closed a
   deadline after the reply. */
static inline void expect_deadline_after_reply(struct event_base *base, int port,
					       const char *req, const char *want)
{
	int fd = raw_connect(port);
	char buf[16384];
	double t;

	pump(base, 600);
	ck_assert_int_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	t = now_secs();
	ck_assert(read_until_closed(base, fd, buf, sizeof(buf), 5));
	ck_assert_msg(strncmp(buf, want, strlen(want)) == 0, "%s", buf);
	ck_assert_double_ge(now_secs() - t, 0.9);
	ck_assert_double_lt(now_secs() - t, 3);
	close(fd);
}

/* max_connections = 1: one connection open, the next refused; *open_r
   (still open) and *queued_r (one more, in the backlog) are left for the
   caller to free the server with them. */
static inline void expect_cap_of_one(struct event_base *base, int port, int *open_r,
				     int *queued_r)
{
	char buf[1024];

	*open_r = raw_connect(port);
	pump(base, 100);
	expect_refused(base, port, buf, sizeof(buf));
	ck_assert_int_eq(recv(*open_r, buf, sizeof(buf), 0), -1);
	*queued_r = raw_connect(port);
}

/* Runs s; the exit status. */
static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

#endif
