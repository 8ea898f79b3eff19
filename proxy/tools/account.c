/* popgate account ...; contracts in account.h. */

#include "account.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "cache.h"
#include "conf.h"
#include "crypto.h"
#include "oauth_account.h"
#include "oauth_enrol.h"
#include "oauth_http.h"
#include "oauth_record.h"

#define ACCOUNT_PASS_MAX 512

struct account_run {
	struct event_base *base;
	struct conf *conf;
	const struct conf_upstream *up;
	struct cache *cache;
	struct oauth_http *http;
	struct cache_req *req;
	char account[CACHE_ACCOUNT_MAX + 1];
	char address[CACHE_ACCOUNT_MAX + 1];
	char pass[ACCOUNT_PASS_MAX + 1];
	char new_pass[ACCOUNT_PASS_MAX + 1];
	bool generated;
	uint64_t gen;
	int status;                        /* exit status once done */
	/* add */
	bool use_code;
	unsigned int port;
	struct oauth_device *device;
	struct evhttp *listener;
	struct bufferevent *input;
	struct oauth_http_req *exchange;
	char verifier[44], challenge[44], state[23];
	char redirect_uri[64];
	bool got_code;
	/* list */
	char **names;
	size_t n_names, next_name;
};

static void account_done(struct account_run *a, int status)
{
	a->status = status;
	event_base_loopbreak(a->base);
}

static void account_cache_log(void *ctx, enum cache_log_level level, const char *line)
{
	(void)ctx;
	if (level <= CACHE_LOG_WARN)
		fprintf(stderr, "popgate: state store: %s\n", line);
}

/* One line of stdin without stdio buffering (the rest of stdin may be a
   pasted redirect URL read from the loop later). */
static int account_read_line(char *buf, size_t size)
{
	size_t n = 0;
	char c;

	while (n + 1 < size) {
		ssize_t r = read(0, &c, 1);

		if (r <= 0 || c == '\n')
			break;
		if (c != '\r')
			buf[n++] = c;
	}
	buf[n] = '\0';
	return n > 0 ? 0 : -1;
}

