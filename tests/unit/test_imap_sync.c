/* Dialogue tests for imap_sync_listing(): a kept listing brought up to
   date (QRESYNC changes, the check without it), the full listing when in
   doubt, and what is kept afterwards. */

#include "imap_client_fixture.h"

#include "imap_listing.h"
#include "imap_sync.h"

/* base64 of "\0alice\0secret" */
#define AUTH_ALICE "p1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA=="

#define LOGIN_QRESYNC \
	SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ENABLE QRESYNC] ready\r\n"), \
	EXPECT(AUTH_ALICE), \
	SEND("p1 OK [CAPABILITY IMAP4rev1 ENABLE CONDSTORE QRESYNC] Logged in\r\n"), \
	EXPECT("p2 ENABLE QRESYNC"), \
	SEND("* ENABLED QRESYNC\r\np2 OK Enabled\r\n")

#define LOGIN_PLAIN \
	SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ENABLE] ready\r\n"), \
	EXPECT(AUTH_ALICE), \
	SEND("p1 OK [CAPABILITY IMAP4rev1 ENABLE] Logged in\r\n")

/* CONDSTORE without QRESYNC. */
#define LOGIN_CONDSTORE \
	SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n"), \
	EXPECT(AUTH_ALICE), \
	SEND("p1 OK [CAPABILITY IMAP4rev1 CONDSTORE] Logged in\r\n")

static struct imap_sync_op op;
static char got[4096];
static int sync_done;
static bool sync_ok;
static size_t refuse_after = (size_t)-1;   /* the consumer says no then */
static size_t delivered;
static bool keep_after;                     /* imap_sync_listing()'s keep */
static bool dates;                          /* ... and dates */

static bool sync_message(void *ctx, uint32_t uid, uint64_t size, unsigned int flags,
			 int64_t internaldate)
{
	size_t len = strlen(got);

	if (delivered++ >= refuse_after)
		return false;
	if (len < sizeof(got) - 40)
		snprintf(got + len, sizeof(got) - len, "%s%u:%llu:%u%s", len > 0 ? " " : "", uid,
			 (unsigned long long)size, flags, internaldate != 0 ? "@" : "");
	return true;
}

static void sync_end(void *ctx, bool ok, const struct imap_reply *reply)
{
	sync_done++;
	sync_ok = ok;
}

static const struct imap_list_handlers sync_handlers = {
	.message = sync_message,
	.done = sync_end,
};

static void logged_in(const struct peer_step *script, bool qresync)
{
	got[0] = '\0';
	sync_done = 0;
	delivered = 0;
	refuse_after = (size_t)-1;
	keep_after = true;
	dates = false;
	start_ready(script);
	login("L", "alice", "secret");
	WAIT_ALL_DONE();
	if (qresync)
		PEER_RUN_UNTIL(&peer, imap_client_qresync_enabled(client));
	ck_assert(imap_client_qresync_enabled(client) == qresync);
}

/* A kept listing: "uid:size:flags" entries. */
static void keep(uint32_t uidvalidity, uint32_t uidnext, uint64_t modseq,
		 const uint32_t (*msgs)[3], size_t n)
{
	struct imap_listing *l = imap_listing_new(1000);

	ck_assert_ptr_nonnull(l);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(imap_listing_append(l, msgs[i][0], msgs[i][1], msgs[i][2]), 0);
	l->uidvalidity = uidvalidity;
	l->uidnext = uidnext;
	l->has_modseq = modseq > 0;
	l->highestmodseq = modseq;
	imap_client_set_listing(client, l);
}

static void sync_now(uint32_t uidvalidity, uint32_t uidnext, uint32_t exists, uint64_t modseq,
		     size_t max)
{
	struct imap_selected info = {
		.uidvalidity = uidvalidity, .uidnext = uidnext, .exists = exists,
		.has_modseq = modseq > 0, .highestmodseq = modseq,
	};

	ck_assert_int_eq(imap_sync_listing(&op, client, &info, max, dates, keep_after,
					   &sync_handlers, NULL), 0);
}

