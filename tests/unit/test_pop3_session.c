/* The session around the commands: pipelining and a half-closed client,
   the bad-command budget, command states, long lines, idle timeout, a
   long LIST to a slow client, and QUIT after the upstream went away. */

#include "pop3_fixture.h"

/* "printf ... | nc -N": every command sent before the EOF is answered,
   the login's included, and QUIT still applies. */
START_TEST(half_closed_client_gets_every_answer)
{
	static const struct client_step pop3[] = {
		SAY_RAW("USER " ALICE "\r\nPASS secret\r\nSTAT\r\nUIDL 2\r\nQUIT\r\n"),
		SHUT_WRITE(),
		GREETING,
		HEAR("+OK"),
		LOGGED_IN_THREE,
		HEAR("+OK 3 1370"),
		HEAR("+OK 2 0000000500000007"),
		BYE,
		CLIENT_END,
	};

	upstream(up_three_logout);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	RUN_UNTIL(fx.srv.sessions == 0);
}
END_TEST

/* An unterminated rest after the EOF is dropped, not run. */
START_TEST(half_closed_client_unterminated_rest_is_dropped)
{
	static const struct client_step pop3[] = {
		SAY_RAW("CAPA\r\nQUIT"),
		SHUT_WRITE(),
		GREETING,
		HEAR("+OK Capability list follows"),
		HEAR("TOP"),
		HEAR("UIDL"),
		HEAR("USER"),
		HEAR("SASL PLAIN"),
		HEAR("EXPIRE NEVER"),
		HEAR("RESP-CODES"),
		HEAR("AUTH-RESP-CODE"),
		HEAR("PIPELINING"),
		HEAR_PREFIX("IMPLEMENTATION popgate-"),
		HEAR("."),
		HEAR_CLOSE(),
		CLIENT_END,
	};

	pop3_connect(pop3);
	DIALOGUE_DONE();
	RUN_UNTIL(fx.srv.sessions == 0);
	ck_assert_ptr_nonnull(strstr(fx_log(), "reason=disconnect"));
}
END_TEST

START_TEST(bad_commands_use_up_the_budget)
{
	static const struct client_step pop3[] = {
		GREETING,
		SAY("FOO"),
		HEAR("-ERR Unknown command"),
		SAY("RETR 1"),
		HEAR("-ERR Command not valid in this state"),
		SAY("USER"),
		HEAR("-ERR Missing argument"),
		SAY("NOOP x"),
		HEAR("-ERR Command not valid in this state (too many bad commands, closing)"),
		HEAR_CLOSE(),
		CLIENT_END,
	};

	fx_conf()->max_bad_commands = 4;
	pop3_connect(pop3);
	DIALOGUE_DONE();
	RUN_UNTIL(fx.srv.sessions == 0);
}
END_TEST

