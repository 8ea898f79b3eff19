/*
 * libFuzzer harness for the state store's names (cache/cache_key.c).
 *
 * Input: byte 0 splits the rest into a user name and a mailbox. The
 * account name must fit its buffer or be refused, hold no brace (the
 * Redis Cluster hash tag), space or control character, and decode back to
 * exactly the user name; device names are accepted exactly when they are
 * 1..32 of [A-Za-z0-9._-].
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache_key.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[600], mailbox[256], decoded[600];
	const char *user;
	size_t split, user_len, n, d = 0, i;
	bool ok = true;

	if (size < 1)
		return 0;
	split = data[0] % (size);
	user = (const char *)data + 1;
	user_len = split;
	n = size - 1 - split;
	if (n >= sizeof(mailbox))
		n = sizeof(mailbox) - 1;
	memcpy(mailbox, data + 1 + split, n);
	mailbox[n] = '\0';
	n = cache_account_name(buf, sizeof(buf), user, user_len, "h", 993, mailbox);
	if (n == 0) {
		CHECK(buf[0] == '\0');
		return 0;
	}
	CHECK(n == strlen(buf) && n < sizeof(buf));
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];

		CHECK(c > 0x20 && c < 0x7f && c != '{' && c != '}' && c != '"');
	}
	/* the user part decodes back to the user name */
	for (i = 0; i < n && d < user_len; ) {
		if (buf[i] == '\\') {
			CHECK(i + 3 < n && buf[i + 1] == 'x' && unhex(buf[i + 2]) >= 0 &&
			      unhex(buf[i + 3]) >= 0);
			decoded[d++] = (char)(unhex(buf[i + 2]) << 4 | unhex(buf[i + 3]));
			i += 4;
		} else {
			decoded[d++] = buf[i++];
		}
	}
	CHECK(d == user_len && memcmp(decoded, user, user_len) == 0);
	CHECK(strncmp(buf + i, "@h:993", 6) == 0);

	for (i = 0; i < user_len && ok; i++) {
		unsigned char c = (unsigned char)user[i];

		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '_' || c == '-';
	}
	CHECK(cache_device_name_ok(user, user_len) == (ok && user_len >= 1 && user_len <= 32));
	return 0;
}
