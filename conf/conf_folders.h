#ifndef CONF_FOLDERS_H
#define CONF_FOLDERS_H

/*
 * The value of folders = ... in a [device PATTERN] section: an ordered,
 * comma-separated list of a device's maildrop folders, each a mailbox name
 * or an RFC 6154 special-use name. Pure: libc only.
 */

#include <stddef.h>

/* Folders of one profile's maildrop, at most. */
#define CONF_MAX_FOLDERS 16
/* Longest name of one folder (as the route's mailbox). */
#define CONF_FOLDER_NAME_MAX 200

/* The RFC 6154 attribute a folders entry names ("\Sent", as written in
   the table, for "\sent" too), or NULL for a mailbox name. */
const char *conf_folder_special(const char *entry);

/* Whether a mailbox name may be used: 0, or -1 with a static reason. */
typedef int conf_folder_name_check(const char *name, const char **error_r);

/*
 * Splits value at commas into 1..CONF_MAX_FOLDERS entries, each trimmed of
 * spaces and tabs, 1..CONF_FOLDER_NAME_MAX octets: a special-use name
 * (stored as conf_folder_special() writes it) or a name check accepts;
 * none twice (INBOX and special-use names in any case, other names
 * exactly), the first no special-use name. Returns 0 and a malloc'd array
 * of malloc'd strings in *list_r (*n_r of them), or -1 with the reason in
 * why (size octets) and nothing allocated.
 */
int conf_folders_parse(const char *value, conf_folder_name_check *check, char ***list_r,
		       unsigned int *n_r, char *why, size_t size);

/* Frees what conf_folders_parse() gave; sets *list to NULL, *n to 0. */
void conf_folders_clear(char ***list, unsigned int *n);

#endif
