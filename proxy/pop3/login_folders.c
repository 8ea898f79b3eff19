/* The login of a maildrop of several folders (a profile's folders = ...,
   folders.h): once the first folder is built as a single-folder login
   builds it, the special-use names are found (one LIST, only when the
   profile names one), then each other folder goes through the same steps
   in turn: select, list (whole: the kept listing stays the first
   folder's), sizes, lock and view under its own account, remap, uidl.
   Then the UIDLs of every folder are checked to name one message each. */

#include "login_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"
#include "cache_admin.h"
#include "conf.h"
#include "device.h"
#include "folders.h"
#include "imap_cmd.h"
#include "imap_resp.h"
#include "imap_values.h"
#include "log.h"
#include "maildrop.h"
#include "session.h"
#include "text.h"

/* The names LIST found for the profile's special-use entries. */
struct login_special {
	char name[CONF_MAX_FOLDERS][256];  /* "" until found */
};

static void login_folder_next(struct pop3_login *l);

/* A reply that ends the login: the provider throttles, or the
   connection is gone. True when it did (answered). */
static bool login_folder_lost(struct pop3_login *l, const struct imap_reply *reply)
{
	if (login_throttled(l, pop3_throttle_of(l->imap, reply), reply->text))
		return true;
	if (reply->result != IMAP_REPLY_FAILED)
		return false;
	login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
		   "-ERR [SYS/TEMP] Upstream server failed");
	return true;
}
static void login_folder_drop(struct pop3_login *l, const char *why);

/* Whether a folders entry and a mailbox name are one mailbox. */
static bool login_same_mailbox(const char *a, const char *b)
{
	if (strcasecmp(a, "INBOX") == 0)
		return strcasecmp(b, "INBOX") == 0;
	return strcmp(a, b) == 0;
}

bool login_folders_first_ok(const struct pop3_login *l)
{
	const struct conf_profile *p = l->s->profile;

	return p->folder_count == 0 || login_same_mailbox(p->folders[0], l->s->route->mailbox);
}

/* ---- the end: one UIDL, one message ---- */

static void login_uidl_collided(void *ctx, unsigned int folder, uint32_t uid, const char *uidl)
{
	struct pop3_login *l = ctx;
	char name[200];
	const char *f = l->folders->f[folder].name;

	log_warn("%s event=uidl_collision folder=%s uid=%u uidl=%s action=left_out", l->s->log_id,
		 text_escape(f, strlen(f), name, sizeof(name)), uid, uidl);
}

static void login_folders_done(struct pop3_login *l)
{
	struct pop3_folders *fs = l->folders;
	size_t set = pop3_folders_dedupe_bytes(fs);
	int removed;

	/* The check's set of every UIDL counts within max_listing_memory
	   while it runs. */
	if (!login_reserve(l, set))
		return;
	/* The first folder's listing goes back to the connection, to be
	   kept with it; what is selected now is the last folder. */
	imap_client_set_listing(l->imap, l->kept_listing);
	l->kept_listing = NULL;
	fs->selected = fs->n - 1;
	free(l->folder_account);
	l->folder_account = NULL;
	removed = pop3_folders_dedupe(fs, login_uidl_collided, l);
	pop3_session_unreserve(l->s, set);
	if (removed < 0) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	/* The first folder's drop and device become the session's (and stay
	   the folders' first); nothing fails from here on. */
	l->drop = fs->f[0].drop;
	l->dev = fs->f[0].dev;
	login_finish(l);
}

/* ---- each folder after the first ---- */

/* The folder is left out of this login's maildrop (logged). */
static void login_folder_drop(struct pop3_login *l, const char *why)
{
	struct pop3_folders *fs = l->folders;
	char name[200];
	const char *f = fs->f[l->folder].name;

	log_info("%s event=folder_skipped folder=%s reason=\"%s\"", l->s->log_id,
		 text_escape(f, strlen(f), name, sizeof(name)), why);
	free(fs->f[l->folder].name);
	memmove(&fs->f[l->folder], &fs->f[l->folder + 1],
		(fs->n - l->folder - 1) * sizeof(fs->f[0]));
	fs->n--;
	memset(&fs->f[fs->n], 0, sizeof(fs->f[0]));
	l->folder--;
	login_folder_next(l);
}

/* The folder exists but cannot be opened: the login fails. */
static void login_folder_refused(struct pop3_login *l, const char *why)
{
	char name[120], reason[200];
	const char *f = l->folders->f[l->folder].name;

	text_escape(f, strlen(f), name, sizeof(name));
	log_warn("%s event=select_failed mailbox=%s reply=\"%s\"", l->s->log_id, name, why);
	snprintf(reason, sizeof(reason), "-ERR [SYS/TEMP] Cannot open the folder %s", name);
	login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY, reason);
}

