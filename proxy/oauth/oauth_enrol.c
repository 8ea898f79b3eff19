/* Contracts in oauth_enrol.h. */

#include "oauth_enrol.h"
#include "oauth_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "conf.h"
#include "crypto.h"

#define OAUTH_FORM_MAX 8192

struct oauth_device {
	struct event_base *base;
	struct oauth_http *http;
	struct oauth_http_req *req;
	struct event *timer;
	char *token_endpoint, *client_id, *client_secret;
	unsigned int timeout_ms;
	struct oauth_device_reply reply;
	time_t expires;
	oauth_device_prompt_cb *prompt;
	oauth_tokens_cb *done;
	void *ctx;
};

void oauth_device_free(struct oauth_device **dp)
{
	struct oauth_device *d = *dp;

	if (d == NULL)
		return;
	oauth_http_cancel(&d->req);
	if (d->timer != NULL)
		event_free(d->timer);
	free(d->token_endpoint);
	free(d->client_id);
	free(d->client_secret);
	oauth_device_reply_clear(&d->reply);
	free(d);
	*dp = NULL;
}

static void oauth_device_poll(evutil_socket_t fd, short what, void *arg);

static void oauth_device_wait(struct oauth_device *d)
{
	struct timeval tv = { (time_t)d->reply.interval, 0 };

	if (time(NULL) + (time_t)d->reply.interval >= d->expires) {
		d->done(d->ctx, OAUTH_JSON_ERROR, NULL, "expired_token");
		return;
	}
	evtimer_add(d->timer, &tv);
}

static void oauth_device_polled(void *ctx, long status, const char *body, size_t len,
				const char *error)
{
	struct oauth_device *d = ctx;
	struct oauth_token_reply reply;
	enum oauth_json_kind kind;

	d->req = NULL;
	if (status == 0) {
		/* A network blip while the user is still typing the code:
		   poll again rather than give up. */
		fprintf(stderr, "popgate: token endpoint: %s (trying again)\n", error);
		oauth_device_wait(d);
		return;
	}
	kind = oauth_json_token(body, len, &reply);
	if (kind == OAUTH_JSON_OK && status == 200) {
		d->done(d->ctx, OAUTH_JSON_OK, &reply, NULL);
		oauth_token_reply_clear(&reply);
		return;
	}
	if (kind == OAUTH_JSON_ERROR && strcmp(reply.error, "authorization_pending") == 0) {
		oauth_device_wait(d);
		return;
	}
	if (kind == OAUTH_JSON_ERROR && strcmp(reply.error, "slow_down") == 0) {
		d->reply.interval += 5;
		oauth_device_wait(d);
		return;
	}
	d->done(d->ctx, kind == OAUTH_JSON_ERROR ? OAUTH_JSON_ERROR : OAUTH_JSON_BAD, NULL,
		kind == OAUTH_JSON_ERROR ? reply.error : "unreadable token endpoint reply");
}

static void oauth_device_poll(evutil_socket_t fd, short what, void *arg)
{
	struct oauth_device *d = arg;
	char form[OAUTH_FORM_MAX] = "";

	(void)fd;
	(void)what;
	if (oauth_form_add(form, sizeof(form), "grant_type",
			   "urn:ietf:params:oauth:grant-type:device_code") < 0 ||
	    oauth_form_add(form, sizeof(form), "device_code", d->reply.device_code) < 0 ||
	    oauth_form_add(form, sizeof(form), "client_id", d->client_id) < 0 ||
	    (d->client_secret != NULL &&
	     oauth_form_add(form, sizeof(form), "client_secret", d->client_secret) < 0)) {
		d->done(d->ctx, OAUTH_JSON_BAD, NULL, "request too long");
		return;
	}
	d->req = oauth_http_post(d->http, d->token_endpoint, form, d->timeout_ms,
				 oauth_device_polled, d);
	explicit_bzero(form, sizeof(form));
	if (d->req == NULL)
		d->done(d->ctx, OAUTH_JSON_BAD, NULL, "out of memory");
}

