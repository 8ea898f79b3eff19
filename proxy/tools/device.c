/*
 * popgate device list|show|reset|forget|unlock: an administrator's view of
 * and changes to one account's devices, in the Redis the daemon uses
 * ([cache] url; for url = auto the running daemon's private redis-server,
 * by its socket in state_dir: never a second server on the same data).
 * Each change is one script of cache_admin.h, refused while the device's
 * lock exists unless --force.
 */

#include "device_tool.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "pop3_account.h"
#include "cache.h"
#include "cache_admin.h"
#include "conf.h"
#include "pop3_parse.h"
#include "profile.h"

/* Exit statuses. */
#define DEV_EXIT_OK 0
#define DEV_EXIT_FAIL 1       /* unknown device or domain, Redis unavailable */
#define DEV_EXIT_USAGE 2
#define DEV_EXIT_IN_USE 3     /* a session holds the device's lock */

struct dev_run {
	const char *verb;
	bool json, force;
	const struct conf *conf;
	char device[POP3_DEVICE_MAX + 1];
	bool all;                  /* list */
	struct pop3_account acct;
	char *user;                /* the address, NUL-terminated */
	struct event_base *base;
	int status;
};

static void dev_usage(FILE *out)
{
	fprintf(out,
		"usage: popgate device list ADDRESS [-c FILE] [--json]\n"
		"       popgate device show|reset|forget|unlock ADDRESS#DEVICE [-c FILE] [--json] "
		"[--force]\n");
}

static void dev_log_hook(void *ctx, enum cache_log_level level, const char *line)
{
	(void)ctx;
	if (level <= CACHE_LOG_WARN)
		fprintf(stderr, "popgate device: %s\n", line);
}

/* For url = auto: the daemon's socket, which must answer; -1 (said why)
   if no daemon runs there. */
static int dev_auto_url(const struct conf *conf, char *url, size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, ok;

	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/redis.sock",
			     conf->cache_state_dir) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "popgate device: state_dir %s is too long\n", conf->cache_state_dir);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	if (!ok) {
		fprintf(stderr, "popgate device: popgate is not running: its redis-server does not "
			"answer on %s (%s); [cache] url = auto keeps the device state in the "
			"daemon's own redis-server, so start popgate first\n", sun.sun_path,
			strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	if (!ok)
		return -1;
	snprintf(url, size, "unix:%s", sun.sun_path);
	return 0;
}

static void dev_time(uint64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "%llu", (unsigned long long)t);
}

static void dev_lock_text(const struct cache_admin_device *d, char *buf, size_t size)
{
	if (d->lock_ttl_ms == -1)
		snprintf(buf, size, "none");
	else if (d->lock_ttl_ms == -2)
		snprintf(buf, size, "held, no expiry");
	else
		snprintf(buf, size, "held, %lld s left", (long long)((d->lock_ttl_ms + 999) / 1000));
}

static json_t *dev_json_device(const struct cache_admin_device *d)
{
	char seen[40];

	dev_time(d->first_seen, seen, sizeof(seen));
	return json_pack("{s:s, s:b, s:I, s:I, s:s, s:I, s:b, s:I}",
			 "device", d->name, "registered", d->registered,
			 "first_uidnext", (json_int_t)d->first_uidnext,
			 "first_seen", (json_int_t)d->first_seen, "first_seen_utc", seen,
			 "hidden", (json_int_t)d->hidden, "locked", d->lock_ttl_ms != -1,
			 "lock_ttl_secs", (json_int_t)(d->lock_ttl_ms < 0 ? d->lock_ttl_ms :
						       (d->lock_ttl_ms + 999) / 1000));
}

static void dev_json_print(json_t *j)
{
	if (j == NULL || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
		fprintf(stderr, "popgate device: out of memory\n");
		json_decref(j);
		exit(DEV_EXIT_FAIL);
	}
	fputc('\n', stdout);
	json_decref(j);
}

/* The device's profile, as a login of it finds it. */
static const struct conf_profile *dev_profile(const struct dev_run *r)
{
	return conf_profile_find(r->conf, r->device, r->user, strlen(r->user));
}

