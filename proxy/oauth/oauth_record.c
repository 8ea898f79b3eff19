/* Contracts in oauth_record.h. */

#include "oauth_record.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "tls.h"

static int oauth_b64_field(json_t *root, const char *name, uint8_t *out, size_t want)
{
	json_t *v = json_object_get(root, name);
	uint8_t buf[64];
	int n;

	if (!json_is_string(v) || want > sizeof(buf))
		return -1;
	n = tls_base64_decode(json_string_value(v), json_string_length(v), buf, sizeof(buf));
	if (n < 0 || (size_t)n != want)
		return -1;
	memcpy(out, buf, want);
	return 0;
}

static char *oauth_str_field(json_t *root, const char *name)
{
	json_t *v = json_object_get(root, name);

	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1024 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return strdup(json_string_value(v));
}

static int oauth_uint_field(json_t *root, const char *name, unsigned int min,
			    unsigned int max, unsigned int *out)
{
	json_t *v = json_object_get(root, name);

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return -1;
	*out = (unsigned int)json_integer_value(v);
	return 0;
}

int oauth_record_parse(const char *json, size_t len, struct oauth_record *r, const char **why)
{
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL), *box;
	unsigned int v;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	*why = "not a JSON object";
	if (root == NULL || !json_is_object(root))
		goto out;
	*why = "not version 1";
	if (oauth_uint_field(root, "v", 1, 1, &v) < 0)
		goto out;
	*why = "bad field";
	box = json_object_get(root, "box");
	if ((r->address = oauth_str_field(root, "address")) == NULL ||
	    (r->route = oauth_str_field(root, "route")) == NULL ||
	    !json_is_string(json_object_get(root, "kdf")) ||
	    strcmp(json_string_value(json_object_get(root, "kdf")), "scrypt") != 0 ||
	    oauth_uint_field(root, "log2_n", 10, 20, &r->log2_n) < 0 ||
	    oauth_uint_field(root, "r", 1, 16, &r->r) < 0 ||
	    oauth_uint_field(root, "p", 1, 4, &r->p) < 0 ||
	    oauth_b64_field(root, "salt", r->salt, sizeof(r->salt)) < 0 ||
	    oauth_b64_field(root, "verifier", r->verifier, sizeof(r->verifier)) < 0 ||
	    oauth_b64_field(root, "nonce", r->nonce, sizeof(r->nonce)) < 0 ||
	    !json_is_string(box) || json_string_length(box) > 4 * (OAUTH_BOX_MAX / 3 + 1) ||
	    !json_is_integer(json_object_get(root, "created")) ||
	    !json_is_integer(json_object_get(root, "updated")))
		goto out;
	r->created = json_integer_value(json_object_get(root, "created"));
	r->updated = json_integer_value(json_object_get(root, "updated"));
	r->box = malloc(json_string_length(box) + 1);
	if (r->box == NULL)
		goto out;
	{
		int n = tls_base64_decode(json_string_value(box), json_string_length(box), r->box,
					  json_string_length(box) + 1);

		if (n <= CRYPTO_TAG_LEN)
			goto out;
		r->box_len = (size_t)n;
	}
	ret = 0;
out:
	json_decref(root);
	if (ret < 0)
		oauth_record_clear(r);
	return ret;
}

static char *oauth_b64(const uint8_t *data, size_t len)
{
	char *s = malloc(4 * ((len + 2) / 3) + 1);

	if (s != NULL)
		tls_base64_encode(data, len, s);
	return s;
}

char *oauth_record_format(const struct oauth_record *r)
{
	char *salt = oauth_b64(r->salt, sizeof(r->salt));
	char *verifier = oauth_b64(r->verifier, sizeof(r->verifier));
	char *nonce = oauth_b64(r->nonce, sizeof(r->nonce));
	char *box = oauth_b64(r->box, r->box_len);
	char *out = NULL;
	json_t *root = NULL;

	if (salt != NULL && verifier != NULL && nonce != NULL && box != NULL)
		root = json_pack("{si ss ss ss si si si ss ss ss ss sI sI}", "v", 1,
				 "address", r->address, "route", r->route, "kdf", "scrypt",
				 "log2_n", (int)r->log2_n, "r", (int)r->r, "p", (int)r->p,
				 "salt", salt, "verifier", verifier, "nonce", nonce, "box", box,
				 "created", (json_int_t)r->created, "updated",
				 (json_int_t)r->updated);
	if (root != NULL)
		out = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	free(salt);
	free(verifier);
	free(nonce);
	free(box);
	return out;
}

void oauth_record_clear(struct oauth_record *r)
{
	free(r->address);
	free(r->route);
	free(r->box);
	explicit_bzero(r, sizeof(*r));
}

