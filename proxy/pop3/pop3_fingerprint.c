/* Message fingerprints from the upstream: a digest of the identifying
   header fields and the arrival time of each message of a UID list, so
   that per-device state can follow the messages when the mailbox is
   recreated with new UIDs. */

#include "pop3_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "header_fp.h"
#include "imap_client.h"
#include "imap_resp.h"
#include "log.h"
#include "tls.h"

/* Longest UID set in one command; more UIDs take more commands. */
#define POP3_FP_SET_MAX 4000
/* Header octets kept per message (the canonical form is bounded too). */
#define POP3_FP_RAW_MAX 8192

size_t pop3_uid_set(const uint32_t *uids, size_t n, size_t start, char *buf, size_t size,
		    size_t max_len)
{
	size_t i = start, o = 0;

	buf[0] = '\0';
	while (i < n && o + 24 < size && o < max_len) {
		size_t j = i;
		int len;

		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		len = j > i ? snprintf(buf + o, size - o, "%s%u:%u", o > 0 ? "," : "",
				       uids[i], uids[j]) :
			snprintf(buf + o, size - o, "%s%u", o > 0 ? "," : "", uids[i]);
		o += (size_t)len;
		i = j + 1;
	}
	return i;
}

static void pop3_fp_finish(struct pop3_session *s, bool ok)
{
	struct pop3_fp_job *job = s->fp_job;

	s->fp_job = NULL;
	job->done(s, ok, job->fps, job->count);
	free(job->fps);
	free(job->raw);
	free(job);
}

static void pop3_fp_add(struct pop3_session *s, const struct imap_fetch *f,
			const char *raw, size_t raw_len)
{
	struct pop3_fp_job *job = s->fp_job;
	char canon[HEADER_FP_MAX + 1];
	struct pop3_fp *fp;
	size_t n;

	if (!f->has_uid || job->count == job->cap)
		return;
	fp = &job->fps[job->count++];
	fp->uid = f->uid;
	fp->internaldate = f->has_internaldate ? f->internaldate : 0;
	n = header_fp_canonical(raw, raw_len, canon);
	/* No identifying field at all: nothing to recognise it by later. */
	if (n == 0)
		fp->fp[0] = '\0';
	else
		tls_sha256_hex(canon, n, fp->fp);
}

static bool pop3_fp_literal_begin(void *ctx, const char *prefix, size_t len, uint64_t size)
{
	struct pop3_session *s = ctx;
	struct imap_fetch f;
	const char *error;

	if (imap_fetch_line(prefix, len, true, &f, &error) != 0 ||
	    !f.ends_with_body_literal || strncmp(f.body.section, "HEADER.FIELDS", 13) != 0)
		return false;
	s->fp_job->raw_len = 0;
	s->fp_job->have_raw = true;
	return true;
}

static void pop3_fp_literal_data(void *ctx, const unsigned char *data, size_t len)
{
	struct pop3_fp_job *job = ((struct pop3_session *)ctx)->fp_job;
	size_t room = POP3_FP_RAW_MAX - job->raw_len;

	if (len > room)
		len = room;
	memcpy(job->raw + job->raw_len, data, len);
	job->raw_len += len;
}

/* The whole FETCH line, after any literal: UID and INTERNALDATE may come
   before or after the header data. */
static void pop3_fp_untagged(void *ctx, const struct imap_resp *resp)
{
	struct pop3_session *s = ctx;
	struct pop3_fp_job *job = s->fp_job;
	struct imap_fetch f;
	const char *error;

	if (imap_fetch_resp(resp, false, &f, &error) != 0 ||
	    f.body_count == 0 || strncmp(f.body.section, "HEADER.FIELDS", 13) != 0) {
		job->have_raw = false;
		return;
	}
	if (f.body.kind == IMAP_VALUE_LITERAL && job->have_raw) {
		pop3_fp_add(s, &f, job->raw, job->raw_len);
	} else if (f.body.kind == IMAP_VALUE_QUOTED) {
		size_t n = f.body.value_len < POP3_FP_RAW_MAX ? f.body.value_len : POP3_FP_RAW_MAX;

		pop3_fp_add(s, &f, job->raw, imap_unquote(f.body.value, n, job->raw));
	} else if (f.body.kind == IMAP_VALUE_NIL) {
		pop3_fp_add(s, &f, "", 0);
	}
	job->have_raw = false;
}

static void pop3_fp_next(struct pop3_session *s);

static void pop3_fp_done(void *ctx, const struct imap_reply *reply)
{
	struct pop3_session *s = ctx;
	struct pop3_fp_job *job = s->fp_job;

	if (reply->result != IMAP_REPLY_OK) {
		log_warn("%s event=fingerprint_fetch_failed reply=\"%s\"", s->log_id, reply->text);
		pop3_fp_finish(s, false);
		return;
	}
	if (job->next == job->uid_count) {
		pop3_fp_finish(s, true);
		return;
	}
	pop3_fp_next(s);
}

static const struct imap_cmd_handlers pop3_fp_handlers = {
	.untagged = pop3_fp_untagged,
	.literal_begin = pop3_fp_literal_begin,
	.literal_data = pop3_fp_literal_data,
	.done = pop3_fp_done,
};

static void pop3_fp_next(struct pop3_session *s)
{
	struct pop3_fp_job *job = s->fp_job;
	char set[POP3_FP_SET_MAX + 32], args[POP3_FP_SET_MAX + 128];

	job->next = pop3_uid_set(job->uids, job->uid_count, job->next, set, sizeof(set),
				 POP3_FP_SET_MAX);
	snprintf(args, sizeof(args), "UID FETCH %s (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS ("
		 HEADER_FP_FIELDS ")])", set);
	if (imap_client_command(s->imap, args, &pop3_fp_handlers, s) < 0)
		pop3_fp_finish(s, false);
}

void pop3_fingerprints_fetch(struct pop3_session *s, const uint32_t *uids, size_t n,
			     pop3_fp_done_cb *done)
{
	struct pop3_fp_job *job = calloc(1, sizeof(*job));

	if (job == NULL || (job->fps = calloc(n + 1, sizeof(*job->fps))) == NULL ||
	    (job->raw = malloc(POP3_FP_RAW_MAX)) == NULL) {
		if (job != NULL)
			free(job->fps);
		free(job);
		done(s, false, NULL, 0);
		return;
	}
	job->uids = uids;
	job->uid_count = n;
	job->cap = n;
	job->done = done;
	s->fp_job = job;
	if (n == 0) {
		pop3_fp_finish(s, true);
		return;
	}
	pop3_fp_next(s);
}

void pop3_fingerprints_free(struct pop3_session *s)
{
	if (s->fp_job == NULL)
		return;
	free(s->fp_job->fps);
	free(s->fp_job->raw);
	free(s->fp_job);
	s->fp_job = NULL;
}