/* 20 characters of letters and digits, from the system's random source. */
static int account_generate_password(char *buf)
{
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	uint8_t rnd[20];

	if (crypto_random(rnd, sizeof(rnd)) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(rnd); i++)
		buf[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
	buf[sizeof(rnd)] = '\0';
	explicit_bzero(rnd, sizeof(rnd));
	return 0;
}

static int account_resolve(struct account_run *a, const char *address)
{
	const char *error;

	snprintf(a->address, sizeof(a->address), "%s", address);
	a->up = oauth_account_of(a->conf, address, a->account, &error);
	if (a->up == NULL) {
		fprintf(stderr, "popgate: %s: %s\n", address, error);
		return -1;
	}
	return 0;
}

static int account_open(struct account_run *a, const char *path)
{
	char *error = NULL, url[300];
	const char *http_error;
	struct cache_settings set;

	if (conf_load(path, &a->conf, &error) < 0) {
		fprintf(stderr, "popgate: %s\n", error);
		free(error);
		return -1;
	}
	a->base = event_base_new();
	if (a->base != NULL && oauth_http_global_init(&http_error) < 0) {
		fprintf(stderr, "popgate: %s\n", http_error);
		return -1;
	}
	if (a->base == NULL || (a->http = oauth_http_new(a->base, NULL)) == NULL) {
		fprintf(stderr, "popgate: out of memory\n");
		return -1;
	}
	/* auto: the daemon's managed redis-server, never a second one. */
	if (strcmp(a->conf->cache_url, "auto") == 0)
		snprintf(url, sizeof(url), "unix:%s/redis.sock", a->conf->cache_state_dir);
	else
		snprintf(url, sizeof(url), "%s", a->conf->cache_url);
	memset(&set, 0, sizeof(set));
	set.url = url;
	set.password = a->conf->cache_password;
	set.state_dir = a->conf->cache_state_dir;
	set.timeout_ms = a->conf->cache_timeout_ms < 5000 ? 5000 : a->conf->cache_timeout_ms;
	set.hooks.log = account_cache_log;
	a->cache = cache_new(a->base, &set, &error);
	if (a->cache == NULL) {
		fprintf(stderr, "popgate: state store: %s\n", error != NULL ? error : "out of memory");
		free(error);
		return -1;
	}
	return 0;
}

static void account_close(struct account_run *a)
{
	cache_req_cancel(&a->req);
	oauth_device_free(&a->device);
	oauth_http_cancel(&a->exchange);
	if (a->listener != NULL)
		evhttp_free(a->listener);
	if (a->input != NULL)
		bufferevent_free(a->input);
	cache_free(&a->cache);
	oauth_http_free(&a->http);
	if (a->base != NULL)
		event_base_free(a->base);
	conf_free(&a->conf);
	for (size_t i = 0; i < a->n_names; i++)
		free(a->names[i]);
	free(a->names);
	explicit_bzero(a->pass, sizeof(a->pass));
	explicit_bzero(a->new_pass, sizeof(a->new_pass));
}

/* ---- add: store the tokens under the gateway password ---- */

static void account_stored(void *ctx, enum cache_status st, uint64_t gen)
{
	struct account_run *a = ctx;

	a->req = NULL;
	if (st != CACHE_OK) {
		fprintf(stderr, "popgate: %s: %s\n", a->address, st == CACHE_CONFLICT ?
			"changed meanwhile by someone else, nothing stored: run it again" :
			"the state store did not take the record");
		account_done(a, 1);
		return;
	}
	printf("%s: enrolled (route %s, record %llu)\n", a->address, a->up->name,
	       (unsigned long long)gen);
	if (a->generated)
		printf("gateway password for the POP3 client: %s\n", a->pass);
	printf("POP3 client settings: user %s, the gateway password, server this gateway\n",
	       a->address);
	fflush(stdout);
	account_done(a, 0);
}

static void account_store(struct account_run *a, const struct oauth_token_reply *reply)
{
	const char *error;
	char *json = oauth_account_record(a->address, a->up, a->account, a->pass, reply, &error);

	if (json == NULL) {
		fprintf(stderr, "popgate: %s: %s\n", a->address, error);
		account_done(a, 1);
		return;
	}
	a->req = cache_oauth_put(a->cache, a->account, a->gen, json, strlen(json), account_stored,
				 a);
	free(json);
	if (a->req == NULL)
		account_done(a, 1);
}

static void account_got_tokens(void *ctx, enum oauth_json_kind kind,
			       const struct oauth_token_reply *reply, const char *error)
{
	struct account_run *a = ctx;

	a->exchange = NULL;
	if (kind != OAUTH_JSON_OK) {
		fprintf(stderr, "popgate: %s: not authorized: %s\n", a->address, error);
		account_done(a, 1);
		return;
	}
	account_store(a, reply);
}

/* ---- add: device grant ---- */

static void account_device_prompt(void *ctx, const struct oauth_device_reply *r)
{
	(void)ctx;
	printf("To authorize, open %s on any device and enter the code %s\n",
	       r->verification_uri, r->user_code);
	if (r->verification_uri_complete != NULL)
		printf("(or open %s)\n", r->verification_uri_complete);
	printf("Waiting for the authorization (the code expires in %u minutes)...\n",
	       (r->expires_in + 59) / 60);
	fflush(stdout);
}

/* ---- add: code grant, loopback redirect or pasted URL ---- */

static void account_code(struct account_run *a, const char *url)
{
	char code[2048];
	const char *error;

	if (a->got_code)
		return;
	if (oauth_redirect_code(url, a->state, code, sizeof(code), &error) < 0) {
		fprintf(stderr, "popgate: %s: %s\n", a->address, error);
		if (strstr(error, "state") == NULL) {
			account_done(a, 1);
			return;
		}
		fprintf(stderr, "popgate: waiting for the right redirect\n");
		return;
	}
	a->got_code = true;
	a->exchange = oauth_code_exchange(a->http, a->up, code, a->redirect_uri, a->verifier,
					  account_got_tokens, a);
	explicit_bzero(code, sizeof(code));
	if (a->exchange == NULL)
		account_done(a, 1);
}

static void account_callback(struct evhttp_request *req, void *arg)
{
	struct account_run *a = arg;
	struct evbuffer *body = evbuffer_new();
	const char *uri = evhttp_request_get_uri(req);

	if (body != NULL) {
		evbuffer_add_printf(body, "<!DOCTYPE html><html lang=\"en\"><head><meta "
				    "charset=\"utf-8\"><title>popgate</title></head><body><p>"
				    "popgate received the answer; you may close this window.</p>"
				    "</body></html>\n");
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
				  "text/html; charset=utf-8");
		evhttp_send_reply(req, 200, "OK", body);
		evbuffer_free(body);
	}
	account_code(a, uri != NULL ? uri : "");
}

