/* QUIT dialogues (RFC 1939 UPDATE): the DELE marks applied per
   delete_action, upstream and in the state store, +OK only once that is
   durable; a client gone during UPDATE; the state store down at QUIT. */

#include "pop3_fixture.h"

/* Fingerprint FETCH items: UID 3 and 9 with a Message-ID each. */
#define FP_ITEM(n, uid, id) \
	"* " #n " FETCH (UID " #uid " INTERNALDATE \"01-Jan-2024 10:00:00 +0000\" " \
	"BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] {21}\r\n" \
	"Message-ID: <" id "@x>\r\n\r\n)\r\n"
#define UP_FP_3_9 \
	EXPECT("* UID FETCH 3,9 (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS " \
	       "(MESSAGE-ID DATE FROM SUBJECT)])"), \
	SEND(FP_ITEM(1, 3, "a") FP_ITEM(3, 9, "c") "$ OK Fetch completed\r\n")

#define DELE_1_3 \
	SAY("DELE 1"), HEAR("+OK Message 1 deleted"), \
	SAY("DELE 3"), HEAR("+OK Message 3 deleted")

static const struct client_step hear_close[] = {
	HEAR_CLOSE(),
	CLIENT_END,
};
/* DELE 1 and 3, QUIT, +OK. */
static const struct client_step deletes_1_3_quits[] = {
	GREETING,
	USER_PASS,
	LOGGED_IN_THREE,
	DELE_1_3,
	SAY("QUIT"),
	BYE,
	CLIENT_END,
};
/* Those two hidden: their fingerprints, then LOGOUT. */
static const struct peer_step up_hides_3_9[] = {
	UP_SESSION_THREE,
	UP_FP_3_9,
	UP_LOGOUT,
	END_SCRIPT,
};

/* The state store down and back with its data: an append-only file. */
static void redis_with_aof(void)
{
	raw_close();
	redis_kill(SIGKILL);
	RUN_UNTIL(!cache_available(fx.srv.cache));
	redis_appendonly = true;
	redis_start();
	RUN_UNTIL(cache_available(fx.srv.cache));
}

START_TEST(quit_without_dele_logs_out)
{
	upstream(up_three_logout);
	pop3_connect(logs_in_quits);
	DIALOGUE_DONE();
	RUN_UNTIL(fx.srv.sessions == 0);
	RUN_UNTIL(!lock_held("default"));
	ck_assert_str_eq(hidden_uids("hidden:default", NULL), "");
	ck_assert_ptr_nonnull(strstr(fx_log(), "dele=0 bytes_out="));
	ck_assert_ptr_nonnull(strstr(fx_log(), "reason=quit"));
}
END_TEST

/* A server that answers LOGOUT with BYE and just closes: the changes were
   durable before it, so +OK all the same. */
START_TEST(quit_with_logout_answered_by_a_close)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		UP_FP_3_9,
		EXPECT("* LOGOUT"),
		SEND("* BYE Logging out\r\n"),
		CLOSE(),
		END_SCRIPT,
	};

	upstream(imap);
	pop3_connect(deletes_1_3_quits);
	DIALOGUE_DONE();
	ck_assert_str_eq(hidden_uids("hidden:default", NULL), "3 9");
	ck_assert_ptr_null(strstr(fx_log(), "event=upstream_error"));
}
END_TEST

/* hide: the fingerprints, one write to the state store, then LOGOUT and
   +OK; the next session of this device no longer lists them, another
   device does. */
START_TEST(quit_hides_for_this_device)
{
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		DELE_1_3,
		SAY("QUIT"),
		HEAR("+OK popgate signing off"),
		CLIENT_END,
	};
	static const struct client_step pop3_again[] = {
		GREETING,
		USER_PASS,
		HEAR("+OK Logged in, 1 messages (250 octets)"),
		SAY("UIDL"),
		HEAR("+OK Unique-ID listing follows"),
		HEAR_BYTES("1 0000000500000007\r\n.\r\n"),
		CLIENT_END,
	};
	static const struct client_step pop3_phone[] = {
		GREETING,
		SAY("USER " ALICE "#phone"),
		HEAR("+OK"),
		SAY("PASS secret"),
		LOGGED_IN_THREE,
		CLIENT_END,
	};
	struct pop3_client *c;
	unsigned int fps;

	upstream(up_hides_3_9);
	c = pop3_connect(pop3);
	RUN_UNTIL(c->finished);
	/* The +OK came: the hide is in the store already. */
	ck_assert_str_eq(hidden_uids("hidden:default", &fps), "3 9");
	ck_assert_uint_eq(fps, 2);
	ck_assert_int_eq(raw_int("EXISTS %s", fx_key("hidden_all")), 0);
	client_script(c, hear_close);
	DIALOGUE_DONE();
	RUN_UNTIL(!lock_held("default"));

	upstream(up_three_known);
	pop3_connect(pop3_again);
	DIALOGUE_DONE();
	upstream(up_three_known);
	pop3_connect(pop3_phone);
	DIALOGUE_DONE();
}
END_TEST

