/* The device-name rule; contracts in cache_key.h. */

#include "cache_key.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

bool cache_device_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > CACHE_DEVICE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Appends s[0..len) escaped; false when it does not fit. */
static bool cache_key_put(char *buf, size_t size, size_t *o, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '{' && c != '}') {
			if (*o + 1 >= size)
				return false;
			buf[(*o)++] = (char)c;
		} else {
			if (*o + 4 >= size)
				return false;
			buf[(*o)++] = '\\';
			buf[(*o)++] = 'x';
			buf[(*o)++] = hex[c >> 4];
			buf[(*o)++] = hex[c & 15];
		}
	}
	buf[*o] = '\0';
	return true;
}

size_t cache_account_name(char *buf, size_t size, const char *user, size_t user_len,
			  const char *host, uint16_t port, const char *mailbox)
{
	char tail[300];
	size_t o = 0;
	int n;

	if (size == 0)
		return 0;
	n = snprintf(tail, sizeof(tail), "@%s:%u", host, (unsigned int)port);
	if (n < 0 || (size_t)n >= sizeof(tail) ||
	    !cache_key_put(buf, size, &o, user, user_len) ||
	    !cache_key_put(buf, size, &o, tail, (size_t)n))
		goto fail;
	if (mailbox != NULL && strcasecmp(mailbox, "INBOX") != 0 &&
	    (!cache_key_put(buf, size, &o, "/", 1) ||
	     !cache_key_put(buf, size, &o, mailbox, strlen(mailbox))))
		goto fail;
	return o;
fail:
	buf[0] = '\0';
	return 0;
}
