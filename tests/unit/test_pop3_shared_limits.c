/* [server] shared_limits as dialogues: failure counts and LOGIN-DELAY
   records that another gateway left in the store hold here; what this
   gateway counts goes to the store; with the store gone the local tables
   decide alone. */

#include "pop3_fixture.h"

#define IP_KEY "popgate:{ip:127.0.0.1}:authfail"

/* The count in key, 0 when there is none. */
static long long count_of(const char *key)
{
	redisReply *r = raw_cmd("GET %s", key);
	long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;

	freeReplyObject(r);
	return v;
}

static void shared(void)
{
	fx_conf()->shared_limits = true;
}

static void store_ready(void)
{
	RUN_UNTIL(cache_available(fx.srv.cache));
}

/* Another gateway's failures from this address: the attempt is held
   before the upstream is even asked. */
START_TEST(failures_elsewhere_hold_the_attempt)
{
	long long started;

	shared();
	freeReplyObject(raw_cmd("SET " IP_KEY " 3 PX 60000"));
	upstream(up_three_logout);
	store_ready();
	started = peer_now_ms();
	pop3_connect(logs_in_quits);
	RUN_UNTIL(fx.up_conns == 1);
	ck_assert_int_ge(peer_now_ms() - started, FX_AUTH_DELAY_MS - 5);
	DIALOGUE_DONE();
	/* alice had none of them: the address keeps the other users' */
	ck_assert_int_eq(count_of(IP_KEY), 3);
	ck_assert_int_eq(raw_int("EXISTS %s", fx_key("authfail")), 0);
	RUN_UNTIL(!lock_held("default"));
}
END_TEST

/* Without shared_limits the store's counts mean nothing here. */
START_TEST(not_shared_ignores_the_store)
{
	freeReplyObject(raw_cmd("SET " IP_KEY " 3 PX 60000"));
	upstream(up_three_logout);
	store_ready();
	pop3_connect(logs_in_quits);
	DIALOGUE_DONE();
	/* not counted down by alice's success either */
	ck_assert_int_eq(count_of(IP_KEY), 3);
	RUN_UNTIL(!lock_held("default"));
}
END_TEST

/* A rejected password counts in the store, per address and per user,
   expiring; the next correct login takes them off. */
START_TEST(failure_is_counted_in_the_store)
{
	long long ttl;

	shared();
	upstream(up_rejects);
	store_ready();
	pop3_connect(fails_auth);
	DIALOGUE_DONE();
	RUN_UNTIL(raw_int("EXISTS %s", fx_key("authfail")) == 1);
	ck_assert_int_eq(count_of(IP_KEY), 1);
	ck_assert_int_eq(count_of(fx_key("authfail")), 1);
	ttl = raw_int("PTTL %s", IP_KEY);
	ck_assert_int_gt(ttl, 0);
	ck_assert_int_le(ttl, (long long)fx.srv.settings->conf->auth_fail_window_secs * 1000);
	upstream(up_three_logout);
	pop3_connect(logs_in_quits);
	DIALOGUE_DONE();
	RUN_UNTIL(raw_int("EXISTS %s", IP_KEY) == 0);
	ck_assert_int_eq(raw_int("EXISTS %s", fx_key("authfail")), 0);
	RUN_UNTIL(!lock_held("default"));
}
END_TEST

/* Another gateway's LOGIN-DELAY record refuses the login here. */
START_TEST(login_delay_record_elsewhere_refuses)
{
	static const struct client_step refused[] = {
		GREETING,
		USER_PASS,
		LOGIN_DELAYED,
		CLIENT_END,
	};

	shared();
	fx_conf()->login_delay_secs = 60;
	freeReplyObject(raw_cmd("SET %s 1 PX 30000", fx_key("logindelay:default")));
	upstream(up_login_only);
	store_ready();
	pop3_connect(refused);
	DIALOGUE_DONE();
	ck_assert(strstr(fx_log(), "try again in 30 seconds") != NULL ||
		  strstr(fx_log(), "try again in 29 seconds") != NULL);
}
END_TEST

/* The store is gone: the local table still holds the next attempt, and
   nothing waits for the store. */
START_TEST(store_down_local_tables_decide)
{
	static const struct client_step fails_then_held[] = {
		GREETING,
		USER_PASS,
		HEAR("-ERR [AUTH] Authentication failed"),
		USER_PASS,
		HEAR("-ERR [AUTH] Authentication failed"),
		CLIENT_END,
	};
	struct pop3_client *c;
	long long started;

	shared();
	upstream(up_rejects);
	upstream(up_rejects);
	store_ready();
	redis_kill(SIGKILL);
	RUN_UNTIL(!cache_available(fx.srv.cache));
	c = pop3_connect(fails_then_held);
	RUN_UNTIL(fx.up_conns == 1 && c->step >= 4);
	started = peer_now_ms();
	RUN_UNTIL(fx.up_conns == 2);
	/* held by this gateway's own count of the first failure */
	ck_assert_int_ge(peer_now_ms() - started, FX_AUTH_DELAY_MS - 5);
	DIALOGUE_DONE();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pop3_shared_limits");
	TCase *tc = fx_tcase("shared_limits");

	tcase_add_test(tc, failures_elsewhere_hold_the_attempt);
	tcase_add_test(tc, not_shared_ignores_the_store);
	tcase_add_test(tc, failure_is_counted_in_the_store);
	tcase_add_test(tc, login_delay_record_elsewhere_refuses);
	tcase_add_test(tc, store_down_local_tables_decide);
	suite_add_tcase(s, tc);
	return fx_run(s);
}
