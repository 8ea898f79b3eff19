/* RETR and TOP; contracts in fetch.h. */

#include "fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "conf.h"
#include "folders.h"
#include "imap_body.h"
#include "imap_client.h"
#include "imap_mailbox.h"
#include "log.h"
#include "maildrop.h"
#include "metrics.h"
#include "pop3_filter.h"
#include "session.h"
#include "sizes.h"

enum pop3_fetch_kind {
	POP3_FETCH_RETR,
	POP3_FETCH_TOP_HEADER,
	POP3_FETCH_TOP_TEXT,
};

struct pop3_fetch {
	struct pop3_session *s;
	enum pop3_fetch_kind kind;
	struct pop3_msg *msg;
	struct pop3_maildrop *drop;  /* msg's (its folder's) */
	struct pop3_filter filter;
	uint64_t top_lines;
	uint64_t top_offset;        /* next TEXT range start */
	uint64_t chunk_size;        /* size of the item being received */
	bool started;               /* +OK sent */
	bool replaced;              /* not the message that was listed */
	bool suspect;               /* RETR: its literal is not the listed size */
	struct imap_body_op op;
	struct imap_exists_op exists;
	struct pop3_prefetch *ahead; /* the fetch ahead that streams this one */
};

/*
 * The messages after the one a RETR asks for, asked for right behind it
 * (prefetch_max_size), in listing order, as many as POP3_PREFETCH_DEPTH
 * and POP3_PREFETCH_WINDOW octets of listed sizes allow (the first one
 * only needs to be within prefetch_max_size). The server answers them in
 * that order. WAITING: what comes of it goes through its own filter into
 * its window, ready to send (the RETR moves the window's chains onto the
 * output, and carries on with the filter), while all windows together
 * have taken less than POP3_PREFETCH_WINDOW octets of it; then it
 * pauses the upstream connection (room 0) until RETR of it takes it over
 * (ATTACHED: the fetch is the consumer), unless a command before it has
 * not ended yet (behind): a server that runs pipelined commands at once
 * may send this body before an earlier reply, so a pause would hold that
 * reply back, and it is dropped instead. COMPLETE: all of it, and its
 * tagged reply, came while waiting. DROPPING: not wanted any more; the
 * rest is read and thrown away so the commands behind it go on. The
 * session's list holds them in the order they were sent; each stays on
 * it until its command is done or it is taken (or the session ends: the
 * IMAP client is closed first, so none calls back).
 */
#define POP3_PREFETCH_WINDOW (128 * 1024)
#define POP3_PREFETCH_DEPTH 16

enum pop3_prefetch_state {
	POP3_PREFETCH_WAITING,
	POP3_PREFETCH_COMPLETE,
	POP3_PREFETCH_ATTACHED,
	POP3_PREFETCH_DROPPING,
};

struct pop3_prefetch {
	struct pop3_prefetch *next; /* asked for after this one */
	struct pop3_session *s;
	struct imap_client *imap;   /* the connection it was sent on */
	struct pop3_msg *msg;
	enum pop3_prefetch_state state;
	struct pop3_fetch *fetch;   /* ATTACHED */
	bool behind;                /* the RETR running when it was asked for runs */
	bool begun;                 /* the literal started (start holds it) */
	struct imap_body_start start;
	struct pop3_filter filter;  /* what came so far, as a RETR filters it */
	struct evbuffer *window;    /* WAITING, COMPLETE: that filtered */
	size_t window_len;          /* octets of the message in the window */
	struct imap_body_result result;   /* COMPLETE */
	struct imap_reply reply;
	char reply_text[160];
	struct imap_body_op op;
};

static void pop3_fetch_free(struct pop3_session *s, void *ctx)
{
	struct pop3_fetch *f = ctx;

	if (f->ahead != NULL) {
		/* Ended before its body did (the session closed). */
		f->ahead->fetch = NULL;
		f->ahead->state = POP3_PREFETCH_DROPPING;
	}
	/* The next one may wait for its RETR now: nothing is behind it. */
	for (struct pop3_prefetch *p = s->ahead; p != NULL; p = p->next)
		p->behind = false;
	free(f);
}

