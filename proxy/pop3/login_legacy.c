/* The legacy step of a login; contracts in login_legacy.h. */

#include "login_legacy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "conf.h"
#include "imap_fp.h"
#include "legacy_match.h"
#include "legacy_pop3.h"
#include "legacy_url.h"
#include "log.h"
#include "maildrop.h"
#include "session.h"
#include "settings.h"
#include "text.h"
#include "tls.h"

/* Legacy messages taken at most: the mailbox's own count twice and some
   (an old server with far more mail than the new mailbox was not
   migrated: refused rather than read at length), and never more than one
   write of the state store takes. */
#define LEGACY_EXTRA_MESSAGES 1000
#define LEGACY_MAX_MESSAGES 200000
/* Unmatched old messages logged one by one; the rest are counted. */
#define LEGACY_LOG_UNMATCHED 50

struct pop3_legacy_import {
	struct pop3_session *s;
	const struct conf_upstream *up;
	char *account;
	char *user, *pass;
	size_t user_len, pass_len;
	struct imap_client *imap;
	struct pop3_maildrop *drop;
	char token[33];
	struct cache_req *req;
	struct legacy_pop3 *client;
	struct legacy_msg *old;
	size_t n_old;
	uint32_t max_old;
	uint32_t *uids;                    /* the drop's, ascending */
	char (*fps)[IMAP_FP_HEX + 1];
	char (*hashes)[IMAP_FP_HEX + 1];
	size_t n;
	struct imap_fp_op fp;
	bool fetching;
	struct cache_uidl_new *entries;
	size_t matched, by_size;
	bool pipelining;                   /* the old server took TOPs in a row */
	uint64_t reserved;
	char reply[400];
	pop3_legacy_done_cb *done;
	void *ctx;
};

static void pop3_legacy_wipe(char **p, size_t len)
{
	if (*p != NULL) {
		explicit_bzero(*p, len);
		free(*p);
		*p = NULL;
	}
}

void pop3_legacy_free(struct pop3_legacy_import **lip)
{
	struct pop3_legacy_import *li = *lip;

	if (li == NULL)
		return;
	*lip = NULL;
	cache_req_cancel(&li->req);
	legacy_pop3_free(&li->client);
	if (li->fetching)
		imap_fp_op_clear(&li->fp);
	pop3_legacy_wipe(&li->pass, li->pass_len);
	pop3_legacy_wipe(&li->user, li->user_len);
	pop3_session_unreserve(li->s, li->reserved);
	free(li->account);
	free(li->old);
	free(li->uids);
	free(li->fps);
	free(li->hashes);
	free(li->entries);
	free(li);
}

static void pop3_legacy_finish(struct pop3_legacy_import *li, const char *reply)
{
	li->done(li->ctx, reply);
}

/* ---- failure: give the lease back, then refuse or go on ---- */

static void pop3_legacy_released(void *ctx, enum cache_status st)
{
	struct pop3_legacy_import *li = ctx;

	li->req = NULL;
	pop3_legacy_finish(li, li->reply);
}

static void pop3_legacy_refuse(struct pop3_legacy_import *li, const char *reply)
{
	if (reply != li->reply)
		snprintf(li->reply, sizeof(li->reply), "%s", reply);
	li->req = cache_legacy_release(li->s->srv->cache, li->account, li->token,
				       pop3_legacy_released, li);
	if (li->req == NULL)
		pop3_legacy_finish(li, li->reply);
}

static void pop3_legacy_stored(void *ctx, enum cache_status st);

