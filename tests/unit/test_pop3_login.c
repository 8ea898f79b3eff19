/* POP3 login dialogues: USER/PASS and AUTH PLAIN against a scripted
   upstream, what the upstream sees, the failures of each answer, and the
   session left in AUTHORIZATION after them. */

#include "pop3_fixture.h"
#include "maildrop.h"
#include "throttle.h"

/* ---- success ---- */

START_TEST(user_pass_logs_in_upstream_and_lists)
{
	struct pop3_client *c;

	upstream(up_three_logout);
	c = pop3_connect(logs_in_three);
	RUN_UNTIL(c->finished);
	ck_assert_int_eq(fx_session()->state, POP3_STATE_TRANSACTION);
	ck_assert(lock_held("default"));
	client_script(c, quits);
	DIALOGUE_DONE();
	/* The lock is gone before the +OK, as another client of Redis (this
	   raw connection, another gateway) sees it. */
	ck_assert(!lock_held("default"));
	ck_assert_ptr_null(strstr(fx_log(), "secret"));
	ck_assert_ptr_null(strstr(fx_log(), ALICE_B64));
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=session_end user=" ALICE));
}
END_TEST

/* Without AUTH=PLAIN: ID first (the server offers it), then LOGIN with
   both credentials as literals. */
START_TEST(login_with_literals_after_id)
{
	static const struct peer_step imap[] = {
		SEND("* OK [CAPABILITY IMAP4rev1 ID] ready\r\n"),
		EXPECT_PREFIX("p1 ID (\"name\" \"popgate\""),
		EXPECT("p2 LOGIN {17}"),
		SEND("* ID NIL\r\np1 OK ID completed\r\n+ go ahead\r\n"),
		EXPECT_BYTES(ALICE),
		EXPECT(" {6}"),
		SEND("+ go ahead\r\n"),
		EXPECT_BYTES("secret"),
		EXPECT(""),
		SEND("p2 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
		UP_SELECT("0"),
		UP_LIST(""),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("+OK Logged in, 0 messages (0 octets)"),
		SAY("STAT"),
		HEAR("+OK 0 0"),
		SAY("LIST"),
		HEAR("+OK 0 messages (0 octets)"),
		HEAR("."),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

START_TEST(auth_plain_with_initial_response)
{
	static const struct client_step pop3[] = {
		GREETING,
		SAY("AUTH PLAIN " ALICE_B64),
		LOGGED_IN_THREE,
		CLIENT_END,
	};

	upstream(up_three);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_int_eq(fx_session()->state, POP3_STATE_TRANSACTION);
}
END_TEST

START_TEST(auth_plain_after_continuation)
{
	/* An authzid equal to the authcid is the same user. */
	static const struct client_step pop3[] = {
		GREETING,
		SAY("AUTH PLAIN"),
		HEAR("+ "),
		SAY("YWxpY2VAZXhhbXBsZS5jb20AYWxpY2VAZXhhbXBsZS5jb20Ac2VjcmV0"),
		LOGGED_IN_THREE,
		CLIENT_END,
	};

	upstream(up_three);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

START_TEST(auth_plain_cancelled_stays_in_authorization)
{
	static const struct client_step pop3[] = {
		GREETING,
		SAY("AUTH PLAIN"),
		HEAR("+ "),
		SAY("*"),
		HEAR("-ERR Authentication cancelled"),
		SAY("STAT"),
		HEAR("-ERR Command not valid in this state"),
		CLIENT_END,
	};

	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_uint_eq(fx.up_conns, 0);
}
END_TEST

/* \Deleted upstream: on its way out, not in the maildrop. */
START_TEST(deleted_flag_is_not_listed)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		UP_LOGIN,
		UP_SELECT("3"),
		UP_LIST("* 1 FETCH (UID 3 RFC822.SIZE 120 FLAGS (\\Seen \\Deleted))\r\n"
			"* 2 FETCH (FLAGS () UID 5 RFC822.SIZE 250)\r\n"
			"* 3 FETCH (UID 9 RFC822.SIZE 1000 FLAGS (\\Deleted))\r\n"),
		UP_FPS("5"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("+OK Logged in, 1 messages (250 octets)"),
		SAY("LIST"),
		HEAR("+OK 1 messages (250 octets)"),
		HEAR_BYTES("1 250\r\n.\r\n"),
		SAY("UIDL"),
		HEAR("+OK Unique-ID listing follows"),
		HEAR_BYTES("1 0000000500000007\r\n.\r\n"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

/* uidl_format gmail: Gmail's POP3 form, from X-GM-MSGID (X-GM-EXT-1). */
START_TEST(gmail_uidls_from_x_gm_msgid)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		EXPECT("* AUTHENTICATE PLAIN " ALICE_B64),
		SEND("$ OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE X-GM-EXT-1] Logged in\r\n"),
		UP_THREE_KNOWN,
		EXPECT("* UID FETCH 3,5,9 (UID INTERNALDATE X-GM-MSGID BODY.PEEK[HEADER.FIELDS "
		       "(MESSAGE-ID DATE FROM SUBJECT)])"),
		SEND("* 1 FETCH (UID 3 X-GM-MSGID 1278455344230334865 INTERNALDATE "
		     "\"01-Jan-2024 10:00:00 +0000\" BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM "
		     "SUBJECT)] {21}\r\nMessage-ID: <a@x>\r\n\r\n)\r\n"
		     "* 2 FETCH (UID 5 X-GM-MSGID 1 BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM "
		     "SUBJECT)] NIL)\r\n"
		     "* 3 FETCH (UID 9 X-GM-MSGID 18446744073709551615 BODY[HEADER.FIELDS "
		     "(MESSAGE-ID DATE FROM SUBJECT)] NIL)\r\n$ OK Fetch completed\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("UIDL"),
		HEAR("+OK Unique-ID listing follows"),
		HEAR_BYTES("1 GmailId11bdfc5cae0c8191\r\n2 GmailId1\r\n3 GmailIdffffffffffffffff\r\n"
			   ".\r\n"),
		CLIENT_END,
	};

	free(fx_conf()->upstream->uidl_format);
	fx_conf()->upstream->uidl_format = strdup("gmail");
	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	/* Stored: the same at the next login, whatever the form then. */
	ck_assert_int_eq(raw_int("HLEN %s", fx_key("uidl")), 3);
}
END_TEST

/* gmail against an upstream without X-GM-EXT-1: nothing to make them of,
   and nothing stored. */
START_TEST(gmail_uidls_need_x_gm_ext_1)
{
	static const struct peer_step imap[] = {
		UP_GREETING, UP_LOGIN, UP_THREE_KNOWN,
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("-ERR [SYS/PERM] The upstream does not give what the UIDL format needs"),
		CLIENT_END,
	};

	free(fx_conf()->upstream->uidl_format);
	fx_conf()->upstream->uidl_format = strdup("gmail");
	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_int_eq(raw_int("EXISTS %s", fx_key("uidl")), 0);
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=uidl_not_computable"));
}
END_TEST

/* ---- failures: the session stays in AUTHORIZATION ---- */

START_TEST(rejected_password_is_auth_error_after_the_delay)
{
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		AUTH_FAILED,
		/* RFC 1939: after a failed PASS, USER again. */
		SAY("PASS secret"),
		HEAR("-ERR USER first"),
		SAY("STAT"),
		HEAR("-ERR Command not valid in this state"),
		CLIENT_END,
	};
	struct imap_peer *p = upstream(up_rejects);
	struct pop3_client *c = pop3_connect(pop3);
	long long started;

	RUN_UNTIL(p->finished);
	started = peer_now_ms();
	RUN_UNTIL(c->step >= 5);
	/* Counted from the NO: the reply waited for the failure delay. */
	ck_assert_int_ge(peer_now_ms() - started, FX_AUTH_DELAY_MS - 5);
	DIALOGUE_DONE();
	ck_assert_int_eq(fx_session()->state, POP3_STATE_AUTHORIZATION);
	ck_assert_ptr_null(fx_session()->imap);
	ck_assert_ptr_null(fx_session()->drop);
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=login_failed user=" ALICE));
	ck_assert_int_eq(raw_int("DBSIZE%s", ""), 0);
}
END_TEST

/* A code saying it is not the password's fault: no [AUTH]. */
START_TEST(login_unavailable_is_temporary)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		EXPECT("* AUTHENTICATE PLAIN " ALICE_B64),
		SEND("$ NO [UNAVAILABLE] Backend down\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR(POP3_THROTTLE_REPLY),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

START_TEST(select_refused_is_permanent)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		UP_LOGIN,
		EXPECT("* SELECT \"INBOX\""),
		SEND("$ NO [NONEXISTENT] No such mailbox\r\n"),
		/* the listing, asked for right behind it */
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("-ERR [SYS/PERM] Cannot open the mailbox"),
		SAY("LIST"),
		HEAR("-ERR Command not valid in this state"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_int_eq(fx_session()->state, POP3_STATE_AUTHORIZATION);
	ck_assert_int_eq(raw_int("DBSIZE%s", ""), 0);
}
END_TEST

/* The listing asked for right behind the SELECT and refused (a server
   that would not run it before the SELECT was answered): asked for
   again, alone, and the login lists everything. */
START_TEST(listing_refused_behind_the_select_is_asked_again)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		UP_LOGIN,
		EXPECT("p2 SELECT \"INBOX\""),
		EXPECT("p3 UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n"
		     "* OK [UIDNEXT 20] Predicted next UID\r\np2 OK [READ-WRITE] Selected\r\n"
		     "p3 BAD not now\r\n"),
		UP_LIST("* 1 FETCH (UID 3 RFC822.SIZE 120 FLAGS (\\Seen))\r\n"
			"* 2 FETCH (UID 5 RFC822.SIZE 250 FLAGS ())\r\n"
			"* 3 FETCH (UID 9 RFC822.SIZE 1000 FLAGS (\\Answered))\r\n"),
		UP_FPS("3,5,9"),
		END_SCRIPT,
	};

	upstream(imap);
	pop3_connect(logs_in_three);
	DIALOGUE_DONE();
	ck_assert_int_eq(fx_session()->state, POP3_STATE_TRANSACTION);
}
END_TEST

/* Some servers refuse "1:*" in an empty mailbox: with EXISTS 0 that is
   the empty listing, not a failure, and nothing is asked again. */
START_TEST(empty_mailbox_refusing_the_listing_is_empty)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		UP_LOGIN,
		EXPECT("p2 SELECT \"INBOX\""),
		EXPECT("p3 UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n"
		     "* OK [UIDNEXT 1] Predicted next UID\r\np2 OK [READ-WRITE] Selected\r\n"
		     "p3 NO [SERVERBUG] Invalid messageset\r\n"),
		QUIET(50),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("+OK Logged in, 0 messages (0 octets)"),
		CLIENT_END,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

/* A listing is complete or the login fails: a malformed FETCH in the
   middle fails it all, and the next login lists everything. */
START_TEST(malformed_listing_fails_the_login_whole)
{
	static const struct peer_step bad[] = {
		UP_GREETING,
		UP_LOGIN,
		UP_SELECT("3"),
		UP_LIST("* 1 FETCH (UID 3 RFC822.SIZE 120 FLAGS ())\r\n"
			"* 2 FETCH (UID 5 FLAGS ())\r\n"
			"* 3 FETCH (UID 9 RFC822.SIZE 1000 FLAGS ())\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("-ERR [SYS/TEMP] Cannot list the mailbox"),
		SAY("STAT"),
		HEAR("-ERR Command not valid in this state"),
		USER_PASS,
		LOGGED_IN_THREE,
		SAY("STAT"),
		HEAR("+OK 3 1370"),
		CLIENT_END,
	};

	upstream(bad);
	upstream(up_three);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=upstream_bad_fetch"));
}
END_TEST

/* With a default upstream, a name without domain goes there as it is. */
START_TEST(bare_user_name_goes_to_the_default_upstream)
{
	static const struct client_step pop3[] = {
		GREETING,
		SAY("USER alice"),
		HEAR("+OK"),
		SAY("PASS secret"),
		HEAR("+OK Logged in, 0 messages (0 octets)"),
		CLIENT_END,
	};
	static const struct peer_step imap[] = {
		UP_GREETING,
		EXPECT("* AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA=="),
		SEND("$ OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
		UP_SELECT("0"),
		UP_LIST(""),
		END_SCRIPT,
	};

	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
}
END_TEST

/* A retry after a rejected password waits out the failure delay before
   it even connects; a success then clears the failures. */
START_TEST(retry_after_rejection_is_held_then_works)
{
	static const struct client_step again[] = {
		USER_PASS,
		LOGGED_IN_THREE,
		CLIENT_END,
	};
	struct pop3_client *c;
	long long started;

	upstream(up_rejects);
	upstream(up_three);
	c = pop3_connect(fails_auth);
	RUN_UNTIL(c->finished);
	started = peer_now_ms();
	client_script(c, again);
	RUN_UNTIL(fx.up_conns == 2);
	ck_assert_int_ge(peer_now_ms() - started, FX_AUTH_DELAY_MS - 5);
	DIALOGUE_DONE();
}
END_TEST

/* RFC 2449 LOGIN-DELAY: checked once the password is known good. */
START_TEST(login_delay_refuses_a_second_login_too_soon)
{
	static const struct client_step again[] = {
		GREETING,
		SAY("CAPA"),
		HEAR("+OK Capability list follows"),
		HEAR("TOP"),
		HEAR("UIDL"),
		HEAR("USER"),
		HEAR("SASL PLAIN"),
		HEAR("EXPIRE NEVER"),
		HEAR("LOGIN-DELAY 60"),
		HEAR("RESP-CODES"),
		HEAR("AUTH-RESP-CODE"),
		HEAR("PIPELINING"),
		HEAR_PREFIX("IMPLEMENTATION "),
		HEAR("."),
		USER_PASS,
		LOGIN_DELAYED,
		CLIENT_END,
	};

	fx_conf()->login_delay_secs = 60;
	upstream(up_three_logout);
	pop3_connect(logs_in_quits);
	DIALOGUE_DONE();
	upstream(up_login_only);
	pop3_connect(again);
	DIALOGUE_DONE();
	RUN_UNTIL(!lock_held("default"));
}
END_TEST

/* new_device_sees = new: a device seen for the first time starts at the
   mailbox's UIDNEXT; what arrives after is listed. */
START_TEST(new_device_sees_only_new_mail)
{
	static const struct peer_step later[] = {
		UP_GREETING,
		UP_LOGIN,
		EXPECT("* SELECT \"INBOX\""),
		SEND("* 4 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n"
		     "* OK [UIDNEXT 26] Predicted next UID\r\n$ OK [READ-WRITE] Selected\r\n"),
		UP_LIST("* 1 FETCH (UID 3 RFC822.SIZE 120 FLAGS (\\Seen))\r\n"
			"* 2 FETCH (UID 5 RFC822.SIZE 250 FLAGS ())\r\n"
			"* 3 FETCH (UID 9 RFC822.SIZE 1000 FLAGS ())\r\n"
			"* 4 FETCH (UID 25 RFC822.SIZE 77 FLAGS ())\r\n"),
		/* Only the new one: 3, 5 and 9 got theirs at the first login. */
		UP_FPS("25"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("+OK Logged in, 0 messages (0 octets)"),
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};
	static const struct client_step again[] = {
		GREETING,
		USER_PASS,
		HEAR("+OK Logged in, 1 messages (77 octets)"),
		SAY("UIDL"),
		HEAR("+OK Unique-ID listing follows"),
		HEAR_BYTES("1 0000001900000007\r\n.\r\n"),
		CLIENT_END,
	};

	fx_conf()->new_device_sees = fx_conf()->policy_profile.new_device_sees = CONF_NEW_DEVICE_NEW;
	upstream(up_three_logout);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	RUN_UNTIL(!lock_held("default"));
	upstream(later);
	pop3_connect(again);
	DIALOGUE_DONE();
}
END_TEST

/* A cold login after another (another gateway's, or before a restart)
   starts from the listing copy that one shared in Redis (shared_listing.h):
   without CONDSTORE, checked by the flags searches, not fetched whole, and
   what the server says now counts (5 is \Deleted now). A damaged copy is
   the whole listing again. */
START_TEST(cold_login_validates_the_shared_listing)
{
	/* A server across a network: Redis answers before its greeting
	   (a copy read after the login's answer is not waited for). */
	static const struct peer_step checked[] = {
		PAUSE(30), UP_GREETING, UP_LOGIN, UP_SELECT("3"),
		EXPECT("* UID SEARCH UID 1:19 DELETED"),
		SEND("* SEARCH 5\r\n$ OK Search completed\r\n"),
		EXPECT("* UID SEARCH UID 1:19 UNSEEN"),
		SEND("* SEARCH 9\r\n$ OK Search completed\r\n"),
		UP_LOGOUT,
		END_SCRIPT,
	};
	static const struct peer_step full[] = {
		PAUSE(30), UP_GREETING, UP_LOGIN, UP_THREE_KNOWN, UP_LOGOUT,
		END_SCRIPT,
	};
	static const struct client_step two[] = {
		GREETING,
		USER_PASS,
		HEAR("+OK Logged in, 2 messages (1120 octets)"),
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};
	redisReply *r;

	upstream(up_three_logout);
	pop3_connect(logs_in_quits);
	DIALOGUE_DONE();
	RUN_UNTIL(raw_int("EXISTS %s", fx_shared_listing_key()) == 1);
	ck_assert_int_eq(raw_int("STRLEN %s", fx_shared_listing_key()), 36 + 3 * 24);
	ck_assert_int_gt(raw_int("PTTL %s", fx_shared_listing_key()), 29LL * 86400 * 1000);
	ck_assert_ptr_nonnull(strstr(fx_log(), "listing_source=none"));

	upstream_with_copy(checked);
	pop3_connect(two);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "listing_source=redis"));
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=listing kind=checked"));
	/* Its validators did not move (flags do not move them without
	   CONDSTORE): the copy is not written again, the next login checks
	   the flags again anyway. */
	fx_run_for(50);
	ck_assert_ptr_null(strstr(strstr(fx_log(), "event=listing_shared state=stored") + 1,
				  "event=listing_shared state=stored"));

	r = raw_cmd("SETRANGE %s 40 zz", fx_shared_listing_key());
	freeReplyObject(r);
	upstream_with_copy(full);
	pop3_connect(logs_in_quits);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=listing_shared state=unused octets=108 "
				     "why=\"bad checksum\""));
}
END_TEST

/* [cache] share_listings = no: no copy written, none read. */
START_TEST(no_shared_listing_when_off)
{
	static const struct peer_step known[] = {
		UP_GREETING, UP_LOGIN, UP_THREE_KNOWN, UP_LOGOUT, END_SCRIPT,
	};

	fx_conf()->share_listings = CONF_SHARE_LISTINGS_NO;
	upstream(up_three_logout);
	pop3_connect(logs_in_quits);
	DIALOGUE_DONE();
	upstream_with_copy(known);
	pop3_connect(logs_in_quits);
	DIALOGUE_DONE();
	fx_run_for(50);
	ck_assert_int_eq(raw_int("EXISTS %s", fx_shared_listing_key()), 0);
	ck_assert_ptr_null(strstr(fx_log(), "event=listing_shared"));
	ck_assert_ptr_null(strstr(fx_log(), "listing_source=redis"));
}
END_TEST

/* The copy is read before the upstream accepted the password: decoded
   only within half of max_listing_memory, else not used (the login
   lists the mailbox whole and answers +OK), and its share goes back. */
START_TEST(shared_listing_within_half_the_listing_memory)
{
	static const struct peer_step full[] = {
		PAUSE(30), UP_GREETING, UP_LOGIN, UP_THREE_KNOWN, UP_LOGOUT,
		END_SCRIPT,
	};
	const uint64_t busy = (1u << 20) / 2 - 64;  /* a copy of 108 octets passes half */

	fx_conf()->max_listing_mib = 1;
	upstream(up_three_logout);
	pop3_connect(logs_in_quits);
	DIALOGUE_DONE();
	RUN_UNTIL(raw_int("EXISTS %s", fx_shared_listing_key()) == 1);

	fx.srv.listing_bytes = busy;        /* other logins' tables */
	upstream_with_copy(full);
	pop3_connect(logs_in_quits);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=listing_shared state=unused octets=108 "
				     "why=\"listing memory\""));
	ck_assert_ptr_null(strstr(fx_log(), "listing_source=redis"));
	fx_run_for(50);
	ck_assert_uint_eq(fx.srv.listing_bytes, busy);
	fx.srv.listing_bytes = 0;
}
END_TEST

