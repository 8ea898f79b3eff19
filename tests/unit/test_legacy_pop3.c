/* Dialogue tests for the legacy POP3 client (legacy_pop3.c) against a
   scripted server on loopback: the command order, pipelined TOPs where
   the server says PIPELINING and one at a time where it does not, the
   headers hashed, and each way it fails. */

#include <stdlib.h>

#include <event2/dns.h>

#include "imap_peer.h"
#include "legacy_pop3.h"
#include "tls.h"

static struct event_base *base;
static struct imap_peer peer;
static struct tls_client_ctx *ctx;
static struct legacy_pop3 *client;

static struct {
	int calls;
	enum legacy_pop3_result result;
	char reason[300];
	struct legacy_msg msgs[8];
	size_t n;
} got;

static void done_cb(void *c, enum legacy_pop3_result r, const char *reason,
		    const struct legacy_msg *msgs, size_t n)
{
	got.calls++;
	got.result = r;
	snprintf(got.reason, sizeof(got.reason), "%s", reason);
	ck_assert(r == LEGACY_POP3_OK ? (msgs != NULL || n == 0) : (msgs == NULL && n == 0));
	got.n = n;
	for (size_t i = 0; i < n && i < 8; i++)
		got.msgs[i] = msgs[i];
}

static void setup(void)
{
	char *error = NULL;

	tls_init();
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ctx = tls_client_ctx_new(false, NULL, &error);
	ck_assert_ptr_nonnull(ctx);
	memset(&got, 0, sizeof(got));
}

static void teardown(void)
{
	legacy_pop3_free(&client);
	peer_free(&peer);
	tls_client_ctx_free(&ctx);
	event_base_free(base);
}

static void start(const struct peer_step *script, bool plaintext, unsigned int timeout,
		  uint32_t max)
{
	struct legacy_pop3_settings set = {
		.host = "127.0.0.1", .implicit_tls = false, .allow_plaintext = plaintext,
		.tls_ctx = ctx, .timeout_secs = timeout, .user = "lz", .user_len = 2,
		.pass = "pw d", .pass_len = 4, .max_messages = max, .log_id = "test",
	};

	peer_start(&peer, base, script);
	set.port = peer.port;
	client = legacy_pop3_start(base, NULL, &set, done_cb, NULL);
	ck_assert_ptr_nonnull(client);
	ck_assert_int_eq(got.calls, 0);    /* never from inside the call */
}

#define LOGIN \
	SEND_N("+OK ready\r\n", 11, 1), EXPECT("STLS"), SEND("-ERR no TLS here\r\n"), \
	EXPECT("USER lz"), SEND("+OK\r\n"), EXPECT("PASS pw d"), SEND("+OK 3 messages\r\n")

#define UIDL_LIST \
	EXPECT("UIDL"), SEND("+OK\r\n1 aaa\r\n2 bbb\r\n3 ccc\r\n.\r\n"), \
	EXPECT("LIST"), SEND("+OK\r\n1 100\r\n2 200 extra\r\n3 130\r\n.\r\n")

/* Message 3 is message 1 with what an mbox server adds; message 2 has a
   line that begins with a dot, and body lines after its header. */
#define TOP1 "+OK\r\nFrom: a@x\r\nSubject: one\r\n\r\n.\r\n"
#define TOP2 "+OK\r\nFrom: b@x\r\n..dot: d\r\n\r\nbody line\r\n.\r\n"
#define TOP3 "+OK\r\nStatus: RO\r\nFrom: a@x\r\nX-UIDL: ccc\r\nSubject:  one\r\n\r\n.\r\n"