static void pop3_fetch_drained(struct pop3_session *s, void *ctx)
{
	/* Room again: let a paused stream go on. */
	if (s->imap != NULL)
		imap_client_resume(s->imap);
}

static const struct pop3_cmd_ops pop3_fetch_ops = {
	.drained = pop3_fetch_drained,
	.free = pop3_fetch_free,
};

/* A mark that cannot be kept (out of memory) is said: a message seen gone
   is asked for again on the next RETR, one sent is not hidden by the
   retention rule. */
static void pop3_fetch_mark(struct pop3_fetch *f, unsigned int flag)
{
	struct pop3_session *s = f->s;
	const struct pop3_msg *m = f->msg;

	if (pop3_msg_mark(f->drop, m, flag) < 0)
		log_warn("%s event=mark_failed uid=%u mark=%s error=\"out of memory\"", s->log_id,
			 m->uid, flag == POP3_MSG_VANISHED ? "vanished" : "retrieved");
}

static void pop3_fetch_begin(void *ctx, const struct imap_body_start *start)
{
	struct pop3_fetch *f = ctx;

	f->chunk_size = start->size;
	if (f->started)
		return;
	/* Another size than at login: the message is not the one listed
	   (Courier hands out a short stand-in for a message another client
	   expunged). Sending it under this number and UIDL would have a
	   client keep it forever. The header for TOP is asked with the
	   size as well; later ranges of its text come after that proof. */
	if (f->kind != POP3_FETCH_TOP_TEXT && start->has_rfc822_size &&
	    start->rfc822_size != pop3_msg_upstream_size(f->drop, f->msg)) {
		log_warn("%s event=message_replaced uid=%u listed=%llu now=%llu", f->s->log_id,
			 f->msg->uid, (unsigned long long)pop3_msg_upstream_size(f->drop, f->msg),
			 (unsigned long long)start->rfc822_size);
		f->replaced = true;
		pop3_fetch_mark(f, POP3_MSG_VANISHED);
		return;
	}
	/* Without that proof (RFC822.SIZE may come after the body) the
	   literal's size may tell: another size than listed is checked (is
	   the message still there?) before anything is sent, unless this
	   server's sizes are known to be inexact. */
	if (f->kind == POP3_FETCH_RETR && !start->has_rfc822_size &&
	    start->size != pop3_msg_upstream_size(f->drop, f->msg) && !f->s->sizes_inexact) {
		f->suspect = true;
		return;
	}
	f->started = true;
	if (f->kind == POP3_FETCH_RETR)
		pop3_reply(f->s, "+OK %llu octets", (unsigned long long)pop3_msg_size(f->drop, f->msg));
	else
		pop3_reply(f->s, "+OK Top of message follows");
}

static size_t pop3_fetch_room(void *ctx)
{
	struct pop3_fetch *f = ctx;
	size_t len = pop3_output_len(f->s);

	/* The filter may double what it is given. */
	return len >= POP3_OUT_HIGH ? 0 : (POP3_OUT_HIGH - len) / 2 + 1;
}

/* Input filtered in one go at most. What passes as it is (nearly all of
   a message) is added straight from the input; the rest goes through a
   scratch buffer that evbuffer_add() copies on. Either fills what is left
   of the output's last chain before it takes another, so the chains are
   full. Reserving the worst case (twice the input) in the output itself
   took a new chain for nearly every piece and left half of each one
   empty: 256 KiB of queued output held 512 KiB. Chains stay 16 KiB, from
   the heap, reused, and go back with malloc_trim(). */
#define POP3_FETCH_PIECE (8 * 1024)

/* data[0..len) through flt onto out: the octets added, or -1 when out of
   memory (what was added stays). */