/* ---- exclusive access per device ---- */

START_TEST(second_session_of_the_device_is_in_use)
{
	static const struct client_step again[] = {
		GREETING,
		USER_PASS,
		HEAR("-ERR [IN-USE] This device already has a session open"),
		CLIENT_END,
	};
	static const struct client_step phone[] = {
		SAY("USER " ALICE "#phone"),
		HEAR("+OK"),
		SAY("PASS secret"),
		LOGGED_IN_THREE,
		CLIENT_END,
	};
	static const struct client_step quit[] = {
		SAY("STAT"),
		HEAR("+OK 3 1370"),
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};
	struct pop3_client *c1, *c2;

	upstream(up_three_logout);
	c1 = pop3_connect(logs_in_three);
	RUN_UNTIL(c1->finished);
	upstream(up_three_known);
	upstream(up_three_known);
	c2 = pop3_connect(again);
	RUN_UNTIL(c2->finished);
	/* The refused login listed the mailbox and shared it: the phone's
	   login is scripted as a cold one's whole listing. */
	fx_drop_shared_listing();
	client_script(c2, phone);
	RUN_UNTIL(c2->finished);
	ck_assert(lock_held("default"));
	ck_assert(lock_held("phone"));
	/* The first session is untouched by the refusal. */
	client_script(c1, quit);
	DIALOGUE_DONE();
	RUN_UNTIL(!lock_held("default"));
	ck_assert(lock_held("phone"));
}
END_TEST

