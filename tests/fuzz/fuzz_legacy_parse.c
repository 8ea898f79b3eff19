/* libFuzzer harness for legacy_parse.c: any octets fed to the reader in
   pieces whose sizes come from the data (every call takes at most what it
   was given and makes progress or ends in error; a line is never longer
   than LEGACY_LINE_MAX and never holds a NUL or CR; the same input fed
   whole gives the same lines), and each line as a UIDL and a LIST line
   (a UIDL taken is 1..70 of 0x21..0x7e, a message number 1..max); the
   input as a legacy_pop3 address and as a header block
   (header_fp_migration()) and as items to match (legacy_match()) too. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "header_fp.h"
#include "legacy_match.h"
#include "legacy_parse.h"
#include "legacy_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_items(const struct legacy_line *l)
{
	char uidl[LEGACY_UIDL_MAX + 1];
	const char *error = NULL;
	uint32_t msg = 0;
	uint64_t sz;

	if (legacy_parse_uidl(l->text, l->len, 50, &msg, uidl, &error) == 0) {
		size_t n = strlen(uidl);

		if (n == 0 || n > LEGACY_UIDL_MAX || msg == 0 || msg > 50)
			abort();
		for (size_t i = 0; i < n; i++) {
			if (uidl[i] < 0x21 || uidl[i] > 0x7e)
				abort();
		}
	} else if (error == NULL) {
		abort();
	}
	error = NULL;
	if (legacy_parse_list(l->text, l->len, 50, &msg, &sz, &error) == 0) {
		if (msg == 0 || msg > 50 || sz > INT64_MAX)
			abort();
	} else if (error == NULL) {
		abort();
	}
}

/* Feeds data in pieces (piece 0: whole); a digest of the lines into h. */
static uint64_t run(const uint8_t *data, size_t size, bool multi, size_t piece, bool items)
{
	struct legacy_reader r;
	size_t pos = 0;
	uint64_t h = 1469598103934665603ull;

	legacy_reader_init(&r);
	legacy_reader_expect(&r, multi);
	while (pos < size) {
		size_t n = piece == 0 || size - pos < piece ? size - pos : piece;
		size_t used;
		struct legacy_line l;
		enum legacy_line_kind k = legacy_reader_feed(&r, (const char *)data + pos, n, &used, &l);

		if (used > n || (used == 0 && k != LEGACY_LINE_ERROR))
			abort();
		pos += used;
		if (k == LEGACY_LINE_NEED_MORE) {
			if (used != n)
				abort();
			continue;
		}
		h = (h ^ (uint64_t)k) * 1099511628211ull;
		if (k == LEGACY_LINE_ERROR)
			break;
		if (l.len > LEGACY_LINE_MAX || memchr(l.text, '\0', l.len) != NULL ||
		    memchr(l.text, '\r', l.len) != NULL)
			abort();
		for (size_t i = 0; i < l.len; i++)
			h = (h ^ (uint8_t)l.text[i]) * 1099511628211ull;
		if (items)
			check_items(&l);
		if (k == LEGACY_LINE_END)
			legacy_reader_expect(&r, multi);
	}
	return h;
}

/* Items cut from the data (tiny hashes and sizes, so that they collide):
   every pair joins equal hashes, no old item is used twice, and the same
   input gives the same pairs. */
static void fuzz_match(const uint8_t *data, size_t size)
{
	static const char *const hashes[] = { "", "a", "b", "c" };
	struct legacy_match_item old[16], nw[16];
	size_t n_old = 0, n_new = 0, match[16], again[16], by_size, pairs;
	bool used[16] = { false };

	for (size_t i = 0; i < size && i < 32; i++) {
		struct legacy_match_item it = { .size = data[i] >> 4, .hash = hashes[data[i] & 3] };

		if ((data[i] & 4) != 0 && n_old < 16)
			old[n_old++] = it;
		else if (n_new < 16)
			nw[n_new++] = it;
	}
	pairs = legacy_match(old, n_old, nw, n_new, match, &by_size);
	if (pairs == SIZE_MAX)
		return;
	if (by_size > pairs || legacy_match(old, n_old, nw, n_new, again, &by_size) != pairs ||
	    memcmp(match, again, n_new * sizeof(*match)) != 0)
		abort();
	for (size_t j = 0; j < n_new; j++) {
		if (match[j] == LEGACY_MATCH_NONE)
			continue;
		if (match[j] >= n_old || used[match[j]] || nw[j].hash[0] == '\0' ||
		    strcmp(nw[j].hash, old[match[j]].hash) != 0)
			abort();
		used[match[j]] = true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool multi;
	size_t piece;

	struct legacy_url u;
	const char *error = NULL;

	if (size < 1)
		return 0;
	fuzz_match(data, size);
	{
		/* The header form stays within len + 2 and holds no white space
		   but its line ends. */
		char *out = malloc(size + 2);
		size_t n;

		if (out == NULL)
			return 0;
		n = header_fp_migration((const char *)data, size, out);
		if (n + 1 > size + 2 || out[n] != '\0')
			abort();
		for (size_t i = 0; i < n; i++) {
			if (out[i] == ' ' || out[i] == '\t' || out[i] == '\r' ||
			    (unsigned char)out[i] >= 0x80)
				abort();
		}
		free(out);
	}
	if (legacy_url_parse((const char *)data, size, &u, &error) == 0) {
		if (u.host[0] == '\0' || strlen(u.host) > LEGACY_URL_HOST_MAX || u.port == 0)
			abort();
	} else if (error == NULL) {
		abort();
	}
	multi = (data[0] & 1) != 0;
	piece = 1 + (data[0] >> 1);
	if (run(data + 1, size - 1, multi, 0, true) != run(data + 1, size - 1, multi, piece, false))
		abort();
	return 0;
}
