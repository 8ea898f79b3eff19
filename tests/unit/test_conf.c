/* Configuration loading: the keys and their values, the built-in
   defaults, the shipped sample (it loads and lists every key). Errors and
   routes are in test_conf_errors.c, the key table in test_conf_keys.c. */

#include <ini.h>

#include "test_conf_fixture.h"

/* Every key popgate knows, as it must appear in the sample. */
static const char *const all_keys[][2] = {
	{ "server", "listen" },
	{ "server", "idle_timeout" },
	{ "server", "login_timeout" },
	{ "server", "max_connections" },
	{ "server", "max_unauthenticated" },
	{ "server", "max_listing_memory" },
	{ "server", "max_bad_commands" },
	{ "server", "auth_fail_delay" },
	{ "server", "greeting" },
	{ "upstream", "host" },
	{ "upstream", "port" },
	{ "upstream", "tls" },
	{ "upstream", "verify" },
	{ "upstream", "ca_file" },
	{ "upstream", "timeout" },
	{ "upstream", "mailbox" },
	{ "log", "target" },
	{ "log", "level" },
	{ "log", "ident" },
	{ "server", "plaintext_auth" },
	{ "server", "local_networks" },
	{ "tls", "cert_file" },
	{ "tls", "key_file" },
	{ "cache", "url" },
	{ "cache", "password" },
	{ "cache", "state_dir" },
	{ "cache", "redis_server" },
	{ "cache", "timeout" },
	{ "cache", "lock_ttl" },
	{ "cache", "max_memory" },
	{ "cache", "replicas" },
	{ "policy", "device_separator" },
	{ "policy", "delete_action" },
	{ "policy", "mark_seen_on_retr" },
	{ "policy", "new_device_sees" },
	{ "policy", "trash_mailbox" },
	{ "retention", "when" },
	{ "retention", "action" },
	{ "retention", "min_age" },
	{ "retention", "forget_after" },
	{ "retention", "dry_run" },
	{ "retention", "max_messages" },
	{ "retention", "max_time" },
	{ "server", "max_connections_per_ip" },
	{ "server", "auth_fail_delay_max" },
	{ "server", "auth_fail_window" },
	{ "server", "max_session_time" },
	{ "server", "login_delay" },
	{ "server", "shutdown_grace" },
	{ "upstream", "login_name" },
	{ "log", "facility" },
	{ "process", "daemon" },
	{ "process", "pid_file" },
	{ "process", "user" },
	{ "process", "group" },
	{ "metrics", "listen" },
	{ "server", "proxy_networks" },
	{ "server", "proxy_timeout" },
	{ "server", "shared_limits" },
	{ "server", "resolver" },
	/* Alone (without auth = oauth2) only as their defaults. */
	{ "upstream", "auth" },
	{ "upstream", "oauth_provider" },
	{ "upstream", "oauth_mechanism" },
	{ "upstream", "client_id" },
	{ "upstream", "client_secret" },
	{ "upstream", "authorization_endpoint" },
	{ "upstream", "token_endpoint" },
	{ "upstream", "device_endpoint" },
	{ "upstream", "scope" },
	{ "upstream", "token_timeout" },
	{ "enrol", "listen" },
	{ "enrol", "url" },
	{ "server", "prefetch_max_size" },
	{ "server", "keep_max" },
	{ "upstream", "keep_idle" },
	{ "upstream", "keep_per_account" },
	{ "upstream", "uidl_format" },
	{ "upstream", "throttle_backoff" },
	{ "upstream", "throttle_backoff_max" },
	{ "upstream", "exact_sizes" },
	{ "upstream", "legacy_pop3" },
	{ "upstream", "legacy_plaintext" },
	{ "upstream", "legacy_timeout" },
	{ "upstream", "legacy_unreachable" },
	{ "metrics", "max_connections" },
	{ "metrics", "request_timeout" },
	{ "server", "max_messages" },
	{ "enrol", "max_connections" },
	{ "enrol", "request_timeout" },
	{ "server", "reuse_port" },
	{ "cache", "share_listings" },
};

