/* TRANSACTION dialogues with prefetch: while a RETR streams, the next
   messages are asked for (as many as the window allows); a RETR of one
   takes its body over (those before it are thrown away), anything else
   (another RETR, DELE, QUIT, the upstream dying) drops them. */

#include "pop3_fixture.h"

#include "fetch.h"

/* The mailbox of UP_SESSION_THREE: message 1 is UID 3, 2 is 5, 3 is 9. */

#define BODY_A "Subject: a\r\n\r\nfirst\r\n"      /* 21 octets */
#define BODY_B "Subject: b\r\n\r\n.second\r\n"    /* 23 octets */
#define BODY_C "Subject: c\r\n\r\nthird\r\n"      /* 21 octets */
#define FETCH_A "* 1 FETCH (UID 3 RFC822.SIZE 120 BODY[] {21}\r\n" BODY_A ")\r\n"
#define FETCH_B "* 2 FETCH (UID 5 RFC822.SIZE 250 BODY[] {23}\r\n" BODY_B ")\r\n"
#define FETCH_C "* 3 FETCH (UID 9 RFC822.SIZE 1000 BODY[] {21}\r\n" BODY_C ")\r\n"

/* The client logs in and gets message 1; then message 2. */
#define POP3_RETR_1 \
	GREETING, USER_PASS, LOGGED_IN_THREE, \
	SAY("RETR 1"), HEAR("+OK 120 octets"), HEAR_BYTES(BODY_A ".\r\n")
#define POP3_RETR_2 \
	SAY("RETR 2"), HEAR("+OK 250 octets"), \
	HEAR_BYTES("Subject: b\r\n\r\n..second\r\n.\r\n")
/* RETR 1 asked for, then 2 and 3 ahead (1,250 octets: within the window). */
#define UP_ASK_1_AHEAD_2_3 \
	EXPECT("p5 UID FETCH 3 (RFC822.SIZE BODY[])"), \
	EXPECT("p6 UID FETCH 5 (RFC822.SIZE FLAGS BODY.PEEK[])"), \
	EXPECT("p7 UID FETCH 9 (RFC822.SIZE FLAGS BODY.PEEK[])")

static void dialogue(const struct peer_step *imap, const struct client_step *pop3)
{
	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}

/* As RETR 1 starts, 2 and 3 are asked for right behind it (1,250 octets
   listed: within the window); RETR 2 takes 2 over (its body had arrived
   already, before the client asked) and sets \Seen with a STORE, RETR 3
   takes 3. The server answers the STORE before the FETCH of 3 (RFC 3501
   5.5): the body still goes to the FETCH. The client gets every
   message's own octets. */
START_TEST(prefetch_serves_the_next_retr)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_ASK_1_AHEAD_2_3,
		SEND(FETCH_A "p5 OK done\r\n" FETCH_B "p6 OK done\r\n"),
		EXPECT("p8 UID STORE 5 +FLAGS.SILENT (\\Seen)"),
		SEND(FETCH_C "p8 OK stored\r\np7 OK done\r\n"),
		EXPECT("p9 UID STORE 9 +FLAGS.SILENT (\\Seen)"),
		SEND("p9 OK stored\r\n"),
		UP_LOGOUT,
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		POP3_RETR_1,
		POP3_RETR_2,
		SAY("RETR 3"),
		HEAR("+OK 1000 octets"),
		HEAR_BYTES(BODY_C ".\r\n"),
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};

	dialogue(imap, pop3);
}
END_TEST

/* The FLAGS that come with a body fetched ahead tell whether it is \Seen
   already: RETR 2 (seen) takes it without a STORE, which would change
   nothing and cost the server a command; RETR 3 (unseen) sets \Seen as
   before. */
