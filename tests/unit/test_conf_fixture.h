#ifndef TEST_CONF_FIXTURE_H
#define TEST_CONF_FIXTURE_H

/*
 * Test-only fixture shared by the configuration tests (test_conf.c,
 * test_conf_errors.c, test_conf_keys.c): a temp file in, struct conf or
 * "<file>:<line>: why" out. Run from the repo root (the sample is read as
 * conf/popgate.conf).
 */

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

#define SAMPLE "conf/popgate.conf"
#define N(a) (sizeof(a) / sizeof((a)[0]))

static char tmp_path[64];

__attribute__((unused))
static const char *write_tmp_len(const char *text, size_t len)
{
	int fd;

	strcpy(tmp_path, "/tmp/popgate-test-conf-XXXXXX");
	fd = mkstemp(tmp_path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return tmp_path;
}

__attribute__((unused))
static const char *write_tmp(const char *text)
{
	return write_tmp_len(text, strlen(text));
}

__attribute__((unused))
static struct conf *load_ok(const char *text)
{
	struct conf *conf = NULL;
	char *error = NULL;
	const char *path = write_tmp(text);

	ck_assert_msg(conf_load(path, &conf, &error) == 0, "%s", error);
	ck_assert_ptr_null(error);
	ck_assert_ptr_nonnull(conf);
	ck_assert_str_eq(conf->path, path);
	unlink(path);
	return conf;
}

/* The error must be "<path>:<line>: ..." (line 0: "<path>: ...") and
   contain `want`. */
__attribute__((unused))
static void check_error(const char *path, const char *error,
			unsigned int line, const char *want)
{
	char prefix[128];

	if (line != 0)
		snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(strncmp(error, prefix, strlen(prefix)) == 0,
		      "'%s' does not start with '%s'", error, prefix);
	ck_assert_msg(strstr(error, want) != NULL, "'%s' lacks '%s'", error,
		      want);
}

/* text does not load; the error is on that line and contains want. */
__attribute__((unused))
static void load_fails(const char *text, unsigned int line, const char *want)
{
	struct conf *conf = (struct conf *)1;
	char *error = NULL;
	const char *path = write_tmp(text);

	ck_assert_int_eq(conf_load(path, &conf, &error), -1);
	ck_assert_ptr_null(conf);
	check_error(path, error, line, want);
	free(error);
	unlink(path);
}

#endif
