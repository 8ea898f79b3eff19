/* libFuzzer harness for uidl.c: the uidl_format parser and the forms it
   accepts applied to any input (a result is 1..70 octets of 0x21..0x7e,
   NUL-terminated, or nothing), the header MD5 input (bounded by its
   buffer), and uniqueness over slots cut from the data (afterwards every
   non-empty UIDL differs from every other, and a second pass changes
   nothing), and a dump line: four non-empty fields, a valid UIDL. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uidl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_uidl(const char *s, size_t n)
{
	if (n > UIDL_LEN || s[n] != '\0')
		abort();
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e)
			abort();
	}
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fuzz_unique(const uint8_t *data, size_t size)
{
	struct uidl_slot slots[32];
	char *sorted[32];
	size_t n = 0, used = 0;
	uint32_t uid = 0;

	/* Slots of up to 4 octets each, from a small alphabet so that they
	   collide; uids ascending with gaps taken from the data. */
	for (size_t i = 0; i + 1 < size && n < 32; i += 5) {
		struct uidl_slot *s = &slots[n++];
		size_t len = data[i] % 5;

		memset(s, 0, sizeof(*s));
		uid += 1 + (data[i + 1] & 3);
		s->uid = uid;
		s->fresh = (data[i] & 0x80) != 0;
		for (size_t k = 0; k < len && i + 1 + k < size; k++)
			s->uidl[k] = (char)('a' + data[i + 1 + k] % 3);
	}
	if (uidl_unique(slots, n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		check_uidl(slots[i].uidl, strlen(slots[i].uidl));
		if (slots[i].uidl[0] != '\0')
			sorted[used++] = slots[i].uidl;
	}
	qsort(sorted, used, sizeof(*sorted), cmp);
	for (size_t i = 1; i < used; i++) {
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			abort();
	}
	if (uidl_unique(slots, n) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uidl_format f;
	const char *error = NULL;
	char buf[UIDL_LEN + 1], out[512];
	size_t cut = size > 0 ? data[0] % (size + 1) : 0;

	if (uidl_format_parse((const char *)data, cut, &f, &error) == 0) {
		struct uidl_input in = {
			.uid = size, .uidvalidity = (uint32_t)cut * 2654435761u,
			.md5 = "0123456789abcdef0123456789abcdef",
			.guid = "guid-of-the-message", .gmid = (uint64_t)size << 40,
		};
		size_t n;

		if (f.kind == UIDL_TEMPLATE && strlen(f.tmpl) != cut)
			abort();
		n = uidl_format_apply(&f, &in, buf);
		if (n > 0)
			check_uidl(buf, n);
	} else if (error == NULL) {
		abort();
	}
	if (uidl_md5_input((const char *)data, size, out, sizeof(out)) > sizeof(out) + 1)
		abort();
	fuzz_unique(data, size);
	{
		struct uidl_dump_line l;
		int r = uidl_dump_parse((const char *)data, size, &l, &error);

		if (r == 0) {
			check_uidl(l.uidl, strlen(l.uidl));
			if (l.uidl[0] == '\0' || l.address[0] == '\0' || l.message_id[0] == '\0' ||
			    l.size > INT64_MAX)
				abort();
		} else if (r != 1 && r != -1) {
			abort();
		}
	}
	return 0;
}