START_TEST(quit_hide_all_hides_for_every_device)
{
	static const struct client_step pop3_phone[] = {
		GREETING,
		SAY("USER " ALICE "#phone"),
		HEAR("+OK"),
		SAY("PASS secret"),
		HEAR("+OK Logged in, 1 messages (250 octets)"),
		CLIENT_END,
	};
	unsigned int fps;

	fx_conf()->delete_action = fx_conf()->policy_profile.delete_action = CONF_DELETE_HIDE_ALL;
	upstream(up_hides_3_9);
	pop3_connect(deletes_1_3_quits);
	DIALOGUE_DONE();
	ck_assert_str_eq(hidden_uids("hidden_all", &fps), "3 9");
	ck_assert_uint_eq(fps, 2);
	ck_assert_str_eq(hidden_uids("hidden:default", NULL), "");
	upstream(up_three_known);
	pop3_connect(pop3_phone);
	DIALOGUE_DONE();
}
END_TEST

/* trash with MOVE: the SPECIAL-USE \Trash, whatever its name. */
START_TEST(quit_moves_to_the_special_use_trash)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* LIST (SPECIAL-USE) \"\" \"*\""),
		SEND("* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
		     "* LIST (\\HasNoChildren \\Trash) \"/\" \"Deleted Items\"\r\n"
		     "$ OK List completed\r\n"),
		EXPECT("* UID MOVE 5 \"Deleted Items\""),
		SEND("* OK [COPYUID 9 5 1] Moved\r\n* 2 EXPUNGE\r\n$ OK Move completed\r\n"),
		UP_LOGOUT,
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("DELE 2"),
		HEAR("+OK Message 2 deleted"),
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};

	fx_conf()->delete_action = fx_conf()->policy_profile.delete_action = CONF_DELETE_TRASH;
	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	/* Moved upstream: nothing for the state store to hide. */
	ck_assert_str_eq(hidden_uids("hidden:default", NULL), "");
	RUN_UNTIL(!lock_held("default"));
}
END_TEST

/* expunge with UIDPLUS: only these messages, never a plain EXPUNGE. */
START_TEST(quit_expunges_only_the_deleted)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* UID STORE 3,9 +FLAGS.SILENT (\\Deleted)"),
		SEND("$ OK Store completed\r\n"),
		EXPECT("* UID EXPUNGE 3,9"),
		SEND("* 3 EXPUNGE\r\n* 1 EXPUNGE\r\n$ OK Expunge completed\r\n"),
		UP_LOGOUT,
		END_SCRIPT,
	};

	fx_conf()->delete_action = fx_conf()->policy_profile.delete_action = CONF_DELETE_EXPUNGE;
	upstream(imap);
	pop3_connect(deletes_1_3_quits);
	DIALOGUE_DONE();
}
END_TEST

/* The trash refused: -ERR saying so, no LOGOUT pretending all is well. */
START_TEST(quit_with_the_move_refused_is_an_error)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* UID MOVE 5 \"Trash\""),
		SEND("$ NO [OVERQUOTA] Trash is full\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("DELE 2"),
		HEAR("+OK Message 2 deleted"),
		SAY("QUIT"),
		HEAR("-ERR [SYS/TEMP] The upstream server refused to move the deleted messages: "
		     "0 of 1 were moved to the Trash, the other 1 stay in the mailbox"),
		HEAR_CLOSE(),
		CLIENT_END,
	};

	fx_conf()->delete_action = fx_conf()->policy_profile.delete_action = CONF_DELETE_TRASH;
	fx_conf()->trash_mailbox = strdup("Trash");
	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	RUN_UNTIL(!lock_held("default"));
}
END_TEST

/* The client goes (FIN, or a reset) while UPDATE waits for the upstream:
   the change is still applied, and the lock released. */
