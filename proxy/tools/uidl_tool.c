/*
 * popgate uidl import --from-file FILE [-c CONFIG]
 * popgate uidl import --route DOMAIN --user ADDRESS [--password-file FILE]
 *                    [-c CONFIG]
 * popgate uidl show ADDRESS [-c CONFIG]
 *
 * import: a dump made on the legacy POP3 server, one line per message,
 * "<address> <uidl> <message-id> <size>". The whole file is checked first
 * (nothing is written when a line is wrong or an address has no route),
 * then each account's UIDLs are stored in one atomic write, replacing an
 * earlier import of that account. They are taken at the account's next
 * login, by Message-ID (and size, when several share one), by the
 * messages that have no UIDL yet; a message that has one keeps it.
 *
 * import --route: from the route's legacy POP3 server, as a first login
 * would (uidl_legacy.h).
 *
 * show: the account's UIDL map (uid, UIDL, fingerprint) and what is left
 * of its import.
 *
 * Both talk to the daemon's Redis: with cache = auto, the daemon must be
 * running (its redis-server's socket in state_dir).
 */

#include "tools.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cache.h"
#include "conf.h"
#include "uidl.h"
#include "uidl_legacy.h"

struct uidl_tool_account {
	char account[CACHE_ACCOUNT_MAX + 1];
	char address[UIDL_DUMP_ADDRESS_MAX + 1];
	struct uidl_dump_line *lines;
	struct cache_uidl_legacy_entry *entries;
	size_t n, cap;
};

struct uidl_tool {
	struct event_base *base;
	struct cache *cache;
	bool done;
	enum cache_status st;
	const char *address;
};

/* The account an address's state lives under, as the login builds it. */
static int uidl_tool_account_of(const struct conf *conf, const char *address, char *buf,
				size_t size)
{
	const char *at = strrchr(address, '@');
	const struct conf_upstream *up;
	size_t user_len = strlen(address);

	up = conf_route(conf, at != NULL ? at + 1 : NULL, at != NULL ? strlen(at + 1) : 0);
	if (up == NULL)
		return -1;
	if (up->login_name == CONF_LOGIN_LOCAL_PART && at != NULL)
		user_len = (size_t)(at - address);
	return cache_account_name(buf, size, address, user_len, up->host, up->port,
				  up->mailbox) > 0 ? 0 : -1;
}

static struct cache *uidl_tool_cache(struct event_base *base, const struct conf *conf)
{
	char url[4200], *error = NULL;
	struct cache_settings set = {
		.url = conf->cache_url, .password = conf->cache_password,
		.state_dir = conf->cache_state_dir, .timeout_ms = conf->cache_timeout_ms,
	};
	struct cache *c;

	/* The daemon's own redis-server, not a second one. */
	if (strcmp(conf->cache_url, "auto") == 0) {
		snprintf(url, sizeof(url), "unix:%s/redis.sock", conf->cache_state_dir);
		set.url = url;
	}
	c = cache_new(base, &set, &error);
	if (c == NULL) {
		fprintf(stderr, "popgate uidl: %s\n", error != NULL ? error : "out of memory");
		free(error);
	}
	return c;
}

static void uidl_tool_status(void *ctx, enum cache_status st)
{
	struct uidl_tool *t = ctx;

	t->st = st;
	t->done = true;
}

static int uidl_tool_wait(struct uidl_tool *t)
{
	while (!t->done)
		event_base_loop(t->base, EVLOOP_ONCE);
	t->done = false;
	return t->st == CACHE_OK ? 0 : -1;
}

static struct uidl_tool_account *uidl_tool_find(struct uidl_tool_account **accts, size_t *n,
						const char *account, const char *address)
{
	struct uidl_tool_account *a;

	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*accts)[i].account, account) == 0)
			return &(*accts)[i];
	}
	a = realloc(*accts, (*n + 1) * sizeof(**accts));
	if (a == NULL)
		return NULL;
	*accts = a;
	a = &a[(*n)++];
	memset(a, 0, sizeof(*a));
	snprintf(a->account, sizeof(a->account), "%s", account);
	snprintf(a->address, sizeof(a->address), "%s", address);
	return a;
}

/* Adds a line, unless it repeats one: the first of a Message-ID and size
   wins (and is reported). */
