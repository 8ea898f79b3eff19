/* Editing popgate.conf as text (conf/conf_edit.c): every other byte stays. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "conf_edit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct conf_edit_kv kv3[] = {
	{ "host", "imap.new.test", 0 },
	{ "port", "993", 0 },
	{ "tls", "imaps", 0 },
};

static char *edit(const char *text, const char *section, const struct conf_edit_kv *kv,
		  size_t n)
{
	char *out = NULL;
	size_t len;
	const char *error = NULL;

	ck_assert_msg(conf_edit_section(text, strlen(text), section, kv, n, &out, &len,
					&error) == 0, "%s", error);
	ck_assert_uint_eq(strlen(out), len);
	return out;
}

/* input, section, expected output with kv3. */
static const struct {
	const char *in, *section, *out;
} cases[] = {
	/* an empty file gets the section alone */
	{ "", "upstream", "[upstream]\nhost = imap.new.test\nport = 993\ntls = imaps\n" },
	/* appended after a blank line; the missing newline added */
	{ "# c\n[server]\nlisten = 127.0.0.1:1", "route a.test",
	  "# c\n[server]\nlisten = 127.0.0.1:1\n\n[route a.test]\nhost = imap.new.test\n"
	  "port = 993\ntls = imaps\n" },
	/* in place: values replaced, indentation and comments kept, the
	   missing key after the last key, before the blank and comment */
	{ "[upstream]\n  host = old ; the old one\n# port = 1\ntimeout = 5s\n\n# next\n[log]\n",
	  "upstream",
	  "[upstream]\n  host = imap.new.test ; the old one\n# port = 1\ntimeout = 5s\n"
	  "port = 993\ntls = imaps\n\n# next\n[log]\n" },
	/* the blanks before an inline comment stay as they were */
	{ "[upstream]\nhost = old   ; c\n", "upstream",
	  "[upstream]\nhost = imap.new.test   ; c\nport = 993\ntls = imaps\n" },
	/* "key: value" is a key line too (inih) */
	{ "[upstream]\nhost: old\n", "upstream",
	  "[upstream]\nhost = imap.new.test\nport = 993\ntls = imaps\n" },
	/* a longer key with the same start is another key */
	{ "[upstream]\nhostname = x\nhost = old\n", "upstream",
	  "[upstream]\nhostname = x\nhost = imap.new.test\nport = 993\ntls = imaps\n" },
	/* the same keys in other sections are left alone */
	{ "[route b.test]\nhost = b\nport = 1\n[upstream]\nhost = u\n[route a.test]\nport = 7\n",
	  "route a.test",
	  "[route b.test]\nhost = b\nport = 1\n[upstream]\nhost = u\n[route a.test]\nport = 993\n"
	  "host = imap.new.test\ntls = imaps\n" },
	/* a route header in another spelling is the same route */
	{ "  [route   A.Test ]  ; x\ntls = none\n", "route a.test",
	  "  [route   A.Test ]  ; x\ntls = imaps\nhost = imap.new.test\nport = 993\n" },
	/* [routes a.test] or [route a.test.x] are not the route */
	{ "[route a.test.x]\nhost = x\n", "route a.test",
	  "[route a.test.x]\nhost = x\n\n[route a.test]\nhost = imap.new.test\nport = 993\n"
	  "tls = imaps\n" },
	/* CR LF files get CR LF lines */
	{ "[server]\r\nlisten = 127.0.0.1:1\r\n[upstream]\r\nhost = old\r\n", "upstream",
	  "[server]\r\nlisten = 127.0.0.1:1\r\n[upstream]\r\nhost = imap.new.test\r\n"
	  "port = 993\r\ntls = imaps\r\n" },
	{ "[log]\r\nlevel = info\r\n", "upstream",
	  "[log]\r\nlevel = info\r\n\r\n[upstream]\r\nhost = imap.new.test\r\nport = 993\r\n"
	  "tls = imaps\r\n" },
	/* a byte-order mark before the first header */
	{ "\xef\xbb\xbf[upstream]\nhost = old", "upstream",
	  "\xef\xbb\xbf[upstream]\nhost = imap.new.test\nport = 993\ntls = imaps\n" },
	/* the section's last line without a newline */
	{ "[upstream]\ntls = none", "upstream",
	  "[upstream]\ntls = imaps\nhost = imap.new.test\nport = 993\n" },
	/* a commented-out section header is a comment */
	{ "#[upstream]\n#host = x\n", "upstream",
	  "#[upstream]\n#host = x\n\n[upstream]\nhost = imap.new.test\nport = 993\n"
	  "tls = imaps\n" },
	/* a header without ']' is not a header: the keys after it are the
	   previous section's, as conf.c sees it */
	{ "[upstream]\nhost = old\n[route x\nport = 1\n", "upstream",
	  "[upstream]\nhost = imap.new.test\n[route x\nport = 993\ntls = imaps\n" },
};

