/* The device-name rule; contracts in cache_key.h. */

#include "cache_key.h"

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
