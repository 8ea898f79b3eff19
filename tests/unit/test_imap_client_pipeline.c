/* Dialogue tests for the login's pipelining (imap_login.h): what the caps
   memo knows of a server goes right behind the login (CAPABILITY when its
   login reply lacks them, ENABLE), commands the owner queues at once
   follow, a wrong guess starts no second ENABLE, a server that would not
   pipeline gets nothing ahead, and what the login showed is remembered. */

#include "imap_client_fixture.h"
#include "imap_caps_memo.h"
#include "imap_login.h"
#include "limits_table.h"

#define G_CAPS "IMAP4rev1 SASL-IR AUTH=PLAIN"
#define GREETING "* OK [CAPABILITY " G_CAPS "] ready\r\n"
/* base64 of "\0alice\0secret" */
#define AUTH_ALICE "p1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA=="

static struct imap_caps_memo *memo;

/* The memo's key of the peer's server as it greets (imap_login.c). */
static const char *memo_key(void)
{
	static char key[IMAP_CAPS_MEMO_KEY + 2];

	snprintf(key, sizeof(key), "127.0.0.1:%u/%d/%016llx", (unsigned int)peer.port,
		 (int)IMAP_TLS_NONE, (unsigned long long)limits_siphash24(0, 0, G_CAPS,
									   strlen(G_CAPS)));
	return key;
}

/* What the memo knows of the server before the login. */
enum memo_knows {
	MEMO_NOTHING,
	MEMO_PIPELINES,       /* a server known to keep what follows a login */
	MEMO_REFUSED,         /* ... that refused it once */
	MEMO_NOT_KNOWN_TO_KEEP,
};

static void start_with_memo(const struct peer_step *script, unsigned int caps,
			    bool with_login, enum memo_knows knows)
{
	memo = imap_caps_memo_new();
	ck_assert_ptr_nonnull(memo);
	settings.caps_memo = memo;
	start_ready(script);
	if (knows != MEMO_NOTHING)
		imap_caps_memo_put(memo, memo_key(), &(struct imap_caps_seen){
			.caps = caps, .with_login = with_login,
			.no_pipelining = knows == MEMO_REFUSED,
			.keeps_input = knows != MEMO_NOT_KNOWN_TO_KEEP });
}

static struct imap_caps_seen memo_now(void)
{
	struct imap_caps_seen seen = { 0 };

	ck_assert(imap_caps_memo_get(memo, memo_key(), &seen));
	return seen;
}

static void finish(void)
{
	WAIT_ALL_DONE();
	PEER_FINISH(&peer);
}

static void memo_teardown(void)
{
	imap_caps_memo_free(&memo);
}

/* The three commands arrive before anything is answered. */
START_TEST(enable_and_select_right_behind_the_login)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT(AUTH_ALICE),
		EXPECT("p2 ENABLE QRESYNC"),
		EXPECT("p3 SELECT INBOX"),
		SEND("p1 OK [CAPABILITY IMAP4rev1 ENABLE QRESYNC MOVE] Logged in\r\n"
		     "* ENABLED QRESYNC\r\np2 OK enabled\r\n"
		     "* 2 EXISTS\r\np3 OK selected\r\n"),
		QUIET(30),
		END_SCRIPT,
	};

	start_with_memo(script, IMAP_CAP_ENABLE | IMAP_CAP_QRESYNC, true, MEMO_PIPELINES);
	login("L", "alice", "secret");
	ck_assert(imap_client_login_pipelined(client));
	command("S", "SELECT INBOX");
	finish();
	EXPECT_EVENTS("connect ok\n"
		      "L OK [CAPABILITY IMAP4rev1 ENABLE QRESYNC MOVE] Logged in\n"
		      "S * 2 EXISTS\n"
		      "S OK selected\n");
	ck_assert(imap_client_qresync_enabled(client));
	ck_assert(memo_now().with_login);
	ck_assert_uint_eq(memo_now().caps, IMAP_CAP_ENABLE | IMAP_CAP_QRESYNC | IMAP_CAP_MOVE);
}
END_TEST

/* The ENABLE's answer before the login's end (a server may answer a
   later command first, RFC 3501 5.5): "* ENABLED" is the ENABLE's, not
   the login's (imap_client.h), and QRESYNC counts as enabled. */