/* A listing that would pass max_listing_memory (16m here; 2,000,000
   messages take about 40 MB) fails the login as the SELECT is answered,
   before anything of the listing asked for behind it is read, and what
   it would have reserved is not kept. */
START_TEST(listing_beyond_the_memory_budget_is_refused)
{
	static const struct peer_step imap[] = {
		UP_GREETING,
		UP_LOGIN,
		UP_SELECT("2000000"),
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		QUIET(100),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS,
		HEAR("-ERR [SYS/TEMP] The gateway is too busy, try again later"),
		CLIENT_END,
	};

	fx_conf()->max_listing_mib = 16;
	upstream(imap);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=listing_memory_full"));
	ck_assert_uint_eq(fx.srv.listing_bytes, 0);
	ck_assert(!lock_held("default"));
}
END_TEST

/* A logged-in session holds its table's share of the budget; it goes
   when the session ends. */
START_TEST(session_holds_its_listing_memory_until_it_ends)
{
	struct pop3_client *c;

	upstream(up_three_logout);
	c = pop3_connect(logs_in_three);
	RUN_UNTIL(c->finished);
	/* the table and the UIDs listed; the default form's UIDLs take
	   none */
	ck_assert_uint_eq(fx.srv.listing_bytes, 3 * (sizeof(struct pop3_msg) + 4));
	client_script(c, quits);
	DIALOGUE_DONE();
	RUN_UNTIL(fx.srv.sessions == 0);
	ck_assert_uint_eq(fx.srv.listing_bytes, 0);
}
END_TEST

