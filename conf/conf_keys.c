/* The keys of popgate.conf: the table the loader (conf.c) reads them
   with, the checks of string values, the few setters of their own, and
   the names of the enum values. */

#include "conf_private.h"
#include "conf_value.h"
#include "legacy_url.h"
#include "uidl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#define CONF_STR(x) CONF_STR_(x)
#define CONF_STR_(x) #x

/* ------------------------------------------------------------ names */

static const char *const conf_tls_names[] = {
	[CONF_TLS_IMAPS] = "imaps", [CONF_TLS_STARTTLS] = "starttls",
	[CONF_TLS_NONE] = "none", NULL
};
static const char *const conf_legacy_unreachable_names[] = {
	[CONF_LEGACY_REFUSE] = "refuse", [CONF_LEGACY_PROCEED] = "proceed", NULL
};
static const char *const conf_delete_names[] = {
	[CONF_DELETE_HIDE] = "hide", [CONF_DELETE_HIDE_ALL] = "hide-all",
	[CONF_DELETE_TRASH] = "trash", [CONF_DELETE_EXPUNGE] = "expunge", NULL
};
static const char *const conf_new_device_names[] = {
	[CONF_NEW_DEVICE_ALL] = "all", [CONF_NEW_DEVICE_NEW] = "new", NULL
};
static const char *const conf_login_names[] = {
	[CONF_LOGIN_FULL] = "full", [CONF_LOGIN_LOCAL_PART] = "local-part", NULL
};
static const char *const conf_exact_sizes_names[] = {
	[CONF_EXACT_SIZES_AUTO] = "auto", [CONF_EXACT_SIZES_YES] = "yes",
	[CONF_EXACT_SIZES_NO] = "no", NULL,
};
static const char *const conf_share_listings_names[] = {
	[CONF_SHARE_LISTINGS_AUTO] = "auto", [CONF_SHARE_LISTINGS_YES] = "yes",
	[CONF_SHARE_LISTINGS_NO] = "no", NULL,
};
static const char *const conf_auth_names[] = {
	[CONF_AUTH_PASSWORD] = "password", [CONF_AUTH_OAUTH2] = "oauth2", NULL
};
static const char *const conf_oauth_provider_names[] = {
	[CONF_OAUTH_CUSTOM] = "custom", [CONF_OAUTH_GOOGLE] = "google",
	[CONF_OAUTH_MICROSOFT] = "microsoft", NULL
};
static const char *const conf_oauth_mechanism_names[] = {
	[CONF_OAUTH_XOAUTH2] = "xoauth2", [CONF_OAUTH_OAUTHBEARER] = "oauthbearer", NULL
};
static const char *const conf_plaintext_names[] = {
	[CONF_PLAINTEXT_LOCAL] = "local", [CONF_PLAINTEXT_TLS_ONLY] = "tls-only",
	[CONF_PLAINTEXT_ALWAYS] = "always", NULL
};
static const char *const conf_facility_names[] = {
	"mail", "daemon", "user", "local0", "local1", "local2", "local3",
	"local4", "local5", "local6", "local7", NULL
};
static const int conf_facility_values[] = {
	LOG_MAIL, LOG_DAEMON, LOG_USER, LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2,
	LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7
};
/* Each character cannot start a device name and is rare in user names. */
static const char *const conf_separator_names[] = {
	"#", "+", "%", "!", "/", ":", ";", NULL
};

static const char *const conf_show_names[] = {
	[CONF_SHOW_ALL] = "all", [CONF_SHOW_UNSEEN] = "unseen", NULL
};
static const char *const conf_retention_when_names[] = { "off", "all-devices-done", NULL };
static const char *const conf_retention_action_names[] = { "trash", "expunge", NULL };

#define CONF_NAMES(a) (sizeof(a) / sizeof((a)[0]) - 1)
/* One name per value, no gap (the NULL would end the list early). */
_Static_assert(CONF_NAMES(conf_tls_names) == CONF_TLS_NONE + 1, "conf_tls_names");
_Static_assert(CONF_NAMES(conf_legacy_unreachable_names) == CONF_LEGACY_PROCEED + 1,
	       "conf_legacy_unreachable_names");
