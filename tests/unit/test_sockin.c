/* sockin: a plain socket bufferevent's input topped up with one large read,
   on real sockets. What ends up in the input, in which order, and that
   libevent still owns the input (its end frozen) and finds the end of the
   stream itself. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "sockin.h"

struct pair {
	struct event_base *base;
	struct bufferevent *bev;
	int peer;
	short events;         /* what the event callback saw */
	size_t read_cbs;      /* read callback runs */
};

static void on_read(struct bufferevent *bev, void *arg)
{
	struct pair *p = arg;

	p->read_cbs++;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct pair *p = arg;

	p->events |= what;
}

static void pair_wrap(struct pair *p, int fd, int peer)
{
	ck_assert_int_eq(evutil_make_socket_nonblocking(fd), 0);
	p->peer = peer;
	p->base = event_base_new();
	ck_assert_ptr_nonnull(p->base);
	p->bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(p->bev);
	bufferevent_setcb(p->bev, on_read, NULL, on_event, p);
}

static void pair_open(struct pair *p)
{
	int sv[2];

	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pair_wrap(p, sv[0], sv[1]);
}

/* A loopback TCP connection (a reset needs TCP). */
static void pair_open_tcp(struct pair *p)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), a;

	memset(p, 0, sizeof(*p));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	a = accept(l, NULL, NULL);
	ck_assert_int_ge(a, 0);
	close(l);
	pair_wrap(p, c, a);
}

static void pair_close(struct pair *p)
{
	bufferevent_free(p->bev);
	event_base_free(p->base);
	if (p->peer >= 0)
		close(p->peer);
}

static struct evbuffer *input(struct pair *p)
{
	return bufferevent_get_input(p->bev);
}

/* One pass of the loop, without waiting longer than 100 ms. */
static void pass(struct pair *p)
{
	struct timeval tv = { 0, 100000 };

	event_base_loopexit(p->base, &tv);
	event_base_loop(p->base, EVLOOP_ONCE);
}

static void peer_write(struct pair *p, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(p->peer, data, len);

		ck_assert_int_gt(n, 0);
		data += n;
		len -= (size_t)n;
	}
}

START_TEST(reads_what_came_in_one_go_after_what_is_there)
{
	enum { TOTAL = 100000 };
	struct pair p;
	char *data = malloc(TOTAL), *got = malloc(TOTAL + 8);
	size_t first;

	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(got);
	for (size_t i = 0; i < TOTAL; i++)
		data[i] = (char)('a' + i % 23);
	pair_open(&p);
	bufferevent_enable(p.bev, EV_READ);
	peer_write(&p, data, TOTAL);
	/* libevent's own read: 4096 octets at most. */
	pass(&p);
	ck_assert_uint_eq(p.read_cbs, 1);
	ck_assert_uint_le(evbuffer_get_length(input(&p)), 4096);
	ck_assert_uint_gt(evbuffer_get_length(input(&p)), 0);
	/* The rest in one read, after it. */
	first = evbuffer_get_length(input(&p));
	ck_assert_int_eq(sockin_fill(p.bev, 1 << 20), TOTAL - first);
	ck_assert_uint_eq(evbuffer_get_length(input(&p)), TOTAL);
	ck_assert_int_eq(evbuffer_remove(input(&p), got, TOTAL + 8), TOTAL);
	ck_assert(memcmp(got, data, TOTAL) == 0);
	/* Nothing more has come: nothing read, nothing lost. */
	ck_assert_int_eq(sockin_fill(p.bev, 1 << 20), 0);
	ck_assert_uint_eq(evbuffer_get_length(input(&p)), 0);
	/* The end of the input is libevent's again. */
	ck_assert_int_eq(evbuffer_add(input(&p), "x", 1), -1);
	ck_assert_int_eq(p.events, 0);
	pair_close(&p);
	free(data);
	free(got);
}
END_TEST

START_TEST(reads_no_more_than_asked)
{
	struct pair p;
	char got[16];

	pair_open(&p);
	peer_write(&p, "0123456789", 10);
	ck_assert_int_eq(sockin_fill(p.bev, 4), 4);
	ck_assert_int_eq(sockin_fill(p.bev, 0), 0);
	ck_assert_int_eq(sockin_fill(p.bev, 100), 6);
	ck_assert_int_eq(evbuffer_remove(input(&p), got, sizeof(got)), 10);
	ck_assert(memcmp(got, "0123456789", 10) == 0);
	pair_close(&p);
}
END_TEST

START_TEST(end_of_stream_is_left_to_libevent)
{
	struct pair p;

	pair_open(&p);
	peer_write(&p, "* BYE\r\n", 7);
	close(p.peer);
	p.peer = -1;
	ck_assert_int_eq(sockin_fill(p.bev, 4096), 7);
	ck_assert_int_eq(sockin_fill(p.bev, 4096), 0);
	ck_assert_uint_eq(evbuffer_get_length(input(&p)), 7);
	bufferevent_enable(p.bev, EV_READ);
	for (int i = 0; i < 10 && p.events == 0; i++)
		pass(&p);
	ck_assert_int_ne(p.events & BEV_EVENT_EOF, 0);
	ck_assert_int_ne(p.events & BEV_EVENT_READING, 0);
	pair_close(&p);
}
END_TEST

START_TEST(reset_is_an_error)
{
	struct pair p;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int ret = 0;

	pair_open_tcp(&p);
	ck_assert_int_eq(setsockopt(p.peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(p.peer);
	p.peer = -1;
	/* The reset may take a moment on a loaded machine. */
	for (int i = 0; i < 1000 && ret == 0; i++) {
		ret = (int)sockin_fill(p.bev, 4096);
		if (ret == 0)
			usleep(1000);
	}
	ck_assert_int_eq(ret, -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_uint_eq(evbuffer_get_length(input(&p)), 0);
	pair_close(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sockin");
	TCase *tc = tcase_create("sockets");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, reads_what_came_in_one_go_after_what_is_there);
	tcase_add_test(tc, reads_no_more_than_asked);
	tcase_add_test(tc, end_of_stream_is_left_to_libevent);
	tcase_add_test(tc, reset_is_an_error);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
