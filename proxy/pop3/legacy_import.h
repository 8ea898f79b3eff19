#ifndef LEGACY_IMPORT_H
#define LEGACY_IMPORT_H

/*
 * One account's import from its route's legacy POP3 server, once: what
 * the login's legacy step runs (login_legacy.h) and what
 * `popgate uidl import --route DOMAIN --user ADDRESS` runs from the
 * command line (proxy/tools/uidl_tool.c), on the caller's event loop:
 *
 *   claim    the account's import lease (cache_legacy_claim()): an account
 *            imported before is done at once (result.already); one being
 *            imported elsewhere right now fails, so two never both import
 *   read     the legacy server's UIDL, LIST and headers (legacy_pop3.h)
 *   fetch    each IMAP message's header hash and fingerprint (imap_fp.h)
 *   match    legacy_match.h: size first, then the header hash
 *   store    the matched old UIDLs, the done mark and the lease's end in
 *            one atomic write (cache_legacy_store()); on any failure
 *            before it the lease is given back and nothing is stored
 *
 * When the legacy server cannot be read, up->legacy_unreachable decides
 * (proceed stores the done mark alone), unless never_proceed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache;
struct conf_upstream;
struct event_base;
struct evdns_base;
struct imap_client;
struct tls_client_ctx;
struct legacy_import;

struct legacy_import_settings {
	struct event_base *base;
	struct evdns_base *dns;
	struct cache *cache;
	const struct conf_upstream *up;      /* has legacy_pop3 */
	struct tls_client_ctx *tls_ctx;      /* for the legacy server */
	const char *log_id;                  /* copied */
	const char *account;                 /* the state store's; copied */
	const char *user;                    /* copied, wiped when freed */
	size_t user_len;
	const char *pass;                    /* copied, wiped once sent */
	size_t pass_len;
	struct imap_client *imap;            /* logged in, mailbox selected */
	uint32_t uidvalidity;
	const uint32_t *uids;                /* every message, ascending; copied */
	const uint64_t *sizes;               /* theirs, UINT64_MAX unknown; copied */
	size_t n;
	bool never_proceed;                  /* legacy_unreachable ignored: refuse */
};

struct legacy_import_result {
	bool already;              /* imported before: nothing done now */
	bool busy;                 /* another import holds the lease: nothing
				      done now (the reply says so too) */
	bool proceeded;            /* legacy server unread, done mark alone */
	size_t n_old, n_new, matched, old_unmatched;
};

/* reply: NULL when stored (or already), else a POP3 -ERR line saying why
   nothing was stored; both valid during the call. */
typedef void legacy_import_done_cb(void *ctx, const char *reply,
				   const struct legacy_import_result *r);

/* Memory an import of n messages holds (for max_listing_memory). */
uint64_t legacy_import_bytes(size_t n);
/* How long the lease of an import of n messages on up lasts at most: one
   that is not given back (its process died) frees the account then. */
unsigned int legacy_import_lease_secs(const struct conf_upstream *up, size_t n);

/* done runs once from the loop, never inside this call, not after
   legacy_import_free(). NULL when out of memory. */
struct legacy_import *legacy_import_start(const struct legacy_import_settings *set,
					  legacy_import_done_cb *done, void *ctx);
/* Cancels what runs (a lease taken expires by itself); NULL is fine. */
void legacy_import_free(struct legacy_import **li);

#endif
