/* TRANSACTION dialogues: LIST, UIDL, STAT, DELE/RSET, and RETR/TOP
   streamed from the upstream through the output filter, with a slow
   client, a dropped upstream and an expunged message. The prefetch of the
   next message is test_pop3_prefetch.c's. */

#include "pop3_fixture.h"

#include "fetch.h"

#include <malloc.h>

/* The mailbox of UP_SESSION_THREE: message 1 is UID 3, 2 is 5, 3 is 9. */

START_TEST(list_uidl_stat_dele_rset)
{
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("STAT"),
		HEAR("+OK 3 1370"),
		SAY("LIST"),
		HEAR("+OK 3 messages (1370 octets)"),
		HEAR_BYTES("1 120\r\n2 250\r\n3 1000\r\n.\r\n"),
		SAY("LIST 2"),
		HEAR("+OK 2 250"),
		SAY("LIST 4"),
		HEAR("-ERR No such message"),
		SAY("UIDL"),
		HEAR("+OK Unique-ID listing follows"),
		HEAR_BYTES("1 0000000300000007\r\n2 0000000500000007\r\n"
			   "3 0000000900000007\r\n.\r\n"),
		SAY("UIDL 3"),
		HEAR("+OK 3 0000000900000007"),
		SAY("DELE 2"),
		HEAR("+OK Message 2 deleted"),
		SAY("DELE 2"),
		HEAR("-ERR Message 2 already deleted"),
		SAY("RETR 2"),
		HEAR("-ERR Message 2 already deleted"),
		SAY("STAT"),
		HEAR("+OK 2 1120"),
		SAY("LIST"),
		HEAR("+OK 2 messages (1120 octets)"),
		HEAR_BYTES("1 120\r\n3 1000\r\n.\r\n"),
		SAY("RSET"),
		HEAR("+OK maildrop has 3 messages (1370 octets)"),
		SAY("NOOP"),
		HEAR("+OK"),
		/* RSET took the mark off: QUIT has nothing to apply. */
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};

	upstream(up_three_logout);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_str_eq(hidden_uids("hidden:default", NULL), "");
}
END_TEST