START_TEST(commands_of_the_other_state_are_refused)
{
	static const struct client_step pop3[] = {
		GREETING,
		SAY("STLS"),
		HEAR("-ERR STLS is not available: no certificate configured"),
		SAY("AUTH PLAIN !!!!"),
		HEAR("-ERR Invalid base64 data"),
		SAY("AUTH CRAM-MD5"),
		HEAR("-ERR Unsupported authentication mechanism"),
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("USER " ALICE),
		HEAR("-ERR Command not valid in this state"),
		SAY("PASS secret"),
		HEAR("-ERR Command not valid in this state"),
		SAY("CAPA"),
		HEAR("+OK Capability list follows"),
		HEAR("TOP"),
		HEAR("UIDL"),
		HEAR("EXPIRE NEVER"),
		HEAR("RESP-CODES"),
		HEAR("AUTH-RESP-CODE"),
		HEAR("PIPELINING"),
		HEAR_PREFIX("IMPLEMENTATION popgate-"),
		HEAR("."),
		SAY("RETR 0"),
		HEAR("-ERR No such message"),
		SAY("TOP 1"),
		HEAR("-ERR Missing argument"),
		CLIENT_END,
	};

	upstream(up_three);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

START_TEST(overlong_command_line_closes)
{
	char line[400];
	struct client_step pop3[] = {
		GREETING,
		{ C_SAY, line, 0, 0 },
		HEAR_PREFIX("-ERR "),
		HEAR_CLOSE(),
		CLIENT_END,
	};

	memset(line, 'A', 300);
	memcpy(line + 300, "\r\n", 2);
	pop3[1].len = 302;
	pop3_connect(pop3);
	DIALOGUE_DONE();
	RUN_UNTIL(fx.srv.sessions == 0);
	ck_assert_ptr_nonnull(strstr(fx_log(), "reason=bad_input"));
}
END_TEST

START_TEST(idle_client_is_disconnected)
{
	static const struct client_step pop3[] = {
		GREETING,
		HEAR("-ERR Disconnected for inactivity"),
		HEAR_CLOSE(),
		CLIENT_END,
	};

	fx_conf()->idle_timeout_secs = 1;
	pop3_connect(pop3);
	DIALOGUE_DONE();
	RUN_UNTIL(fx.srv.sessions == 0);
	ck_assert_ptr_nonnull(strstr(fx_log(), "reason=idle_timeout"));
}
END_TEST

/* A listing longer than the output limit is produced as the client
   reads it, never all at once. */
#define LONG_COUNT 40000

START_TEST(long_list_to_a_slow_client_stays_bounded)
{
	size_t cap = (size_t)LONG_COUNT * 64 + 256, list_len = 0, out_len = 0;
	char *list = malloc(cap), *out = malloc(cap), ok[80];
	unsigned long long octets = 0;
	struct pop3_client *c;

	ck_assert(list != NULL && out != NULL);
	for (unsigned int i = 1; i <= LONG_COUNT; i++) {
		list_len += (size_t)snprintf(list + list_len, cap - list_len,
					     "* %u FETCH (UID %u RFC822.SIZE %u FLAGS ())\r\n",
					     i, 10 * i, 1000 + i % 7);
		out_len += (size_t)snprintf(out + out_len, cap - out_len, "%u %u\r\n", i,
					    1000 + i % 7);
	}
	list_len += (size_t)snprintf(list + list_len, cap - list_len,
				     "$ OK Fetch completed\r\n");
	out_len += (size_t)snprintf(out + out_len, cap - out_len, ".\r\n");
	for (unsigned int i = 1; i <= LONG_COUNT; i++)
		octets += 1000 + i % 7;
	snprintf(ok, sizeof(ok), "+OK 40000 messages (%llu octets)", octets);
	{
		const struct peer_step imap[] = {
			UP_GREETING,
			UP_LOGIN,
			UP_SELECT("40000"),
			EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
			SEND_N(list, list_len, 0),
			END_SCRIPT,
		};
		const struct client_step pop3[] = {
			GREETING,
			USER_PASS,
			HEAR_PREFIX("+OK Logged in, 40000 messages"),
			CLIENT_END,
		};
		const struct client_step lst[] = {
			SAY("LIST"),
			{ C_HEAR, ok, strlen(ok), 0 },
			HEAR_SLOWLY(out, out_len, 4096),
			SAY("STAT"),
			HEAR_PREFIX("+OK 40000 "),
			CLIENT_END,
		};

		/* Their UIDLs stored already (by an earlier login), so the
		   login fetches nothing more. */
		freeReplyObject(raw_cmd("SET %s 7", fx_key("uidvalidity")));
		freeReplyObject(raw_cmd("EVAL %s 1 %s", "for i = 10, 400000, 10 do "
					"redis.call('HSET', KEYS[1], i, string.format('- %08x00000007', i)) "
					"end", fx_key("uidl")));
		upstream(imap);
		c = pop3_connect(pop3);
		RUN_UNTIL(c->finished);
		fx_watch_output(fx_session());
		client_script(c, lst);
		DIALOGUE_DONE();
		ck_assert_uint_gt(out_len, POP3_OUT_HIGH);
		ck_assert_uint_le(fx.out_peak, POP3_OUT_HIGH + 32);
	}
	free(list);
	free(out);
}
END_TEST

/* The upstream gone while the session was idle: the next command says so
   and the session ends; QUIT applies nothing (a hide is never stored
   without the fingerprint that lets it follow its message). */
START_TEST(quit_after_the_upstream_went_applies_nothing)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		HOLD(),
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("DELE 2"),
		HEAR("+OK Message 2 deleted"),
		CLIENT_END,
	};
	static const struct client_step quit_lost[] = {
		SAY("QUIT"),
		HEAR_PREFIX("-ERR [SYS/TEMP] Upstream connection lost"),
		HEAR_CLOSE(),
		CLIENT_END,
	};
	struct imap_peer *p = upstream(imap);
	struct pop3_client *c = pop3_connect(pop3);
	unsigned int fps;

	DIALOGUE_DONE();
	/* the DELE is in: now the upstream goes away */
	peer_drop(p);
	RUN_UNTIL(p->bev == NULL);
	fx_run_for(20);
	client_script(c, quit_lost);
	DIALOGUE_DONE();
	ck_assert_str_eq(hidden_uids("hidden:default", &fps), "");
	RUN_UNTIL(!lock_held("default"));
}
END_TEST

