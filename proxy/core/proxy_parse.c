/* The PROXY protocol header scanner; contracts in proxy_parse.h. */

#include "proxy_parse.h"

#include <arpa/inet.h>
#include <string.h>

enum {
	S_START,
	S_V1,
	S_V2_FIXED,
	S_V2_ADDR,
	S_V2_TLV_HDR,
	S_V2_TLV_VALUE,
	S_V2_OPAQUE,
	S_DONE,
};

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};
static const char v1_sig[] = "PROXY ";

#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_FAM_UNSPEC 0x0
#define V2_FAM_INET 0x1
#define V2_FAM_INET6 0x2
#define V2_FAM_UNIX 0x3
#define V2_TRANS_UNSPEC 0x0
#define V2_TRANS_STREAM 0x1
#define V2_TRANS_DGRAM 0x2
#define V2_TYPE_CRC32C 0x03
/* Address blocks: two IPv4 addresses and ports; IPv6; two 108-byte paths. */
#define V2_ADDR_INET 12
#define V2_ADDR_INET6 36
#define V2_ADDR_UNIX 216
#define V2_ADDR_KEPT V2_ADDR_INET6

void proxy_parser_init(struct proxy_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = S_START;
}

const char *proxy_kind_name(enum proxy_kind kind)
{
	switch (kind) {
	case PROXY_KIND_TCP4: return "tcp4";
	case PROXY_KIND_TCP6: return "tcp6";
	case PROXY_KIND_LOCAL: return "local";
	case PROXY_KIND_UNKNOWN: return "unknown";
	}
	return "?";
}

uint32_t proxy_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *b = data;

	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= b[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return ~crc;
}

/* A decimal port: 0..65535, no sign, no leading zero. */
static int v1_port(const char *s, uint16_t *port_r)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port_r = (uint16_t)v;
	return 0;
}

/* Splits line at single spaces into at most max fields; -1 on an empty field
   or too many. */
static int v1_split(char *line, char **field, int max)
{
	int n = 0;

	for (char *p = line;; p++) {
		char *sp = strchr(p, ' ');

		if (n == max || *p == '\0' || *p == ' ')
			return -1;
		field[n++] = p;
		if (sp == NULL)
			return n;
		*sp = '\0';
		p = sp;
	}
}

/* buf holds the whole line, CRLF included, pos bytes. */
static int v1_finish(struct proxy_parser *p, const char **error_r)
{
	char line[PROXY_V1_MAX + 1];
	char *f[6];
	int n, family;
	struct proxy_header *h = &p->hdr;

	memcpy(line, p->buf + sizeof(v1_sig) - 1, p->pos - (sizeof(v1_sig) - 1) - 2);
	line[p->pos - (sizeof(v1_sig) - 1) - 2] = '\0';
	h->version = 1;
	if (strncmp(line, "UNKNOWN", 7) == 0 && (line[7] == '\0' || line[7] == ' ')) {
		h->kind = PROXY_KIND_UNKNOWN;
		return 0;
	}
	n = v1_split(line, f, 6);
	if (n < 1 || (strcmp(f[0], "TCP4") != 0 && strcmp(f[0], "TCP6") != 0)) {
		*error_r = "v1: unknown protocol";
		return -1;
	}
	if (n != 5) {
		*error_r = "v1: wrong number of fields";
		return -1;
	}
	family = f[0][3] == '4' ? AF_INET : AF_INET6;
	h->kind = family == AF_INET ? PROXY_KIND_TCP4 : PROXY_KIND_TCP6;
	if (inet_pton(family, f[1], h->src_addr) != 1 ||
	    inet_pton(family, f[2], h->dst_addr) != 1) {
		*error_r = "v1: bad address";
		return -1;
	}
	if (v1_port(f[3], &h->src_port) < 0 || v1_port(f[4], &h->dst_port) < 0) {
		*error_r = "v1: bad port";
		return -1;
	}
	return 0;
}

