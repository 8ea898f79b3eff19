/*
 * cache_load_view() asks for the listed UIDs only, prunes the hides of
 * messages that are gone, and the bounds of the stored state (devices
 * per account, hidden entries per device), against a private
 * redis-server (test_cache_fixture.h).
 */

#include "test_cache_fixture.h"

/* n hidden entries uid from..from+n-1 -> 64 hex digits, written raw (far
   faster than through cache_hide()). */
static void fill_hidden(const char *suffix, uint32_t from, uint32_t n)
{
	char key[700], a[16], b[16];
	redisReply *r;

	snprintf(key, sizeof(key), "popgate:{%s}:%s", ACCOUNT, suffix);
	snprintf(a, sizeof(a), "%u", from);
	snprintf(b, sizeof(b), "%u", n);
	r = raw_cmd("EVAL %s 1 %s %s %s",
		    "local f = string.rep('a', 64)\n"
		    "for i = tonumber(ARGV[1]), ARGV[1] + ARGV[2] - 1, 1000 do\n"
		    "  local t = {}\n"
		    "  for j = i, math.min(i + 999, ARGV[1] + ARGV[2] - 1) do\n"
		    "    t[#t + 1] = j\n"
		    "    t[#t + 1] = f\n"
		    "  end\n"
		    "  redis.call('HSET', KEYS[1], unpack(t))\n"
		    "end\n"
		    "return redis.call('HLEN', KEYS[1])", key, a, b);
	ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
	freeReplyObject(r);
}

static long long net_output_bytes(void)
{
	redisReply *r = raw_cmd("INFO stats");
	const char *p = strstr(r->str, "total_net_output_bytes:");
	long long v;

	ck_assert_ptr_nonnull(p);
	v = atoll(p + strlen("total_net_output_bytes:"));
	freeReplyObject(r);
	return v;
}

/* --- reading only what is listed --- */

/* A device with 600,000 hides and a listing of 20 messages: the view
   reads 20 entries, not 600,000 (the old one read every hidden UID back,
   about 5 MB, and could pass the timeout). */
START_TEST(view_reads_only_the_listing)
{
	static const uint32_t listing[] = {
		5, 17, 99, 1000, 5000, 59999, 60000, 299999, 300000, 300001,
		599999, 600000, 600001, 600002, 700000, 700001, 700002, 700003,
		700004, 700005,
	};
	long long before, bytes;
	struct res r;

	ck_assert_int_eq(do_view(ACCOUNT, "big", 100, 10).st, CACHE_OK);
	fill_hidden("hidden:big", 1, 600000);
	fill_hidden("hidden_all", 700001, 3);
	before = net_output_bytes();
	r = do_view_list(ACCOUNT, "big", 100, 800000, listing, N(listing), 10);
	bytes = net_output_bytes() - before;
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v.count, N(listing));
	ck_assert_uint_eq(r.v.hidden_count, 12);
	ck_assert_uint_eq(r.hidden[11], 600000);
	ck_assert_uint_eq(r.v.hidden_all_count, 3);
	ck_assert_uint_eq(r.hidden_all[0], 700001);
	/* The hides of the 599,988 messages not listed are gone. */
	ck_assert_uint_eq(r.v.pruned, 600000 - 12);
	fprintf(stderr, "view of 20 of 600000 hides: %lld bytes from Redis "
		"(with the prune scan)\n", bytes);
	before = net_output_bytes();
	r = do_view_list(ACCOUNT, "big", 100, 800000, listing, N(listing), 10);
	bytes = net_output_bytes() - before;
	ck_assert_uint_eq(r.v.hidden_count, 12);
	ck_assert_uint_eq(r.v.pruned, 0);
	/* The view itself, a few bytes per listed uid, and the INFO. */
	ck_assert_int_lt(bytes, 20000);
}
END_TEST

/* 600,000 hides in a listing of 700,000: in chunks, none of which comes
   near the 2 s timeout (the whole takes well under a second here; the
   bound below is only against a hang). */
