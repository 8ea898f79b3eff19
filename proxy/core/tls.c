#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tls_client_ctx {
	SSL_CTX *ssl_ctx;
};

struct tls_server_ctx {
	SSL_CTX *ssl_ctx;
};

/*
 * OpenSSL's error strings come with the first error that is formatted,
 * not at start: loading them touches tables all over libcrypto, about
 * 0.5 MB of RSS for a process that may never see an error. Once its
 * start-up has left them out, OpenSSL 3 never loads them by itself
 * (OPENSSL_INIT_NO_LOAD_* settles that for the process), so each
 * library's loader does; those that have none (DECODER, PROV, HTTP,
 * CMP, ...) keep their name and the common reasons ("unsupported").
 * Without those loaders (an OpenSSL built without the 3.0 API) they are
 * loaded at start, as before.
 */
#ifdef OPENSSL_NO_DEPRECATED_3_0
#define TLS_STRINGS_AT_START \
	(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS)
#else
#define TLS_STRINGS_AT_START \
	(OPENSSL_INIT_NO_LOAD_SSL_STRINGS | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS)
#endif

void tls_init(void)
{
	OPENSSL_init_ssl(TLS_STRINGS_AT_START, NULL);
}

bool tls_error_strings_loaded(void)
{
	return ERR_reason_error_string(ERR_PACK(ERR_LIB_PEM, 0, PEM_R_NO_START_LINE)) != NULL &&
		ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_WRONG_VERSION_NUMBER)) != NULL;
}

#ifndef OPENSSL_NO_DEPRECATED_3_0
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void tls_load_error_strings(void)
{
	/* Each loads its table unless its first string is there. */
	static int (*const load[])(void) = {
		ERR_load_ERR_strings, ERR_load_SSL_strings, ERR_load_ASN1_strings,
		ERR_load_ASYNC_strings, ERR_load_BIO_strings, ERR_load_BN_strings,
		ERR_load_BUF_strings, ERR_load_CMS_strings, ERR_load_COMP_strings,
		ERR_load_CONF_strings, ERR_load_CRYPTO_strings, ERR_load_CT_strings,
		ERR_load_DH_strings, ERR_load_DSA_strings, ERR_load_EC_strings,
		ERR_load_ENGINE_strings, ERR_load_EVP_strings, ERR_load_KDF_strings,
		ERR_load_OBJ_strings, ERR_load_OCSP_strings, ERR_load_OSSL_STORE_strings,
		ERR_load_PEM_strings, ERR_load_PKCS12_strings, ERR_load_PKCS7_strings,
		ERR_load_RAND_strings, ERR_load_RSA_strings, ERR_load_TS_strings,
		ERR_load_UI_strings, ERR_load_X509_strings, ERR_load_X509V3_strings,
	};

	if (tls_error_strings_loaded())
		return;
	for (size_t i = 0; i < sizeof(load) / sizeof(load[0]); i++)
		(void)load[i]();
}
#pragma GCC diagnostic pop
#else
static void tls_load_error_strings(void)
{
}
#endif

static char *tls_strerror_dup(const char *what)
{
	char buf[1024], code[256];
	unsigned long e = ERR_get_error();
	const char *reason;

	tls_load_error_strings();
	/* A library without a loader of its own (tls_load_error_strings())
	   has no text: its code then. */
	if (e == 0) {
		reason = "unknown error";
	} else if ((reason = ERR_reason_error_string(e)) == NULL) {
		ERR_error_string_n(e, code, sizeof(code));
		reason = code;
	}
	snprintf(buf, sizeof(buf), "%s: %s", what, reason);
	ERR_clear_error();
	return strdup(buf);
}

