/* The key table (conf_keys.c) and its typed setters, through conf_load:
   every row's default, range ends and duplicate rule, adversarial values
   for each type, mailbox names, the exported value names.

   "test_conf_keys --list" prints the table as JSON lines instead, for the
   documentation check of tests/packaging/run.py. */

#include <syslog.h>

#include "num.h"
#include "test_conf_fixture.h"

#define KEYS_MAX 128

static struct conf_key_info keys[KEYS_MAX];
static size_t key_count;

static void keys_read(void)
{
	key_count = 0;
	while (key_count < KEYS_MAX && conf_key_info(key_count, &keys[key_count]))
		key_count++;
}

/* The section header of a key's section: [device x] for the profile
   keys (a [device] section needs a pattern). */
static const char *key_header(const char *section)
{
	return strcmp(section, "device") == 0 ? "device x" : section;
}

/* A file with the key set to value on its last line, which it returns:
   in its section, with the host an [upstream] needs (unless the key is
   host), the certificate listen_tls needs, and the other end of the
   auth_fail_delay pair (the cap must not be below the first wait). route:
   in a [route]. */
static unsigned int key_file(char *buf, size_t size, const struct conf_key_info *k,
			     bool route, const char *value)
{
	const char *host = strcmp(k->name, "host") == 0 ? "" : "host = h\n";

	if (route || k->route) {
		snprintf(buf, size, "[%s]\n%s%s = %s\n", route ? "route x.example" : "upstream",
			 host, k->name, value);
		return host[0] != '\0' ? 3 : 2;
	}
	if (strcmp(k->name, "listen_tls") == 0) {
		snprintf(buf, size, "[tls]\ncert_file = /etc/hostname\nkey_file = /etc/hostname\n"
			 "[upstream]\nhost = h\n[%s]\n%s = %s\n", k->section, k->name, value);
		return 7;
	}
	if (strncmp(k->name, "auth_fail_delay", strlen("auth_fail_delay")) == 0 &&
	    strcmp(k->name, "auth_fail_window") != 0) {
		snprintf(buf, size, "[upstream]\nhost = h\n[%s]\n%s\n%s = %s\n", k->section,
			 strcmp(k->name, "auth_fail_delay") == 0 ? "auth_fail_delay_max = 5m" :
			 "auth_fail_delay = 0", k->name, value);
		return 5;
	}
	snprintf(buf, size, "[upstream]\nhost = h\n[%s]\n%s = %s\n", key_header(k->section),
		 k->name, value);
	return 4;
}

/* A value of the key that loads, for keys without a default. */
static const char *key_sample(const struct conf_key_info *k)
{
	if (k->def != NULL)
		return k->def;
	if (strcmp(k->name, "host") == 0)
		return "imap.example.com";
	if (strcmp(k->name, "port") == 0)
		return "1143";
	/* A profile's policy values: [policy]'s unless given. */
	for (size_t i = 0; strcmp(k->section, "device") == 0 && i < key_count; i++) {
		if (strcmp(keys[i].section, "policy") == 0 && strcmp(keys[i].name, k->name) == 0)
			return keys[i].def;
	}
	return "127.0.0.1:1110";
}

/* A number as written in the file ("90s") in the key's base unit:
   seconds for durations, milliseconds for milliseconds. */
static uint64_t key_base_value(const struct conf_key_info *k, const char *text)
{
	static const struct {
		const char *unit;
		uint64_t secs, ms;
	} units[] = {
		{ "", 1, 1 }, { "ms", 0, 1 }, { "s", 1, 1000 }, { "m", 60, 60000 },
		{ "h", 3600, 3600000 }, { "d", 86400, 86400000 },
	};
	size_t pos = 0;
	uint64_t v;

	ck_assert_int_eq(num_scan_u64(text, strlen(text), &pos, UINT32_MAX, &v), NUM_OK);
	for (size_t i = 0; i < N(units); i++) {
		if (strcmp(text + pos, units[i].unit) != 0)
			continue;
		if (strcmp(k->type, "number") == 0)
			ck_assert_str_eq(units[i].unit, "");
		return v * (strcmp(k->type, "milliseconds") == 0 ? units[i].ms : units[i].secs);
	}
	ck_abort_msg("%s: bad range text '%s'", k->name, text);
	return 0;
}

