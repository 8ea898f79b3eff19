#include "cache_url.h"
#include "num.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int cache_url_fail(struct cache_url *url, const char **error_r,
			  const char *error)
{
	memset(url, 0, sizeof(*url));
	if (error_r != NULL)
		*error_r = error;
	return -1;
}

/* Decimal digits s[0..n), no sign; -1 when empty, not digits or > max. */
static long cache_url_number(const char *s, size_t n, unsigned long max)
{
	uint64_t v;

	if (num_parse_u64(s, n, max, &v) != NUM_OK)
		return -1;
	return (long)v;
}

static int cache_url_hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into dst (size bytes incl. NUL). */
static int cache_url_decode(const char *s, size_t n, char *dst, size_t size,
			    const char **error_r)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x21 || ch > 0x7e) {
			*error_r = "user or password: raw space, control or "
				"non-ASCII byte (use %XX)";
			return -1;
		}
		if (ch == '%') {
			int hi, lo;

			if (i + 2 >= n) {
				*error_r = "user or password: truncated %XX";
				return -1;
			}
			hi = cache_url_hexval(s[i + 1]);
			lo = cache_url_hexval(s[i + 2]);
			if (hi < 0 || lo < 0) {
				*error_r = "user or password: bad %XX";
				return -1;
			}
			ch = (unsigned char)(hi << 4 | lo);
			if (ch == 0) {
				*error_r = "user or password: %00";
				return -1;
			}
			i += 2;
		}
		if (o + 1 >= size) {
			*error_r = "user or password too long";
			return -1;
		}
		dst[o++] = (char)ch;
	}
	dst[o] = '\0';
	return 0;
}

static bool cache_url_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		(ch >= '0' && ch <= '9');
}

/* DNS name or dotted IPv4 address. */
static int cache_url_hostname(const char *s, size_t n,
			      struct cache_url_node *url, const char **error_r)
{
	size_t i, label = 0;
	bool all_numeric = true;

	if (n == 0) {
		*error_r = "missing host";
		return -1;
	}
	if (n > CACHE_URL_HOST_MAX) {
		*error_r = "host name too long";
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0) {
				*error_r = "empty label in host name";
				return -1;
			}
			if (s[i - 1] == '-') {
				*error_r = "host name label ends with '-'";
				return -1;
			}
			label = 0;
			continue;
		}
		if (!cache_url_alnum(s[i]) && s[i] != '-') {
			*error_r = "bad character in host name";
			return -1;
		}
		if (s[i] == '-' && label == 0) {
			*error_r = "host name label starts with '-'";
			return -1;
		}
		if (s[i] < '0' || s[i] > '9')
			all_numeric = false;
		if (++label > 63) {
			*error_r = "host name label longer than 63";
			return -1;
		}
	}
	if (label == 0 || s[n - 1] == '-') {
		*error_r = "empty label or trailing '-' in host name";
		return -1;
	}
	memcpy(url->host, s, n);
	url->host[n] = '\0';
	if (all_numeric) {
		struct in_addr a4;

		if (inet_pton(AF_INET, url->host, &a4) != 1) {
			*error_r = "bad IPv4 address";
			return -1;
		}
		url->host_numeric = true;
	}
	return 0;
}

/* host[:port] or [v6][:port] in s[0..n). */
static int cache_url_hostport(const char *s, size_t n, uint16_t default_port,
			      struct cache_url_node *url, const char **error_r)
{
	const char *port = NULL;
	size_t host_len;
	long v;

	if (n > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', n);
		struct in6_addr a6;
		size_t len;

		if (end == NULL) {
			*error_r = "missing ']' after IPv6 address";
			return -1;
		}
		len = (size_t)(end - s - 1);
		if (len == 0 || len >= INET6_ADDRSTRLEN) {
			*error_r = "bad IPv6 address";
			return -1;
		}
		memcpy(url->host, s + 1, len);
		url->host[len] = '\0';
		if (inet_pton(AF_INET6, url->host, &a6) != 1) {
			*error_r = "bad IPv6 address";
			return -1;
		}
		url->host_numeric = true;
		if (end + 1 < s + n) {
			if (end[1] != ':') {
				*error_r = "junk after IPv6 address";
				return -1;
			}
			port = end + 2;
		}
	} else {
		const char *colon = memchr(s, ':', n);

		host_len = colon != NULL ? (size_t)(colon - s) : n;
		if (cache_url_hostname(s, host_len, url, error_r) < 0)
			return -1;
		if (colon != NULL)
			port = colon + 1;
	}
	url->port = default_port;
	if (port != NULL) {
		v = cache_url_number(port, (size_t)(s + n - port), 65535);
		if (v <= 0) {
			*error_r = "bad port (1..65535)";
			return -1;
		}
		url->port = (uint16_t)v;
	}
	return 0;
}

