/* Configuration errors: every refusal names "<file>:<line>" and what is
   wrong; [route DOMAIN] sections and the lookup of a login's domain. */

#include "test_conf_fixture.h"

static const struct {
	const char *text;
	unsigned int line;  /* 0: no line in the message */
	const char *want;
} error_table[] = {
	/* structure */
	{ "[upstream]\nhost = h\n[sever]\n", 3, "unknown section [sever]" },
	{ "[upstream]\nhost = h\n\n[sever]\nport = 1\n", 4,
	  "unknown section [sever]" },
	{ "[Server]\nlisten = 127.0.0.1:1\n", 1, "unknown section [Server]" },
	{ "[upstream]\nhost = h\n[ server ]\n", 3, "unknown section" },
	{ "[upstream]\nhost = h\nhots = x\n", 3, "unknown key 'hots'" },
	{ "[server]\nListen = 127.0.0.1:1\n", 2, "unknown key 'Listen'" },
	{ "[server]\nport = 110\n", 2, "unknown key 'port' in [server]" },
	{ "host = h\n[upstream]\nhost = h\n", 1, "outside any [section]" },
	{ "[upstream]\nhost = h\nthis is not ini\n", 3, "syntax error" },
	{ "[upstream]\nhost = h\n[log\n", 3, "syntax error" },
	{ "[upstream]\nhost = h\nmailbox\n", 3, "syntax error" },
	/* the first error wins, whichever kind */
	{ "[upstream]\nbad line\nhots = x\n", 2, "syntax error" },
	{ "[upstream]\nhots = x\nbad line\n", 2, "unknown key" },
	/* comments and blank lines still count */
	{ "# one\n\n; three\n[upstream]\n\nhost = h\ntimeout = soon\n", 7,
	  "'timeout'" },
	{ "# one\r\n\r\n[upstream]\r\nhost = h\r\ntls = ssl\r\n", 5,
	  "expected imaps, starttls or none" },
	/* duplicates */
	{ "[upstream]\nhost = a\n\nhost = b\n", 4,
	  "'host' in [upstream] given twice (first on line 2)" },
	{ "[upstream]\nhost = a\n[server]\nidle_timeout = 1m\n[upstream]\n"
	  "tls = none\n[server]\nidle_timeout = 2m\n", 8, "given twice" },
	{ "[upstream]\nhost = a\n[server]\nlisten = 127.0.0.1:1\n"
	  "listen = 127.0.0.1:1\n", 5, "already listed" },
	/* resolver: a numeric address, optional port */
	{ "[upstream]\nhost = h\n[server]\nresolver = dns.example\n", 4,
	  "an IP address, not a name" },
	{ "[upstream]\nhost = h\n[server]\nresolver = dns.example:53\n", 4,
	  "an IP address, not a name" },
	{ "[upstream]\nhost = h\n[server]\nresolver = 192.0.2.1:0\n", 4, "resolver" },
	{ "[upstream]\nhost = h\n[server]\nresolver = 192.0.2.1:65536\n", 4, "resolver" },
	{ "[upstream]\nhost = h\n[server]\nresolver = 192.0.2.256\n", 4,
	  "an IP address, not a name" },
	{ "[upstream]\nhost = h\n[server]\nresolver = [2001:db8::1\n", 4, "']'" },
	{ "[upstream]\nhost = h\n[server]\nresolver = [dns.example]:53\n", 4, "resolver" },
	/* required */
	{ "", 0, "no upstream" },
	{ "[log]\nlevel = info\n", 0, "popgate setup you@example.com -c " },
	{ "[server]\nlisten = 127.0.0.1:1\n", 0, "no upstream" },
	{ "[server]\n\n[upstream]\nport = 143\n", 3, "[upstream] needs host" },
	{ "[upstream]\nhost = h\n[route example.org]\nport = 1\n", 3,
	  "[route example.org] needs host" },
	/* routes */
	{ "[route]\nhost = h\n", 1, "unknown section [route]" },
	{ "[route ]\nhost = h\n", 1, "unknown section" },
	{ "[route exa_mple.org]\nhost = h\n", 1, "letters, digits" },
	{ "[route a..b]\nhost = h\n", 1, "empty label" },
	{ "[route .a.b]\nhost = h\n", 1, "empty label" },
	{ "[route a.b.]\nhost = h\n", 1, "empty label" },
	{ "[route a\"b]\nhost = h\n", 1, "letters, digits" },
	{ "[route x.org]\nhost = h\n[route X.ORG]\nhost = i\n", 3,
	  "[route x.org] given twice (first on line 1)" },
	{ "[route x.org]\nhost = h\nhost = i\n", 3,
	  "'host' in [route x.org] given twice (first on line 2)" },
	{ "[route x.org]\nhost = h\nlogin_name = domain\n", 3,
	  "expected full or local-part" },
	{ "[route x.org]\nhost = h\nuidl_format = %v\n", 3, "a template needs %u, %m or %g" },
	{ "[upstream]\nhost = h\nuidl_format = %f\n", 3, "unknown variable" },
	{ "[upstream]\nhost = h\nuidl_format = a b%u\n", 3, "printable ASCII but space" },
	/* the lazy legacy import */
	{ "[route x.org]\nhost = h\nlegacy_pop3 = imaps://old\n", 3,
	  "must start with pop3s:// or pop3://" },
	{ "[upstream]\nhost = h\nlegacy_pop3 = pop3s://u@old\n", 3, "no user, path" },
	{ "[upstream]\nhost = h\nlegacy_pop3 = pop3://old:0\n", 3, "port must be 1..65535" },
	{ "[upstream]\nhost = h\nlegacy_timeout = 11m\n", 3, "out of range (1s..10m)" },
	{ "[upstream]\nhost = h\nlegacy_unreachable = ignore\n", 3,
	  "expected refuse or proceed" },
	{ "[upstream]\nauth = oauth2\noauth_provider = google\nclient_id = c\n"
	  "legacy_pop3 = pop3s://old\n", 1, "legacy_pop3 needs auth = password" },
	{ "[route x.org]\nhost = h\ngreeting = hi\n", 3,
	  "unknown key 'greeting' in [route x.org]" },
	{ "[route x.org]\nhost = h\ntimeout = 11m\n", 3, "out of range (1s..10m)" },
	{ "\xef\xbb\xbf[route x.org]\nhost = h\nhots = i\n", 3, "unknown key 'hots' in [route x.org]" },
	{ "\f[upstream]\nhost = h\nport = x\n", 3, "'port' in [upstream]" },
	{ "[upstream]\nhost = h\n[server]\nauth_fail_delay = 20s\n", 4,
	  "auth_fail_delay_max (default 15s) is less than auth_fail_delay" },
	/* oauth2 */
	{ "[upstream]\nhost = h\nclient_id = x\n", 1, "OAuth2 settings need auth = oauth2" },
	{ "[upstream]\nhost = h\noauth_provider = google\n", 1, "need auth = oauth2" },
	{ "[upstream]\nauth = oauth2\noauth_provider = google\n", 1, "needs client_id" },
	{ "[upstream]\nhost = h\nauth = oauth2\nclient_id = c\n", 1,
	  "custom needs token_endpoint" },
	{ "[upstream]\nhost = h\nauth = oauth2\nclient_id = c\n"
	  "token_endpoint = https://t/\n", 1, "needs authorization_endpoint or device_endpoint" },
	{ "[upstream]\nauth = oauth2\noauth_provider = microsoft\nclient_id = c\ntls = none\n", 1,
	  "needs tls = imaps or starttls" },
	{ "[upstream]\nhost = h\nauth = oauth\n", 3, "expected password or oauth2" },
	{ "[upstream]\nhost = h\noauth_provider = yahoo\n", 3,
	  "expected custom, google or microsoft" },
	{ "[upstream]\nhost = h\noauth_mechanism = plain\n", 3,
	  "expected xoauth2 or oauthbearer" },
	{ "[upstream]\nhost = h\ntoken_endpoint = http://example.com/t\n", 3,
	  "http:// only for a loopback host" },
	{ "[upstream]\nhost = h\ntoken_endpoint = ftp://example.com/t\n", 3,
	  "must start with https://" },
	{ "[upstream]\nhost = h\ntoken_endpoint = https://\n", 3, "no host" },
	{ "[upstream]\nhost = h\ntoken_endpoint = https://u:p@h/t\n", 3, "no user name" },
	{ "[upstream]\nhost = h\ntoken_endpoint = https://h/t#frag\n", 3, "printable ASCII" },
	{ "[upstream]\nhost = h\ntoken_endpoint = https://h_h/t\n", 3, "'token_endpoint'" },
	{ "[upstream]\nhost = h\nclient_id = a b\n", 3, "without spaces" },
	{ "[upstream]\nhost = h\nscope = a\"b\n", 3, "without '\"'" },
	{ "[upstream]\nhost = h\ntoken_timeout = 3m\n", 3, "out of range (1s..2m)" },
	{ "[upstream]\nhost = h\n[route x.org]\nclient_secret = s\nhost = i\n", 3,
	  "[route x.org]: OAuth2 settings need auth = oauth2" },
	/* limits, process, metrics */
	{ "[upstream]\nhost = h\n[server]\nmax_connections_per_ip = -1\n", 4,
	  "not a number" },
	{ "[upstream]\nhost = h\n[server]\nauth_fail_delay_max = 6m\n", 4,
	  "out of range (0..5m)" },
	{ "[upstream]\nhost = h\n[server]\nauth_fail_delay = 5s\n"
	  "auth_fail_delay_max = 2s\n", 5, "is less than auth_fail_delay" },
	{ "[upstream]\nhost = h\n[server]\nauth_fail_window = 30s\n", 4,
	  "out of range (1m..1d)" },
	{ "[upstream]\nhost = h\n[server]\nmax_session_time = 8d\n", 4,
	  "out of range (1s..7d)" },
	{ "[upstream]\nhost = h\n[server]\nlogin_delay = 2d\n", 4, "out of range" },
	{ "[upstream]\nhost = h\n[server]\nshutdown_grace = 11m\n", 4,
	  "out of range (0..10m)" },
	{ "[upstream]\nhost = h\n[process]\npid_file = run/p.pid\n", 4,
	  "absolute path" },
	{ "[upstream]\nhost = h\n[process]\nuser = 0day\n", 4, "not starting with a digit" },
	{ "[upstream]\nhost = h\n[process]\nuser = a b\n", 4, "'user' in [process]" },
	{ "[upstream]\nhost = h\n[process]\ngroup = mail\n", 4, "group needs user" },
	{ "[upstream]\nhost = h\n[process]\ndaemon = yes\n", 4,
	  "daemon = yes needs [log] target = syslog" },
	{ "[upstream]\nhost = h\n[process]\ndaemon = sometimes\n", 4, "not a boolean" },
	{ "[upstream]\nhost = h\n[metrics]\nlisten = 127.0.0.1\n", 4, "missing port" },
	{ "[upstream]\nhost = h\n[metrics]\nport = 9100\n", 4, "unknown key 'port' in [metrics]" },
	{ "[upstream]\nhost = h\n[metrics]\nmax_connections = 0\n", 4, "out of range (1..10000)" },
	{ "[upstream]\nhost = h\n[metrics]\nmax_connections = 10001\n", 4,
	  "out of range (1..10000)" },
	{ "[upstream]\nhost = h\n[metrics]\nrequest_timeout = 500ms\n", 4,
	  "out of range (1s..10m)" },
	{ "[upstream]\nhost = h\n[metrics]\nrequest_timeout = 11m\n", 4,
	  "out of range (1s..10m)" },
	{ "[upstream]\nhost = h\n[metrics]\nrequest_timeout = soon\n", 4, "'request_timeout'" },
	{ "[upstream]\nhost = h\n[enrol]\nmax_connections = 0\n", 4, "out of range (1..10000)" },
	{ "[upstream]\nhost = h\n[enrol]\nmax_connections = 10001\n", 4,
	  "out of range (1..10000)" },
	{ "[upstream]\nhost = h\n[enrol]\nrequest_timeout = 999ms\n", 4,
	  "out of range (1s..10m)" },
	{ "[upstream]\nhost = h\n[enrol]\nrequest_timeout = 11m\n", 4,
	  "out of range (1s..10m)" },
	{ "[upstream]\nhost = h\n[log]\nfacility = kern\n", 4, "local0 .. local7" },
	/* bad values: the key and the reason */
	{ "[upstream]\nhost = h\n[server]\nlisten = 127.0.0.1\n", 4,
	  "'listen' in [server]: missing port" },
	{ "[upstream]\nhost = h\n[server]\nlisten = [::1]110\n", 4,
	  "expected ':'" },
	{ "[upstream]\nhost = h\n[server]\nlisten = :110\n", 4, "empty host" },
	{ "[upstream]\nhost = h\n[server]\nlisten = 127.0.0.1:0\n", 4,
	  "port out of range" },
	{ "[upstream]\nhost = h\n[server]\nlisten = my_host:110\n", 4,
	  "'listen'" },
	{ "[upstream]\nhost = h\n[server]\nidle_timeout = 10x\n", 4,
	  "'idle_timeout' in [server]: unknown unit" },
	{ "[upstream]\nhost = h\n[server]\nidle_timeout = 0s\n", 4,
	  "out of range (1s..1d)" },
	{ "[upstream]\nhost = h\n[server]\nidle_timeout = 2d\n", 4,
	  "out of range (1s..1d)" },
	{ "[upstream]\nhost = h\n[server]\nidle_timeout = 1.5m\n", 4,
	  "fractions" },
	{ "[upstream]\nhost = h\n[server]\nidle_timeout =\n", 4, "empty value" },
	{ "[upstream]\nhost = h\n[server]\nmax_connections = 0\n", 4,
	  "out of range (1..1000000)" },
	{ "[upstream]\nhost = h\n[server]\nmax_connections = 1000001\n", 4,
	  "out of range" },
	{ "[upstream]\nhost = h\n[server]\nmax_connections = 4294967296\n", 4,
	  "out of range" },
	{ "[upstream]\nhost = h\n[server]\nmax_connections = -1\n", 4,
	  "not a number" },
	{ "[upstream]\nhost = h\n[server]\nmax_bad_commands = 1001\n", 4,
	  "'max_bad_commands'" },
	{ "[upstream]\nhost = h\n[server]\nmax_bad_commands = 0\n", 4,
	  "out of range (1..1000)" },
	{ "[upstream]\nhost = h\n[server]\nauth_fail_delay = 61s\n", 4,
	  "out of range (0..60s)" },
	{ "[upstream]\nhost = h\n[server]\nauth_fail_delay = 1us\n", 4,
	  "unknown unit" },
	{ "[upstream]\nhost = h\n[server]\ngreeting = hi <1.2@h>\n", 4,
	  "APOP" },
	{ "[upstream]\nhost = h\n[server]\ngreeting = gr\xc3\xbc\xc3\x9f" "e\n",
	  4, "printable ASCII" },
	{ "[upstream]\nhost = h\n[server]\ngreeting = a\tb\n", 4,
	  "printable ASCII" },
	{ "[upstream]\nhost = h\n[server]\ngreeting =\n", 4, "'greeting'" },
	{ "[upstream]\nhost = imap_1.example.com\n", 2, "'host' in [upstream]" },
	{ "[upstream]\nhost = imap.example.com:993\n", 2, "'host'" },
	{ "[upstream]\nhost =\n", 2, "empty host" },
	{ "[upstream]\nhost = h\nport = 0\n", 3, "'port'" },
	{ "[upstream]\nhost = h\nport = 65536\n", 3, "port out of range" },
	{ "[upstream]\nhost = h\nport = imaps\n", 3, "not a number" },
	{ "[upstream]\nhost = h\ntls = ssl\n", 3, "'tls'" },
	{ "[upstream]\nhost = h\nverify = maybe\n", 3,
	  "'verify' in [upstream]: not a boolean" },
	{ "[upstream]\nhost = h\nca_file = certs/ca.pem\n", 3,
	  "absolute path" },
	{ "[upstream]\nhost = h\nca_file = /nonexistent/popgate/ca.pem\n", 3,
	  "no such file" },
	{ "[upstream]\nhost = h\ntimeout = 0\n", 3, "out of range (1s..10m)" },
	{ "[upstream]\nhost = h\ntimeout = 11m\n", 3, "out of range (1s..10m)" },
	/* mailbox names are quoted when sent (test_conf_keys.c): only
	   control characters and what is not UTF-8 are refused */
	{ "[upstream]\nhost = h\nmailbox = Entw\xfcrfe\n", 3, "not valid UTF-8" },
	{ "[upstream]\nhost = h\nmailbox = a\tb\n", 3, "control characters" },
	{ "[upstream]\nhost = h\nmailbox = a\x7f" "b\n", 3, "control characters" },
	{ "[upstream]\nhost = h\nmailbox = a\xc2\x85" "b\n", 3, "control characters" },
	{ "[upstream]\nhost = h\nmailbox = a\xc0\xaf" "b\n", 3, "not valid UTF-8" },
	{ "[upstream]\nhost = h\nmailbox = a\xed\xa0\x80" "b\n", 3, "not valid UTF-8" },
	{ "[upstream]\nhost = h\nmailbox = a\xe2\x82\n", 3, "not valid UTF-8" },
	{ "[upstream]\nhost = h\nmailbox = a\xf4\x90\x80\x80\n", 3, "not valid UTF-8" },
	{ "[upstream]\nhost = h\nmailbox =\n", 3, "must be 1 to 200 characters" },
	{ "[upstream]\nhost = h\n[log]\ntarget = file\n", 4,
	  "expected stderr or syslog" },
	{ "[upstream]\nhost = h\n[log]\nlevel = trace\n", 4,
	  "expected error, warn, info or debug" },
	{ "[upstream]\nhost = h\n[log]\nident = pop gate\n", 4, "'ident'" },
	{ "[upstream]\nhost = h\n[log]\nident = "
	  "abcdefghijabcdefghijabcdefghijabc\n", 4, "1 to 32" },
};

