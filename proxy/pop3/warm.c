/* A login's read of the state store, kept; contracts in warm.h. */

#include "warm.h"

#include <stdlib.h>
#include <string.h>

#include "maildrop.h"

struct pop3_warm {
	uint64_t *budget_used;
	uint64_t bytes;
	struct cache_gens gens;
	char device[CACHE_DEVICE_MAX + 1];
	uint32_t uidvalidity, first_uidnext;
	size_t n;
	uint32_t *uids;       /* the listing's, ascending */
	uint8_t *hidden;      /* per uid, NULL: none hidden */
	uint32_t *uidl;       /* per uid: 1 + offset in pool, 0: none */
	char *pool;
	size_t pool_len;
	bool legacy;          /* the account had an import (cache_peek()) */
};

size_t pop3_warm_bytes(size_t n, size_t pool_len)
{
	return sizeof(struct pop3_warm) + n * (2 * sizeof(uint32_t) + 1) + pool_len;
}

void pop3_warm_free(struct pop3_warm **wp)
{
	struct pop3_warm *w = *wp;

	if (w == NULL)
		return;
	*wp = NULL;
	*w->budget_used -= w->bytes;
	free(w->uids);
	free(w->hidden);
	free(w->uidl);
	free(w->pool);
	free(w);
}

void pop3_warm_free_data(void *p)
{
	struct pop3_warm *w = p;

	pop3_warm_free(&w);
}

static bool pop3_warm_any(const uint8_t *hidden, size_t n)
{
	for (size_t i = 0; hidden != NULL && i < n; i++) {
		if (hidden[i] != 0)
			return true;
	}
	return false;
}

