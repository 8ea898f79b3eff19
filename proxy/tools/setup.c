/* popgate setup; what it does is in setup.h. */

#include "setup.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "conf.h"
#include "conf_edit.h"
#include "imap_login.h"
#include "log.h"
#include "pop3_account.h"
#include "provider_table.h"
#include "providers_data.h"
#include "resolver.h"
#include "setup_find.h"
#include "setup_print.h"
#include "tls.h"

#define SETUP_FILE_MAX (4u << 20)
#define SETUP_PASS_MAX 1024

struct setup_args {
	const char *address, *config, *password_file, *ca_file, *provider, *providers;
	unsigned int timeout_secs;
};

struct setup {
	struct setup_args args;
	char domain[PROVIDER_HOST_MAX + 1];
	char local[256];
	char *ca_path;                   /* --ca-file, absolute */
	char *text;                      /* the configuration file, or NULL */
	size_t text_len;
	mode_t mode;
	uid_t uid;                       /* the file's owner and group, kept */
	gid_t gid;
	struct conf *conf;
	struct provider provider;
	bool have_provider;
	struct setup_server server;
	struct event_base *base;
	struct evdns_base *dns;
	struct tls_client_ctx *tls;
	char pass[SETUP_PASS_MAX + 2];
};

static void setup_usage(FILE *out)
{
	fprintf(out, "usage: popgate setup ADDRESS [-c FILE] [--password-file FILE] "
		"[--ca-file FILE]\n"
		"                     [--provider NAME] [--providers FILE] [--timeout SECS]\n");
}

static int setup_parse_args(int argc, char **argv, struct setup_args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "ca-file", required_argument, NULL, 'a' },
		{ "provider", required_argument, NULL, 'P' },
		{ "providers", required_argument, NULL, 'T' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	a->config = CONF_DEFAULT_PATH;
	a->timeout_secs = 15;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			a->config = optarg;
			break;
		case 'p':
			a->password_file = optarg;
			break;
		case 'a':
			a->ca_file = optarg;
			break;
		case 'P':
			a->provider = optarg;
			break;
		case 'T':
			a->providers = optarg;
			break;
		case 't':
			a->timeout_secs = (unsigned int)strtoul(optarg, NULL, 10);
			if (a->timeout_secs == 0 || a->timeout_secs > 600) {
				fprintf(stderr, "popgate setup: --timeout: 1..600 seconds\n");
				return -1;
			}
			break;
		case 'h':
			setup_usage(stdout);
			exit(0);
		default:
			setup_usage(stderr);
			return -1;
		}
	}
	if (optind + 1 != argc) {
		setup_usage(stderr);
		return -1;
	}
	a->address = argv[optind];
	return 0;
}

/* ADDRESS: local@domain, printable, no device suffix. */
static int setup_split_address(struct setup *s)
{
	const char *addr = s->args.address, *at = strrchr(addr, '@');
	size_t local_len;

	for (const char *p = addr; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			fprintf(stderr, "popgate setup: the address must be printable ASCII "
				"without spaces\n");
			return -1;
		}
	}
	if (at == NULL || at == addr || !provider_domain_valid(at + 1, strlen(at + 1))) {
		fprintf(stderr, "popgate setup: \"%s\" is not a mail address (name@domain)\n", addr);
		return -1;
	}
	if (strchr(at, '#') != NULL || strlen(addr) > 200) {
		fprintf(stderr, "popgate setup: give the address alone, without #device\n");
		return -1;
	}
	local_len = (size_t)(at - addr);
	memcpy(s->local, addr, local_len);
	s->local[local_len] = '\0';
	for (size_t i = 0; at[1 + i] != '\0'; i++)
		s->domain[i] = (char)(at[1 + i] >= 'A' && at[1 + i] <= 'Z' ? at[1 + i] + 32 : at[1 + i]);
	return 0;
}

/* Whole file into a malloc'd buffer; 1 read, 0 no such file, -1 error. */
static int setup_read_file(const char *path, char **text_r, size_t *len_r, mode_t *mode_r,
			   uid_t *uid_r, gid_t *gid_r)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > SETUP_FILE_MAX ||
	    (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	*text_r = buf;
	*len_r = got;
	*mode_r = st.st_mode & 07777;
	if (uid_r != NULL) {
		*uid_r = st.st_uid;
		*gid_r = st.st_gid;
	}
	return 1;
}

/* ---- the password ---- */

static struct termios setup_saved_tty;
static int setup_tty_fd = -1;

/* ^C while the echo is off must not leave the terminal silent. */
static void setup_restore_tty(int sig)
{
	if (setup_tty_fd >= 0)
		tcsetattr(setup_tty_fd, TCSAFLUSH, &setup_saved_tty);
	_exit(128 + sig);
}