START_TEST(prefetch_seen_already_needs_no_store)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_ASK_1_AHEAD_2_3,
		SEND(FETCH_A "p5 OK done\r\n"
		     "* 2 FETCH (UID 5 RFC822.SIZE 250 FLAGS (\\Seen) BODY[] {23}\r\n" BODY_B
		     ")\r\np6 OK done\r\n"
		     "* 3 FETCH (UID 9 RFC822.SIZE 1000 FLAGS (\\Answered) BODY[] {21}\r\n"
		     BODY_C ")\r\np7 OK done\r\n"),
		EXPECT("p8 UID STORE 9 +FLAGS.SILENT (\\Seen)"),
		SEND("p8 OK stored\r\n"),
		UP_LOGOUT,
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		POP3_RETR_1,
		POP3_RETR_2,
		SAY("RETR 3"),
		HEAR("+OK 1000 octets"),
		HEAR_BYTES(BODY_C ".\r\n"),
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};

	dialogue(imap, pop3);
}
END_TEST

/* RETR 3 after RETR 1: 3 was asked for ahead and is taken; 2, before it
   and not wanted, is read and thrown away (none of it reaches the
   client). */
START_TEST(prefetch_skipped_one_is_thrown_away)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_ASK_1_AHEAD_2_3,
		SEND(FETCH_A "p5 OK done\r\n"),
		/* popgate takes 3 before the bodies arrive */
		EXPECT("p8 UID STORE 9 +FLAGS.SILENT (\\Seen)"),
		SEND(FETCH_B "p6 OK done\r\n" FETCH_C "p7 OK done\r\np8 OK stored\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		POP3_RETR_1,
		SAY("RETR 3"),
		HEAR("+OK 1000 octets"),
		HEAR_BYTES(BODY_C ".\r\n"),
		SAY("NOOP"),
		HEAR("+OK"),
		CLIENT_END,
	};

	dialogue(imap, pop3);
}
END_TEST

/* RETR of a message not fetched ahead (one before): those fetched ahead
   are read and thrown away, then the wanted one is fetched, and the ones
   after it are asked for again. */
START_TEST(prefetch_dropped_by_retr_of_another)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("p5 UID FETCH 5 (RFC822.SIZE BODY[])"),
		EXPECT("p6 UID FETCH 9 (RFC822.SIZE FLAGS BODY.PEEK[])"),
		SEND(FETCH_B "p5 OK done\r\n"),
		/* popgate asks for 3 before the prefetched body arrives */
		EXPECT("p7 UID FETCH 3 (RFC822.SIZE BODY[])"),
		EXPECT("p8 UID FETCH 5 (RFC822.SIZE FLAGS BODY.PEEK[])"),
		EXPECT("p9 UID FETCH 9 (RFC822.SIZE FLAGS BODY.PEEK[])"),
		SEND(FETCH_C "p6 OK done\r\n" FETCH_A "p7 OK done\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		POP3_RETR_2,
		SAY("RETR 1"),
		HEAR("+OK 120 octets"),
		HEAR_BYTES(BODY_A ".\r\n"),
		SAY("NOOP"),
		HEAR("+OK"),
		CLIENT_END,
	};

	dialogue(imap, pop3);
}
END_TEST

/* DELE of a message fetched ahead, then QUIT: its body and the next one's
   are thrown away and LOGOUT follows; no \Seen is set. */
START_TEST(prefetch_dropped_by_dele_and_quit)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_ASK_1_AHEAD_2_3,
		SEND(FETCH_A "p5 OK done\r\n" FETCH_B "p6 OK done\r\n"),
		/* the hide's fingerprint, then the end */
		EXPECT("p8 UID FETCH 5 (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS "
		       "(MESSAGE-ID DATE FROM SUBJECT)])"),
		SEND(FETCH_C "p7 OK done\r\n"
		     "* 2 FETCH (UID 5 INTERNALDATE \"01-Jan-2024 10:00:00 +0000\" "
		     "BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] {21}\r\n"
		     "Message-ID: <b@x>\r\n\r\n)\r\np8 OK Fetch completed\r\n"),
		UP_LOGOUT,
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		POP3_RETR_1,
		SAY("DELE 2"),
		HEAR("+OK Message 2 deleted"),
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};

	dialogue(imap, pop3);
	ck_assert_str_eq(hidden_uids("hidden:default", NULL), "5");
}
END_TEST

/* QUIT while the messages fetched ahead have not even started to arrive:
   LOGOUT queues behind them and their bodies, when they come, are thrown
   away. */
