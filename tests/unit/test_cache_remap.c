/*
 * cache_remap(): moving an account's state to a new UIDVALIDITY, against
 * a private redis-server (test_cache_fixture.h). What was written is
 * checked both through cache_load_view() and raw, as redis-cli would.
 */

#include "test_cache_fixture.h"

/* --- helpers --- */

static enum cache_status do_remap_acct(const char *account, uint32_t old_uidv,
				       uint32_t new_uidv, uint32_t next,
				       const struct cache_remap_msg *msgs,
				       size_t n, unsigned int ms)
{
	struct res r = { 0 };

	ck_assert_ptr_nonnull(cache_remap(cache, account, old_uidv, new_uidv,
					  next, msgs, n, status_cb, &r));
	WAIT_ONE(r, ms);
	return r.st;
}

static enum cache_status do_remap(uint32_t old_uidv, uint32_t new_uidv,
				  uint32_t next,
				  const struct cache_remap_msg *msgs, size_t n)
{
	return do_remap_acct(ACCOUNT, old_uidv, new_uidv, next, msgs, n, 5000);
}

static void hide_acct(const char *account, const char *dev, bool all,
		      uint32_t uidv, const uint32_t *uids,
		      const char *const *fps, size_t n)
{
	struct res r = { 0 };
	char token[16];

	snprintf(token, sizeof(token), "tok-%s", dev);
	/* The lock may already be ours from an earlier hide. */
	ck_assert_ptr_nonnull(cache_lock(cache, account, dev, token, 60,
					 status_cb, &r));
	WAIT_ONE(r, 3000);
	memset(&r, 0, sizeof(r));
	ck_assert_ptr_nonnull(cache_hide(cache, account, dev, token, all, uidv,
					 uids, fps, n, status_cb, &r));
	/* Deadlines for a loaded machine: the cache's own request timeouts
	   end a stuck request well before. */
	WAIT_ONE(r, 70000);
	ck_assert_int_eq(r.st, CACHE_OK);
}

static void hide(const char *dev, bool all, uint32_t uidv,
		 const uint32_t *uids, const char *const *fps, size_t n)
{
	hide_acct(ACCOUNT, dev, all, uidv, uids, fps, n);
}

/* Overwrites a device entry, for a known first_uidnext and first_seen. */
static void set_device(const char *dev, const char *entry)
{
	freeReplyObject(raw_cmd("HSET popgate:{%s}:devices %s %s", ACCOUNT,
				dev, entry));
}

static void expect_string(const char *want, const char *fmt, const char *a,
			  const char *b)
{
	redisReply *r = raw_cmd(fmt, a, b);

	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	ck_assert_str_eq(r->str, want);
	freeReplyObject(r);
}

/* One hidden hash, raw: "uid=fp" sorted, joined by ",". */
static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *dump_hash(const char *key)
{
	redisReply *r = raw_cmd("HGETALL %s", key);
	char **items, *out = NULL;
	size_t i, n, len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	n = r->elements / 2;
	items = calloc(n + 1, sizeof(*items));
	for (i = 0; i < n; i++)
		ck_assert_int_ge(asprintf(&items[i], "%s=%s",
					  r->element[2 * i]->str,
					  r->element[2 * i + 1]->str), 0);
	qsort(items, n, sizeof(*items), str_cmp);
	for (i = 0; i < n; i++) {
		fprintf(f, "%s%s", i > 0 ? "," : "", items[i]);
		free(items[i]);
	}
	fclose(f);
	free(items);
	freeReplyObject(r);
	return out;
}

static void expect_hash(const char *want, const char *suffix)
{
	char key[700], *got;

	snprintf(key, sizeof(key), "popgate:{%s}:%s", ACCOUNT, suffix);
	got = dump_hash(key);
	ck_assert_str_eq(got, want);
	free(got);
}

