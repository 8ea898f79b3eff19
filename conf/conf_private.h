#ifndef CONF_PRIVATE_H
#define CONF_PRIVATE_H

/*
 * Shared by the loader (conf.c), the typed setters (conf_set.c) and the
 * key table (conf_keys.c). Configuration is data, as in nginx: one row per
 * key holds its section, field, default and range, and names one setter;
 * the loader, the built-in defaults, the error messages and the
 * documentation checks (conf_key_info) all read the same rows.
 */

#include <stddef.h>
#include <stdio.h>

#include "conf.h"

#define CONF_KEYS_MAX 128

struct conf_key;

/*
 * Stores value into the key's field of base: the struct conf, or for rows
 * of section "upstream" the struct conf_upstream of [upstream] or of the
 * [route DOMAIN] being read. Returns 0, or -1 with a static reason in
 * *error_r, which may be one of the conf_err_* below (or
 * conf_value_out_of_range): conf_key_error() then says it with the row's
 * range or names.
 */
typedef int conf_set_fn(const struct conf_key *key, void *base, const char *value,
			const char **error_r);

/* A string check beyond its length: 0, or -1 and a static reason. */
typedef int conf_check_fn(const char *value, const char **error_r);

enum conf_key_flags {
	CONF_REPEATABLE = 1 << 0, /* may be given more than once */
	CONF_EMPTY_NONE = 1 << 1, /* strings: an empty value means none (NULL) */
	CONF_SECRET = 1 << 2,     /* strings: wiped before it is freed */
	CONF_REQUIRED = 1 << 3,   /* no default: the section needs it */
	CONF_IMPLIED = 1 << 4,    /* no default of its own: follows from other
				     keys once the file is read (port) */
	CONF_LATE = 1 << 5,       /* its default applies after the file, only
				     when nothing was given (listen) */
	CONF_TLS = 1 << 6,        /* listen: implicit TLS addresses */
};

struct conf_key {
	const char *section;   /* "upstream" rows also serve [route DOMAIN] */
	const char *name;
	conf_set_fn *set;      /* a typed setter below, or the key's own */
	size_t offset;         /* of the field in struct conf or conf_upstream */
	const char *def;       /* the default as written in the file ("10m",
				  "" for an empty value); NULL: none */
	const char *min, *max; /* the range as written in the file: numbers
				  and durations; strings: their length */
	const char *zero;      /* what 0 means, for the range message */
	const char *const *names;  /* enum, char: the words, NULL-terminated */
	const int *values;     /* enum: the value of each name; NULL: index */
	conf_check_fn *check;  /* strings: checked after the length */
	unsigned int flags;    /* enum conf_key_flags */
};

extern const struct conf_key conf_keys[];
extern const size_t conf_key_count;

/* The typed setters (conf_set.c). The field each one writes: */
conf_set_fn conf_set_bool;    /* bool */
conf_set_fn conf_set_uint;    /* unsigned int, in [min, max] */
conf_set_fn conf_set_secs;    /* unsigned int seconds, a duration in [min, max] */
conf_set_fn conf_set_msecs;   /* unsigned int milliseconds, in [min, max] */
conf_set_fn conf_set_kib;     /* unsigned int kibibytes (k, m, g), in [min, max] */
conf_set_fn conf_set_mib;     /* unsigned int mebibytes (m, g), in [min, max] */
conf_set_fn conf_set_string;  /* char *, malloc'd; length in [min, max] */
conf_set_fn conf_set_enum;    /* an enum (int-sized): values[i] or i */
conf_set_fn conf_set_char;    /* char: one of names, each one character */
conf_set_fn conf_set_port;    /* uint16_t, 1..65535 */

/* Reasons a setter may give; conf_key_error() says them in full. */
extern const char conf_err_length[]; /* string length out of [min, max] */
extern const char conf_err_empty[];  /* empty value, and no min length */
extern const char conf_err_name[];   /* not one of names */

