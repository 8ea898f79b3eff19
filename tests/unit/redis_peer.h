#ifndef REDIS_PEER_H
#define REDIS_PEER_H

/*
 * Test-only: a scripted Redis server on a unix socket, on the caller's
 * event loop, for replies a real redis-server never gives (garbage,
 * truncated, out of order, wrong types). The commands the cache sends are
 * parsed with hiredis's own reader (a command is a RESP array of bulk
 * strings) and handed to the owner's callback one by one, which answers
 * with redis_peer_send() (raw octets), redis_peer_send_reply() (a reply
 * as RESP, e.g. one a real redis-server gave), redis_peer_close() or
 * nothing. One connection at a time: a new one replaces the old.
 *
 * Used by tests/fuzz/fuzz_cache_replies.c and the cache's unit tests.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <hiredis/hiredis.h>

struct redis_peer;

/* A command (an array of strings) came; p->commands counts it already. */
typedef void redis_peer_cmd_cb(struct redis_peer *p, const redisReply *cmd, void *ctx);

struct redis_peer {
	struct event_base *base;
	struct evconnlistener *listener;
	struct bufferevent *bev;
	redisReader *reader;
	bool closing;
	redis_peer_cmd_cb *cb;
	void *ctx;
	unsigned int connections;  /* accepted so far */
	unsigned long commands;    /* parsed so far, over all connections */
	unsigned long long in, out; /* octets taken in, queued out */
	bool garbage;              /* a connection sent something no command */
};

/* A listening unix socket at path (removed first), non-blocking; -1 with
   errno on failure. */
static inline int redis_peer_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static inline void redis_peer_drop(struct redis_peer *p)
{
	if (p->bev != NULL)
		bufferevent_free(p->bev);
	p->bev = NULL;
	if (p->reader != NULL)
		redisReaderFree(p->reader);
	p->reader = NULL;
	p->closing = false;
}

/* Closes the connection once what was sent has left; nothing more is
   read from it. */
static inline void redis_peer_close(struct redis_peer *p)
{
	if (p->bev == NULL || p->closing)
		return;
	p->closing = true;
	bufferevent_disable(p->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(p->bev)) == 0)
		redis_peer_drop(p);
}

static inline void redis_peer_send(struct redis_peer *p, const void *data, size_t len)
{
	if (p->bev == NULL || p->closing || len == 0)
		return;
	bufferevent_write(p->bev, data, len);
	p->out += len;
}

static inline void redis_peer_encode(struct evbuffer *b, const redisReply *r)
{
	switch (r->type) {
	case REDIS_REPLY_STATUS:
		evbuffer_add_printf(b, "+%.*s\r\n", (int)r->len, r->str);
		break;
	case REDIS_REPLY_ERROR:
		evbuffer_add_printf(b, "-%.*s\r\n", (int)r->len, r->str);
		break;
	case REDIS_REPLY_INTEGER:
		evbuffer_add_printf(b, ":%lld\r\n", r->integer);
		break;
	case REDIS_REPLY_NIL:
		evbuffer_add_printf(b, "$-1\r\n");
		break;
	case REDIS_REPLY_STRING:
		evbuffer_add_printf(b, "$%zu\r\n", r->len);
		evbuffer_add(b, r->str, r->len);
		evbuffer_add(b, "\r\n", 2);
		break;
	case REDIS_REPLY_ARRAY:
		evbuffer_add_printf(b, "*%zu\r\n", r->elements);
		for (size_t i = 0; i < r->elements; i++)
			redis_peer_encode(b, r->element[i]);
		break;
	default:
		break;
	}
}

/* r as RESP. */
static inline void redis_peer_send_reply(struct redis_peer *p, const redisReply *r)
{
	struct evbuffer *b = evbuffer_new();
	size_t len;

	if (b == NULL)
		abort();
	redis_peer_encode(b, r);
	len = evbuffer_get_length(b);
	redis_peer_send(p, evbuffer_pullup(b, -1), len);
	evbuffer_free(b);
}

