/* libcurl's multi interface on libevent; contracts in oauth_http.h. */

#include "oauth_http.h"
#include "oauth_json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "oauth_curl.h"

struct oauth_http {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	char *ca_file;
	unsigned int active;
	struct oauth_http_req *reqs;     /* every live request */
};

struct oauth_http_req {
	struct oauth_http *h;
	struct oauth_http_req *next, *prev;
	CURL *easy;
	struct curl_slist *headers;
	char *form;
	size_t form_len;
	char *body;
	size_t body_len;
	bool too_big;
	oauth_http_cb *cb;
	void *ctx;
	char error[CURL_ERROR_SIZE];
};

/* The event of one of libcurl's sockets. */
struct oauth_http_sock {
	struct event *ev;
	struct oauth_http *h;
};

int oauth_http_global_init(const char **error_r)
{
	oauth_json_init();
	return oauth_curl_load(error_r);
}

static void oauth_http_req_free(struct oauth_http_req *r)
{
	struct oauth_http *h = r->h;

	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	oauth_curl_fn->multi_remove_handle(h->multi, r->easy);
	oauth_curl_fn->easy_cleanup(r->easy);
	oauth_curl_fn->slist_free_all(r->headers);
	if (r->form != NULL) {
		explicit_bzero(r->form, r->form_len);
		free(r->form);
	}
	if (r->body != NULL) {
		explicit_bzero(r->body, r->body_len);
		free(r->body);
	}
	h->active--;
	free(r);
}

/* Every finished transfer: its callback, then it is freed. */
static void oauth_http_check_done(struct oauth_http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = oauth_curl_fn->multi_info_read(h->multi, &left)) != NULL) {
		struct oauth_http_req *r = NULL;
		long status = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		oauth_curl_getinfo_ptr(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r == NULL)
			continue;
		if (msg->data.result == CURLE_OK && !r->too_big) {
			oauth_curl_getinfo_long(r->easy, CURLINFO_RESPONSE_CODE, &status);
		} else if (r->too_big) {
			snprintf(r->error, sizeof(r->error), "reply larger than %d octets",
				 OAUTH_HTTP_BODY_MAX);
		} else if (r->error[0] == '\0') {
			snprintf(r->error, sizeof(r->error), "%s",
				 oauth_curl_fn->easy_strerror(msg->data.result));
		}
		r->cb(r->ctx, status, r->body != NULL ? r->body : "", r->body_len,
		      status != 0 ? NULL : r->error);
		oauth_http_req_free(r);
	}
}

static void oauth_http_event(evutil_socket_t fd, short what, void *arg)
{
	struct oauth_http *h = arg;
	int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
		((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;

	oauth_curl_fn->multi_socket_action(h->multi, fd, action, &running);
	oauth_http_check_done(h);
}

static void oauth_http_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct oauth_http *h = arg;
	int running;

	(void)fd;
	(void)what;
	oauth_curl_fn->multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	oauth_http_check_done(h);
}

static int oauth_http_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
				void *socketp)
{
	struct oauth_http *h = userp;
	struct oauth_http_sock *sock = socketp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (sock != NULL) {
			event_free(sock->ev);
			free(sock);
		}
		oauth_curl_fn->multi_assign(h->multi, s, NULL);
		return 0;
	}
	kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
		       ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
	if (sock == NULL) {
		sock = calloc(1, sizeof(*sock));
		if (sock == NULL)
			return -1;
		sock->h = h;
		oauth_curl_fn->multi_assign(h->multi, s, sock);
	} else {
		event_free(sock->ev);
	}
	sock->ev = event_new(h->base, s, kind, oauth_http_event, h);
	if (sock->ev == NULL || event_add(sock->ev, NULL) < 0)
		return -1;
	return 0;
}

static int oauth_http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct oauth_http *h = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(h->timer, &tv);
}