static void account_input(struct bufferevent *bev, void *arg)
{
	struct account_run *a = arg;
	char *line;

	while ((line = evbuffer_readln(bufferevent_get_input(bev), NULL,
				       EVBUFFER_EOL_CRLF)) != NULL) {
		if (line[0] != '\0')
			account_code(a, line);
		free(line);
	}
}

static void account_input_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	(void)arg;
	/* End of stdin: the loopback redirect may still come. */
}

static int account_start_code(struct account_run *a)
{
	struct evhttp_bound_socket *sock;
	char *url;
	int port = -1;

	if (oauth_pkce_new(a->verifier, a->challenge, a->state) < 0 ||
	    (a->listener = evhttp_new(a->base)) == NULL ||
	    (sock = evhttp_bind_socket_with_handle(a->listener, "127.0.0.1",
						   (uint16_t)a->port)) == NULL)
		return -1;
	evhttp_set_cb(a->listener, "/callback", account_callback, a);
	{
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len) == 0)
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	snprintf(a->redirect_uri, sizeof(a->redirect_uri), "http://127.0.0.1:%d/callback", port);
	url = oauth_authorize_url(a->up, a->redirect_uri, a->state, a->challenge);
	if (url == NULL)
		return -1;
	printf("To authorize, open this URL in a browser on any machine:\n%s\n", url);
	printf("Then either let the browser come back to this machine (%s), or paste the "
	       "address the browser ends on (it starts with %s) here.\n", a->redirect_uri,
	       a->redirect_uri);
	fflush(stdout);
	free(url);
	a->input = bufferevent_socket_new(a->base, 0, 0);
	if (a->input != NULL) {
		bufferevent_setcb(a->input, account_input, NULL, account_input_event, a);
		bufferevent_enable(a->input, EV_READ);
	}
	return 0;
}

static void account_add_loaded(void *ctx, enum cache_status st, uint64_t gen, const char *json,
			       size_t len)
{
	struct account_run *a = ctx;

	(void)json;
	(void)len;
	a->req = NULL;
	if (st != CACHE_OK) {
		fprintf(stderr, "popgate: the state store is unavailable (is the daemon running?)\n");
		account_done(a, 1);
		return;
	}
	a->gen = gen;
	if (gen != 0)
		printf("%s: enrolled already; a new authorization replaces it\n", a->address);
	if (!a->use_code) {
		a->device = oauth_device_start(a->base, a->http, a->up, account_device_prompt,
					       account_got_tokens, a);
		if (a->device == NULL)
			account_done(a, 1);
		return;
	}
	if (account_start_code(a) < 0) {
		fprintf(stderr, "popgate: cannot start the code grant\n");
		account_done(a, 1);
	}
}

static int account_add(struct account_run *a, bool pass_stdin, const char *method)
{
	if (method != NULL && strcmp(method, "device") != 0 && strcmp(method, "code") != 0) {
		fprintf(stderr, "popgate: --method is device or code\n");
		return 2;
	}
	a->use_code = method != NULL ? strcmp(method, "code") == 0 :
		a->up->device_endpoint == NULL;
	if (a->use_code ? a->up->authorization_endpoint == NULL : a->up->device_endpoint == NULL) {
		fprintf(stderr, "popgate: route %s has no %s endpoint\n", a->up->name,
			a->use_code ? "authorization" : "device");
		return 1;
	}
	if (pass_stdin) {
		if (account_read_line(a->pass, sizeof(a->pass)) < 0) {
			fprintf(stderr, "popgate: no password on stdin\n");
			return 1;
		}
	} else if (account_generate_password(a->pass) < 0) {
		return 1;
	} else {
		a->generated = true;
	}
	a->req = cache_oauth_get(a->cache, a->account, account_add_loaded, a);
	return a->req == NULL ? 1 : -1;
}

