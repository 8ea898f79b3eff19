/* The enrolment page; contracts in enrol_web.h. */

#include "enrol_web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "cache.h"
#include "conf.h"
#include "crypto.h"
#include "http_guard.h"
#include "log.h"
#include "metrics.h"
#include "oauth_account.h"
#include "oauth_enrol.h"
#include "oauth_http.h"
#include "oauth_json.h"
#include "tls.h"

#define ENROL_TTL 600          /* seconds a sign-in may take */
#define ENROL_MAX 1000         /* sign-ins under way */
#define ENROL_PASS_MIN 8
#define ENROL_PASS_MAX 256
/* [enrol] max_connections and request_timeout when the configuration
   says 0 (it never does: conf_keys.c has the same defaults). */
#define ENROL_MAX_CONNECTIONS 128
#define ENROL_REQUEST_TIMEOUT_MS 10000

struct enrol_pending {
	LIST_ENTRY(enrol_pending) link;
	struct enrol_web *w;
	char state[23], ticket[23];
	char cookie[23];                   /* the browser's */
	char verifier[44];
	char address[CACHE_ACCOUNT_MAX + 1];
	char account[CACHE_ACCOUNT_MAX + 1];
	const struct conf_upstream *up;
	time_t until;
	bool used;                         /* the callback came */
	struct oauth_token_reply tokens;   /* once exchanged */
	bool have_tokens;
	char generated[32];
	struct evhttp_request *held;       /* waiting for the exchange or store */
	struct oauth_http_req *http;
	struct cache_req *creq;
	char *record;
};

struct enrol_web {
	struct event_base *base;
	const struct conf *conf;
	struct cache *cache;
	struct oauth_http *http;
	struct evhttp *httpd;
	struct http_guard *guard;          /* max_connections, request_timeout */
	struct tls_server_ctx *tls;
	char base_url[320];
	LIST_HEAD(, enrol_pending) pending;
	unsigned int count;
};

/* ---- pages ---- */

static void enrol_html_escape(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<': evbuffer_add(b, "&lt;", 4); break;
		case '>': evbuffer_add(b, "&gt;", 4); break;
		case '&': evbuffer_add(b, "&amp;", 5); break;
		case '"': evbuffer_add(b, "&quot;", 6); break;
		case '\'': evbuffer_add(b, "&#39;", 5); break;
		default: evbuffer_add(b, s, 1);
		}
	}
}

static void enrol_page_start(struct evbuffer *b, const char *title)
{
	evbuffer_add_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			    "<meta name=\"viewport\" content=\"width=device-width\">"
			    "<title>%s - popgate</title></head><body><main><h1>%s</h1>\n",
			    title, title);
}

static void enrol_send(struct evhttp_request *req, int code, const char *reason,
		       struct evbuffer *b)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evbuffer_add_printf(b, "</main></body></html>\n");
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Content-Security-Policy",
			  "default-src 'none'; frame-ancestors 'none'");
	evhttp_send_reply(req, code, reason, b);
}

static void enrol_message(struct evhttp_request *req, int code, const char *title,
			  const char *text)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	enrol_page_start(b, title);
	evbuffer_add_printf(b, "<p>");
	enrol_html_escape(b, text);
	evbuffer_add_printf(b, "</p>\n<p><a href=\"/\">Start again</a></p>\n");
	enrol_send(req, code, code == 200 ? "OK" : "Refused", b);
	evbuffer_free(b);
}

static void enrol_form_page(struct evhttp_request *req, const char *error)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		return;
	enrol_page_start(b, "Connect a mailbox");
	if (error != NULL) {
		evbuffer_add_printf(b, "<p role=\"alert\">");
		enrol_html_escape(b, error);
		evbuffer_add_printf(b, "</p>\n");
	}
	evbuffer_add_printf(b,
		"<form method=\"post\" action=\"/start\">\n"
		"<p><label for=\"address\">Your e-mail address</label><br>\n"
		"<input id=\"address\" name=\"address\" type=\"email\" autocomplete=\"username\" "
		"required size=\"40\"></p>\n"
		"<p><button type=\"submit\">Sign in with your mail provider</button></p>\n"
		"</form>\n<p>You will sign in at your provider; then you choose the password your "
		"old mail program uses with this gateway.</p>\n");
	enrol_send(req, error != NULL ? 400 : 200, error != NULL ? "Refused" : "OK", b);
	evbuffer_free(b);
}

