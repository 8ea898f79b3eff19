/* Dialogue tests for the IMAP client: greeting, commands, literals,
   failures. Login and what goes with it: test_imap_client_login.c. */

#include "imap_client_fixture.h"

#define GREETING "* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"

/* ---- greeting ---- */

START_TEST(greeting_with_capability)
{
	static const struct peer_step script[] = {
		SEND_N(GREETING, sizeof(GREETING) - 1, 1),
		END_SCRIPT,
	};

	start_ready(script);
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n");
	ck_assert_uint_eq(imap_client_caps(client), 0u);
}
END_TEST

START_TEST(greeting_without_capability_asks)
{
	static const struct peer_step script[] = {
		SEND("* OK ready\r\n"),
		EXPECT("p1 CAPABILITY"),
		QUIET(30),
		SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\np1 OK done\r\n"),
		END_SCRIPT,
	};

	start(script);
	PEER_RUN_UNTIL(&peer, peer.step == 2);
	ck_assert(!imap_client_is_connected(client));
	PEER_RUN_UNTIL(&peer, connect_calls > 0);
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n");
	ck_assert_uint_eq(imap_client_caps(client),
			  IMAP_CAP_AUTH_PLAIN);
}
END_TEST

/* Each greeting fails the connect callback, once, and nothing is sent. */
static const struct {
	struct peer_step script[4];
	const char *events;
} bad_greetings[] = {
	{ { SEND("* BAD go away\r\n"), END_SCRIPT },
	  "connect FAILED bad greeting: go away\n" },
	{ { SEND("* BYE too busy\r\n"), CLOSE(), END_SCRIPT },
	  "connect FAILED bad greeting: too busy\n" },
	{ { SEND("* PREAUTH [CAPABILITY IMAP4rev1] hi alice\r\n"), END_SCRIPT },
	  "connect FAILED upstream greeted with PREAUTH\n" },
	{ { SEND("* OK hi\r\n"), EXPECT("p1 CAPABILITY"), SEND("p1 NO not now\r\n"),
	    END_SCRIPT },
	  "connect FAILED CAPABILITY failed: not now\n" },
	{ { CLOSE(), END_SCRIPT },
	  "connect FAILED connection closed by upstream\n" },
	{ { SEND("hello there\r\n"), END_SCRIPT },
	  "connect FAILED bad response (tagged response is not OK/NO/BAD): hello there\n" },
};

START_TEST(bad_greeting)
{
	start(bad_greetings[_i].script);
	PEER_RUN_UNTIL(&peer, connect_calls > 0);
	PEER_FINISH(&peer);
	peer_run_for(&peer, 20);
	EXPECT_EVENTS(bad_greetings[_i].events);
	ck_assert(!imap_client_is_connected(client));
	ck_assert_ptr_nonnull(strstr(log_text(), "level=warn"));
}
END_TEST

START_TEST(greeting_timeout_fails)
{
	static const struct peer_step script[] = {
		HOLD(),
	};

	settings.timeout_secs = 1;
	start(script);
	PEER_RUN_UNTIL(&peer, connect_calls > 0);
	EXPECT_EVENTS("connect FAILED timed out after 1s\n");
}
END_TEST

START_TEST(connection_refused_fails)
{
	static const struct peer_step script[] = {
		END_SCRIPT,
	};

	peer_start(&peer, base, script);
	evconnlistener_free(peer.listener);
	peer.listener = NULL;
	settings.port = peer.port;
	client = imap_client_new(base, NULL, &settings);
	in_call = true;
	imap_client_connect(client, connect_cb, NULL);
	in_call = false;
	PEER_RUN_UNTIL(&peer, connect_calls > 0);
	EXPECT_EVENTS("connect FAILED Connection refused\n");
}
END_TEST

/* A command queued before the connect callback waits until the connection
   is ready: nothing follows STARTTLS in plaintext before the TLS handshake
   (RFC 3501 6.2.1 forbids pipelining after STARTTLS). */
START_TEST(command_queued_before_connect_waits_for_starttls)
{
	static const struct peer_step script[] = {
		SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"),
		EXPECT("p2 STARTTLS"),
		QUIET(200),
		HOLD(),
	};

	settings.tls = IMAP_TLS_STARTTLS;
	start(script);
	command("a", "NOOP");
	PEER_FINISH(&peer);
	EXPECT_EVENTS("");
}
END_TEST

