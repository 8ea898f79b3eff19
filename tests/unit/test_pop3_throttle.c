/* Provider throttling dialogues: the upstream answers [THROTTLED],
   [UNAVAILABLE], a connection cap or BYE at login, SELECT or the greeting;
   the client hears [SYS/TEMP] at once, the next login within the back-off
   never reaches the upstream, the one after it does, and a success ends
   the back-off. */

#include "pop3_fixture.h"
#include "throttle.h"

/* Long enough that a loaded machine answers well inside it. */
#define BACKOFF_MS 1000

static const struct client_step throttled[] = {
	GREETING,
	USER_PASS,
	HEAR(POP3_THROTTLE_REPLY),
	CLIENT_END,
};
static const struct client_step again_throttled[] = {
	USER_PASS,
	HEAR(POP3_THROTTLE_REPLY),
	CLIENT_END,
};
static const struct client_step again_logs_in[] = {
	USER_PASS,
	LOGGED_IN_THREE,
	CLIENT_END,
};

static void short_backoff(void)
{
	fx_conf()->upstream->throttle_backoff_ms = BACKOFF_MS;
	fx_conf()->upstream->throttle_backoff_max_ms = 8 * BACKOFF_MS;
}

/* Throttled by the script's peer (the first connection), then: refused
   at once without a connection during the back-off, let through after
   it (the second connection logs in). */
static void throttled_then_backs_off(const struct peer_step *script, const char *code)
{
	struct pop3_client *c;
	long long started, answered;

	short_backoff();
	upstream(script);
	upstream(up_three);
	c = pop3_connect(throttled);
	RUN_UNTIL(c->finished);
	started = peer_now_ms();
	ck_assert_uint_eq(fx.up_conns, 1);
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=upstream_throttled"));
	ck_assert_ptr_nonnull(strstr(fx_log(), code));
	ck_assert_int_eq(fx_session()->state, POP3_STATE_AUTHORIZATION);

	/* Within the back-off: answered from memory, nobody connects. */
	client_script(c, again_throttled);
	RUN_UNTIL(c->finished);
	answered = peer_now_ms();
	fx_run_for(50);
	ck_assert_uint_eq(fx.up_conns, 1);
	ck_assert_int_lt(answered - started, BACKOFF_MS);

	/* After it: the upstream is asked again, and the login works. */
	fx_run_for((unsigned int)(BACKOFF_MS - (peer_now_ms() - started) + 20));
	client_script(c, again_logs_in);
	RUN_UNTIL(c->finished);
	ck_assert_uint_eq(fx.up_conns, 2);
	DIALOGUE_DONE();
	/* The success forgot the account's level. */
	ck_assert_uint_eq(limits_table_entries(fx.srv.limits, LIMITS_THROTTLE), 0);
}

START_TEST(throttled_at_login)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		EXPECT("* AUTHENTICATE PLAIN " ALICE_B64),
		SEND("$ NO [THROTTLED] Too many logins, slow down\r\n"),
		END_SCRIPT,
	};

	throttled_then_backs_off(imap, "code=throttled step=authenticate");
}
END_TEST

/* RFC 5530's own codes: not the password's fault, never [AUTH]. */
START_TEST(unavailable_at_login)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		EXPECT("* AUTHENTICATE PLAIN " ALICE_B64),
		SEND("$ NO [UNAVAILABLE] Backend down\r\n"),
		END_SCRIPT,
	};

	throttled_then_backs_off(imap, "code=unavailable step=authenticate");
}
END_TEST

START_TEST(limit_at_select)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		UP_LOGIN,
		EXPECT("* SELECT \"INBOX\""),
		SEND("$ NO [LIMIT] Too many sessions of this account\r\n"),
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		END_SCRIPT,
	};

	throttled_then_backs_off(imap, "code=limit step=select");
}
END_TEST

START_TEST(unavailable_at_select)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		UP_LOGIN,
		EXPECT("* SELECT \"INBOX\""),
		SEND("$ NO [UNAVAILABLE] Mailbox busy\r\n"),
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		END_SCRIPT,
	};

	throttled_then_backs_off(imap, "code=unavailable step=select");
}
END_TEST

