#ifndef SETUP_SRV_H
#define SETUP_SRV_H

/*
 * One SRV lookup over UDP on the event loop (dns_srv.h builds and reads
 * the messages): sent to one name server, sent again after a second and
 * after two, given up after timeout_secs. Answers that are not ours (id,
 * question) are ignored, so a stray datagram cannot end the lookup.
 */

#include <sys/socket.h>

#include "dns_srv.h"

struct event_base;
struct setup_srv;

/* result DNS_SRV_OK with n records (maybe 0), another result, or error
   (a timeout, a socket error) with result DNS_SRV_SERVFAIL. */
typedef void setup_srv_cb(void *ctx, enum dns_srv_result result, const struct dns_srv *srv,
			  size_t n, const char *error);

/* cb runs once from the event loop; NULL (no callback) when the name
   cannot be asked or no socket is to be had, with *error_r. */
struct setup_srv *setup_srv_start(struct event_base *base, const struct sockaddr *server,
				  socklen_t server_len, const char *name,
				  unsigned int timeout_secs, setup_srv_cb *cb, void *ctx,
				  const char **error_r);

/* Not from inside cb. */
void setup_srv_free(struct setup_srv **lookup);

#endif