static bool key_numeric(const struct conf_key_info *k)
{
	return strcmp(k->type, "number") == 0 || strcmp(k->type, "duration") == 0 ||
		strcmp(k->type, "milliseconds") == 0;
}

START_TEST(table_sane)
{
	keys_read();
	ck_assert_uint_ge(key_count, 40);
	ck_assert_uint_lt(key_count, KEYS_MAX);
	for (size_t i = 0; i < key_count; i++) {
		const struct conf_key_info *k = &keys[i];

		for (size_t j = 0; j < i; j++)
			ck_assert_msg(strcmp(keys[j].section, k->section) != 0 ||
				      strcmp(keys[j].name, k->name) != 0, "%s twice", k->name);
		/* Numbers have both ends; no default means a reason why. */
		ck_assert_msg(!key_numeric(k) || (k->min != NULL && k->max != NULL), "%s", k->name);
		ck_assert_msg(k->def != NULL || k->required || k->implied || k->repeatable,
			      "%s has no default and no reason", k->name);
		ck_assert_msg(k->route == (strcmp(k->section, "upstream") == 0), "%s", k->name);
		if (key_numeric(k))
			ck_assert_uint_le(key_base_value(k, k->min), key_base_value(k, k->max));
	}
}
END_TEST

/* Each key set to its default (or a sample value) loads, in [upstream]
   and in a [route] for the upstream keys. */
START_TEST(default_loads)
{
	char text[512];
	struct conf *conf;

	keys_read();
	for (size_t i = 0; i < key_count; i++) {
		for (int route = 0; route <= (int)keys[i].route; route++) {
			key_file(text, sizeof(text), &keys[i], route, key_sample(&keys[i]));
			conf = load_ok(text);
			conf_free(&conf);
		}
	}
}
END_TEST

/* Both ends of each range load; one base unit beyond either does not, and
   the message names the range as the table writes it. */
START_TEST(range_ends)
{
	char text[512], value[32], want[96];
	const struct conf_key_info *k;
	unsigned int line;
	uint64_t lo, hi;

	keys_read();
	ck_assert_uint_lt(_i, key_count);
	k = &keys[_i];
	if (!key_numeric(k))
		return;
	lo = key_base_value(k, k->min);
	hi = key_base_value(k, k->max);
	key_file(text, sizeof(text), k, false, k->min);
	conf_free(&(struct conf *){ load_ok(text) });
	key_file(text, sizeof(text), k, false, k->max);
	conf_free(&(struct conf *){ load_ok(text) });

	snprintf(want, sizeof(want), "'%s' in [%s]: out of range (%s..%s", k->name,
		 key_header(k->section), k->min, k->max);
	snprintf(value, sizeof(value), "%llu", (unsigned long long)hi + 1);
	line = key_file(text, sizeof(text), k, false, value);
	load_fails(text, line, want);
	if (lo > 0) {
		snprintf(value, sizeof(value), "%llu", (unsigned long long)lo - 1);
		key_file(text, sizeof(text), k, false, value);
		load_fails(text, line, want);
	}
	/* Far beyond 32 bits: the same message, never a wrapped value. */
	key_file(text, sizeof(text), k, false, "99999999999999999999999999");
	load_fails(text, line, want);
}
END_TEST

/* A key given twice is an error naming the first line, unless the key is
   repeatable; in a [route] too. */
