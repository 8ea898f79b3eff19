/* The typed setters of the key table, the messages they lead to, and the
   defaults applied from the same rows. */

#include "conf_private.h"
#include "conf_glob.h"
#include "conf_value.h"
#include "num.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char conf_err_length[] = "bad length";
const char conf_err_empty[] = "empty value";
const char conf_err_name[] = "not one of the allowed values";

static const char conf_err_table[] = "bad row in the key table (a bug)";

static void *conf_field(const struct conf_key *key, void *base)
{
	return (char *)base + key->offset;
}

bool conf_key_upstream(const struct conf_key *key)
{
	return strcmp(key->section, "upstream") == 0;
}

enum conf_scope conf_key_scope(const struct conf_key *key)
{
	if (conf_key_upstream(key))
		return CONF_SCOPE_UPSTREAM;
	return strcmp(key->section, "device") == 0 ? CONF_SCOPE_DEVICE : CONF_SCOPE_MAIN;
}

int conf_set_bool(const struct conf_key *key, void *base, const char *value,
		  const char **error_r)
{
	return conf_parse_bool(value, conf_field(key, base), error_r);
}

typedef int conf_number_fn(const char *s, unsigned int max, unsigned int *value_r,
			   const char **error_r);

static int conf_parse_count(const char *s, unsigned int max, unsigned int *value_r,
			    const char **error_r)
{
	return conf_parse_uint(s, 0, max, value_r, error_r);
}

/* The value against the widest range first, so that one out of the key's
   range is told the key's own range (conf_key_error). */
static int conf_set_number(const struct conf_key *key, void *base, const char *value,
			   conf_number_fn *parse, const char **error_r)
{
	unsigned int v, min = 0, max = UINT_MAX;
	const char *why;

	if (parse(value, UINT_MAX, &v, error_r) < 0)
		return -1;
	if ((key->min != NULL && parse(key->min, UINT_MAX, &min, &why) < 0) ||
	    (key->max != NULL && parse(key->max, UINT_MAX, &max, &why) < 0)) {
		*error_r = conf_err_table;
		return -1;
	}
	if (v < min || v > max) {
		*error_r = conf_value_out_of_range;
		return -1;
	}
	*(unsigned int *)conf_field(key, base) = v;
	return 0;
}

int conf_set_uint(const struct conf_key *key, void *base, const char *value,
		  const char **error_r)
{
	return conf_set_number(key, base, value, conf_parse_count, error_r);
}

int conf_set_secs(const struct conf_key *key, void *base, const char *value,
		  const char **error_r)
{
	return conf_set_number(key, base, value, conf_parse_duration, error_r);
}

int conf_set_msecs(const struct conf_key *key, void *base, const char *value,
		   const char **error_r)
{
	return conf_set_number(key, base, value, conf_parse_msecs, error_r);
}

/* A duration that also takes weeks (2w), for ages. */
int conf_set_age(const struct conf_key *key, void *base, const char *value,
		 const char **error_r)
{
	size_t len = strlen(value), i;
	unsigned long long weeks = 0;
	char days[32];

	if (len < 2 || value[len - 1] != 'w') {
		int ret = conf_set_secs(key, base, value, error_r);

		if (ret < 0 && strncmp(*error_r, "unknown unit", strlen("unknown unit")) == 0)
			*error_r = "unknown unit (use s, m, h, d or w)";
		return ret;
	}
	for (i = 0; i + 1 < len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return conf_set_secs(key, base, value, error_r);
		/* Beyond any range: the days parser says out of range. */
		if (weeks < 100000000ull)
			weeks = weeks * 10 + (unsigned long long)(value[i] - '0');
	}
	snprintf(days, sizeof(days), "%llud", weeks * 7);
	return conf_set_secs(key, base, days, error_r);
}

/* The key table's check of an account pattern. */
int conf_check_glob(const char *value, const char **error_r)
{
	return conf_glob_check(value, error_r);
}

int conf_set_kib(const struct conf_key *key, void *base, const char *value,
		 const char **error_r)
{
	return conf_set_number(key, base, value, conf_parse_kib, error_r);
}

int conf_set_mib(const struct conf_key *key, void *base, const char *value,
		 const char **error_r)
{
	return conf_set_number(key, base, value, conf_parse_mib, error_r);
}

/* A length bound of a string row: a plain number. */
static size_t conf_length_bound(const char *text, size_t unset)
{
	uint64_t v;

	if (text == NULL || num_parse_str(text, SIZE_MAX, &v) != NUM_OK)
		return unset;
	return (size_t)v;
}

