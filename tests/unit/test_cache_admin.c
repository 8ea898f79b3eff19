/* Unit tests for the device administration scripts (cache/cache_admin.c)
   against a real redis-server: what they read, what each change does and
   leaves alone, the refusal while locked, corrupt state, bad arguments. */

#include "test_cache_fixture.h"

#include "cache_admin.h"

#define K "popgate:{" ACCOUNT "}:"

struct admin_res {
	int calls;
	enum cache_status st;
	struct cache_admin_info info;          /* devices copied below */
	struct cache_admin_device dev[4];
	bool has_info;
	/* The first device's folders record, sorted: valid in the callback
	   only, so copied. */
	size_t folder_count;
	char folders[CACHE_ADMIN_FOLDERS_MAX][CACHE_ADMIN_FOLDER_NAME_MAX + 1];
};

static int str_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void admin_cb(void *ctx, enum cache_status st, const struct cache_admin_info *info)
{
	struct admin_res *r = ctx;

	r->calls++;
	r->st = st;
	r->has_info = info != NULL;
	if (info != NULL) {
		r->info = *info;
		ck_assert_uint_le(info->n, N(r->dev));
		memcpy(r->dev, info->devices, info->n * sizeof(*info->devices));
		r->info.devices = NULL;
		for (size_t i = 0; i < info->n; i++) {
			r->dev[i].folders = NULL;
			if (i > 0)
				continue;
			r->folder_count = info->devices[0].folder_count;
			for (size_t j = 0; j < r->folder_count; j++)
				strcpy(r->folders[j], info->devices[0].folders[j]);
			qsort(r->folders, r->folder_count, sizeof(r->folders[0]), str_cmp);
		}
	}
}

#define DO(call) ({ struct admin_res r_ = { 0 }; \
	void *ctx_ = &r_; (void)ctx_; \
	ck_assert_ptr_nonnull(call); \
	ck_assert(run_until(&r_.calls, 1, 5000)); r_; })

struct note_res {
	int calls;
	enum cache_status st;
};

static void note_cb(void *ctx, enum cache_status st)
{
	struct note_res *r = ctx;

	r->calls++;
	r->st = st;
}

static enum cache_status note(const char *dev, const char *const *names, size_t n)
{
	struct note_res r = { 0 };

	ck_assert_ptr_nonnull(cache_admin_note_folders(cache, ACCOUNT, dev, names, n, note_cb, &r));
	ck_assert(run_until(&r.calls, 1, 5000));
	return r.st;
}

static struct admin_res info(const char *dev)
{
	return DO(cache_admin_info(cache, ACCOUNT, dev, admin_cb, ctx_));
}

static struct admin_res change(const char *dev, enum cache_admin_op op, bool force)
{
	return DO(cache_admin_change(cache, ACCOUNT, dev, op, force, admin_cb, ctx_));
}

static void cmd(const char *fmt, const char *arg)
{
	freeReplyObject(raw_cmd(fmt, arg));
}

/* Two devices: phone (3 hidden, locked, 2 retrieved, last QUIT at
   1750000000), pc (1 hidden, no QUIT yet); 2 hidden for all. */
static void fill(void)
{
	cmd("SET %suidvalidity 77", K);
	freeReplyObject(raw_cmd("HSET " K "devices phone %s pc %s", "40 1700000000",
				"1 1600000000"));
	cmd("HSET %shidden:phone 1 a 2 b 3 c", K);
	cmd("HSET %shidden:pc 5 e", K);
	cmd("HSET %shidden_all 7 g 8 h", K);
	cmd("SET %slock:phone tok EX 100", K);
	cmd("HSET %sretr:phone 1 1750000000 4 1750000000", K);
	cmd("HSET %sseen phone 1750000000", K);
}

