#ifndef POP3_REMAP_H
#define POP3_REMAP_H

/*
 * Following a recreated mailbox, a step of the login (login.h): every
 * message's fingerprint from the upstream (imap_fp.h), then one atomic
 * move of every device's state onto the new UIDs (pop3_device_remap()).
 * Messages flagged \Deleted take part too: a device may have hidden them.
 */

#include <stddef.h>
#include <stdint.h>

#include "cache.h"

struct imap_client;
struct pop3_device;
struct pop3_remap;

enum pop3_remap_result {
	POP3_REMAP_OK,             /* moved (or another session did first) */
	POP3_REMAP_UPSTREAM,       /* the fingerprints could not be fetched */
	POP3_REMAP_STORE_TEMP,     /* the store is unavailable */
	POP3_REMAP_STORE_PERM,     /* the store refused (damaged, bad input) */
	POP3_REMAP_MEMORY,         /* out of memory */
};

/* st: the store's status, for logs. */
typedef void pop3_remap_cb(void *ctx, enum pop3_remap_result result, enum cache_status st);

/* Memory a re-map of n messages takes while it runs. */
size_t pop3_remap_bytes(size_t n);

/*
 * uids[0..n): every message of the recreated mailbox, ascending (kept by
 * the caller until cb). cb runs once from the loop, unless the re-map is
 * freed first (pop3_remap_free() after closing the IMAP client or before
 * the device's request is cancelled). NULL when out of memory.
 */
struct pop3_remap *pop3_remap_start(struct imap_client *imap, struct pop3_device *dev,
				    const uint32_t *uids, size_t n, uint32_t old_uidvalidity,
				    uint32_t new_uidvalidity, uint32_t new_uidnext,
				    pop3_remap_cb *cb, void *ctx);
void pop3_remap_free(struct pop3_remap **r);

#endif
