#ifndef IMAP_CMD_CHECK_H
#define IMAP_CMD_CHECK_H

/*
 * Test-only structural checker for built IMAP commands, shared by
 * test_imap_cmd.c and fuzz_imap_cmd.c.
 *
 * It reads a built command the way an IMAP server would: tokens separated
 * by one SP, a token "{n}" or "{n+}" at the end of a line announces n
 * octets of literal after the CRLF, and the line continues after them; the
 * command ends at a CRLF that follows no literal announcement. The check
 * passes only if the server would see exactly one command, of exactly the
 * expected tokens, with every credential byte inside a literal whose size
 * covers exactly those bytes, and if the client's part boundaries fall
 * exactly after each synchronising literal's CRLF and at the end.
 *
 * imap_check_id() reads an ID command: one line whose parameter list holds
 * exactly the expected quoted strings and nothing else.
 *
 * Each function returns NULL when the command is right, else a static
 * string saying what is wrong.
 */

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "imap_cmd.h"

#define IMAP_CHECK_MAX_TOKENS 8

struct imap_check_token {
	const char *data;
	size_t len;
	bool literal;
	bool literal_plus;
};

struct imap_check_cmd {
	struct imap_check_token tokens[IMAP_CHECK_MAX_TOKENS];
	unsigned int ntokens;
	/* Offsets where the client must wait for "+": right after the CRLF
	   of each synchronising literal's announcement. */
	size_t waits[IMAP_CHECK_MAX_TOKENS];
	unsigned int nwaits;
};

/* Reads one command from buf[0..len) as a server would; it must use up
   the whole buffer. */
static inline const char *
imap_check_scan(const char *buf, size_t len, struct imap_check_cmd *out)
{
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	for (;;) {
		struct imap_check_token *tok;
		size_t start = pos;

		if (out->ntokens == IMAP_CHECK_MAX_TOKENS)
			return "too many tokens";
		tok = &out->tokens[out->ntokens++];
		if (pos < len && buf[pos] == '{') {
			unsigned long long n = 0;
			size_t digits = 0;

			pos++;
			while (pos < len && buf[pos] >= '0' && buf[pos] <= '9') {
				if (n > 1000000)
					return "literal size absurd";
				n = n * 10 + (unsigned long long)(buf[pos] - '0');
				pos++;
				digits++;
			}
			if (digits == 0)
				return "literal without size";
			if (pos < len && buf[pos] == '+') {
				tok->literal_plus = true;
				pos++;
			}
			if (len - pos < 3 || memcmp(buf + pos, "}\r\n", 3) != 0)
				return "literal announcement not at line end";
			pos += 3;
			if (!tok->literal_plus)
				out->waits[out->nwaits++] = pos;
			if (len - pos < n)
				return "literal runs past the command";
			tok->literal = true;
			tok->data = buf + pos;
			tok->len = (size_t)n;
			pos += (size_t)n;
		} else {
			while (pos < len && buf[pos] != ' ' && buf[pos] != '\r' &&
			       buf[pos] != '\n' && buf[pos] != '{') {
				unsigned char c = (unsigned char)buf[pos];

				/* 8-bit, NUL or CTL outside a literal is
				   not IMAP syntax: it would be a smuggled
				   credential byte. */
				if (c < 0x20 || c >= 0x7f)
					return "non-atom byte outside a literal";
				pos++;
			}
			if (pos == start)
				return "empty token";
			tok->data = buf + start;
			tok->len = pos - start;
		}
		if (pos < len && buf[pos] == ' ') {
			pos++;
			continue;
		}
		if (len - pos >= 2 && buf[pos] == '\r' && buf[pos + 1] == '\n') {
			pos += 2;
			break;
		}
		return "token not followed by SP or CRLF";
	}
	if (pos != len)
		return "bytes after the end of the command";
	return NULL;
}