_Static_assert(CONF_NAMES(conf_delete_names) == CONF_DELETE_EXPUNGE + 1, "conf_delete_names");
_Static_assert(CONF_NAMES(conf_show_names) == CONF_SHOW_UNSEEN + 1, "conf_show_names");
_Static_assert(CONF_NAMES(conf_retention_when_names) == CONF_RETENTION_ALL_DONE + 1,
	       "conf_retention_when_names");
_Static_assert(CONF_NAMES(conf_retention_action_names) == CONF_RETENTION_EXPUNGE + 1,
	       "conf_retention_action_names");
_Static_assert(CONF_NAMES(conf_new_device_names) == CONF_NEW_DEVICE_NEW + 1,
	       "conf_new_device_names");
_Static_assert(CONF_NAMES(conf_login_names) == CONF_LOGIN_LOCAL_PART + 1, "conf_login_names");
_Static_assert(CONF_NAMES(conf_share_listings_names) == CONF_SHARE_LISTINGS_NO + 1,
	       "conf_share_listings_names");
_Static_assert(CONF_NAMES(conf_exact_sizes_names) == CONF_EXACT_SIZES_NO + 1,
	       "conf_exact_sizes_names");
_Static_assert(CONF_NAMES(conf_auth_names) == CONF_AUTH_OAUTH2 + 1, "conf_auth_names");
_Static_assert(CONF_NAMES(conf_oauth_provider_names) == CONF_OAUTH_MICROSOFT + 1,
	       "conf_oauth_provider_names");
_Static_assert(CONF_NAMES(conf_oauth_mechanism_names) == CONF_OAUTH_OAUTHBEARER + 1,
	       "conf_oauth_mechanism_names");
_Static_assert(CONF_NAMES(conf_plaintext_names) == CONF_PLAINTEXT_ALWAYS + 1,
	       "conf_plaintext_names");
_Static_assert(CONF_NAMES(conf_facility_names) ==
	       sizeof(conf_facility_values) / sizeof(conf_facility_values[0]),
	       "conf_facility_values");
/* conf_set_enum stores an int. */
_Static_assert(sizeof(enum conf_tls_mode) == sizeof(int) &&
	       sizeof(enum conf_delete_action) == sizeof(int) &&
	       sizeof(enum conf_retention_when) == sizeof(int) &&
	       sizeof(enum conf_retention_action) == sizeof(int) &&
	       sizeof(enum conf_new_device) == sizeof(int) &&
	       sizeof(enum conf_show) == sizeof(int) &&
	       sizeof(enum conf_login_name) == sizeof(int) &&
	       sizeof(enum conf_plaintext_auth) == sizeof(int) &&
	       sizeof(enum conf_auth) == sizeof(int) &&
	       sizeof(enum conf_oauth_provider) == sizeof(int) &&
	       sizeof(enum conf_oauth_mechanism) == sizeof(int) &&
	       sizeof(enum log_target) == sizeof(int) && sizeof(enum log_level) == sizeof(int),
	       "enum fields are int-sized");

static const char *conf_name_of(const char *const *names, size_t count, int value)
{
	return value >= 0 && (size_t)value < count ? names[value] : "?";
}

const char *conf_tls_mode_name(enum conf_tls_mode mode)
{
	return conf_name_of(conf_tls_names, CONF_NAMES(conf_tls_names), (int)mode);
}

const char *conf_delete_action_name(enum conf_delete_action action)
{
	return conf_name_of(conf_delete_names, CONF_NAMES(conf_delete_names), (int)action);
}

const char *conf_new_device_name(enum conf_new_device sees)
{
	return conf_name_of(conf_new_device_names, CONF_NAMES(conf_new_device_names), (int)sees);
}

const char *conf_show_name(enum conf_show show)
{
	return conf_name_of(conf_show_names, CONF_NAMES(conf_show_names), (int)show);
}

const char *conf_login_name_name(enum conf_login_name login)
{
	return conf_name_of(conf_login_names, CONF_NAMES(conf_login_names), (int)login);
}

const char *conf_auth_name(enum conf_auth auth)
{
	return conf_name_of(conf_auth_names, CONF_NAMES(conf_auth_names), (int)auth);
}

const char *conf_oauth_provider_name(enum conf_oauth_provider provider)
{
	return conf_name_of(conf_oauth_provider_names, CONF_NAMES(conf_oauth_provider_names),
			    (int)provider);
}