/* The maildrop's folders in order (the route's mailbox alone without
   folders = ...), as the profile names them. */
static json_t *dev_json_folders(const struct dev_run *r, const struct conf_profile *p)
{
	json_t *a = json_array();

	if (p->folder_count == 0)
		json_array_append_new(a, json_string(r->acct.route->mailbox));
	for (unsigned int i = 0; i < p->folder_count; i++)
		json_array_append_new(a, json_string(p->folders[i]));
	return a;
}

static json_t *dev_json_profile(const struct dev_run *r)
{
	const struct conf_profile *p = dev_profile(r);
	char rule[160], section[CONF_PATTERN_MAX + 16];
	json_t *j;

	if (p->pattern != NULL)
		snprintf(section, sizeof(section), "[device %s]", p->pattern);
	else
		snprintf(section, sizeof(section), "[policy]");
	j = json_pack("{s:s, s:s?, s:s?, s:I, s:s, s:I, s:s, s:s, s:s, s:b}",
		      "section", section, "pattern", p->pattern, "account", p->account,
		      "line", (json_int_t)p->line, "show", conf_show_name(p->show),
		      "max_age_secs", (json_int_t)p->max_age_secs,
		      "rule", pop3_profile_rule(p, rule, sizeof(rule)),
		      "delete_action", conf_delete_action_name(p->delete_action),
		      "new_device_sees", conf_new_device_name(p->new_device_sees),
		      "mark_seen_on_retr", p->mark_seen_on_retr);
	if (j != NULL)
		json_object_set_new(j, "folders", dev_json_folders(r, p));
	return j;
}

static void dev_print_profile(const struct dev_run *r)
{
	const struct conf_profile *p = dev_profile(r);
	char rule[160];

	if (p->pattern != NULL)
		printf("profile:        [device %s]%s%s (%s line %u)\n", p->pattern,
		       p->account != NULL ? " account = " : "", p->account != NULL ? p->account : "",
		       r->conf->path, p->line);
	else
		printf("profile:        [policy] (no [device] section matches)\n");
	printf("folders:        ");
	if (p->folder_count == 0)
		printf("%s", r->acct.route->mailbox);
	for (unsigned int i = 0; i < p->folder_count; i++)
		printf("%s%s", i > 0 ? ", " : "", p->folders[i]);
	printf("%s\n", p->folder_count > 1 ? " (the state below is the first folder's)" : "");
	printf("lists:          %s, not hidden, from first_uidnext on\n",
	       pop3_profile_rule(p, rule, sizeof(rule)));
	printf("delete_action:  %s\n", conf_delete_action_name(p->delete_action));
	printf("new_device_sees: %s\n", conf_new_device_name(p->new_device_sees));
	printf("mark_seen_on_retr: %s\n", p->mark_seen_on_retr ? "yes" : "no");
}

/* Whether the device counts for retention now: as the pass decides
   (cache_retention.c), by its last QUIT, else its registration. */
static bool dev_counts(const struct dev_run *r, const struct cache_admin_device *d)
{
	uint64_t last = d->last_quit != 0 ? d->last_quit : d->first_seen;
	uint64_t now = (uint64_t)time(NULL);

	return r->conf->retention_forget_after_secs == 0 || last >= now ||
		now - last <= r->conf->retention_forget_after_secs;
}

static json_t *dev_json_retention(const struct dev_run *r, const struct cache_admin_device *d)
{
	const struct conf *c = r->conf;
	bool on = c->retention_when != CONF_RETENTION_OFF;

	return json_pack("{s:s, s:s, s:I, s:I, s:b, s:I, s:I, s:b, s:I}",
			 "when", on ? "all-devices-done" : "off",
			 "action", c->retention_action == CONF_RETENTION_EXPUNGE ? "expunge" : "trash",
			 "min_age_secs", (json_int_t)c->retention_min_age_secs,
			 "forget_after_secs", (json_int_t)c->retention_forget_after_secs,
			 "dry_run", c->retention_dry_run, "retrieved", (json_int_t)d->retrieved,
			 "last_quit", (json_int_t)d->last_quit,
			 "counts", d->registered && dev_counts(r, d),
			 "done_after_age_secs",
			 (json_int_t)pop3_profile_done_age(dev_profile(r)));
}