/* A preset fills what the file leaves empty, and only that. */
START_TEST(oauth_presets)
{
	struct conf *conf = load_ok("[upstream]\nauth = oauth2\noauth_provider = google\n"
				    "client_id = id.apps\n"
				    "[route example.com]\nauth = oauth2\noauth_provider = microsoft\n"
				    "client_id = m\nscope = s1 s2\ntls = starttls\n"
				    "[route t.test]\nhost = 127.0.0.1\nauth = oauth2\n"
				    "client_id = t\noauth_mechanism = oauthbearer\n"
				    "token_endpoint = http://127.0.0.1:9/token\n"
				    "device_endpoint = http://[::1]:9/device\n");
	const struct conf_upstream *g = conf->upstream, *m = &conf->routes[0], *t = &conf->routes[1];

	ck_assert_int_eq(g->auth, CONF_AUTH_OAUTH2);
	ck_assert_str_eq(g->host, "imap.gmail.com");
	ck_assert_int_eq(g->port, 993);
	ck_assert_int_eq(g->oauth_mechanism, CONF_OAUTH_XOAUTH2);
	ck_assert_str_eq(g->scope, "https://mail.google.com/");
	ck_assert_str_eq(g->token_endpoint, "https://oauth2.googleapis.com/token");
	ck_assert_ptr_null(g->device_endpoint);
	ck_assert_ptr_null(g->client_secret);
	ck_assert_str_eq(m->host, "outlook.office365.com");
	ck_assert_int_eq(m->port, 143);
	ck_assert_str_eq(m->scope, "s1 s2");
	ck_assert_str_eq(m->device_endpoint,
			 "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode");
	ck_assert_str_eq(t->host, "127.0.0.1");
	ck_assert_int_eq(t->oauth_mechanism, CONF_OAUTH_OAUTHBEARER);
	ck_assert_ptr_null(t->authorization_endpoint);
	ck_assert_ptr_null(t->scope);
	ck_assert_uint_eq(t->token_timeout_secs, 15);
	ck_assert_str_eq(conf_auth_name(CONF_AUTH_OAUTH2), "oauth2");
	ck_assert_str_eq(conf_oauth_provider_name(CONF_OAUTH_MICROSOFT), "microsoft");
	ck_assert_str_eq(conf_oauth_mechanism_name(CONF_OAUTH_OAUTHBEARER), "oauthbearer");
	conf_free(&conf);
}
END_TEST