const char *conf_oauth_mechanism_name(enum conf_oauth_mechanism mech)
{
	return conf_name_of(conf_oauth_mechanism_names,
			    CONF_NAMES(conf_oauth_mechanism_names), (int)mech);
}

const char *conf_plaintext_auth_name(enum conf_plaintext_auth auth)
{
	return conf_name_of(conf_plaintext_names, CONF_NAMES(conf_plaintext_names), (int)auth);
}

bool conf_shares_listings(const struct conf *conf)
{
	switch (conf->share_listings) {
	case CONF_SHARE_LISTINGS_YES:
		return true;
	case CONF_SHARE_LISTINGS_AUTO:
		return conf->cache_url != NULL && strcasecmp(conf->cache_url, "auto") != 0;
	default:
		return false;
	}
}

const char *conf_log_target_name(enum log_target target)
{
	return conf_name_of(log_target_names, LOG_TARGET_SYSLOG + 1, (int)target);
}

const char *conf_log_level_name(enum log_level level)
{
	return conf_name_of(log_level_names, LOG_LEVEL_DEBUG + 1, (int)level);
}

const char *conf_log_facility_name(int facility)
{
	for (size_t i = 0; i < CONF_NAMES(conf_facility_names); i++) {
		if (conf_facility_values[i] == facility)
			return conf_facility_names[i];
	}
	return "?";
}

/* ------------------------------------------------------------ string checks */

static int conf_check_greeting(const char *value, const char **error_r)
{
	for (const char *p = value; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c > 0x7e) {
			*error_r = "printable ASCII only";
			return -1;
		}
		/* A "<...>" in the banner is an APOP timestamp to a client
		   (RFC 1939), and APOP is not offered. */
		if (c == '<' || c == '>') {
			*error_r = "'<' and '>' are not allowed (APOP timestamp)";
			return -1;
		}
	}
	return 0;
}

static bool conf_is_numeric_address(const char *host)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

static int conf_check_host(const char *value, const char **error_r)
{
	return conf_parse_host(value, error_r);
}

/* A numeric address with an optional port, as evdns takes it:
   "192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53". */
static int conf_check_resolver(const char *value, const char **error_r)
{
	const char *colon = strchr(value, ':');
	char host[64];
	uint16_t port;

	if (value[0] != '[' && (colon == NULL || strchr(colon + 1, ':') != NULL)) {
		/* No port: an IPv4 address, or a bare IPv6 one. */
		if (!conf_is_numeric_address(value)) {
			*error_r = "an IP address, not a name";
			return -1;
		}
		return 0;
	}
	if (conf_parse_hostport(value, host, sizeof(host), &port, error_r) < 0)
		return -1;
	if (!conf_is_numeric_address(host)) {
		*error_r = "an IP address, not a name";
		return -1;
	}
	return 0;
}

/* The daemon may change directory; a relative path would then name
   another file. */
static int conf_check_absolute(const char *value, const char **error_r)
{
	if (value[0] != '/') {
		*error_r = "must be an absolute path";
		return -1;
	}
	return 0;
}

/* Found now by --check rather than at the first TLS connect. */
static int conf_check_file(const char *value, const char **error_r)
{
	if (conf_check_absolute(value, error_r) < 0)
		return -1;
	if (access(value, R_OK) < 0) {
		*error_r = errno == ENOENT ? "no such file" :
			errno == EACCES ? "permission denied" : "cannot read the file";
		return -1;
	}
	return 0;
}

/* The well-formed UTF-8 character at s (not overlong, no surrogate, at
   most U+10FFFF): its length, and its code point in *cp_r; 0 if none. */