/* cmd, as the peer got it, run on a real server through c (blocking;
   a test's own connection), and its reply sent back. False when c
   failed (nothing sent). */
static inline bool redis_peer_forward(struct redis_peer *p, redisContext *c,
				      const redisReply *cmd)
{
	const char *argv[cmd->elements > 0 ? cmd->elements : 1];
	size_t len[cmd->elements > 0 ? cmd->elements : 1];
	redisReply *r;

	for (size_t i = 0; i < cmd->elements; i++) {
		argv[i] = cmd->element[i]->str;
		len[i] = cmd->element[i]->len;
	}
	r = redisCommandArgv(c, (int)cmd->elements, argv, len);
	if (r == NULL)
		return false;
	redis_peer_send_reply(p, r);
	freeReplyObject(r);
	return true;
}

/* Whether cmd's first word is name (case-insensitive). */
static inline bool redis_peer_is(const redisReply *cmd, const char *name)
{
	return cmd->elements > 0 && cmd->element[0]->len == strlen(name) &&
		strncasecmp(cmd->element[0]->str, name, cmd->element[0]->len) == 0;
}

static inline void redis_peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct redis_peer *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	void *reply;

	if (p->bev != bev || p->closing)
		return;
	p->in += len;
	if (redisReaderFeed(p->reader, (const char *)evbuffer_pullup(in, -1), len) != REDIS_OK) {
		p->garbage = true;
		redis_peer_close(p);
		return;
	}
	evbuffer_drain(in, len);
	while (p->bev == bev && !p->closing) {
		const redisReply *cmd;
		bool ok = true;

		if (redisReaderGetReply(p->reader, &reply) != REDIS_OK) {
			p->garbage = true;
			redis_peer_close(p);
			return;
		}
		if (reply == NULL)
			break;
		cmd = reply;
		if (cmd->type != REDIS_REPLY_ARRAY || cmd->elements == 0)
			ok = false;
		for (size_t i = 0; ok && i < cmd->elements; i++)
			ok = cmd->element[i]->type == REDIS_REPLY_STRING;
		if (!ok) {
			p->garbage = true;
			freeReplyObject(reply);
			redis_peer_close(p);
			return;
		}
		p->commands++;
		p->cb(p, cmd, p->ctx);
		freeReplyObject(reply);
	}
}

static inline void redis_peer_write_cb(struct bufferevent *bev, void *arg)
{
	struct redis_peer *p = arg;

	if (p->bev == bev && p->closing)
		redis_peer_drop(p);
}

static inline void redis_peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct redis_peer *p = arg;

	if (p->bev == bev)
		redis_peer_drop(p);
}

static inline void redis_peer_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
					struct sockaddr *sa, int len, void *arg)
{
	struct redis_peer *p = arg;

	redis_peer_drop(p);
	p->bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	p->reader = redisReaderCreate();
	if (p->bev == NULL || p->reader == NULL)
		abort();
	p->connections++;
	bufferevent_setcb(p->bev, redis_peer_read_cb, redis_peer_write_cb, redis_peer_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
}

/* Serves listen_fd (redis_peer_listen(); not owned, stays open) on base. */
static inline void redis_peer_start(struct redis_peer *p, struct event_base *base,
				    int listen_fd, redis_peer_cmd_cb *cb, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->base = base;
	p->cb = cb;
	p->ctx = ctx;
	p->listener = evconnlistener_new(base, redis_peer_accept_cb, p, 0, 0, listen_fd);
	if (p->listener == NULL)
		abort();
}

/* Drops the connection and stops listening; connections queued on
   listen_fd but not taken are closed. */
static inline void redis_peer_stop(struct redis_peer *p, int listen_fd)
{
	int fd;

	redis_peer_drop(p);
	if (p->listener != NULL)
		evconnlistener_free(p->listener);
	p->listener = NULL;
	while ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
}

#endif
