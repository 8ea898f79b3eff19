/* IMAP command builders; contracts in imap_cmd.h. */

#include "imap_cmd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest base64 of a SASL PLAIN message made of two IMAP_CRED_MAX
   credentials: "\0" user "\0" pass. */
#define IMAP_SASL_PLAIN_MAX (2 + 2 * IMAP_CRED_MAX)
#define IMAP_SASL_MAX (IMAP_SASL_PLAIN_MAX > IMAP_SASL_OAUTH_MAX ? \
		       IMAP_SASL_PLAIN_MAX : IMAP_SASL_OAUTH_MAX)
#define IMAP_B64_MAX (4 * ((IMAP_SASL_MAX + 2) / 3))

void imap_cmd_text_clear(struct imap_cmd_text *cmd)
{
	free(cmd->buf);
	memset(cmd, 0, sizeof(*cmd));
}

/* Keeps any buffer from an earlier command so a session reuses it. */
static void imap_cmd_reset(struct imap_cmd_text *cmd)
{
	cmd->len = 0;
	cmd->nparts = 0;
	memset(cmd->part_end, 0, sizeof(cmd->part_end));
}

static int imap_cmd_append(struct imap_cmd_text *cmd, const void *data,
			   size_t len)
{
	if (len > SIZE_MAX - cmd->len - 1)
		return -1;
	if (cmd->len + len + 1 > cmd->cap) {
		size_t cap = cmd->cap ? cmd->cap : 64;
		char *buf;

		while (cap < cmd->len + len + 1)
			cap *= 2;
		/* Not realloc: the old buffer may hold credentials and must
		   be wiped, not left behind in freed memory. */
		buf = malloc(cap);
		if (buf == NULL)
			return -1;
		if (cmd->buf != NULL) {
			memcpy(buf, cmd->buf, cmd->len);
			memset(cmd->buf, 0, cmd->cap);
			free(cmd->buf);
		}
		cmd->buf = buf;
		cmd->cap = cap;
	}
	memcpy(cmd->buf + cmd->len, data, len);
	cmd->len += len;
	/* Kept NUL-terminated so a debug log can print the syntax parts. */
	cmd->buf[cmd->len] = '\0';
	return 0;
}

static int imap_cmd_append_str(struct imap_cmd_text *cmd, const char *s)
{
	return imap_cmd_append(cmd, s, strlen(s));
}

static void imap_cmd_end_part(struct imap_cmd_text *cmd)
{
	cmd->part_end[cmd->nparts++] = cmd->len;
}

static int imap_cmd_check_tag(const char *tag, const char **error_r)
{
	size_t i;

	if (tag == NULL || tag[0] == '\0') {
		*error_r = "empty tag";
		return -1;
	}
	for (i = 0; tag[i] != '\0'; i++) {
		unsigned char c = (unsigned char)tag[i];

		if (i >= IMAP_TAG_MAX) {
			*error_r = "tag too long";
			return -1;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9'))) {
			*error_r = "tag is not letters and digits";
			return -1;
		}
	}
	return 0;
}

static int imap_cmd_check_cred(const char *s, size_t len, bool is_user,
			       const char **error_r)
{
	if (s == NULL || len == 0) {
		*error_r = is_user ? "empty user name" : "empty password";
		return -1;
	}
	if (len > IMAP_CRED_MAX) {
		*error_r = is_user ? "user name too long" : "password too long";
		return -1;
	}
	if (memchr(s, '\0', len) != NULL) {
		*error_r = is_user ? "NUL in user name" : "NUL in password";
		return -1;
	}
	return 0;
}

static int imap_cmd_oom(struct imap_cmd_text *cmd, const char **error_r)
{
	imap_cmd_reset(cmd);
	*error_r = "out of memory";
	return -1;
}