static void dev_print_retention(const struct dev_run *r, const struct cache_admin_device *d)
{
	const struct conf *c = r->conf;
	char when[40], age[24];

	if (c->retention_when == CONF_RETENTION_OFF)
		printf("retention:      off\n");
	else
		printf("retention:      all-devices-done, action %s, min_age %s%s\n",
		       c->retention_action == CONF_RETENTION_EXPUNGE ? "expunge" : "trash",
		       pop3_profile_duration(c->retention_min_age_secs, false, age, sizeof(age)),
		       c->retention_dry_run ? " (dry run)" : "");
	if (d->last_quit != 0)
		dev_time(d->last_quit, when, sizeof(when));
	printf("last QUIT:      %s\n", d->last_quit != 0 ? when : "none yet");
	printf("retrieved:      %llu recorded for retention\n", (unsigned long long)d->retrieved);
	if (!d->registered)
		printf("counts:         no (not registered)\n");
	else if (pop3_profile_done_age(dev_profile(r)) == 0 && dev_counts(r, d))
		printf("counts:         yes (a message is done only once this device has it)\n");
	else if (dev_counts(r, d))
		printf("counts:         yes (a message is done once this device has it, or once "
		       "it is more than %s old: max_age)\n",
		       pop3_profile_duration(pop3_profile_done_age(dev_profile(r)), true, age,
					     sizeof(age)));
	else
		printf("counts:         no (not seen for forget_after = %s)\n",
		       pop3_profile_duration(c->retention_forget_after_secs, false, age, sizeof(age)));
}

static const char *dev_starts_text(const struct dev_run *r, uint32_t first_uidnext)
{
	if (first_uidnext <= 1)
		return "the whole mailbox";
	return dev_profile(r)->new_device_sees == CONF_NEW_DEVICE_NEW ?
		"messages from that UID on (new_device_sees = new)" :
		"the whole mailbox (new_device_sees = all)";
}

static void dev_print_list(struct dev_run *r, const struct cache_admin_info *info)
{
	if (r->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < info->n; i++)
			json_array_append_new(arr, dev_json_device(&info->devices[i]));
		dev_json_print(json_pack("{s:s, s:s, s:I, s:I, s:o}", "address", r->user,
					 "account", r->acct.account,
					 "uidvalidity", (json_int_t)info->uidvalidity,
					 "hidden_all", (json_int_t)info->hidden_all, "devices", arr));
		return;
	}
	printf("account %s: %zu device%s, %llu hidden for all\n", r->acct.account, info->n,
	       info->n == 1 ? "" : "s", (unsigned long long)info->hidden_all);
	if (info->n > 0)
		printf("%-32s  %-23s  %13s  %8s  %s\n", "DEVICE", "FIRST SEEN", "FIRST_UIDNEXT",
		       "HIDDEN", "LOCK");
	for (size_t i = 0; i < info->n; i++) {
		const struct cache_admin_device *d = &info->devices[i];
		char seen[40], lock[40];

		dev_time(d->first_seen, seen, sizeof(seen));
		dev_lock_text(d, lock, sizeof(lock));
		printf("%-32s  %-23s  %13u  %8llu  %s\n", d->name, seen, d->first_uidnext,
		       (unsigned long long)d->hidden, lock);
	}
}

