/* libcurl through dlopen(); contracts in oauth_curl.h. */

#include "oauth_curl.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define OAUTH_CURL_PACKAGE "libcurl4"

const struct oauth_curl_fns *oauth_curl_fn;

static struct oauth_curl_fns oauth_curl_table;
static char oauth_curl_error[400];

#define OAUTH_CURL_SYM(field, name) { name, offsetof(struct oauth_curl_fns, field) }

static const struct {
	const char *name;
	size_t offset;
} oauth_curl_syms[] = {
	OAUTH_CURL_SYM(global_init, "curl_global_init"),
	OAUTH_CURL_SYM(easy_init, "curl_easy_init"),
	OAUTH_CURL_SYM(easy_cleanup, "curl_easy_cleanup"),
	OAUTH_CURL_SYM(easy_setopt, "curl_easy_setopt"),
	OAUTH_CURL_SYM(easy_getinfo, "curl_easy_getinfo"),
	OAUTH_CURL_SYM(easy_strerror, "curl_easy_strerror"),
	OAUTH_CURL_SYM(multi_init, "curl_multi_init"),
	OAUTH_CURL_SYM(multi_cleanup, "curl_multi_cleanup"),
	OAUTH_CURL_SYM(multi_setopt, "curl_multi_setopt"),
	OAUTH_CURL_SYM(multi_add_handle, "curl_multi_add_handle"),
	OAUTH_CURL_SYM(multi_remove_handle, "curl_multi_remove_handle"),
	OAUTH_CURL_SYM(multi_info_read, "curl_multi_info_read"),
	OAUTH_CURL_SYM(multi_socket_action, "curl_multi_socket_action"),
	OAUTH_CURL_SYM(multi_assign, "curl_multi_assign"),
	OAUTH_CURL_SYM(slist_append, "curl_slist_append"),
	OAUTH_CURL_SYM(slist_free_all, "curl_slist_free_all"),
};

/* Every field is filled from the table above. */
_Static_assert(sizeof(oauth_curl_syms) / sizeof(oauth_curl_syms[0]) ==
	       sizeof(struct oauth_curl_fns) / sizeof(void (*)(void)),
	       "one symbol per function of struct oauth_curl_fns");
/* POSIX: dlsym's void * holds a function's address. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers fit in void *");

/* why: the loader's words; name: the function missing, or NULL. */
static int oauth_curl_fail(void *lib, const char *name, const char *why)
{
	snprintf(oauth_curl_error, sizeof(oauth_curl_error),
		 "cannot use " OAUTH_CURL_SONAME " (%s%s%s%s); OAuth2 needs libcurl, Debian "
		 "package " OAUTH_CURL_PACKAGE, name != NULL ? "no function " : "",
		 name != NULL ? name : "", name != NULL ? ": " : "", why);
	if (lib != NULL)
		dlclose(lib);
	return -1;
}

static int oauth_curl_open(void)
{
	void *lib = dlopen(OAUTH_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *err;

	if (lib == NULL) {
		err = dlerror();
		return oauth_curl_fail(NULL, NULL, err != NULL ? err : "not found");
	}
	for (size_t i = 0; i < sizeof(oauth_curl_syms) / sizeof(oauth_curl_syms[0]); i++) {
		void *sym;

		dlerror();
		sym = dlsym(lib, oauth_curl_syms[i].name);
		if (sym == NULL) {
			err = dlerror();
			return oauth_curl_fail(lib, oauth_curl_syms[i].name,
					       err != NULL ? err : "not found");
		}
		memcpy((char *)&oauth_curl_table + oauth_curl_syms[i].offset, &sym, sizeof(sym));
	}
	if (oauth_curl_table.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return oauth_curl_fail(lib, NULL, "curl_global_init failed");
	oauth_curl_fn = &oauth_curl_table;
	return 0;
}

int oauth_curl_load(const char **error_r)
{
	if (oauth_curl_fn != NULL || oauth_curl_open() == 0)
		return 0;
	*error_r = oauth_curl_error;
	return -1;
}

CURLcode oauth_curl_setopt_long(CURL *easy, CURLoption option, long value)
{
	return oauth_curl_fn->easy_setopt(easy, option, value);
}

CURLcode oauth_curl_setopt_ptr(CURL *easy, CURLoption option, const void *value)
{
	return oauth_curl_fn->easy_setopt(easy, option, value);
}

CURLcode oauth_curl_setopt_write(CURL *easy, curl_write_callback fn)
{
	return oauth_curl_fn->easy_setopt(easy, CURLOPT_WRITEFUNCTION, fn);
}

CURLMcode oauth_curl_multi_setopt_ptr(CURLM *multi, CURLMoption option, void *value)
{
	return oauth_curl_fn->multi_setopt(multi, option, value);
}

CURLMcode oauth_curl_multi_setopt_socket(CURLM *multi, curl_socket_callback fn)
{
	return oauth_curl_fn->multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, fn);
}

CURLMcode oauth_curl_multi_setopt_timer(CURLM *multi, curl_multi_timer_callback fn)
{
	return oauth_curl_fn->multi_setopt(multi, CURLMOPT_TIMERFUNCTION, fn);
}

CURLcode oauth_curl_getinfo_long(CURL *easy, CURLINFO info, long *value)
{
	return oauth_curl_fn->easy_getinfo(easy, info, value);
}

CURLcode oauth_curl_getinfo_ptr(CURL *easy, CURLINFO info, char **value)
{
	return oauth_curl_fn->easy_getinfo(easy, info, value);
}