int imap_cmd_simple(struct imap_cmd_text *cmd, const char *tag,
		    const char *args, const char **error_r)
{
	size_t i;

	imap_cmd_reset(cmd);
	if (imap_cmd_check_tag(tag, error_r) < 0)
		return -1;
	if (args == NULL || args[0] == '\0') {
		*error_r = "empty command";
		return -1;
	}
	/* Any control character, not only CR and LF: none belongs in IMAP
	   command syntax outside a literal. */
	for (i = 0; args[i] != '\0'; i++) {
		unsigned char c = (unsigned char)args[i];

		if (c < 0x20 || c == 0x7f) {
			*error_r = "control character in command";
			return -1;
		}
	}
	if (imap_cmd_append_str(cmd, tag) < 0 ||
	    imap_cmd_append(cmd, " ", 1) < 0 ||
	    imap_cmd_append(cmd, args, i) < 0 ||
	    imap_cmd_append(cmd, "\r\n", 2) < 0)
		return imap_cmd_oom(cmd, error_r);
	imap_cmd_end_part(cmd);
	return 0;
}

/* Writes "{n}\r\n" or "{n+}\r\n"; a synchronising literal ends a part, the
   client must wait for "+" before the literal's octets. */
static int imap_cmd_literal(struct imap_cmd_text *cmd, const char *data,
			    size_t len, bool literal_plus)
{
	char hdr[32];
	int n;

	n = snprintf(hdr, sizeof(hdr), "{%zu%s}\r\n", len,
		     literal_plus ? "+" : "");
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -1;
	if (imap_cmd_append(cmd, hdr, (size_t)n) < 0)
		return -1;
	if (!literal_plus)
		imap_cmd_end_part(cmd);
	return imap_cmd_append(cmd, data, len);
}

/* Whether s[0..len) can be a quoted string (RFC 3501 quoted, RFC 6855
   with UTF-8): no NUL, CR or LF, 8-bit only with utf8, not too long. */
static bool imap_cmd_quotable(const char *s, size_t len, bool utf8)
{
	if (len > IMAP_QUOTED_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r' || c == '\n' || c == '\0' || (c > 0x7f && !utf8))
			return false;
	}
	return true;
}

static int imap_cmd_quoted(struct imap_cmd_text *cmd, const char *s, size_t len)
{
	size_t run = 0;

	if (imap_cmd_append(cmd, "\"", 1) < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		if (imap_cmd_append(cmd, s + run, i - run) < 0 ||
		    imap_cmd_append(cmd, "\\", 1) < 0)
			return -1;
		run = i;
	}
	return imap_cmd_append(cmd, s + run, len - run) < 0 ||
		imap_cmd_append(cmd, "\"", 1) < 0 ? -1 : 0;
}

static bool imap_cmd_nonsync(const struct imap_cmd_opts *opts, size_t len)
{
	return opts->literal_plus ||
		(opts->literal_minus && len <= IMAP_LITERAL_MINUS_MAX);
}

/* A string argument: quoted where it can be, else a literal. */
static int imap_cmd_string(struct imap_cmd_text *cmd, const struct imap_cmd_opts *opts,
			   const char *s, size_t len, bool force_literal,
			   const char **error_r)
{
	if (s == NULL || memchr(s, '\0', len) != NULL) {
		*error_r = s == NULL ? "NULL string argument" : "NUL in string argument";
		return -1;
	}
	if (!force_literal && imap_cmd_quotable(s, len, opts->utf8))
		return imap_cmd_quoted(cmd, s, len) < 0 ? imap_cmd_oom(cmd, error_r) : 0;
	if (force_literal && len == 0) {
		*error_r = "empty literal argument";
		return -1;
	}
	if (!imap_cmd_nonsync(opts, len) && cmd->nparts + 2 > IMAP_CMD_MAX_PARTS) {
		*error_r = "too many literals in one command";
		return -1;
	}
	return imap_cmd_literal(cmd, s, len, imap_cmd_nonsync(opts, len)) < 0 ?
		imap_cmd_oom(cmd, error_r) : 0;
}