static void oauth_device_started(void *ctx, long status, const char *body, size_t len,
				 const char *error)
{
	struct oauth_device *d = ctx;
	enum oauth_json_kind kind;

	d->req = NULL;
	if (status == 0) {
		d->done(d->ctx, OAUTH_JSON_BAD, NULL, error);
		return;
	}
	kind = oauth_json_device(body, len, &d->reply);
	if (kind != OAUTH_JSON_OK || status != 200) {
		d->done(d->ctx, kind == OAUTH_JSON_ERROR ? OAUTH_JSON_ERROR : OAUTH_JSON_BAD, NULL,
			kind == OAUTH_JSON_ERROR ? d->reply.error :
			"unreadable device endpoint reply");
		return;
	}
	d->expires = time(NULL) + (time_t)d->reply.expires_in;
	d->prompt(d->ctx, &d->reply);
	oauth_device_wait(d);
}

struct oauth_device *oauth_device_start(struct event_base *base, struct oauth_http *http,
					const struct conf_upstream *up,
					oauth_device_prompt_cb *prompt, oauth_tokens_cb *done,
					void *ctx)
{
	struct oauth_device *d = calloc(1, sizeof(*d));
	char form[OAUTH_FORM_MAX] = "";

	if (d == NULL)
		return NULL;
	d->base = base;
	d->http = http;
	d->prompt = prompt;
	d->done = done;
	d->ctx = ctx;
	d->timeout_ms = up->token_timeout_secs * 1000;
	d->timer = evtimer_new(base, oauth_device_poll, d);
	if (d->timer == NULL || up->device_endpoint == NULL ||
	    (d->token_endpoint = strdup(up->token_endpoint)) == NULL ||
	    (d->client_id = strdup(up->client_id)) == NULL ||
	    (up->client_secret != NULL && (d->client_secret = strdup(up->client_secret)) == NULL) ||
	    oauth_form_add(form, sizeof(form), "client_id", up->client_id) < 0 ||
	    (up->scope != NULL && oauth_form_add(form, sizeof(form), "scope", up->scope) < 0) ||
	    (d->req = oauth_http_post(http, up->device_endpoint, form, d->timeout_ms,
				      oauth_device_started, d)) == NULL) {
		oauth_device_free(&d);
		return NULL;
	}
	return d;
}

int oauth_pkce_new(char verifier[44], char challenge[44], char state[23])
{
	uint8_t rnd[32], digest[32], st[16];

	if (crypto_random(rnd, sizeof(rnd)) < 0 || crypto_random(st, sizeof(st)) < 0)
		return -1;
	crypto_base64url(rnd, sizeof(rnd), verifier);
	crypto_sha256(verifier, strlen(verifier), digest);
	crypto_base64url(digest, sizeof(digest), challenge);
	crypto_base64url(st, sizeof(st), state);
	explicit_bzero(rnd, sizeof(rnd));
	return 0;
}

char *oauth_authorize_url(const struct conf_upstream *up, const char *redirect_uri,
			  const char *state, const char *challenge)
{
	char query[OAUTH_FORM_MAX] = "";
	char *url;

	if (up->authorization_endpoint == NULL ||
	    oauth_form_add(query, sizeof(query), "response_type", "code") < 0 ||
	    oauth_form_add(query, sizeof(query), "client_id", up->client_id) < 0 ||
	    oauth_form_add(query, sizeof(query), "redirect_uri", redirect_uri) < 0 ||
	    (up->scope != NULL && oauth_form_add(query, sizeof(query), "scope", up->scope) < 0) ||
	    oauth_form_add(query, sizeof(query), "state", state) < 0 ||
	    oauth_form_add(query, sizeof(query), "code_challenge", challenge) < 0 ||
	    oauth_form_add(query, sizeof(query), "code_challenge_method", "S256") < 0 ||
	    oauth_form_add(query, sizeof(query), "access_type", "offline") < 0 ||
	    oauth_form_add(query, sizeof(query), "prompt", "consent") < 0)
		return NULL;
	if (asprintf(&url, "%s%s%s", up->authorization_endpoint,
		     strchr(up->authorization_endpoint, '?') != NULL ? "&" : "?", query) < 0)
		return NULL;
	return url;
}

