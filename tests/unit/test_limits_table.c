/* Shared-office limits: connections per address, progressive delays after
   failed logins, LOGIN-DELAY, and the bounded tables behind them when
   clients choose the keys. */

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits_table.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct limits *new_table(size_t max)
{
	struct limits *l = limits_new(max);

	ck_assert_ptr_nonnull(l);
	limits_set_seed_for_tests(l, 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull);
	return l;
}

/* --- the keyed hash --- */

/* The SipHash paper's vectors: key 00 01 .. 0f, message 00 01 .. (n-1). */
static const struct {
	size_t len;
	uint64_t want;
} sip_vectors[] = {
	{ 0, 0x726fdb47dd0e0e31ull },
	{ 1, 0x74f839c593dc67fdull },
	{ 2, 0x0d6c8009d9a94f5aull },
	{ 3, 0x85676696d7fb7e2dull },
	{ 15, 0xa129ca6149be45e5ull },
};

START_TEST(siphash_reference_vectors)
{
	unsigned char msg[64];

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	ck_assert_msg(limits_siphash24(0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull, msg,
				       sip_vectors[_i].len) == sip_vectors[_i].want,
		      "len %zu", sip_vectors[_i].len);
}
END_TEST

START_TEST(seed_moves_keys)
{
	struct limits *a = new_table(16), *b = new_table(16);
	const char *keys[] = { "192.0.2.7", "2001:db8::1", "alice", "", "bob@example.org" };

	limits_set_seed_for_tests(b, 1, 2);
	for (size_t i = 0; i < N(keys); i++) {
		ck_assert_uint_ne(limits_key_hash(a, keys[i]), limits_key_hash(b, keys[i]));
		ck_assert_uint_eq(limits_key_hash(a, keys[i]), limits_key_hash(a, keys[i]));
	}
	ck_assert_uint_ne(limits_key_hash(a, "alice"), limits_key_hash(a, "alicf"));
	/* two tables from limits_new() get different random keys */
	{
		struct limits *r1 = limits_new(4), *r2 = limits_new(4);

		ck_assert_uint_ne(limits_key_hash(r1, "alice"), limits_key_hash(r2, "alice"));
		limits_free(&r1);
		limits_free(&r2);
	}
	limits_free(&a);
	limits_free(&b);
	ck_assert_ptr_null(a);
	limits_free(&a);	/* twice is fine */
	limits_free(NULL);
}
END_TEST

START_TEST(set_seed_empties)
{
	struct limits *l = new_table(16);
	struct limits_auth a = { 1000, 15000, 60 };

	ck_assert(limits_conn_open(l, "192.0.2.7", 0));
	limits_auth_failed(l, "192.0.2.7", "alice", &a, 0);
	limits_login_record(l, "alice", 0);
	ck_assert_uint_eq(limits_entries(l), 4);
	limits_set_seed_for_tests(l, 9, 9);
	ck_assert_uint_eq(limits_entries(l), 0);
	ck_assert_uint_eq(limits_conn_count(l, "192.0.2.7"), 0);
	limits_free(&l);
}
END_TEST

/* --- connections per address --- */

START_TEST(conn_limit_and_recovery)
{
	struct limits *l = new_table(64);

	for (int i = 0; i < 3; i++)
		ck_assert(limits_conn_open(l, "192.0.2.7", 3));
	ck_assert_uint_eq(limits_conn_count(l, "192.0.2.7"), 3);
	ck_assert(!limits_conn_open(l, "192.0.2.7", 3));
	ck_assert(!limits_conn_open(l, "192.0.2.7", 3));
	ck_assert_uint_eq(limits_conn_count(l, "192.0.2.7"), 3);
	/* another address is not held back */
	ck_assert(limits_conn_open(l, "192.0.2.8", 3));
	limits_conn_close(l, "192.0.2.7");
	ck_assert_uint_eq(limits_conn_count(l, "192.0.2.7"), 2);
	ck_assert(limits_conn_open(l, "192.0.2.7", 3));
	ck_assert(!limits_conn_open(l, "192.0.2.7", 3));
	/* a lower limit after a reload: refused until under it */
	ck_assert(!limits_conn_open(l, "192.0.2.7", 1));
	for (int i = 0; i < 3; i++)
		limits_conn_close(l, "192.0.2.7");
	limits_conn_close(l, "192.0.2.8");
	ck_assert_uint_eq(limits_conn_count(l, "192.0.2.7"), 0);
	ck_assert_uint_eq(limits_entries(l), 0);	/* removed at zero */
	/* more closes than opens: never below zero, nothing created */
	limits_conn_close(l, "192.0.2.7");
	limits_conn_close(l, "198.51.100.1");
	ck_assert_uint_eq(limits_conn_count(l, "192.0.2.7"), 0);
	ck_assert_uint_eq(limits_entries(l), 0);
	ck_assert(limits_conn_open(l, "192.0.2.7", 1));
	ck_assert(!limits_conn_open(l, "192.0.2.7", 1));
	limits_free(&l);
}
END_TEST