struct tls_client_ctx *tls_client_ctx_new(bool verify, const char *ca_file,
					  char **error_r)
{
	struct tls_client_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		*error_r = strdup("out of memory");
		return NULL;
	}
	ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ctx->ssl_ctx == NULL) {
		*error_r = tls_strerror_dup("SSL_CTX_new");
		free(ctx);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
	if (verify) {
		int ok = ca_file != NULL ?
			SSL_CTX_load_verify_locations(ctx->ssl_ctx, ca_file, NULL) :
			SSL_CTX_set_default_verify_paths(ctx->ssl_ctx);
		if (ok != 1) {
			*error_r = tls_strerror_dup(ca_file != NULL ?
				"loading ca_file" : "loading system CA store");
			tls_client_ctx_free(&ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}

void tls_client_ctx_free(struct tls_client_ctx **ctx)
{
	if (*ctx == NULL)
		return;
	SSL_CTX_free((*ctx)->ssl_ctx);
	free(*ctx);
	*ctx = NULL;
}

static SSL *tls_client_ssl(struct tls_client_ctx *ctx, const char *host)
{
	SSL *ssl = SSL_new(ctx->ssl_ctx);

	if (ssl == NULL)
		return NULL;
	/* SNI only for names, host name check for names and addresses. */
	if (strspn(host, "0123456789.") != strlen(host) && strchr(host, ':') == NULL)
		SSL_set_tlsext_host_name(ssl, host);
	if (SSL_set1_host(ssl, host) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return ssl;
}

/* A TLS client bufferevent on fd (-1: connected later, implicit TLS). */
static struct bufferevent *tls_client_new(struct event_base *base, evutil_socket_t fd,
					  struct tls_client_ctx *ctx, const char *host,
					  bool read_ahead)
{
	SSL *ssl = tls_client_ssl(ctx, host);
	struct bufferevent *bev;

	if (ssl == NULL)
		return NULL;
	if (read_ahead) {
		SSL_set_read_ahead(ssl, 1);
		SSL_set_default_read_buffer_len(ssl, TLS_READ_AHEAD);
	}
	bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		SSL_free(ssl);
	return bev;
}

struct bufferevent *tls_client_bufferevent(struct event_base *base,
					   struct tls_client_ctx *ctx,
					   const char *host, bool read_ahead)
{
	return tls_client_new(base, -1, ctx, host, read_ahead);
}

struct bufferevent *tls_client_upgrade(struct event_base *base,
				       struct bufferevent *plain,
				       struct tls_client_ctx *ctx,
				       const char *host, bool read_ahead)
{
	evutil_socket_t fd = bufferevent_getfd(plain);
	struct bufferevent *bev;

	if (fd < 0 || (bev = tls_client_new(base, fd, ctx, host, read_ahead)) == NULL)
		return NULL;
	/* The descriptor is the TLS bufferevent's now: the plain one lets go
	   of it (its events go, nothing is closed) and is freed. */
	bufferevent_setfd(plain, -1);
	bufferevent_free(plain);
	return bev;
}

bool tls_is_tls(struct bufferevent *bev)
{
	return bufferevent_openssl_get_ssl(bev) != NULL;
}

int tls_write_output(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	ev_ssize_t most = bufferevent_get_max_single_write(bev);

	/* During the handshake libevent's own state machine writes. */
	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return evbuffer_get_length(out) > 0 ? 1 : 0;
	if (most <= 0 || most > INT_MAX)
		most = 16384;
	for (;;) {
		struct evbuffer_iovec v;
		size_t len;
		int n;

		if (evbuffer_peek(out, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return 0;
		/* libevent retries an unfinished SSL_write with the output's
		   first chunk, up to its max_single_write: never more here,
		   so its retry repeats at least what OpenSSL took (the buffer
		   may move: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
		len = v.iov_len < (size_t)most ? v.iov_len : (size_t)most;
		ERR_clear_error();
		n = SSL_write(ssl, v.iov_base, (int)len);
		if (n <= 0 || evbuffer_drain(out, (size_t)n) < 0)
			break;
	}
	/* SSL_ERROR_WANT_WRITE: the socket is full. WANT_READ (OpenSSL must
	   read first; a renegotiation under way was caught above):
	   libevent's write meets it again and reads first (its
	   write_blocked_on_read). Any other error: its write meets it again
	   and reports it through the event callback. */
	ERR_clear_error();
	return 1;
}

size_t tls_fill(struct bufferevent *bev, size_t max, short *end)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t got = 0;

	*end = 0;
	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return 0;
	/* What the socket has is libevent's to read (it tells when there is
	   some); only what OpenSSL holds already is taken here. */
	while (got < max && SSL_has_pending(ssl)) {
		struct evbuffer_iovec v;
		size_t want = max - got < INT_MAX ? max - got : INT_MAX;
		int n, err;

		if (evbuffer_reserve_space(in, (ev_ssize_t)want, &v, 1) < 1)
			break;
		ERR_clear_error();
		n = SSL_read(ssl, v.iov_base, (int)(v.iov_len < want ? v.iov_len : want));
		if (n <= 0) {
			evbuffer_commit_space(in, &v, 0);
			err = SSL_get_error(ssl, n);
			/* Wanting to write (a renegotiation): libevent's own
			   next read meets it again and sees to it. */
			if (err == SSL_ERROR_ZERO_RETURN)
				*end = BEV_EVENT_EOF;
			else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
				*end = BEV_EVENT_ERROR;
			break;
		}
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
		got += (size_t)n;
	}
	return got;
}

struct tls_server_ctx *tls_server_ctx_new(const char *cert_file,
					  const char *key_file, char **error_r)
{
	struct tls_server_ctx *ctx = calloc(1, sizeof(*ctx));
	char what[600];

	if (ctx == NULL) {
		*error_r = strdup("out of memory");
		return NULL;
	}
	ctx->ssl_ctx = SSL_CTX_new(TLS_server_method());
	if (ctx->ssl_ctx == NULL) {
		*error_r = tls_strerror_dup("SSL_CTX_new");
		free(ctx);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle sessions give their read/write buffers back. */
	SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx->ssl_ctx, cert_file) != 1) {
		snprintf(what, sizeof(what), "loading cert_file %s", cert_file);
		*error_r = tls_strerror_dup(what);
	} else if (SSL_CTX_use_PrivateKey_file(ctx->ssl_ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		snprintf(what, sizeof(what), "loading key_file %s", key_file);
		*error_r = tls_strerror_dup(what);
	} else if (SSL_CTX_check_private_key(ctx->ssl_ctx) != 1) {
		snprintf(what, sizeof(what), "key_file %s does not match cert_file %s",
			 key_file, cert_file);
		*error_r = tls_strerror_dup(what);
	} else {
		return ctx;
	}
	tls_server_ctx_free(&ctx);
	return NULL;
}

void tls_server_ctx_free(struct tls_server_ctx **ctx)
{
	if (*ctx == NULL)
		return;
	SSL_CTX_free((*ctx)->ssl_ctx);
	free(*ctx);
	*ctx = NULL;
}

struct bufferevent *tls_server_bufferevent(struct event_base *base, int fd,
					   struct tls_server_ctx *ctx)
{
	SSL *ssl = SSL_new(ctx->ssl_ctx);
	struct bufferevent *bev;

	if (ssl == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		SSL_free(ssl);
	else
		/* Many POP3 clients just close: treat that as an EOF, not an
		   error (they get no more data from us anyway). */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

const char *tls_error_reason(struct bufferevent *bev, char *buf, size_t size)
{
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
	unsigned long e;

	if (ssl != NULL) {
		long v = SSL_get_verify_result(ssl);

		if (v != X509_V_OK) {
			snprintf(buf, size, "certificate verification failed: %s",
				 X509_verify_cert_error_string(v));
			return buf;
		}
	}
	e = bev != NULL ? bufferevent_get_openssl_error(bev) : 0;
	if (e == 0)
		e = ERR_get_error();
	/* libevent reports a failed read or write of the socket as the bare
	   SSL_get_error() value (no library): the socket's own error says
	   more ("Connection refused" rather than "reason(5)"). */
	if (ERR_GET_LIB(e) == 0 && bev != NULL) {
		int err = 0;
		socklen_t len = sizeof(err);
		evutil_socket_t fd = bufferevent_getfd(bev);

		if (fd >= 0 && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err == 0))
			err = EVUTIL_SOCKET_ERROR();
		if (err != 0 && err != EAGAIN && err != EINPROGRESS) {
			snprintf(buf, size, "%s", evutil_socket_error_to_string(err));
			ERR_clear_error();
			return buf;
		}
	}
	if (e != 0) {
		char tmp[256];

		tls_load_error_strings();
		ERR_error_string_n(e, tmp, sizeof(tmp));
		snprintf(buf, size, "TLS error: %s", tmp);
	} else {
		snprintf(buf, size, "TLS connection failed");
	}
	ERR_clear_error();
	return buf;
}

void tls_close_notify(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	/* One call queues and writes the alert on the non-blocking socket;
	   we do not wait for the peer's. */
	if (ssl != NULL && SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
}

const char *tls_version(struct bufferevent *bev)
{
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;

	if (ssl == NULL)
		return "none";
	return SSL_is_init_finished(ssl) ? SSL_get_version(ssl) : "handshake-incomplete";
}

static void tls_digest_hex(const EVP_MD *type, unsigned int want, const void *data,
			   size_t len, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(data, len, md, &n, type, NULL) != 1 || n != want) {
		hex[0] = '\0';
		return;
	}
	for (unsigned int i = 0; i < want; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * want] = '\0';
}

void tls_sha256_hex(const void *data, size_t len, char hex[65])
{
	tls_digest_hex(EVP_sha256(), 32, data, len, hex);
}

void tls_md5_hex(const void *data, size_t len, char hex[33])
{
	tls_digest_hex(EVP_md5(), 16, data, len, hex);
}

size_t tls_base64_encode(const void *src, size_t len, char *dst)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)dst, src, (int)len);
}

int tls_base64_decode(const char *src, size_t len, void *dst, size_t dst_size)
{
	size_t pad = 0;
	int n;

	/* EVP_DecodeBlock skips blanks and counts padding as zero bytes:
	   check the alphabet ourselves and subtract the padding. */
	if (len == 0 || len % 4 != 0 || len / 4 * 3 > dst_size || len > 65536)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '=') {
			if (i < len - 2)
				return -1;
			pad++;
		} else if (pad > 0 ||
			   !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '+' || c == '/')) {
			return -1;
		}
	}
	n = EVP_DecodeBlock(dst, (const unsigned char *)src, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -1;
	return n - (int)pad;
}

int tls_random(void *buf, size_t n)
{
	return n <= INT_MAX && RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

void tls_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		     unsigned char out[TLS_DIGEST_LEN])
{
	unsigned int n = 0;

	if (HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) == NULL ||
	    n != TLS_DIGEST_LEN)
		memset(out, 0, TLS_DIGEST_LEN);
}

bool tls_equal_secret(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