static void expect_listing(const char *want, enum imap_sync_kind kind,
			   enum imap_sync_kind first)
{
	PEER_RUN_UNTIL(&peer, sync_done > 0);
	PEER_FINISH(&peer);
	ck_assert_int_eq(sync_done, 1);
	ck_assert_msg(sync_ok, "listing failed: %s\n%s", op.error, log_text());
	ck_assert_str_eq(got, want);
	ck_assert_str_eq(imap_sync_kind_name(op.kind), imap_sync_kind_name(kind));
	ck_assert_str_eq(imap_sync_kind_name(op.first), imap_sync_kind_name(first));
}

static const uint32_t three[][3] = { { 1, 100, 0 }, { 2, 200, 0 }, { 3, 300, IMAP_FLAG_DELETED } };

START_TEST(unchanged_asks_nothing)
{
	static const struct peer_step script[] = { LOGIN_QRESYNC, QUIET(50), END_SCRIPT };
	const struct imap_listing *l;

	logged_in(script, true);
	keep(7, 4, 10, three, 3);
	sync_now(7, 4, 3, 10, 1000);
	/* Nothing to ask: told before the call returned. */
	ck_assert_int_eq(sync_done, 1);
	expect_listing("1:100:0 2:200:0 3:300:2", IMAP_SYNC_UNCHANGED, IMAP_SYNC_UNCHANGED);
	l = imap_client_listing(client);
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(l->uidvalidity, 7);
	ck_assert_uint_eq(l->highestmodseq, 10);
	ck_assert_uint_eq(l->count, 3);
}
END_TEST

START_TEST(changes_and_vanished_applied)
{
	static const struct peer_step script[] = {
		LOGIN_QRESYNC,
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS) (CHANGEDSINCE 10 VANISHED)"),
		SEND("* VANISHED (EARLIER) 2,4:5\r\n"
		     "* 1 FETCH (UID 1 RFC822.SIZE 100 FLAGS (\\Seen \\Deleted) MODSEQ (12))\r\n"
		     "* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (13))\r\n"
		     "* 3 FETCH (UID 6 RFC822.SIZE 600 FLAGS () MODSEQ (14))\r\n"
		     "* 4 FETCH (UID 7 RFC822.SIZE 700 FLAGS (\\Deleted) MODSEQ (15))\r\n"
		     "$ OK Fetch completed\r\n"),
		END_SCRIPT,
	};
	static const uint32_t four[][3] = { { 1, 100, 0 }, { 2, 200, 0 },
					    { 3, 300, IMAP_FLAG_DELETED }, { 5, 500, 0 } };

	logged_in(script, true);
	keep(7, 6, 10, four, 4);
	sync_now(7, 8, 4, 15, 1000);
	expect_listing("1:100:3 3:300:1 6:600:0 7:700:2", IMAP_SYNC_CHANGES, IMAP_SYNC_CHANGES);
	ck_assert_uint_eq(op.vanished, 2);
	ck_assert_uint_eq(imap_client_listing(client)->highestmodseq, 15);
	ck_assert_uint_eq(imap_client_listing(client)->uidnext, 8);
}
END_TEST

/* The changes do not add up to EXISTS (an expunge the server did not
   report): the whole listing, on the same connection. */
START_TEST(doubt_lists_whole)
{
	static const struct peer_step script[] = {
		LOGIN_QRESYNC,
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS) (CHANGEDSINCE 10 VANISHED)"),
		SEND("* 3 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (11))\r\n$ OK done\r\n"),
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 1 FETCH (UID 1 RFC822.SIZE 100 FLAGS ())\r\n"
		     "* 2 FETCH (UID 3 RFC822.SIZE 300 FLAGS (\\Seen))\r\n"
		     "$ OK done\r\n"),
		END_SCRIPT,
	};

	logged_in(script, true);
	keep(7, 4, 10, three, 3);
	sync_now(7, 4, 2, 11, 1000);
	expect_listing("1:100:0 3:300:1", IMAP_SYNC_FULL, IMAP_SYNC_CHANGES);
	ck_assert_str_eq(op.error, "the count is not EXISTS");
	ck_assert_uint_eq(imap_client_listing(client)->count, 2);
}
END_TEST