START_TEST(load_errors)
{
	load_fails(error_table[_i].text, error_table[_i].line, error_table[_i].want);
}
END_TEST

START_TEST(line_too_long)
{
	char text[600];
	struct conf *conf = NULL;
	char *error = NULL;
	const char *path;
	size_t n;

	/* A greeting of 200 characters makes a 211-character line, more
	   than inih reads; its tail must not become a line of its own. */
	strcpy(text, "[upstream]\nhost = h\n[server]\ngreeting = ");
	n = strlen(text);
	memset(text + n, 'g', 190);
	strcpy(text + n + 190, "x = y\n");
	path = write_tmp(text);
	ck_assert_int_eq(conf_load(path, &conf, &error), -1);
	check_error(path, error, 4, "line too long");
	free(error);
	unlink(path);
}
END_TEST

/* The exact edge: inih's buffer holds 199 bytes with the line end. */
static const struct {
	size_t len;
	const char *eol;
	bool ok;
} edge_table[] = {
	{ 197, "\r\n", true }, { 198, "\r\n", false },
	{ 198, "\n", true }, { 199, "\n", false },
	{ 199, "", true }, { 200, "", false }, /* last line, no line end */
};

START_TEST(line_length_edge)
{
	static const char head[] = "[upstream]\nhost=h\n[server]\ngreeting=";
	char text[512];
	struct conf *conf = NULL;
	char *error = NULL;
	const char *path;
	size_t n = strlen(head), glen = edge_table[_i].len - strlen("greeting=");

	memcpy(text, head, n);
	memset(text + n, 'g', glen);
	strcpy(text + n + glen, edge_table[_i].eol);
	path = write_tmp(text);
	if (edge_table[_i].ok) {
		ck_assert_msg(conf_load(path, &conf, &error) == 0, "%s", error);
		ck_assert_uint_eq(strlen(conf->greeting), glen);
		conf_free(&conf);
	} else {
		ck_assert_int_eq(conf_load(path, &conf, &error), -1);
		check_error(path, error, 4, "line too long");
		free(error);
	}
	unlink(path);
}
END_TEST

