#ifndef UPSTREAM_PROBE_H
#define UPSTREAM_PROBE_H

/*
 * Whether an IMAP server answers: connects as a login would (TCP, TLS
 * with its certificate and host name checks, greeting, capabilities,
 * STARTTLS when asked), then closes without logging in. Used at start
 * (event=upstream_unreachable), by --check --connect and by popgate
 * setup. Runs on the caller's event loop; never blocks.
 */

#include <stdbool.h>
#include <stdint.h>

#include "imap_client.h"

struct event_base;
struct evdns_base;
struct tls_client_ctx;
struct upstream_probe;

/* ok, or error saying why not (valid during the call only). */
typedef void upstream_probe_cb(void *ctx, bool ok, const char *error);

struct upstream_probe_target {
	const char *host;                /* copied */
	uint16_t port;
	enum imap_tls_mode tls;
	struct tls_client_ctx *tls_ctx;  /* not owned; NULL for plaintext */
	unsigned int timeout_secs;
};

/*
 * Starts the probe; cb runs once from the event loop (never from inside
 * this call). NULL when out of memory (no callback then). The probe is
 * freed by the caller with upstream_probe_free(), never from inside cb.
 */
struct upstream_probe *upstream_probe_start(struct event_base *base, struct evdns_base *dns,
					    const struct upstream_probe_target *t,
					    upstream_probe_cb *cb, void *ctx);

/* Stops a probe still running (no callback then) and frees it. */
void upstream_probe_free(struct upstream_probe **probe);

#endif
