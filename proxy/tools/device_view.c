/* popgate device: the store's answers and a device's folders; contracts
   in device_view.h. */

#include "device_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "cache_key.h"
#include "conf.h"

/* The device's profile, as a login of it finds it. */
const struct conf_profile *dev_profile(const struct dev_run *r, const char *device)
{
	return conf_profile_find(r->conf, device, r->user, strlen(r->user));
}

/* ---- the store's answers, one request at a time ---- */

void dev_reply_clear(struct dev_reply *rep)
{
	for (size_t i = 0; rep->info.devices != NULL && i < rep->info.n; i++) {
		struct cache_admin_device *d = &rep->info.devices[i];

		for (size_t j = 0; j < d->folder_count; j++)
			free(d->folders[j]);
		free(d->folders);
	}
	free(rep->info.devices);
	memset(rep, 0, sizeof(*rep));
	rep->st = CACHE_ERROR;
}

static int dev_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* info into rep, each folders record sorted; false when out of memory
   (what was copied is rep's). */
static bool dev_reply_copy(struct dev_reply *rep, const struct cache_admin_info *info)
{
	rep->info = *info;
	rep->info.devices = NULL;
	rep->info.n = 0;
	if (info->n > 0 && (rep->info.devices = calloc(info->n, sizeof(*info->devices))) == NULL)
		return false;
	for (size_t i = 0; i < info->n; i++) {
		const struct cache_admin_device *from = &info->devices[i];
		struct cache_admin_device *d = &rep->info.devices[rep->info.n++];

		*d = *from;
		d->folders = NULL;
		d->folder_count = 0;
		if (from->folder_count > 0 &&
		    (d->folders = calloc(from->folder_count, sizeof(*d->folders))) == NULL)
			return false;
		for (size_t j = 0; j < from->folder_count; j++) {
			if ((d->folders[j] = strdup(from->folders[j])) == NULL)
				return false;
			d->folder_count++;
		}
		qsort(d->folders, d->folder_count, sizeof(*d->folders), dev_strcmp);
	}
	return true;
}

static void dev_got(void *ctx, enum cache_status st, const struct cache_admin_info *info)
{
	struct dev_run *r = ctx;
	struct dev_reply *rep = r->reply;

	event_base_loopbreak(r->base);
	rep->st = st;
	if (info != NULL && !dev_reply_copy(rep, info)) {
		fprintf(stderr, "popgate device: out of memory\n");
		rep->st = CACHE_ERROR;
	}
}

/* One request (op DEV_INFO, or an enum cache_admin_op) for device in
   account, and its answer in rep. */
enum cache_status dev_call(struct dev_run *r, const char *account, const char *device,
				  int op, struct dev_reply *rep)
{
	struct cache_req *req;

	dev_reply_clear(rep);
	r->reply = rep;
	if (op == DEV_INFO)
		req = cache_admin_info(r->cache, account, device, dev_got, r);
	else
		req = cache_admin_change(r->cache, account, device, (enum cache_admin_op)op,
					 r->force, dev_got, r);
	if (req == NULL) {
		fprintf(stderr, "popgate device: out of memory\n");
		return CACHE_ERROR;
	}
	event_base_dispatch(r->base);
	return rep->st;
}

void dev_store_failed(const struct dev_run *r, const char *folder, enum cache_status st)
{
	fprintf(stderr, "popgate device %s: the state store answered: %s%s%s%s\n", r->verb,
		cache_status_name(st), folder != NULL ? " (folder " : "",
		folder != NULL ? folder : "", folder != NULL ? ")" : "");
}

/* ---- the device's folders ---- */

static bool dev_same_mailbox(const char *a, const char *b)
{
	if (strcasecmp(a, "INBOX") == 0)
		return strcasecmp(b, "INBOX") == 0;
	return strcmp(a, b) == 0;
}

/* The maildrop's mailboxes, each once: the first (the route's), the
   profile's plain names in order, then those the device's folders record
   names (cache_admin.h: its special-use names as its logins resolved
   them, and folders of an earlier profile, whose state is still there). */
static void dev_view_names(const struct dev_run *r, const char *device,
			   const struct cache_admin_device *first, struct dev_view *v)
{
	const struct conf_profile *p = dev_profile(r, device);
	const char *cand[DEV_FOLDERS_MAX];
	size_t nc = 0;

	for (unsigned int i = 1; i < p->folder_count; i++) {
		if (conf_folder_special(p->folders[i]) == NULL)
			cand[nc++] = p->folders[i];
	}
	for (size_t i = 0; first != NULL && i < first->folder_count; i++)
		cand[nc++] = first->folders[i];
	v->f[0].name = r->acct.route->mailbox;
	snprintf(v->f[0].account, sizeof(v->f[0].account), "%s", r->acct.account);
	v->f[0].d = first;
	v->n = 1;
	for (size_t i = 0; i < nc; i++) {
		bool twice = false;

		for (size_t j = 0; j < v->n; j++)
			twice = twice || dev_same_mailbox(v->f[j].name, cand[i]);
		if (!twice)
			v->f[v->n++].name = cand[i];
	}
}

/* The device's state in every folder of its maildrop, each in its own
   account (cache_account_name() with the mailbox, as the login names
   it); first: its entry in the first folder's account, NULL if unknown
   there. -1 (said why) when the store fails. */
int dev_gather(struct dev_run *r, const char *device,
		      const struct cache_admin_device *first, struct dev_view *v)
{
	dev_view_names(r, device, first, v);
	for (size_t i = 1; i < v->n; i++) {
		struct dev_folder *f = &v->f[i];
		enum cache_status st;

		if (cache_account_name(f->account, sizeof(f->account), r->acct.login_user,
				       r->acct.login_user_len, r->acct.route->host,
				       r->acct.route->port, f->name) == 0) {
			fprintf(stderr, "popgate device %s: the folder %s: its account name is too "
				"long\n", r->verb, f->name);
			return -1;
		}
		st = dev_call(r, f->account, device, DEV_INFO, &f->rep);
		if (st != CACHE_OK) {
			dev_store_failed(r, f->name, st);
			return -1;
		}
		f->d = f->rep.info.n > 0 ? &f->rep.info.devices[0] : NULL;
	}
	return 0;
}

void dev_view_free(struct dev_view **vp)
{
	struct dev_view *v = *vp;

	if (v == NULL)
		return;
	for (size_t i = 0; i < DEV_FOLDERS_MAX; i++) {
		dev_reply_clear(&v->f[i].rep);
		dev_reply_clear(&v->f[i].chg);
	}
	free(v);
	*vp = NULL;
}

uint64_t dev_view_hidden(const struct dev_view *v)
{
	uint64_t n = 0;

	for (size_t i = 0; i < v->n; i++)
		n += v->f[i].d != NULL ? v->f[i].d->hidden : 0;
	return n;
}

/* The first folder that has the device's lock, or NULL. */
const struct dev_folder *dev_view_locked(const struct dev_view *v)
{
	for (size_t i = 0; i < v->n; i++) {
		if (v->f[i].d != NULL && v->f[i].d->lock_ttl_ms != -1)
			return &v->f[i];
	}
	return NULL;
}

bool dev_view_known(const struct dev_view *v)
{
	for (size_t i = 0; i < v->n; i++) {
		if (v->f[i].d != NULL)
			return true;
	}
	return false;
}

/* "INBOX 1, Sent 2": each folder's hidden count (of d, or of the
   change's before). */
void dev_view_hidden_text(const struct dev_view *v, bool before, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < v->n && used < size; i++) {
		const struct dev_folder *f = &v->f[i];
		const struct cache_admin_device *d = f->d;

		if (before && f->chg.st == CACHE_OK && f->chg.info.n > 0)
			d = &f->chg.info.devices[0];
		used += (size_t)snprintf(buf + used, size - used, "%s%s %llu", i > 0 ? ", " : "",
					 f->name, (unsigned long long)(d != NULL ? d->hidden : 0));
	}
}

