#ifndef POP3_SESSION_H
#define POP3_SESSION_H

/*
 * POP3 sessions: one per client connection, all on one event loop.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/util.h>

struct event_base;
struct evdns_base;
struct settings;
struct cache;
struct limits;
struct pop3_session;

/* What every session shares. The owner (main) keeps it alive as long as
   sessions exist. */
struct pop3_server {
	struct event_base *base;
	struct evdns_base *dns;
	struct settings *settings;            /* current generation: new
						 sessions take a reference */
	struct cache *cache;                  /* per-device state store */
	struct limits *limits;                /* per-IP and auth failure records */
	unsigned int sessions;                /* open now */
	uint64_t sessions_total;
	LIST_HEAD(, pop3_session) list;
	bool stopping;
};

/* Takes ownership of fd (a new client connection); tls: the listener is
   implicit TLS. Never fails loudly: on resource trouble the connection is
   refused with -ERR [SYS/TEMP] or just closed. */
void pop3_session_create(struct pop3_server *srv, evutil_socket_t fd,
			 const struct sockaddr *sa, socklen_t salen, bool tls);

/* Closes every session now (shutdown), applying nothing. */
void pop3_server_close_all(struct pop3_server *srv, const char *reason);

#endif
