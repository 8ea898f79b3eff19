/* [device PATTERN] sections: the device profiles, their patterns and the
   lookup of a device's profile. Contracts in conf.h and conf_private.h. */

#include "conf_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool conf_is_device(const char *name, size_t len)
{
	return len > strlen(CONF_DEVICE_PREFIX) &&
		memcmp(name, CONF_DEVICE_PREFIX, strlen(CONF_DEVICE_PREFIX)) == 0;
}

int conf_device_enter(struct conf_ctx *ctx, const char *name, size_t len, char *err,
		      size_t size)
{
	struct conf *conf = ctx->conf;
	struct conf_profile *profiles, *p;
	const char *why;

	name += strlen(CONF_DEVICE_PREFIX);
	len -= strlen(CONF_DEVICE_PREFIX);
	while (len > 0 && (*name == ' ' || *name == '\t')) {
		name++;
		len--;
	}
	if (conf_glob_device_check(name, len, &why) < 0) {
		snprintf(err, size, "bad [device %.*s]: %s", (int)(len > 64 ? 64 : len), name, why);
		return -1;
	}
	if (conf->profile_count == CONF_MAX_PROFILES) {
		snprintf(err, size, "too many [device] sections (at most %u)", CONF_MAX_PROFILES);
		return -1;
	}
	profiles = realloc(conf->profiles, (conf->profile_count + 1) * sizeof(*profiles));
	if (profiles == NULL) {
		snprintf(err, size, "out of memory");
		return -1;
	}
	conf->profiles = profiles;
	p = &profiles[conf->profile_count];
	memset(p, 0, sizeof(*p));
	/* Counted at once: conf_free then frees what the defaults hold. */
	conf->profile_count++;
	p->line = ctx->lineno;
	if ((p->pattern = strndup(name, len)) == NULL ||
	    conf_apply_defaults(p, CONF_SCOPE_DEVICE, false, &why) < 0) {
		snprintf(err, size, "out of memory");
		return -1;
	}
	ctx->device = (int)conf->profile_count - 1;
	/* Each section has its own set of keys. */
	memset(ctx->device_seen_line, 0, sizeof(ctx->device_seen_line));
	return 0;
}

/* The bit of a [device] row in conf_profile.given: its place among the
   device rows. */
static unsigned int conf_device_bit(const char *name)
{
	unsigned int n = 0;

	for (size_t i = 0; i < conf_key_count; i++) {
		if (conf_key_scope(&conf_keys[i]) != CONF_SCOPE_DEVICE)
			continue;
		if (strcmp(conf_keys[i].name, name) == 0)
			return 1u << n;
		n++;
	}
	return 0;
}

void conf_device_given(struct conf_profile *p, const struct conf_key *key)
{
	p->given |= conf_device_bit(key->name);
}

static void conf_device_inherit(struct conf_profile *p, const struct conf *conf)
{
	if ((p->given & conf_device_bit("delete_action")) == 0)
		p->delete_action = conf->delete_action;
	if ((p->given & conf_device_bit("new_device_sees")) == 0)
		p->new_device_sees = conf->new_device_sees;
	if ((p->given & conf_device_bit("mark_seen_on_retr")) == 0)
		p->mark_seen_on_retr = conf->mark_seen_on_retr;
}

static bool conf_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcasecmp(a, b) == 0);
}

int conf_device_finish(struct conf *conf, char *err, size_t size, unsigned int *line_r)
{
	conf->policy_profile = (struct conf_profile){ .show = CONF_SHOW_ALL };
	conf_device_inherit(&conf->policy_profile, conf);
	for (unsigned int i = 0; i < conf->profile_count; i++) {
		struct conf_profile *p = &conf->profiles[i];

		conf_device_inherit(p, conf);
		/* An earlier section that takes every device this one would. */
		for (unsigned int j = 0; j < i; j++) {
			const struct conf_profile *q = &conf->profiles[j];

			if (conf_same(p->pattern, q->pattern) && conf_same(p->account, q->account)) {
				snprintf(err, size, "[device %s]%s%s given twice (first on line %u)",
					 p->pattern, p->account != NULL ? " with account = " : "",
					 p->account != NULL ? p->account : "", q->line);
				*line_r = p->line;
				return -1;
			}
			if ((strcmp(q->pattern, "*") == 0 || conf_same(p->pattern, q->pattern)) &&
			    (q->account == NULL || conf_same(p->account, q->account))) {
				snprintf(err, size, "[device %s] is never used: [device %s] on line %u "
					 "comes first and matches every device it would", p->pattern,
					 q->pattern, q->line);
				*line_r = p->line;
				return -1;
			}
		}
	}
	return 0;
}

void conf_folders_free(struct conf_profile *p)
{
	conf_folders_clear(&p->folders, &p->folder_count);
}

void conf_device_free(struct conf *conf)
{
	for (unsigned int i = 0; i < conf->profile_count; i++) {
		free(conf->profiles[i].pattern);
		conf_folders_free(&conf->profiles[i]);
		conf_free_strings(&conf->profiles[i], CONF_SCOPE_DEVICE);
	}
	free(conf->profiles);
	conf->profiles = NULL;
	conf->profile_count = 0;
}

const struct conf_profile *conf_profile_find(const struct conf *conf, const char *device,
					     const char *address, size_t address_len)
{
	for (unsigned int i = 0; i < conf->profile_count; i++) {
		const struct conf_profile *p = &conf->profiles[i];

		if (conf_glob_match(p->pattern, device, strlen(device)) &&
		    (p->account == NULL || conf_glob_match(p->account, address, address_len)))
			return p;
	}
	return &conf->policy_profile;
}
