/* The keys of popgate.conf: one setter per key, and the table the loader
   (conf.c) looks them up in. */

#include "conf_private.h"
#include "conf_value.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#define CONF_GREETING_MAX 200
#define CONF_MAILBOX_MAX 200
#define CONF_IDENT_MAX 32

static const char *const conf_login_names[] = { "full", "local-part", NULL };
_Static_assert(CONF_LOGIN_FULL == 0 && CONF_LOGIN_LOCAL_PART == 1, "conf_login_names order");
static const char *const conf_delete_names[] = { "hide", "hide-all", "trash",
						 "expunge", NULL };
static const char *const conf_new_device_names[] = { "all", "new", NULL };
_Static_assert(CONF_DELETE_HIDE == 0 && CONF_DELETE_HIDE_ALL == 1 &&
	       CONF_DELETE_TRASH == 2 && CONF_DELETE_EXPUNGE == 3,
	       "conf_delete_names order");
_Static_assert(CONF_NEW_DEVICE_ALL == 0 && CONF_NEW_DEVICE_NEW == 1,
	       "conf_new_device_names order");
static const char *const conf_plaintext_names[] = { "local", "tls-only",
						    "always", NULL };
_Static_assert(CONF_PLAINTEXT_LOCAL == 0 && CONF_PLAINTEXT_TLS_ONLY == 1 &&
	       CONF_PLAINTEXT_ALWAYS == 2, "conf_plaintext_names order");
static const char *const conf_tls_names[] = { "imaps", "starttls", "none",
					      NULL };
static const char *const conf_target_names[] = { "stderr", "syslog", NULL };
static const char *const conf_level_names[] = { "error", "warn", "info",
						"debug", NULL };

_Static_assert(CONF_TLS_IMAPS == 0 && CONF_TLS_STARTTLS == 1 &&
	       CONF_TLS_NONE == 2, "conf_tls_names order");
_Static_assert(LOG_TARGET_STDERR == 0 && LOG_TARGET_SYSLOG == 1,
	       "conf_target_names order");
_Static_assert(LOG_LEVEL_ERROR == 0 && LOG_LEVEL_WARN == 1 &&
	       LOG_LEVEL_INFO == 2 && LOG_LEVEL_DEBUG == 3,
	       "conf_level_names order");

