#ifndef TEXT_H
#define TEXT_H

/*
 * Text helpers shared by the parsers and the log. Pure: libc only. The
 * character helpers are locale-independent (strncasecmp would fold
 * differently under tr_TR).
 */

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static inline char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* s[0..len) equals the NUL-terminated word, ignoring ASCII case. */
static inline bool ascii_eq(const char *s, size_t len, const char *word)
{
	/* Callers pass literals: the length check folds to a constant and
	   most mismatches end here. */
	if (strlen(word) != len)
		return false;
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

/*
 * Writes src into dst (size > 0) as a log-safe value: printable ASCII
 * except space, '"' and '\\' is copied, anything else becomes \xNN; the
 * result is truncated to fit. Returns dst. Used for every text that came
 * from a client or a server before it goes into a log line.
 */
char *text_escape(const char *src, size_t len, char *dst, size_t size);

/* The same for a value written between double quotes (error="..."):
   spaces are kept, so a server's or a client's sentence stays readable,
   and the result is also safe in a POP3 reply line (no CR, LF, NUL). */
char *text_escape_quoted(const char *src, size_t len, char *dst, size_t size);

#endif
