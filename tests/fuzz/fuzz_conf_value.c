/*
 * libFuzzer harness for the configuration value parsers.
 *
 * Input: bytes 0-3 = a limit (little endian) for uint/duration/msecs,
 * byte 4 = host buffer size; the rest, cut at the first NUL, is the value.
 * Every parser sees every value. Each result is checked against a plain
 * re-implementation of the grammar, and what a parser accepts must
 * round-trip: printed back and parsed again, it gives the same value.
 */

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf_value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_conf_value: %s: '%s'\n", what, s);
	abort();
}

/* Digits of s[0..n) as a number, saturating well above 32 bits. */
static unsigned long long fuzz_number(const char *s, size_t n)
{
	unsigned long long v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		v = v * 10 + (unsigned long long)(s[i] - '0');
		if (v > 1ULL << 50)
			return 1ULL << 50;
	}
	return v;
}

static size_t fuzz_span_digits(const char *s)
{
	return strspn(s, "0123456789");
}

static void fuzz_uint(const char *s, unsigned int max)
{
	const char *error = NULL;
	unsigned int min = max / 3, v = 0;
	size_t n = fuzz_span_digits(s);
	bool want = n > 0 && s[n] == '\0' &&
		fuzz_number(s, n) >= min && fuzz_number(s, n) <= max;
	int ret = conf_parse_uint(s, min, max, &v, &error);

	if ((ret == 0) != want)
		fuzz_fail("uint disagrees", s);
	if (ret < 0 && error == NULL)
		fuzz_fail("uint: no error", s);
	if (ret == 0 && v != fuzz_number(s, n))
		fuzz_fail("uint: wrong value", s);
}

static void fuzz_scaled(const char *s, unsigned int max, bool msecs)
{
	static const char *const dur_units[] = { "", "s", "m", "h", "d", NULL };
	static const unsigned long long dur_mult[] = { 1, 1, 60, 3600, 86400 };
	static const char *const ms_units[] = { "", "ms", "s", "m", "h", "d",
						NULL };
	static const unsigned long long ms_mult[] = { 1, 1, 1000, 60000,
						      3600000, 86400000 };
	const char *const *units = msecs ? ms_units : dur_units;
	const unsigned long long *mult = msecs ? ms_mult : dur_mult;
	const char *error = NULL;
	size_t n = fuzz_span_digits(s);
	unsigned int v = 0, i;
	bool want = false;
	unsigned long long expect = 0;
	int ret;

	ret = msecs ? conf_parse_msecs(s, max, &v, &error) :
		conf_parse_duration(s, max, &v, &error);
	for (i = 0; n > 0 && units[i] != NULL; i++) {
		unsigned long long num = fuzz_number(s, n);

		if (strcmp(s + n, units[i]) != 0)
			continue;
		/* num saturates above 32 bits, so this stays exact. */
		want = num <= max / mult[i];
		if (want)
			expect = num * mult[i];
	}
	if ((ret == 0) != want)
		fuzz_fail(msecs ? "msecs disagrees" : "duration disagrees", s);
	if (ret < 0 && error == NULL)
		fuzz_fail("scaled: no error", s);
	if (ret == 0 && v != expect)
		fuzz_fail("scaled: wrong value", s);
}

static void fuzz_bool(const char *s)
{
	const char *error = NULL;
	bool v;

	if (conf_parse_bool(s, &v, &error) == 0) {
		char again[8];
		bool w;

		/* Whatever was accepted is one of the eight words. */
		if (strlen(s) > 5)
			fuzz_fail("bool: long word accepted", s);
		snprintf(again, sizeof(again), "%s", v ? "yes" : "no");
		if (conf_parse_bool(again, &w, &error) != 0 || w != v)
			fuzz_fail("bool: round trip", s);
	} else if (error == NULL) {
		fuzz_fail("bool: no error", s);
	}
}

static void fuzz_enum(const char *s)
{
	static const char *const names[] = { "error", "warn", "info", "debug",
					     NULL };
	const char *error = NULL;
	unsigned int idx = 99;

	if (conf_parse_enum(s, names, &idx, &error) == 0) {
		if (idx > 3 || strcasecmp(s, names[idx]) != 0)
			fuzz_fail("enum: wrong index", s);
	} else if (error == NULL || idx != 99) {
		fuzz_fail("enum: error not clean", s);
	}
}

