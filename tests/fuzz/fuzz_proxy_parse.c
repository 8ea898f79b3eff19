/*
 * libFuzzer harness for the PROXY protocol header scanner
 * (core/proxy_parse.c).
 *
 * Input: byte 0 picks the piece size (low 4 bits, 0 = all at once); the
 * rest is what a load balancer sends. The stream is scanned whole and in
 * pieces: both must agree on the status, the bytes consumed and the
 * header. A header is never read past its end, never longer than its
 * version allows, and a v1 address is one inet_ntop prints back.
 */

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_parse.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum proxy_parse_status scan(struct proxy_parser *p, const uint8_t *data, size_t size,
				    size_t step, size_t *used_r)
{
	enum proxy_parse_status st = PROXY_PARSE_NEED_MORE;
	size_t off = 0;
	const char *error = NULL;

	proxy_parser_init(p);
	while (off < size && st == PROXY_PARSE_NEED_MORE) {
		size_t n = step == 0 || step > size - off ? size - off : step, used = 0;

		st = proxy_parse_feed(p, data + off, n, &used, &error);
		CHECK(used <= n);
		CHECK(st != PROXY_PARSE_NEED_MORE || used == n);
		CHECK(st != PROXY_PARSE_ERROR || error != NULL);
		off += used;
	}
	*used_r = off;
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_parser whole, pieces;
	size_t used_whole, used_pieces, step;
	enum proxy_parse_status a, b;

	if (size < 1)
		return 0;
	step = data[0] & 0x0f;
	data++, size--;
	a = scan(&whole, data, size, 0, &used_whole);
	b = scan(&pieces, data, size, step, &used_pieces);
	CHECK(a == b);
	CHECK(used_whole == used_pieces);
	if (a != PROXY_PARSE_OK)
		return 0;
	CHECK(memcmp(&whole.hdr, &pieces.hdr, sizeof(whole.hdr)) == 0);
	if (whole.hdr.version == 1) {
		CHECK(used_whole <= PROXY_V1_MAX);
		CHECK(data[used_whole - 2] == '\r' && data[used_whole - 1] == '\n');
	} else {
		CHECK(whole.hdr.version == 2);
		CHECK(used_whole >= PROXY_V2_FIXED &&
		      used_whole <= PROXY_V2_FIXED + PROXY_V2_MAX_LEN);
		CHECK(used_whole == PROXY_V2_FIXED + ((size_t)data[14] << 8 | data[15]));
	}
	if (whole.hdr.kind == PROXY_KIND_TCP4 || whole.hdr.kind == PROXY_KIND_TCP6) {
		char text[INET6_ADDRSTRLEN];
		int family = whole.hdr.kind == PROXY_KIND_TCP4 ? AF_INET : AF_INET6;

		CHECK(inet_ntop(family, whole.hdr.src_addr, text, sizeof(text)) != NULL);
		CHECK(inet_ntop(family, whole.hdr.dst_addr, text, sizeof(text)) != NULL);
	}
	return 0;
}