START_TEST(conn_unlimited_still_counted)
{
	struct limits *l = new_table(4);

	for (int i = 0; i < 1000; i++)
		ck_assert(limits_conn_open(l, "192.0.2.7", 0));
	ck_assert_uint_eq(limits_conn_count(l, "192.0.2.7"), 1000);
	ck_assert(!limits_conn_open(l, "192.0.2.7", 1000));
	ck_assert(limits_conn_open(l, "192.0.2.7", 1001));
	limits_free(&l);
}
END_TEST

static const char *const distinct_addrs[] = {
	"192.0.2.7", "192.0.2.70", "192.0.2.7 ", "::ffff:192.0.2.7", "2001:db8::1",
	"2001:db8::10", "2001:DB8::1", "", "0", "fe80::1%eth0",
};

START_TEST(conn_keys_distinct)
{
	struct limits *l = new_table(64);

	for (size_t i = 0; i < N(distinct_addrs); i++) {
		for (size_t k = 0; k <= i; k++)
			ck_assert(limits_conn_open(l, distinct_addrs[i], 0));
	}
	for (size_t i = 0; i < N(distinct_addrs); i++)
		ck_assert_msg(limits_conn_count(l, distinct_addrs[i]) == i + 1, "'%s'",
			      distinct_addrs[i]);
	/* NULL is the empty address, not a way around the limit */
	ck_assert_uint_eq(limits_conn_count(l, NULL), limits_conn_count(l, ""));
	ck_assert(!limits_conn_open(l, NULL, (unsigned int)limits_conn_count(l, "")));
	limits_free(&l);
}
END_TEST

START_TEST(conn_full_table_refuses_never_evicts)
{
	struct limits *l = new_table(4);
	struct limits_auth a = { 1000, 15000, 60 };
	char ip[32];

	for (int i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i);
		ck_assert(limits_conn_open(l, ip, 10));
	}
	/* a new address: refused, the four counts kept */
	ck_assert(!limits_conn_open(l, "198.51.100.1", 10));
	ck_assert(!limits_conn_open(l, "2001:db8::1", 0));
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_CONN), 4);
	for (int i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i);
		ck_assert_uint_eq(limits_conn_count(l, ip), 1);
	}
	/* addresses already in the table may still open more */
	ck_assert(limits_conn_open(l, "192.0.2.0", 10));
	ck_assert_uint_eq(limits_conn_count(l, "192.0.2.0"), 2);
	/* the other tables do not crowd it out, nor it them */
	for (int i = 0; i < 20; i++) {
		snprintf(ip, sizeof(ip), "203.0.113.%d", i);
		limits_auth_failed(l, ip, ip, &a, (uint64_t)i);
		limits_login_record(l, ip, (uint64_t)i);
	}
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_CONN), 4);
	ck_assert_uint_eq(limits_conn_count(l, "192.0.2.3"), 1);
	ck_assert_uint_eq(limits_entries(l), 16);
	/* a slot frees at zero */
	limits_conn_close(l, "192.0.2.3");
	ck_assert(limits_conn_open(l, "198.51.100.1", 10));
	ck_assert(!limits_conn_open(l, "198.51.100.2", 10));
	limits_free(&l);
}
END_TEST