static void enrol_password_page(struct evhttp_request *req, struct enrol_pending *p,
				const char *error)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		return;
	enrol_page_start(b, "Choose the gateway password");
	evbuffer_add_printf(b, "<p>Signed in as <strong>");
	enrol_html_escape(b, p->address);
	evbuffer_add_printf(b, "</strong>.</p>\n");
	if (error != NULL) {
		evbuffer_add_printf(b, "<p role=\"alert\">");
		enrol_html_escape(b, error);
		evbuffer_add_printf(b, "</p>\n");
	}
	evbuffer_add_printf(b,
		"<form method=\"post\" action=\"/password\">\n"
		"<input type=\"hidden\" name=\"ticket\" value=\"%s\">\n"
		"<p><label for=\"password\">Password for your mail program (at least %d "
		"characters; leave empty to have one made for you)</label><br>\n"
		"<input id=\"password\" name=\"password\" type=\"password\" "
		"autocomplete=\"new-password\" size=\"30\"></p>\n"
		"<p><label for=\"password2\">The same again</label><br>\n"
		"<input id=\"password2\" name=\"password2\" type=\"password\" "
		"autocomplete=\"new-password\" size=\"30\"></p>\n"
		"<p><button type=\"submit\">Save</button></p>\n</form>\n", p->ticket, ENROL_PASS_MIN);
	enrol_send(req, error != NULL ? 400 : 200, error != NULL ? "Refused" : "OK", b);
	evbuffer_free(b);
}

/* ---- sign-ins under way ---- */

static void enrol_pending_free(struct enrol_pending *p)
{
	LIST_REMOVE(p, link);
	p->w->count--;
	oauth_http_cancel(&p->http);
	cache_req_cancel(&p->creq);
	oauth_token_reply_clear(&p->tokens);
	if (p->record != NULL) {
		explicit_bzero(p->record, strlen(p->record));
		free(p->record);
	}
	explicit_bzero(p, sizeof(*p));
	free(p);
}

static void enrol_sweep(struct enrol_web *w)
{
	struct enrol_pending *p, *next;
	time_t now = time(NULL);

	for (p = LIST_FIRST(&w->pending); p != NULL; p = next) {
		next = LIST_NEXT(p, link);
		if (p->until <= now && p->held == NULL)
			enrol_pending_free(p);
	}
}

static int enrol_random(char out[23])
{
	uint8_t rnd[16];

	if (crypto_random(rnd, sizeof(rnd)) < 0)
		return -1;
	crypto_base64url(rnd, sizeof(rnd), out);
	return 0;
}

/* The browser's enrolment cookie, or "" (into buf, 23). */
static void enrol_cookie(struct evhttp_request *req, char *buf)
{
	const char *c = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
	const char *p = c != NULL ? strstr(c, "pg_enrol=") : NULL;

	buf[0] = '\0';
	if (p != NULL && (p == c || p[-1] == ' ' || p[-1] == ';'))
		snprintf(buf, 23, "%.*s", (int)strcspn(p + 9, "; "), p + 9);
}

/* The sign-in whose field (state or ticket) is value, for this browser;
   *why says which check failed. */
static struct enrol_pending *enrol_find(struct enrol_web *w, struct evhttp_request *req,
					const char *value, bool ticket, const char **why)
{
	char cookie[23];
	struct enrol_pending *p;

	enrol_cookie(req, cookie);
	*why = "This sign-in is unknown or has expired.";
	if (value == NULL || value[0] == '\0')
		return NULL;
	LIST_FOREACH(p, &w->pending, link) {
		if (!crypto_equal_str(ticket ? p->ticket : p->state, value))
			continue;
		if (p->until <= time(NULL))
			return NULL;
		if (cookie[0] == '\0' || !crypto_equal_str(p->cookie, cookie)) {
			*why = "This answer does not belong to a sign-in started in this browser.";
			return NULL;
		}
		return p;
	}
	return NULL;
}

/* The form fields of a POST body. */
static int enrol_form(struct evhttp_request *req, struct evkeyvalq *fields)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char body[2048];

	TAILQ_INIT(fields);
	if (len >= sizeof(body))
		return -1;
	evbuffer_remove(in, body, len);
	body[len] = '\0';
	return evhttp_parse_query_str(body, fields);
}

/* ---- / and /start ---- */

