/* What a POP3 session asks of its upstream IMAP connection: login and the
   maildrop listing, streamed RETR/TOP, and the end of the session. */

#include "pop3_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "cache.h"
#include "conf.h"
#include "imap_client.h"
#include "imap_resp.h"
#include "limits_table.h"
#include "log.h"
#include "settings.h"
#include "version.h"

static void pop3_login_failed(struct pop3_session *s, enum metrics_login result,
			      const char *reply, bool delay);

/* ---- login, SELECT, listing ---- */

void pop3_login_finish_ok(struct pop3_session *s)
{
	char user[CACHE_ACCOUNT_MAX + 64];
	unsigned int count = 0;
	uint64_t size = 0;

	for (unsigned int i = 0; i < s->msg_count; i++) {
		count++;
		size += s->msgs[i].size;
	}
	pop3_session_set_state(s, POP3_STATE_TRANSACTION);
	metrics_login(s->route->name, METRICS_LOGIN_OK);
	pop3_auth_user_key(s, user, sizeof(user));
	limits_auth_succeeded(s->srv->limits, user);
	if (s->conf->login_delay_secs > 0)
		limits_login_record(s->srv->limits, s->user, pop3_now_ms());
	log_info("%s event=login user=%s device=%s client=%s route=%s upstream=%s:%u "
		 "messages=%u octets=%llu uidvalidity=%u",
		 s->log_id, s->user_log, s->device[0] != '\0' ? s->device : "-", s->client_ip,
		 s->route->name, s->route->host, s->route->port, count,
		 (unsigned long long)size, s->uidvalidity);
	pop3_reply(s, "+OK Logged in, %u messages (%llu octets)", count,
		   (unsigned long long)size);
	pop3_command_done(s);
}

static int pop3_msg_cmp(const void *a, const void *b)
{
	const struct pop3_msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void pop3_list_untagged(void *ctx, const struct imap_resp *resp)
{
	struct pop3_session *s = ctx;
	struct imap_fetch f;
	const char *error;

	int ret = imap_fetch_resp(resp, false, &f, &error);

	if (ret > 0)
		return;
	if (ret < 0) {
		log_warn("%s event=upstream_bad_fetch error=\"%s\"", s->log_id, error);
		s->listing_failed = true;
		return;
	}
	if (!f.has_uid || !f.has_size || (f.flags & IMAP_FLAG_DELETED) != 0)
		return;
	if (s->msg_count == s->msg_cap) {
		/* Sized from EXISTS up front; this only runs when more FETCH
		   responses come than EXISTS announced. */
		unsigned int cap = s->msg_cap < 32 ? 64 : s->msg_cap + s->msg_cap / 2;
		struct pop3_msg *msgs;

		if (s->msg_count >= POP3_MAX_MESSAGES) {
			s->listing_failed = true;
			return;
		}
		if (cap > POP3_MAX_MESSAGES)
			cap = POP3_MAX_MESSAGES;
		msgs = realloc(s->msgs, cap * sizeof(*msgs));
		if (msgs == NULL) {
			s->listing_failed = true;
			return;
		}
		s->msgs = msgs;
		s->msg_cap = cap;
	}
	s->msgs[s->msg_count++] = (struct pop3_msg){ .uid = f.uid, .size = f.size };
}

static void pop3_list_done(void *ctx, const struct imap_reply *reply)
{
	struct pop3_session *s = ctx;
	unsigned int out = 0;

	if (reply->result != IMAP_REPLY_OK || s->listing_failed) {
		pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
				  "-ERR [SYS/TEMP] Cannot list the mailbox", false);
		return;
	}
	/* UID order, each UID once, whatever order the server used. */
	qsort(s->msgs, s->msg_count, sizeof(*s->msgs), pop3_msg_cmp);
	for (unsigned int i = 0; i < s->msg_count; i++) {
		if (out == 0 || s->msgs[out - 1].uid != s->msgs[i].uid)
			s->msgs[out++] = s->msgs[i];
	}
	s->msg_count = out;
	/* RFC 3501 servers send UIDNEXT; this is for those that do not. */
	if (out > 0 && s->uidnext <= s->msgs[out - 1].uid)
		s->uidnext = s->msgs[out - 1].uid + 1;
	pop3_state_open(s);
}