START_TEST(duplicates)
{
	char one[512], text[640], want[128];
	const struct conf_key_info *k;
	unsigned int line;

	keys_read();
	ck_assert_uint_lt(_i, key_count);
	k = &keys[_i];
	for (int route = 0; route <= (int)k->route; route++) {
		line = key_file(one, sizeof(one), k, route, key_sample(k));
		if (k->repeatable) {
			snprintf(text, sizeof(text), "%s%s = 127.0.0.1:2110\n", one, k->name);
			conf_free(&(struct conf *){ load_ok(text) });
			continue;
		}
		snprintf(text, sizeof(text), "%s%s = %s\n", one, k->name, key_sample(k));
		snprintf(want, sizeof(want), "'%s' in [%s%s] given twice (first on line %u)",
			 k->name, route ? "route " : "", route ? "x.example" : key_header(k->section),
			 line);
		load_fails(text, line + 1, want);
	}
}
END_TEST

/* A file with every key at its default gives what conf_new_defaults
   gives. */
START_TEST(file_defaults_are_built_in)
{
	char text[4096] = "";
	const char *section = "";
	struct conf *conf, *def = conf_new_defaults();
	size_t o = 0;

	keys_read();
	for (size_t i = 0; i < key_count; i++) {
		const struct conf_key_info *k = &keys[i];

		if (strcmp(k->section, section) != 0)
			o += (size_t)snprintf(text + o, sizeof(text) - o, "[%s]\n",
					      key_header(section = k->section));
		if (k->def != NULL || k->required)
			o += (size_t)snprintf(text + o, sizeof(text) - o, "%s = %s\n", k->name,
					      k->def != NULL ? k->def : "h");
	}
	conf = load_ok(text);
	ck_assert_uint_eq(conf->listen_count, def->listen_count);
	ck_assert_str_eq(conf->listen[0].host, def->listen[0].host);
	ck_assert_uint_eq(conf->listen[0].port, def->listen[0].port);
	ck_assert_uint_eq(conf->idle_timeout_secs, def->idle_timeout_secs);
	ck_assert_uint_eq(conf->max_connections, def->max_connections);
	ck_assert_uint_eq(conf->max_bad_commands, def->max_bad_commands);
	ck_assert_uint_eq(conf->max_connections_per_ip, def->max_connections_per_ip);
	ck_assert_uint_eq(conf->auth_fail_delay_ms, def->auth_fail_delay_ms);
	ck_assert_uint_eq(conf->auth_fail_delay_max_ms, def->auth_fail_delay_max_ms);
	ck_assert_uint_eq(conf->auth_fail_window_secs, def->auth_fail_window_secs);
	ck_assert_uint_eq(conf->max_session_secs, def->max_session_secs);
	ck_assert_uint_eq(conf->login_delay_secs, def->login_delay_secs);
	ck_assert_uint_eq(conf->shutdown_grace_secs, def->shutdown_grace_secs);
	ck_assert_str_eq(conf->greeting, def->greeting);
	ck_assert_int_eq(conf->plaintext_auth, def->plaintext_auth);
	ck_assert_uint_eq(conf->local_network_count, def->local_network_count);
	ck_assert_mem_eq(conf->local_networks, def->local_networks,
			 def->local_network_count * sizeof(def->local_networks[0]));
	ck_assert_int_eq(conf->upstream->tls, CONF_TLS_IMAPS);
	ck_assert_uint_eq(conf->upstream->port, 993);
	ck_assert(!conf->upstream->port_set);
	ck_assert(conf->upstream->verify);
	ck_assert_ptr_null(conf->upstream->ca_file);
	ck_assert_uint_eq(conf->upstream->timeout_secs, 30);
	ck_assert_str_eq(conf->upstream->mailbox, "INBOX");
	ck_assert_int_eq(conf->upstream->login_name, CONF_LOGIN_FULL);
	ck_assert_int_eq(conf->log_target, def->log_target);
	ck_assert_int_eq(conf->log_level, def->log_level);
	ck_assert_str_eq(conf->log_ident, def->log_ident);
	ck_assert_int_eq(conf->log_facility, LOG_MAIL);
	ck_assert_int_eq(def->log_facility, LOG_MAIL);
	ck_assert_str_eq(conf->cache_url, def->cache_url);
	ck_assert_ptr_null(conf->cache_password);
	ck_assert_str_eq(conf->cache_state_dir, def->cache_state_dir);
	ck_assert_str_eq(conf->cache_redis_server, def->cache_redis_server);
	ck_assert_uint_eq(conf->cache_timeout_ms, def->cache_timeout_ms);
	ck_assert_uint_eq(conf->lock_ttl_secs, def->lock_ttl_secs);
	ck_assert_int_eq(conf->device_separator, def->device_separator);
	ck_assert_int_eq(conf->delete_action, def->delete_action);
	ck_assert(conf->mark_seen_on_retr == def->mark_seen_on_retr);
	ck_assert_int_eq(conf->new_device_sees, def->new_device_sees);
	ck_assert_ptr_null(conf->trash_mailbox);
	ck_assert_ptr_null(conf->tls_cert_file);
	ck_assert_ptr_null(conf->tls_key_file);
	ck_assert(!conf->daemon);
	ck_assert_ptr_null(conf->pid_file);
	ck_assert_ptr_null(conf->user);
	ck_assert_ptr_null(conf->group);
	ck_assert_ptr_null(conf->metrics_host);
	conf_free(&conf);
	conf_free(&def);
}
END_TEST