/* ---- remove ---- */

static void account_removed(void *ctx, enum cache_status st)
{
	struct account_run *a = ctx;

	a->req = NULL;
	if (st == CACHE_OK)
		printf("%s: removed\n", a->address);
	else
		fprintf(stderr, "popgate: %s: %s\n", a->address,
			st == CACHE_CONFLICT ? "not enrolled" : "the state store is unavailable");
	account_done(a, st == CACHE_OK ? 0 : 1);
}

/* ---- password: the old one opens the tokens, the new one seals them ---- */

static void account_repassword(void *ctx, enum cache_status st, uint64_t gen, const char *json,
			       size_t len)
{
	struct account_run *a = ctx;
	struct oauth_record rec;
	struct oauth_secrets sec;
	uint8_t key[CRYPTO_KEY_LEN];
	const char *why;
	char *out = NULL;

	a->req = NULL;
	if (st != CACHE_OK || json == NULL) {
		fprintf(stderr, "popgate: %s: %s\n", a->address,
			st != CACHE_OK ? "the state store is unavailable" : "not enrolled");
		account_done(a, 1);
		return;
	}
	if (oauth_record_parse(json, len, &rec, &why) < 0 ||
	    oauth_record_unlock(&rec, a->pass, strlen(a->pass), key) < 0 ||
	    oauth_record_open(&rec, key, a->account, &sec) < 0) {
		oauth_record_clear(&rec);
		fprintf(stderr, "popgate: %s: not the current gateway password (without it, "
			"enrol the account again with \"popgate account add\")\n", a->address);
		account_done(a, 1);
		return;
	}
	if (oauth_record_set_password(&rec, a->new_pass, strlen(a->new_pass), key) == 0 &&
	    oauth_record_seal(&rec, key, a->account, &sec) == 0)
		out = oauth_record_format(&rec);
	explicit_bzero(key, sizeof(key));
	oauth_secrets_clear(&sec);
	oauth_record_clear(&rec);
	if (out == NULL) {
		account_done(a, 1);
		return;
	}
	snprintf(a->pass, sizeof(a->pass), "%s", a->new_pass);
	a->req = cache_oauth_put(a->cache, a->account, gen, out, strlen(out), account_stored, a);
	free(out);
	if (a->req == NULL)
		account_done(a, 1);
}

/* ---- list ---- */

static void account_list_next(struct account_run *a);

static void account_listed_one(void *ctx, enum cache_status st, uint64_t gen, const char *json,
			       size_t len)
{
	struct account_run *a = ctx;
	struct oauth_record rec;
	const char *why;
	char created[32] = "?", updated[32] = "?";

	a->req = NULL;
	if (st == CACHE_OK && json != NULL && oauth_record_parse(json, len, &rec, &why) == 0) {
		time_t c = (time_t)rec.created, u = (time_t)rec.updated;

		strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime(&c));
		strftime(updated, sizeof(updated), "%Y-%m-%dT%H:%M:%SZ", gmtime(&u));
		printf("%s route=%s enrolled=%s updated=%s record=%llu\n", rec.address, rec.route,
		       created, updated, (unsigned long long)gen);
		oauth_record_clear(&rec);
	} else if (st == CACHE_OK && json != NULL) {
		printf("%s (damaged record: %s)\n", a->names[a->next_name - 1], why);
	}
	account_list_next(a);
}

static void account_list_next(struct account_run *a)
{
	if (a->next_name == a->n_names) {
		if (a->n_names == 0)
			printf("no account enrolled\n");
		account_done(a, 0);
		return;
	}
	a->req = cache_oauth_get(a->cache, a->names[a->next_name++], account_listed_one, a);
	if (a->req == NULL)
		account_done(a, 1);
}

