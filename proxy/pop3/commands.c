/* The POP3 command table and the commands that answer at once; contracts
   in commands.h. */

#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "auth.h"
#include "conf.h"
#include "fetch.h"
#include "folder_select.h"
#include "folders.h"
#include "imap_client.h"
#include "log.h"
#include "maildrop.h"
#include "metrics.h"
#include "num.h"
#include "pop3_parse.h"
#include "quit.h"
#include "session.h"
#include "settings.h"
#include "version.h"

#define POP3_IMPLEMENTATION "popgate-" POPGATE_VERSION

/* Commands before the login, besides the credentials, that cost nothing. */
#define POP3_FREE_AUTH_COMMANDS 8

#define POP3_IN_AUTH (1u << POP3_STATE_AUTHORIZATION)
#define POP3_IN_TRANS (1u << POP3_STATE_TRANSACTION)

typedef void pop3_cmd_handler(struct pop3_session *s, const struct pop3_cmd *cmd);

struct pop3_command {
	const char *name;
	pop3_cmd_handler *handler;
	unsigned int states;     /* POP3_IN_* bits */
	unsigned int min_args;
	unsigned int max_args;   /* ignored for rest-of-line commands */
	bool takes_rest;         /* argument is the raw rest of the line */
	bool credentials;        /* a login step: not counted before login */
};

/* The message an argument names; replies and returns NULL if none. */
static struct pop3_msg *pop3_msg_arg(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	const char *arg = cmd->argv[0];
	unsigned int n, flags;
	struct pop3_msg *m;

	if (pop3_parse_msgnum(arg, pop3_folders_count(s->folders), &n) < 0 ||
	    (m = pop3_folders_get(s->folders, n, NULL)) == NULL) {
		pop3_reply(s, "-ERR No such message");
		return NULL;
	}
	flags = pop3_msg_flags(pop3_folders_drop(s->folders, m), m);
	if ((flags & POP3_MSG_DELETED) != 0) {
		pop3_reply(s, "-ERR Message %u already deleted", n);
		return NULL;
	}
	/* Seen expunged upstream: whatever the server would hand out now
	   under this UID is not the message (a stand-in). */
	if ((flags & POP3_MSG_VANISHED) != 0 && strcmp(cmd->name, "DELE") != 0) {
		pop3_reply(s, "-ERR Message %u is no longer available upstream", n);
		return NULL;
	}
	return m;
}

static void cmd_capa(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	pop3_reply(s, "+OK Capability list follows");
	pop3_reply(s, "TOP");
	pop3_reply(s, "UIDL");
	if (s->state == POP3_STATE_AUTHORIZATION) {
		/* Only what this connection may use now (RFC 2449, 2595). */
		if (s->set->client_tls != NULL && !s->client_tls)
			pop3_reply(s, "STLS");
		if (pop3_plaintext_allowed(s)) {
			pop3_reply(s, "USER");
			pop3_reply(s, "SASL PLAIN");
		}
	}
	/* RFC 2449: popgate never removes mail on its own; only a QUIT after
	   DELE does, and what it does is the configured delete_action. */
	pop3_reply(s, "EXPIRE NEVER");
	/* RFC 2449: the minimum time between two logins of a login name. */
	if (s->conf->login_delay_secs > 0)
		pop3_reply(s, "LOGIN-DELAY %u", s->conf->login_delay_secs);
	pop3_reply(s, "RESP-CODES");
	pop3_reply(s, "AUTH-RESP-CODE");
	pop3_reply(s, "PIPELINING");
	pop3_reply(s, "IMPLEMENTATION %s", POP3_IMPLEMENTATION);
	pop3_reply(s, ".");
}

static void cmd_stls(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (s->set->client_tls == NULL) {
		pop3_bad_command(s, "STLS is not available: no certificate configured");
		return;
	}
	if (s->client_tls) {
		pop3_bad_command(s, "Already using TLS");
		return;
	}
	pop3_reply(s, "+OK Begin TLS negotiation");
	pop3_session_stls(s);
}