/* Everything stored, as text (keys sorted; lock ttls left out). */
static char *snapshot(void)
{
	redisReply *keys = raw_cmd("KEYS *");
	char **names, *out = NULL;
	size_t i, len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_int_eq(keys->type, REDIS_REPLY_ARRAY);
	names = calloc(keys->elements + 1, sizeof(*names));
	for (i = 0; i < keys->elements; i++)
		names[i] = keys->element[i]->str;
	qsort(names, keys->elements, sizeof(*names), str_cmp);
	for (i = 0; i < keys->elements; i++) {
		redisReply *t = raw_cmd("TYPE %s", names[i]);

		if (strcmp(t->str, "hash") == 0) {
			char *h = dump_hash(names[i]);

			fprintf(f, "%s: {%s}\n", names[i], h);
			free(h);
		} else {
			redisReply *v = raw_cmd("GET %s", names[i]);

			ck_assert_int_eq(v->type, REDIS_REPLY_STRING);
			fprintf(f, "%s: %s\n", names[i], v->str);
			freeReplyObject(v);
		}
		freeReplyObject(t);
	}
	fclose(f);
	free(names);
	freeReplyObject(keys);
	return out;
}

static void expect_snapshot(const char *before)
{
	char *now = snapshot();

	ck_assert_str_eq(now, before);
	free(now);
}

/*
 * At uidvalidity 100: office hides 10 fpA, 20 fpB, 30 fpGone, 40 "" and
 * phone hides 20 fpB, 25 fpC; hidden for all: 5 fpD, 10 fpA. Devices:
 * office "50 1700000200", phone "1 1700000550", tablet "30 1700000700",
 * desk "9 1600000000", laptop "40 1700000040".
 */
static void old_state(void)
{
	static const uint32_t office[] = { 10, 20, 30, 40 };
	static const char *const office_fp[] = { "fpA", "fpB", "fpGone", NULL };
	static const uint32_t phone[] = { 25, 20 };
	static const char *const phone_fp[] = { "fpC", "fpB" };
	static const uint32_t all[] = { 5, 10 };
	static const char *const all_fp[] = { "fpD", "fpA" };

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 50).st, CACHE_OK);
	ck_assert_int_eq(do_view(ACCOUNT, "phone", 100, 60).st, CACHE_OK);
	ck_assert_int_eq(do_view(ACCOUNT, "tablet", 100, 60).st, CACHE_OK);
	ck_assert_int_eq(do_view(ACCOUNT, "desk", 100, 60).st, CACHE_OK);
	ck_assert_int_eq(do_view(ACCOUNT, "laptop", 100, 60).st, CACHE_OK);
	set_device("office", "50 1700000200");
	set_device("phone", "1 1700000550");
	set_device("tablet", "30 1700000700");
	set_device("desk", "9 1600000000");
	set_device("laptop", "40 1700000040");
	hide("office", false, 100, office, office_fp, N(office));
	hide("phone", false, 100, phone, phone_fp, N(phone));
	hide("office", true, 100, all, all_fp, N(all));
}

/* The re-created mailbox: new numbering, and internaldates that do not
   grow with the uid (15 arrived before 8). */
static const struct cache_remap_msg new_msgs[] = {
	{ 3, "fpB", 1699999000 },
	{ 7, "fpD", 1700000100 },
	{ 8, "fpA", 1700000200 },
	{ 12, "fpC", 1700000600 },
	{ 15, "fpE", 1700000050 },
};

/* --- tests --- */

