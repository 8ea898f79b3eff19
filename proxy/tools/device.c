/*
 * popgate device list|show|reset|forget|unlock: an administrator's view of
 * and changes to one account's devices, in the Redis the daemon uses
 * ([cache] url; for url = auto the running daemon's private redis-server,
 * by its socket in state_dir: never a second server on the same data).
 * Each change is one script of cache_admin.h, refused while the device's
 * lock exists unless --force.
 */

#include "device_tool.h"
#include "device_view.h"

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
#include "cache_key.h"
#include "conf.h"
#include "conf_folders.h"
#include "pop3_parse.h"
#include "profile.h"

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
	const struct conf_profile *p = dev_profile(r, r->device);
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
	const struct conf_profile *p = dev_profile(r, r->device);
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
	printf("\n");
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
			 (json_int_t)pop3_profile_done_age(dev_profile(r, r->device)));
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
	else if (pop3_profile_done_age(dev_profile(r, r->device)) == 0 && dev_counts(r, d))
		printf("counts:         yes (a message is done only once this device has it)\n");
	else if (dev_counts(r, d))
		printf("counts:         yes (a message is done once this device has it, or once "
		       "it is more than %s old: max_age)\n",
		       pop3_profile_duration(pop3_profile_done_age(dev_profile(r, r->device)), true, age,
					     sizeof(age)));
	else
		printf("counts:         no (not seen for forget_after = %s)\n",
		       pop3_profile_duration(c->retention_forget_after_secs, false, age, sizeof(age)));
}

static const char *dev_starts_text(const struct dev_run *r, uint32_t first_uidnext)
{
	if (first_uidnext <= 1)
		return "the whole mailbox";
	return dev_profile(r, r->device)->new_device_sees == CONF_NEW_DEVICE_NEW ?
		"messages from that UID on (new_device_sees = new)" :
		"the whole mailbox (new_device_sees = all)";
}

static const struct cache_admin_device dev_none = { .lock_ttl_ms = -1 };

static json_t *dev_json_view(const struct dev_view *v)
{
	json_t *a = json_array();

	for (size_t i = 0; i < v->n; i++) {
		const struct dev_folder *f = &v->f[i];
		json_t *j = dev_json_device(f->d != NULL ? f->d : &dev_none);

		json_object_del(j, "device");
		json_object_set_new(j, "folder", json_string(f->name));
		json_object_set_new(j, "account", json_string(f->account));
		json_object_set_new(j, "known", json_boolean(f->d != NULL));
		json_object_set_new(j, "hidden_all", json_integer((json_int_t)f->rep.info.hidden_all));
		if (f->chg.st == CACHE_OK && f->chg.info.n > 0)
			json_object_set_new(j, "changed", json_true());
		json_array_append_new(a, j);
	}
	return a;
}

/* ---- the answers ---- */

static void dev_print_folders(const struct dev_view *v)
{
	if (v->n < 2)
		return;
	printf("state per folder:\n");
	for (size_t i = 0; i < v->n; i++) {
		const struct cache_admin_device *d = v->f[i].d;
		char lock[40];

		if (d == NULL) {
			printf("  %s: nothing stored\n", v->f[i].name);
			continue;
		}
		dev_lock_text(d, lock, sizeof(lock));
		printf("  %s: %s, first_uidnext %u, hidden %llu, hidden for all %llu, lock %s\n",
		       v->f[i].name, d->registered ? "registered" : "not registered",
		       d->first_uidnext, (unsigned long long)d->hidden,
		       (unsigned long long)v->f[i].rep.info.hidden_all, lock);
	}
}

static void dev_list_row(const char *name, const char *seen, const struct cache_admin_device *d)
{
	char lock[40];

	if (d == NULL) {
		printf("%-32s  %-23s  %13s  %8s  %s\n", name, "", "-", "-", "-");
		return;
	}
	dev_lock_text(d, lock, sizeof(lock));
	printf("%-32s  %-23s  %13u  %8llu  %s\n", name, seen, d->first_uidnext,
	       (unsigned long long)d->hidden, lock);
}

/* Every device of the account, each with its folders. */
static int dev_list(struct dev_run *r, const struct cache_admin_info *info)
{
	json_t *arr = r->json ? json_array() : NULL;

	if (!r->json) {
		printf("account %s: %zu device%s, %llu hidden for all\n", r->acct.account, info->n,
		       info->n == 1 ? "" : "s", (unsigned long long)info->hidden_all);
		if (info->n > 0)
			printf("%-32s  %-23s  %13s  %8s  %s\n", "DEVICE", "FIRST SEEN",
			       "FIRST_UIDNEXT", "HIDDEN", "LOCK");
	}
	for (size_t i = 0; i < info->n; i++) {
		const struct cache_admin_device *d = &info->devices[i];
		struct dev_view *v = calloc(1, sizeof(*v));
		char seen[40];

		if (v == NULL || dev_gather(r, d->name, d, v) < 0) {
			dev_view_free(&v);
			json_decref(arr);
			return DEV_EXIT_FAIL;
		}
		if (r->json) {
			json_t *j = dev_json_device(d);

			json_object_set_new(j, "hidden_total", json_integer((json_int_t)
									    dev_view_hidden(v)));
			json_object_set_new(j, "folders", dev_json_view(v));
			json_array_append_new(arr, j);
		} else {
			dev_time(d->first_seen, seen, sizeof(seen));
			dev_list_row(d->name, seen, d);
			for (size_t k = 1; k < v->n; k++) {
				char name[300];

				snprintf(name, sizeof(name), "  + %s", v->f[k].name);
				dev_list_row(name, "", v->f[k].d);
			}
		}
		dev_view_free(&v);
	}
	if (r->json)
		dev_json_print(json_pack("{s:s, s:s, s:I, s:I, s:o}", "address", r->user,
					 "account", r->acct.account,
					 "uidvalidity", (json_int_t)info->uidvalidity,
					 "hidden_all", (json_int_t)info->hidden_all, "devices", arr));
	return DEV_EXIT_OK;
}

