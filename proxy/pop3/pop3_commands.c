#include "pop3_private.h"
#include "text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "cache.h"
#include "conf.h"
#include "imap_cmd.h"
#include "limits_table.h"
#include "log.h"
#include "metrics.h"
#include "settings.h"
#include "tls.h"
#include "version.h"

#define POP3_IMPLEMENTATION "popgate-" POPGATE_VERSION

typedef void pop3_cmd_handler(struct pop3_session *s, const struct pop3_cmd *cmd);

struct pop3_command {
	const char *name;
	pop3_cmd_handler *handler;
	unsigned int states;     /* POP3_IN_* bits */
	unsigned int min_args;
	unsigned int max_args;   /* ignored for rest-of-line commands */
	bool takes_rest;         /* argument is the raw rest of the line */
};

void pop3_clear_credentials(struct pop3_session *s)
{
	if (s->pass != NULL) {
		explicit_bzero(s->pass, s->pass_len);
		free(s->pass);
		s->pass = NULL;
		s->pass_len = 0;
	}
}

static struct pop3_msg *pop3_msg_get(struct pop3_session *s, const char *arg)
{
	unsigned int n;

	if (pop3_parse_msgnum(arg, s->msg_count, &n) < 0) {
		pop3_reply(s, "-ERR No such message");
		return NULL;
	}
	if ((s->msgs[n - 1].flags & POP3_MSG_DELETED) != 0) {
		pop3_reply(s, "-ERR Message %u already deleted", n);
		return NULL;
	}
	return &s->msgs[n - 1];
}

static unsigned int pop3_msg_number(struct pop3_session *s, const struct pop3_msg *m)
{
	return (unsigned int)(m - s->msgs) + 1;
}

/* ---- AUTHORIZATION ---- */

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

static int pop3_set_user(struct pop3_session *s, const char *user, size_t len)
{
	free(s->user);
	s->user = NULL;
	s->user_len = 0;
	strcpy(s->user_log, "-");
	if (len == 0 || len > IMAP_CRED_MAX || memchr(user, '\0', len) != NULL)
		return -1;
	s->user = malloc(len + 1);
	if (s->user == NULL)
		return -1;
	memcpy(s->user, user, len);
	s->user[len] = '\0';
	s->user_len = len;
	/* A user name can hold CR, LF or spaces: never raw in a log line. */
	text_escape(user, len, s->user_log, sizeof(s->user_log));
	return 0;
}

/* Refuses plaintext credentials where the policy says so; true if the
   command was refused. */
static bool pop3_refuse_plaintext(struct pop3_session *s)
{
	if (pop3_plaintext_allowed(s))
		return false;
	pop3_bad_command(s, s->set->client_tls != NULL ?
			 "[AUTH] Plaintext authentication needs TLS here: use STLS" :
			 "[AUTH] Plaintext authentication needs TLS here: use the POP3S port");
	return true;
}

static void cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (pop3_refuse_plaintext(s))
		return;
	if (pop3_set_user(s, cmd->argv[0], strlen(cmd->argv[0])) < 0) {
		pop3_bad_command(s, "Invalid user name");
		return;
	}
	pop3_reply(s, "+OK");
}

/* Device suffix, route, upstream login name and state-store account of
   the login name. Replies and returns -1 when the login cannot go on. */
static int pop3_login_names(struct pop3_session *s)
{
	const struct conf *conf = s->conf;
	char account[CACHE_ACCOUNT_MAX + 1], user[CACHE_ACCOUNT_MAX + 1];
	const char *error, *at;
	size_t domain_len = 0;
	int n;

	if (pop3_split_device(s->user, s->user_len, conf->device_separator,
			      &s->upstream_user_len, s->device, &error) < 0) {
		pop3_reply(s, "-ERR [AUTH] Invalid login name: %s", error);
		return -1;
	}
	/* The domain is what follows the last "@" (a local part may hold
	   a quoted "@"). */
	at = memrchr(s->user, '@', s->upstream_user_len);
	if (at != NULL)
		domain_len = s->upstream_user_len - (size_t)(at + 1 - s->user);
	s->route = conf_route(conf, at != NULL ? at + 1 : NULL, domain_len);
	if (s->route == NULL) {
		char domain[80];

		text_escape(at != NULL ? at + 1 : "", domain_len, domain, sizeof(domain));
		log_info("%s event=login_refused user=%s client=%s reason=no_route domain=%s",
			 s->log_id, s->user_log, s->client_ip, domain_len > 0 ? domain : "-");
		metrics_login("none", METRICS_LOGIN_NO_ROUTE);
		pop3_bad_command(s, at != NULL ?
				 "[AUTH] No mail server is configured for this domain" :
				 "[AUTH] Log in with your full address (user@domain)");
		return -1;
	}
	s->login_user = s->user;
	s->login_user_len = s->upstream_user_len;
	if (s->route->login_name == CONF_LOGIN_LOCAL_PART && at != NULL)
		s->login_user_len = (size_t)(at - s->user);
	if (s->login_user_len == 0) {
		s->route = NULL;
		pop3_bad_command(s, "[AUTH] Invalid login name: empty user");
		return -1;
	}
	/* Escaped (one-to-one) so that any user name makes a valid key. */
	text_escape(s->login_user, s->login_user_len, user, sizeof(user));
	n = snprintf(account, sizeof(account), "%s@%s:%u", user, s->route->host,
		     s->route->port);
	if (n < 0 || (size_t)n >= sizeof(account) - 1 ||
	    strlen(user) + 4 >= sizeof(user)) {
		s->route = NULL;
		pop3_reply(s, "-ERR [AUTH] Login name too long");
		return -1;
	}
	free(s->account);
	s->account = strdup(account);
	if (s->account == NULL) {
		s->route = NULL;
		pop3_reply(s, "-ERR [SYS/TEMP] Out of memory");
		return -1;
	}
	return 0;
}

