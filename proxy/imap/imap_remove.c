/* Removing messages from the selected mailbox; contracts in imap_remove.h. */

#include "imap_remove.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imap_resp.h"

enum imap_remove_step {
	IMAP_REMOVE_FIND_SPECIAL,   /* LIST (SPECIAL-USE): which is \Trash */
	IMAP_REMOVE_FIND_NAMESPACE, /* NAMESPACE: the personal prefix */
	IMAP_REMOVE_MOVE,           /* UID MOVE */
	IMAP_REMOVE_COPY,           /* or UID COPY, then */
	IMAP_REMOVE_STORE,          /* UID STORE +FLAGS.SILENT (\Deleted), then */
	IMAP_REMOVE_EXPUNGE,        /* UID EXPUNGE: only these messages */
	IMAP_REMOVE_CREATE,         /* CREATE the Trash after [TRYCREATE] */
	IMAP_REMOVE_UNDO,           /* EXPUNGE failed: take \Deleted off again */
};

static void imap_remove_next(struct imap_remove_op *op);
static int imap_remove_send(struct imap_remove_op *op);

static void imap_remove_finish(struct imap_remove_op *op, bool ok, bool permanent,
			       const char *error)
{
	struct imap_remove_result result = {
		.ok = ok,
		.permanent = permanent,
		.done = op->next,
		.error = error,
		.trash = op->to_trash && op->trash[0] != '\0' ? op->trash : NULL,
	};

	op->cb(op->ctx, &result);
}

/* Whether a refusal is for good. RFC 5530 codes that say "not now" are
   temporary; anything else (NO without a code included) is not: a
   server that refuses to move mail to a mailbox will refuse again. */
static bool imap_remove_permanent(const struct imap_reply *reply)
{
	static const char *const temporary[] = {
		"UNAVAILABLE", "INUSE", "LIMIT", "SERVERBUG", "OVERQUOTA",
		"EXPUNGEISSUED", "CORRUPTION", NULL,
	};

	if (reply->result == IMAP_REPLY_FAILED)
		return false;
	for (size_t i = 0; reply->code != NULL && temporary[i] != NULL; i++) {
		size_t n = strlen(temporary[i]);

		if (reply->code_len >= n && strncasecmp(reply->code, temporary[i], n) == 0 &&
		    (reply->code_len == n || reply->code[n] == ' '))
			return false;
	}
	return true;
}

static bool imap_remove_code_is(const struct imap_reply *reply, const char *code)
{
	size_t n = strlen(code);

	return reply->code != NULL && reply->code_len >= n &&
		strncasecmp(reply->code, code, n) == 0 &&
		(reply->code_len == n || reply->code[n] == ' ');
}

/* The next chunk as an IMAP UID set. */
static void imap_remove_chunk(struct imap_remove_op *op)
{
	op->chunk_end = imap_cmd_uid_set(op->uids, op->count, op->next, op->set,
					 sizeof(op->set), IMAP_UID_SET_MAX);
}

static void imap_remove_begin(struct imap_remove_op *op)
{
	if (op->to_trash && op->trash[0] == '\0')
		snprintf(op->trash, sizeof(op->trash), "Trash");
	op->step = op->first_step;
	imap_remove_chunk(op);
	imap_remove_next(op);
}