/* Each kind of doubt in the changes leads to the full listing. */
struct doubt_case {
	const char *responses;   /* before the tagged OK of the changes */
	const char *why;
};

static const struct doubt_case doubt_cases[] = {
	{ "* 9 FETCH (UID 2 RFC822.SIZE 201 FLAGS () MODSEQ (11))\r\n",
	  "a message changed its size" },
	{ "* 9 FETCH (UID 5 FLAGS () MODSEQ (11))\r\n",
	  "a message not kept, without its size" },
	{ "* 9 FETCH (UID 4 RFC822.SIZE 400 FLAGS () MODSEQ (11))\r\n",
	  "an old message that was not kept" },
	{ "* VANISHED (EARLIER) 2:*\r\n", "malformed VANISHED" },
	{ "* 2 EXPUNGE\r\n", "EXPUNGE while listing" },
};

START_TEST(each_doubt_lists_whole)
{
	const struct doubt_case *c = &doubt_cases[_i];
	struct peer_step script[] = {
		LOGIN_QRESYNC,
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS) (CHANGEDSINCE 10 VANISHED)"),
		{ PEER_SEND, c->responses, strlen(c->responses), 0 },
		SEND("$ OK done\r\n"),
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 1 FETCH (UID 1 RFC822.SIZE 100 FLAGS ())\r\n$ OK done\r\n"),
		END_SCRIPT,
	};

	logged_in(script, true);
	/* 4 was never kept, though below UIDNEXT */
	keep(7, 5, 10, three, 3);
	sync_now(7, 6, 1, 11, 1000);
	expect_listing("1:100:0", IMAP_SYNC_FULL, IMAP_SYNC_CHANGES);
	ck_assert_str_eq(op.error, c->why);
}
END_TEST

/* The changes refused: the same. */
START_TEST(refused_changes_list_whole)
{
	static const struct peer_step script[] = {
		LOGIN_QRESYNC,
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS) (CHANGEDSINCE 10 VANISHED)"),
		SEND("$ NO [SERVERBUG] not now\r\n"),
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 1 FETCH (UID 2 RFC822.SIZE 200 FLAGS ())\r\n$ OK done\r\n"),
		END_SCRIPT,
	};

	logged_in(script, true);
	keep(7, 4, 10, three, 3);
	sync_now(7, 4, 1, 11, 1000);
	expect_listing("2:200:0", IMAP_SYNC_FULL, IMAP_SYNC_CHANGES);
	ck_assert_str_eq(op.error, "command refused");
}
END_TEST

START_TEST(checked_without_qresync)
{
	static const struct peer_step script[] = {
		LOGIN_PLAIN,
		EXPECT("p2 UID SEARCH UID 1:3 DELETED"),
		EXPECT("p3 UID FETCH 4:* (UID RFC822.SIZE FLAGS)"),
		SEND("* SEARCH 2\r\np2 OK done\r\n"),
		/* one search at a time: "* SEARCH" names no command */
		EXPECT("p4 UID SEARCH UID 1:3 UNSEEN"),
		SEND("* SEARCH 1 2\r\n"
		     "* 4 FETCH (UID 4 RFC822.SIZE 400 FLAGS ())\r\n"
		     "* 5 FETCH (UID 5 RFC822.SIZE 500 FLAGS (\\Deleted))\r\n"
		     "p3 OK done\r\np4 OK done\r\n"),
		END_SCRIPT,
	};

	logged_in(script, false);
	/* HIGHESTMODSEQ known, but no QRESYNC: checked; 3 lost its \Deleted */
	keep(7, 4, 10, three, 3);
	sync_now(7, 6, 5, 12, 1000);
	expect_listing("1:100:0 2:200:2 3:300:1 4:400:0 5:500:2", IMAP_SYNC_CHECKED,
		       IMAP_SYNC_CHECKED);
	ck_assert(op.searched);
}
END_TEST

