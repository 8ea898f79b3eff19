#include "conf_value.h"
#include "num.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CONF_HOST_NAME_MAX 253
#define CONF_HOST_LABEL_MAX 63

struct conf_unit {
	const char *suffix;
	uint64_t mult;
};

const char conf_value_out_of_range[] = "out of range";

static const struct conf_unit conf_duration_units[] = {
	{ "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 },
	{ NULL, 0 },
};

static const struct conf_unit conf_msecs_units[] = {
	{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
	{ "h", 3600000 }, { "d", 86400000 },
	{ NULL, 0 },
};

static const struct conf_unit conf_mib_units[] = {
	{ "", 1 }, { "m", 1 }, { "M", 1 }, { "g", 1024 }, { "G", 1024 },
	{ NULL, 0 },
};

static const struct conf_unit conf_kib_units[] = {
	{ "", 1 }, { "k", 1 }, { "K", 1 }, { "m", 1024 }, { "M", 1024 },
	{ "g", 1048576 }, { "G", 1048576 },
	{ NULL, 0 },
};

static bool conf_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool conf_is_alnum(char c)
{
	return conf_is_digit(c) || (c >= 'a' && c <= 'z') ||
		(c >= 'A' && c <= 'Z');
}

/*
 * Leading decimal digits of s, saturating at UINT64_MAX so that any
 * overlong number still reads as "out of range" rather than wrapping.
 * Returns the number of digits.
 */
static size_t conf_digits(const char *s, uint64_t *value_r)
{
	size_t pos = 0;

	if (num_scan_u64(s, strlen(s), &pos, UINT64_MAX, value_r) == NUM_RANGE)
		*value_r = UINT64_MAX;
	return pos;
}

int conf_parse_bool(const char *s, bool *value_r, const char **error_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; s != NULL && i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*value_r = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*value_r = false;
			return 0;
		}
	}
	*error_r = s == NULL || s[0] == '\0' ? "empty value" :
		"not a boolean (use yes or no)";
	return -1;
}

int conf_parse_uint(const char *s, unsigned int min, unsigned int max,
		    unsigned int *value_r, const char **error_r)
{
	uint64_t v;
	size_t n;

	if (s == NULL || s[0] == '\0') {
		*error_r = "empty value";
		return -1;
	}
	n = conf_digits(s, &v);
	if (n == 0 || s[n] != '\0') {
		*error_r = "not a number";
		return -1;
	}
	if (v < min || v > max) {
		*error_r = conf_value_out_of_range;
		return -1;
	}
	*value_r = (unsigned int)v;
	return 0;
}

static int conf_parse_scaled(const char *s, const struct conf_unit *units,
			     const char *unit_error, uint64_t max,
			     uint64_t *value_r, const char **error_r)
{
	uint64_t v;
	size_t n;

	if (s == NULL || s[0] == '\0') {
		*error_r = "empty value";
		return -1;
	}
	n = conf_digits(s, &v);
	if (n == 0) {
		*error_r = "not a number";
		return -1;
	}
	if (s[n] == '.' || s[n] == ',') {
		*error_r = "fractions are not allowed, use a smaller unit";
		return -1;
	}
	for (; units->suffix != NULL; units++) {
		if (strcmp(s + n, units->suffix) != 0)
			continue;
		if (v > max / units->mult) {
			*error_r = conf_value_out_of_range;
			return -1;
		}
		*value_r = v * units->mult;
		return 0;
	}
	*error_r = unit_error;
	return -1;
}

int conf_parse_duration(const char *s, unsigned int max_secs,
			unsigned int *secs_r, const char **error_r)
{
	uint64_t v;

	if (conf_parse_scaled(s, conf_duration_units,
			      "unknown unit (use s, m, h or d)", max_secs,
			      &v, error_r) < 0)
		return -1;
	*secs_r = (unsigned int)v;
	return 0;
}

int conf_parse_msecs(const char *s, unsigned int max_ms,
		     unsigned int *ms_r, const char **error_r)
{
	uint64_t v;

	if (conf_parse_scaled(s, conf_msecs_units,
			      "unknown unit (use ms, s, m, h or d)", max_ms,
			      &v, error_r) < 0)
		return -1;
	*ms_r = (unsigned int)v;
	return 0;
}

int conf_parse_mib(const char *s, unsigned int max_mib, unsigned int *mib_r,
		   const char **error_r)
{
	uint64_t v;

	if (conf_parse_scaled(s, conf_mib_units, "unknown unit (use m or g)", max_mib, &v,
			      error_r) < 0)
		return -1;
	*mib_r = (unsigned int)v;
	return 0;
}

