/* The session's maildrop; contracts in maildrop.h. */

#include "maildrop.h"

#include <stdlib.h>
#include <string.h>

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
	d->msgs[d->count++] = (struct pop3_msg){ .uid = uid, .size = size };
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
		d->msgs[out++] = d->msgs[i];
	}
	d->count = out;
	free(d->exists);
	d->exists = NULL;
	d->exists_count = d->exists_cap = 0;
	return removed;
}

void pop3_maildrop_visible(const struct pop3_maildrop *d, unsigned int *count_r,
			   uint64_t *size_r)
{
	unsigned int count = 0;
	uint64_t size = 0;

	for (unsigned int i = 0; i < d->count; i++) {
		if ((d->msgs[i].flags & POP3_MSG_DELETED) == 0) {
			count++;
			size += d->msgs[i].size;
		}
	}
	*count_r = count;
	*size_r = size;
}

unsigned int pop3_maildrop_marked(const struct pop3_maildrop *d)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < d->count; i++)
		n += (d->msgs[i].flags & POP3_MSG_DELETED) != 0;
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
		if ((d->msgs[i].flags & POP3_MSG_DELETED) != 0)
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

int pop3_maildrop_set_uidl(struct pop3_maildrop *d, struct pop3_msg *m, const char *uidl,
			   size_t len)
{
	if (len == 0 || len > POP3_UIDL_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (uidl[i] < 0x21 || uidl[i] > 0x7e)
			return -1;
	}
	if (d->pool_cap - d->pool_len < len + 1) {
		size_t cap = d->pool_cap < 1024 ? 4096 : d->pool_cap * 2;
		char *pool;

		/* 2,000,000 messages of 71 octets stay far below 4 GB. */
		while (cap - d->pool_len < len + 1)
			cap *= 2;
		if (cap > UINT32_MAX || (pool = realloc(d->pool, cap)) == NULL)
			return -1;
		d->pool = pool;
		d->pool_cap = cap;
	}
	memcpy(d->pool + d->pool_len, uidl, len);
	d->pool[d->pool_len + len] = '\0';
	m->uidl = (uint32_t)d->pool_len + 1;
	d->pool_len += len + 1;
	return 0;
}

size_t pop3_maildrop_uidl(const struct pop3_maildrop *d, const struct pop3_msg *m,
			  char *buf)
{
	static const char hex[] = "0123456789abcdef";

	if (m->uidl != 0) {
		size_t n = strlen(d->pool + m->uidl - 1);

		memcpy(buf, d->pool + m->uidl - 1, n + 1);
		return n;
	}
	for (int i = 0; i < 8; i++) {
		buf[i] = hex[(m->uid >> (28 - 4 * i)) & 0xf];
		buf[8 + i] = hex[(d->uidvalidity >> (28 - 4 * i)) & 0xf];
	}
	buf[16] = '\0';
	return 16;
}
