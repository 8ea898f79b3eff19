/* exact_sizes dialogues: a server whose RFC822.SIZE counts LF line ends.
   yes: the login counts each message once (BODY.PEEK[]) and LIST, STAT and
   RETR's "+OK n octets" say what RETR sends; the counts are stored and a
   later login fetches nothing. auto: RFC822.SIZE until a RETR proves it
   wrong, then the account's next login counts. A counting that fails
   upstream fails the login. */

#include "pop3_fixture.h"

/* Two messages stored with LF line ends: 24 octets as stored, 28 as sent;
   12 and 14 (a dot-stuffed line and no line end at the end: neither is
   counted). */
#define BODY_A "Subject: a\nX: 1\n\nbody a\n"
#define BODY_B "one\ntwo\n.dot"
#define UP_TWO_LF \
	UP_SELECT("2"), \
	UP_LIST("* 1 FETCH (UID 3 RFC822.SIZE 24 FLAGS ())\r\n" \
		"* 2 FETCH (UID 5 RFC822.SIZE 12 FLAGS ())\r\n")
#define UP_COUNT_A \
	EXPECT("* UID FETCH 3 BODY.PEEK[]"), \
	SEND("* 1 FETCH (UID 3 BODY[] {24}\r\n" BODY_A ")\r\n$ OK Fetch completed\r\n")
#define UP_COUNT_B \
	EXPECT("* UID FETCH 5 BODY.PEEK[]"), \
	SEND("* 2 FETCH (UID 5 BODY[] {12}\r\n" BODY_B ")\r\n$ OK Fetch completed\r\n")
#define UP_RETR_B \
	EXPECT("* UID FETCH 5 (RFC822.SIZE BODY[])"), \
	SEND("* 2 FETCH (UID 5 RFC822.SIZE 12 BODY[] {12}\r\n" BODY_B ")\r\n" \
	     "$ OK Fetch completed\r\n")
#define RETR_B_BYTES "one\r\ntwo\r\n..dot\r\n.\r\n"

static const struct client_step logs_in_exact[] = {
	GREETING,
	USER_PASS,
	HEAR("+OK Logged in, 2 messages (42 octets)"),
	CLIENT_END,
};

static char *stored_size(const char *uid)
{
	static char buf[32];
	redisReply *r = raw_cmd("HGET %s %s", fx_key("sizes:7"), uid);

	snprintf(buf, sizeof(buf), "%s", r->type == REDIS_REPLY_STRING ? r->str : "none");
	freeReplyObject(r);
	return buf;
}

START_TEST(yes_counts_once_and_lists_what_retr_sends)
{
	static const struct peer_step first[] = {
		UP_GREETING, UP_LOGIN, UP_TWO_LF, UP_COUNT_A, UP_COUNT_B, UP_FPS("3,5"),
		UP_RETR_B,
		UP_LOGOUT,
		END_SCRIPT,
	};
	static const struct peer_step second[] = {
		UP_GREETING, UP_LOGIN, UP_TWO_LF,
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("+OK Logged in, 2 messages (42 octets)"),
		SAY("LIST"),
		HEAR("+OK 2 messages (42 octets)"),
		HEAR("1 28"),
		HEAR("2 14"),
		HEAR("."),
		SAY("STAT"),
		HEAR("+OK 2 42"),
		SAY("RETR 2"),
		HEAR("+OK 14 octets"),
		HEAR_BYTES(RETR_B_BYTES),
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};
	struct pop3_client *c;

	fx_conf()->upstream->exact_sizes = CONF_EXACT_SIZES_YES;
	upstream(first);
	upstream(second);
	c = pop3_connect(pop3);
	RUN_UNTIL(c->finished);
	ck_assert_str_eq(stored_size("3"), "24 28");
	ck_assert_str_eq(stored_size("5"), "12 14");
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=exact_sizes loaded=0 counted=2 differ=2"));
	ck_assert_ptr_null(strstr(fx_log(), "event=size_mismatch"));
	/* Counted once: the next login loads the counts, fetches nothing. */
	fx_drop_shared_listing();   /* the next login is scripted cold */
	pop3_connect(logs_in_exact);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=exact_sizes loaded=2 counted=0"));
	ck_assert_int_gt(raw_int("PTTL %s", fx_key("sizes:7")), 86400000);
}
END_TEST

START_TEST(auto_learns_from_a_retr)
{
	static const struct peer_step first[] = {
		UP_GREETING, UP_LOGIN, UP_TWO_LF, UP_FPS("3,5"),
		UP_RETR_B,
		UP_LOGOUT,
		END_SCRIPT,
	};
	/* Message 5's count is stored: only 3 is counted. */
	static const struct peer_step second[] = {
		UP_GREETING, UP_LOGIN, UP_TWO_LF, UP_COUNT_A,
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("+OK Logged in, 2 messages (36 octets)"),
		SAY("RETR 2"),
		HEAR("+OK 12 octets"),
		HEAR_BYTES(RETR_B_BYTES),
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};
	struct pop3_client *c;

	upstream(first);
	upstream(second);
	c = pop3_connect(pop3);
	RUN_UNTIL(c->finished);
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=size_mismatch uid=5 listed=12 sent=14 "
				     "action=exact_sizes"));
	RUN_UNTIL(strcmp(stored_size("5"), "12 14") == 0);
	ck_assert_str_eq(stored_size("3"), "none");
	fx_drop_shared_listing();   /* the next login is scripted cold */
	pop3_connect(logs_in_exact);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=exact_sizes loaded=1 counted=1 differ=1"));
}
END_TEST