static inline bool imap_check_tok(const struct imap_check_token *tok,
				  const char *want, size_t want_len,
				  bool literal)
{
	return tok->literal == literal && tok->len == want_len &&
		memcmp(tok->data, want, want_len) == 0;
}

/* The parts must end exactly at the server's wait points, then at the
   end of the command. */
static inline const char *
imap_check_parts(const struct imap_cmd_text *cmd,
		 const struct imap_check_cmd *sc)
{
	unsigned int i;

	if (cmd->nparts != sc->nwaits + 1)
		return "wrong number of parts";
	for (i = 0; i < sc->nwaits; i++) {
		if (cmd->part_end[i] != sc->waits[i])
			return "part does not end at a synchronising literal";
	}
	if (cmd->part_end[sc->nwaits] != cmd->len)
		return "last part does not end the command";
	return NULL;
}

static inline const char *
imap_check_login(const struct imap_cmd_text *cmd, const char *tag,
		 const char *user, size_t user_len,
		 const char *pass, size_t pass_len, bool literal_plus)
{
	struct imap_check_cmd sc;
	const char *why;
	unsigned int i;

	if (cmd->buf == NULL || cmd->len == 0)
		return "empty command";
	why = imap_check_scan(cmd->buf, cmd->len, &sc);
	if (why != NULL)
		return why;
	if (sc.ntokens != 4)
		return "LOGIN does not have exactly two arguments";
	if (!imap_check_tok(&sc.tokens[0], tag, strlen(tag), false))
		return "wrong tag";
	if (!imap_check_tok(&sc.tokens[1], "LOGIN", 5, false))
		return "not LOGIN";
	if (!imap_check_tok(&sc.tokens[2], user, user_len, true))
		return "user name is not exactly one literal";
	if (!imap_check_tok(&sc.tokens[3], pass, pass_len, true))
		return "password is not exactly one literal";
	for (i = 2; i < 4; i++) {
		if (sc.tokens[i].literal_plus != literal_plus)
			return "wrong literal kind";
	}
	return imap_check_parts(cmd, &sc);
}

/* sasl_ir: one line "tag AUTHENTICATE PLAIN b64"; otherwise the command
   line, a wait for "+", then the response line "b64". */
static inline const char *
imap_check_authenticate(const struct imap_cmd_text *cmd, const char *tag,
			const char *b64, size_t b64_len, bool sasl_ir)
{
	struct imap_check_cmd sc;
	const char *why;
	size_t first;

	if (cmd->buf == NULL || cmd->len == 0)
		return "empty command";
	if (sasl_ir) {
		why = imap_check_scan(cmd->buf, cmd->len, &sc);
		if (why != NULL)
			return why;
		if (sc.ntokens != 4 ||
		    !imap_check_tok(&sc.tokens[3], b64, b64_len, false))
			return "SASL-IR response is not the fourth token";
	} else {
		if (cmd->nparts != 2)
			return "wrong number of parts";
		first = cmd->part_end[0];
		why = imap_check_scan(cmd->buf, first, &sc);
		if (why != NULL)
			return why;
		if (sc.ntokens != 3)
			return "AUTHENTICATE line has extra tokens";
		if (cmd->part_end[1] != cmd->len ||
		    cmd->len - first != b64_len + 2 ||
		    memcmp(cmd->buf + first, b64, b64_len) != 0 ||
		    memcmp(cmd->buf + first + b64_len, "\r\n", 2) != 0)
			return "response line is not the base64 alone";
	}
	if (!imap_check_tok(&sc.tokens[0], tag, strlen(tag), false) ||
	    !imap_check_tok(&sc.tokens[1], "AUTHENTICATE", 12, false) ||
	    !imap_check_tok(&sc.tokens[2], "PLAIN", 5, false))
		return "not AUTHENTICATE PLAIN";
	if (sasl_ir && cmd->nparts != 1)
		return "SASL-IR command is not one part";
	if (cmd->part_end[cmd->nparts - 1] != cmd->len)
		return "last part does not end the command";
	return NULL;
}