/* LIST "" <the folder> after its SELECT was refused: listed, it exists. */
static void login_exists_untagged(void *ctx, const struct imap_resp *resp)
{
	struct pop3_login *l = ctx;
	unsigned int attrs;
	char name[256];
	const char *error;

	if (imap_resp_keyword_is(resp, "LIST") &&
	    imap_list_parse(resp->rest, resp->rest_len, &attrs, name, sizeof(name), &error) == 0 &&
	    (attrs & IMAP_LIST_NOSELECT) == 0 && strcmp(name, l->folders->f[l->folder].name) == 0)
		l->folder_listed = true;
}

static void login_exists_done(void *ctx, const struct imap_reply *reply)
{
	struct pop3_login *l = ctx;

	if (login_folder_lost(l, reply))
		return;
	if (reply->result == IMAP_REPLY_OK && !l->folder_listed) {
		login_folder_drop(l, "does not exist");
		return;
	}
	login_folder_refused(l, "SELECT refused, and LIST names it");
}

/* Both LISTs' answers (imap_client.h). */
static bool login_list_claims(void *ctx, const struct imap_resp *resp)
{
	(void)ctx;
	return imap_resp_keyword_is(resp, "LIST");
}

static const struct imap_cmd_handlers login_exists_handlers = {
	.untagged = login_exists_untagged,
	.claims = login_list_claims,
	.done = login_exists_done,
};

static void login_folder_selected(void *ctx, const struct imap_reply *reply,
				  const struct imap_selected *info)
{
	struct pop3_login *l = ctx;
	char reason[300];

	if (login_folder_lost(l, reply))
		return;
	/* A folder that does not exist (RFC 5530 NONEXISTENT) is not part of
	   the maildrop; any other refusal fails the login: a folder missing
	   from one listing would make clients forget its UIDLs. A NO
	   without the code (Dovecot's) is asked about with LIST. */
	if (reply->result != IMAP_REPLY_OK && reply->code != NULL &&
	    reply->code_len == strlen("NONEXISTENT") &&
	    strncasecmp(reply->code, "NONEXISTENT", reply->code_len) == 0) {
		login_folder_drop(l, "does not exist");
		return;
	}
	if (reply->result == IMAP_REPLY_NO && reply->code == NULL) {
		l->folder_listed = false;
		if (imap_client_cmdf(l->imap, &login_exists_handlers, l, "LIST \"\" %s",
				     l->folders->f[l->folder].name) == 0)
			return;
	}
	if (reply->result != IMAP_REPLY_OK || info->uidvalidity == 0) {
		snprintf(reason, sizeof(reason), "%s", reply->text);
		login_folder_refused(l, reason);
		return;
	}
	login_step_list(l, info);
}

static void login_folder_next(struct pop3_login *l)
{
	struct pop3_session *s = l->s;
	struct pop3_folders *fs = l->folders;
	struct pop3_folder *f;
	char account[CACHE_ACCOUNT_MAX + 1];

	if (++l->folder >= fs->n) {
		login_folders_done(l);
		return;
	}
	f = &fs->f[l->folder];
	pop3_folder_tag(f->name, f->tag);
	/* The folder's state is its own account's: hides, registration and
	   starting point, UIDL map, sizes (cache_key.h adds "/<mailbox>"). */
	free(l->folder_account);
	l->folder_account = NULL;
	if (cache_account_name(account, sizeof(account), l->login_user, l->login_user_len,
			       s->route->host, s->route->port, f->name) == 0 ||
	    (l->folder_account = strdup(account)) == NULL) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] A folder's name is too long for the state store");
		return;
	}
	l->remap_from = 0;
	l->first_uid = 0;
	l->left_out = 0;
	l->new_device = false;
	l->pruned = 0;
	login_set_step(l, LOGIN_SELECT);
	if (imap_select(&l->select, l->imap, f->name, login_folder_selected, l) < 0)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] Bad folder name in configuration");
}

/* ---- which folders: the special-use names ---- */

/* Which accounts hold this device's state beyond the first folder's,
   recorded in the first's before any of them is written
   (cache_admin.h): for popgate device, which cannot resolve special-use
   names. Nothing waits for it; a lost one is logged by the store. */
static void login_folders_note(struct pop3_login *l)
{
	const struct pop3_folders *fs = l->folders;
	const char *names[CACHE_ADMIN_NOTE_MAX];
	size_t n = 0;

	for (unsigned int i = 1; i < fs->n && n < CACHE_ADMIN_NOTE_MAX; i++)
		names[n++] = fs->f[i].name;
	if (n > 0)
		cache_admin_note_folders(l->s->srv->cache, l->account, l->s->device, names, n,
					 NULL, NULL);
}

/* The profile's entries after the first, resolved: a name the folders
   do not have yet; a special-use name that LIST did not find is left
   out (logged). */
