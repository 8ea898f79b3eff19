/* A kept listing; contracts in imap_listing.h. */

#include "imap_listing.h"

#include <stdlib.h>
#include <string.h>

#include "num.h"

/* Removed, until imap_listing_compact(): the UIDs stay, so a search for
   the next range still sees the order. */
#define IMAP_LISTING_GONE 0x40000000u

size_t imap_listing_bytes(size_t n)
{
	return sizeof(struct imap_listing) + n * sizeof(struct imap_listing_msg);
}

struct imap_listing *imap_listing_new(size_t max)
{
	struct imap_listing *l = calloc(1, sizeof(*l));

	if (l != NULL)
		l->max = max;
	return l;
}

void imap_listing_free(struct imap_listing **lp)
{
	if (*lp == NULL)
		return;
	free((*lp)->msgs);
	free(*lp);
	*lp = NULL;
}

void imap_listing_clear(struct imap_listing *l)
{
	l->uidvalidity = 0;
	l->uidnext = 0;
	l->has_modseq = false;
	l->highestmodseq = 0;
	l->has_dates = false;
	l->count = 0;
	l->sorted = 0;
}

static struct imap_listing_msg *imap_listing_search(struct imap_listing *l, size_t n,
						    uint32_t uid, size_t *pos_r)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos_r = lo;
	return lo < n && l->msgs[lo].uid == uid ? &l->msgs[lo] : NULL;
}

struct imap_listing_msg *imap_listing_find(struct imap_listing *l, uint32_t uid)
{
	struct imap_listing_msg *m;
	size_t pos;

	if ((m = imap_listing_search(l, l->sorted, uid, &pos)) != NULL)
		return m;
	for (size_t i = l->sorted; i < l->count; i++) {
		if (l->msgs[i].uid == uid)
			return &l->msgs[i];
	}
	return NULL;
}

int imap_listing_append(struct imap_listing *l, uint32_t uid, uint64_t size,
			unsigned int flags)
{
	if (l->count >= l->max)
		return -1;
	if (l->count == l->cap) {
		size_t cap = l->cap == 0 ? 64 : l->cap * 2;
		struct imap_listing_msg *msgs;

		if (cap > l->max)
			cap = l->max;
		msgs = realloc(l->msgs, cap * sizeof(*msgs));
		if (msgs == NULL)
			return -1;
		l->msgs = msgs;
		l->cap = cap;
	}
	l->msgs[l->count] = (struct imap_listing_msg){ .uid = uid, .size = size, .flags = flags };
	/* In order (as servers answer): the sorted part simply grows. */
	if (l->sorted == l->count && (l->count == 0 || l->msgs[l->count - 1].uid < uid))
		l->sorted++;
	l->count++;
	return 0;
}

void imap_listing_unmark(struct imap_listing *l)
{
	for (size_t i = 0; i < l->count; i++)
		l->msgs[i].flags &= ~IMAP_LISTING_MARK;
}

/* Removes the messages marked IMAP_LISTING_GONE. */
static size_t imap_listing_compact(struct imap_listing *l)
{
	size_t out = 0, sorted = 0;

	for (size_t i = 0; i < l->count; i++) {
		if ((l->msgs[i].flags & IMAP_LISTING_GONE) != 0)
			continue;
		if (i < l->sorted)
			sorted++;
		l->msgs[out++] = l->msgs[i];
	}
	size_t removed = l->count - out;

	l->count = out;
	l->sorted = sorted;
	return removed;
}

size_t imap_listing_drop_unmarked(struct imap_listing *l)
{
	for (size_t i = 0; i < l->count; i++) {
		if ((l->msgs[i].flags & IMAP_LISTING_MARK) == 0)
			l->msgs[i].flags |= IMAP_LISTING_GONE;
	}
	return imap_listing_compact(l);
}

static int imap_listing_cmp(const void *a, const void *b)
{
	const struct imap_listing_msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void imap_listing_sort(struct imap_listing *l)
{
	if (l->sorted < l->count)
		qsort(l->msgs, l->count, sizeof(l->msgs[0]), imap_listing_cmp);
	l->sorted = l->count;
}

/* One "n" or "n:m" at s[*pos]; its bounds in order. */
static int imap_listing_range(const char *s, size_t len, size_t *pos, uint32_t *lo_r,
			      uint32_t *hi_r)
{
	uint64_t a, b;

	if (num_scan_u64(s, len, pos, UINT32_MAX, &a) != NUM_OK || a == 0)
		return -1;
	b = a;
	if (*pos < len && s[*pos] == ':') {
		(*pos)++;
		if (num_scan_u64(s, len, pos, UINT32_MAX, &b) != NUM_OK || b == 0)
			return -1;
	}
	*lo_r = (uint32_t)(a < b ? a : b);
	*hi_r = (uint32_t)(a < b ? b : a);
	return 0;
}

/* Calls back (when l) for each range of a well-formed set; -1 if not. */
static int imap_listing_ranges(struct imap_listing *l, const char *set, size_t len)
{
	size_t pos = 0, ranges = 0;

	for (;;) {
		uint32_t lo, hi;
		size_t i;

		if (imap_listing_range(set, len, &pos, &lo, &hi) < 0 ||
		    ++ranges > IMAP_LISTING_MAX_RANGES)
			return -1;
		if (l != NULL) {
			imap_listing_search(l, l->count, lo, &i);
			for (; i < l->count && l->msgs[i].uid <= hi; i++)
				l->msgs[i].flags |= IMAP_LISTING_GONE;
		}
		if (pos == len)
			return 0;
		if (set[pos++] != ',')
			return -1;
	}
}

int imap_listing_vanish(struct imap_listing *l, const char *set, size_t len,
			size_t *removed_r)
{
	*removed_r = 0;
	if (imap_listing_ranges(NULL, set, len) < 0)
		return -1;
	imap_listing_sort(l);
	imap_listing_ranges(l, set, len);
	*removed_r = imap_listing_compact(l);
	return 0;
}

int imap_listing_finish(struct imap_listing *l)
{
	imap_listing_sort(l);
	for (size_t i = 1; i < l->count; i++) {
		if (l->msgs[i].uid == l->msgs[i - 1].uid)
			return -1;
	}
	if (l->count > 0 && l->msgs[l->count - 1].uid >= l->uidnext)
		l->uidnext = l->msgs[l->count - 1].uid == UINT32_MAX ? UINT32_MAX :
			     l->msgs[l->count - 1].uid + 1;
	return 0;
}
