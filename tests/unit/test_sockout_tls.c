/* sockout on an OpenSSL bufferevent: a TLS client bufferevent made by
   tls_client_upgrade() on one end of a socket pair, a bare OpenSSL server
   (in-memory self-signed key) on the other, both driven from the test. What
   the server decrypts, whether write interest (EV_WRITE) was asked for, and
   that a renegotiation (TLS 1.2) or a key update (TLS 1.3) the server starts
   while the client writes loses and reorders nothing. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sockout.h"
#include "tls.h"

struct tpair {
	struct event_base *base;
	struct bufferevent *bev;
	struct sockout out;
	struct tls_client_ctx *cctx;
	SSL_CTX *sctx;
	SSL *srv;
	int peer;
	int written;
	short events;
	bool connected;
	bool write_asked;
};

static void on_written(struct bufferevent *bev, void *arg)
{
	struct tpair *p = arg;

	p->written++;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct tpair *p = arg;

	if ((what & BEV_EVENT_CONNECTED) != 0)
		p->connected = true;
	else
		p->events |= what;
}

static SSL_CTX *server_ctx(int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;

	ck_assert_ptr_nonnull(ctx);
	ck_assert_ptr_nonnull(key);
	ck_assert_ptr_nonnull(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1",
				   -1, -1, 0);
	X509_set_issuer_name(x, name);
	ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
	ck_assert_int_eq(SSL_CTX_use_certificate(ctx, x), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, key), 1);
	if (max_version != 0)
		SSL_CTX_set_max_proto_version(ctx, max_version);
	X509_free(x);
	EVP_PKEY_free(key);
	return ctx;
}

static bool write_enabled(struct tpair *p)
{
	return (bufferevent_get_enabled(p->bev) & EV_WRITE) != 0;
}

static void pass(struct tpair *p)
{
	struct timeval tv = { 0, 20000 };

	event_base_loopexit(p->base, &tv);
	event_base_loop(p->base, EVLOOP_ONCE);
	if (p->out.bev != NULL && write_enabled(p))
		p->write_asked = true;
}

/* What the server decrypts now (up to cap octets); its own handshake
   messages (renegotiation, key update) go out on the way. */
static size_t server_read(struct tpair *p, char *buf, size_t cap)
{
	size_t got = 0;

	while (got < cap) {
		int n = SSL_read(p->srv, buf + got, (int)(cap - got > 65536 ? 65536 : cap - got));

		if (n <= 0) {
			int err = SSL_get_error(p->srv, n);

			ck_assert_msg(err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE,
				      "server SSL_read error %d", err);
			break;
		}
		got += (size_t)n;
	}
	ERR_clear_error();
	return got;
}

static void tpair_open(struct tpair *p, int bufsize, int max_version)
{
	struct bufferevent *plain;
	char *error = NULL;
	int sv[2], tries = 0;

	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (bufsize > 0) {
		for (int i = 0; i < 2; i++) {
			setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
			setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
		}
	}
	ck_assert_int_eq(evutil_make_socket_nonblocking(sv[0]), 0);
	ck_assert_int_eq(evutil_make_socket_nonblocking(sv[1]), 0);
	p->peer = sv[1];
	p->base = sockout_base_new();
	ck_assert_ptr_nonnull(p->base);
	p->cctx = tls_client_ctx_new(false, NULL, &error);
	ck_assert_ptr_nonnull(p->cctx);
	p->sctx = server_ctx(max_version);
	p->srv = SSL_new(p->sctx);
	ck_assert_ptr_nonnull(p->srv);
	SSL_set_fd(p->srv, sv[1]);
	SSL_set_accept_state(p->srv);
	plain = bufferevent_socket_new(p->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(plain);
	p->bev = tls_client_upgrade(p->base, plain, p->cctx, "127.0.0.1", true);
	ck_assert_ptr_nonnull(p->bev);
	bufferevent_setcb(p->bev, NULL, on_written, on_event, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	ck_assert_int_eq(sockout_init(&p->out, p->base), 0);
	while ((!p->connected || !SSL_is_init_finished(p->srv)) && tries++ < 1000) {
		(void)SSL_do_handshake(p->srv);
		ERR_clear_error();
		pass(p);
	}
	ck_assert(p->connected);
	ck_assert_int_eq(p->events, 0);
	/* Attached once the handshake is done, as popgate does. */
	ck_assert_int_eq(sockout_attach(&p->out, p->bev, on_written, p), 0);
	ck_assert(!write_enabled(p));
}

static void tpair_close(struct tpair *p)
{
	sockout_free(&p->out);
	bufferevent_free(p->bev);
	event_base_free(p->base);
	SSL_free(p->srv);
	SSL_CTX_free(p->sctx);
	tls_client_ctx_free(&p->cctx);
	close(p->peer);
}

START_TEST(tls_pieces_go_out_without_write_interest)
{
	struct tpair p;
	char buf[64];
	size_t n = 0;

	tpair_open(&p, 0, 0);
	bufferevent_write(p.bev, "+OK 12 octets\r\n", 15);
	evbuffer_add(bufferevent_get_output(p.bev), "hello world\r\n", 13);
	bufferevent_write(p.bev, ".\r\n", 3);
	ck_assert(!write_enabled(&p));
	pass(&p);
	ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_output(p.bev)), 0);
	ck_assert_int_eq(p.written, 1);
	for (int i = 0; i < 100 && n < 31; i++) {
		n += server_read(&p, buf + n, sizeof(buf) - n);
		pass(&p);
	}
	ck_assert_uint_eq(n, 31);
	ck_assert(memcmp(buf, "+OK 12 octets\r\nhello world\r\n.\r\n", 31) == 0);
	bufferevent_write(p.bev, "+OK\r\n", 5);
	pass(&p);
	ck_assert_int_eq(p.written, 2);
	ck_assert_uint_eq(server_read(&p, buf, sizeof(buf)), 5);
	ck_assert(!p.write_asked);
	ck_assert_int_eq(p.events, 0);
	tpair_close(&p);
}
END_TEST