static int imap_cmd_seqset(struct imap_cmd_text *cmd, const char *set, const char **error_r)
{
	size_t len = set != NULL ? strlen(set) : 0;

	if (len == 0 || strspn(set, "0123456789:,*") != len) {
		*error_r = "bad sequence set";
		return -1;
	}
	return imap_cmd_append(cmd, set, len) < 0 ? imap_cmd_oom(cmd, error_r) : 0;
}

int imap_cmd_vformat(struct imap_cmd_text *cmd, const char *tag,
		     const struct imap_cmd_opts *opts, const char **error_r,
		     const char *fmt, va_list args)
{
	static const struct imap_cmd_opts none;
	const char *p, *run;

	if (opts == NULL)
		opts = &none;
	imap_cmd_reset(cmd);
	if (imap_cmd_check_tag(tag, error_r) < 0)
		return -1;
	if (fmt == NULL || fmt[0] == '\0') {
		*error_r = "empty command";
		return -1;
	}
	if (imap_cmd_append_str(cmd, tag) < 0 || imap_cmd_append(cmd, " ", 1) < 0)
		return imap_cmd_oom(cmd, error_r);
	for (p = run = fmt;; p++) {
		char num[24];
		const char *str;
		size_t len;
		int ret = 0;

		if (*p != '%' && *p != '\0') {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				imap_cmd_reset(cmd);
				*error_r = "control character in command";
				return -1;
			}
			continue;
		}
		if (imap_cmd_append(cmd, run, (size_t)(p - run)) < 0)
			return imap_cmd_oom(cmd, error_r);
		if (*p == '\0')
			break;
		switch (*++p) {
		case 'u':
			snprintf(num, sizeof(num), "%u", va_arg(args, unsigned int));
			ret = imap_cmd_append_str(cmd, num) < 0 ? imap_cmd_oom(cmd, error_r) : 0;
			break;
		case 'U':
			snprintf(num, sizeof(num), "%llu",
				 (unsigned long long)va_arg(args, uint64_t));
			ret = imap_cmd_append_str(cmd, num) < 0 ? imap_cmd_oom(cmd, error_r) : 0;
			break;
		case 's':
			str = va_arg(args, const char *);
			ret = imap_cmd_string(cmd, opts, str, str != NULL ? strlen(str) : 0,
					      false, error_r);
			break;
		case 'b':
		case 'L':
			str = va_arg(args, const char *);
			len = va_arg(args, size_t);
			ret = imap_cmd_string(cmd, opts, str, len, *p == 'L', error_r);
			break;
		case 'S':
			ret = imap_cmd_seqset(cmd, va_arg(args, const char *), error_r);
			break;
		case '%':
			ret = imap_cmd_append(cmd, "%", 1) < 0 ? imap_cmd_oom(cmd, error_r) : 0;
			break;
		default:
			*error_r = "unknown directive in command format";
			ret = -1;
			break;
		}
		if (ret < 0) {
			imap_cmd_reset(cmd);
			return -1;
		}
		run = p + 1;
	}
	if (imap_cmd_append(cmd, "\r\n", 2) < 0)
		return imap_cmd_oom(cmd, error_r);
	imap_cmd_end_part(cmd);
	return 0;
}

int imap_cmd_format(struct imap_cmd_text *cmd, const char *tag,
		    const struct imap_cmd_opts *opts, const char **error_r,
		    const char *fmt, ...)
{
	va_list args;
	int ret;

	va_start(args, fmt);
	ret = imap_cmd_vformat(cmd, tag, opts, error_r, fmt, args);
	va_end(args);
	return ret;
}

size_t imap_cmd_uid_set(const uint32_t *uids, size_t n, size_t start, char *buf,
			size_t size, size_t max_len)
{
	size_t i = start, o = 0;

	buf[0] = '\0';
	while (i < n && o + 24 < size && o < max_len) {
		size_t j = i;
		int len;

		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		len = j > i ? snprintf(buf + o, size - o, "%s%u:%u", o > 0 ? "," : "",
				       uids[i], uids[j]) :
			snprintf(buf + o, size - o, "%s%u", o > 0 ? "," : "", uids[i]);
		o += (size_t)len;
		i = j + 1;
	}
	return i;
}

