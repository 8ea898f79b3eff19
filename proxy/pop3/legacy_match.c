/* Legacy messages to IMAP messages; contracts in legacy_match.h. */

#include "legacy_match.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct legacy_key {
	const char *hash;
	uint64_t size;
	size_t idx;
};

static int legacy_key_cmp_hash(const struct legacy_key *a, const struct legacy_key *b)
{
	return strcmp(a->hash, b->hash);
}

/* By hash, size, then position: equal keys keep their order. */
static int legacy_key_cmp_sized(const void *x, const void *y)
{
	const struct legacy_key *a = x, *b = y;
	int c = legacy_key_cmp_hash(a, b);

	if (c != 0)
		return c;
	if (a->size != b->size)
		return a->size < b->size ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int legacy_key_cmp_unsized(const void *x, const void *y)
{
	const struct legacy_key *a = x, *b = y;
	int c = legacy_key_cmp_hash(a, b);

	if (c != 0)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* The items that have a hash and no partner yet, sorted by cmp. */
static size_t legacy_keys(const struct legacy_match_item *items, size_t n, const bool *taken,
			  struct legacy_key *keys, int (*cmp)(const void *, const void *))
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (taken[i] || items[i].hash == NULL || items[i].hash[0] == '\0')
			continue;
		keys[k++] = (struct legacy_key){ .hash = items[i].hash, .size = items[i].size,
						 .idx = i };
	}
	qsort(keys, k, sizeof(*keys), cmp);
	return k;
}

/* Pairs the equal keys of two sorted lists, in order. */
static size_t legacy_pair(const struct legacy_key *a, size_t na, const struct legacy_key *b,
			  size_t nb, bool sized, bool *old_taken, bool *new_taken, size_t *match)
{
	size_t i = 0, j = 0, pairs = 0;

	while (i < na && j < nb) {
		int c = legacy_key_cmp_hash(&a[i], &b[j]);

		if (c == 0 && sized && a[i].size != b[j].size)
			c = a[i].size < b[j].size ? -1 : 1;
		if (c < 0) {
			i++;
		} else if (c > 0) {
			j++;
		} else {
			match[b[j].idx] = a[i].idx;
			old_taken[a[i].idx] = true;
			new_taken[b[j].idx] = true;
			pairs++;
			i++;
			j++;
		}
	}
	return pairs;
}

size_t legacy_match(const struct legacy_match_item *old, size_t n_old,
		    const struct legacy_match_item *new_items, size_t n_new, size_t *match,
		    size_t *by_size_r)
{
	struct legacy_key *a = malloc((n_old + 1) * sizeof(*a));
	struct legacy_key *b = malloc((n_new + 1) * sizeof(*b));
	bool *old_taken = calloc(n_old + 1, sizeof(bool));
	bool *new_taken = calloc(n_new + 1, sizeof(bool));
	size_t na, nb, pairs = SIZE_MAX;

	if (a == NULL || b == NULL || old_taken == NULL || new_taken == NULL)
		goto out;
	for (size_t j = 0; j < n_new; j++)
		match[j] = LEGACY_MATCH_NONE;
	na = legacy_keys(old, n_old, old_taken, a, legacy_key_cmp_sized);
	nb = legacy_keys(new_items, n_new, new_taken, b, legacy_key_cmp_sized);
	pairs = legacy_pair(a, na, b, nb, true, old_taken, new_taken, match);
	*by_size_r = pairs;
	na = legacy_keys(old, n_old, old_taken, a, legacy_key_cmp_unsized);
	nb = legacy_keys(new_items, n_new, new_taken, b, legacy_key_cmp_unsized);
	pairs += legacy_pair(a, na, b, nb, false, old_taken, new_taken, match);
out:
	free(a);
	free(b);
	free(old_taken);
	free(new_taken);
	return pairs;
}
