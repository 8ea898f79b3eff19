#ifndef CONF_VALUE_H
#define CONF_VALUE_H

/*
 * Parsers for configuration values. Pure: libc only, no I/O.
 * Each returns 0 and stores the value, or -1 with *error_r set to a static
 * string saying what is wrong ("not a number", "out of range", ...).
 * Leading/trailing spaces have already been stripped by the INI reader.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The *error_r of a number above the limit (conf_parse_uint, _duration,
   _msecs): callers may compare the pointer to say which range it left. */
extern const char conf_value_out_of_range[];

/* "yes"/"no", "true"/"false", "on"/"off", "1"/"0" (case-insensitive). */
int conf_parse_bool(const char *s, bool *value_r, const char **error_r);

/* Decimal, no sign, min <= value <= max. */
int conf_parse_uint(const char *s, unsigned int min, unsigned int max,
		    unsigned int *value_r, const char **error_r);

/* Duration in seconds: "600", "30s", "10m", "2h", "1d"; result <= max. */
int conf_parse_duration(const char *s, unsigned int max_secs,
			unsigned int *secs_r, const char **error_r);

/* Duration in milliseconds: "250ms", "1s", "1500" (plain = ms). */
/* A size in mebibytes: "512", "512m", "2g" (m = MiB, g = GiB). */
int conf_parse_mib(const char *s, unsigned int max_mib, unsigned int *mib_r,
		   const char **error_r);

/* A size in kibibytes: "256", "256k", "1m", "1g". */
int conf_parse_kib(const char *s, unsigned int max_kib, unsigned int *kib_r,
		   const char **error_r);

int conf_parse_msecs(const char *s, unsigned int max_ms,
		     unsigned int *ms_r, const char **error_r);

/* Port 1..65535. */
int conf_parse_port(const char *s, uint16_t *port_r, const char **error_r);

/*
 * "host:port", "[v6addr]:port" or "*:port" (= all IPv4 and IPv6, stored as
 * host "::"). host is written NUL-terminated into host_buf (size
 * host_size); it is a host name (letters, digits, '-', '.') or a numeric
 * address, never empty.
 */
int conf_parse_hostport(const char *s, char *host_buf, size_t host_size,
			uint16_t *port_r, const char **error_r);

/* A host name or numeric address, as for hostport without the port. */
int conf_parse_host(const char *s, const char **error_r);

/* An address block, "127.0.0.0/8", "::1/128", or a plain address
   (a full-length prefix). */
struct conf_cidr {
	int family;            /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned int prefix;
};

int conf_parse_cidr(const char *s, struct conf_cidr *cidr_r, const char **error_r);

/* Whether the address (family AF_INET: 4 octets, AF_INET6: 16) lies in
   the block. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, seen on
   dual-stack listeners) matches IPv4 blocks. */
bool conf_cidr_match(const struct conf_cidr *cidr, int family, const void *addr);

/*
 * An OAuth2 endpoint URL: "https://HOST[:PORT][/PATH]" with a host as
 * conf_parse_hostport takes it, printable ASCII without spaces, '#', '"'
 * or '\\'. "http://" only for a loopback host (127.0.0.1, [::1],
 * localhost): a test or a local token proxy, never over a network.
 */
int conf_parse_endpoint(const char *s, const char **error_r);

/* Picks one of `names` (NULL-terminated), case-insensitive; stores its
   index. */
int conf_parse_enum(const char *s, const char *const *names,
		    unsigned int *index_r, const char **error_r);

#endif