void pop3_auth_user_key(const struct pop3_session *s, char *buf, size_t size)
{
	size_t o = (size_t)snprintf(buf, size, "%s:", s->route->name);

	for (size_t i = 0; i < s->login_user_len && o + 1 < size; i++)
		buf[o++] = (char)tolower((unsigned char)s->login_user[i]);
	if (o < size)
		buf[o] = '\0';
}

struct limits_auth pop3_auth_settings(const struct pop3_session *s)
{
	struct limits_auth auth = {
		.delay_ms = s->conf->auth_fail_delay_ms,
		.delay_max_ms = s->conf->auth_fail_delay_max_ms,
		.window_secs = s->conf->auth_fail_window_secs,
	};

	return auth;
}

/* Starts the upstream login with s->user and the given password. */
static void pop3_login(struct pop3_session *s, const char *pass, size_t len)
{
	pop3_clear_credentials(s);
	if (s->user == NULL || len == 0 || len > IMAP_CRED_MAX ||
	    memchr(pass, '\0', len) != NULL) {
		/* Nothing that cannot be sent upstream is ever tried. */
		pop3_reply(s, "-ERR [AUTH] Authentication failed");
		return;
	}
	if (pop3_login_names(s) < 0)
		return;
	s->pass = malloc(len);
	if (s->pass == NULL) {
		pop3_reply(s, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	memcpy(s->pass, pass, len);
	s->pass_len = len;
	pop3_command_wait(s);
	/* Recent failures of this address or user: the attempt itself
	   waits, so that reconnecting for each guess does not skip the
	   delay of the failure reply. */
	struct limits_auth auth = pop3_auth_settings(s);
	char key[CACHE_ACCOUNT_MAX + 64];
	unsigned int n;

	pop3_auth_user_key(s, key, sizeof(key));
	n = limits_auth_failures(s->srv->limits, s->addr_key, key, &auth, pop3_now_ms());
	if (n > 0 && limits_auth_delay(&auth, n) > 0) {
		log_debug("%s event=login_held failures=%u delay_ms=%u", s->log_id, n,
			  limits_auth_delay(&auth, n));
		pop3_session_set_timer(s, limits_auth_delay(&auth, n), pop3_upstream_login);
		return;
	}
	pop3_upstream_login(s);
}

static void cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (pop3_refuse_plaintext(s))
		return;
	if (s->user == NULL) {
		pop3_bad_command(s, "USER first");
		return;
	}
	pop3_login(s, cmd->rest, strlen(cmd->rest));
}

/* RFC 4616 message: [authzid] NUL authcid NUL passwd */
static void pop3_auth_plain(struct pop3_session *s, const char *b64, size_t len)
{
	unsigned char buf[POP3_MAX_AUTH_LINE];
	const unsigned char *authcid, *passwd, *end;
	int n;

	if (len == 1 && b64[0] == '=') {
		n = 0;
	} else {
		n = tls_base64_decode(b64, len, buf, sizeof(buf));
		if (n < 0) {
			pop3_bad_command(s, "Invalid base64 data");
			return;
		}
	}
	end = buf + n;
	authcid = memchr(buf, '\0', (size_t)n);
	passwd = authcid != NULL ? memchr(authcid + 1, '\0', (size_t)(end - authcid - 1)) : NULL;
	if (passwd == NULL) {
		explicit_bzero(buf, sizeof(buf));
		pop3_reply(s, "-ERR [AUTH] Invalid SASL PLAIN message");
		return;
	}
	authcid++;
	passwd++;
	/* We cannot act for another user: an authzid must be the user. */
	if (authcid - 1 != buf &&
	    ((size_t)(authcid - 1 - buf) != (size_t)(passwd - 1 - authcid) ||
	     memcmp(buf, authcid, (size_t)(passwd - 1 - authcid)) != 0)) {
		explicit_bzero(buf, sizeof(buf));
		pop3_reply(s, "-ERR [AUTH] Authorization identity not allowed");
		return;
	}
	if (pop3_set_user(s, (const char *)authcid, (size_t)(passwd - 1 - authcid)) < 0) {
		explicit_bzero(buf, sizeof(buf));
		pop3_reply(s, "-ERR [AUTH] Authentication failed");
		return;
	}
	pop3_login(s, (const char *)passwd, (size_t)(end - passwd));
	explicit_bzero(buf, sizeof(buf));
}

static void cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (cmd->argc == 0) {
		/* Mechanism list, as clients probing with a bare AUTH expect. */
		pop3_reply(s, "+OK Supported mechanisms follow");
		if (pop3_plaintext_allowed(s))
			pop3_reply(s, "PLAIN");
		pop3_reply(s, ".");
		return;
	}
	if (pop3_refuse_plaintext(s))
		return;
	if (strcasecmp(cmd->argv[0], "PLAIN") != 0) {
		pop3_bad_command(s, "Unsupported authentication mechanism");
		return;
	}
	if (cmd->argc > 2) {
		pop3_bad_command(s, "Too many arguments");
		return;
	}
	if (cmd->argc == 2) {
		pop3_auth_plain(s, cmd->argv[1], strlen(cmd->argv[1]));
		return;
	}
	s->auth_continuation = true;
	pop3_reply(s, "+ ");
}

