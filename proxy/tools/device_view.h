#ifndef DEVICE_VIEW_H
#define DEVICE_VIEW_H

/*
 * popgate device (device.c): the state store's answers, one request at
 * a time on the tool's own event loop (a command line tool: nothing else
 * waits), and a device's state gathered over every folder of its
 * maildrop. A folder's state is under its own account (cache_account_name()
 * with the mailbox, as the login names it); which folders the device has
 * is its profile's plain names and the folders record its logins keep in
 * the first folder's account (cache_admin.h), which alone knows what a
 * special-use name (\Sent) resolved to.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "cache_admin.h"
#include "conf_folders.h"
#include "pop3_account.h"
#include "pop3_parse.h"

struct conf;
struct conf_profile;
struct event_base;

/* Exit statuses. */
#define DEV_EXIT_OK 0
#define DEV_EXIT_FAIL 1       /* unknown device or domain, Redis unavailable */
#define DEV_EXIT_USAGE 2
#define DEV_EXIT_IN_USE 3     /* a session holds the device's lock */

/* One answer of the store, copied out of its callback. */
struct dev_reply {
	enum cache_status st;
	struct cache_admin_info info;  /* devices and their folders owned */
};

/* The mailboxes of a maildrop at most: the first, the profile's and a
   folders record's (cache_admin.h). */
#define DEV_FOLDERS_MAX (1 + CONF_MAX_FOLDERS + CACHE_ADMIN_FOLDERS_MAX)

/* One folder of a device's maildrop and the device's state there. */
struct dev_folder {
	const char *name;
	char account[CACHE_ACCOUNT_MAX + 1];
	struct dev_reply rep;      /* info of the device there */
	const struct cache_admin_device *d;  /* NULL: unknown there */
	struct dev_reply chg;      /* a change's answer; st CACHE_ERROR: not tried */
};

/* What popgate device knows of one device, folder by folder; f[0] is the
   first folder (the route's mailbox, the account of pop3_account.h). */
struct dev_view {
	size_t n;
	struct dev_folder f[DEV_FOLDERS_MAX];
};

struct dev_run {
	const char *verb;
	bool json, force;
	const struct conf *conf;
	char device[POP3_DEVICE_MAX + 1];
	bool all;                  /* list */
	struct pop3_account acct;
	char *user;                /* the address, NUL-terminated */
	struct event_base *base;
	struct cache *cache;
	struct dev_reply *reply;   /* the request under way's */
};

#define DEV_INFO (-1)

/* The device's profile, as a login of it finds it. */
const struct conf_profile *dev_profile(const struct dev_run *r, const char *device);

/* Frees what rep holds; st becomes CACHE_ERROR. */
void dev_reply_clear(struct dev_reply *rep);

/* One request for device in account, op DEV_INFO (cache_admin_info()) or
   an enum cache_admin_op (cache_admin_change(), r->force), run to its
   answer, which rep then holds (cleared first). */
enum cache_status dev_call(struct dev_run *r, const char *account, const char *device,
			   int op, struct dev_reply *rep);

/* Says on stderr that the store answered st (for folder, or NULL). */
void dev_store_failed(const struct dev_run *r, const char *folder, enum cache_status st);

/* The device's state in every folder of its maildrop into v (zeroed):
   f[0] the first folder (the route's mailbox, r->acct.account) with first,
   its entry there (NULL: unknown there); then the profile's plain names
   in order, then those its folders record names, each once, each asked
   about in its own account. -1 (said why) when the store fails. */
int dev_gather(struct dev_run *r, const char *device,
	       const struct cache_admin_device *first, struct dev_view *v);

void dev_view_free(struct dev_view **vp);

/* The device's hidden entries over all folders. */
uint64_t dev_view_hidden(const struct dev_view *v);

/* The first folder that has the device's lock, or NULL. */
const struct dev_folder *dev_view_locked(const struct dev_view *v);

/* Whether a folder knows the device (registered or locked). */
bool dev_view_known(const struct dev_view *v);

/* "INBOX 1, Sent 2": each folder's hidden count; before: as a change
   found it (its answer), where there was one. */
void dev_view_hidden_text(const struct dev_view *v, bool before, char *buf, size_t size);

#endif