/* Pipelined commands are answered in order, one at a time. */
START_TEST(pipelined_commands_are_answered_in_order)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* UID FETCH 3 (RFC822.SIZE BODY.PEEK[HEADER])"),
		SEND("* 1 FETCH (UID 3 BODY[HEADER] {14}\r\nSubject: a\r\n\r\n)\r\n"
		     "$ OK Fetch completed\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		SAY_RAW("USER " ALICE "\r\nPASS secret\r\nSTAT\r\nTOP 1 0\r\nLIST 3\r\n"),
		HEAR("+OK"),
		LOGGED_IN_THREE,
		HEAR("+OK 3 1370"),
		HEAR("+OK Top of message follows"),
		HEAR_BYTES("Subject: a\r\n\r\n.\r\n"),
		HEAR("+OK 3 1000"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

/* Bare LF becomes CRLF, a leading dot is doubled, a message without a
   final line end gets one before the terminating dot; the body comes in
   7-octet pieces so that CR and LF fall on either side of a cut. */
#define ODD_BODY "From: a@example.com\nSubject: dots\r\n\r\n.leading dot\r\n" \
	"..two dots\n.\nmiddle\r\n.\r\nend without line end"
#define ODD_OUT "From: a@example.com\r\nSubject: dots\r\n\r\n..leading dot\r\n" \
	"...two dots\r\n..\r\nmiddle\r\n..\r\nend without line end\r\n.\r\n"

START_TEST(retr_normalises_line_ends_and_stuffs_dots)
{
	static const char reply[] = "* 1 FETCH (UID 3 FLAGS (\\Seen) RFC822.SIZE 120 BODY[] {95}\r\n"
		ODD_BODY ")\r\np5 OK Fetch completed\r\n";
	const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* UID FETCH 3 (RFC822.SIZE BODY[])"),
		SEND_N(reply, sizeof(reply) - 1, 7),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("RETR 1"),
		HEAR("+OK 120 octets"),
		HEAR_BYTES(ODD_OUT),
		SAY("STAT"),
		HEAR("+OK 3 1370"),
		CLIENT_END,
	};

	ck_assert_uint_eq(sizeof(ODD_BODY) - 1, 95);
	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_uint_eq(fx_session()->retr_count, 1);
}
END_TEST

START_TEST(retr_without_mark_seen_peeks)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* UID FETCH 5 (RFC822.SIZE BODY.PEEK[])"),
		/* A small body may come as a quoted string. */
		SEND("* 2 FETCH (UID 5 RFC822.SIZE 250 BODY[] \"just one line\")\r\n$ OK Fetch completed\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("RETR 2"),
		HEAR("+OK 250 octets"),
		HEAR_BYTES("just one line\r\n.\r\n"),
		CLIENT_END,
	};

	fx_conf()->mark_seen_on_retr = fx_conf()->policy_profile.mark_seen_on_retr = false;
	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

/* TOP: the header, then the body in ranges, cut at the line count. */
START_TEST(top_fetches_header_then_text_ranges)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* UID FETCH 9 (RFC822.SIZE BODY.PEEK[HEADER])"),
		SEND("* 3 FETCH (UID 9 BODY[HEADER] {25}\r\nSubject: top\r\nX-A: .b\r\n\r\n)\r\n"
		     "$ OK Fetch completed\r\n"),
		EXPECT("* UID FETCH 9 BODY.PEEK[TEXT]<0.65536>"),
		SEND("* 3 FETCH (UID 9 BODY[TEXT]<0> {24}\r\none\r\n.two\r\nthree\r\nfour\r\n)\r\n"
		     "$ OK Fetch completed\r\n"),
		EXPECT("* UID FETCH 9 (RFC822.SIZE BODY.PEEK[HEADER])"),
		SEND("* 3 FETCH (UID 9 BODY[HEADER] {25}\r\nSubject: top\r\nX-A: .b\r\n\r\n)\r\n"
		     "$ OK Fetch completed\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("TOP 3 2"),
		HEAR("+OK Top of message follows"),
		HEAR_BYTES("Subject: top\r\nX-A: .b\r\n\r\none\r\n..two\r\n.\r\n"),
		SAY("TOP 3 0"),
		HEAR("+OK Top of message follows"),
		HEAR_BYTES("Subject: top\r\nX-A: .b\r\n\r\n.\r\n"),
		SAY("TOP 3 x"),
		HEAR("-ERR Invalid line count"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_uint_eq(fx_session()->top_count, 2);
	ck_assert_uint_eq(fx_session()->retr_count, 0);
}
END_TEST

/* Expunged by another client since the login: OK without the body. */
START_TEST(retr_of_an_expunged_message_is_an_error)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* UID FETCH 5 (RFC822.SIZE BODY[])"),
		SEND("* 2 EXPUNGE\r\n$ OK Fetch completed\r\n"),
		EXPECT("* UID FETCH 9 (RFC822.SIZE BODY[])"),
		SEND("$ NO [SERVERBUG] Cannot read it\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("RETR 2"),
		HEAR("-ERR Message 2 is no longer available upstream"),
		SAY("RETR 3"),
		HEAR("-ERR [SYS/TEMP] Upstream refused the message: Cannot read it"),
		SAY("STAT"),
		HEAR("+OK 3 1370"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_int_eq(fx_session()->state, POP3_STATE_TRANSACTION);
}
END_TEST

/* Courier answers a FETCH of a message expunged by another client with
   a stand-in and OK. RFC822.SIZE before the body shows it (RETR and
   TOP); the message is then refused for good, except DELE. */
START_TEST(stand_in_with_another_size_is_refused)
{
	unsigned int fps;
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* UID FETCH 5 (RFC822.SIZE BODY.PEEK[HEADER])"),
		SEND("* 2 FETCH (UID 5 RFC822.SIZE 129 BODY[HEADER] {30}\r\n"
		     "Subject: message unavailable\r\n)\r\n$ OK Fetch completed\r\n"),
		EXPECT("* UID FETCH 5 (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS "
		       "(MESSAGE-ID DATE FROM SUBJECT)])"),
		SEND("* 2 FETCH (UID 5 INTERNALDATE \"01-Jan-2026 00:00:00 +0000\" "
		     "BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] {30}\r\n"
		     "Subject: message unavailable\r\n)\r\n$ OK Fetch completed\r\n"),
		UP_LOGOUT,
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("TOP 2 0"),
		HEAR("-ERR Message 2 is no longer available upstream"),
		SAY("RETR 2"),
		HEAR("-ERR Message 2 is no longer available upstream"),
		SAY("TOP 2 1"),
		HEAR("-ERR Message 2 is no longer available upstream"),
		SAY("DELE 2"),
		HEAR("+OK Message 2 deleted"),
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=message_replaced uid=5 listed=250 now=129"));
	/* Hidden, but without the stand-in's fingerprint. */
	ck_assert_str_eq(hidden_uids("hidden:default", &fps), "5");
	ck_assert_uint_eq(fps, 0);
}
END_TEST

/* Without RFC822.SIZE before it, a literal of another size than listed
   is held back and checked: NOOP (Courier reports the expunge only
   then), UID SEARCH; gone is an error, sent nothing of the stand-in. */
START_TEST(literal_of_another_size_is_checked_gone)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("p5 UID FETCH 5 (RFC822.SIZE BODY[])"),
		SEND("* 2 FETCH (UID 5 BODY[] {30}\r\nSubject: message unavailable\r\n"
		     " RFC822.SIZE 30)\r\np5 OK Fetch completed\r\n"),
		EXPECT("p6 NOOP"),
		EXPECT("p7 UID SEARCH UID 5"),
		SEND("* 2 EXPUNGE\r\np6 OK NOOP completed\r\n* SEARCH\r\np7 OK Search completed\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("RETR 2"),
		HEAR("-ERR Message 2 is no longer available upstream"),
		SAY("RETR 2"),
		HEAR("-ERR Message 2 is no longer available upstream"),
		SAY("STAT"),
		HEAR("+OK 3 1370"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=message_gone uid=5"));
	ck_assert_uint_eq(fx_session()->retr_count, 0);
}
END_TEST

/* Still there: the server's sizes are not exact. The message is fetched
   again and sent, and later ones go straight through. */
START_TEST(literal_of_another_size_is_checked_still_there)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("p5 UID FETCH 5 (RFC822.SIZE BODY[])"),
		SEND("* 2 FETCH (UID 5 BODY[] {6}\r\nhello\n)\r\np5 OK Fetch completed\r\n"),
		EXPECT("p6 NOOP"),
		EXPECT("p7 UID SEARCH UID 5"),
		SEND("p6 OK NOOP completed\r\n* SEARCH 3 5 9\r\np7 OK Search completed\r\n"),
		EXPECT("p8 UID FETCH 5 (RFC822.SIZE BODY[])"),
		SEND("* 2 FETCH (UID 5 BODY[] {6}\r\nhello\n)\r\np8 OK Fetch completed\r\n"),
		EXPECT("p9 UID FETCH 9 (RFC822.SIZE BODY[])"),
		SEND("* 3 FETCH (UID 9 BODY[] {4}\r\nbye\n)\r\np9 OK Fetch completed\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("RETR 2"),
		HEAR("+OK 250 octets"),
		HEAR_BYTES("hello\r\n.\r\n"),
		SAY("RETR 3"),
		HEAR("+OK 1000 octets"),
		HEAR_BYTES("bye\r\n.\r\n"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=sizes_inexact uid=5"));
	ck_assert_uint_eq(fx_session()->retr_count, 2);
}
END_TEST

/* The server ends the two commands in the other order (found by the
   session fuzzer): the check reports once, after both. */
START_TEST(literal_check_answered_out_of_order)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("p5 UID FETCH 5 (RFC822.SIZE BODY[])"),
		SEND("* 2 FETCH (UID 5 BODY[] {6}\r\nhello\n)\r\np5 OK Fetch completed\r\n"),
		EXPECT("p6 NOOP"),
		EXPECT("p7 UID SEARCH UID 5"),
		SEND("* SEARCH\r\np7 OK Search completed\r\n"),
		PAUSE(50),
		SEND("* 2 EXPUNGE\r\np6 OK NOOP completed\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("RETR 2"),
		HEAR("-ERR Message 2 is no longer available upstream"),
		SAY("NOOP"),
		HEAR("+OK"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

/* The check itself fails: a temporary error, nothing sent. */
START_TEST(literal_of_another_size_check_fails)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("p5 UID FETCH 5 (RFC822.SIZE BODY[])"),
		SEND("* 2 FETCH (UID 5 BODY[] {6}\r\nhello\n)\r\np5 OK Fetch completed\r\n"),
		EXPECT("p6 NOOP"),
		EXPECT("p7 UID SEARCH UID 5"),
		SEND("p6 OK NOOP completed\r\np7 BAD No searching today\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("RETR 2"),
		HEAR("-ERR [SYS/TEMP] Upstream failed while checking the message"),
		SAY("NOOP"),
		HEAR("+OK"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_uint_eq(fx_session()->retr_count, 0);
}
END_TEST

/* Cut off mid-literal: no terminating dot follows, and the connection
   closes. The session closes at once (pop3_session_close(): no more
   output), so what was queued for the client may or may not have left:
   the client hears some beginning of the reply, then the close. */
START_TEST(upstream_drop_mid_literal_never_ends_the_message)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* UID FETCH 9 (RFC822.SIZE BODY[])"),
		SEND("* 3 FETCH (UID 9 BODY[] {1000}\r\nSubject: cut\r\n\r\nfirst line\n.second"),
		CLOSE(),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("DELE 1"),
		HEAR("+OK Message 1 deleted"),
		SAY("RETR 3"),
		HEAR_CUT("+OK 1000 octets\r\nSubject: cut\r\n\r\nfirst line\r\n..second"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	RUN_UNTIL(fx.srv.sessions == 0);
	ck_assert_ptr_nonnull(strstr(fx_log(), "reason=upstream_failed_during_message"));
	/* The DELE was not applied either. */
	ck_assert_str_eq(hidden_uids("hidden:default", NULL), "");
	RUN_UNTIL(!lock_held("default"));
}
END_TEST

/* The server ends the FETCH with NO after sending a body: it may be
   incomplete, so no terminating dot, and the connection closes (with
   what was queued, as above). */
START_TEST(retr_body_then_no_is_not_ended)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* UID FETCH 3 (RFC822.SIZE BODY[])"),
		SEND("* 1 FETCH (UID 3 RFC822.SIZE 120 BODY[] {7}\r\nhello\r\n)\r\n$ NO [SERVERBUG] Broke\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("RETR 1"),
		HEAR_CUT("+OK 120 octets\r\nhello\r\n"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

/* A text range that comes back full may go on: the next range, past the
   end, is an empty string (RFC 3501 6.4.5), and the reply ends there. */
START_TEST(top_text_of_exactly_one_range)
{
	static char text[POP3_TOP_CHUNK + 1], reply[POP3_TOP_CHUNK + 256], out[POP3_TOP_CHUNK + 64];
	size_t reply_len, out_len;

	/* 64 lines of 1024 octets */
	for (size_t i = 0; i < POP3_TOP_CHUNK; i++)
		text[i] = i % 1024 == 1022 ? '\r' : i % 1024 == 1023 ? '\n' : (char)('a' + i / 1024 % 26);
	reply_len = (size_t)snprintf(reply, sizeof(reply), "* 1 FETCH (UID 3 BODY[TEXT]<0> {%d}\r\n%s)\r\n"
				     "p6 OK Fetch completed\r\n", POP3_TOP_CHUNK, text);
	out_len = (size_t)snprintf(out, sizeof(out), "S: t\r\n\r\n%s.\r\n", text);
	{
		const struct peer_step imap[] = {
			UP_SESSION_THREE,
			EXPECT("* UID FETCH 3 (RFC822.SIZE BODY.PEEK[HEADER])"),
			SEND("* 1 FETCH (UID 3 BODY[HEADER] {8}\r\nS: t\r\n\r\n)\r\n$ OK Fetch completed\r\n"),
			EXPECT("p6 UID FETCH 3 BODY.PEEK[TEXT]<0.65536>"),
			SEND_N(reply, reply_len, 0),
			EXPECT("* UID FETCH 3 BODY.PEEK[TEXT]<65536.65536>"),
			SEND("* 1 FETCH (UID 3 BODY[TEXT]<65536> \"\")\r\n$ OK Fetch completed\r\n"),
			END_SCRIPT,
		};
		const struct client_step pop3[] = {
			GREETING,
			USER_PASS,
			LOGGED_IN_THREE,
			SAY("TOP 1 100"),
			HEAR("+OK Top of message follows"),
			HEAR_DATA(out, out_len),
			SAY("NOOP"),
			HEAR("+OK"),
			CLIENT_END,
		};

		upstream(imap);
		pop3_connect(pop3);
		DIALOGUE_DONE();
	}
}
END_TEST

/* ---- a big message to a slow client ---- */

#define BIG_LINES 20000
#define BIG_FIRST (512 * 1024)
/* The IMAP client's input (IMAP_CLIENT_READ_HIGH), the POP3 output, the
   kernel between popgate and the client, with room to spare. */
#define BIG_HELD_MAX (256 * 1024 + POP3_OUT_HIGH + 128 * 1024)

/* Heap in use (glibc), 0 where it cannot be told (a sanitizer's own
   allocator). */
static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 0;
#else
	return mallinfo2().uordblks;
#endif
}

struct big {
	char *reply, *list, *out;
	size_t reply_len, list_len, out_len, crlf_size;
};

/* A message of BIG_LINES 100-octet lines with bare LF ends, every tenth
   starting with a dot; what RETR must send for it (CRLF, stuffed, with
   the terminating dot); the upstream's FETCH reply and listing. */
static void big_make(struct big *b)
{
	size_t body_len = (size_t)BIG_LINES * 100, o = 0, r;
	char *body = malloc(body_len + 1);

	b->out = malloc(body_len * 2 + 16);
	b->reply = malloc(body_len + 256);
	b->list = malloc(256);
	ck_assert(body != NULL && b->out != NULL && b->reply != NULL && b->list != NULL);
	b->out_len = 0;
	for (unsigned int i = 0; i < BIG_LINES; i++) {
		int n = snprintf(body + o, 101, "%s%06u %0*d", i % 10 == 0 ? "." : "", i,
				 i % 10 == 0 ? 92 : 93, 0);

		ck_assert_int_eq(n, 100);
		body[o + 99] = '\n';
		if (i % 10 == 0)
			b->out[b->out_len++] = '.';
		memcpy(b->out + b->out_len, body + o, 99);
		b->out_len += 99;
		memcpy(b->out + b->out_len, "\r\n", 2);
		b->out_len += 2;
		o += 100;
	}
	b->crlf_size = body_len + BIG_LINES;
	memcpy(b->out + b->out_len, ".\r\n", 3);
	b->out_len += 3;
	r = (size_t)snprintf(b->reply, 256, "* 1 FETCH (UID 3 RFC822.SIZE %zu BODY[] {%zu}\r\n",
			      b->crlf_size, body_len);
	memcpy(b->reply + r, body, body_len);
	r += body_len;
	r += (size_t)snprintf(b->reply + r, 64, ")\r\n$ OK Fetch completed\r\n");
	b->reply_len = r;
	b->list_len = (size_t)snprintf(b->list, 256,
				       "* 1 FETCH (UID 3 RFC822.SIZE %zu FLAGS ())\r\n"
				       "$ OK Fetch completed\r\n", b->crlf_size);
	free(body);
}

static void big_free(struct big *b)
{
	free(b->reply);
	free(b->list);
	free(b->out);
}

START_TEST(big_retr_to_a_slow_client_stays_bounded)
{
	struct big b;
	char ok[64];

	big_make(&b);
	snprintf(ok, sizeof(ok), "+OK %zu octets", b.crlf_size);
	{
		const struct peer_step imap[] = {
			UP_GREETING,
			UP_LOGIN,
			UP_SELECT("1"),
			EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
			SEND_N(b.list, b.list_len, 0),
			UP_FPS("3"),
			EXPECT("* UID FETCH 3 (RFC822.SIZE BODY[])"),
			SEND_N(b.reply, b.reply_len, 0),
			END_SCRIPT,
		};
		const struct client_step pop3[] = {
			GREETING,
			USER_PASS,
			HEAR_PREFIX("+OK Logged in, 1 messages"),
			CLIENT_END,
		};
		const struct client_step retr[] = {
			SAY("RETR 1"),
			{ C_HEAR, ok, strlen(ok), 0 },
			HEAR_SLOWLY(b.out, BIG_FIRST, 8192),
			STOP_READING(),
			HEAR_SLOWLY(b.out + BIG_FIRST, b.out_len - BIG_FIRST, 8192),
			SAY("NOOP"),
			HEAR("+OK"),
			CLIENT_END,
		};
		struct imap_peer *p;
		struct pop3_client *c;
		uint64_t heard;
		size_t taken, heap;

		/* Little room in the kernel on the upstream side: what popgate
		   does not read stays with the peer, where it can be seen. */
		fx.up_sndbuf = 16384;
		p = upstream(imap);
		c = pop3_connect(pop3);
		RUN_UNTIL(c->finished);
		fx_watch_output(fx_session());
		heard = c->heard;
		heap = heap_in_use();
		client_script(c, retr);
		/* The client stalls a quarter of the way. popgate's output
		   stops at its high mark and it stops reading the upstream,
		   which keeps most of the message (in its own buffer, or in the
		   kernel's socket buffers, which grow with how fast popgate
		   reads while it reads); what popgate took and has not passed
		   on is bounded by its buffers (the IMAP client's input, the
		   POP3 output) and the small socket buffers to the client. */
		RUN_UNTIL(c->stopped);
		fx_run_for(150);
		ck_assert_msg(peer_unsent(p) + peer_in_kernel(p) > b.reply_len / 4,
			      "the upstream has only %zu of %zu octets left (%zu in the kernel)",
			      peer_unsent(p), b.reply_len, peer_in_kernel(p));
		taken = b.reply_len - peer_unsent(p) - peer_in_kernel(p);
		ck_assert_msg(taken - (size_t)(c->heard - heard) < BIG_HELD_MAX,
			      "popgate took %zu octets for a client that read %llu", taken,
			      (unsigned long long)(c->heard - heard));
		ck_assert_uint_ge(pop3_output_len(fx_session()), POP3_OUT_LOW);
		/* The queued output's chains are nearly full: what the heap
		   grew by is that output, a quarter more, and the rest of the
		   session's buffers (twice the output when each chain was
		   reserved for the filter's worst case). */
		if (heap != 0)
			ck_assert_msg(heap_in_use() - heap <= pop3_output_len(fx_session()) * 5 / 4 +
				      128 * 1024, "the heap grew by %zu for %zu octets of output",
				      heap_in_use() - heap, pop3_output_len(fx_session()));
		ck_assert_uint_le(fx.out_peak, POP3_OUT_HIGH + 64);
		resume_reading(c);
		DIALOGUE_DONE();
		ck_assert_uint_le(fx.out_peak, POP3_OUT_HIGH + 64);
		ck_assert_uint_ge(fx.out_peak, POP3_OUT_LOW);
		ck_assert_uint_eq(fx_session()->retr_count, 1);
	}
	big_free(&b);
}
END_TEST

static void retr_no_prefetch(void)
{
	/* The dialogues above this section script one FETCH per RETR. */
	fx_conf()->prefetch_max_kib = 0;
}

int main(void)
{
	Suite *s = suite_create("pop3_retr");
	TCase *tc = fx_tcase("retr");

	tcase_add_checked_fixture(tc, retr_no_prefetch, NULL);

	tcase_add_test(tc, list_uidl_stat_dele_rset);
	tcase_add_test(tc, pipelined_commands_are_answered_in_order);
	tcase_add_test(tc, retr_normalises_line_ends_and_stuffs_dots);
	tcase_add_test(tc, retr_without_mark_seen_peeks);
	tcase_add_test(tc, top_fetches_header_then_text_ranges);
	tcase_add_test(tc, retr_of_an_expunged_message_is_an_error);
	tcase_add_test(tc, stand_in_with_another_size_is_refused);
	tcase_add_test(tc, literal_of_another_size_is_checked_gone);
	tcase_add_test(tc, literal_of_another_size_is_checked_still_there);
	tcase_add_test(tc, literal_of_another_size_check_fails);
	tcase_add_test(tc, literal_check_answered_out_of_order);
	tcase_add_test(tc, upstream_drop_mid_literal_never_ends_the_message);
	tcase_add_test(tc, retr_body_then_no_is_not_ended);
	tcase_add_test(tc, top_text_of_exactly_one_range);
	tcase_add_test(tc, big_retr_to_a_slow_client_stays_bounded);
	suite_add_tcase(s, tc);
	return fx_run(s);
}