START_TEST(view_600k_hides_in_time)
{
	uint32_t *uids = uids_upto(700000);
	long long t0, ms;
	struct res r;
	char url[PATH_MAX + 16];

	cache_free(&cache);
	snprintf(url, sizeof(url), "unix:%s", sock);
	cache = new_cache(url, NULL, 2000);
	wait_available(cache, 2000);
	ck_assert_int_eq(do_view(ACCOUNT, "big", 100, 10).st, CACHE_OK);
	fill_hidden("hidden:big", 1, 600000);
	t0 = now_ms();
	r = do_view_list(ACCOUNT, "big", 100, 700001, uids, 700000, 10);
	ms = now_ms() - t0;
	fprintf(stderr, "view of 700000 listed, 600000 hidden: %lld ms\n", ms);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v.hidden_count, 600000);
	ck_assert_uint_eq(r.v.pruned, 0);
	ck_assert_int_lt(ms, 10000);
	free(uids);
}
END_TEST

/* More listed uids than one request carries: every chunk answers for
   its own, in order. */
START_TEST(view_chunks_line_up)
{
	uint32_t *uids = calloc(20001, sizeof(*uids));
	uint32_t hide[7];
	struct res r;
	size_t i, j = 0;

	for (i = 0; i < 20000; i++)
		uids[i] = (uint32_t)(3 * i + 1);
	do_view_list(ACCOUNT, "office", 100, 60001, uids, 20000, 1);
	/* Around the chunk edges of 4000. */
	for (i = 3999; i <= 4001; i++)
		hide[j++] = uids[i];
	hide[j++] = uids[0];
	hide[j++] = uids[7999];
	hide[j++] = uids[16000];
	hide[j++] = uids[19999];
	ck_assert_int_eq(do_lock("office", "t", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "t", false, 100, hide, NULL, j),
			 CACHE_OK);
	ck_assert_int_eq(do_hide("office", "t", true, 100, hide + 2, NULL, 1),
			 CACHE_OK);
	r = do_view_list(ACCOUNT, "office", 100, 60001, uids, 20000, 1);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v.hidden_count, 7);
	ck_assert_uint_eq(r.hidden[0], uids[0]);
	ck_assert_uint_eq(r.hidden[1], uids[3999]);
	ck_assert_uint_eq(r.hidden[2], uids[4000]);
	ck_assert_uint_eq(r.hidden[3], uids[4001]);
	ck_assert_uint_eq(r.hidden[4], uids[7999]);
	ck_assert_uint_eq(r.hidden[5], uids[16000]);
	ck_assert_uint_eq(r.hidden[6], uids[19999]);
	ck_assert_uint_eq(r.v.hidden_all_count, 1);
	ck_assert_uint_eq(r.hidden_all[0], uids[4001]);
	ck_assert_uint_eq(r.v.pruned, 0);
	free(uids);
}
END_TEST

/* --- pruning --- */

START_TEST(prune_drops_only_what_is_gone)
{
	static const uint32_t mine[] = { 2, 4, 6, 8, 50, 70 };
	static const uint32_t all[] = { 3, 4, 9 };
	static const uint32_t listing[] = { 1, 2, 3, 6, 7 };
	static const uint32_t other[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct res r;

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	ck_assert_int_eq(do_view(ACCOUNT, "phone", 100, 10).st, CACHE_OK);
	ck_assert_int_eq(do_lock("office", "t", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "t", false, 100, mine, NULL,
				 N(mine)), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "t", true, 100, all, NULL, N(all)),
			 CACHE_OK);
	ck_assert_int_eq(do_lock("phone", "t", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("phone", "t", false, 100, other, NULL,
				 N(other)), CACHE_OK);

	/* 4, 5, 8, 9 were expunged; 50 and 70 are at or past uidnext: not
	   a message this listing can speak for. */
	r = do_view_list(ACCOUNT, "office", 100, 50, listing, N(listing), 1);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v.hidden_count, 2);
	ck_assert_uint_eq(r.hidden[0], 2);
	ck_assert_uint_eq(r.hidden[1], 6);
	ck_assert_uint_eq(r.v.hidden_all_count, 1);
	ck_assert_uint_eq(r.hidden_all[0], 3);
	ck_assert_uint_eq(r.v.pruned, 4);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:office", ACCOUNT), 4);
	ck_assert_int_eq(raw_int("HEXISTS popgate:{%s}:hidden:office 50",
				 ACCOUNT), 1);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden_all", ACCOUNT), 1);
	/* Another device's hash is that device's business. */
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:phone", ACCOUNT), 9);
	r = do_view_list(ACCOUNT, "phone", 100, 50, listing, N(listing), 1);
	ck_assert_uint_eq(r.v.pruned, 4);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:phone", ACCOUNT), 5);
	/* An empty mailbox: every hide below uidnext goes. */
	r = do_view_list(ACCOUNT, "office", 100, 60, NULL, 0, 1);
	ck_assert_uint_eq(r.v.pruned, 4);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:office", ACCOUNT), 1);
	ck_assert_int_eq(raw_int("HEXISTS popgate:{%s}:hidden:office 70",
				 ACCOUNT), 1);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:hidden_all", ACCOUNT), 0);
}
END_TEST