int oauth_redirect_code(const char *url, const char *state, char *code, size_t size,
			const char **error_r)
{
	const char *q = strchr(url, '?');
	struct evkeyvalq params;
	const char *got_state, *got_code, *error;
	int ret = -1;

	q = q != NULL ? q + 1 : url;
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(q, &params) < 0) {
		*error_r = "not a redirect URL";
		return -1;
	}
	got_state = evhttp_find_header(&params, "state");
	got_code = evhttp_find_header(&params, "code");
	error = evhttp_find_header(&params, "error");
	if (got_state == NULL || !crypto_equal_str(got_state, state))
		*error_r = "state does not match (not the answer to this enrolment)";
	else if (error != NULL)
		*error_r = "the provider refused the authorization";
	else if (got_code == NULL || got_code[0] == '\0')
		*error_r = "no code in the redirect URL";
	else if (strlen(got_code) >= size)
		*error_r = "code too long";
	else {
		snprintf(code, size, "%s", got_code);
		ret = 0;
	}
	evhttp_clear_headers(&params);
	return ret;
}

struct oauth_exchange {
	oauth_tokens_cb *done;
	void *ctx;
};

static void oauth_exchanged(void *ctx, long status, const char *body, size_t len,
			    const char *error)
{
	struct oauth_exchange *x = ctx;
	struct oauth_token_reply reply;
	enum oauth_json_kind kind;
	oauth_tokens_cb *done = x->done;
	void *dctx = x->ctx;

	free(x);
	if (status == 0) {
		done(dctx, OAUTH_JSON_BAD, NULL, error);
		return;
	}
	kind = oauth_json_token(body, len, &reply);
	if (kind == OAUTH_JSON_OK && status == 200)
		done(dctx, OAUTH_JSON_OK, &reply, NULL);
	else
		done(dctx, kind == OAUTH_JSON_ERROR ? OAUTH_JSON_ERROR : OAUTH_JSON_BAD, NULL,
		     kind == OAUTH_JSON_ERROR ? reply.error : "unreadable token endpoint reply");
	oauth_token_reply_clear(&reply);
}

struct oauth_http_req *oauth_code_exchange(struct oauth_http *http, const struct conf_upstream *up,
					   const char *code, const char *redirect_uri,
					   const char *verifier, oauth_tokens_cb *done, void *ctx)
{
	struct oauth_exchange *x = calloc(1, sizeof(*x));
	char form[OAUTH_FORM_MAX] = "";
	struct oauth_http_req *req = NULL;

	if (x == NULL)
		return NULL;
	x->done = done;
	x->ctx = ctx;
	if (oauth_form_add(form, sizeof(form), "grant_type", "authorization_code") == 0 &&
	    oauth_form_add(form, sizeof(form), "code", code) == 0 &&
	    oauth_form_add(form, sizeof(form), "redirect_uri", redirect_uri) == 0 &&
	    oauth_form_add(form, sizeof(form), "client_id", up->client_id) == 0 &&
	    oauth_form_add(form, sizeof(form), "code_verifier", verifier) == 0 &&
	    (up->client_secret == NULL ||
	     oauth_form_add(form, sizeof(form), "client_secret", up->client_secret) == 0))
		req = oauth_http_post(http, up->token_endpoint, form,
				      up->token_timeout_secs * 1000, oauth_exchanged, x);
	explicit_bzero(form, sizeof(form));
	if (req == NULL)
		free(x);
	return req;
}