static void check_three(void)
{
	ck_assert_int_eq(got.calls, 1);
	ck_assert_msg(got.result == LEGACY_POP3_OK, "%s", got.reason);
	ck_assert_uint_eq(got.n, 3);
	ck_assert_str_eq(got.msgs[0].uidl, "aaa");
	ck_assert_str_eq(got.msgs[2].uidl, "ccc");
	ck_assert_uint_eq(got.msgs[1].msgno, 2);
	ck_assert_uint_eq(got.msgs[1].size, 200);
	ck_assert_uint_eq(strlen(got.msgs[0].hash), 64);
	ck_assert_str_eq(got.msgs[0].hash, got.msgs[2].hash);
	ck_assert_str_ne(got.msgs[0].hash, got.msgs[1].hash);
}

START_TEST(pipelined_tops)
{
	static const struct peer_step script[] = {
		LOGIN,
		EXPECT("CAPA"), SEND("+OK\r\nTOP\r\nPIPELINING\r\nUIDL\r\n.\r\n"),
		UIDL_LIST,
		/* every TOP before any answer */
		EXPECT("TOP 1 0"), EXPECT("TOP 2 0"), EXPECT("TOP 3 0"),
		SEND_N(TOP1 TOP2 TOP3, sizeof(TOP1 TOP2 TOP3) - 1, 7),
		EXPECT("QUIT"), SEND("+OK bye\r\n"),
		END_SCRIPT,
	};
	char hash2[LEGACY_POP3_HASH_HEX + 1];

	start(script, true, 10, 10);
	PEER_FINISH(&peer);
	PEER_RUN_UNTIL(&peer, got.calls == 1);
	check_three();
	ck_assert(legacy_pop3_pipelining(client));
	/* The header of message 2 as it is once unstuffed. */
	tls_sha256_hex("from:b@x\n.dot:d\n", 16, hash2);
	ck_assert_str_eq(got.msgs[1].hash, hash2);
}
END_TEST

START_TEST(one_top_at_a_time_without_pipelining)
{
	static const struct peer_step script[] = {
		LOGIN,
		EXPECT("CAPA"), SEND("-ERR unknown command\r\n"),
		UIDL_LIST,
		EXPECT("TOP 1 0"), QUIET(50), SEND(TOP1),
		EXPECT("TOP 2 0"), QUIET(50), SEND(TOP2),
		EXPECT("TOP 3 0"), QUIET(50), SEND(TOP3),
		EXPECT("QUIT"), CLOSE(),
		END_SCRIPT,
	};

	start(script, true, 10, 10);
	PEER_FINISH(&peer);
	PEER_RUN_UNTIL(&peer, got.calls == 1);
	check_three();
	ck_assert(!legacy_pop3_pipelining(client));
}
END_TEST

START_TEST(empty_maildrop)
{
	static const struct peer_step script[] = {
		LOGIN,
		EXPECT("CAPA"), SEND("-ERR\r\n"),
		EXPECT("UIDL"), SEND("+OK\r\n.\r\n"), EXPECT("LIST"), SEND("+OK\r\n.\r\n"),
		EXPECT("QUIT"), SEND("+OK\r\n"),
		END_SCRIPT,
	};

	start(script, true, 10, 10);
	PEER_FINISH(&peer);
	PEER_RUN_UNTIL(&peer, got.calls == 1);
	ck_assert_int_eq(got.result, LEGACY_POP3_OK);
	ck_assert_uint_eq(got.n, 0);
}
END_TEST

/* Each failure: the result, a reason that names it, and nothing more
   sent (the connection is closed at once). */
