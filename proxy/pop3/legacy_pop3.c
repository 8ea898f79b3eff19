/* The legacy POP3 server's client; contracts in legacy_pop3.h. */

#include "legacy_pop3.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "header_fp.h"
#include "log.h"
#include "tls.h"

enum legacy_pop3_state {
	LEGACY_CONNECTING,
	LEGACY_GREETING,
	LEGACY_STLS,
	LEGACY_HANDSHAKE,
	LEGACY_USER,
	LEGACY_PASS,
	LEGACY_CAPA,
	LEGACY_UIDL,
	LEGACY_LIST,
	LEGACY_TOP,
	LEGACY_QUIT,
	LEGACY_DONE,
	LEGACY_STATE_COUNT
};

static const char *const legacy_state_names[] = {
	[LEGACY_CONNECTING] = "connecting", [LEGACY_GREETING] = "greeting",
	[LEGACY_STLS] = "stls", [LEGACY_HANDSHAKE] = "handshake", [LEGACY_USER] = "user",
	[LEGACY_PASS] = "pass", [LEGACY_CAPA] = "capa", [LEGACY_UIDL] = "uidl", [LEGACY_LIST] = "list",
	[LEGACY_TOP] = "top", [LEGACY_QUIT] = "quit", [LEGACY_DONE] = "done",
};
_Static_assert(sizeof(legacy_state_names) / sizeof(legacy_state_names[0]) == LEGACY_STATE_COUNT,
	       "state names must match enum legacy_pop3_state");

struct legacy_pop3 {
	struct event_base *base;
	struct evdns_base *dns;
	struct bufferevent *bev;
	struct tls_client_ctx *tls_ctx;
	char *host;
	uint16_t port;
	bool implicit_tls, allow_plaintext, tls_active;
	char *user, *pass;
	size_t user_len, pass_len;
	char log_id[32];
	enum legacy_pop3_state state;
	struct legacy_reader reader;
	struct event *timer;          /* the whole import */
	struct event *done_ev;        /* delivers the result from the loop */
	unsigned int timeout_secs;
	struct legacy_msg *msgs;
	size_t n, cap, list_next;
	size_t top_sent, top_next;    /* TOPs sent, and answered */
	bool pipelining;              /* RFC 2449 PIPELINING: TOPs in a window */
	uint32_t max_messages;
	uint64_t bytes_read, max_bytes;
	char *hdr;                    /* the header of the TOP in progress */
	size_t hdr_len;
	bool hdr_done, hdr_over;
	enum legacy_pop3_result result;
	char reason[300];
	legacy_pop3_cb *cb;
	void *ctx;
};

const char *legacy_pop3_result_name(enum legacy_pop3_result r)
{
	static const char *const names[] = {
		[LEGACY_POP3_OK] = "ok", [LEGACY_POP3_UNREACHABLE] = "unreachable",
		[LEGACY_POP3_TIMEOUT] = "timeout", [LEGACY_POP3_NO_TLS] = "no_tls",
		[LEGACY_POP3_AUTH] = "auth", [LEGACY_POP3_PROTOCOL] = "protocol",
		[LEGACY_POP3_LIMIT] = "limit", [LEGACY_POP3_MEMORY] = "memory",
	};

	return (size_t)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

bool legacy_pop3_pipelining(const struct legacy_pop3 *p)
{
	return p->pipelining;
}

static void legacy_set_state(struct legacy_pop3 *p, enum legacy_pop3_state st)
{
	log_debug("%s legacy_state=%s->%s", p->log_id, legacy_state_names[p->state],
		  legacy_state_names[st]);
	p->state = st;
}

/* The end, good or bad: reported from the loop. */
static void legacy_finish(struct legacy_pop3 *p, enum legacy_pop3_result r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void legacy_finish(struct legacy_pop3 *p, enum legacy_pop3_result r, const char *fmt, ...)
{
	va_list ap;

	if (p->state == LEGACY_DONE)
		return;
	legacy_set_state(p, LEGACY_DONE);
	p->result = r;
	va_start(ap, fmt);
	vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
	va_end(ap);
	if (p->bev != NULL)
		bufferevent_disable(p->bev, EV_READ | EV_WRITE);
	evtimer_del(p->timer);
	event_active(p->done_ev, EV_TIMEOUT, 0);
}

static void legacy_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct legacy_pop3 *p = arg;
	bool ok = p->result == LEGACY_POP3_OK;

	p->cb(p->ctx, p->result, p->reason, ok ? p->msgs : NULL, ok ? p->n : 0);
}

static void legacy_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct legacy_pop3 *p = arg;

	legacy_finish(p, LEGACY_POP3_TIMEOUT, "%s:%u: no complete answer within %us (at %s)",
		      p->host, p->port, p->timeout_secs, legacy_state_names[p->state]);
}