/* Bad values of each type: the line, the key and why. */
static const struct {
	const char *section, *key, *value, *want;
} bad_values[] = {
	/* numbers */
	{ "server", "max_connections", "-1", "not a number" },
	{ "server", "max_connections", "+5", "not a number" },
	{ "server", "max_connections", "0x10", "not a number" },
	{ "server", "max_connections", "1e3", "not a number" },
	{ "server", "max_connections", "12abc", "not a number" },
	{ "server", "max_connections", "1 000", "not a number" },
	{ "server", "max_connections", "10s", "not a number" },
	{ "server", "max_connections", "", "empty value" },
	{ "server", "max_connections", "0", "out of range (1..1000000)" },
	{ "server", "max_connections", "4294967296", "out of range (1..1000000)" },
	{ "server", "max_connections_per_ip", "1000001",
	  "out of range (0..1000000, 0: no limit)" },
	/* durations */
	{ "server", "idle_timeout", "10x", "unknown unit (use s, m, h or d)" },
	{ "server", "idle_timeout", "10M", "unknown unit" },
	{ "server", "idle_timeout", "10ms", "unknown unit" },
	{ "server", "idle_timeout", "1 m", "unknown unit" },
	{ "server", "idle_timeout", "1.5m", "fractions are not allowed" },
	{ "server", "idle_timeout", "1,5m", "fractions are not allowed" },
	{ "server", "idle_timeout", "m", "not a number" },
	{ "server", "idle_timeout", "-5s", "not a number" },
	{ "server", "idle_timeout", "", "empty value" },
	{ "server", "idle_timeout", "0", "out of range (1s..1d)" },
	{ "server", "idle_timeout", "2d", "out of range (1s..1d)" },
	{ "server", "idle_timeout", "49711d", "out of range (1s..1d)" },
	{ "server", "login_delay", "25h", "out of range (0..1d, 0: off)" },
	{ "server", "auth_fail_window", "59s", "out of range (1m..1d)" },
	{ "cache", "lock_ttl", "2s", "out of range (3s..1h)" },
	/* milliseconds */
	{ "server", "auth_fail_delay", "60001", "out of range (0..60s)" },
	{ "server", "auth_fail_delay", "2m", "out of range (0..60s)" },
	{ "server", "auth_fail_delay", "1us", "unknown unit (use ms, s, m, h or d)" },
	{ "server", "auth_fail_delay", "0.5s", "fractions" },
	{ "cache", "timeout", "9ms", "out of range (10ms..60s)" },
	{ "cache", "timeout", "4294967296ms", "out of range (10ms..60s)" },
	/* booleans */
	{ "policy", "mark_seen_on_retr", "maybe", "not a boolean (use yes or no)" },
	{ "policy", "mark_seen_on_retr", "yess", "not a boolean" },
	{ "policy", "mark_seen_on_retr", "y", "not a boolean" },
	{ "policy", "mark_seen_on_retr", "2", "not a boolean" },
	{ "policy", "mark_seen_on_retr", "", "empty value" },
	/* enums: the allowed words */
	{ "policy", "delete_action", "hid", "expected hide, hide-all, trash or expunge" },
	{ "policy", "delete_action", "hide_all", "expected hide, hide-all, trash or expunge" },
	{ "policy", "delete_action", "", "expected hide" },
	{ "policy", "new_device_sees", "none", "expected all or new" },
	{ "server", "plaintext_auth", "tls_only", "expected local, tls-only or always" },
	{ "log", "level", "warning", "expected error, warn, info or debug" },
	{ "log", "facility", "local8", "expected mail, daemon, user or local0 .. local7" },
	{ "log", "facility", "LOG_MAIL", "local0 .. local7" },
	{ "upstream", "tls", "ssl", "expected imaps, starttls or none" },
	{ "upstream", "login_name", "local", "expected full or local-part" },
	/* one character */
	{ "policy", "device_separator", "##", "one of # + % ! / : ;" },
	{ "policy", "device_separator", "@", "one of # + % ! / : ;" },
	{ "policy", "device_separator", "", "one of # + % ! / : ;" },
	/* ports */
	{ "upstream", "port", "0", "port out of range (1..65535)" },
	{ "upstream", "port", "65536", "port out of range (1..65535)" },
	{ "upstream", "port", "99999999999999999999", "port out of range" },
	{ "upstream", "port", "-1", "port is not a number" },
	{ "upstream", "port", "143a", "port is not a number" },
	{ "upstream", "port", "", "missing port" },
	/* strings: length, empty, checks */
	{ "log", "ident", "abcdefghijabcdefghijabcdefghijabc", "must be 1 to 32 characters" },
	{ "log", "ident", "", "must be 1 to 32 characters" },
	{ "process", "user", "abcdefghijabcdefghijabcdefghijabc", "at most 32 characters" },
	{ "process", "group", "-x", "not starting with a digit" },
	{ "server", "greeting", "", "must be 1 to 200 characters" },
	{ "cache", "url", "", "empty value (the default is auto)" },
	{ "cache", "redis_server", "", "empty value (the default is redis-server)" },
	{ "cache", "state_dir", "", "must be an absolute path" },
	{ "cache", "state_dir", "lib/popgate", "must be an absolute path" },
	{ "process", "pid_file", "p.pid", "must be an absolute path" },
	{ "tls", "cert_file", "/nonexistent/cert.pem", "no such file" },
	{ "upstream", "host", "", "empty host" },
	{ "upstream", "host", "[::1]", "without brackets" },
	/* lists and addresses */
	{ "server", "local_networks", "10.0.0.0/8 junk", "not an IPv4 or IPv6 address" },
	{ "server", "local_networks",
	  "1.0.0.0/8 2.0.0.0/8 3.0.0.0/8 4.0.0.0/8 5.0.0.0/8 6.0.0.0/8 7.0.0.0/8 8.0.0.0/8 "
	  "9.0.0.0/8 10.0.0.0/8 11.0.0.0/8 12.0.0.0/8 13.0.0.0/8 14.0.0.0/8 15.0.0.0/8 "
	  "16.0.0.0/8 17.0.0.0/8", "too many networks (at most 16)" },
	{ "server", "listen", "", "empty value" },
	{ "server", "listen", "127.0.0.1:http", "port is not a number" },
	{ "metrics", "listen", "*", "missing port" },
	/* [device PATTERN] profiles */
	{ "device", "show", "unread", "expected all or unseen" },
	{ "device", "show", "", "expected all or unseen" },
	{ "device", "max_age", "1y", "unknown unit (use s, m, h, d or w)" },
	{ "device", "max_age", "w", "not a number" },
	{ "device", "max_age", "-1d", "not a number" },
	{ "device", "max_age", "1.5w", "fractions are not allowed" },
	{ "device", "max_age", "3651d", "out of range (0..3650d, 0: any age)" },
	{ "device", "max_age", "522w", "out of range (0..3650d, 0: any age)" },
	{ "device", "max_age", "99999999999999999999w", "out of range (0..3650d" },
	{ "device", "max_age", "", "empty value" },
	{ "device", "account", "[ab]*@example.com", "'*' and '?' only" },
	{ "device", "account", "a\\*", "'*' and '?' only" },
	{ "device", "account", "a b", "spaces" },
	{ "device", "account", "\xc3\xa4*", "non-ASCII" },
	{ "device", "delete_action", "hidden", "expected hide, hide-all, trash or expunge" },
	{ "device", "new_device_sees", "old", "expected all or new" },
	{ "device", "mark_seen_on_retr", "sometimes", "not a boolean" },
};

