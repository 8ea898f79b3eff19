#ifndef OAUTH_CURL_H
#define OAUTH_CURL_H

/*
 * libcurl, loaded at run time. popgate is not linked with libcurl: its
 * dependencies (GnuTLS, Kerberos, LDAP, libssh2...) cost a few MiB of
 * resident memory in every process that maps them, and only OAuth2 (auth =
 * oauth2 routes, the [enrol] page, popgate account) speaks HTTP. The first
 * oauth_curl_load() dlopen()s OAUTH_CURL_SONAME, resolves the functions
 * oauth_http.c calls and runs curl_global_init(); the library then stays
 * for the life of the process.
 *
 * The header declarations of <curl/curl.h> give the types only; code calls
 * libcurl through oauth_curl_fn (after a successful load) and the typed
 * wrappers below, never curl_* directly (they would not link).
 */

#include <curl/curl.h>

#define OAUTH_CURL_SONAME "libcurl.so.4"

/* The libcurl functions popgate uses. */
struct oauth_curl_fns {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *easy);
	CURLcode (*easy_setopt)(CURL *easy, CURLoption option, ...);
	CURLcode (*easy_getinfo)(CURL *easy, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_cleanup)(CURLM *multi);
	CURLMcode (*multi_setopt)(CURLM *multi, CURLMoption option, ...);
	CURLMcode (*multi_add_handle)(CURLM *multi, CURL *easy);
	CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *easy);
	CURLMsg *(*multi_info_read)(CURLM *multi, int *left);
	CURLMcode (*multi_socket_action)(CURLM *multi, curl_socket_t s, int mask, int *running);
	CURLMcode (*multi_assign)(CURLM *multi, curl_socket_t s, void *p);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

/*
 * Loads libcurl; once it is loaded, later calls return 0 at once, and after
 * a failure they try again (the package may have been installed since, and
 * a reload asks again). 0, or -1 with *error_r set to a static sentence
 * (valid until the next call) that names the library, why it cannot be
 * used (the dynamic loader's words, a missing function, a failed
 * curl_global_init) and the Debian package that provides it. Not
 * thread-safe: call it from the event loop's thread (or before any thread).
 */
int oauth_curl_load(const char **error_r);

/* The functions; valid (non-NULL) only after oauth_curl_load() returned 0. */
extern const struct oauth_curl_fns *oauth_curl_fn;

/* curl_easy_setopt and curl_multi_setopt are variadic: one wrapper per
   argument type, so each option gets the type libcurl reads. */
CURLcode oauth_curl_setopt_long(CURL *easy, CURLoption option, long value);
/* Strings, lists, user pointers, the error buffer. */
CURLcode oauth_curl_setopt_ptr(CURL *easy, CURLoption option, const void *value);
CURLcode oauth_curl_setopt_write(CURL *easy, curl_write_callback fn);
CURLMcode oauth_curl_multi_setopt_ptr(CURLM *multi, CURLMoption option, void *value);
CURLMcode oauth_curl_multi_setopt_socket(CURLM *multi, curl_socket_callback fn);
CURLMcode oauth_curl_multi_setopt_timer(CURLM *multi, curl_multi_timer_callback fn);
CURLcode oauth_curl_getinfo_long(CURL *easy, CURLINFO info, long *value);
CURLcode oauth_curl_getinfo_ptr(CURL *easy, CURLINFO info, char **value);

#endif
