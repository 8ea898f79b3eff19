/* One account's import from the legacy POP3 server; contracts in
   legacy_import.h. */

#include "legacy_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "conf.h"
#include "imap_fp.h"
#include "legacy_match.h"
#include "legacy_pop3.h"
#include "legacy_url.h"
#include "log.h"
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

struct legacy_import {
	struct event_base *base;
	struct evdns_base *dns;
	struct cache *cache;
	struct tls_client_ctx *tls_ctx;
	const struct conf_upstream *up;
	char *log_id;
	bool never_proceed;
	uint32_t uidvalidity;
	uint64_t *sizes;
	struct legacy_import_result res;
	char *account;
	char *user, *pass;
	size_t user_len, pass_len;
	struct imap_client *imap;
	char token[33];
	struct cache_req *req;
	struct legacy_pop3 *client;
	struct legacy_msg *old;
	size_t n_old;
	uint32_t max_old;
	uint32_t *uids;                    /* every message's, ascending */
	char (*fps)[IMAP_FP_HEX + 1];
	char (*hashes)[IMAP_FP_HEX + 1];
	size_t n;
	struct imap_fp_op fp;
	bool fetching;
	struct cache_uidl_new *entries;
	size_t matched, by_size;
	bool pipelining;                   /* the old server took TOPs in a row */
	char reply[400];
	legacy_import_done_cb *done;
	void *ctx;
};

static void legacy_import_wipe(char **p, size_t len)
{
	if (*p != NULL) {
		explicit_bzero(*p, len);
		free(*p);
		*p = NULL;
	}
}

void legacy_import_free(struct legacy_import **lip)
{
	struct legacy_import *li = *lip;

	if (li == NULL)
		return;
	*lip = NULL;
	cache_req_cancel(&li->req);
	legacy_pop3_free(&li->client);
	if (li->fetching)
		imap_fp_op_clear(&li->fp);
	legacy_import_wipe(&li->pass, li->pass_len);
	legacy_import_wipe(&li->user, li->user_len);
	free(li->account);
	free(li->log_id);
	free(li->sizes);
	free(li->old);
	free(li->uids);
	free(li->fps);
	free(li->hashes);
	free(li->entries);
	free(li);
}

static void legacy_import_finish(struct legacy_import *li, const char *reply)
{
	li->done(li->ctx, reply, &li->res);
}

/* ---- failure: give the lease back, then refuse or go on ---- */

static void legacy_import_released(void *ctx, enum cache_status st)
{
	struct legacy_import *li = ctx;

	li->req = NULL;
	legacy_import_finish(li, li->reply);
}

static void legacy_import_refuse(struct legacy_import *li, const char *reply)
{
	if (reply != li->reply)
		snprintf(li->reply, sizeof(li->reply), "%s", reply);
	li->req = cache_legacy_release(li->cache, li->account, li->token,
				       legacy_import_released, li);
	if (li->req == NULL)
		legacy_import_finish(li, li->reply);
}

static void legacy_import_stored(void *ctx, enum cache_status st);