/* --- failed logins --- */

static const struct {
	unsigned int delay_ms, delay_max_ms, n, want;
} delay_table[] = {
	{ 1000, 15000, 0, 0 },
	{ 1000, 15000, 1, 1000 },
	{ 1000, 15000, 2, 2000 },
	{ 1000, 15000, 3, 4000 },
	{ 1000, 15000, 4, 8000 },
	{ 1000, 15000, 5, 15000 },
	{ 1000, 15000, 31, 15000 },
	{ 1000, 15000, 32, 15000 },
	{ 1000, 15000, 33, 15000 },
	{ 1000, 15000, 64, 15000 },
	{ 1000, 15000, 65, 15000 },
	{ 1000, 15000, UINT_MAX, 15000 },
	{ 1, UINT_MAX, 32, 1u << 31 },
	{ 1, UINT_MAX, 33, UINT_MAX },
	{ UINT_MAX, UINT_MAX, 1, UINT_MAX },
	{ UINT_MAX, UINT_MAX, UINT_MAX, UINT_MAX },
	{ UINT_MAX, 5, 1, 5 },		/* cap below the first delay */
	{ 1000, 0, 3, 0 },		/* cap taken literally */
	{ 0, 15000, 1, 0 },
	{ 0, 15000, UINT_MAX, 0 },
	{ 3, 1000, 9, 768 },
	{ 3, 1000, 10, 1000 },
};

START_TEST(delay_formula)
{
	struct limits_auth a = { delay_table[_i].delay_ms, delay_table[_i].delay_max_ms, 60 };

	ck_assert_msg(limits_auth_delay(&a, delay_table[_i].n) == delay_table[_i].want,
		      "row %d: %u", _i, limits_auth_delay(&a, delay_table[_i].n));
}
END_TEST

START_TEST(progressive_doubling_to_cap)
{
	struct limits *l = new_table(64);
	struct limits_auth a = { 1000, 15000, 600 };
	const unsigned int want[] = { 1000, 2000, 4000, 8000, 15000, 15000, 15000 };

	for (size_t i = 0; i < N(want); i++) {
		ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.7", "alice", &a, i * 1000), i);
		ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", "alice", &a, i * 1000),
				  want[i]);
	}
	limits_free(&l);
}
END_TEST

START_TEST(per_user_across_addresses)
{
	struct limits *l = new_table(64);
	struct limits_auth a = { 1000, 15000, 600 };
	const unsigned int want[] = { 1000, 2000, 4000, 8000, 15000 };
	char ip[32];

	for (size_t i = 0; i < N(want); i++) {
		snprintf(ip, sizeof(ip), "2001:db8::%zx", i + 1);
		ck_assert_uint_eq(limits_auth_failed(l, ip, "alice", &a, 5), want[i]);
	}
	/* a fresh address trying alice is delayed as alice is */
	ck_assert_uint_eq(limits_auth_failures(l, "198.51.100.9", "alice", &a, 5), 5);
	/* but another user from a fresh address is not */
	ck_assert_uint_eq(limits_auth_failed(l, "198.51.100.9", "bob", &a, 5), 1000);
	/* an unknown user name: only the address counts */
	ck_assert_uint_eq(limits_auth_failed(l, "198.51.100.9", NULL, &a, 5), 2000);
	ck_assert_uint_eq(limits_auth_failures(l, "198.51.100.9", NULL, &a, 5), 2);
	limits_free(&l);
}
END_TEST

START_TEST(per_address_across_users)
{
	struct limits *l = new_table(64);
	struct limits_auth a = { 1000, 15000, 600 };
	const unsigned int want[] = { 1000, 2000, 4000, 8000, 15000, 15000 };
	char user[32];

	for (size_t i = 0; i < N(want); i++) {
		snprintf(user, sizeof(user), "user%zu", i);
		ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", user, &a, 5), want[i]);
	}
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.7", "nobody", &a, 5), 6);
	/* user0 from another address: one failure of its own */
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.8", "user0", &a, 5), 1);
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.8", "user0", &a, 5), 2000);
	limits_free(&l);
}
END_TEST

