/* The folders of a maildrop; contracts in folders.h. */

#include "folders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

struct pop3_folders *pop3_folders_new(unsigned int max)
{
	struct pop3_folders *fs;

	if (max < 1)
		max = 1;
	if (max > POP3_MAX_FOLDERS)
		max = POP3_MAX_FOLDERS;
	fs = calloc(1, sizeof(*fs) + max * sizeof(fs->f[0]));
	if (fs != NULL)
		fs->max = max;
	return fs;
}

void pop3_folders_free(struct pop3_folders **fs)
{
	if (*fs == NULL)
		return;
	for (unsigned int i = 0; i < (*fs)->n; i++) {
		if (i > 0) {
			pop3_device_free(&(*fs)->f[i].dev);
			pop3_maildrop_free(&(*fs)->f[i].drop);
		}
		free((*fs)->f[i].name);
	}
	free(*fs);
	*fs = NULL;
}

static uint32_t pop3_fnv1a(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

void pop3_folder_tag(const char *name, char *tag)
{
	snprintf(tag, POP3_FOLDER_TAG_LEN + 1, "f%08x", pop3_fnv1a(name, strlen(name)));
}

int pop3_folder_uidl_prefix(struct pop3_maildrop *d, const char *tag)
{
	char own[POP3_UIDL_MAX + 1], uidl[POP3_UIDL_MAX + 1];
	const size_t keep = POP3_UIDL_MAX - POP3_FOLDER_TAG_LEN - 8;

	for (unsigned int i = 0; i < d->count; i++) {
		struct pop3_msg *m = &d->msgs[i];
		size_t n = pop3_maildrop_uidl(d, m, own);

		if (POP3_FOLDER_TAG_LEN + n <= POP3_UIDL_MAX)
			snprintf(uidl, sizeof(uidl), "%s%s", tag, own);
		else
			snprintf(uidl, sizeof(uidl), "%s%.*s%08x", tag, (int)keep, own,
				 pop3_fnv1a(own, n));
		if (pop3_maildrop_set_uidl(d, m, uidl, strlen(uidl)) < 0)
			return -1;
	}
	return 0;
}

void pop3_folders_renumber(struct pop3_folders *fs)
{
	unsigned int first = 0;

	for (unsigned int i = 0; i < fs->n; i++) {
		fs->f[i].first = first;
		first += fs->f[i].drop->count;
	}
}

unsigned int pop3_folders_count(const struct pop3_folders *fs)
{
	const struct pop3_folder *last = &fs->f[fs->n - 1];

	return last->first + last->drop->count;
}

struct pop3_msg *pop3_folders_get(struct pop3_folders *fs, unsigned int n,
				  unsigned int *folder_r)
{
	for (unsigned int i = 0; i < fs->n; i++) {
		struct pop3_folder *f = &fs->f[i];

		if (n > f->first && n <= f->first + f->drop->count) {
			if (folder_r != NULL)
				*folder_r = i;
			return &f->drop->msgs[n - f->first - 1];
		}
	}
	return NULL;
}

int pop3_folders_of(const struct pop3_folders *fs, const struct pop3_msg *m)
{
	uintptr_t p = (uintptr_t)m;

	for (unsigned int i = 0; i < fs->n; i++) {
		const struct pop3_maildrop *d = fs->f[i].drop;
		uintptr_t lo = (uintptr_t)d->msgs;

		if (d->count > 0 && p >= lo && p < lo + d->count * sizeof(*m))
			return (int)i;
	}
	return -1;
}

struct pop3_maildrop *pop3_folders_drop(const struct pop3_folders *fs, const struct pop3_msg *m)
{
	int i = pop3_folders_of(fs, m);

	return i < 0 ? NULL : fs->f[i].drop;
}

unsigned int pop3_folders_number(const struct pop3_folders *fs, const struct pop3_msg *m)
{
	int i = pop3_folders_of(fs, m);

	if (i < 0)
		return 0;
	return fs->f[i].first + (unsigned int)(m - fs->f[i].drop->msgs) + 1;
}

void pop3_folders_visible(const struct pop3_folders *fs, unsigned int *count_r,
			  uint64_t *size_r)
{
	*count_r = 0;
	*size_r = 0;
	for (unsigned int i = 0; i < fs->n; i++) {
		unsigned int count;
		uint64_t size;

		pop3_maildrop_visible(fs->f[i].drop, &count, &size);
		*count_r += count;
		*size_r += size;
	}
}

unsigned int pop3_folders_marked(const struct pop3_folders *fs)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < fs->n; i++)
		n += pop3_maildrop_marked(fs->f[i].drop);
	return n;
}

void pop3_folders_unmark(struct pop3_folders *fs)
{
	for (unsigned int i = 0; i < fs->n; i++)
		pop3_maildrop_unmark_all(fs->f[i].drop, POP3_MSG_DELETED);
}

/* ---- one UIDL, one message ---- */

struct pop3_uidl_slot {
	uint32_t folder;             /* 0: free; else the folder's index + 1 */
	uint32_t index;              /* in its drop */
};

static const char *pop3_slot_uidl(const struct pop3_folders *fs,
				  const struct pop3_uidl_slot *e, char *buf)
{
	const struct pop3_maildrop *d = fs->f[e->folder - 1].drop;

	pop3_maildrop_uidl(d, &d->msgs[e->index], buf);
	return buf;
}

/* The set's size: a power of two, at least twice the messages. */
static size_t pop3_folders_dedupe_slots(const struct pop3_folders *fs)
{
	size_t total = 0, cap = 16;

	for (unsigned int i = 0; i < fs->n; i++)
		total += fs->f[i].drop->count;
	while (cap < 2 * total)
		cap *= 2;
	return cap;
}

size_t pop3_folders_dedupe_bytes(const struct pop3_folders *fs)
{
	return pop3_folders_dedupe_slots(fs) * sizeof(struct pop3_uidl_slot);
}

int pop3_folders_dedupe(struct pop3_folders *fs,
			void (*collided)(void *ctx, unsigned int folder, uint32_t uid,
					 const char *uidl),
			void *ctx)
{
	size_t cap = pop3_folders_dedupe_slots(fs);
	struct pop3_uidl_slot *set;
	int removed = 0;

	if ((set = calloc(cap, sizeof(*set))) == NULL)
		return -1;
	for (unsigned int i = 0; i < fs->n; i++) {
		struct pop3_maildrop *d = fs->f[i].drop;
		unsigned int kept = 0;

		for (unsigned int j = 0; j < d->count; j++) {
			char uidl[POP3_UIDL_MAX + 1], other[POP3_UIDL_MAX + 1];
			size_t n = pop3_maildrop_uidl(d, &d->msgs[j], uidl);
			size_t h = pop3_fnv1a(uidl, n) & (cap - 1);
			bool dup = false;

			while (set[h].folder != 0) {
				if (strcmp(pop3_slot_uidl(fs, &set[h], other), uidl) == 0) {
					dup = true;
					break;
				}
				h = (h + 1) & (cap - 1);
			}
			if (dup) {
				if (collided != NULL)
					collided(ctx, i, d->msgs[j].uid, uidl);
				removed++;
				continue;
			}
			d->msgs[kept] = d->msgs[j];
			set[h] = (struct pop3_uidl_slot){ .folder = i + 1, .index = kept };
			kept++;
		}
		d->count = kept;
	}
	free(set);
	pop3_folders_renumber(fs);
	return removed;
}
