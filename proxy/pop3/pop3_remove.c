/* delete_action = trash / expunge: the DELE'd messages leave the upstream
   INBOX at QUIT. Every step waits for the previous one's OK: a COPY that
   failed is never followed by the expunge of its originals. */

#include "pop3_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "imap_client.h"
#include "imap_resp.h"
#include "log.h"

/* Longest UID set in one command; more messages take more commands. */
#define POP3_UID_SET_MAX 4000

enum pop3_remove_step {
	POP3_REMOVE_MOVE,    /* UID MOVE (RFC 6851) */
	POP3_REMOVE_COPY,    /* or UID COPY, then */
	POP3_REMOVE_STORE,   /* UID STORE +FLAGS.SILENT (\Deleted), then */
	POP3_REMOVE_EXPUNGE, /* UID EXPUNGE (RFC 4315): only these messages */
	POP3_REMOVE_CREATE,  /* CREATE Trash after [TRYCREATE], then again */
	POP3_REMOVE_UNDO,    /* EXPUNGE failed: take \Deleted off again */
};

static void pop3_remove_next(struct pop3_session *s);

static void pop3_remove_finish(struct pop3_session *s, bool ok, bool permanent,
			       const char *error)
{
	void (*done)(struct pop3_session *, bool, bool, const char *) = s->remove_done;

	free(s->remove_uids);
	s->remove_uids = NULL;
	free(s->remove_set);
	s->remove_set = NULL;
	s->remove_done = NULL;
	done(s, ok, permanent, error);
}

/* The next chunk as an IMAP UID set in remove_set. */
static void pop3_remove_set(struct pop3_session *s)
{
	s->remove_chunk_end = pop3_uid_set(s->remove_uids, s->remove_count, s->remove_next,
					   s->remove_set, POP3_UID_SET_MAX + 32,
					   POP3_UID_SET_MAX);
}

/* The Trash name as an IMAP quoted string; -1 if it cannot be one. */
/* utf8: the server accepted ENABLE UTF8=ACCEPT, so names are UTF-8 (a
   LIST answer then gives them so) rather than modified UTF-7 ASCII. */
static int pop3_quote_mailbox(const char *name, bool utf8, char *buf, size_t size)
{
	size_t o = 0;

	buf[o++] = '"';
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f || (c > 0x7f && !utf8) || o + 4 >= size)
			return -1;
		if (c == '"' || c == '\\')
			buf[o++] = '\\';
		buf[o++] = (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return 0;
}

static void pop3_remove_step_done(void *ctx, const struct imap_reply *reply)
{
	struct pop3_session *s = ctx;

	if (s->remove_step == POP3_REMOVE_UNDO) {
		/* Whatever the undo gave, the removal failed before it. */
		pop3_remove_finish(s, false, false, s->remove_error);
		return;
	}
	if (s->remove_step == POP3_REMOVE_CREATE) {
		/* Created (or it raced into existence): try the step again. */
		s->remove_step = s->remove_first_step;
		pop3_remove_next(s);
		return;
	}
	if (reply->result != IMAP_REPLY_OK) {
		log_warn("%s event=remove_failed step=%u reply=\"%s\"", s->log_id,
			 s->remove_step, reply->text);
		snprintf(s->remove_error, sizeof(s->remove_error), "%s", reply->text);
		if (reply->result != IMAP_REPLY_FAILED && !s->trash_created &&
		    (s->remove_step == POP3_REMOVE_MOVE || s->remove_step == POP3_REMOVE_COPY) &&
		    reply->code != NULL && reply->code_len >= 9 &&
		    strncasecmp(reply->code, "TRYCREATE", 9) == 0) {
			/* RFC 3501 6.4.7: the Trash does not exist yet. */
			s->trash_created = true;
			s->remove_step = POP3_REMOVE_CREATE;
			pop3_remove_next(s);
			return;
		}
		if (reply->result != IMAP_REPLY_FAILED && s->remove_step == POP3_REMOVE_EXPUNGE) {
			/* Left flagged, they would vanish from every device
			   without being moved or removed. */
			s->remove_step = POP3_REMOVE_UNDO;
			pop3_remove_next(s);
			return;
		}
		pop3_remove_finish(s, false, false, reply->text);
		return;
	}
	switch (s->remove_step) {
	case POP3_REMOVE_COPY:
		s->remove_step = POP3_REMOVE_STORE;
		break;
	case POP3_REMOVE_STORE:
		s->remove_step = POP3_REMOVE_EXPUNGE;
		break;
	default:
		/* This chunk is done. */
		s->remove_next = s->remove_chunk_end;
		if (s->remove_next == s->remove_count) {
			pop3_remove_finish(s, true, false, NULL);
			return;
		}
		s->remove_step = s->remove_first_step;
		pop3_remove_set(s);
		break;
	}
	pop3_remove_next(s);
}

static const struct imap_cmd_handlers pop3_remove_handlers = {
	.done = pop3_remove_step_done,
};