static int cache_url_userinfo(const char *s, size_t n, struct cache_url *url,
			      const char **error_r)
{
	const char *colon = memchr(s, ':', n);
	size_t user_len;

	if (colon == NULL) {
		*error_r = "user name without password "
			"(write redis://:password@host)";
		return -1;
	}
	user_len = (size_t)(colon - s);
	if (cache_url_decode(s, user_len, url->user, sizeof(url->user),
			     error_r) < 0 ||
	    cache_url_decode(colon + 1, n - user_len - 1, url->password,
			     sizeof(url->password), error_r) < 0)
		return -1;
	if (url->password[0] == '\0') {
		*error_r = "empty password";
		return -1;
	}
	return 0;
}

static int cache_url_db(const char *s, struct cache_url *url,
			const char **error_r)
{
	long db = cache_url_number(s, strlen(s), CACHE_URL_DB_MAX);

	if (db < 0) {
		*error_r = "bad db number";
		return -1;
	}
	url->db = (unsigned int)db;
	return 0;
}

static int cache_url_redis(const char *s, struct cache_url *url,
			   const char **error_r)
{
	const char *slash = strchr(s, '/');
	size_t auth_len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	const char *at = NULL, *p;
	struct cache_url_node node;

	memset(&node, 0, sizeof(node));
	if (strpbrk(s, "?#") != NULL) {
		*error_r = "redis:// takes no query or fragment "
			"(the db goes after '/')";
		return -1;
	}
	for (p = s; p < s + auth_len; p++) {
		if (*p == '@')
			at = p;
	}
	url->kind = CACHE_URL_TCP;
	if (at != NULL) {
		if (cache_url_userinfo(s, (size_t)(at - s), url, error_r) < 0)
			return -1;
		auth_len -= (size_t)(at + 1 - s);
		s = at + 1;
	}
	if (cache_url_hostport(s, auth_len, CACHE_URL_DEFAULT_PORT, &node,
			       error_r) < 0)
		return -1;
	strcpy(url->host, node.host);
	url->host_numeric = node.host_numeric;
	url->port = node.port;
	if (slash != NULL && slash[1] != '\0') {
		return cache_url_db(slash + 1, url, error_r);
	}
	return 0;
}

/* "[userinfo@]node,node,..." in s[0..n) into url->nodes. */
static int cache_url_nodes(const char *s, size_t n, uint16_t default_port,
			   struct cache_url *url, const char **error_r)
{
	const char *at = NULL, *p, *end = s + n;

	for (p = s; p < end; p++) {
		if (*p == '@')
			at = p;
	}
	if (at != NULL) {
		if (cache_url_userinfo(s, (size_t)(at - s), url, error_r) < 0)
			return -1;
		s = at + 1;
	}
	for (;;) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *stop = comma != NULL ? comma : end;

		if (url->node_count == CACHE_URL_NODES_MAX) {
			*error_r = "too many nodes (max 16)";
			return -1;
		}
		if (cache_url_hostport(s, (size_t)(stop - s), default_port,
				       &url->nodes[url->node_count],
				       error_r) < 0)
			return -1;
		url->node_count++;
		if (comma == NULL)
			return 0;
		s = comma + 1;
	}
}

/* One "key=value" of a sentinel query, s[0..n). */
static int cache_url_sentinel_param(const char *s, size_t n, bool *seen_db,
				    struct cache_url *url, const char **error_r)
{
	static const char pw[] = "sentinel_password=";

	if (n > 3 && strncmp(s, "db=", 3) == 0 && !*seen_db) {
		long db = cache_url_number(s + 3, n - 3, CACHE_URL_DB_MAX);

		if (db < 0) {
			*error_r = "bad db number";
			return -1;
		}
		url->db = (unsigned int)db;
		*seen_db = true;
		return 0;
	}
	if (n > sizeof(pw) - 1 && strncmp(s, pw, sizeof(pw) - 1) == 0 &&
	    url->sentinel_password[0] == '\0')
		return cache_url_decode(s + sizeof(pw) - 1, n - sizeof(pw) + 1,
					url->sentinel_password,
					sizeof(url->sentinel_password),
					error_r);
	*error_r = "redis-sentinel: the query is db=N and sentinel_password=PW, "
		"each at most once";
	return -1;
}

