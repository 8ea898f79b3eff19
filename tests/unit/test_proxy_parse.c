/* Unit tests for the PROXY protocol header scanner (core/proxy_parse.c). */

#include <arpa/inet.h>
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_parse.h"

#define BYTES(s) (const uint8_t *)(s), (sizeof(s) - 1)
#define CLIENT "+client bytes"

static const uint8_t sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

/* Feeds data in pieces of step bytes (0: all at once); the status of the
   last feed, the total consumed. */
static enum proxy_parse_status feed(struct proxy_parser *p, const uint8_t *data, size_t len,
				    size_t step, size_t *consumed_r, const char **error_r)
{
	enum proxy_parse_status st = PROXY_PARSE_NEED_MORE;
	size_t off = 0;

	proxy_parser_init(p);
	*error_r = NULL;
	while (off < len) {
		size_t n = step == 0 || step > len - off ? len - off : step, used = 0;

		st = proxy_parse_feed(p, data + off, n, &used, error_r);
		ck_assert_uint_le(used, n);
		off += used;
		if (st != PROXY_PARSE_NEED_MORE)
			break;
		ck_assert_uint_eq(used, n);
	}
	*consumed_r = off;
	return st;
}

/* ------------------------------------------------------------ version 1 */

struct v1_case {
	const uint8_t *s;
	size_t len;
	enum proxy_parse_status want;
	enum proxy_kind kind;
	size_t consumed;   /* OK: the header's length; ERROR: where it was found */
};

#define V1_MAX6 "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff " \
	"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
/* 107 bytes with CRLF: the longest line allowed. */
#define V1_107 "PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
_Static_assert(sizeof(V1_107) - 1 == PROXY_V1_MAX, "V1_107 is the longest line");
#define V1_108 "PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"