static int uidl_tool_add(struct uidl_tool_account *a, const struct uidl_dump_line *l,
			 const char *path, unsigned int lineno)
{
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->lines[i].message_id, l->message_id) == 0 && a->lines[i].size == l->size) {
			fprintf(stderr, "%s:%u: %s: message %s of %llu octets given twice: "
				"keeping UIDL %s, not %s\n", path, lineno, a->address, l->message_id,
				(unsigned long long)l->size, a->lines[i].uidl, l->uidl);
			return 0;
		}
	}
	if (a->n == a->cap) {
		size_t cap = a->cap < 64 ? 64 : a->cap * 2;
		struct uidl_dump_line *lines = realloc(a->lines, cap * sizeof(*lines));

		if (lines == NULL)
			return -1;
		a->lines = lines;
		a->cap = cap;
	}
	a->lines[a->n++] = *l;
	return 0;
}

static void uidl_tool_free(struct uidl_tool_account *accts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(accts[i].lines);
		free(accts[i].entries);
	}
	free(accts);
}

static int uidl_tool_read(const struct conf *conf, const char *path,
			  struct uidl_tool_account **accts, size_t *n)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char buf[2048], account[CACHE_ACCOUNT_MAX + 1];
	unsigned int lineno = 0;
	int ret = 0;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	while (ret == 0 && fgets(buf, sizeof(buf), f) != NULL) {
		struct uidl_dump_line l;
		struct uidl_tool_account *a;
		const char *error = "";
		size_t len = strlen(buf);
		int r;

		lineno++;
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		else if (!feof(f)) {
			fprintf(stderr, "%s:%u: line too long\n", path, lineno);
			ret = -1;
			break;
		}
		r = uidl_dump_parse(buf, len, &l, &error);
		if (r == 1)
			continue;
		if (r < 0) {
			fprintf(stderr, "%s:%u: %s\n", path, lineno, error);
			ret = -1;
		} else if (uidl_tool_account_of(conf, l.address, account, sizeof(account)) < 0) {
			fprintf(stderr, "%s:%u: %s: no route for this address\n", path, lineno,
				l.address);
			ret = -1;
		} else if ((a = uidl_tool_find(accts, n, account, l.address)) == NULL ||
			   uidl_tool_add(a, &l, path, lineno) < 0) {
			fprintf(stderr, "popgate uidl: out of memory\n");
			ret = -1;
		}
	}
	if (f != stdin)
		fclose(f);
	return ret;
}

static int uidl_tool_import(struct uidl_tool *t, const struct conf *conf, const char *path)
{
	struct uidl_tool_account *accts = NULL;
	size_t n = 0, done = 0;
	int ret = 0;

	if (uidl_tool_read(conf, path, &accts, &n) < 0) {
		fprintf(stderr, "popgate uidl import: nothing imported\n");
		uidl_tool_free(accts, n);
		return 1;
	}
	for (size_t i = 0; i < n && ret == 0; i++) {
		struct uidl_tool_account *a = &accts[i];

		a->entries = calloc(a->n, sizeof(*a->entries));
		if (a->entries == NULL) {
			fprintf(stderr, "popgate uidl import: out of memory\n");
			ret = 1;
			break;
		}
		for (size_t k = 0; k < a->n; k++)
			a->entries[k] = (struct cache_uidl_legacy_entry){
				a->lines[k].message_id, a->lines[k].size, a->lines[k].uidl,
			};
		if (cache_uidl_import(t->cache, a->account, a->entries, a->n, uidl_tool_status,
				      t) == NULL || uidl_tool_wait(t) < 0) {
			fprintf(stderr, "popgate uidl import: %s: not stored (%s)\n", a->address,
				cache_status_name(t->st));
			ret = 1;
			break;
		}
		printf("%s: %zu UIDLs imported\n", a->address, a->n);
		done++;
	}
	if (ret != 0 && done > 0)
		fprintf(stderr, "popgate uidl import: the %zu accounts above were imported, the "
			"rest not\n", done);
	uidl_tool_free(accts, n);
	return ret;
}

