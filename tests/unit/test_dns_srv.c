/* SRV query and answer (proxy/tools/dns_srv.c): messages built byte by
   byte, broken every way a hostile or confused server could. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dns_srv.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NAME "_imaps._tcp.a.test"

struct msg {
	uint8_t b[4096];
	size_t len;
};

static void put(struct msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void put16(struct msg *m, unsigned int v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(m, x, 2);
}

static void put_name(struct msg *m, const char *dotted)
{
	while (*dotted != '\0') {
		const char *dot = strchr(dotted, '.');
		size_t l = dot != NULL ? (size_t)(dot - dotted) : strlen(dotted);
		uint8_t lb = (uint8_t)l;

		put(m, &lb, 1);
		put(m, dotted, l);
		dotted += l + (dot != NULL);
	}
	put(m, "", 1);
}

/* Header and question; flags 0x8180 (answer, RD, RA, NOERROR). */
static void start(struct msg *m, uint16_t id, unsigned int flags, unsigned int an)
{
	m->len = 0;
	put16(m, id);
	put16(m, flags);
	put16(m, 1);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
	put_name(m, NAME);
	put16(m, 33);
	put16(m, 1);
}

/* One SRV record whose owner points at the question (offset 12). */
static void srv(struct msg *m, unsigned int prio, unsigned int weight, unsigned int port,
		const char *target)
{
	struct msg t = { .len = 0 };

	put_name(&t, target);
	put16(m, 0xc00c);
	put16(m, 33);
	put16(m, 1);
	put16(m, 0);
	put16(m, 300);
	put16(m, 6 + (unsigned int)t.len);
	put16(m, prio);
	put16(m, weight);
	put16(m, port);
	put(m, t.b, t.len);
}

static enum dns_srv_result parse(const struct msg *m, struct dns_srv *out, size_t *n)
{
	/* A copy of the exact length: ASan sees any read past the end. */
	uint8_t *copy = malloc(m->len + 1);
	enum dns_srv_result r;

	memcpy(copy, m->b, m->len);
	r = dns_srv_parse(copy, m->len, 0x1234, NAME, out, n);
	free(copy);
	return r;
}

START_TEST(query_bytes)
{
	uint8_t q[DNS_QUERY_MAX];
	size_t len = dns_srv_query(q, sizeof(q), 0xabcd, "_imap._tcp.x.y");
	static const uint8_t want[] = {
		0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		5, '_', 'i', 'm', 'a', 'p', 4, '_', 't', 'c', 'p', 1, 'x', 1, 'y', 0,
		0, 33, 0, 1,
	};

	ck_assert_uint_eq(len, sizeof(want));
	ck_assert(memcmp(q, want, len) == 0);
}
END_TEST

START_TEST(query_refused)
{
	static const char *const names[] = {
		"", ".", "a..b", "a.", ".a",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b",  /* 64 */
	};
	uint8_t q[DNS_QUERY_MAX];

	ck_assert_uint_eq(dns_srv_query(q, sizeof(q), 1, names[_i]), 0);
}
END_TEST

START_TEST(answer_sorted)
{
	struct msg m;
	struct dns_srv r[DNS_SRV_MAX];
	size_t n;

	start(&m, 0x1234, 0x8180, 4);
	srv(&m, 20, 0, 993, "late.a.test");
	srv(&m, 10, 5, 994, "light.a.test");
	srv(&m, 10, 50, 995, "Heavy.A.test");
	srv(&m, 0, 0, 0, "");
	ck_assert_int_eq(parse(&m, r, &n), DNS_SRV_OK);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(r[0].target, "");
	ck_assert_uint_eq(r[0].port, 0);
	ck_assert_str_eq(r[1].target, "Heavy.A.test");
	ck_assert_uint_eq(r[1].port, 995);
	ck_assert_str_eq(r[2].target, "light.a.test");
	ck_assert_str_eq(r[3].target, "late.a.test");
	ck_assert_uint_eq(r[3].priority, 20);
}
END_TEST

