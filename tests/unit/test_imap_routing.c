/* Dialogue tests for where an untagged response goes with commands
   pipelined (imap_client.h): a server may answer a later command before
   it ends an earlier one (RFC 3501 5.5), so a line goes to the oldest
   command that claims it (by kind, UID and items asked for), and only
   what no command claims goes to the oldest, as unsolicited. Each test
   has the scripted server answer the later command first, without a
   literal, and checks what the operation reports: a UID found, a
   fingerprint, a small body, a listing. */

#include "imap_client_fixture.h"
#include "imap_body.h"
#include "imap_fp.h"
#include "imap_mailbox.h"
#include "imap_sync.h"

#define GREETING "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"
#define FP_FETCH(set) "UID FETCH " set " (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS " \
	"(MESSAGE-ID DATE FROM SUBJECT)])"

/* ---- what the operations report ---- */

static int exists_calls;
static enum imap_exists exists_answer;

static void exists_cb(void *ctx, enum imap_exists answer)
{
	(void)ctx;
	exists_calls++;
	exists_answer = answer;
}

struct fp_rec {
	int done_calls, messages;
	bool ok;
	uint32_t uid;
	char fp[IMAP_FP_HEX + 1];
	int64_t internaldate;
};

static void fp_message(void *ctx, uint32_t uid, const char *fp, int64_t internaldate)
{
	struct fp_rec *r = ctx;

	r->messages++;
	r->uid = uid;
	snprintf(r->fp, sizeof(r->fp), "%s", fp);
	r->internaldate = internaldate;
}

static void fp_done(void *ctx, bool ok)
{
	struct fp_rec *r = ctx;

	r->done_calls++;
	r->ok = ok;
}

static const struct imap_fp_handlers fp_handlers = {
	.message = fp_message,
	.done = fp_done,
};

struct body_rec {
	int done_calls;
	bool found, complete, ok;
	char data[64];
	size_t len;
};

static void body_begin(void *ctx, const struct imap_body_start *start)
{
	(void)ctx;
	(void)start;
}

static size_t body_room(void *ctx)
{
	(void)ctx;
	return 4096;
}

static void body_data(void *ctx, const unsigned char *data, size_t len)
{
	struct body_rec *r = ctx;

	if (len > sizeof(r->data) - 1 - r->len)
		len = sizeof(r->data) - 1 - r->len;
	memcpy(r->data + r->len, data, len);
	r->len += len;
	r->data[r->len] = '\0';
}

static void body_done(void *ctx, const struct imap_body_result *res)
{
	struct body_rec *r = ctx;

	r->done_calls++;
	r->found = res->found;
	r->complete = res->complete;
	r->ok = res->reply->result == IMAP_REPLY_OK;
}

static const struct imap_body_handlers body_handlers = {
	.begin = body_begin, .room = body_room, .data = body_data, .done = body_done,
};

static void body_fetch(struct imap_body_op *op, struct body_rec *r, uint32_t uid)
{
	struct imap_body_request req = { .uid = uid, .part = IMAP_BODY_WHOLE, .peek = true };

	ck_assert_int_eq(imap_body_fetch(op, client, &req, &body_handlers, r), 0);
}

static void routing_setup(void)
{
	exists_calls = 0;
	exists_answer = IMAP_EXISTS_FAILED;
}

struct list_rec {
	int done_calls, messages;
	bool ok;
	uint32_t uids[8];
	uint64_t sizes[8];
};

static bool list_message(void *ctx, uint32_t uid, uint64_t size, unsigned int flags,
			 int64_t internaldate)
{
	struct list_rec *r = ctx;

	(void)flags;
	(void)internaldate;
	if (r->messages < 8) {
		r->uids[r->messages] = uid;
		r->sizes[r->messages] = size;
	}
	r->messages++;
	return true;
}

static void list_done(void *ctx, bool ok, const struct imap_reply *reply)
{
	struct list_rec *r = ctx;

	(void)reply;
	r->done_calls++;
	r->ok = ok;
}

static const struct imap_list_handlers list_handlers = {
	.message = list_message, .done = list_done,
};

/* ---- tests ---- */

/* The check that a message is still there pipelines a NOOP and a UID
   SEARCH: a "* SEARCH" that comes before the NOOP's end answers the
   search. Before, it went to the NOOP (which reads none), and a message
   still there was taken for expunged. */