START_TEST(edit_table)
{
	char *out = edit(cases[_i].in, cases[_i].section, kv3, N(kv3));

	ck_assert_msg(strcmp(out, cases[_i].out) == 0, "case %d:\n%s\n--- want:\n%s", _i, out,
		      cases[_i].out);
	free(out);
}
END_TEST

/* Editing the result again with the same keys changes nothing. */
START_TEST(edit_is_idempotent)
{
	char *once = edit(cases[_i].in, cases[_i].section, kv3, N(kv3));
	char *twice = edit(once, cases[_i].section, kv3, N(kv3));

	ck_assert_str_eq(once, twice);
	free(once);
	free(twice);
}
END_TEST

START_TEST(empty_and_only_existing)
{
	static const struct conf_edit_kv kv[] = {
		{ "host", "h.test", 0 },
		{ "ca_file", "", 0 },          /* "" replaces, never adds */
		{ "verify", "yes", 1 },        /* only where it is */
	};
	char *out = edit("[upstream]\nca_file = /old.pem\n", "upstream", kv, N(kv));

	ck_assert_str_eq(out, "[upstream]\nca_file =\nhost = h.test\n");
	free(out);
	out = edit("[upstream]\nverify = no\n", "upstream", kv, N(kv));
	ck_assert_str_eq(out, "[upstream]\nverify = yes\nhost = h.test\n");
	free(out);
	/* An empty value next to an inline comment does not grow with each
	   edit (found by fuzz_conf_edit). */
	out = edit("[upstream]\nca_file: /old ;c\n", "upstream", kv, N(kv));
	ck_assert_str_eq(out, "[upstream]\nca_file = ;c\nhost = h.test\n");
	{
		char *again = edit(out, "upstream", kv, N(kv));

		ck_assert_str_eq(again, out);
		free(again);
	}
	free(out);
	out = edit("", "route r.test", kv, N(kv));
	ck_assert_str_eq(out, "[route r.test]\nhost = h.test\n");
	free(out);
}
END_TEST

static const struct {
	const char *text, *section, *key, *value;
} refused[] = {
	{ "", "upstream", "host", "a\nb" },
	{ "", "upstream", "host", "a\rb" },
	{ "", "upstream", "host", "a ;b" },
	{ "", "upstream", "host", " a" },
	{ "", "upstream", "host", "a " },
	{ "", "upstream", "host", "a\x7f" },
	{ "", "upstream", "Host", "a" },
	{ "", "upstream", "", "a" },
	{ "", "upstream", "ho st", "a" },
	{ "", "server", "host", "a" },
	{ "", "route ", "host", "a" },
	{ "", "routex", "host", "a" },
	{ "[upstream]\n[upstream]\n", "upstream", "host", "a" },
	{ "[route A.test]\n[route a.TEST]\n", "route a.test", "host", "a" },
};