/* ---- commands ---- */

START_TEST(untagged_then_tagged_with_code)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 SELECT INBOX"),
		SEND("* 2 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n"
		     "* FLAGS (\\Seen \\Deleted)\r\np1 OK [READ-WRITE] selected\r\n"),
		END_SCRIPT,
	};

	start_ready(script);
	command("a", "SELECT INBOX");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "a * 2 EXISTS\n"
		      "a * OK [UIDVALIDITY 7] UIDs valid\n"
		      "a * FLAGS (\\Seen \\Deleted)\n"
		      "a OK [READ-WRITE] selected\n");
}
END_TEST

START_TEST(pipelined_commands_answered_in_order)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 NOOP"),
		EXPECT("p2 DELETE x"),
		EXPECT("p3 FOO"),
		SEND("* 1 EXISTS\r\np1 OK noop done\r\n* 2 EXPUNGE\r\n"
		     "p2 NO [NONEXISTENT] no such mailbox\r\np3 BAD what?\r\n"),
		END_SCRIPT,
	};

	start_ready(script);
	command("a", "NOOP");
	command("b", "DELETE x");
	command("c", "FOO");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "a * 1 EXISTS\n"
		      "a OK noop done\n"
		      "b * 2 EXPUNGE\n"
		      "b NO [NONEXISTENT] no such mailbox\n"
		      "c BAD what?\n");
}
END_TEST

START_TEST(malformed_args_refused)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		END_SCRIPT,
	};
	struct rec refused = { .name = "a" };   /* must never be called */

	start_ready(script);
	ck_assert_int_eq(rec_submit(&refused, "NOOP\r\np9 LOGOUT"), -1);
	ck_assert_int_eq(rec_submit(&refused, "NOOP\n"), -1);
	PEER_FINISH(&peer);
	peer_run_for(&peer, 30);
	EXPECT_EVENTS("connect ok\n");
}
END_TEST

/* ---- literals ---- */

#define FETCH_11 "* 1 FETCH (UID 5 BODY[] {11}\r\nhello world FLAGS (\\Seen))\r\n"
#define FETCH_11_EVENTS \
	"a {11} * 1 FETCH (UID 5 BODY[] {11}\n" \
	"a D hello world\n" \
	"a E\n" \
	"a * 1 FETCH (UID 5 BODY[] {11} FLAGS (\\Seen))\n"

START_TEST(literal_streamed_in_odd_pieces)
{
	static const char reply[] = FETCH_11 "p1 OK fetched\r\n";
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 UID FETCH 5 (BODY[] FLAGS)"),
		SEND_N(reply, sizeof(reply) - 1, 3),
		END_SCRIPT,
	};

	start_ready(script);
	command("a", "UID FETCH 5 (BODY[] FLAGS)");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n" FETCH_11_EVENTS "a OK fetched\n");
}
END_TEST

START_TEST(literal_backpressure_pauses_until_resume)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 UID FETCH 5 BODY[]"),
		SEND(FETCH_11 "p1 OK fetched\r\n"),
		END_SCRIPT,
	};
	struct rec *a;

	start_ready(script);
	a = command_with_room("a", "UID FETCH 5 BODY[]", 4);
	PEER_FINISH(&peer);
	peer_run_for(&peer, 50);
	EXPECT_EVENTS("connect ok\n"
		      "a {11} * 1 FETCH (UID 5 BODY[] {11}\n"
		      "a D hell\n");
	ck_assert_uint_eq(a->pauses, 1);

	a->room = 5;
	imap_client_resume(client);
	EXPECT_EVENTS("connect ok\n"
		      "a {11} * 1 FETCH (UID 5 BODY[] {11}\n"
		      "a D hello wor\n");
	ck_assert_uint_eq(a->pauses, 2);
	imap_client_resume(client);     /* no room yet: stays paused */
	peer_run_for(&peer, 30);
	ck_assert_uint_eq(a->data_len, 9);

	a->room = 100;
	imap_client_resume(client);
	WAIT_ALL_DONE();
	EXPECT_EVENTS("connect ok\n" FETCH_11_EVENTS "a OK fetched\n");
	imap_client_resume(client);     /* not paused: nothing happens */
	EXPECT_EVENTS("connect ok\n" FETCH_11_EVENTS "a OK fetched\n");
}
END_TEST