static const struct {
	struct peer_step script[20];
	bool plaintext;
	uint32_t max;
	enum legacy_pop3_result result;
	const char *reason;
} failures[] = {
	{ { SEND("+OK ready\r\n"), EXPECT("STLS"), SEND("-ERR no\r\n"), QUIET(100), END_SCRIPT },
	  false, 10, LEGACY_POP3_NO_TLS, "does not offer STLS" },
	{ { SEND("* OK IMAP4rev1 ready\r\n"), QUIET(100), END_SCRIPT },
	  true, 10, LEGACY_POP3_PROTOCOL, "neither +OK nor -ERR" },
	{ { SEND("-ERR busy\r\n"), QUIET(100), END_SCRIPT },
	  true, 10, LEGACY_POP3_UNREACHABLE, "greeting -ERR busy" },
	{ { SEND("+OK\r\n"), EXPECT("STLS"), SEND("-ERR\r\n"), EXPECT("USER lz"),
	    SEND("+OK\r\n"), EXPECT("PASS pw d"), SEND("-ERR [AUTH] wrong \"pw\"\r\n"),
	    QUIET(100), END_SCRIPT },
	  true, 10, LEGACY_POP3_AUTH, "refused the password: -ERR [AUTH] wrong ?pw?" },
	{ { LOGIN, EXPECT("CAPA"), SEND("-ERR\r\n"), EXPECT("UIDL"),
	    SEND("+OK\r\n1 a\r\n2 b\r\n3 c\r\n"), QUIET(100), END_SCRIPT },
	  true, 2, LEGACY_POP3_LIMIT, "more than 2 messages" },
	{ { LOGIN, EXPECT("CAPA"), SEND("-ERR\r\n"), EXPECT("UIDL"),
	    SEND("+OK\r\n2 a\r\n1 b\r\n"), QUIET(100), END_SCRIPT },
	  true, 10, LEGACY_POP3_PROTOCOL, "not ascending" },
	{ { LOGIN, EXPECT("CAPA"), SEND("-ERR\r\n"), EXPECT("UIDL"),
	    SEND("+OK\r\n1 a\r\n2 b\r\n.\r\n"), EXPECT("LIST"),
	    SEND("+OK\r\n1 10\r\n3 30\r\n"), QUIET(100), END_SCRIPT },
	  true, 10, LEGACY_POP3_PROTOCOL, "LIST and UIDL list other messages" },
	{ { LOGIN, EXPECT("CAPA"), SEND("-ERR\r\n"), EXPECT("UIDL"),
	    SEND("-ERR UIDL not supported\r\n"), QUIET(100), END_SCRIPT },
	  true, 10, LEGACY_POP3_PROTOCOL, "uidl: -ERR UIDL not supported" },
	{ { LOGIN, EXPECT("CAPA"), SEND("-ERR\r\n"), EXPECT("UIDL"),
	    SEND("+OK\r\n1 a\r\n.\r\n"), EXPECT("LIST"), SEND("+OK\r\n1 10\r\n.\r\n"),
	    EXPECT("TOP 1 0"), SEND("-ERR no TOP\r\n"), QUIET(100), END_SCRIPT },
	  true, 10, LEGACY_POP3_PROTOCOL, "top: -ERR no TOP" },
	{ { SEND("+OK\r\n"), EXPECT("STLS"), CLOSE(), END_SCRIPT },
	  true, 10, LEGACY_POP3_UNREACHABLE, "closed the connection (at stls)" },
};

START_TEST(failure_table)
{
	start(failures[_i].script, failures[_i].plaintext, 10, failures[_i].max);
	PEER_RUN_UNTIL(&peer, got.calls == 1);
	PEER_FINISH(&peer);
	ck_assert_int_eq(got.calls, 1);
	ck_assert_msg(got.result == failures[_i].result, "%d: %s", got.result, got.reason);
	ck_assert_msg(strstr(got.reason, failures[_i].reason) != NULL, "\"%s\" lacks \"%s\"",
		      got.reason, failures[_i].reason);
}
END_TEST

START_TEST(whole_import_bounded_by_the_timeout)
{
	static const struct peer_step script[] = {
		SEND("+OK ready\r\n"), EXPECT("STLS"), SEND("-ERR\r\n"), EXPECT("USER lz"),
		HOLD(),
	};
	long long t0 = peer_now_ms();

	start(script, true, 1, 10);
	PEER_RUN_UNTIL(&peer, got.calls == 1);
	ck_assert_int_eq(got.result, LEGACY_POP3_TIMEOUT);
	ck_assert_ptr_nonnull(strstr(got.reason, "no complete answer within 1s (at user)"));
	ck_assert_int_ge(peer_now_ms() - t0, 900);
}
END_TEST

