#ifndef CRYPTO_H
#define CRYPTO_H

/*
 * The cryptography of enrolled OAuth2 accounts, on OpenSSL (with tls.c,
 * the only files that include its headers): random bytes, the slow
 * password hash, authenticated encryption, constant-time comparison,
 * base64url for PKCE.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_LEN 32
#define CRYPTO_NONCE_LEN 12
#define CRYPTO_TAG_LEN 16

/* len bytes from the system's CSPRNG; -1 if it failed (never partial). */
int crypto_random(void *buf, size_t len);

/* scrypt (RFC 7914) of the password: out_len bytes. log2_n, r, p as in
   the RFC; memory used is about 128 * r * 2^log2_n bytes. -1 on failure
   (parameters out of OpenSSL's limits, memory). CPU-bound: tens of ms at
   the parameters popgate uses. */
int crypto_scrypt(const char *pass, size_t pass_len, const uint8_t *salt, size_t salt_len,
		  unsigned int log2_n, unsigned int r, unsigned int p, uint8_t *out,
		  size_t out_len);

/* AES-256-GCM: seal writes len bytes of ciphertext and then the 16-byte
   tag to out (len + CRYPTO_TAG_LEN); open checks the tag and writes
   ct_len - CRYPTO_TAG_LEN bytes of plaintext. aad is authenticated, not
   encrypted. Each returns 0, or -1 (open: a wrong key, a changed byte or
   aad; nothing usable is left in out). A nonce must never repeat under
   one key: callers take a random one per seal. */
int crypto_seal(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t nonce[CRYPTO_NONCE_LEN],
		const void *aad, size_t aad_len, const void *plain, size_t len, uint8_t *out);
int crypto_open(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t nonce[CRYPTO_NONCE_LEN],
		const void *aad, size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out);

/* Whether a and b (len bytes each) are equal, in time that depends only
   on len. */
bool crypto_equal(const void *a, const void *b, size_t len);

/* The same for two strings: their lengths may show, their bytes do not. */
bool crypto_equal_str(const char *a, const char *b);

/* HMAC-SHA-256 of data under key into out (32 bytes). */
void crypto_hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len,
			uint8_t out[32]);

/* SHA-256 of data into out (32 bytes). */
void crypto_sha256(const void *data, size_t len, uint8_t out[32]);

/* base64url without padding (RFC 4648 5, as PKCE wants it) of at most
   CRYPTO_BASE64URL_MAX bytes into dst, which must hold (4 * len + 2) / 3
   characters and a NUL (16 bytes: 23; 32 bytes: 44); returns the length.
   Longer input: "" and 0. */
#define CRYPTO_BASE64URL_MAX 96
size_t crypto_base64url(const void *src, size_t len, char *dst);

#endif