static const struct imap_cmd_handlers pop3_list_handlers = {
	.untagged = pop3_list_untagged,
	.done = pop3_list_done,
};

static void pop3_select_untagged(void *ctx, const struct imap_resp *resp)
{
	struct pop3_session *s = ctx;

	if (resp->status == IMAP_STATUS_OK) {
		imap_code_number(resp, "UIDVALIDITY", &s->uidvalidity);
		imap_code_number(resp, "UIDNEXT", &s->uidnext);
	}
	else if (resp->has_num && imap_resp_keyword_is(resp, "EXISTS"))
		s->exists = resp->num;
}

static void pop3_select_done(void *ctx, const struct imap_reply *reply)
{
	struct pop3_session *s = ctx;

	if (reply->result == IMAP_REPLY_FAILED) {
		pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
				  "-ERR [SYS/TEMP] Upstream server failed", false);
		return;
	}
	if (reply->result != IMAP_REPLY_OK) {
		log_warn("%s event=select_failed mailbox=%s reply=\"%s\"", s->log_id,
			 s->route->mailbox, reply->text);
		pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
				  "-ERR [SYS/PERM] Cannot open the mailbox", false);
		return;
	}
	if (s->uidvalidity == 0) {
		pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
				  "-ERR [SYS/PERM] Upstream gave no UIDVALIDITY", false);
		return;
	}
	if (s->uidnext == 0)
		s->uidnext = 1;
	if (s->exists == 0) {
		pop3_state_open(s);
		return;
	}
	if (s->exists > POP3_MAX_MESSAGES) {
		log_warn("%s event=mailbox_too_large exists=%u limit=%u", s->log_id,
			 s->exists, POP3_MAX_MESSAGES);
		pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
				  "-ERR [SYS/PERM] Mailbox has too many messages for POP3",
				  false);
		return;
	}
	s->msgs = calloc(s->exists, sizeof(*s->msgs));
	if (s->msgs == NULL) {
		pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
				  "-ERR [SYS/TEMP] Out of memory", false);
		return;
	}
	s->msg_cap = s->exists;
	s->doing = "listing the mailbox";
	if (imap_client_command(s->imap, "UID FETCH 1:* (UID RFC822.SIZE FLAGS)",
				&pop3_list_handlers, s) < 0)
		pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
				  "-ERR [SYS/TEMP] Internal error", false);
}

static const struct imap_cmd_handlers pop3_select_handlers = {
	.untagged = pop3_select_untagged,
	.done = pop3_select_done,
};

/* Mailbox name as an IMAP astring: atom when it can be, else quoted. The
   name comes from the config, never from a client. */
static int pop3_select_args(const char *mailbox, char *buf, size_t size)
{
	size_t o = 0;

	o = (size_t)snprintf(buf, size, "SELECT \"");
	for (const char *p = mailbox; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
		if (o + 3 >= size)
			return -1;
		if (*p == '"' || *p == '\\')
			buf[o++] = '\\';
		buf[o++] = *p;
	}
	if (o + 2 > size)
		return -1;
	buf[o++] = '"';
	buf[o] = '\0';
	return 0;
}

void pop3_login_abort(struct pop3_session *s, enum metrics_login result, const char *reply)
{
	pop3_state_close(s);
	pop3_login_failed(s, result, reply, false);
}

static void pop3_auth_reply(struct pop3_session *s)
{
	/* Each guess costs an upstream login: they share the error budget. */
	if (++s->bad_commands >= s->conf->max_bad_commands) {
		pop3_reply(s, "-ERR [AUTH] Authentication failed (too many errors, closing)");
		pop3_session_close_after_flush(s, "auth_failures");
		return;
	}
	pop3_reply(s, "-ERR [AUTH] Authentication failed");
	pop3_command_done(s);
}

