/*
 * Generations (cache_gen.h) against a private redis-server: the lock
 * that reads them, and the writes that bump them.
 */

#include "test_cache_fixture.h"

#include "cache_admin.h"
#include "cache_gen.h"
#include "cache_retention.h"

struct gen_res {
	int calls;
	enum cache_status st;
	struct cache_gens g;
};

static void gen_cb(void *ctx, enum cache_status st, const struct cache_gens *g)
{
	struct gen_res *r = ctx;

	r->calls++;
	r->st = st;
	ck_assert((st == CACHE_OK) == (g != NULL));
	if (g != NULL)
		r->g = *g;
}

static struct gen_res do_lock_gen(const char *dev, const char *token)
{
	struct gen_res r = { 0 };

	ck_assert_ptr_nonnull(cache_lock_gen(cache, ACCOUNT, dev, token, 60, gen_cb, &r));
	WAIT_ONE(r, 3000);
	return r;
}

static void unlock(const char *dev, const char *token)
{
	struct res r = { 0 };

	cache_unlock(cache, ACCOUNT, dev, token);
	ck_assert_ptr_nonnull(cache_barrier(cache, ACCOUNT, status_cb, &r));
	WAIT_ONE(r, 3000);
}

/* The lock as cache_lock() takes it; the account's generation is made
   by the first one, a device's is 0 until it changes. */
START_TEST(lock_gen_is_a_lock)
{
	struct gen_res r = do_lock_gen("office", "t1");

	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_gt(r.g.account, 1000000000000000ULL);
	ck_assert_uint_eq(r.g.device, 0);
	ck_assert_int_eq(do_lock_gen("office", "t2").st, CACHE_IN_USE);
	ck_assert_int_eq(do_lock("office", "t3", 60), CACHE_IN_USE);
	ck_assert_int_eq(do_refresh("office", "t1"), CACHE_OK);
	ck_assert_int_eq(raw_int("TTL popgate:{%s}:lock:office", ACCOUNT) > 0, 1);
	unlock("office", "t1");
	ck_assert_uint_eq(do_lock_gen("office", "t2").g.account, r.g.account);
	ck_assert_int_eq(do_lock_gen("office", "t2").st, CACHE_IN_USE);
	/* No device field made by a lock (a name past the account's device
	   limit must leave nothing that stays). */
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:gen", ACCOUNT), 1);
	/* Bad arguments: an error, nothing sent. */
	{
		struct gen_res b = { 0 };

		ck_assert_ptr_nonnull(cache_lock_gen(cache, ACCOUNT, "bad/dev", "t", 60, gen_cb,
						     &b));
		WAIT_ONE(b, 3000);
		ck_assert_int_eq(b.st, CACHE_ERROR);
	}
}
END_TEST

/* A device's hide bumps that device's generation only; a hide for all
   devices the account's; an empty hide nothing. */
START_TEST(hide_bumps_its_field)
{
	static const uint32_t uids[] = { 3, 4 };
	struct gen_res a, b;
	uint64_t office;

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	ck_assert_int_eq(do_view(ACCOUNT, "phone", 100, 10).st, CACHE_OK);
	a = do_lock_gen("office", "t");
	ck_assert_int_eq(do_hide("office", "t", false, 100, uids, NULL, 0), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "t", false, 100, uids, NULL, 2), CACHE_OK);
	unlock("office", "t");
	b = do_lock_gen("office", "t");
	ck_assert_uint_eq(b.g.account, a.g.account);
	ck_assert_uint_gt(b.g.device, a.g.device);
	/* Redis's clock, in microseconds: well past any small count. */
	ck_assert_uint_gt(b.g.device, 1000000000000000ULL);
	office = b.g.device;
	unlock("office", "t");
	a = do_lock_gen("phone", "p");
	ck_assert_uint_eq(a.g.device, 0);
	ck_assert_int_eq(do_hide("phone", "p", true, 100, uids, NULL, 1), CACHE_OK);
	unlock("phone", "p");
	b = do_lock_gen("phone", "p");
	ck_assert_uint_eq(b.g.device, 0);
	ck_assert_uint_gt(b.g.account, a.g.account);
	unlock("phone", "p");
	/* A refused hide (lock not held) bumps nothing. */
	ck_assert_int_eq(do_hide("office", "nobody", false, 100, uids, NULL, 1), CACHE_IN_USE);
	a = do_lock_gen("office", "t");
	ck_assert_uint_eq(a.g.device, office);
	unlock("office", "t");
}
END_TEST

