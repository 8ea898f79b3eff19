/* Argument checks, key names and argument lists of the operations; see
   cache_args.h. */

#include "cache_args.h"
#include "cache_key.h"
#include "cache_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool cache_account_char(unsigned char ch)
{
	return ch >= 0x20 && ch != 0x7f;
}

static bool cache_token_char(unsigned char ch)
{
	return ch >= 0x21 && ch <= 0x7e;
}

/* 1..max bytes, each accepted by char_ok. */
static bool cache_string_valid(const char *s, size_t max,
			       bool (*char_ok)(unsigned char))
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= max || !char_ok((unsigned char)s[i]))
			return false;
	}
	return i > 0;
}

bool cache_device_valid(const char *device)
{
	return device != NULL && cache_device_name_ok(device, strlen(device));
}

bool cache_account_valid(const char *account)
{
	return cache_string_valid(account, CACHE_ACCOUNT_MAX,
				  cache_account_char);
}

bool cache_args_valid(const struct cache_req *req, const char *account,
		      const char *device, const char *token, bool need_token)
{
	const char *what = NULL;

	if (!cache_account_valid(account))
		what = "bad account";
	else if (!cache_device_valid(device))
		what = "bad device name";
	else if (need_token &&
		 !cache_string_valid(token, CACHE_TOKEN_MAX, cache_token_char))
		what = "bad lock token";
	if (what == NULL)
		return true;
	cache_req_log(req, CACHE_LOG_ERROR, "cache_error", "error=\"%s\"", what);
	return false;
}

bool cache_uids_ascending(const uint32_t *uids, size_t n)
{
	size_t i;

	if (n > 0 && uids == NULL)
		return false;
	for (i = 0; i < n; i++) {
		if (uids[i] == 0 || (i > 0 && uids[i] <= uids[i - 1]))
			return false;
	}
	return true;
}

void cache_key(char *buf, const char *account, const char *what,
	       const char *device)
{
	snprintf(buf, CACHE_KEY_MAX, "popgate:{%s}:%s%s", account, what,
		 device != NULL ? device : "");
}

void cache_args_free(struct cache_args *a)
{
	free(a->argv);
	free(a->len);
	free(a->nums);
	memset(a, 0, sizeof(*a));
}

bool cache_args_init(struct cache_args *a, size_t max, size_t nums_size)
{
	a->argc = 0;
	a->max = max;
	a->nums_used = 0;
	a->nums_size = nums_size;
	a->argv = calloc(max, sizeof(*a->argv));
	a->len = calloc(max, sizeof(*a->len));
	a->nums = malloc(nums_size);
	if (a->argv != NULL && a->len != NULL && a->nums != NULL)
		return true;
	cache_args_free(a);
	return false;
}

void cache_arg_len(struct cache_args *a, const char *s, size_t len)
{
	/* The room is reckoned by the caller: short of it is a bug. */
	if (a->argc >= a->max)
		abort();
	a->argv[a->argc] = s;
	a->len[a->argc++] = len;
}

void cache_arg(struct cache_args *a, const char *s)
{
	cache_arg_len(a, s, strlen(s));
}

/* Views and remaps format a few million of these: not with snprintf. */
void cache_arg_num(struct cache_args *a, uint64_t v)
{
	char digits[CACHE_U64_LEN], *p = a->nums + a->nums_used;
	size_t len = 0, i;

	do {
		digits[len++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (len >= a->nums_size - a->nums_used)
		abort();
	for (i = 0; i < len; i++)
		p[i] = digits[len - 1 - i];
	p[len] = '\0';
	a->nums_used += len + 1;
	cache_arg_len(a, p, len);
}

void cache_args_send(struct cache_req *req, struct cache_args *a)
{
	cache_req_submit(req, (int)a->argc, a->argv, a->len);
	cache_args_free(a);
}

bool cache_req_begin(struct cache_req **reqp, const struct cache_begin *b,
		     struct cache_args *a)
{
	struct cache_req *req = *reqp;
	bool valid;

	if (req == NULL)
		return false;
	valid = b->device == NULL ||
		cache_args_valid(req, b->account, b->device, b->token, b->need_token);
	if (valid && !b->ok && b->why != NULL)
		cache_req_log(req, CACHE_LOG_ERROR, "cache_error", "%s", b->why);
	if (!valid || !b->ok) {
		cache_req_complete(req, CACHE_ERROR);
		return false;
	}
	if (!cache_args_init(a, b->argc, b->nums_size)) {
		cache_req_cancel(reqp);
		return false;
	}
	return true;
}
