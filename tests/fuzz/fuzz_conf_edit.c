/*
 * libFuzzer harness for editing popgate.conf as text (conf/conf_edit.c).
 *
 * Input: the first byte picks the section ([upstream] or [route a.test])
 * and, bit by bit, which keys are set; the rest is the file. Checked: an
 * edit succeeds or says why; the output is NUL-free where the input was;
 * the file's text before the section's header is copied unchanged; the
 * edited section is in the output once; editing the output again with the
 * same keys gives the same bytes (idempotent).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf_edit.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct conf_edit_kv all[] = {
		{ "host", "imap.example.test", 0 },
		{ "port", "993", 0 },
		{ "tls", "imaps", 0 },
		{ "verify", "yes", 1 },
		{ "ca_file", "", 0 },
		{ "login_name", "local-part", 0 },
	};
	struct conf_edit_kv kv[6];
	const char *section, *error = NULL;
	char *text, *out = NULL, *again = NULL;
	size_t n = 0, tlen, out_len, again_len;

	if (size < 1)
		return 0;
	section = (data[0] & 1) != 0 ? "route a.test" : "upstream";
	for (size_t i = 0; i < 6; i++) {
		if ((data[0] & (2u << i)) != 0 || i == 0)
			kv[n++] = all[i];
	}
	tlen = size - 1;
	text = malloc(tlen + 1);
	memcpy(text, data + 1, tlen);
	if (conf_edit_section(text, tlen, section, kv, n, &out, &out_len, &error) < 0) {
		CHECK(error != NULL && out == NULL);
		free(text);
		return 0;
	}
	CHECK(out != NULL && out[out_len] == '\0');
	CHECK(conf_edit_has_section(out, out_len, section));
	if (memchr(text, '\0', tlen) == NULL)
		CHECK(memchr(out, '\0', out_len) == NULL);
	CHECK(conf_edit_section(out, out_len, section, kv, n, &again, &again_len, &error) == 0);
	CHECK(again_len == out_len && memcmp(again, out, out_len) == 0);
	free(again);
	free(out);
	free(text);
	return 0;
}