static size_t conf_utf8_char(const unsigned char *s, unsigned int *cp_r)
{
	unsigned int cp, n;

	if (s[0] < 0x80)
		n = 1, cp = s[0];
	else if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	for (unsigned int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

static int conf_check_legacy_pop3(const char *value, const char **error_r)
{
	struct legacy_url u;

	return legacy_url_parse(value, strlen(value), &u, error_r);
}

static int conf_check_uidl_format(const char *value, const char **error_r)
{
	struct uidl_format f;

	return uidl_format_parse(value, strlen(value), &f, error_r);
}

/* The IMAP command builders quote the name, so spaces, quotes and
   specials are fine ("Deleted Items"); what no IMAP string may hold is a
   control character. Non-ASCII is UTF-8, which the server understands
   after ENABLE UTF8=ACCEPT; others want modified UTF-7 (RFC 3501 5.1.3). */
int conf_check_mailbox(const char *value, const char **error_r)
{
	const unsigned char *p = (const unsigned char *)value;
	unsigned int cp;
	size_t n;

	for (; *p != '\0'; p += n) {
		n = conf_utf8_char(p, &cp);
		if (n == 0) {
			*error_r = "not valid UTF-8";
			return -1;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			*error_r = "control characters are not allowed";
			return -1;
		}
	}
	return 0;
}

/* folders = in [device PATTERN]: the list, each name as mailbox = takes it. */
int conf_set_folders(const struct conf_key *key, void *base, const char *value,
		     const char **error_r)
{
	static char why[160];
	struct conf_profile *p = base;

	(void)key;
	conf_folders_clear(&p->folders, &p->folder_count);
	if (conf_folders_parse(value, conf_check_mailbox, &p->folders, &p->folder_count, why,
			       sizeof(why)) < 0) {
		*error_r = why;
		return -1;
	}
	return 0;
}

static bool conf_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool conf_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int conf_check_ident(const char *value, const char **error_r)
{
	for (const char *p = value; *p != '\0'; p++) {
		if (!conf_is_alpha(*p) && !conf_is_digit(*p) && strchr("-_.", *p) == NULL) {
			*error_r = "letters, digits, '-', '_' and '.' only";
			return -1;
		}
	}
	return 0;
}

/* A user or group name as useradd(8) accepts them. */
static int conf_check_account(const char *value, const char **error_r)
{
	for (const char *p = value; *p != '\0'; p++) {
		if (!conf_is_alpha(*p) && *p != '_' &&
		    (p == value || (!conf_is_digit(*p) && *p != '-' && *p != '.'))) {
			*error_r = "letters, digits, '_', '-' and '.', not starting with a digit";
			return -1;
		}
	}
	return 0;
}

/* OAuth2 client ids and scopes go into form bodies and URLs (escaped
   there); printable ASCII keeps them legible in logs and error texts. */
static int conf_check_token_text(const char *value, const char **error_r)
{
	for (const char *p = value; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			*error_r = "printable ASCII without spaces only";
			return -1;
		}
	}
	return 0;
}

static int conf_check_scope(const char *value, const char **error_r)
{
	for (const char *p = value; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f || *p == '"' ||
		    *p == '\\') {
			*error_r = "printable ASCII without '\"' or '\\' only";
			return -1;
		}
	}
	return 0;
}

static int conf_check_url(const char *value, const char **error_r)
{
	return conf_parse_endpoint(value, error_r);
}

/* ------------------------------------------------------------ setters of their own */