/* The session stays in AUTHORIZATION; the client may try again. */
static void pop3_login_failed(struct pop3_session *s, enum metrics_login result,
			      const char *reply, bool delay)
{
	unsigned int delay_ms = 0;

	pop3_clear_credentials(s);
	imap_client_close(s->imap);
	/* Freed later from the loop: we may be inside its callback. The
	   session's free path frees it; a new login replaces it below. */
	free(s->msgs);
	s->msgs = NULL;
	s->msg_cap = 0;
	s->msg_count = 0;
	s->exists = 0;
	s->uidnext = 0;
	s->remap_from = 0;
	s->uidvalidity = 0;
	s->listing_failed = false;
	metrics_login(s->route != NULL ? s->route->name : "none", result);
	if (delay) {
		struct limits_auth auth = pop3_auth_settings(s);
		char user[CACHE_ACCOUNT_MAX + 64];

		/* Per user: whatever device an attacker names. */
		pop3_auth_user_key(s, user, sizeof(user));
		delay_ms = limits_auth_failed(s->srv->limits, s->addr_key, user, &auth,
					      pop3_now_ms());
	}
	log_info("%s event=login_failed user=%s client=%s route=%s reason=%s delay_ms=%u "
		 "reply=\"%s\"", s->log_id, s->user_log, s->client_ip,
		 s->route != NULL ? s->route->name : "-", metrics_login_name(result), delay_ms,
		 reply);
	/* RFC 1939: after a failed PASS the client starts again with USER. */
	free(s->user);
	s->user = NULL;
	s->user_len = 0;
	s->route = NULL;
	if (!delay) {
		pop3_reply(s, "%s", reply);
		pop3_command_done(s);
	} else if (delay_ms > 0) {
		/* A timer: the loop serves everyone else meanwhile. */
		metrics_auth_delayed();
		pop3_session_set_timer(s, delay_ms, pop3_auth_reply);
	} else {
		pop3_auth_reply(s);
	}
}

static void pop3_login_done(void *ctx, const struct imap_reply *reply)
{
	struct pop3_session *s = ctx;
	char args[512];

	if (reply->result == IMAP_REPLY_FAILED) {
		pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
				  "-ERR [SYS/TEMP] Upstream server failed", false);
		return;
	}
	if (reply->result != IMAP_REPLY_OK) {
		/* RFC 5530 codes say when it is not the password's fault. */
		if (reply->code != NULL &&
		    (strncasecmp(reply->code, "UNAVAILABLE", 11) == 0 ||
		     strncasecmp(reply->code, "SERVERBUG", 9) == 0 ||
		     strncasecmp(reply->code, "LIMIT", 5) == 0 ||
		     strncasecmp(reply->code, "INUSE", 5) == 0)) {
			pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
					  "-ERR [SYS/TEMP] Upstream cannot log in now", false);
			return;
		}
		if (reply->result == IMAP_REPLY_BAD) {
			pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
					  "-ERR [SYS/PERM] Upstream rejected the login command",
					  false);
			return;
		}
		pop3_login_failed(s, METRICS_LOGIN_AUTH_FAILED,
				  "-ERR [AUTH] Authentication failed", true);
		return;
	}
	/* RFC 2449 LOGIN-DELAY, checked once the password is known good:
	   nobody else learns when a login name last logged in. */
	if (s->conf->login_delay_secs > 0) {
		unsigned int wait = limits_login_wait(s->srv->limits, s->user,
						      s->conf->login_delay_secs, pop3_now_ms());

		if (wait > 0) {
			char msg[160];

			snprintf(msg, sizeof(msg), "-ERR [LOGIN-DELAY] Logged in less than %u "
				 "seconds ago: try again in %u seconds",
				 s->conf->login_delay_secs, wait);
			pop3_login_failed(s, METRICS_LOGIN_LOGIN_DELAY, msg, false);
			return;
		}
	}
	s->doing = "selecting the mailbox";
	if (pop3_select_args(s->route->mailbox, args, sizeof(args)) < 0 ||
	    imap_client_command(s->imap, args, &pop3_select_handlers, s) < 0)
		pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
				  "-ERR [SYS/PERM] Bad mailbox name in configuration", false);
}

static const struct imap_cmd_handlers pop3_login_handlers = {
	.done = pop3_login_done,
};