START_TEST(window_expiry)
{
	struct limits *l = new_table(64);
	struct limits_auth a = { 1000, 15000, 60 };
	uint64_t t = 1000000;

	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", "alice", &a, t), 1000);
	/* the window runs from the last failure: 50 s steps never expire */
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", "alice", &a, t + 50000), 2000);
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", "alice", &a, t + 100000), 4000);
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.7", "alice", &a, t + 159999), 3);
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.7", "alice", &a, t + 160000), 0);
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", "alice", &a, t + 160000), 1000);
	/* a later window_secs applies to the old records too (reload) */
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", "alice", &a, t + 170000), 2000);
	a.window_secs = 5;
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", "alice", &a, t + 180000), 1000);
	/* window 0 remembers nothing */
	a.window_secs = 0;
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", "alice", &a, t + 200000),
				  1000);
	/* a clock that goes back is no time passed, not a huge age */
	a.window_secs = 60;
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.9", "carol", &a, t), 1000);
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.9", "carol", &a, t - 500), 2000);
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.9", "carol", &a, 0), 4000);
	limits_free(&l);
}
END_TEST

START_TEST(expired_records_are_dropped)
{
	struct limits *l = new_table(1000);
	struct limits_auth a = { 1000, 15000, 60 };
	char key[32];

	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "u%d", i);
		limits_auth_failed(l, key, key, &a, 1000);
	}
	ck_assert_uint_eq(limits_entries(l), 200);
	/* each call drops a few from the old end: they do not pile up */
	for (int i = 0; i < 100; i++)
		limits_auth_failures(l, "192.0.2.7", NULL, &a, 61000);
	ck_assert_uint_eq(limits_entries(l), 0);
	limits_free(&l);
}
END_TEST

START_TEST(success_forgets_user_not_address)
{
	struct limits *l = new_table(64);
	struct limits_auth a = { 1000, 15000, 600 };

	for (int i = 0; i < 3; i++)
		limits_auth_failed(l, "192.0.2.7", "alice", &a, 10);
	limits_auth_failed(l, "192.0.2.8", "alice", &a, 10);
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.8", "alice", &a, 10), 4);
	/* alice logs in from .8: her record goes, and .8 loses her 4 failures
	   (it only had 1: its record goes too) */
	limits_auth_succeeded(l, "192.0.2.8", "alice");
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.8", "alice", &a, 10), 0);
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.7", "alice", &a, 10), 3);
	ck_assert_uint_eq(limits_auth_failures(l, "198.51.100.1", "alice", &a, 10), 0);
	/* the guessing address stays slow for the next user */
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", "bob", &a, 10), 8000);
	limits_auth_succeeded(l, "192.0.2.7", "nobody");
	limits_auth_succeeded(l, NULL, NULL);
	limits_free(&l);
}
END_TEST

/* An office behind one address: one person's mistyped password, then their
   correct login, leaves the address as it was; other users' guesses from
   it still count. */
START_TEST(success_takes_own_failures_off_the_address)
{
	struct limits *l = new_table(64);
	struct limits_auth a = { 1000, 15000, 600 };

	for (int i = 0; i < 3; i++)
		limits_auth_failed(l, "192.0.2.7", "carol", &a, 10);
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.7", "dave", &a, 10), 3);
	limits_auth_succeeded(l, "192.0.2.7", "carol");
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.7", "dave", &a, 10), 0);
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_AUTH_IP), 0);
	/* mallory guessed twice, carol mistyped once: carol's success leaves
	   mallory's two on the address */
	limits_auth_failed(l, "192.0.2.7", "mallory", &a, 20);
	limits_auth_failed(l, "192.0.2.7", "mallory", &a, 20);
	limits_auth_failed(l, "192.0.2.7", "carol", &a, 20);
	limits_auth_succeeded(l, "192.0.2.7", "carol");
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.7", NULL, &a, 20), 2);
	limits_free(&l);
}
END_TEST