/* Under another UIDVALIDITY the listing's numbers mean other messages:
   nothing is pruned (the remap needs every hide with its fingerprint). */
START_TEST(prune_never_across_uidvalidity)
{
	static const uint32_t mine[] = { 10, 20 };
	static const uint32_t listing[] = { 1, 2 };
	struct res r;

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 30).st, CACHE_OK);
	ck_assert_int_eq(do_lock("office", "t", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "t", false, 100, mine, NULL, 2),
			 CACHE_OK);
	ck_assert_int_eq(do_hide("office", "t", true, 100, mine, NULL, 2),
			 CACHE_OK);
	r = do_view_list(ACCOUNT, "office", 200, 3, listing, 2, 1);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v.uidvalidity, 100);
	ck_assert(!r.has_hidden);
	ck_assert_uint_eq(r.v.pruned, 0);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:office", ACCOUNT), 2);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden_all", ACCOUNT), 2);
}
END_TEST

/* Scanned in batches, pruned in batches: 30,000 gone of 30,010. */
START_TEST(prune_many)
{
	static const uint32_t listing[] = { 5, 15000, 29999, 30000 };
	struct res r;

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	fill_hidden("hidden:office", 1, 30000);
	r = do_view_list(ACCOUNT, "office", 100, 40000, listing, N(listing), 1);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v.hidden_count, 4);
	ck_assert_uint_eq(r.v.pruned, 30000 - 4);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:office", ACCOUNT), 4);
}
END_TEST

/* A big hash with a few dead entries is left until a sixteenth of it is
   dead: a scan of it then pays for itself. */
START_TEST(prune_big_hash_waits_for_a_share)
{
	uint32_t *uids = uids_upto(20000);
	struct res r;

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	fill_hidden("hidden:office", 1, 20000);
	/* 1,000 of 20,000 gone: kept. */
	r = do_view_list(ACCOUNT, "office", 100, 20001, uids + 1000, 19000, 1);
	ck_assert_uint_eq(r.v.hidden_count, 19000);
	ck_assert_uint_eq(r.v.pruned, 0);
	/* 1,250: pruned. */
	r = do_view_list(ACCOUNT, "office", 100, 20001, uids + 1250, 18750, 1);
	ck_assert_uint_eq(r.v.pruned, 1250);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:office", ACCOUNT),
			 18750);
	free(uids);
}
END_TEST

START_TEST(view_bad_listing_is_an_error)
{
	static const uint32_t unsorted[] = { 3, 2 };
	static const uint32_t repeated[] = { 2, 2 };
	static const uint32_t zero[] = { 0, 2 };
	static const uint32_t high[] = { 2, 10 };

	ck_assert_int_eq(do_view_list(ACCOUNT, "office", 100, 10, unsorted, 2,
				      1).st, CACHE_ERROR);
	ck_assert_int_eq(do_view_list(ACCOUNT, "office", 100, 10, repeated, 2,
				      1).st, CACHE_ERROR);
	ck_assert_int_eq(do_view_list(ACCOUNT, "office", 100, 10, zero, 2,
				      1).st, CACHE_ERROR);
	ck_assert_int_eq(do_view_list(ACCOUNT, "office", 100, 10, high, 2,
				      1).st, CACHE_ERROR);
	ck_assert_int_eq(do_view_list(ACCOUNT, "office", 100, 10, NULL, 1,
				      1).st, CACHE_ERROR);
	ck_assert_int_eq(do_view_list(ACCOUNT, "office", 100, 10, high,
				      CACHE_VIEW_MAX + 1, 1).st, CACHE_ERROR);
	ck_assert_int_eq(do_view_list(ACCOUNT, "office", 100, 10, NULL, 0,
				      0).st, CACHE_ERROR);
	ck_assert_int_eq(raw_int("DBSIZE%s", ""), 0);
}
END_TEST

