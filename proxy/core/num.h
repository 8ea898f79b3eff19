#ifndef NUM_H
#define NUM_H

/*
 * Decimal numbers, the one parser for them (as Dovecot's strnum).
 * Pure: libc only. Digits only: no sign, no space, no base prefix; leading zeros
 * are accepted (callers that need a canonical form check s[0] themselves).
 * Values never wrap: a number above max is an error whatever its length.
 */

#include <stddef.h>
#include <stdint.h>

enum num_result {
	NUM_OK = 0,
	NUM_NONE = -1,   /* no digit where one was needed, or other text */
	NUM_RANGE = -2,  /* digits, but the value is above max */
};

/*
 * Scans the digits at s[*pos..len) (at least one). NUM_OK: *value_r is
 * the value and *pos is past the digits. NUM_RANGE: *pos is past all the
 * digits, *value_r is untouched. NUM_NONE: nothing changes.
 */
enum num_result num_scan_u64(const char *s, size_t len, size_t *pos, uint64_t max,
			     uint64_t *value_r);

/* The whole of s[0..len) is one number <= max (NUM_OK), or not. */
enum num_result num_parse_u64(const char *s, size_t len, uint64_t max,
			      uint64_t *value_r);

/* The same for a NUL-terminated string (NULL is NUM_NONE). */
enum num_result num_parse_str(const char *s, uint64_t max, uint64_t *value_r);

/* The same into 32 bits (max <= UINT32_MAX). */
enum num_result num_parse_u32(const char *s, size_t len, uint32_t max, uint32_t *value_r);

/* Longest decimal form of a 64-bit value. */
#define NUM_U64_DIGITS 20

/* v in decimal into buf (room for NUM_U64_DIGITS, no NUL written);
   returns the number of digits. For output loops where a printf per
   number costs more than the rest of the loop. */
size_t num_format_u64(uint64_t v, char *buf);

#endif
