/* The provider table (conf/provider_table.c): the shipped table, lookups,
   and an adversarial table of broken lines. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider_table.h"
#include "providers_data.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int lookup(const char *text, enum provider_by by, const char *key, struct provider *p,
		  unsigned int *line, const char **error)
{
	return provider_lookup(text, strlen(text), by, key, p, line, error);
}

/* What the issue names, as the built-in table must have it. */
static const struct {
	const char *domain, *host;
	enum provider_auth auth;
	enum provider_login login;
} shipped[] = {
	{ "gmail.com", "imap.gmail.com", PROVIDER_AUTH_OAUTH2, PROVIDER_LOGIN_FULL },
	{ "googlemail.com", "imap.gmail.com", PROVIDER_AUTH_OAUTH2, PROVIDER_LOGIN_FULL },
	{ "outlook.com", "outlook.office365.com", PROVIDER_AUTH_OAUTH2, PROVIDER_LOGIN_FULL },
	{ "hotmail.com", "outlook.office365.com", PROVIDER_AUTH_OAUTH2, PROVIDER_LOGIN_FULL },
	{ "yahoo.com", "imap.mail.yahoo.com", PROVIDER_AUTH_APP_PASSWORD, PROVIDER_LOGIN_FULL },
	{ "gmx.de", "imap.gmx.net", PROVIDER_AUTH_PASSWORD, PROVIDER_LOGIN_FULL },
	{ "GMX.NET", "imap.gmx.net", PROVIDER_AUTH_PASSWORD, PROVIDER_LOGIN_FULL },
	{ "web.de", "imap.web.de", PROVIDER_AUTH_PASSWORD, PROVIDER_LOGIN_FULL },
	{ "t-online.de", "secureimap.t-online.de", PROVIDER_AUTH_APP_PASSWORD,
	  PROVIDER_LOGIN_FULL },
	{ "bluewin.ch", "imaps.bluewin.ch", PROVIDER_AUTH_PASSWORD, PROVIDER_LOGIN_FULL },
	{ "sunrise.ch", "imap.sunrise.ch", PROVIDER_AUTH_PASSWORD, PROVIDER_LOGIN_FULL },
	{ "freenet.de", "mx.freenet.de", PROVIDER_AUTH_PASSWORD, PROVIDER_LOGIN_FULL },
	{ "icloud.com", "imap.mail.me.com", PROVIDER_AUTH_APP_PASSWORD,
	  PROVIDER_LOGIN_LOCAL_PART },
	{ "me.com", "imap.mail.me.com", PROVIDER_AUTH_APP_PASSWORD, PROVIDER_LOGIN_LOCAL_PART },
};

START_TEST(shipped_table)
{
	size_t len;
	const char *text = providers_builtin(&len), *error = NULL;
	struct provider p;
	unsigned int line = 0;

	ck_assert_uint_gt(len, 100);
	ck_assert_ptr_null(memchr(text, '\0', len));
	ck_assert_int_eq(provider_lookup(text, len, PROVIDER_BY_DOMAIN, shipped[_i].domain, &p,
					 &line, &error), 1);
	ck_assert_str_eq(p.host, shipped[_i].host);
	ck_assert_uint_eq(p.port, 993);
	ck_assert_int_eq(p.tls, PROVIDER_TLS_IMAPS);
	ck_assert_int_eq(p.auth, shipped[_i].auth);
	ck_assert_int_eq(p.login, shipped[_i].login);
}
END_TEST

START_TEST(shipped_table_misses)
{
	size_t len;
	const char *text = providers_builtin(&len), *error = NULL;
	struct provider p;
	unsigned int line = 0;

	/* No suffix or prefix matching: a subdomain is another domain. */
	ck_assert_int_eq(provider_lookup(text, len, PROVIDER_BY_DOMAIN, "example.org", &p, &line,
					 &error), 0);
	ck_assert_int_eq(provider_lookup(text, len, PROVIDER_BY_DOMAIN, "mail.gmx.de", &p, &line,
					 &error), 0);
	ck_assert_int_eq(provider_lookup(text, len, PROVIDER_BY_DOMAIN, "gmx.d", &p, &line,
					 &error), 0);
	ck_assert_int_eq(provider_lookup(text, len, PROVIDER_BY_DOMAIN, "", &p, &line, &error), 0);
	/* --provider NAME */
	ck_assert_int_eq(provider_lookup(text, len, PROVIDER_BY_NAME, "outlook", &p, &line,
					 &error), 1);
	ck_assert_int_eq(p.auth, PROVIDER_AUTH_OAUTH2);
	ck_assert_int_eq(provider_lookup(text, len, PROVIDER_BY_NAME, "outlook.com", &p, &line,
					 &error), 0);
}
END_TEST

