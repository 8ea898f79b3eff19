/*
 * libFuzzer harness: the real cache (cache/: connection, handshake,
 * lock, refresh, unlock, barrier, view load with its chunks and prune,
 * hide, remap with its stages and swap, cancels, a free from inside a
 * callback) against a Redis whose replies are the fuzz input: a scripted
 * peer (tests/unit/redis_peer.h) on a unix socket of the harness's own,
 * on the same event loop. What the fuzz input leaves unanswered, a real
 * redis-server answers (the peer forwards the command to it), so a
 * conversation can start true and go wrong anywhere.
 *
 * Input framing:
 *   byte 0     flags: bit 0 a password (AUTH first), bit 1 db 1 (SELECT),
 *              bit 2 the store already holds the account (uidvalidity 1,
 *              two devices, hides of both kinds, some of them dead)
 *   byte 1     n, the number of operations (modulo MAX_OPS + 1)
 *   then       n operation bytes (below)
 *   the rest   replies, separated by NUL octets: reply k answers the k-th
 *              command the peer gets (over every connection, handshakes
 *              included). An empty one, and every command after the last,
 *              goes to the real redis-server and its reply is sent back.
 *              A first octet 0x01: the rest is sent, then the connection
 *              closed; 0x02: nothing is sent (the reply never comes);
 *              0x03: the real reply, then the rest (a reply too many).
 *
 * An operation byte b: bits 0-2 the kind, bit 3 the device ("default" or
 * "phone"), bit 7 set: it is made at once, without waiting for the one
 * before to call back (otherwise it is made from that callback).
 *   0 lock, 1 refresh (bit 4: token B instead of A; bit 5 set: instead
 *   retention, bit 6 the registered devices, else a decision with a
 *   device age and 3 retrieved uids under that token), 2 unlock (the same,
 *   fire and forget), 3 (bits 4-5): barrier, cache_admin_info() (bit 6:
 *   every device), cache_admin_change() reset (bit 6: forget) forced,
 *   unlock (bit 6: forced), 4 load_view (bits 4-5 the listing: 0, 3,
 *   4,500 or 9,000 uids; bit 6 uidvalidity 7 instead of 1), 5 hide (bit
 *   4 hidden_all, bit 5: 3 uids instead of 1,500, bit 6 uidvalidity 7),
 *   6 remap (bits 4-5 the messages: 0, 3, 2,500, 2,500 sharing seven
 *   fingerprints; bit 6 from uidvalidity 7 to 1 instead of 1 to 7), 7
 *   (bits 3-4): cancel the newest request still out, the oldest, free
 *   the cache from inside the next callback, or cancel every one.
 *
 * Checks, beyond ASan and UBSan (the build; leaks included):
 *   - every callback runs once, never after a cancel or the cache's free,
 *     never inside the call that made the request, with a known status;
 *     and every request calls back within DEADLINE_MS of real time (each
 *     has its own timeout, TIMEOUT_MS per step, on a clock that jumps
 *     ahead whenever nothing moves: see clock_gettime() below);
 *   - a device listing (cache_admin.h) is given exactly on CACHE_OK or
 *     CACHE_IN_USE, refused exactly with CACHE_IN_USE, of valid names,
 *     each folders record within its bounds;
 *   - a retention decision (cache_retention.h) is given exactly on
 *     CACHE_OK or CACHE_IN_USE: at most the bound of uids, nonzero and
 *     ascending, each with its need; the devices, valid names;
 *   - a view is given exactly on CACHE_OK; its flags are 0..3, one per
 *     listed uid, the counts agree with them; hidden is NULL exactly when
 *     the stored uidvalidity is another one;
 *   - on every connection the cache sends AUTH (if a password), SELECT
 *     (if a db), PING, before any request;
 *   - every log line is printable ASCII (Redis's text escaped).
 *
 * redis-server is started once, in LLVMFuzzerInitialize (a unix socket in
 * a temporary directory; killed at exit: fuzz_cache_replies_world.h);
 * every input starts from an empty store and a fresh event_base, peer and
 * cache.
 * POPGATE_FUZZ_VERBOSE=1 prints the cache's log lines and the peer's
 * conversation to stderr.
 */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "cache.h"
#include "cache_admin.h"
#include "cache_gen.h"
#include "cache_retention.h"
#include "fuzz_cache_replies_world.h"
#include "redis_peer.h"