START_TEST(search_answered_before_the_noop_ends)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 NOOP"),
		EXPECT("p2 UID SEARCH UID 7"),
		SEND("* SEARCH 7\r\np1 OK noop\r\np2 OK searched\r\n"),
		END_SCRIPT,
	};
	struct imap_exists_op op;

	start_ready(script);
	ck_assert_int_eq(imap_uid_exists(&op, client, 7, exists_cb, NULL), 0);
	PEER_RUN_UNTIL(&peer, exists_calls > 0);
	PEER_FINISH(&peer);
	ck_assert_int_eq(exists_calls, 1);
	ck_assert_int_eq(exists_answer, IMAP_EXISTS_YES);
}
END_TEST

/* The same with the answers in order: a "* SEARCH" without the UID says
   it is gone (the routing takes nothing away). */
START_TEST(search_in_order_still_answers)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 NOOP"),
		EXPECT("p2 UID SEARCH UID 7"),
		SEND("* 3 EXISTS\r\np1 OK noop\r\n* SEARCH\r\np2 OK searched\r\n"),
		END_SCRIPT,
	};
	struct imap_exists_op op;

	start_ready(script);
	ck_assert_int_eq(imap_uid_exists(&op, client, 7, exists_cb, NULL), 0);
	PEER_RUN_UNTIL(&peer, exists_calls > 0);
	PEER_FINISH(&peer);
	ck_assert_int_eq(exists_answer, IMAP_EXISTS_NO);
}
END_TEST

/* A QUIT's fingerprint fetch behind a RETR's prefetch, its answer sent
   quoted (no literal) before the prefetch's: the fingerprint is the
   fetch's. Before, the prefetch got it and ignored it, and the message
   was taken for gone (retention then drops its records; a hide is
   stored without its fingerprint). */
START_TEST(fingerprint_quoted_before_an_earlier_body_ends)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 UID FETCH 15 BODY.PEEK[]"),
		EXPECT("p2 " FP_FETCH("22")),
		SEND("* 8 FETCH (UID 22 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" "
		     "BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] \"Subject: hi\")\r\n"
		     "* 9 FETCH (FLAGS (\\Seen))\r\n"
		     "* 4 FETCH (UID 15 BODY[] {5}\r\nhello)\r\n"
		     "p1 OK fetched\r\np2 OK fetched\r\n"),
		END_SCRIPT,
	};
	static const uint32_t uids[] = { 22 };
	struct imap_body_op body;
	struct imap_fp_op fp;
	struct body_rec b = { 0 };
	struct fp_rec f = { 0 };

	start_ready(script);
	body_fetch(&body, &b, 15);
	ck_assert_int_eq(imap_fp_fetch(&fp, client, uids, 1, &fp_handlers, &f), 0);
	PEER_RUN_UNTIL(&peer, b.done_calls > 0 && f.done_calls > 0);
	PEER_FINISH(&peer);
	ck_assert(f.ok);
	ck_assert_int_eq(f.messages, 1);
	ck_assert_uint_eq(f.uid, 22);
	ck_assert_uint_eq(strlen(f.fp), IMAP_FP_HEX);
	ck_assert_int_eq(f.internaldate, 1704067200);
	ck_assert(b.ok && b.found && b.complete);
	ck_assert_str_eq(b.data, "hello");
}
END_TEST

/* Two prefetched bodies: the later one's, small and quoted, comes first
   and is its own; each gets its own bytes. Before, the earlier fetch
   got it and dropped it (another UID), and the later one ended without
   its message. */
START_TEST(later_small_body_quoted_goes_to_it)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 UID FETCH 15 BODY.PEEK[]"),
		EXPECT("p2 UID FETCH 22 BODY.PEEK[]"),
		SEND("* 8 FETCH (UID 22 BODY[] \"xy\")\r\n"
		     "* 4 FETCH (UID 15 BODY[] {5}\r\nhello)\r\n"
		     "p1 OK fetched\r\np2 OK fetched\r\n"),
		END_SCRIPT,
	};
	struct imap_body_op op1, op2;
	struct body_rec a = { 0 }, b = { 0 };

	start_ready(script);
	body_fetch(&op1, &a, 15);
	body_fetch(&op2, &b, 22);
	PEER_RUN_UNTIL(&peer, a.done_calls > 0 && b.done_calls > 0);
	PEER_FINISH(&peer);
	ck_assert(a.found && a.complete);
	ck_assert_str_eq(a.data, "hello");
	ck_assert(b.found && b.complete);
	ck_assert_str_eq(b.data, "xy");
}
END_TEST

