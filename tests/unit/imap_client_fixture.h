#ifndef IMAP_CLIENT_FIXTURE_H
#define IMAP_CLIENT_FIXTURE_H

/*
 * Test-only fixture shared by the imap_client dialogue tests: one
 * imap_client against one scripted peer (imap_peer.h) on a fresh
 * event_base per test, and recording handlers.
 *
 * Every callback appends one line to a transcript, "<name> <event>":
 *   "connect ok" / "connect FAILED <error>"
 *   "a * 2 EXISTS"                   untagged response (rebuilt from parts)
 *   "a {11} * 1 FETCH (BODY[] {11}"  literal_begin: size, then the prefix
 *   "a D hello world"                literal_data, consecutive ones merged
 *   "a E"                            literal_end
 *   "a OK [code] text" / "a FAILED why"   done (show_utf8: then
 *                                    " (utf8 on)" or " (utf8 off)")
 * and marks a callback run inside the call that queued the command
 * ("INSIDE CALL") or after imap_client_close() ("AFTER CLOSE"), both of
 * which imap_client.h forbids. EXPECT_EVENTS() compares the transcript
 * whole once the loop has settled. Logs (info and up) are captured from
 * stderr for the test to read; IMAP_TEST_VERBOSE=1 adds debug traces and
 * prints the log after each test.
 */

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "imap_client.h"
#include "imap_login.h"
#include "imap_peer.h"
#include "log.h"

enum rec_close_at {
	CLOSE_NEVER,
	CLOSE_IN_UNTAGGED,
	CLOSE_IN_LITERAL_BEGIN,
	CLOSE_IN_LITERAL_DATA,
	CLOSE_IN_LITERAL_END,
	CLOSE_IN_DONE,
};

/* One command's handler context and what it should do. */
struct rec {
	const char *name;
	int done_calls;
	enum imap_reply_result result;
	/* set before submitting */
	bool decline;                 /* literal_begin returns false */
	bool limited;                 /* literal_room returns room */
	size_t room;                  /* taken down by each literal_data */
	size_t refill;                /* room 0: 1 ms later room = refill and
					 imap_client_resume(), as a drained
					 consumer would */
	unsigned int pauses;          /* times literal_room said 0 */
	bool quiet_data;              /* keep data out of the transcript */
	bool show_utf8;               /* done adds imap_client_utf8_enabled() */
	enum rec_close_at close_at;
	const char *then_args;        /* queued from done, to then_rec */
	struct rec *then_rec;
	/* every literal octet received, in order */
	char *data;
	size_t data_len, data_cap;
};

static struct event_base *base;
static struct imap_peer peer;
static struct imap_client *client;
static struct imap_client_settings settings;
static struct rec recs[8];
static unsigned int nrecs;
static int connect_calls;
static bool connect_close;           /* close from the connect callback */
static bool in_call, closed;
static char events[32768];
static size_t events_len;
static const struct rec *events_data_rec;  /* the last line is its data */
static FILE *log_file;
static int saved_stderr = -1;

static inline void event_line(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static inline void event_line(const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	events_len += vsnprintf(events + events_len, sizeof(events) - events_len,
				fmt, args);
	va_end(args);
	ck_assert_uint_lt(events_len + 1, sizeof(events));
	events[events_len++] = '\n';
	events[events_len] = '\0';
	events_data_rec = NULL;
}

static inline void rec_check(const struct rec *r, const char *what)
{
	if (in_call)
		event_line("%s %s INSIDE CALL", r->name, what);
	if (closed)
		event_line("%s %s AFTER CLOSE", r->name, what);
}

static inline void rec_close(const struct rec *r, enum rec_close_at at)
{
	if (r->close_at != at)
		return;
	imap_client_close(client);
	closed = true;
	event_line("%s close", r->name);
}

static inline void rec_untagged(void *ctx, const struct imap_resp *resp)
{
	struct rec *r = ctx;
	bool status = resp->status != IMAP_STATUS_NONE;
	char num[16] = "";

	rec_check(r, "untagged");
	if (resp->has_num)
		snprintf(num, sizeof(num), "%u ", resp->num);
	/* status: keyword [code] text; others: keyword rest */
	event_line("%s * %s%.*s%s%.*s%s%s%.*s", r->name, num,
		   (int)resp->keyword_len, resp->keyword,
		   resp->code != NULL ? " [" : "", (int)resp->code_len,
		   resp->code != NULL ? resp->code : "", resp->code != NULL ? "]" : "",
		   (status ? resp->text_len : resp->rest_len) > 0 ? " " : "",
		   (int)(status ? resp->text_len : resp->rest_len),
		   status ? (resp->text != NULL ? resp->text : "") :
		   (resp->rest != NULL ? resp->rest : ""));
	rec_close(r, CLOSE_IN_UNTAGGED);
}

static inline bool rec_literal_begin(void *ctx, const char *prefix,
				     size_t prefix_len, uint64_t size)
{
	struct rec *r = ctx;

	rec_check(r, "literal_begin");
	event_line("%s {%llu} %.*s%s", r->name, (unsigned long long)size,
		   (int)prefix_len, prefix, r->decline ? " (declined)" : "");
	rec_close(r, CLOSE_IN_LITERAL_BEGIN);
	return !r->decline;
}

static inline void rec_refill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rec *r = arg;

	r->room = r->refill;
	if (!closed)
		imap_client_resume(client);
}