static void cmd_quit(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (s->state == POP3_STATE_AUTHORIZATION) {
		pop3_reply(s, "+OK Bye");
		pop3_session_close_after_flush(s, "quit");
		return;
	}
	/* QUIT's upstream commands must not queue behind a message fetched
	   ahead that nobody takes. */
	pop3_fetch_ahead_drop(s, NULL);
	if (s->state != POP3_STATE_CLOSED)
		pop3_quit_start(s);
}

static void cmd_stat(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	unsigned int count;
	uint64_t size;

	pop3_folders_visible(s->folders, &count, &size);
	pop3_reply(s, "+OK %u %llu", count, (unsigned long long)size);
}

/* ---- LIST and UIDL: multi-line, produced as the client reads ---- */

enum pop3_listing_kind {
	POP3_LISTING_LIST,
	POP3_LISTING_UIDL,
};

struct pop3_listing {
	enum pop3_listing_kind kind;
	unsigned int folder;    /* the folder it is in */
	unsigned int next;      /* index of the next message there */
};

/* A listing line: number, space, a size or a UIDL (with its NUL: the
   formatter writes one), CRLF. */
#define POP3_LISTING_LINE_MAX (NUM_U64_DIGITS + 1 + \
	(NUM_U64_DIGITS > POP3_UIDL_MAX ? NUM_U64_DIGITS : POP3_UIDL_MAX + 1) + 2)

/* Lines until the output passes POP3_OUT_HIGH; true when finished. */
static bool pop3_listing_more(struct pop3_session *s, struct pop3_listing *l)
{
	struct evbuffer *out = pop3_output(s);
	const struct pop3_folders *fs = s->folders;

	/* Lines are formatted by hand into a chunk and added a chunk at a
	   time: a printf and an evbuffer call per line cost more than all
	   the rest of a poll's listing. */
	char chunk[4096];
	size_t used = 0, queued = evbuffer_get_length(out);

	for (; l->folder < fs->n; l->folder++, l->next = 0) {
		const struct pop3_maildrop *d = fs->f[l->folder].drop;
		unsigned int first = fs->f[l->folder].first;

		while (l->next < d->count) {
			const struct pop3_msg *m = &d->msgs[l->next++];

			if ((pop3_msg_flags(d, m) & POP3_MSG_DELETED) != 0)
				continue;
			used += num_format_u64(first + l->next, chunk + used);
			chunk[used++] = ' ';
			if (l->kind == POP3_LISTING_LIST)
				used += num_format_u64(pop3_msg_size(d, m), chunk + used);
			else
				used += pop3_maildrop_uidl(d, m, chunk + used);
			chunk[used++] = '\r';
			chunk[used++] = '\n';
			if (queued + used > POP3_OUT_HIGH) {
				evbuffer_add(out, chunk, used);
				pop3_count_out(s, used);
				return false;
			}
			if (sizeof(chunk) - used < POP3_LISTING_LINE_MAX) {
				evbuffer_add(out, chunk, used);
				pop3_count_out(s, used);
				queued += used;
				used = 0;
			}
		}
	}
	evbuffer_add(out, chunk, used);
	pop3_count_out(s, used);
	pop3_reply(s, ".");
	return true;
}

static void pop3_listing_drained(struct pop3_session *s, void *ctx)
{
	if (pop3_listing_more(s, ctx))
		pop3_cmd_done(s);
}

static void pop3_listing_free(struct pop3_session *s, void *ctx)
{
	free(ctx);
}

static const struct pop3_cmd_ops pop3_listing_ops = {
	.drained = pop3_listing_drained,
	.free = pop3_listing_free,
};

static void pop3_listing_start(struct pop3_session *s, enum pop3_listing_kind kind)
{
	struct pop3_listing first = { .kind = kind }, *l;

	if (pop3_listing_more(s, &first))
		return;
	/* The rest follows as the client reads. */
	l = malloc(sizeof(*l));
	if (l == NULL) {
		pop3_session_close(s, "out_of_memory");
		return;
	}
	*l = first;
	pop3_cmd_start(s, &pop3_listing_ops, l);
}

