#ifndef OAUTH_UNLOCK_H
#define OAUTH_UNLOCK_H

/*
 * Gateway passwords checked recently, so that a client polling every few
 * minutes does not cost a scrypt each time: per account, the record's
 * salt, HMAC-SHA-256 of the password under a key random to this process,
 * and the record key it gave, for OAUTH_UNLOCK_TTL seconds; at most
 * OAUTH_UNLOCK_MAX accounts (the oldest entry goes first). A different
 * password or salt (a password change) is never found here: scrypt then
 * decides. Entries are wiped when they go.
 */

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "oauth_record.h"

#define OAUTH_UNLOCK_TTL 3600
#define OAUTH_UNLOCK_MAX 4096

struct oauth_unlock;

/* NULL when out of memory or without randomness. */
struct oauth_unlock *oauth_unlock_new(void);
void oauth_unlock_free(struct oauth_unlock **u);

/* The keyed hash of a password (mac: 32 octets). */
void oauth_unlock_mac(const struct oauth_unlock *u, const char *pass, size_t len, uint8_t *mac);
/* 0 and the key when account's entry has this salt and mac; else -1. */
int oauth_unlock_find(struct oauth_unlock *u, const char *account,
		      const uint8_t salt[OAUTH_SALT_LEN], const uint8_t *mac,
		      uint8_t key[CRYPTO_KEY_LEN]);
/* Remembers (or renews) account's entry. */
void oauth_unlock_remember(struct oauth_unlock *u, const char *account,
			   const uint8_t salt[OAUTH_SALT_LEN], const uint8_t *mac,
			   const uint8_t key[CRYPTO_KEY_LEN]);

#endif