START_TEST(remap_rekeys_every_device_and_all)
{
	struct res r;
	redisReply *reply;

	old_state();
	ck_assert_int_eq(do_remap(100, 200, 20, new_msgs, N(new_msgs)),
			 CACHE_OK);

	expect_string("200", "GET popgate:{%s}:uidvalidity%s", ACCOUNT, "");
	expect_hash("3=fpB,8=fpA", "hidden:office");
	expect_hash("12=fpC,3=fpB", "hidden:phone");
	expect_hash("7=fpD,8=fpA", "hidden_all");
	/* first_uidnext: the lowest new uid arriving at or after first_seen
	   (office: 8 arrived exactly then; laptop: 7, not 15 which arrived
	   earlier than 7 but after first_seen), none -> new uidnext, 1
	   stays 1, first_seen kept. */
	expect_hash("desk=3 1600000000,laptop=7 1700000040,"
		    "office=8 1700000200,phone=1 1700000550,"
		    "tablet=20 1700000700", "devices");
	/* No stray keys, no hidden sets made for devices without one (the
	   eighth: the generations, cache_gen.h). */
	ck_assert_int_eq(raw_int("DBSIZE%s", ""), 8);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:gen", ACCOUNT), 1);
	/* Locks are untouched. */
	expect_string("tok-office", "GET popgate:{%s}:lock:%s", ACCOUNT,
		      "office");
	ck_assert_int_gt(raw_int("TTL popgate:{%s}:lock:office", ACCOUNT), 50);

	/* What the devices see now, at the new uidvalidity. */
	r = do_view(ACCOUNT, "office", 200, 20);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v.uidvalidity, 200);
	ck_assert(!r.v.new_device);
	ck_assert(r.has_hidden);
	ck_assert_uint_eq(r.v.first_uidnext, 8);
	ck_assert_uint_eq(r.v.first_seen, 1700000200);
	ck_assert_uint_eq(r.v.hidden_count, 2);
	ck_assert_uint_eq(r.hidden[0], 3);
	ck_assert_uint_eq(r.hidden[1], 8);
	ck_assert_uint_eq(r.v.hidden_all_count, 2);
	ck_assert_uint_eq(r.hidden_all[0], 7);
	ck_assert_uint_eq(r.hidden_all[1], 8);

	r = do_view(ACCOUNT, "phone", 200, 20);
	ck_assert_uint_eq(r.v.uidvalidity, 200);
	ck_assert_uint_eq(r.v.first_uidnext, 1);
	ck_assert_uint_eq(r.v.first_seen, 1700000550);
	ck_assert_uint_eq(r.v.hidden_count, 2);
	ck_assert_uint_eq(r.hidden[0], 3);
	ck_assert_uint_eq(r.hidden[1], 12);
	ck_assert_uint_eq(r.v.hidden_all_count, 2);

	r = do_view(ACCOUNT, "tablet", 200, 20);
	ck_assert_uint_eq(r.v.first_uidnext, 20);
	ck_assert_uint_eq(r.v.hidden_count, 0);
	r = do_view(ACCOUNT, "desk", 200, 20);
	ck_assert_uint_eq(r.v.first_uidnext, 3);

	/* The hidden sets can be written at the new uidvalidity. */
	reply = raw_cmd("HGET popgate:{%s}:hidden:office 3", ACCOUNT);
	ck_assert_str_eq(reply->str, "fpB");
	freeReplyObject(reply);
}
END_TEST

START_TEST(remap_conflict_writes_nothing)
{
	char *before;

	/* Nothing stored at all: nothing to re-map, nothing created. */
	ck_assert_int_eq(do_remap(100, 200, 20, new_msgs, N(new_msgs)),
			 CACHE_CONFLICT);
	ck_assert_int_eq(raw_int("DBSIZE%s", ""), 0);

	old_state();
	before = snapshot();
	ck_assert_int_eq(do_remap(99, 200, 20, new_msgs, N(new_msgs)),
			 CACHE_CONFLICT);
	expect_snapshot(before);
	ck_assert_int_eq(do_remap(200, 100, 20, new_msgs, N(new_msgs)),
			 CACHE_CONFLICT);
	expect_snapshot(before);
	free(before);

	/* The first re-map wins; the same call again conflicts and leaves
	   the result alone. */
	ck_assert_int_eq(do_remap(100, 200, 20, new_msgs, N(new_msgs)),
			 CACHE_OK);
	before = snapshot();
	ck_assert_int_eq(do_remap(100, 200, 20, new_msgs, N(new_msgs)),
			 CACHE_CONFLICT);
	ck_assert_int_eq(do_remap(100, 300, 20, NULL, 0), CACHE_CONFLICT);
	expect_snapshot(before);
	free(before);
}
END_TEST

