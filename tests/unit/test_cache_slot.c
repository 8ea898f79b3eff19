/* Redis Cluster slots (CRC16, hash tags) and redirect replies. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_slot.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(crc16_reference)
{
	/* The check value of CRC-16/XMODEM, and the spec's example. */
	ck_assert_uint_eq(cache_crc16("123456789", 9), 0x31c3);
	ck_assert_uint_eq(cache_crc16("", 0), 0);
}
END_TEST

struct slot_row {
	const char *key;
	const char *same_as;   /* hashes as this, or NULL */
	int slot;              /* known slot, or -1 */
};

static const struct slot_row slot_table[] = {
	{ "somekey", NULL, 11058 },          /* CLUSTER KEYSLOT examples */
	{ "foo{hash_tag}", "hash_tag", 2515 },
	{ "bar{hash_tag}", "hash_tag", 2515 },
	{ "foo", NULL, 12182 },
	{ "bar", NULL, 5061 },
	{ "{user1000}.following", "user1000", -1 },
	{ "{user1000}.followers", "user1000", -1 },
	{ "foo{}{bar}", "foo{}{bar}", -1 },  /* empty tag: the whole key */
	{ "foo{{bar}}zap", "{bar", -1 },     /* first '{' to first '}' */
	{ "foo{bar}{zap}", "bar", -1 },
	{ "{", "{", -1 }, { "}", "}", -1 }, { "}{", "}{", -1 },
	{ "a{b", "a{b", -1 }, { "{}", "{}", -1 },
	{ "popgate:{alice@example.com@imap.example.com:993}:lock:pc",
	  "alice@example.com@imap.example.com:993", -1 },
	{ "popgate:{alice@example.com@imap.example.com:993}:hidden_all",
	  "alice@example.com@imap.example.com:993", -1 },
};

START_TEST(slot_rows)
{
	const struct slot_row *row = &slot_table[_i];
	uint16_t slot = cache_slot(row->key, strlen(row->key));

	ck_assert_uint_lt(slot, CACHE_SLOTS);
	if (row->slot >= 0)
		ck_assert_msg(slot == row->slot, "%s: %u", row->key, slot);
	if (row->same_as != NULL)
		ck_assert_uint_eq(slot, cache_crc16(row->same_as,
						    strlen(row->same_as)) %
				  CACHE_SLOTS);
}
END_TEST

START_TEST(slot_binary)
{
	/* Lengths, not NULs, bound a key. */
	ck_assert_uint_eq(cache_slot("a\0{b}", 5), cache_slot("b", 1));
	ck_assert_uint_eq(cache_slot("a\0b", 3),
			  cache_crc16("a\0b", 3) % CACHE_SLOTS);
}
END_TEST

START_TEST(slot_of_commands)
{
	const char *lock[] = { "EVAL", "script", "1",
			       "popgate:{a}:lock:pc", "tok" };
	const char *hide[] = { "eval", "s", "3", "popgate:{a}:lock:pc",
			       "popgate:{a}:uidvalidity", "popgate:{a}:hidden:pc",
			       "tok", "1" };
	const char *split[] = { "EVAL", "s", "2", "popgate:{a}:x",
				"popgate:{b}:x" };
	const char *bad[] = { "EVAL", "s", "3", "popgate:{a}:x" };
	const char *set[] = { "SET", "popgate:{a}:lock:pc", "t", "NX" };
	const char *ping[] = { "PING" };
	const char *slots[] = { "cluster", "SLOTS" };
	size_t len[8];
	int i, want = cache_slot("a", 1);

#define LENS(v) for (i = 0; i < (int)N(v); i++) len[i] = strlen(v[i])
	LENS(lock);
	ck_assert_int_eq(cache_slot_of_command(N(lock), lock, len), want);
	LENS(hide);
	ck_assert_int_eq(cache_slot_of_command(N(hide), hide, len), want);
	LENS(split);
	ck_assert_int_eq(cache_slot_of_command(N(split), split, len), -1);
	LENS(bad);
	ck_assert_int_eq(cache_slot_of_command(N(bad), bad, len), -1);
	LENS(set);
	ck_assert_int_eq(cache_slot_of_command(N(set), set, len), want);
	LENS(ping);
	ck_assert_int_eq(cache_slot_of_command(N(ping), ping, len), -2);
	ck_assert_int_eq(cache_slot_of_command(0, ping, len), -2);
	LENS(slots);
	ck_assert_int_eq(cache_slot_of_command(N(slots), slots, len), -2);
}
END_TEST

