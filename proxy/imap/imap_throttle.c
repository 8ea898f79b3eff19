/* Throttle answers of IMAP servers; contracts in imap_throttle.h. */

#include "imap_throttle.h"

#include "text.h"

static const char *const throttle_names[] = {
	[IMAP_THROTTLE_NONE] = "none",
	[IMAP_THROTTLE_THROTTLED] = "throttled",
	[IMAP_THROTTLE_LIMIT] = "limit",
	[IMAP_THROTTLE_UNAVAILABLE] = "unavailable",
	[IMAP_THROTTLE_CONNECTIONS] = "connections",
};
_Static_assert(sizeof(throttle_names) / sizeof(throttle_names[0]) == IMAP_THROTTLE_COUNT,
	       "names must match enum imap_throttle");

static const struct {
	const char *code;
	enum imap_throttle kind;
} throttle_codes[] = {
	{ "THROTTLED", IMAP_THROTTLE_THROTTLED },
	{ "LIMIT", IMAP_THROTTLE_LIMIT },
	{ "UNAVAILABLE", IMAP_THROTTLE_UNAVAILABLE },
};

static const struct {
	const char *words;
	enum imap_throttle kind;
} throttle_words[] = {
	{ "exceeded command or bandwidth limits", IMAP_THROTTLE_THROTTLED },
	{ "too many simultaneous connections", IMAP_THROTTLE_CONNECTIONS },
	{ "too many connections", IMAP_THROTTLE_CONNECTIONS },
	{ "maximum number of connections", IMAP_THROTTLE_CONNECTIONS },
};

/* words (lower case) occurs in s[0..len), ignoring ASCII case. */
static bool contains_words(const char *s, size_t len, const char *words)
{
	size_t n = strlen(words);

	for (size_t i = 0; n <= len && i <= len - n; i++) {
		size_t j = 0;

		while (j < n && ascii_upper(s[i + j]) == ascii_upper(words[j]))
			j++;
		if (j == n)
			return true;
	}
	return false;
}

enum imap_throttle imap_throttle_of(const char *code, size_t code_len, const char *text,
				    size_t text_len)
{
	size_t atom = 0;

	if (code == NULL)
		code_len = 0;
	while (atom < code_len && code[atom] != ' ')
		atom++;
	for (size_t i = 0; i < sizeof(throttle_codes) / sizeof(throttle_codes[0]); i++) {
		if (ascii_eq(code, atom, throttle_codes[i].code))
			return throttle_codes[i].kind;
	}
	/* Another code says what it is about (AUTHENTICATIONFAILED...). */
	if (text == NULL || (atom > 0 && !ascii_eq(code, atom, "ALERT")))
		return IMAP_THROTTLE_NONE;
	for (size_t i = 0; i < sizeof(throttle_words) / sizeof(throttle_words[0]); i++) {
		if (contains_words(text, text_len, throttle_words[i].words))
			return throttle_words[i].kind;
	}
	return IMAP_THROTTLE_NONE;
}

const char *imap_throttle_name(enum imap_throttle t)
{
	return (unsigned int)t < IMAP_THROTTLE_COUNT ? throttle_names[t] : "none";
}