START_TEST(remap_duplicate_fingerprints_take_distinct_uids)
{
	/* Old uids 9 < 10 < 100 (string order would put 10 and 100 first). */
	static const uint32_t office[] = { 100, 10, 9, 50 };
	static const char *const office_fp[] = { "dup", "dup", "dup", "one" };
	static const uint32_t all[] = { 70 };
	static const char *const all_fp[] = { "dup" };
	static const struct cache_remap_msg msgs[] = {
		{ 2, "dup", 1 }, { 4, "one", 1 }, { 5, "dup", 1 },
		{ 6, "other", 1 },
	};

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 200).st, CACHE_OK);
	hide("office", false, 100, office, office_fp, N(office));
	hide("office", true, 100, all, all_fp, N(all));
	ck_assert_int_eq(do_remap(100, 101, 7, msgs, N(msgs)), CACHE_OK);
	/* 9 -> 2, 10 -> 5, 100 has no message left. */
	expect_hash("2=dup,4=one,5=dup", "hidden:office");
	/* Each set is matched on its own. */
	expect_hash("2=dup", "hidden_all");
}
END_TEST

START_TEST(remap_drops_empty_and_vanished)
{
	static const uint32_t office[] = { 1, 2, 3 };
	static const uint32_t phone[] = { 4 };
	static const char *const phone_fp[] = { "gone" };
	static const struct cache_remap_msg msgs[] = {
		{ 1, "new1", 5 }, { 2, "new2", 6 },
	};

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	ck_assert_int_eq(do_view(ACCOUNT, "phone", 100, 10).st, CACHE_OK);
	/* No fingerprints given: stored as "". */
	hide("office", false, 100, office, NULL, N(office));
	hide("phone", false, 100, phone, phone_fp, N(phone));
	hide("phone", true, 100, office, NULL, N(office));
	ck_assert_int_eq(do_remap(100, 101, 3, msgs, N(msgs)), CACHE_OK);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:hidden:office", ACCOUNT), 0);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:hidden:phone", ACCOUNT), 0);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:hidden_all", ACCOUNT), 0);
	/* An empty new mailbox: everything hidden is gone, devices start
	   at the new uidnext. */
	ck_assert_int_eq(do_view(ACCOUNT, "office", 101, 3).st, CACHE_OK);
	hide("office", false, 101, office, NULL, 1);
	set_device("office", "2 1000");
	set_device("phone", "1 2000");
	ck_assert_int_eq(do_remap(101, 102, 1, NULL, 0), CACHE_OK);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:hidden:office", ACCOUNT), 0);
	expect_hash("office=1 1000,phone=1 2000", "devices");
}
END_TEST

/* Key names built in the script match the ones built in C byte for
   byte, whatever the account holds. */
START_TEST(remap_odd_account_names)
{
	static const char *const accounts[] = {
		"we%ird {acc}:ount \xc3\xa9 %s %d ..",
		"odd}:hidden:x",
		"a\"b'c\\d[e]f^$*+?()",
	};
	static const uint32_t uids[] = { 7 };
	static const char *const fps[] = { "fp7" };
	static const struct cache_remap_msg msgs[] = { { 70, "fp7", 5 } };
	size_t i;
	struct res r;

	for (i = 0; i < N(accounts); i++) {
		ck_assert_int_eq(do_view(accounts[i], "office", 100, 10).st,
				 CACHE_OK);
		hide_acct(accounts[i], "office", false, 100, uids, fps, 1);
		hide_acct(accounts[i], "office", true, 100, uids, fps, 1);
	}
	/* uidvalidity, devices, both hidden hashes, the lock, gen. */
	ck_assert_int_eq(raw_int("DBSIZE%s", ""), 6 * N(accounts));
	for (i = 0; i < N(accounts); i++) {
		ck_assert_int_eq(do_remap_acct(accounts[i], 100, 200, 71, msgs,
					       1, 3000), CACHE_OK);
		r = do_view(accounts[i], "office", 200, 71);
		ck_assert_int_eq(r.st, CACHE_OK);
		ck_assert_uint_eq(r.v.uidvalidity, 200);
		ck_assert_uint_eq(r.v.hidden_count, 1);
		ck_assert_uint_eq(r.hidden[0], 70);
		ck_assert_uint_eq(r.v.hidden_all_count, 1);
		ck_assert_uint_eq(r.hidden_all[0], 70);
	}
	ck_assert_int_eq(raw_int("DBSIZE%s", ""), 6 * N(accounts));
}
END_TEST

