/* What owners and operations queue: commands built by the builder, constant
   commands, LOGOUT; contracts in imap_client.h. */

#include "imap_client_private.h"

#include <stdarg.h>

#include "log.h"

int imap_client_cmdf(struct imap_client *c, const struct imap_cmd_handlers *h, void *ctx,
		     const char *fmt, ...)
{
	va_list args;
	int ret;

	va_start(args, fmt);
	ret = imap_client_vqueue(c, h, ctx, false, fmt, args);
	va_end(args);
	return ret;
}

int imap_client_command(struct imap_client *c, const char *args,
			const struct imap_cmd_handlers *h, void *ctx)
{
	struct imap_command *cmd = imap_client_new_command(c, h, ctx);
	const char *error;

	if (cmd == NULL)
		return -1;
	if (imap_cmd_simple(&cmd->text, cmd->tag, args, &error) < 0) {
		log_error("%s event=bug building IMAP command: %s", c->log_id, error);
		imap_command_free(cmd);
		return -1;
	}
	imap_client_enqueue(c, cmd, false);
	return 0;
}

/* LOGOUT: the connection's end is expected from now on, so neither EOF
   nor a TLS peer that skips close_notify (GnuTLS servers) is an error. */
static void imap_client_logout_done(void *ctx, const struct imap_reply *reply);

static const struct imap_cmd_handlers imap_client_logout_handlers = {
	.done = imap_client_logout_done,
};

static void imap_client_logout_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_client *c = ctx;
	imap_logout_cb *cb = c->logout_cb;

	c->logout_cb = NULL;
	if (cb != NULL)
		cb(c->logout_ctx);
}

int imap_client_logout(struct imap_client *c, imap_logout_cb *cb, void *ctx)
{
	struct imap_command *cmd;
	const char *error;

	if (c->logging_out)
		return -1;
	cmd = imap_client_new_command(c, &imap_client_logout_handlers, c);
	if (cmd == NULL || imap_cmd_simple(&cmd->text, cmd->tag, "LOGOUT", &error) < 0) {
		if (cmd != NULL)
			imap_command_free(cmd);
		return -1;
	}
	cmd->logout = true;
	c->logout_cb = cb;
	c->logout_ctx = ctx;
	c->logging_out = true;
	c->doing = "logging out";
	imap_client_enqueue(c, cmd, false);
	return 0;
}