START_TEST(bad_value)
{
	char text[512], want[256];
	struct conf_key_info k = { .section = bad_values[_i].section, .name = bad_values[_i].key };
	unsigned int line;

	k.route = strcmp(k.section, "upstream") == 0;
	line = key_file(text, sizeof(text), &k, false, bad_values[_i].value);
	snprintf(want, sizeof(want), "bad value for '%s' in [%s]: ", k.name,
		 key_header(k.section));
	load_fails(text, line, want);
	load_fails(text, line, bad_values[_i].want);
}
END_TEST

/* Mailbox names: the builders quote them, so anything but control
   characters and bytes that are not UTF-8 is fine. */
static const char *const good_mailboxes[] = {
	"Deleted Items", "My Mail", "\"INBOX\"", "{5}", "a\\b", "%*()", "[Gmail]/Trash",
	"Entw&APw-rfe", "Entw\xc3\xbcrfe", "\xe5\x9e\x83\xe5\x9c\xbe", "\xf0\x9f\x93\xa5 in", "x",
};

START_TEST(mailbox_names)
{
	char text[256];
	struct conf *conf;

	snprintf(text, sizeof(text), "[upstream]\nhost = h\nmailbox = %s\n[policy]\n"
		 "trash_mailbox = %s\n[route x.example]\nhost = h\nmailbox = %s\n",
		 good_mailboxes[_i], good_mailboxes[_i], good_mailboxes[_i]);
	conf = load_ok(text);
	ck_assert_str_eq(conf->upstream->mailbox, good_mailboxes[_i]);
	ck_assert_str_eq(conf->trash_mailbox, good_mailboxes[_i]);
	ck_assert_str_eq(conf->routes[0].mailbox, good_mailboxes[_i]);
	conf_free(&conf);
}
END_TEST