/* Keys the sample can only show commented out: they need files that a
   fresh checkout does not have. */
static const char *const commented_keys[] = { "#listen_tls = ", "#[route example.org]",
					       "#host = ", "#login_name = local-part" };

static char tmp_path[64];
START_TEST(defaults)
{
	struct conf *conf = conf_new_defaults();

	ck_assert_ptr_nonnull(conf);
	ck_assert_ptr_null(conf->path);
	ck_assert_uint_eq(conf->listen_count, 1);
	ck_assert_str_eq(conf->listen[0].host, "127.0.0.1");
	ck_assert_uint_eq(conf->listen[0].port, 1110);
	ck_assert_uint_eq(conf->idle_timeout_secs, 600);
	ck_assert_uint_eq(conf->max_connections, 1000);
	ck_assert_uint_eq(conf->max_bad_commands, 10);
	ck_assert_uint_eq(conf->auth_fail_delay_ms, 1000);
	ck_assert_str_eq(conf->greeting, "popgate ready");
	ck_assert_uint_eq(conf->max_connections_per_ip, 50);
	ck_assert_uint_eq(conf->auth_fail_delay_max_ms, 15000);
	ck_assert_uint_eq(conf->auth_fail_window_secs, 900);
	ck_assert_uint_eq(conf->max_session_secs, 7200);
	ck_assert_uint_eq(conf->login_delay_secs, 0);
	ck_assert_uint_eq(conf->shutdown_grace_secs, 10);
	ck_assert(!conf->reuse_port);
	ck_assert_ptr_null(conf->upstream);
	ck_assert_uint_eq(conf->route_count, 0);
	ck_assert(!conf->daemon);
	ck_assert_ptr_null(conf->pid_file);
	ck_assert_ptr_null(conf->user);
	ck_assert_ptr_null(conf->metrics_host);
	ck_assert_uint_eq(conf->metrics_max_connections, 64);
	ck_assert_uint_eq(conf->metrics_request_timeout_ms, 10000);
	ck_assert_uint_eq(conf->enrol_max_connections, 128);
	ck_assert_uint_eq(conf->enrol_request_timeout_ms, 10000);
	ck_assert_int_eq(conf->log_target, LOG_TARGET_STDERR);
	ck_assert_int_eq(conf->log_level, LOG_LEVEL_INFO);
	ck_assert_str_eq(conf->log_ident, "popgate");
	conf_free(&conf);
	ck_assert_ptr_null(conf);
	conf_free(&conf);
}
END_TEST

START_TEST(minimal_file)
{
	struct conf *conf = load_ok("[upstream]\nhost = imap.example.com\n");
	struct conf *def = conf_new_defaults();

	ck_assert_str_eq(conf->upstream->host, "imap.example.com");
	ck_assert_uint_eq(conf->upstream->port, 993);
	ck_assert_uint_eq(conf->listen_count, 1);
	ck_assert_str_eq(conf->listen[0].host, "127.0.0.1");
	ck_assert_uint_eq(conf->listen[0].port, 1110);
	ck_assert_uint_eq(conf->idle_timeout_secs, def->idle_timeout_secs);
	ck_assert_str_eq(conf->greeting, def->greeting);
	ck_assert(conf->upstream->verify);
	conf_free(&conf);
	conf_free(&def);
}
END_TEST

/* [cache] share_listings: auto shares on a Redis of one's own only. */
static const struct {
	const char *text;
	bool shares;
} share_table[] = {
	{ "[upstream]\nhost = h\n", false },
	{ "[upstream]\nhost = h\n[cache]\nurl = AUTO\n", false },
	{ "[upstream]\nhost = h\n[cache]\nurl = redis://r.example:6379\n", true },
	{ "[upstream]\nhost = h\n[cache]\nurl = unix:/run/r.sock\nshare_listings = no\n", false },
	{ "[upstream]\nhost = h\n[cache]\nshare_listings = yes\n", true },
	{ "[upstream]\nhost = h\n[cache]\nurl = unix:/r\nshare_listings = auto\n", true },
};