/* Gmail says its connection cap in words, under [ALERT]: a wrong password
   it is not. */
START_TEST(gmail_connection_cap_at_login)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		EXPECT("* AUTHENTICATE PLAIN " ALICE_B64),
		SEND("$ NO [ALERT] Too many simultaneous connections. (Failure)\r\n"),
		END_SCRIPT,
	};

	throttled_then_backs_off(imap, "code=connections step=authenticate");
}
END_TEST

/* A server at its connection cap greets with BYE. */
START_TEST(bye_at_greeting)
{
	static const struct peer_step imap[] = {
		SEND("* BYE Server busy, come back later\r\n"),
		CLOSE(),
		END_SCRIPT,
	};

	throttled_then_backs_off(imap, "code=connections step=connect");
}
END_TEST

/* Dovecot's per-user cap: BYE after the login, then the connection
   ends; the BYE's words tell it from a crash. */
START_TEST(bye_after_login)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		EXPECT("* AUTHENTICATE PLAIN " ALICE_B64),
		SEND("* BYE Maximum number of connections from user+IP exceeded "
		     "(mail_max_userip_connections=10)\r\n"),
		CLOSE(),
		END_SCRIPT,
	};

	throttled_then_backs_off(imap, "code=connections step=authenticate");
}
END_TEST

/* Further throttle answers after a back-off double it; other accounts
   are not held; a plain NO is still a wrong password. */
START_TEST(backoff_grows_and_is_per_account)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		EXPECT("* AUTHENTICATE PLAIN " ALICE_B64),
		SEND("$ NO [THROTTLED] slow down\r\n"),
		END_SCRIPT,
	};
	static const struct peer_step bob[] = {
		UP_GREETING,
		EXPECT("* AUTHENTICATE PLAIN AGJvYkBleGFtcGxlLmNvbQBzZWNyZXQ="),
		SEND("$ NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"),
		END_SCRIPT,
	};
	static const struct client_step bob_fails[] = {
		SAY("USER bob@example.com"), HEAR("+OK"), SAY("PASS secret"),
		HEAR("-ERR [AUTH] Authentication failed"),
		CLIENT_END,
	};
	struct pop3_client *c;
	long long second;

	short_backoff();
	upstream(imap);
	upstream(imap);
	upstream(bob);
	c = pop3_connect(throttled);
	RUN_UNTIL(c->finished);
	fx_run_for(BACKOFF_MS + 20);
	client_script(c, again_throttled);
	RUN_UNTIL(c->finished);
	second = peer_now_ms();
	ck_assert_uint_eq(fx.up_conns, 2);
	ck_assert_ptr_nonnull(strstr(fx_log(), "backoff_ms=2000"));
	/* Past the first back-off's length, still within the second's. */
	fx_run_for(BACKOFF_MS + 50);
	client_script(c, again_throttled);
	RUN_UNTIL(c->finished);
	ck_assert_uint_eq(fx.up_conns, 2);
	ck_assert_int_lt(peer_now_ms() - second, 2 * BACKOFF_MS);
	/* bob is asked upstream, and his wrong password is [AUTH]. */
	client_script(c, bob_fails);
	RUN_UNTIL(c->finished);
	ck_assert_uint_eq(fx.up_conns, 3);
	DIALOGUE_DONE();
}
END_TEST

/* throttle_backoff = 0: the answer is still [SYS/TEMP], nothing is held. */
START_TEST(backoff_off_holds_nothing)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		EXPECT("* AUTHENTICATE PLAIN " ALICE_B64),
		SEND("$ NO [THROTTLED] slow down\r\n"),
		END_SCRIPT,
	};
	struct pop3_client *c;

	fx_conf()->upstream->throttle_backoff_ms = 0;
	upstream(imap);
	upstream(up_three);
	c = pop3_connect(throttled);
	RUN_UNTIL(c->finished);
	client_script(c, again_logs_in);
	RUN_UNTIL(c->finished);
	ck_assert_uint_eq(fx.up_conns, 2);
	DIALOGUE_DONE();
}
END_TEST