/* At most two re-maps run at once (POP3_MAX_REMAPS, each holding a
   table of the whole mailbox): a third login that must follow a recreated
   mailbox meanwhile is told to come back, and changes nothing. */
START_TEST(third_concurrent_remap_is_deferred)
{
	/* The re-map's fingerprints come before any UIDL is assigned. */
	static const struct peer_step held[] = {
		UP_GREETING, UP_LOGIN, UP_THREE_KNOWN,
		EXPECT("* UID FETCH 3,5,9 (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS "
		       "(MESSAGE-ID DATE FROM SUBJECT)])"),
		HOLD(),
	};
	static const struct peer_step refused[] = {
		UP_GREETING, UP_LOGIN, UP_THREE_KNOWN,
		END_SCRIPT,
	};
	static const struct client_step first[] = {
		GREETING,
		USER_PASS,
		CLIENT_END,
	};
	static const struct client_step second[] = {
		GREETING,
		SAY("USER " ALICE "#phone"),
		HEAR("+OK"),
		SAY("PASS secret"),
		CLIENT_END,
	};
	static const struct client_step third[] = {
		GREETING,
		SAY("USER " ALICE "#tablet"),
		HEAR("+OK"),
		SAY("PASS secret"),
		HEAR("-ERR [SYS/TEMP] Busy following recreated mailboxes, try again in a minute"),
		CLIENT_END,
	};
	static const struct client_step hang_up[] = {
		HANG_UP_RESET(),
		CLIENT_END,
	};
	struct imap_peer *p1, *p2, *p3;
	struct pop3_client *c1, *c2, *c3;
	redisReply *r;

	fx_conf()->upstream->timeout_secs = 1;
	freeReplyObject(raw_cmd("SET %s 6", fx_key("uidvalidity")));
	p1 = upstream(held);
	c1 = pop3_connect(first);
	RUN_UNTIL(p1->finished && c1->finished);
	p2 = upstream(held);
	c2 = pop3_connect(second);
	RUN_UNTIL(p2->finished && c2->finished);
	ck_assert_uint_eq(fx.srv.remaps, 2);
	p3 = upstream(refused);
	c3 = pop3_connect(third);
	RUN_UNTIL(p3->finished && c3->finished);
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=remap_deferred remaps=2"));
	ck_assert(!lock_held("tablet"));
	/* They all end; nothing moved to the new numbering. */
	client_script(c1, hang_up);
	client_script(c2, hang_up);
	client_script(c3, hang_up);
	RUN_UNTIL(fx.srv.sessions == 0);
	ck_assert_uint_eq(fx.srv.remaps, 0);
	r = raw_cmd("GET %s", fx_key("uidvalidity"));
	ck_assert_str_eq(r->str, "6");
	freeReplyObject(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pop3_login");
	TCase *tc = fx_tcase("login");

	tcase_add_test(tc, user_pass_logs_in_upstream_and_lists);
	tcase_add_test(tc, login_with_literals_after_id);
	tcase_add_test(tc, auth_plain_with_initial_response);
	tcase_add_test(tc, auth_plain_after_continuation);
	tcase_add_test(tc, auth_plain_cancelled_stays_in_authorization);
	tcase_add_test(tc, deleted_flag_is_not_listed);
	tcase_add_test(tc, gmail_uidls_from_x_gm_msgid);
	tcase_add_test(tc, gmail_uidls_need_x_gm_ext_1);
	tcase_add_test(tc, rejected_password_is_auth_error_after_the_delay);
	tcase_add_test(tc, login_unavailable_is_temporary);
	tcase_add_test(tc, select_refused_is_permanent);
	tcase_add_test(tc, malformed_listing_fails_the_login_whole);
	tcase_add_test(tc, listing_refused_behind_the_select_is_asked_again);
	tcase_add_test(tc, empty_mailbox_refusing_the_listing_is_empty);
	tcase_add_test(tc, bare_user_name_goes_to_the_default_upstream);
	tcase_add_test(tc, retry_after_rejection_is_held_then_works);
	tcase_add_test(tc, login_delay_refuses_a_second_login_too_soon);
	tcase_add_test(tc, new_device_sees_only_new_mail);
	tcase_add_test(tc, cold_login_validates_the_shared_listing);
	tcase_add_test(tc, no_shared_listing_when_off);
	tcase_add_test(tc, shared_listing_within_half_the_listing_memory);
	tcase_add_test(tc, second_session_of_the_device_is_in_use);
	tcase_add_test(tc, listing_beyond_the_memory_budget_is_refused);
	tcase_add_test(tc, session_holds_its_listing_memory_until_it_ends);
	tcase_add_test(tc, third_concurrent_remap_is_deferred);
	suite_add_tcase(s, tc);
	return fx_run(s);
}