static void enrol_start(struct enrol_web *w, struct evhttp_request *req)
{
	struct evkeyvalq fields;
	const char *address, *error;
	struct enrol_pending *p;
	char challenge[44], redirect[400], cookie[200], *url;

	if (enrol_form(req, &fields) < 0 ||
	    (address = evhttp_find_header(&fields, "address")) == NULL) {
		evhttp_clear_headers(&fields);
		enrol_form_page(req, "Enter your e-mail address.");
		return;
	}
	enrol_sweep(w);
	if (w->count >= ENROL_MAX || (p = calloc(1, sizeof(*p))) == NULL) {
		evhttp_clear_headers(&fields);
		enrol_message(req, 503, "Busy", "Too many sign-ins at once; try again in a minute.");
		return;
	}
	p->w = w;
	LIST_INSERT_HEAD(&w->pending, p, link);
	w->count++;
	snprintf(p->address, sizeof(p->address), "%s", address);
	evhttp_clear_headers(&fields);
	p->up = oauth_account_of(w->conf, p->address, p->account, &error);
	if (p->up == NULL || p->up->authorization_endpoint == NULL) {
		enrol_pending_free(p);
		enrol_form_page(req, "This gateway cannot connect that address.");
		return;
	}
	p->until = time(NULL) + ENROL_TTL;
	snprintf(redirect, sizeof(redirect), "%s/callback", w->base_url);
	if (oauth_pkce_new(p->verifier, challenge, p->state) < 0 || enrol_random(p->cookie) < 0 ||
	    enrol_random(p->ticket) < 0 ||
	    (url = oauth_authorize_url(p->up, redirect, p->state, challenge)) == NULL) {
		enrol_pending_free(p);
		enrol_message(req, 500, "Error", "Out of memory.");
		return;
	}
	snprintf(cookie, sizeof(cookie), "pg_enrol=%s; Path=/; HttpOnly; SameSite=Lax%s",
		 p->cookie, w->tls != NULL ? "; Secure" : "");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", cookie);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location", url);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_send_reply(req, 303, "See Other", NULL);
	free(url);
}

/* ---- /callback ---- */

static void enrol_exchanged(void *ctx, enum oauth_json_kind kind,
			    const struct oauth_token_reply *reply, const char *error)
{
	struct enrol_pending *p = ctx;
	struct evhttp_request *req = p->held;

	p->http = NULL;
	p->held = NULL;
	if (kind != OAUTH_JSON_OK) {
		log_warn("event=enrol_failed step=exchange error=\"%s\"",
			 error != NULL ? error : "?");
		metrics_oauth_enrolment(false);
		enrol_pending_free(p);
		enrol_message(req, 502, "Not connected",
			      "The provider did not give access; start again.");
		return;
	}
	p->tokens.access_token = strdup(reply->access_token);
	p->tokens.refresh_token = reply->refresh_token != NULL ? strdup(reply->refresh_token) :
		NULL;
	p->tokens.expires_in = reply->expires_in;
	p->have_tokens = true;
	enrol_password_page(req, p, NULL);
}

static void enrol_callback(struct enrol_web *w, struct evhttp_request *req)
{
	struct evkeyvalq q;
	const char *state, *why, *uri = evhttp_request_get_uri(req), *error;
	struct enrol_pending *p;
	char code[2048], redirect[400];
	const char *query = strchr(uri, '?');

	TAILQ_INIT(&q);
	evhttp_parse_query_str(query != NULL ? query + 1 : "", &q);
	state = evhttp_find_header(&q, "state");
	p = enrol_find(w, req, state, false, &why);
	if (p != NULL && p->used) {
		p = NULL;
		why = "This answer was used already.";
	}
	if (p == NULL) {
		evhttp_clear_headers(&q);
		log_info("event=enrol_refused step=callback reason=\"%s\"", why);
		enrol_message(req, 400, "Not accepted", why);
		return;
	}
	p->used = true;
	evhttp_clear_headers(&q);
	if (oauth_redirect_code(uri, p->state, code, sizeof(code), &error) < 0) {
		metrics_oauth_enrolment(false);
		enrol_pending_free(p);
		enrol_message(req, 400, "Not connected", error);
		return;
	}
	snprintf(redirect, sizeof(redirect), "%s/callback", w->base_url);
	p->held = req;
	p->http = oauth_code_exchange(w->http, p->up, code, redirect, p->verifier,
				      enrol_exchanged, p);
	explicit_bzero(code, sizeof(code));
	if (p->http == NULL) {
		p->held = NULL;
		enrol_pending_free(p);
		enrol_message(req, 500, "Error", "Out of memory.");
	}
}

/* ---- /password ---- */

