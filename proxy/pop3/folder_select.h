#ifndef POP3_FOLDER_SELECT_H
#define POP3_FOLDER_SELECT_H

/*
 * Switching the upstream connection between the folders of a session's
 * maildrop (folders.h): SELECT of the folder, whose UIDVALIDITY must be
 * the one of the login (else the UIDs of the maildrop name other
 * messages: nothing of that folder is touched, the answer is -ERR
 * [SYS/TEMP]). The folder selected now is s->folders->selected; a failed
 * SELECT leaves none selected.
 *
 * RETR and TOP of a message of another folder than the selected one run
 * the switch first, then the fetch (fetch.h); nothing fetched ahead
 * crosses a folder: the fetch ahead is dropped before the switch, and
 * fetch.c fetches ahead only in the message's own folder.
 */

#include <stdbool.h>
#include <stdint.h>

#include "imap_mailbox.h"

struct pop3_msg;
struct pop3_session;

/* No folder is selected. */
#define POP3_FOLDER_NONE 0xffffffffu

/* ok: folder is selected now, as at login; else reply is the -ERR line
   for the client (the connection may be gone: see s->imap). */
typedef void pop3_folder_select_cb(struct pop3_session *s, void *ctx, bool ok,
				   const char *reply);

/* The caller's, alive until cb has run or the session closed. */
struct pop3_folder_select_op {
	struct pop3_session *s;
	unsigned int folder;
	struct imap_select_op op;
	pop3_folder_select_cb *cb;
	void *ctx;
};

/* Selects folder (an index of s->folders) unless it is selected (then cb
   runs at once, from here); else cb runs from the IMAP client's callback.
   -1: nothing was sent (cb never runs). */
int pop3_folder_select(struct pop3_folder_select_op *op, struct pop3_session *s,
		       unsigned int folder, pop3_folder_select_cb *cb, void *ctx);

/* RETR (top false) or TOP of m, which is in another folder than the
   selected one: a command of its own that selects, then starts the
   fetch. Replies on failure. */
void pop3_folder_fetch(struct pop3_session *s, struct pop3_msg *m, bool top, uint64_t lines);

#endif