START_TEST(nul_byte)
{
	static const char text[] = "[upstream]\nhost = h\0evil\n";
	struct conf *conf = NULL;
	char *error = NULL;
	const char *path = write_tmp_len(text, sizeof(text) - 1);

	ck_assert_int_eq(conf_load(path, &conf, &error), -1);
	check_error(path, error, 2, "NUL");
	free(error);
	unlink(path);
}
END_TEST

START_TEST(unreadable)
{
	struct conf *conf = NULL;
	char *error = NULL;

	ck_assert_int_eq(conf_load("/nonexistent/popgate.conf", &conf,
				   &error), -1);
	ck_assert_ptr_null(conf);
	check_error("/nonexistent/popgate.conf", error, 0, "cannot open");
	free(error);

	ck_assert_int_eq(conf_load("/tmp", &conf, &error), -1);
	ck_assert_ptr_null(conf);
	check_error("/tmp", error, 0, "");
	free(error);
}
END_TEST
static const struct {
	const char *text;
	unsigned int line;
	const char *what;
} tls_errors[] = {
	{ "[server]\nlisten_tls = 127.0.0.1:995\n[upstream]\nhost = h\n", 2,
	  "listen_tls needs" },
	{ "[upstream]\nhost = h\n[tls]\ncert_file = /etc/hostname\n", 4,
	  "needs both" },
	{ "[upstream]\nhost = h\n[tls]\nkey_file = /nonexistent/key.pem\n", 4,
	  "no such file" },
	{ "[server]\nplaintext_auth = sometimes\n[upstream]\nhost = h\n", 2,
	  "plaintext_auth" },
	{ "[server]\nlocal_networks = 10.1.2.3/8\n[upstream]\nhost = h\n", 2,
	  "beyond the prefix" },
	{ "[server]\nlocal_networks = 10.0.0.0/33\n[upstream]\nhost = h\n", 2,
	  "prefix" },
	{ "[server]\nlocal_networks = localhost\n[upstream]\nhost = h\n", 2,
	  "not an IPv4 or IPv6" },
	{ "[tls]\ncert_file = relative.pem\n[upstream]\nhost = h\n", 2,
	  "absolute" },
	{ "[upstream]\nhost = h\n[cache]\nstate_dir = var/lib\n", 4, "absolute" },
	{ "[upstream]\nhost = h\n[cache]\ntimeout = 5ms\n", 4, "out of range" },
	{ "[upstream]\nhost = h\n[cache]\ntimeout = 61s\n", 4, "out of range" },
	{ "[upstream]\nhost = h\n[cache]\nlock_ttl = 2s\n", 4, "out of range" },
	{ "[upstream]\nhost = h\n[cache]\nurl =\n", 4, "empty" },
	{ "[upstream]\nhost = h\n[policy]\ndevice_separator = ##\n", 4, "one of" },
	{ "[upstream]\nhost = h\n[policy]\ndevice_separator = @\n", 4, "one of" },
	{ "[upstream]\nhost = h\n[policy]\ndelete_action = nuke\n", 4, "delete_action" },
	{ "[upstream]\nhost = h\n[policy]\nnew_device_sees = some\n", 4, "new_device_sees" },
	{ "[upstream]\nhost = h\n[policy]\nmark_seen_on_retr = maybe\n", 4, "mark_seen_on_retr" },
	{ "[upstream]\nhost = h\n[retention]\nwhen = sometimes\n", 4, "when" },
	{ "[upstream]\nhost = h\n[retention]\naction = hide\n", 4, "action" },
	{ "[upstream]\nhost = h\n[retention]\nmax_messages = 0\n", 4, "out of range" },
	{ "[upstream]\nhost = h\n[retention]\nmax_messages = 5001\n", 4, "out of range" },
	{ "[upstream]\nhost = h\n[retention]\nmin_age = 3651d\n", 4, "out of range" },
	{ "[upstream]\nhost = h\n[retention]\nforget_after = 1x\n", 4, "forget_after" },
	{ "[upstream]\nhost = h\n[retention]\nmax_time = 50ms\n", 4, "out of range" },
	{ "[upstream]\nhost = h\n[retention]\ndry_run = perhaps\n", 4, "dry_run" },
	{ "[upstream]\nhost = h\n[policy]\ntrash_mailbox = Tr\x01" "ash\n", 4, "control" },
};