#define PASSWORD "s3cret"
#define TIMEOUT_MS 500
#define QUIET_ROUNDS 4
#define TIME_STEP_MS 5
#define TIME_STEP_MAX_MS 80
#define DEADLINE_MS 30000
#define MAX_OPS 16
#define MAX_CHUNKS 128

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	signal(SIGPIPE, SIG_IGN);
	verbose = getenv("POPGATE_FUZZ_VERBOSE") != NULL;
	record_path = getenv("POPGATE_FUZZ_RECORD");
	start_redis();
	peer_fd = redis_peer_listen(peer_path);
	if (peer_fd < 0)
		violated("listen %s: %s", peer_path, strerror(errno));
	build_data();
	return 0;
}

/* ---- one input ---- */

struct op {
	uint8_t code;
	struct cache_req *req;     /* out, waiting for its callback */
	bool called, dropped;
	const struct cache_listing *listing;
};

static struct run {
	struct event_base *base;
	struct cache *cache;
	struct redis_peer peer;
	int cache_fd;                /* the cache's end of the peer's socket */
	unsigned int scanned;        /* peer.connections when it was looked for */
	unsigned long logs, calls;   /* log lines, callbacks */
	bool password, db;
	/* the replies */
	const uint8_t *chunk[MAX_CHUNKS];
	size_t chunk_len[MAX_CHUNKS];
	unsigned int chunks, next_chunk;
	unsigned int conn_seen;     /* peer.connections at the last command */
	unsigned int conn_cmds;     /* commands on this connection */
	/* the operations */
	struct op ops[MAX_OPS];
	unsigned int n_ops, next_op;
	int waiting_on;             /* the op the next one waits for, or -1 */
	bool free_in_callback;
	bool in_call;               /* inside a call that makes a request */
	unsigned int recorded;      /* replies recorded */
} r;

static bool op_pending(const struct op *o)
{
	return o->req != NULL;
}

/* -- the peer -- */

/* The real redis-server's answer to cmd (AUTH: +OK, it has no
   password), sent back; recorded with POPGATE_FUZZ_RECORD. */
static void forward(struct redis_peer *p, const redisReply *cmd)
{
	const char *argv[cmd->elements];
	size_t len[cmd->elements];
	struct evbuffer *b = evbuffer_new();
	redisReply *rep = NULL;

	for (size_t i = 0; i < cmd->elements; i++) {
		argv[i] = cmd->element[i]->str;
		len[i] = cmd->element[i]->len;
	}
	if (b == NULL)
		violated("out of memory");
	if (redis_peer_is(cmd, "AUTH")) {
		evbuffer_add(b, "+OK\r\n", 5);
	} else {
		rep = redisCommandArgv(raw, (int)cmd->elements, argv, len);
		if (rep == NULL)
			violated("redis: %s", raw->errstr);
		redis_peer_encode(b, rep);
		freeReplyObject(rep);
	}
	if (record != NULL) {
		if (r.recorded++ > 0)
			evbuffer_add(record, "", 1);
		evbuffer_add(record, evbuffer_pullup(b, -1), evbuffer_get_length(b));
	}
	redis_peer_send(p, evbuffer_pullup(b, -1), evbuffer_get_length(b));
	evbuffer_free(b);
}

/* The handshake of every connection comes first, in its order. */
static void check_handshake(const redisReply *cmd)
{
	unsigned int k;

	if (r.peer.connections != r.conn_seen) {
		r.conn_seen = r.peer.connections;
		r.conn_cmds = 0;
	}
	k = r.conn_cmds++;
	if (r.password) {
		if (k == 0) {
			CHECK(redis_peer_is(cmd, "AUTH") && cmd->elements == 2 &&
			      strcmp(cmd->element[1]->str, PASSWORD) == 0,
			      "a connection does not start with AUTH");
			return;
		}
		k--;
	}
	if (r.db) {
		if (k == 0) {
			CHECK(redis_peer_is(cmd, "SELECT") && cmd->elements == 2 &&
			      strcmp(cmd->element[1]->str, "1") == 0,
			      "no SELECT 1 in the handshake");
			return;
		}
		k--;
	}
	if (k == 0)
		CHECK(redis_peer_is(cmd, "PING"), "no PING in the handshake");
}

