#include "conf.h"
#include "conf_value.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	bool port_set;
	unsigned int listen_tls_line; /* first listen_tls, for errors */
	unsigned int tls_file_line;   /* first [tls] file key */
	unsigned int seen_line[32]; /* per conf_keys row; 0 = not seen */
	char error[320];
};

static const char *const conf_sections[] = { "server", "upstream", "log",
					     "tls", "cache", "policy", NULL };
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

static int conf_set_upstream_host(struct conf_ctx *ctx, const char *value,
				  const char **error_r)
{
	if (conf_parse_host(value, error_r) < 0)
		return -1;
	return conf_set_string(&ctx->conf->upstream_host, value, error_r);
}

static int conf_set_upstream_port(struct conf_ctx *ctx, const char *value,
				  const char **error_r)
{
	if (conf_parse_port(value, &ctx->conf->upstream_port, error_r) < 0)
		return -1;
	ctx->port_set = true;
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
	ctx->conf->upstream_tls = (enum conf_tls_mode)i;
	return 0;
}

static int conf_set_upstream_verify(struct conf_ctx *ctx, const char *value,
				    const char **error_r)
{
	return conf_parse_bool(value, &ctx->conf->upstream_verify, error_r);
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
	return conf_set_file(&ctx->conf->upstream_ca_file, value, error_r);
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
				&ctx->conf->upstream_timeout_secs, error_r);
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
	return conf_set_upstream_mailbox_into(&ctx->conf->upstream_mailbox, value, error_r);
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

static const struct conf_key conf_keys[] = {
	{ "server", "listen", true, conf_set_listen },
	{ "server", "idle_timeout", false, conf_set_idle_timeout },
	{ "server", "max_connections", false, conf_set_max_connections },
	{ "server", "max_bad_commands", false, conf_set_max_bad_commands },
	{ "server", "auth_fail_delay", false, conf_set_auth_fail_delay },
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
	{ "log", "target", false, conf_set_log_target },
	{ "log", "level", false, conf_set_log_level },
	{ "log", "ident", false, conf_set_log_ident },
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

static bool conf_section_known(const char *name, size_t len)
{
	unsigned int i;

	for (i = 0; conf_sections[i] != NULL; i++) {
		if (strlen(conf_sections[i]) == len &&
		    memcmp(conf_sections[i], name, len) == 0)
			return true;
	}
	return false;
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

	while (str[skip] == ' ' || str[skip] == '\t')
		skip++;
	memmove(str, str + skip, len - skip + 1);

	if (str[0] == '[' && (end = strchr(str, ']')) != NULL &&
	    !conf_section_known(str + 1, (size_t)(end - str - 1))) {
		conf_error(ctx, "unknown section [%.*s]", (int)(end - str - 1),
			   str + 1);
		return NULL;
	}
	return str;
}

static int conf_ini_handler(void *user, const char *section,
			    const char *name, const char *value)
{
	struct conf_ctx *ctx = user;
	const char *why = NULL;
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
	for (i = 0; i < CONF_NKEYS; i++) {
		if (strcmp(conf_keys[i].section, section) == 0 &&
		    strcmp(conf_keys[i].name, name) == 0)
			break;
	}
	if (i == CONF_NKEYS) {
		conf_error(ctx, "unknown key '%s' in [%s]", name, section);
		return 0;
	}
	if (ctx->seen_line[i] != 0 && !conf_keys[i].repeatable) {
		conf_error(ctx, "'%s' in [%s] given twice (first on line %u)",
			   name, section, ctx->seen_line[i]);
		return 0;
	}
	if (ctx->seen_line[i] == 0)
		ctx->seen_line[i] = ctx->lineno;
	if (conf_keys[i].set(ctx, value, &why) < 0) {
		conf_error(ctx, "bad value for '%s' in [%s]: %s", name, section,
			   why);
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
	conf->auth_fail_delay_ms = 1000;
	conf->greeting = strdup("popgate ready");
	conf->upstream_tls = CONF_TLS_IMAPS;
	conf->upstream_verify = true;
	conf->upstream_timeout_secs = 30;
	conf->upstream_mailbox = strdup("INBOX");
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
	if (conf->greeting == NULL || conf->upstream_mailbox == NULL ||
	    conf->log_ident == NULL || conf->cache_url == NULL ||
	    conf->cache_state_dir == NULL || conf->cache_redis_server == NULL)
		conf_free(&conf);
	return conf;
}

static int conf_imply(struct conf *conf, bool port_set)
{
	if (!port_set)
		conf->upstream_port = conf->upstream_tls == CONF_TLS_IMAPS ?
			993 : 143;
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

	if (conf != NULL && conf_imply(conf, false) < 0)
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
	else if (ctx.conf->upstream_host == NULL)
		conf_msg(error_r, "%s: [upstream] host is required", path);
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
	else if (conf_imply(ctx.conf, ctx.port_set) < 0 ||
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
	free(conf->upstream_host);
	free(conf->upstream_ca_file);
	free(conf->upstream_mailbox);
	free(conf->log_ident);
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
