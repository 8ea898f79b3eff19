/* The folders of a maildrop (proxy/pop3/folders.c): numbers running on
   across folders, totals, RSET, the folder tag and UIDL rule, and the
   check that no UIDL names two messages (a collision forced). */

#include <check.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "folders.h"

/* A finished drop of n messages, UIDs first, first + 1, ..., size 100 + uid. */
static struct pop3_maildrop *drop_of(uint32_t uidvalidity, uint32_t first, unsigned int n)
{
	struct pop3_maildrop *d = pop3_maildrop_new(uidvalidity, 0, n);

	ck_assert_ptr_nonnull(d);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_int_eq(pop3_maildrop_add(d, first + i, 100 + first + i), 0);
	pop3_maildrop_finish(d);
	return d;
}

/* INBOX 3 messages, Sent none, Archive 2: numbers 1..3 then 4..5. */
static struct pop3_folders *three(void)
{
	struct pop3_folders *fs = pop3_folders_new(3);
	static const char *const names[] = { "INBOX", "Sent", "Archive/2024" };
	static const unsigned int counts[] = { 3, 0, 2 };

	ck_assert_ptr_nonnull(fs);
	for (unsigned int i = 0; i < 3; i++) {
		fs->f[i].name = strdup(names[i]);
		fs->f[i].drop = drop_of(10 + i, 5, counts[i]);
		if (i > 0)
			pop3_folder_tag(names[i], fs->f[i].tag);
	}
	fs->n = 3;
	pop3_folders_renumber(fs);
	return fs;
}

static void free_three(struct pop3_folders **fs)
{
	/* The first folder's drop is the session's: freed apart. */
	pop3_maildrop_free(&(*fs)->f[0].drop);
	pop3_folders_free(fs);
	ck_assert_ptr_null(*fs);
}

static const struct {
	unsigned int n;      /* message number */
	int folder;          /* -1: none */
	uint32_t uid;
} numbers[] = {
	{ 0, -1, 0 }, { 1, 0, 5 }, { 2, 0, 6 }, { 3, 0, 7 }, { 4, 2, 5 }, { 5, 2, 6 },
	{ 6, -1, 0 }, { 4000000000u, -1, 0 },
};

/* A set has room for the folders its profile lists, no more: one
   folder, the most sessions have, is one entry (all 16 before). */
START_TEST(room_for_what_the_profile_lists)
{
	struct pop3_folders *fs = pop3_folders_new(1);

	ck_assert_ptr_nonnull(fs);
	ck_assert_uint_eq(fs->max, 1);
	ck_assert_uint_eq(fs->n, 0);
	ck_assert_uint_le(malloc_usable_size(fs), sizeof(*fs) + sizeof(fs->f[0]) + 16);
	pop3_folders_free(&fs);
	fs = pop3_folders_new(0);
	ck_assert_uint_eq(fs->max, 1);
	pop3_folders_free(&fs);
	fs = pop3_folders_new(POP3_MAX_FOLDERS + 5);
	ck_assert_uint_eq(fs->max, POP3_MAX_FOLDERS);
	fs->f[POP3_MAX_FOLDERS - 1].name = strdup("last");
	fs->n = POP3_MAX_FOLDERS;
	pop3_folders_free(&fs);
}
END_TEST

START_TEST(numbering)
{
	struct pop3_folders *fs = three();
	unsigned int folder = 99;
	struct pop3_msg *m = pop3_folders_get(fs, numbers[_i].n, &folder);

	ck_assert_uint_eq(pop3_folders_count(fs), 5);
	if (numbers[_i].folder < 0) {
		ck_assert_ptr_null(m);
	} else {
		ck_assert_ptr_nonnull(m);
		ck_assert_uint_eq(folder, (unsigned int)numbers[_i].folder);
		ck_assert_uint_eq(m->uid, numbers[_i].uid);
		ck_assert_int_eq(pop3_folders_of(fs, m), numbers[_i].folder);
		ck_assert_uint_eq(pop3_folders_number(fs, m), numbers[_i].n);
	}
	free_three(&fs);
}
END_TEST