/* A count that cannot end (the upstream drops mid-literal) fails the
   login: never a listing with a size RETR will not keep. */
START_TEST(counting_cut_off_fails_the_login)
{
	static const struct peer_step imap[] = {
		UP_GREETING, UP_LOGIN, UP_TWO_LF, UP_COUNT_A,
		EXPECT("* UID FETCH 5 BODY.PEEK[]"),
		SEND("* 2 FETCH (UID 5 BODY[] {12}\r\none\n"),
		CLOSE(),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("-ERR [SYS/TEMP] Upstream failed while counting message sizes"),
		CLIENT_END,
	};

	fx_conf()->upstream->exact_sizes = CONF_EXACT_SIZES_YES;
	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_int_eq(fx_session()->state, POP3_STATE_AUTHORIZATION);
	/* What was counted before is kept; the cut one is not. */
	RUN_UNTIL(strcmp(stored_size("3"), "24 28") == 0);
	ck_assert_str_eq(stored_size("5"), "none");
}
END_TEST

/* Entries of messages no longer in the mailbox go. */
START_TEST(gone_messages_are_pruned)
{
	static const struct peer_step imap[] = {
		UP_GREETING, UP_LOGIN, UP_TWO_LF, UP_FPS("3,5"),
		END_SCRIPT,
	};

	fx_conf()->upstream->exact_sizes = CONF_EXACT_SIZES_YES;
	freeReplyObject(raw_cmd("HSET %s 3 %s 5 %s 4 %s", fx_key("sizes:7"), "24 28", "12 14",
				"1 99"));
	upstream(imap);
	fx_drop_shared_listing();   /* the next login is scripted cold */
	pop3_connect(logs_in_exact);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=exact_sizes loaded=2 counted=0 differ=0 "
				     "pruned=1"));
	RUN_UNTIL(strcmp(stored_size("4"), "none") == 0);
	ck_assert_str_eq(stored_size("5"), "12 14");
}
END_TEST

/* A damaged entry is left out: its message is counted again, and the
   entry overwritten. */
START_TEST(damaged_entry_is_counted_again)
{
	static const struct peer_step imap[] = {
		UP_GREETING, UP_LOGIN, UP_TWO_LF, UP_COUNT_A, UP_FPS("3,5"),
		END_SCRIPT,
	};

	fx_conf()->upstream->exact_sizes = CONF_EXACT_SIZES_YES;
	freeReplyObject(raw_cmd("HSET %s 3 %s 5 %s x %s", fx_key("sizes:7"), "lots", "12 14",
				"1 7"));
	upstream(imap);
	fx_drop_shared_listing();   /* the next login is scripted cold */
	pop3_connect(logs_in_exact);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=exact_sizes loaded=1 counted=1 differ=1"));
	RUN_UNTIL(strcmp(stored_size("3"), "24 28") == 0);
}
END_TEST

/* A count made for another RFC822.SIZE is not this message's (a server
   that reused the UID): counted again. */
START_TEST(count_for_another_rfc822_size_is_not_used)
{
	static const struct peer_step imap[] = {
		UP_GREETING, UP_LOGIN, UP_TWO_LF, UP_COUNT_A, UP_FPS("3,5"),
		END_SCRIPT,
	};

	fx_conf()->upstream->exact_sizes = CONF_EXACT_SIZES_YES;
	freeReplyObject(raw_cmd("HSET %s 3 %s 5 %s", fx_key("sizes:7"), "77 80", "12 14"));
	upstream(imap);
	fx_drop_shared_listing();   /* the next login is scripted cold */
	pop3_connect(logs_in_exact);
	DIALOGUE_DONE();
	RUN_UNTIL(strcmp(stored_size("3"), "24 28") == 0);
}
END_TEST

/* no: RFC822.SIZE, nothing loaded or fetched, a mismatch only logged. */
START_TEST(no_lists_rfc822_size)
{
	static const struct peer_step imap[] = {
		UP_GREETING, UP_LOGIN, UP_TWO_LF, UP_FPS("3,5"),
		UP_RETR_B,
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("+OK Logged in, 2 messages (36 octets)"),
		SAY("RETR 2"),
		HEAR("+OK 12 octets"),
		HEAR_BYTES(RETR_B_BYTES),
		CLIENT_END,
	};

	fx_conf()->upstream->exact_sizes = CONF_EXACT_SIZES_NO;
	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=size_mismatch uid=5 listed=12 sent=14"));
	ck_assert_ptr_null(strstr(fx_log(), "action=exact_sizes"));
	ck_assert_int_eq(raw_int("EXISTS %s", fx_key("sizes:7")), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pop3_sizes");
	TCase *tc = fx_tcase("sizes");

	tcase_add_test(tc, yes_counts_once_and_lists_what_retr_sends);
	tcase_add_test(tc, auto_learns_from_a_retr);
	tcase_add_test(tc, counting_cut_off_fails_the_login);
	tcase_add_test(tc, gone_messages_are_pruned);
	tcase_add_test(tc, damaged_entry_is_counted_again);
	tcase_add_test(tc, count_for_another_rfc822_size_is_not_used);
	tcase_add_test(tc, no_lists_rfc822_size);
	suite_add_tcase(s, tc);
	return fx_run(s);
}
