/* Switching between the folders of a maildrop; contracts in
   folder_select.h. */

#include "folder_select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "folders.h"
#include "imap_client.h"
#include "imap_mailbox.h"
#include "log.h"
#include "maildrop.h"
#include "session.h"
#include "text.h"

static void pop3_folder_selected(void *ctx, const struct imap_reply *reply,
				 const struct imap_selected *info)
{
	struct pop3_folder_select_op *fsel = ctx;
	struct pop3_session *s = fsel->s;
	struct pop3_folders *fs = s->folders;
	const struct pop3_folder *f = &fs->f[fsel->folder];
	pop3_folder_select_cb *cb = fsel->cb;
	void *cb_ctx = fsel->ctx;
	char name[120], reply_text[300];
	bool ok = false;

	text_escape(f->name, strlen(f->name), name, sizeof(name));
	fs->selected = POP3_FOLDER_NONE;
	if (reply->result != IMAP_REPLY_OK) {
		log_warn("%s event=select_failed mailbox=%s reply=\"%s\"", s->log_id, name,
			 reply->text);
		snprintf(reply_text, sizeof(reply_text), "-ERR [SYS/TEMP] Cannot open the folder %s "
			 "upstream now", name);
	} else if (info->uidvalidity != f->drop->uidvalidity) {
		log_warn("%s event=uidvalidity_changed folder=%s login=%u upstream=%u "
			 "action=refused", s->log_id, name, f->drop->uidvalidity, info->uidvalidity);
		snprintf(reply_text, sizeof(reply_text), "-ERR [SYS/TEMP] The folder %s was "
			 "recreated upstream since login; log in again", name);
	} else {
		fs->selected = fsel->folder;
		ok = true;
		reply_text[0] = '\0';
	}
	cb(s, cb_ctx, ok, reply_text);
}

int pop3_folder_select(struct pop3_folder_select_op *op, struct pop3_session *s,
		       unsigned int folder, pop3_folder_select_cb *cb, void *ctx)
{
	if (s->folders->selected == folder) {
		cb(s, ctx, true, "");
		return 0;
	}
	if (s->imap == NULL)
		return -1;
	*op = (struct pop3_folder_select_op){ .s = s, .folder = folder, .cb = cb, .ctx = ctx };
	return imap_select(&op->op, s->imap, s->folders->f[folder].name, pop3_folder_selected, op);
}

/* ---- RETR and TOP in another folder ---- */

struct pop3_folder_fetch {
	struct pop3_folder_select_op select;
	struct pop3_msg *m;
	bool top;
	uint64_t lines;
};

/* The command ends from its callback, or the session closes (and the
   SELECT's callback never runs: the upstream is closed with it). */
static void pop3_folder_fetch_free(struct pop3_session *s, void *ctx)
{
	free(ctx);
}

static const struct pop3_cmd_ops pop3_folder_fetch_ops = {
	.free = pop3_folder_fetch_free,
};

static void pop3_folder_fetch_selected(struct pop3_session *s, void *ctx, bool ok,
				       const char *reply)
{
	struct pop3_folder_fetch *ff = ctx;
	struct pop3_msg *m = ff->m;
	bool top = ff->top;
	uint64_t lines = ff->lines;

	pop3_cmd_done(s);    /* frees ff */
	if (s->state != POP3_STATE_TRANSACTION || s->closing)
		return;
	if (!ok) {
		pop3_reply(s, "%s", reply);
		return;
	}
	pop3_fetch_start(s, m, top, lines);
}

void pop3_folder_fetch(struct pop3_session *s, struct pop3_msg *m, bool top, uint64_t lines)
{
	struct pop3_folder_fetch *ff;
	int folder = pop3_folders_of(s->folders, m);

	/* Nothing fetched ahead in the old folder may answer after the
	   SELECT (it may run callbacks, and close the session). */
	pop3_fetch_ahead_drop(s, NULL);
	if (s->state != POP3_STATE_TRANSACTION || folder < 0)
		return;
	if ((ff = calloc(1, sizeof(*ff))) == NULL) {
		pop3_reply(s, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	*ff = (struct pop3_folder_fetch){ .m = m, .top = top, .lines = lines };
	pop3_cmd_start(s, &pop3_folder_fetch_ops, ff);
	s->doing = "opening the message's folder";
	if (pop3_folder_select(&ff->select, s, (unsigned int)folder, pop3_folder_fetch_selected,
			       ff) < 0) {
		pop3_reply(s, "-ERR [SYS/TEMP] Internal error");
		pop3_cmd_done(s);
	}
}