static void dev_print_show(struct dev_run *r, const struct dev_view *v)
{
	const struct cache_admin_info *info = &v->f[0].rep.info;
	struct cache_admin_device none = dev_none;
	const struct cache_admin_device *d = v->f[0].d;
	const struct dev_folder *held = dev_view_locked(v);
	char seen[40], lock[40], hidden[1200];

	if (d == NULL) {
		snprintf(none.name, sizeof(none.name), "%s", r->device);
		d = &none;
	}
	if (r->json) {
		json_t *j = dev_json_device(d);

		json_object_set_new(j, "address", json_string(r->user));
		json_object_set_new(j, "account", json_string(r->acct.account));
		json_object_set_new(j, "hidden_all", json_integer((json_int_t)info->hidden_all));
		json_object_set_new(j, "uidvalidity", json_integer((json_int_t)info->uidvalidity));
		json_object_set_new(j, "hidden_total", json_integer((json_int_t)dev_view_hidden(v)));
		json_object_set_new(j, "locked_any", json_boolean(held != NULL));
		json_object_set_new(j, "folders", dev_json_view(v));
		json_object_set_new(j, "profile", dev_json_profile(r));
		json_object_set_new(j, "retention", dev_json_retention(r, d));
		dev_json_print(j);
		return;
	}
	dev_time(d->first_seen, seen, sizeof(seen));
	printf("account:        %s\n", r->acct.account);
	printf("device:         %s%s\n", d->name, d->registered ? "" : " (not registered yet)");
	if (d->registered) {
		printf("first seen:     %s\n", seen);
		printf("first_uidnext:  %u: lists %s\n", d->first_uidnext,
		       dev_starts_text(r, d->first_uidnext));
	}
	dev_view_hidden_text(v, false, hidden, sizeof(hidden));
	if (v->n > 1)
		printf("hidden:         %llu (%s)\n", (unsigned long long)dev_view_hidden(v), hidden);
	else
		printf("hidden:         %llu\n", (unsigned long long)d->hidden);
	printf("hidden for all: %llu\n", (unsigned long long)info->hidden_all);
	if (held != NULL)
		dev_lock_text(held->d, lock, sizeof(lock));
	printf("lock:           %s%s%s\n", held != NULL ? lock : "none",
	       held != NULL && v->n > 1 ? " in " : "", held != NULL && v->n > 1 ? held->name : "");
	dev_print_folders(v);
	dev_print_profile(r);
	dev_print_retention(r, d);
}

static void dev_print_change(struct dev_run *r, const struct dev_view *v)
{
	const struct dev_folder *held = dev_view_locked(v);
	bool was_locked = held != NULL;
	uint64_t hidden = 0;
	char each[1200];

	for (size_t i = 0; i < v->n; i++) {
		const struct dev_reply *c = &v->f[i].chg;

		hidden += c->st == CACHE_OK && c->info.n > 0 ? c->info.devices[0].hidden : 0;
	}
	if (r->json) {
		const struct cache_admin_device *d = v->f[0].chg.info.n > 0 ?
			&v->f[0].chg.info.devices[0] : v->f[0].d != NULL ? v->f[0].d : &dev_none;

		dev_json_print(json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:I, s:o, s:o}",
					 "address", r->user, "account", r->acct.account,
					 "device", r->device, "action", r->verb, "done", true,
					 "was_locked", was_locked, "hidden_total", (json_int_t)hidden,
					 "before", dev_json_device(d), "folders", dev_json_view(v)));
		return;
	}
	dev_view_hidden_text(v, true, each, sizeof(each));
	if (strcmp(r->verb, "reset") == 0)
		printf("%s#%s: reset: %llu hidden entries removed%s%s%s, first_uidnext 1: it lists "
		       "the whole %s at its next login%s\n", r->user, r->device,
		       (unsigned long long)hidden, v->n > 1 ? " (" : "", v->n > 1 ? each : "",
		       v->n > 1 ? ")" : "", v->n > 1 ? "maildrop, every folder" : "mailbox",
		       was_locked ? " (its lock was removed)" : "");
	else if (strcmp(r->verb, "forget") == 0)
		printf("%s#%s: forgotten (registration, %llu hidden entries%s%s%s%s removed%s)\n",
		       r->user, r->device, (unsigned long long)hidden, v->n > 1 ? " (" : "",
		       v->n > 1 ? each : "", v->n > 1 ? ")" : "", was_locked ? " and lock" : "",
		       v->n > 1 ? " in every folder" : "");
	else
		printf("%s#%s: %s\n", r->user, r->device, !was_locked ? "was not locked" :
		       v->n > 1 ? "unlocked in every folder" : "unlocked");
}