static void cmd_list(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	const struct pop3_msg *m;
	unsigned int count;
	uint64_t size;

	if (cmd->argc == 1) {
		if ((m = pop3_msg_arg(s, cmd)) != NULL)
			pop3_reply(s, "+OK %u %llu", pop3_folders_number(s->folders, m),
				   (unsigned long long)pop3_msg_size(pop3_folders_drop(s->folders, m), m));
		return;
	}
	pop3_folders_visible(s->folders, &count, &size);
	pop3_reply(s, "+OK %u messages (%llu octets)", count, (unsigned long long)size);
	pop3_listing_start(s, POP3_LISTING_LIST);
}

static void cmd_uidl(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	const struct pop3_msg *m;
	char uidl[POP3_UIDL_MAX + 1];

	if (cmd->argc == 1) {
		if ((m = pop3_msg_arg(s, cmd)) != NULL) {
			pop3_maildrop_uidl(s->folders->f[pop3_folders_of(s->folders, m)].drop, m,
					   uidl);
			pop3_reply(s, "+OK %u %s", pop3_folders_number(s->folders, m), uidl);
		}
		return;
	}
	pop3_reply(s, "+OK Unique-ID listing follows");
	pop3_listing_start(s, POP3_LISTING_UIDL);
}

/* ---- the rest of TRANSACTION ---- */

/* RETR or TOP: in the selected folder at once, else after a switch. */
static void pop3_fetch_in_folder(struct pop3_session *s, struct pop3_msg *m, bool top,
				 uint64_t lines)
{
	if ((unsigned int)pop3_folders_of(s->folders, m) == s->folders->selected)
		pop3_fetch_start(s, m, top, lines);
	else
		pop3_folder_fetch(s, m, top, lines);
}

static void cmd_retr(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	struct pop3_msg *m = pop3_msg_arg(s, cmd);

	if (m != NULL)
		pop3_fetch_in_folder(s, m, false, 0);
}

static void cmd_top(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	unsigned long lines;
	struct pop3_msg *m;

	if (pop3_parse_linecount(cmd->argv[1], &lines) < 0) {
		pop3_bad_command(s, "Invalid line count");
		return;
	}
	if ((m = pop3_msg_arg(s, cmd)) != NULL)
		pop3_fetch_in_folder(s, m, true, lines);
}

static void cmd_dele(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	struct pop3_msg *m = pop3_msg_arg(s, cmd);

	if (m == NULL)
		return;
	pop3_fetch_ahead_drop(s, m);
	if (pop3_msg_mark(pop3_folders_drop(s->folders, m), m, POP3_MSG_DELETED) < 0) {
		pop3_reply(s, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	metrics_command(s->route->name, METRICS_CMD_DELE);
	pop3_reply(s, "+OK Message %u deleted", pop3_folders_number(s->folders, m));
}

static void cmd_rset(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	unsigned int count;
	uint64_t size;

	pop3_folders_unmark(s->folders);
	pop3_folders_visible(s->folders, &count, &size);
	pop3_reply(s, "+OK maildrop has %u messages (%llu octets)", count,
		   (unsigned long long)size);
}

static void cmd_noop(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	pop3_reply(s, "+OK");
}

static const struct pop3_command pop3_commands[] = {
	{ "CAPA", cmd_capa, POP3_IN_AUTH | POP3_IN_TRANS, 0, 0, false, false },
	{ "USER", pop3_cmd_user, POP3_IN_AUTH, 1, 1, false, true },
	{ "PASS", pop3_cmd_pass, POP3_IN_AUTH, 1, 0, true, true },
	{ "AUTH", pop3_cmd_auth, POP3_IN_AUTH, 0, 2, false, true },
	{ "STLS", cmd_stls, POP3_IN_AUTH, 0, 0, false, false },
	{ "QUIT", cmd_quit, POP3_IN_AUTH | POP3_IN_TRANS, 0, 0, false, true },
	{ "STAT", cmd_stat, POP3_IN_TRANS, 0, 0, false, false },
	{ "LIST", cmd_list, POP3_IN_TRANS, 0, 1, false, false },
	{ "UIDL", cmd_uidl, POP3_IN_TRANS, 0, 1, false, false },
	{ "RETR", cmd_retr, POP3_IN_TRANS, 1, 1, false, false },
	{ "TOP", cmd_top, POP3_IN_TRANS, 2, 2, false, false },
	{ "DELE", cmd_dele, POP3_IN_TRANS, 1, 1, false, false },
	{ "RSET", cmd_rset, POP3_IN_TRANS, 0, 0, false, false },
	{ "NOOP", cmd_noop, POP3_IN_TRANS, 0, 0, false, false },
};

static void pop3_upstream_lost(struct pop3_session *s)
{
	log_info("%s event=upstream_lost_while_idle", s->log_id);
	pop3_reply(s, "-ERR [SYS/TEMP] Upstream connection lost; nothing was deleted, "
		   "log in again");
	pop3_session_close_after_flush(s, "upstream_lost");
}

/* A client that logs in needs a handful of commands besides its
   credentials (CAPA, STLS, CAPA); more count against its error budget, so
   a connection without credentials cannot stay busy forever. True when
   that budget is spent (replied, closing). */
static bool pop3_over_login_budget(struct pop3_session *s, const struct pop3_command *c)
{
	if (s->state != POP3_STATE_AUTHORIZATION || c->credentials ||
	    ++s->auth_commands <= POP3_FREE_AUTH_COMMANDS ||
	    ++s->bad_commands < s->conf->max_bad_commands)
		return false;
	pop3_reply(s, "-ERR Too many commands without logging in, closing");
	pop3_session_close_after_flush(s, "bad_commands");
	return true;
}

static const struct pop3_command *pop3_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(pop3_commands) / sizeof(pop3_commands[0]); i++) {
		if (strcmp(pop3_commands[i].name, name) == 0)
			return &pop3_commands[i];
	}
	return NULL;
}

