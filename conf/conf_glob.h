#ifndef CONF_GLOB_H
#define CONF_GLOB_H

/*
 * The patterns of [device PATTERN] sections and their account keys.
 * Pure: libc only.
 *
 * '*' matches any run of characters, '?' exactly one; everything else
 * itself, ASCII case-insensitive. No sets, no escapes: a section header
 * ends at the first ']', so "[...]" sets could not be written there.
 */

#include <stdbool.h>
#include <stddef.h>

#define CONF_PATTERN_MAX 64   /* a [device ...] pattern */

/* Whether text[0..len) matches; bounded by len times the pattern's
   length. */
bool conf_glob_match(const char *pattern, const char *text, size_t len);

/* An account pattern: 0, or -1 with a static reason (empty; '[', ']' or
   '\\'; a space, control character or non-ASCII byte). */
int conf_glob_check(const char *pattern, const char **error_r);

/* A device pattern, pattern[0..len): 1..CONF_PATTERN_MAX of the
   characters of device names (letters, digits, '.', '_', '-') and the
   two wildcards. 0, or -1 with a static reason. */
int conf_glob_device_check(const char *pattern, size_t len, const char **error_r);

#endif