/* While paused the client does not read, so it learns of the EOF only
   after resuming; the data before it still arrives whole. */
START_TEST(eof_while_paused_reported_after_resume)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 UID FETCH 5 BODY[]"),
		SEND("* 1 FETCH (UID 5 BODY[] {10}\r\n0123456789"),
		CLOSE(),
		END_SCRIPT,
	};
	struct rec *a;

	start_ready(script);
	a = command_with_room("a", "UID FETCH 5 BODY[]", 4);
	PEER_FINISH(&peer);
	peer_run_for(&peer, 50);
	ck_assert_uint_eq(a->data_len, 4);
	ck_assert_int_eq(a->done_calls, 0);
	a->room = 100;
	imap_client_resume(client);
	WAIT_ALL_DONE();
	peer_run_for(&peer, 30);
	ck_assert_uint_eq(a->data_len, 10);
	ck_assert(memcmp(a->data, "0123456789", 10) == 0);
	ck_assert_int_eq(a->done_calls, 1);
	ck_assert_int_eq(a->result, IMAP_REPLY_FAILED);
	ck_assert_ptr_null(strstr(events, "INSIDE CALL"));
}
END_TEST

/* More than the client's read watermark (256 KiB), in pieces of a prime
   size, to a consumer that takes another prime-sized bite 1 ms after
   each pause. */
START_TEST(large_literal_with_backpressure_arrives_whole)
{
	enum { SIZE = 300007 };
	static const char head[] = "* 1 FETCH (UID 9 BODY[] {300007}\r\n";
	static char body[SIZE];
	struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 UID FETCH 9 BODY[]"),
		SEND(head),
		SEND_N(body, SIZE, 9973),
		SEND(")\r\np1 OK fetched\r\n"),
		END_SCRIPT,
	};
	struct rec *a;
	size_t i;

	for (i = 0; i < SIZE; i++)
		body[i] = (char)('a' + (i * 7 + i / 251) % 26);
	start_ready(script);
	a = command_with_room("a", "UID FETCH 9 BODY[]", 7919);
	a->refill = 7919;
	a->quiet_data = true;
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "a {300007} * 1 FETCH (UID 9 BODY[] {300007}\n"
		      "a E\n"
		      "a * 1 FETCH (UID 9 BODY[] {300007})\n"
		      "a OK fetched\n");
	ck_assert_uint_eq(a->data_len, SIZE);
	ck_assert(memcmp(a->data, body, SIZE) == 0);
	ck_assert_uint_ge(a->pauses, SIZE / 7919);
}
END_TEST

START_TEST(empty_literal_needs_no_room)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 FETCH 1 BODY[]"),
		SEND("* 1 FETCH (BODY[] {0}\r\n)\r\np1 OK fetched\r\n"),
		END_SCRIPT,
	};
	struct rec *a;

	start_ready(script);
	a = command_with_room("a", "FETCH 1 BODY[]", 0);
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "a {0} * 1 FETCH (BODY[] {0}\n"
		      "a E\n"
		      "a * 1 FETCH (BODY[] {0})\n"
		      "a OK fetched\n");
	ck_assert_uint_eq(a->pauses, 0);
}
END_TEST

/* Nobody waits: dropped, literal and all, and the client goes on. */
START_TEST(unsolicited_responses_while_idle_dropped)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		PAUSE(20),
		SEND("* 4 EXISTS\r\n* 1 FETCH (BODY[] {3}\r\nabc)\r\n"),
		EXPECT("p1 NOOP"),
		SEND("p1 OK noop\r\n"),
		END_SCRIPT,
	};

	start_ready(script);
	PEER_RUN_UNTIL(&peer, peer.step == 3);
	peer_run_for(&peer, 30);
	command("a", "NOOP");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "a OK noop\n");
}
END_TEST

START_TEST(declined_literal_skipped)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 FETCH 1 (BODY[HEADER] BODY[TEXT])"),
		SEND("* 1 FETCH (BODY[HEADER] {3}\r\nabc BODY[TEXT] {2}\r\nxy)\r\n"
		     "p1 OK fetched\r\n"),
		END_SCRIPT,
	};
	struct rec *a;

	start_ready(script);
	/* a skipped literal needs no room */
	a = command_with_room("a", "FETCH 1 (BODY[HEADER] BODY[TEXT])", 0);
	a->decline = true;
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "a {3} * 1 FETCH (BODY[HEADER] {3} (declined)\n"
		      "a {2} * 1 FETCH (BODY[HEADER] {3} BODY[TEXT] {2} (declined)\n"
		      "a * 1 FETCH (BODY[HEADER] {3} BODY[TEXT] {2})\n"
		      "a OK fetched\n");
	ck_assert_uint_eq(a->pauses, 0);
}
END_TEST