static void on_command(struct redis_peer *p, const redisReply *cmd, void *ctx)
{
	const uint8_t *c;
	size_t len;

	check_handshake(cmd);
	if (verbose)
		fprintf(stderr, "peer: command %lu %.*s (%zu args), reply %u of %u\n",
			p->commands, (int)cmd->element[0]->len, cmd->element[0]->str,
			cmd->elements, r.next_chunk, r.chunks);
	if (r.next_chunk >= r.chunks) {
		forward(p, cmd);
		return;
	}
	c = r.chunk[r.next_chunk];
	len = r.chunk_len[r.next_chunk++];
	if (len == 0) {
		forward(p, cmd);
		return;
	}
	switch (c[0]) {
	case 0x01:
		redis_peer_send(p, c + 1, len - 1);
		redis_peer_close(p);
		break;
	case 0x02:
		break;
	case 0x03:
		forward(p, cmd);
		redis_peer_send(p, c + 1, len - 1);
		break;
	default:
		redis_peer_send(p, c, len);
		break;
	}
}

/* -- the cache's callbacks -- */

static void log_hook(void *ctx, enum cache_log_level level, const char *line)
{
	for (const char *s = line; *s != '\0'; s++)
		CHECK(*s >= 0x20 && *s < 0x7f, "a log line with octet 0x%02x: %s",
		      (unsigned char)*s, line);
	r.logs++;
	if (verbose)
		fprintf(stderr, "cache: %s\n", line);
}

static void advance(void);
static void op_called(struct op *o, enum cache_status st);

static void op_called(struct op *o, enum cache_status st)
{
	CHECK(!r.in_call, "a callback inside the call that made the request");
	CHECK(!o->called, "a second callback (op %u)", (unsigned int)(o - r.ops));
	CHECK(!o->dropped, "a callback after a cancel or the free (op %u)",
	      (unsigned int)(o - r.ops));
	CHECK(o->req != NULL, "a callback for a request never made");
	CHECK(st <= CACHE_LIMIT, "status %d", (int)st);
	o->called = true;
	o->req = NULL;
	r.calls++;
}

/* After the checks of a callback: the cache's free, the next op. */
static void after_callback(struct op *o)
{
	if (r.free_in_callback) {
		r.free_in_callback = false;
		cache_free(&r.cache);
		for (unsigned int i = 0; i < r.next_op; i++) {
			if (r.ops[i].req != NULL) {
				r.ops[i].req = NULL;
				r.ops[i].dropped = true;
			}
		}
		return;
	}
	if (r.waiting_on == (int)(o - r.ops)) {
		r.waiting_on = -1;
		advance();
	}
}

static void status_cb(void *ctx, enum cache_status st)
{
	struct op *o = ctx;

	op_called(o, st);
	after_callback(o);
}

static void gen_cb(void *ctx, enum cache_status st, const struct cache_gens *g)
{
	struct op *o = ctx;

	op_called(o, st);
	CHECK((st == CACHE_OK) == (g != NULL), "generations with status %d", (int)st);
	after_callback(o);
}

static void view_cb(void *ctx, enum cache_status st, const struct cache_view *v)
{
	struct op *o = ctx;
	const struct cache_listing *l = o->listing;
	size_t dev = 0, all = 0;

	op_called(o, st);
	CHECK((st == CACHE_OK) == (v != NULL), "a view with status %d", (int)st);
	if (v != NULL) {
		bool ours = v->uidvalidity == 0 || v->uidvalidity == l->uidvalidity;

		CHECK(v->first_uidnext != 0, "a device with first_uidnext 0");
		CHECK(ours == (v->hidden != NULL), "hidden %s under stored uidvalidity %u "
		      "(listing %u)", v->hidden != NULL ? "given" : "missing",
		      v->uidvalidity, l->uidvalidity);
		CHECK(v->count == l->n, "a view of %zu uids for %zu", v->count, l->n);
		for (size_t i = 0; v->hidden != NULL && i < v->count; i++) {
			CHECK(v->hidden[i] <= (CACHE_HIDDEN_DEVICE | CACHE_HIDDEN_ALL),
			      "hidden[%zu] = %u", i, v->hidden[i]);
			dev += (v->hidden[i] & CACHE_HIDDEN_DEVICE) != 0;
			all += (v->hidden[i] & CACHE_HIDDEN_ALL) != 0;
		}
		CHECK(v->hidden_count == dev && v->hidden_all_count == all,
		      "counts %zu/%zu for flags %zu/%zu", v->hidden_count,
		      v->hidden_all_count, dev, all);
	}
	after_callback(o);
}