/* The legacy server could not be read: legacy_unreachable decides. */
static void legacy_import_unreadable(struct legacy_import *li, enum legacy_pop3_result r,
				   const char *reason)
{
	char why[300], summary[CACHE_LEGACY_SUMMARY_MAX + 1];

	text_escape_quoted(reason, strlen(reason), why, sizeof(why));
	log_warn("%s event=legacy_unreadable legacy=%s result=%s action=%s error=\"%s\"",
		 li->log_id, li->up->legacy_pop3, legacy_pop3_result_name(r),
		 li->up->legacy_unreachable == CONF_LEGACY_PROCEED && !li->never_proceed ?
		 "proceed" : "refuse", why);
	if (li->up->legacy_unreachable == CONF_LEGACY_PROCEED && !li->never_proceed) {
		li->res.proceeded = true;
		/* Done for good: the messages take UIDLs by uidl_format now,
		   and an import later would change nothing for them. */
		snprintf(summary, sizeof(summary), "%lld proceeded without the legacy server (%s)",
			 (long long)time(NULL), legacy_pop3_result_name(r));
		li->req = cache_legacy_store(li->cache, li->account, li->token,
					     li->uidvalidity, NULL, 0, summary,
					     legacy_import_stored, li);
		if (li->req == NULL)
			legacy_import_finish(li, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	snprintf(li->reply, sizeof(li->reply), "-ERR [SYS/TEMP] Cannot read the old POP3 server "
		 "to keep your UIDLs (%s), try again later", why);
	legacy_import_refuse(li, li->reply);
}

/* ---- store ---- */

static void legacy_import_stored(void *ctx, enum cache_status st)
{
	struct legacy_import *li = ctx;

	li->req = NULL;
	if (st != CACHE_OK) {
		log_warn("%s event=legacy_store_failed status=%s", li->log_id,
			 cache_status_name(st));
		/* Nothing was written; the lease expires (or was lost). */
		legacy_import_finish(li, st == CACHE_LIMIT ?
				   "-ERR [SYS/PERM] The UIDL map is full" :
				   "-ERR [SYS/TEMP] Device state unavailable, try again later");
		return;
	}
	legacy_import_finish(li, NULL);
}

/* Old messages that match nothing: their mail is not in the new mailbox
   (deleted meanwhile, not migrated), so no client will see them again. */
static size_t legacy_import_report_unmatched(struct legacy_import *li, const size_t *match)
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
				 li->log_id, li->old[i].msgno, li->old[i].uidl,
				 (unsigned long long)li->old[i].size,
				 li->old[i].hash[0] != '\0' ? "yes" : "no");
	}
	free(used);
	return unmatched;
}

static void legacy_import_match(struct legacy_import *li)
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
		/* UINT64_MAX: no size known (left out of a device's drop),
		   matched by its header alone. */
		b[j] = (struct legacy_match_item){ .size = li->sizes[j], .hash = li->hashes[j] };
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
	unmatched = legacy_import_report_unmatched(li, match);
	log_info("%s event=legacy_import legacy=%s old=%zu new=%zu matched=%zu by_size=%zu "
		 "by_header=%zu old_unmatched=%zu new_unmatched=%zu pipelining=%s", li->log_id,
		 li->up->legacy_pop3, li->n_old, li->n, li->matched, li->by_size,
		 li->matched - li->by_size, unmatched, li->n - li->matched,
		 li->pipelining ? "yes" : "no");
	li->res = (struct legacy_import_result){ .n_old = li->n_old, .n_new = li->n,
						 .matched = li->matched, .old_unmatched = unmatched };
	snprintf(summary, sizeof(summary), "%lld old=%zu new=%zu matched=%zu old_unmatched=%zu",
		 (long long)time(NULL), li->n_old, li->n, li->matched, unmatched);
	free(a);
	free(b);
	free(match);
	li->req = cache_legacy_store(li->cache, li->account, li->token,
				     li->uidvalidity, li->entries, k, summary,
				     legacy_import_stored, li);
	if (li->req == NULL)
		legacy_import_refuse(li, "-ERR [SYS/TEMP] Out of memory");
	return;
memory:
	free(a);
	free(b);
	free(match);
	legacy_import_refuse(li, "-ERR [SYS/TEMP] Out of memory");
}

/* ---- fetch: the IMAP side's header hashes ---- */

static int legacy_import_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Position of uid in uids (ascending), or -1. */
static long legacy_import_index(const struct legacy_import *li, uint32_t uid)
{
	const uint32_t *at = bsearch(&uid, li->uids, li->n, sizeof(*li->uids),
				     legacy_import_uid_cmp);

	return at != NULL ? (long)(at - li->uids) : -1;
}

static void legacy_import_fp(void *ctx, uint32_t uid, const char *fp, int64_t internaldate)
{
	struct legacy_import *li = ctx;
	long i = legacy_import_index(li, uid);

	if (i >= 0)
		snprintf(li->fps[i], sizeof(li->fps[i]), "%s", fp);
}