/* Cross-key errors name the file (there is no single line to blame). */
START_TEST(tls_only_needs_certificate)
{
	struct conf *conf;
	char *error = NULL;
	const char *text = "[server]\nplaintext_auth = tls-only\n[upstream]\nhost = h\n";

	ck_assert_int_eq(conf_load(write_tmp_len(text, strlen(text)), &conf, &error), -1);
	ck_assert_msg(strstr(error, "tls-only needs") != NULL, "%s", error);
	free(error);
}
END_TEST

START_TEST(tls_error_lines)
{
	struct conf *conf;
	char *error = NULL;
	char where[32];
	const char *path = write_tmp_len(tls_errors[_i].text, strlen(tls_errors[_i].text));

	ck_assert_int_eq(conf_load(path, &conf, &error), -1);
	snprintf(where, sizeof(where), ":%u: ", tls_errors[_i].line);
	ck_assert_msg(strstr(error, where) != NULL, "%s lacks %s", error, where);
	ck_assert_msg(strstr(error, tls_errors[_i].what) != NULL, "%s lacks %s", error,
		      tls_errors[_i].what);
	free(error);
}
END_TEST


/* [route DOMAIN]: sorted, found by domain in any case, else the default. */
START_TEST(routes)
{
	struct conf *conf = load_ok("[route Zeta.Example]\nhost = z.example\nport = 1993\n"
				    "login_name = local-part\nuidl_format = gmail\n"
				    "[upstream]\nhost = default.example\n"
				    "[route alpha.example]\nhost = a.example\ntls = starttls\n"
				    "mailbox = POP\n");
	const struct conf_upstream *up;

	ck_assert_uint_eq(conf->route_count, 2);
	ck_assert_str_eq(conf->routes[0].domain, "alpha.example");
	ck_assert_str_eq(conf->routes[1].domain, "zeta.example");
	ck_assert_str_eq(conf->routes[1].name, "zeta.example");
	ck_assert_str_eq(conf->upstream->name, "default");
	/* Each route has its own defaults, not the [upstream] values. */
	ck_assert_uint_eq(conf->routes[0].port, 143);
	ck_assert_str_eq(conf->routes[0].mailbox, "POP");
	ck_assert_int_eq(conf->routes[0].login_name, CONF_LOGIN_FULL);
	ck_assert_uint_eq(conf->routes[1].port, 1993);
	ck_assert_str_eq(conf->routes[1].mailbox, "INBOX");
	ck_assert_int_eq(conf->routes[1].login_name, CONF_LOGIN_LOCAL_PART);
	ck_assert_str_eq(conf->routes[0].uidl_format, "dovecot");
	ck_assert_str_eq(conf->routes[1].uidl_format, "gmail");
	ck_assert_ptr_null(conf->routes[0].legacy_pop3);
	ck_assert_int_eq(conf->routes[0].legacy_unreachable, CONF_LEGACY_REFUSE);
	ck_assert_uint_eq(conf->routes[0].legacy_timeout_secs, 30);
	ck_assert_int_eq(conf->routes[0].legacy_plaintext, false);

	up = conf_route(conf, "ZETA.example", 12);
	ck_assert_ptr_eq(up, &conf->routes[1]);
	ck_assert_uint_eq(conf_upstream_index(conf, up), 2);
	ck_assert_ptr_eq(conf_route(conf, "alpha.example", 13), &conf->routes[0]);
	/* Prefixes, suffixes and sub-domains are other domains. */
	ck_assert_ptr_eq(conf_route(conf, "alpha.exampl", 12), conf->upstream);
	ck_assert_ptr_eq(conf_route(conf, "alpha.examplex", 14), conf->upstream);
	ck_assert_ptr_eq(conf_route(conf, "x.alpha.example", 15), conf->upstream);
	ck_assert_ptr_eq(conf_route(conf, NULL, 0), conf->upstream);
	ck_assert_uint_eq(conf_upstream_index(conf, conf->upstream), 0);
	conf_free(&conf);

	/* Without [upstream], an unknown domain has nobody. */
	conf = load_ok("[route b.example]\nhost = b\n");
	ck_assert_ptr_null(conf->upstream);
	ck_assert_ptr_null(conf_route(conf, "c.example", 9));
	ck_assert_ptr_null(conf_route(conf, NULL, 0));
	ck_assert_ptr_eq(conf_route(conf, "B.EXAMPLE", 9), &conf->routes[0]);
	conf_free(&conf);
}
END_TEST