/* One expunged meanwhile: kept + new is not EXISTS, so the flags of the
   kept ones say which; when even that does not add up, the whole. */
START_TEST(checked_expunge_found_by_the_flags)
{
	static const struct peer_step script[] = {
		LOGIN_PLAIN,
		EXPECT("p2 UID SEARCH UID 1:3 DELETED"),
		EXPECT("p3 UID FETCH 4:* (UID RFC822.SIZE FLAGS)"),
		SEND("* SEARCH\r\np2 OK done\r\n"
		     "* 3 FETCH (UID 4 RFC822.SIZE 400 FLAGS ())\r\np3 OK done\r\n"),
		EXPECT("p4 UID SEARCH UID 1:3 UNSEEN"),
		SEND("* SEARCH 1 3\r\np4 OK done\r\n"),
		EXPECT("p5 UID FETCH 1:3 (UID FLAGS)"),
		SEND("* 1 FETCH (UID 1 FLAGS ())\r\n* 2 FETCH (UID 3 FLAGS (\\Deleted))\r\n"
		     "p5 OK done\r\n"),
		END_SCRIPT,
	};

	logged_in(script, false);
	keep(7, 4, 0, three, 3);
	sync_now(7, 5, 3, 0, 1000);
	expect_listing("1:100:0 3:300:2 4:400:0", IMAP_SYNC_CHECKED, IMAP_SYNC_CHECKED);
}
END_TEST

START_TEST(checked_expunge_then_doubt_lists_whole)
{
	static const struct peer_step script[] = {
		LOGIN_PLAIN,
		EXPECT("p2 UID SEARCH UID 1:3 DELETED"),
		SEND("* SEARCH\r\np2 OK done\r\n"),
		EXPECT("p3 UID SEARCH UID 1:3 UNSEEN"),
		SEND("* SEARCH\r\np3 OK done\r\n"),
		EXPECT("p4 UID FETCH 1:3 (UID FLAGS)"),
		SEND("* 1 FETCH (UID 1 FLAGS ())\r\np4 OK done\r\n"),
		EXPECT("p5 UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 1 FETCH (UID 1 RFC822.SIZE 100 FLAGS ())\r\n"
		     "* 2 FETCH (UID 3 RFC822.SIZE 300 FLAGS ())\r\np5 OK done\r\n"),
		END_SCRIPT,
	};

	logged_in(script, false);
	keep(7, 4, 0, three, 3);
	sync_now(7, 4, 2, 0, 1000);
	expect_listing("1:100:0 3:300:0", IMAP_SYNC_FULL, IMAP_SYNC_CHECKED);
	ck_assert_str_eq(op.error, "the count is not EXISTS");
}
END_TEST

/* Nothing new (UIDNEXT the same): the search alone; a UID in it that was
   never kept is a doubt. */
START_TEST(checked_flags_only)
{
	static const struct peer_step script[] = {
		LOGIN_PLAIN,
		EXPECT("p2 UID SEARCH UID 1:3 DELETED"),
		SEND("* SEARCH 2 3\r\np2 OK done\r\n"),
		EXPECT("p3 UID SEARCH UID 1:3 UNSEEN"),
		SEND("* SEARCH 3\r\np3 OK done\r\n"),
		EXPECT("p4 UID SEARCH UID 1:4 DELETED"),
		SEND("* SEARCH 4\r\np4 OK done\r\n"),
		EXPECT("p5 UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 1 FETCH (UID 1 RFC822.SIZE 100 FLAGS ())\r\np5 OK done\r\n"),
		END_SCRIPT,
	};
	static const uint32_t holes[][3] = { { 1, 100, 0 }, { 3, 300, 0 } };

	logged_in(script, false);
	keep(7, 4, 0, three, 3);
	sync_now(7, 4, 3, 0, 1000);
	PEER_RUN_UNTIL(&peer, sync_done > 0);
	ck_assert(sync_ok);
	ck_assert_str_eq(got, "1:100:1 2:200:3 3:300:2");
	ck_assert_int_eq(op.kind, IMAP_SYNC_CHECKED);
	got[0] = '\0';
	sync_done = 0;
	keep(7, 5, 0, holes, 2);
	sync_now(7, 5, 2, 0, 1000);
	expect_listing("1:100:0", IMAP_SYNC_FULL, IMAP_SYNC_CHECKED);
	ck_assert_str_eq(op.error, "an old message that was not kept");
}
END_TEST

