#ifndef DNS_SRV_H
#define DNS_SRV_H

/*
 * DNS messages for SRV lookups (RFC 1035, RFC 2782): the query, and the
 * records of the answer. Pure: libc only. libevent's evdns resolves
 * addresses but asks no SRV question, so popgate setup sends this query
 * itself, over UDP to the resolver evdns uses.
 */

#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_MAX 255      /* presentation form, without the last '.' */
#define DNS_QUERY_MAX 300
#define DNS_SRV_MAX 16        /* records kept from one answer */

struct dns_srv {
	uint16_t priority, weight, port;
	char target[DNS_NAME_MAX + 1];  /* "" for "." (no service, RFC 2782) */
};

enum dns_srv_result {
	DNS_SRV_OK,          /* *count_r records (maybe 0: no such records) */
	DNS_SRV_NXDOMAIN,    /* the name does not exist */
	DNS_SRV_TRUNCATED,   /* TC: the answer did not fit UDP */
	DNS_SRV_SERVFAIL,    /* the server failed or refused (RCODE != 0, 3) */
	DNS_SRV_MALFORMED,   /* not an answer to our query, or broken */
};

/*
 * The query for name (dotted, no final '.'; each label 1..63 octets) and
 * type SRV, recursion desired, with id. Returns its length (at most
 * DNS_QUERY_MAX), or 0 when name cannot be asked.
 */
size_t dns_srv_query(uint8_t *buf, size_t size, uint16_t id, const char *name);

/*
 * Reads the answer msg[0..len) to the query with id and name (as asked,
 * compared without case). The SRV records of class IN in the answer
 * section go into srv (at most DNS_SRV_MAX; others are ignored), sorted
 * by priority, then by weight, highest first (the order to try them in
 * when no weighted random choice is made). Compression pointers are
 * followed only backwards, so every name ends.
 */
enum dns_srv_result dns_srv_parse(const uint8_t *msg, size_t len, uint16_t id,
				  const char *name, struct dns_srv *srv, size_t *count_r);

#endif