/* A byte-order mark and odd leading blanks: the sections still count. */
START_TEST(bom_and_blanks)
{
	struct conf *conf = load_ok("\xef\xbb\xbf[upstream]\nhost = h\n\v\f[route a.example]\n"
				    "host = a\n");

	ck_assert_str_eq(conf->upstream->host, "h");
	ck_assert_uint_eq(conf->route_count, 1);
	ck_assert_str_eq(conf->routes[0].host, "a");
	conf_free(&conf);
}
END_TEST

/* Many routes: every one found (the binary search over the sorted set). */
START_TEST(many_routes)
{
	static char text[200 * 64];
	struct conf *conf;
	size_t o = 0;
	char domain[32];

	for (unsigned int i = 0; i < 200; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				      "[route d%u.example]\nhost = h%u\n", (i * 7919) % 200, i);
	conf = load_ok(text);
	ck_assert_uint_eq(conf->route_count, 200);
	for (unsigned int i = 0; i < 200; i++) {
		const struct conf_upstream *up;

		snprintf(domain, sizeof(domain), "d%u.example", i);
		up = conf_route(conf, domain, strlen(domain));
		ck_assert_ptr_nonnull(up);
		ck_assert_str_eq(up->domain, domain);
	}
	ck_assert_ptr_null(conf_route(conf, "d200.example", 12));
	conf_free(&conf);
}
END_TEST
static Suite *conf_errors_suite(void)
{
	Suite *s = suite_create("conf_errors");
	TCase *tc;

	tc = tcase_create("errors");
	tcase_add_loop_test(tc, load_errors, 0, N(error_table));
	tcase_add_test(tc, oauth_presets);
	tcase_add_test(tc, line_too_long);
	tcase_add_loop_test(tc, line_length_edge, 0, N(edge_table));
	tcase_add_test(tc, nul_byte);
	tcase_add_test(tc, unreadable);
	tcase_add_test(tc, tls_only_needs_certificate);
	tcase_add_loop_test(tc, tls_error_lines, 0, N(tls_errors));
	suite_add_tcase(s, tc);

	tc = tcase_create("routes");
	tcase_add_test(tc, routes);
	tcase_add_test(tc, many_routes);
	tcase_add_test(tc, bom_and_blanks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conf_errors_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
