/* cache url parser: adversarial table, one row per input. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_url.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct url_row {
	const char *s;
	int ret;
	enum cache_url_kind kind;
	const char *host;     /* TCP */
	unsigned int port;
	const char *path;     /* UNIX */
	const char *user;
	const char *password;
	unsigned int db;
};

#define OK_TCP(s, h, p, u, pw, d) { s, 0, CACHE_URL_TCP, h, p, "", u, pw, d }
#define OK_UNIX(s, path, d) { s, 0, CACHE_URL_UNIX, "", 0, path, "", "", d }
#define BAD(s) { s, -1, CACHE_URL_AUTO, "", 0, "", "", "", 0 }

static const struct url_row url_table[] = {
	{ "auto", 0, CACHE_URL_AUTO, "", 0, "", "", "", 0 },
	{ "AUTO", 0, CACHE_URL_AUTO, "", 0, "", "", "", 0 },
	BAD("autox"), BAD(" auto"), BAD("auto "), BAD(""),

	OK_TCP("redis://localhost", "localhost", 6379, "", "", 0),
	OK_TCP("REDIS://localhost", "localhost", 6379, "", "", 0),
	OK_TCP("redis://localhost/", "localhost", 6379, "", "", 0),
	OK_TCP("redis://127.0.0.1:6380/2", "127.0.0.1", 6380, "", "", 2),
	OK_TCP("redis://h:1/65535", "h", 1, "", "", 65535),
	OK_TCP("redis://h:065535", "h", 65535, "", "", 0),
	OK_TCP("redis://[::1]:7000/1", "::1", 7000, "", "", 1),
	OK_TCP("redis://[::1]", "::1", 6379, "", "", 0),
	OK_TCP("redis://[fe80::1:2]/3", "fe80::1:2", 6379, "", "", 3),
	OK_TCP("redis://:secret@redis.example.com", "redis.example.com",
	       6379, "", "secret", 0),
	OK_TCP("redis://popgate:secret@h:1/4", "h", 1, "popgate", "secret", 4),
	OK_TCP("redis://:p%40ss%3Aw%2Fd%25@h", "h", 6379, "", "p@ss:w/d%", 0),
	OK_TCP("redis://:a@b@h", "h", 6379, "", "a@b", 0),
	OK_TCP("redis://:a:b@h", "h", 6379, "", "a:b", 0),
	OK_TCP("redis://:%e2%82%ac@h", "h", 6379, "", "\xe2\x82\xac", 0),
	OK_TCP("redis://a-b.c-d.example:9", "a-b.c-d.example", 9, "", "", 0),
	OK_TCP("redis://1.2.3.4", "1.2.3.4", 6379, "", "", 0),

	BAD("redis://"), BAD("redis:///0"), BAD("redis://:6379"),
	BAD("redis://h:"), BAD("redis://h:0"), BAD("redis://h:65536"),
	BAD("redis://h:99999999999999999999"), BAD("redis://h:-1"),
	BAD("redis://h:+1"), BAD("redis://h:1x"), BAD("redis://h:1:2"),
	BAD("redis://h/x"), BAD("redis://h/-1"), BAD("redis://h/65536"),
	BAD("redis://h/1/2"), BAD("redis://h/ 1"), BAD("redis://h/0x1"),
	BAD("redis://h?db=1"), BAD("redis://h/1?x"), BAD("redis://h#frag"),
	BAD("redis://h_x"), BAD("redis://h x"), BAD("redis://h..x"),
	BAD("redis://.h"), BAD("redis://h."), BAD("redis://-"),
	BAD("redis://-a.b"), BAD("redis://a-.b"), BAD("redis://a.b-"),
	BAD("redis://999.1.1.1"), BAD("redis://1.2.3"), BAD("redis://01.2.3.4"),
	BAD("redis://[::1"), BAD("redis://[]"), BAD("redis://[::g]"),
	BAD("redis://[::1]x"), BAD("redis://[::1]:"), BAD("redis://[1.2.3.4]"),
	BAD("redis://user@h"), BAD("redis://:@h"), BAD("redis://u:@h"),
	BAD("redis://@h"), BAD("redis://:pw@"), BAD("redis://:pw@:1"),
	BAD("redis://:p%@h"), BAD("redis://:p%4@h"), BAD("redis://:p%zz@h"),
	BAD("redis://:p%00x@h"), BAD("redis://:p w@h"), BAD("redis://:p\tw@h"),
	BAD("redis://:p\xc3\xa9@h"), BAD("redis://:p\r\nAUTH x@h"),
	BAD("redis://ex\xc3\xa4mple.com"),
	BAD("rediss://h"), BAD("redis-sentinel://h"), BAD("http://h"),
	BAD("redis-sentinel://"), BAD("redis-sentinel:///m"),
	BAD("redis-sentinel://h/"), BAD("redis-sentinel://h,/m"),
	BAD("redis-sentinel://,h/m"), BAD("redis-sentinel://h,,h/m"),
	BAD("redis-sentinel://h:0/m"), BAD("redis-sentinel://h/m/1"),
	BAD("redis-sentinel://h/m?"), BAD("redis-sentinel://h/m?db="),
	BAD("redis-sentinel://h/m?db=1&db=2"), BAD("redis-sentinel://h/m?db=1&"),
	BAD("redis-sentinel://h/m?x=1"), BAD("redis-sentinel://h/m#f"),
	BAD("redis-sentinel://h/m?sentinel_password="),
	BAD("redis-sentinel://h/m?sentinel_password=a&sentinel_password=b"),
	BAD("redis-sentinel://h/m?sentinel_password=a b"),
	BAD("redis-sentinel://h/m?sentinel_password=%00"),
	BAD("redis-sentinel://h/m\r\nSHUTDOWN"), BAD("redis-sentinel://h/m n"),
	BAD("redis-sentinel://h/{m}"), BAD("redis-sentinel://user@h/m"),
	BAD("redis-sentinel://h/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	BAD("redis-sentinel://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q/m"),
	BAD("redis-sentinel://[::1/m"), BAD("redis-sentinel://h_x:1/m"),
	BAD("redis-cluster://"), BAD("redis-cluster://h,"),
	BAD("redis-cluster://h/0"), BAD("redis-cluster://h/1"),
	BAD("redis-cluster://h?db=1"), BAD("redis-cluster://h//"),
	BAD("redis-cluster://h:7000,h:70000"), BAD("redis-cluster://:@h"),
	BAD("redis-cluster://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"),
	BAD("redis:/h"), BAD("redis:h"), BAD("tcp://h:6379"),
	BAD("redis://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b"),

	OK_UNIX("unix:/run/redis.sock", "/run/redis.sock", 0),
	OK_UNIX("UNIX:/run/redis.sock", "/run/redis.sock", 0),
	OK_UNIX("unix:/tmp/a b/r.sock?db=7", "/tmp/a b/r.sock", 7),
	OK_UNIX("unix:/x?db=0", "/x", 0),
	OK_UNIX("unix:///x", "///x", 0),
	BAD("unix:"), BAD("unix:/"), BAD("unix:relative.sock"),
	BAD("unix:/x?"), BAD("unix:/x?db="), BAD("unix:/x?db=1&a=b"),
	BAD("unix:/x?db=65536"), BAD("unix:/x?db=-1"), BAD("unix:/x?DB=1"),
	BAD("unix:/x?password=p"), BAD("unix:/a\nb"), BAD("unix:/a\x7f"),
	BAD("unix:/x?db=1?db=2"),
};

/* Sentinel and cluster urls: the nodes, the master name, the passwords. */
struct multi_row {
	const char *s;
	enum cache_url_kind kind;
	unsigned int count;
	const char *hosts[3];
	unsigned int ports[3];
	const char *master, *user, *password, *sentinel_password;
	unsigned int db;
};

static const struct multi_row multi_table[] = {
	{ "redis-sentinel://127.0.0.1/mymaster", CACHE_URL_SENTINEL, 1,
	  { "127.0.0.1" }, { 26379 }, "mymaster", "", "", "", 0 },
	{ "REDIS-SENTINEL://a:1,b,[::1]:3/m.a-s_1?db=4", CACHE_URL_SENTINEL, 3,
	  { "a", "b", "::1" }, { 1, 26379, 3 }, "m.a-s_1", "", "", "", 4 },
	{ "redis-sentinel://:pw@s1:26379,s2:26380/m?sentinel_password=s%26p&db=2",
	  CACHE_URL_SENTINEL, 2, { "s1", "s2" }, { 26379, 26380 }, "m", "",
	  "pw", "s&p", 2 },
	{ "redis-sentinel://u:p%40@h/m?sentinel_password=x", CACHE_URL_SENTINEL,
	  1, { "h" }, { 26379 }, "m", "u", "p@", "x", 0 },
	{ "redis-sentinel://:a@b@h/m", CACHE_URL_SENTINEL, 1, { "h" },
	  { 26379 }, "m", "", "a@b", "", 0 },
	{ "redis-cluster://h1:7000,h2:7001,h3", CACHE_URL_CLUSTER, 3,
	  { "h1", "h2", "h3" }, { 7000, 7001, 6379 }, "", "", "", "", 0 },
	{ "Redis-Cluster://:pw@10.0.0.1:7000/", CACHE_URL_CLUSTER, 1,
	  { "10.0.0.1" }, { 7000 }, "", "", "pw", "", 0 },
};

START_TEST(url_multi)
{
	const struct multi_row *row = &multi_table[_i];
	const char *error = NULL;
	struct cache_url url;
	unsigned int i;

	ck_assert_msg(cache_url_parse(row->s, &url, &error) == 0, "'%s': %s",
		      row->s, error);
	ck_assert_int_eq(url.kind, row->kind);
	ck_assert_uint_eq(url.node_count, row->count);
	for (i = 0; i < row->count; i++) {
		ck_assert_str_eq(url.nodes[i].host, row->hosts[i]);
		ck_assert_uint_eq(url.nodes[i].port, row->ports[i]);
	}
	ck_assert_str_eq(url.master, row->master);
	ck_assert_str_eq(url.user, row->user);
	ck_assert_str_eq(url.password, row->password);
	ck_assert_str_eq(url.sentinel_password, row->sentinel_password);
	ck_assert_uint_eq(url.db, row->db);
	ck_assert_str_eq(url.host, "");
}
END_TEST

START_TEST(url_rows)
{
	const struct url_row *row = &url_table[_i];
	const char *error = NULL;
	struct cache_url url;
	int ret;

	memset(&url, 0x55, sizeof(url));
	ret = cache_url_parse(row->s, &url, &error);
	ck_assert_msg(ret == row->ret, "'%s': ret %d (%s)", row->s, ret,
		      error != NULL ? error : "");
	if (ret < 0) {
		static const struct cache_url zero;

		ck_assert_ptr_nonnull(error);
		ck_assert_msg(memcmp(&url, &zero, sizeof(url)) == 0,
			      "'%s': result not wiped", row->s);
		return;
	}
	ck_assert_int_eq(url.kind, row->kind);
	ck_assert_str_eq(url.host, row->host);
	ck_assert_str_eq(url.path, row->path);
	ck_assert_str_eq(url.user, row->user);
	ck_assert_str_eq(url.password, row->password);
	ck_assert_uint_eq(url.db, row->db);
	if (row->kind == CACHE_URL_TCP)
		ck_assert_uint_eq(url.port, row->port);
}
END_TEST

START_TEST(url_limits)
{
	char s[CACHE_URL_MAX + 64], host[300];
	const char *error = NULL;
	struct cache_url url;
	size_t i;

	/* Socket path: 107 bytes fit sun_path, 108 do not. */
	strcpy(s, "unix:/");
	memset(s + 6, 'a', 106);
	s[6 + 106] = '\0';
	ck_assert_int_eq(cache_url_parse(s, &url, &error), 0);
	ck_assert_uint_eq(strlen(url.path), 107);
	strcat(s, "a");
	ck_assert_int_eq(cache_url_parse(s, &url, &error), -1);

	/* Host name: 253 bytes in labels of 63. */
	host[0] = '\0';
	for (i = 0; i < 4; i++)
		strcat(host, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");
	host[253] = '\0';
	snprintf(s, sizeof(s), "redis://%s", host);
	ck_assert_int_eq(cache_url_parse(s, &url, &error), 0);
	ck_assert_str_eq(url.host, host);
	snprintf(s, sizeof(s), "redis://%sa", host);
	ck_assert_int_eq(cache_url_parse(s, &url, &error), -1);

	/* Password: 512 decoded bytes, escapes count once. */
	strcpy(s, "redis://:");
	for (i = 0; i < 512; i++)
		strcat(s, "%41");
	strcat(s, "@h");
	ck_assert_int_eq(cache_url_parse(s, &url, &error), 0);
	ck_assert_uint_eq(strlen(url.password), 512);
	strcpy(s, "redis://:");
	for (i = 0; i < 513; i++)
		strcat(s, "p");
	strcat(s, "@h");
	ck_assert_int_eq(cache_url_parse(s, &url, &error), -1);

	/* Whole setting. */
	memset(s, 'a', CACHE_URL_MAX + 1);
	memcpy(s, "unix:/", 6);
	s[CACHE_URL_MAX + 1] = '\0';
	ck_assert_int_eq(cache_url_parse(s, &url, &error), -1);
	ck_assert_int_eq(cache_url_parse(NULL, &url, NULL), -1);
}
END_TEST

START_TEST(url_describe)
{
	struct cache_url url;
	char buf[300], small[12];

	ck_assert_int_eq(cache_url_parse("redis://u:secret@h:7/3", &url, NULL), 0);
	ck_assert_str_eq(cache_url_describe(&url, buf, sizeof(buf)),
			 "redis://u@h:7/3");
	ck_assert_ptr_null(strstr(buf, "secret"));
	ck_assert_int_eq(cache_url_parse("redis://:secret@[::1]", &url, NULL), 0);
	ck_assert_str_eq(cache_url_describe(&url, buf, sizeof(buf)),
			 "redis://[::1]:6379/0");
	ck_assert_int_eq(cache_url_parse("redis://:x@h", &url, NULL), 0);
	ck_assert_str_eq(cache_url_describe(&url, small, sizeof(small)),
			 "redis://h:6");
	ck_assert_int_eq(cache_url_parse("redis://%0a:x@h", &url, NULL), 0);
	ck_assert_str_eq(cache_url_describe(&url, buf, sizeof(buf)),
			 "redis://?@h:6379/0");
	ck_assert_int_eq(cache_url_parse("unix:/r.sock?db=2", &url, NULL), 0);
	ck_assert_str_eq(cache_url_describe(&url, buf, sizeof(buf)),
			 "unix:/r.sock?db=2");
	ck_assert_int_eq(cache_url_parse("auto", &url, NULL), 0);
	ck_assert_str_eq(cache_url_describe(&url, buf, sizeof(buf)), "auto");
	ck_assert_int_eq(cache_url_parse("redis-sentinel://u:secret@a,[::1]:2/m"
					 "?sentinel_password=secret2&db=1",
					 &url, NULL), 0);
	ck_assert_str_eq(cache_url_describe(&url, buf, sizeof(buf)),
			 "redis-sentinel://u@a:26379,[::1]:2/m?db=1");
	ck_assert_int_eq(cache_url_parse("redis-cluster://:secret@a:7000,b",
					 &url, NULL), 0);
	ck_assert_str_eq(cache_url_describe(&url, buf, sizeof(buf)),
			 "redis-cluster://a:7000,b:6379");
}
END_TEST

/* Fed one byte longer at a time: every prefix is parsed on its own and
   must never crash or accept something the full row would refuse. */
START_TEST(url_prefixes)
{
	const char *s = url_table[_i].s;
	size_t len = strlen(s), i;
	char buf[256];
	struct cache_url url;

	if (len >= sizeof(buf))
		return;
	for (i = 0; i <= len; i++) {
		const char *error = NULL;

		memcpy(buf, s, i);
		buf[i] = '\0';
		if (cache_url_parse(buf, &url, &error) < 0)
			ck_assert_ptr_nonnull(error);
		else
			ck_assert_ptr_null(memchr(url.host, '[', sizeof(url.host)));
	}
}
END_TEST

static Suite *cache_url_suite(void)
{
	Suite *s = suite_create("cache_url");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, url_rows, 0, N(url_table));
	tcase_add_loop_test(tc, url_prefixes, 0, N(url_table));
	tcase_add_loop_test(tc, url_multi, 0, N(multi_table));
	tcase_add_test(tc, url_limits);
	tcase_add_test(tc, url_describe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cache_url_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