static void pop3_connected(void *ctx, bool ok, const char *error)
{
	struct pop3_session *s = ctx;
	const char *login_error;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	metrics_upstream_connect(s->route->name, (double)(now.tv_sec - s->connect_started.tv_sec) +
				 (double)(now.tv_nsec - s->connect_started.tv_nsec) / 1e9, ok);
	if (!ok) {
		pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_UNAVAILABLE,
				  "-ERR [SYS/TEMP] Upstream server unavailable", false);
		return;
	}
	s->upstream_tls = imap_client_tls_version(s->imap);
	s->doing = "logging in upstream";
	if (imap_client_login(s->imap, s->login_user, s->login_user_len, s->pass, s->pass_len,
			      &pop3_login_handlers, s, &login_error) < 0) {
		log_warn("%s event=login_not_sent error=\"%s\"", s->log_id, login_error);
		pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
				  "-ERR [SYS/PERM] Upstream refuses plaintext login", false);
		return;
	}
	/* The command holds its own copy now. */
	pop3_clear_credentials(s);
}

void pop3_upstream_login(struct pop3_session *s)
{
	const struct conf_upstream *up = s->route;
	struct imap_client_settings set = {
		.host = up->host,
		.port = up->port,
		.tls = up->tls == CONF_TLS_IMAPS ? IMAP_TLS_IMAPS :
			up->tls == CONF_TLS_STARTTLS ? IMAP_TLS_STARTTLS : IMAP_TLS_NONE,
		.tls_ctx = settings_upstream_tls(s->set, up),
		.timeout_secs = up->timeout_secs,
		.log_id = s->log_id,
		/* For the ID command: the provider sees the real client. */
		.client_ip = s->client_addr,
		.client_port = s->client_port,
		.local_ip = s->local_addr[0] != '\0' ? s->local_addr : NULL,
		.local_port = s->local_port,
		.session_id = s->id,
		.version = POPGATE_VERSION,
	};

	/* A failed earlier attempt left a closed client behind. */
	imap_client_free(&s->imap);
	s->doing = "connecting to upstream";
	s->imap = imap_client_new(s->srv->base, s->srv->dns, &set);
	if (s->imap == NULL) {
		pop3_login_failed(s, METRICS_LOGIN_UPSTREAM_ERROR,
				  "-ERR [SYS/TEMP] Out of memory", false);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &s->connect_started);
	imap_client_connect(s->imap, pop3_connected, s);
}

/* ---- RETR / TOP ---- */

static void pop3_fetch_emit(struct pop3_session *s, const unsigned char *data, size_t len)
{
	struct evbuffer *out = pop3_output(s);
	struct evbuffer_iovec vec;
	size_t n;

	if (len == 0 || pop3_filter_limit_reached(&s->filter))
		return;
	if (evbuffer_reserve_space(out, POP3_FILTER_MAX_OUT(len), &vec, 1) < 1) {
		pop3_session_close(s, "out_of_memory");
		return;
	}
	n = pop3_filter_run(&s->filter, data, len, vec.iov_base);
	vec.iov_len = n;
	evbuffer_commit_space(out, &vec, 1);
	s->bytes_out += n;
}

static void pop3_fetch_start_reply(struct pop3_session *s)
{
	if (s->fetch_started)
		return;
	s->fetch_started = true;
	if (s->fetch_kind == POP3_FETCH_RETR)
		pop3_reply(s, "+OK %llu octets", (unsigned long long)s->fetch_msg->size);
	else
		pop3_reply(s, "+OK Top of message follows");
}

static const char *pop3_fetch_section(const struct pop3_session *s)
{
	switch (s->fetch_kind) {
	case POP3_FETCH_RETR:
		return "";
	case POP3_FETCH_TOP_HEADER:
		return "HEADER";
	case POP3_FETCH_TOP_TEXT:
		return "TEXT";
	}
	return "";
}

/* Whether a FETCH item is the one this command asked for. */
static bool pop3_fetch_wanted(struct pop3_session *s, const struct imap_fetch *f)
{
	if (s->fetch_got_body || f->body_count == 0)
		return false;
	if (f->has_uid && f->uid != s->fetch_msg->uid)
		return false;
	if (strcmp(f->body.section, pop3_fetch_section(s)) != 0)
		return false;
	return s->fetch_kind == POP3_FETCH_TOP_TEXT ? f->body.has_origin : !f->body.has_origin;
}