static void dev_print_show(struct dev_run *r, const struct cache_admin_info *info)
{
	const struct cache_admin_device *d = &info->devices[0];
	char seen[40], lock[40];

	if (r->json) {
		json_t *j = dev_json_device(d);

		json_object_set_new(j, "address", json_string(r->user));
		json_object_set_new(j, "account", json_string(r->acct.account));
		json_object_set_new(j, "hidden_all", json_integer((json_int_t)info->hidden_all));
		json_object_set_new(j, "uidvalidity", json_integer((json_int_t)info->uidvalidity));
		json_object_set_new(j, "profile", dev_json_profile(r));
		json_object_set_new(j, "retention", dev_json_retention(r, d));
		dev_json_print(j);
		return;
	}
	dev_time(d->first_seen, seen, sizeof(seen));
	dev_lock_text(d, lock, sizeof(lock));
	printf("account:        %s\n", r->acct.account);
	printf("device:         %s%s\n", d->name, d->registered ? "" : " (not registered yet)");
	if (d->registered) {
		printf("first seen:     %s\n", seen);
		printf("first_uidnext:  %u: lists %s\n", d->first_uidnext,
		       dev_starts_text(r, d->first_uidnext));
	}
	printf("hidden:         %llu\n", (unsigned long long)d->hidden);
	printf("hidden for all: %llu\n", (unsigned long long)info->hidden_all);
	printf("lock:           %s\n", lock);
	dev_print_profile(r);
	dev_print_retention(r, d);
}

static void dev_print_change(struct dev_run *r, const struct cache_admin_info *info)
{
	const struct cache_admin_device *d = &info->devices[0];
	bool was_locked = d->lock_ttl_ms != -1;

	if (r->json) {
		dev_json_print(json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:o}", "address", r->user,
					 "account", r->acct.account, "device", d->name,
					 "action", r->verb, "done", true, "was_locked", was_locked,
					 "before", dev_json_device(d)));
		return;
	}
	if (strcmp(r->verb, "reset") == 0)
		printf("%s#%s: reset: %llu hidden entries removed, first_uidnext 1: it lists the "
		       "whole mailbox at its next login%s\n", r->user, d->name,
		       (unsigned long long)d->hidden, was_locked ? " (its lock was removed)" : "");
	else if (strcmp(r->verb, "forget") == 0)
		printf("%s#%s: forgotten (registration, %llu hidden entries%s removed)\n", r->user,
		       d->name, (unsigned long long)d->hidden, was_locked ? " and lock" : "");
	else
		printf("%s#%s: %s\n", r->user, d->name, was_locked ? "unlocked" : "was not locked");
}

static void dev_done(void *ctx, enum cache_status st, const struct cache_admin_info *info)
{
	struct dev_run *r = ctx;

	event_base_loopbreak(r->base);
	if (st == CACHE_IN_USE && info != NULL && info->n == 1) {
		char lock[40];

		dev_lock_text(&info->devices[0], lock, sizeof(lock));
		fprintf(stderr, "popgate device %s: %s#%s has a live session (lock %s); nothing "
			"changed. Try again once it ends, or give --force: that session's QUIT "
			"then answers -ERR and applies nothing\n", r->verb, r->user, r->device, lock);
		r->status = DEV_EXIT_IN_USE;
		return;
	}
	if (st != CACHE_OK || info == NULL) {
		fprintf(stderr, "popgate device %s: the state store answered: %s%s\n", r->verb,
			cache_status_name(st), st == CACHE_UNAVAILABLE ?
			" (for a change: it may or may not have been applied; look with show)" : "");
		r->status = DEV_EXIT_FAIL;
		return;
	}
	if (!r->all && info->n == 0) {
		fprintf(stderr, "popgate device %s: no device \"%s\" is known for %s (account %s)\n",
			r->verb, r->device, r->user, r->acct.account);
		r->status = DEV_EXIT_FAIL;
		return;
	}
	if (r->all)
		dev_print_list(r, info);
	else if (strcmp(r->verb, "show") == 0)
		dev_print_show(r, info);
	else
		dev_print_change(r, info);
	r->status = DEV_EXIT_OK;
}