struct pop3_warm *pop3_warm_new(uint64_t *budget_used, uint64_t budget, const char *device,
				const struct cache_gens *g, const struct pop3_maildrop *d,
				const uint8_t *hidden, uint32_t first_uidnext)
{
	size_t n = d->exists_count, j = 0, pool_len = 0;
	char uidl[POP3_UIDL_MAX + 1];
	size_t bytes;
	struct pop3_warm *w;

	/* The copy holds each message's UIDL as text, the default form too
	   (the drop keeps only others, pop3_maildrop_uidl() makes it). */
	for (unsigned int i = 0; d->exists != NULL && i < d->count; i++) {
		while (j < n && d->exists[j] < d->msgs[i].uid)
			j++;
		if (j < n && d->exists[j] == d->msgs[i].uid)
			pool_len += pop3_maildrop_uidl(d, &d->msgs[i], uidl) + 1;
	}
	j = 0;
	bytes = pop3_warm_bytes(n, pool_len);

	if (g->account == 0 || d->exists == NULL || strlen(device) > CACHE_DEVICE_MAX ||
	    *budget_used + bytes > budget || (w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->budget_used = budget_used;
	w->gens = *g;
	strcpy(w->device, device);
	w->uidvalidity = d->uidvalidity;
	w->first_uidnext = first_uidnext;
	w->n = n;
	w->uids = malloc((n + 1) * sizeof(*w->uids));
	w->uidl = calloc(n + 1, sizeof(*w->uidl));
	w->pool = malloc(pool_len + 1);
	if (pop3_warm_any(hidden, n) && (w->hidden = malloc(n)) != NULL)
		memcpy(w->hidden, hidden, n);
	if (w->uids == NULL || w->uidl == NULL || w->pool == NULL ||
	    (pop3_warm_any(hidden, n) && w->hidden == NULL)) {
		free(w->uids);
		free(w->uidl);
		free(w->pool);
		free(w->hidden);
		free(w);
		return NULL;
	}
	memcpy(w->uids, d->exists, n * sizeof(*w->uids));
	w->pool_len = 0;
	/* Both ascending; the drop's messages are a subset of exists. */
	for (unsigned int i = 0; i < d->count; i++) {
		while (j < n && w->uids[j] < d->msgs[i].uid)
			j++;
		if (j < n && w->uids[j] == d->msgs[i].uid) {
			w->uidl[j] = (uint32_t)w->pool_len + 1;
			w->pool_len += pop3_maildrop_uidl(d, &d->msgs[i], w->pool + w->pool_len) + 1;
		}
	}
	w->bytes = bytes;
	*budget_used += bytes;
	return w;
}

/* The same state, and d's listing begins with the copy's UIDs, each
   message of the drop among them with its UIDL. */
static bool pop3_warm_prefix(const struct pop3_warm *w, const char *device,
			     const struct cache_gens *g, const struct pop3_maildrop *d)
{
	size_t j = 0;

	if (w == NULL || g->account == 0 || g->account != w->gens.account ||
	    g->device != w->gens.device || strcmp(device, w->device) != 0 ||
	    d->uidvalidity != w->uidvalidity || d->exists == NULL || d->exists_count < w->n ||
	    memcmp(d->exists, w->uids, w->n * sizeof(*w->uids)) != 0)
		return false;
	for (unsigned int i = 0; i < d->count; i++) {
		while (j < w->n && w->uids[j] < d->msgs[i].uid)
			j++;
		if (j == w->n)
			break;
		if (w->uids[j] != d->msgs[i].uid || w->uidl[j] == 0)
			return false;
	}
	return true;
}

bool pop3_warm_valid(const struct pop3_warm *w, const char *device, const struct cache_gens *g,
		     const struct pop3_maildrop *d)
{
	if (!pop3_warm_prefix(w, device, g, d) || d->exists_count != w->n)
		return false;
	/* Every message of the drop is among the copy's: each has its UIDL. */
	return d->count == 0 || d->msgs[d->count - 1].uid <= (w->n > 0 ? w->uids[w->n - 1] : 0);
}

size_t pop3_warm_new_mail(const struct pop3_warm *w, const char *device,
			  const struct cache_gens *g, const struct pop3_maildrop *d)
{
	size_t more;

	if (!pop3_warm_prefix(w, device, g, d))
		return 0;
	more = d->exists_count - w->n;
	return more <= CACHE_PEEK_MAX ? more : 0;
}

int pop3_warm_add(struct pop3_warm *w, const struct pop3_maildrop *d,
		  const struct cache_peek *p)
{
	size_t n = d->exists_count, old = w->n, len = w->pool_len;
	uint32_t *uids, *uidl;
	uint8_t *hidden = NULL;
	char *pool;

	if (n - old != p->n)
		return -1;
	for (size_t k = 0; k < p->n; k++)
		len += p->uidls[k] != NULL ? strlen(p->uidls[k]) + 1 : 0;
	uids = malloc((n + 1) * sizeof(*uids));
	uidl = calloc(n + 1, sizeof(*uidl));
	pool = malloc(len + 1);
	if (w->hidden != NULL || pop3_warm_any(p->hidden, p->n))
		hidden = calloc(n + 1, 1);
	if (uids == NULL || uidl == NULL || pool == NULL ||
	    ((w->hidden != NULL || pop3_warm_any(p->hidden, p->n)) && hidden == NULL)) {
		free(uids);
		free(uidl);
		free(pool);
		free(hidden);
		return -1;
	}
	memcpy(uids, d->exists, n * sizeof(*uids));
	memcpy(uidl, w->uidl, old * sizeof(*uidl));
	memcpy(pool, w->pool, w->pool_len);
	len = w->pool_len;
	for (size_t k = 0; k < p->n; k++) {
		if (p->uidls[k] == NULL)
			continue;
		strcpy(pool + len, p->uidls[k]);
		uidl[old + k] = (uint32_t)len + 1;
		len += strlen(p->uidls[k]) + 1;
	}
	if (hidden != NULL) {
		if (w->hidden != NULL)
			memcpy(hidden, w->hidden, old);
		memcpy(hidden + old, p->hidden, p->n);
	}
	free(w->uids);
	free(w->uidl);
	free(w->pool);
	free(w->hidden);
	w->uids = uids;
	w->uidl = uidl;
	w->pool = pool;
	w->hidden = hidden;
	w->pool_len = len;
	w->n = n;
	w->legacy = p->legacy;
	*w->budget_used -= w->bytes;
	w->bytes = pop3_warm_bytes(n, len);
	*w->budget_used += w->bytes;
	return 0;
}

const char *pop3_warm_stored(const struct pop3_warm *w, size_t i)
{
	return i < w->n && w->uidl[i] != 0 ? w->pool + w->uidl[i] - 1 : NULL;
}

bool pop3_warm_legacy(const struct pop3_warm *w)
{
	return w->legacy;
}

const uint8_t *pop3_warm_hidden(const struct pop3_warm *w)
{
	return w->hidden;
}

uint32_t pop3_warm_first_uidnext(const struct pop3_warm *w)
{
	return w->first_uidnext;
}

int pop3_warm_apply(const struct pop3_warm *w, struct pop3_maildrop *d)
{
	size_t j = 0;

	for (unsigned int i = 0; i < d->count; i++) {
		const char *uidl;

		while (j < w->n && w->uids[j] < d->msgs[i].uid)
			j++;
		if (j == w->n || w->uidl[j] == 0 || w->uidl[j] > w->pool_len)
			return -1;
		uidl = w->pool + w->uidl[j] - 1;
		if (pop3_maildrop_set_uidl(d, &d->msgs[i], uidl,
					   strnlen(uidl, w->pool_len - (w->uidl[j] - 1))) < 0)
			return -1;
	}
	return 0;
}

bool pop3_warm_hid(struct pop3_warm *w, bool all_devices, const struct cache_gen_change *change,
		   const uint32_t *uids, size_t n)
{
	uint64_t *gen = all_devices ? &w->gens.account : &w->gens.device;
	size_t j = 0;

	if (*gen != change->before || change->after == 0)
		return false;
	if (w->hidden == NULL && n > 0 && (w->hidden = calloc(w->n + 1, 1)) == NULL)
		return false;
	for (size_t k = 0; k < n; k++) {
		while (j < w->n && w->uids[j] < uids[k])
			j++;
		if (j < w->n && w->uids[j] == uids[k])
			w->hidden[j] |= all_devices ? CACHE_HIDDEN_ALL : CACHE_HIDDEN_DEVICE;
	}
	*gen = change->after;
	return true;
}
