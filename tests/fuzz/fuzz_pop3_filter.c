/*
 * libFuzzer harness for the RETR/TOP output filter.
 *
 * Input: byte 0 seeds the fragmentation, byte 1 selects a TOP limit
 * (bit 7 set: limit = low 5 bits, applied between header and body),
 * byte 2 places the header/body split, the rest is the message.
 * The filter's output for whole fragments and for random fragmentations is
 * compared with each other and with a naive one-octet-at-a-time model, and
 * checked for the POP3 framing invariants.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_filter.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

struct model {
	bool line_start, prev_cr, limited;
	uint64_t lines_left;
};

/* Obviously-correct reference: one decision per octet. */
static size_t model_run(struct model *m, const uint8_t *in, size_t len,
			uint8_t *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (m->limited && m->lines_left == 0)
			break;
		if (m->line_start && c == '.')
			out[n++] = '.';
		m->line_start = false;
		if (c == '\n') {
			if (!m->prev_cr)
				out[n++] = '\r';
			out[n++] = '\n';
			m->line_start = true;
			if (m->limited)
				m->lines_left--;
		} else {
			out[n++] = c;
		}
		m->prev_cr = c == '\r';
	}
	return n;
}

static size_t model_finish(struct model *m, uint8_t *out)
{
	size_t n = 0;

	/* A message ending in a lone CR: that CR is out, the LF completes it. */
	if (!m->line_start) {
		if (!m->prev_cr)
			out[n++] = '\r';
		out[n++] = '\n';
	}
	memcpy(out + n, ".\r\n", 3);
	return n + 3;
}

static uint32_t rng_next(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

/* Feeds in whole (seed NULL) or in random pieces, where an odd seed
   passes each piece's clean start as it is (pop3_filter_clean, as RETR
   does); out has room for 2 * len + 16 octets, enough for any
   fragmentation. */
static size_t feed(struct pop3_filter *f, const uint8_t *in, size_t len,
		   uint32_t *seed, uint8_t *out)
{
	size_t pos = 0, n_out = 0;

	do {
		size_t n = len - pos;

		if (seed != NULL)
			n = rng_next(seed) % (n < 17 ? n + 1 : 17);
		if (seed != NULL && (*seed & 1) != 0) {
			size_t clean = pop3_filter_clean(f, in + pos, n);

			CHECK(clean <= n);
			memcpy(out + n_out, in + pos, clean);
			n_out += clean;
			pos += clean;
			n -= clean;
		}
		n_out += pop3_filter_run(f, in + pos, n, out + n_out);
		pos += n;
	} while (pos < len);
	return n_out;
}

static size_t filter_all(const uint8_t *hdr, size_t hlen, const uint8_t *body,
			 size_t blen, int limit, uint32_t *seed, uint8_t *out,
			 struct pop3_filter *f)
{
	size_t n;

	pop3_filter_init(f);
	n = feed(f, hdr, hlen, seed, out);
	if (limit >= 0)
		pop3_filter_limit_lines(f, (uint64_t)limit);
	n += feed(f, body, blen, seed, out + n);
	CHECK(f->wire_octets == n);
	return n + pop3_filter_finish(f, out + n);
}

static void check_framing(const uint8_t *out, size_t len,
			  const struct pop3_filter *f)
{
	size_t i, stuffed = 0;

	CHECK(len >= 3 && memcmp(out + len - 3, ".\r\n", 3) == 0);
	CHECK(len == 3 || (out[len - 5] == '\r' && out[len - 4] == '\n'));
	for (i = 0; i < len; i++) {
		if (out[i] == '\n')
			CHECK(i > 0 && out[i - 1] == '\r');
		if ((i == 0 || out[i - 1] == '\n') && out[i] == '.' &&
		    i != len - 3) {
			/* A client unstuffs one dot: anything else on a
			   line starting with '.' would end the response. */
			CHECK(i + 1 < len && out[i + 1] == '.');
			stuffed++;
		}
	}
	CHECK(f->wire_octets - f->octets == stuffed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_filter fw, fc;
	struct model m = { true, false, false, 0 };
	const uint8_t *msg;
	size_t len, hlen, cap, n_whole, n_cut, n_ref;
	uint8_t *whole, *cut, *ref;
	uint32_t seed;
	int limit;

	if (size < 3)
		return 0;
	seed = data[0];
	limit = (data[1] & 0x80) ? data[1] & 0x1f : -1;
	msg = data + 3;
	len = size - 3;
	hlen = len * data[2] / 255;

	cap = 2 * len + 16;
	whole = malloc(cap);
	cut = malloc(cap);
	ref = malloc(cap);
	CHECK(whole != NULL && cut != NULL && ref != NULL);

	n_whole = filter_all(msg, hlen, msg + hlen, len - hlen, limit, NULL,
			     whole, &fw);
	n_cut = filter_all(msg, hlen, msg + hlen, len - hlen, limit, &seed,
			   cut, &fc);
	CHECK(n_whole <= cap && n_cut <= cap);
	CHECK(n_whole == n_cut && memcmp(whole, cut, n_whole) == 0);
	CHECK(fw.octets == fc.octets && fw.wire_octets == fc.wire_octets);
	CHECK(pop3_filter_limit_reached(&fw) == pop3_filter_limit_reached(&fc));

	n_ref = model_run(&m, msg, hlen, ref);
	if (limit >= 0) {
		m.limited = true;
		m.lines_left = (uint64_t)limit;
	}
	n_ref += model_run(&m, msg + hlen, len - hlen, ref + n_ref);
	n_ref += model_finish(&m, ref + n_ref);
	CHECK(n_ref == n_whole && memcmp(ref, whole, n_ref) == 0);

	check_framing(whole, n_whole, &fw);
	if (limit < 0)
		CHECK(fw.octets >= len);
	free(whole);
	free(cut);
	free(ref);
	return 0;
}
