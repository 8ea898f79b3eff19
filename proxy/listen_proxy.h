#ifndef LISTEN_PROXY_H
#define LISTEN_PROXY_H

/*
 * Connections from load balancers: the PROXY protocol header (v1 or v2,
 * core/proxy_parse.h) read before anything else, TLS included, then the
 * connection becomes a POP3 session under the client's address.
 *
 * Who must send one: every connection from an address in proxy_networks,
 * on every listener; on a listener marked proxy_protocol, only those are
 * taken and any other is closed at once. A header that is malformed, does
 * not arrive within proxy_timeout or is cut by the peer closes the
 * connection without a word (the peer is a balancer, not a POP3 client).
 * A connection closed before its first byte is a balancer's TCP health
 * check: closed too, logged at debug level only, not counted.
 *
 * The header is read without blocking and without reading a byte past
 * it: the socket is peeked, the scanner says how much belongs to the
 * header, exactly that is taken off. While waiting, a connection counts
 * against max_unauthenticated.
 */

#include <stdbool.h>
#include <sys/socket.h>

#include <event2/util.h>

struct conf;
struct pop3_server;
struct proxy_waits;

/* NULL when out of memory. */
struct proxy_waits *proxy_waits_new(struct pop3_server *srv);
/* Closes every connection still waiting for its header; NULL is fine. */
void proxy_waits_free(struct proxy_waits **w);

/* Whether a connection from peer must start with a PROXY header. */
bool proxy_peer_trusted(const struct conf *conf, const struct sockaddr *peer);

/* Takes ownership of fd, from peer (trusted), on a listener with implicit
   TLS or not: reads its header, then hands it to pop3_session_create_at()
   or closes it (logged, counted). */
void proxy_wait_start(struct proxy_waits *w, evutil_socket_t fd, const struct sockaddr *peer,
		      socklen_t peer_len, bool tls);

/* Connections waiting for their header now (tests, metrics). */
unsigned int proxy_waits_count(const struct proxy_waits *w);

#endif
