/* Dialogue tests for imap_client_login(): the mechanism and its syntax,
   ID before it, the post-login capabilities, ENABLE UTF8=ACCEPT after it. */

#include "imap_client_fixture.h"
#include "imap_client_private.h"

#define CAPS_PLAIN_IR "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n"
#define CAPS_PLAIN "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"
#define CAPS_LOGIN "* OK [CAPABILITY IMAP4rev1] ready\r\n"
/* base64 of "\0alice\0secret" */
#define ALICE_B64 "AGFsaWNlAHNlY3JldA=="
#define AUTH_ALICE "p1 AUTHENTICATE PLAIN " ALICE_B64

/* The dialogue in script with one login, "L", done by its end. */
static void run_login(const struct peer_step *script, const char *user,
		      const char *pass)
{
	start_ready(script);
	login("L", user, pass);
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
}

static struct rec *login_oauth(const char *name, enum imap_oauth_mech mech, const char *user,
			       const char *token)
{
	struct rec *r = rec_new(name);
	const char *error = NULL;
	bool was = in_call;
	int ret;

	in_call = true;
	ret = imap_client_login_oauth(client, mech, user, strlen(user), token, strlen(token),
				      "imap.test", 993, &rec_handlers, r, &error);
	in_call = was;
	ck_assert_msg(ret == 0, "oauth login refused: %s", error);
	return r;
}

/* ---- OAuth2 mechanisms ---- */

#define XOAUTH2_B64 "dXNlcj1hbGljZUBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnRvay1FTl9+Ky89AQE="
#define BEARER_B64 "bixhPWFsPTJDaWNlPTNELAFob3N0PWltYXAudGVzdAFwb3J0PTk5MwFhdXRoPUJlYXJlciB0b2sBAQ=="
#define CHALLENGE_B64 "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ=="

START_TEST(xoauth2_with_sasl_ir)
{
	static const struct peer_step script[] = {
		SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n"),
		EXPECT("p1 AUTHENTICATE XOAUTH2 " XOAUTH2_B64),
		SEND("p1 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
		END_SCRIPT,
	};

	start_ready(script);
	login_oauth("L", IMAP_OAUTH_XOAUTH2, "alice@example.com", "ya29.tok-EN_~+/=");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "L OK [CAPABILITY IMAP4rev1] Logged in\n");
	ck_assert_ptr_null(strstr(log_text(), "ya29"));
	ck_assert_ptr_null(strstr(log_text(), XOAUTH2_B64));
	ck_assert_str_eq(imap_client_sasl_challenge(client), "");
}
END_TEST

/* The error path: the challenge is answered with an empty line, then NO;
   the challenge is kept for the caller. */
START_TEST(xoauth2_error_challenge_without_sasl_ir)
{
	static const struct peer_step script[] = {
		SEND("* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready\r\n"),
		EXPECT("p1 AUTHENTICATE XOAUTH2"),
		QUIET(50),
		SEND("+ \r\n"),
		EXPECT(XOAUTH2_B64),
		SEND("+ " CHALLENGE_B64 "\r\n"),
		EXPECT(""),
		SEND("p1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"),
		END_SCRIPT,
	};

	start_ready(script);
	login_oauth("L", IMAP_OAUTH_XOAUTH2, "alice@example.com", "ya29.tok-EN_~+/=");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "L NO [AUTHENTICATIONFAILED] Invalid credentials\n");
	ck_assert_str_eq(imap_client_sasl_challenge(client),
			 "{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":"
			 "\"https://mail.google.com/\"}");
}
END_TEST

START_TEST(oauthbearer_error_challenge_gets_ctrl_a)
{
	static const struct peer_step script[] = {
		SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] ready\r\n"),
		EXPECT("p1 AUTHENTICATE OAUTHBEARER " BEARER_B64),
		SEND("+ " CHALLENGE_B64 "\r\n"),
		EXPECT("AQ=="),
		SEND("p1 NO Invalid\r\n"),
		END_SCRIPT,
	};

	start_ready(script);
	login_oauth("L", IMAP_OAUTH_OAUTHBEARER, "al,ice=", "tok");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "L NO Invalid\n");
}
END_TEST

/* A second "+" after the answer is a protocol violation: the connection
   fails rather than loop. */