static ssize_t pop3_filter_onto(struct pop3_filter *flt, struct evbuffer *out,
				const unsigned char *data, size_t len)
{
	unsigned char buf[POP3_FILTER_MAX_OUT(POP3_FETCH_PIECE)];
	size_t added = 0, piece, n;

	for (; len > 0; data += piece, len -= piece) {
		piece = len < POP3_FETCH_PIECE ? len : POP3_FETCH_PIECE;
		n = pop3_filter_clean(flt, data, piece);
		if (n > 0) {
			piece = n;
			if (evbuffer_add(out, data, n) < 0)
				return -1;
		} else {
			n = pop3_filter_run(flt, data, piece, buf);
			if (evbuffer_add(out, buf, n) < 0)
				return -1;
		}
		added += n;
	}
	return (ssize_t)added;
}

static void pop3_fetch_data(void *ctx, const unsigned char *data, size_t len)
{
	struct pop3_fetch *f = ctx;
	ssize_t n;

	if (f->replaced || f->suspect || pop3_filter_limit_reached(&f->filter) ||
	    f->s->state == POP3_STATE_CLOSED)
		return;
	n = pop3_filter_onto(&f->filter, pop3_output(f->s), data, len);
	if (n < 0) {
		pop3_session_close(f->s, "out_of_memory");
		return;
	}
	pop3_count_out(f->s, (size_t)n);
}

static int pop3_fetch_send(struct pop3_fetch *f);
static void pop3_prefetch_drop_waiting(struct pop3_session *s);
static void pop3_prefetch_next(struct pop3_session *s, struct pop3_msg *cur);

static void pop3_fetch_finish(struct pop3_fetch *f)
{
	struct pop3_session *s = f->s;
	unsigned char end[8];
	size_t n = pop3_filter_finish(&f->filter, end);

	pop3_write(s, end, n);
	if (f->kind == POP3_FETCH_RETR) {
		/* LIST and STAT announced RFC822.SIZE: say when the server's
		   count is not what it sent (e.g. LF line ends counted), and
		   learn it (exact_sizes = auto). */
		if (f->filter.octets != pop3_msg_size(f->drop, f->msg))
			pop3_sizes_mismatch(s, f->msg, f->filter.octets);
		pop3_fetch_mark(f, POP3_MSG_RETRIEVED);
		s->retr_count++;
		metrics_command(s->route->name, METRICS_CMD_RETR);
	} else {
		s->top_count++;
		metrics_command(s->route->name, METRICS_CMD_TOP);
	}
	pop3_cmd_done(s);
}

static void pop3_fetch_exists(void *ctx, enum imap_exists result)
{
	struct pop3_fetch *f = ctx;
	struct pop3_session *s = f->s;

	switch (result) {
	case IMAP_EXISTS_NO:
		log_info("%s event=message_gone uid=%u", s->log_id, f->msg->uid);
		pop3_fetch_mark(f, POP3_MSG_VANISHED);
		pop3_reply(s, "-ERR Message %u is no longer available upstream",
			   pop3_folders_number(s->folders, f->msg));
		pop3_cmd_done(s);
		return;
	case IMAP_EXISTS_YES:
		/* Still there: the server's sizes are not exact. Fetched
		   again and sent, as it is. */
		log_warn("%s event=sizes_inexact uid=%u listed=%llu", s->log_id, f->msg->uid,
			 (unsigned long long)pop3_msg_size(f->drop, f->msg));
		s->sizes_inexact = true;
		f->suspect = false;
		pop3_filter_init(&f->filter);
		pop3_fetch_send(f);
		return;
	case IMAP_EXISTS_FAILED:
		break;
	}
	pop3_reply(s, "-ERR [SYS/TEMP] Upstream failed while checking the message");
	pop3_cmd_done(s);
}