/* Every bump is new: past the old value even when the clock is behind it
   (a value set far ahead), and after the hash was lost a value never
   handed out before. */
START_TEST(bump_never_repeats)
{
	static const uint32_t uid[] = { 5 };
	struct gen_res a, b;

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	raw_int("HSET popgate:{%s}:gen office 9000000000000000", ACCOUNT);
	a = do_lock_gen("office", "t");
	ck_assert_uint_eq(a.g.device, 9000000000000000ULL);
	ck_assert_int_eq(do_hide("office", "t", false, 100, uid, NULL, 1), CACHE_OK);
	unlock("office", "t");
	b = do_lock_gen("office", "t");
	ck_assert_uint_eq(b.g.device, 9000000000000001ULL);
	unlock("office", "t");
	a = do_lock_gen("office", "t");
	unlock("office", "t");
	raw_int("DEL popgate:{%s}:gen", ACCOUNT);
	b = do_lock_gen("office", "t");
	/* Made again: a value not handed out before. */
	ck_assert_uint_ne(b.g.account, a.g.account);
	ck_assert_uint_eq(b.g.device, 0);
	unlock("office", "t");
	a = do_lock_gen("office", "t");
	ck_assert_int_eq(do_hide("office", "t", false, 100, uid, NULL, 1), CACHE_OK);
	unlock("office", "t");
	b = do_lock_gen("office", "t");
	ck_assert_uint_gt(b.g.device, 1000000000000000ULL);
	unlock("office", "t");
	/* Damaged: reads as 0, which nothing matches. */
	raw_int("HSET popgate:{%s}:gen office junk", ACCOUNT);
	ck_assert_uint_eq(do_lock_gen("office", "t").g.device, 0);
}
END_TEST

static void admin_cb(void *ctx, enum cache_status st, const struct cache_admin_info *info)
{
	struct res *r = ctx;

	r->calls++;
	r->st = st;
}

static struct cache_gens gens_of(const char *dev)
{
	struct gen_res r = do_lock_gen(dev, "look");

	ck_assert_int_eq(r.st, CACHE_OK);
	unlock(dev, "look");
	return r.g;
}

/* popgate device reset and forget bump the device's generation (unlock
   changes no state: nothing), another device's stays. */
START_TEST(admin_bumps_the_device)
{
	static const enum cache_admin_op ops[] = { CACHE_ADMIN_RESET, CACHE_ADMIN_FORGET };
	struct cache_gens a, b, phone;
	struct res r;

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	ck_assert_int_eq(do_view(ACCOUNT, "phone", 100, 10).st, CACHE_OK);
	phone = gens_of("phone");
	for (size_t i = 0; i < N(ops); i++) {
		a = gens_of("office");
		r = (struct res){ 0 };
		ck_assert_ptr_nonnull(cache_admin_change(cache, ACCOUNT, "office", ops[i], false,
							 admin_cb, &r));
		WAIT_ONE(r, 3000);
		ck_assert_int_eq(r.st, CACHE_OK);
		b = gens_of("office");
		ck_assert_uint_gt(b.device, a.device);
		ck_assert_uint_eq(b.account, a.account);
		ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	}
	a = gens_of("office");
	r = (struct res){ 0 };
	ck_assert_ptr_nonnull(cache_admin_change(cache, ACCOUNT, "office", CACHE_ADMIN_UNLOCK,
						 false, admin_cb, &r));
	WAIT_ONE(r, 3000);
	ck_assert_uint_eq(gens_of("office").device, a.device);
	ck_assert_uint_eq(gens_of("phone").device, phone.device);
}
END_TEST