static int setup_line(char *buf, size_t size, size_t len)
{
	buf[len] = '\0';
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	if (len == 0 || len >= size - 1)
		return -1;
	return 0;
}

static int setup_password(struct setup *s)
{
	struct termios quiet;
	struct sigaction sa = { .sa_handler = setup_restore_tty }, old_int, old_term;
	size_t len = 0;
	ssize_t n;
	char c;
	int fd;

	if (s->args.password_file != NULL) {
		char *text;
		size_t tlen;
		mode_t mode;

		if (setup_read_file(s->args.password_file, &text, &tlen, &mode, NULL, NULL) != 1) {
			fprintf(stderr, "popgate setup: %s: cannot read\n", s->args.password_file);
			return -1;
		}
		tlen = strcspn(text, "\r\n");
		if (tlen == 0 || tlen > SETUP_PASS_MAX) {
			fprintf(stderr, "popgate setup: %s: the first line must hold the password\n",
				s->args.password_file);
			free(text);
			return -1;
		}
		memcpy(s->pass, text, tlen);
		s->pass[tlen] = '\0';
		memset(text, 0, tlen);
		free(text);
		return 0;
	}
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (fd < 0 || tcgetattr(fd, &setup_saved_tty) < 0) {
		fprintf(stderr, "popgate setup: no terminal to ask the password on; "
			"use --password-file FILE\n");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	quiet = setup_saved_tty;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	setup_tty_fd = fd;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	/* Echo off before the prompt: what is typed as soon as the prompt
	   shows must neither be echoed nor flushed by the change. */
	tcsetattr(fd, TCSAFLUSH, &quiet);
	dprintf(fd, "Password for %s (not shown): ", s->args.address);
	while (len < SETUP_PASS_MAX + 1 && (n = read(fd, &c, 1)) == 1 && c != '\n')
		s->pass[len++] = c;
	tcsetattr(fd, TCSAFLUSH, &setup_saved_tty);
	setup_tty_fd = -1;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	dprintf(fd, "\n");
	close(fd);
	if (setup_line(s->pass, sizeof(s->pass), len) < 0) {
		fprintf(stderr, "popgate setup: no password given (at most %u characters)\n",
			SETUP_PASS_MAX);
		return -1;
	}
	return 0;
}

/* ---- the provider ---- */

/* 0 found or not, -1 for a broken table, 3 when OAuth2 is needed. */
static int setup_provider(struct setup *s)
{
	const char *text, *error = NULL;
	char *own = NULL;
	size_t len;
	mode_t mode;
	unsigned int line = 0;
	int r;

	if (s->args.providers != NULL) {
		if (setup_read_file(s->args.providers, &own, &len, &mode, NULL, NULL) != 1) {
			fprintf(stderr, "popgate setup: %s: cannot read\n", s->args.providers);
			return -1;
		}
		text = own;
	} else {
		text = providers_builtin(&len);
	}
	r = provider_lookup(text, len, s->args.provider != NULL ? PROVIDER_BY_NAME :
			    PROVIDER_BY_DOMAIN, s->args.provider != NULL ? s->args.provider :
			    s->domain, &s->provider, &line, &error);
	free(own);
	if (r < 0) {
		fprintf(stderr, "popgate setup: %s:%u: %s\n",
			s->args.providers != NULL ? s->args.providers : "built-in providers.conf",
			line, error);
		return -1;
	}
	if (r == 0 && s->args.provider != NULL) {
		fprintf(stderr, "popgate setup: --provider %s: no such provider in the table\n",
			s->args.provider);
		return -1;
	}
	s->have_provider = r == 1;
	if (s->have_provider && s->provider.auth == PROVIDER_AUTH_OAUTH2) {
		printf("%s is served by %s (%s:%u), which lets mail programs log in only with\n"
		       "OAuth2, not with a password. popgate setup does not enrol OAuth2 accounts;\n"
		       "see the README section \"OAuth2\" and \"popgate account\" for that.\n"
		       "Nothing was written.\n", s->args.address, s->provider.name,
		       s->provider.host, s->provider.port);
		return 3;
	}
	if (s->have_provider && s->provider.auth == PROVIDER_AUTH_APP_PASSWORD)
		printf("Note: %s wants a password made for mail programs (an \"app password\")\n"
		       "in its account settings, not the one of its web mail.\n", s->provider.name);
	return 0;
}

/* ---- the configuration ---- */

static bool setup_same_host(const struct conf_upstream *up, const struct setup_server *srv)
{
	return up->port == srv->port && strcasecmp(up->host, srv->host) == 0;
}

/* "upstream" or "route DOMAIN" into section. */
static void setup_choose_section(struct setup *s, char *section, size_t size)
{
	const struct conf *conf = s->conf;
	const struct conf_upstream *up = conf->upstream;
	struct tls_client_ctx *tls = NULL;
	char *error = NULL, why[300];
	enum imap_tls_mode mode;

	snprintf(section, size, "route %s", s->domain);
	for (unsigned int i = 0; i < conf->route_count; i++) {
		if (strcmp(conf->routes[i].domain, s->domain) == 0)
			return;
	}
	if (up == NULL) {
		if (conf->route_count == 0)
			snprintf(section, size, "upstream");
		return;
	}
	if (setup_same_host(up, &s->server)) {
		snprintf(section, size, "upstream");
		return;
	}
	/* An [upstream] that serves nobody (the shipped sample's local test
	   server, an old provider) is the first account's place. */
	mode = pop3_account_tls_mode(up);
	if (mode != IMAP_TLS_NONE && (tls = tls_client_ctx_new(up->verify, up->ca_file, &error)) == NULL) {
		snprintf(why, sizeof(why), "%s", error != NULL ? error : "out of memory");
		free(error);
	} else if (setup_probe(s->base, s->dns, up->host, up->port, mode, tls,
			       s->args.timeout_secs, why, sizeof(why)) == 0) {
		tls_client_ctx_free(&tls);
		return;
	}
	tls_client_ctx_free(&tls);
	printf("The [upstream] in %s, %s:%u, does not answer (%s): it is replaced.\n",
	       s->args.config, up->host, up->port, why);
	snprintf(section, size, "upstream");
}

/* Writes text through a temporary file in the same directory that the
   daemon's own loader must accept; then renames it into place. */
static int setup_write(struct setup *s, const char *path, const char *text, size_t len)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16), *error = NULL;
	struct conf *check;
	int fd;

	if (tmp == NULL)
		return -1;
	snprintf(tmp, plen + 16, "%s.setupXXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "popgate setup: cannot write next to %s: %s\n", path,
			strerror(errno));
		free(tmp);
		return -1;
	}
	/* A file readable by the daemon's user (root:popgate 0640) stays so. */
	if (s->text != NULL && fchown(fd, s->uid, s->gid) < 0 && errno != EPERM) {
		fprintf(stderr, "popgate setup: cannot keep the owner of %s: %s\n", path,
			strerror(errno));
		goto fail;
	}
	if (write(fd, text, len) != (ssize_t)len || fchmod(fd, s->text != NULL ? s->mode : 0644) < 0 ||
	    fsync(fd) < 0) {
		fprintf(stderr, "popgate setup: cannot write %s: %s\n", tmp, strerror(errno));
		goto fail;
	}
	if (conf_load(tmp, &check, &error) < 0) {
		fprintf(stderr, "popgate setup: the changed file would not load, so it is "
			"left as it was: %s\n", error != NULL ? error : "out of memory");
		free(error);
		goto fail;
	}
	conf_free(&check);
	if (rename(tmp, path) < 0) {
		fprintf(stderr, "popgate setup: cannot replace %s: %s\n", path, strerror(errno));
		goto fail;
	}
	close(fd);
	free(tmp);
	return 0;