START_TEST(oauth_second_challenge_fails)
{
	static const struct peer_step script[] = {
		SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n"),
		EXPECT("p1 AUTHENTICATE XOAUTH2 " XOAUTH2_B64),
		SEND("+ " CHALLENGE_B64 "\r\n"),
		EXPECT(""),
		SEND("+ " CHALLENGE_B64 "\r\n"),
		END_SCRIPT,
	};

	start_ready(script);
	login_oauth("L", IMAP_OAUTH_XOAUTH2, "alice@example.com", "ya29.tok-EN_~+/=");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	peer_run_for(&peer, 0);
	ck_assert_msg(strstr(events, "L FAILED") != NULL, "%s", events);
}
END_TEST

START_TEST(oauth_refused_without_mechanism)
{
	static const struct peer_step script[] = {
		SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2] ready\r\n"),
		END_SCRIPT,
	};
	const char *error = NULL;
	struct rec *r;

	start_ready(script);
	r = rec_new("L");
	ck_assert_int_eq(imap_client_login_oauth(client, IMAP_OAUTH_OAUTHBEARER, "a", 1, "t", 1,
						 "h", 1, &rec_handlers, r, &error), -1);
	ck_assert_str_eq(error, "upstream does not offer AUTH=OAUTHBEARER");
	ck_assert_int_eq(imap_client_login_oauth(client, IMAP_OAUTH_XOAUTH2, "a", 1, "t k", 3,
						 "h", 1, &rec_handlers, r, &error), -1);
	ck_assert_str_eq(error, "access token is not a b64token");
	ck_assert_int_eq(imap_client_login_oauth(client, IMAP_OAUTH_XOAUTH2, "a\001", 2, "t", 1,
						 "h", 1, &rec_handlers, r, &error), -1);
	ck_assert_str_eq(error, "control character in user name");
	PEER_FINISH(&peer);
}
END_TEST

/* ---- mechanisms ---- */

START_TEST(authenticate_plain_with_sasl_ir_is_one_line)
{
	static const struct peer_step script[] = {
		SEND(CAPS_PLAIN_IR),
		EXPECT(AUTH_ALICE),
		SEND("p1 OK [CAPABILITY IMAP4rev1 MOVE] Logged in\r\n"),
		END_SCRIPT,
	};

	run_login(script, "alice", "secret");
	EXPECT_EVENTS("connect ok\n"
		      "L OK [CAPABILITY IMAP4rev1 MOVE] Logged in\n");
	ck_assert_uint_eq(imap_client_caps(client), IMAP_CAP_MOVE);
	ck_assert_ptr_null(strstr(log_text(), "secret"));
	ck_assert_ptr_null(strstr(log_text(), ALICE_B64));
}
END_TEST