void pop3_dispatch_line(struct pop3_session *s, const char *line, size_t len)
{
	/* Its arguments live as long as the handler runs (wiped after). */
	struct pop3_cmd cmd_store, *cmd = &cmd_store;
	const struct pop3_command *c;
	const char *error;

	/* A PROXY v1 header from outside proxy_networks: someone passing for
	   another client (v2's NUL already ends the session in the scanner). */
	if (s->state == POP3_STATE_AUTHORIZATION && len >= 6 && memcmp(line, "PROXY ", 6) == 0) {
		metrics_refused(METRICS_REFUSED_PROXY_UNTRUSTED);
		log_warn("%s event=proxy_refused client=%s reason=proxy_untrusted", s->log_id,
			 s->client_ip);
		pop3_reply(s, "-ERR [SYS/PERM] PROXY header from an address not in proxy_networks");
		pop3_session_close_after_flush(s, "proxy_untrusted");
		return;
	}
	if (pop3_cmd_parse(line, len, cmd, &error) < 0) {
		pop3_bad_command(s, error);
		return;
	}
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		bool secret = strcmp(cmd->name, "PASS") == 0 || strcmp(cmd->name, "AUTH") == 0;

		log_debug("%s pop3_in=\"%s%s\"", s->log_id, cmd->name,
			  secret && cmd->argc > 0 ? " <hidden>" : "");
	}
	c = pop3_command_find(cmd->name);
	if (c == NULL)
		pop3_bad_command(s, "Unknown command");
	else if ((c->states & (1u << s->state)) == 0)
		pop3_bad_command(s, "Command not valid in this state");
	else if (cmd->argc < c->min_args)
		pop3_bad_command(s, "Missing argument");
	else if (!c->takes_rest && (cmd->argc > c->max_args || cmd->too_many_args))
		pop3_bad_command(s, "Too many arguments");
	else if (pop3_over_login_budget(s, c))
		;
	else if (s->state == POP3_STATE_TRANSACTION && !imap_client_is_connected(s->imap))
		/* The upstream connection ended while the session was idle:
		   nothing said now (a DELE, a QUIT) could be carried out
		   correctly. QUIT applies nothing either. */
		pop3_upstream_lost(s);
	else
		c->handler(s, cmd);
	explicit_bzero(cmd->copy, sizeof(cmd->copy));
}
