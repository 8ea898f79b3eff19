/* SRV query and answer; contracts in dns_srv.h. */

#include "dns_srv.h"

#include <string.h>

#include "text.h"

#define DNS_TYPE_SRV 33
#define DNS_CLASS_IN 1
#define DNS_HEADER 12

size_t dns_srv_query(uint8_t *buf, size_t size, uint16_t id, const char *name)
{
	size_t pos = DNS_HEADER, nlen = strlen(name);
	const char *p = name;

	if (nlen == 0 || nlen > DNS_NAME_MAX || size < DNS_QUERY_MAX)
		return 0;
	memset(buf, 0, DNS_HEADER);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01;          /* RD */
	buf[5] = 1;             /* QDCOUNT */
	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);

		if (l == 0 || l > 63)
			return 0;
		buf[pos++] = (uint8_t)l;
		memcpy(buf + pos, p, l);
		pos += l;
		p += l;
		if (*p == '.' && *++p == '\0')
			return 0;
	}
	buf[pos++] = 0;
	buf[pos++] = 0;
	buf[pos++] = DNS_TYPE_SRV;
	buf[pos++] = 0;
	buf[pos++] = DNS_CLASS_IN;
	return pos;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * The name at msg[*pos] into out (dotted, lower-case kept as sent),
 * *pos past it in the record. -1 when broken. Pointers must point before
 * the place they are read from, so no loop is possible.
 */
static int dns_name(const uint8_t *msg, size_t len, size_t *pos, char *out)
{
	size_t p = *pos, olen = 0, limit = *pos;
	int jumped = 0;

	for (;;) {
		uint8_t l;

		if (p >= len)
			return -1;
		l = msg[p];
		if ((l & 0xc0) == 0xc0) {
			size_t to;

			if (p + 1 >= len)
				return -1;
			to = (size_t)(l & 0x3f) << 8 | msg[p + 1];
			if (to >= limit)
				return -1;
			if (!jumped)
				*pos = p + 2;
			jumped = 1;
			limit = to;
			p = to;
			continue;
		}
		if ((l & 0xc0) != 0)
			return -1;
		if (l == 0) {
			if (!jumped)
				*pos = p + 1;
			out[olen] = '\0';
			return 0;
		}
		if (p + 1 + l > len || olen + l + (olen > 0) > DNS_NAME_MAX)
			return -1;
		if (olen > 0)
			out[olen++] = '.';
		for (size_t i = 0; i < l; i++) {
			char c = (char)msg[p + 1 + i];

			/* A NUL or dot inside a label cannot be a host name. */
			if (c == '\0' || c == '.')
				return -1;
			out[olen++] = c;
		}
		p += 1 + (size_t)l;
	}
}

static void dns_srv_sort(struct dns_srv *srv, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct dns_srv r = srv[i];
		size_t j = i;

		while (j > 0 && (srv[j - 1].priority > r.priority ||
				 (srv[j - 1].priority == r.priority &&
				  srv[j - 1].weight < r.weight))) {
			srv[j] = srv[j - 1];
			j--;
		}
		srv[j] = r;
	}
}

enum dns_srv_result dns_srv_parse(const uint8_t *msg, size_t len, uint16_t id,
				  const char *name, struct dns_srv *srv, size_t *count_r)
{
	char owner[DNS_NAME_MAX + 1];
	size_t pos = DNS_HEADER, n = 0;
	unsigned int qd, an, rcode;

	*count_r = 0;
	if (len < DNS_HEADER || get16(msg) != id || (msg[2] & 0x80) == 0 ||
	    (msg[2] & 0x78) != 0)
		return DNS_SRV_MALFORMED;
	if ((msg[2] & 0x02) != 0)
		return DNS_SRV_TRUNCATED;
	rcode = msg[3] & 0x0f;
	qd = get16(msg + 4);
	an = get16(msg + 6);
	if (qd != 1)
		return DNS_SRV_MALFORMED;
	if (dns_name(msg, len, &pos, owner) < 0 || pos + 4 > len ||
	    !ascii_eq(owner, strlen(owner), name) || get16(msg + pos) != DNS_TYPE_SRV ||
	    get16(msg + pos + 2) != DNS_CLASS_IN)
		return DNS_SRV_MALFORMED;
	pos += 4;
	if (rcode == 3)
		return DNS_SRV_NXDOMAIN;
	if (rcode != 0)
		return DNS_SRV_SERVFAIL;
	for (unsigned int i = 0; i < an; i++) {
		uint16_t type, class, rdlen;
		size_t rd;

		if (dns_name(msg, len, &pos, owner) < 0 || pos + 10 > len)
			return DNS_SRV_MALFORMED;
		type = get16(msg + pos);
		class = get16(msg + pos + 2);
		rdlen = get16(msg + pos + 8);
		pos += 10;
		if (pos + rdlen > len)
			return DNS_SRV_MALFORMED;
		rd = pos;
		pos += rdlen;
		/* A CNAME on the way is followed by the resolver; only the
		   SRV records themselves count. */
		if (type != DNS_TYPE_SRV || class != DNS_CLASS_IN)
			continue;
		if (rdlen < 7 || n == DNS_SRV_MAX)
			continue;
		srv[n].priority = get16(msg + rd);
		srv[n].weight = get16(msg + rd + 2);
		srv[n].port = get16(msg + rd + 4);
		rd += 6;
		/* The target must end inside the record. */
		if (dns_name(msg, pos, &rd, srv[n].target) < 0 || rd != pos)
			return DNS_SRV_MALFORMED;
		n++;
	}
	dns_srv_sort(srv, n);
	*count_r = n;
	return DNS_SRV_OK;
}
