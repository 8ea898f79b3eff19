#include "conf.h"
#include "conf_value.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#define CONF_DEFAULT_LISTEN_HOST "127.0.0.1"
#define CONF_DEFAULT_LISTEN_PORT 1110
#define CONF_GREETING_MAX 200
#define CONF_MAILBOX_MAX 200
#define CONF_IDENT_MAX 32

struct conf_ctx;

struct conf_key {
	const char *section;
	const char *name;
	bool repeatable;
	/* 0, or -1 with a static reason in *error_r */
	int (*set)(struct conf_ctx *ctx, const char *value,
		   const char **error_r);
};

struct conf_ctx {
	struct conf *conf;
	FILE *file;
	unsigned int lineno;        /* line inih is working on */
	unsigned int error_line;    /* 0: no error of ours yet */
	int route;                  /* section being read: -1 [upstream], else
				       routes[route]; -2 neither */
	unsigned int listen_tls_line; /* first listen_tls, for errors */
	unsigned int tls_file_line;   /* first [tls] file key */
	unsigned int seen_line[64]; /* per conf_keys row; 0 = not seen */
	unsigned int upstream_line; /* first [upstream] header */
	char error[320];
};

/* "route" stands for the "[route DOMAIN]" sections. */
static const char *const conf_sections[] = { "server", "upstream", "log",
					     "tls", "cache", "policy", "process",
					     "metrics", "route", NULL };
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
_Static_assert(CONF_LOG_STDERR == 0 && CONF_LOG_SYSLOG == 1,
	       "conf_target_names order");