START_TEST(share_listings_follows_the_url)
{
	struct conf *conf = load_ok(share_table[_i].text);

	ck_assert_int_eq(conf_shares_listings(conf), share_table[_i].shares);
	conf_free(&conf);
}
END_TEST

static const struct {
	const char *text;
	enum conf_tls_mode tls;
	unsigned int port;
} port_table[] = {
	{ "[upstream]\nhost = h\ntls = imaps\n", CONF_TLS_IMAPS, 993 },
	{ "[upstream]\nhost = h\ntls = starttls\n", CONF_TLS_STARTTLS, 143 },
	{ "[upstream]\nhost = h\ntls = none\n", CONF_TLS_NONE, 143 },
	{ "[upstream]\nhost = h\ntls = IMAPS\n", CONF_TLS_IMAPS, 993 },
	/* an explicit port wins, before or after tls */
	{ "[upstream]\nport = 10993\nhost = h\ntls = imaps\n",
	  CONF_TLS_IMAPS, 10993 },
	{ "[upstream]\nhost = h\ntls = none\nport = 993\n", CONF_TLS_NONE,
	  993 },
};

START_TEST(port_follows_tls)
{
	struct conf *conf = load_ok(port_table[_i].text);

	ck_assert_int_eq(conf->upstream->tls, port_table[_i].tls);
	ck_assert_uint_eq(conf->upstream->port, port_table[_i].port);
	conf_free(&conf);
}
END_TEST

START_TEST(every_key_set)
{
	char text[2048], ca[] = "/tmp/popgate-test-ca-XXXXXX";
	struct conf *conf;
	int fd = mkstemp(ca);

	/* ca_file must name a readable file. */
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(text, sizeof(text),
		 "; every key, none at its default\n"
		 "[server]\n"
		 "listen = 0.0.0.0:110\n"
		 "listen = [::1]:1110\n"
		 "listen = *:2110\n"
		 "idle_timeout = 1h\n"
		 "max_connections = 1000000\n"
		 "max_bad_commands = 1\n"
		 "auth_fail_delay = 250ms\n"
		 "greeting = Mail gateway (legacy) ready!\n"
		 "reuse_port = yes\n"
		 "[upstream]\n"
		 "host = ::1\n"
		 "port = 10143\n"
		 "tls = starttls\n"
		 "verify = no\n"
		 "ca_file = %s\n"
		 "timeout = 10m\n"
		 "mailbox = Archive/POP]x\n"
		 "[log]\n"
		 "target = syslog\n"
		 "level = debug\n"
		 "ident = popgate-test_1.0\n", ca);
	conf = load_ok(text);
	ck_assert_uint_eq(conf->listen_count, 3);
	ck_assert_str_eq(conf->listen[0].host, "0.0.0.0");
	ck_assert_uint_eq(conf->listen[0].port, 110);
	ck_assert_str_eq(conf->listen[1].host, "::1");
	ck_assert_uint_eq(conf->listen[1].port, 1110);
	ck_assert_str_eq(conf->listen[2].host, "::");
	ck_assert_uint_eq(conf->listen[2].port, 2110);
	ck_assert_uint_eq(conf->idle_timeout_secs, 3600);
	ck_assert_uint_eq(conf->max_connections, 1000000);
	ck_assert_uint_eq(conf->max_bad_commands, 1);
	ck_assert_uint_eq(conf->auth_fail_delay_ms, 250);
	ck_assert_str_eq(conf->greeting, "Mail gateway (legacy) ready!");
	ck_assert(conf->reuse_port);
	ck_assert_str_eq(conf->upstream->host, "::1");
	ck_assert_uint_eq(conf->upstream->port, 10143);
	ck_assert_int_eq(conf->upstream->tls, CONF_TLS_STARTTLS);
	ck_assert(!conf->upstream->verify);
	ck_assert_str_eq(conf->upstream->ca_file, ca);
	ck_assert_uint_eq(conf->upstream->timeout_secs, 600);
	ck_assert_str_eq(conf->upstream->mailbox, "Archive/POP]x");
	ck_assert_int_eq(conf->log_target, LOG_TARGET_SYSLOG);
	ck_assert_int_eq(conf->log_level, LOG_LEVEL_DEBUG);
	ck_assert_str_eq(conf->log_ident, "popgate-test_1.0");
	conf_free(&conf);
	unlink(ca);
}
END_TEST