START_TEST(client_gone_during_update_still_applies)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* UID FETCH 3,9 (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS "
		       "(MESSAGE-ID DATE FROM SUBJECT)])"),
		PAUSE(150),
		SEND(FP_ITEM(1, 3, "a") FP_ITEM(3, 9, "c") "$ OK Fetch completed\r\n"),
		UP_LOGOUT,
		END_SCRIPT,
	};
	const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		DELE_1_3,
		SAY("QUIT"),
		WAIT(30),
		{ C_HANG_UP, NULL, 0, (unsigned int)_i },
		CLIENT_END,
	};
	struct imap_peer *p = upstream(imap);

	pop3_connect(pop3);
	DIALOGUE_DONE();
	/* It hung up before the upstream answered. */
	ck_assert(fx.clients[0].hung_up);
	RUN_UNTIL(fx.srv.sessions == 0);
	ck_assert(p->finished);
	ck_assert_str_eq(hidden_uids("hidden:default", NULL), "3 9");
	RUN_UNTIL(!lock_held("default"));
}
END_TEST

/* The state store fails at QUIT, after the fingerprints: */
static const struct peer_step up_fingerprints[] = {
	UP_SESSION_THREE,
	UP_FP_3_9,
	END_SCRIPT,
};
static const struct client_step logs_in_deletes[] = {
	GREETING,
	USER_PASS,
	LOGGED_IN_THREE,
	DELE_1_3,
	CLIENT_END,
};

/* Redis gone at QUIT: -ERR [SYS/TEMP], nothing applied; the unlock is
   sent once it is back, and the next login sees every message. */
START_TEST(state_store_down_at_quit_applies_nothing)
{
	static const struct client_step quit[] = {
		SAY("QUIT"),
		HEAR("-ERR [SYS/TEMP] Device state unavailable; the deletions were applied "
		     "entirely or not at all, log in again to see which"),
		HEAR_CLOSE(),
		CLIENT_END,
	};
	struct pop3_client *c;

	redis_with_aof();
	upstream(up_fingerprints);
	c = pop3_connect(logs_in_deletes);
	RUN_UNTIL(c->finished);
	ck_assert(lock_held("default"));
	raw_close();
	redis_kill(SIGKILL);
	client_script(c, quit);
	DIALOGUE_DONE();
	RUN_UNTIL(fx.srv.sessions == 0);

	redis_start();
	RUN_UNTIL(cache_available(fx.srv.cache));
	ck_assert_str_eq(hidden_uids("hidden:default", NULL), "");
	RUN_UNTIL(!lock_held("default"));
	upstream(up_three_known);
	pop3_connect(logs_in_three);
	DIALOGUE_DONE();
}
END_TEST

/* Redis hung at QUIT: the write times out, its outcome unknown: after
   the -ERR, the store holds all of it or none of it. */
START_TEST(state_store_hung_at_quit_is_all_or_nothing)
{
	static const struct client_step quit[] = {
		SAY("QUIT"),
		HEAR_PREFIX("-ERR [SYS/TEMP] Device state unavailable"),
		HEAR_CLOSE(),
		CLIENT_END,
	};
	struct pop3_client *c;
	const char *hidden;

	upstream(up_fingerprints);
	c = pop3_connect(logs_in_deletes);
	RUN_UNTIL(c->finished);
	redis_kill(SIGSTOP);
	client_script(c, quit);
	DIALOGUE_DONE();
	redis_kill(SIGCONT);
	RUN_UNTIL(fx.srv.sessions == 0);
	hidden = hidden_uids("hidden:default", NULL);
	ck_assert_msg(strcmp(hidden, "") == 0 || strcmp(hidden, "3 9") == 0,
		      "half applied: %s", hidden);
	RUN_UNTIL(!lock_held("default"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pop3_quit");
	TCase *tc = fx_tcase("quit");

	tcase_add_test(tc, quit_without_dele_logs_out);
	tcase_add_test(tc, quit_hides_for_this_device);
	tcase_add_test(tc, quit_with_logout_answered_by_a_close);
	tcase_add_test(tc, quit_hide_all_hides_for_every_device);
	tcase_add_test(tc, quit_moves_to_the_special_use_trash);
	tcase_add_test(tc, quit_expunges_only_the_deleted);
	tcase_add_test(tc, quit_with_the_move_refused_is_an_error);
	tcase_add_loop_test(tc, client_gone_during_update_still_applies, 0, 2);
	tcase_add_test(tc, state_store_down_at_quit_applies_nothing);
	tcase_add_test(tc, state_store_hung_at_quit_is_all_or_nothing);
	suite_add_tcase(s, tc);
	return fx_run(s);
}
