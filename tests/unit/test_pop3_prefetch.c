/* TRANSACTION dialogues with prefetch: while a RETR streams, the next
   message is asked for; a RETR of it takes the body over, anything else
   (another RETR, DELE, QUIT, the upstream dying) drops it. */

#include "pop3_fixture.h"

#include "fetch.h"

/* The mailbox of UP_SESSION_THREE: message 1 is UID 3, 2 is 5, 3 is 9. */

#define BODY_A "Subject: a\r\n\r\nfirst\r\n"      /* 21 octets */
#define BODY_B "Subject: b\r\n\r\n.second\r\n"    /* 23 octets */
#define BODY_C "Subject: c\r\n\r\nthird\r\n"      /* 21 octets */
#define FETCH_A "* 1 FETCH (UID 3 RFC822.SIZE 120 BODY[] {21}\r\n" BODY_A ")\r\n"
#define FETCH_B "* 2 FETCH (UID 5 RFC822.SIZE 250 BODY[] {23}\r\n" BODY_B ")\r\n"
#define FETCH_C "* 3 FETCH (UID 9 RFC822.SIZE 1000 BODY[] {21}\r\n" BODY_C ")\r\n"

/* Every dialogue here starts so: RETR 1 asked for (and answered), then
   message 2 asked for ahead; the client logs in and gets message 1. */
#define UP_ASK_1 EXPECT("p5 UID FETCH 3 (RFC822.SIZE BODY[])")
#define UP_RETR_1 UP_ASK_1, SEND(FETCH_A "p5 OK done\r\n")
#define UP_AHEAD_2 EXPECT("p6 UID FETCH 5 (RFC822.SIZE BODY.PEEK[])")
#define POP3_RETR_1 \
	GREETING, USER_PASS, LOGGED_IN_THREE, \
	SAY("RETR 1"), HEAR("+OK 120 octets"), HEAR_BYTES(BODY_A ".\r\n")
#define POP3_RETR_2 \
	SAY("RETR 2"), HEAR("+OK 250 octets"), \
	HEAR_BYTES("Subject: b\r\n\r\n..second\r\n.\r\n")

static void dialogue(const struct peer_step *imap, const struct client_step *pop3)
{
	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}

/* RETR 1's FETCH ends, and 2 is asked for; RETR 2 takes it over (its
   body had arrived already, before the client asked), sets \Seen with a
   STORE, and once it ends 3 is asked for. The server answers the FETCH
   of 3 before the STORE (RFC 3501 5.5): the body still goes to the
   FETCH. The client gets every message's own octets. */
START_TEST(prefetch_serves_the_next_retr)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_RETR_1,
		UP_AHEAD_2,
		SEND(FETCH_B "p6 OK done\r\n"),
		EXPECT("p7 UID STORE 5 +FLAGS.SILENT (\\Seen)"),
		EXPECT("p8 UID FETCH 9 (RFC822.SIZE BODY.PEEK[])"),
		SEND(FETCH_C "p7 OK stored\r\np8 OK done\r\n"),
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

/* RETR of another message: the one fetched ahead is read and thrown
   away (none of it reaches the client), then the wanted one is fetched. */
START_TEST(prefetch_dropped_by_retr_of_another)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_RETR_1,
		UP_AHEAD_2,
		/* popgate asks for 9 before the prefetched body arrives */
		EXPECT("p7 UID FETCH 9 (RFC822.SIZE BODY[])"),
		SEND(FETCH_B "p6 OK done\r\n" FETCH_C "p7 OK done\r\n"),
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

/* DELE of the message fetched ahead, then QUIT: its body (paused in the
   connection) is thrown away and LOGOUT follows; no \Seen is set. */
START_TEST(prefetch_dropped_by_dele_and_quit)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_RETR_1,
		UP_AHEAD_2,
		SEND(FETCH_B "p6 OK done\r\n"),
		/* the hide's fingerprint, then the end */
		EXPECT("p7 UID FETCH 5 (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS "
		       "(MESSAGE-ID DATE FROM SUBJECT)])"),
		SEND("* 2 FETCH (UID 5 INTERNALDATE \"01-Jan-2024 10:00:00 +0000\" "
		     "BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] {21}\r\n"
		     "Message-ID: <b@x>\r\n\r\n)\r\np7 OK Fetch completed\r\n"),
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

/* QUIT while the message fetched ahead has not even started to arrive:
   LOGOUT queues behind it and its body, when it comes, is thrown away. */
START_TEST(prefetch_dropped_by_quit_before_it_arrives)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_RETR_1,
		UP_AHEAD_2,
		EXPECT("p7 LOGOUT"),
		SEND(FETCH_B "p6 OK done\r\n* BYE Logging out\r\np7 OK Logout completed\r\n"),
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
		UP_RETR_1,
		UP_AHEAD_2,
		EXPECT("p7 UID STORE 5 +FLAGS.SILENT (\\Seen)"),
		EXPECT("p8 UID FETCH 9 (RFC822.SIZE BODY.PEEK[])"),
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
		UP_ASK_1,
		UP_AHEAD_2,
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

/* The next body arrives before the reply of the RETR that asked for it
   (a server running pipelined commands at once). One that fits the
   window serves the next RETR without asking again; one larger than the
   window is dropped (pausing would hold the first reply back) and asked
   for anew when its RETR comes. */
START_TEST(prefetch_answered_out_of_order_fits)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_ASK_1,
		UP_AHEAD_2,
		SEND(FETCH_A FETCH_B "p5 OK done\r\np6 OK done\r\n"),
		EXPECT("p7 UID STORE 5 +FLAGS.SILENT (\\Seen)"),
		EXPECT("p8 UID FETCH 9 (RFC822.SIZE BODY.PEEK[])"),
		SEND(FETCH_C "p7 OK stored\r\np8 OK done\r\n"),
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
		UP_ASK_1,
		UP_AHEAD_2,
		SEND_N(reply, strlen(reply), 0),
		/* dropped: asked for again, with \Seen this time */
		EXPECT("p7 UID FETCH 5 (RFC822.SIZE BODY[])"),
		EXPECT("p8 UID FETCH 9 (RFC822.SIZE BODY.PEEK[])"),
		SEND(FETCH_B "p7 OK done\r\n"),
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

int main(void)
{
	Suite *s = suite_create("pop3_prefetch");
	TCase *pf = fx_tcase("prefetch");

	tcase_add_test(pf, prefetch_serves_the_next_retr);
	tcase_add_test(pf, prefetch_dropped_by_retr_of_another);
	tcase_add_test(pf, prefetch_dropped_by_dele_and_quit);
	tcase_add_test(pf, prefetch_dropped_by_quit_before_it_arrives);
	tcase_add_test(pf, prefetch_upstream_dies_mid_body);
	tcase_add_test(pf, prefetch_upstream_dies_while_it_waits);
	tcase_add_test(pf, prefetch_answered_out_of_order_fits);
	tcase_add_test(pf, prefetch_answered_out_of_order_too_big);
	suite_add_tcase(s, pf);
	return fx_run(s);
}
