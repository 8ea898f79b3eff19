/* The OAuth2 pieces without a network: the JSON of token endpoints,
   device endpoints and SASL challenges (adversarial tables), the sealed
   record (round trip, wrong password, wrong account, tampering), PKCE
   (RFC 7636 appendix B), redirect URLs, form encoding. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "crypto.h"
#include "oauth_kdf.h"
#include "oauth_unlock.h"
#include "oauth_enrol.h"
#include "oauth_http.h"
#include "oauth_json.h"
#include "oauth_record.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *json;
	enum oauth_json_kind kind;
	const char *error;      /* OAUTH_JSON_ERROR: the code */
} token_cases[] = {
	{ "{\"access_token\":\"ya29.a0-_~+/=\",\"token_type\":\"Bearer\",\"expires_in\":3599,"
	  "\"refresh_token\":\"1//0g\",\"scope\":\"https://mail.google.com/\"}", OAUTH_JSON_OK, NULL },
	{ "{\"access_token\":\"a\",\"token_type\":\"bearer\"}", OAUTH_JSON_OK, NULL },
	{ "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":\"3600\"}",
	  OAUTH_JSON_OK, NULL },
	{ "{\"error\":\"invalid_grant\",\"error_description\":\"Token has been revoked.\"}",
	  OAUTH_JSON_ERROR, "invalid_grant" },
	{ "{\"error\":\"authorization_pending\"}", OAUTH_JSON_ERROR, "authorization_pending" },
	/* malformed */
	{ "", OAUTH_JSON_BAD, NULL },
	{ "[]", OAUTH_JSON_BAD, NULL },
	{ "\"access_token\"", OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"a\"}", OAUTH_JSON_BAD, NULL },              /* no token_type */
	{ "{\"access_token\":\"a\",\"token_type\":\"mac\"}", OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"\",\"token_type\":\"Bearer\"}", OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"a b\",\"token_type\":\"Bearer\"}", OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"a\\u0001\",\"token_type\":\"Bearer\"}", OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"a\\u0000b\",\"token_type\":\"Bearer\"}", OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"a\\r\\nA1 LOGOUT\",\"token_type\":\"Bearer\"}", OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"=\",\"token_type\":\"Bearer\"}", OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"a=b\",\"token_type\":\"Bearer\"}", OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":5,\"token_type\":\"Bearer\"}", OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"refresh_token\":\"r r\"}",
	  OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":-1}", OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":1e3}", OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":\"12x\"}",
	  OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":99999999999}",
	  OAUTH_JSON_BAD, NULL },
	{ "{\"access_token\":\"a\",\"access_token\":\"b\",\"token_type\":\"Bearer\"}",
	  OAUTH_JSON_BAD, NULL },                                        /* duplicate */
	{ "{\"access_token\":\"a\",\"token_type\":\"Bearer\"} x", OAUTH_JSON_BAD, NULL },
	{ "{\"error\":\"\"}", OAUTH_JSON_BAD, NULL },
	{ "{\"error\":\"bad\\\"quote\"}", OAUTH_JSON_BAD, NULL },
	{ "{\"error\":\"a b\"}", OAUTH_JSON_BAD, NULL },
	{ "{\"error\":42}", OAUTH_JSON_BAD, NULL },
	{ "{\"error\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
	  OAUTH_JSON_BAD, NULL },                                        /* 65 > 64 */
	{ "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	  OAUTH_JSON_BAD, NULL },
};

START_TEST(token_json)
{
	struct oauth_token_reply r;
	enum oauth_json_kind kind = oauth_json_token(token_cases[_i].json,
						     strlen(token_cases[_i].json), &r);

	ck_assert_msg(kind == token_cases[_i].kind, "%s: %d", token_cases[_i].json, kind);
	if (kind == OAUTH_JSON_OK)
		ck_assert_ptr_nonnull(r.access_token);
	else
		ck_assert_ptr_null(r.access_token);
	if (kind == OAUTH_JSON_ERROR)
		ck_assert_str_eq(r.error, token_cases[_i].error);
	oauth_token_reply_clear(&r);
}
END_TEST

START_TEST(token_json_values)
{
	static const char json[] = "{\"access_token\":\"at1\",\"token_type\":\"Bearer\","
		"\"expires_in\":120,\"refresh_token\":\"rt1\"}";
	struct oauth_token_reply r;

	ck_assert_int_eq(oauth_json_token(json, strlen(json), &r), OAUTH_JSON_OK);
	ck_assert_str_eq(r.access_token, "at1");
	ck_assert_str_eq(r.refresh_token, "rt1");
	ck_assert_uint_eq(r.expires_in, 120);
	oauth_token_reply_clear(&r);
	ck_assert_int_eq(oauth_json_token(json + 0, 0, &r), OAUTH_JSON_BAD);
	{
		static const char bare[] = "{\"access_token\":\"a\",\"token_type\":\"Bearer\"}";

		ck_assert_int_eq(oauth_json_token(bare, strlen(bare), &r), OAUTH_JSON_OK);
	}
	ck_assert_ptr_null(r.refresh_token);
	ck_assert_uint_eq(r.expires_in, 3600);
	oauth_token_reply_clear(&r);
	/* Not NUL-terminated: len is what counts. */
	ck_assert_int_eq(oauth_json_token(json, 20, &r), OAUTH_JSON_BAD);
}
END_TEST

static const struct {
	const char *json;
	enum oauth_json_kind kind;
} device_cases[] = {
	{ "{\"device_code\":\"d\",\"user_code\":\"ABCD-EFGH\",\"verification_uri\":"
	  "\"https://microsoft.com/devicelogin\",\"expires_in\":900,\"interval\":5}", OAUTH_JSON_OK },
	{ "{\"device_code\":\"d\",\"user_code\":\"U\",\"verification_url\":"
	  "\"https://www.google.com/device\",\"expires_in\":\"1800\"}", OAUTH_JSON_OK },
	{ "{\"error\":\"invalid_client\"}", OAUTH_JSON_ERROR },
	{ "{\"device_code\":\"d\",\"user_code\":\"U\",\"expires_in\":9}", OAUTH_JSON_BAD },
	{ "{\"device_code\":\"d\",\"user_code\":\"U U\",\"verification_uri\":\"h\","
	  "\"expires_in\":9}", OAUTH_JSON_BAD },
	{ "{\"device_code\":\"d\",\"user_code\":\"U\",\"verification_uri\":\"h\","
	  "\"expires_in\":0}", OAUTH_JSON_BAD },
	{ "{\"device_code\":\"d\",\"user_code\":\"U\",\"verification_uri\":\"h\\u001b[2J\","
	  "\"expires_in\":9}", OAUTH_JSON_BAD },                        /* a terminal escape */
	{ "{\"device_code\":\"d\",\"user_code\":\"U\",\"verification_uri\":\"h\","
	  "\"expires_in\":9,\"interval\":601}", OAUTH_JSON_BAD },
};

START_TEST(device_json)
{
	struct oauth_device_reply r;
	enum oauth_json_kind kind = oauth_json_device(device_cases[_i].json,
						      strlen(device_cases[_i].json), &r);

	ck_assert_msg(kind == device_cases[_i].kind, "%s: %d", device_cases[_i].json, kind);
	if (kind == OAUTH_JSON_OK) {
		ck_assert_ptr_nonnull(r.verification_uri);
		ck_assert_uint_gt(r.interval, 0);
	}
	oauth_device_reply_clear(&r);
}
END_TEST

static const struct {
	const char *json;
	const char *status;     /* NULL: none found */
} challenge_cases[] = {
	{ "{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"https://mail.google.com/\"}", "401" },
	{ "{\"status\":\"invalid_token\",\"schemes\":\"bearer\"}", "invalid_token" },
	{ "{\"status\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", NULL },          /* 33 > 32 */
	{ "{\"status\":\"Invalid\"}", NULL },
	{ "{\"status\":\"400\"}", "400" },
	{ "{\"status\":401}", NULL },
	{ "{\"status\":\"4 1\"}", NULL },
	{ "{\"status\":\"\"}", NULL },
	{ "not json", NULL },
	{ "", NULL },
};

START_TEST(challenge_json)
{
	char status[OAUTH_STATUS_MAX + 1] = "";
	bool ok = oauth_json_challenge_status(challenge_cases[_i].json,
					      strlen(challenge_cases[_i].json), status,
					      sizeof(status));

	ck_assert(ok == (challenge_cases[_i].status != NULL));
	if (ok)
		ck_assert_str_eq(status, challenge_cases[_i].status);
}
END_TEST

/* ---- the record ---- */

static char *sealed_record(const char *pass, const char *account, uint8_t key[32])
{
	struct oauth_record rec;
	struct oauth_secrets sec = { .refresh_token = "rt-secret", .access_token = "at-secret",
				     .expires = 1234567890 };
	char *json;

	memset(&rec, 0, sizeof(rec));
	rec.address = strdup("alice@example.com");
	rec.route = strdup("example.com");
	rec.created = rec.updated = 1;
	ck_assert_int_eq(oauth_record_set_password(&rec, pass, strlen(pass), key), 0);
	ck_assert_int_eq(oauth_record_seal(&rec, key, account, &sec), 0);
	json = oauth_record_format(&rec);
	ck_assert_ptr_nonnull(json);
	oauth_record_clear(&rec);
	return json;
}

START_TEST(record_round_trip)
{
	uint8_t key[32], key2[32];
	char *json = sealed_record("gw pass", "alice@h:993", key);
	struct oauth_record rec;
	struct oauth_secrets sec;
	const char *why;

	/* Nothing secret in the stored form. */
	ck_assert_ptr_null(strstr(json, "rt-secret"));
	ck_assert_ptr_null(strstr(json, "at-secret"));
	ck_assert_ptr_null(strstr(json, "gw pass"));
	ck_assert_int_eq(oauth_record_parse(json, strlen(json), &rec, &why), 0);
	ck_assert_str_eq(rec.address, "alice@example.com");
	ck_assert_uint_eq(rec.log2_n, OAUTH_SCRYPT_LOG2_N);
	ck_assert_int_eq(oauth_record_unlock(&rec, "gw pass", 7, key2), 0);
	ck_assert(memcmp(key, key2, 32) == 0);
	ck_assert_int_eq(oauth_record_open(&rec, key2, "alice@h:993", &sec), 0);
	ck_assert_str_eq(sec.refresh_token, "rt-secret");
	ck_assert_str_eq(sec.access_token, "at-secret");
	ck_assert_int_eq(sec.expires, 1234567890);
	oauth_secrets_clear(&sec);
	/* Wrong password, and the same length: refused. */
	ck_assert_int_eq(oauth_record_unlock(&rec, "gw pasT", 7, key2), -1);
	ck_assert_int_eq(oauth_record_unlock(&rec, "", 0, key2), -1);
	/* Another account's key does not open it (the AAD). */
	ck_assert_int_eq(oauth_record_open(&rec, key, "mallory@h:993", &sec), -1);
	/* One changed byte of the box: refused. */
	rec.box[3] ^= 1;
	ck_assert_int_eq(oauth_record_open(&rec, key, "alice@h:993", &sec), -1);
	ck_assert_ptr_null(sec.refresh_token);
	oauth_record_clear(&rec);
	free(json);
}
END_TEST

START_TEST(record_seal_takes_fresh_nonce)
{
	uint8_t key[32];
	char *a = sealed_record("p", "acc", key);
	char *b = sealed_record("p", "acc", key);

	/* Other salt, other nonce: two records of one password differ. */
	ck_assert_str_ne(a, b);
	free(a);
	free(b);
}
END_TEST

static const char *const bad_records[] = {
	"", "{}", "[]", "{\"v\":2}",
	"{\"v\":1,\"address\":\"a\",\"route\":\"r\",\"kdf\":\"pbkdf2\",\"log2_n\":15,\"r\":8,"
	"\"p\":1,\"salt\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"verifier\":\"\",\"nonce\":\"\",\"box\":\"\","
	"\"created\":1,\"updated\":1}",
	"{\"v\":1,\"address\":\"a\",\"route\":\"r\",\"kdf\":\"scrypt\",\"log2_n\":30,\"r\":8,"
	"\"p\":1,\"salt\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"verifier\":\"\",\"nonce\":\"\",\"box\":\"\","
	"\"created\":1,\"updated\":1}",
	"{\"v\":1,\"address\":\"a\",\"route\":\"r\",\"kdf\":\"scrypt\",\"log2_n\":15,\"r\":8,"
	"\"p\":1,\"salt\":\"AAAA\",\"verifier\":\"\",\"nonce\":\"\",\"box\":\"\","
	"\"created\":1,\"updated\":1}",
};

START_TEST(record_refuses)
{
	struct oauth_record rec;
	const char *why = NULL;

	ck_assert_int_eq(oauth_record_parse(bad_records[_i], strlen(bad_records[_i]), &rec, &why),
			 -1);
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_null(rec.box);
}
END_TEST

/* ---- PKCE, redirects, forms ---- */

START_TEST(pkce_rfc7636_vector)
{
	static const char verifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	uint8_t digest[32];
	char challenge[44], v[44], c[44], st[23];

	crypto_sha256(verifier, strlen(verifier), digest);
	crypto_base64url(digest, sizeof(digest), challenge);
	ck_assert_str_eq(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	ck_assert_int_eq(oauth_pkce_new(v, c, st), 0);
	ck_assert_uint_eq(strlen(v), 43);
	ck_assert_uint_eq(strlen(c), 43);
	ck_assert_uint_eq(strlen(st), 22);
	crypto_sha256(v, strlen(v), digest);
	crypto_base64url(digest, sizeof(digest), challenge);
	ck_assert_str_eq(challenge, c);
}
END_TEST

static const struct {
	const char *url;
	int ret;
	const char *code_or_error;
} redirect_cases[] = {
	{ "http://127.0.0.1:5/callback?code=abc&state=S1", 0, "abc" },
	{ "/callback?state=S1&code=a%2Fb", 0, "a/b" },
	{ "code=abc&state=S1", 0, "abc" },
	{ "http://127.0.0.1:5/callback?code=abc&state=S2", -1, "state does not match" },
	{ "http://127.0.0.1:5/callback?code=abc", -1, "state does not match" },
	{ "http://127.0.0.1:5/callback?error=access_denied&state=S1", -1, "refused" },
	{ "http://127.0.0.1:5/callback?state=S1", -1, "no code" },
	{ "http://127.0.0.1:5/callback?state=S1&code=", -1, "no code" },
};

START_TEST(redirect_code)
{
	char code[64];
	const char *error = NULL;
	int ret = oauth_redirect_code(redirect_cases[_i].url, "S1", code, sizeof(code), &error);

	ck_assert_int_eq(ret, redirect_cases[_i].ret);
	if (ret == 0)
		ck_assert_str_eq(code, redirect_cases[_i].code_or_error);
	else
		ck_assert_ptr_nonnull(strstr(error, redirect_cases[_i].code_or_error));
}
END_TEST

START_TEST(form_encoding)
{
	char buf[64] = "";

	ck_assert_int_eq(oauth_form_add(buf, sizeof(buf), "a", "x y&z=1/~"), 0);
	ck_assert_int_eq(oauth_form_add(buf, sizeof(buf), "b", ""), 0);
	ck_assert_str_eq(buf, "a=x%20y%26z%3D1%2F~&b=");
	char small[8] = "";
	ck_assert_int_eq(oauth_form_add(small, sizeof(small), "abc", "d"), 0);
	ck_assert_int_eq(oauth_form_add(small, sizeof(small), "e", "f"), -1);
}
END_TEST

/* ---- recently checked passwords ---- */

START_TEST(unlock_cache)
{
	struct oauth_unlock *u = oauth_unlock_new();
	uint8_t salt[OAUTH_SALT_LEN] = { 7 }, salt2[OAUTH_SALT_LEN] = { 8 };
	uint8_t key[CRYPTO_KEY_LEN] = { 1, 2, 3 }, got[CRYPTO_KEY_LEN], mac[32], bad[32];
	char name[32];

	ck_assert_ptr_nonnull(u);
	oauth_unlock_mac(u, "right", 5, mac);
	oauth_unlock_mac(u, "wrong", 5, bad);
	ck_assert_int_eq(oauth_unlock_find(u, "acc", salt, mac, got), -1);
	oauth_unlock_remember(u, "acc", salt, mac, key);
	ck_assert_int_eq(oauth_unlock_find(u, "acc", salt, mac, got), 0);
	ck_assert(memcmp(got, key, sizeof(key)) == 0);
	/* Another password, another salt (a password change), another account. */
	ck_assert_int_eq(oauth_unlock_find(u, "acc", salt, bad, got), -1);
	ck_assert_int_eq(oauth_unlock_find(u, "acc", salt2, mac, got), -1);
	ck_assert_int_eq(oauth_unlock_find(u, "acc2", salt, mac, got), -1);
	/* The bound: past OAUTH_UNLOCK_MAX accounts the oldest goes. */
	for (int i = 0; i < OAUTH_UNLOCK_MAX + 10; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		oauth_unlock_remember(u, name, salt, mac, key);
	}
	ck_assert_int_eq(oauth_unlock_find(u, "a10", salt, mac, got), 0);
	oauth_unlock_free(&u);
	ck_assert_ptr_null(u);
}
END_TEST

/* ---- the scrypt worker ---- */

static int kdf_calls;
static uint8_t kdf_out[OAUTH_KDF_OUT];

static void kdf_cb(void *ctx, int ok, const uint8_t *out)
{
	struct event_base *base = ctx;

	ck_assert_int_eq(ok, 0);
	memcpy(kdf_out, out, sizeof(kdf_out));
	if (++kdf_calls == 2)
		event_base_loopbreak(base);
}

START_TEST(kdf_worker)
{
	struct event_base *base = event_base_new();
	struct oauth_kdf *k = oauth_kdf_new(base);
	struct oauth_kdf_job *a, *b, *c;
	uint8_t salt[16] = { 1, 2, 3 }, want[OAUTH_KDF_OUT];

	ck_assert_ptr_nonnull(k);
	kdf_calls = 0;
	a = oauth_kdf_run(k, "pw", 2, salt, sizeof(salt), 10, 8, 1, kdf_cb, base);
	c = oauth_kdf_run(k, "other", 5, salt, sizeof(salt), 12, 8, 1, kdf_cb, base);
	b = oauth_kdf_run(k, "pw", 2, salt, sizeof(salt), 10, 8, 1, kdf_cb, base);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	/* Cancelled, queued or running: its callback never comes. */
	oauth_kdf_cancel(&c);
	ck_assert_ptr_null(c);
	/* Never inside the call. */
	ck_assert_int_eq(kdf_calls, 0);
	event_base_dispatch(base);
	ck_assert_int_eq(kdf_calls, 2);
	ck_assert_int_eq(crypto_scrypt("pw", 2, salt, sizeof(salt), 10, 8, 1, want, sizeof(want)), 0);
	ck_assert(memcmp(want, kdf_out, sizeof(want)) == 0);
	/* Freed with work pending: no callback, no leak (ASan). */
	a = oauth_kdf_run(k, "pw", 2, salt, sizeof(salt), 14, 8, 1, kdf_cb, base);
	b = oauth_kdf_run(k, "pw", 2, salt, sizeof(salt), 14, 8, 1, kdf_cb, base);
	oauth_kdf_free(&k);
	ck_assert_ptr_null(k);
	ck_assert_int_eq(kdf_calls, 2);
	event_base_free(base);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("oauth");
	TCase *tc = tcase_create("oauth");
	SRunner *sr;
	int failed;

	oauth_json_init();
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, token_json, 0, N(token_cases));
	tcase_add_test(tc, token_json_values);
	tcase_add_loop_test(tc, device_json, 0, N(device_cases));
	tcase_add_loop_test(tc, challenge_json, 0, N(challenge_cases));
	tcase_add_test(tc, record_round_trip);
	tcase_add_test(tc, record_seal_takes_fresh_nonce);
	tcase_add_loop_test(tc, record_refuses, 0, N(bad_records));
	tcase_add_test(tc, pkce_rfc7636_vector);
	tcase_add_loop_test(tc, redirect_code, 0, N(redirect_cases));
	tcase_add_test(tc, form_encoding);
	tcase_add_test(tc, kdf_worker);
	tcase_add_test(tc, unlock_cache);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
