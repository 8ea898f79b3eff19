#ifndef POP3_SERVER_H
#define POP3_SERVER_H

/*
 * The POP3 server: new client connections become sessions (greeted, or
 * refused when shutting down or over a connection limit); shutdown closes
 * them all. struct pop3_server itself is in session.h.
 */

#include <stdbool.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "session.h"

/* Takes ownership of fd (a new client connection); tls: the listener is
   implicit TLS. Never fails loudly: on resource trouble the connection is
   refused with -ERR [SYS/TEMP] or just closed. */
void pop3_session_create(struct pop3_server *srv, evutil_socket_t fd,
			 const struct sockaddr *sa, socklen_t salen, bool tls);

/* Closes every session now (shutdown), applying nothing. */
void pop3_server_close_all(struct pop3_server *srv, const char *reason);

#endif