static int oauth_derive(const struct oauth_record *r, const char *pass, size_t pass_len,
			uint8_t out[OAUTH_VERIFIER_LEN + CRYPTO_KEY_LEN])
{
	return crypto_scrypt(pass, pass_len, r->salt, sizeof(r->salt), r->log2_n, r->r, r->p, out,
			     OAUTH_VERIFIER_LEN + CRYPTO_KEY_LEN);
}

int oauth_record_set_password(struct oauth_record *r, const char *pass, size_t pass_len,
			      uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t out[OAUTH_VERIFIER_LEN + CRYPTO_KEY_LEN];

	r->log2_n = OAUTH_SCRYPT_LOG2_N;
	r->r = OAUTH_SCRYPT_R;
	r->p = OAUTH_SCRYPT_P;
	if (crypto_random(r->salt, sizeof(r->salt)) < 0 || oauth_derive(r, pass, pass_len, out) < 0)
		return -1;
	memcpy(r->verifier, out, OAUTH_VERIFIER_LEN);
	memcpy(key, out + OAUTH_VERIFIER_LEN, CRYPTO_KEY_LEN);
	explicit_bzero(out, sizeof(out));
	return 0;
}

int oauth_record_unlock(const struct oauth_record *r, const char *pass, size_t pass_len,
			uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t out[OAUTH_VERIFIER_LEN + CRYPTO_KEY_LEN];
	bool ok;

	if (oauth_derive(r, pass, pass_len, out) < 0)
		return -1;
	ok = crypto_equal(out, r->verifier, OAUTH_VERIFIER_LEN);
	if (ok)
		memcpy(key, out + OAUTH_VERIFIER_LEN, CRYPTO_KEY_LEN);
	explicit_bzero(out, sizeof(out));
	return ok ? 0 : -1;
}

int oauth_record_seal(struct oauth_record *r, const uint8_t key[CRYPTO_KEY_LEN],
		      const char *account, const struct oauth_secrets *s)
{
	json_t *root = json_pack("{ss ss* sI}", "rt", s->refresh_token, "at", s->access_token,
				 "exp", (json_int_t)s->expires);
	char *plain = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
	size_t len = plain != NULL ? strlen(plain) : 0;
	uint8_t *box = NULL;
	int ret = -1;

	json_decref(root);
	if (plain != NULL && len + CRYPTO_TAG_LEN <= OAUTH_BOX_MAX &&
	    (box = malloc(len + CRYPTO_TAG_LEN)) != NULL &&
	    crypto_random(r->nonce, sizeof(r->nonce)) == 0 &&
	    crypto_seal(key, r->nonce, account, strlen(account), plain, len, box) == 0) {
		free(r->box);
		r->box = box;
		r->box_len = len + CRYPTO_TAG_LEN;
		box = NULL;
		r->updated = (int64_t)time(NULL);
		ret = 0;
	}
	free(box);
	if (plain != NULL) {
		explicit_bzero(plain, len);
		free(plain);
	}
	return ret;
}

int oauth_record_open(const struct oauth_record *r, const uint8_t key[CRYPTO_KEY_LEN],
		      const char *account, struct oauth_secrets *s)
{
	size_t len = r->box_len - CRYPTO_TAG_LEN;
	char *plain = malloc(len + 1);
	json_t *root = NULL, *rt, *at, *exp;
	int ret = -1;

	memset(s, 0, sizeof(*s));
	if (plain == NULL || r->box_len <= CRYPTO_TAG_LEN ||
	    crypto_open(key, r->nonce, account, strlen(account), r->box, r->box_len,
			(uint8_t *)plain) < 0)
		goto out;
	root = json_loadb(plain, len, 0, NULL);
	rt = json_object_get(root, "rt");
	at = json_object_get(root, "at");
	exp = json_object_get(root, "exp");
	if (!json_is_string(rt) || (at != NULL && !json_is_string(at) && !json_is_null(at)) ||
	    !json_is_integer(exp))
		goto out;
	s->refresh_token = strdup(json_string_value(rt));
	s->access_token = json_is_string(at) ? strdup(json_string_value(at)) : NULL;
	s->expires = json_integer_value(exp);
	if (s->refresh_token == NULL || (json_is_string(at) && s->access_token == NULL)) {
		oauth_secrets_clear(s);
		goto out;
	}
	ret = 0;
out:
	/* jansson's copies of the tokens go with the object (wiped by the
	   allocator oauth_json_init() sets). */
	json_decref(root);
	if (plain != NULL) {
		explicit_bzero(plain, len);
		free(plain);
	}
	return ret;
}

static void oauth_wipe_str(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void oauth_secrets_clear(struct oauth_secrets *s)
{
	oauth_wipe_str(&s->refresh_token);
	oauth_wipe_str(&s->access_token);
	s->expires = 0;
}
