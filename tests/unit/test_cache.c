/*
 * The Redis state store: locks, views, hides, key names, arguments,
 * cancellation, against a private redis-server (test_cache_fixture.h).
 */

#include "test_cache_fixture.h"

/* --- locks --- */

START_TEST(lock_exclusive_per_device)
{
	redisReply *r;

	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
	ck_assert_int_eq(do_lock("office", "tokB", 60), CACHE_IN_USE);
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_IN_USE);
	ck_assert_int_eq(do_lock("phone", "tokB", 60), CACHE_OK);
	ck_assert_int_eq(do_refresh("office", "tokA"), CACHE_OK);
	ck_assert_int_eq(do_refresh("office", "tokB"), CACHE_IN_USE);
	ck_assert_int_eq(do_refresh("tablet", "tokA"), CACHE_IN_USE);
	r = raw_cmd("GET popgate:{%s}:lock:office", ACCOUNT);
	ck_assert_str_eq(r->str, "tokA");
	freeReplyObject(r);
	ck_assert_int_gt(raw_int("TTL popgate:{%s}:lock:office", ACCOUNT), 50);
}
END_TEST

START_TEST(lock_expires)
{
	ck_assert_int_eq(do_lock("office", "tokA", 1), CACHE_OK);
	ck_assert_int_eq(do_lock("office", "tokB", 1), CACHE_IN_USE);
	run_for(1300);
	ck_assert_int_eq(do_refresh("office", "tokA"), CACHE_IN_USE);
	ck_assert_int_eq(do_lock("office", "tokB", 60), CACHE_OK);
}
END_TEST

START_TEST(unlock_needs_token)
{
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
	cache_unlock(cache, ACCOUNT, "office", "tokB");
	/* Replies come in order: once this one is back, so is the unlock. */
	ck_assert_int_eq(do_lock("office", "tokB", 60), CACHE_IN_USE);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:lock:office", ACCOUNT), 1);
	cache_unlock(cache, ACCOUNT, "office", "tokA");
	ck_assert_int_eq(do_lock("office", "tokB", 60), CACHE_OK);
	cache_unlock(cache, ACCOUNT, "office", "tokB");
	cache_unlock(cache, ACCOUNT, "bad device", "tokB");
	run_for(200);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:lock:office", ACCOUNT), 0);
}
END_TEST

/* --- views and hides --- */

START_TEST(view_registers_device_once)
{
	time_t now = time(NULL);
	struct res r = do_view(ACCOUNT, "office", 100, 50);

	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v.uidvalidity, 0);
	ck_assert(r.v.new_device);
	ck_assert_uint_eq(r.v.first_uidnext, 50);
	ck_assert_uint_ge(r.v.first_seen, (uint64_t)now - 1);
	ck_assert_uint_le(r.v.first_seen, (uint64_t)now + 1);
	ck_assert_uint_eq(r.v.hidden_count + r.v.hidden_all_count, 0);
	ck_assert(r.has_hidden);
	ck_assert_uint_eq(r.v.count, 49);

	r = do_view(ACCOUNT, "office", 100, 70);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v.uidvalidity, 100);
	ck_assert(!r.v.new_device);
	ck_assert_uint_eq(r.v.first_uidnext, 50);

	r = do_view(ACCOUNT, "phone", 100, 80);
	ck_assert(r.v.new_device);
	ck_assert_uint_eq(r.v.first_uidnext, 80);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:devices", ACCOUNT), 2);
}
END_TEST