static void pop3_auth_continuation(struct pop3_session *s, const char *line, size_t len)
{
	s->auth_continuation = false;
	if (len == 1 && line[0] == '*') {
		pop3_reply(s, "-ERR Authentication cancelled");
		return;
	}
	pop3_auth_plain(s, line, len);
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
	pop3_session_stls_begin(s);
}

static void cmd_quit(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (s->state == POP3_STATE_AUTHORIZATION) {
		pop3_reply(s, "+OK Bye");
		pop3_session_close_after_flush(s, "quit");
		return;
	}
	pop3_session_set_state(s, POP3_STATE_UPDATE);
	pop3_command_wait(s);
	pop3_state_quit(s);
}

/* ---- TRANSACTION ---- */

static void pop3_visible(struct pop3_session *s, unsigned int *count_r, uint64_t *size_r)
{
	unsigned int count = 0;
	uint64_t size = 0;

	for (unsigned int i = 0; i < s->msg_count; i++) {
		if ((s->msgs[i].flags & POP3_MSG_DELETED) == 0) {
			count++;
			size += s->msgs[i].size;
		}
	}
	*count_r = count;
	*size_r = size;
}

static void cmd_stat(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	unsigned int count;
	uint64_t size;

	pop3_visible(s, &count, &size);
	pop3_reply(s, "+OK %u %llu", count, (unsigned long long)size);
}

bool pop3_listing_continue(struct pop3_session *s)
{
	struct evbuffer *out = pop3_output(s);

	while (s->listing_next < s->msg_count) {
		const struct pop3_msg *m = &s->msgs[s->listing_next++];
		size_t before = evbuffer_get_length(out);

		if ((m->flags & POP3_MSG_DELETED) != 0)
			continue;
		if (s->listing == POP3_LISTING_LIST)
			evbuffer_add_printf(out, "%u %llu\r\n", s->listing_next,
					    (unsigned long long)m->size);
		else
			evbuffer_add_printf(out, "%u %08x%08x\r\n", s->listing_next,
					    m->uid, s->uidvalidity);
		s->bytes_out += evbuffer_get_length(out) - before;
		if (evbuffer_get_length(out) > POP3_OUT_HIGH)
			return false;
	}
	pop3_reply(s, ".");
	s->listing = POP3_LISTING_NONE;
	return true;
}

static void pop3_listing_start(struct pop3_session *s, enum pop3_listing kind)
{
	s->listing = kind;
	s->listing_next = 0;
	if (!pop3_listing_continue(s)) {
		/* The rest follows as the client reads (pop3_write_cb). */
		pop3_command_wait(s);
	}
}

