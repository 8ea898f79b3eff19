/* sockout: a socket bufferevent's output written straight from the loop, on
   a real socket pair. What the peer receives, and whether write interest
   (EV_WRITE) was asked for on the way. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "sockout.h"

struct pair {
	struct event_base *base;
	struct bufferevent *bev;
	struct sockout out;
	int peer;
	int written;          /* write callback runs (direct or libevent's) */
	short events;         /* what the event callback saw */
	bool write_asked;     /* EV_WRITE was enabled at some point */
};

static void on_written(struct bufferevent *bev, void *arg)
{
	struct pair *p = arg;

	p->written++;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct pair *p = arg;

	p->events |= what;
}

static void pair_open(struct pair *p, int sndbuf)
{
	int sv[2];

	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (sndbuf > 0) {
		ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
					    sizeof(sndbuf)), 0);
		ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sndbuf,
					    sizeof(sndbuf)), 0);
	}
	ck_assert_int_eq(evutil_make_socket_nonblocking(sv[0]), 0);
	ck_assert_int_eq(evutil_make_socket_nonblocking(sv[1]), 0);
	p->peer = sv[1];
	p->base = event_base_new();
	ck_assert_ptr_nonnull(p->base);
	p->bev = bufferevent_socket_new(p->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(p->bev);
	bufferevent_setcb(p->bev, NULL, on_written, on_event, p);
	ck_assert_int_eq(sockout_init(&p->out, p->base), 0);
	ck_assert_int_eq(sockout_attach(&p->out, p->bev, on_written, p), 0);
	bufferevent_enable(p->bev, EV_READ);
}

static void pair_close(struct pair *p)
{
	sockout_free(&p->out);
	bufferevent_free(p->bev);
	event_base_free(p->base);
	if (p->peer >= 0)
		close(p->peer);
}

static bool write_enabled(struct pair *p)
{
	return (bufferevent_get_enabled(p->bev) & EV_WRITE) != 0;
}

/* One pass of the loop, without waiting longer than 100 ms. */
static void pass(struct pair *p)
{
	struct timeval tv = { 0, 100000 };

	event_base_loopexit(p->base, &tv);
	event_base_loop(p->base, EVLOOP_ONCE);
	if (write_enabled(p))
		p->write_asked = true;
}

/* What the peer has received so far (up to cap octets). */
static size_t peer_read(struct pair *p, char *buf, size_t cap)
{
	size_t got = 0;

	while (got < cap) {
		ssize_t n = read(p->peer, buf + got, cap - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

START_TEST(pieces_go_out_in_one_pass_without_write_interest)
{
	struct pair p;
	char buf[64];

	pair_open(&p, 0);
	ck_assert(!write_enabled(&p));
	bufferevent_write(p.bev, "+OK 12 octets\r\n", 15);
	evbuffer_add(bufferevent_get_output(p.bev), "hello world\r\n", 13);
	bufferevent_write(p.bev, ".\r\n", 3);
	/* Nothing written inside the callback that queued it. */
	ck_assert_uint_eq(peer_read(&p, buf, sizeof(buf)), 0);
	ck_assert(!write_enabled(&p));
	pass(&p);
	ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_output(p.bev)), 0);
	ck_assert_uint_eq(peer_read(&p, buf, sizeof(buf)), 31);
	ck_assert(memcmp(buf, "+OK 12 octets\r\nhello world\r\n.\r\n", 31) == 0);
	ck_assert_int_eq(p.written, 1);
	ck_assert(!p.write_asked);
	/* And again: each reply is written directly. */
	bufferevent_write(p.bev, "+OK\r\n", 5);
	pass(&p);
	ck_assert_uint_eq(peer_read(&p, buf, sizeof(buf)), 5);
	ck_assert_int_eq(p.written, 2);
	ck_assert(!p.write_asked);
	pair_close(&p);
}
END_TEST

START_TEST(short_write_hands_over_and_comes_back)
{
	enum { TOTAL = 1 << 20 };
	struct pair p;
	char *data = malloc(TOTAL), *got = malloc(TOTAL);
	size_t n = 0;
	int passes = 0;

	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(got);
	for (size_t i = 0; i < TOTAL; i++)
		data[i] = (char)('a' + i % 23);
	pair_open(&p, 8192);
	bufferevent_write(p.bev, data, TOTAL);
	pass(&p);
	/* The socket took part of it: libevent has the rest, with write
	   interest, and the owner is not told "written" yet. */
	ck_assert_uint_gt(evbuffer_get_length(bufferevent_get_output(p.bev)), 0);
	ck_assert(write_enabled(&p));
	ck_assert_int_eq(p.written, 0);
	while (n < TOTAL && passes++ < 100000) {
		n += peer_read(&p, got + n, TOTAL - n);
		pass(&p);
	}
	ck_assert_uint_eq(n, TOTAL);
	ck_assert(memcmp(data, got, TOTAL) == 0);
	ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_output(p.bev)), 0);
	ck_assert_int_ge(p.written, 1);
	/* Empty again: write interest is off, the next reply goes directly. */
	ck_assert(!write_enabled(&p));
	p.write_asked = false;
	bufferevent_write(p.bev, "+OK\r\n", 5);
	pass(&p);
	ck_assert_uint_eq(peer_read(&p, got, 16), 5);
	ck_assert(!p.write_asked);
	ck_assert_int_eq(p.events, 0);
	pair_close(&p);
	free(data);
	free(got);
}
END_TEST

START_TEST(detached_output_is_not_written)
{
	struct pair p;
	char buf[16];

	pair_open(&p, 0);
	bufferevent_write(p.bev, "-ERR bye\r\n", 10);
	sockout_detach(&p.out);
	pass(&p);
	ck_assert_uint_eq(peer_read(&p, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_output(p.bev)), 10);
	ck_assert_int_eq(p.written, 0);
	pair_close(&p);
}
END_TEST

START_TEST(peer_gone_is_reported_by_the_event_callback)
{
	struct pair p;

	pair_open(&p, 0);
	close(p.peer);
	p.peer = -1;
	bufferevent_disable(p.bev, EV_READ);
	bufferevent_write(p.bev, "+OK\r\n", 5);
	for (int i = 0; i < 10 && p.events == 0; i++)
		pass(&p);
	ck_assert_int_ne(p.events & BEV_EVENT_WRITING, 0);
	ck_assert_int_ne(p.events & (BEV_EVENT_ERROR | BEV_EVENT_EOF), 0);
	ck_assert_int_eq(p.written, 0);
	pair_close(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sockout");
	TCase *tc = tcase_create("socketpair");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, pieces_go_out_in_one_pass_without_write_interest);
	tcase_add_test(tc, short_write_hands_over_and_comes_back);
	tcase_add_test(tc, detached_output_is_not_written);
	tcase_add_test(tc, peer_gone_is_reported_by_the_event_callback);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