START_TEST(hide_per_device_and_all)
{
	static const uint32_t uids[] = { 30, 5, 4000000000u, 7 };
	static const char *const fps[] = { "fp30", NULL, "fp4e9", "fp7" };
	static const uint32_t all[] = { 9, 3 };
	static const uint32_t listing[] = { 3, 5, 6, 7, 9, 30, 4000000000u };
	struct res r;

	do_view(ACCOUNT, "office", 100, 50);
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tokA", false, 100, uids, fps,
				 N(uids)), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tokA", true, 100, all, NULL,
				 N(all)), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tokA", false, 100, NULL, NULL, 0),
			 CACHE_OK);

	r = do_view_list(ACCOUNT, "office", 100, 4000000001u, listing,
			 N(listing), 60);
	ck_assert_uint_eq(r.v.hidden_count, 4);
	ck_assert_uint_eq(r.hidden[0], 5);
	ck_assert_uint_eq(r.hidden[1], 7);
	ck_assert_uint_eq(r.hidden[2], 30);
	ck_assert_uint_eq(r.hidden[3], 4000000000u);
	ck_assert_uint_eq(r.v.hidden_all_count, 2);
	ck_assert_uint_eq(r.hidden_all[0], 3);
	ck_assert_uint_eq(r.hidden_all[1], 9);
	ck_assert(r.has_hidden);
	ck_assert_uint_eq(r.v.pruned, 0);

	/* Another device sees only the all-devices hides. */
	r = do_view_list(ACCOUNT, "phone", 100, 4000000001u, listing,
			 N(listing), 60);
	ck_assert_uint_eq(r.v.hidden_count, 0);
	ck_assert_uint_eq(r.v.hidden_all_count, 2);
}
END_TEST

START_TEST(hide_wrong_token_writes_nothing)
{
	static const uint32_t uids[] = { 1, 2, 3 };

	do_view(ACCOUNT, "office", 100, 50);
	/* No lock at all, then someone else's lock. */
	ck_assert_int_eq(do_hide("office", "tokA", false, 100, uids, NULL, 3),
			 CACHE_IN_USE);
	ck_assert_int_eq(do_lock("office", "tokB", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tokA", false, 100, uids, NULL, 3),
			 CACHE_IN_USE);
	ck_assert_int_eq(do_hide("office", "tokA", true, 100, uids, NULL, 3),
			 CACHE_IN_USE);
	/* A lock on another device does not count. */
	ck_assert_int_eq(do_lock("phone", "tokA", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tokA", false, 100, uids, NULL, 3),
			 CACHE_IN_USE);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:hidden:office", ACCOUNT), 0);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:hidden_all", ACCOUNT), 0);
}
END_TEST

START_TEST(hide_wrong_uidvalidity_conflicts)
{
	static const uint32_t uids[] = { 1, 2 };

	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
	/* Nothing stored yet: load the view first. */
	ck_assert_int_eq(do_hide("office", "tokA", false, 100, uids, NULL, 2),
			 CACHE_CONFLICT);
	do_view(ACCOUNT, "office", 100, 50);
	ck_assert_int_eq(do_hide("office", "tokA", false, 101, uids, NULL, 2),
			 CACHE_CONFLICT);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:hidden:office", ACCOUNT), 0);
	ck_assert_int_eq(do_hide("office", "tokA", false, 100, uids, NULL, 2),
			 CACHE_OK);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:office", ACCOUNT), 2);
}
END_TEST

START_TEST(view_after_uidvalidity_change)
{
	static const uint32_t uids[] = { 20, 10 };
	static const char *const fps[] = { "fp-twenty", "fp-ten" };
	static const uint32_t all[] = { 15 };
	static const char *const all_fps[] = { "fp-fifteen" };
	struct res r;
	redisReply *reply;

	do_view(ACCOUNT, "office", 100, 50);
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tokA", false, 100, uids, fps, 2),
			 CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tokA", true, 100, all, all_fps, 1),
			 CACHE_OK);

	/* The new mailbox has uids 1..6, none of them the old 10, 15, 20:
	   under another numbering that means nothing, nothing is pruned. */
	r = do_view(ACCOUNT, "office", 200, 7);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v.uidvalidity, 100);
	ck_assert(!r.has_hidden);
	ck_assert_uint_eq(r.v.hidden_count + r.v.hidden_all_count, 0);
	ck_assert_uint_eq(r.v.pruned, 0);
	ck_assert_uint_eq(r.v.first_uidnext, 50);
	/* The caller re-maps; the store keeps what it had. */
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:office", ACCOUNT), 2);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden_all", ACCOUNT), 1);
	reply = raw_cmd("HGET popgate:{%s}:hidden:office 10", ACCOUNT);
	ck_assert_str_eq(reply->str, "fp-ten");
	freeReplyObject(reply);
	reply = raw_cmd("GET popgate:{%s}:uidvalidity", ACCOUNT);
	ck_assert_str_eq(reply->str, "100");
	freeReplyObject(reply);
	ck_assert_int_eq(do_hide("office", "tokA", false, 200, uids, fps, 2),
			 CACHE_CONFLICT);
}
END_TEST

