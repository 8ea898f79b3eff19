/* Unit tests for listeners_fd_prepare() (proxy/listen.c): libevent's
   per-descriptor records made at start-up borrow free numbers only for a
   moment, leave every open descriptor as it was, and descriptors opened
   afterwards are watched as usual. */

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "listen.h"

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;                           /* the directory's own */
}

static void fired(evutil_socket_t fd, short what, void *arg)
{
	*(int *)arg += 1;
}

START_TEST(borrows_nothing_for_good)
{
	struct event_base *base = event_base_new();
	struct conf conf;
	int p[2], q[2], before, count = 0;
	char c;
	struct event *ev;

	memset(&conf, 0, sizeof(conf));
	conf.max_connections = 200;
	ck_assert_ptr_nonnull(base);
	/* an open descriptor among the numbers it walks over */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dup2(p[0], 50), 50);
	before = open_fds();
	listeners_fd_prepare(base, &conf);
	ck_assert_int_eq(open_fds(), before);
	/* number 50 is still the pipe, its data there */
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(read(50, &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	/* a new descriptor takes the lowest free number and is watched */
	ck_assert_int_eq(pipe(q), 0);
	ck_assert_int_lt(q[0], 50);
	ev = event_new(base, q[0], EV_READ, fired, &count);
	ck_assert_int_eq(event_add(ev, NULL), 0);
	ck_assert_int_eq(write(q[1], "y", 1), 1);
	ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	ck_assert_int_eq(count, 1);
	event_free(ev);
	close(q[0]);
	close(q[1]);
	close(50);
	close(p[0]);
	close(p[1]);
	event_base_free(base);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("listen_fds");
	TCase *tc = tcase_create("prepare");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, borrows_nothing_for_good);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
