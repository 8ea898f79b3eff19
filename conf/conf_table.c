/* The key table as a whole: defaults applied and strings freed per scope,
   and the rows described for the documentation checks. Shared by the
   loader (conf.c) and the [device] sections (conf_device.c), which both
   call it; it calls only the table and its setters. */

#include "conf_private.h"

#include <stdlib.h>
#include <string.h>

int conf_apply_defaults(void *base, enum conf_scope scope, bool late, const char **error_r)
{
	for (size_t i = 0; i < conf_key_count; i++) {
		const struct conf_key *key = &conf_keys[i];

		if (conf_key_scope(key) != scope || key->def == NULL ||
		    ((key->flags & CONF_LATE) != 0) != late)
			continue;
		if (key->set(key, base, key->def, error_r) < 0)
			return -1;
	}
	return 0;
}

void conf_free_strings(void *base, enum conf_scope scope)
{
	for (size_t i = 0; i < conf_key_count; i++) {
		const struct conf_key *key = &conf_keys[i];
		char **field;

		if (conf_key_scope(key) != scope || key->set != conf_set_string)
			continue;
		field = (char **)((char *)base + key->offset);
		if (*field != NULL && (key->flags & CONF_SECRET) != 0)
			explicit_bzero(*field, strlen(*field));
		free(*field);
		*field = NULL;
	}
}

static const struct {
	conf_set_fn *set;
	const char *type;
} conf_type_names[] = {
	{ conf_set_bool, "bool" }, { conf_set_uint, "number" },
	{ conf_set_secs, "duration" }, { conf_set_msecs, "milliseconds" },
	{ conf_set_string, "string" }, { conf_set_enum, "enum" },
	{ conf_set_char, "character" }, { conf_set_port, "port" },
	{ conf_set_age, "duration" },
};

bool conf_key_info(size_t i, struct conf_key_info *info_r)
{
	const struct conf_key *key;

	if (i >= conf_key_count)
		return false;
	key = &conf_keys[i];
	memset(info_r, 0, sizeof(*info_r));
	info_r->section = key->section;
	info_r->name = key->name;
	info_r->type = "custom";
	for (size_t t = 0; t < sizeof(conf_type_names) / sizeof(conf_type_names[0]); t++) {
		if (conf_type_names[t].set == key->set)
			info_r->type = conf_type_names[t].type;
	}
	info_r->def = key->def;
	info_r->min = key->min;
	info_r->max = key->max;
	info_r->route = conf_key_upstream(key);
	info_r->repeatable = (key->flags & CONF_REPEATABLE) != 0;
	info_r->required = (key->flags & CONF_REQUIRED) != 0;
	info_r->implied = (key->flags & CONF_IMPLIED) != 0;
	return true;
}
