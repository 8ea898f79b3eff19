#ifndef RESOLVER_H
#define RESOLVER_H

/* The evdns resolver of the daemon and of popgate setup: [server]
   resolver, or the system's. */

#include <sys/socket.h>

struct event_base;
struct evdns_base;

/*
 * A resolver asking `server` ("addr[:port]", conf's [server] resolver;
 * /etc/hosts is read too), or with NULL the name servers of
 * /etc/resolv.conf (when that cannot be read: none, every name fails).
 * NULL only when out of memory or server is refused by evdns.
 */
struct evdns_base *resolver_new(struct event_base *base, const char *server);

/* The first name server's address into *sa (size *len_r in, out); -1
   when there is none. */
int resolver_server(struct evdns_base *dns, struct sockaddr_storage *sa, socklen_t *len_r);

#endif