START_TEST(prefetch_dropped_by_quit_before_it_arrives)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_ASK_1_AHEAD_2_3,
		SEND(FETCH_A "p5 OK done\r\n"),
		EXPECT("p8 LOGOUT"),
		SEND(FETCH_B "p6 OK done\r\n" FETCH_C "p7 OK done\r\n"
		     "* BYE Logging out\r\np8 OK Logout completed\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		POP3_RETR_1,
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};

	dialogue(imap, pop3);
}
END_TEST

/* The upstream dies in the middle of the message fetched ahead, once
   RETR of it has taken it over and said +OK: the session closes without
   the terminating dot. */
START_TEST(prefetch_upstream_dies_mid_body)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_ASK_1_AHEAD_2_3,
		SEND(FETCH_A "p5 OK done\r\n"),
		EXPECT("p8 UID STORE 5 +FLAGS.SILENT (\\Seen)"),
		SEND("* 2 FETCH (UID 5 RFC822.SIZE 250 BODY[] {23}\r\nSubject: b\r\n"),
		CLOSE(),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		POP3_RETR_1,
		SAY("RETR 2"),
		HEAR("+OK 250 octets"),
		HEAR_BYTES("Subject: b\r\n"),
		HEAR_CLOSE(),
		CLIENT_END,
	};

	dialogue(imap, pop3);
}
END_TEST

/* The upstream dies while the message fetched ahead waits for its RETR:
   nothing was sent of it, so RETR is refused and the session ends. */
START_TEST(prefetch_upstream_dies_while_it_waits)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_ASK_1_AHEAD_2_3,
		SEND(FETCH_A "p5 OK done\r\n"
		     "* 2 FETCH (UID 5 RFC822.SIZE 250 BODY[] {23}\r\nSubject: b\r\n"),
		CLOSE(),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		POP3_RETR_1,
		SAY("RETR 2"),
		HEAR_PREFIX("-ERR [SYS/TEMP] Upstream connection lost"),
		HEAR_CLOSE(),
		CLIENT_END,
	};

	dialogue(imap, pop3);
}
END_TEST

/* The next bodies arrive before the reply of the RETR that asked for
   them (a server running pipelined commands at once). Ones that fit the
   window serve the next RETRs without asking again; one larger than the
   window is dropped (pausing would hold the first reply back) and asked
   for anew when its RETR comes, with the one after it. */
START_TEST(prefetch_answered_out_of_order_fits)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_ASK_1_AHEAD_2_3,
		SEND(FETCH_A FETCH_B FETCH_C "p5 OK done\r\np6 OK done\r\np7 OK done\r\n"),
		EXPECT("p8 UID STORE 5 +FLAGS.SILENT (\\Seen)"),
		SEND("p8 OK stored\r\n"),
		UP_LOGOUT,
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		POP3_RETR_1,
		POP3_RETR_2,
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};

	dialogue(imap, pop3);
}
END_TEST

#define BIG_B_LEN 140000
START_TEST(prefetch_answered_out_of_order_too_big)
{
	static char big[BIG_B_LEN + 1], reply[BIG_B_LEN + 512];
	size_t n;

	for (size_t i = 0; i < BIG_B_LEN; i++)
		big[i] = (i % 64 == 63) ? '\n' : 'b';
	n = (size_t)snprintf(reply, sizeof(reply), "%s", FETCH_A);
	snprintf(reply + n, sizeof(reply) - n,
		 "* 2 FETCH (UID 5 RFC822.SIZE 250 BODY[] {%d}\r\n%s)\r\n"
		 "p5 OK done\r\np6 OK done\r\n", BIG_B_LEN, big);
	const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_ASK_1_AHEAD_2_3,
		SEND_N(reply, strlen(reply), 0),
		/* dropped: asked for again, with \Seen this time; 3 with it */
		EXPECT("p8 UID FETCH 5 (RFC822.SIZE BODY[])"),
		EXPECT("p9 UID FETCH 9 (RFC822.SIZE FLAGS BODY.PEEK[])"),
		SEND(FETCH_C "p7 OK done\r\n" FETCH_B "p8 OK done\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		POP3_RETR_1,
		POP3_RETR_2,
		CLIENT_END,
	};

	dialogue(imap, pop3);
}
END_TEST