static void enrol_stored(void *ctx, enum cache_status st, uint64_t gen)
{
	struct enrol_pending *p = ctx;
	struct evhttp_request *req = p->held;
	struct evbuffer *b;

	p->creq = NULL;
	p->held = NULL;
	metrics_oauth_enrolment(st == CACHE_OK);
	if (st != CACHE_OK || (b = evbuffer_new()) == NULL) {
		log_warn("event=enrol_failed step=store status=%s", cache_status_name(st));
		enrol_pending_free(p);
		enrol_message(req, 503, "Not saved", "The gateway could not save it; start again.");
		return;
	}
	log_info("event=enrolled address=%s route=%s record=%llu", p->address, p->up->name,
		 (unsigned long long)gen);
	enrol_page_start(b, "Done");
	evbuffer_add_printf(b, "<p>Set up your mail program with these settings:</p>\n<dl>"
			    "<dt>Account type</dt><dd>POP3</dd><dt>User name</dt><dd>");
	enrol_html_escape(b, p->address);
	evbuffer_add_printf(b, "</dd><dt>Password</dt><dd>%s</dd></dl>\n",
			    p->generated[0] != '\0' ? p->generated : "the one you chose");
	if (p->generated[0] != '\0')
		evbuffer_add_printf(b, "<p>Write the password down now: it is not shown again.</p>\n");
	enrol_send(req, 200, "OK", b);
	evbuffer_free(b);
	enrol_pending_free(p);
}

static void enrol_loaded(void *ctx, enum cache_status st, uint64_t gen, const char *json,
			 size_t len)
{
	struct enrol_pending *p = ctx;

	(void)json;
	(void)len;
	p->creq = NULL;
	if (st != CACHE_OK) {
		enrol_stored(p, st, 0);
		return;
	}
	p->creq = cache_oauth_put(p->w->cache, p->account, gen, p->record, strlen(p->record),
				  enrol_stored, p);
	if (p->creq == NULL)
		enrol_stored(p, CACHE_UNAVAILABLE, 0);
}