START_TEST(remap_bad_arguments_write_nothing)
{
	static const struct cache_remap_msg unsorted[] = {
		{ 3, "a", 1 }, { 2, "b", 1 },
	};
	static const struct cache_remap_msg repeated[] = {
		{ 2, "a", 1 }, { 2, "b", 1 },
	};
	static const struct cache_remap_msg zero_uid[] = {
		{ 0, "a", 1 }, { 2, "b", 1 },
	};
	static const struct cache_remap_msg empty_fp[] = {
		{ 1, "a", 1 }, { 2, "", 1 },
	};
	static const struct cache_remap_msg null_fp[] = {
		{ 1, NULL, 1 },
	};
	static char long_fp[CACHE_FINGERPRINT_MAX + 2];
	struct cache_remap_msg too_long[] = { { 1, long_fp, 1 } };
	char *before;

	memset(long_fp, 'x', CACHE_FINGERPRINT_MAX);
	old_state();
	before = snapshot();
	ck_assert_int_eq(do_remap(100, 100, 20, new_msgs, N(new_msgs)),
			 CACHE_ERROR);
	ck_assert_int_eq(do_remap(100, 200, 20, unsorted, N(unsorted)),
			 CACHE_ERROR);
	ck_assert_int_eq(do_remap(100, 200, 20, repeated, N(repeated)),
			 CACHE_ERROR);
	ck_assert_int_eq(do_remap(100, 200, 20, zero_uid, N(zero_uid)),
			 CACHE_ERROR);
	ck_assert_int_eq(do_remap(100, 200, 20, empty_fp, N(empty_fp)),
			 CACHE_ERROR);
	ck_assert_int_eq(do_remap(100, 200, 20, null_fp, N(null_fp)),
			 CACHE_ERROR);
	long_fp[CACHE_FINGERPRINT_MAX] = 'x';
	ck_assert_int_eq(do_remap(100, 200, 20, too_long, 1), CACHE_ERROR);
	long_fp[CACHE_FINGERPRINT_MAX] = '\0';
	/* Checked before the array is read. */
	ck_assert_int_eq(do_remap(100, 200, 20, new_msgs, CACHE_VIEW_MAX + 1),
			 CACHE_ERROR);
	ck_assert_int_eq(do_remap(100, 200, 20, NULL, 1), CACHE_ERROR);
	ck_assert_int_eq(do_remap(0, 200, 20, new_msgs, N(new_msgs)),
			 CACHE_ERROR);
	ck_assert_int_eq(do_remap(100, 0, 20, new_msgs, N(new_msgs)),
			 CACHE_ERROR);
	ck_assert_int_eq(do_remap(100, 200, 0, new_msgs, N(new_msgs)),
			 CACHE_ERROR);
	ck_assert_int_eq(do_remap_acct("", 100, 200, 20, new_msgs,
				       N(new_msgs), 3000), CACHE_ERROR);
	ck_assert_int_eq(do_remap_acct("a\nb", 100, 200, 20, new_msgs,
				       N(new_msgs), 3000), CACHE_ERROR);
	expect_snapshot(before);
	free(before);
	/* The longest fingerprint is accepted. */
	ck_assert_int_eq(do_remap(100, 200, 20, too_long, 1), CACHE_OK);
}
END_TEST