/* Searched in ranges whose answers fit a line; one expunged, so then
   the flags of every kept one. */
START_TEST(checked_in_ranges_then_by_flags)
{
	enum { KEPT = 6000, GONE = 77 };
	static char answer[KEPT * 48 + 64];
	struct peer_step script[] = {
		LOGIN_PLAIN,
		/* 10-digit UIDs: (60000 - 32) / 11 = 5451 a search */
		EXPECT("p2 UID SEARCH UID 1:5451 DELETED"),
		SEND("* SEARCH 5\r\np2 OK done\r\n"),
		EXPECT("p3 UID SEARCH UID 1:5451 UNSEEN"),
		SEND("* SEARCH\r\np3 OK done\r\n"),
		EXPECT("p4 UID SEARCH UID 5452:3000000000 DELETED"),
		SEND("* SEARCH\r\np4 OK done\r\n"),
		EXPECT("p5 UID SEARCH UID 5452:3000000000 UNSEEN"),
		SEND("* SEARCH\r\np5 OK done\r\n"),
		EXPECT("p6 UID FETCH 1:3000000000 (UID FLAGS)"),
		{ PEER_SEND, answer, 0, 0 },
		END_SCRIPT,
	};
	struct imap_listing *l = imap_listing_new(KEPT);
	size_t len = 0;

	for (uint32_t uid = 1; uid <= KEPT; uid++) {
		ck_assert_int_eq(imap_listing_append(l, uid, uid, 0), 0);
		if (uid != GONE)
			len += (size_t)snprintf(answer + len, sizeof(answer) - len,
						"* %u FETCH (UID %u FLAGS (%s))\r\n", uid, uid,
						uid == 5 ? "\\Deleted" : "");
	}
	len += (size_t)snprintf(answer + len, sizeof(answer) - len, "p6 OK done\r\n");
	script[12].len = len;
	l->uidvalidity = 7;
	l->uidnext = 3000000001u;
	logged_in(script, false);
	imap_client_set_listing(client, l);
	sync_now(7, 3000000001u, KEPT - 1, 0, KEPT);
	PEER_RUN_UNTIL(&peer, sync_done > 0);
	PEER_FINISH(&peer);
	ck_assert_msg(sync_ok, "%s", op.error);
	ck_assert_int_eq(op.kind, IMAP_SYNC_CHECKED);
	ck_assert_uint_eq(delivered, KEPT - 1);
	l = imap_client_listing(client);
	ck_assert_ptr_null(imap_listing_find(l, GONE));
	ck_assert_uint_eq(imap_listing_find(l, 5)->flags & IMAP_FLAG_DELETED, IMAP_FLAG_DELETED);
}
END_TEST