struct oauth_http *oauth_http_new(struct event_base *base, const char *ca_file)
{
	struct oauth_http *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->base = base;
	h->multi = oauth_curl_fn->multi_init();
	h->timer = evtimer_new(base, oauth_http_timeout, h);
	h->ca_file = ca_file != NULL ? strdup(ca_file) : NULL;
	if (h->multi == NULL || h->timer == NULL || (ca_file != NULL && h->ca_file == NULL)) {
		oauth_http_free(&h);
		return NULL;
	}
	oauth_curl_multi_setopt_socket(h->multi, oauth_http_socket_cb);
	oauth_curl_multi_setopt_ptr(h->multi, CURLMOPT_SOCKETDATA, h);
	oauth_curl_multi_setopt_timer(h->multi, oauth_http_timer_cb);
	oauth_curl_multi_setopt_ptr(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void oauth_http_free(struct oauth_http **hp)
{
	struct oauth_http *h = *hp;

	if (h == NULL)
		return;
	while (h->reqs != NULL)
		oauth_http_req_free(h->reqs);
	if (h->multi != NULL)
		oauth_curl_fn->multi_cleanup(h->multi);
	if (h->timer != NULL)
		event_free(h->timer);
	free(h->ca_file);
	free(h);
	*hp = NULL;
}

static size_t oauth_http_write(char *data, size_t size, size_t n, void *userp)
{
	struct oauth_http_req *r = userp;
	size_t len = size * n;
	char *body;

	if (r->body_len + len > OAUTH_HTTP_BODY_MAX) {
		r->too_big = true;
		return 0;
	}
	body = realloc(r->body, r->body_len + len + 1);
	if (body == NULL)
		return 0;
	memcpy(body + r->body_len, data, len);
	r->body = body;
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return len;
}

struct oauth_http_req *oauth_http_post(struct oauth_http *h, const char *url, const char *form,
				       unsigned int timeout_ms, oauth_http_cb *cb, void *ctx)
{
	struct oauth_http_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->h = h;
	r->cb = cb;
	r->ctx = ctx;
	r->form_len = strlen(form);
	r->form = strdup(form);
	r->easy = oauth_curl_fn->easy_init();
	r->headers = oauth_curl_fn->slist_append(NULL, "Accept: application/json");
	if (r->form == NULL || r->easy == NULL || r->headers == NULL) {
		oauth_curl_fn->easy_cleanup(r->easy);
		oauth_curl_fn->slist_free_all(r->headers);
		free(r->form);
		free(r);
		return NULL;
	}
	r->next = h->reqs;
	if (h->reqs != NULL)
		h->reqs->prev = r;
	h->reqs = r;
	h->active++;
	oauth_curl_setopt_ptr(r->easy, CURLOPT_URL, url);
	oauth_curl_setopt_ptr(r->easy, CURLOPT_POSTFIELDS, r->form);
	oauth_curl_setopt_long(r->easy, CURLOPT_POSTFIELDSIZE, (long)r->form_len);
	oauth_curl_setopt_ptr(r->easy, CURLOPT_HTTPHEADER, r->headers);
	oauth_curl_setopt_write(r->easy, oauth_http_write);
	oauth_curl_setopt_ptr(r->easy, CURLOPT_WRITEDATA, r);
	oauth_curl_setopt_ptr(r->easy, CURLOPT_PRIVATE, r);
	oauth_curl_setopt_ptr(r->easy, CURLOPT_ERRORBUFFER, r->error);
	oauth_curl_setopt_long(r->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	oauth_curl_setopt_long(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	oauth_curl_setopt_long(r->easy, CURLOPT_NOSIGNAL, 1L);
	oauth_curl_setopt_long(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	oauth_curl_setopt_ptr(r->easy, CURLOPT_PROTOCOLS_STR, "https,http");
	oauth_curl_setopt_long(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	oauth_curl_setopt_long(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	oauth_curl_setopt_ptr(r->easy, CURLOPT_USERAGENT, "popgate");
	if (h->ca_file != NULL)
		oauth_curl_setopt_ptr(r->easy, CURLOPT_CAINFO, h->ca_file);
	if (oauth_curl_fn->multi_add_handle(h->multi, r->easy) != CURLM_OK) {
		/* Not added: nothing will report it. */
		oauth_http_req_free(r);
		return NULL;
	}
	return r;
}

void oauth_http_cancel(struct oauth_http_req **rp)
{
	if (*rp == NULL)
		return;
	oauth_http_req_free(*rp);
	*rp = NULL;
}

int oauth_form_add(char *buf, size_t size, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = strlen(buf);
	int n = snprintf(buf + o, size - o, "%s%s=", o > 0 ? "&" : "", name);

	if (n < 0 || (size_t)n >= size - o)
		return -1;
	o += (size_t)n;
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
		bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;

		if (o + (plain ? 1 : 3) >= size)
			return -1;
		if (plain) {
			buf[o++] = (char)*p;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[*p >> 4];
			buf[o++] = hex[*p & 15];
		}
	}
	buf[o] = '\0';
	return 0;
}

unsigned int oauth_http_active(const struct oauth_http *h)
{
	return h->active;
}