static void legacy_wipe_pass(struct legacy_pop3 *p)
{
	if (p->pass != NULL) {
		explicit_bzero(p->pass, p->pass_len);
		free(p->pass);
		p->pass = NULL;
	}
}

/* One command; the reader learns whether its +OK starts a body. */
static void legacy_send(struct legacy_pop3 *p, enum legacy_pop3_state st, bool multi,
			const char *cmd, const char *arg, size_t arg_len)
{
	struct evbuffer *out = bufferevent_get_output(p->bev);

	legacy_set_state(p, st);
	legacy_reader_expect(&p->reader, multi);
	evbuffer_add(out, cmd, strlen(cmd));
	if (arg != NULL) {
		evbuffer_add(out, " ", 1);
		evbuffer_add(out, arg, arg_len);
	}
	evbuffer_add(out, "\r\n", 2);
}

/* The TOPs of the window: one at a time, or LEGACY_POP3_WINDOW in flight
   where the server says PIPELINING (the round trips of a distant server
   would otherwise make the import as slow as its message count). Their
   replies come in order, each a body: the reader expects the next one
   when one ends. */
static void legacy_send_tops(struct legacy_pop3 *p)
{
	size_t window = p->pipelining ? LEGACY_POP3_WINDOW : 1;
	bool first = p->top_sent == p->top_next;

	while (p->top_sent < p->n && p->top_sent - p->top_next < window) {
		char cmd[40];
		struct evbuffer *out = bufferevent_get_output(p->bev);

		snprintf(cmd, sizeof(cmd), "TOP %u 0\r\n", p->msgs[p->top_sent++].msgno);
		evbuffer_add(out, cmd, strlen(cmd));
	}
	if (first) {
		legacy_set_state(p, LEGACY_TOP);
		legacy_reader_expect(&p->reader, true);
	}
}

static void legacy_send_user(struct legacy_pop3 *p)
{
	legacy_send(p, LEGACY_USER, false, "USER", p->user, p->user_len);
}

/* "-ERR text" of the server, escaped for a log line and the client. */
static const char *legacy_text(const struct legacy_line *l, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < l->len && o + 1 < size; i++)
		buf[o++] = l->text[i] >= 0x20 && l->text[i] < 0x7f && l->text[i] != '"' ?
			l->text[i] : '?';
	buf[o] = '\0';
	return buf;
}

/* STLS accepted: TLS over the same connection, then USER. */
static void legacy_start_tls(struct legacy_pop3 *p)
{
	struct bufferevent *tls;

	/* Sent in plaintext after the +OK, before the handshake: never read
	   as if it had come over TLS (RFC 2595, CVE-2011-0411 class). */
	if (evbuffer_get_length(bufferevent_get_input(p->bev)) > 0) {
		legacy_finish(p, LEGACY_POP3_UNREACHABLE, "%s:%u: server sent data after its "
			      "STLS reply", p->host, p->port);
		return;
	}
	/* On the same socket: no filter, no copy of the descriptor. This
	   reader does not call tls_fill(): no read-ahead. */
	tls = tls_client_upgrade(p->base, p->bev, p->tls_ctx, p->host, false);
	if (tls == NULL) {
		legacy_finish(p, LEGACY_POP3_UNREACHABLE, "%s:%u: cannot start TLS", p->host,
			      p->port);
		return;
	}
	p->bev = tls;
	p->tls_active = true;
	legacy_set_state(p, LEGACY_HANDSHAKE);
}

static void legacy_setup_bev(struct legacy_pop3 *p);