START_TEST(format_details)
{
	struct conf *conf;

	/* CRLF line ends, indentation, a BOM, inline ';' comments,
	   "key: value", and a repeated section header. */
	conf = load_ok("\xef\xbb\xbf# comment\r\n"
		       "[upstream]\r\n"
		       "    host = imap.example.com ; the provider\r\n"
		       "\tport: 1993\r\n"
		       "[server]\r\n"
		       "greeting = hello; world\r\n"
		       "[upstream]\r\n"
		       "  ; indented comment\r\n"
		       "  mailbox = INBOX\r\n");
	ck_assert_str_eq(conf->upstream->host, "imap.example.com");
	ck_assert_uint_eq(conf->upstream->port, 1993);
	/* ';' without a space before it is part of the value */
	ck_assert_str_eq(conf->greeting, "hello; world");
	conf_free(&conf);
}
END_TEST

/* An indented line is a key of its own, never a continuation of the
   previous value (inih's multi-line mode would glue them). */
START_TEST(indent_is_not_continuation)
{
	struct conf *conf = load_ok("[upstream]\nhost = h\n   tls = none\n");

	ck_assert_str_eq(conf->upstream->host, "h");
	ck_assert_int_eq(conf->upstream->tls, CONF_TLS_NONE);
	conf_free(&conf);
}
END_TEST

START_TEST(listen_limits)
{
	char text[1024] = "[upstream]\nhost = h\n[server]\n";
	struct conf *conf = NULL;
	char *error = NULL;
	const char *path;
	unsigned int i;

	for (i = 0; i < CONF_MAX_LISTEN; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "listen = 127.0.0.1:%u\n", 2000 + i);
	conf = load_ok(text);
	ck_assert_uint_eq(conf->listen_count, CONF_MAX_LISTEN);
	ck_assert_uint_eq(conf->listen[CONF_MAX_LISTEN - 1].port,
			  2000 + CONF_MAX_LISTEN - 1);
	conf_free(&conf);

	/* The ninth is on line 3 + 9. */
	strcat(text, "listen = 127.0.0.1:3000\n");
	path = write_tmp(text);
	ck_assert_int_eq(conf_load(path, &conf, &error), -1);
	ck_assert_ptr_null(conf);
	check_error(path, error, 12, "listen");
	check_error(path, error, 12, "at most 8");
	free(error);
	unlink(path);
}
END_TEST
/* The sample loads and sets the values its comments promise. */
START_TEST(sample_loads)
{
	struct conf *conf = NULL, *def = conf_new_defaults();
	char *error = NULL;

	ck_assert_msg(conf_load(SAMPLE, &conf, &error) == 0, "%s", error);
	ck_assert_str_eq(conf->path, SAMPLE);
	ck_assert_uint_eq(conf->listen_count, 1);
	ck_assert_str_eq(conf->listen[0].host, "127.0.0.1");
	ck_assert_uint_eq(conf->listen[0].port, 1110);
	/* The local test setup. */
	ck_assert_str_eq(conf->upstream->host, "127.0.0.1");
	ck_assert_uint_eq(conf->upstream->port, 143);
	ck_assert_int_eq(conf->upstream->tls, CONF_TLS_NONE);
	/* Everything else at its built-in default. */
	ck_assert_uint_eq(conf->idle_timeout_secs, def->idle_timeout_secs);
	ck_assert_uint_eq(conf->max_connections, def->max_connections);
	ck_assert_uint_eq(conf->max_bad_commands, def->max_bad_commands);
	ck_assert_uint_eq(conf->auth_fail_delay_ms, def->auth_fail_delay_ms);
	ck_assert_str_eq(conf->greeting, def->greeting);
	ck_assert(conf->upstream->verify);
	ck_assert_ptr_null(conf->upstream->ca_file);
	ck_assert_uint_eq(conf->upstream->timeout_secs, 30);
	ck_assert_str_eq(conf->upstream->mailbox, "INBOX");
	ck_assert_int_eq(conf->log_target, def->log_target);
	ck_assert_int_eq(conf->log_level, def->log_level);
	ck_assert_str_eq(conf->log_ident, def->log_ident);
	conf_free(&conf);
	conf_free(&def);
}
END_TEST