static int cache_url_sentinel_query(const char *s, struct cache_url *url,
				    const char **error_r)
{
	bool seen_db = false;

	for (;;) {
		const char *amp = strchr(s, '&');
		size_t n = amp != NULL ? (size_t)(amp - s) : strlen(s);

		if (cache_url_sentinel_param(s, n, &seen_db, url, error_r) < 0)
			return -1;
		if (amp == NULL)
			return 0;
		s = amp + 1;
	}
}

/* The master name, s[0..n). */
static int cache_url_master(const char *s, size_t n, struct cache_url *url,
			    const char **error_r)
{
	size_t i;

	if (n == 0 || n > CACHE_URL_NAME_MAX) {
		*error_r = "redis-sentinel: needs /MASTERNAME (1..64 bytes)";
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!cache_url_alnum(s[i]) && s[i] != '.' && s[i] != '_' &&
		    s[i] != '-') {
			*error_r = "redis-sentinel: master name is "
				"[A-Za-z0-9._-]";
			return -1;
		}
	}
	memcpy(url->master, s, n);
	url->master[n] = '\0';
	return 0;
}

static int cache_url_sentinel(const char *s, struct cache_url *url,
			      const char **error_r)
{
	const char *slash = strchr(s, '/');
	const char *query;

	url->kind = CACHE_URL_SENTINEL;
	if (strchr(s, '#') != NULL) {
		*error_r = "redis-sentinel: no fragment";
		return -1;
	}
	if (slash == NULL) {
		*error_r = "redis-sentinel: needs /MASTERNAME";
		return -1;
	}
	if (cache_url_nodes(s, (size_t)(slash - s), CACHE_URL_SENTINEL_PORT,
			    url, error_r) < 0)
		return -1;
	query = strchr(slash, '?');
	if (cache_url_master(slash + 1, query != NULL ?
			     (size_t)(query - slash - 1) : strlen(slash + 1),
			     url, error_r) < 0)
		return -1;
	return query != NULL ? cache_url_sentinel_query(query + 1, url,
							error_r) : 0;
}

static int cache_url_cluster(const char *s, struct cache_url *url,
			     const char **error_r)
{
	size_t len = strlen(s);

	url->kind = CACHE_URL_CLUSTER;
	if (strpbrk(s, "?#") != NULL || (memchr(s, '/', len) != NULL &&
					 strchr(s, '/') != s + len - 1)) {
		*error_r = "redis-cluster: only db 0, no path or query";
		return -1;
	}
	if (len > 0 && s[len - 1] == '/')
		len--;
	return cache_url_nodes(s, len, CACHE_URL_DEFAULT_PORT, url, error_r);
}

static int cache_url_unix(const char *s, struct cache_url *url,
			  const char **error_r)
{
	const char *query = strchr(s, '?');
	size_t len = query != NULL ? (size_t)(query - s) : strlen(s);
	size_t i;

	url->kind = CACHE_URL_UNIX;
	if (len < 2 || s[0] != '/') {
		*error_r = "unix: needs an absolute socket path";
		return -1;
	}
	if (len > CACHE_URL_PATH_MAX) {
		*error_r = "unix socket path too long (max 107 bytes)";
		return -1;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			*error_r = "control character in socket path";
			return -1;
		}
	}
	memcpy(url->path, s, len);
	url->path[len] = '\0';
	if (query != NULL) {
		if (strncmp(query, "?db=", 4) != 0) {
			*error_r = "unix: the only query is ?db=N";
			return -1;
		}
		return cache_url_db(query + 4, url, error_r);
	}
	return 0;
}

