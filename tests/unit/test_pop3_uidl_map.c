/* Unit tests for the login's UIDL step (pop3/uidl_map.c): what it holds
   before and after the stored UIDLs are known. */

#include <check.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "imap_client.h"
#include "maildrop.h"
#include "uidl.h"
#include "uidl_map.h"

#define N 1000

static struct {
	struct event_base *base;
	struct pop3_maildrop *d;
	struct uidl_format fmt;
	const char *stored[N];
	char strs[N][24];
	struct imap_client *imap;    /* never connected */
	struct pop3_uidl_map *m;
	bool called;
	enum pop3_uidl_map_result result;
	size_t held_at_cb;
} t;

static void setup(void)
{
	const char *error;

	memset(&t, 0, sizeof(t));
	t.base = event_base_new();
	ck_assert_ptr_nonnull(t.base);
	ck_assert_int_eq(uidl_format_parse("dovecot", 7, &t.fmt, &error), 0);
	t.d = pop3_maildrop_new(7, N + 1, N);
	ck_assert_ptr_nonnull(t.d);
	for (unsigned int uid = 1; uid <= N; uid++)
		ck_assert_int_eq(pop3_maildrop_add(t.d, uid, 1000 + uid), 0);
	pop3_maildrop_finish(t.d);
	ck_assert_uint_eq(t.d->exists_count, N);
	for (unsigned int i = 0; i < N; i++) {
		snprintf(t.strs[i], sizeof(t.strs[i]), "stored-%u", i + 1);
		t.stored[i] = t.strs[i];
	}
}

static void teardown(void)
{
	pop3_uidl_map_free(&t.m);
	imap_client_free(&t.imap);
	pop3_maildrop_free(&t.d);
	event_base_free(t.base);
}

static void done(void *ctx, enum pop3_uidl_map_result result, enum cache_status st,
		 const struct pop3_uidl_map_stats *stats)
{
	t.called = true;
	t.result = result;
	t.held_at_cb = pop3_uidl_map_held(t.m);
}

static void start(void)
{
	static const struct imap_client_settings set = {
		.host = "127.0.0.1", .port = 1, .timeout_secs = 1, .log_id = "session=test",
	};

	t.imap = imap_client_new(t.base, NULL, &set);
	ck_assert_ptr_nonnull(t.imap);
	t.m = pop3_uidl_map_start_known(t.imap, NULL, t.d, &t.fmt, "session=test", t.base,
					t.stored, false, done, NULL);
	ck_assert_ptr_nonnull(t.m);
}

/* Every UIDL stored: a slot each, nothing for messages to assign; the
   drop gets the stored ones. */
START_TEST(nothing_new_holds_the_slots_alone)
{
	char uidl[POP3_UIDL_MAX + 1];
	size_t slots;

	start();
	slots = pop3_uidl_map_held(t.m);
	ck_assert_uint_le(slots, (N + 1) * sizeof(struct uidl_slot));
	event_base_loop(t.base, EVLOOP_NONBLOCK);
	ck_assert(t.called);
	ck_assert_int_eq(t.result, POP3_UIDL_MAP_OK);
	ck_assert_uint_eq(t.held_at_cb, slots);
	pop3_maildrop_uidl(t.d, pop3_maildrop_get(t.d, 500), uidl);
	ck_assert_str_eq(uidl, "stored-500");
}
END_TEST

/* Three without one: the tables for assigning are for those three, from
   when the load is known (the fingerprints are asked for then). */
START_TEST(new_messages_get_tables_of_their_number)
{
	size_t slots;

	t.stored[9] = t.stored[99] = t.stored[999] = NULL;
	start();
	slots = pop3_uidl_map_held(t.m);
	ck_assert_uint_le(slots, (N + 1) * sizeof(struct uidl_slot));
	event_base_loop(t.base, EVLOOP_NONBLOCK);
	ck_assert_uint_gt(pop3_uidl_map_held(t.m), slots);
	ck_assert_uint_le(pop3_uidl_map_held(t.m) - slots, 4 * 128);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pop3_uidl_map");
	TCase *tc = tcase_create("uidl_map");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, nothing_new_holds_the_slots_alone);
	tcase_add_test(tc, new_messages_get_tables_of_their_number);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
