/*
 * libFuzzer harness for the provider table reader (conf/provider_table.c).
 *
 * Input: the first line is the key (a domain, or with a leading '=' a
 * provider name), the rest the table. Checked: a match has a valid entry
 * (host a domain, port 1..65535, enum values in range, line inside the
 * table); an error names a line of the table; the result does not depend
 * on the bytes after the table (a copy of the exact length is read).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provider_table.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char key[300];
	size_t klen, tlen, lines = 1;
	struct provider p;
	unsigned int line = 0;
	const char *error = NULL;
	enum provider_by by = PROVIDER_BY_DOMAIN;
	char *table;
	int r;

	if (nl == NULL || (size_t)(nl - data) >= sizeof(key))
		return 0;
	klen = (size_t)(nl - data);
	memcpy(key, data, klen);
	key[klen] = '\0';
	if (memchr(key, '\0', klen) != NULL)
		return 0;
	if (key[0] == '=') {
		by = PROVIDER_BY_NAME;
		memmove(key, key + 1, klen);
	}
	tlen = size - klen - 1;
	table = malloc(tlen + 1);
	memcpy(table, nl + 1, tlen);
	for (size_t i = 0; i < tlen; i++)
		lines += table[i] == '\n';
	r = provider_lookup(table, tlen, by, key, &p, &line, &error);
	if (r < 0) {
		CHECK(error != NULL && line >= 1 && line <= lines);
	} else if (r == 1) {
		CHECK(provider_domain_valid(p.host, strlen(p.host)));
		CHECK(p.port >= 1);
		CHECK((unsigned int)p.tls <= PROVIDER_TLS_STARTTLS);
		CHECK((unsigned int)p.auth <= PROVIDER_AUTH_OAUTH2);
		CHECK((unsigned int)p.login <= PROVIDER_LOGIN_LOCAL_PART);
		CHECK(p.line >= 1 && p.line <= lines);
		CHECK(strlen(p.name) >= 1 && strlen(p.name) <= PROVIDER_NAME_MAX);
		if (by == PROVIDER_BY_NAME)
			CHECK(strcmp(p.name, key) == 0 || strcasecmp(p.name, key) == 0);
	} else {
		CHECK(r == 0);
	}
	free(table);
	return 0;
}