static int collect_key(void *user, const char *section, const char *name,
		       const char *value)
{
	unsigned int *seen = user;
	size_t i;

	(void)value;
	for (i = 0; i < N(all_keys); i++) {
		if (strcmp(all_keys[i][0], section) == 0 &&
		    strcmp(all_keys[i][1], name) == 0) {
			seen[i]++;
			return 1;
		}
	}
	/* A key the sample has and this list lacks: the list is stale. */
	return 0;
}

/* The sample sets every key (uncommented), and every key it sets is one
   conf_load knows (sample_loads). */
START_TEST(sample_complete)
{
	unsigned int seen[N(all_keys)] = { 0 };
	size_t i;

	ck_assert_int_eq(ini_parse(SAMPLE, collect_key, seen), 0);
	for (i = 0; i < N(all_keys); i++)
		ck_assert_msg(seen[i] >= 1, "[%s] %s missing from %s",
			      all_keys[i][0], all_keys[i][1], SAMPLE);

	FILE *f = fopen(SAMPLE, "r");
	char text[32768];
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (i = 0; i < N(commented_keys); i++)
		ck_assert_msg(strstr(text, commented_keys[i]) != NULL,
			      "%s not documented in %s", commented_keys[i], SAMPLE);
}
END_TEST

/* Each key of the list is one conf_load accepts: a file with just that
   key (and the required host) loads. */
START_TEST(listed_keys_known)
{
	static const char *const values[N(all_keys)] = {
		"127.0.0.1:1", "1m", "30s", "1", "5", "64m", "1", "0", "hi", "h", "1", "none",
		"yes", "", "1s", "INBOX", "stderr", "info", "x",
		"always", "10.0.0.0/8 ::1", "", "",
		"unix:/run/redis.sock", "pw", "/tmp/x", "/usr/bin/redis-server", "250ms",
		"30s", "1g", "2", "+", "trash", "no", "new", "Deleted",
		"all-devices-done", "expunge", "30d", "0", "yes", "100", "1s",
		"0", "1m", "1h", "1d", "5m", "0", "local-part", "local3", "no", "/run/p.pid",
		"", "", "127.0.0.1:9110", "192.0.2.0/24 ::1", "2s", "yes", "127.0.0.1:5353",
		"password", "custom", "oauthbearer", "", "", "", "", "", "", "1m",
		"127.0.0.1:8443", "https://gw.example.com:8443",
		"256k", "10", "2m", "3",
		"%v.%u", "1500ms", "20m", "yes",
		"pop3s://pop.example.org", "yes", "1m", "proceed",
		"8", "90s", "100",
		"16", "30s",
		"yes", "no",
	};
	char text[256];
	struct conf *conf;

	snprintf(text, sizeof(text), "[upstream]\nhost = h\n[%s]\n%s = %s\n",
		 all_keys[_i][0], all_keys[_i][1], values[_i]);
	if (strcmp(all_keys[_i][1], "host") == 0)
		snprintf(text, sizeof(text), "[upstream]\nhost = %s\n",
			 values[_i]);
	conf = load_ok(text);
	conf_free(&conf);
}
END_TEST