int conf_set_string(const struct conf_key *key, void *base, const char *value,
		    const char **error_r)
{
	char **dst = conf_field(key, base);
	size_t len = strlen(value);
	char *s;

	if (len == 0 && (key->flags & CONF_EMPTY_NONE) != 0) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (len < conf_length_bound(key->min, 0) || len > conf_length_bound(key->max, SIZE_MAX)) {
		*error_r = conf_err_length;
		return -1;
	}
	if (key->check != NULL && key->check(value, error_r) < 0)
		return -1;
	if (len == 0) {
		*error_r = conf_err_empty;
		return -1;
	}
	s = strdup(value);
	if (s == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	free(*dst);
	*dst = s;
	return 0;
}

int conf_set_enum(const struct conf_key *key, void *base, const char *value,
		  const char **error_r)
{
	unsigned int i;

	if (conf_parse_enum(value, key->names, &i, error_r) < 0) {
		*error_r = conf_err_name;
		return -1;
	}
	*(int *)conf_field(key, base) = key->values != NULL ? key->values[i] : (int)i;
	return 0;
}

int conf_set_char(const struct conf_key *key, void *base, const char *value,
		  const char **error_r)
{
	for (unsigned int i = 0; key->names[i] != NULL; i++) {
		if (strcmp(value, key->names[i]) == 0) {
			*(char *)conf_field(key, base) = value[0];
			return 0;
		}
	}
	*error_r = conf_err_name;
	return -1;
}

int conf_set_port(const struct conf_key *key, void *base, const char *value,
		  const char **error_r)
{
	return conf_parse_port(value, conf_field(key, base), error_r);
}

/* Digits at the end of a name: "local7" -> 6, "mail" -> 4. */
static size_t conf_stem_len(const char *name)
{
	size_t n = strlen(name);

	while (n > 0 && name[n - 1] >= '0' && name[n - 1] <= '9')
		n--;
	return n;
}

/* How many names from names[i] on are one stem with digits counting up
   from 0 ("local0", "local1", ...). */
static unsigned int conf_name_run(const char *const *names, unsigned int i)
{
	size_t stem = conf_stem_len(names[i]);
	unsigned int n = 0;
	char digits[12];

	if (stem == strlen(names[i]))
		return 1;
	while (names[i + n] != NULL && conf_stem_len(names[i + n]) == stem &&
	       strncmp(names[i + n], names[i], stem) == 0) {
		snprintf(digits, sizeof(digits), "%u", n);
		if (strcmp(names[i + n] + stem, digits) != 0)
			break;
		n++;
	}
	return n > 2 ? n : 1;
}

/* "expected a, b or c"; a counted run as "local0 .. local7". Chars: "one
   of # + %". */
static void conf_names_message(const struct conf_key *key, char *buf, size_t size)
{
	const char *const *names = key->names;
	bool chars = key->set == conf_set_char;
	size_t o;
	unsigned int i, items = 0, item = 0;

	for (i = 0; names[i] != NULL; i += conf_name_run(names, i))
		items++;
	o = (size_t)snprintf(buf, size, chars ? "one of" : "expected");
	for (i = 0; names[i] != NULL && o < size; item++) {
		unsigned int run = conf_name_run(names, i);
		const char *sep = chars || item == 0 ? " " : item + 1 == items ? " or " : ", ";

		if (run > 1)
			o += (size_t)snprintf(buf + o, size - o, "%s%s .. %s", sep, names[i],
					      names[i + run - 1]);
		else
			o += (size_t)snprintf(buf + o, size - o, "%s%s", sep, names[i]);
		i += run;
	}
}

const char *conf_key_error(const struct conf_key *key, const char *why, char *buf,
			   size_t size)
{
	if (why == conf_value_out_of_range && key->max != NULL) {
		snprintf(buf, size, "out of range (%s..%s%s%s)", key->min != NULL ? key->min : "0",
			 key->max, key->zero != NULL ? ", 0: " : "",
			 key->zero != NULL ? key->zero : "");
		return buf;
	}
	if (why == conf_err_length) {
		if (key->min != NULL && strcmp(key->min, "0") != 0)
			snprintf(buf, size, "must be %s to %s characters", key->min,
				 key->max != NULL ? key->max : "any number of");
		else
			snprintf(buf, size, "at most %s characters", key->max);
		return buf;
	}
	if (why == conf_err_empty && key->def != NULL && key->def[0] != '\0') {
		snprintf(buf, size, "empty value (the default is %s)", key->def);
		return buf;
	}
	if (why == conf_err_name && key->names != NULL) {
		conf_names_message(key, buf, size);
		return buf;
	}
	return why;
}
