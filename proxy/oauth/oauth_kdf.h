#ifndef OAUTH_KDF_H
#define OAUTH_KDF_H

/*
 * The gateway password check off the event loop: scrypt takes 50 to 200
 * ms of CPU, which would stall every session of the process, so one
 * worker thread runs it and hands the result back through a pipe that
 * the loop watches. The worker only ever computes scrypt over copies it
 * owns; it touches no libevent, cache or session state.
 *
 * Callbacks run from the event loop, never inside oauth_kdf_run(), never
 * after oauth_kdf_cancel() or oauth_kdf_free().
 */

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct oauth_kdf;
struct oauth_kdf_job;

#define OAUTH_KDF_OUT 64
#define OAUTH_KDF_QUEUE_MAX 256   /* jobs waiting; past it oauth_kdf_run() refuses */

/* NULL when the thread or the pipe cannot be had. */
struct oauth_kdf *oauth_kdf_new(struct event_base *base);
/* Stops the worker (after the job it is on) and drops every job. */
void oauth_kdf_free(struct oauth_kdf **k);

/* ok: 0 and out (OAUTH_KDF_OUT octets, valid during the call), or -1. */
typedef void oauth_kdf_cb(void *ctx, int ok, const uint8_t *out);

/* scrypt(pass, salt) with the parameters; pass and salt are copied (and
   the copy wiped). NULL when the queue is full or memory is short. */
struct oauth_kdf_job *oauth_kdf_run(struct oauth_kdf *k, const char *pass, size_t pass_len,
				    const uint8_t *salt, size_t salt_len, unsigned int log2_n,
				    unsigned int r, unsigned int p, oauth_kdf_cb *cb, void *ctx);
/* Sets *job to NULL; NULL is fine. */
void oauth_kdf_cancel(struct oauth_kdf_job **job);

#endif