START_TEST(totals_and_rset)
{
	struct pop3_folders *fs = three();
	unsigned int count;
	uint64_t size;
	struct pop3_msg other = { .uid = 1 };

	pop3_folders_visible(fs, &count, &size);
	ck_assert_uint_eq(count, 5);
	ck_assert_uint_eq(size, 105 + 106 + 107 + 105 + 106);
	for (unsigned int n = 2; n <= 5; n += 3) {
		struct pop3_msg *m = pop3_folders_get(fs, n, NULL);

		ck_assert_int_eq(pop3_msg_mark(pop3_folders_drop(fs, m), m, POP3_MSG_DELETED), 0);
	}
	pop3_folders_visible(fs, &count, &size);
	ck_assert_uint_eq(count, 3);
	ck_assert_uint_eq(size, 105 + 107 + 105);
	ck_assert_uint_eq(pop3_folders_marked(fs), 2);
	pop3_folders_unmark(fs);
	ck_assert_uint_eq(pop3_folders_marked(fs), 0);
	/* A message of no folder. */
	ck_assert_int_eq(pop3_folders_of(fs, &other), -1);
	ck_assert_uint_eq(pop3_folders_number(fs, &other), 0);
	free_three(&fs);
}
END_TEST

/* The tag is stable (a value fixed here: UIDLs must not change between
   versions) and differs between names; UIDLs of other folders carry it. */
START_TEST(tag_and_prefix)
{
	struct pop3_folders *fs = three();
	char tag[POP3_FOLDER_TAG_LEN + 1], uidl[POP3_UIDL_MAX + 1];
	struct pop3_maildrop *d = fs->f[2].drop;

	pop3_folder_tag("Sent", tag);
	ck_assert_str_eq(tag, "fe28dfb9f");
	ck_assert_str_eq(fs->f[1].tag, tag);
	pop3_folder_tag("sent", tag);
	ck_assert_str_ne(tag, fs->f[1].tag);
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, &d->msgs[1], "own-uidl", 8), 0);
	ck_assert_int_eq(pop3_folder_uidl_prefix(d, fs->f[2].tag), 0);
	pop3_maildrop_uidl(d, &d->msgs[0], uidl);
	ck_assert_uint_eq(strlen(uidl), POP3_FOLDER_TAG_LEN + 16);
	ck_assert_mem_eq(uidl, fs->f[2].tag, POP3_FOLDER_TAG_LEN);
	ck_assert_str_eq(uidl + POP3_FOLDER_TAG_LEN, "000000050000000c");
	pop3_maildrop_uidl(d, &d->msgs[1], uidl);
	ck_assert_mem_eq(uidl, fs->f[2].tag, POP3_FOLDER_TAG_LEN);
	ck_assert_str_eq(uidl + POP3_FOLDER_TAG_LEN, "own-uidl");
	free_three(&fs);
}
END_TEST

/* A UIDL of the longest length: tag, its first 53 octets, a hash; two
   that differ only at the end stay two. */
START_TEST(long_uidl)
{
	struct pop3_maildrop *d = drop_of(1, 1, 2);
	char a[POP3_UIDL_MAX + 1], b[POP3_UIDL_MAX + 1], tag[POP3_FOLDER_TAG_LEN + 1];

	memset(a, 'x', POP3_UIDL_MAX);
	a[POP3_UIDL_MAX] = '\0';
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, &d->msgs[0], a, POP3_UIDL_MAX), 0);
	a[POP3_UIDL_MAX - 1] = 'y';
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, &d->msgs[1], a, POP3_UIDL_MAX), 0);
	pop3_folder_tag("Sent", tag);
	ck_assert_int_eq(pop3_folder_uidl_prefix(d, tag), 0);
	ck_assert_uint_eq(pop3_maildrop_uidl(d, &d->msgs[0], a), POP3_UIDL_MAX);
	ck_assert_uint_eq(pop3_maildrop_uidl(d, &d->msgs[1], b), POP3_UIDL_MAX);
	ck_assert_str_ne(a, b);
	ck_assert_mem_eq(a, b, POP3_UIDL_MAX - 8);
	for (size_t i = 0; i < POP3_UIDL_MAX; i++)
		ck_assert(a[i] >= 0x21 && a[i] <= 0x7e);
	pop3_maildrop_free(&d);
}
END_TEST

struct collisions {
	unsigned int n, folder[4];
	uint32_t uid[4];
	char uidl[4][POP3_UIDL_MAX + 1];
};

