/* Device profiles at login (profile.h): what the listing asks upstream
   for, and what the maildrop then holds, against a scripted upstream. */

#include "pop3_fixture.h"

/* A [device phone] section: show = unseen, max_age = 1d; the other
   devices get [policy]. Freed with the configuration. */
static void phone_profile(void)
{
	struct conf *conf = fx_conf();

	conf->profiles = calloc(1, sizeof(*conf->profiles));
	ck_assert_ptr_nonnull(conf->profiles);
	conf->profile_count = 1;
	conf->profiles[0] = conf->policy_profile;
	conf->profiles[0].pattern = strdup("phone");
	ck_assert_ptr_nonnull(conf->profiles[0].pattern);
	conf->profiles[0].show = CONF_SHOW_UNSEEN;
	conf->profiles[0].max_age_secs = 86400;
}

#define USER_PASS_PHONE SAY("USER " ALICE "#phone"), HEAR("+OK"), SAY("PASS secret")

/* With max_age the listing fetches INTERNALDATE; \Seen, old and \Deleted
   messages are left out; only what is listed needs a UIDL now (the
   others get theirs, once, at a login that lists them). */
START_TEST(phone_lists_unseen_recent_only)
{
	static const struct peer_step up[] = {
		UP_GREETING,
		UP_LOGIN,
		UP_SELECT("4"),
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)"),
		SEND("* 1 FETCH (UID 3 RFC822.SIZE 120 FLAGS (\\Seen) "
		     "INTERNALDATE \"01-Jan-2100 00:00:00 +0000\")\r\n"
		     "* 2 FETCH (UID 5 RFC822.SIZE 250 FLAGS () "
		     "INTERNALDATE \"17-Jul-2000 02:44:25 -0700\")\r\n"
		     "* 3 FETCH (UID 9 RFC822.SIZE 1000 FLAGS (\\Answered) "
		     "INTERNALDATE \"01-Jan-2100 00:00:00 +0000\")\r\n"
		     "* 4 FETCH (UID 11 RFC822.SIZE 10 FLAGS (\\Deleted) "
		     "INTERNALDATE \"01-Jan-2100 00:00:00 +0000\")\r\n"
		     "$ OK Fetch completed\r\n"),
		UP_FPS("9"),
		UP_LOGOUT,
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS_PHONE,
		HEAR("+OK Logged in, 1 messages (1000 octets)"),
		SAY("UIDL"),
		HEAR("+OK Unique-ID listing follows"),
		HEAR_BYTES("1 0000000900000007\r\n.\r\n"),
		SAY("QUIT"),
		BYE,
		CLIENT_END,
	};

	phone_profile();
	upstream(up);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "event=device_view device=phone profile=phone "
				     "new_device=yes left_out=2 hidden=0 visible=1"));
}
END_TEST

/* A server that leaves out the INTERNALDATE it was asked for: the listing
   is incomplete, the login fails whole. */
START_TEST(missing_internaldate_fails_the_login)
{
	static const struct peer_step up[] = {
		UP_GREETING,
		UP_LOGIN,
		UP_SELECT("2"),
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)"),
		SEND("* 1 FETCH (UID 3 RFC822.SIZE 120 FLAGS () "
		     "INTERNALDATE \"01-Jan-2100 00:00:00 +0000\")\r\n"
		     "* 2 FETCH (UID 5 RFC822.SIZE 250 FLAGS ())\r\n"
		     "$ OK Fetch completed\r\n"),
		END_SCRIPT,
	};
	static const struct client_step pop3[] = {
		GREETING,
		USER_PASS_PHONE,
		HEAR("-ERR [SYS/TEMP] Cannot list the mailbox"),
		CLIENT_END,
	};

	phone_profile();
	upstream(up);
	pop3_connect(pop3);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "FETCH response without INTERNALDATE"));
}
END_TEST

/* Another device of the same configuration: [policy], no INTERNALDATE
   asked for, everything not \Deleted listed. */
START_TEST(other_device_gets_policy)
{
	phone_profile();
	upstream(up_three_logout);
	pop3_connect(logs_in_quits);
	DIALOGUE_DONE();
	ck_assert_ptr_nonnull(strstr(fx_log(), "profile=[policy]"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pop3_profile");
	TCase *tc = fx_tcase("profile");

	tcase_add_test(tc, phone_lists_unseen_recent_only);
	tcase_add_test(tc, missing_internaldate_fails_the_login);
	tcase_add_test(tc, other_device_gets_policy);
	suite_add_tcase(s, tc);
	return fx_run(s);
}