/* The fingerprint FETCH refused: -ERR, nothing hidden. */
START_TEST(quit_with_fingerprints_refused_hides_nothing)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		EXPECT("* UID FETCH 5 (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS "
		       "(MESSAGE-ID DATE FROM SUBJECT)])"),
		SEND("$ NO [SERVERBUG] Not now\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("DELE 2"),
		HEAR("+OK Message 2 deleted"),
		SAY("QUIT"),
		HEAR_PREFIX("-ERR [SYS/TEMP] The upstream server failed while the deletions "
			    "were saved; nothing was deleted"),
		HEAR_CLOSE(),
		CLIENT_END,
	};
	unsigned int fps;

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_str_eq(hidden_uids("hidden:default", &fps), "");
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=quit_not_applied"));
	RUN_UNTIL(!lock_held("default"));
}
END_TEST

/* AUTH PLAIN, its continuation line and the next command in one write:
   the continuation goes to AUTH, the rest waits for the login. */
START_TEST(pipelined_auth_continuation)
{
	static const struct client_step pop3[] = {
		GREETING,
		SAY_RAW("AUTH PLAIN\r\n" ALICE_B64 "\r\nSTAT\r\n"),
		HEAR("+ "),
		LOGGED_IN_THREE,
		HEAR("+OK 3 1370"),
		CLIENT_END,
	};

	upstream(up_three);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

/* A command line is read into a buffer of its own only while it is
   being read: an idle session holds none (2 KB each, for AUTH lines,
   in every session before). A line in pieces is kept between reads; an
   AUTH continuation line gets its longer limit. */
START_TEST(line_buffer_only_while_a_line_is_read)
{
	static const struct client_step pop3[] = {
		GREETING,
		SAY_RAW("US"),
		WAIT(30),
		SAY_RAW("ER " ALICE "\r"),
		WAIT(30),
		SAY_RAW("\nQUIT\r\n"),
		HEAR("+OK"),
		HEAR("+OK Bye"),
		HEAR_CLOSE(),
		CLIENT_END,
	};
	static const struct client_step auth[] = {
		GREETING,
		SAY("AUTH PLAIN"),
		HEAR("+ "),
		SAY(ALICE_B64),
		LOGGED_IN_THREE,
		CLIENT_END,
	};
	struct pop3_client *c;

	ck_assert_uint_lt(sizeof(struct pop3_session), 1536);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	RUN_UNTIL(fx.srv.sessions == 0);
	upstream(up_three);
	c = pop3_connect(auth);
	RUN_UNTIL(c->finished);
	ck_assert_ptr_nonnull(fx_session());
	ck_assert_ptr_null(fx_session()->scanner);
	ck_assert_uint_eq(fx_session()->line_max, POP3_MAX_CMD_LINE);
}
END_TEST

/* The client goes while the login waits for the upstream, after the
   device was locked (the mailbox was recreated: fingerprints first). A
   reset ends the session and its lock at once. A FIN may be a half-close
   (session.h: the commands sent still get answers), so the login runs on
   until the upstream answers or times out, and the lock stays until then. */
START_TEST(client_gone_mid_login_leaves_nothing_locked)
{
	static const struct peer_step imap[] = {
		UP_GREETING, UP_LOGIN, UP_THREE_KNOWN,
		EXPECT("* UID FETCH 3,5,9 (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS "
		       "(MESSAGE-ID DATE FROM SUBJECT)])"),
		HOLD(),
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		CLIENT_END,
	};
	const struct client_step hang_up[] = {
		{ C_HANG_UP, NULL, 0, _i == 0 },
		CLIENT_END,
	};
	struct imap_peer *p;
	struct pop3_client *c;
	long long gone;
	redisReply *r;

	fx_conf()->upstream->timeout_secs = 1;
	freeReplyObject(raw_cmd("SET %s 6", fx_key("uidvalidity")));
	p = upstream(imap);
	c = pop3_connect(pop3);
	RUN_UNTIL(p->finished && c->finished);
	ck_assert(lock_held("default"));
	client_script(c, hang_up);
	gone = peer_now_ms();
	if (_i == 1) {
		fx_run_for(300);
		ck_assert(lock_held("default"));
	}
	RUN_UNTIL(fx.srv.sessions == 0);
	RUN_UNTIL(!lock_held("default"));
	ck_assert_int_lt(peer_now_ms() - gone, _i == 0 ? 500 : 3000);
	r = raw_cmd("GET %s", fx_key("uidvalidity"));
	ck_assert_str_eq(r->str, "6");
	freeReplyObject(r);
}
END_TEST

/* Another session took the device's lock (ours expired): QUIT applies
   nothing, and our unlock leaves the other's lock alone. */
START_TEST(lock_lost_means_quit_applies_nothing)
{
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("DELE 1"),
		HEAR("+OK Message 1 deleted"),
		CLIENT_END,
	};
	static const struct client_step quit[] = {
		SAY("QUIT"),
		HEAR("-ERR [IN-USE] Device lock lost; nothing was deleted"),
		HEAR_CLOSE(),
		CLIENT_END,
	};
	struct pop3_client *c;
	redisReply *r;

	fx_conf()->lock_ttl_secs = 3;
	upstream(up_three);
	c = pop3_connect(pop3);
	RUN_UNTIL(c->finished);
	freeReplyObject(raw_cmd("SET %s other.session", fx_key("lock:default")));
	/* Refreshed every third of the ttl. */
	RUN_UNTIL(strstr(fx_log(), "event=lock_lost") != NULL);
	client_script(c, quit);
	DIALOGUE_DONE();
	RUN_UNTIL(fx.srv.sessions == 0);
	fx_run_for(50);
	ck_assert_str_eq(hidden_uids("hidden:default", NULL), "");
	r = raw_cmd("GET %s", fx_key("lock:default"));
	ck_assert_str_eq(r->str, "other.session");
	freeReplyObject(r);
}
END_TEST