/* Pipelined, a server may answer a later command before it ends an
   earlier one (RFC 3501 5.5; Dovecot runs pipelined FETCHes side by side
   and sends a tagged reply late): the line that ends a response whose
   literal the later command took is that command's too, not the oldest
   one's. Before, a QUIT's fingerprint fetch queued behind a RETR's
   prefetch lost its answer, and the hide was stored without the
   fingerprint that lets it follow a recreated mailbox. */
START_TEST(later_commands_literal_line_goes_to_it)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 UID FETCH 15 BODY.PEEK[]"),
		EXPECT("p2 UID FETCH 22 BODY.PEEK[HEADER]"),
		SEND("* 8 FETCH (UID 22 BODY[HEADER] {3}\r\nxyz)\r\n"
		     "* 9 FETCH (FLAGS (\\Seen))\r\n"
		     "p1 OK fetched\r\np2 OK fetched\r\n"),
		END_SCRIPT,
	};
	struct rec *a;

	start_ready(script);
	a = command("a", "UID FETCH 15 BODY.PEEK[]");
	command("b", "UID FETCH 22 BODY.PEEK[HEADER]");
	a->decline = true;
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "a {3} * 8 FETCH (UID 22 BODY[HEADER] {3} (declined)\n"
		      "b {3} * 8 FETCH (UID 22 BODY[HEADER] {3}\n"
		      "b D xyz\n"
		      "b E\n"
		      "b * 8 FETCH (UID 22 BODY[HEADER] {3})\n"
		      "a * 9 FETCH (FLAGS (\\Seen))\n"
		      "a OK fetched\n"
		      "b OK fetched\n");
}
END_TEST

/* ---- failures ---- */

START_TEST(bye_then_eof_fails_with_reason)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 NOOP"),
		SEND("* BYE server shutting down\r\n"),
		CLOSE(),
		END_SCRIPT,
	};

	start_ready(script);
	command("a", "NOOP");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	ck_assert(!imap_client_is_connected(client));
	/* a failure found at submission comes from the loop */
	command("b", "NOOP");
	WAIT_ALL_DONE();
	EXPECT_EVENTS("connect ok\n"
		      "a FAILED upstream said BYE: server shutting down\n"
		      "b FAILED upstream said BYE: server shutting down\n");
	ck_assert_ptr_nonnull(strstr(log_text(), "level=warn"));
	ck_assert_ptr_nonnull(strstr(log_text(), "event=upstream_error"));
}
END_TEST

START_TEST(eof_inside_literal_fails_every_command_once)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 UID FETCH 5 BODY[]"),
		EXPECT("p2 NOOP"),
		SEND("* 1 FETCH (UID 5 BODY[] {100}\r\nabc"),
		PAUSE(20),
		CLOSE(),
		END_SCRIPT,
	};

	start_ready(script);
	command("a", "UID FETCH 5 BODY[]");
	command("b", "NOOP");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	peer_run_for(&peer, 30);
	EXPECT_EVENTS("connect ok\n"
		      "a {100} * 1 FETCH (UID 5 BODY[] {100}\n"
		      "a D abc\n"
		      "a FAILED connection closed by upstream\n"
		      "b FAILED connection closed by upstream\n");
}
END_TEST

START_TEST(reply_timeout_fails)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 NOOP"),
		HOLD(),
	};
	long long t0;

	settings.timeout_secs = 1;
	start_ready(script);
	/* idle is not waiting for a reply */
	peer_run_for(&peer, 1200);
	ck_assert(imap_client_is_connected(client));
	t0 = peer_now_ms();
	command("a", "NOOP");
	WAIT_ALL_DONE();
	ck_assert_int_ge(peer_now_ms() - t0, 900);
	EXPECT_EVENTS("connect ok\n"
		      "a FAILED timed out after 1s\n");
}
END_TEST