START_TEST(enabled_before_the_logins_end_counts)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT(AUTH_ALICE),
		EXPECT("p2 ENABLE QRESYNC"),
		EXPECT("p3 SELECT INBOX"),
		SEND("* ENABLED QRESYNC\r\n"
		     "p1 OK [CAPABILITY IMAP4rev1 ENABLE QRESYNC MOVE] Logged in\r\n"
		     "p2 OK enabled\r\n* 2 EXISTS\r\np3 OK selected\r\n"),
		QUIET(30),
		END_SCRIPT,
	};

	start_with_memo(script, IMAP_CAP_ENABLE | IMAP_CAP_QRESYNC, true, MEMO_PIPELINES);
	login("L", "alice", "secret");
	command("S", "SELECT INBOX");
	finish();
	EXPECT_EVENTS("connect ok\n"
		      "L OK [CAPABILITY IMAP4rev1 ENABLE QRESYNC MOVE] Logged in\n"
		      "S * 2 EXISTS\n"
		      "S OK selected\n");
	ck_assert(imap_client_qresync_enabled(client));
}
END_TEST

/* The login's done waits for the CAPABILITY sent behind it, and no
   second one is sent. */
START_TEST(capability_behind_a_login_that_says_none)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT(AUTH_ALICE),
		EXPECT("p2 CAPABILITY"),
		EXPECT("p3 ENABLE UTF8=ACCEPT"),
		EXPECT("p4 SELECT INBOX"),
		SEND("p1 OK Logged in\r\n"),
		QUIET(30),
		SEND("* CAPABILITY IMAP4rev1 ENABLE UTF8=ACCEPT MOVE\r\np2 OK done\r\n"
		     "* ENABLED UTF8=ACCEPT\r\np3 OK enabled\r\np4 OK selected\r\n"),
		QUIET(30),
		END_SCRIPT,
	};

	start_with_memo(script, IMAP_CAP_ENABLE | IMAP_CAP_UTF8_ACCEPT, false, MEMO_PIPELINES);
	login("L", "alice", "secret");
	command("S", "SELECT INBOX");
	PEER_RUN_UNTIL(&peer, peer.step == 6);
	EXPECT_EVENTS("connect ok\n");
	finish();
	EXPECT_EVENTS("connect ok\n"
		      "L OK Logged in\n"
		      "S OK selected\n");
	ck_assert_uint_eq(imap_client_caps(client),
			  IMAP_CAP_ENABLE | IMAP_CAP_UTF8_ACCEPT | IMAP_CAP_MOVE);
	ck_assert(imap_client_utf8_enabled(client));
	ck_assert(!memo_now().with_login);
}
END_TEST

/* Guessed wrong: the ENABLE went; another after the login would come
   after a SELECT, so none; the memo learns. */
START_TEST(wrong_guess_starts_no_second_enable)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT(AUTH_ALICE),
		EXPECT("p2 ENABLE QRESYNC"),
		SEND("p1 OK [CAPABILITY IMAP4rev1 ENABLE UTF8=ACCEPT] Logged in\r\n"
		     "p2 OK nothing enabled\r\n"),
		QUIET(50),
		END_SCRIPT,
	};

	start_with_memo(script, IMAP_CAP_ENABLE | IMAP_CAP_QRESYNC, true, MEMO_PIPELINES);
	login("L", "alice", "secret");
	finish();
	ck_assert(!imap_client_qresync_enabled(client));
	ck_assert(!imap_client_utf8_enabled(client));
	ck_assert_uint_eq(memo_now().caps, IMAP_CAP_ENABLE | IMAP_CAP_UTF8_ACCEPT);
}
END_TEST

/* Nothing known, or a server that would not pipeline: the login alone,
   ENABLE after its reply; and what it showed is remembered. */
