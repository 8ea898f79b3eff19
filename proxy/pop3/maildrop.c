/* The session's maildrop; contracts in maildrop.h. */

#include "maildrop.h"

#include <stdlib.h>
#include <string.h>

/* ---- side tables: uid -> value, for what few messages have ---- */

static bool side_find(const struct pop3_side *t, uint32_t uid, unsigned int *pos_r)
{
	unsigned int lo = 0, hi = t->count;

	/* Filled in UID order mostly: the last one first. */
	if (t->count > 0 && t->uids[t->count - 1] < uid) {
		*pos_r = t->count;
		return false;
	}
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (t->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos_r = lo;
	return lo < t->count && t->uids[lo] == uid;
}

static bool side_get(const struct pop3_side *t, uint32_t uid, uint64_t *val_r)
{
	unsigned int pos;

	if (!side_find(t, uid, &pos))
		return false;
	*val_r = t->vals[pos];
	return true;
}

static int side_set(struct pop3_side *t, uint32_t uid, uint64_t val)
{
	unsigned int pos;

	if (side_find(t, uid, &pos)) {
		t->vals[pos] = val;
		return 0;
	}
	if (t->count == t->cap) {
		unsigned int cap = t->cap < 8 ? 16 : t->cap + t->cap / 2;
		uint32_t *uids;
		uint64_t *vals;

		if (t->cap >= POP3_MAX_MESSAGES)
			return -1;
		if (cap > POP3_MAX_MESSAGES)
			cap = POP3_MAX_MESSAGES;
		if ((uids = realloc(t->uids, cap * sizeof(*uids))) == NULL)
			return -1;
		t->uids = uids;
		if ((vals = realloc(t->vals, cap * sizeof(*vals))) == NULL)
			return -1;
		t->vals = vals;
		t->cap = cap;
	}
	memmove(t->uids + pos + 1, t->uids + pos, (t->count - pos) * sizeof(*t->uids));
	memmove(t->vals + pos + 1, t->vals + pos, (t->count - pos) * sizeof(*t->vals));
	t->uids[pos] = uid;
	t->vals[pos] = val;
	t->count++;
	return 0;
}

static void side_del(struct pop3_side *t, uint32_t uid)
{
	unsigned int pos;

	if (!side_find(t, uid, &pos))
		return;
	t->count--;
	memmove(t->uids + pos, t->uids + pos + 1, (t->count - pos) * sizeof(*t->uids));
	memmove(t->vals + pos, t->vals + pos + 1, (t->count - pos) * sizeof(*t->vals));
}

/* Keeps the entries of the drop's messages (both ascending). */
static void side_retain(struct pop3_side *t, const struct pop3_msg *msgs, unsigned int n)
{
	unsigned int out = 0, j = 0;

	for (unsigned int i = 0; i < t->count; i++) {
		while (j < n && msgs[j].uid < t->uids[i])
			j++;
		if (j < n && msgs[j].uid == t->uids[i]) {
			t->uids[out] = t->uids[i];
			t->vals[out++] = t->vals[i];
		}
	}
	t->count = out;
}

static void side_free(struct pop3_side *t)
{
	free(t->uids);
	free(t->vals);
	*t = (struct pop3_side){ 0 };
}

/* ---- sizes ---- */

uint64_t pop3_msg_size(const struct pop3_maildrop *d, const struct pop3_msg *m)
{
	uint64_t size;

	if (m->size32 != POP3_MSG_SIZE_BIG || !side_get(&d->big, m->uid, &size))
		return m->size32;
	return size;
}

uint64_t pop3_msg_upstream_size(const struct pop3_maildrop *d, const struct pop3_msg *m)
{
	uint64_t delta = 0;

	side_get(&d->delta, m->uid, &delta);
	return pop3_msg_size(d, m) - delta;
}

static int pop3_msg_set_size(struct pop3_maildrop *d, struct pop3_msg *m, uint64_t size)
{
	if (size >= POP3_MSG_SIZE_BIG) {
		if (side_set(&d->big, m->uid, size) < 0)
			return -1;
		m->size32 = POP3_MSG_SIZE_BIG;
		return 0;
	}
	side_del(&d->big, m->uid);
	m->size32 = (uint32_t)size;
	return 0;
}

int pop3_maildrop_set_exact(struct pop3_maildrop *d, struct pop3_msg *m, uint64_t exact)
{
	uint64_t upstream = pop3_msg_upstream_size(d, m);
	int64_t delta;

	if (exact > INT64_MAX || upstream > INT64_MAX)
		return -1;
	delta = (int64_t)exact - (int64_t)upstream;
	if (delta < INT32_MIN || delta > INT32_MAX)
		return -1;
	if (delta == 0)
		side_del(&d->delta, m->uid);
	else if (side_set(&d->delta, m->uid, (uint64_t)delta) < 0)
		return -1;
	if (pop3_msg_set_size(d, m, exact) < 0) {
		/* back to what it was: the old size stays, so does its delta */
		if (side_set(&d->delta, m->uid, pop3_msg_size(d, m) - upstream) < 0)
			side_del(&d->delta, m->uid);
		return -1;
	}
	return 0;
}

/* ---- marks ---- */

/* Bitmap k's bit of message i (0 where the bitmap is not there). */
static bool pop3_mark_get(const struct pop3_maildrop *d, unsigned int k, size_t i)
{
	return i / 64 < d->mark_words[k] && (d->marks[k][i / 64] >> (i % 64) & 1) != 0;
}

unsigned int pop3_msg_flags(const struct pop3_maildrop *d, const struct pop3_msg *m)
{
	size_t i = (size_t)(m - d->msgs);
	unsigned int flags = 0;

	for (unsigned int k = 0; k < POP3_MSG_FLAG_COUNT; k++) {
		if (pop3_mark_get(d, k, i))
			flags |= 1u << k;
	}
	return flags;
}

/* Sets or clears bit i of the bitmaps of flags that are there. */
static void pop3_msg_change(struct pop3_maildrop *d, size_t i, unsigned int flags, bool on)
{
	for (unsigned int k = 0; k < POP3_MSG_FLAG_COUNT; k++) {
		if ((flags & (1u << k)) == 0 || i / 64 >= d->mark_words[k])
			continue;
		if (on)
			d->marks[k][i / 64] |= UINT64_C(1) << (i % 64);
		else
			d->marks[k][i / 64] &= ~(UINT64_C(1) << (i % 64));
	}
}

int pop3_msg_mark(struct pop3_maildrop *d, const struct pop3_msg *m, unsigned int flags)
{
	unsigned int words = (d->count + 63) / 64;

	/* Each kind's bitmap comes with its first mark: most sessions
	   never DELE, and none is needed to list. */
	for (unsigned int k = 0; k < POP3_MSG_FLAG_COUNT; k++) {
		uint64_t *map;

		if ((flags & (1u << k)) == 0 || d->mark_words[k] >= words)
			continue;
		if ((map = realloc(d->marks[k], (size_t)words * sizeof(*map))) == NULL)
			return -1;
		memset(map + d->mark_words[k], 0, (words - d->mark_words[k]) * sizeof(*map));
		d->marks[k] = map;
		d->mark_words[k] = words;
	}
	pop3_msg_change(d, (size_t)(m - d->msgs), flags, true);
	return 0;
}

void pop3_msg_unmark(struct pop3_maildrop *d, const struct pop3_msg *m, unsigned int flags)
{
	pop3_msg_change(d, (size_t)(m - d->msgs), flags, false);
}

void pop3_maildrop_unmark_all(struct pop3_maildrop *d, unsigned int flags)
{
	for (unsigned int k = 0; k < POP3_MSG_FLAG_COUNT; k++) {
		if ((flags & (1u << k)) != 0 && d->marks[k] != NULL)
			memset(d->marks[k], 0, d->mark_words[k] * sizeof(uint64_t));
	}
}

/* ---- the drop ---- */

struct pop3_maildrop *pop3_maildrop_new(uint32_t uidvalidity, uint32_t uidnext,
					unsigned int expect)
{
	struct pop3_maildrop *d;

	if (expect > POP3_MAX_MESSAGES || (d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->uidvalidity = uidvalidity;
	d->uidnext = uidnext;
	if (expect > 0 && ((d->msgs = malloc(expect * sizeof(*d->msgs))) == NULL ||
			   (d->exists = malloc(expect * sizeof(*d->exists))) == NULL)) {
		free(d->msgs);
		free(d);
		return NULL;
	}
	d->cap = expect;
	d->exists_cap = expect;
	return d;
}

void pop3_maildrop_free(struct pop3_maildrop **d)
{
	if (*d == NULL)
		return;
	free((*d)->exists);
	free((*d)->msgs);
	for (unsigned int k = 0; k < POP3_MSG_FLAG_COUNT; k++)
		free((*d)->marks[k]);
	side_free(&(*d)->big);
	side_free(&(*d)->delta);
	side_free(&(*d)->uidls);
	free((*d)->pool);
	free(*d);
	*d = NULL;
}

int pop3_maildrop_add_gone(struct pop3_maildrop *d, uint32_t uid)
{
	if (d->exists_count == d->exists_cap) {
		/* As for the messages, below. */
		unsigned int cap = d->exists_cap < 32 ? 64 : d->exists_cap + d->exists_cap / 2;
		uint32_t *exists;

		if (d->exists_count >= POP3_MAX_MESSAGES)
			return -1;
		if (cap > POP3_MAX_MESSAGES)
			cap = POP3_MAX_MESSAGES;
		exists = realloc(d->exists, cap * sizeof(*exists));
		if (exists == NULL)
			return -1;
		d->exists = exists;
		d->exists_cap = cap;
	}
	d->exists[d->exists_count++] = uid;
	return 0;
}

int pop3_maildrop_add(struct pop3_maildrop *d, uint32_t uid, uint64_t size)
{
	if (pop3_maildrop_add_gone(d, uid) < 0)
		return -1;
	if (d->count == d->cap) {
		/* Sized from EXISTS up front; this only runs when more FETCH
		   responses come than EXISTS announced. */
		unsigned int cap = d->cap < 32 ? 64 : d->cap + d->cap / 2;
		struct pop3_msg *msgs;

		if (d->count >= POP3_MAX_MESSAGES)
			return -1;
		if (cap > POP3_MAX_MESSAGES)
			cap = POP3_MAX_MESSAGES;
		msgs = realloc(d->msgs, cap * sizeof(*msgs));
		if (msgs == NULL)
			return -1;
		d->msgs = msgs;
		d->cap = cap;
	}
	d->msgs[d->count] = (struct pop3_msg){ .uid = uid };
	if (pop3_msg_set_size(d, &d->msgs[d->count], size) < 0)
		return -1;
	d->count++;
	return 0;
}

static int pop3_msg_cmp(const void *a, const void *b)
{
	const struct pop3_msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int pop3_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void pop3_exists_finish(struct pop3_maildrop *d)
{
	unsigned int out = 0;
	bool sorted = true;

	for (unsigned int i = 1; i < d->exists_count && sorted; i++)
		sorted = d->exists[i - 1] < d->exists[i];
	if (sorted)
		return;
	qsort(d->exists, d->exists_count, sizeof(*d->exists), pop3_uid_cmp);
	for (unsigned int i = 0; i < d->exists_count; i++) {
		if (out == 0 || d->exists[out - 1] != d->exists[i])
			d->exists[out++] = d->exists[i];
	}
	d->exists_count = out;
}

void pop3_maildrop_finish(struct pop3_maildrop *d)
{
	unsigned int out = 0;
	bool sorted = true;

	/* Servers answer a UID range in UID order; nothing requires it. */
	for (unsigned int i = 1; i < d->count && sorted; i++)
		sorted = d->msgs[i - 1].uid < d->msgs[i].uid;
	if (!sorted) {
		qsort(d->msgs, d->count, sizeof(*d->msgs), pop3_msg_cmp);
		for (unsigned int i = 0; i < d->count; i++) {
			if (out == 0 || d->msgs[out - 1].uid != d->msgs[i].uid)
				d->msgs[out++] = d->msgs[i];
		}
		d->count = out;
	}
	pop3_exists_finish(d);
	/* RFC 3501 servers send UIDNEXT; this is for those that do not. */
	if (d->exists_count > 0 && d->uidnext <= d->exists[d->exists_count - 1])
		d->uidnext = d->exists[d->exists_count - 1] + 1;
	if (d->uidnext == 0)
		d->uidnext = 1;
	side_retain(&d->big, d->msgs, d->count);
}

unsigned int pop3_maildrop_narrow(struct pop3_maildrop *d, const uint8_t *hidden,
				  uint32_t first_uid)
{
	unsigned int out = 0, removed = 0, j = 0;

	/* Both ascending, the messages a subset of exists. */
	for (unsigned int i = 0; i < d->count; i++) {
		uint32_t uid = d->msgs[i].uid;

		while (j < d->exists_count && d->exists[j] < uid)
			j++;
		if (uid < first_uid ||
		    (hidden != NULL && j < d->exists_count && d->exists[j] == uid &&
		     hidden[j] != 0)) {
			removed++;
			continue;
		}
		if (out != i) {
			unsigned int flags = pop3_msg_flags(d, &d->msgs[i]);

			pop3_msg_change(d, out, POP3_MSG_DELETED | POP3_MSG_VANISHED |
					POP3_MSG_RETRIEVED, false);
			pop3_msg_change(d, out, flags, true);
		}
		d->msgs[out++] = d->msgs[i];
	}
	/* What moved down left its marks behind: none above the count. */
	for (unsigned int i = out; i < d->count; i++)
		pop3_msg_change(d, i, POP3_MSG_DELETED | POP3_MSG_VANISHED | POP3_MSG_RETRIEVED,
				false);
	d->count = out;
	side_retain(&d->big, d->msgs, d->count);
	side_retain(&d->delta, d->msgs, d->count);
	side_retain(&d->uidls, d->msgs, d->count);
	free(d->exists);
	d->exists = NULL;
	d->exists_count = d->exists_cap = 0;
	return removed;
}

size_t pop3_maildrop_extra_bytes(const struct pop3_maildrop *d)
{
	size_t side = (size_t)d->big.cap + d->delta.cap + d->uidls.cap;
	size_t words = 0;

	for (unsigned int k = 0; k < POP3_MSG_FLAG_COUNT; k++)
		words += d->mark_words[k];
	return words * sizeof(uint64_t) + side * (sizeof(uint32_t) + sizeof(uint64_t)) +
		d->pool_cap;
}

void pop3_maildrop_visible(const struct pop3_maildrop *d, unsigned int *count_r,
			   uint64_t *size_r)
{
	unsigned int count = 0;
	uint64_t size = 0;

	for (unsigned int i = 0; i < d->count; i++) {
		if ((pop3_msg_flags(d, &d->msgs[i]) & POP3_MSG_DELETED) == 0) {
			count++;
			size += pop3_msg_size(d, &d->msgs[i]);
		}
	}
	*count_r = count;
	*size_r = size;
}

unsigned int pop3_maildrop_marked(const struct pop3_maildrop *d)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < d->count; i++)
		n += (pop3_msg_flags(d, &d->msgs[i]) & POP3_MSG_DELETED) != 0;
	return n;
}

uint32_t *pop3_maildrop_marked_uids(const struct pop3_maildrop *d, size_t *n_r)
{
	size_t n = pop3_maildrop_marked(d);
	uint32_t *uids;

	*n_r = n;
	if (n == 0 || (uids = malloc(n * sizeof(*uids))) == NULL)
		return NULL;
	n = 0;
	for (unsigned int i = 0; i < d->count; i++) {
		if ((pop3_msg_flags(d, &d->msgs[i]) & POP3_MSG_DELETED) != 0)
			uids[n++] = d->msgs[i].uid;
	}
	return uids;
}

struct pop3_msg *pop3_maildrop_get(struct pop3_maildrop *d, unsigned int n)
{
	return n >= 1 && n <= d->count ? &d->msgs[n - 1] : NULL;
}

unsigned int pop3_maildrop_number(const struct pop3_maildrop *d, const struct pop3_msg *m)
{
	return (unsigned int)(m - d->msgs) + 1;
}

const struct pop3_msg *pop3_maildrop_by_uid(const struct pop3_maildrop *d, uint32_t uid)
{
	size_t lo = 0, hi = d->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->msgs[mid].uid == uid)
			return &d->msgs[mid];
		if (d->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Dovecot's default form: UID and UIDVALIDITY as 8 hex digits each. */
static size_t pop3_uidl_default(const struct pop3_maildrop *d, uint32_t uid, char *buf)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 8; i++) {
		buf[i] = hex[(uid >> (28 - 4 * i)) & 0xf];
		buf[8 + i] = hex[(d->uidvalidity >> (28 - 4 * i)) & 0xf];
	}
	buf[16] = '\0';
	return 16;
}

int pop3_maildrop_set_uidl(struct pop3_maildrop *d, struct pop3_msg *m, const char *uidl,
			   size_t len)
{
	char def[POP3_UIDL_MAX + 1];

	if (len == 0 || len > POP3_UIDL_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (uidl[i] < 0x21 || uidl[i] > 0x7e)
			return -1;
	}
	if (len == pop3_uidl_default(d, m->uid, def) && memcmp(uidl, def, len) == 0) {
		side_del(&d->uidls, m->uid);
		return 0;
	}
	if (d->pool_cap - d->pool_len < len + 1) {
		size_t cap = d->pool_cap < 256 ? 512 : d->pool_cap * 2;
		char *pool;

		/* 2,000,000 messages of 71 octets stay far below 4 GB. */
		while (cap - d->pool_len < len + 1)
			cap *= 2;
		if (cap > UINT32_MAX || (pool = realloc(d->pool, cap)) == NULL)
			return -1;
		d->pool = pool;
		d->pool_cap = cap;
	}
	if (side_set(&d->uidls, m->uid, d->pool_len) < 0)
		return -1;
	memcpy(d->pool + d->pool_len, uidl, len);
	d->pool[d->pool_len + len] = '\0';
	d->pool_len += len + 1;
	return 0;
}

size_t pop3_maildrop_uidl(const struct pop3_maildrop *d, const struct pop3_msg *m,
			  char *buf)
{
	uint64_t off;

	if (side_get(&d->uidls, m->uid, &off)) {
		size_t n = strlen(d->pool + off);

		memcpy(buf, d->pool + off, n + 1);
		return n;
	}
	return pop3_uidl_default(d, m->uid, buf);
}
