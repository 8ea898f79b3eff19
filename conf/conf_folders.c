/* folders = ... of a [device PATTERN] section: the ordered list of the
   maildrop's folders. Contracts in conf_folders.h. */

#include "conf_folders.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* RFC 6154 special-use attributes a folder may be named by. */
static const char *const conf_special_uses[] = {
	"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash", NULL
};

const char *conf_folder_special(const char *entry)
{
	for (size_t i = 0; entry[0] == '\\' && conf_special_uses[i] != NULL; i++) {
		if (strcasecmp(entry, conf_special_uses[i]) == 0)
			return conf_special_uses[i];
	}
	return NULL;
}

/* Two entries that name the same folder: INBOX and the special-use
   names in any case, other names exactly (IMAP names are case-sensitive). */
static bool conf_folder_same(const char *a, const char *b)
{
	if (strcasecmp(a, "INBOX") == 0 || a[0] == '\\')
		return strcasecmp(a, b) == 0;
	return strcmp(a, b) == 0;
}

void conf_folders_clear(char ***folders, unsigned int *count)
{
	for (unsigned int i = 0; i < *count; i++)
		free((*folders)[i]);
	free(*folders);
	*folders = NULL;
	*count = 0;
}

/* One entry (trimmed, len octets) checked: 0, or -1 with the reason in
   why (of size). */
static int conf_folder_check(const char *e, size_t len, conf_folder_name_check *check,
			     char *why, size_t size)
{
	char name[256];
	const char *reason;

	if (len == 0) {
		snprintf(why, size, "an empty entry (list them as INBOX, \\Sent, Archive/2024)");
		return -1;
	}
	if (len > CONF_FOLDER_NAME_MAX) {
		snprintf(why, size, "a folder name longer than %u octets", CONF_FOLDER_NAME_MAX);
		return -1;
	}
	memcpy(name, e, len);
	name[len] = '\0';
	if (name[0] == '\\' && conf_folder_special(name) == NULL) {
		snprintf(why, size, "'%.40s' is no special-use name (\\All, \\Archive, \\Drafts, "
			 "\\Flagged, \\Junk, \\Sent or \\Trash)", name);
		return -1;
	}
	if (check(name, &reason) < 0) {
		snprintf(why, size, "folder '%.40s': %s", name, reason);
		return -1;
	}
	return 0;
}

int conf_folders_parse(const char *value, conf_folder_name_check *check, char ***list_r,
		       unsigned int *n_r, char *why, size_t size)
{
	char **list = NULL;
	unsigned int n = 0;
	const char *s = value;

	if (value[strspn(value, " \t")] == '\0') {
		snprintf(why, size, "an empty list (leave folders out for the route's mailbox alone)");
		return -1;
	}
	for (;;) {
		const char *end = strchr(s, ','), *e = s;
		size_t len;
		char **grown;

		if (end == NULL)
			end = s + strlen(s);
		while (e < end && (*e == ' ' || *e == '\t'))
			e++;
		len = (size_t)(end - e);
		while (len > 0 && (e[len - 1] == ' ' || e[len - 1] == '\t'))
			len--;
		if (conf_folder_check(e, len, check, why, size) < 0)
			goto fail;
		if (n == CONF_MAX_FOLDERS) {
			snprintf(why, size, "more than %u folders", CONF_MAX_FOLDERS);
			goto fail;
		}
		grown = realloc(list, (n + 1) * sizeof(*list));
		if (grown == NULL) {
			snprintf(why, size, "out of memory");
			goto fail;
		}
		list = grown;
		if ((list[n] = strndup(e, len)) == NULL) {
			snprintf(why, size, "out of memory");
			goto fail;
		}
		if (conf_folder_special(list[n]) != NULL)
			strcpy(list[n], conf_folder_special(list[n]));
		n++;
		for (unsigned int i = 0; i + 1 < n; i++) {
			if (conf_folder_same(list[i], list[n - 1])) {
				snprintf(why, size, "'%.40s' is listed twice", list[n - 1]);
				goto fail;
			}
		}
		if (*end == '\0')
			break;
		s = end + 1;
	}
	if (conf_folder_special(list[0]) != NULL) {
		snprintf(why, size, "the first folder must be the route's mailbox (INBOX), "
			 "not a special-use name");
		goto fail;
	}
	*list_r = list;
	*n_r = n;
	return 0;
fail:
	conf_folders_clear(&list, &n);
	return -1;
}