/* Once a reply has been read on a ready plain connection, its own read
   event reads it (no libevent read): the reply timeout holds there too. */
START_TEST(reply_timeout_after_a_reply_fails)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 NOOP"),
		SEND("p1 OK noop done\r\n"),
		EXPECT("p2 NOOP"),
		HOLD(),
	};
	long long t0;

	settings.timeout_secs = 1;
	start_ready(script);
	command("a", "NOOP");
	WAIT_ALL_DONE();
	/* idle is not waiting for a reply */
	peer_run_for(&peer, 1200);
	ck_assert(imap_client_is_connected(client));
	t0 = peer_now_ms();
	command("b", "NOOP");
	WAIT_ALL_DONE();
	ck_assert_int_ge(peer_now_ms() - t0, 900);
	EXPECT_EVENTS("connect ok\n"
		      "a OK noop done\n"
		      "b FAILED timed out after 1s\n");
}
END_TEST

START_TEST(unknown_tag_fails)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 NOOP"),
		SEND("p7 OK who asked?\r\n"),
		END_SCRIPT,
	};

	start_ready(script);
	command("a", "NOOP");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "a FAILED reply with unknown tag p7\n");
}
END_TEST

START_TEST(unexpected_continuation_fails)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 NOOP"),
		SEND("+ go ahead\r\n"),
		END_SCRIPT,
	};

	start_ready(script);
	command("a", "NOOP");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "a FAILED unexpected continuation\n");
}
END_TEST

START_TEST(logout_then_eof_is_no_warning)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 LOGOUT"),
		SEND("* BYE logging out\r\np1 OK bye\r\n"),
		CLOSE(),
		END_SCRIPT,
	};

	start_ready(script);
	logout("a");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	PEER_RUN_UNTIL(&peer, !imap_client_is_connected(client));
	command("b", "NOOP");
	WAIT_ALL_DONE();
	EXPECT_EVENTS("connect ok\n"
		      "a logged out\n"
		      "b FAILED logged out\n");
	ck_assert_msg(strstr(log_text(), "level=warn") == NULL, "%s", log_text());
}
END_TEST

/* The server drops the connection before answering the FETCH queued ahead
   of LOGOUT: that is an upstream failure, not the end LOGOUT asked for. */
START_TEST(eof_before_earlier_reply_with_logout_queued)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 UID FETCH 5 BODY[]"),
		EXPECT("p2 LOGOUT"),
		CLOSE(),
		END_SCRIPT,
	};
	struct rec *a, *b;

	start_ready(script);
	a = command("a", "UID FETCH 5 BODY[]");
	b = logout("b");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	peer_run_for(&peer, 30);
	ck_assert_int_eq(a->done_calls, 1);
	ck_assert_int_eq(a->result, IMAP_REPLY_FAILED);
	ck_assert_int_eq(b->done_calls, 1);
	EXPECT_EVENTS("connect ok\n"
		      "a FAILED connection closed by upstream\n"
		      "b logged out\n");
	ck_assert_msg(strstr(log_text(), "level=warn") != NULL, "%s", log_text());
}
END_TEST

START_TEST(logout_eof_before_reply_is_no_warning)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 LOGOUT"),
		SEND("* BYE logging out\r\n"),
		CLOSE(),
		END_SCRIPT,
	};

	start_ready(script);
	logout("a");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "a logged out\n");
	ck_assert_msg(strstr(log_text(), "level=warn") == NULL, "%s", log_text());
}
END_TEST

/* ---- imap_client_close() from inside a callback ---- */

/* a's events in order; closing in the i-th callback must leave exactly
   the events up to it, and b (pending) never hears anything. */
static const struct {
	enum rec_close_at at;
	const char *events;
} close_points[] = {
	{ CLOSE_IN_LITERAL_BEGIN, "a {5} * 1 FETCH (UID 5 BODY[] {5}\n" },
	{ CLOSE_IN_LITERAL_DATA, "a {5} * 1 FETCH (UID 5 BODY[] {5}\na D hello\n" },
	{ CLOSE_IN_LITERAL_END, "a {5} * 1 FETCH (UID 5 BODY[] {5}\na D hello\na E\n" },
	{ CLOSE_IN_UNTAGGED, "a {5} * 1 FETCH (UID 5 BODY[] {5}\na D hello\na E\n"
	  "a * 1 FETCH (UID 5 BODY[] {5})\n" },
	{ CLOSE_IN_DONE, "a {5} * 1 FETCH (UID 5 BODY[] {5}\na D hello\na E\n"
	  "a * 1 FETCH (UID 5 BODY[] {5})\na OK fetched\n" },
};