static bool pop3_fetch_literal_begin(void *ctx, const char *prefix, size_t len,
				     uint64_t size)
{
	struct pop3_session *s = ctx;
	struct imap_fetch f;
	const char *error;

	if (imap_fetch_line(prefix, len, true, &f, &error) != 0 ||
	    !f.ends_with_body_literal || f.body.kind != IMAP_VALUE_LITERAL ||
	    !pop3_fetch_wanted(s, &f))
		return false;
	s->fetch_got_body = true;
	s->fetch_streaming = true;
	s->chunk_size = size;
	pop3_fetch_start_reply(s);
	return true;
}

static size_t pop3_fetch_literal_room(void *ctx)
{
	struct pop3_session *s = ctx;
	size_t len = pop3_output_len(s);

	/* The filter may double what it is given. */
	return len >= POP3_OUT_HIGH ? 0 : (POP3_OUT_HIGH - len) / 2 + 1;
}

static void pop3_fetch_literal_data(void *ctx, const unsigned char *data, size_t len)
{
	pop3_fetch_emit(ctx, data, len);
}

static void pop3_fetch_literal_end(void *ctx)
{
	struct pop3_session *s = ctx;

	s->fetch_streaming = false;
}

/* Small bodies may come as a quoted string instead of a literal. */
static void pop3_fetch_untagged(void *ctx, const struct imap_resp *resp)
{
	struct pop3_session *s = ctx;
	struct imap_fetch f;
	const char *error;

	/* NIL is no message: it is not taken for an empty one. */
	if (imap_fetch_resp(resp, false, &f, &error) != 0 ||
	    f.body.kind != IMAP_VALUE_QUOTED || !pop3_fetch_wanted(s, &f))
		return;
	char *buf = malloc(f.body.value_len + 1);
	size_t n;

	if (buf == NULL) {
		pop3_session_close(s, "out_of_memory");
		return;
	}
	s->fetch_got_body = true;
	pop3_fetch_start_reply(s);
	n = imap_unquote(f.body.value, f.body.value_len, buf);
	s->chunk_size = n;
	pop3_fetch_emit(s, (const unsigned char *)buf, n);
	free(buf);
}

static void pop3_fetch_send(struct pop3_session *s);

static void pop3_fetch_finish(struct pop3_session *s)
{
	unsigned char end[8];
	size_t n = pop3_filter_finish(&s->filter, end);

	pop3_write(s, end, n);
	if (s->fetch_kind == POP3_FETCH_RETR) {
		s->retr_count++;
		metrics_command(s->route->name, METRICS_CMD_RETR);
	} else {
		s->top_count++;
		metrics_command(s->route->name, METRICS_CMD_TOP);
	}
	s->fetch_msg = NULL;
	pop3_command_done(s);
}

static void pop3_fetch_done(void *ctx, const struct imap_reply *reply)
{
	struct pop3_session *s = ctx;

	if (reply->result == IMAP_REPLY_FAILED || s->fetch_streaming) {
		/* Never end a partial message with the terminating dot: the
		   client must not take it for complete. */
		if (s->fetch_started) {
			pop3_session_close(s, "upstream_failed_during_message");
			return;
		}
		pop3_reply(s, "-ERR [SYS/TEMP] Upstream connection lost");
		pop3_session_close_after_flush(s, "upstream_failed");
		return;
	}
	if (s->fetch_started && (reply->result != IMAP_REPLY_OK || !s->fetch_got_body)) {
		/* A later range of TOP's text failed or came back without data
		   (past the end is an empty string, RFC 3501 6.4.5): what was
		   sent is incomplete, so no terminating dot. */
		log_warn("%s event=upstream_fetch_incomplete uid=%u reply=\"%s\"",
			 s->log_id, s->fetch_msg->uid, reply->text);
		pop3_session_close(s, "upstream_failed_during_message");
		return;
	}
	if (!s->fetch_started) {
		/* Nothing sent yet (a body always starts the reply). OK without
		   the body: expunged by another client since login. */
		if (reply->result == IMAP_REPLY_OK)
			pop3_reply(s, "-ERR Message %u is no longer available upstream",
				   (unsigned int)(s->fetch_msg - s->msgs) + 1);
		else
			pop3_reply(s, "-ERR [SYS/TEMP] Upstream refused the message: %s",
				   reply->text);
		s->fetch_msg = NULL;
		pop3_command_done(s);
		return;
	}
	if (s->fetch_kind == POP3_FETCH_TOP_HEADER) {
		s->fetch_kind = POP3_FETCH_TOP_TEXT;
		pop3_filter_limit_lines(&s->filter, s->top_lines);
		if (s->top_lines > 0) {
			pop3_fetch_send(s);
			return;
		}
	} else if (s->fetch_kind == POP3_FETCH_TOP_TEXT &&
		   s->chunk_size == POP3_TOP_CHUNK &&
		   !pop3_filter_limit_reached(&s->filter)) {
		/* The range was full: the text may go on. */
		s->top_offset += POP3_TOP_CHUNK;
		pop3_fetch_send(s);
		return;
	}
	pop3_fetch_finish(s);
}