int imap_cmd_login(struct imap_cmd_text *cmd, const char *tag,
		   const char *user, size_t user_len,
		   const char *pass, size_t pass_len, bool literal_plus,
		   const char **error_r)
{
	struct imap_cmd_opts opts = { .literal_plus = literal_plus };

	imap_cmd_reset(cmd);
	if (imap_cmd_check_tag(tag, error_r) < 0 ||
	    imap_cmd_check_cred(user, user_len, true, error_r) < 0 ||
	    imap_cmd_check_cred(pass, pass_len, false, error_r) < 0)
		return -1;
	return imap_cmd_format(cmd, tag, &opts, error_r, "LOGIN %L %L", user, user_len,
			       pass, pass_len);
}

bool imap_cmd_nonsync_ok(bool literal_plus, bool literal_minus,
			 size_t len1, size_t len2)
{
	return literal_plus ||
		(literal_minus && len1 <= IMAP_LITERAL_MINUS_MAX &&
		 len2 <= IMAP_LITERAL_MINUS_MAX);
}

static bool imap_b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Strict RFC 4648 form: whole quanta, '=' only as final padding. Anything
   looser could smuggle a space or CRLF onto the AUTHENTICATE line. */
static int imap_check_b64(const char *b64, size_t len, const char **error_r)
{
	size_t i, pad = 0;

	if (b64 == NULL || len == 0) {
		*error_r = "empty SASL response";
		return -1;
	}
	if (len > IMAP_B64_MAX) {
		*error_r = "SASL response too long";
		return -1;
	}
	if (len % 4 != 0) {
		*error_r = "SASL response is not base64";
		return -1;
	}
	if (b64[len - 1] == '=')
		pad = b64[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len - pad; i++) {
		if (!imap_b64_char((unsigned char)b64[i])) {
			*error_r = "SASL response is not base64";
			return -1;
		}
	}
	return 0;
}

static bool imap_mech_ok(const char *mech)
{
	size_t len = mech != NULL ? strlen(mech) : 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = mech[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

int imap_cmd_authenticate(struct imap_cmd_text *cmd, const char *tag, const char *mech,
			  const char *b64, size_t b64_len, bool sasl_ir,
			  const char **error_r)
{
	imap_cmd_reset(cmd);
	if (imap_cmd_check_tag(tag, error_r) < 0 ||
	    imap_check_b64(b64, b64_len, error_r) < 0)
		return -1;
	if (!imap_mech_ok(mech)) {
		*error_r = "bad SASL mechanism name";
		return -1;
	}
	if (imap_cmd_append_str(cmd, tag) < 0 ||
	    imap_cmd_append_str(cmd, " AUTHENTICATE ") < 0 ||
	    imap_cmd_append_str(cmd, mech) < 0)
		return imap_cmd_oom(cmd, error_r);
	if (sasl_ir) {
		if (imap_cmd_append(cmd, " ", 1) < 0)
			return imap_cmd_oom(cmd, error_r);
	} else {
		if (imap_cmd_append(cmd, "\r\n", 2) < 0)
			return imap_cmd_oom(cmd, error_r);
		imap_cmd_end_part(cmd);
	}
	if (imap_cmd_append(cmd, b64, b64_len) < 0 ||
	    imap_cmd_append(cmd, "\r\n", 2) < 0)
		return imap_cmd_oom(cmd, error_r);
	imap_cmd_end_part(cmd);
	return 0;
}

int imap_cmd_authenticate_plain(struct imap_cmd_text *cmd, const char *tag,
				const char *b64, size_t b64_len, bool sasl_ir,
				const char **error_r)
{
	return imap_cmd_authenticate(cmd, tag, "PLAIN", b64, b64_len, sasl_ir, error_r);
}

size_t imap_sasl_plain_message(const char *user, size_t user_len,
			       const char *pass, size_t pass_len,
			       char *dst, size_t dst_size)
{
	const char *error;
	size_t len;

	if (imap_cmd_check_cred(user, user_len, true, &error) < 0 ||
	    imap_cmd_check_cred(pass, pass_len, false, &error) < 0)
		return 0;
	len = 2 + user_len + pass_len;
	if (dst == NULL || dst_size < len)
		return 0;
	dst[0] = '\0';
	memcpy(dst + 1, user, user_len);
	dst[1 + user_len] = '\0';
	memcpy(dst + 2 + user_len, pass, pass_len);
	return len;
}

/* A numeric address exactly as inet_ntop writes it or a user could type
   it; the character check comes first so inet_pton never sees anything
   but hex digits, dots and colons. */
static bool imap_id_ip_ok(const char *s)
{
	unsigned char addr[sizeof(struct in6_addr)];
	size_t len = strlen(s);

	if (len == 0 || len > IMAP_ID_IP_MAX ||
	    strspn(s, "0123456789abcdefABCDEF.:") != len)
		return false;
	return inet_pton(strchr(s, ':') != NULL ? AF_INET6 : AF_INET, s, addr) == 1;
}

static bool imap_id_token_ok(const char *s, size_t max, const char *extra)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > max)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || strchr(extra, c) != NULL))
			return false;
	}
	return true;
}

