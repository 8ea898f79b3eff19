/* Glob patterns of [device] sections; contracts in conf_glob.h. */

#include "conf_glob.h"

static char conf_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* '*' matches any run, '?' one character; one backtrack point (the last
   '*') suffices because every other token matches exactly one
   character: linear in practice, len * pattern at worst. */
bool conf_glob_match(const char *pattern, const char *text, size_t len)
{
	const char *star = NULL;
	size_t i = 0, star_i = 0;

	while (i < len) {
		if (*pattern == '*') {
			star = ++pattern;
			star_i = i;
		} else if (*pattern != '\0' &&
			   (*pattern == '?' || conf_lower(*pattern) == conf_lower(text[i]))) {
			pattern++;
			i++;
		} else if (star != NULL) {
			pattern = star;
			i = ++star_i;
		} else {
			return false;
		}
	}
	while (*pattern == '*')
		pattern++;
	return *pattern == '\0';
}

int conf_glob_check(const char *pattern, const char **error_r)
{
	if (pattern[0] == '\0') {
		*error_r = "empty pattern";
		return -1;
	}
	for (const char *p = pattern; *p != '\0'; p++) {
		if (*p == '[' || *p == ']' || *p == '\\') {
			*error_r = "a pattern may use '*' and '?' only ('[', ']' and '\\' are not "
				"supported)";
			return -1;
		}
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
			*error_r = "a pattern may not hold spaces, control characters or non-ASCII";
			return -1;
		}
	}
	return 0;
}

int conf_glob_device_check(const char *pattern, size_t len, const char **error_r)
{
	if (len == 0 || len > CONF_PATTERN_MAX) {
		*error_r = "the pattern must be 1 to 64 characters";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = pattern[i];

		if (c == '[' || c == ']' || c == '\\') {
			*error_r = "a pattern may use '*' and '?' only ('[', ']' and '\\' are not "
				"supported)";
			return -1;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '*' || c == '?')) {
			*error_r = "a device pattern may hold letters, digits, '.', '_', '-', '*' "
				"and '?' only";
			return -1;
		}
	}
	return 0;
}