static void legacy_on_status(struct legacy_pop3 *p, const struct legacy_line *l)
{
	char text[200];
	bool ok = l->kind == LEGACY_LINE_OK;

	switch (p->state) {
	case LEGACY_GREETING:
		if (!ok)
			legacy_finish(p, LEGACY_POP3_UNREACHABLE, "%s:%u: greeting -ERR %s",
				      p->host, p->port, legacy_text(l, text, sizeof(text)));
		else if (p->tls_active)
			legacy_send_user(p);
		else
			legacy_send(p, LEGACY_STLS, false, "STLS", NULL, 0);
		return;
	case LEGACY_STLS:
		if (ok) {
			legacy_start_tls(p);
			if (p->state == LEGACY_HANDSHAKE)
				legacy_setup_bev(p);
		} else if (p->allow_plaintext) {
			log_warn("%s event=legacy_plaintext host=%s:%u", p->log_id, p->host, p->port);
			legacy_send_user(p);
		} else {
			legacy_finish(p, LEGACY_POP3_NO_TLS, "%s:%u does not offer STLS "
				      "(legacy_plaintext = yes would send the password in clear)",
				      p->host, p->port);
		}
		return;
	case LEGACY_USER:
		if (ok)
			legacy_send(p, LEGACY_PASS, false, "PASS", p->pass, p->pass_len);
		else
			legacy_finish(p, LEGACY_POP3_AUTH, "%s:%u refused the user: -ERR %s",
				      p->host, p->port, legacy_text(l, text, sizeof(text)));
		return;
	case LEGACY_PASS:
		legacy_wipe_pass(p);
		if (ok)
			legacy_send(p, LEGACY_CAPA, true, "CAPA", NULL, 0);
		else
			legacy_finish(p, LEGACY_POP3_AUTH, "%s:%u refused the password: -ERR %s",
				      p->host, p->port, legacy_text(l, text, sizeof(text)));
		return;
	case LEGACY_CAPA:
		/* RFC 1939 servers need not know CAPA: then no pipelining. */
		if (!ok)
			legacy_send(p, LEGACY_UIDL, true, "UIDL", NULL, 0);
		return;
	case LEGACY_TOP:
		if (ok) {
			p->hdr_len = 0;
			p->hdr_done = p->hdr_over = false;
			return;
		}
		/* fall through */
	case LEGACY_UIDL:
	case LEGACY_LIST:
		if (!ok)
			legacy_finish(p, LEGACY_POP3_PROTOCOL, "%s:%u: %s: -ERR %s", p->host, p->port,
				      legacy_state_names[p->state], legacy_text(l, text, sizeof(text)));
		return;
	case LEGACY_QUIT:
		legacy_finish(p, LEGACY_POP3_OK, "%s", "");
		return;
	case LEGACY_CONNECTING:
	case LEGACY_HANDSHAKE:
	case LEGACY_DONE:
	case LEGACY_STATE_COUNT:
		break;
	}
	legacy_finish(p, LEGACY_POP3_PROTOCOL, "%s:%u: a reply nobody asked for", p->host, p->port);
}

static int legacy_add_msg(struct legacy_pop3 *p, const struct legacy_line *l)
{
	const char *error;
	struct legacy_msg m = { 0 };

	if (legacy_parse_uidl(l->text, l->len, UINT32_MAX, &m.msgno, m.uidl, &error) < 0) {
		legacy_finish(p, LEGACY_POP3_PROTOCOL, "%s:%u: UIDL: %s", p->host, p->port, error);
		return -1;
	}
	if (p->n > 0 && m.msgno <= p->msgs[p->n - 1].msgno) {
		legacy_finish(p, LEGACY_POP3_PROTOCOL, "%s:%u: UIDL: message numbers not ascending",
			      p->host, p->port);
		return -1;
	}
	if (p->n >= p->max_messages) {
		legacy_finish(p, LEGACY_POP3_LIMIT, "%s:%u: more than %u messages", p->host,
			      p->port, p->max_messages);
		return -1;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap == 0 ? 64 : p->cap * 2;
		struct legacy_msg *msgs = realloc(p->msgs, cap * sizeof(*msgs));

		if (msgs == NULL) {
			legacy_finish(p, LEGACY_POP3_MEMORY, "out of memory");
			return -1;
		}
		p->msgs = msgs;
		p->cap = cap;
	}
	p->msgs[p->n++] = m;
	return 0;
}

static int legacy_add_size(struct legacy_pop3 *p, const struct legacy_line *l)
{
	const char *error;
	uint32_t msgno;
	uint64_t size;

	if (legacy_parse_list(l->text, l->len, UINT32_MAX, &msgno, &size, &error) < 0) {
		legacy_finish(p, LEGACY_POP3_PROTOCOL, "%s:%u: LIST: %s", p->host, p->port, error);
		return -1;
	}
	if (p->list_next >= p->n || p->msgs[p->list_next].msgno != msgno) {
		legacy_finish(p, LEGACY_POP3_PROTOCOL, "%s:%u: LIST and UIDL list other messages",
			      p->host, p->port);
		return -1;
	}
	p->msgs[p->list_next++].size = size;
	return 0;
}

