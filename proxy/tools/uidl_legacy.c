/* popgate uidl import --route: contracts in uidl_legacy.h. */

#include "uidl_legacy.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "cache.h"
#include "conf.h"
#include "imap_client.h"
#include "imap_cmd.h"
#include "imap_login.h"
#include "imap_mailbox.h"
#include "imap_sync.h"
#include "legacy_import.h"
#include "pop3_account.h"
#include "tls.h"
#include "version.h"

#define UIDL_LEGACY_LOG_ID "uidl-import"

struct uidl_legacy_msg {
	uint32_t uid;
	uint64_t size;
};

struct uidl_legacy {
	struct event_base *base;
	struct evdns_base *dns;
	struct cache *cache;
	const struct conf_upstream *up;
	struct tls_client_ctx *tls;
	struct imap_client *imap;
	struct imap_select_op select;
	struct imap_sync_op list;
	struct legacy_import *imp;
	struct pop3_account a;
	const char *address;
	char pass[IMAP_CRED_MAX + 2];
	size_t pass_len;
	struct uidl_legacy_msg *msgs;
	size_t n, cap;
	uint32_t uidvalidity;
	bool done;
	int ret;
};

static void uidl_legacy_end(struct uidl_legacy *t, int ret, const char *what, const char *why)
{
	if (what != NULL)
		fprintf(stderr, "popgate uidl import: %s: %s%s%s; nothing stored\n", t->address,
			what, why != NULL ? ": " : "", why != NULL ? why : "");
	t->ret = ret;
	t->done = true;
}

/* First line of path ("-": stdin), without its line end. */
static int uidl_legacy_password(struct uidl_legacy *t, const char *path)
{
	FILE *f = path == NULL || strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *nl;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	if (fgets(t->pass, sizeof(t->pass), f) == NULL)
		t->pass[0] = '\0';
	if (f != stdin)
		fclose(f);
	nl = strpbrk(t->pass, "\r\n");
	if (nl == NULL && strlen(t->pass) > IMAP_CRED_MAX) {
		fprintf(stderr, "popgate uidl import: the password is longer than %d octets\n",
			IMAP_CRED_MAX);
		return -1;
	}
	if (nl != NULL)
		*nl = '\0';
	t->pass_len = strlen(t->pass);
	if (t->pass_len == 0) {
		fprintf(stderr, "popgate uidl import: no password given (on the first line of "
			"--password-file FILE, or of stdin)\n");
		return -1;
	}
	return 0;
}

/* ---- import ---- */

static void uidl_legacy_imported(void *ctx, const char *reply,
				 const struct legacy_import_result *r)
{
	struct uidl_legacy *t = ctx;

	if (r->busy) {
		fprintf(stderr, "popgate uidl import: %s: not imported now: another import of "
			"this account holds its lease (a first login through popgate, or another "
			"popgate uidl import); nothing stored. Run this again once that one has "
			"ended, at the latest %u s after it began (when its lease expires); if "
			"popgate uidl show %s then says \"legacy import done\", it stored the "
			"UIDLs and there is nothing left to do\n", t->address,
			legacy_import_lease_secs(t->up, t->n), t->address);
		uidl_legacy_end(t, 1, NULL, NULL);
		return;
	}
	if (reply != NULL) {
		/* "-ERR [CODE] text": the text is what an administrator needs. */
		const char *why = strchr(reply, ']');

		uidl_legacy_end(t, 1, "import failed", why != NULL ? why + 2 : reply);
		return;
	}
	if (r->already) {
		fprintf(stderr, "popgate uidl import: %s: already imported: the account's UIDLs "
			"were imported before (by a first login through popgate or by this "
			"command), and an account is imported once; nothing changed and nothing "
			"is left to do (popgate uidl show %s shows what was stored)\n",
			t->address, t->address);
		uidl_legacy_end(t, 1, NULL, NULL);
		return;
	}
	printf("%s: %zu matched, %zu unmatched old, %zu unmatched new "
	       "(legacy server %zu messages, mailbox %zu)\n", t->address, r->matched,
	       r->old_unmatched, r->n_new - r->matched, r->n_old, r->n_new);
	uidl_legacy_end(t, 0, NULL, NULL);
}