/*
 * The message for a setter's reason: the conf_err_* and an out-of-range
 * number spelled out with the row's range or names ("out of range
 * (1s..1d)", "expected imaps, starttls or none") in buf; any other reason
 * as it is.
 */
const char *conf_key_error(const struct conf_key *key, const char *why, char *buf,
			   size_t size);

/* Whether the row is a key of [upstream] and [route DOMAIN]. */
bool conf_key_upstream(const struct conf_key *key);

/* The struct a row's field is in. */
enum conf_scope {
	CONF_SCOPE_MAIN,      /* struct conf */
	CONF_SCOPE_UPSTREAM,  /* struct conf_upstream: [upstream], [route DOMAIN] */
	CONF_SCOPE_DEVICE,    /* struct conf_profile: [device PATTERN] */
};
enum conf_scope conf_key_scope(const struct conf_key *key);

/*
 * Applies the defaults of the rows of one scope into its struct. late:
 * the CONF_LATE rows, else all others. Returns 0, or -1 with the reason
 * (out of memory, or a table row whose default does not parse).
 */
int conf_apply_defaults(void *base, enum conf_scope scope, bool late, const char **error_r);

/* Frees the string fields of one scope (conf_free). */
void conf_free_strings(void *base, enum conf_scope scope);

/* auth = oauth2: fills from the oauth_provider's preset what the file
   left unset (host, endpoints, scope). -1 only when out of memory. */
int conf_oauth_preset(struct conf_upstream *up);

/* What auth = oauth2 needs, and OAuth2 keys without it: 0, or -1 with
   the reason in buf. After conf_oauth_preset(). */
int conf_oauth_check(const struct conf_upstream *up, char *buf, size_t size);

struct conf_ctx {
	struct conf *conf;
	FILE *file;
	unsigned int lineno;        /* line inih is working on */
	unsigned int error_line;    /* 0: no error of ours yet */
	int route;                  /* section being read: -1 [upstream], else
				       routes[route]; -2 neither */
	unsigned int upstream_line; /* first [upstream] header */
	/* First line of each conf_keys row; 0 = not seen. route_seen_line
	   for the [route] being read, seen_line for everything else. */
	unsigned int seen_line[CONF_KEYS_MAX];
	unsigned int route_seen_line[CONF_KEYS_MAX];
	int device;                 /* [device PATTERN] being read: profiles[device];
				       -1 none */
	unsigned int device_seen_line[CONF_KEYS_MAX];
	char error[320];
};

/* ---- [device PATTERN] sections (conf_device.c) ---- */

#define CONF_DEVICE_PREFIX "device "

/* Whether a section name is "device " and something. */
bool conf_is_device(const char *name, size_t len);

/* A "[device PATTERN]" header: a new profile with the section defaults,
   ctx->device set to it. 0, or -1 with the message in err. */
int conf_device_enter(struct conf_ctx *ctx, const char *name, size_t len, char *err,
		      size_t size);

/* The section gave this key (its own value, not [policy]'s). */
void conf_device_given(struct conf_profile *p, const struct conf_key *key);

/* After the file: every profile takes from [policy] what it did not give,
   policy_profile is made; then sections that are given twice or can
   never match are errors: 0, or -1 with the message in err and the
   section's line in *line_r. */
int conf_device_finish(struct conf *conf, char *err, size_t size, unsigned int *line_r);

void conf_device_free(struct conf *conf);

/* max_age: a duration as conf_set_secs takes it, or whole weeks ("2w"). */
conf_set_fn conf_set_age;
/* An account pattern (conf_glob_check). */
conf_check_fn conf_check_glob;

/* ---- folders = ... (conf_device.c, the list in conf_folders.h) ---- */

/* The list into struct conf_profile folders (replacing what was there),
   each mailbox name checked by conf_check_mailbox. */
conf_set_fn conf_set_folders;
void conf_folders_free(struct conf_profile *p);
/* A mailbox name: UTF-8 without control characters (conf_keys.c). */
conf_check_fn conf_check_mailbox;

#endif