static void pop3_fetch_done(void *ctx, const struct imap_body_result *r)
{
	struct pop3_fetch *f = ctx;
	struct pop3_session *s = f->s;

	if (f->suspect && r->reply->result == IMAP_REPLY_OK && r->complete) {
		s->doing = "checking that a message is still there";
		/* Replies come in order: one fetched ahead must not wait for a
		   consumer in front of this check. */
		pop3_prefetch_drop_waiting(s);
		if (imap_uid_exists(&f->exists, s->imap, f->msg->uid, pop3_fetch_exists, f) < 0) {
			pop3_reply(s, "-ERR [SYS/TEMP] Internal error");
			pop3_cmd_done(s);
		}
		return;
	}
	if (r->reply->result == IMAP_REPLY_FAILED || (r->found && !r->complete)) {
		/* Never end a partial message with the terminating dot: the
		   client must not take it for complete. */
		if (f->started) {
			pop3_session_close(s, "upstream_failed_during_message");
			return;
		}
		pop3_reply(s, "-ERR [SYS/TEMP] Upstream connection lost");
		pop3_session_close_after_flush(s, "upstream_failed");
		pop3_cmd_done(s);
		return;
	}
	if (f->started && (r->reply->result != IMAP_REPLY_OK || !r->found)) {
		/* A later range of TOP's text failed or came back without data
		   (past the end is an empty string, RFC 3501 6.4.5): what was
		   sent is incomplete, so no terminating dot. */
		log_warn("%s event=upstream_fetch_incomplete uid=%u reply=\"%s\"", s->log_id,
			 f->msg->uid, r->reply->text);
		pop3_session_close(s, "upstream_failed_during_message");
		return;
	}
	if (!f->started) {
		/* Nothing sent yet (a body always starts the reply). OK without
		   the body: expunged by another client since login. */
		if (r->reply->result == IMAP_REPLY_OK || f->replaced)
			pop3_reply(s, "-ERR Message %u is no longer available upstream",
				   pop3_folders_number(s->folders, f->msg));
		else
			pop3_reply(s, "-ERR [SYS/TEMP] Upstream refused the message: %s",
				   r->reply->text);
		pop3_cmd_done(s);
		return;
	}
	if (f->kind == POP3_FETCH_TOP_HEADER) {
		f->kind = POP3_FETCH_TOP_TEXT;
		pop3_filter_limit_lines(&f->filter, f->top_lines);
		if (f->top_lines > 0) {
			pop3_fetch_send(f);
			return;
		}
	} else if (f->kind == POP3_FETCH_TOP_TEXT && f->chunk_size == POP3_TOP_CHUNK &&
		   !pop3_filter_limit_reached(&f->filter)) {
		/* The range was full: the text may go on. */
		f->top_offset += POP3_TOP_CHUNK;
		pop3_fetch_send(f);
		return;
	}
	pop3_fetch_finish(f);
}

static const struct imap_body_handlers pop3_fetch_handlers = {
	.begin = pop3_fetch_begin,
	.room = pop3_fetch_room,
	.data = pop3_fetch_data,
	.done = pop3_fetch_done,
};

/* ---- the next messages, fetched ahead ---- */

static bool pop3_prefetch_is_waiting(const struct pop3_prefetch *p)
{
	return p->state == POP3_PREFETCH_WAITING || p->state == POP3_PREFETCH_COMPLETE;
}

/* The one fetched ahead for m, if it waits for its RETR. */
static struct pop3_prefetch *pop3_prefetch_find(struct pop3_session *s,
						const struct pop3_msg *m)
{
	for (struct pop3_prefetch *p = s->ahead; p != NULL; p = p->next) {
		if (pop3_prefetch_is_waiting(p) && p->msg == m)
			return p;
	}
	return NULL;
}

/* Octets the windows hold, all together. */
static size_t pop3_prefetch_held(const struct pop3_session *s)
{
	size_t held = 0;

	for (const struct pop3_prefetch *p = s->ahead; p != NULL; p = p->next)
		held += p->window_len;
	return held;
}