static void pop3_remove_next(struct pop3_session *s)
{
	char mailbox[sizeof(s->trash) * 2 + 3];
	char args[POP3_UID_SET_MAX + 32 + sizeof(mailbox) + 64];
	const char *set = s->remove_set;

	if (s->remove_trash && pop3_quote_mailbox(s->trash, imap_client_utf8_enabled(s->imap),
							   mailbox, sizeof(mailbox)) < 0) {
		pop3_remove_finish(s, false, true, "Trash mailbox name cannot be sent");
		return;
	}
	switch (s->remove_step) {
	case POP3_REMOVE_MOVE:
		snprintf(args, sizeof(args), "UID MOVE %s %s", set, mailbox);
		break;
	case POP3_REMOVE_COPY:
		snprintf(args, sizeof(args), "UID COPY %s %s", set, mailbox);
		break;
	case POP3_REMOVE_STORE:
		snprintf(args, sizeof(args), "UID STORE %s +FLAGS.SILENT (\\Deleted)", set);
		break;
	case POP3_REMOVE_EXPUNGE:
		snprintf(args, sizeof(args), "UID EXPUNGE %s", set);
		break;
	case POP3_REMOVE_CREATE:
		snprintf(args, sizeof(args), "CREATE %s", mailbox);
		break;
	case POP3_REMOVE_UNDO:
		snprintf(args, sizeof(args), "UID STORE %s -FLAGS.SILENT (\\Deleted)", set);
		break;
	}
	if (imap_client_command(s->imap, args, &pop3_remove_handlers, s) < 0)
		pop3_remove_finish(s, false, false, "internal error");
}

static void pop3_remove_start(struct pop3_session *s)
{
	unsigned int caps = imap_client_caps(s->imap);

	if (s->remove_trash && (caps & IMAP_CAP_MOVE) != 0) {
		s->remove_first_step = POP3_REMOVE_MOVE;
	} else if ((caps & IMAP_CAP_UIDPLUS) != 0) {
		s->remove_first_step = s->remove_trash ? POP3_REMOVE_COPY : POP3_REMOVE_STORE;
	} else {
		/* A plain EXPUNGE would also remove what other clients
		   flagged \Deleted: refuse rather than guess. */
		pop3_remove_finish(s, false, true, "upstream has neither MOVE nor UIDPLUS");
		return;
	}
	log_info("%s event=remove messages=%zu action=%s%s%s", s->log_id, s->remove_count,
		 s->remove_trash ? "trash" : "expunge", s->remove_trash ? " mailbox=" : "",
		 s->remove_trash ? s->trash : "");
	s->remove_step = s->remove_first_step;
	pop3_remove_set(s);
	pop3_remove_next(s);
}

static void pop3_trash_list_untagged(void *ctx, const struct imap_resp *resp)
{
	struct pop3_session *s = ctx;
	char name[sizeof(s->trash)];
	unsigned int attrs;
	const char *error;

	if (s->trash[0] != '\0' || !imap_resp_keyword_is(resp, "LIST") ||
	    imap_list_parse(resp->rest, resp->rest_len, &attrs, name, sizeof(name), &error) < 0)
		return;
	if ((attrs & IMAP_LIST_TRASH) != 0 && (attrs & IMAP_LIST_NOSELECT) == 0)
		snprintf(s->trash, sizeof(s->trash), "%s", name);
}

static void pop3_trash_list_done(void *ctx, const struct imap_reply *reply)
{
	struct pop3_session *s = ctx;

	if (reply->result == IMAP_REPLY_FAILED) {
		pop3_remove_finish(s, false, false, reply->text);
		return;
	}
	if (s->trash[0] == '\0')
		snprintf(s->trash, sizeof(s->trash), "Trash");
	pop3_remove_start(s);
}

static const struct imap_cmd_handlers pop3_trash_list_handlers = {
	.untagged = pop3_trash_list_untagged,
	.done = pop3_trash_list_done,
};

void pop3_upstream_remove(struct pop3_session *s, bool to_trash,
			  void (*done)(struct pop3_session *s, bool ok, bool permanent,
				       const char *error))
{
	size_t n = 0;

	s->remove_done = done;
	s->remove_trash = to_trash;
	s->trash_created = false;
	s->remove_next = 0;
	s->trash[0] = '\0';
	s->remove_uids = malloc(s->msg_count * sizeof(*s->remove_uids));
	s->remove_set = malloc(POP3_UID_SET_MAX + 32);
	if (s->remove_uids == NULL || s->remove_set == NULL) {
		pop3_remove_finish(s, false, false, "out of memory");
		return;
	}
	/* msgs are in UID order, so this is sorted. */
	for (unsigned int i = 0; i < s->msg_count; i++) {
		if ((s->msgs[i].flags & POP3_MSG_DELETED) != 0)
			s->remove_uids[n++] = s->msgs[i].uid;
	}
	s->remove_count = n;
	if (!to_trash) {
		pop3_remove_start(s);
		return;
	}
	if (s->conf->trash_mailbox != NULL) {
		snprintf(s->trash, sizeof(s->trash), "%s", s->conf->trash_mailbox);
		pop3_remove_start(s);
		return;
	}
	if ((imap_client_caps(s->imap) & IMAP_CAP_SPECIAL_USE) == 0) {
		snprintf(s->trash, sizeof(s->trash), "Trash");
		pop3_remove_start(s);
		return;
	}
	if (imap_client_command(s->imap, "LIST (SPECIAL-USE) \"\" \"*\"",
				&pop3_trash_list_handlers, s) < 0)
		pop3_remove_finish(s, false, false, "internal error");
}