START_TEST(huge_n_stays_at_cap)
{
	struct limits *l = new_table(64);
	struct limits_auth a = { 1000, 15000, 600 };
	unsigned int d = 0;

	for (int i = 0; i < 100000; i++) {
		d = limits_auth_failed(l, "192.0.2.7", "alice", &a, 7);
		ck_assert_uint_le(d, 15000);
	}
	ck_assert_uint_eq(d, 15000);
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.7", "alice", &a, 7), 100000);
	a.delay_ms = UINT_MAX;
	a.delay_max_ms = UINT_MAX;
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", "alice", &a, 7), UINT_MAX);
	limits_free(&l);
}
END_TEST

START_TEST(zero_delay_still_counts)
{
	struct limits *l = new_table(64);
	struct limits_auth a = { 0, 15000, 600 };

	for (int i = 0; i < 10; i++)
		ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", "alice", &a, 7), 0);
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.7", "alice", &a, 7), 10);
	a.delay_ms = 1000;
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", "alice", &a, 7), 15000);
	limits_free(&l);
}
END_TEST

/* --- LOGIN-DELAY --- */

START_TEST(login_delay_counts_down)
{
	struct limits *l = new_table(64);
	uint64_t t = 5000000;

	ck_assert_uint_eq(limits_login_wait(l, "alice/phone", 300, t), 0);
	limits_login_record(l, "alice/phone", t);
	ck_assert_uint_eq(limits_login_wait(l, "alice/phone", 300, t), 300);
	ck_assert_uint_eq(limits_login_wait(l, "alice/phone", 300, t + 1), 300);
	ck_assert_uint_eq(limits_login_wait(l, "alice/phone", 300, t + 1000), 299);
	ck_assert_uint_eq(limits_login_wait(l, "alice/phone", 300, t + 150500), 150);
	ck_assert_uint_eq(limits_login_wait(l, "alice/phone", 300, t + 299999), 1);
	/* another device of the same user is its own login */
	ck_assert_uint_eq(limits_login_wait(l, "alice/laptop", 300, t + 1000), 0);
	/* a shorter delay after a reload applies at once */
	ck_assert_uint_eq(limits_login_wait(l, "alice/phone", 60, t + 1000), 59);
	ck_assert_uint_eq(limits_login_wait(l, "alice/phone", 0, t + 1000), 0);
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_LOGIN), 0);	/* forgotten */

	limits_login_record(l, "alice/phone", t);
	ck_assert_uint_eq(limits_login_wait(l, "alice/phone", 300, t + 300000), 0);
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_LOGIN), 0);
	/* a new login restarts the wait */
	limits_login_record(l, "alice/phone", t + 400000);
	ck_assert_uint_eq(limits_login_wait(l, "alice/phone", 300, t + 400000), 300);
	limits_login_record(l, "alice/phone", t + 500000);
	ck_assert_uint_eq(limits_login_wait(l, "alice/phone", 300, t + 500000), 300);
	/* huge delays do not overflow */
	ck_assert_uint_eq(limits_login_wait(l, "alice/phone", UINT_MAX, t + 500000), UINT_MAX);
	ck_assert_uint_eq(limits_login_wait(l, NULL, 300, t), 0);
	limits_login_record(l, NULL, t);
	ck_assert_uint_eq(limits_entries(l), 1);
	limits_free(&l);
}
END_TEST

/* --- bounded tables --- */

START_TEST(auth_lru_evicts_oldest)
{
	struct limits *l = new_table(8);
	struct limits_auth a = { 1000, 15000, 3600 };
	char ip[32], user[32];

	for (int i = 0; i < 8; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i);
		snprintf(user, sizeof(user), "user%d", i);
		limits_auth_failed(l, ip, user, &a, (uint64_t)i);
	}
	ck_assert_uint_eq(limits_entries(l), 16);
	/* user0 fails again: now user1 is the oldest user record */
	limits_auth_failed(l, "198.51.100.1", "user0", &a, 100);
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_AUTH_IP), 8);	/* 192.0.2.0 went */
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.0", NULL, &a, 100), 0);
	limits_auth_failed(l, "198.51.100.1", "user8", &a, 101);
	ck_assert_uint_eq(limits_auth_failures(l, "203.0.113.1", "user1", &a, 102), 0);
	ck_assert_uint_eq(limits_auth_failures(l, "203.0.113.1", "user0", &a, 102), 2);
	ck_assert_uint_eq(limits_auth_failures(l, "203.0.113.1", "user2", &a, 102), 1);
	ck_assert_uint_eq(limits_auth_failures(l, "203.0.113.1", "user8", &a, 102), 1);
	ck_assert_uint_eq(limits_auth_failures(l, "198.51.100.1", NULL, &a, 102), 2);
	/* reading is not using: user2 stays the oldest */
	limits_auth_failed(l, "198.51.100.1", "user9", &a, 103);
	ck_assert_uint_eq(limits_auth_failures(l, "203.0.113.1", "user2", &a, 104), 0);
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_AUTH_USER), 8);
	limits_free(&l);
}
END_TEST