/* What the server says unasked between commands changes nothing: the
   maildrop is fixed at login, and RETR goes by UID. */
START_TEST(unsolicited_responses_between_commands)
{
	static const struct peer_step imap[] = {
		UP_SESSION_THREE,
		SEND("* 4 EXISTS\r\n* 1 EXPUNGE\r\n* 2 FETCH (FLAGS (\\Seen))\r\n"),
		EXPECT("* UID FETCH 9 (RFC822.SIZE BODY[])"),
		SEND("* 1 FETCH (UID 5 FLAGS (\\Seen \\Flagged))\r\n"
		     "* 2 FETCH (UID 9 RFC822.SIZE 1000 BODY[] {6}\r\nhello\n FLAGS (\\Seen))\r\n"
		     "$ OK Fetch completed\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		WAIT(20),
		SAY("STAT"),
		HEAR("+OK 3 1370"),
		SAY("RETR 3"),
		HEAR("+OK 1000 octets"),
		HEAR_BYTES("hello\r\n.\r\n"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pop3_session");
	TCase *tc = fx_tcase("session");

	tcase_add_test(tc, half_closed_client_gets_every_answer);
	tcase_add_test(tc, half_closed_client_unterminated_rest_is_dropped);
	tcase_add_test(tc, bad_commands_use_up_the_budget);
	tcase_add_test(tc, commands_of_the_other_state_are_refused);
	tcase_add_test(tc, overlong_command_line_closes);
	tcase_add_test(tc, idle_client_is_disconnected);
	tcase_add_test(tc, long_list_to_a_slow_client_stays_bounded);
	tcase_add_test(tc, quit_after_the_upstream_went_applies_nothing);
	tcase_add_test(tc, quit_with_fingerprints_refused_hides_nothing);
	tcase_add_test(tc, pipelined_auth_continuation);
	tcase_add_test(tc, line_buffer_only_while_a_line_is_read);
	tcase_add_loop_test(tc, client_gone_mid_login_leaves_nothing_locked, 0, 2);
	tcase_add_test(tc, lock_lost_means_quit_applies_nothing);
	tcase_add_test(tc, unsolicited_responses_between_commands);
	suite_add_tcase(s, tc);
	return fx_run(s);
}