static const char good[] = "a imap.a.test 993 imaps password full a.test";

/* Each line alone must be refused, with the line number. */
static const struct {
	const char *text;
	unsigned int line;
	const char *error_part;
	size_t len;    /* 0: strlen(text) */
} bad[] = {
	{ "a", 1, "HOST", 0 },
	{ "A imap.a.test 993 imaps password full a.test", 1, "NAME", 0 },
	{ "a_b imap.a.test 993 imaps password full a.test", 1, "NAME", 0 },
	{ "abcdefghijabcdefghijabcdefghijabc imap.a.test 993 imaps password full a.test", 1,
	  "NAME", 0 },
	{ "a imap..test 993 imaps password full a.test", 1, "HOST", 0 },
	{ "a -imap.test 993 imaps password full a.test", 1, "HOST", 0 },
	{ "a imap.test- 993 imaps password full a.test", 1, "HOST", 0 },
	{ "a localhost 993 imaps password full a.test", 1, "HOST", 0 },
	{ "a imap.a.test 0 imaps password full a.test", 1, "PORT", 0 },
	{ "a imap.a.test 65536 imaps password full a.test", 1, "PORT", 0 },
	{ "a imap.a.test 0993 imaps password full a.test", 1, "PORT", 0 },
	{ "a imap.a.test -1 imaps password full a.test", 1, "PORT", 0 },
	{ "a imap.a.test 99999999999999999999 imaps password full a.test", 1, "PORT", 0 },
	{ "a imap.a.test 993 tls password full a.test", 1, "TLS", 0 },
	{ "a imap.a.test 993 IMAPS password full a.test", 1, "TLS", 0 },
	{ "a imap.a.test 993 none password full a.test", 1, "TLS", 0 },
	{ "a imap.a.test 993 imaps plain full a.test", 1, "AUTH", 0 },
	{ "a imap.a.test 993 imaps password local a.test", 1, "LOGIN", 0 },
	{ "a imap.a.test 993 imaps password full", 1, "no DOMAIN", 0 },
	{ "a imap.a.test 993 imaps password full A.test", 1, "DOMAIN", 0 },
	{ "a imap.a.test 993 imaps password full a..test", 1, "DOMAIN", 0 },
	{ "a imap.a.test 993 imaps password full a.test,b.test", 1, "DOMAIN", 0 },
	{ "# fine\n\na imap.a.test 993 imaps password full a.test\nb", 4, "HOST", 0 },
	{ "a imap.a.test 993 imaps password full a.test\0b.test", 1, "NUL", 51 },
	{ "a imap.a.test 993 imaps\rpassword full a.test", 1, "CR", 0 },
};

START_TEST(bad_lines)
{
	struct provider p;
	unsigned int line = 0;
	const char *error = NULL, *text = bad[_i].text;
	size_t len = bad[_i].len != 0 ? bad[_i].len : strlen(text);

	ck_assert_int_eq(provider_lookup(text, len, PROVIDER_BY_DOMAIN, "a.test", &p, &line,
					 &error), -1);
	ck_assert_uint_eq(line, bad[_i].line);
	ck_assert_msg(strstr(error, bad[_i].error_part) != NULL, "%s: %s", text, error);
}
END_TEST

START_TEST(limits)
{
	char *text = malloc(1000 * 64), *p;
	struct provider pr;
	unsigned int line = 0;
	const char *error = NULL;
	char longline[PROVIDER_LINE_MAX + 2];

	/* 200 providers fit, 201 do not. */
	p = text;
	for (int i = 0; i < 201; i++)
		p += sprintf(p, "p%d imap.a.test 993 imaps password full d%d.test\n", i, i);
	ck_assert_int_eq(lookup(text, PROVIDER_BY_DOMAIN, "d5.test", &pr, &line, &error), -1);
	ck_assert_uint_eq(line, 201);
	*strstr(text, "p200 ") = '\0';
	ck_assert_int_eq(lookup(text, PROVIDER_BY_DOMAIN, "d199.test", &pr, &line, &error), 1);
	ck_assert_str_eq(pr.name, "p199");
	/* 32 domains on a line fit, 33 do not. */
	p = text + sprintf(text, "a imap.a.test 993 imaps password full");
	for (int i = 0; i < 32; i++)
		p += sprintf(p, " d%d.test", i);
	ck_assert_int_eq(lookup(text, PROVIDER_BY_DOMAIN, "d31.test", &pr, &line, &error), 1);
	sprintf(p, " d32.test");
	ck_assert_int_eq(lookup(text, PROVIDER_BY_DOMAIN, "d31.test", &pr, &line, &error), -1);
	/* A line of 400 characters fits, 401 does not. */
	memset(longline, ' ', sizeof(longline));
	memcpy(longline, good, strlen(good));
	longline[PROVIDER_LINE_MAX] = '\0';
	ck_assert_int_eq(lookup(longline, PROVIDER_BY_DOMAIN, "a.test", &pr, &line, &error), 1);
	longline[PROVIDER_LINE_MAX] = ' ';
	longline[PROVIDER_LINE_MAX + 1] = '\0';
	ck_assert_int_eq(lookup(longline, PROVIDER_BY_DOMAIN, "a.test", &pr, &line, &error), -1);
	free(text);
}
END_TEST

