/* Probing an IMAP server; contracts in upstream_probe.h. */

#include "upstream_probe.h"

#include <stdlib.h>

#include "imap_client.h"

struct upstream_probe {
	struct imap_client *imap;
	upstream_probe_cb *cb;
	void *ctx;
};

static void upstream_probe_connected(void *ctx, bool ok, const char *error)
{
	struct upstream_probe *p = ctx;
	upstream_probe_cb *cb = p->cb;

	/* Closed here, freed by the owner: no callback of the client runs
	   after this, and the caller may free the probe once cb returned. */
	imap_client_close(p->imap);
	p->cb = NULL;
	if (cb != NULL)
		cb(p->ctx, ok, ok ? NULL : error != NULL ? error : "failed");
}

struct upstream_probe *upstream_probe_start(struct event_base *base, struct evdns_base *dns,
					    const struct upstream_probe_target *t,
					    upstream_probe_cb *cb, void *ctx)
{
	struct imap_client_settings set = {
		.host = t->host,
		.port = t->port,
		.tls = t->tls,
		.tls_ctx = t->tls_ctx,
		.timeout_secs = t->timeout_secs,
		.log_id = "probe=1",
	};
	struct upstream_probe *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->imap = imap_client_new(base, dns, &set);
	if (p->imap == NULL) {
		free(p);
		return NULL;
	}
	p->cb = cb;
	p->ctx = ctx;
	imap_client_connect(p->imap, upstream_probe_connected, p);
	return p;
}

void upstream_probe_free(struct upstream_probe **probe)
{
	struct upstream_probe *p = *probe;

	if (p == NULL)
		return;
	*probe = NULL;
	imap_client_close(p->imap);
	imap_client_free(&p->imap);
	free(p);
}