static const struct imap_cmd_handlers pop3_fetch_handlers = {
	.untagged = pop3_fetch_untagged,
	.literal_begin = pop3_fetch_literal_begin,
	.literal_room = pop3_fetch_literal_room,
	.literal_data = pop3_fetch_literal_data,
	.literal_end = pop3_fetch_literal_end,
	.done = pop3_fetch_done,
};

static void pop3_fetch_send(struct pop3_session *s)
{
	char args[128];
	uint32_t uid = s->fetch_msg->uid;

	s->fetch_got_body = false;
	s->chunk_size = 0;
	switch (s->fetch_kind) {
	case POP3_FETCH_RETR:
		/* Not PEEK: reading the message marks it \Seen upstream. */
		snprintf(args, sizeof(args), s->conf->mark_seen_on_retr ?
			 "UID FETCH %u BODY[]" : "UID FETCH %u BODY.PEEK[]", uid);
		s->doing = "fetching a message";
		break;
	case POP3_FETCH_TOP_HEADER:
		snprintf(args, sizeof(args), "UID FETCH %u BODY.PEEK[HEADER]", uid);
		s->doing = "fetching a message header";
		break;
	case POP3_FETCH_TOP_TEXT:
		snprintf(args, sizeof(args), "UID FETCH %u BODY.PEEK[TEXT]<%llu.%u>", uid,
			 (unsigned long long)s->top_offset, POP3_TOP_CHUNK);
		s->doing = "fetching the start of a message body";
		break;
	}
	if (imap_client_command(s->imap, args, &pop3_fetch_handlers, s) < 0) {
		pop3_reply(s, "-ERR [SYS/TEMP] Internal error");
		pop3_session_close_after_flush(s, "internal_error");
	}
}

void pop3_upstream_fetch(struct pop3_session *s, struct pop3_msg *msg,
			 bool top, uint64_t lines)
{
	s->fetch_msg = msg;
	s->fetch_kind = top ? POP3_FETCH_TOP_HEADER : POP3_FETCH_RETR;
	s->fetch_started = false;
	s->fetch_streaming = false;
	s->top_lines = lines;
	s->top_offset = 0;
	pop3_filter_init(&s->filter);
	pop3_fetch_send(s);
}

void pop3_upstream_output_drained(struct pop3_session *s)
{
	if (s->fetch_streaming && s->imap != NULL)
		imap_client_resume(s->imap);
}

/* ---- QUIT ---- */

static void pop3_logout_done(void *ctx, const struct imap_reply *reply)
{
	struct pop3_session *s = ctx;

	/* Everything was applied before LOGOUT, so its failure loses
	   nothing. The lock goes first: a client that logs in again right
	   after our +OK must not find its own device in use. */
	pop3_state_close(s);
	pop3_reply(s, "+OK popgate signing off");
	pop3_session_close_after_flush(s, "quit");
}

static const struct imap_cmd_handlers pop3_logout_handlers = {
	.done = pop3_logout_done,
};

void pop3_upstream_quit(struct pop3_session *s)
{
	s->doing = "logging out upstream";
	if (s->imap == NULL || imap_client_command(s->imap, "LOGOUT",
						   &pop3_logout_handlers, s) < 0) {
		pop3_state_close(s);
		pop3_reply(s, "+OK popgate signing off");
		pop3_session_close_after_flush(s, "quit");
	}
}