int conf_parse_kib(const char *s, unsigned int max_kib, unsigned int *kib_r,
		   const char **error_r)
{
	uint64_t v;

	if (conf_parse_scaled(s, conf_kib_units, "unknown unit (use k, m or g)", max_kib, &v,
			      error_r) < 0)
		return -1;
	*kib_r = (unsigned int)v;
	return 0;
}

int conf_parse_port(const char *s, uint16_t *port_r, const char **error_r)
{
	uint64_t v;
	size_t n;

	if (s == NULL || s[0] == '\0') {
		*error_r = "missing port";
		return -1;
	}
	n = conf_digits(s, &v);
	if (n == 0 || s[n] != '\0') {
		*error_r = "port is not a number";
		return -1;
	}
	if (v < 1 || v > 65535) {
		*error_r = "port out of range (1..65535)";
		return -1;
	}
	*port_r = (uint16_t)v;
	return 0;
}

/* Letters, digits and inner '-' per label (RFC 1123); one trailing dot is
   the root and allowed. */
static int conf_check_host_name(const char *s, size_t len,
				const char **error_r)
{
	size_t i, label = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-') {
				*error_r = "empty label or '-' at a label end in host name";
				return -1;
			}
			label = 0;
			continue;
		}
		if (!conf_is_alnum(c) && c != '-') {
			*error_r = "host name may hold only letters, digits, '-' and '.'";
			return -1;
		}
		if (c == '-' && label == 0) {
			*error_r = "empty label or '-' at a label end in host name";
			return -1;
		}
		if (++label > CONF_HOST_LABEL_MAX) {
			*error_r = "host name label longer than 63 characters";
			return -1;
		}
	}
	if (label == 0 || s[len - 1] == '-') {
		*error_r = "empty label or '-' at a label end in host name";
		return -1;
	}
	return 0;
}

/*
 * s[0..len) as a host: IPv6 (only if allow_v6), dotted IPv4, or a name.
 * All digits and dots must be a real IPv4 address, so "10.1" or "300.1.1.1"
 * is an error here rather than a puzzling resolver failure later.
 */
static int conf_check_host(const char *s, size_t len, bool allow_v6,
			   const char **error_r)
{
	char buf[CONF_HOST_NAME_MAX + 2];
	unsigned char addr[16];
	bool numeric = true;
	size_t i;

	if (len == 0) {
		*error_r = "empty host";
		return -1;
	}
	if (len > CONF_HOST_NAME_MAX) {
		*error_r = "host name too long";
		return -1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (memchr(s, ':', len) != NULL) {
		if (!allow_v6) {
			*error_r = "IPv6 address must be in brackets: [addr]:port";
			return -1;
		}
		if (inet_pton(AF_INET6, buf, addr) != 1) {
			*error_r = "not a valid IPv6 address";
			return -1;
		}
		return 0;
	}
	for (i = 0; i < len; i++) {
		if (!conf_is_digit(s[i]) && s[i] != '.')
			numeric = false;
	}
	if (numeric) {
		if (inet_pton(AF_INET, buf, addr) != 1) {
			*error_r = "not a valid IPv4 address";
			return -1;
		}
		return 0;
	}
	return conf_check_host_name(s, len, error_r);
}

int conf_parse_host(const char *s, const char **error_r)
{
	if (s == NULL || s[0] == '\0') {
		*error_r = "empty host";
		return -1;
	}
	if (s[0] == '[') {
		*error_r = "write an IPv6 address without brackets here";
		return -1;
	}
	return conf_check_host(s, strlen(s), true, error_r);
}

int conf_parse_hostport(const char *s, char *host_buf, size_t host_size,
			uint16_t *port_r, const char **error_r)
{
	const char *host, *colon;
	size_t host_len;
	uint16_t port;

	if (s == NULL || s[0] == '\0') {
		*error_r = "empty value";
		return -1;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		char buf[64];
		unsigned char addr[16];

		if (close == NULL) {
			*error_r = "missing ']' after IPv6 address";
			return -1;
		}
		host = s + 1;
		host_len = (size_t)(close - host);
		if (host_len == 0 || host_len >= sizeof(buf)) {
			*error_r = "not a valid IPv6 address";
			return -1;
		}
		memcpy(buf, host, host_len);
		buf[host_len] = '\0';
		if (inet_pton(AF_INET6, buf, addr) != 1) {
			*error_r = "not a valid IPv6 address";
			return -1;
		}
		if (close[1] != ':') {
			*error_r = "expected ':' and a port after ']'";
			return -1;
		}
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			*error_r = "missing port (use host:port)";
			return -1;
		}
		host = s;
		host_len = (size_t)(colon - s);
		if (host_len == 1 && host[0] == '*') {
			/* One IPv6 wildcard socket serves IPv4 too, as
			   long as the listener clears IPV6_V6ONLY. */
			host = "::";
			host_len = 2;
		} else if (conf_check_host(host, host_len, false,
					   error_r) < 0) {
			return -1;
		}
	}
	if (conf_parse_port(colon + 1, &port, error_r) < 0)
		return -1;
	if (host_buf == NULL || host_len >= host_size) {
		*error_r = "host too long";
		return -1;
	}
	memcpy(host_buf, host, host_len);
	host_buf[host_len] = '\0';
	*port_r = port;
	return 0;
}