int cache_url_parse(const char *s, struct cache_url *url_r,
		    const char **error_r)
{
	const char *error = NULL;
	int ret;

	memset(url_r, 0, sizeof(*url_r));
	if (s == NULL || s[0] == '\0')
		return cache_url_fail(url_r, error_r, "empty cache url");
	if (strnlen(s, CACHE_URL_MAX + 1) > CACHE_URL_MAX)
		return cache_url_fail(url_r, error_r, "cache url too long");
	if (strcasecmp(s, "auto") == 0) {
		url_r->kind = CACHE_URL_AUTO;
		return 0;
	}
	if (strncasecmp(s, "redis://", 8) == 0)
		ret = cache_url_redis(s + 8, url_r, &error);
	else if (strncasecmp(s, "unix:", 5) == 0)
		ret = cache_url_unix(s + 5, url_r, &error);
	else if (strncasecmp(s, "redis-sentinel://", 17) == 0)
		ret = cache_url_sentinel(s + 17, url_r, &error);
	else if (strncasecmp(s, "redis-cluster://", 16) == 0)
		ret = cache_url_cluster(s + 16, url_r, &error);
	else if (strncasecmp(s, "rediss://", 9) == 0)
		return cache_url_fail(url_r, error_r, "rediss:// (TLS) is not "
				      "supported by hiredis 0.14; use a unix "
				      "socket or a TLS tunnel");
	else
		return cache_url_fail(url_r, error_r, "cache must be auto, "
				      "redis://host[:port][/db], "
				      "unix:/path[?db=N], "
				      "redis-sentinel://host,.../MASTER or "
				      "redis-cluster://host,...");
	if (ret < 0)
		return cache_url_fail(url_r, error_r, error);
	return 0;
}

/* Appends printable ASCII of src (others as '?') to buf at *pos. */
static void cache_url_put(char *buf, size_t size, size_t *pos, const char *src)
{
	for (; *src != '\0' && *pos + 1 < size; src++) {
		unsigned char ch = (unsigned char)*src;

		buf[(*pos)++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	buf[*pos] = '\0';
}

static void cache_url_put_host(char *buf, size_t size, size_t *pos,
			       const char *host, uint16_t port)
{
	char num[16];

	if (strchr(host, ':') != NULL) {
		cache_url_put(buf, size, pos, "[");
		cache_url_put(buf, size, pos, host);
		cache_url_put(buf, size, pos, "]");
	} else {
		cache_url_put(buf, size, pos, host);
	}
	snprintf(num, sizeof(num), ":%u", port);
	cache_url_put(buf, size, pos, num);
}

static void cache_url_put_nodes(char *buf, size_t size, size_t *pos,
				const struct cache_url *url)
{
	unsigned int i;

	if (url->user[0] != '\0') {
		cache_url_put(buf, size, pos, url->user);
		cache_url_put(buf, size, pos, "@");
	}
	for (i = 0; i < url->node_count && i < CACHE_URL_NODES_MAX; i++) {
		if (i > 0)
			cache_url_put(buf, size, pos, ",");
		cache_url_put_host(buf, size, pos, url->nodes[i].host,
				   url->nodes[i].port);
	}
}

char *cache_url_describe(const struct cache_url *url, char *buf, size_t size)
{
	char num[32];
	size_t pos = 0;

	buf[0] = '\0';
	switch (url->kind) {
	case CACHE_URL_AUTO:
		cache_url_put(buf, size, &pos, "auto");
		break;
	case CACHE_URL_TCP:
		cache_url_put(buf, size, &pos, "redis://");
		if (url->user[0] != '\0') {
			cache_url_put(buf, size, &pos, url->user);
			cache_url_put(buf, size, &pos, "@");
		}
		cache_url_put_host(buf, size, &pos, url->host, url->port);
		snprintf(num, sizeof(num), "/%u", url->db);
		cache_url_put(buf, size, &pos, num);
		break;
	case CACHE_URL_SENTINEL:
		cache_url_put(buf, size, &pos, "redis-sentinel://");
		cache_url_put_nodes(buf, size, &pos, url);
		cache_url_put(buf, size, &pos, "/");
		cache_url_put(buf, size, &pos, url->master);
		snprintf(num, sizeof(num), "?db=%u", url->db);
		cache_url_put(buf, size, &pos, num);
		break;
	case CACHE_URL_CLUSTER:
		cache_url_put(buf, size, &pos, "redis-cluster://");
		cache_url_put_nodes(buf, size, &pos, url);
		break;
	case CACHE_URL_UNIX:
		cache_url_put(buf, size, &pos, "unix:");
		cache_url_put(buf, size, &pos, url->path);
		snprintf(num, sizeof(num), "?db=%u", url->db);
		cache_url_put(buf, size, &pos, num);
		break;
	}
	return buf;
}