static inline size_t rec_literal_room(void *ctx)
{
	struct rec *r = ctx;
	struct timeval ms = { 0, 1000 };

	rec_check(r, "literal_room");
	if (r->room == 0) {
		r->pauses++;
		if (r->refill > 0)
			event_base_once(base, -1, EV_TIMEOUT, rec_refill_cb, r, &ms);
	}
	return r->room;
}

static inline void rec_literal_data(void *ctx, const unsigned char *data,
				    size_t len)
{
	struct rec *r = ctx;

	rec_check(r, "literal_data");
	if (r->limited) {
		if (len > r->room)
			event_line("%s OVERRUN %zu octets for room %zu", r->name,
				   len, r->room);
		r->room -= len < r->room ? len : r->room;
	}
	if (r->data_len + len > r->data_cap) {
		r->data_cap = (r->data_len + len) * 2;
		r->data = realloc(r->data, r->data_cap);
		ck_assert_ptr_nonnull(r->data);
	}
	memcpy(r->data + r->data_len, data, len);
	r->data_len += len;
	if (!r->quiet_data) {
		if (events_data_rec != r)
			event_line("%s D ", r->name);
		/* the line ends in "\n": the octets go before it */
		ck_assert_uint_lt(events_len + len, sizeof(events));
		memcpy(events + events_len - 1, data, len);
		events_len += len;
		events[events_len - 1] = '\n';
		events[events_len] = '\0';
		events_data_rec = r;
	}
	rec_close(r, CLOSE_IN_LITERAL_DATA);
}

static inline void rec_literal_end(void *ctx)
{
	struct rec *r = ctx;

	rec_check(r, "literal_end");
	event_line("%s E", r->name);
	rec_close(r, CLOSE_IN_LITERAL_END);
}

static inline int rec_submit(struct rec *r, const char *args);

static inline void rec_done(void *ctx, const struct imap_reply *reply)
{
	static const char *const names[] = {
		[IMAP_REPLY_OK] = "OK", [IMAP_REPLY_NO] = "NO",
		[IMAP_REPLY_BAD] = "BAD", [IMAP_REPLY_FAILED] = "FAILED",
	};
	struct rec *r = ctx;

	rec_check(r, "done");
	r->done_calls++;
	r->result = reply->result;
	event_line("%s %s%s%.*s%s%s%s%s", r->name, names[reply->result],
		   reply->code != NULL ? " [" : "", (int)reply->code_len,
		   reply->code != NULL ? reply->code : "",
		   reply->code != NULL ? "]" : "",
		   reply->text != NULL && reply->text[0] != '\0' ? " " : "",
		   reply->text != NULL ? reply->text : "",
		   !r->show_utf8 ? "" : imap_client_utf8_enabled(client) ?
		   " (utf8 on)" : " (utf8 off)");
	rec_close(r, CLOSE_IN_DONE);
	if (r->then_args != NULL && !closed)
		ck_assert_int_eq(rec_submit(r->then_rec, r->then_args), 0);
}

static const struct imap_cmd_handlers rec_handlers = {
	.untagged = rec_untagged,
	.literal_begin = rec_literal_begin,
	.literal_data = rec_literal_data,
	.literal_end = rec_literal_end,
	.done = rec_done,
};

static const struct imap_cmd_handlers rec_limited_handlers = {
	.untagged = rec_untagged,
	.literal_begin = rec_literal_begin,
	.literal_room = rec_literal_room,
	.literal_data = rec_literal_data,
	.literal_end = rec_literal_end,
	.done = rec_done,
};

static inline struct rec *rec_new(const char *name)
{
	struct rec *r;

	ck_assert_uint_lt(nrecs, sizeof(recs) / sizeof(recs[0]));
	r = &recs[nrecs++];
	r->name = name;
	return r;
}

/* imap_client_command() with r as the handlers' context. */
static inline int rec_submit(struct rec *r, const char *args)
{
	bool was = in_call;
	int ret;

	in_call = true;
	ret = imap_client_command(client, args,
				  r->limited ? &rec_limited_handlers : &rec_handlers, r);
	in_call = was;
	return ret;
}

/* Queues args as command `name`; fails the test if it is refused. */
static inline struct rec *command(const char *name, const char *args)
{
	struct rec *r = rec_new(name);

	ck_assert_int_eq(rec_submit(r, args), 0);
	return r;
}

static inline void rec_logged_out(void *ctx)
{
	struct rec *r = ctx;

	rec_check(r, "logout");
	r->done_calls++;
	event_line("%s logged out", r->name);
}