START_TEST(info_lists_every_device)
{
	struct admin_res r;

	fill();
	r = info(NULL);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.info.uidvalidity, 77);
	ck_assert_uint_eq(r.info.hidden_all, 2);
	ck_assert(!r.info.refused);
	ck_assert_uint_eq(r.info.n, 2);
	for (size_t i = 0; i < 2; i++) {
		struct cache_admin_device *d = &r.dev[i];

		ck_assert(d->registered);
		if (strcmp(d->name, "phone") == 0) {
			ck_assert_uint_eq(d->first_uidnext, 40);
			ck_assert_uint_eq(d->first_seen, 1700000000);
			ck_assert_uint_eq(d->hidden, 3);
			ck_assert_int_gt(d->lock_ttl_ms, 90000);
			ck_assert_int_le(d->lock_ttl_ms, 100000);
			ck_assert_uint_eq(d->retrieved, 2);
			ck_assert_uint_eq(d->last_quit, 1750000000);
		} else {
			ck_assert_str_eq(d->name, "pc");
			ck_assert_uint_eq(d->first_uidnext, 1);
			ck_assert_uint_eq(d->hidden, 1);
			ck_assert_int_eq(d->lock_ttl_ms, -1);
			ck_assert_uint_eq(d->retrieved, 0);
			ck_assert_uint_eq(d->last_quit, 0);
		}
	}
	r = info("pc");
	ck_assert_uint_eq(r.info.n, 1);
	ck_assert_str_eq(r.dev[0].name, "pc");
	ck_assert_uint_eq(info("tablet").info.n, 0);
	/* a lock of a device not registered (yet), without expiry */
	cmd("SET %slock:tablet x", K);
	r = info("tablet");
	ck_assert_uint_eq(r.info.n, 1);
	ck_assert(!r.dev[0].registered);
	ck_assert_int_eq(r.dev[0].lock_ttl_ms, -2);
	/* an account never seen */
	r = DO(cache_admin_info(cache, "nobody@h:1", NULL, admin_cb, ctx_));
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.info.n, 0);
	ck_assert_uint_eq(r.info.uidvalidity, 0);
}
END_TEST

START_TEST(locked_device_is_refused_unless_forced)
{
	struct admin_res r;

	fill();
	for (int op = CACHE_ADMIN_RESET; op <= CACHE_ADMIN_UNLOCK; op++) {
		r = change("phone", (enum cache_admin_op)op, false);
		ck_assert_int_eq(r.st, CACHE_IN_USE);
		ck_assert(r.has_info && r.info.refused);
		ck_assert_uint_eq(r.info.n, 1);
		ck_assert_int_gt(r.dev[0].lock_ttl_ms, 0);
	}
	ck_assert_int_eq(raw_int("HLEN %shidden:phone", K), 3);
	ck_assert_int_eq(raw_int("EXISTS %slock:phone", K), 1);
	/* forced reset: hides gone, first_uidnext 1, first_seen kept, lock gone */
	r = change("phone", CACHE_ADMIN_RESET, true);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.dev[0].hidden, 3);         /* as it was before */
	ck_assert_int_eq(raw_int("EXISTS %shidden:phone", K), 0);
	ck_assert_int_eq(raw_int("EXISTS %slock:phone", K), 0);
	r = info("phone");
	ck_assert_uint_eq(r.dev[0].first_uidnext, 1);
	ck_assert_uint_eq(r.dev[0].first_seen, 1700000000);
	/* the others are untouched */
	ck_assert_int_eq(raw_int("HLEN %shidden:pc", K), 1);
	ck_assert_int_eq(raw_int("HLEN %shidden_all", K), 2);
	/* a hide with the old token now finds no lock: nothing written */
	{
		const uint32_t uids[] = { 9 };

		ck_assert_int_eq(do_hide("phone", "tok", false, 77, uids, NULL, 1), CACHE_IN_USE);
		ck_assert_int_eq(raw_int("EXISTS %shidden:phone", K), 0);
	}
}
END_TEST

START_TEST(forget_and_unlock)
{
	struct admin_res r;

	fill();
	r = change("pc", CACHE_ADMIN_FORGET, false);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_int_eq(raw_int("HEXISTS %sdevices pc", K), 0);
	ck_assert_int_eq(raw_int("EXISTS %shidden:pc", K), 0);
	ck_assert_int_eq(raw_int("HEXISTS %sdevices phone", K), 1);
	ck_assert_uint_eq(info(NULL).info.n, 1);
	/* unknown: nothing done, n 0 */
	r = change("pc", CACHE_ADMIN_FORGET, true);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.info.n, 0);
	/* unlock: only the lock goes */
	r = change("phone", CACHE_ADMIN_UNLOCK, true);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_int_eq(raw_int("EXISTS %slock:phone", K), 0);
	ck_assert_int_eq(raw_int("HLEN %shidden:phone", K), 3);
	/* unlocked now: forget goes without force */
	ck_assert_int_eq(change("phone", CACHE_ADMIN_FORGET, false).st, CACHE_OK);
	ck_assert_int_eq(raw_int("EXISTS %sdevices", K), 0);
	ck_assert_int_eq(raw_int("HLEN %shidden_all", K), 2);
}
END_TEST