static int v1_byte(struct proxy_parser *p, uint8_t c, const char **error_r)
{
	uint8_t prev = p->pos > 0 ? p->buf[p->pos - 1] : 0;

	if (p->pos < sizeof(v1_sig) - 1 && c != (uint8_t)v1_sig[p->pos]) {
		*error_r = "v1: wrong signature";
		return -1;
	}
	if (c == '\0' || (prev == '\r' && c != '\n')) {
		*error_r = "v1: NUL or bare CR";
		return -1;
	}
	if (c == '\n' && prev != '\r') {
		*error_r = "v1: line not ended by CRLF";
		return -1;
	}
	p->buf[p->pos++] = c;
	if (c == '\n') {
		if (v1_finish(p, error_r) < 0)
			return -1;
		p->state = S_DONE;
	} else if (p->pos == PROXY_V1_MAX) {
		*error_r = "v1: line too long";
		return -1;
	}
	return 0;
}

static size_t v2_addr_len(unsigned int fam)
{
	return fam == V2_FAM_INET ? V2_ADDR_INET : fam == V2_FAM_INET6 ? V2_ADDR_INET6 :
		fam == V2_FAM_UNIX ? V2_ADDR_UNIX : 0;
}

/* The 16 fixed bytes are in buf. */
static int v2_fixed(struct proxy_parser *p, const char **error_r)
{
	unsigned int ver = p->buf[12] >> 4, cmd = p->buf[12] & 0xf;
	unsigned int fam = p->buf[13] >> 4, trans = p->buf[13] & 0xf;

	p->body_len = (size_t)p->buf[14] << 8 | p->buf[15];
	p->hdr.version = 2;
	if (ver != 2) {
		*error_r = "v2: wrong version";
		return -1;
	}
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY) {
		*error_r = "v2: unknown command";
		return -1;
	}
	if (fam > V2_FAM_UNIX || trans > V2_TRANS_DGRAM) {
		*error_r = "v2: unknown address family or transport";
		return -1;
	}
	if (p->body_len > PROXY_V2_MAX_LEN) {
		*error_r = "v2: header longer than the limit";
		return -1;
	}
	if (cmd == V2_CMD_LOCAL) {
		/* A health check: whatever follows is skipped unread. */
		p->hdr.kind = PROXY_KIND_LOCAL;
		p->state = S_V2_OPAQUE;
		return 0;
	}
	if (trans == V2_TRANS_DGRAM && fam != V2_FAM_UNSPEC) {
		*error_r = "v2: a datagram header on a stream";
		return -1;
	}
	p->hdr.kind = fam == V2_FAM_INET ? PROXY_KIND_TCP4 : fam == V2_FAM_INET6 ?
		PROXY_KIND_TCP6 : PROXY_KIND_UNKNOWN;
	p->addr_len = v2_addr_len(fam);
	if (p->body_len < p->addr_len) {
		*error_r = "v2: length shorter than the address block";
		return -1;
	}
	p->state = S_V2_ADDR;
	return 0;
}

static void v2_take_addresses(struct proxy_parser *p)
{
	const uint8_t *a = p->buf + PROXY_V2_FIXED;
	struct proxy_header *h = &p->hdr;
	size_t n = h->kind == PROXY_KIND_TCP4 ? 4 : 16;

	if (h->kind != PROXY_KIND_TCP4 && h->kind != PROXY_KIND_TCP6)
		return;
	memcpy(h->src_addr, a, n);
	memcpy(h->dst_addr, a + n, n);
	h->src_port = (uint16_t)(a[2 * n] << 8 | a[2 * n + 1]);
	h->dst_port = (uint16_t)(a[2 * n + 2] << 8 | a[2 * n + 3]);
}

static int v2_done(struct proxy_parser *p, const char **error_r)
{
	if (p->crc_seen && p->crc != p->crc_want) {
		*error_r = "v2: CRC32C mismatch";
		return -1;
	}
	v2_take_addresses(p);
	p->state = S_DONE;
	return 0;
}

