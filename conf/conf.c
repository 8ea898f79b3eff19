#include "conf_private.h"
#include "conf_value.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONF_NKEYS conf_key_count

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

/* A section of the key table, a "[route DOMAIN]" or a "[device PATTERN]". */
static bool conf_section_known(const char *name, size_t len)
{
	if (conf_is_route(name, len) || conf_is_device(name, len))
		return true;
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		/* The profile keys come only with a pattern. */
		if (strlen(conf_keys[i].section) == len &&
		    memcmp(conf_keys[i].section, name, len) == 0)
			return conf_key_scope(&conf_keys[i]) != CONF_SCOPE_DEVICE;
	}
	return false;
}

static void conf_upstream_clear(struct conf_upstream *up)
{
	free(up->domain);
	up->domain = NULL;
	conf_free_strings(up, CONF_SCOPE_UPSTREAM);
}

/* The defaults of the [upstream] rows; -1 only when out of memory. */
static int conf_upstream_init(struct conf_upstream *up)
{
	const char *why;

	memset(up, 0, sizeof(*up));
	up->name = "default";
	if (conf_apply_defaults(up, CONF_SCOPE_UPSTREAM, false, &why) < 0) {
		conf_upstream_clear(up);
		return -1;
	}
	return 0;
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
	ctx->device = -1;
	if (conf_is_device(name, len)) {
		char err[200];

		if (conf_device_enter(ctx, name, len, err, sizeof(err)) < 0)
			conf_error(ctx, "%s", err);
		return;
	}
	if (len == strlen("upstream") && memcmp(name, "upstream", len) == 0) {
		if (conf->upstream == NULL) {
			conf->upstream = malloc(sizeof(*conf->upstream));
			if (conf->upstream == NULL || conf_upstream_init(conf->upstream) < 0) {
				free(conf->upstream);
				conf->upstream = NULL;
				conf_error(ctx, "out of memory");
				return;
			}
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
	if (conf_upstream_init(&routes[conf->route_count]) < 0) {
		conf_error(ctx, "out of memory");
		return;
	}
	/* Counted at once: conf_free then frees what the defaults hold. */
	ctx->route = (int)conf->route_count++;
	routes[ctx->route].line = ctx->lineno;
	routes[ctx->route].domain = strdup(domain);
	if (routes[ctx->route].domain == NULL) {
		conf_error(ctx, "out of memory");
		return;
	}
	routes[ctx->route].name = routes[ctx->route].domain;
	/* Each route has its own set of keys. */
	memset(ctx->route_seen_line, 0, sizeof(ctx->route_seen_line));
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

static const struct conf_key *conf_key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		if (strcmp(conf_keys[i].section, section) == 0 &&
		    strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	}
	return NULL;
}

/* The upstream whose section is being read ([upstream] or a route). */
static struct conf_upstream *conf_ctx_upstream(struct conf_ctx *ctx)
{
	return ctx->route >= 0 ? &ctx->conf->routes[ctx->route] : ctx->conf->upstream;
}

static int conf_ini_handler(void *user, const char *section,
			    const char *name, const char *value)
{
	struct conf_ctx *ctx = user;
	const char *why = NULL, *shown = section, *kind;
	const struct conf_key *key;
	unsigned int *seen, i;
	char buf[160];

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
	else if (conf_is_device(section, strlen(section)))
		section = "device";
	/* The reader saw every header inih acts on; if the two ever
	   disagree, an error rather than a key set on the wrong section. */
	if ((strcmp(section, "upstream") == 0 && ctx->route != -1) ||
	    (strcmp(section, "route") == 0 && ctx->route < 0) ||
	    (strcmp(section, "device") == 0) != (ctx->device >= 0)) {
		conf_error(ctx, "'%s' is not inside a section header popgate recognised", name);
		return 0;
	}
	/* A route takes the keys of [upstream]. */
	kind = strcmp(section, "route") == 0 ? "route " :
		strcmp(section, "device") == 0 ? "device " : "";
	if (strcmp(section, "route") == 0)
		shown = ctx->conf->routes[ctx->route].domain;
	else if (ctx->device >= 0)
		shown = ctx->conf->profiles[ctx->device].pattern;
	key = conf_key_find(strcmp(section, "route") == 0 ? "upstream" : section, name);
	if (key == NULL) {
		conf_error(ctx, "unknown key '%s' in [%s%s]", name, kind, shown);
		return 0;
	}
	i = (unsigned int)(key - conf_keys);
	seen = strcmp(section, "route") == 0 ? ctx->route_seen_line :
		ctx->device >= 0 ? ctx->device_seen_line : ctx->seen_line;
	if (seen[i] != 0 && (key->flags & CONF_REPEATABLE) == 0) {
		conf_error(ctx, "'%s' in [%s%s] given twice (first on line %u)", name, kind, shown,
			   seen[i]);
		return 0;
	}
	if (seen[i] == 0)
		seen[i] = ctx->lineno;
	if (key->set(key, conf_key_upstream(key) ? (void *)conf_ctx_upstream(ctx) :
		     ctx->device >= 0 ? (void *)&ctx->conf->profiles[ctx->device] :
		     (void *)ctx->conf, value, &why) < 0) {
		conf_error(ctx, "bad value for '%s' in [%s%s]: %s", name, kind, shown,
			   conf_key_error(key, why, buf, sizeof(buf)));
		return 0;
	}
	if (ctx->device >= 0)
		conf_device_given(&ctx->conf->profiles[ctx->device], key);
	return 1;
}

/* The defaults of every row but the late ones (no listen address yet)
   and the implied ones (no port: it depends on tls). */
static struct conf *conf_alloc(void)
{
	struct conf *conf = calloc(1, sizeof(*conf));
	const char *why;

	if (conf != NULL && conf_apply_defaults(conf, CONF_SCOPE_MAIN, false, &why) < 0)
		conf_free(&conf);
	return conf;
}

static void conf_upstream_imply(struct conf_upstream *up)
{
	up->port_set = up->port != 0;
	if (!up->port_set)
		up->port = up->tls == CONF_TLS_IMAPS ? 993 : 143;
}

static int conf_route_cmp(const void *a, const void *b)
{
	return strcmp(((const struct conf_upstream *)a)->domain,
		      ((const struct conf_upstream *)b)->domain);
}

/* What follows from the whole file: ports by tls, the default listen
   address when none is given (neither listen nor listen_tls). */
static int conf_imply(struct conf *conf)
{
	const char *why;

	if (conf->upstream != NULL)
		conf_upstream_imply(conf->upstream);
	for (unsigned int i = 0; i < conf->route_count; i++)
		conf_upstream_imply(&conf->routes[i]);
	if (conf->route_count > 1)
		qsort(conf->routes, conf->route_count, sizeof(conf->routes[0]), conf_route_cmp);
	if (conf->listen_count == 0 && conf_apply_defaults(conf, CONF_SCOPE_MAIN, true, &why) < 0)
		return -1;
	return 0;
}

struct conf *conf_new_defaults(void)
{
	struct conf *conf = conf_alloc();
	unsigned int line;
	char err[8];

	if (conf != NULL && (conf_imply(conf) < 0 ||
			     conf_device_finish(conf, err, sizeof(err), &line) < 0))
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

/* Line of a key's first occurrence outside [route] (0 if not given). */
static unsigned int conf_key_line(const struct conf_ctx *ctx, const char *section,
				  const char *name)
{
	const struct conf_key *key = conf_key_find(section, name);

	return key != NULL ? ctx->seen_line[key - conf_keys] : 0;
}

/* The first given of two keys (0 if neither). */
static unsigned int conf_first_line(const struct conf_ctx *ctx, const char *section,
				    const char *a, const char *b)
{
	unsigned int la = conf_key_line(ctx, section, a), lb = conf_key_line(ctx, section, b);

	return la != 0 && (lb == 0 || la < lb) ? la : lb;
}

/* The OAuth2 presets, then what auth = oauth2 needs, per upstream. */
static bool conf_oauth_bad(const struct conf_ctx *ctx, const char *path, char **error_r)
{
	struct conf *conf = ctx->conf;
	char why[200];

	for (unsigned int i = 0; i <= conf->route_count; i++) {
		struct conf_upstream *up = i == 0 ? conf->upstream : &conf->routes[i - 1];

		if (up == NULL)
			continue;
		if (conf_oauth_preset(up) < 0) {
			conf_msg(error_r, "%s: out of memory", path);
			return true;
		}
		if (conf_oauth_check(up, why, sizeof(why)) < 0) {
			if (i == 0)
				conf_msg(error_r, "%s:%u: [upstream]: %s", path, up->line, why);
			else
				conf_msg(error_r, "%s:%u: [route %s]: %s", path, up->line,
					 up->domain, why);
			return true;
		}
	}
	return false;
}

/* Every upstream needs a host, and someone must serve logins. */
static bool conf_missing_host(const struct conf_ctx *ctx, const char *path, unsigned int flags,
			      char **error_r)
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
	if (conf->upstream == NULL && conf->route_count == 0 &&
	    (flags & CONF_LOAD_NO_UPSTREAM_OK) == 0) {
		conf_msg(error_r, "%s: no upstream: give [upstream] host, or a "
			 "[route DOMAIN] section with its host; \"popgate setup "
			 "you@example.com -c %s\" finds your provider's server and "
			 "writes them", path, path);
		return true;
	}
	return false;
}

/* A listener takes PROXY headers but nobody may send them. */
static bool conf_has_proxy_listener(const struct conf *conf)
{
	for (unsigned int i = 0; i < conf->listen_count; i++) {
		if (conf->listen[i].proxy)
			return true;
	}
	return false;
}

int conf_load(const char *path, struct conf **conf_r, char **error_r)
{
	return conf_load_flags(path, 0, conf_r, error_r);
}

int conf_load_flags(const char *path, unsigned int flags, struct conf **conf_r,
		    char **error_r)
{
	struct conf_ctx ctx;
	unsigned int line;
	bool ok = false;
	char why[240];
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
	ctx.device = -1;
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
	else if (conf_oauth_bad(&ctx, path, error_r))
		;
	else if (conf_missing_host(&ctx, path, flags, error_r))
		;
	else if (conf_device_finish(ctx.conf, why, sizeof(why), &line) < 0)
		conf_msg(error_r, "%s:%u: %s", path, line, why);
	else if (ctx.conf->auth_fail_delay_max_ms < ctx.conf->auth_fail_delay_ms)
		conf_msg(error_r, "%s:%u: auth_fail_delay_max (default %s) is less than "
			 "auth_fail_delay", path,
			 conf_key_line(&ctx, "server", "auth_fail_delay_max") != 0 ?
			 conf_key_line(&ctx, "server", "auth_fail_delay_max") :
			 conf_key_line(&ctx, "server", "auth_fail_delay"),
			 conf_key_find("server", "auth_fail_delay_max")->def);
	else if (ctx.conf->daemon && ctx.conf->log_target == LOG_TARGET_STDERR)
		conf_msg(error_r, "%s:%u: daemon = yes needs [log] target = syslog "
			 "(a daemon's stderr goes nowhere)", path,
			 conf_key_line(&ctx, "process", "daemon"));
	else if (ctx.conf->group != NULL && ctx.conf->user == NULL)
		conf_msg(error_r, "%s:%u: group needs user", path,
			 conf_key_line(&ctx, "process", "group"));
	else if ((ctx.conf->tls_cert_file == NULL) != (ctx.conf->tls_key_file == NULL))
		conf_msg(error_r, "%s:%u: [tls] needs both cert_file and key_file", path,
			 conf_first_line(&ctx, "tls", "cert_file", "key_file"));
	else if (ctx.conf->plaintext_auth == CONF_PLAINTEXT_TLS_ONLY &&
		 ctx.conf->tls_cert_file == NULL)
		conf_msg(error_r, "%s: plaintext_auth = tls-only needs [tls] cert_file and "
			 "key_file (without TLS nobody could log in)", path);
	else if (conf_key_line(&ctx, "server", "listen_tls") != 0 &&
		 ctx.conf->tls_cert_file == NULL)
		conf_msg(error_r, "%s:%u: listen_tls needs [tls] cert_file and key_file",
			 path, conf_key_line(&ctx, "server", "listen_tls"));
	else if (conf_has_proxy_listener(ctx.conf) && ctx.conf->proxy_network_count == 0)
		conf_msg(error_r, "%s:%u: a proxy_protocol listener needs proxy_networks (the "
			 "load balancers' addresses)", path,
			 conf_first_line(&ctx, "server", "listen", "listen_tls"));
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
	if (conf->upstream != NULL)
		conf_upstream_clear(conf->upstream);
	free(conf->upstream);
	for (i = 0; i < conf->route_count; i++)
		conf_upstream_clear(&conf->routes[i]);
	free(conf->routes);
	conf_device_free(conf);
	free(conf->metrics_host);
	free(conf->enrol_host);
	conf_free_strings(conf, CONF_SCOPE_MAIN);
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
