#include "sockout.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "tls.h"

static void sockout_flush_tls(struct sockout *o, struct bufferevent *bev)
{
	if (tls_write_output(bev) != 0) {
		bufferevent_enable(bev, EV_WRITE);
		return;
	}
	/* The OpenSSL bufferevent asked for write interest when the output
	   was added to (whether EV_WRITE is enabled or not): taken back in
	   the same loop pass, the base's changelist never tells the kernel. */
	bufferevent_disable(bev, EV_WRITE);
	if (o->written != NULL)
		o->written(bev, o->arg);
}

static void sockout_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sockout *o = arg;
	struct bufferevent *bev = o->bev;
	struct evbuffer *out;

	if (bev == NULL || (bufferevent_get_enabled(bev) & EV_WRITE) != 0)
		return;
	out = bufferevent_get_output(bev);
	if (evbuffer_get_length(out) == 0)
		return;
	if (o->tls) {
		sockout_flush_tls(o, bev);
		return;
	}
	/* A socket bufferevent keeps the start of its output frozen but
	   while it writes itself. */
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) > 0) {
		/* The socket is full (or failed: libevent's own write then
		   meets the error and reports it through the event callback). */
		bufferevent_enable(bev, EV_WRITE);
		return;
	}
	if (o->written != NULL)
		o->written(bev, o->arg);
}

static void sockout_output_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
			      void *arg)
{
	struct sockout *o = arg;

	if (o->bev == NULL)
		return;
	if ((bufferevent_get_enabled(o->bev) & EV_WRITE) == 0) {
		if (info->n_added > 0)
			event_active(o->flush_ev, EV_TIMEOUT, 0);
	} else if (info->n_deleted > 0 && evbuffer_get_length(buf) == 0) {
		/* libevent wrote the rest: its write event is due to go
		   anyway, and the next output is written directly again. */
		bufferevent_disable(o->bev, EV_WRITE);
	}
}

int sockout_init(struct sockout *o, struct event_base *base)
{
	*o = (struct sockout){ 0 };
	o->flush_ev = event_new(base, -1, 0, sockout_flush_cb, o);
	return o->flush_ev != NULL ? 0 : -1;
}

int sockout_attach(struct sockout *o, struct bufferevent *bev,
		   void (*written)(struct bufferevent *bev, void *arg), void *arg)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	sockout_detach(o);
	o->cb = evbuffer_add_cb(out, sockout_output_cb, o);
	if (o->cb == NULL)
		return -1;
	o->bev = bev;
	o->tls = tls_is_tls(bev);
	o->written = written;
	o->arg = arg;
	if (evbuffer_get_length(out) == 0)
		bufferevent_disable(bev, EV_WRITE);
	else if ((bufferevent_get_enabled(bev) & EV_WRITE) == 0)
		event_active(o->flush_ev, EV_TIMEOUT, 0);
	return 0;
}

void sockout_detach(struct sockout *o)
{
	if (o->bev == NULL)
		return;
	evbuffer_remove_cb_entry(bufferevent_get_output(o->bev), o->cb);
	event_del(o->flush_ev);
	o->bev = NULL;
	o->tls = false;
	o->cb = NULL;
	o->written = NULL;
	o->arg = NULL;
}

void sockout_free(struct sockout *o)
{
	sockout_detach(o);
	if (o->flush_ev != NULL)
		event_free(o->flush_ev);
	o->flush_ev = NULL;
}

struct event_base *sockout_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	(void)event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}