/* A quoted string at *pos whose contents, unescaped as a server would,
   are exactly `want`; *pos moves past it. Only printable ASCII may stand
   in it: anything else is not IMAP4rev1 syntax. */
static inline const char *
imap_check_quoted_is(const char *buf, size_t len, size_t *pos,
		     const char *want)
{
	size_t p = *pos, n = 0, want_len = strlen(want);

	if (p >= len || buf[p] != '"')
		return "not a quoted string";
	p++;
	for (;;) {
		unsigned char ch;

		if (p >= len)
			return "unterminated quoted string";
		ch = (unsigned char)buf[p++];
		if (ch == '"')
			break;
		if (ch == '\\') {
			if (p >= len || (buf[p] != '"' && buf[p] != '\\'))
				return "bad escape in quoted string";
			ch = (unsigned char)buf[p++];
		} else if (ch < 0x20 || ch > 0x7e) {
			return "non-printable octet in quoted string";
		}
		if (n >= want_len || (unsigned char)want[n] != ch)
			return "quoted string differs";
		n++;
	}
	if (n != want_len)
		return "quoted string differs";
	*pos = p;
	return NULL;
}

/* One line "tag ID (k1 v1 k2 v2 ...)" CRLF, every key and value a quoted
   string equal to pairs[0..2*npairs), in one part. */
static inline const char *
imap_check_id(const struct imap_cmd_text *cmd, const char *tag,
	      const char *const *pairs, unsigned int npairs)
{
	size_t pos = 0, tag_len = strlen(tag), len = cmd->len;
	const char *buf = cmd->buf, *why;
	unsigned int i;

	if (buf == NULL || len < 2)
		return "empty command";
	if (cmd->nparts != 1 || cmd->part_end[0] != len)
		return "ID is not one part";
	if (memcmp(buf + len - 2, "\r\n", 2) != 0)
		return "no CRLF at the end";
	if (memchr(buf, '\r', len - 2) != NULL ||
	    memchr(buf, '\n', len - 2) != NULL)
		return "CR or LF inside the command";
	if (len - 2 < tag_len + 5 || memcmp(buf, tag, tag_len) != 0 ||
	    memcmp(buf + tag_len, " ID (", 5) != 0)
		return "not \"<tag> ID (\"";
	pos = tag_len + 5;
	for (i = 0; i < 2 * npairs; i++) {
		if (i > 0) {
			if (pos >= len || buf[pos] != ' ')
				return "no SP between ID strings";
			pos++;
		}
		why = imap_check_quoted_is(buf, len, &pos, pairs[i]);
		if (why != NULL)
			return why;
	}
	if (pos != len - 3 || buf[pos] != ')')
		return "ID list does not end right after the last pair";
	return NULL;
}

/* RFC 4648 base64 with padding, for building AUTHENTICATE inputs. */
static inline size_t imap_check_b64_encode(const unsigned char *src,
					   size_t len, char *dst)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		dst[o++] = alphabet[src[i] >> 2];
		dst[o++] = alphabet[((src[i] & 3) << 4) | (src[i + 1] >> 4)];
		dst[o++] = alphabet[((src[i + 1] & 15) << 2) | (src[i + 2] >> 6)];
		dst[o++] = alphabet[src[i + 2] & 63];
	}
	if (len - i == 1) {
		dst[o++] = alphabet[src[i] >> 2];
		dst[o++] = alphabet[(src[i] & 3) << 4];
		dst[o++] = '=';
		dst[o++] = '=';
	} else if (len - i == 2) {
		dst[o++] = alphabet[src[i] >> 2];
		dst[o++] = alphabet[((src[i] & 3) << 4) | (src[i + 1] >> 4)];
		dst[o++] = alphabet[(src[i + 1] & 15) << 2];
		dst[o++] = '=';
	}
	dst[o] = '\0';
	return o;
}

#endif
