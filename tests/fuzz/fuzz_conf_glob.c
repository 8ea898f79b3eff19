/*
 * libFuzzer harness for the [device] patterns (conf/conf_glob.c).
 *
 * Input: a pattern, a newline, a text. Checked: the pattern checks never
 * read past it and agree with each other on what a device pattern is (a
 * device pattern is always a valid account pattern); conf_glob_match
 * gives what a plain table-driven matcher gives (every prefix of the
 * pattern against every prefix of the text), for patterns of any bytes.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf_glob.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)
#define PAT_MAX 64
#define TEXT_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* m[i][j]: pattern[0..i) matches text[0..j). */
static bool reference(const char *p, size_t plen, const char *t, size_t tlen)
{
	static bool m[PAT_MAX + 1][TEXT_MAX + 1];

	memset(m, 0, sizeof(m));
	m[0][0] = true;
	for (size_t i = 1; i <= plen; i++) {
		for (size_t j = 0; j <= tlen; j++) {
			if (p[i - 1] == '*')
				m[i][j] = m[i - 1][j] || (j > 0 && m[i][j - 1]);
			else
				m[i][j] = j > 0 && m[i - 1][j - 1] &&
					(p[i - 1] == '?' || lower(p[i - 1]) == lower(t[j - 1]));
		}
	}
	return m[plen][tlen];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *nl = memchr(in, '\n', size);
	char pattern[PAT_MAX + 1];
	size_t plen, tlen;
	const char *why, *text;
	bool device_ok, account_ok;

	if (nl == NULL)
		return 0;
	plen = (size_t)(nl - in);
	text = nl + 1;
	tlen = size - plen - 1;
	if (plen > PAT_MAX || tlen > TEXT_MAX || memchr(in, '\0', plen) != NULL)
		return 0;
	memcpy(pattern, in, plen);
	pattern[plen] = '\0';
	device_ok = conf_glob_device_check(pattern, plen, &why) == 0;
	CHECK(device_ok || why != NULL);
	account_ok = conf_glob_check(pattern, &why) == 0;
	CHECK(!device_ok || account_ok);
	CHECK(conf_glob_match(pattern, text, tlen) == reference(pattern, plen, text, tlen));
	return 0;
}
