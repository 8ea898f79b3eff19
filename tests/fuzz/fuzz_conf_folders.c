/*
 * libFuzzer harness for folders = ... of [device PATTERN] sections
 * (conf/conf_folders.c).
 *
 * Input: the value (up to its first NUL). Checked: the parser accepts or
 * says why; an accepted list has 1..CONF_MAX_FOLDERS entries, each
 * 1..CONF_FOLDER_NAME_MAX octets without a comma and without leading or
 * trailing blanks, a special-use name only as the table writes it and
 * never first, no two entries naming one folder; and the list joined
 * with ", " parses again to the same list.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf_folders.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)
#define VALUE_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* As the daemon's check, in spirit: no control characters. */
static int check_name(const char *name, const char **error_r)
{
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			*error_r = "control characters are not allowed";
			return -1;
		}
	}
	return 0;
}

static bool same(const char *a, const char *b)
{
	if (strcasecmp(a, "INBOX") == 0 || a[0] == '\\')
		return strcasecmp(a, b) == 0;
	return strcmp(a, b) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char value[VALUE_MAX + 1], joined[CONF_MAX_FOLDERS * (CONF_FOLDER_NAME_MAX + 2) + 1];
	char **list = NULL, **again = NULL, why[160];
	unsigned int n = 0, m = 0;
	size_t o = 0;

	if (size > VALUE_MAX)
		return 0;
	memcpy(value, data, size);
	value[size] = '\0';
	why[0] = '\0';
	if (conf_folders_parse(value, check_name, &list, &n, why, sizeof(why)) < 0) {
		CHECK(list == NULL && n == 0 && why[0] != '\0');
		return 0;
	}
	CHECK(n >= 1 && n <= CONF_MAX_FOLDERS && list != NULL);
	CHECK(conf_folder_special(list[0]) == NULL);
	for (unsigned int i = 0; i < n; i++) {
		size_t len = strlen(list[i]);
		const char *use = conf_folder_special(list[i]);

		CHECK(len >= 1 && len <= CONF_FOLDER_NAME_MAX);
		CHECK(strchr(list[i], ',') == NULL);
		CHECK(list[i][0] != ' ' && list[i][0] != '\t');
		CHECK(list[i][len - 1] != ' ' && list[i][len - 1] != '\t');
		CHECK(list[i][0] != '\\' || (use != NULL && strcmp(use, list[i]) == 0));
		for (unsigned int j = 0; j < i; j++)
			CHECK(!same(list[j], list[i]));
		o += (size_t)snprintf(joined + o, sizeof(joined) - o, "%s%s", i > 0 ? ", " : "",
				      list[i]);
	}
	CHECK(conf_folders_parse(joined, check_name, &again, &m, why, sizeof(why)) == 0);
	CHECK(m == n);
	for (unsigned int i = 0; i < n; i++)
		CHECK(strcmp(list[i], again[i]) == 0);
	conf_folders_clear(&again, &m);
	conf_folders_clear(&list, &n);
	CHECK(list == NULL && n == 0);
	return 0;
}