static void collided(void *ctx, unsigned int folder, uint32_t uid, const char *uidl)
{
	struct collisions *c = ctx;

	ck_assert_uint_lt(c->n, 4);
	c->folder[c->n] = folder;
	c->uid[c->n] = uid;
	strcpy(c->uidl[c->n++], uidl);
}

/* Forced: an INBOX message given the UIDL an Archive message will have,
   and two INBOX messages with one UIDL. The later ones go, the numbers
   close up, the first folder's UIDLs stay. */
START_TEST(collision_leaves_the_later_out)
{
	struct pop3_folders *fs = three();
	struct pop3_maildrop *inbox = fs->f[0].drop, *archive = fs->f[2].drop;
	struct collisions c = { 0 };
	char want[64], uidl[POP3_UIDL_MAX + 1];

	ck_assert_int_eq(pop3_folder_uidl_prefix(archive, fs->f[2].tag), 0);
	pop3_maildrop_uidl(archive, &archive->msgs[1], want);
	ck_assert_int_eq(pop3_maildrop_set_uidl(inbox, &inbox->msgs[0], want, strlen(want)), 0);
	ck_assert_int_eq(pop3_maildrop_set_uidl(inbox, &inbox->msgs[1], "same", 4), 0);
	ck_assert_int_eq(pop3_maildrop_set_uidl(inbox, &inbox->msgs[2], "same", 4), 0);
	ck_assert_int_eq(pop3_folders_dedupe(fs, collided, &c), 2);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_uint_eq(c.folder[0], 0);
	ck_assert_uint_eq(c.uid[0], 7);
	ck_assert_str_eq(c.uidl[0], "same");
	ck_assert_uint_eq(c.folder[1], 2);
	ck_assert_uint_eq(c.uid[1], 6);
	ck_assert_str_eq(c.uidl[1], want);
	ck_assert_uint_eq(pop3_folders_count(fs), 3);
	ck_assert_uint_eq(pop3_folders_get(fs, 1, NULL)->uid, 5);
	ck_assert_uint_eq(pop3_folders_get(fs, 2, NULL)->uid, 6);
	ck_assert_uint_eq(pop3_folders_get(fs, 3, NULL)->uid, 5);
	ck_assert_ptr_eq(pop3_folders_get(fs, 3, NULL), &archive->msgs[0]);
	pop3_maildrop_uidl(inbox, pop3_folders_get(fs, 1, NULL), uidl);
	ck_assert_str_eq(uidl, want);
	/* Nothing left to find. */
	c.n = 0;
	ck_assert_int_eq(pop3_folders_dedupe(fs, collided, &c), 0);
	ck_assert_uint_eq(c.n, 0);
	free_three(&fs);
}
END_TEST

/* What max_listing_memory is charged for the check's set: a power of
   two of at least twice the maildrop's messages (at least 16), 8 bytes a
   slot. 3 + 0 + 2 messages: 16; 3 + 9 + 2: 32; 3 + 9 + 21 = 33: 128. */
START_TEST(dedupe_bytes_grow)
{
	struct pop3_folders *fs = three();

	ck_assert_uint_eq(pop3_folders_dedupe_bytes(fs), 16 * 8);
	pop3_maildrop_free(&fs->f[1].drop);
	fs->f[1].drop = drop_of(11, 5, 9);
	ck_assert_uint_eq(pop3_folders_dedupe_bytes(fs), 32 * 8);
	pop3_maildrop_free(&fs->f[2].drop);
	fs->f[2].drop = drop_of(12, 5, 21);
	ck_assert_uint_eq(pop3_folders_dedupe_bytes(fs), 128 * 8);
	free_three(&fs);
}
END_TEST

static Suite *folders_suite(void)
{
	Suite *s = suite_create("pop3_folders");
	TCase *tc = tcase_create("folders");

	tcase_add_loop_test(tc, numbering, 0, sizeof(numbers) / sizeof(numbers[0]));
	tcase_add_test(tc, room_for_what_the_profile_lists);
	tcase_add_test(tc, totals_and_rset);
	tcase_add_test(tc, tag_and_prefix);
	tcase_add_test(tc, long_uidl);
	tcase_add_test(tc, collision_leaves_the_later_out);
	tcase_add_test(tc, dedupe_bytes_grow);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(folders_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