/* imap_client_logout() as command `name`; fails the test if refused. */
static inline struct rec *logout(const char *name)
{
	struct rec *r = rec_new(name);
	bool was = in_call;

	in_call = true;
	ck_assert_int_eq(imap_client_logout(client, rec_logged_out, r), 0);
	in_call = was;
	return r;
}

/* command() with a literal_room() that says room. */
static inline struct rec *command_with_room(const char *name, const char *args,
					    size_t room)
{
	struct rec *r = rec_new(name);

	r->limited = true;
	r->room = room;
	ck_assert_int_eq(rec_submit(r, args), 0);
	return r;
}

static inline int rec_login(struct rec *r, const char *user, size_t user_len,
			    const char *pass, size_t pass_len, const char **error_r)
{
	bool was = in_call;
	int ret;

	in_call = true;
	ret = imap_client_login(client, user, user_len, pass, pass_len,
				&rec_handlers, r, error_r);
	in_call = was;
	return ret;
}

static inline struct rec *login(const char *name, const char *user,
				const char *pass)
{
	struct rec *r = rec_new(name);
	const char *error = NULL;

	ck_assert_msg(rec_login(r, user, strlen(user), pass, strlen(pass),
				&error) == 0, "login refused: %s", error);
	return r;
}

static inline void connect_cb(void *ctx, bool ok, const char *error)
{
	if (in_call)
		event_line("connect INSIDE CALL");
	if (closed)
		event_line("connect AFTER CLOSE");
	connect_calls++;
	if (ok)
		event_line("connect ok");
	else
		event_line("connect FAILED %s", error != NULL ? error : "(null)");
	if (connect_close) {
		imap_client_close(client);
		closed = true;
		event_line("connect close");
	}
}

/* Starts the peer on script and connects a client to it with `settings`. */
static inline void start(const struct peer_step *script)
{
	peer_start(&peer, base, script);
	settings.port = peer.port;
	client = imap_client_new(base, NULL, &settings);
	ck_assert_ptr_nonnull(client);
	in_call = true;
	imap_client_connect(client, connect_cb, NULL);
	in_call = false;
}

/* start(), then waits for the connect callback, which must say ok. */
static inline void start_ready(const struct peer_step *script)
{
	start(script);
	PEER_RUN_UNTIL(&peer, connect_calls > 0);
	ck_assert_msg(imap_client_is_connected(client), "not connected:\n%s", events);
}

/* What the client logged so far. */
static inline const char *log_text(void)
{
	static char buf[65536];
	size_t n;

	if (log_file == NULL)
		return "";
	fflush(stderr);
	rewind(log_file);
	n = fread(buf, 1, sizeof(buf) - 1, log_file);
	buf[n] = '\0';
	fseek(log_file, 0, SEEK_END);
	return buf;
}

#define EXPECT_EVENTS(want) do { \
		peer_run_for(&peer, 0); \
		ck_assert_msg(strcmp(events, (want)) == 0, \
			      "transcript:\n%s\nexpected:\n%s\nlog:\n%s", \
			      events, (want), log_text()); \
	} while (0)

/* Runs until every command so far has had its done callback. */
#define WAIT_ALL_DONE() PEER_RUN_UNTIL(&peer, all_done())

static inline bool all_done(void)
{
	unsigned int i;

	for (i = 0; i < nrecs; i++) {
		if (recs[i].done_calls == 0)
			return false;
	}
	return true;
}

static inline void fixture_setup(void)
{
	bool verbose = getenv("IMAP_TEST_VERBOSE") != NULL;

	log_open(LOG_TARGET_STDERR, verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
		 NULL, 0);
	fflush(stderr);
	saved_stderr = dup(2);
	log_file = tmpfile();
	ck_assert_ptr_nonnull(log_file);
	dup2(fileno(log_file), 2);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	memset(&settings, 0, sizeof(settings));
	settings.host = "127.0.0.1";
	settings.tls = IMAP_TLS_NONE;
	settings.timeout_secs = 5;
	settings.log_id = "session=test";
	memset(recs, 0, sizeof(recs));
	nrecs = 0;
	connect_calls = 0;
	connect_close = in_call = closed = false;
	events[0] = '\0';
	events_len = 0;
	events_data_rec = NULL;
}

static inline void fixture_teardown(void)
{
	unsigned int i;

	imap_client_free(&client);
	peer_free(&peer);
	event_base_free(base);
	base = NULL;
	for (i = 0; i < nrecs; i++)
		free(recs[i].data);
	if (log_file != NULL) {
		const char *text = getenv("IMAP_TEST_VERBOSE") != NULL ? log_text() : "";

		fflush(stderr);
		dup2(saved_stderr, 2);
		close(saved_stderr);
		fputs(text, stderr);
		fclose(log_file);
		log_file = NULL;
	}
}

static inline int fixture_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static inline TCase *fixture_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 20);
	return tc;
}

#endif