static void uidl_tool_shown(void *ctx, enum cache_status st, const struct cache_uidl_dump *d)
{
	struct uidl_tool *t = ctx;

	t->st = st;
	t->done = true;
	if (d == NULL)
		return;
	printf("account %s: uidvalidity %u, %zu UIDLs stored\n", t->address, d->uidvalidity,
	       d->map_n);
	for (size_t i = 0; i < d->map_n; i++) {
		const char *v = d->map[2 * i + 1], *sp = strchr(v, ' ');

		printf("uid %s uidl %s fingerprint %.*s\n", d->map[2 * i], sp != NULL ? sp + 1 : "?",
		       sp != NULL ? (int)(sp - v) : 0, v);
	}
	printf("%zu imported Message-IDs\n", d->legacy_n);
	for (size_t i = 0; i < d->legacy_n; i++)
		printf("imported %s %s\n", d->legacy[2 * i], d->legacy[2 * i + 1]);
	if (d->legacy_done[0] != '\0')
		printf("legacy import done %s\n", d->legacy_done);
	else
		printf("legacy import not done\n");
}

static int uidl_tool_show(struct uidl_tool *t, const struct conf *conf, const char *address)
{
	char account[CACHE_ACCOUNT_MAX + 1];

	if (uidl_tool_account_of(conf, address, account, sizeof(account)) < 0) {
		fprintf(stderr, "popgate uidl show: %s: no route for this address\n", address);
		return 1;
	}
	t->address = address;
	if (cache_uidl_dump(t->cache, account, uidl_tool_shown, t) == NULL ||
	    uidl_tool_wait(t) < 0) {
		fprintf(stderr, "popgate uidl show: %s\n", cache_status_name(t->st));
		return 1;
	}
	return 0;
}

static int uidl_tool_usage(void)
{
	fprintf(stderr, "usage: popgate uidl import --from-file FILE [-c CONFIG]\n"
		"       popgate uidl import --route DOMAIN --user ADDRESS "
		"[--password-file FILE] [-c CONFIG]\n"
		"         (the password: FILE's first line, else stdin's)\n"
		"       popgate uidl show ADDRESS [-c CONFIG]\n");
	return 2;
}

int popgate_uidl_tool(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from-file", required_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "route", required_argument, NULL, 'r' },
		{ "user", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = POPGATE_DEFAULT_CONFIG, *file = NULL, *what;
	const char *route = NULL, *user = NULL, *pass_file = NULL;
	struct uidl_tool t = { 0 };
	struct conf *conf = NULL;
	char *error = NULL;
	int opt, ret;

	if (argc < 2)
		return uidl_tool_usage();
	what = argv[1];
	/* getopt_long takes "--password" for "--password-file": refused by
	   name, so that no password is ever given on the command line. */
	for (int i = 2; i < argc; i++) {
		if (strncmp(argv[i], "--p", 3) == 0 && strcmp(argv[i], "--password-file") != 0 &&
		    strncmp(argv[i], "--password-file=", 16) != 0) {
			fprintf(stderr, "popgate uidl import: %s: the password is read from "
				"--password-file FILE or stdin, never from the command line\n",
				argv[i]);
			return uidl_tool_usage();
		}
	}
	optind = 2;
	while ((opt = getopt_long(argc, argv, "c:f:", longopts, NULL)) != -1) {
		if (opt == 'c')
			path = optarg;
		else if (opt == 'f')
			file = optarg;
		else if (opt == 'r')
			route = optarg;
		else if (opt == 'u')
			user = optarg;
		else if (opt == 'p')
			pass_file = optarg;
		else
			return uidl_tool_usage();
	}
	bool legacy = route != NULL || user != NULL || pass_file != NULL;

	if (!((strcmp(what, "import") == 0 && file != NULL && !legacy && optind == argc) ||
	      (strcmp(what, "import") == 0 && file == NULL && route != NULL && user != NULL &&
	       optind == argc) ||
	      (strcmp(what, "show") == 0 && file == NULL && !legacy && optind == argc - 1)))
		return uidl_tool_usage();
	if (conf_load(path, &conf, &error) < 0) {
		fprintf(stderr, "popgate uidl: %s\n", error != NULL ? error : "out of memory");
		free(error);
		return 1;
	}
	t.base = event_base_new();
	t.cache = t.base != NULL ? uidl_tool_cache(t.base, conf) : NULL;
	if (t.cache == NULL)
		ret = 1;
	else if (strcmp(what, "import") == 0 && file == NULL)
		ret = uidl_legacy_import(t.base, t.cache, conf, route, user, pass_file);
	else if (strcmp(what, "import") == 0)
		ret = uidl_tool_import(&t, conf, file);
	else
		ret = uidl_tool_show(&t, conf, argv[optind]);
	cache_free(&t.cache);
	if (t.base != NULL)
		event_base_free(t.base);
	conf_free(&conf);
	return ret;
}