static void account_scanned(void *ctx, enum cache_status st, uint64_t next,
			    const char *const *accounts, size_t n)
{
	struct account_run *a = ctx;
	char **names;

	a->req = NULL;
	if (st != CACHE_OK) {
		fprintf(stderr, "popgate: the state store is unavailable\n");
		account_done(a, 1);
		return;
	}
	names = realloc(a->names, (a->n_names + n) * sizeof(char *) + 1);
	if (names == NULL) {
		account_done(a, 1);
		return;
	}
	a->names = names;
	for (size_t i = 0; i < n; i++) {
		if ((a->names[a->n_names] = strdup(accounts[i])) != NULL)
			a->n_names++;
	}
	if (next != 0) {
		a->req = cache_oauth_scan(a->cache, next, account_scanned, a);
		if (a->req == NULL)
			account_done(a, 1);
		return;
	}
	account_list_next(a);
}

/* ---- the subcommand ---- */

static void account_usage(FILE *out)
{
	fprintf(out,
		"usage: popgate account [-c FILE] add [--method device|code] [--port N]\n"
		"                                     [--password-stdin] ADDRESS\n"
		"       popgate account [-c FILE] list\n"
		"       popgate account [-c FILE] remove ADDRESS\n"
		"       popgate account [-c FILE] password ADDRESS   (old, then new, on stdin)\n");
}

int popgate_account_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "method", required_argument, NULL, 'm' },
		{ "port", required_argument, NULL, 'P' },
		{ "password-stdin", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = CONF_DEFAULT_PATH, *method = NULL, *action;
	struct account_run *a = calloc(1, sizeof(*a));
	bool pass_stdin = false;
	int opt, ret = 1;

	if (a == NULL)
		return 1;
	a->status = 1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+c:m:P:ph", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'm': method = optarg; break;
		case 'P': a->port = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'p': pass_stdin = true; break;
		case 'h': account_usage(stdout); free(a); return 0;
		default: account_usage(stderr); free(a); return 2;
		}
	}
	/* Options may also follow the action. */
	action = optind < argc ? argv[optind++] : NULL;
	while ((opt = getopt_long(argc, argv, "c:m:P:ph", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'm': method = optarg; break;
		case 'P': a->port = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'p': pass_stdin = true; break;
		default: account_usage(stderr); free(a); return 2;
		}
	}
	if (action == NULL || (strcmp(action, "list") != 0 && optind + 1 != argc) ||
	    (strcmp(action, "list") == 0 && optind != argc) ||
	    (strcmp(action, "add") != 0 && strcmp(action, "list") != 0 &&
	     strcmp(action, "remove") != 0 && strcmp(action, "password") != 0)) {
		account_usage(stderr);
		free(a);
		return 2;
	}
	if (account_open(a, path) < 0 ||
	    (strcmp(action, "list") != 0 && account_resolve(a, argv[optind]) < 0))
		goto out;
	if (strcmp(action, "add") == 0) {
		ret = account_add(a, pass_stdin, method);
		if (ret >= 0)
			goto out;
	} else if (strcmp(action, "remove") == 0) {
		a->req = cache_oauth_delete(a->cache, a->account, account_removed, a);
	} else if (strcmp(action, "password") == 0) {
		if (account_read_line(a->pass, sizeof(a->pass)) < 0 ||
		    account_read_line(a->new_pass, sizeof(a->new_pass)) < 0) {
			fprintf(stderr, "popgate: give the current and the new gateway password on "
				"stdin, one a line\n");
			goto out;
		}
		a->req = cache_oauth_get(a->cache, a->account, account_repassword, a);
	} else {
		a->req = cache_oauth_scan(a->cache, 0, account_scanned, a);
	}
	if (a->req == NULL && a->device == NULL && a->listener == NULL)
		goto out;
	event_base_dispatch(a->base);
	ret = a->status;
out:
	account_close(a);
	free(a);
	return ret;
}