/* A command sent before p may still wait for its reply. */
static bool pop3_prefetch_behind(const struct pop3_prefetch *p)
{
	if (p->behind)
		return true;
	for (const struct pop3_prefetch *q = p->s->ahead; q != p; q = q->next) {
		if (q->state == POP3_PREFETCH_WAITING || q->state == POP3_PREFETCH_ATTACHED)
			return true;
	}
	return false;
}

static void pop3_prefetch_window_free(struct pop3_prefetch *p)
{
	if (p->window != NULL)
		evbuffer_free(p->window);
	p->window = NULL;
	p->window_len = 0;
}

static void pop3_prefetch_remove(struct pop3_prefetch *p)
{
	struct pop3_prefetch **pp = (struct pop3_prefetch **)&p->s->ahead;

	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	pop3_prefetch_window_free(p);
	free(p);
}

static void pop3_prefetch_free_all(struct pop3_session *s)
{
	struct pop3_prefetch *p = s->ahead, *next;

	for (; p != NULL; p = next) {
		next = p->next;
		if (p->fetch != NULL)
			p->fetch->ahead = NULL;
		pop3_prefetch_window_free(p);
		free(p);
	}
	s->ahead = NULL;
}

/* Not wanted any more: what is left of it will be read and thrown away. */
static void pop3_prefetch_discard(struct pop3_prefetch *p)
{
	metrics_prefetch(false);
	if (p->state == POP3_PREFETCH_COMPLETE) {
		pop3_prefetch_remove(p);
		return;
	}
	p->state = POP3_PREFETCH_DROPPING;
	pop3_prefetch_window_free(p);
}

/* Discards the waiting ones before stop (all of them when NULL); true
   when one was sent on the session's connection (which may be paused for
   it). */
static bool pop3_prefetch_discard_until(struct pop3_session *s,
					const struct pop3_prefetch *stop)
{
	struct pop3_prefetch *p = s->ahead, *next;
	bool here = false;

	for (; p != NULL && p != stop; p = next) {
		next = p->next;
		if (!pop3_prefetch_is_waiting(p))
			continue;
		here = here || (p->imap == s->imap && s->imap != NULL);
		pop3_prefetch_discard(p);
	}
	return here;
}

/* The reading goes on. May run the connection's callbacks (and close the
   session) before it returns when it is called from a command, not from
   an IMAP callback. */
static void pop3_prefetch_resume(struct pop3_session *s)
{
	if (s->state != POP3_STATE_CLOSED && s->imap != NULL)
		imap_client_resume(s->imap);
}

static void pop3_prefetch_drop_waiting(struct pop3_session *s)
{
	if (pop3_prefetch_discard_until(s, NULL))
		pop3_prefetch_resume(s);
}

static void pop3_prefetch_begin(void *ctx, const struct imap_body_start *start)
{
	struct pop3_prefetch *p = ctx;

	if (p->state == POP3_PREFETCH_ATTACHED) {
		pop3_fetch_begin(p->fetch, start);
		return;
	}
	p->begun = true;
	p->start = *start;
}

/* Waiting here would hold back a reply before it: asked for again if it
   is wanted. */
static void pop3_prefetch_give_up(struct pop3_prefetch *p)
{
	metrics_prefetch(false);
	p->state = POP3_PREFETCH_DROPPING;
	pop3_prefetch_window_free(p);
}

static size_t pop3_prefetch_room(void *ctx)
{
	struct pop3_prefetch *p = ctx;
	size_t held;

	switch (p->state) {
	case POP3_PREFETCH_ATTACHED:
		return pop3_fetch_room(p->fetch);
	case POP3_PREFETCH_WAITING:
		held = pop3_prefetch_held(p->s);
		if (held < POP3_PREFETCH_WINDOW)
			return POP3_PREFETCH_WINDOW - held;
		if (!pop3_prefetch_behind(p))
			return 0;       /* the rest waits upstream */
		pop3_prefetch_give_up(p);
		break;
	case POP3_PREFETCH_COMPLETE:
	case POP3_PREFETCH_DROPPING:
		break;
	}
	return SIZE_MAX;
}