/* A remap, an import of legacy UIDLs and retention's removal bump the
   account's generation. */
START_TEST(account_writes_bump_the_account)
{
	static const struct cache_uidl_legacy_entry imp[] = { { "<a@b>", 10, "old-1" } };
	static const struct cache_remap_msg msgs[] = { { 7, "fp7", 1 } };
	static const uint32_t gone[] = { 3 };
	struct cache_gens a, b;
	struct res r;

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	a = gens_of("office");
	r = (struct res){ 0 };
	ck_assert_ptr_nonnull(cache_uidl_import(cache, ACCOUNT, imp, N(imp), status_cb, &r));
	WAIT_ONE(r, 3000);
	ck_assert_int_eq(r.st, CACHE_OK);
	b = gens_of("office");
	ck_assert_uint_gt(b.account, a.account);
	ck_assert_uint_eq(b.device, a.device);

	r = (struct res){ 0 };
	ck_assert_ptr_nonnull(cache_retention_finish(cache, ACCOUNT, 100, gone, N(gone), status_cb,
						     &r));
	WAIT_ONE(r, 3000);
	ck_assert_int_eq(r.st, CACHE_OK);
	a = gens_of("office");
	ck_assert_uint_gt(a.account, b.account);

	r = (struct res){ 0 };
	ck_assert_ptr_nonnull(cache_remap(cache, ACCOUNT, 100, 200, 8, msgs, N(msgs), status_cb,
					  &r));
	WAIT_ONE(r, 5000);
	ck_assert_int_eq(r.st, CACHE_OK);
	b = gens_of("office");
	ck_assert_uint_gt(b.account, a.account);
	/* A remap refused (the uidvalidity moved on) bumps nothing. */
	r = (struct res){ 0 };
	ck_assert_ptr_nonnull(cache_remap(cache, ACCOUNT, 100, 300, 8, msgs, N(msgs), status_cb,
					  &r));
	WAIT_ONE(r, 5000);
	ck_assert_int_eq(r.st, CACHE_CONFLICT);
	ck_assert_uint_eq(gens_of("office").account, b.account);
}
END_TEST

static void count_cb(void *ctx, enum cache_status st, uint64_t value)
{
	struct res *r = ctx;

	r->calls++;
	r->st = st;
}

/* The lazy legacy import's store bumps the account's generation; one
   refused (the lease not the caller's) does not. */
START_TEST(legacy_store_bumps_the_account)
{
	static const struct cache_uidl_new e[] = { { 2, "fp2", "old-2" } };
	struct cache_gens a, b;
	struct res r = { 0 };

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	a = gens_of("office");
	ck_assert_ptr_nonnull(cache_legacy_store(cache, ACCOUNT, "nobody", 100, e, N(e), "x",
						 status_cb, &r));
	WAIT_ONE(r, 3000);
	ck_assert_int_eq(r.st, CACHE_CONFLICT);
	ck_assert_uint_eq(gens_of("office").account, a.account);
	r = (struct res){ 0 };
	ck_assert_ptr_nonnull(cache_legacy_claim(cache, ACCOUNT, "lease", 60000, count_cb, &r));
	WAIT_ONE(r, 3000);
	ck_assert_int_eq(r.st, CACHE_OK);
	r = (struct res){ 0 };
	ck_assert_ptr_nonnull(cache_legacy_store(cache, ACCOUNT, "lease", 100, e, N(e),
						 "1700000000 old=1", status_cb, &r));
	WAIT_ONE(r, 3000);
	ck_assert_int_eq(r.st, CACHE_OK);
	b = gens_of("office");
	ck_assert_uint_gt(b.account, a.account);
	ck_assert_uint_eq(b.device, a.device);
}
END_TEST

