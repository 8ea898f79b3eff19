#ifndef FUZZ_CACHE_REPLIES_WORLD_H
#define FUZZ_CACHE_REPLIES_WORLD_H

/*
 * What fuzz_cache_replies.c sets up once and every input shares: the
 * report of a broken invariant, the monotonic clock that jumps ahead when
 * nothing moves, the real redis-server (fuzz_redis.h), the listings
 * and messages the operations name, and the store an input may start
 * from. Included by that harness alone.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <hiredis/hiredis.h>

#include "cache.h"
#include "cache_retention.h"
#include "fuzz_redis.h"

#define ACCOUNT "fuzz@example.com@imap.example.com:993"
#define PREFIX "popgate:{" ACCOUNT "}:"

#define FUZZ_NAME "fuzz_cache_replies"
#include "fuzz_check.h"

/*
 * Time. The loop never waits on the clock: when nothing moves (see
 * run_loop()), the monotonic clock that libevent's timers run on jumps
 * ahead instead, so a run depends on its input only, takes no longer
 * for its timeouts and backoffs, and no timer fires early because the
 * machine is slow. This clock_gettime() takes the place of libc's (and of
 * the sanitizers' interceptor) for the whole process; CLOCK_REALTIME,
 * which libFuzzer's -max_total_time uses, is left alone.
 */
static long long clock_skew_ns;

int clock_gettime(clockid_t id, struct timespec *ts)
{
	long long ns;

	if (syscall(SYS_clock_gettime, id, ts) != 0)
		return -1;
	if (clock_skew_ns == 0 || (id != CLOCK_MONOTONIC && id != CLOCK_MONOTONIC_COARSE))
		return 0;
	ns = ts->tv_nsec + clock_skew_ns;
	ts->tv_sec += ns / 1000000000LL;
	ts->tv_nsec = ns % 1000000000LL;
	return 0;
}

/* Wall time, for the deadline. */
static long long real_ms(void)
{
	struct timespec ts;

	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ---- set up once ---- */

static char peer_path[160];
static redisContext *raw;
static int peer_fd = -1;
static bool verbose;
/* POPGATE_FUZZ_RECORD=file: each input is written there again with the
   real redis-server's replies in it (to make seeds). */
static const char *record_path;
static struct evbuffer *record;

/* Listings (strictly ascending uids) and messages for the operations. */
#define BIG_LISTING 9000
static uint32_t uids_big[BIG_LISTING];
static const uint32_t uids_small[] = { 2, 4, 6 };
static struct cache_listing listings[2][4];
#define HIDE_MANY 1500
static uint32_t hide_uids[HIDE_MANY];
static const char *hide_fps[HIDE_MANY];
/* A retention decision: its bound, and the one device age it passes. */
#define RETENTION_MAX 50
static const struct cache_retention_age retention_ages[] = { { "phone", 86400 } };
static char fp_text[2500][16];
#define REMAP_MANY 2500
static struct cache_remap_msg remap_few[3], remap_many[REMAP_MANY], remap_dup[REMAP_MANY];

static void start_redis(void)
{
	char error[256];

	raw = fuzz_redis_start("fuzz-cache", 4, error, sizeof(error));
	if (raw == NULL)
		violated("%s", error);
	snprintf(peer_path, sizeof(peer_path), "%s/peer.sock", fuzz_redis_dir);
}

static void build_data(void)
{
	static const size_t sizes[4] = { 0, 3, BIG_LISTING / 2, BIG_LISTING };

	for (size_t i = 0; i < BIG_LISTING; i++)
		uids_big[i] = (uint32_t)(i + 1);
	for (int v = 0; v < 2; v++) {
		for (int k = 0; k < 4; k++) {
			struct cache_listing *l = &listings[v][k];

			l->uidvalidity = v == 0 ? 1 : 7;
			l->n = sizes[k];
			l->uids = k == 0 ? NULL : k == 1 ? uids_small : uids_big;
			l->uidnext = k == 1 ? 8 : (uint32_t)sizes[k] + 1;
		}
	}
	for (size_t i = 0; i < 2500; i++)
		snprintf(fp_text[i], sizeof(fp_text[i]), "fp%zu", i);
	for (size_t i = 0; i < HIDE_MANY; i++) {
		hide_uids[i] = (uint32_t)(2 * i + 2);
		hide_fps[i] = fp_text[i];
	}
	for (size_t i = 0; i < 3; i++)
		remap_few[i] = (struct cache_remap_msg){ (uint32_t)(10 + i),
			fp_text[i == 2 ? 0 : i], 1700000000 + 10 * i };
	for (size_t i = 0; i < REMAP_MANY; i++) {
		remap_many[i] = (struct cache_remap_msg){ (uint32_t)(i + 1), fp_text[i],
			1700000000 + 10 * i };
		remap_dup[i] = (struct cache_remap_msg){ (uint32_t)(3 * i + 1), fp_text[i % 7],
			1700000000 + 10 * i };
	}
}

static void raw_do(const char *fmt, ...)
{
	redisReply *rep;
	va_list args;

	va_start(args, fmt);
	rep = redisvCommand(raw, fmt, args);
	va_end(args);
	if (rep == NULL)
		violated("redis: %s", raw->errstr);
	freeReplyObject(rep);
}

static void seed_store(void)
{
	raw_do("SET %suidvalidity 1", PREFIX);
	raw_do("HSET %sdevices default %s phone %s", PREFIX, "3 1700000000", "5 1700000100");
	raw_do("HSET %shidden:default 1 fp0 2 fp1 3 %s 5 fp2 4100 fp3", PREFIX, "");
	raw_do("HSET %shidden:phone 6 fp1", PREFIX);
	raw_do("HSET %shidden_all 2 fp1 9 fp4", PREFIX);
}

#endif