/* shared_limits: a back-off that starts is marked in the store for as
   long; another gateway's mark holds the account here too, without an
   upstream connection, until it expires. */
START_TEST(shared_mark_written_and_obeyed)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		EXPECT("* AUTHENTICATE PLAIN " ALICE_B64),
		SEND("$ NO [THROTTLED] slow down\r\n"),
		END_SCRIPT,
	};
	struct pop3_client *c;
	long long pttl;
	char account[128];

	short_backoff();
	fx_conf()->shared_limits = true;
	upstream(imap);
	upstream(up_three);
	c = pop3_connect(throttled);
	RUN_UNTIL(c->finished);
	RUN_UNTIL(raw_int("EXISTS %s", fx_key("throttled")) == 1);
	pttl = raw_int("PTTL %s", fx_key("throttled"));
	ck_assert_int_gt(pttl, 0);
	ck_assert_int_le(pttl, BACKOFF_MS);
	/* As another gateway sees it: this one forgets its own record, the
	   store's mark (made longer) still holds the account. */
	snprintf(account, sizeof(account), ALICE "@127.0.0.1:%u", fx.up_port);
	ck_assert_uint_eq(limits_table_entries(fx.srv.limits, LIMITS_THROTTLE), 1);
	limits_throttle_clear(fx.srv.limits, account);
	ck_assert_uint_eq(limits_table_entries(fx.srv.limits, LIMITS_THROTTLE), 0);
	freeReplyObject(raw_cmd("PEXPIRE %s %s", fx_key("throttled"), "3000"));
	fx_run_for(BACKOFF_MS + 20);
	client_script(c, again_throttled);
	RUN_UNTIL(c->finished);
	ck_assert_uint_eq(fx.up_conns, 1);
	/* The mark gone: the upstream is asked, the login works. */
	raw_int("DEL %s", fx_key("throttled"));
	client_script(c, again_logs_in);
	RUN_UNTIL(c->finished);
	ck_assert_uint_eq(fx.up_conns, 2);
	DIALOGUE_DONE();
}
END_TEST

/* With the store down the local table decides alone: the mark cannot be
   read, the upstream is asked at once (the login then fails for want of
   the device state, as any login does). */
START_TEST(shared_store_down_local_decides)
{
	static const struct peer_step imap[] = {
		UP_GREETING, UP_LOGIN, UP_THREE_KNOWN,
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR_PREFIX("-ERR [SYS/TEMP] Device state unavailable"),
		CLIENT_END,
	};
	struct pop3_client *c;

	short_backoff();
	fx_conf()->shared_limits = true;
	upstream(imap);
	freeReplyObject(raw_cmd("SET %s 1 PX %s", fx_key("throttled"), "60000"));
	fx_freeze_conf();
	RUN_UNTIL(cache_available(fx.srv.cache));
	redis_kill(SIGKILL);
	RUN_UNTIL(!cache_available(fx.srv.cache));
	c = pop3_connect(pop3);
	RUN_UNTIL(c->finished);
	ck_assert_uint_eq(fx.up_conns, 1);
	DIALOGUE_DONE();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pop3_throttle");
	TCase *tc = fx_tcase("throttle");

	tcase_add_test(tc, throttled_at_login);
	tcase_add_test(tc, unavailable_at_login);
	tcase_add_test(tc, limit_at_select);
	tcase_add_test(tc, unavailable_at_select);
	tcase_add_test(tc, gmail_connection_cap_at_login);
	tcase_add_test(tc, bye_at_greeting);
	tcase_add_test(tc, bye_after_login);
	tcase_add_test(tc, backoff_grows_and_is_per_account);
	tcase_add_test(tc, backoff_off_holds_nothing);
	tcase_add_test(tc, shared_mark_written_and_obeyed);
	tcase_add_test(tc, shared_store_down_local_decides);
	suite_add_tcase(s, tc);
	return fx_run(s);
}