/* Three messages of 120, 100,000 and 50,000 octets listed: as RETR 1
   starts only 2 is asked for ahead (3 as well would pass the window);
   3 is asked for once RETR 2 has taken 2. */
#define UP_SESSION_WIDE UP_GREETING, UP_LOGIN, UP_SELECT("3"), \
	UP_LIST("* 1 FETCH (UID 3 RFC822.SIZE 120 FLAGS ())\r\n" \
		"* 2 FETCH (UID 5 RFC822.SIZE 100000 FLAGS ())\r\n" \
		"* 3 FETCH (UID 9 RFC822.SIZE 50000 FLAGS ())\r\n"), \
	UP_FPS("3,5,9")

START_TEST(prefetch_asks_within_the_window)
{
	static const struct peer_step imap[] = {
		UP_SESSION_WIDE,
		EXPECT("p5 UID FETCH 3 (RFC822.SIZE BODY[])"),
		EXPECT("p6 UID FETCH 5 (RFC822.SIZE FLAGS BODY.PEEK[])"),
		SEND(FETCH_A "p5 OK done\r\n"),
		/* not before RETR 2 */
		EXPECT("p7 UID STORE 5 +FLAGS.SILENT (\\Seen)"),
		EXPECT("p8 UID FETCH 9 (RFC822.SIZE FLAGS BODY.PEEK[])"),
		SEND("* 2 FETCH (UID 5 RFC822.SIZE 100000 BODY[] {23}\r\n" BODY_B ")\r\n"
		     "p6 OK done\r\np7 OK stored\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("+OK Logged in, 3 messages (150120 octets)"),
		SAY("RETR 1"),
		HEAR("+OK 120 octets"),
		HEAR_BYTES(BODY_A ".\r\n"),
		WAIT(50),
		SAY("RETR 2"),
		HEAR("+OK 100000 octets"),
		HEAR_BYTES("Subject: b\r\n\r\n..second\r\n.\r\n"),
		CLIENT_END,
	};

	dialogue(imap, pop3);
}
END_TEST

/* Listed sizes are no proof (a server counting LF line ends): 2 and 3 are
   listed with 60,000 octets each, so both are asked for, but send 80,000
   and 600,000. All the windows together hold at most 128 KiB: 2 fits, 3
   fills the rest and the connection pauses (with the IMAP client's input
   full, that is all popgate takes) until RETR 2 and RETR 3 take them; the
   client gets every octet. */
#define WIDE_B_LEN 80000
#define WIDE_C_LEN 600000
#define PREFETCH_WINDOW (128 * 1024)
#define READ_HIGH (256 * 1024)

/* len octets of lines of 63 times ch and LF; out gets them as RETR sends
   them (CRLF), without the terminating dot. */
static size_t wide_body(char *body, size_t len, char ch, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		body[i] = i % 64 == 63 ? '\n' : ch;
		if (body[i] == '\n')
			out[o++] = '\r';
		out[o++] = body[i];
	}
	return o;
}