START_TEST(keys_carry_account_hash_tag)
{
	static const uint32_t uids[] = { 1 };
	static const char *const expect[] = {
		"popgate:{" ACCOUNT "}:uidvalidity",
		"popgate:{" ACCOUNT "}:devices",
		"popgate:{" ACCOUNT "}:hidden:office",
		"popgate:{" ACCOUNT "}:hidden_all",
		"popgate:{" ACCOUNT "}:lock:office",
		"popgate:{" ACCOUNT "}:gen",
		"popgate:{odd}:lock:x}:devices",
	};
	redisReply *r;
	size_t i, j;

	do_view(ACCOUNT, "office", 100, 50);
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tokA", false, 100, uids, NULL, 1),
			 CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tokA", true, 100, uids, NULL, 1),
			 CACHE_OK);
	/* An account with braces still keeps its keys apart. */
	ck_assert_int_eq(do_view("odd}:lock:x", "office", 1, 1).st, CACHE_OK);
	r = raw_cmd("KEYS *");
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(r->elements, N(expect) + 1);
	for (i = 0; i < r->elements; i++) {
		const char *key = r->element[i]->str;
		bool found = strcmp(key, "popgate:{odd}:lock:x}:uidvalidity") == 0;

		for (j = 0; j < N(expect); j++)
			found |= strcmp(key, expect[j]) == 0;
		ck_assert_msg(found, "unexpected key %s", key);
	}
	freeReplyObject(r);
	/* Nothing secret or bulky: hidden values are the fingerprints. */
	r = raw_cmd("HGET popgate:{%s}:hidden:office 1", ACCOUNT);
	ck_assert_str_eq(r->str, "");
	freeReplyObject(r);
}
END_TEST