/* Host text a parser hands out: name or numeric address characters. */
static bool fuzz_host_chars(const char *h)
{
	return h[0] != '\0' &&
		strspn(h, "abcdefghijklmnopqrstuvwxyz"
		       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.:") == strlen(h);
}

static void fuzz_hostport(const char *s, size_t host_size)
{
	char host[300], again[320], host2[300];
	const char *error = NULL;
	uint16_t port = 0, port2 = 0;
	size_t slen;
	int ret;

	memset(host, 'Z', sizeof(host));
	ret = conf_parse_hostport(s, host, host_size, &port, &error);
	if (ret < 0) {
		if (error == NULL)
			fuzz_fail("hostport: no error", s);
		return;
	}
	slen = strnlen(host, host_size);
	if (slen == host_size)
		fuzz_fail("hostport: host not terminated in its buffer", s);
	if (host_size < sizeof(host) && host[host_size] != 'Z')
		fuzz_fail("hostport: wrote past the buffer", s);
	if (!fuzz_host_chars(host) || port == 0)
		fuzz_fail("hostport: bad result", s);
	if (strchr(s, ' ') != NULL || strchr(s, '_') != NULL)
		fuzz_fail("hostport: accepted space or underscore", s);

	snprintf(again, sizeof(again), strchr(host, ':') ? "[%s]:%u" : "%s:%u",
		 host, port);
	if (conf_parse_hostport(again, host2, sizeof(host2), &port2,
				&error) != 0 ||
	    strcmp(host, host2) != 0 || port != port2)
		fuzz_fail("hostport: round trip", s);
	if (strcmp(host, "::") != 0 && strchr(host, ':') == NULL &&
	    conf_parse_host(host, &error) != 0)
		fuzz_fail("hostport host refused by conf_parse_host", s);
}

static void fuzz_host(const char *s)
{
	const char *error = NULL;

	if (conf_parse_host(s, &error) == 0) {
		if (!fuzz_host_chars(s))
			fuzz_fail("host: odd character accepted", s);
	} else if (error == NULL) {
		fuzz_fail("host: no error", s);
	}
}

/* An accepted endpoint is https://, or http:// to a loopback host, and
   holds no space, control character, '#', '"' or '\\'. */
static void fuzz_endpoint(const char *s)
{
	const char *error = NULL;

	if (conf_parse_endpoint(s, &error) != 0) {
		if (error == NULL)
			fuzz_fail("endpoint: no error", s);
		return;
	}
	if (strncmp(s, "https://", 8) != 0 &&
	    strncmp(s, "http://127.0.0.1", 16) != 0 && strncmp(s, "http://[::1]", 12) != 0 &&
	    strncmp(s, "http://localhost", 16) != 0)
		fuzz_fail("endpoint: not https, not loopback", s);
	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("#\"\\", *p) != NULL)
			fuzz_fail("endpoint: odd character accepted", s);
	}
}

static void fuzz_port(const char *s)
{
	const char *error = NULL;
	uint16_t port = 0;
	char again[8];

	if (conf_parse_port(s, &port, &error) != 0) {
		if (error == NULL || port != 0)
			fuzz_fail("port: error not clean", s);
		return;
	}
	if (port == 0)
		fuzz_fail("port: zero accepted", s);
	/* Leading zeros are the only other spelling. */
	snprintf(again, sizeof(again), "%u", port);
	if (strcmp(s + strspn(s, "0"), again) != 0)
		fuzz_fail("port: round trip", s);
}

static void fuzz_cidr(const char *s, const uint8_t *addr)
{
	const char *error = NULL;
	struct conf_cidr c;

	if (conf_parse_cidr(s, &c, &error) != 0) {
		if (error == NULL)
			fuzz_fail("cidr: no error", s);
		return;
	}
	if (c.family != AF_INET && c.family != AF_INET6)
		fuzz_fail("cidr: bad family", s);
	if (c.prefix > (c.family == AF_INET ? 32u : 128u))
		fuzz_fail("cidr: prefix too long", s);
	/* The block's own address always matches; matching never reads past
	   the address whatever the input. */
	if (!conf_cidr_match(&c, c.family, c.addr))
		fuzz_fail("cidr: own address does not match", s);
	(void)conf_cidr_match(&c, AF_INET, addr);
	(void)conf_cidr_match(&c, AF_INET6, addr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int max;
	size_t host_size;
	char *s;

	if (size < 5)
		return 0;
	max = (unsigned int)data[0] | (unsigned int)data[1] << 8 |
		(unsigned int)data[2] << 16 | (unsigned int)data[3] << 24;
	host_size = data[4] == 0 ? 256 : data[4];
	s = malloc(size - 5 + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data + 5, size - 5);
	s[size - 5] = '\0';

	fuzz_bool(s);
	fuzz_uint(s, max);
	fuzz_uint(s, 4294967295u);
	fuzz_scaled(s, max, false);
	fuzz_scaled(s, max, true);
	fuzz_scaled(s, 4294967295u, false);
	fuzz_enum(s);
	fuzz_port(s);
	fuzz_host(s);
	fuzz_endpoint(s);
	fuzz_hostport(s, host_size);
	{
		uint8_t addr[16] = { 0 };

		memcpy(addr, data, size < 16 ? size : 16);
		fuzz_cidr(s, addr);
	}
	free(s);
	return 0;
}