static const struct v1_case v1_cases[] = {
	{ BYTES("PROXY TCP4 192.0.2.7 198.51.100.1 56324 110\r\n"), PROXY_PARSE_OK,
	  PROXY_KIND_TCP4, 45 },
	{ BYTES("PROXY TCP4 192.0.2.7 198.51.100.1 56324 110\r\n" CLIENT), PROXY_PARSE_OK,
	  PROXY_KIND_TCP4, 45 },
	{ BYTES("PROXY TCP6 2001:db8::7 2001:db8::1 0 65535\r\n"), PROXY_PARSE_OK,
	  PROXY_KIND_TCP6, 44 },
	{ BYTES(V1_MAX6), PROXY_PARSE_OK, PROXY_KIND_TCP6, sizeof(V1_MAX6) - 1 },
	{ BYTES("PROXY UNKNOWN\r\n"), PROXY_PARSE_OK, PROXY_KIND_UNKNOWN, 15 },
	{ BYTES("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), PROXY_PARSE_OK, PROXY_KIND_UNKNOWN, 35 },
	{ BYTES(V1_107), PROXY_PARSE_OK, PROXY_KIND_UNKNOWN, 107 },
	{ BYTES(V1_108), PROXY_PARSE_ERROR, 0, 107 },
	/* wrong signature, found at the first byte that differs */
	{ BYTES("USER bob\r\n"), PROXY_PARSE_ERROR, 0, 1 },
	{ BYTES("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), PROXY_PARSE_ERROR, 0, 1 },
	{ BYTES("PROXY\r\n"), PROXY_PARSE_ERROR, 0, 6 },
	{ BYTES("PROXYTCP4"), PROXY_PARSE_ERROR, 0, 6 },
	{ BYTES("\x16\x03\x01\x02\x00"), PROXY_PARSE_ERROR, 0, 1 },  /* a TLS ClientHello */
	{ BYTES("\0PROXY"), PROXY_PARSE_ERROR, 0, 1 },
	/* fields */
	{ BYTES("PROXY \r\n"), PROXY_PARSE_ERROR, 0, 8 },
	{ BYTES("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), PROXY_PARSE_ERROR, 0, 32 },
	{ BYTES("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), PROXY_PARSE_ERROR, 0, 30 },
	{ BYTES("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), PROXY_PARSE_ERROR, 0, 34 },
	{ BYTES("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), PROXY_PARSE_ERROR, 0, 33 },
	{ BYTES("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), PROXY_PARSE_ERROR, 0, 33 },
	{ BYTES("PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n"), PROXY_PARSE_ERROR, 0, 32 },
	{ BYTES("PROXY UNKNOWNX\r\n"), PROXY_PARSE_ERROR, 0, 16 },
	{ BYTES("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"), PROXY_PARSE_ERROR, 0, 32 },
	/* addresses */
	{ BYTES("PROXY TCP4 ::1 ::1 1 2\r\n"), PROXY_PARSE_ERROR, 0, 24 },
	{ BYTES("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"), PROXY_PARSE_ERROR, 0, 32 },
	{ BYTES("PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n"), PROXY_PARSE_ERROR, 0, 34 },
	{ BYTES("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), PROXY_PARSE_ERROR, 0, 30 },
	{ BYTES("PROXY TCP4 1.2.3.4 localhost 1 2\r\n"), PROXY_PARSE_ERROR, 0, 34 },
	{ BYTES("PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n"), PROXY_PARSE_OK, PROXY_KIND_TCP6, 35 },
	/* ports */
	{ BYTES("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), PROXY_PARSE_ERROR, 0, 36 },
	{ BYTES("PROXY TCP4 1.2.3.4 5.6.7.8 0110 2\r\n"), PROXY_PARSE_ERROR, 0, 35 },
	{ BYTES("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"), PROXY_PARSE_ERROR, 0, 33 },
	{ BYTES("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), PROXY_PARSE_ERROR, 0, 33 },
	{ BYTES("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999999999999999999\r\n"), PROXY_PARSE_ERROR,
	  0, 51 },
	{ BYTES("PROXY TCP4 1.2.3.4 5.6.7.8 1 0x2\r\n"), PROXY_PARSE_ERROR, 0, 34 },
	/* line ends and control bytes */
	{ BYTES("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), PROXY_PARSE_ERROR, 0, 31 },
	{ BYTES("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\n"), PROXY_PARSE_ERROR, 0, 32 },
	{ BYTES("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n"), PROXY_PARSE_ERROR, 0, 19 },
	{ BYTES("PROXY UNKNOWN\r\r\n"), PROXY_PARSE_ERROR, 0, 15 },
};

START_TEST(test_v1_table)
{
	const struct v1_case *c = &v1_cases[_i];
	static const size_t steps[] = { 0, 1, 2, 7 };

	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct proxy_parser p;
		size_t used;
		const char *error;
		enum proxy_parse_status st = feed(&p, c->s, c->len, steps[k], &used, &error);

		ck_assert_msg(st == c->want, "case %d step %zu: status %d, want %d (%s)", _i,
			      steps[k], st, c->want, error != NULL ? error : "");
		ck_assert_msg(used == c->consumed, "case %d step %zu: consumed %zu, want %zu", _i,
			      steps[k], used, c->consumed);
		if (st == PROXY_PARSE_ERROR)
			ck_assert_ptr_nonnull(error);
		if (st == PROXY_PARSE_OK) {
			ck_assert_uint_eq(p.hdr.version, 1);
			ck_assert_int_eq(p.hdr.kind, c->kind);
		}
	}
}
END_TEST

START_TEST(test_v1_addresses)
{
	struct proxy_parser p;
	size_t used;
	const char *error;
	uint8_t a6[16];

	ck_assert_int_eq(feed(&p, BYTES("PROXY TCP4 192.0.2.7 198.51.100.1 56324 110\r\n"), 0,
			      &used, &error), PROXY_PARSE_OK);
	ck_assert_mem_eq(p.hdr.src_addr, "\xc0\x00\x02\x07", 4);
	ck_assert_mem_eq(p.hdr.dst_addr, "\xc6\x33\x64\x01", 4);
	ck_assert_uint_eq(p.hdr.src_port, 56324);
	ck_assert_uint_eq(p.hdr.dst_port, 110);
	ck_assert_int_eq(feed(&p, BYTES("PROXY TCP6 2001:db8::7 2001:db8::1 0 65535\r\n"), 0,
			      &used, &error), PROXY_PARSE_OK);
	inet_pton(AF_INET6, "2001:db8::7", a6);
	ck_assert_mem_eq(p.hdr.src_addr, a6, 16);
	ck_assert_uint_eq(p.hdr.src_port, 0);
	ck_assert_uint_eq(p.hdr.dst_port, 65535);
}
END_TEST

/* Every proper prefix of a valid header asks for more and keeps nothing back. */
START_TEST(test_v1_truncations)
{
	static const char line[] = "PROXY TCP6 2001:db8::7 2001:db8::1 0 65535\r\n";

	for (size_t n = 0; n < sizeof(line) - 1; n++) {
		struct proxy_parser p;
		size_t used;
		const char *error;

		ck_assert_int_eq(feed(&p, (const uint8_t *)line, n, 0, &used, &error),
				 PROXY_PARSE_NEED_MORE);
		ck_assert_uint_eq(used, n);
	}
}
END_TEST

/* ------------------------------------------------------------ version 2 */

/* The address block of the family, filled with a pattern: src 10.0.0.1
   port 1000, dst 10.0.0.2 port 110 for INET. */
static size_t v2_addresses(uint8_t fam, uint8_t *out)
{
	size_t n;

	switch (fam >> 4) {
	case 1:
		memcpy(out, "\x0a\x00\x00\x01\x0a\x00\x00\x02\x03\xe8\x00\x6e", 12);
		return 12;
	case 2:
		memset(out, 0, 36);
		out[0] = 0x20, out[1] = 0x01, out[15] = 7;
		out[16] = 0x20, out[17] = 0x01, out[31] = 1;
		out[32] = 0xff, out[33] = 0xfe, out[34] = 0, out[35] = 110;
		return 36;
	case 3:
		n = 216;
		memset(out, 0, n);
		memcpy(out, "/run/lb.sock", 12);
		return n;
	}
	return 0;
}

enum crc_mode { CRC_NONE, CRC_GOOD, CRC_BAD, CRC_TWICE };

/* A version 2 header: signature, ver_cmd, fam, length (len_delta added
   to the true one), addresses, tlvs, an optional CRC32C TLV last. */
static size_t v2_build(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *tlvs,
		       size_t tlv_len, enum crc_mode crc, int len_delta)
{
	size_t n = 16, body, crc_at = 0;

	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	n += (ver_cmd & 0xf) == 1 ? v2_addresses(fam, out + n) : 0;
	if (tlv_len > 0)
		memcpy(out + n, tlvs, tlv_len);
	n += tlv_len;
	for (int k = 0; k < (crc == CRC_TWICE ? 2 : crc != CRC_NONE ? 1 : 0); k++) {
		memcpy(out + n, "\x03\x00\x04\x00\x00\x00\x00", 7);
		crc_at = n + 3;
		n += 7;
	}
	body = (size_t)((long)(n - 16) + len_delta);
	out[14] = (uint8_t)(body >> 8);
	out[15] = (uint8_t)body;
	if (crc != CRC_NONE) {
		uint32_t c = proxy_crc32c(0, out, n) ^ (crc == CRC_BAD ? 1u : 0u);

		out[crc_at] = (uint8_t)(c >> 24), out[crc_at + 1] = (uint8_t)(c >> 16);
		out[crc_at + 2] = (uint8_t)(c >> 8), out[crc_at + 3] = (uint8_t)c;
	}
	return n;
}

struct v2_case {
	const char *name;
	uint8_t ver_cmd, fam;
	const char *tlvs;
	size_t tlv_len;
	enum crc_mode crc;
	int len_delta;       /* the length field against the bytes built */
	enum proxy_parse_status want;
	enum proxy_kind kind;
	unsigned int tlv_count;
};

#define TLV(s) s, sizeof(s) - 1
#define NO_TLV "", 0

static const struct v2_case v2_cases[] = {
	{ "inet", 0x21, 0x11, NO_TLV, CRC_NONE, 0, PROXY_PARSE_OK, PROXY_KIND_TCP4, 0 },
	{ "inet6", 0x21, 0x21, NO_TLV, CRC_NONE, 0, PROXY_PARSE_OK, PROXY_KIND_TCP6, 0 },
	{ "inet, transport unspec", 0x21, 0x10, NO_TLV, CRC_NONE, 0, PROXY_PARSE_OK,
	  PROXY_KIND_TCP4, 0 },
	{ "local", 0x20, 0x00, NO_TLV, CRC_NONE, 0, PROXY_PARSE_OK, PROXY_KIND_LOCAL, 0 },
	{ "local with bytes", 0x20, 0x11, TLV("\x01\x02\x03\x04\x05"), CRC_NONE, 0,
	  PROXY_PARSE_OK, PROXY_KIND_LOCAL, 0 },
	{ "proxy unspec", 0x21, 0x00, NO_TLV, CRC_NONE, 0, PROXY_PARSE_OK,
	  PROXY_KIND_UNKNOWN, 0 },
	{ "unix", 0x21, 0x31, NO_TLV, CRC_NONE, 0, PROXY_PARSE_OK, PROXY_KIND_UNKNOWN, 0 },
	{ "unix, short", 0x21, 0x31, NO_TLV, CRC_NONE, -1, PROXY_PARSE_ERROR, 0, 0 },
	{ "inet, short", 0x21, 0x11, NO_TLV, CRC_NONE, -1, PROXY_PARSE_ERROR, 0, 0 },
	{ "inet6, short", 0x21, 0x21, NO_TLV, CRC_NONE, -1, PROXY_PARSE_ERROR, 0, 0 },
	{ "inet6 claimed as inet", 0x21, 0x11, TLV("\x04\x00\x15" "123456789012345678901"),
	  CRC_NONE, 0, PROXY_PARSE_OK, PROXY_KIND_TCP4, 1 },
	{ "version 1 nibble", 0x11, 0x11, NO_TLV, CRC_NONE, 0, PROXY_PARSE_ERROR, 0, 0 },
	{ "version 3", 0x31, 0x11, NO_TLV, CRC_NONE, 0, PROXY_PARSE_ERROR, 0, 0 },
	{ "command 2", 0x22, 0x11, NO_TLV, CRC_NONE, 0, PROXY_PARSE_ERROR, 0, 0 },
	{ "command 15", 0x2f, 0x11, NO_TLV, CRC_NONE, 0, PROXY_PARSE_ERROR, 0, 0 },
	{ "family 4", 0x21, 0x41, NO_TLV, CRC_NONE, 0, PROXY_PARSE_ERROR, 0, 0 },
	{ "transport 3", 0x21, 0x13, NO_TLV, CRC_NONE, 0, PROXY_PARSE_ERROR, 0, 0 },
	{ "inet dgram", 0x21, 0x12, NO_TLV, CRC_NONE, 0, PROXY_PARSE_ERROR, 0, 0 },
	{ "tlv noop", 0x21, 0x11, TLV("\x04\x00\x02xx"), CRC_NONE, 0, PROXY_PARSE_OK,
	  PROXY_KIND_TCP4, 1 },
	{ "tlv empty", 0x21, 0x11, TLV("\x04\x00\x00"), CRC_NONE, 0, PROXY_PARSE_OK,
	  PROXY_KIND_TCP4, 1 },
	{ "tlvs, authority and ssl", 0x21, 0x21,
	  TLV("\x02\x00\x0bpop.example\x20\x00\x05\x01\x00\x00\x00\x00"), CRC_NONE, 0,
	  PROXY_PARSE_OK, PROXY_KIND_TCP6, 2 },
	{ "tlv overruns", 0x21, 0x11, TLV("\x04\x00\x03xx"), CRC_NONE, 0, PROXY_PARSE_ERROR,
	  0, 0 },
	{ "tlv header cut after 1", 0x21, 0x11, TLV("\x04"), CRC_NONE, 0, PROXY_PARSE_ERROR,
	  0, 0 },
	{ "tlv header cut after 2", 0x21, 0x11, TLV("\x04\x00"), CRC_NONE, 0,
	  PROXY_PARSE_ERROR, 0, 0 },
	{ "tlv length 65535", 0x21, 0x11, TLV("\x04\xff\xff"), CRC_NONE, 0,
	  PROXY_PARSE_ERROR, 0, 0 },
	{ "crc good", 0x21, 0x11, NO_TLV, CRC_GOOD, 0, PROXY_PARSE_OK, PROXY_KIND_TCP4, 1 },
	{ "crc good after tlv", 0x21, 0x21, TLV("\x04\x00\x01x"), CRC_GOOD, 0,
	  PROXY_PARSE_OK, PROXY_KIND_TCP6, 2 },
	{ "crc bad", 0x21, 0x11, NO_TLV, CRC_BAD, 0, PROXY_PARSE_ERROR, 0, 0 },
	{ "crc twice", 0x21, 0x11, NO_TLV, CRC_TWICE, 0, PROXY_PARSE_ERROR, 0, 0 },
	{ "crc length 3", 0x21, 0x11, TLV("\x03\x00\x03xyz"), CRC_NONE, 0, PROXY_PARSE_ERROR,
	  0, 0 },
	{ "crc length 5", 0x21, 0x11, TLV("\x03\x00\x05xyzzy"), CRC_NONE, 0,
	  PROXY_PARSE_ERROR, 0, 0 },
};

START_TEST(test_v2_table)
{
	const struct v2_case *c = &v2_cases[_i];
	static const size_t steps[] = { 0, 1, 3, 16 };
	uint8_t buf[4096];
	size_t n = v2_build(buf, c->ver_cmd, c->fam, (const uint8_t *)c->tlvs, c->tlv_len,
			    c->crc, c->len_delta);

	memcpy(buf + n, CLIENT, sizeof(CLIENT) - 1);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct proxy_parser p;
		size_t used;
		const char *error;
		enum proxy_parse_status st = feed(&p, buf, n + sizeof(CLIENT) - 1, steps[k],
						  &used, &error);

		ck_assert_msg(st == c->want, "%s step %zu: status %d, want %d (%s)", c->name,
			      steps[k], st, c->want, error != NULL ? error : "");
		if (st == PROXY_PARSE_OK) {
			/* a short length field makes the header end early */
			ck_assert_uint_eq(used, (size_t)((long)n + c->len_delta));
			ck_assert_uint_eq(p.hdr.version, 2);
			ck_assert_int_eq(p.hdr.kind, c->kind);
			ck_assert_uint_eq(p.hdr.tlv_count, c->tlv_count);
		} else {
			ck_assert_ptr_nonnull(error);
			ck_assert_uint_le(used, n + sizeof(CLIENT) - 1);
		}
	}
}
END_TEST

START_TEST(test_v2_addresses)
{
	struct proxy_parser p;
	uint8_t buf[512];
	size_t n = v2_build(buf, 0x21, 0x11, NULL, 0, CRC_NONE, 0), used;
	const char *error;

	ck_assert_int_eq(feed(&p, buf, n, 0, &used, &error), PROXY_PARSE_OK);
	ck_assert_uint_eq(used, 28);
	ck_assert_mem_eq(p.hdr.src_addr, "\x0a\x00\x00\x01", 4);
	ck_assert_mem_eq(p.hdr.dst_addr, "\x0a\x00\x00\x02", 4);
	ck_assert_uint_eq(p.hdr.src_port, 1000);
	ck_assert_uint_eq(p.hdr.dst_port, 110);
	n = v2_build(buf, 0x21, 0x21, NULL, 0, CRC_GOOD, 0);
	ck_assert_int_eq(feed(&p, buf, n, 1, &used, &error), PROXY_PARSE_OK);
	ck_assert_uint_eq(used, 16 + 36 + 7);
	ck_assert_uint_eq(p.hdr.src_addr[0], 0x20);
	ck_assert_uint_eq(p.hdr.src_addr[15], 7);
	ck_assert_uint_eq(p.hdr.dst_addr[15], 1);
	ck_assert_uint_eq(p.hdr.src_port, 0xfffe);
	ck_assert_uint_eq(p.hdr.dst_port, 110);
}
END_TEST

/* Each of the 12 signature bytes, wrong, is refused right there. */
START_TEST(test_v2_wrong_signature)
{
	for (size_t i = 1; i < 12; i++) {
		struct proxy_parser p;
		uint8_t buf[64];
		size_t n = v2_build(buf, 0x21, 0x11, NULL, 0, CRC_NONE, 0), used;
		const char *error;

		buf[i] ^= 0x20;
		ck_assert_int_eq(feed(&p, buf, n, 0, &used, &error), PROXY_PARSE_ERROR);
		ck_assert_uint_eq(used, i + 1);
	}
}
END_TEST

START_TEST(test_v2_length_bound)
{
	static uint8_t tlvs[PROXY_V2_MAX_LEN];
	uint8_t buf[PROXY_V2_MAX_LEN + 64];
	size_t tlv_len = PROXY_V2_MAX_LEN - 12, n, used;
	struct proxy_parser p;
	const char *error;

	/* one NOOP TLV filling the body exactly to the limit */
	tlvs[0] = 0x04;
	tlvs[1] = (uint8_t)((tlv_len - 3) >> 8);
	tlvs[2] = (uint8_t)(tlv_len - 3);
	n = v2_build(buf, 0x21, 0x11, tlvs, tlv_len, CRC_NONE, 0);
	ck_assert_uint_eq(n, 16 + PROXY_V2_MAX_LEN);
	ck_assert_int_eq(feed(&p, buf, n, 0, &used, &error), PROXY_PARSE_OK);
	ck_assert_uint_eq(used, n);
	/* one byte more is refused at the length field, before the body */
	tlvs[2]++;
	n = v2_build(buf, 0x21, 0x11, tlvs, tlv_len + 1, CRC_NONE, 0);
	ck_assert_int_eq(feed(&p, buf, n, 0, &used, &error), PROXY_PARSE_ERROR);
	ck_assert_uint_eq(used, 16);
	/* the largest length field, LOCAL too */
	n = v2_build(buf, 0x20, 0x00, NULL, 0, CRC_NONE, 0xffff);
	ck_assert_int_eq(feed(&p, buf, n, 0, &used, &error), PROXY_PARSE_ERROR);
	ck_assert_uint_eq(used, 16);
}
END_TEST

START_TEST(test_v2_truncations)
{
	uint8_t buf[512];
	size_t n = v2_build(buf, 0x21, 0x21, (const uint8_t *)"\x04\x00\x02xx", 5, CRC_GOOD, 0);

	for (size_t k = 0; k < n; k++) {
		struct proxy_parser p;
		size_t used;
		const char *error;

		ck_assert_int_eq(feed(&p, buf, k, 0, &used, &error), PROXY_PARSE_NEED_MORE);
		ck_assert_uint_eq(used, k);
	}
}
END_TEST

/* Corrupting any one byte of a CRC-protected header is noticed. */
START_TEST(test_v2_crc_any_byte)
{
	uint8_t good[512];
	size_t n = v2_build(good, 0x21, 0x11, (const uint8_t *)"\x04\x00\x02xx", 5, CRC_GOOD, 0);

	ck_assert_uint_eq(proxy_crc32c(0, "123456789", 9), 0xe3069283u);
	for (size_t i = 0; i < n; i++) {
		struct proxy_parser p;
		uint8_t buf[512];
		size_t used;
		const char *error;

		/* LOCAL (0x21 -> 0x20) skips the body unread; the CRC TLV's
		   own type byte, as another type, is skipped too */
		if (i == 12 || i == n - 7)
			continue;
		memcpy(buf, good, n);
		buf[i] ^= 0x01;
		ck_assert_msg(feed(&p, buf, n, 0, &used, &error) != PROXY_PARSE_OK,
			      "byte %zu flipped still accepted", i);
	}
}
END_TEST

START_TEST(test_fed_after_done)
{
	struct proxy_parser p;
	size_t used;
	const char *error;

	ck_assert_int_eq(feed(&p, BYTES("PROXY UNKNOWN\r\n"), 0, &used, &error), PROXY_PARSE_OK);
	ck_assert_int_eq(proxy_parse_feed(&p, "USER", 4, &used, &error), PROXY_PARSE_OK);
	ck_assert_uint_eq(used, 0);
	ck_assert_str_eq(proxy_kind_name(PROXY_KIND_LOCAL), "local");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proxy_parse");
	TCase *tc = tcase_create("proxy_parse");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_v1_table, 0, (int)(sizeof(v1_cases) / sizeof(v1_cases[0])));
	tcase_add_test(tc, test_v1_addresses);
	tcase_add_test(tc, test_v1_truncations);
	tcase_add_loop_test(tc, test_v2_table, 0, (int)(sizeof(v2_cases) / sizeof(v2_cases[0])));
	tcase_add_test(tc, test_v2_addresses);
	tcase_add_test(tc, test_v2_wrong_signature);
	tcase_add_test(tc, test_v2_length_bound);
	tcase_add_test(tc, test_v2_truncations);
	tcase_add_test(tc, test_v2_crc_any_byte);
	tcase_add_test(tc, test_fed_after_done);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
