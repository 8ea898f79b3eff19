/* The legacy step of a login; contracts in login_legacy.h. The import
   itself is legacy_import.c's, shared with `popgate uidl import`. */

#include "login_legacy.h"

#include <stdint.h>
#include <stdlib.h>

#include "conf.h"
#include "legacy_import.h"
#include "log.h"
#include "maildrop.h"
#include "session.h"
#include "settings.h"

struct pop3_legacy_import {
	struct pop3_session *s;
	struct legacy_import *imp;
	uint64_t reserved;
	pop3_legacy_done_cb *done;
	void *ctx;
};

void pop3_legacy_free(struct pop3_legacy_import **lip)
{
	struct pop3_legacy_import *li = *lip;

	if (li == NULL)
		return;
	*lip = NULL;
	legacy_import_free(&li->imp);
	pop3_session_unreserve(li->s, li->reserved);
	free(li);
}

static void pop3_legacy_imported(void *ctx, const char *reply,
				 const struct legacy_import_result *r)
{
	struct pop3_legacy_import *li = ctx;

	li->done(li->ctx, reply);
}

struct pop3_legacy_import *pop3_legacy_start(struct pop3_session *s, const char *account,
					     const char *user, size_t user_len, const char *pass,
					     size_t pass_len, struct imap_client *imap,
					     struct pop3_maildrop *drop, pop3_legacy_done_cb *done,
					     void *ctx)
{
	struct pop3_legacy_import *li = calloc(1, sizeof(*li));
	/* Every message of the mailbox, not only this device's drop: the
	   import is once per account, and a device with a wider view comes
	   later (a profile's rule, messages flagged \Deleted). */
	size_t n = drop->exists_count;
	uint64_t need = legacy_import_bytes(n), *sizes;
	struct legacy_import_settings set = {
		.base = s->srv->base, .dns = s->srv->dns, .cache = s->srv->cache,
		.up = s->route, .tls_ctx = settings_upstream_tls(s->set, s->route),
		.log_id = s->log_id, .account = account,
		.user = user, .user_len = user_len, .pass = pass, .pass_len = pass_len,
		.imap = imap, .uidvalidity = drop->uidvalidity, .uids = drop->exists, .n = n,
	};

	if (li == NULL)
		return NULL;
	li->s = s;
	li->done = done;
	li->ctx = ctx;
	if (!pop3_session_reserve(s, need)) {
		log_warn("%s event=listing_memory_full need=%llu budget_mib=%u", s->log_id,
			 (unsigned long long)need, s->conf->max_listing_mib);
		free(li);
		return NULL;
	}
	li->reserved = need;
	sizes = calloc(n + 1, sizeof(*sizes));
	if (sizes == NULL) {
		pop3_legacy_free(&li);
		return NULL;
	}
	for (size_t j = 0; j < n; j++) {
		const struct pop3_msg *m = pop3_maildrop_by_uid(drop, drop->exists[j]);

		/* Left out of this device's drop (its profile, \Deleted): no
		   size known, matched by its header alone. */
		sizes[j] = m != NULL ? pop3_msg_size(drop, m) : UINT64_MAX;
	}
	set.sizes = sizes;
	li->imp = legacy_import_start(&set, pop3_legacy_imported, li);
	free(sizes);
	if (li->imp == NULL)
		pop3_legacy_free(&li);
	return li;
}