START_TEST(remap_callback_once_and_cancel)
{
	struct res r1 = { 0 }, r2 = { 0 };
	struct cache_req *req;

	old_state();
	/* Cancelled after its first request went out: no callback, and the
	   rest is never sent, so nothing changed. */
	req = cache_remap(cache, ACCOUNT, 100, 200, 20, new_msgs, N(new_msgs),
			  status_cb, &r1);
	ck_assert_ptr_nonnull(req);
	cache_req_cancel(&req);
	ck_assert_ptr_null(req);
	/* Errors too are reported from the loop, never inside the call. */
	ck_assert_ptr_nonnull(cache_remap(cache, ACCOUNT, 0, 200, 20, NULL, 0,
					  status_cb, &r2));
	ck_assert_int_eq(r2.calls, 0);
	WAIT_ONE(r2, 1000);
	ck_assert_int_eq(r2.st, CACHE_ERROR);
	run_for(200);
	ck_assert_int_eq(r1.calls, 0);
	expect_string("100", "GET popgate:{%s}:uidvalidity%s", ACCOUNT, "");
	ck_assert_int_eq(do_remap(100, 200, 20, new_msgs, N(new_msgs)),
			 CACHE_OK);
	/* Redis down: unavailable at the timeout, from the loop, once. */
	memset(&r2, 0, sizeof(r2));
	cache_free(&cache);
	{
		char url[PATH_MAX + 16];

		snprintf(url, sizeof(url), "unix:%s", sock);
		cache = new_cache(url, NULL, 300);
	}
	redis_kill(SIGKILL);
	run_for(100);
	ck_assert_ptr_nonnull(cache_remap(cache, ACCOUNT, 200, 300, 20,
					  new_msgs, N(new_msgs), status_cb,
					  &r2));
	WAIT_ONE(r2, 1000);
	ck_assert_int_eq(r2.st, CACHE_UNAVAILABLE);
}
END_TEST

/* Keys of remaps being staged. */
static long long staging_keys(void)
{
	redisReply *r = raw_cmd("KEYS %s", "popgate:*:remap:*");
	long long n = (long long)r->elements;

	freeReplyObject(r);
	return n;
}

/* 30,000 messages: cut off half way through the staging, nothing of the
   state changed; the staging hash left behind expires. */
START_TEST(remap_cut_short_changes_nothing)
{
	static struct cache_remap_msg msgs[30000];
	static char fps[30000][16];
	struct res r = { 0 };
	struct cache_req *req;
	char *before;
	redisReply *keys;
	long long end;
	size_t i;

	for (i = 0; i < N(msgs); i++) {
		snprintf(fps[i], sizeof(fps[i]), "fp%zu", i % 7 == 0 ? 0 : i);
		msgs[i] = (struct cache_remap_msg){ (uint32_t)(i + 1), fps[i], 5 };
	}
	old_state();
	before = snapshot();
	req = cache_remap(cache, ACCOUNT, 100, 200, 30001, msgs, N(msgs),
			  status_cb, &r);
	for (end = now_ms() + 3000; staging_keys() == 0 && now_ms() < end;)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	ck_assert_int_eq(staging_keys(), 1);
	cache_req_cancel(&req);
	run_for(300);
	ck_assert_int_eq(r.calls, 0);
	keys = raw_cmd("KEYS %s", "popgate:*:remap:*");
	ck_assert_uint_eq(keys->elements, 1);
	ck_assert_int_gt(raw_int("TTL %s", keys->element[0]->str), 3000);
	ck_assert_int_lt(raw_int("HLEN %s", keys->element[0]->str), 30000);
	freeReplyObject(raw_cmd("DEL %s", keys->element[0]->str));
	freeReplyObject(keys);
	expect_snapshot(before);
	free(before);
	/* Run to its end, the same call leaves no staging behind. */
	ck_assert_int_eq(do_remap(100, 200, 30001, msgs, N(msgs)), CACHE_OK);
	ck_assert_int_eq(staging_keys(), 0);
	expect_hash("", "hidden:phone");
}
END_TEST

/* Two sessions re-map at once: one wins whole, the other changes nothing
   (its swap finds the uidvalidity moved) and leaves no staging. */