START_TEST(bad_arguments_give_error)
{
	static const char *const bad_devices[] = {
		"", "a b", "a:b", "a}b", "a{b", "\xc3\xbc", "a/b", "a\nb",
		"123456789012345678901234567890123",
	};
	static const uint32_t zero_uid[] = { 5, 0 };
	static const char *const long_fp[] = {
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	};
	size_t i;
	struct res r = { 0 };

	for (i = 0; i < N(bad_devices); i++) {
		ck_assert(!cache_device_valid(bad_devices[i]));
		ck_assert_int_eq(do_lock(bad_devices[i], "tok", 60), CACHE_ERROR);
	}
	ck_assert(cache_device_valid("Office-PC_2.local"));
	ck_assert(cache_device_valid("12345678901234567890123456789012"));
	ck_assert(!cache_device_valid(NULL));
	ck_assert_int_eq(do_lock("office", "", 60), CACHE_ERROR);
	ck_assert_int_eq(do_lock("office", "to ken", 60), CACHE_ERROR);
	ck_assert_int_eq(do_lock("office", "tok", 0), CACHE_ERROR);
	ck_assert_int_eq(do_lock("office", "tok", CACHE_TTL_MAX + 1),
			 CACHE_ERROR);
	r = do_view("", "office", 1, 1);
	ck_assert_int_eq(r.st, CACHE_ERROR);
	r = do_view("a\rb", "office", 1, 1);
	ck_assert_int_eq(r.st, CACHE_ERROR);
	r = do_view(ACCOUNT, "office", 0, 1);
	ck_assert_int_eq(r.st, CACHE_ERROR);
	r = do_view(ACCOUNT, "office", 1, 0);
	ck_assert_int_eq(r.st, CACHE_ERROR);
	ck_assert_int_eq(do_lock("office", "tok", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tok", false, 1, zero_uid, NULL, 2),
			 CACHE_ERROR);
	ck_assert_int_eq(do_hide("office", "tok", false, 0, zero_uid, NULL, 1),
			 CACHE_ERROR);
	ck_assert_int_eq(do_hide("office", "tok", false, 1, zero_uid, long_fp,
				 1), CACHE_ERROR);
	ck_assert_int_eq(do_hide("office", "tok", false, 1, zero_uid, NULL,
				 CACHE_HIDE_MAX + 1), CACHE_ERROR);
	ck_assert_int_eq(raw_int("DBSIZE%s", ""), 1);
}
END_TEST

/* State written by someone else is refused, not half understood. */
START_TEST(corrupt_state_is_an_error)
{
	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 50).st, CACHE_OK);
	freeReplyObject(raw_cmd("HSET popgate:{%s}:hidden:office 12x fp",
				ACCOUNT));
	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 50).st, CACHE_ERROR);
	freeReplyObject(raw_cmd("DEL popgate:{%s}:hidden:office", ACCOUNT));
	freeReplyObject(raw_cmd("HSET popgate:{%s}:hidden_all 0 fp", ACCOUNT));
	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 50).st, CACHE_ERROR);
	freeReplyObject(raw_cmd("DEL popgate:{%s}:hidden_all", ACCOUNT));
	freeReplyObject(raw_cmd("HSET popgate:{%s}:devices office 50", ACCOUNT));
	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 50).st, CACHE_ERROR);
	freeReplyObject(raw_cmd("HDEL popgate:{%s}:devices office", ACCOUNT));
	freeReplyObject(raw_cmd("SET popgate:{%s}:uidvalidity 4294967296",
				ACCOUNT));
	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 50).st, CACHE_ERROR);
	freeReplyObject(raw_cmd("SET popgate:{%s}:uidvalidity 100", ACCOUNT));
	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 50).st, CACHE_OK);
	/* A key of the wrong type: Redis's own error. */
	freeReplyObject(raw_cmd("SET popgate:{%s}:hidden_all x", ACCOUNT));
	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 50).st, CACHE_ERROR);
}
END_TEST

START_TEST(hide_many_in_one_script)
{
	static uint32_t uids[CACHE_HIDE_MAX];
	static char fpbuf[CACHE_HIDE_MAX][12];
	static const char *fps[CACHE_HIDE_MAX];
	size_t i;

	for (i = 0; i < CACHE_HIDE_MAX; i++) {
		uids[i] = (uint32_t)(CACHE_HIDE_MAX - i);
		snprintf(fpbuf[i], sizeof(fpbuf[i]), "f%zu", i);
		fps[i] = fpbuf[i];
	}
	do_view(ACCOUNT, "office", 100, 50);
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tokA", false, 100, uids, fps,
				 CACHE_HIDE_MAX), CACHE_OK);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:office", ACCOUNT),
			 CACHE_HIDE_MAX);
}
END_TEST

/* --- cancel and free --- */

START_TEST(cancelled_callback_never_runs)
{
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct cache_req *req, *other;

	req = cache_lock(cache, ACCOUNT, "office", "tokA", 60, status_cb, &r1);
	cache_req_cancel(&req);
	ck_assert_ptr_null(req);
	cache_req_cancel(&req);
	/* Cancelled inside another request's callback. */
	r2.cancel_other = &other;
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "phone", "tokA", 60,
					 status_cb, &r2));
	other = cache_lock(cache, ACCOUNT, "tablet", "tokA", 60, status_cb, &r3);
	run_for(300);
	ck_assert_int_eq(r1.calls, 0);
	ck_assert_int_eq(r2.calls, 1);
	ck_assert_int_eq(r3.calls, 0);
	ck_assert_ptr_null(other);
	/* Cancelling itself from inside its own callback is harmless. */
	r3.cancel_other = &other;
	other = cache_lock(cache, ACCOUNT, "tv", "tokA", 60, status_cb, &r3);
	WAIT_ONE(r3, 1000);
	ck_assert_ptr_null(other);
	/* Sent before the cancel: the lock itself was taken. */
	ck_assert_int_eq(do_lock("office", "tokB", 60), CACHE_IN_USE);
	/* A request cancelled while failing fast. */
	redis_kill(SIGKILL);
	run_for(100);
	req = cache_lock(cache, ACCOUNT, "office", "tokA", 60, status_cb, &r1);
	cache_req_cancel(&req);
	run_for(200);
	ck_assert_int_eq(r1.calls, 0);
}
END_TEST

