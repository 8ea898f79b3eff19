/* libcurl loaded at run time (oauth_curl.c), with the real library: the
   typed wrappers hand each option libcurl the type it reads (values it
   accepts and refuses, pointers that come back), oauth_http does a real
   POST through the table to an evhttp server on the same loop, and a
   libcurl.so.4 that cannot be used (an empty file found first through
   LD_LIBRARY_PATH, in a child started again with it) gives the sentence
   with the reason, also on a second call (which tries again). */

#include <check.h>
#include <arpa/inet.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "oauth_curl.h"
#include "oauth_http.h"

static const char *self_path;

START_TEST(load_twice)
{
	const char *error = "unset";

	ck_assert_int_eq(oauth_curl_load(&error), 0);
	ck_assert_str_eq(error, "unset");
	ck_assert_ptr_nonnull(oauth_curl_fn);
	ck_assert_int_eq(oauth_curl_load(&error), 0);
	ck_assert_ptr_nonnull(oauth_curl_fn->easy_init);
}
END_TEST

START_TEST(typed_wrappers)
{
	const char *error;
	CURL *easy;
	CURLM *multi;
	char *back = NULL;
	long code = -1;
	int marker;

	ck_assert_int_eq(oauth_curl_load(&error), 0);
	easy = oauth_curl_fn->easy_init();
	ck_assert_ptr_nonnull(easy);
	/* A long libcurl checks: the value arrives as given. */
	ck_assert_int_eq(oauth_curl_setopt_long(easy, CURLOPT_HTTP_VERSION,
						(long)CURL_HTTP_VERSION_1_1), CURLE_OK);
	ck_assert_int_eq(oauth_curl_setopt_long(easy, CURLOPT_HTTP_VERSION, 99L),
			 CURLE_UNSUPPORTED_PROTOCOL);
	ck_assert_int_eq(oauth_curl_setopt_long(easy, CURLOPT_POSTFIELDSIZE, -2L),
			 CURLE_BAD_FUNCTION_ARGUMENT);
	ck_assert_int_eq(oauth_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, 1500L), CURLE_OK);
	/* A pointer comes back unchanged. */
	ck_assert_int_eq(oauth_curl_setopt_ptr(easy, CURLOPT_PRIVATE, &marker), CURLE_OK);
	ck_assert_int_eq(oauth_curl_getinfo_ptr(easy, CURLINFO_PRIVATE, &back), CURLE_OK);
	ck_assert_ptr_eq(back, (char *)&marker);
	ck_assert_int_eq(oauth_curl_setopt_ptr(easy, CURLOPT_PROTOCOLS_STR, "https,http"),
			 CURLE_OK);
	ck_assert_int_eq(oauth_curl_setopt_ptr(easy, CURLOPT_PROTOCOLS_STR, "nosuchproto"),
			 CURLE_UNSUPPORTED_PROTOCOL);
	ck_assert_int_eq(oauth_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &code), CURLE_OK);
	ck_assert_int_eq(code, 0);
	ck_assert_str_eq(oauth_curl_fn->easy_strerror(CURLE_COULDNT_CONNECT),
			 "Couldn't connect to server");
	oauth_curl_fn->easy_cleanup(easy);

	multi = oauth_curl_fn->multi_init();
	ck_assert_ptr_nonnull(multi);
	ck_assert_int_eq(oauth_curl_multi_setopt_ptr(multi, CURLMOPT_SOCKETDATA, &marker),
			 CURLM_OK);
	ck_assert_int_eq(oauth_curl_multi_setopt_ptr(multi, (CURLMoption)99999, NULL),
			 CURLM_UNKNOWN_OPTION);
	ck_assert_int_eq(oauth_curl_fn->multi_cleanup(multi), CURLM_OK);
}
END_TEST

/* ---- a real POST through oauth_http, served by evhttp on the loop ---- */

struct post_run {
	struct event_base *base;
	long status;
	char body[256];
	char error[256];
	bool done;
	char seen_accept[64];
};

