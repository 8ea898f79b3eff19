#ifndef CACHE_URL_H
#define CACHE_URL_H

/*
 * Parser for the `cache` setting. Pure: libc only, no I/O, no allocation.
 *
 *   auto                                         managed redis-server
 *   redis://[[user]:password@]host[:port][/db]   TCP
 *   unix:/absolute/path/to/socket[?db=N]         unix socket
 *   redis-sentinel://[[user]:password@]host[:port],.../MASTER[?QUERY]
 *                                                the master MASTER that
 *                                                these sentinels monitor
 *   redis-cluster://[[user]:password@]host[:port],...[/]
 *                                                seed nodes of a cluster
 *
 * "auto" and the scheme names are case-insensitive. host is a DNS name
 * (letters, digits, '-', dot-separated labels of 1..63), a dotted IPv4
 * address or a bracketed IPv6 literal. port is 1..65535 (default 6379),
 * db 0..CACHE_URL_DB_MAX (default 0). user and password are raw printable
 * ASCII with %XX escapes for anything else (a '/' or '?' must be
 * escaped); the userinfo ends at the last '@' and splits at its first ':'.
 * Decoded they hold any byte but NUL. A user needs a password (Redis 6
 * ACL: AUTH user password); a password alone is AUTH password.
 * "rediss://" is refused: hiredis 0.14 has no TLS (use a unix socket or a
 * TLS tunnel). A unix path is absolute, at most CACHE_URL_PATH_MAX bytes,
 * without control characters; its only query is "db=N".
 *
 * Sentinel and cluster: 1..CACHE_URL_NODES_MAX comma-separated nodes, each
 * host[:port] as above (default port 26379 for a sentinel, 6379 for a
 * cluster node); user and password are the data nodes' (the master's, the
 * cluster's). MASTER is 1..CACHE_URL_NAME_MAX of [A-Za-z0-9._-]. The
 * sentinel QUERY is '&'-separated, each key at most once: "db=N" and
 * "sentinel_password=PW" (the sentinels' AUTH password, %XX escapes as in
 * the userinfo). A cluster has only db 0: no db, no query.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_URL_MAX 2048          /* whole setting */
#define CACHE_URL_HOST_MAX 253
#define CACHE_URL_PATH_MAX 107      /* sizeof(sun_path) - 1 */
#define CACHE_URL_USER_MAX 128
#define CACHE_URL_PASSWORD_MAX 512
#define CACHE_URL_DB_MAX 65535
#define CACHE_URL_DEFAULT_PORT 6379
#define CACHE_URL_SENTINEL_PORT 26379
#define CACHE_URL_NODES_MAX 16
#define CACHE_URL_NAME_MAX 64

enum cache_url_kind {
	CACHE_URL_AUTO,
	CACHE_URL_TCP,
	CACHE_URL_UNIX,
	CACHE_URL_SENTINEL,
	CACHE_URL_CLUSTER,
};

struct cache_url_node {
	char host[CACHE_URL_HOST_MAX + 1];   /* an IPv6 literal without
						brackets */
	bool host_numeric;
	uint16_t port;
};

struct cache_url {
	enum cache_url_kind kind;
	char host[CACHE_URL_HOST_MAX + 1];   /* TCP; an IPv6 literal without
						brackets */
	bool host_numeric;                   /* host is an IPv4/IPv6 literal */
	uint16_t port;                       /* TCP */
	char path[CACHE_URL_PATH_MAX + 1];   /* UNIX */
	char user[CACHE_URL_USER_MAX + 1];   /* "" = none */
	char password[CACHE_URL_PASSWORD_MAX + 1]; /* "" = none */
	unsigned int db;
	/* SENTINEL: the sentinels; CLUSTER: the seed nodes. */
	struct cache_url_node nodes[CACHE_URL_NODES_MAX];
	unsigned int node_count;
	char master[CACHE_URL_NAME_MAX + 1];  /* SENTINEL */
	char sentinel_password[CACHE_URL_PASSWORD_MAX + 1]; /* "" = none */
};

/*
 * Returns 0 and fills *url_r (every string NUL-terminated, unused ones
 * empty), or -1 with *error_r set to a static string; *url_r is then all
 * zero (no half-parsed password left behind). error_r may be NULL.
 */
int cache_url_parse(const char *s, struct cache_url *url_r,
		    const char **error_r);

/*
 * Writes a log-safe description of url into buf (size > 0), never the
 * password: "auto", "redis://[user@]host:port/db" (IPv6 in brackets),
 * "unix:/path?db=N", "redis-sentinel://[user@]host:port,.../MASTER?db=N",
 * "redis-cluster://[user@]host:port,...". Bytes outside printable ASCII become '?'; the result
 * is truncated to fit. Returns buf.
 */
char *cache_url_describe(const struct cache_url *url, char *buf, size_t size);

#endif
