/* What an IMAP connection knows and is, for its owner; contracts in
   imap_client.h. The transport, queue and reader are in imap_client.c. */

#include "imap_client_private.h"

#include <stdlib.h>
#include <string.h>

#include "imap_listing.h"
#include "tls.h"

unsigned int imap_client_round_trips(const struct imap_client *c)
{
	return c->round_trips;
}

unsigned int imap_client_caps(const struct imap_client *c)
{
	return c->caps;
}

bool imap_client_utf8_enabled(const struct imap_client *c)
{
	return c->utf8_enabled;
}

bool imap_client_qresync_enabled(const struct imap_client *c)
{
	return c->qresync_enabled;
}

struct imap_listing *imap_client_listing(const struct imap_client *c)
{
	return c->listing;
}

void imap_client_set_listing(struct imap_client *c, struct imap_listing *l)
{
	if (c->listing != l)
		imap_listing_free(&c->listing);
	c->listing = l;
}

void imap_client_attach(struct imap_client *c, void *data, void (*free_fn)(void *))
{
	void *old = imap_client_take_attached(c);

	if (old != NULL && c->attached_free != NULL)
		c->attached_free(old);
	c->attached = data;
	c->attached_free = free_fn;
}

void *imap_client_take_attached(struct imap_client *c)
{
	void *data = c->attached;

	c->attached = NULL;
	return data;
}

struct imap_listing *imap_client_take_listing(struct imap_client *c)
{
	struct imap_listing *l = c->listing;

	c->listing = NULL;
	return l;
}

const char *imap_client_log_id(const struct imap_client *c)
{
	return c->log_id;
}

bool imap_client_is_connected(const struct imap_client *c)
{
	return c->state == IMAP_CLIENT_READY;
}

bool imap_client_idle(const struct imap_client *c)
{
	return c->state == IMAP_CLIENT_READY && TAILQ_EMPTY(&c->waiting) &&
		TAILQ_EMPTY(&c->queue) && c->sending == NULL && !c->paused &&
		c->literal_cmd == NULL && !c->logging_out;
}

int imap_client_set_log_id(struct imap_client *c, const char *log_id)
{
	char *copy = strdup(log_id);

	if (copy == NULL)
		return -1;
	free(c->log_id);
	c->log_id = copy;
	return 0;
}

enum imap_throttle imap_client_throttle(const struct imap_client *c)
{
	return c != NULL ? c->bye_throttle : IMAP_THROTTLE_NONE;
}

const char *imap_client_tls_version(const struct imap_client *c)
{
	return c->tls_active ? tls_version(c->bev) : "none";
}
