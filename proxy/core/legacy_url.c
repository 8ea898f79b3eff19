/* The legacy POP3 server's address; contracts in legacy_url.h. */

#include "legacy_url.h"

#include <string.h>
#include <strings.h>

#include "num.h"

static bool legacy_url_host_char(char c, bool bracket)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.')
		return true;
	return bracket && c == ':';
}

int legacy_url_parse(const char *s, size_t len, struct legacy_url *u, const char **error_r)
{
	size_t pos, start, end;
	bool bracket = false;
	uint64_t port;

	memset(u, 0, sizeof(*u));
	if (len >= 8 && strncasecmp(s, "pop3s://", 8) == 0) {
		u->implicit_tls = true;
		pos = 8;
	} else if (len >= 7 && strncasecmp(s, "pop3://", 7) == 0) {
		pos = 7;
	} else {
		*error_r = "must start with pop3s:// or pop3://";
		return -1;
	}
	if (pos < len && s[pos] == '[') {
		bracket = true;
		pos++;
	}
	start = pos;
	while (pos < len && legacy_url_host_char(s[pos], bracket))
		pos++;
	end = pos;
	if (bracket) {
		if (pos >= len || s[pos] != ']') {
			*error_r = "an IPv6 address needs its closing ]";
			return -1;
		}
		pos++;
	}
	if (end == start || end - start > LEGACY_URL_HOST_MAX) {
		*error_r = "no host, or a host name longer than 253 octets";
		return -1;
	}
	memcpy(u->host, s + start, end - start);
	u->host[end - start] = '\0';
	u->port = u->implicit_tls ? 995 : 110;
	if (pos == len)
		return 0;
	if (s[pos] != ':') {
		*error_r = "only host and port: no user, path or other character";
		return -1;
	}
	pos++;
	if (num_parse_u64(s + pos, len - pos, 65535, &port) != NUM_OK || port == 0) {
		*error_r = "port must be 1..65535";
		return -1;
	}
	u->port = (uint16_t)port;
	return 0;
}