static void legacy_import_more(void *ctx, uint32_t uid, const struct imap_fp_more_values *v)
{
	struct legacy_import *li = ctx;
	long i = legacy_import_index(li, uid);

	if (i >= 0)
		snprintf(li->hashes[i], sizeof(li->hashes[i]), "%s", v->hdr_hash);
}

static void legacy_import_fetched(void *ctx, bool ok)
{
	struct legacy_import *li = ctx;

	li->fetching = false;
	if (!ok) {
		legacy_import_refuse(li, "-ERR [SYS/TEMP] Upstream failed while reading the "
				   "headers to match the old server's UIDLs");
		return;
	}
	legacy_import_match(li);
}

static const struct imap_fp_handlers legacy_import_fp_handlers = {
	.message = legacy_import_fp,
	.more = legacy_import_more,
	.done = legacy_import_fetched,
};

/* ---- read: the legacy server ---- */

static void legacy_import_read(void *ctx, enum legacy_pop3_result r, const char *reason,
			     const struct legacy_msg *msgs, size_t n)
{
	struct legacy_import *li = ctx;
	char why[300];

	/* What the client gave is its own: copied before it goes. */
	legacy_import_wipe(&li->pass, li->pass_len);
	snprintf(why, sizeof(why), "%s", reason);
	if (r == LEGACY_POP3_OK && (li->old = malloc((n + 1) * sizeof(*li->old))) != NULL) {
		if (n > 0)
			memcpy(li->old, msgs, n * sizeof(*msgs));
		li->n_old = n;
	}
	li->pipelining = legacy_pop3_pipelining(li->client);
	legacy_pop3_free(&li->client);
	if (r != LEGACY_POP3_OK) {
		legacy_import_unreadable(li, r, why);
		return;
	}
	if (li->old == NULL) {
		legacy_import_refuse(li, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	if (li->n == 0) {
		legacy_import_match(li);
		return;
	}
	li->fetching = true;
	if (imap_fp_fetch_more(&li->fp, li->imap, li->uids, li->n, IMAP_FP_HEADER_HASH,
			       &legacy_import_fp_handlers, li) < 0) {
		li->fetching = false;
		legacy_import_refuse(li, "-ERR [SYS/TEMP] Out of memory");
	}
}

static void legacy_import_connect(struct legacy_import *li)
{
	struct legacy_url u;
	const char *error;
	struct legacy_pop3_settings set = {
		.allow_plaintext = li->up->legacy_plaintext,
		.tls_ctx = li->tls_ctx,
		.timeout_secs = li->up->legacy_timeout_secs,
		.user = li->user, .user_len = li->user_len,
		.pass = li->pass, .pass_len = li->pass_len,
		.max_messages = li->max_old, .log_id = li->log_id,
	};

	if (legacy_url_parse(li->up->legacy_pop3, strlen(li->up->legacy_pop3), &u, &error) < 0) {
		/* The configuration check refuses it: a bug if seen. */
		legacy_import_refuse(li, "-ERR [SYS/PERM] Bad legacy_pop3 in configuration");
		return;
	}
	set.host = u.host;
	set.port = u.port;
	set.implicit_tls = u.implicit_tls;
	li->client = legacy_pop3_start(li->base, li->dns, &set, legacy_import_read, li);
	if (li->client == NULL)
		legacy_import_unreadable(li, LEGACY_POP3_MEMORY, "cannot start (a user name or "
				       "password that POP3 cannot carry, or out of memory)");
}

/* ---- claim ---- */

static void legacy_import_claimed(void *ctx, enum cache_status st, uint64_t value)
{
	struct legacy_import *li = ctx;

	li->req = NULL;
	if (st != CACHE_OK) {
		log_warn("%s event=state_unavailable while=\"claiming the legacy import\" status=%s",
			 li->log_id, cache_status_name(st));
		legacy_import_finish(li, "-ERR [SYS/TEMP] Device state unavailable, try again later");
		return;
	}
	if (value == CACHE_LEGACY_DONE) {
		li->res.already = true;
		legacy_import_finish(li, NULL);
		return;
	}
	if (value == CACHE_LEGACY_BUSY) {
		log_info("%s event=legacy_import_busy", li->log_id);
		li->res.busy = true;
		legacy_import_finish(li, "-ERR [SYS/TEMP] Another login is taking this mailbox's "
				   "UIDLs from the old server, try again in a minute");
		return;
	}
	log_info("%s event=legacy_import_start legacy=%s messages=%zu", li->log_id,
		 li->up->legacy_pop3, li->n);
	legacy_import_connect(li);
}

static uint32_t legacy_import_max_old(size_t n)
{
	return (uint32_t)(n * 2 + LEGACY_EXTRA_MESSAGES < LEGACY_MAX_MESSAGES ?
			  n * 2 + LEGACY_EXTRA_MESSAGES : LEGACY_MAX_MESSAGES);
}

/* Long enough for the import and the header fetch after it (some time per
   message for a big mailbox), at most an hour; an import that dies
   meanwhile frees the account for the next one then. */
unsigned int legacy_import_lease_secs(const struct conf_upstream *up, size_t n)
{
	uint64_t secs = (uint64_t)up->legacy_timeout_secs + 2ull * up->timeout_secs + 30 +
		n / 100;

	return secs > 3600 ? 3600u : (unsigned int)secs;
}

/* What the import holds per message of the mailbox, and per old one. */
uint64_t legacy_import_bytes(size_t n)
{
	return (uint64_t)(n + 1) * (sizeof(uint32_t) + sizeof(uint64_t) + 2 * (IMAP_FP_HEX + 1) +
				    sizeof(struct cache_uidl_new) + sizeof(size_t) +
				    2 * sizeof(struct legacy_match_item) + 2 * 32) +
		(uint64_t)(legacy_import_max_old(n) + 1) * (2 * sizeof(struct legacy_msg) + 32);
}

struct legacy_import *legacy_import_start(const struct legacy_import_settings *set,
					  legacy_import_done_cb *done, void *ctx)
{
	struct legacy_import *li = calloc(1, sizeof(*li));
	unsigned char rnd[16];
	uint64_t ttl_ms;

	if (li == NULL)
		return NULL;
	li->base = set->base;
	li->dns = set->dns;
	li->cache = set->cache;
	li->tls_ctx = set->tls_ctx;
	li->up = set->up;
	li->never_proceed = set->never_proceed;
	li->uidvalidity = set->uidvalidity;
	li->imap = set->imap;
	li->done = done;
	li->ctx = ctx;
	li->n = set->n;
	li->max_old = legacy_import_max_old(li->n);
	li->account = strdup(set->account);
	li->log_id = strdup(set->log_id);
	li->user = malloc(set->user_len + 1);
	li->pass = malloc(set->pass_len + 1);
	li->uids = calloc(li->n + 1, sizeof(*li->uids));
	li->sizes = calloc(li->n + 1, sizeof(*li->sizes));
	li->fps = calloc(li->n + 1, sizeof(*li->fps));
	li->hashes = calloc(li->n + 1, sizeof(*li->hashes));
	li->entries = calloc(li->n + 1, sizeof(*li->entries));
	if (li->account == NULL || li->log_id == NULL || li->user == NULL || li->pass == NULL ||
	    li->uids == NULL || li->sizes == NULL || li->fps == NULL || li->hashes == NULL ||
	    li->entries == NULL || tls_random(rnd, sizeof(rnd)) < 0) {
		legacy_import_free(&li);
		return NULL;
	}
	memcpy(li->user, set->user, set->user_len);
	li->user_len = set->user_len;
	memcpy(li->pass, set->pass, set->pass_len);
	li->pass_len = set->pass_len;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(li->token + 2 * i, 3, "%02x", rnd[i]);
	if (li->n > 0) {
		memcpy(li->uids, set->uids, li->n * sizeof(*li->uids));
		memcpy(li->sizes, set->sizes, li->n * sizeof(*li->sizes));
	}
	ttl_ms = (uint64_t)legacy_import_lease_secs(li->up, li->n) * 1000;
	li->req = cache_legacy_claim(li->cache, li->account, li->token, (unsigned int)ttl_ms,
				     legacy_import_claimed, li);
	if (li->req == NULL)
		legacy_import_free(&li);
	return li;
}