struct redirect_row {
	const char *s;
	int ret;
	enum cache_redirect_kind kind;
	unsigned int slot;
	const char *host;
	unsigned int port;
};

#define BADR(s) { s, -1, CACHE_REDIRECT_NONE, 0, "", 0 }
#define NONE(s) { s, 0, CACHE_REDIRECT_NONE, 0, "", 0 }

static const struct redirect_row redirect_table[] = {
	{ "MOVED 3999 127.0.0.1:6381", 0, CACHE_REDIRECT_MOVED, 3999, "127.0.0.1", 6381 },
	{ "ASK 3999 127.0.0.1:6381", 0, CACHE_REDIRECT_ASK, 3999, "127.0.0.1", 6381 },
	{ "MOVED 0 redis-1.example:7000", 0, CACHE_REDIRECT_MOVED, 0, "redis-1.example", 7000 },
	{ "MOVED 16383 ::1:7000", 0, CACHE_REDIRECT_MOVED, 16383, "::1", 7000 },
	{ "MOVED 5 :7000", 0, CACHE_REDIRECT_MOVED, 5, "", 7000 },
	{ "TRYAGAIN Multiple keys request during rehashing of slot", 0,
	  CACHE_REDIRECT_TRYAGAIN, 0, "", 0 },
	{ "TRYAGAIN", 0, CACHE_REDIRECT_TRYAGAIN, 0, "", 0 },
	{ "CLUSTERDOWN The cluster is down", 0, CACHE_REDIRECT_CLUSTERDOWN, 0, "", 0 },
	{ "CLUSTERDOWN Hash slot not served", 0, CACHE_REDIRECT_CLUSTERDOWN, 0, "", 0 },
	NONE("ERR unknown command"), NONE("READONLY You can't write"),
	NONE("MOVEDX 1 h:1"), NONE("ASKING"), NONE("moved 1 h:1"),
	NONE("TRYAGAINX"), NONE("CLUSTERDOWNx"), NONE(""),
	BADR("MOVED"), BADR("MOVED "), BADR("MOVED 1"), BADR("MOVED 1 "),
	BADR("MOVED 16384 h:1"), BADR("MOVED -1 h:1"), BADR("MOVED x h:1"),
	BADR("MOVED 1 h"), BADR("MOVED 1 h:"), BADR("MOVED 1 h:0"),
	BADR("MOVED 1 h:65536"), BADR("MOVED 1 h:1x"), BADR("MOVED 1 h :1"),
	BADR("MOVED 1 h:1 extra"), BADR("MOVED 1 h\r\n:1"), BADR("MOVED 1 [::1]:7000"),
	BADR("MOVED  1 h:1"), BADR("ASK 1 h\x01:1"), BADR("ASK 99999999999999999999 h:1"),
	BADR("ASK 1 h:99999999999999999999"),
	BADR("MOVED 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1"),  /* 254 bytes of host */
};

START_TEST(redirect_rows)
{
	const struct redirect_row *row = &redirect_table[_i];
	struct cache_redirect r;
	int ret;

	memset(&r, 0x55, sizeof(r));
	ret = cache_redirect_parse(row->s, strlen(row->s), &r);
	ck_assert_msg(ret == row->ret, "'%s': %d", row->s, ret);
	ck_assert_int_eq(r.kind, row->kind);
	ck_assert_uint_eq(r.slot, row->slot);
	ck_assert_str_eq(r.host, row->host);
	ck_assert_uint_eq(r.port, row->port);
}
END_TEST

/* Every prefix of a row, without its NUL: never read past len. */
START_TEST(redirect_prefixes)
{
	const char *s = redirect_table[_i].s;
	size_t len = strlen(s), i;
	struct cache_redirect r;

	for (i = 0; i <= len; i++) {
		char *copy = malloc(i + 1);

		memcpy(copy, s, i);
		(void)cache_redirect_parse(copy, i, &r);
		ck_assert_uint_lt(strlen(r.host), sizeof(r.host));
		free(copy);
	}
}
END_TEST

static Suite *cache_slot_suite(void)
{
	Suite *s = suite_create("cache_slot");
	TCase *tc = tcase_create("slot");

	tcase_add_test(tc, crc16_reference);
	tcase_add_loop_test(tc, slot_rows, 0, N(slot_table));
	tcase_add_test(tc, slot_binary);
	tcase_add_test(tc, slot_of_commands);
	tcase_add_loop_test(tc, redirect_rows, 0, N(redirect_table));
	tcase_add_loop_test(tc, redirect_prefixes, 0, N(redirect_table));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cache_slot_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
