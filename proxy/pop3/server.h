#ifndef POP3_SERVER_H
#define POP3_SERVER_H

/*
 * The POP3 server: new client connections become sessions (greeted, or
 * refused when shutting down or over a connection limit); shutdown closes
 * them all. struct pop3_server itself is in session.h.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "session.h"

struct conf_cidr;

/* Takes ownership of fd (a new client connection); tls: the listener is
   implicit TLS. Never fails loudly: on resource trouble the connection is
   refused with -ERR [SYS/TEMP] or just closed. */
void pop3_session_create(struct pop3_server *srv, evutil_socket_t fd,
			 const struct sockaddr *sa, socklen_t salen, bool tls);

/* The same, for a connection whose addresses a load balancer told us (the
   PROXY header): sa is the client's, local_sa ours as the client reached
   it (NULL: the socket's), via the balancer's address for logs (NULL:
   a direct connection). */
void pop3_session_create_at(struct pop3_server *srv, evutil_socket_t fd,
			    const struct sockaddr *sa, const struct sockaddr *local_sa,
			    const char *via, bool tls);

/* Whether an IPv4 or IPv6 address (v4-mapped counts as IPv4) lies in one
   of the blocks; other families never do. */
bool pop3_addr_in(const struct conf_cidr *nets, unsigned int count, const struct sockaddr *sa);

/* The numeric address (no brackets) and the port; "unknown" for other
   families. */
void pop3_format_addr(const struct sockaddr *sa, char *addr, size_t size, uint16_t *port_r);

/* Closes every session now (shutdown), applying nothing. */
void pop3_server_close_all(struct pop3_server *srv, const char *reason);

#endif