/* A header line of TOP; the body lines after the empty one are not kept. */
static void legacy_add_header(struct legacy_pop3 *p, const struct legacy_line *l)
{
	if (p->hdr_done || p->hdr_over)
		return;
	if (l->len == 0) {
		p->hdr_done = true;
		return;
	}
	if (p->hdr_len + l->len + 2 > LEGACY_POP3_HEADER_MAX) {
		p->hdr_over = true;
		return;
	}
	memcpy(p->hdr + p->hdr_len, l->text, l->len);
	memcpy(p->hdr + p->hdr_len + l->len, "\r\n", 2);
	p->hdr_len += l->len + 2;
}

static void legacy_hash_header(struct legacy_pop3 *p)
{
	struct legacy_msg *m = &p->msgs[p->top_next];
	char *canon;
	size_t n;

	m->hash[0] = '\0';
	if (p->hdr_over)
		return;
	canon = malloc(p->hdr_len + 2);
	if (canon == NULL)
		return;
	n = header_fp_migration(p->hdr, p->hdr_len, canon);
	if (n > 0)
		tls_sha256_hex(canon, n, m->hash);
	free(canon);
}

static void legacy_on_body_end(struct legacy_pop3 *p)
{
	switch (p->state) {
	case LEGACY_CAPA:
		legacy_send(p, LEGACY_UIDL, true, "UIDL", NULL, 0);
		return;
	case LEGACY_UIDL:
		legacy_send(p, LEGACY_LIST, true, "LIST", NULL, 0);
		return;
	case LEGACY_LIST:
		if (p->list_next != p->n) {
			legacy_finish(p, LEGACY_POP3_PROTOCOL, "%s:%u: LIST and UIDL list other "
				      "messages", p->host, p->port);
			return;
		}
		break;
	case LEGACY_TOP:
		legacy_hash_header(p);
		p->top_next++;
		if (p->top_next < p->top_sent)
			legacy_reader_expect(&p->reader, true);
		break;
	default:
		legacy_finish(p, LEGACY_POP3_PROTOCOL, "%s:%u: a body nobody asked for", p->host,
			      p->port);
		return;
	}
	if (p->top_next < p->n)
		legacy_send_tops(p);
	else
		legacy_send(p, LEGACY_QUIT, false, "QUIT", NULL, 0);
}

static void legacy_on_line(struct legacy_pop3 *p, const struct legacy_line *l)
{
	switch (l->kind) {
	case LEGACY_LINE_OK:
	case LEGACY_LINE_ERR:
		legacy_on_status(p, l);
		return;
	case LEGACY_LINE_DATA:
		if (p->state == LEGACY_CAPA && l->len == 10 &&
		    strncasecmp(l->text, "PIPELINING", 10) == 0)
			p->pipelining = true;
		else if (p->state == LEGACY_UIDL)
			(void)legacy_add_msg(p, l);
		else if (p->state == LEGACY_LIST)
			(void)legacy_add_size(p, l);
		else if (p->state == LEGACY_TOP)
			legacy_add_header(p, l);
		return;
	case LEGACY_LINE_END:
		legacy_on_body_end(p);
		return;
	case LEGACY_LINE_ERROR:
		legacy_finish(p, LEGACY_POP3_PROTOCOL, "%s:%u: %s", p->host, p->port, l->error);
		return;
	case LEGACY_LINE_NEED_MORE:
		break;
	}
}

static void legacy_read_cb(struct bufferevent *bev, void *arg)
{
	struct legacy_pop3 *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (p->state != LEGACY_DONE && p->state != LEGACY_HANDSHAKE &&
	       evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		struct legacy_line l;
		size_t used;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		(void)legacy_reader_feed(&p->reader, v.iov_base, v.iov_len, &used, &l);
		evbuffer_drain(in, used);
		p->bytes_read += used;
		if (p->bytes_read > p->max_bytes) {
			legacy_finish(p, LEGACY_POP3_LIMIT, "%s:%u: more than %llu octets", p->host,
				      p->port, (unsigned long long)p->max_bytes);
			return;
		}
		if (l.kind != LEGACY_LINE_NEED_MORE)
			legacy_on_line(p, &l);
	}
}

