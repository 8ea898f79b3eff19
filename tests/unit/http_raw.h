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

#endif