static int conf_set_string(char **dst, const char *value,
			   const char **error_r)
{
	char *s = strdup(value);

	if (s == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	free(*dst);
	*dst = s;
	return 0;
}

/* Duration parsed against the widest range first, so that a value out of
   this key's range gets the key's own range in the message. */
static int conf_duration_in(const char *value, unsigned int min,
			    unsigned int max, const char *range,
			    unsigned int *secs_r, const char **error_r)
{
	unsigned int v;

	if (conf_parse_duration(value, UINT_MAX, &v, error_r) < 0)
		return -1;
	if (v < min || v > max) {
		*error_r = range;
		return -1;
	}
	*secs_r = v;
	return 0;
}

static int conf_uint_in(const char *value, unsigned int min,
			unsigned int max, const char *range,
			unsigned int *value_r, const char **error_r)
{
	unsigned int v;

	if (conf_parse_uint(value, 0, UINT_MAX, &v, error_r) < 0)
		return -1;
	if (v < min || v > max) {
		*error_r = range;
		return -1;
	}
	*value_r = v;
	return 0;
}

static int conf_add_listen(struct conf_ctx *ctx, const char *value, bool tls,
			   const char **error_r)
{
	struct conf *conf = ctx->conf;
	char host[256];
	uint16_t port;
	unsigned int i;

	if (conf_parse_hostport(value, host, sizeof(host), &port,
				error_r) < 0)
		return -1;
	if (conf->listen_count == CONF_MAX_LISTEN) {
		*error_r = "too many listen addresses (at most 8)";
		return -1;
	}
	for (i = 0; i < conf->listen_count; i++) {
		if (conf->listen[i].port == port &&
		    strcmp(conf->listen[i].host, host) == 0) {
			*error_r = "the same address is already listed";
			return -1;
		}
	}
	conf->listen[i].host = strdup(host);
	if (conf->listen[i].host == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	conf->listen[i].port = port;
	conf->listen[i].tls = tls;
	conf->listen_count++;
	return 0;
}

static int conf_set_listen(struct conf_ctx *ctx, const char *value,
			   const char **error_r)
{
	return conf_add_listen(ctx, value, false, error_r);
}

static int conf_set_listen_tls(struct conf_ctx *ctx, const char *value,
			       const char **error_r)
{
	if (ctx->listen_tls_line == 0)
		ctx->listen_tls_line = ctx->lineno;
	return conf_add_listen(ctx, value, true, error_r);
}

static int conf_set_plaintext_auth(struct conf_ctx *ctx, const char *value,
				   const char **error_r)
{
	unsigned int i;

	if (conf_parse_enum(value, conf_plaintext_names, &i, error_r) < 0)
		return -1;
	ctx->conf->plaintext_auth = (enum conf_plaintext_auth)i;
	return 0;
}

static int conf_set_local_networks(struct conf_ctx *ctx, const char *value,
				   const char **error_r)
{
	struct conf *conf = ctx->conf;
	char item[64];
	const char *p = value;

	conf->local_network_count = 0;
	while (*p != '\0') {
		size_t len = strcspn(p, " \t,");

		if (len == 0) {
			p++;
			continue;
		}
		if (len >= sizeof(item)) {
			*error_r = "network too long";
			return -1;
		}
		if (conf->local_network_count == CONF_MAX_NETWORKS) {
			*error_r = "too many networks (at most 16)";
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (conf_parse_cidr(item, &conf->local_networks[conf->local_network_count],
				    error_r) < 0)
			return -1;
		conf->local_network_count++;
		p += len;
	}
	return 0;
}

static int conf_set_idle_timeout(struct conf_ctx *ctx, const char *value,
				 const char **error_r)
{
	return conf_duration_in(value, 1, 86400, "out of range (1s..1d)",
				&ctx->conf->idle_timeout_secs, error_r);
}

static int conf_set_max_connections(struct conf_ctx *ctx, const char *value,
				    const char **error_r)
{
	return conf_uint_in(value, 1, 1000000, "out of range (1..1000000)",
			    &ctx->conf->max_connections, error_r);
}

static int conf_set_max_bad_commands(struct conf_ctx *ctx,
				     const char *value, const char **error_r)
{
	return conf_uint_in(value, 1, 1000, "out of range (1..1000)",
			    &ctx->conf->max_bad_commands, error_r);
}

static int conf_set_auth_fail_delay(struct conf_ctx *ctx, const char *value,
				    const char **error_r)
{
	unsigned int v;

	if (conf_parse_msecs(value, UINT_MAX, &v, error_r) < 0)
		return -1;
	if (v > 60000) {
		*error_r = "out of range (0..60s)";
		return -1;
	}
	ctx->conf->auth_fail_delay_ms = v;
	return 0;
}

static int conf_set_greeting(struct conf_ctx *ctx, const char *value,
			     const char **error_r)
{
	size_t i, len = strlen(value);

	if (len == 0 || len > CONF_GREETING_MAX) {
		*error_r = "must be 1 to 200 characters";
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c < 0x20 || c > 0x7e) {
			*error_r = "printable ASCII only";
			return -1;
		}
		/* A "<...>" in the banner is an APOP timestamp to a
		   client (RFC 1939), and APOP is not offered. */
		if (c == '<' || c == '>') {
			*error_r = "'<' and '>' are not allowed (APOP timestamp)";
			return -1;
		}
	}
	return conf_set_string(&ctx->conf->greeting, value, error_r);
}

/* The upstream whose section is being read ([upstream] or a route). */
static struct conf_upstream *conf_cur_up(struct conf_ctx *ctx)
{
	return ctx->route >= 0 ? &ctx->conf->routes[ctx->route] : ctx->conf->upstream;
}

static int conf_set_upstream_host(struct conf_ctx *ctx, const char *value,
				  const char **error_r)
{
	if (conf_parse_host(value, error_r) < 0)
		return -1;
	return conf_set_string(&conf_cur_up(ctx)->host, value, error_r);
}

static int conf_set_upstream_port(struct conf_ctx *ctx, const char *value,
				  const char **error_r)
{
	struct conf_upstream *up = conf_cur_up(ctx);

	if (conf_parse_port(value, &up->port, error_r) < 0)
		return -1;
	up->port_set = true;
	return 0;
}

static int conf_set_upstream_tls(struct conf_ctx *ctx, const char *value,
				 const char **error_r)
{
	unsigned int i;

	if (conf_parse_enum(value, conf_tls_names, &i, error_r) < 0) {
		*error_r = "expected imaps, starttls or none";
		return -1;
	}
	conf_cur_up(ctx)->tls = (enum conf_tls_mode)i;
	return 0;
}

static int conf_set_upstream_verify(struct conf_ctx *ctx, const char *value,
				    const char **error_r)
{
	return conf_parse_bool(value, &conf_cur_up(ctx)->verify, error_r);
}

static int conf_set_upstream_login_name(struct conf_ctx *ctx, const char *value,
					const char **error_r)
{
	unsigned int i;

	if (conf_parse_enum(value, conf_login_names, &i, error_r) < 0) {
		*error_r = "expected full or local-part";
		return -1;
	}
	conf_cur_up(ctx)->login_name = (enum conf_login_name)i;
	return 0;
}

/* An absolute path to a readable file, or "" for none (NULL). */
static int conf_set_file(char **dst, const char *value, const char **error_r)
{
	if (value[0] == '\0') {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	/* The daemon may change directory; a relative path would then
	   name another file. */
	if (value[0] != '/') {
		*error_r = "must be an absolute path";
		return -1;
	}
	/* Found now by --check rather than at the first TLS connect. */
	if (access(value, R_OK) < 0) {
		*error_r = errno == ENOENT ? "no such file" :
			errno == EACCES ? "permission denied" :
			"cannot read the file";
		return -1;
	}
	return conf_set_string(dst, value, error_r);
}

static int conf_set_upstream_ca_file(struct conf_ctx *ctx, const char *value,
				     const char **error_r)
{
	return conf_set_file(&conf_cur_up(ctx)->ca_file, value, error_r);
}

static int conf_set_tls_cert_file(struct conf_ctx *ctx, const char *value,
				  const char **error_r)
{
	if (ctx->tls_file_line == 0)
		ctx->tls_file_line = ctx->lineno;
	return conf_set_file(&ctx->conf->tls_cert_file, value, error_r);
}

static int conf_set_tls_key_file(struct conf_ctx *ctx, const char *value,
				 const char **error_r)
{
	if (ctx->tls_file_line == 0)
		ctx->tls_file_line = ctx->lineno;
	return conf_set_file(&ctx->conf->tls_key_file, value, error_r);
}

static int conf_set_upstream_timeout(struct conf_ctx *ctx, const char *value,
				     const char **error_r)
{
	return conf_duration_in(value, 1, 600, "out of range (1s..10m)",
				&conf_cur_up(ctx)->timeout_secs, error_r);
}

/* A mailbox name sent as an IMAP atom: no quoting, no modified UTF-7. */
static int conf_set_upstream_mailbox_into(char **dst, const char *value,
					  const char **error_r)
{
	size_t i, len = strlen(value);

	if (len == 0 || len > CONF_MAILBOX_MAX) {
		*error_r = "must be 1 to 200 characters";
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\", c) != NULL) {
			*error_r = "must be an IMAP atom: printable ASCII without "
				"spaces, quotes, ( ) { % * or \\";
			return -1;
		}
	}
	return conf_set_string(dst, value, error_r);
}

static int conf_set_upstream_mailbox(struct conf_ctx *ctx, const char *value,
				     const char **error_r)
{
	return conf_set_upstream_mailbox_into(&conf_cur_up(ctx)->mailbox, value, error_r);
}

static int conf_set_log_target(struct conf_ctx *ctx, const char *value,
			       const char **error_r)
{
	unsigned int i;

	if (conf_parse_enum(value, conf_target_names, &i, error_r) < 0) {
		*error_r = "expected stderr or syslog";
		return -1;
	}
	ctx->conf->log_target = (enum log_target)i;
	return 0;
}

static int conf_set_log_level(struct conf_ctx *ctx, const char *value,
			      const char **error_r)
{
	unsigned int i;

	if (conf_parse_enum(value, conf_level_names, &i, error_r) < 0) {
		*error_r = "expected error, warn, info or debug";
		return -1;
	}
	ctx->conf->log_level = (enum log_level)i;
	return 0;
}

static int conf_set_log_ident(struct conf_ctx *ctx, const char *value,
			      const char **error_r)
{
	size_t i, len = strlen(value);

	if (len == 0 || len > CONF_IDENT_MAX) {
		*error_r = "must be 1 to 32 characters";
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = value[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.')) {
			*error_r = "letters, digits, '-', '_' and '.' only";
			return -1;
		}
	}
	return conf_set_string(&ctx->conf->log_ident, value, error_r);
}

static int conf_set_cache_url(struct conf_ctx *ctx, const char *value,
			      const char **error_r)
{
	/* The form is checked where it is used (cache_url_parse): only the
	   obvious is refused here. */
	if (value[0] == '\0') {
		*error_r = "empty value (use auto)";
		return -1;
	}
	return conf_set_string(&ctx->conf->cache_url, value, error_r);
}

static int conf_set_cache_password(struct conf_ctx *ctx, const char *value,
				   const char **error_r)
{
	if (value[0] == '\0') {
		free(ctx->conf->cache_password);
		ctx->conf->cache_password = NULL;
		return 0;
	}
	return conf_set_string(&ctx->conf->cache_password, value, error_r);
}

static int conf_set_cache_state_dir(struct conf_ctx *ctx, const char *value,
				    const char **error_r)
{
	if (value[0] != '/') {
		*error_r = "must be an absolute path";
		return -1;
	}
	return conf_set_string(&ctx->conf->cache_state_dir, value, error_r);
}

static int conf_set_cache_redis_server(struct conf_ctx *ctx, const char *value,
				       const char **error_r)
{
	if (value[0] == '\0') {
		*error_r = "empty value";
		return -1;
	}
	return conf_set_string(&ctx->conf->cache_redis_server, value, error_r);
}

static int conf_set_cache_timeout(struct conf_ctx *ctx, const char *value,
				  const char **error_r)
{
	unsigned int ms;

	if (conf_parse_msecs(value, UINT_MAX, &ms, error_r) < 0)
		return -1;
	if (ms < 10 || ms > 60000) {
		*error_r = "out of range (10ms..60s)";
		return -1;
	}
	ctx->conf->cache_timeout_ms = ms;
	return 0;
}

static int conf_set_lock_ttl(struct conf_ctx *ctx, const char *value,
			     const char **error_r)
{
	return conf_duration_in(value, 3, 3600, "out of range (3s..1h)",
				&ctx->conf->lock_ttl_secs, error_r);
}

static int conf_set_device_separator(struct conf_ctx *ctx, const char *value,
				     const char **error_r)
{
	/* One printable character that cannot start a device name and is
	   rare in user names. */
	if (strlen(value) != 1 || strchr("#+%!/:;", value[0]) == NULL) {
		*error_r = "one of # + % ! / : ;";
		return -1;
	}
	ctx->conf->device_separator = value[0];
	return 0;
}

static int conf_set_delete_action(struct conf_ctx *ctx, const char *value,
				  const char **error_r)
{
	unsigned int i;

	if (conf_parse_enum(value, conf_delete_names, &i, error_r) < 0)
		return -1;
	ctx->conf->delete_action = (enum conf_delete_action)i;
	return 0;
}

static int conf_set_mark_seen(struct conf_ctx *ctx, const char *value,
			      const char **error_r)
{
	return conf_parse_bool(value, &ctx->conf->mark_seen_on_retr, error_r);
}

static int conf_set_new_device_sees(struct conf_ctx *ctx, const char *value,
				    const char **error_r)
{
	unsigned int i;

	if (conf_parse_enum(value, conf_new_device_names, &i, error_r) < 0)
		return -1;
	ctx->conf->new_device_sees = (enum conf_new_device)i;
	return 0;
}

static int conf_set_trash_mailbox(struct conf_ctx *ctx, const char *value,
				  const char **error_r)
{
	if (value[0] == '\0') {
		free(ctx->conf->trash_mailbox);
		ctx->conf->trash_mailbox = NULL;
		return 0;
	}
	return conf_set_upstream_mailbox_into(&ctx->conf->trash_mailbox, value, error_r);
}

static int conf_set_max_connections_per_ip(struct conf_ctx *ctx, const char *value,
					   const char **error_r)
{
	return conf_uint_in(value, 0, 1000000, "out of range (0..1000000, 0: no limit)",
			    &ctx->conf->max_connections_per_ip, error_r);
}

static int conf_msecs_in(const char *value, unsigned int max, const char *range,
			 unsigned int *ms_r, const char **error_r)
{
	unsigned int v;

	if (conf_parse_msecs(value, UINT_MAX, &v, error_r) < 0)
		return -1;
	if (v > max) {
		*error_r = range;
		return -1;
	}
	*ms_r = v;
	return 0;
}

static int conf_set_auth_fail_delay_max(struct conf_ctx *ctx, const char *value,
					const char **error_r)
{
	return conf_msecs_in(value, 300000, "out of range (0..5m)",
			     &ctx->conf->auth_fail_delay_max_ms, error_r);
}

static int conf_set_auth_fail_window(struct conf_ctx *ctx, const char *value,
				     const char **error_r)
{
	return conf_duration_in(value, 60, 86400, "out of range (1m..1d)",
				&ctx->conf->auth_fail_window_secs, error_r);
}

static int conf_set_max_session_time(struct conf_ctx *ctx, const char *value,
				     const char **error_r)
{
	return conf_duration_in(value, 1, 7 * 86400, "out of range (1s..7d)",
				&ctx->conf->max_session_secs, error_r);
}

static int conf_set_login_delay(struct conf_ctx *ctx, const char *value,
				const char **error_r)
{
	return conf_duration_in(value, 0, 86400, "out of range (0..1d, 0: off)",
				&ctx->conf->login_delay_secs, error_r);
}

static int conf_set_shutdown_grace(struct conf_ctx *ctx, const char *value,
				   const char **error_r)
{
	return conf_duration_in(value, 0, 600, "out of range (0..10m)",
				&ctx->conf->shutdown_grace_secs, error_r);
}

static int conf_set_log_facility(struct conf_ctx *ctx, const char *value,
				 const char **error_r)
{
	static const char *const names[] = { "mail", "daemon", "user", "local0", "local1",
					     "local2", "local3", "local4", "local5",
					     "local6", "local7", NULL };
	static const int values[] = { LOG_MAIL, LOG_DAEMON, LOG_USER, LOG_LOCAL0, LOG_LOCAL1,
				      LOG_LOCAL2, LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5,
				      LOG_LOCAL6, LOG_LOCAL7 };
	unsigned int i;

	if (conf_parse_enum(value, names, &i, error_r) < 0) {
		*error_r = "expected mail, daemon, user or local0 .. local7";
		return -1;
	}
	ctx->conf->log_facility = values[i];
	return 0;
}

static int conf_set_daemon(struct conf_ctx *ctx, const char *value, const char **error_r)
{
	return conf_parse_bool(value, &ctx->conf->daemon, error_r);
}

static int conf_set_pid_file(struct conf_ctx *ctx, const char *value, const char **error_r)
{
	if (value[0] == '\0') {
		free(ctx->conf->pid_file);
		ctx->conf->pid_file = NULL;
		return 0;
	}
	if (value[0] != '/') {
		*error_r = "must be an absolute path";
		return -1;
	}
	return conf_set_string(&ctx->conf->pid_file, value, error_r);
}

/* A user or group name as useradd(8) accepts them. */
static int conf_set_account_name(char **dst, const char *value, const char **error_r)
{
	size_t i, len = strlen(value);

	if (len == 0) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (len > 32) {
		*error_r = "at most 32 characters";
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = value[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		      (i > 0 && ((c >= '0' && c <= '9') || c == '-' || c == '.')))) {
			*error_r = "letters, digits, '_', '-' and '.', not starting with a digit";
			return -1;
		}
	}
	return conf_set_string(dst, value, error_r);
}

static int conf_set_user(struct conf_ctx *ctx, const char *value, const char **error_r)
{
	return conf_set_account_name(&ctx->conf->user, value, error_r);
}

static int conf_set_group(struct conf_ctx *ctx, const char *value, const char **error_r)
{
	return conf_set_account_name(&ctx->conf->group, value, error_r);
}

static int conf_set_metrics_listen(struct conf_ctx *ctx, const char *value,
				   const char **error_r)
{
	char host[256];

	if (value[0] == '\0') {
		free(ctx->conf->metrics_host);
		ctx->conf->metrics_host = NULL;
		return 0;
	}
	if (conf_parse_hostport(value, host, sizeof(host), &ctx->conf->metrics_port,
				error_r) < 0)
		return -1;
	return conf_set_string(&ctx->conf->metrics_host, host, error_r);
}

const struct conf_key conf_keys[] = {
	{ "server", "listen", true, conf_set_listen },
	{ "server", "idle_timeout", false, conf_set_idle_timeout },
	{ "server", "max_connections", false, conf_set_max_connections },
	{ "server", "max_bad_commands", false, conf_set_max_bad_commands },
	{ "server", "max_connections_per_ip", false, conf_set_max_connections_per_ip },
	{ "server", "auth_fail_delay", false, conf_set_auth_fail_delay },
	{ "server", "auth_fail_delay_max", false, conf_set_auth_fail_delay_max },
	{ "server", "auth_fail_window", false, conf_set_auth_fail_window },
	{ "server", "max_session_time", false, conf_set_max_session_time },
	{ "server", "login_delay", false, conf_set_login_delay },
	{ "server", "shutdown_grace", false, conf_set_shutdown_grace },
	{ "server", "greeting", false, conf_set_greeting },
	{ "server", "listen_tls", true, conf_set_listen_tls },
	{ "server", "plaintext_auth", false, conf_set_plaintext_auth },
	{ "server", "local_networks", false, conf_set_local_networks },
	{ "upstream", "host", false, conf_set_upstream_host },
	{ "upstream", "port", false, conf_set_upstream_port },
	{ "upstream", "tls", false, conf_set_upstream_tls },
	{ "upstream", "verify", false, conf_set_upstream_verify },
	{ "upstream", "ca_file", false, conf_set_upstream_ca_file },
	{ "upstream", "timeout", false, conf_set_upstream_timeout },
	{ "upstream", "mailbox", false, conf_set_upstream_mailbox },
	{ "upstream", "login_name", false, conf_set_upstream_login_name },
	/* [route DOMAIN]: the same keys, for logins at DOMAIN */
	{ "route", "host", false, conf_set_upstream_host },
	{ "route", "port", false, conf_set_upstream_port },
	{ "route", "tls", false, conf_set_upstream_tls },
	{ "route", "verify", false, conf_set_upstream_verify },
	{ "route", "ca_file", false, conf_set_upstream_ca_file },
	{ "route", "timeout", false, conf_set_upstream_timeout },
	{ "route", "mailbox", false, conf_set_upstream_mailbox },
	{ "route", "login_name", false, conf_set_upstream_login_name },
	{ "log", "target", false, conf_set_log_target },
	{ "log", "level", false, conf_set_log_level },
	{ "log", "ident", false, conf_set_log_ident },
	{ "log", "facility", false, conf_set_log_facility },
	{ "cache", "url", false, conf_set_cache_url },
	{ "cache", "password", false, conf_set_cache_password },
	{ "cache", "state_dir", false, conf_set_cache_state_dir },
	{ "cache", "redis_server", false, conf_set_cache_redis_server },
	{ "cache", "timeout", false, conf_set_cache_timeout },
	{ "cache", "lock_ttl", false, conf_set_lock_ttl },
	{ "policy", "device_separator", false, conf_set_device_separator },
	{ "policy", "delete_action", false, conf_set_delete_action },
	{ "policy", "mark_seen_on_retr", false, conf_set_mark_seen },
	{ "policy", "new_device_sees", false, conf_set_new_device_sees },
	{ "policy", "trash_mailbox", false, conf_set_trash_mailbox },
	{ "tls", "cert_file", false, conf_set_tls_cert_file },
	{ "tls", "key_file", false, conf_set_tls_key_file },
	{ "process", "daemon", false, conf_set_daemon },
	{ "process", "pid_file", false, conf_set_pid_file },
	{ "process", "user", false, conf_set_user },
	{ "process", "group", false, conf_set_group },
	{ "metrics", "listen", false, conf_set_metrics_listen },
};

const size_t conf_key_count = sizeof(conf_keys) / sizeof(conf_keys[0]);
_Static_assert(sizeof(conf_keys) / sizeof(conf_keys[0]) <=
	       sizeof(((struct conf_ctx *)0)->seen_line) / sizeof(unsigned int),
	       "seen_line too small");