/* The account and device of the target; -1 (said why) if none. */
static int dev_target(struct dev_run *r, const char *target)
{
	size_t user_len;
	const char *error;

	if (pop3_split_device(target, strlen(target), r->conf->device_separator, &user_len,
			      r->device, &error) < 0) {
		fprintf(stderr, "popgate device %s: %s: %s\n", r->verb, target, error);
		return -1;
	}
	r->user = strndup(target, user_len);
	if (r->user == NULL)
		return -1;
	switch (pop3_account_find(r->conf, r->user, user_len, &r->acct)) {
	case POP3_ACCOUNT_OK:
		return 0;
	case POP3_ACCOUNT_NO_DOMAIN:
		fprintf(stderr, "popgate device %s: give the full address (user@domain)\n", r->verb);
		return -1;
	case POP3_ACCOUNT_NO_ROUTE:
		fprintf(stderr, "popgate device %s: no mail server is configured for the domain "
			"\"%.*s\" (no [route] and no [upstream])\n", r->verb,
			(int)r->acct.domain_len, r->acct.domain);
		return -1;
	case POP3_ACCOUNT_EMPTY:
		fprintf(stderr, "popgate device %s: empty user name\n", r->verb);
		return -1;
	case POP3_ACCOUNT_TOO_LONG:
		break;
	}
	fprintf(stderr, "popgate device %s: address too long\n", r->verb);
	return -1;
}

static int dev_run_request(struct dev_run *r)
{
	char url[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	struct cache_settings set = {
		.url = r->conf->cache_url,
		.password = r->conf->cache_password,
		.timeout_ms = r->conf->cache_timeout_ms,
		.replicas = r->conf->cache_replicas,
		.hooks = { .log = dev_log_hook },
	};
	struct cache *c;
	struct cache_req *req;
	char *error = NULL;

	if (strcmp(r->conf->cache_url, "auto") == 0) {
		if (dev_auto_url(r->conf, url, sizeof(url)) < 0)
			return DEV_EXIT_FAIL;
		set.url = url;
		set.replicas = 0;
	}
	signal(SIGPIPE, SIG_IGN);
	r->base = event_base_new();
	if (r->base == NULL)
		return DEV_EXIT_FAIL;
	c = cache_new(r->base, &set, &error);
	if (c == NULL) {
		fprintf(stderr, "popgate device: [cache]: %s\n", error != NULL ? error : "out of memory");
		free(error);
		event_base_free(r->base);
		return DEV_EXIT_FAIL;
	}
	r->status = DEV_EXIT_FAIL;
	if (strcmp(r->verb, "list") == 0 || strcmp(r->verb, "show") == 0)
		req = cache_admin_info(c, r->acct.account, r->all ? NULL : r->device, dev_done, r);
	else
		req = cache_admin_change(c, r->acct.account, r->device,
					 strcmp(r->verb, "reset") == 0 ? CACHE_ADMIN_RESET :
					 strcmp(r->verb, "forget") == 0 ? CACHE_ADMIN_FORGET :
					 CACHE_ADMIN_UNLOCK, r->force, dev_done, r);
	if (req == NULL)
		fprintf(stderr, "popgate device: out of memory\n");
	else
		event_base_dispatch(r->base);
	cache_free(&c);
	event_base_free(r->base);
	return r->status;
}

int device_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const verbs[] = { "list", "show", "reset", "forget", "unlock" };
	const char *config = CONF_DEFAULT_PATH;
	struct dev_run r = { 0 };
	struct conf *conf = NULL;
	char *error = NULL;
	bool known = false;
	int opt, status;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'j':
			r.json = true;
			break;
		case 'f':
			r.force = true;
			break;
		case 'h':
			dev_usage(stdout);
			return DEV_EXIT_OK;
		default:
			dev_usage(stderr);
			return DEV_EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		dev_usage(stderr);
		return DEV_EXIT_USAGE;
	}
	r.verb = argv[optind];
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		known |= strcmp(r.verb, verbs[i]) == 0;
	if (!known || (r.force && (strcmp(r.verb, "list") == 0 || strcmp(r.verb, "show") == 0))) {
		dev_usage(stderr);
		return DEV_EXIT_USAGE;
	}
	r.all = strcmp(r.verb, "list") == 0;
	if (conf_load(config, &conf, &error) < 0) {
		fprintf(stderr, "popgate device: %s\n", error != NULL ? error : "out of memory");
		free(error);
		return DEV_EXIT_FAIL;
	}
	r.conf = conf;
	status = dev_target(&r, argv[optind + 1]) < 0 ? DEV_EXIT_FAIL : dev_run_request(&r);
	free(r.user);
	conf_free(&conf);
	return status;
}