struct peek_res {
	int calls;
	enum cache_status st;
	char hidden[8];
	char uidls[8][CACHE_UIDL_MAX + 1];
	bool legacy;
};

static void peek_cb(void *ctx, enum cache_status st, const struct cache_peek *p)
{
	struct peek_res *r = ctx;

	r->calls++;
	r->st = st;
	ck_assert((st == CACHE_OK) == (p != NULL));
	if (p == NULL)
		return;
	ck_assert_uint_le(p->n, 8);
	for (size_t i = 0; i < p->n; i++) {
		r->hidden[i] = (char)('0' + p->hidden[i]);
		snprintf(r->uidls[i], sizeof(r->uidls[i]), "%s", p->uidls[i] != NULL ?
			 p->uidls[i] : "-");
	}
	r->legacy = p->legacy;
}

/* The peek answers for the uids asked what the view and the UIDL map
   would, and writes nothing. */
START_TEST(peek_reads_a_few_uids)
{
	static const uint32_t hide_dev[] = { 7 }, hide_all[] = { 8 }, ask[] = { 6, 7, 8, 9 };
	static const struct cache_uidl_new e[] = { { 6, "fp6", "u6" }, { 8, "fp8", "u8" } };
	static const struct cache_uidl_legacy_entry imp[] = { { "<a@b>", 10, "old-1" } };
	struct peek_res p = { 0 };
	struct res r = { 0 };
	long long keys;

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	ck_assert_int_eq(do_lock("office", "t", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "t", false, 100, hide_dev, NULL, 1), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "t", true, 100, hide_all, NULL, 1), CACHE_OK);
	ck_assert_ptr_nonnull(cache_uidl_assign(cache, ACCOUNT, 100, e, N(e), NULL, NULL));
	ck_assert_ptr_nonnull(cache_barrier(cache, ACCOUNT, status_cb, &r));
	WAIT_ONE(r, 3000);
	keys = raw_int("DBSIZE%s", "");
	ck_assert_ptr_nonnull(cache_peek(cache, ACCOUNT, "office", 100, ask, N(ask), peek_cb, &p));
	WAIT_ONE(p, 3000);
	ck_assert_int_eq(p.st, CACHE_OK);
	ck_assert_mem_eq(p.hidden, "0120", 4);
	ck_assert_str_eq(p.uidls[0], "u6");
	ck_assert_str_eq(p.uidls[1], "-");
	ck_assert_str_eq(p.uidls[2], "u8");
	ck_assert_str_eq(p.uidls[3], "-");
	ck_assert(!p.legacy);
	ck_assert_int_eq(raw_int("DBSIZE%s", ""), keys);
	/* Another device: its own hides only; an import is said. */
	r = (struct res){ 0 };
	ck_assert_ptr_nonnull(cache_uidl_import(cache, ACCOUNT, imp, N(imp), status_cb, &r));
	WAIT_ONE(r, 3000);
	p = (struct peek_res){ 0 };
	ck_assert_ptr_nonnull(cache_peek(cache, ACCOUNT, "phone", 100, ask, N(ask), peek_cb, &p));
	WAIT_ONE(p, 3000);
	ck_assert_mem_eq(p.hidden, "0020", 4);
	ck_assert(p.legacy);
	/* Another uidvalidity: a conflict; bad arguments: an error. */
	p = (struct peek_res){ 0 };
	ck_assert_ptr_nonnull(cache_peek(cache, ACCOUNT, "office", 101, ask, N(ask), peek_cb, &p));
	WAIT_ONE(p, 3000);
	ck_assert_int_eq(p.st, CACHE_CONFLICT);
	p = (struct peek_res){ 0 };
	ck_assert_ptr_nonnull(cache_peek(cache, ACCOUNT, "office", 100, ask, 0, peek_cb, &p));
	WAIT_ONE(p, 3000);
	ck_assert_int_eq(p.st, CACHE_ERROR);
	p = (struct peek_res){ 0 };
	ck_assert_ptr_nonnull(cache_peek(cache, ACCOUNT, "office", 100, ask,
					 CACHE_PEEK_MAX + 1, peek_cb, &p));
	WAIT_ONE(p, 3000);
	ck_assert_int_eq(p.st, CACHE_ERROR);
}
END_TEST