/* Bounded: the octets read in all (a server that never stops talking). */
START_TEST(octets_bounded)
{
	static char big[4096];
	static struct peer_step script[] = {
		SEND("+OK\r\n"), EXPECT("STLS"), SEND("-ERR\r\n"), EXPECT("USER lz"),
		SEND("+OK\r\n"), EXPECT("PASS pw d"), SEND("+OK\r\n"), EXPECT("CAPA"),
		SEND_N(big, sizeof(big), 0), QUIET(100), END_SCRIPT,
	};
	struct legacy_pop3_settings set = {
		.host = "127.0.0.1", .allow_plaintext = true, .tls_ctx = ctx, .timeout_secs = 10,
		.user = "lz", .user_len = 2, .pass = "pw d", .pass_len = 4, .max_messages = 10,
		.max_bytes = 2000,
	};
	size_t o = (size_t)snprintf(big, sizeof(big), "+OK\r\n");

	while (o + 8 < sizeof(big))
		o += (size_t)snprintf(big + o, sizeof(big) - o, "X-CAP\r\n");
	script[8].len = o;
	peer_start(&peer, base, script);
	set.port = peer.port;
	client = legacy_pop3_start(base, NULL, &set, done_cb, NULL);
	ck_assert_ptr_nonnull(client);
	PEER_RUN_UNTIL(&peer, got.calls == 1);
	PEER_FINISH(&peer);
	ck_assert_int_eq(got.result, LEGACY_POP3_LIMIT);
	ck_assert_ptr_nonnull(strstr(got.reason, "more than 2000 octets"));
}
END_TEST

START_TEST(unreachable_port)
{
	struct legacy_pop3_settings set = {
		.host = "127.0.0.1", .port = 1, .allow_plaintext = true, .tls_ctx = ctx,
		.timeout_secs = 5, .user = "lz", .user_len = 2, .pass = "p", .pass_len = 1,
		.max_messages = 10,
	};
	long long end = peer_now_ms() + WAIT_MS;

	client = legacy_pop3_start(base, NULL, &set, done_cb, NULL);
	ck_assert_ptr_nonnull(client);
	while (got.calls == 0 && peer_now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_eq(got.result, LEGACY_POP3_UNREACHABLE);
	ck_assert_ptr_nonnull(strstr(got.reason, "127.0.0.1:1"));
}
END_TEST

START_TEST(credentials_that_pop3_cannot_carry)
{
	struct legacy_pop3_settings set = {
		.host = "127.0.0.1", .port = 1, .tls_ctx = ctx, .timeout_secs = 5,
		.user = "lz", .user_len = 2, .pass = "a\r\nDELE 1", .pass_len = 9,
		.max_messages = 10,
	};

	ck_assert_ptr_null(legacy_pop3_start(base, NULL, &set, done_cb, NULL));
	set.pass = "p";
	set.pass_len = 1;
	set.user = "l\0z";
	set.user_len = 3;
	ck_assert_ptr_null(legacy_pop3_start(base, NULL, &set, done_cb, NULL));
	ck_assert_int_eq(got.calls, 0);
}
END_TEST

static Suite *legacy_pop3_suite(void)
{
	Suite *s = suite_create("legacy_pop3");
	TCase *tc = tcase_create("legacy_pop3");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, pipelined_tops);
	tcase_add_test(tc, one_top_at_a_time_without_pipelining);
	tcase_add_test(tc, empty_maildrop);
	tcase_add_loop_test(tc, failure_table, 0, sizeof(failures) / sizeof(failures[0]));
	tcase_add_test(tc, whole_import_bounded_by_the_timeout);
	tcase_add_test(tc, octets_bounded);
	tcase_add_test(tc, unreachable_port);
	tcase_add_test(tc, credentials_that_pop3_cannot_carry);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(legacy_pop3_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
