/* Unit tests for OpenSSL's error strings (core/tls.c): not loaded at
   start, loaded with the first error formatted, with their wording. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls.h"

/* Not a PEM file. */
static char *garbage_file(void)
{
	char *path = strdup("/tmp/popgate-test-tls-XXXXXX");
	int fd;

	ck_assert_ptr_nonnull(path);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "not a certificate\n", 18), 18);
	close(fd);
	return path;
}

START_TEST(not_loaded_at_start)
{
	ck_assert(!tls_error_strings_loaded());
}
END_TEST

START_TEST(a_bad_cert_file_is_said_in_words)
{
	char *path = garbage_file(), *error = NULL;
	struct tls_server_ctx *ctx = tls_server_ctx_new(path, path, &error);

	ck_assert_ptr_null(ctx);
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(strstr(error, "loading cert_file") != NULL &&
		      strstr(error, ": no start line") != NULL, "error: %s", error);
	ck_assert(tls_error_strings_loaded());
	free(error);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(a_bad_ca_file_is_said_in_words)
{
	char *path = garbage_file(), *error = NULL;
	struct tls_client_ctx *ctx = tls_client_ctx_new(true, path, &error);

	ck_assert_ptr_null(ctx);
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(strstr(error, "loading ca_file: no certificate or crl found") != NULL,
		      "error: %s", error);
	/* The second one finds them loaded. */
	free(error);
	error = NULL;
	ck_assert_ptr_null(tls_client_ctx_new(true, "/nonexistent/ca.pem", &error));
	ck_assert_msg(strstr(error, "loading ca_file: ") != NULL && strstr(error, "reason(") == NULL,
		      "error: %s", error);
	free(error);
	unlink(path);
	free(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tls_errors");
	TCase *tc = tcase_create("tls_errors");
	SRunner *sr;
	int failed;

	/* Before the runner forks a child for each test. */
	tls_init();
	tcase_add_test(tc, not_loaded_at_start);
	tcase_add_test(tc, a_bad_cert_file_is_said_in_words);
	tcase_add_test(tc, a_bad_ca_file_is_said_in_words);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
