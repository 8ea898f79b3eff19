/* Contracts in oauth_unlock.h. */

#include "oauth_unlock.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct oauth_unlocked {
	char *account;
	uint8_t salt[OAUTH_SALT_LEN];
	uint8_t mac[32];
	uint8_t key[CRYPTO_KEY_LEN];
	time_t until;
};

struct oauth_unlock {
	uint8_t mac_key[32];
	struct oauth_unlocked *e[OAUTH_UNLOCK_MAX];
	unsigned int n;
};

struct oauth_unlock *oauth_unlock_new(void)
{
	struct oauth_unlock *u = calloc(1, sizeof(*u));

	if (u != NULL && crypto_random(u->mac_key, sizeof(u->mac_key)) < 0) {
		free(u);
		return NULL;
	}
	return u;
}

static void oauth_unlock_drop(struct oauth_unlock *u, unsigned int i)
{
	struct oauth_unlocked *e = u->e[i];

	free(e->account);
	explicit_bzero(e, sizeof(*e));
	free(e);
	u->e[i] = u->e[--u->n];
}

void oauth_unlock_free(struct oauth_unlock **up)
{
	struct oauth_unlock *u = *up;

	if (u == NULL)
		return;
	while (u->n > 0)
		oauth_unlock_drop(u, 0);
	explicit_bzero(u, sizeof(*u));
	free(u);
	*up = NULL;
}

void oauth_unlock_mac(const struct oauth_unlock *u, const char *pass, size_t len, uint8_t *mac)
{
	crypto_hmac_sha256(u->mac_key, sizeof(u->mac_key), pass, len, mac);
}

int oauth_unlock_find(struct oauth_unlock *u, const char *account,
		      const uint8_t salt[OAUTH_SALT_LEN], const uint8_t *mac,
		      uint8_t key[CRYPTO_KEY_LEN])
{
	time_t now = time(NULL);

	for (unsigned int i = 0; i < u->n; i++) {
		struct oauth_unlocked *e = u->e[i];

		if (e->until <= now) {
			oauth_unlock_drop(u, i--);
			continue;
		}
		if (strcmp(e->account, account) != 0)
			continue;
		if (memcmp(e->salt, salt, OAUTH_SALT_LEN) == 0 && crypto_equal(e->mac, mac, 32)) {
			memcpy(key, e->key, CRYPTO_KEY_LEN);
			return 0;
		}
		return -1;
	}
	return -1;
}

void oauth_unlock_remember(struct oauth_unlock *u, const char *account,
			   const uint8_t salt[OAUTH_SALT_LEN], const uint8_t *mac,
			   const uint8_t key[CRYPTO_KEY_LEN])
{
	struct oauth_unlocked *e = NULL;
	unsigned int oldest = 0;

	for (unsigned int i = 0; i < u->n; i++) {
		if (strcmp(u->e[i]->account, account) == 0) {
			e = u->e[i];
			break;
		}
		if (u->e[i]->until < u->e[oldest]->until)
			oldest = i;
	}
	if (e == NULL) {
		if (u->n == OAUTH_UNLOCK_MAX)
			oauth_unlock_drop(u, oldest);
		if ((e = calloc(1, sizeof(*e))) == NULL || (e->account = strdup(account)) == NULL) {
			free(e);
			return;
		}
		u->e[u->n++] = e;
	}
	memcpy(e->salt, salt, OAUTH_SALT_LEN);
	memcpy(e->mac, mac, 32);
	memcpy(e->key, key, CRYPTO_KEY_LEN);
	e->until = time(NULL) + OAUTH_UNLOCK_TTL;
}