START_TEST(answer_compressed_target_and_other_types)
{
	struct msg m;
	struct dns_srv r[DNS_SRV_MAX];
	size_t n;

	start(&m, 0x1234, 0x8180, 2);
	/* a CNAME first, skipped */
	put16(&m, 0xc00c);
	put16(&m, 5);
	put16(&m, 1);
	put16(&m, 0);
	put16(&m, 60);
	put16(&m, 2);
	put16(&m, 0xc00c);
	/* the target "mx" + pointer to "a.test" inside the question (offset
	   12 + 7 + 5 = 24) */
	put16(&m, 0xc00c);
	put16(&m, 33);
	put16(&m, 1);
	put16(&m, 0);
	put16(&m, 60);
	put16(&m, 6 + 3 + 2);
	put16(&m, 1);
	put16(&m, 1);
	put16(&m, 993);
	put(&m, "\x02mx", 3);
	put16(&m, 0xc000 | 24);
	ck_assert_int_eq(parse(&m, r, &n), DNS_SRV_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(r[0].target, "mx.a.test");
}
END_TEST

START_TEST(answer_keeps_at_most_16)
{
	struct msg m;
	struct dns_srv r[DNS_SRV_MAX];
	size_t n;

	start(&m, 0x1234, 0x8180, 40);
	for (int i = 0; i < 40; i++)
		srv(&m, (unsigned int)i, 0, 993, "mx.a.test");
	ck_assert_int_eq(parse(&m, r, &n), DNS_SRV_OK);
	ck_assert_uint_eq(n, DNS_SRV_MAX);
}
END_TEST

enum breakage {
	B_ID, B_QUERY, B_OPCODE, B_TC, B_NXDOMAIN, B_SERVFAIL, B_REFUSED, B_QD0, B_QD2,
	B_OTHER_NAME, B_OTHER_QTYPE, B_SELF_POINTER, B_FORWARD_POINTER, B_LABEL_TYPE,
	B_NUL_IN_LABEL, B_RDLEN_PAST_END, B_TARGET_PAST_RDATA, B_SHORT_RDATA_SKIPPED,
	B_MORE_ANSWERS_THAN_SENT, B_SHORT_HEADER, B_LONG_NAME, B_SAME_NAME_OTHER_CASE,
};

static const struct {
	enum breakage how;
	enum dns_srv_result want;
	size_t count;
} broken[] = {
	{ B_ID, DNS_SRV_MALFORMED, 0 },
	{ B_QUERY, DNS_SRV_MALFORMED, 0 },
	{ B_OPCODE, DNS_SRV_MALFORMED, 0 },
	{ B_TC, DNS_SRV_TRUNCATED, 0 },
	{ B_NXDOMAIN, DNS_SRV_NXDOMAIN, 0 },
	{ B_SERVFAIL, DNS_SRV_SERVFAIL, 0 },
	{ B_REFUSED, DNS_SRV_SERVFAIL, 0 },
	{ B_QD0, DNS_SRV_MALFORMED, 0 },
	{ B_QD2, DNS_SRV_MALFORMED, 0 },
	{ B_OTHER_NAME, DNS_SRV_MALFORMED, 0 },
	{ B_OTHER_QTYPE, DNS_SRV_MALFORMED, 0 },
	{ B_SELF_POINTER, DNS_SRV_MALFORMED, 0 },
	{ B_FORWARD_POINTER, DNS_SRV_MALFORMED, 0 },
	{ B_LABEL_TYPE, DNS_SRV_MALFORMED, 0 },
	{ B_NUL_IN_LABEL, DNS_SRV_MALFORMED, 0 },
	{ B_RDLEN_PAST_END, DNS_SRV_MALFORMED, 0 },
	{ B_TARGET_PAST_RDATA, DNS_SRV_MALFORMED, 0 },
	{ B_SHORT_RDATA_SKIPPED, DNS_SRV_OK, 0 },
	{ B_MORE_ANSWERS_THAN_SENT, DNS_SRV_MALFORMED, 0 },
	{ B_SHORT_HEADER, DNS_SRV_MALFORMED, 0 },
	{ B_LONG_NAME, DNS_SRV_MALFORMED, 0 },
	{ B_SAME_NAME_OTHER_CASE, DNS_SRV_OK, 1 },
};

START_TEST(broken_answers)
{
	struct msg m;
	struct dns_srv r[DNS_SRV_MAX];
	size_t n = 99;
	enum breakage how = broken[_i].how;

	start(&m, 0x1234, 0x8180, 1);
	switch (how) {
	case B_ID:
		m.b[1] ^= 1;
		break;
	case B_QUERY:
		m.b[2] &= 0x7f;
		break;
	case B_OPCODE:
		m.b[2] |= 0x10;
		break;
	case B_TC:
		m.b[2] |= 0x02;
		break;
	case B_NXDOMAIN:
		m.b[3] = 0x83;
		break;
	case B_SERVFAIL:
		m.b[3] = 0x82;
		break;
	case B_REFUSED:
		m.b[3] = 0x85;
		break;
	case B_QD0:
		m.b[5] = 0;
		break;
	case B_QD2:
		m.b[5] = 2;
		break;
	case B_OTHER_NAME:
		m.b[13 + 1] = 'X';     /* "_Xmaps" */
		break;
	case B_SAME_NAME_OTHER_CASE:
		m.b[13 + 1] = 'I';
		break;
	case B_OTHER_QTYPE:
		m.b[m.len - 3] = 1;
		break;
	default:
		break;
	}
	switch (how) {
	case B_SELF_POINTER:
		m.len = 12;
		put16(&m, 0xc00c);       /* the question's name points at itself */
		put16(&m, 33);
		put16(&m, 1);
		break;
	case B_FORWARD_POINTER:
		put16(&m, 0xc000 | (unsigned int)(m.len + 2));
		put16(&m, 33);
		put16(&m, 1);
		put16(&m, 0);
		put16(&m, 60);
		put16(&m, 0);
		break;
	case B_LABEL_TYPE:
		put(&m, "\x41x\0", 3);
		break;
	case B_NUL_IN_LABEL:
		m.len = 12;
		put(&m, "\x03" "a\0b\x04test\0\0\x21\0\x01", 14);
		break;
	case B_RDLEN_PAST_END:
		srv(&m, 1, 1, 993, "mx.a.test");
		m.b[m.len - 19] = 0xff;  /* rdlength's high byte */
		break;
	case B_TARGET_PAST_RDATA:
		srv(&m, 1, 1, 993, "mx.a.test");
		m.b[m.len - 18] = 9;     /* rdlength 9 of 17: the target runs over */
		break;
	case B_SHORT_RDATA_SKIPPED:
		put16(&m, 0xc00c);
		put16(&m, 33);
		put16(&m, 1);
		put16(&m, 0);
		put16(&m, 60);
		put16(&m, 3);
		put(&m, "abc", 3);
		break;
	case B_MORE_ANSWERS_THAN_SENT:
		m.b[7] = 2;
		srv(&m, 1, 1, 993, "mx.a.test");
		break;
	case B_SHORT_HEADER:
		m.len = 11;
		break;
	case B_LONG_NAME:
		m.b[7] = 1;
		put16(&m, 0xc00c);
		put16(&m, 33);
		put16(&m, 1);
		put16(&m, 0);
		put16(&m, 60);
		put16(&m, 6 + 5 * 64 + 1);
		put16(&m, 1);
		put16(&m, 1);
		put16(&m, 993);
		for (int i = 0; i < 5; i++) {
			put(&m, "\x3f", 1);
			for (int j = 0; j < 63; j++)
				put(&m, "x", 1);
		}
		put(&m, "", 1);
		break;
	default:
		srv(&m, 1, 1, 993, "mx.a.test");
		break;
	}
	ck_assert_int_eq(parse(&m, r, &n), broken[_i].want);
	if (broken[_i].want == DNS_SRV_OK)
		ck_assert_uint_eq(n, broken[_i].count);
}
END_TEST

/* Every prefix of a good answer: never OK with a record cut short. */
START_TEST(byte_at_a_time)
{
	struct msg m, part;
	struct dns_srv r[DNS_SRV_MAX];
	size_t n;

	start(&m, 0x1234, 0x8180, 2);
	srv(&m, 1, 1, 993, "one.a.test");
	srv(&m, 2, 1, 143, "two.a.test");
	for (size_t len = 0; len < m.len; len++) {
		memcpy(part.b, m.b, len);
		part.len = len;
		ck_assert_int_eq(parse(&part, r, &n), DNS_SRV_MALFORMED);
	}
	ck_assert_int_eq(parse(&m, r, &n), DNS_SRV_OK);
	ck_assert_uint_eq(n, 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dns_srv");
	TCase *tc = tcase_create("dns_srv");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, query_bytes);
	tcase_add_loop_test(tc, query_refused, 0, 6);
	tcase_add_test(tc, answer_sorted);
	tcase_add_test(tc, answer_compressed_target_and_other_types);
	tcase_add_test(tc, answer_keeps_at_most_16);
	tcase_add_loop_test(tc, broken_answers, 0, (int)N(broken));
	tcase_add_test(tc, byte_at_a_time);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