START_TEST(flood_stays_bounded)
{
	const size_t cap = 100;
	struct limits *l = new_table(cap);
	struct limits_auth a = { 1000, 15000, 3600 };
	char key[64];
	unsigned int opened = 0;

	for (size_t i = 0; i < cap + 5000; i++) {
		snprintf(key, sizeof(key), "2001:db8::%zx", i);
		ck_assert_uint_eq(limits_auth_failed(l, key, key, &a, i), 1000);
		limits_login_record(l, key, i);
		opened += limits_conn_open(l, key, 1);
		ck_assert_uint_le(limits_table_entries(l, LIMITS_AUTH_IP), cap);
		ck_assert_uint_le(limits_table_entries(l, LIMITS_AUTH_USER), cap);
		ck_assert_uint_le(limits_table_entries(l, LIMITS_LOGIN), cap);
		ck_assert_uint_le(limits_table_entries(l, LIMITS_CONN), cap);
	}
	ck_assert_uint_eq(opened, cap);
	ck_assert_uint_eq(limits_entries(l), 4 * cap);
	/* the newest records are the ones kept */
	snprintf(key, sizeof(key), "2001:db8::%zx", cap + 4999);
	ck_assert_uint_eq(limits_auth_failures(l, key, key, &a, 9999), 1);
	ck_assert_uint_ne(limits_login_wait(l, key, 60, 9999), 0);
	snprintf(key, sizeof(key), "2001:db8::%zx", (size_t)0);
	ck_assert_uint_eq(limits_auth_failures(l, key, key, &a, 9999), 0);
	ck_assert_uint_eq(limits_conn_count(l, key), 1);
	limits_free(&l);
}
END_TEST

START_TEST(cap_zero_is_one)
{
	struct limits *l = new_table(0);
	struct limits_auth a = { 1000, 15000, 3600 };

	ck_assert(limits_conn_open(l, "192.0.2.7", 0));
	ck_assert(!limits_conn_open(l, "192.0.2.8", 0));
	limits_auth_failed(l, "192.0.2.7", "a", &a, 1);
	limits_auth_failed(l, "192.0.2.8", "b", &a, 2);
	ck_assert_uint_eq(limits_entries(l), 3);
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.8", "b", &a, 3), 1);
	limits_free(&l);
}
END_TEST

/* --- odd keys --- */

START_TEST(long_keys)
{
	struct limits *l = new_table(64);
	struct limits_auth a = { 1000, 15000, 3600 };
	size_t n = 4 * LIMITS_KEY_MAX;
	char *k1 = malloc(n + 1), *k2 = malloc(n + 1);

	memset(k1, 'x', n);
	k1[n] = '\0';
	memcpy(k2, k1, n + 1);
	k2[n - 1] = 'y';	/* differs only past the stored bytes */
	ck_assert_uint_eq(limits_auth_failed(l, NULL, k1, &a, 1), 1000);
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.7", k1, &a, 1), 2000);
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.8", k2, &a, 1), 1000);
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.9", k1, &a, 1), 2);
	/* the same bytes cut at the stored length, and one past it */
	k1[LIMITS_KEY_MAX] = '\0';
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.9", k1, &a, 1), 0);
	ck_assert_uint_eq(limits_auth_failed(l, "192.0.2.9", k1, &a, 1), 1000);
	k1[LIMITS_KEY_MAX] = 'x';
	k1[LIMITS_KEY_MAX + 1] = '\0';
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.10", k1, &a, 1), 0);
	/* connections too, and closing finds the entry again */
	k1[LIMITS_KEY_MAX + 1] = 'x';
	ck_assert(limits_conn_open(l, k1, 1));
	ck_assert(!limits_conn_open(l, k1, 1));
	ck_assert(limits_conn_open(l, k2, 1));
	limits_conn_close(l, k1);
	limits_conn_close(l, k2);
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_CONN), 0);
	limits_auth_succeeded(l, "192.0.2.10", k2);
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.10", k2, &a, 1), 0);
	ck_assert_uint_eq(limits_auth_failures(l, "192.0.2.10", k1, &a, 1), 2);
	free(k1);
	free(k2);
	limits_free(&l);
}
END_TEST

