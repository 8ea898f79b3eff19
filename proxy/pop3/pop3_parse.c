/* POP3 command-line scanner and parser; contracts in pop3_parse.h. */

#include "pop3_parse.h"
#include "cache_key.h"
#include "num.h"

#include <stdint.h>
#include <string.h>

static size_t clamp_max(size_t max_len)
{
	/* Below 2 not even an empty CRLF line would fit. */
	if (max_len < 2)
		return 2;
	if (max_len > POP3_MAX_AUTH_LINE)
		return POP3_MAX_AUTH_LINE;
	return max_len;
}

static void scanner_reset_line(struct pop3_scanner *s)
{
	s->len = 0;
	s->saw_cr = false;
	s->complete = false;
	s->buf[0] = '\0';
}

void pop3_scanner_init(struct pop3_scanner *s, size_t max_len)
{
	s->max_len = clamp_max(max_len);
	scanner_reset_line(s);
}

void pop3_scanner_set_max(struct pop3_scanner *s, size_t max_len)
{
	s->max_len = clamp_max(max_len);
}

static enum pop3_parse_status scanner_fail(struct pop3_scanner *s,
					   size_t consumed,
					   size_t *consumed_r,
					   const char **error_r,
					   const char *error)
{
	/* A rejected line may hold a password. */
	memset(s->buf, 0, sizeof(s->buf));
	scanner_reset_line(s);
	*consumed_r = consumed;
	if (error_r != NULL)
		*error_r = error;
	return POP3_PARSE_ERROR;
}

enum pop3_parse_status pop3_scanner_feed(struct pop3_scanner *s,
					 const unsigned char *data, size_t len,
					 size_t *consumed_r, const char **error_r)
{
	size_t i;

	if (s->complete)
		scanner_reset_line(s);

	for (i = 0; i < len; i++) {
		unsigned char c = data[i];

		if (c == '\n') {
			/* The length checks below already left room for
			   whichever line end this turned out to be. */
			s->buf[s->len] = '\0';
			s->saw_cr = false;
			s->complete = true;
			*consumed_r = i + 1;
			return POP3_PARSE_OK;
		}
		if (s->saw_cr)
			return scanner_fail(s, i + 1, consumed_r, error_r,
					    "bare CR in command line");
		if (c == '\0')
			return scanner_fail(s, i + 1, consumed_r, error_r,
					    "NUL in command line");
		/*
		 * One test for both cases: a content octet needs room for
		 * itself plus at least an LF, a CR needs room for itself
		 * plus the LF that must follow it. Failing now rather than
		 * at the line end keeps a flood from being read to its end.
		 */
		if (s->len + 2 > s->max_len)
			return scanner_fail(s, i + 1, consumed_r, error_r,
					    "command line too long");
		if (c == '\r')
			s->saw_cr = true;
		else
			s->buf[s->len++] = (char)c;
	}
	*consumed_r = len;
	return POP3_PARSE_NEED_MORE;
}

static bool is_ascii_letter(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int cmd_fail(const char **error_r, const char *error)
{
	if (error_r != NULL)
		*error_r = error;
	return -1;
}

int pop3_cmd_parse(const char *line, size_t len, struct pop3_cmd *cmd,
		   const char **error_r)
{
	size_t klen, i;
	char *p, *end;

	cmd->name[0] = '\0';
	cmd->argc = 0;
	cmd->rest = "";
	cmd->too_many_args = false;
	cmd->copy[0] = '\0';

	if (len == 0)
		return cmd_fail(error_r, "empty command line");
	if (len > POP3_MAX_AUTH_LINE)
		return cmd_fail(error_r, "command line too long");
	if (memchr(line, '\0', len) != NULL)
		return cmd_fail(error_r, "NUL in command line");

	for (klen = 0; klen < len && line[klen] != ' '; klen++)
		;
	if (klen < 3 || klen > 4)
		return cmd_fail(error_r, "command keyword must be 3-4 letters");
	for (i = 0; i < klen; i++) {
		char c = line[i];

		if (!is_ascii_letter(c))
			return cmd_fail(error_r,
					"command keyword must be 3-4 letters");
		cmd->name[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A')
						      : c;
	}
	cmd->name[klen] = '\0';
	/* Without arguments this is line + len, the terminating NUL. */
	cmd->rest = line + klen + (klen < len ? 1 : 0);

	memcpy(cmd->copy, line, len);
	cmd->copy[len] = '\0';
	p = cmd->copy + klen;
	end = cmd->copy + len;
	for (;;) {
		char *start;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		if (cmd->argc == POP3_MAX_ARGS) {
			cmd->too_many_args = true;
			break;
		}
		start = p;
		while (p < end && *p != ' ')
			p++;
		if (p < end)
			*p++ = '\0';
		cmd->argv[cmd->argc++] = start;
	}
	return 0;
}

int pop3_parse_msgnum(const char *arg, unsigned int max, unsigned int *num_r)
{
	uint64_t val;

	if (num_parse_str(arg, max, &val) != NUM_OK || val == 0)
		return -1;
	*num_r = (unsigned int)val;
	return 0;
}

int pop3_parse_linecount(const char *arg, unsigned long *count_r)
{
	uint64_t val;

	if (num_parse_str(arg, UINT32_MAX, &val) != NUM_OK)
		return -1;
	*count_r = (unsigned long)val;
	return 0;
}

int pop3_split_device(const char *login, size_t len, char sep, size_t *user_len_r,
		      char device[POP3_DEVICE_MAX + 1], const char **error_r)
{
	const char *p = len > 0 ? memrchr(login, sep, len) : NULL;
	size_t dlen;

	if (p == NULL) {
		if (len == 0) {
			*error_r = "empty user name";
			return -1;
		}
		*user_len_r = len;
		memcpy(device, POP3_DEVICE_DEFAULT, sizeof(POP3_DEVICE_DEFAULT));
		return 0;
	}
	dlen = len - (size_t)(p - login) - 1;
	if (p == login) {
		*error_r = "empty user name";
		return -1;
	}
	if (dlen == 0 || dlen > POP3_DEVICE_MAX) {
		*error_r = "device name must be 1 to 32 characters";
		return -1;
	}
	if (!cache_device_name_ok(p + 1, dlen)) {
		*error_r = "device name may only hold letters, digits, '.', '_' and '-'";
		return -1;
	}
	memcpy(device, p + 1, dlen);
	device[dlen] = '\0';
	*user_len_r = (size_t)(p - login);
	return 0;
}
