/* Contracts in oauth_json.h. */

#include "oauth_json.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <malloc.h>

#include <jansson.h>

static void oauth_json_free(void *p)
{
	if (p != NULL) {
		explicit_bzero(p, malloc_usable_size(p));
		free(p);
	}
}

void oauth_json_init(void)
{
	json_set_alloc_funcs(malloc, oauth_json_free);
}

/* RFC 6750 2.1 b64token, which RFC 6749 A.12 and A.17 allow wider; we
   keep to what can go into XOAUTH2 without escaping. */
static bool oauth_b64token(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > OAUTH_TOKEN_MAX)
		return false;
	for (; i < len && s[i] != '='; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'))
			return false;
	}
	if (i == 0)
		return false;
	for (; i < len; i++) {
		if (s[i] != '=')
			return false;
	}
	return true;
}

/* Printable ASCII, 1..max octets (codes, URLs, user codes). */
static bool oauth_printable(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	}
	return true;
}

/* The string member name as a malloc'd copy if it passes check; *out
   stays NULL when absent. -1 when present but not a good string. */
static int oauth_take(json_t *obj, const char *name, bool token, size_t max, char **out)
{
	json_t *v = json_object_get(obj, name);
	const char *s;
	size_t len;

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	len = json_string_length(v);
	if (token ? !oauth_b64token(s, len) : !oauth_printable(s, len, max))
		return -1;
	*out = strndup(s, len);
	return *out == NULL ? -1 : 0;
}

/* A number of seconds, given as a JSON integer or (some providers) a
   decimal string; def when absent. -1 when malformed or out of range. */
static int oauth_seconds(json_t *obj, const char *name, uint32_t def, uint32_t *out)
{
	json_t *v = json_object_get(obj, name);
	json_int_t n;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		if (json_string_length(v) == 0 || json_string_length(v) > 9 ||
		    strspn(s, "0123456789") != json_string_length(v))
			return -1;
		n = strtoll(s, &end, 10);
	} else {
		return -1;
	}
	if (n < 0 || n > 10 * 365 * 86400)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* An error reply's code: [\x20-\x21\x23-\x5B\x5D-\x7E] (RFC 6749 5.2). */
static bool oauth_error(json_t *root, char *error)
{
	json_t *v = json_object_get(root, "error");
	const char *s;
	size_t len;

	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	len = json_string_length(v);
	if (!oauth_printable(s, len, OAUTH_ERROR_MAX) || strpbrk(s, "\"\\") != NULL)
		return false;
	memcpy(error, s, len);
	error[len] = '\0';
	return true;
}

static json_t *oauth_load(const char *body, size_t len)
{
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);

	if (root != NULL && !json_is_object(root)) {
		json_decref(root);
		return NULL;
	}
	return root;
}

enum oauth_json_kind oauth_json_token(const char *body, size_t len,
				      struct oauth_token_reply *r)
{
	json_t *root = oauth_load(body, len), *type;
	enum oauth_json_kind kind = OAUTH_JSON_BAD;

	memset(r, 0, sizeof(*r));
	if (root == NULL)
		return OAUTH_JSON_BAD;
	if (json_object_get(root, "access_token") == NULL) {
		if (oauth_error(root, r->error))
			kind = OAUTH_JSON_ERROR;
		json_decref(root);
		return kind;
	}
	type = json_object_get(root, "token_type");
	if (oauth_take(root, "access_token", true, 0, &r->access_token) == 0 &&
	    r->access_token != NULL &&
	    oauth_take(root, "refresh_token", true, 0, &r->refresh_token) == 0 &&
	    oauth_seconds(root, "expires_in", 3600, &r->expires_in) == 0 &&
	    json_is_string(type) && strcasecmp(json_string_value(type), "bearer") == 0)
		kind = OAUTH_JSON_OK;
	json_decref(root);
	if (kind != OAUTH_JSON_OK)
		oauth_token_reply_clear(r);
	return kind;
}

static void oauth_wipe(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void oauth_token_reply_clear(struct oauth_token_reply *r)
{
	oauth_wipe(&r->access_token);
	oauth_wipe(&r->refresh_token);
	memset(r, 0, sizeof(*r));
}

enum oauth_json_kind oauth_json_device(const char *body, size_t len,
				       struct oauth_device_reply *r)
{
	json_t *root = oauth_load(body, len);
	enum oauth_json_kind kind = OAUTH_JSON_BAD;
	const char *uri_name;

	memset(r, 0, sizeof(*r));
	if (root == NULL)
		return OAUTH_JSON_BAD;
	if (json_object_get(root, "device_code") == NULL) {
		if (oauth_error(root, r->error))
			kind = OAUTH_JSON_ERROR;
		json_decref(root);
		return kind;
	}
	uri_name = json_object_get(root, "verification_uri") != NULL ? "verification_uri" :
		"verification_url";
	if (oauth_take(root, "device_code", false, 1024, &r->device_code) == 0 &&
	    r->device_code != NULL &&
	    oauth_take(root, "user_code", false, 64, &r->user_code) == 0 && r->user_code != NULL &&
	    oauth_take(root, uri_name, false, 1024, &r->verification_uri) == 0 &&
	    r->verification_uri != NULL &&
	    oauth_take(root, "verification_uri_complete", false, 2048,
		       &r->verification_uri_complete) == 0 &&
	    oauth_seconds(root, "expires_in", 0, &r->expires_in) == 0 && r->expires_in > 0 &&
	    oauth_seconds(root, "interval", 5, &r->interval) == 0 && r->interval <= 600)
		kind = OAUTH_JSON_OK;
	json_decref(root);
	if (kind != OAUTH_JSON_OK)
		oauth_device_reply_clear(r);
	if (kind == OAUTH_JSON_OK && r->interval == 0)
		r->interval = 5;
	return kind;
}

void oauth_device_reply_clear(struct oauth_device_reply *r)
{
	oauth_wipe(&r->device_code);
	free(r->user_code);
	free(r->verification_uri);
	free(r->verification_uri_complete);
	memset(r, 0, sizeof(*r));
}

bool oauth_json_challenge_status(const char *json, size_t len, char *status, size_t size)
{
	json_t *root = oauth_load(json, len), *v;
	bool ok = false;

	if (root == NULL)
		return false;
	v = json_object_get(root, "status");
	if (json_is_string(v) && json_string_length(v) >= 1 &&
	    json_string_length(v) <= OAUTH_STATUS_MAX &&
	    json_string_length(v) < size &&
	    strspn(json_string_value(v), "0123456789abcdefghijklmnopqrstuvwxyz_") ==
	    json_string_length(v)) {
		memcpy(status, json_string_value(v), json_string_length(v) + 1);
		ok = true;
	}
	json_decref(root);
	return ok;
}