START_TEST(prefetch_windows_share_one_bound)
{
	static char b_body[WIDE_B_LEN], c_body[WIDE_C_LEN];
	static char b_out[WIDE_B_LEN * 2 + 8], c_out[WIDE_C_LEN * 2 + 8];
	static char reply[WIDE_B_LEN + WIDE_C_LEN + 1024];
	size_t b_len = wide_body(b_body, WIDE_B_LEN, 'b', b_out);
	size_t c_len = wide_body(c_body, WIDE_C_LEN, 'c', c_out);
	size_t n, taken, head;

	memcpy(b_out + b_len, ".\r\n", 3);
	memcpy(c_out + c_len, ".\r\n", 3);
	n = (size_t)snprintf(reply, sizeof(reply), "%sp5 OK done\r\n", FETCH_A);
	head = n;
	n += (size_t)snprintf(reply + n, sizeof(reply) - n,
			      "* 2 FETCH (UID 5 RFC822.SIZE 60000 BODY[] {%d}\r\n", WIDE_B_LEN);
	memcpy(reply + n, b_body, WIDE_B_LEN);
	n += WIDE_B_LEN;
	n += (size_t)snprintf(reply + n, sizeof(reply) - n, ")\r\np6 OK done\r\n"
			      "* 3 FETCH (UID 9 RFC822.SIZE 60000 BODY[] {%d}\r\n", WIDE_C_LEN);
	memcpy(reply + n, c_body, WIDE_C_LEN);
	n += WIDE_C_LEN;
	n += (size_t)snprintf(reply + n, sizeof(reply) - n, ")\r\np7 OK done\r\n");
	{
		const struct peer_step imap[] = {
			UP_GREETING, UP_LOGIN, UP_SELECT("3"),
			UP_LIST("* 1 FETCH (UID 3 RFC822.SIZE 120 FLAGS ())\r\n"
				"* 2 FETCH (UID 5 RFC822.SIZE 60000 FLAGS ())\r\n"
				"* 3 FETCH (UID 9 RFC822.SIZE 60000 FLAGS ())\r\n"),
			UP_FPS("3,5,9"),
			EXPECT("p5 UID FETCH 3 (RFC822.SIZE BODY[])"),
			EXPECT("p6 UID FETCH 5 (RFC822.SIZE FLAGS BODY.PEEK[])"),
			EXPECT("p7 UID FETCH 9 (RFC822.SIZE FLAGS BODY.PEEK[])"),
			SEND_N(reply, n, 0),
			EXPECT("p8 UID STORE 5 +FLAGS.SILENT (\\Seen)"),
			SEND("p8 OK stored\r\n"),
			EXPECT("p9 UID STORE 9 +FLAGS.SILENT (\\Seen)"),
			SEND("p9 OK stored\r\n"),
			END_SCRIPT,
		};
		const struct client_step first[] = {
			GREETING,
			USER_PASS,
			HEAR("+OK Logged in, 3 messages (120120 octets)"),
			SAY("RETR 1"),
			HEAR("+OK 120 octets"),
			HEAR_BYTES(BODY_A ".\r\n"),
			CLIENT_END,
		};
		const struct client_step rest[] = {
			SAY("RETR 2"),
			HEAR("+OK 60000 octets"),
			HEAR_DATA(b_out, b_len + 3),
			SAY("RETR 3"),
			HEAR("+OK 60000 octets"),
			HEAR_DATA(c_out, c_len + 3),
			CLIENT_END,
		};
		struct imap_peer *p;
		struct pop3_client *c;

		fx.up_sndbuf = 16384;
		p = upstream(imap);
		c = pop3_connect(first);
		RUN_UNTIL(c->finished);
		fx_run_for(150);
		/* What left the peer and is not in the kernel: message 1, the
		   windows and the IMAP client's input at most. */
		taken = n - peer_unsent(p) - peer_in_kernel(p);
		ck_assert_msg(taken <= head + PREFETCH_WINDOW + READ_HIGH + 16384,
			      "popgate took %zu of %zu octets ahead", taken, n);
		client_script(c, rest);
		DIALOGUE_DONE();
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pop3_prefetch");
	TCase *pf = fx_tcase("prefetch");

	tcase_add_test(pf, prefetch_serves_the_next_retr);
	tcase_add_test(pf, prefetch_seen_already_needs_no_store);
	tcase_add_test(pf, prefetch_skipped_one_is_thrown_away);
	tcase_add_test(pf, prefetch_dropped_by_retr_of_another);
	tcase_add_test(pf, prefetch_dropped_by_dele_and_quit);
	tcase_add_test(pf, prefetch_dropped_by_quit_before_it_arrives);
	tcase_add_test(pf, prefetch_upstream_dies_mid_body);
	tcase_add_test(pf, prefetch_upstream_dies_while_it_waits);
	tcase_add_test(pf, prefetch_answered_out_of_order_fits);
	tcase_add_test(pf, prefetch_answered_out_of_order_too_big);
	tcase_add_test(pf, prefetch_asks_within_the_window);
	tcase_add_test(pf, prefetch_windows_share_one_bound);
	suite_add_tcase(s, pf);
	return fx_run(s);
}