static void cmd_list(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	const struct pop3_msg *m;

	if (cmd->argc == 1) {
		if ((m = pop3_msg_get(s, cmd->argv[0])) != NULL)
			pop3_reply(s, "+OK %u %llu", pop3_msg_number(s, m),
				   (unsigned long long)m->size);
		return;
	}
	unsigned int count;
	uint64_t size;

	pop3_visible(s, &count, &size);
	pop3_reply(s, "+OK %u messages (%llu octets)", count, (unsigned long long)size);
	pop3_listing_start(s, POP3_LISTING_LIST);
}

static void cmd_uidl(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	const struct pop3_msg *m;

	if (cmd->argc == 1) {
		if ((m = pop3_msg_get(s, cmd->argv[0])) != NULL)
			pop3_reply(s, "+OK %u %08x%08x", pop3_msg_number(s, m),
				   m->uid, s->uidvalidity);
		return;
	}
	pop3_reply(s, "+OK Unique-ID listing follows");
	pop3_listing_start(s, POP3_LISTING_UIDL);
}

static void cmd_retr(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	struct pop3_msg *m = pop3_msg_get(s, cmd->argv[0]);

	if (m == NULL)
		return;
	pop3_command_wait(s);
	pop3_upstream_fetch(s, m, false, 0);
}

static void cmd_top(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	unsigned long lines;
	struct pop3_msg *m;

	if (pop3_parse_linecount(cmd->argv[1], &lines) < 0) {
		pop3_bad_command(s, "Invalid line count");
		return;
	}
	if ((m = pop3_msg_get(s, cmd->argv[0])) == NULL)
		return;
	pop3_command_wait(s);
	pop3_upstream_fetch(s, m, true, lines);
}

static void cmd_dele(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	struct pop3_msg *m = pop3_msg_get(s, cmd->argv[0]);

	if (m == NULL)
		return;
	m->flags |= POP3_MSG_DELETED;
	metrics_command(s->route->name, METRICS_CMD_DELE);
	pop3_reply(s, "+OK Message %u deleted", pop3_msg_number(s, m));
}

static void cmd_rset(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	unsigned int count;
	uint64_t size;

	for (unsigned int i = 0; i < s->msg_count; i++)
		s->msgs[i].flags &= ~POP3_MSG_DELETED;
	pop3_visible(s, &count, &size);
	pop3_reply(s, "+OK maildrop has %u messages (%llu octets)", count,
		   (unsigned long long)size);
}

static void cmd_noop(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	pop3_reply(s, "+OK");
}

static const struct pop3_command pop3_commands[] = {
	{ "CAPA", cmd_capa, POP3_IN_AUTH | POP3_IN_TRANS, 0, 0, false },
	{ "USER", cmd_user, POP3_IN_AUTH, 1, 1, false },
	{ "PASS", cmd_pass, POP3_IN_AUTH, 1, 0, true },
	{ "AUTH", cmd_auth, POP3_IN_AUTH, 0, 2, false },
	{ "STLS", cmd_stls, POP3_IN_AUTH, 0, 0, false },
	{ "QUIT", cmd_quit, POP3_IN_AUTH | POP3_IN_TRANS, 0, 0, false },
	{ "STAT", cmd_stat, POP3_IN_TRANS, 0, 0, false },
	{ "LIST", cmd_list, POP3_IN_TRANS, 0, 1, false },
	{ "UIDL", cmd_uidl, POP3_IN_TRANS, 0, 1, false },
	{ "RETR", cmd_retr, POP3_IN_TRANS, 1, 1, false },
	{ "TOP", cmd_top, POP3_IN_TRANS, 2, 2, false },
	{ "DELE", cmd_dele, POP3_IN_TRANS, 1, 1, false },
	{ "RSET", cmd_rset, POP3_IN_TRANS, 0, 0, false },
	{ "NOOP", cmd_noop, POP3_IN_TRANS, 0, 0, false },
};

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
	struct pop3_cmd *cmd = &s->cmd;
	const struct pop3_command *c;
	const char *error;

	if (s->auth_continuation) {
		pop3_auth_continuation(s, line, len);
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
	if (c == NULL) {
		pop3_bad_command(s, "Unknown command");
	} else if ((c->states & (1u << s->state)) == 0) {
		pop3_bad_command(s, "Command not valid in this state");
	} else if (cmd->argc < c->min_args) {
		pop3_bad_command(s, "Missing argument");
	} else if (!c->takes_rest && (cmd->argc > c->max_args || cmd->too_many_args)) {
		pop3_bad_command(s, "Too many arguments");
	} else {
		c->handler(s, cmd);
	}
	explicit_bzero(cmd->copy, sizeof(cmd->copy));
}