START_TEST(close_inside_callback)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 UID FETCH 5 BODY[]"),
		EXPECT("p2 NOOP"),
		SEND("* 1 FETCH (UID 5 BODY[] {5}\r\nhello)\r\np1 OK fetched\r\n"
		     "* 3 EXISTS\r\np2 OK noop\r\n"),
		PAUSE(20),
		CLOSE(),
		END_SCRIPT,
	};
	char want[512];
	struct rec *a;

	start_ready(script);
	a = rec_new("a");
	a->close_at = close_points[_i].at;
	ck_assert_int_eq(rec_submit(a, "UID FETCH 5 BODY[]"), 0);
	command("b", "NOOP");
	PEER_FINISH(&peer);
	PEER_RUN_UNTIL(&peer, closed);
	peer_run_for(&peer, 30);
	ck_assert(!imap_client_is_connected(client));
	rec_submit(rec_new("c"), "NOOP");
	peer_run_for(&peer, 20);
	snprintf(want, sizeof(want), "connect ok\n%sa close\n", close_points[_i].events);
	EXPECT_EVENTS(want);
}
END_TEST

START_TEST(close_inside_connect_callback)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		QUIET(30),
		CLOSE(),
		END_SCRIPT,
	};

	connect_close = true;
	start(script);
	PEER_RUN_UNTIL(&peer, connect_calls > 0);
	rec_submit(rec_new("a"), "NOOP");
	PEER_FINISH(&peer);
	peer_run_for(&peer, 20);
	EXPECT_EVENTS("connect ok\nconnect close\n");
}
END_TEST

static Suite *imap_client_suite(void)
{
	Suite *s = suite_create("imap_client");
	TCase *tc = fixture_tcase("greeting");

	tcase_add_test(tc, greeting_with_capability);
	tcase_add_test(tc, greeting_without_capability_asks);
	tcase_add_loop_test(tc, bad_greeting, 0,
			    sizeof(bad_greetings) / sizeof(bad_greetings[0]));
	tcase_add_test(tc, greeting_timeout_fails);
	tcase_add_test(tc, connection_refused_fails);
	tcase_add_test(tc, command_queued_before_connect_waits_for_starttls);
	suite_add_tcase(s, tc);

	tc = fixture_tcase("commands");
	tcase_add_test(tc, untagged_then_tagged_with_code);
	tcase_add_test(tc, pipelined_commands_answered_in_order);
	tcase_add_test(tc, malformed_args_refused);
	suite_add_tcase(s, tc);

	tc = fixture_tcase("literals");
	tcase_add_test(tc, literal_streamed_in_odd_pieces);
	tcase_add_test(tc, literal_backpressure_pauses_until_resume);
	tcase_add_test(tc, eof_while_paused_reported_after_resume);
	tcase_add_test(tc, large_literal_with_backpressure_arrives_whole);
	tcase_add_test(tc, declined_literal_skipped);
	tcase_add_test(tc, later_commands_literal_line_goes_to_it);
	tcase_add_test(tc, empty_literal_needs_no_room);
	tcase_add_test(tc, unsolicited_responses_while_idle_dropped);
	suite_add_tcase(s, tc);

	tc = fixture_tcase("failures");
	tcase_add_test(tc, bye_then_eof_fails_with_reason);
	tcase_add_test(tc, eof_inside_literal_fails_every_command_once);
	tcase_add_test(tc, reply_timeout_fails);
	tcase_add_test(tc, reply_timeout_after_a_reply_fails);
	tcase_add_test(tc, unknown_tag_fails);
	tcase_add_test(tc, unexpected_continuation_fails);
	tcase_add_test(tc, logout_then_eof_is_no_warning);
	tcase_add_test(tc, logout_eof_before_reply_is_no_warning);
	tcase_add_test(tc, eof_before_earlier_reply_with_logout_queued);
	tcase_add_loop_test(tc, close_inside_callback, 0,
			    sizeof(close_points) / sizeof(close_points[0]));
	tcase_add_test(tc, close_inside_connect_callback);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fixture_run(imap_client_suite());
}
