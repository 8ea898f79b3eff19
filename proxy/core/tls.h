#ifndef TLS_H
#define TLS_H

/*
 * The only module that includes OpenSSL headers: TLS contexts and
 * bufferevents for the upstream side, and the base64 codec used for SASL.
 */

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct bufferevent;
struct tls_client_ctx;

/* Process-wide OpenSSL set-up; call once at start. OpenSSL's error
   strings are not loaded then: the first error that tls_error_reason()
   or a context's *error_r formats loads them (the wording stays). */
void tls_init(void);
/* Whether they are loaded (tests). */
bool tls_error_strings_loaded(void);

/*
 * A client context: TLS 1.2 minimum, peer verification against ca_file, or
 * the system store when ca_file is NULL. verify = false accepts any
 * certificate (test setups only; the caller warns). Returns NULL with a
 * malloc'd *error_r on failure.
 */
struct tls_client_ctx *tls_client_ctx_new(bool verify, const char *ca_file,
					  char **error_r);
void tls_client_ctx_free(struct tls_client_ctx **ctx);

/*
 * A new bufferevent speaking TLS to `host` (SNI and host name check) over a
 * not yet connected socket (implicit TLS: connect it with
 * bufferevent_socket_connect*). read_ahead: one read of the socket takes
 * as many records as have come; its reader must then call tls_fill()
 * (below). Returns NULL on failure.
 */
struct bufferevent *tls_client_bufferevent(struct event_base *base,
					   struct tls_client_ctx *ctx,
					   const char *host, bool read_ahead);

/*
 * STARTTLS in place: a TLS bufferevent on the connected socket of the
 * plain bufferevent `plain`, which is freed (the socket stays open: it is
 * the result's). No filter, no copy of the descriptor. read_ahead: as
 * tls_client_bufferevent()'s. The caller checks first that `plain` holds no
 * input: octets the peer sent after its STARTTLS reply were sent in
 * plaintext. Returns NULL on failure (then `plain` is still the caller's).
 */
struct bufferevent *tls_client_upgrade(struct event_base *base,
				       struct bufferevent *plain,
				       struct tls_client_ctx *ctx,
				       const char *host, bool read_ahead);

/* Whether bev is an OpenSSL bufferevent. */
bool tls_is_tls(struct bufferevent *bev);

/*
 * Writes an established TLS bufferevent's output with SSL_write straight
 * from the output buffer (sockout.h), in pieces of at most its
 * max_single_write. Returns 0 when the output is empty, 1 when some is
 * left (the socket is full, OpenSSL must read first, the handshake is not
 * done, or an error): the caller enables EV_WRITE and libevent writes the
 * rest, retrying the same SSL_write, or reports the error.
 */
int tls_write_output(struct bufferevent *bev);

/*
 * A bufferevent made with read_ahead: one read of the socket takes
 * up to TLS_READ_AHEAD octets, as many records as have come, instead of
 * each record's header and body apart. libevent hands on one or two
 * records per readiness event and leaves the rest in OpenSSL, where no
 * readiness event tells of it: its read callback, and whoever resumes
 * its reading, must call tls_fill() until it returns 0 with *end 0.
 *
 * tls_fill: moves up to max decrypted octets that OpenSSL holds into bev's
 * input (the socket is read only to complete a record); returns how many. *end: 0, or BEV_EVENT_EOF (the
 * peer's close_notify) or BEV_EVENT_ERROR (any other end, its reason in
 * OpenSSL's error queue for tls_error_reason()) when the stream has ended
 * after those octets: the caller reports it itself, libevent may not.
 */
#define TLS_READ_AHEAD (64 * 1024)
size_t tls_fill(struct bufferevent *bev, size_t max, short *end);

struct tls_server_ctx;

/*
 * A server context for POP3S and STLS: the certificate chain (PEM, server
 * certificate first) and its key, checked to match; TLS 1.2 minimum,
 * OpenSSL's default ciphers, no renegotiation. Returns NULL with a
 * malloc'd *error_r naming the file and the OpenSSL reason.
 */
struct tls_server_ctx *tls_server_ctx_new(const char *cert_file,
					  const char *key_file, char **error_r);
/* Sessions already using the context keep it alive (OpenSSL counts
   references), so it may be freed and replaced at any time. */
void tls_server_ctx_free(struct tls_server_ctx **ctx);

/* Server-side TLS on a connected socket, for POP3S and after STLS (the
   socket is owned by the result; closed by the caller if NULL is
   returned). */
struct bufferevent *tls_server_bufferevent(struct event_base *base, int fd,
					   struct tls_server_ctx *ctx);

/* Describes why a TLS bufferevent failed (certificate verification
   result, or the OpenSSL error queue) into buf. Returns buf. */
const char *tls_error_reason(struct bufferevent *bev, char *buf, size_t size);

/* Sends TLS close_notify on an established TLS bufferevent (a no-op for
   a plain one), so the peer can tell a complete end from a cut. Only for
   a graceful close, after the output has been written. */
void tls_close_notify(struct bufferevent *bev);

/* Protocol version of an established TLS bufferevent ("TLSv1.3"), or
   "none" for a plain one. */
const char *tls_version(struct bufferevent *bev);

/* SHA-256 of data as 64 lower-case hex digits + NUL into hex (65). */
void tls_sha256_hex(const void *data, size_t len, char hex[65]);
/* MD5 of data as 32 lower-case hex digits + NUL into hex (33): for UIDL
   forms that other servers made of it, not for security. */
void tls_md5_hex(const void *data, size_t len, char hex[33]);

/* Base64 (RFC 4648, with padding). Encode writes a NUL-terminated string
   into dst (size >= 4*((len+2)/3)+1) and returns its length. Decode
   returns the decoded length, or -1 for invalid input or when dst
   (dst_size) is too small; it rejects whitespace and bad padding. */
size_t tls_base64_encode(const void *src, size_t len, char *dst);
int tls_base64_decode(const char *src, size_t len, void *dst, size_t dst_size);

/* Keyed digests kept in memory only (kept upstream sessions compare
   credentials this way, never the password itself). */
#define TLS_DIGEST_LEN 32
/* n octets from the system's secure random source; -1 if none. */
int tls_random(void *buf, size_t n);
/* HMAC-SHA-256 of data under key into out. */
void tls_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		     unsigned char out[TLS_DIGEST_LEN]);
/* a[0..n) == b[0..n), in time that does not depend on where they differ. */
bool tls_equal_secret(const void *a, const void *b, size_t n);

#endif