static int uidl_legacy_uid_cmp(const void *a, const void *b)
{
	const struct uidl_legacy_msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void uidl_legacy_step_import(struct uidl_legacy *t)
{
	uint32_t *uids = calloc(t->n + 1, sizeof(*uids));
	uint64_t *sizes = calloc(t->n + 1, sizeof(*sizes));
	struct legacy_import_settings set = {
		.base = t->base, .dns = t->dns, .cache = t->cache, .up = t->up,
		.tls_ctx = t->tls, .log_id = UIDL_LEGACY_LOG_ID, .account = t->a.account,
		.user = t->a.login_user, .user_len = t->a.login_user_len,
		.pass = t->pass, .pass_len = t->pass_len, .imap = t->imap,
		.uidvalidity = t->uidvalidity, .uids = uids, .sizes = sizes, .n = t->n,
		.never_proceed = true,
	};

	if (uids != NULL && sizes != NULL) {
		if (t->n > 0)
			qsort(t->msgs, t->n, sizeof(*t->msgs), uidl_legacy_uid_cmp);
		for (size_t i = 0; i < t->n; i++) {
			uids[i] = t->msgs[i].uid;
			sizes[i] = t->msgs[i].size;
		}
		t->imp = legacy_import_start(&set, uidl_legacy_imported, t);
	}
	free(uids);
	free(sizes);
	explicit_bzero(t->pass, sizeof(t->pass));
	if (t->imp == NULL)
		uidl_legacy_end(t, 1, "out of memory", NULL);
}

/* ---- list ---- */

static bool uidl_legacy_message(void *ctx, uint32_t uid, uint64_t size, unsigned int flags,
				int64_t internaldate)
{
	struct uidl_legacy *t = ctx;

	if (t->n == t->cap)
		return false;        /* more than SELECT said: a listing that fails */
	t->msgs[t->n++] = (struct uidl_legacy_msg){ uid, size };
	return true;
}

static void uidl_legacy_listed(void *ctx, bool ok, const struct imap_reply *reply)
{
	struct uidl_legacy *t = ctx;

	if (!ok) {
		uidl_legacy_end(t, 1, "cannot list the IMAP mailbox",
				t->list.failed ? t->list.error : reply != NULL ? reply->text : NULL);
		return;
	}
	uidl_legacy_step_import(t);
}

static const struct imap_list_handlers uidl_legacy_list_handlers = {
	.message = uidl_legacy_message,
	.done = uidl_legacy_listed,
};

static void uidl_legacy_selected(void *ctx, const struct imap_reply *reply,
				 const struct imap_selected *info)
{
	struct uidl_legacy *t = ctx;

	if (reply->result != IMAP_REPLY_OK || info->uidvalidity == 0) {
		uidl_legacy_end(t, 1, "cannot open the IMAP mailbox",
				reply->result != IMAP_REPLY_OK ? reply->text : "no UIDVALIDITY");
		return;
	}
	t->uidvalidity = info->uidvalidity;
	t->cap = info->exists;
	t->msgs = calloc(t->cap + 1, sizeof(*t->msgs));
	if (t->msgs == NULL) {
		uidl_legacy_end(t, 1, "out of memory", NULL);
		return;
	}
	if (info->exists == 0) {
		uidl_legacy_step_import(t);
		return;
	}
	/* Every message, \Deleted ones too, as the login's import takes them;
	   not kept with the connection, which goes after this. */
	if (imap_sync_listing(&t->list, t->imap, info, t->cap, false, false,
			      &uidl_legacy_list_handlers, t) < 0)
		uidl_legacy_end(t, 1, "cannot list the IMAP mailbox", NULL);
}

/* ---- connect, log in ---- */

static void uidl_legacy_logged_in(void *ctx, const struct imap_reply *reply)
{
	struct uidl_legacy *t = ctx;

	if (reply->result != IMAP_REPLY_OK) {
		uidl_legacy_end(t, 1, reply->result == IMAP_REPLY_NO ?
				"the IMAP upstream refused the login" :
				"the IMAP upstream failed at the login", reply->text);
		return;
	}
	if (imap_select(&t->select, t->imap, t->up->mailbox, uidl_legacy_selected, t) < 0)
		uidl_legacy_end(t, 1, "bad mailbox name in the configuration", NULL);
}

static const struct imap_cmd_handlers uidl_legacy_login_handlers = {
	.done = uidl_legacy_logged_in,
};

static void uidl_legacy_connected(void *ctx, bool ok, const char *error)
{
	struct uidl_legacy *t = ctx;
	const char *why;

	if (!ok) {
		uidl_legacy_end(t, 1, "cannot reach the IMAP upstream", error);
		return;
	}
	if (imap_client_login(t->imap, t->a.login_user, t->a.login_user_len, t->pass, t->pass_len,
			      &uidl_legacy_login_handlers, t, &why) < 0)
		uidl_legacy_end(t, 1, "cannot log in to the IMAP upstream", why);
}

/* The account, its route (DOMAIN's, with legacy_pop3), or why not. */
static int uidl_legacy_route(struct uidl_legacy *t, const struct conf *conf, const char *route)
{
	const struct conf_upstream *want = conf_route(conf, route, strlen(route));

	if (want == NULL) {
		fprintf(stderr, "popgate uidl import: no route for %s\n", route);
		return -1;
	}
	if (pop3_account_find(conf, t->address, strlen(t->address), &t->a) != POP3_ACCOUNT_OK) {
		fprintf(stderr, "popgate uidl import: %s: not a login name popgate serves\n",
			t->address);
		return -1;
	}
	if (t->a.route != want) {
		fprintf(stderr, "popgate uidl import: %s is not on the route of %s\n", t->address,
			route);
		return -1;
	}
	t->up = want;
	if (want->legacy_pop3 == NULL) {
		fprintf(stderr, "popgate uidl import: the route of %s has no legacy_pop3: there "
			"is no old server to import from\n", route);
		return -1;
	}
	if (want->auth == CONF_AUTH_OAUTH2) {
		fprintf(stderr, "popgate uidl import: the route of %s logs in with OAuth2: no "
			"password to give the old server\n", route);
		return -1;
	}
	return 0;
}

int uidl_legacy_import(struct event_base *base, struct cache *cache, const struct conf *conf,
		       const char *route, const char *address, const char *password_file)
{
	struct uidl_legacy *t = calloc(1, sizeof(*t));
	struct imap_client_settings set = { .log_id = UIDL_LEGACY_LOG_ID,
					    .version = POPGATE_VERSION };
	char *error = NULL;
	int ret;

	if (t == NULL) {
		fprintf(stderr, "popgate uidl import: out of memory\n");
		return 1;
	}
	t->base = base;
	t->cache = cache;
	t->address = address;
	t->ret = 1;
	if (uidl_legacy_route(t, conf, route) < 0 || uidl_legacy_password(t, password_file) < 0)
		goto out;
	t->tls = tls_client_ctx_new(t->up->verify, t->up->ca_file, &error);
	t->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (t->tls == NULL || t->dns == NULL) {
		fprintf(stderr, "popgate uidl import: %s\n", error != NULL ? error :
			"cannot set up DNS");
		goto out;
	}
	set.host = t->up->host;
	set.port = t->up->port;
	set.tls = pop3_account_tls_mode(t->up);
	set.tls_ctx = t->tls;
	set.timeout_secs = t->up->timeout_secs;
	t->imap = imap_client_new(base, t->dns, &set);
	if (t->imap == NULL) {
		fprintf(stderr, "popgate uidl import: out of memory\n");
		goto out;
	}
	imap_client_connect(t->imap, uidl_legacy_connected, t);
	while (!t->done)
		event_base_loop(base, EVLOOP_ONCE);
out:
	ret = t->ret;
	explicit_bzero(t->pass, sizeof(t->pass));
	legacy_import_free(&t->imp);
	imap_client_free(&t->imap);
	if (t->dns != NULL)
		evdns_base_free(t->dns, 0);
	tls_client_ctx_free(&t->tls);
	free(error);
	free(t->msgs);
	free(t);
	return ret;
}