START_TEST(nothing_ahead_without_a_usable_guess)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT(AUTH_ALICE),
		QUIET(30),
		SEND("p1 OK [CAPABILITY IMAP4rev1 ENABLE QRESYNC] Logged in\r\n"),
		EXPECT("p2 ENABLE QRESYNC"),
		SEND("* ENABLED QRESYNC\r\np2 OK enabled\r\n"),
		END_SCRIPT,
	};

	static const enum memo_knows cases[] = {
		MEMO_NOTHING, MEMO_REFUSED, MEMO_NOT_KNOWN_TO_KEEP,
	};

	start_with_memo(script, IMAP_CAP_ENABLE | IMAP_CAP_QRESYNC, true, cases[_i]);
	login("L", "alice", "secret");
	ck_assert(!imap_client_login_pipelined(client));
	WAIT_ALL_DONE();
	PEER_RUN_UNTIL(&peer, imap_client_qresync_enabled(client));
	PEER_FINISH(&peer);
	ck_assert(memo_now().with_login);
	ck_assert_uint_eq(memo_now().caps, IMAP_CAP_ENABLE | IMAP_CAP_QRESYNC);
	/* the refusal to pipeline is not forgotten by a login */
	ck_assert(memo_now().no_pipelining == (cases[_i] == MEMO_REFUSED));
	/* no ID: nothing says this server keeps what follows a login */
	ck_assert(!memo_now().keeps_input);
}
END_TEST

/* Only an ID reply naming such a server (in quotes, any case) makes the
   next login pipeline. */
START_TEST(id_names_a_server_that_keeps_input)
{
	static const char *const replies[] = {
		"* ID (\"name\" \"Dovecot\")\r\np1 OK ID completed\r\n",
		"* ID (\"vendor\" \"x\" \"NAME\" \"dovecot\")\r\np1 OK done\r\n",
		"* ID (\"name\" \"Cyrus IMAPD\" \"os\" \"Dovecot\")\r\np1 OK done\r\n",
		"* ID NIL\r\np1 OK done\r\n",
	};
	const struct peer_step script[] = {
		SEND("* OK [CAPABILITY " G_CAPS " ID] ready\r\n"),
		EXPECT_PREFIX("p1 ID ("),
		EXPECT("p2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA=="),
		{ PEER_SEND, replies[_i], strlen(replies[_i]), 0 },
		SEND("p2 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
		END_SCRIPT,
	};
	struct imap_caps_seen seen = { 0 };
	char key[IMAP_CAPS_MEMO_KEY + 2];
	const char *caps = G_CAPS " ID";

	memo = imap_caps_memo_new();
	settings.caps_memo = memo;
	settings.client_ip = "192.0.2.1";
	start_ready(script);
	login("L", "alice", "secret");
	finish();
	snprintf(key, sizeof(key), "127.0.0.1:%u/%d/%016llx", (unsigned int)peer.port,
		 (int)IMAP_TLS_NONE,
		 (unsigned long long)limits_siphash24(0, 0, caps, strlen(caps)));
	ck_assert(imap_caps_memo_get(memo, key, &seen));
	ck_assert(seen.keeps_input == (_i < 2));
}
END_TEST

/* The owner's note: kept, logged. */
START_TEST(no_pipelining_noted)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT(AUTH_ALICE),
		SEND("p1 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
		END_SCRIPT,
	};

	start_with_memo(script, 0, true, MEMO_NOTHING);
	login("L", "alice", "secret");
	finish();
	imap_client_note_no_pipelining(client);
	ck_assert(memo_now().no_pipelining);
	ck_assert_ptr_nonnull(strstr(log_text(), "event=upstream_no_pipelining"));
}
END_TEST

static Suite *imap_client_pipeline_suite(void)
{
	Suite *s = suite_create("imap_client_pipeline");
	TCase *tc = fixture_tcase("pipeline");

	tcase_add_checked_fixture(tc, NULL, memo_teardown);
	tcase_add_test(tc, enable_and_select_right_behind_the_login);
	tcase_add_test(tc, enabled_before_the_logins_end_counts);
	tcase_add_test(tc, capability_behind_a_login_that_says_none);
	tcase_add_test(tc, wrong_guess_starts_no_second_enable);
	tcase_add_loop_test(tc, nothing_ahead_without_a_usable_guess, 0, 3);
	tcase_add_loop_test(tc, id_names_a_server_that_keeps_input, 0, 4);
	tcase_add_test(tc, no_pipelining_noted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fixture_run(imap_client_pipeline_suite());
}
