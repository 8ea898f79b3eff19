#ifndef PROXY_PARSE_H
#define PROXY_PARSE_H

/*
 * The PROXY protocol header a load balancer sends before the client's
 * bytes (HAProxy's proxy-protocol.txt, versions 1 and 2). Pure: libc only,
 * no I/O.
 *
 * The scanner is resumable and never consumes a byte past the header: what
 * follows belongs to the client (a TLS ClientHello may arrive in the same
 * segment), so the caller peeks, feeds, and then takes exactly *consumed_r
 * bytes off the socket.
 *
 * Bounds: a version 1 line is at most PROXY_V1_MAX bytes with its CRLF; a
 * version 2 header carries at most PROXY_V2_MAX_LEN bytes after its 16
 * fixed ones. TLVs are checked for structure (each inside the header, none
 * cut short) and skipped without being stored, except PP2_TYPE_CRC32C,
 * whose checksum is verified when present.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "PROXY TCP6 " + two full IPv6 addresses + two ports + CRLF. */
#define PROXY_V1_MAX 107
/* Far more than any load balancer's TLVs; the address block is at most
   216 bytes (AF_UNIX). */
#define PROXY_V2_MAX_LEN 2048
/* The fixed part of a version 2 header. */
#define PROXY_V2_FIXED 16

enum proxy_parse_status {
	PROXY_PARSE_OK,        /* a whole header was read; p->hdr holds it */
	PROXY_PARSE_NEED_MORE, /* every byte fed was consumed */
	PROXY_PARSE_ERROR,     /* not a valid header; close the connection */
};

/* What the header says about the connection. */
enum proxy_kind {
	PROXY_KIND_TCP4,    /* addresses below are the client's and ours */
	PROXY_KIND_TCP6,
	PROXY_KIND_LOCAL,   /* v2 LOCAL: the balancer's own (health check) */
	PROXY_KIND_UNKNOWN, /* v1 UNKNOWN, v2 UNSPEC or AF_UNIX: no address */
};

struct proxy_header {
	unsigned int version;          /* 1 or 2 */
	enum proxy_kind kind;
	/* TCP4 and TCP6 only: 4 or 16 bytes in network order; ports in host
	   order. Otherwise the connection's own addresses stand. */
	uint8_t src_addr[16], dst_addr[16];
	uint16_t src_port, dst_port;
	unsigned int tlv_count;        /* v2: TLVs seen */
};

struct proxy_parser {
	unsigned int state;   /* private: where in the header we are */
	size_t pos;           /* bytes of the header consumed so far */
	size_t body_len;      /* v2: bytes after the fixed 16 */
	size_t addr_len;      /* v2: of the address block */
	size_t tlv_left;      /* v2: bytes left of the current TLV's value */
	uint8_t tlv_type;
	uint8_t tlv_hdr[3];
	unsigned int tlv_hdr_len;
	bool crc_seen;
	uint32_t crc, crc_want;
	uint8_t buf[PROXY_V1_MAX + 1]; /* v1 line, or v2's fixed part and
					  address block (up to 36 kept) */
	struct proxy_header hdr;
};

void proxy_parser_init(struct proxy_parser *p);

/*
 * Consumes input up to, never past, the end of the header. *consumed_r is
 * always set. OK: p->hdr is filled, the next byte is the client's.
 * NEED_MORE: all len bytes were consumed. ERROR: *error_r (static) says
 * why; detected as early as possible (a first byte that starts neither
 * signature is refused at once).
 */
enum proxy_parse_status proxy_parse_feed(struct proxy_parser *p, const void *data, size_t len,
					 size_t *consumed_r, const char **error_r);

/* "tcp4", "tcp6", "local", "unknown". */
const char *proxy_kind_name(enum proxy_kind kind);

/* CRC-32C (Castagnoli) of data, continuing from crc (start with 0). */
uint32_t proxy_crc32c(uint32_t crc, const void *data, size_t len);

#endif