/* More than 64 searches' worth: the flags straight away. */
START_TEST(checked_by_flags_for_a_huge_mailbox)
{
	enum { KEPT = 64 * 5451 + 1 };
	static const struct peer_step script[] = {
		LOGIN_PLAIN,
		EXPECT("p2 UID FETCH 1:3000000000 (UID FLAGS)"),
		SEND("p2 NO [SERVERBUG] not now\r\n"),
		EXPECT("p3 UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("p3 NO [SERVERBUG] still not\r\n"),
		END_SCRIPT,
	};
	struct imap_listing *l = imap_listing_new(KEPT);

	for (uint32_t uid = 1; uid <= KEPT; uid++)
		ck_assert_int_eq(imap_listing_append(l, uid, uid, 0), 0);
	l->uidvalidity = 7;
	l->uidnext = 3000000001u;
	logged_in(script, false);
	imap_client_set_listing(client, l);
	sync_now(7, 3000000001u, KEPT, 0, KEPT);
	PEER_RUN_UNTIL(&peer, sync_done > 0);
	PEER_FINISH(&peer);
	ck_assert(!sync_ok);
	ck_assert(!op.searched);
	ck_assert_ptr_null(imap_client_listing(client));
}
END_TEST

/* CONDSTORE alone: HIGHESTMODSEQ, UIDNEXT and EXISTS as kept: nothing
   changed, nothing asked. */
START_TEST(condstore_unchanged_asks_nothing)
{
	static const struct peer_step script[] = { LOGIN_CONDSTORE, QUIET(50), END_SCRIPT };

	logged_in(script, false);
	keep(7, 4, 10, three, 3);
	sync_now(7, 4, 3, 10, 1000);
	ck_assert_int_eq(sync_done, 1);
	expect_listing("1:100:0 2:200:0 3:300:2", IMAP_SYNC_UNCHANGED, IMAP_SYNC_UNCHANGED);
}
END_TEST

/* The flags that changed since the kept HIGHESTMODSEQ, in one command
   beside the new ones; the count holds: nothing else asked. */
START_TEST(condstore_flags_by_changedsince)
{
	static const struct peer_step script[] = {
		LOGIN_CONDSTORE,
		EXPECT("p2 UID FETCH 1:3 (UID FLAGS) (CHANGEDSINCE 10)"),
		EXPECT("p3 UID FETCH 4:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 2 FETCH (UID 2 FLAGS (\\Deleted) MODSEQ (11))\r\n"
		     "* 3 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (12))\r\np2 OK done\r\n"
		     "* 4 FETCH (UID 4 RFC822.SIZE 400 FLAGS ())\r\n"
		     "* 5 FETCH (UID 5 RFC822.SIZE 500 FLAGS (\\Deleted))\r\np3 OK done\r\n"),
		QUIET(50),
		END_SCRIPT,
	};

	logged_in(script, false);
	keep(7, 4, 10, three, 3);
	sync_now(7, 6, 5, 12, 1000);
	expect_listing("1:100:0 2:200:2 3:300:1 4:400:0 5:500:2", IMAP_SYNC_CHECKED,
		       IMAP_SYNC_CHECKED);
	ck_assert(op.modseq);
}
END_TEST

/* One expunged: kept + new is not EXISTS, so the flags of all the kept
   ones say which. */
START_TEST(condstore_expunge_found_by_the_flags)
{
	static const struct peer_step script[] = {
		LOGIN_CONDSTORE,
		EXPECT("p2 UID FETCH 1:3 (UID FLAGS) (CHANGEDSINCE 10)"),
		EXPECT("p3 UID FETCH 4:* (UID RFC822.SIZE FLAGS)"),
		SEND("p2 OK done\r\n* 3 FETCH (UID 4 RFC822.SIZE 400 FLAGS ())\r\np3 OK done\r\n"),
		EXPECT("p4 UID FETCH 1:3 (UID FLAGS)"),
		SEND("* 1 FETCH (UID 1 FLAGS ())\r\n* 2 FETCH (UID 3 FLAGS (\\Deleted))\r\n"
		     "p4 OK done\r\n"),
		END_SCRIPT,
	};

	logged_in(script, false);
	keep(7, 4, 10, three, 3);
	sync_now(7, 5, 3, 12, 1000);
	expect_listing("1:100:0 3:300:2 4:400:0", IMAP_SYNC_CHECKED, IMAP_SYNC_CHECKED);
}
END_TEST

START_TEST(new_uidvalidity_lists_whole)
{
	static const struct peer_step script[] = {
		LOGIN_QRESYNC,
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 1 FETCH (UID 1 RFC822.SIZE 900 FLAGS ())\r\n$ OK done\r\n"),
		END_SCRIPT,
	};

	logged_in(script, true);
	keep(7, 4, 10, three, 3);
	sync_now(8, 2, 1, 10, 1000);
	expect_listing("1:900:0", IMAP_SYNC_FULL, IMAP_SYNC_FULL);
	ck_assert_uint_eq(imap_client_listing(client)->uidvalidity, 8);
}
END_TEST

/* Complete or failed: past max, refused by the server, refused by the
   consumer. Nothing is kept after a failure. */
START_TEST(failures_keep_nothing)
{
	static const struct peer_step script[] = {
		LOGIN_PLAIN,
		EXPECT("p2 UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 1 FETCH (UID 1 RFC822.SIZE 1 FLAGS ())\r\n"
		     "* 2 FETCH (UID 2 RFC822.SIZE 2 FLAGS ())\r\n"
		     "* 3 FETCH (UID 3 RFC822.SIZE 3 FLAGS ())\r\n"
		     "p2 OK done\r\n"),
		EXPECT("p3 UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("p3 NO [SERVERBUG] broken\r\n"),
		EXPECT("p4 UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 1 FETCH (UID 1 RFC822.SIZE 1 FLAGS ())\r\n"
		     "* 2 FETCH (UID 2 FLAGS ())\r\n"
		     "p4 OK done\r\n"),
		END_SCRIPT,
	};

	logged_in(script, false);
	sync_now(7, 4, 3, 0, 2);
	PEER_RUN_UNTIL(&peer, sync_done > 0);
	ck_assert(!sync_ok);
	ck_assert_str_eq(op.error, "too many messages, or out of memory");
	ck_assert_ptr_null(imap_client_listing(client));
	sync_done = 0;
	sync_now(7, 4, 3, 0, 1000);
	PEER_RUN_UNTIL(&peer, sync_done > 0);
	ck_assert(!sync_ok);
	ck_assert_str_eq(op.error, "listing refused");
	ck_assert_ptr_null(imap_client_listing(client));
	/* a UID without its size in a full listing, no QRESYNC */
	sync_done = 0;
	sync_now(7, 4, 2, 0, 1000);
	PEER_RUN_UNTIL(&peer, sync_done > 0);
	PEER_FINISH(&peer);
	ck_assert(!sync_ok);
	ck_assert_str_eq(op.error, "FETCH response without RFC822.SIZE");
	ck_assert_ptr_null(imap_client_listing(client));
}
END_TEST

START_TEST(consumer_refusal_keeps_nothing)
{
	static const struct peer_step script[] = { LOGIN_QRESYNC, QUIET(20), END_SCRIPT };

	logged_in(script, true);
	keep(7, 4, 10, three, 3);
	refuse_after = 1;
	sync_now(7, 4, 3, 10, 1000);
	ck_assert_int_eq(sync_done, 1);
	ck_assert(!sync_ok);
	ck_assert_ptr_null(imap_client_listing(client));
	PEER_FINISH(&peer);
}
END_TEST

/* INTERNALDATE (a device profile's max_age): a kept listing without it
   is fetched whole with it; one with it fetches it for new messages. */
START_TEST(dates_when_asked)
{
	static const struct peer_step script[] = {
		LOGIN_QRESYNC,
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)"),
		SEND("* 1 FETCH (UID 1 RFC822.SIZE 100 FLAGS () "
		     "INTERNALDATE \"01-Jan-2024 10:00:00 +0000\")\r\n$ OK done\r\n"),
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE) "
		       "(CHANGEDSINCE 10 VANISHED)"),
		SEND("* 2 FETCH (UID 4 RFC822.SIZE 400 FLAGS () MODSEQ (11))\r\n$ OK done\r\n"),
		EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)"),
		SEND("$ NO [SERVERBUG] enough\r\n"),
		END_SCRIPT,
	};

	logged_in(script, true);
	dates = true;
	keep(7, 4, 10, three, 3);
	sync_now(7, 2, 1, 10, 1000);
	PEER_RUN_UNTIL(&peer, sync_done > 0);
	ck_assert(sync_ok);
	ck_assert_str_eq(got, "1:100:0@");
	ck_assert(imap_client_listing(client)->has_dates);
	/* a new message without its INTERNALDATE: a doubt, so the whole */
	got[0] = '\0';
	sync_done = 0;
	sync_now(7, 5, 2, 11, 1000);
	PEER_RUN_UNTIL(&peer, sync_done > 0);
	PEER_FINISH(&peer);
	ck_assert(!sync_ok);
	ck_assert_str_eq(op.error, "listing refused");
}
END_TEST