static void login_folders_plan(struct pop3_login *l)
{
	const struct conf_profile *p = l->s->profile;
	struct pop3_folders *fs = l->folders;

	for (unsigned int i = 1; i < p->folder_count && fs->n < fs->max; i++) {
		const char *name = p->folders[i];
		bool twice = false;

		if (conf_folder_special(name) != NULL) {
			if (l->special == NULL || l->special->name[i][0] == '\0') {
				log_info("%s event=folder_skipped folder=%s reason=\"no mailbox has "
					 "this special use\"", l->s->log_id, name);
				continue;
			}
			name = l->special->name[i];
		}
		for (unsigned int j = 0; j < fs->n; j++)
			twice = twice || login_same_mailbox(fs->f[j].name, name);
		if (twice) {
			char esc[200];

			log_info("%s event=folder_skipped folder=%s reason=\"listed already\"",
				 l->s->log_id, text_escape(name, strlen(name), esc, sizeof(esc)));
			continue;
		}
		if ((fs->f[fs->n].name = strdup(name)) == NULL) {
			login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
				   "-ERR [SYS/TEMP] Out of memory");
			return;
		}
		fs->n++;
	}
	free(l->special);
	l->special = NULL;
	login_folders_note(l);
	login_folder_next(l);
}

static void login_special_untagged(void *ctx, const struct imap_resp *resp)
{
	struct pop3_login *l = ctx;
	const struct conf_profile *p = l->s->profile;
	unsigned int attrs;
	char name[256];
	const char *error;

	if (!imap_resp_keyword_is(resp, "LIST") ||
	    imap_list_parse(resp->rest, resp->rest_len, &attrs, name, sizeof(name), &error) < 0 ||
	    (attrs & IMAP_LIST_NOSELECT) != 0)
		return;
	/* The first mailbox with the attribute, as LIST gives them. */
	for (unsigned int i = 1; i < p->folder_count; i++) {
		const char *use = conf_folder_special(p->folders[i]);

		if (use != NULL && l->special->name[i][0] == '\0' &&
		    (attrs & imap_list_special_attr(use, strlen(use))) != 0)
			snprintf(l->special->name[i], sizeof(l->special->name[i]), "%s", name);
	}
}

static void login_special_done(void *ctx, const struct imap_reply *reply)
{
	struct pop3_login *l = ctx;

	if (login_folder_lost(l, reply))
		return;
	/* A server that refuses the LIST has no special-use names to give. */
	if (reply->result != IMAP_REPLY_OK)
		log_info("%s event=special_use_list_refused reply=\"%s\"", l->s->log_id,
			 reply->text);
	login_folders_plan(l);
}

static const struct imap_cmd_handlers login_special_handlers = {
	.untagged = login_special_untagged,
	.claims = login_list_claims,
	.done = login_special_done,
};

void login_folders_built(struct pop3_login *l)
{
	struct pop3_session *s = l->s;
	const struct conf_profile *p = s->profile;
	struct pop3_folders *fs = l->folders;
	bool special = false;

	if (l->folder > 0) {
		size_t pool = l->drop->pool_cap;

		/* Its UIDLs carry its tag: unique beside the other folders'
		   (their strings within the budget too). */
		if (pop3_folder_uidl_prefix(l->drop, fs->f[l->folder].tag) < 0) {
			login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
				   "-ERR [SYS/TEMP] Out of memory");
			return;
		}
		if (!login_reserve(l, l->drop->pool_cap - pool))
			return;
		l->reserved_drop += l->drop->pool_cap - pool;
		fs->f[l->folder].drop = l->drop;
		fs->f[l->folder].dev = l->dev;
		l->drop = NULL;
		l->dev = NULL;
		login_folder_next(l);
		return;
	}
	/* The first folder: the route's mailbox, built as ever. */
	if ((l->folders = fs = pop3_folders_new(p->folder_count)) == NULL ||
	    (fs->f[0].name = strdup(s->route->mailbox)) == NULL) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	fs->n = 1;
	fs->f[0].drop = l->drop;
	fs->f[0].dev = l->dev;
	l->drop = NULL;
	l->dev = NULL;
	l->kept_listing = imap_client_take_listing(l->imap);
	for (unsigned int i = 1; i < p->folder_count; i++)
		special = special || conf_folder_special(p->folders[i]) != NULL;
	if (!special) {
		login_folders_plan(l);
		return;
	}
	/* RFC 6154: LIST (SPECIAL-USE) where the server has the extension;
	   else a plain LIST, whose attributes some servers fill in too. */
	login_set_step(l, LOGIN_SELECT);
	if ((l->special = calloc(1, sizeof(*l->special))) == NULL ||
	    imap_client_command(l->imap, (imap_client_caps(l->imap) & IMAP_CAP_SPECIAL_USE) != 0 ?
				"LIST (SPECIAL-USE) \"\" \"*\"" : "LIST \"\" \"*\"",
				&login_special_handlers, l) < 0)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Out of memory");
}