static void admin_cb(void *ctx, enum cache_status st, const struct cache_admin_info *info)
{
	struct op *o = ctx;

	op_called(o, st);
	CHECK((st == CACHE_OK || st == CACHE_IN_USE) == (info != NULL),
	      "a device listing with status %d", (int)st);
	if (info != NULL) {
		CHECK(info->refused == (st == CACHE_IN_USE), "refused %d with status %d",
		      (int)info->refused, (int)st);
		CHECK(info->n <= CACHE_DEVICES_MAX + 1, "%zu devices", info->n);
		for (size_t i = 0; i < info->n; i++) {
			const struct cache_admin_device *d = &info->devices[i];

			CHECK(cache_device_valid(d->name), "device name %s", d->name);
			CHECK(d->folder_count <= CACHE_ADMIN_FOLDERS_MAX, "%zu folders",
			      d->folder_count);
			for (size_t j = 0; j < d->folder_count; j++)
				CHECK(d->folders[j][0] != '\0' &&
				      strlen(d->folders[j]) <= CACHE_ADMIN_FOLDER_NAME_MAX,
				      "folder name of %zu bytes", strlen(d->folders[j]));
		}
	}
	after_callback(o);
}

static void retention_cb(void *ctx, enum cache_status st, const struct cache_retention *d)
{
	struct op *o = ctx;

	op_called(o, st);
	CHECK((st == CACHE_OK || st == CACHE_IN_USE) == (d != NULL),
	      "a retention answer with status %d", (int)st);
	if (d != NULL && d->devices != NULL) {
		for (const char *p = d->devices; *p != '\0'; p++)
			CHECK(*p == ' ' || *p == '.' || *p == '_' || *p == '-' ||
			      (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
			      (*p >= 'A' && *p <= 'Z'), "devices \"%s\"", d->devices);
	}
	if (d != NULL && st == CACHE_OK && d->devices == NULL) {
		CHECK(d->count <= RETENTION_MAX, "%zu uids decided, at most %d", d->count,
		      RETENTION_MAX);
		for (size_t i = 0; i < d->count; i++)
			CHECK(d->uids[i] != 0 && (i == 0 || d->uids[i] >= d->uids[i - 1]),
			      "uid %u at %zu", d->uids[i], i);
		CHECK(d->count == 0 || d->need != NULL, "no needs");
	}
	after_callback(o);
}

/* -- the operations -- */

static void cancel_op(struct op *o)
{
	if (o->req == NULL)
		return;
	cache_req_cancel(&o->req);
	CHECK(o->req == NULL, "cancel left the handle");
	o->dropped = true;
}

static void issue(struct op *o)
{
	uint8_t b = o->code;
	const char *dev = (b & 8) ? "phone" : "default";
	const char *token = (b & 16) ? "token-B" : "token-A";
	uint32_t uidv = (b & 64) ? 7 : 1;
	size_t n;

	if (r.cache == NULL)
		return;
	r.in_call = true;
	switch (b & 7) {
	case 0:
		if (b & 32)
			o->req = cache_lock_gen(r.cache, ACCOUNT, dev, token, 60, gen_cb, o);
		else
			o->req = cache_lock(r.cache, ACCOUNT, dev, token, 60, status_cb, o);
		break;
	case 1:
		if (b & 32)
			o->req = (b & 64) ? cache_retention_devices(r.cache, ACCOUNT, retention_cb, o) :
				cache_retention_decide(r.cache, ACCOUNT, dev, token, 1, 1700000000,
						       0, RETENTION_MAX, retention_ages, 1,
						       hide_uids, 3, retention_cb, o);
		else
			o->req = cache_lock_refresh(r.cache, ACCOUNT, dev, token, 60, status_cb, o);
		break;
	case 2:
		cache_unlock(r.cache, ACCOUNT, dev, token);
		break;
	case 3:
		switch ((b >> 4) & 3) {
		case 0:
			o->req = cache_barrier(r.cache, ACCOUNT, status_cb, o);
			break;
		case 1:
			o->req = cache_admin_info(r.cache, ACCOUNT, (b & 64) ? NULL : dev,
						  admin_cb, o);
			break;
		case 2:
			o->req = cache_admin_change(r.cache, ACCOUNT, dev, (b & 64) ?
						    CACHE_ADMIN_FORGET : CACHE_ADMIN_RESET, true,
						    admin_cb, o);
			break;
		default:
			o->req = cache_admin_change(r.cache, ACCOUNT, dev, CACHE_ADMIN_UNLOCK,
						    (b & 64) != 0, admin_cb, o);
			break;
		}
		break;
	case 4:
		o->listing = &listings[(b & 64) ? 1 : 0][(b >> 4) & 3];
		o->req = cache_load_view(r.cache, ACCOUNT, dev, o->listing,
					 (b & 16) ? 1 : o->listing->uidnext, view_cb, o);
		break;
	case 5:
		n = (b & 32) ? 3 : HIDE_MANY;
		o->req = cache_hide(r.cache, ACCOUNT, dev, "token-A", (b & 16) != 0, uidv,
				    hide_uids, n == 3 ? NULL : hide_fps, n, status_cb, o);
		break;
	case 6: {
		static const struct cache_remap_msg *const sets[4] = {
			NULL, remap_few, remap_many, remap_dup };
		static const size_t sizes[4] = { 0, 3, REMAP_MANY, REMAP_MANY };
		unsigned int k = (b >> 4) & 3;
		uint32_t next = k == 0 ? 1 : sets[k][sizes[k] - 1].uid + 1;

		o->req = cache_remap(r.cache, ACCOUNT, uidv, uidv == 1 ? 7 : 1, next,
				     sets[k], sizes[k], status_cb, o);
		break;
	}
	default:
		break;
	}
	r.in_call = false;
	CHECK((b & 7) == 2 || (b & 7) == 7 || o->req != NULL, "no handle (out of memory?)");
}

/* Kind 7: cancels, or the free from the next callback. */
static void control(uint8_t b)
{
	int newest = -1, oldest = -1;

	for (unsigned int i = 0; i < r.next_op; i++) {
		if (op_pending(&r.ops[i])) {
			if (oldest < 0)
				oldest = (int)i;
			newest = (int)i;
		}
	}
	switch ((b >> 3) & 3) {
	case 0:
		if (newest >= 0)
			cancel_op(&r.ops[newest]);
		break;
	case 1:
		if (oldest >= 0)
			cancel_op(&r.ops[oldest]);
		break;
	case 2:
		r.free_in_callback = true;
		break;
	default:
		for (unsigned int i = 0; i < r.next_op; i++)
			cancel_op(&r.ops[i]);
		break;
	}
	if (r.waiting_on >= 0 && !op_pending(&r.ops[r.waiting_on]))
		r.waiting_on = -1;
}

/* Makes the next operations: each at once if it says so or if the one
   before is done, else from that one's callback. */
static void advance(void)
{
	while (r.cache != NULL && r.waiting_on < 0 && r.next_op < r.n_ops) {
		struct op *o = &r.ops[r.next_op++];

		if ((o->code & 7) == 7)
			control(o->code);
		else
			issue(o);
		if (op_pending(o) && r.next_op < r.n_ops && !(r.ops[r.next_op].code & 0x80))
			r.waiting_on = (int)(o - r.ops);
	}
}

static bool any_pending(void)
{
	for (unsigned int i = 0; i < r.next_op; i++) {
		if (op_pending(&r.ops[i]))
			return true;
	}
	return false;
}

/* The cache's end of the connection to the peer: the unix socket whose
   peer is peer_path. */
static int find_cache_fd(void)
{
	for (int fd = 3; fd < 1024; fd++) {
		struct sockaddr_un sa;
		socklen_t len = sizeof(sa);

		if (getpeername(fd, (struct sockaddr *)&sa, &len) == 0 &&
		    sa.sun_family == AF_UNIX && strcmp(sa.sun_path, peer_path) == 0)
			return fd;
	}
	return -1;
}

struct sig {
	unsigned long long v[10];
};

/* What can be seen to move. */
static void signature(struct sig *g)
{
	int inq = 0, peer_inq = 0;

	if (r.cache_fd >= 0 && ioctl(r.cache_fd, FIONREAD, &inq) < 0)
		r.cache_fd = -1;
	if (r.cache_fd < 0 && r.scanned != r.peer.connections) {
		/* A new connection: once accepted, the cache's end is found. */
		r.scanned = r.peer.connections;
		r.cache_fd = find_cache_fd();
		if (r.cache_fd >= 0)
			ioctl(r.cache_fd, FIONREAD, &inq);
	}
	if (r.peer.bev != NULL)
		ioctl(bufferevent_getfd(r.peer.bev), FIONREAD, &peer_inq);
	memset(g, 0, sizeof(*g));
	g->v[0] = r.peer.in;
	g->v[1] = r.peer.out;
	g->v[2] = r.peer.connections;
	g->v[3] = r.peer.bev != NULL ?
		evbuffer_get_length(bufferevent_get_output(r.peer.bev)) : 0;
	g->v[4] = (unsigned long long)inq;
	g->v[5] = (unsigned long long)peer_inq;
	g->v[6] = r.calls;
	g->v[7] = r.logs;
	g->v[8] = r.next_op;
	g->v[9] = (unsigned long long)event_base_get_num_events(r.base, EVENT_BASE_COUNT_ACTIVE);
}

/* Until every request made has called back (or the cache is freed):
   turns of the loop that never wait; after QUIET_ROUNDS of them in which
   nothing moved, the clock jumps TIME_STEP_MS, doubling while nothing
   moves up to TIME_STEP_MAX_MS. */
static void run_loop(void)
{
	long long deadline = real_ms() + DEADLINE_MS;
	struct sig last, now;
	unsigned int quiet = 0;
	long long step = TIME_STEP_MS;

	r.cache_fd = -1;
	signature(&last);
	while (r.cache != NULL && (any_pending() || r.next_op < r.n_ops)) {
		CHECK(real_ms() < deadline, "a request did not call back within %d ms "
		      "(op %d waited on, %u of %u made)", DEADLINE_MS, r.waiting_on,
		      r.next_op, r.n_ops);
		event_base_loop(r.base, EVLOOP_NONBLOCK);
		signature(&now);
		if (memcmp(&now, &last, sizeof(now)) != 0) {
			last = now;
			quiet = 0;
			step = TIME_STEP_MS;
			continue;
		}
		if (++quiet < QUIET_ROUNDS)
			continue;
		quiet = 0;
		clock_skew_ns += step * 1000000LL;
		/* Long quiet (a backoff of seconds): longer steps; a timer then
		   fires up to that late, as on a loaded machine. */
		if (step < TIME_STEP_MAX_MS)
			step *= 2;
	}
}

/* data: the operation count, the operations, the replies. */
static void split_input(const uint8_t *data, size_t size)
{
	size_t i = 1, start;

	if (size == 0)
		return;
	r.n_ops = data[0] % (MAX_OPS + 1);
	if (r.n_ops > size - 1)
		r.n_ops = (unsigned int)(size - 1);
	for (unsigned int k = 0; k < r.n_ops; k++)
		r.ops[k].code = data[i++];
	start = i;
	for (; i <= size && start < size && r.chunks < MAX_CHUNKS; i++) {
		if (i == size || data[i] == '\0') {
			r.chunk[r.chunks] = data + start;
			r.chunk_len[r.chunks++] = i - start;
			start = i + 1;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache_settings cs = { .timeout_ms = TIMEOUT_MS };
	char url[200], *error = NULL;

	if (size < 1)
		return 0;
	memset(&r, 0, sizeof(r));
	r.waiting_on = -1;
	r.password = (data[0] & 1) != 0;
	r.db = (data[0] & 2) != 0;
	split_input(data + 1, size - 1);
	raw_do("SELECT 0");
	raw_do("FLUSHALL");
	if (data[0] & 4)
		seed_store();
	if (r.db)
		raw_do("SELECT 1");
	if ((data[0] & 4) && r.db)
		seed_store();

	if (record_path != NULL) {
		record = evbuffer_new();
		/* flags, count, operations */
		evbuffer_add(record, data, 2 + r.n_ops);
	}
	r.base = event_base_new();
	if (r.base == NULL)
		violated("out of memory");
	redis_peer_start(&r.peer, r.base, peer_fd, on_command, NULL);
	snprintf(url, sizeof(url), "unix:%s%s", peer_path, r.db ? "?db=1" : "");
	cs.url = url;
	cs.password = r.password ? PASSWORD : NULL;
	cs.hooks.log = log_hook;
	r.cache = cache_new(r.base, &cs, &error);
	if (r.cache == NULL)
		violated("cache_new: %s", error != NULL ? error : "out of memory");

	advance();
	run_loop();
	/* Whatever is left goes: the unlocks still out, the connection. */
	cache_free(&r.cache);
	redis_peer_stop(&r.peer, peer_fd);
	event_base_free(r.base);
	if (record != NULL) {
		FILE *f = fopen(record_path, "w");

		if (f == NULL || fwrite(evbuffer_pullup(record, -1), 1,
					evbuffer_get_length(record), f) !=
		    evbuffer_get_length(record) || fclose(f) != 0)
			violated("%s: %s", record_path, strerror(errno));
		evbuffer_free(record);
		record = NULL;
	}
	return 0;
}