static void enrol_password(struct enrol_web *w, struct evhttp_request *req)
{
	struct evkeyvalq fields;
	const char *ticket, *pass, *pass2, *why, *error;
	struct enrol_pending *p;
	char chosen[ENROL_PASS_MAX + 1];

	if (enrol_form(req, &fields) < 0) {
		enrol_message(req, 400, "Not accepted", "The form was too long.");
		return;
	}
	ticket = evhttp_find_header(&fields, "ticket");
	pass = evhttp_find_header(&fields, "password");
	pass2 = evhttp_find_header(&fields, "password2");
	p = enrol_find(w, req, ticket, true, &why);
	if (p == NULL || !p->have_tokens || p->held != NULL) {
		evhttp_clear_headers(&fields);
		enrol_message(req, 400, "Not accepted", p == NULL ? why : "Wait for the first save.");
		return;
	}
	snprintf(chosen, sizeof(chosen), "%s", pass != NULL ? pass : "");
	if (pass2 == NULL || strcmp(chosen, pass2) != 0 || strlen(pass != NULL ? pass : "") >
	    ENROL_PASS_MAX || (chosen[0] != '\0' && strlen(chosen) < ENROL_PASS_MIN)) {
		evhttp_clear_headers(&fields);
		explicit_bzero(chosen, sizeof(chosen));
		enrol_password_page(req, p, "The two passwords differ, or it is too short.");
		return;
	}
	evhttp_clear_headers(&fields);
	if (chosen[0] == '\0') {
		static const char abc[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
		uint8_t rnd[20];

		if (crypto_random(rnd, sizeof(rnd)) < 0) {
			enrol_message(req, 500, "Error", "No randomness.");
			return;
		}
		for (size_t i = 0; i < sizeof(rnd); i++)
			p->generated[i] = abc[rnd[i] % (sizeof(abc) - 1)];
		p->generated[sizeof(rnd)] = '\0';
		snprintf(chosen, sizeof(chosen), "%s", p->generated);
	}
	p->record = oauth_account_record(p->address, p->up, p->account, chosen, &p->tokens,
					 &error);
	explicit_bzero(chosen, sizeof(chosen));
	if (p->record == NULL) {
		metrics_oauth_enrolment(false);
		enrol_pending_free(p);
		enrol_message(req, 502, "Not connected", error);
		return;
	}
	p->held = req;
	p->creq = cache_oauth_get(w->cache, p->account, enrol_loaded, p);
	if (p->creq == NULL) {
		p->held = NULL;
		enrol_pending_free(p);
		enrol_message(req, 500, "Error", "Out of memory.");
	}
}

static void enrol_route(struct evhttp_request *req, void *arg)
{
	struct enrol_web *w = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (!http_guard_request(w->guard, req))
		return;
	if (path == NULL)
		path = "/";
	if (strcmp(path, "/") == 0 && cmd == EVHTTP_REQ_GET)
		enrol_form_page(req, NULL);
	else if (strcmp(path, "/start") == 0 && cmd == EVHTTP_REQ_POST)
		enrol_start(w, req);
	else if (strcmp(path, "/callback") == 0 && cmd == EVHTTP_REQ_GET)
		enrol_callback(w, req);
	else if (strcmp(path, "/password") == 0 && cmd == EVHTTP_REQ_POST)
		enrol_password(w, req);
	else
		enrol_message(req, 404, "Not found", "There is no such page.");
}

static struct bufferevent *enrol_tls_bev(struct event_base *base, void *arg)
{
	struct enrol_web *w = arg;

	return tls_server_bufferevent(base, -1, w->tls);
}

static struct http_limits enrol_limits(const struct conf *conf)
{
	struct http_limits l = {
		.max_connections = conf->enrol_max_connections,
		.request_timeout_ms = conf->enrol_request_timeout_ms,
	};

	return l;
}

void enrol_web_set_limits(struct enrol_web *w, const struct conf *conf)
{
	struct http_limits l = enrol_limits(conf);

	if (w != NULL)
		http_guard_set_limits(w->guard, &l);
}

struct enrol_web *enrol_web_start(struct event_base *base, const struct conf *conf,
				  struct cache *cache, struct oauth_http *http,
				  struct tls_server_ctx *tls, char **error_r)
{
	struct enrol_web *w = calloc(1, sizeof(*w));
	struct http_guard_settings guard = {
		.name = "enrol", .refusal = "too many connections to the enrolment page\n",
		.defaults = { ENROL_MAX_CONNECTIONS, ENROL_REQUEST_TIMEOUT_MS },
		/* The callback and the password wait for the provider and the
		   store. */
		.slow_replies = true,
		.make_bev = tls != NULL ? enrol_tls_bev : NULL, .ctx = w,
	};
	struct http_limits limits = enrol_limits(conf);

	*error_r = NULL;
	if (w == NULL || (w->httpd = evhttp_new(base)) == NULL) {
		free(w);
		return NULL;
	}
	w->base = base;
	w->conf = conf;
	w->cache = cache;
	w->http = http;
	w->tls = tls;
	LIST_INIT(&w->pending);
	if (conf->enrol_url != NULL)
		snprintf(w->base_url, sizeof(w->base_url), "%s", conf->enrol_url);
	else
		snprintf(w->base_url, sizeof(w->base_url), "%s://%s%s%s:%u",
			 tls != NULL ? "https" : "http", strchr(conf->enrol_host, ':') ? "[" : "",
			 conf->enrol_host, strchr(conf->enrol_host, ':') ? "]" : "",
			 conf->enrol_port);
	/* No trailing slash: paths are appended. */
	if (w->base_url[0] != '\0' && w->base_url[strlen(w->base_url) - 1] == '/')
		w->base_url[strlen(w->base_url) - 1] = '\0';
	evhttp_set_max_headers_size(w->httpd, 16384);
	evhttp_set_max_body_size(w->httpd, 4096);
	evhttp_set_allowed_methods(w->httpd, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(w->httpd, enrol_route, w);
	w->guard = http_guard_new(w->httpd, &guard, &limits);
	if (w->guard == NULL) {
		enrol_web_free(&w);
		return NULL;
	}
	if (evhttp_bind_socket(w->httpd, conf->enrol_host, conf->enrol_port) < 0) {
		if (asprintf(error_r, "cannot bind %s:%u", conf->enrol_host, conf->enrol_port) < 0)
			*error_r = NULL;
		enrol_web_free(&w);
		return NULL;
	}
	return w;
}

void enrol_web_free(struct enrol_web **wp)
{
	struct enrol_web *w = *wp;

	if (w == NULL)
		return;
	while (!LIST_EMPTY(&w->pending)) {
		struct enrol_pending *p = LIST_FIRST(&w->pending);

		/* evhttp_free below drops the held requests. */
		p->held = NULL;
		enrol_pending_free(p);
	}
	evhttp_free(w->httpd);
	http_guard_free(&w->guard);
	free(w);
	*wp = NULL;
}