static int v2_tlv_hdr(struct proxy_parser *p, uint8_t c, const char **error_r)
{
	/* bytes of the body from this one on */
	size_t left = p->body_len - (p->pos - PROXY_V2_FIXED);

	if (p->tlv_hdr_len == 0 && left < 3) {
		*error_r = "v2: truncated TLV";
		return -1;
	}
	p->tlv_hdr[p->tlv_hdr_len++] = c;
	/* at the third byte, the rest of the body is for values */
	left--;
	if (p->tlv_hdr_len < 3)
		return 0;
	p->tlv_hdr_len = 0;
	p->tlv_type = p->tlv_hdr[0];
	p->tlv_left = (size_t)p->tlv_hdr[1] << 8 | p->tlv_hdr[2];
	p->hdr.tlv_count++;
	if (p->tlv_left > left) {
		*error_r = "v2: TLV longer than the header";
		return -1;
	}
	if (p->tlv_type == V2_TYPE_CRC32C) {
		if (p->tlv_left != 4 || p->crc_seen) {
			*error_r = "v2: bad CRC32C TLV";
			return -1;
		}
		p->crc_seen = true;
	}
	if (p->tlv_left > 0)
		p->state = S_V2_TLV_VALUE;
	return 0;
}

/* One byte of a version 2 header; the CRC TLV's value counts as zeros. */
static int v2_byte(struct proxy_parser *p, uint8_t c, const char **error_r)
{
	uint8_t for_crc = c;
	int ret = 0;

	switch (p->state) {
	case S_V2_FIXED:
		if (p->pos < sizeof(v2_sig) && c != v2_sig[p->pos]) {
			*error_r = "v2: wrong signature";
			return -1;
		}
		p->buf[p->pos] = c;
		break;
	case S_V2_ADDR:
		if (p->pos - PROXY_V2_FIXED < V2_ADDR_KEPT)
			p->buf[p->pos] = c;
		break;
	case S_V2_TLV_HDR:
		ret = v2_tlv_hdr(p, c, error_r);
		break;
	case S_V2_TLV_VALUE:
		if (p->tlv_type == V2_TYPE_CRC32C) {
			p->crc_want = p->crc_want << 8 | c;
			for_crc = 0;
		}
		if (--p->tlv_left == 0)
			p->state = S_V2_TLV_HDR;
		break;
	default: /* S_V2_OPAQUE */
		break;
	}
	if (ret < 0)
		return -1;
	p->crc = proxy_crc32c(p->crc, &for_crc, 1);
	p->pos++;
	if (p->pos == PROXY_V2_FIXED && v2_fixed(p, error_r) < 0)
		return -1;
	if (p->state == S_V2_ADDR && p->pos == PROXY_V2_FIXED + p->addr_len)
		p->state = S_V2_TLV_HDR;
	if (p->pos >= PROXY_V2_FIXED && p->pos == PROXY_V2_FIXED + p->body_len)
		return v2_done(p, error_r);
	return 0;
}

enum proxy_parse_status proxy_parse_feed(struct proxy_parser *p, const void *data, size_t len,
					 size_t *consumed_r, const char **error_r)
{
	const uint8_t *b = data;
	size_t i;
	int ret = 0;

	for (i = 0; i < len && p->state != S_DONE; i++) {
		if (p->state == S_START) {
			if (b[i] != (uint8_t)v1_sig[0] && b[i] != v2_sig[0]) {
				*consumed_r = i + 1;
				*error_r = "not a PROXY protocol header";
				return PROXY_PARSE_ERROR;
			}
			p->state = b[i] == v2_sig[0] ? S_V2_FIXED : S_V1;
		}
		ret = p->state == S_V1 ? v1_byte(p, b[i], error_r) : v2_byte(p, b[i], error_r);
		if (ret < 0) {
			*consumed_r = i + 1;
			return PROXY_PARSE_ERROR;
		}
	}
	*consumed_r = i;
	return p->state == S_DONE ? PROXY_PARSE_OK : PROXY_PARSE_NEED_MORE;
}
