/*
 * libFuzzer harness for the POP3 command-line scanner and parser.
 *
 * Input: byte 0 picks the feed size (low 4 bits, 0 = all remaining input)
 * and the line limit (bit 4: AUTH continuation limit); the rest is the
 * client's byte stream. The stream is scanned twice, whole and in pieces,
 * and both must report the same lines and errors at the same offsets.
 * Every line is parsed and every argument tried as a number.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_parse.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

struct event {
	enum pop3_parse_status status;
	size_t end;
};

static void check_number(const char *arg)
{
	unsigned long long want = 0;
	unsigned long count;
	unsigned int num;
	bool digits = *arg != '\0', fits = true;
	const char *p;

	for (p = arg; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			digits = false;
			break;
		}
		if (want > UINT32_MAX)
			fits = false;
		else
			want = want * 10 + (unsigned long long)(*p - '0');
	}
	fits = fits && digits && want <= UINT32_MAX;

	CHECK((pop3_parse_linecount(arg, &count) == 0) == fits);
	if (fits)
		CHECK(count == want);
	CHECK((pop3_parse_msgnum(arg, 1000, &num) == 0) ==
	      (fits && want >= 1 && want <= 1000));
	if (fits && want >= 1 && want <= 1000)
		CHECK(num == want);
	CHECK((pop3_parse_msgnum(arg, UINT32_MAX, &num) == 0) ==
	      (fits && want >= 1));
}

static void check_line(const struct pop3_scanner *s, const uint8_t *in,
		       size_t start, size_t end)
{
	static struct pop3_cmd cmd;
	size_t eol = (end - start >= 2 && in[end - 2] == '\r') ? 2 : 1;
	const char *error = NULL;
	unsigned int k;

	/* The line is exactly the input minus its line end. */
	CHECK(in[end - 1] == '\n');
	CHECK(s->len == end - start - eol);
	CHECK(s->len + eol <= s->max_len);
	CHECK(memcmp(s->buf, in + start, s->len) == 0 && s->buf[s->len] == 0);
	CHECK(memchr(s->buf, '\r', s->len) == NULL);
	CHECK(memchr(s->buf, '\n', s->len) == NULL);
	CHECK(strlen(s->buf) == s->len);

	if (pop3_cmd_parse(s->buf, s->len, &cmd, &error) < 0) {
		CHECK(error != NULL);
		return;
	}
	CHECK(strlen(cmd.name) >= 3 && strlen(cmd.name) <= 4);
	for (k = 0; cmd.name[k] != '\0'; k++)
		CHECK(cmd.name[k] >= 'A' && cmd.name[k] <= 'Z');
	CHECK(cmd.rest == s->buf + s->len ||
	      (cmd.rest == s->buf + strlen(cmd.name) + 1 &&
	       s->buf[strlen(cmd.name)] == ' '));
	CHECK(cmd.argc <= POP3_MAX_ARGS);
	CHECK(!cmd.too_many_args || cmd.argc == POP3_MAX_ARGS);
	for (k = 0; k < cmd.argc; k++) {
		size_t alen = strlen(cmd.argv[k]);

		CHECK(alen > 0 && memchr(cmd.argv[k], ' ', alen) == NULL);
		CHECK(cmd.argv[k] > cmd.copy &&
		      cmd.argv[k] + alen <= cmd.copy + s->len);
		CHECK(k == 0 || cmd.argv[k] > cmd.argv[k - 1]);
		check_number(cmd.argv[k]);
	}
}

/* Returns the number of events; checks every line against the input. */
static size_t scan(const uint8_t *in, size_t len, size_t max, size_t chunk,
		   struct event *ev)
{
	static struct pop3_scanner s;
	size_t pos = 0, line_start = 0, n_ev = 0;

	pop3_scanner_init(&s, max);
	while (pos < len) {
		size_t n = len - pos, consumed = SIZE_MAX;
		const char *error = NULL;
		enum pop3_parse_status st;

		if (chunk != 0 && n > chunk)
			n = chunk;
		st = pop3_scanner_feed(&s, in + pos, n, &consumed, &error);
		CHECK(consumed <= n);
		pos += consumed;
		if (st == POP3_PARSE_NEED_MORE) {
			CHECK(consumed == n);
			continue;
		}
		CHECK(consumed >= 1);
		if (st == POP3_PARSE_OK) {
			check_line(&s, in, line_start, pos);
		} else {
			CHECK(st == POP3_PARSE_ERROR && error != NULL);
			CHECK(s.len == 0);
		}
		ev[n_ev].status = st;
		ev[n_ev].end = pos;
		n_ev++;
		line_start = pos;
	}
	return n_ev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event *whole, *cut;
	size_t chunk, max, n_whole, n_cut, i;

	if (size < 1)
		return 0;
	chunk = data[0] & 0x0f;
	max = (data[0] & 0x10) ? POP3_MAX_AUTH_LINE : POP3_MAX_CMD_LINE;
	whole = malloc(size * sizeof(*whole));
	cut = malloc(size * sizeof(*cut));
	CHECK(whole != NULL && cut != NULL);

	n_whole = scan(data + 1, size - 1, max, 0, whole);
	n_cut = scan(data + 1, size - 1, max, chunk == 0 ? 1 : chunk, cut);
	CHECK(n_whole == n_cut);
	for (i = 0; i < n_whole; i++)
		CHECK(whole[i].status == cut[i].status &&
		      whole[i].end == cut[i].end);

	/* The parser must also cope with lines the scanner never makes. */
	if (size - 1 <= POP3_MAX_AUTH_LINE) {
		static struct pop3_cmd cmd;
		static char line[POP3_MAX_AUTH_LINE + 1];
		const char *error = NULL;

		memcpy(line, data + 1, size - 1);
		line[size - 1] = '\0';
		if (pop3_cmd_parse(line, size - 1, &cmd, &error) < 0)
			CHECK(error != NULL);
		else
			CHECK(memchr(line, '\0', size - 1) == NULL);
	}
	/* Login-name splitting: what it accepts is a prefix plus a safe
	   device name, and the pieces add up. */
	{
		char device[POP3_DEVICE_MAX + 1];
		const char *error = NULL;
		size_t user_len;
		char sep = (char)(data[0] & 0x80 ? '+' : '#');

		if (pop3_split_device((const char *)data + 1, size - 1, sep, &user_len,
				      device, &error) == 0) {
			size_t dlen = strlen(device);

			CHECK(user_len > 0 && user_len <= size - 1);
			CHECK(dlen >= 1 && dlen <= POP3_DEVICE_MAX);
			CHECK(strspn(device, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "0123456789._-") == dlen);
			CHECK(user_len == size - 1 ||
			      (user_len + 1 + dlen == size - 1 && data[1 + user_len] == sep));
		} else {
			CHECK(error != NULL);
		}
	}
	free(whole);
	free(cut);
	return 0;
}