static void imap_remove_step_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_remove_op *op = ctx;

	switch (op->step) {
	case IMAP_REMOVE_FIND_SPECIAL:
		if (reply->result == IMAP_REPLY_FAILED) {
			imap_remove_finish(op, false, false, reply->text);
			return;
		}
		if (op->trash[0] == '\0' &&
		    (imap_client_caps(op->client) & IMAP_CAP_NAMESPACE) != 0) {
			op->step = IMAP_REMOVE_FIND_NAMESPACE;
			imap_remove_next(op);
			return;
		}
		imap_remove_begin(op);
		return;
	case IMAP_REMOVE_FIND_NAMESPACE:
		if (reply->result == IMAP_REPLY_FAILED) {
			imap_remove_finish(op, false, false, reply->text);
			return;
		}
		imap_remove_begin(op);
		return;
	case IMAP_REMOVE_UNDO:
		/* Whatever the undo gave, the removal failed before it. */
		imap_remove_finish(op, false, false, op->error);
		return;
	case IMAP_REMOVE_CREATE:
		if (reply->result != IMAP_REPLY_OK &&
		    !imap_remove_code_is(reply, "ALREADYEXISTS")) {
			snprintf(op->error, sizeof(op->error), "cannot create %.80s: %.150s",
				 op->trash, reply->text);
			imap_remove_finish(op, false, imap_remove_permanent(reply), op->error);
			return;
		}
		/* Created (or it raced into existence): try the step again. */
		op->step = op->first_step;
		imap_remove_next(op);
		return;
	default:
		break;
	}
	if (reply->result != IMAP_REPLY_OK) {
		snprintf(op->error, sizeof(op->error), "%s", reply->text);
		if (reply->result != IMAP_REPLY_FAILED && !op->trash_created &&
		    (op->step == IMAP_REMOVE_MOVE || op->step == IMAP_REMOVE_COPY) &&
		    imap_remove_code_is(reply, "TRYCREATE")) {
			/* RFC 3501 6.4.7: the Trash does not exist yet. */
			op->trash_created = true;
			op->step = IMAP_REMOVE_CREATE;
			imap_remove_next(op);
			return;
		}
		if (reply->result != IMAP_REPLY_FAILED && op->step == IMAP_REMOVE_EXPUNGE) {
			/* Left flagged, they would vanish from every device
			   without being moved or removed. */
			op->step = IMAP_REMOVE_UNDO;
			imap_remove_next(op);
			return;
		}
		imap_remove_finish(op, false, imap_remove_permanent(reply), op->error);
		return;
	}
	switch (op->step) {
	case IMAP_REMOVE_COPY:
		op->step = IMAP_REMOVE_STORE;
		break;
	case IMAP_REMOVE_STORE:
		op->step = IMAP_REMOVE_EXPUNGE;
		break;
	default:
		/* This chunk is done. */
		op->next = op->chunk_end;
		if (op->next == op->count) {
			imap_remove_finish(op, true, false, NULL);
			return;
		}
		op->step = op->first_step;
		imap_remove_chunk(op);
		break;
	}
	imap_remove_next(op);
}

static void imap_remove_untagged(void *ctx, const struct imap_resp *resp)
{
	struct imap_remove_op *op = ctx;
	char name[sizeof(op->trash)], delim;
	unsigned int attrs;
	const char *error;

	if (op->step == IMAP_REMOVE_FIND_SPECIAL && op->trash[0] == '\0' &&
	    imap_resp_keyword_is(resp, "LIST") &&
	    imap_list_parse(resp->rest, resp->rest_len, &attrs, name, sizeof(name),
			    &error) == 0 &&
	    (attrs & IMAP_LIST_TRASH) != 0 && (attrs & IMAP_LIST_NOSELECT) == 0)
		snprintf(op->trash, sizeof(op->trash), "%s", name);
	if (op->step == IMAP_REMOVE_FIND_NAMESPACE && op->trash[0] == '\0' &&
	    imap_resp_keyword_is(resp, "NAMESPACE") &&
	    imap_namespace_personal(resp->rest, resp->rest_len, name, sizeof(name) - 8,
				    &delim, &error) == 0)
		snprintf(op->trash, sizeof(op->trash), "%.*sTrash", (int)sizeof(op->trash) - 6,
			 name);
}

/* LIST and NAMESPACE, while it asks for them. */
static bool imap_remove_claims(void *ctx, const struct imap_resp *resp)
{
	const struct imap_remove_op *op = ctx;

	return (op->step == IMAP_REMOVE_FIND_SPECIAL && imap_resp_keyword_is(resp, "LIST")) ||
	       (op->step == IMAP_REMOVE_FIND_NAMESPACE &&
		imap_resp_keyword_is(resp, "NAMESPACE"));
}

static const struct imap_cmd_handlers imap_remove_handlers = {
	.untagged = imap_remove_untagged,
	.claims = imap_remove_claims,
	.done = imap_remove_step_done,
};