/* Unsolicited updates nobody claims still go to the oldest command (a
   recording one here), and a body's own line, after them, to its fetch;
   a SELECT behind them claims its count and codes. */
START_TEST(unclaimed_lines_go_to_the_oldest)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 NOOP"),
		EXPECT("p2 UID FETCH 22 BODY.PEEK[]"),
		EXPECT("p3 SELECT \"INBOX\""),
		SEND("* 3 EXISTS\r\n* 2 EXPUNGE\r\n* 9 FETCH (UID 40 FLAGS (\\Seen))\r\n"
		     "* 8 FETCH (UID 22 BODY[] \"xy\")\r\n"
		     "p1 OK noop\r\np2 OK fetched\r\n"
		     "* 5 EXISTS\r\n* OK [UIDVALIDITY 77] ok\r\np3 OK selected\r\n"),
		END_SCRIPT,
	};
	struct imap_body_op op;
	struct imap_select_op sel;
	struct body_rec b = { 0 };

	start_ready(script);
	command("a", "NOOP");
	body_fetch(&op, &b, 22);
	ck_assert_int_eq(imap_select(&sel, client, "INBOX", NULL, NULL), 0);
	PEER_RUN_UNTIL(&peer, all_done() && b.done_calls > 0 && sel.ended);
	PEER_FINISH(&peer);
	EXPECT_EVENTS("connect ok\n"
		      "a * 3 EXISTS\n"
		      "a * 2 EXPUNGE\n"
		      "a * 9 FETCH (UID 40 FLAGS (\\Seen))\n"
		      "a OK noop\n");
	ck_assert_str_eq(b.data, "xy");
	ck_assert_uint_eq(sel.info.exists, 5);
	ck_assert_uint_eq(sel.info.uidvalidity, 77);
}
END_TEST

/* A listing queued behind a body fetch, answered first: its FETCH
   lines (a UID, no body) are the listing's, the body's literal the
   fetch's. Before, the fetch got the lines and dropped them, and the
   listing came out empty. */
START_TEST(listing_lines_before_an_earlier_fetch_ends)
{
	static const struct peer_step script[] = {
		SEND(GREETING),
		EXPECT("p1 UID FETCH 15 BODY.PEEK[]"),
		EXPECT("p2 UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 1 FETCH (UID 15 RFC822.SIZE 5 FLAGS (\\Seen))\r\n"
		     "* 2 FETCH (UID 22 RFC822.SIZE 7 FLAGS ())\r\n"
		     "* 1 FETCH (UID 15 BODY[] {5}\r\nhello)\r\n"
		     "p1 OK fetched\r\np2 OK listed\r\n"),
		END_SCRIPT,
	};
	const struct imap_selected info = { .uidvalidity = 9, .uidnext = 23, .exists = 2 };
	struct imap_body_op body;
	struct imap_sync_op sync;
	struct body_rec b = { 0 };
	struct list_rec l = { 0 };

	start_ready(script);
	body_fetch(&body, &b, 15);
	ck_assert_int_eq(imap_sync_listing(&sync, client, &info, 100, false, false,
					   &list_handlers, &l), 0);
	PEER_RUN_UNTIL(&peer, b.done_calls > 0 && l.done_calls > 0);
	PEER_FINISH(&peer);
	ck_assert(l.ok);
	ck_assert_int_eq(l.messages, 2);
	ck_assert_uint_eq(l.uids[0], 15);
	ck_assert_uint_eq(l.sizes[0], 5);
	ck_assert_uint_eq(l.uids[1], 22);
	ck_assert_uint_eq(l.sizes[1], 7);
	ck_assert_str_eq(b.data, "hello");
}
END_TEST

static Suite *routing_suite(void)
{
	Suite *s = suite_create("imap_routing");
	TCase *tc = fixture_tcase("routing");

	tcase_add_checked_fixture(tc, routing_setup, NULL);
	tcase_add_test(tc, search_answered_before_the_noop_ends);
	tcase_add_test(tc, search_in_order_still_answers);
	tcase_add_test(tc, fingerprint_quoted_before_an_earlier_body_ends);
	tcase_add_test(tc, later_small_body_quoted_goes_to_it);
	tcase_add_test(tc, unclaimed_lines_go_to_the_oldest);
	tcase_add_test(tc, listing_lines_before_an_earlier_fetch_ends);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fixture_run(routing_suite());
}
