#ifndef IMAP_ASCII_H
#define IMAP_ASCII_H

/* Locale-independent character helpers shared by the IMAP parsers (libc
   only): strncasecmp would fold differently under tr_TR. */

#include <stdbool.h>
#include <stddef.h>

static inline char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* s[0..len) equals the NUL-terminated word, ignoring ASCII case. */
static inline bool ascii_eq(const char *s, size_t len, const char *word)
{
	for (size_t i = 0; i < len; i++) {
		if (word[i] == '\0' || ascii_upper(s[i]) != ascii_upper(word[i]))
			return false;
	}
	return word[len] == '\0';
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

#endif