START_TEST(mailbox_longest)
{
	char text[512], name[190];
	struct conf *conf;

	/* The longest a line allows ("mailbox=" + 189 = 197). */
	memset(name, 'm', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(text, sizeof(text), "[upstream]\nhost=h\nmailbox=%s\n", name);
	conf = load_ok(text);
	ck_assert_str_eq(conf->upstream->mailbox, name);
	conf_free(&conf);
}
END_TEST

/* The exported names are the words the file uses: each one, set in the
   file, gives its value back. */
START_TEST(value_names)
{
	char text[256];
	struct conf *conf;

	ck_assert_str_eq(conf_delete_action_name(CONF_DELETE_HIDE), "hide");
	ck_assert_str_eq(conf_delete_action_name(CONF_DELETE_HIDE_ALL), "hide-all");
	ck_assert_str_eq(conf_delete_action_name(CONF_DELETE_TRASH), "trash");
	ck_assert_str_eq(conf_delete_action_name(CONF_DELETE_EXPUNGE), "expunge");
	ck_assert_str_eq(conf_delete_action_name((enum conf_delete_action)4), "?");
	ck_assert_str_eq(conf_delete_action_name((enum conf_delete_action)-1), "?");
	ck_assert_str_eq(conf_tls_mode_name(CONF_TLS_STARTTLS), "starttls");
	ck_assert_str_eq(conf_new_device_name(CONF_NEW_DEVICE_NEW), "new");
	ck_assert_str_eq(conf_login_name_name(CONF_LOGIN_LOCAL_PART), "local-part");
	ck_assert_str_eq(conf_plaintext_auth_name(CONF_PLAINTEXT_TLS_ONLY), "tls-only");
	ck_assert_str_eq(conf_log_target_name(LOG_TARGET_SYSLOG), "syslog");
	ck_assert_str_eq(conf_log_level_name(LOG_LEVEL_DEBUG), "debug");
	ck_assert_str_eq(conf_log_level_name((enum log_level)9), "?");
	ck_assert_str_eq(conf_log_facility_name(LOG_LOCAL3), "local3");
	ck_assert_str_eq(conf_log_facility_name(LOG_MAIL), "mail");
	ck_assert_str_eq(conf_log_facility_name(LOG_KERN), "?");

	for (int v = CONF_DELETE_HIDE; v <= CONF_DELETE_EXPUNGE; v++) {
		snprintf(text, sizeof(text),
			 "[upstream]\nhost = h\ntls = %s\nlogin_name = %s\n[policy]\n"
			 "delete_action = %s\nnew_device_sees = %s\n[server]\nplaintext_auth = %s\n"
			 "[log]\ntarget = stderr\nlevel = %s\nfacility = %s\n",
			 conf_tls_mode_name((enum conf_tls_mode)(v % 3)),
			 conf_login_name_name((enum conf_login_name)(v % 2)),
			 conf_delete_action_name((enum conf_delete_action)v),
			 conf_new_device_name((enum conf_new_device)(v % 2)),
			 conf_plaintext_auth_name((enum conf_plaintext_auth)(v % 2 * 2)),
			 conf_log_level_name((enum log_level)v),
			 conf_log_facility_name(v == 0 ? LOG_MAIL : LOG_LOCAL0 + (v << 3)));
		conf = load_ok(text);
		ck_assert_int_eq(conf->upstream->tls, v % 3);
		ck_assert_int_eq(conf->upstream->login_name, v % 2);
		ck_assert_int_eq(conf->delete_action, v);
		ck_assert_int_eq(conf->new_device_sees, v % 2);
		ck_assert_int_eq(conf->plaintext_auth, v % 2 * 2);
		ck_assert_int_eq(conf->log_level, v);
		ck_assert_int_eq(conf->log_facility, v == 0 ? LOG_MAIL : LOG_LOCAL0 + (v << 3));
		conf_free(&conf);
	}
}
END_TEST

/* Enum words in any case; units and boolean words as documented. */
START_TEST(accepted_forms)
{
	struct conf *conf = load_ok("[upstream]\nhost = h\ntls = StartTLS\nverify = OFF\n"
				    "[server]\nidle_timeout = 90\nauth_fail_delay = 1500\n"
				    "max_session_time = 0001h\nauth_fail_delay_max = 1m\n"
				    "[cache]\ntimeout = 10ms\n[policy]\ndevice_separator=;\n"
				    "mark_seen_on_retr = True\ndelete_action = HIDE-ALL\n");

	ck_assert_int_eq(conf->upstream->tls, CONF_TLS_STARTTLS);
	ck_assert(!conf->upstream->verify);
	ck_assert_uint_eq(conf->idle_timeout_secs, 90);
	ck_assert_uint_eq(conf->auth_fail_delay_ms, 1500);
	ck_assert_uint_eq(conf->auth_fail_delay_max_ms, 60000);
	ck_assert_uint_eq(conf->max_session_secs, 3600);
	ck_assert_uint_eq(conf->cache_timeout_ms, 10);
	ck_assert_int_eq(conf->device_separator, ';');
	ck_assert(conf->mark_seen_on_retr);
	ck_assert_int_eq(conf->delete_action, CONF_DELETE_HIDE_ALL);
	conf_free(&conf);
}
END_TEST

/* An empty value where that means none: back to none after a value. */
START_TEST(empty_means_none)
{
	struct conf *conf = load_ok("[upstream]\nhost = h\nca_file =\n[cache]\npassword =\n"
				    "[process]\nuser =\ngroup =\npid_file =\n[metrics]\nlisten =\n"
				    "[policy]\ntrash_mailbox =\n[tls]\ncert_file =\nkey_file =\n");

	ck_assert_ptr_null(conf->upstream->ca_file);
	ck_assert_ptr_null(conf->cache_password);
	ck_assert_ptr_null(conf->user);
	ck_assert_ptr_null(conf->pid_file);
	ck_assert_ptr_null(conf->metrics_host);
	ck_assert_ptr_null(conf->trash_mailbox);
	ck_assert_ptr_null(conf->tls_cert_file);
	conf_free(&conf);

	/* listen_tls alone replaces the default listen address too. */
	conf = load_ok("[server]\nlisten_tls = 127.0.0.1:1995\n[upstream]\nhost = h\n[tls]\n"
		       "cert_file = /etc/hostname\nkey_file = /etc/hostname\n");
	ck_assert_uint_eq(conf->listen_count, 1);
	ck_assert(conf->listen[0].tls);
	ck_assert_uint_eq(conf->listen[0].port, 1995);
	conf_free(&conf);

	/* An explicit port equal to the implied one still counts as given. */
	conf = load_ok("[upstream]\nhost = h\nport = 993\n");
	ck_assert(conf->upstream->port_set);
	conf_free(&conf);
}
END_TEST

static Suite *conf_keys_suite(void)
{
	Suite *s = suite_create("conf_keys");
	TCase *tc;

	keys_read();
	tc = tcase_create("table");
	tcase_add_test(tc, table_sane);
	tcase_add_test(tc, default_loads);
	tcase_add_loop_test(tc, range_ends, 0, (int)key_count);
	tcase_add_loop_test(tc, duplicates, 0, (int)key_count);
	tcase_add_test(tc, file_defaults_are_built_in);
	suite_add_tcase(s, tc);

	tc = tcase_create("setters");
	tcase_add_loop_test(tc, bad_value, 0, N(bad_values));
	tcase_add_loop_test(tc, mailbox_names, 0, N(good_mailboxes));
	tcase_add_test(tc, mailbox_longest);
	tcase_add_test(tc, value_names);
	tcase_add_test(tc, accepted_forms);
	tcase_add_test(tc, empty_means_none);
	suite_add_tcase(s, tc);
	return s;
}

/* A JSON string, or null. The table's strings are plain ASCII. */
static void list_str(const char *name, const char *s, const char *sep)
{
	printf("\"%s\": ", name);
	if (s == NULL) {
		printf("null%s", sep);
		return;
	}
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	printf("\"%s", sep);
}

/* One JSON object per key, the [upstream] keys again as "route". */
static int list_keys(void)
{
	struct conf_key_info k;

	for (size_t i = 0; conf_key_info(i, &k); i++) {
		for (int route = 0; route <= (int)k.route; route++) {
			putchar('{');
			list_str("section", route ? "route" : k.section, ", ");
			list_str("name", k.name, ", ");
			list_str("type", k.type, ", ");
			list_str("default", k.def, ", ");
			list_str("min", k.min, ", ");
			list_str("max", k.max, ", ");
			printf("\"repeatable\": %s, \"required\": %s, \"implied\": %s}\n",
			       k.repeatable ? "true" : "false", k.required ? "true" : "false",
			       k.implied ? "true" : "false");
		}
	}
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	SRunner *sr;
	int failed;

	if (argc == 2 && strcmp(argv[1], "--list") == 0)
		return list_keys();
	sr = srunner_create(conf_keys_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
