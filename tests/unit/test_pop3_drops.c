/* The upstream connection dropped at each step of the login: the client
   gets -ERR [SYS/TEMP], nothing stays locked in the state store, the
   session is back in AUTHORIZATION and the next login works. */

#include "pop3_fixture.h"

/* The fingerprint fetch of the re-map of UIDs 3, 5, 9. */
#define UP_FP_EXPECT \
	EXPECT("* UID FETCH 3,5,9 (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS " \
	       "(MESSAGE-ID DATE FROM SUBJECT)])")

static const struct peer_step at_greeting[] = {
	CLOSE(),
	END_SCRIPT,
};

static const struct peer_step mid_greeting[] = {
	SEND("* OK [CAPABILITY IMAP4rev1 SA"),
	CLOSE(),
	END_SCRIPT,
};

static const struct peer_step at_login[] = {
	UP_GREETING,
	EXPECT("* AUTHENTICATE PLAIN " ALICE_B64),
	CLOSE(),
	END_SCRIPT,
};

static const struct peer_step at_select[] = {
	UP_GREETING,
	UP_LOGIN,
	EXPECT("* SELECT \"INBOX\""),
	/* the listing, asked for right behind it */
	EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
	SEND("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n"),
	CLOSE(),
	END_SCRIPT,
};

static const struct peer_step mid_listing[] = {
	UP_GREETING,
	UP_LOGIN,
	UP_SELECT("3"),
	EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
	SEND("* 1 FETCH (UID 3 RFC822.SIZE 120 FLAGS ())\r\n* 2 FETCH (UID 5 RFC8"),
	CLOSE(),
	END_SCRIPT,
};

/* After the lock: the stored UIDVALIDITY is 6, the mailbox's 7. */
static const struct peer_step mid_remap[] = {
	UP_GREETING, UP_LOGIN, UP_THREE_KNOWN,
	UP_FP_EXPECT,
	SEND("* 1 FETCH (UID 3 INTERNALDATE \"01-Jan-2024 10:00:00 +0000\" "
	     "BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] {21}\r\n"
	     "Message-ID: <a@x>\r\n\r\n)\r\n"),
	CLOSE(),
	END_SCRIPT,
};

static const struct peer_step retry_remap[] = {
	UP_GREETING, UP_LOGIN, UP_THREE_KNOWN,
	UP_FP_EXPECT,
	SEND("* 1 FETCH (UID 3 INTERNALDATE \"01-Jan-2024 10:00:00 +0000\" "
	     "BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] {21}\r\n"
	     "Message-ID: <a@x>\r\n\r\n)\r\n"
	     "* 2 FETCH (UID 5 INTERNALDATE \"01-Jan-2024 11:00:00 +0000\" "
	     "BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] {35}\r\n"
	     "Message-ID: <b@x>\r\nSubject: two\r\n\r\n)\r\n"
	     "* 3 FETCH (UID 9 INTERNALDATE \"01-Jan-2024 12:00:00 +0000\" "
	     "BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] NIL)\r\n"
	     "$ OK Fetch completed\r\n"),
	/* Nothing stored under the old numbering: every UIDL is new. */
	UP_FPS("3,5,9"),
	END_SCRIPT,
};

/* While the new messages' fingerprints come, for their UIDLs. */
static const struct peer_step mid_uidl[] = {
	UP_GREETING, UP_LOGIN, UP_THREE_KNOWN,
	UP_FP_EXPECT,
	SEND("* 1 FETCH (UID 3 INTERNALDATE \"01-Jan-2024 10:00:00 +0000\" "
	     "BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] {21}\r\n"
	     "Message-ID: <a@x>\r\n"),
	CLOSE(),
	END_SCRIPT,
};

static const struct drop_case {
	const char *step;
	const struct peer_step *script;
	const char *reply;
	bool prefix;           /* reply is the start of the line (the cause follows) */
	bool recreated;        /* the state store has UIDVALIDITY 6 */
	const struct peer_step *retry;
} drops[] = {
	{ "greeting", at_greeting, "-ERR [SYS/TEMP] Upstream server unavailable (127.0.0.1:",
	  true, false, up_three },
	{ "mid-greeting", mid_greeting,
	  "-ERR [SYS/TEMP] Upstream server unavailable (127.0.0.1:", true, false, up_three },
	{ "login", at_login, "-ERR [SYS/TEMP] Upstream server failed", false, false, up_three },
	{ "select", at_select, "-ERR [SYS/TEMP] Upstream server failed", false, false,
	  up_three },
	{ "listing", mid_listing, "-ERR [SYS/TEMP] Cannot list the mailbox", false, false,
	  up_three },
	{ "remap", mid_remap,
	  "-ERR [SYS/TEMP] Upstream failed while following the recreated mailbox", false, true,
	  retry_remap },
	{ "uidl", mid_uidl, "-ERR [SYS/TEMP] Upstream failed while assigning UIDLs", false, false,
	  up_three },
};

START_TEST(upstream_drop_fails_the_login_cleanly)
{
	const struct drop_case *d = &drops[_i];
	const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		{ d->prefix ? C_HEAR_PREFIX : C_HEAR, d->reply, strlen(d->reply), 0 },
		SAY("STAT"),
		HEAR("-ERR Command not valid in this state"),
		CLIENT_END,
	};
	static const struct client_step again[] = {
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("STAT"),
		HEAR("+OK 3 1370"),
		CLIENT_END,
	};
	struct pop3_client *c;

	if (d->recreated)
		freeReplyObject(raw_cmd("SET %s 6", fx_key("uidvalidity")));
	upstream(d->script);
	c = pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_msg(fx_session()->state == POP3_STATE_AUTHORIZATION, "dropped at %s", d->step);
	ck_assert_ptr_null(fx_session()->drop);
	ck_assert_ptr_null(fx_session()->dev);
	RUN_UNTIL(!lock_held("default"));

	upstream(d->retry);
	client_script(c, again);
	DIALOGUE_DONE();
	ck_assert(lock_held("default"));
	if (d->recreated) {
		redisReply *r = raw_cmd("GET %s", fx_key("uidvalidity"));

		ck_assert_str_eq(r->str, "7");
		freeReplyObject(r);
	}
}
END_TEST

/* Dropped while the client sits in TRANSACTION: the next command that
   needs the upstream fails, and the session ends without applying DELE. */
START_TEST(upstream_drop_in_transaction_applies_nothing)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		CLOSE(),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		CLIENT_END,
	};
	static const struct client_step retr[] = {
		SAY("DELE 1"),
		HEAR_PREFIX("-ERR [SYS/TEMP] Upstream connection lost"),
		HEAR_CLOSE(),
		CLIENT_END,
	};
	struct imap_peer *p = upstream(imap);
	struct pop3_client *c = pop3_connect(pop3);

	DIALOGUE_DONE();
	RUN_UNTIL(p->bev == NULL);
	fx_run_for(20);
	client_script(c, retr);
	DIALOGUE_DONE();
	RUN_UNTIL(fx.srv.sessions == 0);
	ck_assert_str_eq(hidden_uids("hidden:default", NULL), "");
	RUN_UNTIL(!lock_held("default"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pop3_drops");
	TCase *tc = fx_tcase("drops");

	tcase_add_loop_test(tc, upstream_drop_fails_the_login_cleanly, 0,
			    sizeof(drops) / sizeof(drops[0]));
	tcase_add_test(tc, upstream_drop_in_transaction_applies_nothing);
	suite_add_tcase(s, tc);
	return fx_run(s);
}