START_TEST(authenticate_plain_waits_for_continuation)
{
	static const struct peer_step script[] = {
		SEND(CAPS_PLAIN),
		EXPECT("p1 AUTHENTICATE PLAIN"),
		QUIET(50),
		SEND("+ \r\n"),
		EXPECT(ALICE_B64),
		SEND("p1 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
		END_SCRIPT,
	};

	run_login(script, "alice", "secret");
	EXPECT_EVENTS("connect ok\n"
		      "L OK [CAPABILITY IMAP4rev1] Logged in\n");
}
END_TEST

START_TEST(login_waits_for_continuation_between_literals)
{
	static const struct peer_step script[] = {
		SEND(CAPS_LOGIN),
		EXPECT("p1 LOGIN {5}"),
		QUIET(50),
		SEND("+ Ready for literal data\r\n"),
		EXPECT_BYTES("alice"),
		EXPECT(" {6}"),
		QUIET(50),
		SEND("+\r\n"),
		EXPECT_BYTES("secret"),
		EXPECT(""),
		SEND("p1 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
		END_SCRIPT,
	};

	run_login(script, "alice", "secret");
	EXPECT_EVENTS("connect ok\n"
		      "L OK [CAPABILITY IMAP4rev1] Logged in\n");
}
END_TEST

/* No "+" ever comes: the whole command must arrive without one. */
static const struct {
	struct peer_step script[8];
} nonsync_logins[] = {
	{ { SEND("* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"),
	    EXPECT("p1 LOGIN {5+}"), EXPECT_BYTES("alice"), EXPECT(" {6+}"),
	    EXPECT_BYTES("secret"), EXPECT(""),
	    SEND("p1 OK [CAPABILITY IMAP4rev1] Logged in\r\n"), END_SCRIPT } },
	{ { SEND("* OK [CAPABILITY IMAP4rev1 LITERAL-] ready\r\n"),
	    EXPECT("p1 LOGIN {5+}"), EXPECT_BYTES("alice"), EXPECT(" {6+}"),
	    EXPECT_BYTES("secret"), EXPECT(""),
	    SEND("p1 OK [CAPABILITY IMAP4rev1] Logged in\r\n"), END_SCRIPT } },
};

START_TEST(login_nonsync_literals_need_no_continuation)
{
	run_login(nonsync_logins[_i].script, "alice", "secret");
	EXPECT_EVENTS("connect ok\n"
		      "L OK [CAPABILITY IMAP4rev1] Logged in\n");
}
END_TEST

/* ---- credentials never become command syntax ---- */

#define ODD_USER "al\"ice{5}"
#define ODD_PASS "p\\\"a) {5}*%"

static const struct {
	struct peer_step script[12];
} odd_credentials[] = {
	{ { SEND(CAPS_PLAIN_IR),
	    EXPECT("p1 AUTHENTICATE PLAIN AGFsImljZXs1fQBwXCJhKSB7NX0qJQ=="),
	    SEND("p1 OK [CAPABILITY IMAP4rev1] Logged in\r\n"), END_SCRIPT } },
	{ { SEND(CAPS_LOGIN),
	    EXPECT("p1 LOGIN {9}"), SEND("+ go\r\n"), EXPECT_BYTES(ODD_USER),
	    EXPECT(" {11}"), SEND("+ go\r\n"), EXPECT_BYTES(ODD_PASS), EXPECT(""),
	    SEND("p1 OK [CAPABILITY IMAP4rev1] Logged in\r\n"), END_SCRIPT } },
	{ { SEND("* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"),
	    EXPECT("p1 LOGIN {9+}"), EXPECT_BYTES(ODD_USER), EXPECT(" {11+}"),
	    EXPECT_BYTES(ODD_PASS), EXPECT(""),
	    SEND("p1 OK [CAPABILITY IMAP4rev1] Logged in\r\n"), END_SCRIPT } },
};

START_TEST(odd_credentials_stay_data)
{
	run_login(odd_credentials[_i].script, ODD_USER, ODD_PASS);
	EXPECT_EVENTS("connect ok\n"
		      "L OK [CAPABILITY IMAP4rev1] Logged in\n");
}
END_TEST

START_TEST(unsendable_logins_refused_at_once)
{
	static const struct peer_step script[] = {
		SEND(CAPS_PLAIN_IR),
		/* refused logins may have used tags */
		EXPECT("* AUTHENTICATE PLAIN " ALICE_B64),
		SEND("$ OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
		END_SCRIPT,
	};
	struct rec refused = { .name = "X" };   /* must never be called */
	const char *error = NULL;

	start_ready(script);
	ck_assert_int_eq(rec_login(&refused, "al\0ce", 5, "secret", 6, &error), -1);
	ck_assert_str_eq(error, "credentials cannot be sent");
	error = NULL;
	ck_assert_int_eq(rec_login(&refused, "alice", 5, "", 0, &error), -1);
	ck_assert_ptr_nonnull(error);
	login("L", "alice", "secret");
	error = NULL;
	ck_assert_int_eq(rec_login(&refused, "bob", 3, "pw", 2, &error), -1);
	ck_assert_str_eq(error, "a login is already under way");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "L OK [CAPABILITY IMAP4rev1] Logged in\n");
}
END_TEST

START_TEST(logindisabled_refused_at_once)
{
	static const struct peer_step script[] = {
		SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"),
		END_SCRIPT,
	};
	struct rec refused = { .name = "L" };
	const char *error = NULL;

	start_ready(script);
	ck_assert_int_eq(rec_login(&refused, "alice", 5, "secret", 6, &error), -1);
	ck_assert_str_eq(error, "upstream refuses plaintext login (LOGINDISABLED)");
	PEER_FINISH(&peer);
	peer_run_for(&peer, 30);
	EXPECT_EVENTS("connect ok\n");
}
END_TEST

/* The credentials are never sent once the server said no. */
START_TEST(login_refused_before_literal_sends_nothing_more)
{
	static const struct peer_step script[] = {
		SEND(CAPS_LOGIN),
		EXPECT("p1 LOGIN {5}"),
		SEND("p1 NO [PRIVACYREQUIRED] not in plaintext\r\n"),
		QUIET(50),
		EXPECT("p2 NOOP"),
		SEND("p2 OK noop\r\n"),
		END_SCRIPT,
	};

	start_ready(script);
	login("L", "alice", "secret");
	WAIT_ALL_DONE();
	PEER_RUN_UNTIL(&peer, peer.step == 4);
	command("a", "NOOP");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "L NO [PRIVACYREQUIRED] not in plaintext\n"
		      "a OK noop\n");
}
END_TEST

START_TEST(login_refused_then_retried)
{
	static const struct peer_step script[] = {
		SEND(CAPS_PLAIN_IR),
		EXPECT(AUTH_ALICE),
		SEND("p1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
		EXPECT("p2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldDI="),
		SEND("p2 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
		END_SCRIPT,
	};

	start_ready(script);
	login("L", "alice", "secret");
	WAIT_ALL_DONE();
	login("M", "alice", "secret2");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "L NO [AUTHENTICATIONFAILED] Authentication failed.\n"
		      "M OK [CAPABILITY IMAP4rev1] Logged in\n");
}
END_TEST

/* ---- ID ---- */

START_TEST(id_goes_first_and_its_refusal_is_ignored)
{
	static const struct peer_step script[] = {
		SEND("* OK [CAPABILITY IMAP4rev1 ID SASL-IR AUTH=PLAIN] ready\r\n"),
		EXPECT("p1 ID (\"name\" \"popgate\" \"version\" \"1.2.3\""
		       " \"x-originating-ip\" \"192.0.2.7\" \"x-originating-port\" \"50123\""
		       " \"x-connected-ip\" \"198.51.100.1\" \"x-connected-port\" \"110\""
		       " \"x-session-ext-id\" \"s-42\")"),
		EXPECT("p2 AUTHENTICATE PLAIN " ALICE_B64),
		SEND("* ID NIL\r\np1 NO [UNAVAILABLE] ID disabled\r\n"),
		PAUSE(20),
		SEND("p2 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
		END_SCRIPT,
	};

	settings.version = "1.2.3";
	settings.client_ip = "192.0.2.7";
	settings.client_port = 50123;
	settings.local_ip = "198.51.100.1";
	settings.local_port = 110;
	settings.session_id = "s-42";
	run_login(script, "alice", "secret");
	EXPECT_EVENTS("connect ok\n"
		      "L OK [CAPABILITY IMAP4rev1] Logged in\n");
}
END_TEST

START_TEST(id_with_a_bad_value_is_skipped)
{
	static const struct peer_step script[] = {
		SEND("* OK [CAPABILITY IMAP4rev1 ID SASL-IR AUTH=PLAIN] ready\r\n"),
		EXPECT("* AUTHENTICATE PLAIN " ALICE_B64),
		SEND("$ OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
		END_SCRIPT,
	};

	settings.client_ip = "192.0.2.7\" \"x-evil\" \"1";
	run_login(script, "alice", "secret");
	EXPECT_EVENTS("connect ok\n"
		      "L OK [CAPABILITY IMAP4rev1] Logged in\n");
	ck_assert_ptr_nonnull(strstr(log_text(), "event=id_not_sent"));
}
END_TEST

/* ---- post-login capabilities ---- */

START_TEST(post_login_caps_from_untagged_capability)
{
	static const struct peer_step script[] = {
		SEND(CAPS_PLAIN_IR),
		EXPECT(AUTH_ALICE),
		SEND("* CAPABILITY IMAP4rev1 MOVE UIDPLUS\r\np1 OK Logged in\r\n"),
		QUIET(50),
		END_SCRIPT,
	};

	run_login(script, "alice", "secret");
	EXPECT_EVENTS("connect ok\n"
		      "L * CAPABILITY IMAP4rev1 MOVE UIDPLUS\n"
		      "L OK Logged in\n");
	ck_assert_uint_eq(imap_client_caps(client),
			  IMAP_CAP_MOVE | IMAP_CAP_UIDPLUS);
}
END_TEST

START_TEST(post_login_caps_asked_when_not_told)
{
	static const struct peer_step script[] = {
		SEND(CAPS_PLAIN_IR),
		EXPECT(AUTH_ALICE),
		SEND("p1 OK [ALERT] Logged in\r\n"),
		EXPECT("p2 CAPABILITY"),
		QUIET(30),
		SEND("* CAPABILITY IMAP4rev1 SPECIAL-USE\r\np2 OK done\r\n"),
		END_SCRIPT,
	};

	start_ready(script);
	login("L", "alice", "secret");
	PEER_RUN_UNTIL(&peer, peer.step == 4);
	EXPECT_EVENTS("connect ok\n");    /* done waits for the capabilities */
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "L OK [ALERT] Logged in\n");
	ck_assert_uint_eq(imap_client_caps(client),
			  IMAP_CAP_SPECIAL_USE);
}
END_TEST

/* A connection keeps no texts for its life: the login's code and text
   go once its done has them (here after CAPABILITY), failure and BYE
   texts and an OAuth2 challenge are kept only once there is one (1.3 KB
   in every connection before). */
START_TEST(login_texts_not_kept_once_logged_in)
{
	static const struct peer_step script[] = {
		SEND(CAPS_PLAIN_IR),
		EXPECT(AUTH_ALICE),
		SEND("p1 OK [ALERT] Logged in\r\n"),
		EXPECT("p2 CAPABILITY"),
		SEND("* CAPABILITY IMAP4rev1\r\np2 OK done\r\n"),
		END_SCRIPT,
	};

	ck_assert_uint_lt(sizeof(struct imap_client), 768);
	start_ready(script);
	login("L", "alice", "secret");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "L OK [ALERT] Logged in\n");
	ck_assert_ptr_null(client->login_code);
	ck_assert_ptr_null(client->login_text);
	ck_assert_ptr_null(client->fail_reason);
	ck_assert_ptr_null(client->bye_reason);
	ck_assert_str_eq(imap_client_sasl_challenge(client), "");
}
END_TEST

START_TEST(post_login_capability_refused_keeps_old_caps)
{
	static const struct peer_step script[] = {
		SEND(CAPS_PLAIN_IR),
		EXPECT(AUTH_ALICE),
		SEND("p1 OK Logged in\r\n"),
		EXPECT("p2 CAPABILITY"),
		SEND("p2 BAD not now\r\n"),
		END_SCRIPT,
	};

	run_login(script, "alice", "secret");
	EXPECT_EVENTS("connect ok\n"
		      "L OK Logged in\n");
	ck_assert_uint_eq(imap_client_caps(client), 
			  IMAP_CAP_SASL_IR | IMAP_CAP_AUTH_PLAIN);
}
END_TEST

/* ---- ENABLE UTF8=ACCEPT ---- */

/* Logs in as alice; the login's done queues "SELECT INBOX" as S, whose
   done says whether UTF-8 was enabled by then. */
static void login_then_select(void)
{
	struct rec *l = login("L", "alice", "secret");

	l->then_rec = rec_new("S");
	l->then_rec->show_utf8 = true;
	l->then_args = "SELECT INBOX";
}

START_TEST(enable_utf8_precedes_commands_queued_by_done)
{
	static const struct peer_step script[] = {
		SEND(CAPS_PLAIN_IR),
		EXPECT(AUTH_ALICE),
		SEND("p1 OK [CAPABILITY IMAP4rev1 ENABLE UTF8=ACCEPT] Logged in\r\n"),
		EXPECT("p2 ENABLE UTF8=ACCEPT"),
		EXPECT("p3 SELECT INBOX"),
		SEND("* ENABLED UTF8=ACCEPT\r\np2 OK enabled\r\n"
		     "* 1 EXISTS\r\np3 OK [READ-WRITE] selected\r\n"),
		END_SCRIPT,
	};
	start_ready(script);
	login_then_select();
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "L OK [CAPABILITY IMAP4rev1 ENABLE UTF8=ACCEPT] Logged in\n"
		      "S * 1 EXISTS\n"
		      "S OK [READ-WRITE] selected (utf8 on)\n");
	ck_assert(imap_client_utf8_enabled(client));
}
END_TEST

START_TEST(enable_utf8_refused_is_ignored)
{
	static const struct peer_step script[] = {
		SEND(CAPS_PLAIN_IR),
		EXPECT(AUTH_ALICE),
		SEND("* CAPABILITY IMAP4rev1 ENABLE UTF8=ONLY\r\np1 OK Logged in\r\n"),
		EXPECT("p2 ENABLE UTF8=ACCEPT"),
		EXPECT("p3 SELECT INBOX"),
		SEND("p2 NO not today\r\np3 OK selected\r\n"),
		END_SCRIPT,
	};
	start_ready(script);
	login_then_select();
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "L * CAPABILITY IMAP4rev1 ENABLE UTF8=ONLY\n"
		      "L OK Logged in\n"
		      "S OK selected (utf8 off)\n");
}
END_TEST