static void post_served(struct evhttp_request *req, void *arg)
{
	struct post_run *run = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evbuffer_new();
	const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
	size_t len = evbuffer_get_length(in);
	char form[128] = "";

	if (len < sizeof(form))
		evbuffer_remove(in, form, len);
	snprintf(run->seen_accept, sizeof(run->seen_accept), "%s", accept ? accept : "-");
	evbuffer_add_printf(out, "{\"method\":%d,\"form\":\"%s\"}",
			    evhttp_request_get_command(req) == EVHTTP_REQ_POST, form);
	evhttp_send_reply(req, 201, "Created", out);
	evbuffer_free(out);
}

static void post_done(void *ctx, long status, const char *body, size_t len, const char *error)
{
	struct post_run *run = ctx;

	run->status = status;
	snprintf(run->body, sizeof(run->body), "%.*s", (int)len, body);
	snprintf(run->error, sizeof(run->error), "%s", error != NULL ? error : "");
	run->done = true;
	event_base_loopbreak(run->base);
}

START_TEST(post_through_the_table)
{
	struct post_run run = { 0 };
	struct evhttp *server;
	struct evhttp_bound_socket *bound;
	struct oauth_http *http;
	struct timeval limit = { 20, 0 };
	const char *error;
	char url[80];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	ck_assert_int_eq(oauth_http_global_init(&error), 0);
	run.base = event_base_new();
	server = evhttp_new(run.base);
	bound = evhttp_bind_socket_with_handle(server, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(bound);
	evhttp_set_gencb(server, post_served, &run);
	getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sl);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/token",
		 ntohs(((struct sockaddr_in *)&ss)->sin_port));
	http = oauth_http_new(run.base, NULL);
	ck_assert_ptr_nonnull(oauth_http_post(http, url, "grant_type=x&a=b%20c", 10000,
					      post_done, &run));
	ck_assert_uint_eq(oauth_http_active(http), 1);
	event_base_loopexit(run.base, &limit);
	event_base_dispatch(run.base);
	ck_assert(run.done);
	ck_assert_int_eq(run.status, 201);
	ck_assert_str_eq(run.body, "{\"method\":1,\"form\":\"grant_type=x&a=b%20c\"}");
	ck_assert_str_eq(run.error, "");
	ck_assert_str_eq(run.seen_accept, "application/json");
	ck_assert_uint_eq(oauth_http_active(http), 0);
	oauth_http_free(&http);
	evhttp_free(server);
	event_base_free(run.base);
}
END_TEST

/* ---- libcurl that cannot be used ---- */

/* The child: prints the first of two loads, exits 0 if both fail alike. */
static int child_load(void)
{
	const char *e1 = NULL, *e2 = NULL;
	int r1 = oauth_curl_load(&e1), r2 = oauth_curl_load(&e2);

	printf("%d %d %s\n", r1, r2, e1 != NULL ? e1 : "-");
	return r1 == r2 && oauth_curl_fn == NULL && e1 != NULL && e2 != NULL &&
		strcmp(e1, e2) == 0 ? 0 : 1;
}

START_TEST(unusable_library_says_why)
{
	char dir[] = "/tmp/pgt-nocurl-XXXXXX", lib[64], cmd[256], out[600] = "";
	FILE *f, *p;
	size_t n;
	int status;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(lib, sizeof(lib), "%s/libcurl.so.4", dir);
	f = fopen(lib, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "LD_LIBRARY_PATH=%s %s --child-load", dir, self_path);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	status = pclose(p);
	unlink(lib);
	rmdir(dir);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s", out);
	ck_assert_msg(strncmp(out, "-1 -1 cannot use libcurl.so.4 (", 31) == 0, "%s", out);
	ck_assert_msg(strstr(out, "libcurl.so.4: file too short); OAuth2 needs libcurl, "
			  "Debian package libcurl4\n") != NULL, "%s", out);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	if (argc == 2 && strcmp(argv[1], "--child-load") == 0)
		return child_load();
	s = suite_create("oauth_curl");
	tc = tcase_create("oauth_curl");
	self_path = realpath(argv[0], NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, load_twice);
	tcase_add_test(tc, typed_wrappers);
	tcase_add_test(tc, post_through_the_table);
	tcase_add_test(tc, unusable_library_says_why);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