/* The legacy server could not be read: legacy_unreachable decides. */
static void pop3_legacy_unreadable(struct pop3_legacy_import *li, enum legacy_pop3_result r,
				   const char *reason)
{
	char why[300], summary[CACHE_LEGACY_SUMMARY_MAX + 1];

	text_escape_quoted(reason, strlen(reason), why, sizeof(why));
	log_warn("%s event=legacy_unreadable legacy=%s result=%s action=%s error=\"%s\"",
		 li->s->log_id, li->up->legacy_pop3, legacy_pop3_result_name(r),
		 li->up->legacy_unreachable == CONF_LEGACY_PROCEED ? "proceed" : "refuse", why);
	if (li->up->legacy_unreachable == CONF_LEGACY_PROCEED) {
		/* Done for good: the messages take UIDLs by uidl_format now,
		   and an import later would change nothing for them. */
		snprintf(summary, sizeof(summary), "%lld proceeded without the legacy server (%s)",
			 (long long)time(NULL), legacy_pop3_result_name(r));
		li->req = cache_legacy_store(li->s->srv->cache, li->account, li->token,
					     li->drop->uidvalidity, NULL, 0, summary,
					     pop3_legacy_stored, li);
		if (li->req == NULL)
			pop3_legacy_finish(li, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	snprintf(li->reply, sizeof(li->reply), "-ERR [SYS/TEMP] Cannot read the old POP3 server "
		 "to keep your UIDLs (%s), try again later", why);
	pop3_legacy_refuse(li, li->reply);
}

/* ---- store ---- */

static void pop3_legacy_stored(void *ctx, enum cache_status st)
{
	struct pop3_legacy_import *li = ctx;

	li->req = NULL;
	if (st != CACHE_OK) {
		log_warn("%s event=legacy_store_failed status=%s", li->s->log_id,
			 cache_status_name(st));
		/* Nothing was written; the lease expires (or was lost). */
		pop3_legacy_finish(li, st == CACHE_LIMIT ?
				   "-ERR [SYS/PERM] The UIDL map is full" :
				   "-ERR [SYS/TEMP] Device state unavailable, try again later");
		return;
	}
	pop3_legacy_finish(li, NULL);
}

/* Old messages that match nothing: their mail is not in the new mailbox
   (deleted meanwhile, not migrated), so no client will see them again. */
static size_t pop3_legacy_report_unmatched(struct pop3_legacy_import *li, const size_t *match)
{
	bool *used = calloc(li->n_old + 1, sizeof(bool));
	size_t unmatched = 0;

	if (used == NULL)
		return li->n_old - li->matched;
	for (size_t j = 0; j < li->n; j++) {
		if (match[j] != LEGACY_MATCH_NONE)
			used[match[j]] = true;
	}
	for (size_t i = 0; i < li->n_old; i++) {
		if (used[i])
			continue;
		if (unmatched++ < LEGACY_LOG_UNMATCHED)
			log_info("%s event=legacy_unmatched msg=%u uidl=%s size=%llu has_header=%s",
				 li->s->log_id, li->old[i].msgno, li->old[i].uidl,
				 (unsigned long long)li->old[i].size,
				 li->old[i].hash[0] != '\0' ? "yes" : "no");
	}
	free(used);
	return unmatched;
}

static void pop3_legacy_match(struct pop3_legacy_import *li)
{
	struct legacy_match_item *a = calloc(li->n_old + 1, sizeof(*a));
	struct legacy_match_item *b = calloc(li->n + 1, sizeof(*b));
	size_t *match = calloc(li->n + 1, sizeof(*match));
	size_t k = 0, unmatched;
	char summary[CACHE_LEGACY_SUMMARY_MAX + 1];

	if (a == NULL || b == NULL || match == NULL)
		goto memory;
	for (size_t i = 0; i < li->n_old; i++)
		a[i] = (struct legacy_match_item){ .size = li->old[i].size, .hash = li->old[i].hash };
	for (size_t j = 0; j < li->n; j++) {
		const struct pop3_msg *m = pop3_maildrop_by_uid(li->drop, li->uids[j]);

		/* Left out of this device's drop (its profile, \Deleted): no
		   size known, matched by its header alone. */
		b[j] = (struct legacy_match_item){ .size = m != NULL ? m->size : UINT64_MAX,
						   .hash = li->hashes[j] };
	}
	li->matched = legacy_match(a, li->n_old, b, li->n, match, &li->by_size);
	if (li->matched == SIZE_MAX)
		goto memory;
	for (size_t j = 0; j < li->n; j++) {
		if (match[j] == LEGACY_MATCH_NONE)
			continue;
		li->entries[k++] = (struct cache_uidl_new){
			.uid = li->uids[j], .fingerprint = li->fps[j],
			.uidl = li->old[match[j]].uidl,
		};
	}
	unmatched = pop3_legacy_report_unmatched(li, match);
	log_info("%s event=legacy_import legacy=%s old=%zu new=%zu matched=%zu by_size=%zu "
		 "by_header=%zu old_unmatched=%zu new_unmatched=%zu pipelining=%s", li->s->log_id,
		 li->up->legacy_pop3, li->n_old, li->n, li->matched, li->by_size,
		 li->matched - li->by_size, unmatched, li->n - li->matched,
		 li->pipelining ? "yes" : "no");
	snprintf(summary, sizeof(summary), "%lld old=%zu new=%zu matched=%zu old_unmatched=%zu",
		 (long long)time(NULL), li->n_old, li->n, li->matched, unmatched);
	free(a);
	free(b);
	free(match);
	li->req = cache_legacy_store(li->s->srv->cache, li->account, li->token,
				     li->drop->uidvalidity, li->entries, k, summary,
				     pop3_legacy_stored, li);
	if (li->req == NULL)
		pop3_legacy_refuse(li, "-ERR [SYS/TEMP] Out of memory");
	return;
memory:
	free(a);
	free(b);
	free(match);
	pop3_legacy_refuse(li, "-ERR [SYS/TEMP] Out of memory");
}

/* ---- fetch: the IMAP side's header hashes ---- */

static int pop3_legacy_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Position of uid in uids (ascending), or -1. */
static long pop3_legacy_index(const struct pop3_legacy_import *li, uint32_t uid)
{
	const uint32_t *at = bsearch(&uid, li->uids, li->n, sizeof(*li->uids),
				     pop3_legacy_uid_cmp);

	return at != NULL ? (long)(at - li->uids) : -1;
}

static void pop3_legacy_fp(void *ctx, uint32_t uid, const char *fp, int64_t internaldate)
{
	struct pop3_legacy_import *li = ctx;
	long i = pop3_legacy_index(li, uid);

	if (i >= 0)
		snprintf(li->fps[i], sizeof(li->fps[i]), "%s", fp);
}

static void pop3_legacy_more(void *ctx, uint32_t uid, const struct imap_fp_more_values *v)
{
	struct pop3_legacy_import *li = ctx;
	long i = pop3_legacy_index(li, uid);

	if (i >= 0)
		snprintf(li->hashes[i], sizeof(li->hashes[i]), "%s", v->hdr_hash);
}

static void pop3_legacy_fetched(void *ctx, bool ok)
{
	struct pop3_legacy_import *li = ctx;

	li->fetching = false;
	if (!ok) {
		pop3_legacy_refuse(li, "-ERR [SYS/TEMP] Upstream failed while reading the "
				   "headers to match the old server's UIDLs");
		return;
	}
	pop3_legacy_match(li);
}

static const struct imap_fp_handlers pop3_legacy_fp_handlers = {
	.message = pop3_legacy_fp,
	.more = pop3_legacy_more,
	.done = pop3_legacy_fetched,
};

/* ---- read: the legacy server ---- */

static void pop3_legacy_read(void *ctx, enum legacy_pop3_result r, const char *reason,
			     const struct legacy_msg *msgs, size_t n)
{
	struct pop3_legacy_import *li = ctx;
	char why[300];

	/* What the client gave is its own: copied before it goes. */
	pop3_legacy_wipe(&li->pass, li->pass_len);
	snprintf(why, sizeof(why), "%s", reason);
	if (r == LEGACY_POP3_OK && (li->old = malloc((n + 1) * sizeof(*li->old))) != NULL) {
		if (n > 0)
			memcpy(li->old, msgs, n * sizeof(*msgs));
		li->n_old = n;
	}
	li->pipelining = legacy_pop3_pipelining(li->client);
	legacy_pop3_free(&li->client);
	if (r != LEGACY_POP3_OK) {
		pop3_legacy_unreadable(li, r, why);
		return;
	}
	if (li->old == NULL) {
		pop3_legacy_refuse(li, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	if (li->n == 0) {
		pop3_legacy_match(li);
		return;
	}
	li->fetching = true;
	if (imap_fp_fetch_more(&li->fp, li->imap, li->uids, li->n, IMAP_FP_HEADER_HASH,
			       &pop3_legacy_fp_handlers, li) < 0) {
		li->fetching = false;
		pop3_legacy_refuse(li, "-ERR [SYS/TEMP] Out of memory");
	}
}

static void pop3_legacy_connect(struct pop3_legacy_import *li)
{
	struct pop3_session *s = li->s;
	struct legacy_url u;
	const char *error;
	struct legacy_pop3_settings set = {
		.allow_plaintext = li->up->legacy_plaintext,
		.tls_ctx = settings_upstream_tls(s->set, li->up),
		.timeout_secs = li->up->legacy_timeout_secs,
		.user = li->user, .user_len = li->user_len,
		.pass = li->pass, .pass_len = li->pass_len,
		.max_messages = li->max_old, .log_id = s->log_id,
	};

	if (legacy_url_parse(li->up->legacy_pop3, strlen(li->up->legacy_pop3), &u, &error) < 0) {
		/* The configuration check refuses it: a bug if seen. */
		pop3_legacy_refuse(li, "-ERR [SYS/PERM] Bad legacy_pop3 in configuration");
		return;
	}
	set.host = u.host;
	set.port = u.port;
	set.implicit_tls = u.implicit_tls;
	li->client = legacy_pop3_start(s->srv->base, s->srv->dns, &set, pop3_legacy_read, li);
	if (li->client == NULL)
		pop3_legacy_unreadable(li, LEGACY_POP3_MEMORY, "cannot start (a user name or "
				       "password that POP3 cannot carry, or out of memory)");
}

/* ---- claim ---- */

static void pop3_legacy_claimed(void *ctx, enum cache_status st, uint64_t value)
{
	struct pop3_legacy_import *li = ctx;

	li->req = NULL;
	if (st != CACHE_OK) {
		log_warn("%s event=state_unavailable while=\"claiming the legacy import\" status=%s",
			 li->s->log_id, cache_status_name(st));
		pop3_legacy_finish(li, "-ERR [SYS/TEMP] Device state unavailable, try again later");
		return;
	}
	if (value == CACHE_LEGACY_DONE) {
		pop3_legacy_finish(li, NULL);
		return;
	}
	if (value == CACHE_LEGACY_BUSY) {
		log_info("%s event=legacy_import_busy", li->s->log_id);
		pop3_legacy_finish(li, "-ERR [SYS/TEMP] Another login is taking this mailbox's "
				   "UIDLs from the old server, try again in a minute");
		return;
	}
	log_info("%s event=legacy_import_start legacy=%s messages=%zu", li->s->log_id,
		 li->up->legacy_pop3, li->n);
	pop3_legacy_connect(li);
}

/* What the import holds per message of the mailbox, and per old one. */
static uint64_t pop3_legacy_bytes(size_t n, size_t max_old)
{
	return (uint64_t)(n + 1) * (sizeof(uint32_t) + 2 * (IMAP_FP_HEX + 1) +
				    sizeof(struct cache_uidl_new) + sizeof(size_t) +
				    2 * sizeof(struct legacy_match_item) + 2 * 32) +
		(uint64_t)(max_old + 1) * (2 * sizeof(struct legacy_msg) + 32);
}

struct pop3_legacy_import *pop3_legacy_start(struct pop3_session *s, const char *account,
					     const char *user, size_t user_len, const char *pass,
					     size_t pass_len, struct imap_client *imap,
					     struct pop3_maildrop *drop, pop3_legacy_done_cb *done,
					     void *ctx)
{
	struct pop3_legacy_import *li = calloc(1, sizeof(*li));
	unsigned char rnd[16];
	uint64_t need, ttl_ms;

	if (li == NULL)
		return NULL;
	li->s = s;
	li->up = s->route;
	li->imap = imap;
	li->drop = drop;
	li->done = done;
	li->ctx = ctx;
	/* Every message of the mailbox, not only this device's drop: the
	   import is once per account, and a device with a wider view comes
	   later (a profile's rule, messages flagged \Deleted). */
	li->n = drop->exists_count;
	li->max_old = (uint32_t)(li->n * 2 + LEGACY_EXTRA_MESSAGES < LEGACY_MAX_MESSAGES ?
				 li->n * 2 + LEGACY_EXTRA_MESSAGES : LEGACY_MAX_MESSAGES);
	need = pop3_legacy_bytes(li->n, li->max_old);
	if (!pop3_session_reserve(s, need)) {
		log_warn("%s event=listing_memory_full need=%llu budget_mib=%u", s->log_id,
			 (unsigned long long)need, s->conf->max_listing_mib);
		free(li);
		return NULL;
	}
	li->reserved = need;
	li->account = strdup(account);
	li->user = malloc(user_len + 1);
	li->pass = malloc(pass_len + 1);
	li->uids = calloc(li->n + 1, sizeof(*li->uids));
	li->fps = calloc(li->n + 1, sizeof(*li->fps));
	li->hashes = calloc(li->n + 1, sizeof(*li->hashes));
	li->entries = calloc(li->n + 1, sizeof(*li->entries));
	if (li->account == NULL || li->user == NULL || li->pass == NULL || li->uids == NULL ||
	    li->fps == NULL || li->hashes == NULL || li->entries == NULL ||
	    tls_random(rnd, sizeof(rnd)) < 0) {
		pop3_legacy_free(&li);
		return NULL;
	}
	memcpy(li->user, user, user_len);
	li->user_len = user_len;
	memcpy(li->pass, pass, pass_len);
	li->pass_len = pass_len;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(li->token + 2 * i, 3, "%02x", rnd[i]);
	memcpy(li->uids, drop->exists, li->n * sizeof(*li->uids));
	/* Long enough for the import and the header fetch after it (some
	   time per message for a big mailbox); a login that dies meanwhile
	   frees the account for the next one then. */
	ttl_ms = ((uint64_t)li->up->legacy_timeout_secs + 2ull * li->up->timeout_secs + 30 +
		  li->n / 100) * 1000;
	li->req = cache_legacy_claim(s->srv->cache, li->account, li->token,
				     ttl_ms > 3600000 ? 3600000u : (unsigned int)ttl_ms,
				     pop3_legacy_claimed, li);
	if (li->req == NULL)
		pop3_legacy_free(&li);
	return li;
}