fail:
	close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

static int setup_configure(struct setup *s)
{
	char section[PROVIDER_HOST_MAX + 16], port[8], *out = NULL;
	const char *error = NULL;
	bool local = s->server.login == PROVIDER_LOGIN_LOCAL_PART;
	struct conf_edit_kv kv[] = {
		{ "host", s->server.host, 0 },
		{ "port", port, 0 },
		{ "tls", s->server.tls == IMAP_TLS_IMAPS ? "imaps" : "starttls", 0 },
		{ "verify", "yes", 1 },
		/* Verified against this CA, or the system's: an old ca_file
		   of the section would check the new server against another. */
		{ "ca_file", s->ca_path != NULL ? s->ca_path : "", 0 },
		{ "login_name", local ? "local-part" : "full", !local },
	};
	static const char header[] = "# popgate.conf -- written by popgate setup; see "
		"popgate.conf(5) for every key.\n";
	const char *text = s->text != NULL ? s->text : header;
	size_t out_len, text_len = s->text != NULL ? s->text_len : strlen(header);
	int ret;

	snprintf(port, sizeof(port), "%u", s->server.port);
	setup_choose_section(s, section, sizeof(section));
	if (conf_edit_section(text, text_len, section, kv, sizeof(kv) / sizeof(kv[0]), &out,
			      &out_len, &error) < 0) {
		fprintf(stderr, "popgate setup: cannot change %s: %s\n", s->args.config, error);
		return -1;
	}
	ret = setup_write(s, s->args.config, out, out_len);
	free(out);
	if (ret == 0)
		printf("%s: [%s] %s: host = %s, port = %u, tls = %s%s%s.\n", s->args.config,
		       section, conf_edit_has_section(text, text_len, section) ? "updated" :
		       "added", s->server.host, s->server.port, kv[2].value,
		       local ? ", login_name = local-part" : "",
		       s->ca_path != NULL ? ", ca_file" : "");
	return ret;
}