/* --- bounds --- */

START_TEST(devices_per_account_bounded)
{
	char dev[16];
	int i;
	struct res r;

	for (i = 0; i < CACHE_DEVICES_MAX - 1; i++) {
		snprintf(dev, sizeof(dev), "d%d", i);
		freeReplyObject(raw_cmd("HSET popgate:{%s}:devices %s %s",
					ACCOUNT, dev, "1 1700000000"));
	}
	r = do_view(ACCOUNT, "last", 100, 10);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert(r.v.new_device);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:devices", ACCOUNT),
			 CACHE_DEVICES_MAX);
	/* One more: refused, nothing written (not even the uidvalidity of
	   an account seen for the first time). */
	freeReplyObject(raw_cmd("DEL popgate:{%s}:uidvalidity", ACCOUNT));
	r = do_view(ACCOUNT, "toomany", 100, 10);
	ck_assert_int_eq(r.st, CACHE_LIMIT);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:devices", ACCOUNT),
			 CACHE_DEVICES_MAX);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:uidvalidity", ACCOUNT), 0);
	/* The known ones go on. */
	r = do_view(ACCOUNT, "d7", 100, 10);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert(!r.v.new_device);
	ck_assert_str_eq(cache_status_name(CACHE_LIMIT), "limit");
}
END_TEST

START_TEST(hides_per_device_bounded)
{
	static const uint32_t two_new[] = { 300001, 300002 };
	static const uint32_t one_new[] = { 300001, 5 };
	static const uint32_t old[] = { 7, 8 };

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	ck_assert_int_eq(do_lock("office", "t", 60), CACHE_OK);
	fill_hidden("hidden:office", 1, CACHE_HIDDEN_MAX - 1);
	ck_assert_int_eq(do_hide("office", "t", false, 100, two_new, NULL, 2),
			 CACHE_LIMIT);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:office", ACCOUNT),
			 CACHE_HIDDEN_MAX - 1);
	/* Entries already there do not count again. */
	ck_assert_int_eq(do_hide("office", "t", false, 100, old, NULL, 2),
			 CACHE_OK);
	ck_assert_int_eq(do_hide("office", "t", false, 100, one_new, NULL, 2),
			 CACHE_OK);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:office", ACCOUNT),
			 CACHE_HIDDEN_MAX);
	ck_assert_int_eq(do_hide("office", "t", false, 100, two_new + 1, NULL,
				 1), CACHE_LIMIT);
	/* hidden_all has the same bound, of its own. */
	fill_hidden("hidden_all", 1, CACHE_HIDDEN_MAX);
	ck_assert_int_eq(do_hide("office", "t", true, 100, two_new, NULL, 1),
			 CACHE_LIMIT);
	ck_assert_int_eq(do_hide("office", "t", true, 100, old, NULL, 2),
			 CACHE_OK);
}
END_TEST

static Suite *view_suite(void)
{
	Suite *s = suite_create("cache_view");
	TCase *tc = cache_test_tcase("view");

	tcase_add_test(tc, view_reads_only_the_listing);
	tcase_add_test(tc, view_600k_hides_in_time);
	tcase_add_test(tc, view_chunks_line_up);
	tcase_add_test(tc, prune_drops_only_what_is_gone);
	tcase_add_test(tc, prune_never_across_uidvalidity);
	tcase_add_test(tc, prune_many);
	tcase_add_test(tc, prune_big_hash_waits_for_a_share);
	tcase_add_test(tc, view_bad_listing_is_an_error);
	tcase_add_test(tc, devices_per_account_bounded);
	tcase_add_test(tc, hides_per_device_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cache_test_run(view_suite());
}