/* Client-side TLS and the plaintext policy. */
START_TEST(tls_keys)
{
	struct conf *conf;
	char *error;
	const char *text =
		"[server]\nlisten = 127.0.0.1:1110\nlisten_tls = 127.0.0.1:1995\n"
		"plaintext_auth = tls-only\nlocal_networks = 10.0.0.0/8, 192.168.1.7\n"
		"[upstream]\nhost = h\n[tls]\ncert_file = /etc/hostname\n"
		"key_file = /etc/hostname\n";

	ck_assert_int_eq(conf_load(write_tmp_len(text, strlen(text)), &conf, &error), 0);
	ck_assert_uint_eq(conf->listen_count, 2);
	ck_assert(!conf->listen[0].tls);
	ck_assert(conf->listen[1].tls);
	ck_assert_int_eq(conf->plaintext_auth, CONF_PLAINTEXT_TLS_ONLY);
	ck_assert_uint_eq(conf->local_network_count, 2);
	ck_assert_uint_eq(conf->local_networks[1].prefix, 32);
	ck_assert_str_eq(conf->tls_cert_file, "/etc/hostname");
	conf_free(&conf);
}
END_TEST

START_TEST(policy_defaults)
{
	struct conf *conf = conf_new_defaults();

	ck_assert_str_eq(conf->cache_url, "auto");
	ck_assert_str_eq(conf->cache_state_dir, "/var/lib/popgate");
	ck_assert_uint_eq(conf->cache_timeout_ms, 2000);
	ck_assert_uint_eq(conf->lock_ttl_secs, 120);
	ck_assert_int_eq(conf->device_separator, '#');
	ck_assert_int_eq(conf->delete_action, CONF_DELETE_HIDE);
	ck_assert(conf->mark_seen_on_retr);
	ck_assert_int_eq(conf->new_device_sees, CONF_NEW_DEVICE_ALL);
	ck_assert_ptr_null(conf->trash_mailbox);
	ck_assert_ptr_null(conf->cache_password);
	conf_free(&conf);
}
END_TEST

START_TEST(tls_defaults)
{
	struct conf *conf = conf_new_defaults();
	unsigned char lo[4] = { 127, 0, 0, 2 }, other[4] = { 10, 0, 0, 1 };
	unsigned char lo6[16] = { [15] = 1 };

	ck_assert_int_eq(conf->plaintext_auth, CONF_PLAINTEXT_LOCAL);
	ck_assert_uint_eq(conf->local_network_count, 2);
	ck_assert(conf_cidr_match(&conf->local_networks[0], AF_INET, lo));
	ck_assert(!conf_cidr_match(&conf->local_networks[0], AF_INET, other));
	ck_assert(conf_cidr_match(&conf->local_networks[1], AF_INET6, lo6));
	ck_assert_ptr_null(conf->tls_cert_file);
	conf_free(&conf);
}
END_TEST

/* The forms of [server] resolver evdns takes; empty is the system's. */
START_TEST(resolver_forms)
{
	static const char *const forms[] = {
		"192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53", "2001:db8::53", "::1",
	};
	char text[128];
	struct conf *conf;

	for (size_t i = 0; i < N(forms); i++) {
		snprintf(text, sizeof(text), "[upstream]\nhost = h\n[server]\nresolver = %s\n",
			 forms[i]);
		conf = load_ok(text);
		ck_assert_str_eq(conf->resolver, forms[i]);
		conf_free(&conf);
	}
	conf = load_ok("[upstream]\nhost = h\n[server]\nresolver =\n");
	ck_assert_ptr_null(conf->resolver);
	conf_free(&conf);
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc;

	tc = tcase_create("load");
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, resolver_forms);
	tcase_add_test(tc, minimal_file);
	tcase_add_loop_test(tc, share_listings_follows_the_url, 0, N(share_table));
	tcase_add_loop_test(tc, port_follows_tls, 0, N(port_table));
	tcase_add_test(tc, every_key_set);
	tcase_add_test(tc, format_details);
	tcase_add_test(tc, indent_is_not_continuation);
	tcase_add_test(tc, listen_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("sample");
	tcase_add_test(tc, sample_loads);
	tcase_add_test(tc, sample_complete);
	tcase_add_loop_test(tc, listed_keys_known, 0, N(all_keys));
	tcase_add_test(tc, tls_keys);
	tcase_add_test(tc, tls_defaults);
	tcase_add_test(tc, policy_defaults);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