static void pop3_prefetch_data(void *ctx, const unsigned char *data, size_t len)
{
	struct pop3_prefetch *p = ctx;
	size_t held;

	if (p->state == POP3_PREFETCH_ATTACHED) {
		pop3_fetch_data(p->fetch, data, len);
		return;
	}
	if (p->state != POP3_PREFETCH_WAITING)
		return;
	held = pop3_prefetch_held(p->s);
	/* More than the windows take at once (a quoted string): asked for
	   again when it is wanted. */
	if (held > POP3_PREFETCH_WINDOW || len > POP3_PREFETCH_WINDOW - held ||
	    (p->window == NULL && (p->window = evbuffer_new()) == NULL)) {
		pop3_prefetch_give_up(p);
		return;
	}
	if (pop3_filter_onto(&p->filter, p->window, data, len) < 0) {
		pop3_prefetch_give_up(p);
		return;
	}
	p->window_len += len;
}

static void pop3_prefetch_done(void *ctx, const struct imap_body_result *r)
{
	struct pop3_prefetch *p = ctx;
	struct pop3_fetch *f = p->fetch;

	if (f == NULL && p->state == POP3_PREFETCH_WAITING &&
	    r->reply->result == IMAP_REPLY_OK && r->complete) {
		/* All of it is in the window: kept for its RETR. */
		p->state = POP3_PREFETCH_COMPLETE;
		p->result = *r;
		p->reply = *r->reply;
		snprintf(p->reply_text, sizeof(p->reply_text), "%s",
			 r->reply->text != NULL ? r->reply->text : "");
		p->reply.text = p->reply_text;
		p->reply.code = NULL;
		p->reply.code_len = 0;
		p->result.reply = &p->reply;
		return;
	}
	if (f != NULL)
		f->ahead = NULL;
	pop3_prefetch_remove(p);
	if (f != NULL)
		pop3_fetch_done(f, r);
}

static const struct imap_body_handlers pop3_prefetch_handlers = {
	.begin = pop3_prefetch_begin,
	.room = pop3_prefetch_room,
	.data = pop3_prefetch_data,
	.done = pop3_prefetch_done,
};

/* Asks for m with BODY.PEEK[], behind everything asked for before it;
   0, or -1 when it cannot be queued. */
