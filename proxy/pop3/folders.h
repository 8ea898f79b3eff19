#ifndef POP3_FOLDERS_H
#define POP3_FOLDERS_H

/*
 * The folders of a session's maildrop (a profile's folders = ..., conf.h):
 * one struct pop3_maildrop per folder, in the profile's order, each built
 * at login as a single-folder maildrop is (login_folders.c). POP3 message
 * numbers run on across them: the first folder's messages are 1..n, the
 * next folder's n+1.., and so on. A session without folders = has one
 * folder, its route's mailbox.
 *
 * UIDLs: the first folder's are its own (unchanged by the other folders);
 * a message of any other folder lists as the folder's tag ("f" and 8 hex
 * digits of a hash of the folder's name) and its own UIDL, shortened to
 * fit POP3_UIDL_MAX when long (pop3_folder_uidl_prefix()). A UIDL that
 * would name two messages of the maildrop leaves the later one out
 * (pop3_folders_dedupe()).
 *
 * The numbering, the UIDL rule and the check are pure; freeing also frees
 * the folders' device states (device.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maildrop.h"

/* The most folders a maildrop has (conf.h's CONF_MAX_FOLDERS). */
#define POP3_MAX_FOLDERS 16
/* "f" and 8 hex digits. */
#define POP3_FOLDER_TAG_LEN 9

struct pop3_device;

struct pop3_folder {
	char *name;                  /* the upstream mailbox (malloc'd) */
	char tag[POP3_FOLDER_TAG_LEN + 1]; /* "" for the first folder */
	struct pop3_maildrop *drop;  /* the first folder's: the session's drop */
	struct pop3_device *dev;     /* its device state; the first: the session's */
	unsigned int first;          /* messages of the folders before it */
};

struct pop3_folders {
	unsigned int n;              /* 1..max */
	unsigned int max;            /* room in f: what the profile lists */
	unsigned int selected;       /* the folder selected upstream now */
	struct pop3_folder f[];
};

/* An empty set (n 0) with room for max folders (1..POP3_MAX_FOLDERS:
   a session of one folder holds one); NULL when out of memory. */
struct pop3_folders *pop3_folders_new(unsigned int max);
/* Frees the folders after the first (whose drop and device are the
   session's), their names, and the set; NULL is fine. */
void pop3_folders_free(struct pop3_folders **fs);

/* The folder's tag (POP3_FOLDER_TAG_LEN + 1 octets): "f" and 8 lower-case
   hex digits of the 32-bit FNV-1a hash of its name. */
void pop3_folder_tag(const char *name, char *tag);

/* Every message of d takes the UIDL tag + its own UIDL (pop3_maildrop_uidl);
   one whose UIDL is longer than POP3_UIDL_MAX - POP3_FOLDER_TAG_LEN
   becomes tag + its first 53 octets + 8 hex digits of the FNV-1a hash of
   the whole. -1 when out of memory. */
int pop3_folder_uidl_prefix(struct pop3_maildrop *d, const char *tag);

/* first of each folder set from the counts before it; call whenever a
   folder's messages change in number. */
void pop3_folders_renumber(struct pop3_folders *fs);

/* Messages of all folders (DELE'd ones included: the numbers). */
unsigned int pop3_folders_count(const struct pop3_folders *fs);

/* Message number n (1-based) and its folder's index into *folder_r
   (may be NULL), or NULL. */
struct pop3_msg *pop3_folders_get(struct pop3_folders *fs, unsigned int n,
				  unsigned int *folder_r);

/* The index of the folder m belongs to, or -1. */
int pop3_folders_of(const struct pop3_folders *fs, const struct pop3_msg *m);
/* The drop m belongs to (its sizes and marks), or NULL. */
struct pop3_maildrop *pop3_folders_drop(const struct pop3_folders *fs, const struct pop3_msg *m);

/* The session's number of m (of one of the folders). */
unsigned int pop3_folders_number(const struct pop3_folders *fs, const struct pop3_msg *m);

/* Messages not DELE'd in all folders, and their octets. */
void pop3_folders_visible(const struct pop3_folders *fs, unsigned int *count_r,
			  uint64_t *size_r);

/* Messages DELE'd in all folders. */
unsigned int pop3_folders_marked(const struct pop3_folders *fs);

/* RSET: every DELE mark taken back. */
void pop3_folders_unmark(struct pop3_folders *fs);

/* A later message whose UIDL is one an earlier message of the maildrop
   has (in folder order) is left out of its folder; for each, collided runs
   with the folder's index and the UID (for the log). Renumbers. Returns
   how many were left out, or -1 when out of memory (nothing changed). */
int pop3_folders_dedupe(struct pop3_folders *fs,
			void (*collided)(void *ctx, unsigned int folder, uint32_t uid,
					 const char *uidl),
			void *ctx);

/* The memory pop3_folders_dedupe() takes while it runs (its set of the
   maildrop's UIDLs), to count within max_listing_memory first. */
size_t pop3_folders_dedupe_bytes(const struct pop3_folders *fs);

#endif
