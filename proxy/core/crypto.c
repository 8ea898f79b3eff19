/* Contracts in crypto.h. */

#include "crypto.h"
#include "tls.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

int crypto_random(void *buf, size_t len)
{
	if (len > (size_t)INT32_MAX || RAND_bytes(buf, (int)len) != 1)
		return -1;
	return 0;
}

int crypto_scrypt(const char *pass, size_t pass_len, const uint8_t *salt, size_t salt_len,
		  unsigned int log2_n, unsigned int r, unsigned int p, uint8_t *out,
		  size_t out_len)
{
	uint64_t n = (uint64_t)1 << log2_n;
	/* OpenSSL's own limit (32 MB) refuses r = 8 at N = 2^15; allow what
	   the parameters need, and no more. */
	uint64_t maxmem = 129 * (uint64_t)r * n + (1u << 20);

	if (log2_n < 10 || log2_n > 20 || r == 0 || r > 16 || p == 0 || p > 4)
		return -1;
	if (EVP_PBE_scrypt(pass, pass_len, salt, salt_len, n, r, p, maxmem, out, out_len) != 1)
		return -1;
	return 0;
}

static int crypto_gcm(bool seal, const uint8_t *key, const uint8_t *nonce, const void *aad,
		      size_t aad_len, const uint8_t *in, size_t len, uint8_t *tag, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, ok;

	if (ctx == NULL || len > (size_t)INT32_MAX || aad_len > (size_t)INT32_MAX) {
		EVP_CIPHER_CTX_free(ctx);
		return -1;
	}
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, seal ? 1 : 0) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_NONCE_LEN, NULL) == 1 &&
		EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, seal ? 1 : 0) == 1 &&
		(aad_len == 0 ||
		 EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1) &&
		EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1;
	if (ok && !seal)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CRYPTO_TAG_LEN, tag) == 1;
	ok = ok && EVP_CipherFinal_ex(ctx, out + len, &n) == 1;
	if (ok && seal)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CRYPTO_TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		OPENSSL_cleanse(out, len);
		return -1;
	}
	return 0;
}

int crypto_seal(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t nonce[CRYPTO_NONCE_LEN],
		const void *aad, size_t aad_len, const void *plain, size_t len, uint8_t *out)
{
	return crypto_gcm(true, key, nonce, aad, aad_len, plain, len, out + len, out);
}

int crypto_open(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t nonce[CRYPTO_NONCE_LEN],
		const void *aad, size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out)
{
	uint8_t tag[CRYPTO_TAG_LEN];

	if (ct_len < CRYPTO_TAG_LEN)
		return -1;
	memcpy(tag, ct + ct_len - CRYPTO_TAG_LEN, CRYPTO_TAG_LEN);
	return crypto_gcm(false, key, nonce, aad, aad_len, ct, ct_len - CRYPTO_TAG_LEN, tag, out);
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

bool crypto_equal_str(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

void crypto_hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len,
			uint8_t out[32])
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n);
}

void crypto_sha256(const void *data, size_t len, uint8_t out[32])
{
	SHA256(data, len, out);
}

size_t crypto_base64url(const void *src, size_t len, char *dst)
{
	char tmp[4 * ((CRYPTO_BASE64URL_MAX + 2) / 3) + 1];
	size_t n;

	if (len > CRYPTO_BASE64URL_MAX) {
		dst[0] = '\0';
		return 0;
	}
	n = tls_base64_encode(src, len, tmp);
	while (n > 0 && tmp[n - 1] == '=')
		n--;
	for (size_t i = 0; i < n; i++)
		dst[i] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
	dst[n] = '\0';
	explicit_bzero(tmp, sizeof(tmp));
	return n;
}