START_TEST(first_match_and_whole_table_checked)
{
	struct provider p;
	unsigned int line = 0;
	const char *error = NULL;

	ck_assert_int_eq(lookup("x imap.x.test 143 starttls app-password local-part a.test\r\n"
				"y imap.y.test 993 imaps password full a.test\n", PROVIDER_BY_DOMAIN,
				"A.Test", &p, &line, &error), 1);
	ck_assert_str_eq(p.name, "x");
	ck_assert_uint_eq(p.port, 143);
	ck_assert_int_eq(p.tls, PROVIDER_TLS_STARTTLS);
	ck_assert_int_eq(p.auth, PROVIDER_AUTH_APP_PASSWORD);
	ck_assert_int_eq(p.login, PROVIDER_LOGIN_LOCAL_PART);
	ck_assert_uint_eq(p.line, 1);
	/* A broken line after the match still refuses the table. */
	ck_assert_int_eq(lookup("x imap.x.test 143 starttls password full a.test\nbroken\n",
				PROVIDER_BY_DOMAIN, "a.test", &p, &line, &error), -1);
	ck_assert_uint_eq(line, 2);
	/* Tabs separate too; comments may be indented. */
	ck_assert_int_eq(lookup("  # c\n\tx\timap.x.test\t993 imaps password full a.test b.test\n",
				PROVIDER_BY_DOMAIN, "b.test", &p, &line, &error), 1);
	ck_assert_int_eq(lookup("", PROVIDER_BY_DOMAIN, "b.test", &p, &line, &error), 0);
}
END_TEST

START_TEST(byte_at_a_time)
{
	/* Every prefix of a valid table is either valid or refused, never
	   read past its end (ASan would see it). */
	static const char text[] = "# t\nx imap.x.test 993 imaps password full a.test b.test\n"
		"y imap.y.test 143 starttls oauth2 full c.test\n";
	struct provider p;
	unsigned int line;
	const char *error;

	for (size_t len = 0; len <= sizeof(text) - 1; len++) {
		char *copy = malloc(len + 1);

		memcpy(copy, text, len);
		(void)provider_lookup(copy, len, PROVIDER_BY_DOMAIN, "c.test", &p, &line, &error);
		free(copy);
	}
	ck_assert_int_eq(provider_lookup(text, sizeof(text) - 1, PROVIDER_BY_DOMAIN, "c.test", &p,
					 &line, &error), 1);
	ck_assert_int_eq(p.auth, PROVIDER_AUTH_OAUTH2);
}
END_TEST

START_TEST(domain_valid)
{
	ck_assert(provider_domain_valid("a.b", 3));
	ck_assert(provider_domain_valid("xn--bcher-kva.example", 21));
	ck_assert(!provider_domain_valid("localhost", 9));
	ck_assert(!provider_domain_valid("a.b.", 4));
	ck_assert(!provider_domain_valid(".a.b", 4));
	ck_assert(!provider_domain_valid("a_b.c", 5));
	ck_assert(!provider_domain_valid("a b.c", 5));
	ck_assert(!provider_domain_valid("", 0));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("provider_table");
	TCase *tc = tcase_create("provider_table");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, shipped_table, 0, (int)N(shipped));
	tcase_add_test(tc, shipped_table_misses);
	tcase_add_loop_test(tc, bad_lines, 0, (int)N(bad));
	tcase_add_test(tc, limits);
	tcase_add_test(tc, first_match_and_whole_table_checked);
	tcase_add_test(tc, byte_at_a_time);
	tcase_add_test(tc, domain_valid);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
