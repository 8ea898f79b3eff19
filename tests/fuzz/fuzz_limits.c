/* libFuzzer harness for the limits tables: the input is a sequence of
   operations on keys (a fixed pool and bytes from the input) against a
   cap of one to four entries per table. Connection counts are checked
   against a plain model; tables never pass the cap; delays never pass
   their cap and follow the failure count; all freed at the end (LSan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limits_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODEL_MAX 64
#define DYN_KEY_MAX (2 * LIMITS_KEY_MAX)

struct input {
	const uint8_t *p;
	size_t left;
};

struct model {
	char key[DYN_KEY_MAX + 1];
	unsigned int conns;
};

/* The last two: long keys that differ only past the stored bytes. */
static char long_a[LIMITS_KEY_MAX + 80], long_b[LIMITS_KEY_MAX + 80];
static const char *const pool[] = {
	"192.0.2.1", "192.0.2.10", "2001:db8::1", "", "\xff\x01\x7f", "alice", "alice/phone",
	long_a, long_b,
};

static void pool_init(void)
{
	if (long_a[0] != '\0')
		return;
	memset(long_a, 'k', sizeof(long_a) - 1);
	memcpy(long_b, long_a, sizeof(long_b));
	long_b[sizeof(long_b) - 2] = 'j';
}

static uint8_t next(struct input *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

static unsigned int next32(struct input *in)
{
	unsigned int v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | next(in);
	return v;
}

/* A key: from the pool, or up to DYN_KEY_MAX bytes of the input (NUL-free). */
static const char *next_key(struct input *in, char *buf)
{
	uint8_t k = next(in);
	size_t n;

	if (k < 0xf0)
		return pool[k % (sizeof(pool) / sizeof(pool[0]))];
	n = (size_t)next(in) * 3 % (DYN_KEY_MAX + 1);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = next(in);

		buf[i] = (char)(c != 0 ? c : 'x');
	}
	buf[n] = '\0';
	return buf;
}

static struct model *model_find(struct model *m, size_t *nm, const char *key, int add)
{
	for (size_t i = 0; i < *nm; i++) {
		if (strcmp(m[i].key, key) == 0)
			return &m[i];
	}
	if (!add || *nm == MODEL_MAX)
		return NULL;
	strcpy(m[*nm].key, key);
	m[*nm].conns = 0;
	return &m[(*nm)++];
}

static size_t model_open_keys(const struct model *m, size_t nm)
{
	size_t n = 0;

	for (size_t i = 0; i < nm; i++)
		n += m[i].conns > 0;
	return n;
}

static void check_tables(const struct limits *l, size_t cap, const struct model *m, size_t nm)
{
	size_t total = 0;

	for (int t = 0; t < LIMITS_TABLES; t++) {
		if (limits_table_entries(l, (enum limits_table_id)t) > cap)
			abort();
		total += limits_table_entries(l, (enum limits_table_id)t);
	}
	if (total != limits_entries(l) || total > LIMITS_TABLES * cap)
		abort();
	if (limits_table_entries(l, LIMITS_CONN) != model_open_keys(m, nm))
		abort();
	for (size_t i = 0; i < nm; i++) {
		if (limits_conn_count(l, m[i].key) != m[i].conns)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m[MODEL_MAX];
	static char kbuf[2][DYN_KEY_MAX + 1];
	struct input in = { data, size };
	size_t cap = (size_t)(next(&in) & 3) + 1, nm = 0;
	struct limits *l = limits_new(cap);
	struct limits_auth a;
	uint64_t now = 1000000;
	unsigned int failed = 0;

	if (l == NULL)
		abort();
	pool_init();
	limits_set_seed_for_tests(l, next(&in), 0x5eed);
	a.delay_ms = next(&in) * 10u;
	a.delay_max_ms = next(&in) * 100u;
	a.window_secs = next(&in) & 7;

	while (in.left > 0) {
		uint8_t op = next(&in);
		const char *k = next_key(&in, kbuf[0]);
		struct model *e;
		unsigned int r, max;

		now += op >> 4;
		switch (op & 7) {
		case 0:
			max = next(&in) & 3;
			e = model_find(m, &nm, k, 1);
			if (e == NULL)
				break;	/* the model is full: leave it alone */
			r = limits_conn_open(l, k, max);
			if (r != (e->conns > 0 ? max == 0 || e->conns < max
					       : model_open_keys(m, nm) < cap))
				abort();
			e->conns += r;
			break;
		case 1:
			/* a key outside the model was never opened: a no-op */
			e = model_find(m, &nm, k, 0);
			limits_conn_close(l, k);
			if (e != NULL && e->conns > 0)
				e->conns--;
			break;
		case 2: {
			const char *user = (op & 8) ? NULL : next_key(&in, kbuf[1]);
			unsigned int n;

			r = limits_auth_failed(l, k, user, &a, now);
			failed++;
			n = limits_auth_failures(l, k, user, &a, now);
			if (r > a.delay_max_ms || n > failed ||
			    r != limits_auth_delay(&a, n > 0 ? n : 1))
				abort();
			if (a.window_secs > 0 && n == 0)
				abort();
			break;
		}
		case 3:
			if (limits_auth_failures(l, k, (op & 8) ? NULL : k, &a, now) > failed)
				abort();
			break;
		case 4:
			limits_auth_succeeded(l, (op & 8) ? k : NULL, k);
			break;
		case 5:
			max = next(&in);
			if (limits_login_wait(l, k, max, now) > max)
				abort();
			break;
		case 6:
			limits_login_record(l, k, now);
			if (limits_login_wait(l, k, 1, now) != 1)
				abort();
			break;
		case 7:
			/* time passes (or the clock steps back); settings reload */
			if (op & 8)
				now += (uint64_t)next32(&in) % 20000;
			else
				now -= now > 100 ? 100 : 0;
			if ((op & 0x30) == 0x30) {
				a.delay_ms = next32(&in);
				a.delay_max_ms = next32(&in);
				a.window_secs = next(&in) & 15;
			}
			break;
		}
		check_tables(l, cap, m, nm);
	}
	for (size_t i = 0; i < nm; i++) {
		while (m[i].conns > 0) {
			limits_conn_close(l, m[i].key);
			m[i].conns--;
		}
	}
	if (limits_table_entries(l, LIMITS_CONN) != 0)
		abort();
	limits_free(&l);
	if (l != NULL)
		abort();
	return 0;
}