START_TEST(empty_and_binary_keys)
{
	struct limits *l = new_table(600);
	struct limits_auth a = { 1000, 15000, 3600 };
	char key[8];

	ck_assert_uint_eq(limits_auth_failed(l, "", "", &a, 1), 1000);
	ck_assert_uint_eq(limits_auth_failed(l, "", "", &a, 1), 2000);
	limits_login_record(l, "", 1);
	ck_assert_uint_eq(limits_login_wait(l, "", 10, 1), 10);
	/* every non-NUL byte as a one-byte key, and with a high byte after */
	for (int c = 1; c < 256; c++) {
		key[0] = (char)c;
		key[1] = '\0';
		ck_assert(limits_conn_open(l, key, 1));
		key[1] = (char)0xff;
		key[2] = '\0';
		ck_assert(limits_conn_open(l, key, 1));
	}
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_CONN), 510);
	for (int c = 1; c < 256; c++) {
		key[0] = (char)c;
		key[1] = '\0';
		ck_assert(!limits_conn_open(l, key, 1));
		ck_assert_uint_eq(limits_conn_count(l, key), 1);
		limits_conn_close(l, key);
	}
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_CONN), 255);
	ck_assert_uint_eq(limits_auth_failed(l, "\r\n\x01", "\xc3\xa9\x7f", &a, 1), 1000);
	ck_assert_uint_eq(limits_auth_failures(l, "\r\n", "\xc3\xa9", &a, 1), 0);
	limits_free(&l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("limits");
	TCase *hash = tcase_create("hash");
	TCase *conn = tcase_create("conn");
	TCase *auth = tcase_create("auth");
	TCase *login = tcase_create("login");
	TCase *bound = tcase_create("bounded");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(hash, siphash_reference_vectors, 0, N(sip_vectors));
	tcase_add_test(hash, seed_moves_keys);
	tcase_add_test(hash, set_seed_empties);
	suite_add_tcase(s, hash);

	tcase_add_test(conn, conn_limit_and_recovery);
	tcase_add_test(conn, conn_unlimited_still_counted);
	tcase_add_test(conn, conn_keys_distinct);
	tcase_add_test(conn, conn_full_table_refuses_never_evicts);
	suite_add_tcase(s, conn);

	tcase_add_loop_test(auth, delay_formula, 0, N(delay_table));
	tcase_add_test(auth, progressive_doubling_to_cap);
	tcase_add_test(auth, per_user_across_addresses);
	tcase_add_test(auth, per_address_across_users);
	tcase_add_test(auth, window_expiry);
	tcase_add_test(auth, expired_records_are_dropped);
	tcase_add_test(auth, success_forgets_user_not_address);
	tcase_add_test(auth, success_takes_own_failures_off_the_address);
	tcase_add_test(auth, huge_n_stays_at_cap);
	tcase_add_test(auth, zero_delay_still_counts);
	suite_add_tcase(s, auth);

	tcase_add_test(login, login_delay_counts_down);
	suite_add_tcase(s, login);

	tcase_add_test(bound, auth_lru_evicts_oldest);
	tcase_add_test(bound, flood_stays_bounded);
	tcase_add_test(bound, cap_zero_is_one);
	tcase_add_test(bound, long_keys);
	tcase_add_test(bound, empty_and_binary_keys);
	suite_add_tcase(s, bound);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