START_TEST(free_inside_callback)
{
	struct res r1 = { 0 }, r2 = { 0 };

	r1.free_cache = true;
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "office", "tokA", 60,
					 status_cb, &r1));
	ck_assert_ptr_nonnull(cache_load_view(cache, ACCOUNT, "office",
					      &empty_listing, 1, view_cb, &r2));
	run_for(300);
	ck_assert_int_eq(r1.calls, 1);
	ck_assert_ptr_null(cache);
	ck_assert_int_eq(r2.calls, 0);
}
END_TEST

/* A view callback that cancels its own request, then frees the cache,
   still reads the whole view; the requests in flight never call back. */
START_TEST(view_callback_cancels_itself_and_frees)
{
	static const uint32_t uids[] = { 8, 2 };
	static const uint32_t listing[] = { 1, 2, 8 };
	static const struct cache_listing l = { 100, 60, listing, 3 };
	struct res r = { .uids = listing }, later = { 0 };
	struct cache_req *req;

	do_view(ACCOUNT, "office", 100, 50);
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tokA", false, 100, uids, NULL, 2),
			 CACHE_OK);
	r.cancel_other = &req;
	req = cache_load_view(cache, ACCOUNT, "office", &l, 60, view_cb, &r);
	ck_assert_ptr_nonnull(req);
	WAIT_ONE(r, 3000);
	ck_assert_ptr_null(req);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v.hidden_count, 2);
	ck_assert_uint_eq(r.hidden[0], 2);
	ck_assert_uint_eq(r.hidden[1], 8);

	memset(&r, 0, sizeof(r));
	r.uids = listing;
	r.free_cache = true;
	ck_assert_ptr_nonnull(cache_load_view(cache, ACCOUNT, "office", &l, 60,
					      view_cb, &r));
	cache_unlock(cache, ACCOUNT, "office", "tokA");
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "phone", "tokA", 60,
					 status_cb, &later));
	WAIT_ONE(r, 3000);
	ck_assert_ptr_null(cache);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v.hidden_count, 2);
	ck_assert_uint_eq(r.hidden[0], 2);
	ck_assert_uint_eq(r.hidden[1], 8);
	run_for(200);
	ck_assert_int_eq(later.calls, 0);
}
END_TEST

static Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = cache_test_tcase("store");

	tcase_add_test(tc, lock_exclusive_per_device);
	tcase_add_test(tc, lock_expires);
	tcase_add_test(tc, unlock_needs_token);
	tcase_add_test(tc, view_registers_device_once);
	tcase_add_test(tc, hide_per_device_and_all);
	tcase_add_test(tc, hide_wrong_token_writes_nothing);
	tcase_add_test(tc, hide_wrong_uidvalidity_conflicts);
	tcase_add_test(tc, view_after_uidvalidity_change);
	tcase_add_test(tc, keys_carry_account_hash_tag);
	tcase_add_test(tc, bad_arguments_give_error);
	tcase_add_test(tc, corrupt_state_is_an_error);
	tcase_add_test(tc, hide_many_in_one_script);
	tcase_add_test(tc, cancelled_callback_never_runs);
	tcase_add_test(tc, free_inside_callback);
	tcase_add_test(tc, view_callback_cancels_itself_and_frees);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cache_test_run(cache_suite());
}