struct change_res {
	int calls;
	enum cache_status st;
	bool has;
	struct cache_gen_change c;
};

static void change_cb(void *ctx, enum cache_status st, const struct cache_gen_change *c)
{
	struct change_res *r = ctx;

	r->calls++;
	r->st = st;
	r->has = c != NULL;
	if (c != NULL)
		r->c = *c;
	ck_assert(c == NULL || st == CACHE_OK);
}

static struct change_res do_hide_gen(bool all, const uint32_t *uids, size_t n)
{
	struct change_res r = { 0 };

	ck_assert_ptr_nonnull(cache_hide_gen(cache, ACCOUNT, "office", "t", all, 100, uids, NULL,
					     n, change_cb, &r));
	WAIT_ONE(r, 3000);
	return r;
}

/* A hide says which generation it bumped, from what to what: the lock's
   value, then the last hide's. */
START_TEST(hide_says_its_bump)
{
	static const uint32_t uids[] = { 3 };
	struct gen_res l;
	struct change_res a, b, c, none;

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	l = do_lock_gen("office", "t");
	a = do_hide_gen(false, uids, 1);
	ck_assert_int_eq(a.st, CACHE_OK);
	ck_assert(a.has);
	ck_assert_uint_eq(a.c.before, l.g.device);   /* 0: none before */
	ck_assert_uint_gt(a.c.after, a.c.before);
	b = do_hide_gen(false, uids, 1);
	ck_assert_uint_eq(b.c.before, a.c.after);
	c = do_hide_gen(true, uids, 1);
	ck_assert_uint_eq(c.c.before, l.g.account);
	none = do_hide_gen(false, uids, 0);
	ck_assert_int_eq(none.st, CACHE_OK);
	ck_assert(!none.has);
	unlock("office", "t");
	ck_assert_int_eq(do_hide_gen(false, uids, 1).st, CACHE_IN_USE);
	l = do_lock_gen("office", "t");
	ck_assert_uint_eq(l.g.device, b.c.after);
	ck_assert_uint_eq(l.g.account, c.c.after);
}
END_TEST

/* UIDL assignments add entries only: no bump (cache_gen.h says why). */
START_TEST(assign_bumps_nothing)
{
	static const struct cache_uidl_new e[] = { { 4, "fp4", "u4" } };
	struct cache_gens a;
	struct res r = { 0 };

	ck_assert_int_eq(do_view(ACCOUNT, "office", 100, 10).st, CACHE_OK);
	a = gens_of("office");
	ck_assert_ptr_nonnull(cache_uidl_assign(cache, ACCOUNT, 100, e, N(e), NULL, NULL));
	ck_assert_ptr_nonnull(cache_barrier(cache, ACCOUNT, status_cb, &r));
	WAIT_ONE(r, 3000);
	ck_assert_int_eq(raw_int("HEXISTS popgate:{%s}:uidl 4", ACCOUNT), 1);
	ck_assert_uint_eq(gens_of("office").account, a.account);
}
END_TEST

static Suite *gen_suite(void)
{
	Suite *s = suite_create("cache_gen");
	TCase *tc = cache_test_tcase("gen");

	tcase_add_test(tc, lock_gen_is_a_lock);
	tcase_add_test(tc, hide_bumps_its_field);
	tcase_add_test(tc, bump_never_repeats);
	tcase_add_test(tc, admin_bumps_the_device);
	tcase_add_test(tc, account_writes_bump_the_account);
	tcase_add_test(tc, legacy_store_bumps_the_account);
	tcase_add_test(tc, assign_bumps_nothing);
	tcase_add_test(tc, peek_reads_a_few_uids);
	tcase_add_test(tc, hide_says_its_bump);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cache_test_run(gen_suite());
}