_Static_assert(CONF_LOG_ERROR == 0 && CONF_LOG_WARN == 1 &&
	       CONF_LOG_INFO == 2 && CONF_LOG_DEBUG == 3,
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
	ctx->conf->log_target = (enum conf_log_target)i;
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
	ctx->conf->log_level = (enum conf_log_level)i;
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

static const struct conf_key conf_keys[] = {
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

#define CONF_NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))
_Static_assert(CONF_NKEYS <= sizeof(((struct conf_ctx *)0)->seen_line) /
	       sizeof(unsigned int), "seen_line too small");

__attribute__((format(printf, 2, 3)))
static void conf_error(struct conf_ctx *ctx, const char *fmt, ...)
{
	va_list args;

	ctx->error_line = ctx->lineno;
	va_start(args, fmt);
	vsnprintf(ctx->error, sizeof(ctx->error), fmt, args);
	va_end(args);
}

#define CONF_ROUTE_PREFIX "route "

static bool conf_is_route(const char *name, size_t len)
{
	return len > strlen(CONF_ROUTE_PREFIX) &&
		memcmp(name, CONF_ROUTE_PREFIX, strlen(CONF_ROUTE_PREFIX)) == 0;
}

static bool conf_section_known(const char *name, size_t len)
{
	unsigned int i;

	if (conf_is_route(name, len))
		return true;
	for (i = 0; conf_sections[i] != NULL; i++) {
		if (strcmp(conf_sections[i], "route") != 0 &&
		    strlen(conf_sections[i]) == len &&
		    memcmp(conf_sections[i], name, len) == 0)
			return true;
	}
	return false;
}

static void conf_upstream_init(struct conf_upstream *up)
{
	memset(up, 0, sizeof(*up));
	up->name = "default";
	up->tls = CONF_TLS_IMAPS;
	up->verify = true;
	up->timeout_secs = 30;
	up->login_name = CONF_LOGIN_FULL;
}

static void conf_upstream_clear(struct conf_upstream *up)
{
	free(up->domain);
	free(up->host);
	free(up->ca_file);
	free(up->mailbox);
}

/* A route's domain: a DNS name, stored in lower case. */
static int conf_route_domain(const char *name, size_t len, char *out, const char **error_r)
{
	size_t i;

	if (len == 0 || len > CONF_DOMAIN_MAX) {
		*error_r = "the domain must be 1 to 180 characters";
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.')) {
			*error_r = "the domain may hold letters, digits, '-' and '.' only";
			return -1;
		}
		if (c == '.' && (i == 0 || i == len - 1 || name[i - 1] == '.')) {
			*error_r = "empty label in the domain";
			return -1;
		}
		out[i] = c;
	}
	out[len] = '\0';
	return 0;
}

/* A "[section]" header line: where the following keys go. */
static void conf_enter_section(struct conf_ctx *ctx, const char *name, size_t len)
{
	struct conf *conf = ctx->conf;
	char domain[CONF_DOMAIN_MAX + 1];
	const char *why;
	unsigned int i;

	ctx->route = -2;
	if (len == strlen("upstream") && memcmp(name, "upstream", len) == 0) {
		if (conf->upstream == NULL) {
			conf->upstream = malloc(sizeof(*conf->upstream));
			if (conf->upstream == NULL) {
				conf_error(ctx, "out of memory");
				return;
			}
			conf_upstream_init(conf->upstream);
			conf->upstream->line = ctx->lineno;
		}
		ctx->route = -1;
		return;
	}
	if (!conf_is_route(name, len))
		return;
	name += strlen(CONF_ROUTE_PREFIX);
	len -= strlen(CONF_ROUTE_PREFIX);
	while (len > 0 && (*name == ' ' || *name == '\t')) {
		name++;
		len--;
	}
	if (conf_route_domain(name, len, domain, &why) < 0) {
		conf_error(ctx, "bad [route %.*s]: %s", (int)(len > 64 ? 64 : len), name, why);
		return;
	}
	for (i = 0; i < conf->route_count; i++) {
		if (strcmp(conf->routes[i].domain, domain) == 0) {
			conf_error(ctx, "[route %s] given twice (first on line %u)", domain,
				   conf->routes[i].line);
			return;
		}
	}
	if (conf->route_count == CONF_MAX_ROUTES) {
		conf_error(ctx, "too many routes (at most %u)", CONF_MAX_ROUTES);
		return;
	}
	struct conf_upstream *routes = realloc(conf->routes,
					       (conf->route_count + 1) * sizeof(*routes));

	if (routes == NULL) {
		conf_error(ctx, "out of memory");
		return;
	}
	conf->routes = routes;
	conf_upstream_init(&routes[conf->route_count]);
	routes[conf->route_count].line = ctx->lineno;
	routes[conf->route_count].domain = strdup(domain);
	if (routes[conf->route_count].domain == NULL) {
		conf_error(ctx, "out of memory");
		return;
	}
	routes[conf->route_count].name = routes[conf->route_count].domain;
	ctx->route = (int)conf->route_count++;
	/* Each route has its own set of keys. */
	for (i = 0; i < CONF_NKEYS; i++) {
		if (strcmp(conf_keys[i].section, "route") == 0)
			ctx->seen_line[i] = 0;
	}
}

/*
 * fgets-style reader for ini_parse_stream(). It exists for what inih
 * cannot tell us: the current line number (the handler has none in the
 * Debian build), lines too long for inih's buffer, NUL bytes (fgets would
 * hide the rest of the line), and unknown sections that hold no key. It
 * also drops leading blanks: otherwise an indented line would be glued to
 * the previous value as a multi-line continuation.
 */
static char *conf_read_line(char *str, int num, void *stream)
{
	struct conf_ctx *ctx = stream;
	size_t len = 0, skip = 0, max = (size_t)num - 1;
	const char *end;
	int c = EOF;

	/* Our first error ends the parse: later lines cannot matter. */
	if (ctx->error_line != 0 || num < 2)
		return NULL;
	while (len < max && (c = getc(ctx->file)) != EOF) {
		if (len == 0)
			ctx->lineno++;
		if (c == '\0') {
			conf_error(ctx, "NUL byte in line");
			return NULL;
		}
		str[len++] = (char)c;
		if (c == '\n')
			break;
	}
	if (len == 0)
		return NULL;
	if (len == max && str[len - 1] != '\n' &&
	    (c = getc(ctx->file)) != EOF) {
		/* inih would split it and parse the tail as a line of its
		   own, maybe as a key. num - 3 leaves room for CR LF NUL. */
		conf_error(ctx, "line too long (at most %d characters)",
			   num - 3);
		return NULL;
	}
	str[len] = '\0';

	/* A byte-order mark (editors on Windows write one), and whatever
	   inih itself would strip, so that the header is seen here too. */
	if (ctx->lineno == 1 && len >= 3 && memcmp(str, "\xef\xbb\xbf", 3) == 0)
		skip = 3;
	while (str[skip] == ' ' || str[skip] == '\t' || str[skip] == '\v' ||
	       str[skip] == '\f')
		skip++;
	memmove(str, str + skip, len - skip + 1);

	if (str[0] == '[' && (end = strchr(str, ']')) != NULL) {
		if (!conf_section_known(str + 1, (size_t)(end - str - 1))) {
			conf_error(ctx, "unknown section [%.*s]", (int)(end - str - 1),
				   str + 1);
			return NULL;
		}
		conf_enter_section(ctx, str + 1, (size_t)(end - str - 1));
		if (ctx->error_line != 0)
			return NULL;
	}
	return str;
}

static int conf_ini_handler(void *user, const char *section,
			    const char *name, const char *value)
{
	struct conf_ctx *ctx = user;
	const char *why = NULL, *shown = section;
	unsigned int i;

	if (ctx->error_line != 0)
		return 0;
	if (section[0] == '\0') {
		conf_error(ctx, "'%s' is outside any [section]", name);
		return 0;
	}
	if (!conf_section_known(section, strlen(section))) {
		conf_error(ctx, "unknown section [%s]", section);
		return 0;
	}
	if (conf_is_route(section, strlen(section)))
		section = "route";
	/* The reader saw every header inih acts on; if the two ever
	   disagree, an error rather than a key set on the wrong section. */
	if ((strcmp(section, "upstream") == 0 && ctx->route != -1) ||
	    (strcmp(section, "route") == 0 && ctx->route < 0)) {
		conf_error(ctx, "'%s' is not inside a section header popgate recognised", name);
		return 0;
	}
	if (strcmp(section, "route") == 0)
		shown = ctx->conf->routes[ctx->route].domain;
	for (i = 0; i < CONF_NKEYS; i++) {
		if (strcmp(conf_keys[i].section, section) == 0 &&
		    strcmp(conf_keys[i].name, name) == 0)
			break;
	}
	if (i == CONF_NKEYS) {
		conf_error(ctx, "unknown key '%s' in [%s%s]", name,
			   strcmp(section, "route") == 0 ? "route " : "", shown);
		return 0;
	}
	if (ctx->seen_line[i] != 0 && !conf_keys[i].repeatable) {
		conf_error(ctx, "'%s' in [%s%s] given twice (first on line %u)", name,
			   ctx->route >= 0 && strcmp(section, "route") == 0 ? "route " : "",
			   shown, ctx->seen_line[i]);
		return 0;
	}
	if (ctx->seen_line[i] == 0)
		ctx->seen_line[i] = ctx->lineno;
	if (conf_keys[i].set(ctx, value, &why) < 0) {
		conf_error(ctx, "bad value for '%s' in [%s%s]: %s", name,
			   strcmp(section, "route") == 0 ? "route " : "", shown, why);
		return 0;
	}
	return 1;
}

/* Defaults for everything, but no listen address and no port yet: those
   depend on what the file says (see conf_imply). */
static struct conf *conf_alloc(void)
{
	struct conf *conf = calloc(1, sizeof(*conf));

	if (conf == NULL)
		return NULL;
	conf->idle_timeout_secs = 600;
	conf->max_connections = 1000;
	conf->max_bad_commands = 10;
	conf->max_connections_per_ip = 50;
	conf->auth_fail_delay_ms = 1000;
	conf->auth_fail_delay_max_ms = 15000;
	conf->auth_fail_window_secs = 900;
	conf->max_session_secs = 7200;
	conf->login_delay_secs = 0;
	conf->shutdown_grace_secs = 10;
	conf->greeting = strdup("popgate ready");
	conf->log_facility = LOG_MAIL;
	conf->log_target = CONF_LOG_STDERR;
	conf->log_level = CONF_LOG_INFO;
	conf->log_ident = strdup("popgate");
	conf->plaintext_auth = CONF_PLAINTEXT_LOCAL;
	conf->cache_url = strdup("auto");
	conf->cache_state_dir = strdup("/var/lib/popgate");
	conf->cache_redis_server = strdup("redis-server");
	conf->cache_timeout_ms = 2000;
	conf->lock_ttl_secs = 120;
	conf->device_separator = '#';
	conf->delete_action = CONF_DELETE_HIDE;
	conf->mark_seen_on_retr = true;
	conf->new_device_sees = CONF_NEW_DEVICE_ALL;
	conf->local_network_count = 2;
	if (conf_parse_cidr("127.0.0.0/8", &conf->local_networks[0], &(const char *){ NULL }) < 0 ||
	    conf_parse_cidr("::1/128", &conf->local_networks[1], &(const char *){ NULL }) < 0)
		conf->local_network_count = 0;
	if (conf->greeting == NULL ||
	    conf->log_ident == NULL || conf->cache_url == NULL ||
	    conf->cache_state_dir == NULL || conf->cache_redis_server == NULL)
		conf_free(&conf);
	return conf;
}

static int conf_upstream_imply(struct conf_upstream *up)
{
	if (!up->port_set)
		up->port = up->tls == CONF_TLS_IMAPS ? 993 : 143;
	if (up->mailbox == NULL && (up->mailbox = strdup("INBOX")) == NULL)
		return -1;
	return 0;
}

static int conf_route_cmp(const void *a, const void *b)
{
	return strcmp(((const struct conf_upstream *)a)->domain,
		      ((const struct conf_upstream *)b)->domain);
}

static int conf_imply(struct conf *conf)
{
	if (conf->upstream != NULL && conf_upstream_imply(conf->upstream) < 0)
		return -1;
	for (unsigned int i = 0; i < conf->route_count; i++) {
		if (conf_upstream_imply(&conf->routes[i]) < 0)
			return -1;
	}
	if (conf->route_count > 1)
		qsort(conf->routes, conf->route_count, sizeof(conf->routes[0]), conf_route_cmp);
	if (conf->listen_count == 0) {
		conf->listen[0].host = strdup(CONF_DEFAULT_LISTEN_HOST);
		if (conf->listen[0].host == NULL)
			return -1;
		conf->listen[0].port = CONF_DEFAULT_LISTEN_PORT;
		conf->listen_count = 1;
	}
	return 0;
}

struct conf *conf_new_defaults(void)
{
	struct conf *conf = conf_alloc();

	if (conf != NULL && conf_imply(conf) < 0)
		conf_free(&conf);
	return conf;
}

__attribute__((format(printf, 2, 3)))
static void conf_msg(char **error_r, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	if (vasprintf(error_r, fmt, args) < 0)
		*error_r = NULL;
	va_end(args);
}

/* Line of a key's first occurrence (0 if not given). */
static unsigned int conf_key_line(const struct conf_ctx *ctx, const char *section,
				  const char *name)
{
	for (unsigned int i = 0; i < CONF_NKEYS; i++) {
		if (strcmp(conf_keys[i].section, section) == 0 &&
		    strcmp(conf_keys[i].name, name) == 0)
			return ctx->seen_line[i];
	}
	return 0;
}

/* Every upstream needs a host, and someone must serve logins. */
static bool conf_missing_host(const struct conf_ctx *ctx, const char *path, char **error_r)
{
	const struct conf *conf = ctx->conf;

	if (conf->upstream != NULL && conf->upstream->host == NULL) {
		conf_msg(error_r, "%s:%u: [upstream] needs host", path, conf->upstream->line);
		return true;
	}
	for (unsigned int i = 0; i < conf->route_count; i++) {
		if (conf->routes[i].host == NULL) {
			conf_msg(error_r, "%s:%u: [route %s] needs host", path,
				 conf->routes[i].line, conf->routes[i].domain);
			return true;
		}
	}
	if (conf->upstream == NULL && conf->route_count == 0) {
		conf_msg(error_r, "%s: no upstream: give [upstream] host, or a "
			 "[route DOMAIN] section with its host", path);
		return true;
	}
	return false;
}

int conf_load(const char *path, struct conf **conf_r, char **error_r)
{
	struct conf_ctx ctx;
	bool ok = false;
	int ret;

	*conf_r = NULL;
	*error_r = NULL;
	memset(&ctx, 0, sizeof(ctx));
	ctx.file = fopen(path, "r");
	if (ctx.file == NULL) {
		conf_msg(error_r, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	ctx.route = -2;
	ctx.conf = conf_alloc();
	if (ctx.conf == NULL) {
		fclose(ctx.file);
		conf_msg(error_r, "%s: out of memory", path);
		return -1;
	}
	ret = ini_parse_stream(conf_read_line, &ctx, conf_ini_handler, &ctx);

	/* inih records the first failing line, whether its own syntax
	   error or our handler's; ours may also come from the reader. */
	if (ret > 0 && (unsigned int)ret != ctx.error_line)
		conf_msg(error_r, "%s:%d: syntax error: expected "
			 "'key = value' or '[section]'", path, ret);
	else if (ctx.error_line != 0)
		conf_msg(error_r, "%s:%u: %s", path, ctx.error_line, ctx.error);
	else if (ret < 0)
		conf_msg(error_r, "%s: out of memory", path);
	else if (ferror(ctx.file))
		conf_msg(error_r, "%s: read error", path);
	else if (conf_missing_host(&ctx, path, error_r))
		;
	else if (ctx.conf->auth_fail_delay_max_ms < ctx.conf->auth_fail_delay_ms)
		conf_msg(error_r, "%s:%u: auth_fail_delay_max (default 15s) is less than "
			 "auth_fail_delay", path,
			 conf_key_line(&ctx, "server", "auth_fail_delay_max") != 0 ?
			 conf_key_line(&ctx, "server", "auth_fail_delay_max") :
			 conf_key_line(&ctx, "server", "auth_fail_delay"));
	else if (ctx.conf->daemon && ctx.conf->log_target == CONF_LOG_STDERR)
		conf_msg(error_r, "%s:%u: daemon = yes needs [log] target = syslog "
			 "(a daemon's stderr goes nowhere)", path,
			 conf_key_line(&ctx, "process", "daemon"));
	else if (ctx.conf->group != NULL && ctx.conf->user == NULL)
		conf_msg(error_r, "%s:%u: group needs user", path,
			 conf_key_line(&ctx, "process", "group"));
	else if ((ctx.conf->tls_cert_file == NULL) != (ctx.conf->tls_key_file == NULL))
		conf_msg(error_r, "%s:%u: [tls] needs both cert_file and key_file", path,
			 ctx.tls_file_line);
	else if (ctx.conf->plaintext_auth == CONF_PLAINTEXT_TLS_ONLY &&
		 ctx.conf->tls_cert_file == NULL)
		conf_msg(error_r, "%s: plaintext_auth = tls-only needs [tls] cert_file and "
			 "key_file (without TLS nobody could log in)", path);
	else if (ctx.listen_tls_line != 0 && ctx.conf->tls_cert_file == NULL)
		conf_msg(error_r, "%s:%u: listen_tls needs [tls] cert_file and key_file",
			 path, ctx.listen_tls_line);
	else if (conf_imply(ctx.conf) < 0 ||
		 (ctx.conf->path = strdup(path)) == NULL)
		conf_msg(error_r, "%s: out of memory", path);
	else
		ok = true;
	fclose(ctx.file);

	if (!ok) {
		/* Only NULL if even the message could not be allocated. */
		if (*error_r == NULL)
			*error_r = strdup("out of memory");
		conf_free(&ctx.conf);
		return -1;
	}
	*conf_r = ctx.conf;
	return 0;
}

void conf_free(struct conf **conf_p)
{
	struct conf *conf = *conf_p;
	unsigned int i;

	if (conf == NULL)
		return;
	for (i = 0; i < conf->listen_count; i++)
		free(conf->listen[i].host);
	free(conf->path);
	free(conf->greeting);
	if (conf->upstream != NULL)
		conf_upstream_clear(conf->upstream);
	free(conf->upstream);
	for (i = 0; i < conf->route_count; i++)
		conf_upstream_clear(&conf->routes[i]);
	free(conf->routes);
	free(conf->log_ident);
	free(conf->pid_file);
	free(conf->user);
	free(conf->group);
	free(conf->metrics_host);
	free(conf->cache_url);
	if (conf->cache_password != NULL)
		explicit_bzero(conf->cache_password, strlen(conf->cache_password));
	free(conf->cache_password);
	free(conf->cache_state_dir);
	free(conf->cache_redis_server);
	free(conf->trash_mailbox);
	free(conf->tls_cert_file);
	free(conf->tls_key_file);
	free(conf);
	*conf_p = NULL;
}

static int conf_domain_cmp(const char *domain, size_t len, const char *route)
{
	size_t i;

	for (i = 0; i < len && route[i] != '\0'; i++) {
		unsigned char a = (unsigned char)domain[i], b = (unsigned char)route[i];

		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a - 'A' + 'a');
		if (a != b)
			return a < b ? -1 : 1;
	}
	if (i == len)
		return route[i] == '\0' ? 0 : -1;
	return 1;
}

const struct conf_upstream *conf_route(const struct conf *conf, const char *domain,
				       size_t domain_len)
{
	unsigned int lo = 0, hi = conf->route_count;

	while (domain_len > 0 && lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		int cmp = conf_domain_cmp(domain, domain_len, conf->routes[mid].domain);

		if (cmp == 0)
			return &conf->routes[mid];
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return conf->upstream;
}

unsigned int conf_upstream_index(const struct conf *conf, const struct conf_upstream *up)
{
	if (up == conf->upstream)
		return 0;
	return 1 + (unsigned int)(up - conf->routes);
}