START_TEST(bad_state_and_arguments)
{
	fill();
	cmd("HSET %sdevices bad garbage", K);
	ck_assert_int_eq(info(NULL).st, CACHE_ERROR);
	ck_assert_int_eq(info("pc").st, CACHE_OK);
	cmd("HSET %sseen pc yesterday", K);
	ck_assert_int_eq(info("pc").st, CACHE_ERROR);
	ck_assert_int_eq(change("x/y", CACHE_ADMIN_RESET, false).st, CACHE_ERROR);
	ck_assert_int_eq(change(NULL, CACHE_ADMIN_RESET, false).st, CACHE_ERROR);
	ck_assert_int_eq(change("pc", (enum cache_admin_op)9, false).st, CACHE_ERROR);
	ck_assert_int_eq(DO(cache_admin_info(cache, "", NULL, admin_cb, ctx_)).st, CACHE_ERROR);
	ck_assert_int_eq(DO(cache_admin_info(cache, NULL, NULL, admin_cb, ctx_)).st,
			 CACHE_ERROR);
	ck_assert_int_eq(raw_int("HLEN %shidden:pc", K), 1);
}
END_TEST

/* The folders record: added to, never past CACHE_ADMIN_FOLDERS_MAX, read
   with the device, kept by reset, removed by forget; bad names refused;
   a corrupt record is an error, not a listing. */
START_TEST(folders_record)
{
	static const char *const two[] = { "Sent Items", "Archive/2024" };
	static const char *const again[] = { "Archive/2024", "Junk" };
	char big[CACHE_ADMIN_FOLDER_NAME_MAX + 2];
	const char *bad[1] = { "" };
	struct admin_res r;

	fill();
	ck_assert_int_eq(info("phone").folder_count, 0);
	ck_assert_int_eq(note("phone", two, 2), CACHE_OK);
	ck_assert_int_eq(note("phone", again, 2), CACHE_OK);
	r = info("phone");
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.folder_count, 3);
	ck_assert_str_eq(r.folders[0], "Archive/2024");
	ck_assert_str_eq(r.folders[1], "Junk");
	ck_assert_str_eq(r.folders[2], "Sent Items");
	ck_assert_uint_eq(info("pc").folder_count, 0);
	/* at most CACHE_ADMIN_FOLDERS_MAX names */
	for (int i = 0; i < CACHE_ADMIN_FOLDERS_MAX; i++) {
		char name[16];
		const char *one[1] = { name };

		snprintf(name, sizeof(name), "F%03d", i);
		ck_assert_int_eq(note("pc", one, 1), CACHE_OK);
	}
	ck_assert_int_eq(note("pc", two, 2), CACHE_OK);
	ck_assert_int_eq(raw_int("SCARD %sfolders:pc", K), CACHE_ADMIN_FOLDERS_MAX);
	ck_assert_int_eq(raw_int("SISMEMBER %sfolders:pc Archive/2024", K), 0);
	ck_assert_uint_eq(info("pc").folder_count, CACHE_ADMIN_FOLDERS_MAX);
	/* bad arguments: nothing written */
	ck_assert_int_eq(note("tab", bad, 1), CACHE_ERROR);
	ck_assert_int_eq(note("tab", two, 0), CACHE_ERROR);
	ck_assert_int_eq(note("tab", two, CACHE_ADMIN_NOTE_MAX + 1), CACHE_ERROR);
	ck_assert_int_eq(note("x/y", two, 2), CACHE_ERROR);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bad[0] = big;
	ck_assert_int_eq(note("tab", bad, 1), CACHE_ERROR);
	ck_assert_int_eq(raw_int("EXISTS %sfolders:tab", K), 0);
	/* reset keeps it (the folders still hold the device's state) */
	ck_assert_int_eq(change("phone", CACHE_ADMIN_RESET, true).st, CACHE_OK);
	ck_assert_uint_eq(info("phone").folder_count, 3);
	/* forget removes it */
	ck_assert_int_eq(change("phone", CACHE_ADMIN_FORGET, true).st, CACHE_OK);
	ck_assert_int_eq(raw_int("EXISTS %sfolders:phone", K), 0);
	/* corrupt: a record of the wrong type, a name too long */
	cmd("SET %sfolders:pc x", K);
	ck_assert_int_eq(info("pc").st, CACHE_ERROR);
	cmd("DEL %sfolders:pc", K);
	freeReplyObject(raw_cmd("SADD " K "folders:pc %s", big));
	ck_assert_int_eq(info("pc").st, CACHE_ERROR);
	ck_assert_int_eq(info(NULL).st, CACHE_ERROR);
}
END_TEST

static Suite *admin_suite(void)
{
	Suite *s = suite_create("cache_admin");
	TCase *tc = cache_test_tcase("admin");

	tcase_add_test(tc, info_lists_every_device);
	tcase_add_test(tc, locked_device_is_refused_unless_forced);
	tcase_add_test(tc, forget_and_unlock);
	tcase_add_test(tc, bad_state_and_arguments);
	tcase_add_test(tc, folders_record);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cache_test_run(admin_suite());
}