START_TEST(remap_concurrent_one_wins)
{
	static const struct cache_remap_msg other[] = {
		{ 30, "fpA", 1700000300 }, { 31, "fpB", 1700000300 },
	};
	struct res a = { 0 }, b = { 0 };

	old_state();
	ck_assert_ptr_nonnull(cache_remap(cache, ACCOUNT, 100, 200, 20,
					  new_msgs, N(new_msgs), status_cb,
					  &a));
	ck_assert_ptr_nonnull(cache_remap(cache, ACCOUNT, 100, 300, 40, other,
					  N(other), status_cb, &b));
	ck_assert(run_until(&a.calls, 1, 5000));
	ck_assert(run_until(&b.calls, 1, 5000));
	ck_assert((a.st == CACHE_OK) != (b.st == CACHE_OK));
	ck_assert_int_eq(a.st == CACHE_OK ? b.st : a.st, CACHE_CONFLICT);
	if (a.st == CACHE_OK) {
		expect_string("200", "GET popgate:{%s}:uidvalidity%s", ACCOUNT, "");
		expect_hash("3=fpB,8=fpA", "hidden:office");
	} else {
		expect_string("300", "GET popgate:{%s}:uidvalidity%s", ACCOUNT, "");
		expect_hash("30=fpA,31=fpB", "hidden:office");
	}
	ck_assert_int_eq(staging_keys(), 0);
}
END_TEST

/* A device seen for the first time while the remap stages (its view met
   the new numbering already) keeps the entry it was given. */
START_TEST(remap_leaves_a_device_registered_meanwhile)
{
	static struct cache_remap_msg msgs[10000];
	static char fps[10000][16];
	struct res r = { 0 };
	long long end;
	size_t i;

	for (i = 0; i < N(msgs); i++) {
		snprintf(fps[i], sizeof(fps[i]), "fp%zu", i);
		msgs[i] = (struct cache_remap_msg){ (uint32_t)(i + 1), fps[i],
						    1700000000 + i };
	}
	old_state();
	ck_assert_ptr_nonnull(cache_remap(cache, ACCOUNT, 100, 200, 10001, msgs,
					  N(msgs), status_cb, &r));
	for (end = now_ms() + 3000; staging_keys() == 0 && now_ms() < end;)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	set_device("late", "9000 1700000001");
	set_device("office", "50 1700000200");
	ck_assert(run_until(&r.calls, 1, 5000));
	ck_assert_int_eq(r.st, CACHE_OK);
	expect_hash("desk=1 1600000000,laptop=41 1700000040,"
		    "late=9000 1700000001,office=201 1700000200,"
		    "phone=1 1700000550,tablet=701 1700000700", "devices");
}
END_TEST

/* What goes to Redis is bounded: no command of a remap of 100,000
   messages carries more than a chunk (the old one was one command of
   300,000 arguments). */
static size_t slowlog_max_args(void)
{
	redisReply *r = raw_cmd("SLOWLOG GET %s", "-1");
	size_t i, most = 0;

	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	for (i = 0; i < r->elements; i++) {
		const redisReply *args = r->element[i]->element[3];
		size_t n = args->elements;
		unsigned long more = 0;

		/* At most 32 are logged, the last "... (N more arguments)". */
		if (n > 0 && sscanf(args->element[n - 1]->str,
				    "... (%lu more arguments)", &more) == 1)
			n += more - 1;
		if (n > most)
			most = n;
	}
	freeReplyObject(r);
	return most;
}