/* ---- the steps ---- */

static int setup_load(struct setup *s)
{
	char *error = NULL;
	int r = setup_read_file(s->args.config, &s->text, &s->text_len, &s->mode,
				&s->uid, &s->gid);

	if (r < 0) {
		fprintf(stderr, "popgate setup: %s: cannot read: %s\n", s->args.config,
			strerror(errno));
		return -1;
	}
	if (r == 0) {
		s->conf = conf_new_defaults();
		return s->conf != NULL ? 0 : -1;
	}
	if (conf_load_flags(s->args.config, CONF_LOAD_NO_UPSTREAM_OK, &s->conf, &error) < 0) {
		fprintf(stderr, "popgate setup: %s\npopgate setup changes only a file popgate "
			"can read: fix that first.\n", error != NULL ? error : "out of memory");
		free(error);
		return -1;
	}
	return 0;
}

static int setup_connect(struct setup *s)
{
	struct setup_find_settings find = {
		.domain = s->domain, .provider = s->have_provider ? &s->provider : NULL,
		.timeout_secs = s->args.timeout_secs, .out = stdout,
	};
	char *error = NULL, why[400];
	const char *user;
	enum setup_login_result r;

	s->tls = tls_client_ctx_new(true, s->ca_path, &error);
	s->base = event_base_new();
	if (s->tls == NULL || s->base == NULL ||
	    (s->dns = resolver_new(s->base, s->conf->resolver)) == NULL) {
		fprintf(stderr, "popgate setup: %s\n", error != NULL ? error : "out of memory");
		free(error);
		return -1;
	}
	find.base = s->base;
	find.dns = s->dns;
	find.tls = s->tls;
	printf("Looking for the IMAP server of %s:\n", s->domain);
	if (setup_find(&find, &s->server) < 0) {
		printf("No IMAP server of %s answered with a valid certificate. Nothing was "
		       "written.\nGive the settings by hand in %s (popgate.conf(5)).\n", s->domain,
		       s->args.config);
		return -1;
	}
	if (setup_password(s) < 0)
		return -1;
	user = s->server.login == PROVIDER_LOGIN_LOCAL_PART ? s->local : s->args.address;
	r = setup_login(s->base, s->dns, s->tls, &s->server, s->args.timeout_secs, user,
			s->pass, why, sizeof(why));
	memset(s->pass, 0, sizeof(s->pass));
	if (r != SETUP_LOGIN_OK) {
		printf("%s %s:%u as %s: %s\nNothing was written.\n",
		       r == SETUP_LOGIN_REFUSED ? "The server refused the login at" :
		       "The login failed at", s->server.host, s->server.port, user, why);
		return -1;
	}
	printf("Logged in at %s:%u as %s: the settings work (the password is not stored).\n",
	       s->server.host, s->server.port, user);
	return 0;
}

static void setup_free(struct setup *s)
{
	if (s->dns != NULL)
		evdns_base_free(s->dns, 0);
	if (s->base != NULL)
		event_base_free(s->base);
	tls_client_ctx_free(&s->tls);
	conf_free(&s->conf);
	free(s->text);
	free(s->ca_path);
}

int setup_main(int argc, char **argv)
{
	struct setup s;
	struct conf *now = NULL;
	char *error = NULL;
	int ret = 1, r;

	memset(&s, 0, sizeof(s));
	if (setup_parse_args(argc, argv, &s.args) < 0 || setup_split_address(&s) < 0)
		return 2;
	if (s.args.ca_file != NULL && (s.ca_path = realpath(s.args.ca_file, NULL)) == NULL) {
		fprintf(stderr, "popgate setup: --ca-file %s: %s\n", s.args.ca_file, strerror(errno));
		return 2;
	}
	/* The IMAP client's own warnings would repeat what is printed. */
	log_open(LOG_TARGET_STDERR, LOG_LEVEL_ERROR, "popgate-setup", 0);
	tls_init();
	if (setup_load(&s) < 0)
		goto out;
	if ((r = setup_provider(&s)) != 0) {
		ret = r < 0 ? 1 : r;
		goto out;
	}
	if (setup_connect(&s) < 0 || setup_configure(&s) < 0)
		goto out;
	if (conf_load(s.args.config, &now, &error) == 0) {
		setup_print_clients(stdout, now, s.args.address);
		conf_free(&now);
	}
	free(error);
	printf("\nA running popgate takes the change on reload (systemctl reload popgate, or "
	       "SIGHUP).\n");
	ret = 0;
out:
	setup_free(&s);
	return ret;
}
