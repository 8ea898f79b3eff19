#ifndef OAUTH_RECORD_H
#define OAUTH_RECORD_H

/*
 * An enrolled account's record, as stored (cache_oauth_put) — JSON:
 *
 *   {"v":1,"address":..,"route":..,"kdf":"scrypt","log2_n":15,"r":8,"p":1,
 *    "salt":b64,"verifier":b64,"nonce":b64,"box":b64,
 *    "created":unix,"updated":unix}
 *
 * The gateway password is never stored: scrypt(password, salt) gives 64
 * octets, the first 32 are the verifier (compared in constant time), the
 * last 32 the AES-256-GCM key of the box. The box holds the tokens (JSON
 * {"rt":..,"at":..,"exp":unix}) and is bound to the account name (the
 * AAD), so it opens for nobody without the password, and not under
 * another account's key either. Every seal takes a fresh random nonce.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define OAUTH_SALT_LEN 16
#define OAUTH_VERIFIER_LEN 32
#define OAUTH_BOX_MAX 20000

struct oauth_record {
	char *address;            /* the login name enrolled, for listings */
	char *route;              /* the route's name at enrolment */
	unsigned int log2_n, r, p;
	uint8_t salt[OAUTH_SALT_LEN];
	uint8_t verifier[OAUTH_VERIFIER_LEN];
	uint8_t nonce[CRYPTO_NONCE_LEN];
	uint8_t *box;             /* ciphertext and tag */
	size_t box_len;
	int64_t created, updated;
};

/* What the box holds. Strings malloc'd; oauth_secrets_clear() wipes. */
struct oauth_secrets {
	char *refresh_token;
	char *access_token;       /* NULL: none yet */
	int64_t expires;          /* unix time the access token expires */
};

/* The stored form into r; -1 (and *why) when it is not a record of ours.
   oauth_record_clear() frees it either way. */
int oauth_record_parse(const char *json, size_t len, struct oauth_record *r,
		       const char **why);
/* The stored form, malloc'd, NUL-terminated; NULL when out of memory. */
char *oauth_record_format(const struct oauth_record *r);
void oauth_record_clear(struct oauth_record *r);

/* A new record's password part: a random salt, the verifier, and the key
   into key. -1 on failure (random source, memory). */
int oauth_record_set_password(struct oauth_record *r, const char *pass, size_t pass_len,
			      uint8_t key[CRYPTO_KEY_LEN]);

/* The key when the password is the record's (0), else -1. Slow on
   purpose (scrypt): tens of milliseconds of CPU. */
int oauth_record_unlock(const struct oauth_record *r, const char *pass, size_t pass_len,
			uint8_t key[CRYPTO_KEY_LEN]);

/* Seals s into r's box under key for account (fresh nonce), or opens it
   into s. -1: failure (open: not this key or account, or damaged). */
int oauth_record_seal(struct oauth_record *r, const uint8_t key[CRYPTO_KEY_LEN],
		      const char *account, const struct oauth_secrets *s);
int oauth_record_open(const struct oauth_record *r, const uint8_t key[CRYPTO_KEY_LEN],
		      const char *account, struct oauth_secrets *s);

void oauth_secrets_clear(struct oauth_secrets *s);

/* The scrypt cost of new records: 2^15, r 8, p 1 (32 MiB; RFC 7914's
   interactive figure). */
#define OAUTH_SCRYPT_LOG2_N 15
#define OAUTH_SCRYPT_R 8
#define OAUTH_SCRYPT_P 1

#endif