int conf_parse_enum(const char *s, const char *const *names,
		    unsigned int *index_r, const char **error_r)
{
	unsigned int i;

	if (s == NULL || s[0] == '\0') {
		*error_r = "empty value";
		return -1;
	}
	for (i = 0; names[i] != NULL; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*index_r = i;
			return 0;
		}
	}
	*error_r = "not one of the allowed values";
	return -1;
}

int conf_parse_cidr(const char *s, struct conf_cidr *cidr_r, const char **error_r)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned int max, prefix;

	if (len == 0 || len >= sizeof(addr)) {
		*error_r = "not an address";
		return -1;
	}
	memcpy(addr, s, len);
	addr[len] = '\0';
	memset(cidr_r, 0, sizeof(*cidr_r));
	if (inet_pton(AF_INET, addr, cidr_r->addr) == 1) {
		cidr_r->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, cidr_r->addr) == 1) {
		cidr_r->family = AF_INET6;
		max = 128;
	} else {
		*error_r = "not an IPv4 or IPv6 address";
		return -1;
	}
	prefix = max;
	if (slash != NULL &&
	    conf_parse_uint(slash + 1, 0, max, &prefix, error_r) < 0) {
		*error_r = "bad prefix length";
		return -1;
	}
	/* Host bits set ("10.1.2.3/8") are most likely a typo: refuse. */
	for (unsigned int bit = prefix; bit < max; bit++) {
		if ((cidr_r->addr[bit / 8] & (0x80 >> (bit % 8))) != 0) {
			*error_r = "address has bits set beyond the prefix";
			return -1;
		}
	}
	cidr_r->prefix = prefix;
	return 0;
}

bool conf_cidr_match(const struct conf_cidr *cidr, int family, const void *addr)
{
	static const unsigned char v4mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	const unsigned char *a = addr;
	unsigned int full, rest;

	if (family == AF_INET6 && cidr->family == AF_INET &&
	    memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
		family = AF_INET;
		a += 12;
	}
	if (family != cidr->family)
		return false;
	full = cidr->prefix / 8;
	rest = cidr->prefix % 8;
	if (memcmp(a, cidr->addr, full) != 0)
		return false;
	return rest == 0 ||
		((a[full] ^ cidr->addr[full]) & (unsigned char)(0xff << (8 - rest))) == 0;
}

int conf_parse_endpoint(const char *s, const char **error_r)
{
	char hostport[300], host[256];
	const char *rest;
	uint16_t port;
	bool plain;
	size_t len;

	if (s == NULL || s[0] == '\0') {
		*error_r = "empty URL";
		return -1;
	}
	for (const char *p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || c == '#' || c == '"' || c == '\\') {
			*error_r = "a URL is printable ASCII without spaces, '#', '\"' or '\\'";
			return -1;
		}
	}
	plain = strncmp(s, "http://", 7) == 0;
	if (!plain && strncmp(s, "https://", 8) != 0) {
		*error_r = "the URL must start with https://";
		return -1;
	}
	rest = s + (plain ? 7 : 8);
	len = strcspn(rest, "/?");
	if (len == 0 || len + 7 >= sizeof(hostport)) {
		*error_r = "no host in the URL";
		return -1;
	}
	if (memchr(rest, '@', len) != NULL) {
		*error_r = "no user name or password in the URL";
		return -1;
	}
	/* Without a port, as hostport wants one. */
	if ((rest[0] == '[' && (rest[len - 1] == ']')) ||
	    (rest[0] != '[' && memchr(rest, ':', len) == NULL))
		snprintf(hostport, sizeof(hostport), "%.*s:%s", (int)len, rest,
			 plain ? "80" : "443");
	else
		snprintf(hostport, sizeof(hostport), "%.*s", (int)len, rest);
	if (conf_parse_hostport(hostport, host, sizeof(host), &port, error_r) < 0)
		return -1;
	if (plain && strcmp(host, "127.0.0.1") != 0 && strcmp(host, "::1") != 0 &&
	    strcmp(host, "localhost") != 0) {
		*error_r = "http:// only for a loopback host (127.0.0.1, [::1], localhost): use https://";
		return -1;
	}
	return 0;
}
