#ifndef SOCKOUT_H
#define SOCKOUT_H

/*
 * Output of a plain socket bufferevent written without toggling epoll
 * interest. A socket bufferevent left to itself asks for EPOLLOUT each
 * time data is queued into an empty output and drops it again once that
 * is written: two epoll_ctl per reply. Attached, the bufferevent keeps
 * EV_WRITE disabled while its output is empty; what is queued is written
 * straight to the socket from the loop, once per callback however many
 * pieces were added (they go out in one writev). Only what the socket
 * does not take (a slow peer) enables EV_WRITE, and libevent writes the
 * rest as usual, with the bufferevent's write timeout and watermarks;
 * once the output is empty again, EV_WRITE goes off again.
 *
 * An established OpenSSL socket bufferevent (not a filter) is written the
 * same way, with SSL_write (tls_write_output()); what is left (the socket
 * is full, OpenSSL must read first: a renegotiation or key update) is
 * libevent's to write, EV_WRITE on, reading untouched. Attach it once its
 * handshake is done (BEV_EVENT_CONNECTED). libevent's OpenSSL bufferevent
 * adds its write event whenever output goes into an empty buffer: without
 * EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST on the base (sockout_base_new())
 * that still costs two epoll_ctl per write; with it, the event taken back
 * in the same loop pass costs none.
 */

#include <stdbool.h>

struct bufferevent;
struct event;
struct event_base;
struct evbuffer_cb_entry;

struct sockout {
	struct bufferevent *bev;        /* NULL: not attached */
	bool tls;                       /* bev is an OpenSSL bufferevent */
	struct evbuffer_cb_entry *cb;
	struct event *flush_ev;
	/* After a direct write emptied the output: what libevent would call
	   (the bufferevent's write callback, which runs at the low
	   watermark); may be NULL. */
	void (*written)(struct bufferevent *bev, void *arg);
	void *arg;
};

/* 0, or -1 (out of memory). Not attached yet. */
int sockout_init(struct sockout *o, struct event_base *base);

/*
 * From now on writes bev's output directly (bev: a connected plain socket
 * bufferevent, or an OpenSSL socket bufferevent after its handshake).
 * written: as above.
 */
int sockout_attach(struct sockout *o, struct bufferevent *bev,
		   void (*written)(struct bufferevent *bev, void *arg), void *arg);

/*
 * Back to libevent's own writing, or to none: whatever is queued and not
 * yet written stays queued and EV_WRITE stays as it is (the caller
 * disables or enables it). Call before freeing the bufferevent or
 * putting a filter over it.
 */
void sockout_detach(struct sockout *o);

/* Detaches and frees what sockout_init() made. */
void sockout_free(struct sockout *o);

/*
 * The event base for sockouts: epoll's changelist on, so that interest
 * added and taken back within one loop pass never reaches the kernel
 * (see above). Its known caveat is with dup()ed descriptors (epoll
 * watches the open file, the changelist the number): popgate never
 * watches a copy of a descriptor, STLS and STARTTLS upgrade the socket in
 * place. NULL if out of memory.
 */
struct event_base *sockout_base_new(void);

#endif