#define BIG 100000

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
		(double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The script's own run time, from the slow log (microseconds). */
static long long script_usec(void)
{
	redisReply *r = raw_cmd("SLOWLOG GET 1");
	long long us = -1;

	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
		us = r->element[0]->element[2]->integer;
	freeReplyObject(r);
	return us;
}

/*
 * 100,000 messages, all renumbered: old uid i (fingerprint "0..0<i>") is now
 * 500001 + j where i = perm(j). office hides all of them, phone and
 * hidden_all half each.
 */
START_TEST(remap_100k_messages)
{
	static uint32_t uids[BIG];
	static char fpbuf[BIG][65];
	static const char *fps[BIG];
	static struct cache_remap_msg msgs[BIG];
	struct timespec t0;
	double ms;
	size_t i;
	char field[16], url[PATH_MAX + 16], *p;
	redisReply *r;

	/* This test is about bounded script calls and the result, not about
	   the per-request timeout: the 100,000-entry hide is one request,
	   which on a loaded 2-core machine can take longer than the
	   fixture's 5 s. */
	cache_free(&cache);
	snprintf(url, sizeof(url), "unix:%s", sock);
	cache = new_cache(url, NULL, hang_ms(60000));
	wait_available(cache, hang_ms(2000));
	for (i = 0; i < BIG; i++) {
		uids[i] = (uint32_t)(i + 1);
		/* As long as a hex SHA-256. */
		snprintf(fpbuf[i], sizeof(fpbuf[i]), "%064zx", i + 1);
		fps[i] = fpbuf[i];
	}
	for (i = 0; i < BIG; i++) {
		size_t old = (i * 7919) % BIG + 1;

		msgs[i].uid = (uint32_t)(500001 + i);
		msgs[i].fingerprint = fpbuf[old - 1];
		msgs[i].internaldate = 1700000000 + (i * 13) % 100000;
	}
	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, BIG + 1).st, CACHE_OK);
	ck_assert_int_eq(do_view(ACCOUNT, "phone", 100, BIG + 1).st, CACHE_OK);
	set_device("office", "50 1700099990");
	hide("office", false, 100, uids, fps, BIG);
	hide("phone", false, 100, uids, fps, BIG / 2);
	hide("phone", true, 100, uids + BIG / 2, fps + BIG / 2, BIG / 2);
	/* Commands of 0.5 ms or more (a big one is a slow one): not those
	   the scripts run inside, which Redis 7 logs too. */
	freeReplyObject(raw_cmd("CONFIG SET slowlog-log-slower-than 500"));
	freeReplyObject(raw_cmd("CONFIG SET slowlog-max-len 10000"));
	freeReplyObject(raw_cmd("SLOWLOG RESET"));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(do_remap_acct(ACCOUNT, 100, 200, 600001, msgs, BIG,
				       70000), CACHE_OK);
	ms = elapsed_ms(&t0);
	fprintf(stderr, "remap of %d messages, %d hidden entries: %.0f ms "
		"round trip, last script %lld us, at most %zu arguments\n",
		BIG, 2 * BIG, ms, script_usec(), slowlog_max_args());
	ck_assert_uint_ge(slowlog_max_args(), 2 * 2000);
	ck_assert_uint_le(slowlog_max_args(), 2 * 2000 + 10);
	ck_assert_int_eq(staging_keys(), 0);

	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:office", ACCOUNT),
			 BIG);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden:phone", ACCOUNT),
			 BIG / 2);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:hidden_all", ACCOUNT),
			 BIG / 2);
	for (i = 0; i < BIG; i += 9973) {
		snprintf(field, sizeof(field), "%u", msgs[i].uid);
		r = raw_cmd("HGET popgate:{%s}:hidden:office %s", ACCOUNT,
			    field);
		ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
		ck_assert_str_eq(r->str, msgs[i].fingerprint);
		freeReplyObject(r);
	}
	/* first_seen 1700099990: the first message at or after it. */
	for (i = 0; msgs[i].internaldate < 1700099990; i++)
		;
	r = raw_cmd("HGET popgate:{%s}:devices office", ACCOUNT);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	p = strchr(r->str, ' ');
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p, " 1700099990");
	ck_assert_uint_eq(strtoul(r->str, NULL, 10), msgs[i].uid);
	freeReplyObject(r);
}
END_TEST

static Suite *remap_suite(void)
{
	Suite *s = suite_create("cache_remap");
	TCase *tc = cache_test_tcase("remap");

	tcase_add_test(tc, remap_rekeys_every_device_and_all);
	tcase_add_test(tc, remap_conflict_writes_nothing);
	tcase_add_test(tc, remap_duplicate_fingerprints_take_distinct_uids);
	tcase_add_test(tc, remap_drops_empty_and_vanished);
	tcase_add_test(tc, remap_odd_account_names);
	tcase_add_test(tc, remap_bad_arguments_write_nothing);
	tcase_add_test(tc, remap_callback_once_and_cancel);
	tcase_add_test(tc, remap_cut_short_changes_nothing);
	tcase_add_test(tc, remap_concurrent_one_wins);
	tcase_add_test(tc, remap_leaves_a_device_registered_meanwhile);
	suite_add_tcase(s, tc);
	/* Its own case: on a loaded machine it may take minutes. */
	tc = cache_test_tcase("remap_big");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, remap_100k_messages);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cache_test_run(remap_suite());
}
