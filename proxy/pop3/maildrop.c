/* The session's maildrop; contracts in maildrop.h. */

#include "maildrop.h"

#include <stdio.h>
#include <stdlib.h>

struct pop3_maildrop *pop3_maildrop_new(uint32_t uidvalidity, uint32_t uidnext,
					unsigned int expect)
{
	struct pop3_maildrop *d;

	if (expect > POP3_MAX_MESSAGES || (d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->uidvalidity = uidvalidity;
	d->uidnext = uidnext;
	if (expect > 0 && (d->msgs = malloc(expect * sizeof(*d->msgs))) == NULL) {
		free(d);
		return NULL;
	}
	d->cap = expect;
	return d;
}

void pop3_maildrop_free(struct pop3_maildrop **d)
{
	if (*d == NULL)
		return;
	free((*d)->msgs);
	free(*d);
	*d = NULL;
}

int pop3_maildrop_add(struct pop3_maildrop *d, uint32_t uid, uint64_t size)
{
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
	/* RFC 3501 servers send UIDNEXT; this is for those that do not. */
	if (d->count > 0 && d->uidnext <= d->msgs[d->count - 1].uid)
		d->uidnext = d->msgs[d->count - 1].uid + 1;
	if (d->uidnext == 0)
		d->uidnext = 1;
}

bool pop3_uid_in(const uint32_t *sorted, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sorted[mid] == uid)
			return true;
		if (sorted[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

unsigned int pop3_maildrop_narrow(struct pop3_maildrop *d, const uint32_t *hidden,
				  size_t hidden_n, const uint32_t *hidden_all,
				  size_t hidden_all_n, uint32_t first_uid)
{
	unsigned int out = 0, removed = 0;

	for (unsigned int i = 0; i < d->count; i++) {
		uint32_t uid = d->msgs[i].uid;

		if (uid < first_uid || pop3_uid_in(hidden, hidden_n, uid) ||
		    pop3_uid_in(hidden_all, hidden_all_n, uid)) {
			removed++;
			continue;
		}
		d->msgs[out++] = d->msgs[i];
	}
	d->count = out;
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

size_t pop3_maildrop_uidl(const struct pop3_maildrop *d, const struct pop3_msg *m,
			  char *buf)
{
	return (size_t)snprintf(buf, POP3_UIDL_MAX + 1, "%08x%08x", m->uid, d->uidvalidity);
}
