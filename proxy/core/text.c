/* Text helpers; contracts in text.h. */

#include "text.h"

static char *text_escape_as(const char *src, size_t len, char *dst, size_t size,
			    unsigned char lowest)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c >= lowest && c < 0x7f && c != '"' && c != '\\') {
			if (o + 1 >= size)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= size)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}

char *text_escape(const char *src, size_t len, char *dst, size_t size)
{
	return text_escape_as(src, len, dst, size, 0x21);
}

char *text_escape_quoted(const char *src, size_t len, char *dst, size_t size)
{
	return text_escape_as(src, len, dst, size, 0x20);
}