/* ---- failures during the login ---- */

START_TEST(eof_fails_the_login_and_the_queue_once)
{
	static const struct peer_step script[] = {
		SEND(CAPS_LOGIN),
		EXPECT("p1 LOGIN {5}"),
		QUIET(50),     /* b waits behind the literal */
		CLOSE(),
		END_SCRIPT,
	};

	start_ready(script);
	login("L", "alice", "secret");
	command("b", "NOOP");
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
	peer_run_for(&peer, 30);
	EXPECT_EVENTS("connect ok\n"
		      "L FAILED connection closed by upstream\n"
		      "b FAILED connection closed by upstream\n");
}
END_TEST

START_TEST(eof_during_post_login_capability_fails_once)
{
	static const struct peer_step script[] = {
		SEND(CAPS_PLAIN_IR),
		EXPECT(AUTH_ALICE),
		SEND("p1 OK Logged in\r\n"),
		EXPECT("p2 CAPABILITY"),
		CLOSE(),
		END_SCRIPT,
	};

	run_login(script, "alice", "secret");
	peer_run_for(&peer, 30);
	EXPECT_EVENTS("connect ok\n"
		      "L FAILED connection closed by upstream\n");
}
END_TEST

static Suite *imap_client_login_suite(void)
{
	Suite *s = suite_create("imap_client_login");
	TCase *tc = fixture_tcase("mechanisms");

	tcase_add_test(tc, authenticate_plain_with_sasl_ir_is_one_line);
	tcase_add_test(tc, xoauth2_with_sasl_ir);
	tcase_add_test(tc, xoauth2_error_challenge_without_sasl_ir);
	tcase_add_test(tc, oauthbearer_error_challenge_gets_ctrl_a);
	tcase_add_test(tc, oauth_second_challenge_fails);
	tcase_add_test(tc, oauth_refused_without_mechanism);
	tcase_add_test(tc, authenticate_plain_waits_for_continuation);
	tcase_add_test(tc, login_waits_for_continuation_between_literals);
	tcase_add_loop_test(tc, login_nonsync_literals_need_no_continuation, 0,
			    sizeof(nonsync_logins) / sizeof(nonsync_logins[0]));
	tcase_add_loop_test(tc, odd_credentials_stay_data, 0,
			    sizeof(odd_credentials) / sizeof(odd_credentials[0]));
	tcase_add_test(tc, unsendable_logins_refused_at_once);
	tcase_add_test(tc, logindisabled_refused_at_once);
	tcase_add_test(tc, login_refused_before_literal_sends_nothing_more);
	tcase_add_test(tc, login_refused_then_retried);
	suite_add_tcase(s, tc);

	tc = fixture_tcase("id");
	tcase_add_test(tc, id_goes_first_and_its_refusal_is_ignored);
	tcase_add_test(tc, id_with_a_bad_value_is_skipped);
	suite_add_tcase(s, tc);

	tc = fixture_tcase("after_login");
	tcase_add_test(tc, post_login_caps_from_untagged_capability);
	tcase_add_test(tc, post_login_caps_asked_when_not_told);
	tcase_add_test(tc, login_texts_not_kept_once_logged_in);
	tcase_add_test(tc, post_login_capability_refused_keeps_old_caps);
	tcase_add_test(tc, enable_utf8_precedes_commands_queued_by_done);
	tcase_add_test(tc, enable_utf8_refused_is_ignored);
	tcase_add_test(tc, eof_fails_the_login_and_the_queue_once);
	tcase_add_test(tc, eof_during_post_login_capability_fails_once);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fixture_run(imap_client_login_suite());
}
