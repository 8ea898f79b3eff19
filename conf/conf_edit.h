#ifndef CONF_EDIT_H
#define CONF_EDIT_H

/*
 * Changing a few keys of one section of popgate.conf as text, for popgate
 * setup. Pure: libc only. Every other byte of the file stays as it was:
 * comments, blank lines, other sections, the order of the keys, the line
 * ends (a file with CR LF gets CR LF on the lines written).
 *
 * Sections are found as conf.c reads them: a line whose first non-blank
 * character is '[' names the section up to the first ']'; "[upstream]",
 * and "[route DOMAIN]" with the domain in any case. Keys are found as
 * "key = value" or "key: value" lines of that section, after blanks; a
 * commented-out key ("# key = ...") is a comment and stays one.
 */

#include <stddef.h>

#define CONF_EDIT_VALUE_MAX 180   /* key, " = " and value fit a line */
#define CONF_EDIT_MAX_KEYS 16

struct conf_edit_kv {
	const char *key;    /* [a-z_]+ */
	/* The new value. An existing line gets it; a missing key is added
	   after the section's last key, unless the value is "" (a key left
	   out means the same as empty: nothing added). */
	const char *value;
	int only_existing;  /* set it where the section has it, never add */
};

/*
 * section: "upstream" or "route DOMAIN". When the file has that section,
 * each key is set in it: an existing line's value is replaced (its
 * indentation and a trailing " ; comment" kept), a missing key inserted.
 * Otherwise the section is appended at the end, after a blank line.
 *
 * Returns 0 with *out_r (malloc'd, NUL-terminated, *out_len_r octets), or
 * -1 with a static *error_r: a key or value that cannot be written (a
 * control character, " ;", a leading or trailing blank, too long), the
 * section given twice in the file, out of memory.
 */
int conf_edit_section(const char *text, size_t len, const char *section,
		      const struct conf_edit_kv *kv, size_t kv_count, char **out_r,
		      size_t *out_len_r, const char **error_r);

/* 1 when text has that section, else 0. */
int conf_edit_has_section(const char *text, size_t len, const char *section);

#endif