static int imap_remove_send(struct imap_remove_op *op)
{
	const struct imap_cmd_handlers *h = &imap_remove_handlers;
	struct imap_client *c = op->client;
	int ret = -1;

	switch ((enum imap_remove_step)op->step) {
	case IMAP_REMOVE_FIND_SPECIAL:
		ret = imap_client_command(c, "LIST (SPECIAL-USE) \"\" \"*\"", h, op);
		break;
	case IMAP_REMOVE_FIND_NAMESPACE:
		ret = imap_client_command(c, "NAMESPACE", h, op);
		break;
	case IMAP_REMOVE_MOVE:
		ret = imap_client_cmdf(c, h, op, "UID MOVE %S %s", op->set, op->trash);
		break;
	case IMAP_REMOVE_COPY:
		ret = imap_client_cmdf(c, h, op, "UID COPY %S %s", op->set, op->trash);
		break;
	case IMAP_REMOVE_STORE:
		ret = imap_client_cmdf(c, h, op, "UID STORE %S +FLAGS.SILENT (\\Deleted)",
				       op->set);
		break;
	case IMAP_REMOVE_EXPUNGE:
		ret = imap_client_cmdf(c, h, op, "UID EXPUNGE %S", op->set);
		break;
	case IMAP_REMOVE_CREATE:
		ret = imap_client_cmdf(c, h, op, "CREATE %s", op->trash);
		break;
	case IMAP_REMOVE_UNDO:
		ret = imap_client_cmdf(c, h, op, "UID STORE %S -FLAGS.SILENT (\\Deleted)",
				       op->set);
		break;
	}
	return ret;
}

static void imap_remove_next(struct imap_remove_op *op)
{
	/* Only a name the builder cannot send gets here (8-bit without
	   UTF8=ACCEPT goes as a literal; so: a NUL, or out of memory). */
	if (imap_remove_send(op) < 0)
		imap_remove_finish(op, false, true, "the Trash name cannot be sent");
}

int imap_remove(struct imap_remove_op *op, struct imap_client *c, const uint32_t *uids,
		size_t n, bool to_trash, const char *trash, imap_remove_cb *cb, void *ctx)
{
	unsigned int caps = imap_client_caps(c);

	*op = (struct imap_remove_op){
		.client = c, .uids = uids, .count = n, .to_trash = to_trash,
		.cb = cb, .ctx = ctx,
	};
	if (to_trash && (caps & IMAP_CAP_MOVE) != 0) {
		op->first_step = IMAP_REMOVE_MOVE;
	} else if ((caps & IMAP_CAP_UIDPLUS) != 0) {
		op->first_step = to_trash ? IMAP_REMOVE_COPY : IMAP_REMOVE_STORE;
	} else {
		/* A plain EXPUNGE would also remove what other clients
		   flagged \Deleted: refuse rather than guess. */
		op->permanent = true;
		snprintf(op->error, sizeof(op->error), "upstream has neither MOVE nor UIDPLUS");
		return -1;
	}
	if (n == 0) {
		op->permanent = true;
		snprintf(op->error, sizeof(op->error), "nothing to remove");
		return -1;
	}
	if (to_trash && trash != NULL)
		snprintf(op->trash, sizeof(op->trash), "%s", trash);
	if (!to_trash || op->trash[0] != '\0') {
		op->step = op->first_step;
		imap_remove_chunk(op);
	} else if ((caps & IMAP_CAP_SPECIAL_USE) != 0) {
		op->step = IMAP_REMOVE_FIND_SPECIAL;
	} else if ((caps & IMAP_CAP_NAMESPACE) != 0) {
		op->step = IMAP_REMOVE_FIND_NAMESPACE;
	} else {
		snprintf(op->trash, sizeof(op->trash), "Trash");
		op->step = op->first_step;
		imap_remove_chunk(op);
	}
	if (imap_remove_send(op) < 0) {
		op->permanent = true;
		snprintf(op->error, sizeof(op->error), "the Trash name cannot be sent");
		return -1;
	}
	return 0;
}