static void legacy_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct legacy_pop3 *p = arg;
	char reason[256];

	if ((what & BEV_EVENT_CONNECTED) != 0) {
		evutil_socket_t fd = bufferevent_getfd(bev);

		if (fd >= 0)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		if (p->state == LEGACY_CONNECTING)
			legacy_set_state(p, LEGACY_GREETING);
		else if (p->state == LEGACY_HANDSHAKE)
			legacy_send_user(p);   /* no second greeting after STLS */
		return;
	}
	if (p->state == LEGACY_DONE)
		return;
	if ((what & BEV_EVENT_EOF) != 0) {
		if (p->state == LEGACY_QUIT)
			legacy_finish(p, LEGACY_POP3_OK, "%s", "");
		else
			legacy_finish(p, LEGACY_POP3_UNREACHABLE, "%s:%u closed the connection (at %s)",
				      p->host, p->port, legacy_state_names[p->state]);
	} else if (bufferevent_socket_get_dns_error(bev) != 0) {
		legacy_finish(p, LEGACY_POP3_UNREACHABLE, "cannot resolve %s: %s", p->host,
			      evutil_gai_strerror(bufferevent_socket_get_dns_error(bev)));
	} else if (p->tls_active) {
		legacy_finish(p, LEGACY_POP3_UNREACHABLE, "%s:%u: %s", p->host, p->port,
			      tls_error_reason(bev, reason, sizeof(reason)));
	} else {
		legacy_finish(p, LEGACY_POP3_UNREACHABLE, "%s:%u: %s", p->host, p->port,
			      evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	}
}

static void legacy_setup_bev(struct legacy_pop3 *p)
{
	bufferevent_setcb(p->bev, legacy_read_cb, NULL, legacy_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
}

static bool legacy_sendable(const char *s, size_t n)
{
	return n > 0 && memchr(s, '\r', n) == NULL && memchr(s, '\n', n) == NULL &&
		memchr(s, '\0', n) == NULL;
}

struct legacy_pop3 *legacy_pop3_start(struct event_base *base, struct evdns_base *dns,
				      const struct legacy_pop3_settings *set,
				      legacy_pop3_cb *cb, void *ctx)
{
	struct legacy_pop3 *p;
	struct timeval tv = { .tv_sec = set->timeout_secs };

	if (!legacy_sendable(set->user, set->user_len) ||
	    !legacy_sendable(set->pass, set->pass_len) || set->tls_ctx == NULL)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->base = base;
	p->dns = dns;
	p->tls_ctx = set->tls_ctx;
	p->port = set->port;
	p->implicit_tls = set->implicit_tls;
	p->allow_plaintext = set->allow_plaintext;
	p->timeout_secs = set->timeout_secs;
	p->max_messages = set->max_messages;
	p->max_bytes = set->max_bytes != 0 ? set->max_bytes : LEGACY_POP3_MAX_BYTES;
	p->cb = cb;
	p->ctx = ctx;
	snprintf(p->log_id, sizeof(p->log_id), "%s", set->log_id != NULL ? set->log_id : "");
	legacy_reader_init(&p->reader);
	p->host = strdup(set->host);
	p->user = malloc(set->user_len);
	p->pass = malloc(set->pass_len);
	p->hdr = malloc(LEGACY_POP3_HEADER_MAX);
	p->timer = evtimer_new(base, legacy_timer_cb, p);
	p->done_ev = event_new(base, -1, 0, legacy_done_cb, p);
	if (p->host == NULL || p->user == NULL || p->pass == NULL || p->hdr == NULL ||
	    p->timer == NULL || p->done_ev == NULL) {
		legacy_pop3_free(&p);
		return NULL;
	}
	memcpy(p->user, set->user, set->user_len);
	p->user_len = set->user_len;
	memcpy(p->pass, set->pass, set->pass_len);
	p->pass_len = set->pass_len;
	evtimer_add(p->timer, &tv);
	if (p->implicit_tls) {
		/* Its reader takes what libevent hands on and does not call
		   tls_fill(): records read ahead would wait in OpenSSL for a
		   readiness event that never comes (a pipelined TOP window
		   answered at once). */
		p->bev = tls_client_bufferevent(base, p->tls_ctx, p->host, false);
		p->tls_active = true;
	} else {
		p->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (p->bev == NULL) {
		legacy_finish(p, LEGACY_POP3_MEMORY, "cannot create a connection");
		return p;
	}
	legacy_setup_bev(p);
	if (bufferevent_socket_connect_hostname(p->bev, dns, AF_UNSPEC, p->host, p->port) < 0 &&
	    p->state != LEGACY_DONE)
		legacy_finish(p, LEGACY_POP3_UNREACHABLE, "cannot connect to %s:%u", p->host,
			      p->port);
	return p;
}

void legacy_pop3_free(struct legacy_pop3 **pp)
{
	struct legacy_pop3 *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	if (p->bev != NULL)
		bufferevent_free(p->bev);
	if (p->timer != NULL)
		event_free(p->timer);
	if (p->done_ev != NULL)
		event_free(p->done_ev);
	legacy_wipe_pass(p);
	if (p->user != NULL)
		explicit_bzero(p->user, p->user_len);
	free(p->user);
	free(p->host);
	free(p->hdr);
	free(p->msgs);
	free(p);
}