/* 1 MB through small socket buffers; the server reads a piece per pass
   and, at `at` octets, starts what `poke` does. */
static void stream(int max_version, void (*poke)(SSL *srv), size_t at)
{
	enum { TOTAL = 1 << 20 };
	struct tpair p;
	char *data = malloc(TOTAL), *got = malloc(TOTAL);
	size_t n = 0;
	bool poked = false;
	int passes = 0;

	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(got);
	for (size_t i = 0; i < TOTAL; i++)
		data[i] = (char)('a' + i % 23);
	tpair_open(&p, 8192, max_version);
	/* In pieces, as a RETR queues them. */
	for (size_t off = 0; off < TOTAL; off += 65536)
		bufferevent_write(p.bev, data + off, 65536);
	pass(&p);
	ck_assert_uint_gt(evbuffer_get_length(bufferevent_get_output(p.bev)), 0);
	ck_assert(write_enabled(&p));
	ck_assert_int_eq(p.written, 0);
	while (n < TOTAL && passes++ < 200000) {
		n += server_read(&p, got + n, TOTAL - n < 4096 ? TOTAL - n : 4096);
		if (!poked && poke != NULL && n >= at) {
			poke(p.srv);
			poked = true;
		}
		pass(&p);
	}
	ck_assert_uint_eq(n, TOTAL);
	ck_assert(memcmp(data, got, TOTAL) == 0);
	ck_assert_int_eq(p.events, 0);
	/* What libevent wrote drained the output: write interest is off and
	   the next reply goes out directly. */
	for (int i = 0; i < 100 && write_enabled(&p); i++)
		pass(&p);
	ck_assert(!write_enabled(&p));
	ck_assert_int_ge(p.written, 1);
	p.write_asked = false;
	bufferevent_write(p.bev, "+OK\r\n", 5);
	pass(&p);
	n = 0;
	for (int i = 0; i < 100 && n < 5; i++) {
		n += server_read(&p, got + n, 16);
		pass(&p);
	}
	ck_assert_uint_eq(n, 5);
	ck_assert(memcmp(got, "+OK\r\n", 5) == 0);
	ck_assert_int_eq(p.events, 0);
	if (poke != NULL && max_version == TLS1_2_VERSION) {
		ck_assert_int_ge(SSL_num_renegotiations(p.srv), 1);
		ck_assert_int_eq(SSL_renegotiate_pending(p.srv), 0);
	}
	tpair_close(&p);
	free(data);
	free(got);
}

static void renegotiate(SSL *srv)
{
	ck_assert_int_eq(SSL_renegotiate(srv), 1);
	(void)SSL_do_handshake(srv);
	ERR_clear_error();
}

static void key_update(SSL *srv)
{
	ck_assert_int_eq(SSL_key_update(srv, SSL_KEY_UPDATE_REQUESTED), 1);
	(void)SSL_do_handshake(srv);
	ERR_clear_error();
}

START_TEST(tls_short_write_hands_over_and_comes_back)
{
	stream(0, NULL, 0);
}
END_TEST

START_TEST(tls12_renegotiation_while_writing)
{
	stream(TLS1_2_VERSION, renegotiate, 200000);
}
END_TEST

START_TEST(tls13_key_update_while_writing)
{
	stream(0, key_update, 200000);
}
END_TEST

/* The server asks for a renegotiation and holds back its answer to the
   client's hello: a reply queued now finds the handshake in progress (an
   SSL_write would want to read first). The direct write leaves it to
   libevent, whose write reads first (write_blocked_on_read), and the
   reply arrives once the server goes on. */
START_TEST(tls12_reply_queued_while_renegotiating)
{
	struct tpair p;
	char buf[64];
	size_t n = 0;

	tpair_open(&p, 0, TLS1_2_VERSION);
	renegotiate(p.srv);
	/* The client reads the HelloRequest and sends its ClientHello; the
	   server does not read it yet. */
	for (int i = 0; i < 5; i++)
		pass(&p);
	ck_assert(SSL_in_init(bufferevent_openssl_get_ssl(p.bev)));
	bufferevent_write(p.bev, "+OK after renegotiation\r\n", 25);
	pass(&p);
	for (int i = 0; i < 200 && n < 25; i++) {
		n += server_read(&p, buf + n, sizeof(buf) - n);
		pass(&p);
	}
	ck_assert_uint_eq(n, 25);
	ck_assert(memcmp(buf, "+OK after renegotiation\r\n", 25) == 0);
	ck_assert_int_eq(SSL_renegotiate_pending(p.srv), 0);
	ck_assert_int_eq(p.events, 0);
	for (int i = 0; i < 100 && write_enabled(&p); i++)
		pass(&p);
	ck_assert(!write_enabled(&p));
	ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_output(p.bev)), 0);
	tpair_close(&p);
}
END_TEST

static Suite *sockout_tls_suite(void)
{
	Suite *s = suite_create("sockout_tls");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, tls_pieces_go_out_without_write_interest);
	tcase_add_test(tc, tls_short_write_hands_over_and_comes_back);
	tcase_add_test(tc, tls12_renegotiation_while_writing);
	tcase_add_test(tc, tls13_key_update_while_writing);
	tcase_add_test(tc, tls12_reply_queued_while_renegotiating);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sockout_tls_suite());
	int failed;

	tls_init();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
