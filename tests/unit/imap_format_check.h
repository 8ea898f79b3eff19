#ifndef IMAP_FORMAT_CHECK_H
#define IMAP_FORMAT_CHECK_H

/*
 * Test-only reader for what imap_cmd_format() writes for a string
 * argument, shared by test_imap_format.c and fuzz_imap_cmd.c: reads one
 * IMAP string (a quoted string with its \" and \\ escapes, or a literal
 * "{n}\r\n" / "{n+}\r\n" followed by n octets) at text[*pos] the way a
 * server would, and checks that a synchronising literal ends a part
 * exactly after its CRLF. Returns NULL and the decoded octets (and
 * whether it was a literal, and a synchronising one), or what is wrong.
 */

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "imap_cmd.h"

struct format_string {
	char data[8192];
	size_t len;
	bool literal, sync;
};

static inline const char *format_read_string(const struct imap_cmd_text *cmd, size_t *pos,
					     unsigned int *part, struct format_string *out)
{
	const char *s = cmd->buf;
	size_t i = *pos, n = 0;

	out->len = 0;
	out->literal = out->sync = false;
	if (i >= cmd->len)
		return "no string";
	if (s[i] == '"') {
		for (i++; i < cmd->len && s[i] != '"'; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == '\r' || c == '\n' || c == '\0')
				return "CR, LF or NUL in a quoted string";
			if (c == '\\') {
				if (++i >= cmd->len || (s[i] != '"' && s[i] != '\\'))
					return "bad escape in a quoted string";
			}
			if (out->len == sizeof(out->data))
				return "string too long for the checker";
			out->data[out->len++] = s[i];
		}
		if (i >= cmd->len)
			return "unterminated quoted string";
		*pos = i + 1;
		return NULL;
	}
	if (s[i] != '{')
		return "neither a quoted string nor a literal";
	for (i++; i < cmd->len && s[i] >= '0' && s[i] <= '9'; i++)
		n = n * 10 + (size_t)(s[i] - '0');
	out->literal = true;
	out->sync = i < cmd->len && s[i] == '}';
	if (!out->sync && (i >= cmd->len || s[i] != '+'))
		return "bad literal announcement";
	if (!out->sync)
		i++;
	if (i + 3 > cmd->len || s[i] != '}' || s[i + 1] != '\r' || s[i + 2] != '\n')
		return "literal announcement without }CRLF";
	i += 3;
	if (out->sync) {
		/* The client waits for "+" here: a part must end exactly. */
		if (*part >= cmd->nparts || cmd->part_end[*part] != i)
			return "synchronising literal does not end a part";
		(*part)++;
	}
	if (i + n > cmd->len || n > sizeof(out->data))
		return "literal longer than the command";
	memcpy(out->data, s + i, n);
	out->len = n;
	*pos = i + n;
	return NULL;
}

#endif