/* listen, listen_tls: one more address into conf->listen. */
static int conf_set_listen(const struct conf_key *key, void *base, const char *value,
			   const char **error_r)
{
	struct conf *conf = base;
	char host[256];
	uint16_t port;
	unsigned int i;

	char addr[300];
	const char *opt = value + strcspn(value, " \t");
	bool proxy = false;

	if ((size_t)(opt - value) >= sizeof(addr)) {
		*error_r = "address too long";
		return -1;
	}
	memcpy(addr, value, (size_t)(opt - value));
	addr[opt - value] = '\0';
	opt += strspn(opt, " \t");
	if (strcmp(opt, "proxy_protocol") == 0) {
		proxy = true;
	} else if (*opt != '\0') {
		*error_r = "after the address only \"proxy_protocol\" may follow";
		return -1;
	}
	if (conf_parse_hostport(addr, host, sizeof(host), &port, error_r) < 0)
		return -1;
	if (conf->listen_count == CONF_MAX_LISTEN) {
		*error_r = "too many listen addresses (at most " CONF_STR(CONF_MAX_LISTEN) ")";
		return -1;
	}
	for (i = 0; i < conf->listen_count; i++) {
		if (conf->listen[i].port == port && strcmp(conf->listen[i].host, host) == 0) {
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
	conf->listen[i].tls = (key->flags & CONF_TLS) != 0;
	conf->listen[i].proxy = proxy;
	conf->listen_count++;
	return 0;
}

/* local_networks, proxy_networks: the whole list, replacing the default. */
static int conf_set_cidrs(const struct conf_key *key, void *base, const char *value,
			  const char **error_r)
{
	struct conf *conf = base;
	bool proxy = strcmp(key->name, "proxy_networks") == 0;
	struct conf_cidr *nets = proxy ? conf->proxy_networks : conf->local_networks;
	unsigned int *count = proxy ? &conf->proxy_network_count : &conf->local_network_count;
	char item[64];
	const char *p = value;

	*count = 0;
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
		if (*count == CONF_MAX_NETWORKS) {
			*error_r = "too many networks (at most " CONF_STR(CONF_MAX_NETWORKS) ")";
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (conf_parse_cidr(item, &nets[*count], error_r) < 0)
			return -1;
		(*count)++;
		p += len;
	}
	return 0;
}

/* [metrics] listen: host:port into two fields, or "" for off. */
static int conf_set_metrics_listen(const struct conf_key *key, void *base, const char *value,
				   const char **error_r)
{
	struct conf *conf = base;
	char host[256], *copy;
	uint16_t port;

	if (value[0] == '\0') {
		free(conf->metrics_host);
		conf->metrics_host = NULL;
		return 0;
	}
	if (conf_parse_hostport(value, host, sizeof(host), &port, error_r) < 0)
		return -1;
	if ((copy = strdup(host)) == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	free(conf->metrics_host);
	conf->metrics_host = copy;
	conf->metrics_port = port;
	return 0;
}

/* [enrol] listen: host:port into two fields, or "" for off. */
static int conf_set_enrol_listen(const struct conf_key *key, void *base, const char *value,
				 const char **error_r)
{
	struct conf *conf = base;
	char host[256], *copy;
	uint16_t port;

	if (value[0] == '\0') {
		free(conf->enrol_host);
		conf->enrol_host = NULL;
		return 0;
	}
	if (conf_parse_hostport(value, host, sizeof(host), &port, error_r) < 0)
		return -1;
	if ((copy = strdup(host)) == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	free(conf->enrol_host);
	conf->enrol_host = copy;
	conf->enrol_port = port;
	return 0;
}

/* ------------------------------------------------------------ the table */

#define C(field) offsetof(struct conf, field)
#define U(field) offsetof(struct conf_upstream, field)
#define P(field) offsetof(struct conf_profile, field)

/*
 * Every key, in the order of the sample conf/popgate.conf. def, min and max
 * are written as in the file; tests/packaging compares them with the
 * sample, popgate.conf(5) and the README.
 */
const struct conf_key conf_keys[] = {
	{ "server", "listen", conf_set_listen, 0, .def = "127.0.0.1:1110",
	  .flags = CONF_REPEATABLE | CONF_LATE },
	{ "server", "idle_timeout", conf_set_secs, C(idle_timeout_secs), .def = "10m",
	  .min = "1s", .max = "1d" },
	{ "server", "login_timeout", conf_set_secs, C(login_timeout_secs), .def = "1m",
	  .min = "1s", .max = "1h" },
	{ "server", "max_connections", conf_set_uint, C(max_connections), .def = "1000",
	  .min = "1", .max = "1000000" },
	{ "server", "max_unauthenticated", conf_set_uint, C(max_unauthenticated),
	  .def = "200", .min = "1", .max = "1000000" },
	{ "server", "max_listing_memory", conf_set_mib, C(max_listing_mib), .def = "512m",
	  .min = "16m", .max = "64g" },
	{ "server", "max_messages", conf_set_uint, C(max_messages), .def = "2000000",
	  .min = "1", .max = "2000000" },
	{ "server", "keep_max", conf_set_uint, C(keep_max), .def = "1000",
	  .min = "1", .max = "1000000" },
	{ "server", "prefetch_max_size", conf_set_kib, C(prefetch_max_kib), .def = "1m",
	  .min = "0", .max = "1g", .zero = "off" },
	{ "server", "max_bad_commands", conf_set_uint, C(max_bad_commands), .def = "10",
	  .min = "1", .max = "1000" },
	{ "server", "max_connections_per_ip", conf_set_uint, C(max_connections_per_ip),
	  .def = "50", .min = "0", .max = "1000000", .zero = "no limit" },
	{ "server", "auth_fail_delay", conf_set_msecs, C(auth_fail_delay_ms), .def = "1s",
	  .min = "0", .max = "60s" },
	{ "server", "auth_fail_delay_max", conf_set_msecs, C(auth_fail_delay_max_ms),
	  .def = "15s", .min = "0", .max = "5m" },
	{ "server", "auth_fail_window", conf_set_secs, C(auth_fail_window_secs), .def = "15m",
	  .min = "1m", .max = "1d" },
	{ "server", "max_session_time", conf_set_secs, C(max_session_secs), .def = "2h",
	  .min = "1s", .max = "7d" },
	{ "server", "login_delay", conf_set_secs, C(login_delay_secs), .def = "0",
	  .min = "0", .max = "1d", .zero = "off" },
	{ "server", "shutdown_grace", conf_set_secs, C(shutdown_grace_secs), .def = "10s",
	  .min = "0", .max = "10m" },
	{ "server", "greeting", conf_set_string, C(greeting), .def = "popgate ready",
	  .min = "1", .max = "200", .check = conf_check_greeting },
	{ "server", "listen_tls", conf_set_listen, 0, .flags = CONF_REPEATABLE | CONF_TLS },
	{ "server", "plaintext_auth", conf_set_enum, C(plaintext_auth), .def = "local",
	  .names = conf_plaintext_names },
	{ "server", "local_networks", conf_set_cidrs, 0, .def = "127.0.0.0/8 ::1/128" },
	{ "server", "proxy_networks", conf_set_cidrs, 0, .def = "" },
	{ "server", "proxy_timeout", conf_set_msecs, C(proxy_timeout_ms), .def = "5s",
	  .min = "100ms", .max = "1m" },
	{ "server", "shared_limits", conf_set_bool, C(shared_limits), .def = "no" },
	{ "server", "reuse_port", conf_set_bool, C(reuse_port), .def = "no" },
	{ "server", "resolver", conf_set_string, C(resolver), .def = "",
	  .check = conf_check_resolver, .flags = CONF_EMPTY_NONE },

	/* [upstream], and each [route DOMAIN] with the same defaults */
	{ "upstream", "host", conf_set_string, U(host), .check = conf_check_host,
	  .flags = CONF_REQUIRED },
	{ "upstream", "port", conf_set_port, U(port), .flags = CONF_IMPLIED },
	{ "upstream", "tls", conf_set_enum, U(tls), .def = "imaps", .names = conf_tls_names },
	{ "upstream", "verify", conf_set_bool, U(verify), .def = "yes" },
	{ "upstream", "ca_file", conf_set_string, U(ca_file), .def = "",
	  .check = conf_check_file, .flags = CONF_EMPTY_NONE },
	{ "upstream", "timeout", conf_set_secs, U(timeout_secs), .def = "30s",
	  .min = "1s", .max = "10m" },
	{ "upstream", "mailbox", conf_set_string, U(mailbox), .def = "INBOX",
	  .min = "1", .max = "200", .check = conf_check_mailbox },
	{ "upstream", "login_name", conf_set_enum, U(login_name), .def = "full",
	  .names = conf_login_names },
	{ "upstream", "auth", conf_set_enum, U(auth), .def = "password",
	  .names = conf_auth_names },
	{ "upstream", "oauth_provider", conf_set_enum, U(oauth_provider), .def = "custom",
	  .names = conf_oauth_provider_names },
	{ "upstream", "oauth_mechanism", conf_set_enum, U(oauth_mechanism), .def = "xoauth2",
	  .names = conf_oauth_mechanism_names },
	{ "upstream", "client_id", conf_set_string, U(client_id), .def = "", .max = "256",
	  .check = conf_check_token_text, .flags = CONF_EMPTY_NONE },
	{ "upstream", "client_secret", conf_set_string, U(client_secret), .def = "",
	  .max = "256", .check = conf_check_token_text, .flags = CONF_EMPTY_NONE | CONF_SECRET },
	{ "upstream", "authorization_endpoint", conf_set_string, U(authorization_endpoint),
	  .def = "", .max = "512", .check = conf_check_url, .flags = CONF_EMPTY_NONE },
	{ "upstream", "token_endpoint", conf_set_string, U(token_endpoint), .def = "",
	  .max = "512", .check = conf_check_url, .flags = CONF_EMPTY_NONE },
	{ "upstream", "device_endpoint", conf_set_string, U(device_endpoint), .def = "",
	  .max = "512", .check = conf_check_url, .flags = CONF_EMPTY_NONE },
	{ "upstream", "scope", conf_set_string, U(scope), .def = "", .max = "512",
	  .check = conf_check_scope, .flags = CONF_EMPTY_NONE },
	{ "upstream", "token_timeout", conf_set_secs, U(token_timeout_secs), .def = "15s",
	  .min = "1s", .max = "2m" },
	{ "upstream", "keep_idle", conf_set_secs, U(keep_idle_secs), .def = "0",
	  .min = "0", .max = "1h", .zero = "off" },
	{ "upstream", "keep_per_account", conf_set_uint, U(keep_per_account), .def = "2",
	  .min = "1", .max = "100" },
	{ "upstream", "uidl_format", conf_set_string, U(uidl_format), .def = "dovecot",
	  .min = "1", .max = "64", .check = conf_check_uidl_format },
	{ "upstream", "throttle_backoff", conf_set_msecs, U(throttle_backoff_ms), .def = "30s",
	  .min = "0", .max = "1h", .zero = "off" },
	{ "upstream", "throttle_backoff_max", conf_set_msecs, U(throttle_backoff_max_ms),
	  .def = "10m", .min = "1s", .max = "1d" },
	{ "upstream", "exact_sizes", conf_set_enum, U(exact_sizes), .def = "auto",
	  .names = conf_exact_sizes_names },
	{ "upstream", "legacy_pop3", conf_set_string, U(legacy_pop3), .def = "", .max = "300",
	  .check = conf_check_legacy_pop3, .flags = CONF_EMPTY_NONE },
	{ "upstream", "legacy_plaintext", conf_set_bool, U(legacy_plaintext), .def = "no" },
	{ "upstream", "legacy_timeout", conf_set_secs, U(legacy_timeout_secs), .def = "30s",
	  .min = "1s", .max = "10m" },
	{ "upstream", "legacy_unreachable", conf_set_enum, U(legacy_unreachable),
	  .def = "refuse", .names = conf_legacy_unreachable_names },

	{ "log", "target", conf_set_enum, C(log_target), .def = "stderr",
	  .names = log_target_names },
	{ "log", "level", conf_set_enum, C(log_level), .def = "info",
	  .names = log_level_names },
	{ "log", "ident", conf_set_string, C(log_ident), .def = "popgate",
	  .min = "1", .max = "32", .check = conf_check_ident },
	{ "log", "facility", conf_set_enum, C(log_facility), .def = "mail",
	  .names = conf_facility_names, .values = conf_facility_values },

	/* The url's form is checked where it is used (cache_url_parse). */
	{ "cache", "url", conf_set_string, C(cache_url), .def = "auto" },
	{ "cache", "password", conf_set_string, C(cache_password), .def = "",
	  .flags = CONF_EMPTY_NONE | CONF_SECRET },
	{ "cache", "state_dir", conf_set_string, C(cache_state_dir), .def = "/var/lib/popgate",
	  .check = conf_check_absolute },
	{ "cache", "redis_server", conf_set_string, C(cache_redis_server),
	  .def = "redis-server" },
	{ "cache", "timeout", conf_set_msecs, C(cache_timeout_ms), .def = "2s",
	  .min = "10ms", .max = "60s" },
	{ "cache", "lock_ttl", conf_set_secs, C(lock_ttl_secs), .def = "2m",
	  .min = "3s", .max = "1h" },
	{ "cache", "max_memory", conf_set_mib, C(cache_max_memory_mib), .def = "256m",
	  .min = "16m", .max = "64g" },
	{ "cache", "replicas", conf_set_uint, C(cache_replicas), .def = "0",
	  .min = "0", .max = "16" },
	{ "cache", "share_listings", conf_set_enum, C(share_listings), .def = "auto",
	  .names = conf_share_listings_names },

	{ "policy", "device_separator", conf_set_char, C(device_separator), .def = "#",
	  .names = conf_separator_names },
	{ "policy", "delete_action", conf_set_enum, C(delete_action), .def = "hide",
	  .names = conf_delete_names },
	{ "policy", "mark_seen_on_retr", conf_set_bool, C(mark_seen_on_retr), .def = "yes" },
	{ "policy", "new_device_sees", conf_set_enum, C(new_device_sees), .def = "all",
	  .names = conf_new_device_names },
	{ "policy", "trash_mailbox", conf_set_string, C(trash_mailbox), .def = "",
	  .min = "1", .max = "200", .check = conf_check_mailbox, .flags = CONF_EMPTY_NONE },

	/* [device PATTERN]: a profile; the last three default to [policy]'s */
	{ "device", "account", conf_set_string, P(account), .def = "", .max = "200",
	  .check = conf_check_glob, .flags = CONF_EMPTY_NONE },
	{ "device", "folders", conf_set_folders, 0, .flags = CONF_IMPLIED },
	{ "device", "show", conf_set_enum, P(show), .def = "all", .names = conf_show_names },
	{ "device", "max_age", conf_set_age, P(max_age_secs), .def = "0", .min = "0",
	  .max = "3650d", .zero = "any age" },
	{ "device", "delete_action", conf_set_enum, P(delete_action),
	  .names = conf_delete_names, .flags = CONF_IMPLIED },
	{ "device", "new_device_sees", conf_set_enum, P(new_device_sees),
	  .names = conf_new_device_names, .flags = CONF_IMPLIED },
	{ "device", "mark_seen_on_retr", conf_set_bool, P(mark_seen_on_retr),
	  .flags = CONF_IMPLIED },

	{ "retention", "when", conf_set_enum, C(retention_when), .def = "off",
	  .names = conf_retention_when_names },
	{ "retention", "action", conf_set_enum, C(retention_action), .def = "trash",
	  .names = conf_retention_action_names },
	{ "retention", "min_age", conf_set_secs, C(retention_min_age_secs), .def = "0",
	  .min = "0", .max = "3650d", .zero = "any age" },
	{ "retention", "forget_after", conf_set_secs, C(retention_forget_after_secs),
	  .def = "90d", .min = "0", .max = "3650d", .zero = "never" },
	{ "retention", "dry_run", conf_set_bool, C(retention_dry_run), .def = "no" },
	{ "retention", "max_messages", conf_set_uint, C(retention_max_messages), .def = "500",
	  .min = "1", .max = "5000" },
	{ "retention", "max_time", conf_set_msecs, C(retention_max_time_ms), .def = "10s",
	  .min = "100ms", .max = "5m" },

	{ "tls", "cert_file", conf_set_string, C(tls_cert_file), .def = "",
	  .check = conf_check_file, .flags = CONF_EMPTY_NONE },
	{ "tls", "key_file", conf_set_string, C(tls_key_file), .def = "",
	  .check = conf_check_file, .flags = CONF_EMPTY_NONE },

	{ "process", "daemon", conf_set_bool, C(daemon), .def = "no" },
	{ "process", "pid_file", conf_set_string, C(pid_file), .def = "",
	  .check = conf_check_absolute, .flags = CONF_EMPTY_NONE },
	{ "process", "user", conf_set_string, C(user), .def = "", .max = "32",
	  .check = conf_check_account, .flags = CONF_EMPTY_NONE },
	{ "process", "group", conf_set_string, C(group), .def = "", .max = "32",
	  .check = conf_check_account, .flags = CONF_EMPTY_NONE },

	{ "metrics", "listen", conf_set_metrics_listen, 0, .def = "" },
	{ "metrics", "max_connections", conf_set_uint, C(metrics_max_connections),
	  .def = "64", .min = "1", .max = "10000" },
	{ "metrics", "request_timeout", conf_set_msecs, C(metrics_request_timeout_ms),
	  .def = "10s", .min = "1s", .max = "10m" },

	{ "enrol", "listen", conf_set_enrol_listen, 0, .def = "" },
	{ "enrol", "url", conf_set_string, C(enrol_url), .def = "", .max = "300",
	  .check = conf_check_url, .flags = CONF_EMPTY_NONE },
	{ "enrol", "max_connections", conf_set_uint, C(enrol_max_connections),
	  .def = "128", .min = "1", .max = "10000" },
	{ "enrol", "request_timeout", conf_set_msecs, C(enrol_request_timeout_ms),
	  .def = "10s", .min = "1s", .max = "10m" },
};

const size_t conf_key_count = sizeof(conf_keys) / sizeof(conf_keys[0]);
_Static_assert(sizeof(conf_keys) / sizeof(conf_keys[0]) <= CONF_KEYS_MAX,
	       "CONF_KEYS_MAX too small");
