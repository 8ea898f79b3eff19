/* One scrypt worker thread; contracts in oauth_kdf.h. */

#include "oauth_kdf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "crypto.h"

struct oauth_kdf_job {
	TAILQ_ENTRY(oauth_kdf_job) link;
	struct oauth_kdf *k;
	char *pass;
	size_t pass_len;
	uint8_t salt[64];
	size_t salt_len;
	unsigned int log2_n, r, p;
	uint8_t out[OAUTH_KDF_OUT];
	int ok;
	bool queued;       /* in the queue, not taken by the worker yet */
	bool cancelled;    /* taken, and nobody wants the result */
	oauth_kdf_cb *cb;
	void *ctx;
};
TAILQ_HEAD(oauth_kdf_queue, oauth_kdf_job);

struct oauth_kdf {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct oauth_kdf_queue queue;
	unsigned int queued;
	bool stop;
	int pipe[2];               /* worker writes finished jobs, loop reads */
	struct event *ev;
};

static void oauth_kdf_job_free(struct oauth_kdf_job *j)
{
	if (j->pass != NULL) {
		explicit_bzero(j->pass, j->pass_len);
		free(j->pass);
	}
	explicit_bzero(j, sizeof(*j));
	free(j);
}

static void *oauth_kdf_worker(void *arg)
{
	struct oauth_kdf *k = arg;

	pthread_mutex_lock(&k->lock);
	for (;;) {
		struct oauth_kdf_job *j;

		while (!k->stop && TAILQ_EMPTY(&k->queue))
			pthread_cond_wait(&k->wake, &k->lock);
		if (k->stop)
			break;
		j = TAILQ_FIRST(&k->queue);
		TAILQ_REMOVE(&k->queue, j, link);
		k->queued--;
		j->queued = false;
		pthread_mutex_unlock(&k->lock);
		j->ok = crypto_scrypt(j->pass, j->pass_len, j->salt, j->salt_len, j->log2_n, j->r,
				      j->p, j->out, sizeof(j->out));
		explicit_bzero(j->pass, j->pass_len);
		/* A pointer is 8 octets, below PIPE_BUF: written whole. */
		while (write(k->pipe[1], &j, sizeof(j)) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&k->lock);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

static void oauth_kdf_done(evutil_socket_t fd, short what, void *arg)
{
	struct oauth_kdf *k = arg;
	struct oauth_kdf_job *j;

	(void)what;
	while (read(fd, &j, sizeof(j)) == (ssize_t)sizeof(j)) {
		bool cancelled;

		pthread_mutex_lock(&k->lock);
		cancelled = j->cancelled;
		pthread_mutex_unlock(&k->lock);
		if (!cancelled)
			j->cb(j->ctx, j->ok, j->out);
		oauth_kdf_job_free(j);
	}
}

struct oauth_kdf *oauth_kdf_new(struct event_base *base)
{
	struct oauth_kdf *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return NULL;
	TAILQ_INIT(&k->queue);
	k->pipe[0] = k->pipe[1] = -1;
	if (pipe2(k->pipe, O_CLOEXEC) < 0 || fcntl(k->pipe[0], F_SETFL, O_NONBLOCK) < 0 ||
	    (k->ev = event_new(base, k->pipe[0], EV_READ | EV_PERSIST, oauth_kdf_done, k)) == NULL ||
	    event_add(k->ev, NULL) < 0) {
		if (k->ev != NULL)
			event_free(k->ev);
		if (k->pipe[0] >= 0) {
			close(k->pipe[0]);
			close(k->pipe[1]);
		}
		free(k);
		return NULL;
	}
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->wake, NULL);
	if (pthread_create(&k->thread, NULL, oauth_kdf_worker, k) != 0) {
		event_free(k->ev);
		close(k->pipe[0]);
		close(k->pipe[1]);
		pthread_mutex_destroy(&k->lock);
		pthread_cond_destroy(&k->wake);
		free(k);
		return NULL;
	}
	return k;
}

void oauth_kdf_free(struct oauth_kdf **kp)
{
	struct oauth_kdf *k = *kp;
	struct oauth_kdf_job *j;

	if (k == NULL)
		return;
	pthread_mutex_lock(&k->lock);
	k->stop = true;
	pthread_cond_signal(&k->wake);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	while ((j = TAILQ_FIRST(&k->queue)) != NULL) {
		TAILQ_REMOVE(&k->queue, j, link);
		oauth_kdf_job_free(j);
	}
	/* Finished but not delivered: freed without a callback. */
	while (read(k->pipe[0], &j, sizeof(j)) == (ssize_t)sizeof(j))
		oauth_kdf_job_free(j);
	event_free(k->ev);
	close(k->pipe[0]);
	close(k->pipe[1]);
	pthread_mutex_destroy(&k->lock);
	pthread_cond_destroy(&k->wake);
	free(k);
	*kp = NULL;
}

struct oauth_kdf_job *oauth_kdf_run(struct oauth_kdf *k, const char *pass, size_t pass_len,
				    const uint8_t *salt, size_t salt_len, unsigned int log2_n,
				    unsigned int r, unsigned int p, oauth_kdf_cb *cb, void *ctx)
{
	struct oauth_kdf_job *j;

	if (salt_len > sizeof(j->salt) || (j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	if ((j->pass = malloc(pass_len + 1)) == NULL) {
		free(j);
		return NULL;
	}
	memcpy(j->pass, pass, pass_len);
	j->pass_len = pass_len;
	memcpy(j->salt, salt, salt_len);
	j->salt_len = salt_len;
	j->log2_n = log2_n;
	j->r = r;
	j->p = p;
	j->cb = cb;
	j->ctx = ctx;
	j->k = k;
	pthread_mutex_lock(&k->lock);
	if (k->queued >= OAUTH_KDF_QUEUE_MAX) {
		pthread_mutex_unlock(&k->lock);
		oauth_kdf_job_free(j);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&k->queue, j, link);
	k->queued++;
	j->queued = true;
	pthread_cond_signal(&k->wake);
	pthread_mutex_unlock(&k->lock);
	return j;
}

void oauth_kdf_cancel(struct oauth_kdf_job **jp)
{
	struct oauth_kdf_job *j = *jp;
	struct oauth_kdf *k;

	if (j == NULL)
		return;
	k = j->k;
	*jp = NULL;
	pthread_mutex_lock(&k->lock);
	if (j->queued) {
		TAILQ_REMOVE(&k->queue, j, link);
		k->queued--;
		pthread_mutex_unlock(&k->lock);
		oauth_kdf_job_free(j);
		return;
	}
	/* The worker has it: freed when it comes back. */
	j->cancelled = true;
	pthread_mutex_unlock(&k->lock);
}