/* A connection that will not be kept keeps no listing either. */
START_TEST(not_kept_when_the_connection_is_not)
{
	static const struct peer_step script[] = {
		LOGIN_PLAIN,
		EXPECT("p2 UID FETCH 1:* (UID RFC822.SIZE FLAGS)"),
		SEND("* 1 FETCH (UID 1 RFC822.SIZE 1 FLAGS ())\r\np2 OK done\r\n"),
		END_SCRIPT,
	};

	logged_in(script, false);
	keep_after = false;
	sync_now(7, 4, 1, 0, 1000);
	expect_listing("1:1:0", IMAP_SYNC_FULL, IMAP_SYNC_FULL);
	ck_assert_ptr_null(imap_client_listing(client));
}
END_TEST

/* Delivered, but a listing this large is not kept with the connection. */
START_TEST(not_kept_beyond_keep_max)
{
	static const struct peer_step script[] = { LOGIN_QRESYNC, QUIET(20), END_SCRIPT };
	struct imap_listing *l;

	logged_in(script, true);
	l = imap_listing_new(IMAP_SYNC_KEEP_MAX + 1);
	ck_assert_ptr_nonnull(l);
	for (uint32_t uid = 1; uid <= IMAP_SYNC_KEEP_MAX + 1; uid++)
		ck_assert_int_eq(imap_listing_append(l, uid, 10, 0), 0);
	l->uidvalidity = 7;
	l->uidnext = IMAP_SYNC_KEEP_MAX + 2;
	l->has_modseq = true;
	l->highestmodseq = 10;
	imap_client_set_listing(client, l);
	sync_now(7, IMAP_SYNC_KEEP_MAX + 2, IMAP_SYNC_KEEP_MAX + 1, 10, IMAP_SYNC_KEEP_MAX + 1);
	ck_assert(sync_ok);
	ck_assert_uint_eq(delivered, IMAP_SYNC_KEEP_MAX + 1);
	ck_assert_ptr_null(imap_client_listing(client));
	PEER_FINISH(&peer);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("imap_sync");
	TCase *tc = fixture_tcase("imap_sync");

	tcase_add_test(tc, unchanged_asks_nothing);
	tcase_add_test(tc, changes_and_vanished_applied);
	tcase_add_test(tc, doubt_lists_whole);
	tcase_add_loop_test(tc, each_doubt_lists_whole, 0,
			    sizeof(doubt_cases) / sizeof(doubt_cases[0]));
	tcase_add_test(tc, refused_changes_list_whole);
	tcase_add_test(tc, checked_without_qresync);
	tcase_add_test(tc, checked_expunge_found_by_the_flags);
	tcase_add_test(tc, checked_expunge_then_doubt_lists_whole);
	tcase_add_test(tc, checked_flags_only);
	tcase_add_test(tc, checked_in_ranges_then_by_flags);
	tcase_add_test(tc, checked_by_flags_for_a_huge_mailbox);
	tcase_add_test(tc, condstore_unchanged_asks_nothing);
	tcase_add_test(tc, condstore_flags_by_changedsince);
	tcase_add_test(tc, condstore_expunge_found_by_the_flags);
	tcase_add_test(tc, new_uidvalidity_lists_whole);
	tcase_add_test(tc, failures_keep_nothing);
	tcase_add_test(tc, consumer_refusal_keeps_nothing);
	tcase_add_test(tc, dates_when_asked);
	tcase_add_test(tc, not_kept_when_the_connection_is_not);
	tcase_add_test(tc, not_kept_beyond_keep_max);
	suite_add_tcase(s, tc);
	return fixture_run(s);
}
