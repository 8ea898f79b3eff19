/* One SRV lookup over UDP (proxy/tools/setup_srv.c) against a scripted
   name server on loopback: a stray answer is ignored, a lost query is
   sent again, silence ends in a timeout, a closed port is said. */

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "setup_srv.h"

#define NAME "_imaps._tcp.a.test"

struct peer {
	int fd;
	struct sockaddr_in addr;
	unsigned int queries;
	unsigned int drop_first;   /* queries not answered */
	bool stray_first;          /* answer with another id before the real one */
};

struct result {
	bool done;
	enum dns_srv_result r;
	size_t n;
	struct dns_srv first;
	char error[128];
};

static struct event_base *base;

static void answer(struct peer *p, const uint8_t *q, size_t qlen, const struct sockaddr *to,
		   socklen_t tolen, uint16_t id)
{
	static const uint8_t rr[] = {
		0xc0, 0x0c, 0, 33, 0, 1, 0, 0, 0, 60, 0, 17,
		0, 1, 0, 1, 0x03, 0xe1,
		2, 'm', 'x', 1, 'a', 4, 't', 'e', 's', 't', 0,
	};
	uint8_t msg[512];

	memcpy(msg, q, qlen);
	msg[0] = (uint8_t)(id >> 8);
	msg[1] = (uint8_t)id;
	msg[2] |= 0x80;
	msg[7] = 1;
	memcpy(msg + qlen, rr, sizeof(rr));
	ck_assert_int_eq(sendto(p->fd, msg, qlen + sizeof(rr), 0, to, tolen),
			 (ssize_t)(qlen + sizeof(rr)));
}

static void peer_read(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	uint8_t q[512];
	ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
	uint16_t id;

	if (n < 12)
		return;
	id = (uint16_t)(q[0] << 8 | q[1]);
	if (p->queries++ < p->drop_first)
		return;
	if (p->stray_first) {
		p->stray_first = false;
		answer(p, q, (size_t)n, (struct sockaddr *)&from, fromlen, (uint16_t)(id ^ 1));
	}
	answer(p, q, (size_t)n, (struct sockaddr *)&from, fromlen, id);
}

static void done(void *ctx, enum dns_srv_result r, const struct dns_srv *srv, size_t n,
		 const char *error)
{
	struct result *res = ctx;

	res->done = true;
	res->r = r;
	res->n = n;
	if (n > 0)
		res->first = srv[0];
	snprintf(res->error, sizeof(res->error), "%s", error != NULL ? error : "");
	event_base_loopbreak(base);
}

static struct result run(struct peer *p, unsigned int timeout_secs)
{
	struct result res = { .done = false };
	struct event *ev = event_new(base, p->fd, EV_READ | EV_PERSIST, peer_read, p);
	const char *error = NULL;
	struct setup_srv *l;

	event_add(ev, NULL);
	l = setup_srv_start(base, (struct sockaddr *)&p->addr, sizeof(p->addr), NAME,
			    timeout_secs, done, &res, &error);
	ck_assert_msg(l != NULL, "%s", error);
	ck_assert(!res.done);     /* never from inside the call */
	while (!res.done && event_base_loop(base, 0) == 0)
		;
	setup_srv_free(&l);
	event_free(ev);
	return res;
}

static void peer_open(struct peer *p)
{
	socklen_t len = sizeof(p->addr);

	memset(p, 0, sizeof(*p));
	p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	p->addr.sin_family = AF_INET;
	p->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(p->fd, (struct sockaddr *)&p->addr, sizeof(p->addr)), 0);
	ck_assert_int_eq(getsockname(p->fd, (struct sockaddr *)&p->addr, &len), 0);
}

static void setup_base(void)
{
	base = event_base_new();
}

static void teardown_base(void)
{
	event_base_free(base);
}

START_TEST(answer_after_a_stray_one)
{
	struct peer p;
	struct result r;

	peer_open(&p);
	p.stray_first = true;
	r = run(&p, 10);
	ck_assert_int_eq(r.r, DNS_SRV_OK);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.first.target, "mx.a.test");
	ck_assert_uint_eq(r.first.port, 993);
	ck_assert_uint_eq(p.queries, 1);
	close(p.fd);
}
END_TEST

START_TEST(lost_query_sent_again)
{
	struct peer p;
	struct result r;

	peer_open(&p);
	p.drop_first = 1;
	r = run(&p, 10);
	ck_assert_int_eq(r.r, DNS_SRV_OK);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(p.queries, 2);
	close(p.fd);
}
END_TEST

START_TEST(silence_times_out)
{
	struct peer p;
	struct result r;

	peer_open(&p);
	p.drop_first = 1000;
	r = run(&p, 2);
	ck_assert_int_eq(r.r, DNS_SRV_SERVFAIL);
	ck_assert_str_eq(r.error, "no answer from the DNS server");
	ck_assert_uint_ge(p.queries, 2);
	close(p.fd);
}
END_TEST

START_TEST(closed_port)
{
	struct peer p;
	struct result r;

	peer_open(&p);
	close(p.fd);
	/* Nothing listens there now: the kernel says so (ICMP). */
	p.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	r = run(&p, 10);
	ck_assert_int_eq(r.r, DNS_SRV_SERVFAIL);
	ck_assert_msg(strstr(r.error, "refused") != NULL, "%s", r.error);
	close(p.fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("setup_srv");
	TCase *tc = tcase_create("setup_srv");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup_base, teardown_base);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, answer_after_a_stray_one);
	tcase_add_test(tc, lost_query_sent_again);
	tcase_add_test(tc, silence_times_out);
	tcase_add_test(tc, closed_port);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