/* Values are checked before this: none holds '"', '\\' or a control. */
static int imap_id_pair(struct imap_cmd_text *cmd, const char *key,
			const char *value)
{
	return imap_cmd_append_str(cmd, " \"") < 0 ||
		imap_cmd_append_str(cmd, key) < 0 ||
		imap_cmd_append_str(cmd, "\" \"") < 0 ||
		imap_cmd_append_str(cmd, value) < 0 ||
		imap_cmd_append(cmd, "\"", 1) < 0 ? -1 : 0;
}

int imap_cmd_id(struct imap_cmd_text *cmd, const char *tag,
		const struct imap_id_params *id, const char **error_r)
{
	char client_port[8], local_port[8];

	imap_cmd_reset(cmd);
	if (imap_cmd_check_tag(tag, error_r) < 0)
		return -1;
	if (id->version != NULL &&
	    !imap_id_token_ok(id->version, IMAP_ID_VERSION_MAX, ".+~_-")) {
		*error_r = "bad version for ID";
		return -1;
	}
	if (id->client_ip != NULL && !imap_id_ip_ok(id->client_ip)) {
		*error_r = "bad client address for ID";
		return -1;
	}
	if (id->local_ip != NULL && !imap_id_ip_ok(id->local_ip)) {
		*error_r = "bad local address for ID";
		return -1;
	}
	if (id->session_id != NULL &&
	    !imap_id_token_ok(id->session_id, IMAP_ID_SESSION_MAX, "._-")) {
		*error_r = "bad session id for ID";
		return -1;
	}
	snprintf(client_port, sizeof(client_port), "%u", (unsigned int)id->client_port);
	snprintf(local_port, sizeof(local_port), "%u", (unsigned int)id->local_port);

	if (imap_cmd_append_str(cmd, tag) < 0 ||
	    imap_cmd_append_str(cmd, " ID (\"name\" \"popgate\"") < 0 ||
	    (id->version != NULL &&
	     imap_id_pair(cmd, "version", id->version) < 0) ||
	    (id->client_ip != NULL &&
	     imap_id_pair(cmd, "x-originating-ip", id->client_ip) < 0) ||
	    (id->client_port != 0 &&
	     imap_id_pair(cmd, "x-originating-port", client_port) < 0) ||
	    (id->local_ip != NULL &&
	     imap_id_pair(cmd, "x-connected-ip", id->local_ip) < 0) ||
	    (id->local_port != 0 &&
	     imap_id_pair(cmd, "x-connected-port", local_port) < 0) ||
	    (id->session_id != NULL &&
	     imap_id_pair(cmd, "x-session-ext-id", id->session_id) < 0) ||
	    imap_cmd_append_str(cmd, ")\r\n") < 0)
		return imap_cmd_oom(cmd, error_r);
	imap_cmd_end_part(cmd);
	return 0;
}

/* RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
   "+" / "/" ) *"=". */
static int imap_sasl_check_token(const char *token, size_t len, const char **error_r)
{
	size_t i = 0;

	if (token == NULL || len == 0 || len > IMAP_TOKEN_MAX) {
		*error_r = len == 0 ? "empty access token" : "access token too long";
		return -1;
	}
	for (; i < len && token[i] != '='; i++) {
		char c = token[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      strchr("-._~+/", c) != NULL) || c == '\0') {
			*error_r = "access token is not a b64token";
			return -1;
		}
	}
	if (i == 0) {
		*error_r = "access token is not a b64token";
		return -1;
	}
	for (; i < len; i++) {
		if (token[i] != '=') {
			*error_r = "access token is not a b64token";
			return -1;
		}
	}
	return 0;
}

static int imap_sasl_check_user(const char *user, size_t len, const char **error_r)
{
	if (user == NULL || len == 0 || len > IMAP_CRED_MAX) {
		*error_r = len == 0 ? "empty user name" : "user name too long";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f) {
			*error_r = "control character in user name";
			return -1;
		}
	}
	return 0;
}

/* Appends len octets at src to dst[*o], within size; false if no room. */
static bool imap_sasl_put(char *dst, size_t size, size_t *o, const char *src, size_t len)
{
	if (size - *o < len)
		return false;
	memcpy(dst + *o, src, len);
	*o += len;
	return true;
}

#define IMAP_PUT(s) imap_sasl_put(dst, dst_size, &o, (s), strlen(s))

size_t imap_sasl_xoauth2_message(const char *user, size_t user_len, const char *token,
				 size_t token_len, char *dst, size_t dst_size,
				 const char **error_r)
{
	size_t o = 0;

	if (imap_sasl_check_user(user, user_len, error_r) < 0 ||
	    imap_sasl_check_token(token, token_len, error_r) < 0)
		return 0;
	if (dst == NULL || !IMAP_PUT("user=") ||
	    !imap_sasl_put(dst, dst_size, &o, user, user_len) ||
	    !IMAP_PUT("\001auth=Bearer ") ||
	    !imap_sasl_put(dst, dst_size, &o, token, token_len) || !IMAP_PUT("\001\001")) {
		*error_r = "SASL message too long";
		return 0;
	}
	return o;
}

size_t imap_sasl_oauthbearer_message(const char *user, size_t user_len, const char *host,
				     uint16_t port, const char *token, size_t token_len,
				     char *dst, size_t dst_size, const char **error_r)
{
	size_t o = 0, host_len = host != NULL ? strlen(host) : 0;
	char num[8];
	bool ok;

	if (imap_sasl_check_user(user, user_len, error_r) < 0 ||
	    imap_sasl_check_token(token, token_len, error_r) < 0)
		return 0;
	if (host_len == 0 || host_len > 255 ||
	    strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:-") !=
	    host_len) {
		*error_r = "bad host name for OAUTHBEARER";
		return 0;
	}
	ok = dst != NULL && IMAP_PUT("n,a=");
	for (size_t i = 0; ok && i < user_len; i++) {
		if (user[i] == ',')
			ok = IMAP_PUT("=2C");
		else if (user[i] == '=')
			ok = IMAP_PUT("=3D");
		else
			ok = imap_sasl_put(dst, dst_size, &o, user + i, 1);
	}
	snprintf(num, sizeof(num), "%u", (unsigned int)port);
	ok = ok && IMAP_PUT(",\001host=") && IMAP_PUT(host) && IMAP_PUT("\001port=") &&
		IMAP_PUT(num) && IMAP_PUT("\001auth=Bearer ") &&
		imap_sasl_put(dst, dst_size, &o, token, token_len) && IMAP_PUT("\001\001");
	if (!ok) {
		*error_r = "SASL message too long";
		return 0;
	}
	return o;
}

const char *imap_sasl_oauth_abort(bool oauthbearer)
{
	return oauthbearer ? "AQ==\r\n" : "\r\n";
}