START_TEST(refused_table)
{
	struct conf_edit_kv kv = { refused[_i].key, refused[_i].value, 0 };
	char *out = NULL;
	size_t len;
	const char *error = NULL;

	ck_assert_int_eq(conf_edit_section(refused[_i].text, strlen(refused[_i].text),
					   refused[_i].section, &kv, 1, &out, &len, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(value_limit)
{
	char value[CONF_EDIT_VALUE_MAX + 2], *out = NULL;
	struct conf_edit_kv kv = { "mailbox", value, 0 };
	size_t len;
	const char *error;

	memset(value, 'x', sizeof(value));
	value[CONF_EDIT_VALUE_MAX] = '\0';
	ck_assert_int_eq(conf_edit_section("", 0, "upstream", &kv, 1, &out, &len, &error), 0);
	free(out);
	out = NULL;
	value[CONF_EDIT_VALUE_MAX] = 'x';
	value[CONF_EDIT_VALUE_MAX + 1] = '\0';
	ck_assert_int_eq(conf_edit_section("", 0, "upstream", &kv, 1, &out, &len, &error), -1);
}
END_TEST

START_TEST(has_section)
{
	ck_assert(conf_edit_has_section("x\n [upstream]\n", 14, "upstream"));
	ck_assert(!conf_edit_has_section("#[upstream]\n", 12, "upstream"));
	ck_assert(conf_edit_has_section("[route EXAMPLE.org]", 19, "route example.org"));
	ck_assert(!conf_edit_has_section("[route example.org.uk]", 22, "route example.org"));
}
END_TEST

/* What setup writes, the daemon's loader reads, with the values. */
START_TEST(result_loads)
{
	static const char in[] = "# mine\n[server]\nlisten = 127.0.0.1:1110 ; local\n\n"
		"[upstream]\nhost = 127.0.0.1\ntls = none\n";
	char path[] = "/tmp/popgate-test-edit-XXXXXX", *out, *error = NULL;
	struct conf *conf;
	FILE *f;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	out = edit(in, "route b.test", kv3, N(kv3));
	f = fdopen(fd, "w");
	fputs(out, f);
	fclose(f);
	ck_assert_msg(conf_load(path, &conf, &error) == 0, "%s", error);
	ck_assert_uint_eq(conf->route_count, 1);
	ck_assert_str_eq(conf->routes[0].host, "imap.new.test");
	ck_assert_uint_eq(conf->routes[0].port, 993);
	ck_assert_int_eq(conf->routes[0].tls, CONF_TLS_IMAPS);
	ck_assert_str_eq(conf->upstream->host, "127.0.0.1");
	ck_assert_uint_eq(conf->listen[0].port, 1110);
	conf_free(&conf);
	unlink(path);
	free(out);
}
END_TEST

/* Every prefix of a file is edited without reading past its end. */
START_TEST(byte_at_a_time)
{
	static const char text[] = "\xef\xbb\xbf# c\r\n[upstream]\r\n host = a ; x\r\n"
		"[route a.test]\nport: 1\n";
	size_t route = (size_t)(strstr(text, "[route") - text);

	for (size_t len = 0; len <= sizeof(text) - 1; len++) {
		char *copy = malloc(len + 1), *out = NULL;
		size_t out_len;
		const char *error;

		memcpy(copy, text, len);
		ck_assert_int_eq(conf_edit_section(copy, len, "route a.test", kv3, N(kv3), &out,
						   &out_len, &error), 0);
		/* Everything before the section is copied as it was. */
		ck_assert(memcmp(out, text, len < route ? len : route) == 0);
		ck_assert_ptr_nonnull(strstr(out, "host = imap.new.test"));
		free(out);
		free(copy);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conf_edit");
	TCase *tc = tcase_create("conf_edit");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, edit_table, 0, (int)N(cases));
	tcase_add_loop_test(tc, edit_is_idempotent, 0, (int)N(cases));
	tcase_add_test(tc, empty_and_only_existing);
	tcase_add_loop_test(tc, refused_table, 0, (int)N(refused));
	tcase_add_test(tc, value_limit);
	tcase_add_test(tc, has_section);
	tcase_add_test(tc, result_loads);
	tcase_add_test(tc, byte_at_a_time);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