static int pop3_prefetch_ask(struct pop3_session *s, struct pop3_msg *m)
{
	struct pop3_prefetch *p = calloc(1, sizeof(*p)), **pp;

	if (p == NULL)
		return -1;
	*p = (struct pop3_prefetch){
		.s = s, .imap = s->imap, .msg = m, .state = POP3_PREFETCH_WAITING,
		.behind = true,
	};
	pop3_filter_init(&p->filter);
	struct imap_body_request req = {
		.uid = m->uid, .part = IMAP_BODY_WHOLE, .peek = true, .with_size = true,
		.with_flags = s->profile->mark_seen_on_retr,
	};
	if (imap_body_fetch(&p->op, s->imap, &req, &pop3_prefetch_handlers, p) < 0) {
		free(p);
		return -1;
	}
	for (pp = (struct pop3_prefetch **)&s->ahead; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = p;
	s->ahead_free = pop3_prefetch_free_all;
	return 0;
}

/* The messages after cur (and after those already waiting) that RETR may
   ask for next, asked for now: the first within prefetch_max_size, more
   while their listed sizes together stay within POP3_PREFETCH_WINDOW;
   only in cur's folder, the one selected: never across folders. */
static void pop3_prefetch_next(struct pop3_session *s, struct pop3_msg *cur)
{
	int folder = pop3_folders_of(s->folders, cur);
	struct pop3_maildrop *d;
	uint64_t cap = (uint64_t)s->conf->prefetch_max_kib * 1024, ahead = 0;
	struct pop3_msg *m, *end;
	unsigned int n = 0;

	if (cap == 0 || s->imap == NULL || folder < 0 ||
	    (unsigned int)folder != s->folders->selected)
		return;
	d = s->folders->f[folder].drop;
	m = cur + 1;
	end = d->msgs + d->count;
	for (struct pop3_prefetch *p = s->ahead; p != NULL; p = p->next) {
		if (!pop3_prefetch_is_waiting(p))
			continue;
		/* Ones of another folder are dropped before anything is
		   asked for there; none counts here. */
		if (p->msg < d->msgs || p->msg >= end)
			continue;
		n++;
		ahead += pop3_msg_size(d, p->msg);
		if (p->msg >= m)
			m = p->msg + 1;
	}
	/* Topped up once half of the count or of the octets is left, not
	   after each RETR: the commands for several messages go in one
	   write, and the server reads them in one go (a write and a read on
	   each side per message otherwise). What is left covers the round
	   trip that asks for more. */
	if (n >= POP3_PREFETCH_DEPTH / 2 || ahead >= POP3_PREFETCH_WINDOW / 2)
		return;
	for (; n < POP3_PREFETCH_DEPTH; n++, m++) {
		while (m < end &&
		       (pop3_msg_flags(d, m) & (POP3_MSG_DELETED | POP3_MSG_VANISHED)) != 0)
			m++;
		if (m >= end || pop3_msg_size(d, m) > cap ||
		    (n > 0 && ahead + pop3_msg_size(d, m) > POP3_PREFETCH_WINDOW) ||
		    pop3_prefetch_ask(s, m) < 0)
			return;
		ahead += pop3_msg_size(d, m);
	}
}

static void pop3_seen_done(void *ctx, const struct imap_reply *reply)
{
	struct pop3_session *s = ctx;

	if (reply->result != IMAP_REPLY_OK)
		log_warn("%s event=mark_seen_failed reply=\"%s\"", s->log_id, reply->text);
}

static const struct imap_cmd_handlers pop3_seen_handlers = {
	.done = pop3_seen_done,
};

/* What the window holds goes out as it is (its chains move), and f's
   filter goes on from where p's stopped. Not when f sends nothing of it
   (not the message listed, or to be checked first). */
static void pop3_prefetch_feed(struct pop3_prefetch *p, struct pop3_fetch *f)
{
	struct pop3_session *s = f->s;
	size_t n = p->window != NULL ? evbuffer_get_length(p->window) : 0;

	if (!f->replaced && !f->suspect && s->state != POP3_STATE_CLOSED) {
		f->filter = p->filter;
		if (n > 0 && evbuffer_add_buffer(pop3_output(s), p->window) < 0)
			pop3_session_close(s, "out_of_memory");
		else
			pop3_count_out(s, n);
	}
	pop3_prefetch_window_free(p);
}

/* RETR of a message fetched ahead: f becomes its consumer. */
static void pop3_prefetch_take(struct pop3_prefetch *p, struct pop3_fetch *f)
{
	struct pop3_session *s = f->s;
	bool complete = p->state == POP3_PREFETCH_COMPLETE;

	p->state = POP3_PREFETCH_ATTACHED;
	p->fetch = f;
	f->ahead = p;
	s->doing = "fetching a message";
	metrics_prefetch(true);
	/* It came with BODY.PEEK[]: \Seen as BODY[] would have set it,
	   queued before the next ones ahead; not when the FLAGS that came
	   with the body have it (BODY[] would have changed nothing then, and
	   a STORE costs the server a command and a sync). */
	if (s->profile->mark_seen_on_retr &&
	    !(p->begun && p->start.has_flags && (p->start.flags & IMAP_FLAG_SEEN) != 0) &&
	    imap_body_mark_seen(s->imap, f->msg->uid, &pop3_seen_handlers, s) < 0)
		log_warn("%s event=mark_seen_failed uid=%u", s->log_id, f->msg->uid);
	pop3_prefetch_next(s, f->msg);
	if (p->begun)
		pop3_fetch_begin(f, &p->start);
	pop3_prefetch_feed(p, f);
	if (complete) {
		struct imap_body_result r = p->result;
		struct imap_reply reply = p->reply;
		char text[sizeof(p->reply_text)];

		memcpy(text, p->reply_text, sizeof(text));
		reply.text = text;
		r.reply = &reply;
		f->ahead = NULL;
		pop3_prefetch_remove(p);
		pop3_fetch_done(f, &r);
		/* Its window is free: the next ones may come on. */
		pop3_prefetch_resume(s);
		return;
	}
	/* May finish the command at once (all of it had arrived): f is not
	   touched after this. */
	pop3_prefetch_resume(s);
}

void pop3_fetch_ahead_drop(struct pop3_session *s, const struct pop3_msg *m)
{
	struct pop3_prefetch *p;

	if (m == NULL) {
		pop3_prefetch_drop_waiting(s);
		return;
	}
	p = pop3_prefetch_find(s, m);
	if (p == NULL)
		return;
	pop3_prefetch_discard(p);
	pop3_prefetch_resume(s);
}

/* ---- asking the upstream ---- */

/* 0, or -1 when the command was ended (replied, or the session closed). */
static int pop3_fetch_send(struct pop3_fetch *f)
{
	struct pop3_session *s = f->s;
	struct imap_body_request req = { .uid = f->msg->uid };

	/* Replies come in order: one fetched ahead must not wait for a
	   consumer in front of this. */
	pop3_prefetch_drop_waiting(s);
	if (s->state == POP3_STATE_CLOSED)
		return -1;
	f->chunk_size = 0;
	switch (f->kind) {
	case POP3_FETCH_RETR:
		req.part = IMAP_BODY_WHOLE;
		req.peek = !s->profile->mark_seen_on_retr;
		req.with_size = true;
		s->doing = "fetching a message";
		break;
	case POP3_FETCH_TOP_HEADER:
		req.part = IMAP_BODY_HEADER;
		req.with_size = true;
		s->doing = "fetching a message header";
		break;
	case POP3_FETCH_TOP_TEXT:
		req.part = IMAP_BODY_TEXT;
		req.offset = f->top_offset;
		req.length = POP3_TOP_CHUNK;
		s->doing = "fetching the start of a message body";
		break;
	}
	if (imap_body_fetch(&f->op, s->imap, &req, &pop3_fetch_handlers, f) < 0) {
		pop3_reply(s, "-ERR [SYS/TEMP] Internal error");
		pop3_session_close_after_flush(s, "internal_error");
		pop3_cmd_done(s);
		return -1;
	}
	return 0;
}

void pop3_fetch_start(struct pop3_session *s, struct pop3_msg *msg, bool top,
		      uint64_t lines)
{
	struct pop3_prefetch *p = top ? NULL : pop3_prefetch_find(s, msg);
	struct pop3_fetch *f;

	if (p != NULL && p->imap != s->imap)
		p = NULL;
	/* The ones before it will not be asked for (the client skipped
	   them): thrown away as they come; taking it resumes reading. */
	if (p != NULL) {
		(void)pop3_prefetch_discard_until(s, p);
	} else {
		pop3_prefetch_drop_waiting(s);
		if (s->state == POP3_STATE_CLOSED)
			return;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		pop3_reply(s, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	f->s = s;
	f->msg = msg;
	f->drop = pop3_folders_drop(s->folders, msg);
	f->kind = top ? POP3_FETCH_TOP_HEADER : POP3_FETCH_RETR;
	f->top_lines = lines;
	pop3_filter_init(&f->filter);
	pop3_cmd_start(s, &pop3_fetch_ops, f);
	if (p != NULL) {
		pop3_prefetch_take(p, f);
		return;
	}
	if (pop3_fetch_send(f) == 0 && !top)
		pop3_prefetch_next(s, msg);
}