/* reset, forget, unlock: refused while a folder has the device's lock
   (unless --force); else made in each folder that knows the device, the
   other folders first and the first folder last: a login takes the
   first folder's lock before any other, so a session that starts
   meanwhile is refused there, and what was done then is said. */
static int dev_change(struct dev_run *r, struct dev_view *v)
{
	const struct dev_folder *held = dev_view_locked(v);
	int op = strcmp(r->verb, "reset") == 0 ? CACHE_ADMIN_RESET :
		strcmp(r->verb, "forget") == 0 ? CACHE_ADMIN_FORGET : CACHE_ADMIN_UNLOCK;
	char done[1200] = "";
	size_t used = 0;

	if (held != NULL && !r->force) {
		char lock[40];

		dev_lock_text(held->d, lock, sizeof(lock));
		fprintf(stderr, "popgate device %s: %s#%s has a live session (lock %s%s%s); nothing "
			"changed. Try again once it ends, or give --force: that session's QUIT "
			"then answers -ERR and applies nothing\n", r->verb, r->user, r->device, lock,
			v->n > 1 ? " in " : "", v->n > 1 ? held->name : "");
		return DEV_EXIT_IN_USE;
	}
	for (size_t k = 0; k < v->n; k++) {
		struct dev_folder *f = &v->f[(k + 1) % v->n];
		enum cache_status st;

		if (f->d == NULL)
			continue;
		st = dev_call(r, f->account, r->device, op, &f->chg);
		if (st == CACHE_OK) {
			if (used < sizeof(done))
				used += (size_t)snprintf(done + used, sizeof(done) - used, "%s%s",
							 used > 0 ? ", " : "", f->name);
			continue;
		}
		if (st == CACHE_IN_USE)
			fprintf(stderr, "popgate device %s: %s#%s: a session took the device's lock in "
				"%s meanwhile: not changed there%s%s; run it again once the session "
				"ends, or give --force\n", r->verb, r->user, r->device, f->name,
				used > 0 ? "; changed already in: " : "", done);
		else {
			dev_store_failed(r, f->name, st);
			if (used > 0)
				fprintf(stderr, "popgate device %s: changed already in: %s; run it "
					"again\n", r->verb, done);
		}
		return st == CACHE_IN_USE ? DEV_EXIT_IN_USE : DEV_EXIT_FAIL;
	}
	dev_print_change(r, v);
	return DEV_EXIT_OK;
}

static int dev_run_verb(struct dev_run *r)
{
	struct dev_view *v;
	struct dev_reply all = { 0 };
	enum cache_status st;
	int status;

	if (r->all) {
		st = dev_call(r, r->acct.account, NULL, DEV_INFO, &all);
		status = st != CACHE_OK ? DEV_EXIT_FAIL : dev_list(r, &all.info);
		if (st != CACHE_OK)
			dev_store_failed(r, NULL, st);
		dev_reply_clear(&all);
		return status;
	}
	if ((v = calloc(1, sizeof(*v))) == NULL) {
		fprintf(stderr, "popgate device: out of memory\n");
		return DEV_EXIT_FAIL;
	}
	st = dev_call(r, r->acct.account, r->device, DEV_INFO, &v->f[0].rep);
	if (st != CACHE_OK) {
		dev_store_failed(r, NULL, st);
		status = DEV_EXIT_FAIL;
	} else if (dev_gather(r, r->device, v->f[0].rep.info.n > 0 ?
			      &v->f[0].rep.info.devices[0] : NULL, v) < 0) {
		status = DEV_EXIT_FAIL;
	} else if (!dev_view_known(v)) {
		fprintf(stderr, "popgate device %s: no device \"%s\" is known for %s (account %s)\n",
			r->verb, r->device, r->user, r->acct.account);
		status = DEV_EXIT_FAIL;
	} else if (strcmp(r->verb, "show") == 0) {
		dev_print_show(r, v);
		status = DEV_EXIT_OK;
	} else {
		status = dev_change(r, v);
	}
	dev_view_free(&v);
	return status;
}

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
	char *error = NULL;
	int status;

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
	r->cache = cache_new(r->base, &set, &error);
	if (r->cache == NULL) {
		fprintf(stderr, "popgate device: [cache]: %s\n", error != NULL ? error : "out of memory");
		free(error);
		event_base_free(r->base);
		return DEV_EXIT_FAIL;
	}
	status = dev_run_verb(r);
	cache_free(&r->cache);
	event_base_free(r->base);
	return status;
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
