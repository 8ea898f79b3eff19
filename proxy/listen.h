#ifndef LISTEN_H
#define LISTEN_H

/*
 * The POP3 listeners, and what keeps accepting healthy under load: when
 * accept() fails for lack of descriptors or memory (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM), every listener pauses for a second instead of
 * spinning on a socket that stays readable, and the log says so at most
 * once a minute. (The metrics endpoint does the same on its own.)
 */

#include <stdbool.h>

struct conf;
struct pop3_server;
struct listeners;

/* Binds every listen/listen_tls address of conf and hands new connections
   to pop3_session_create(). NULL (logged) if one cannot be bound. */
struct listeners *listeners_open(struct pop3_server *srv, const struct conf *conf);

/* Closes the listeners (shutdown); NULL is fine. */
void listeners_free(struct listeners **ls);

/*
 * Raises the soft RLIMIT_NOFILE towards what max_connections needs (a
 * client and an upstream socket per session, and some to spare) as far as
 * the hard limit allows, and warns when that is still too low.
 */
void listeners_fd_limit(const struct conf *conf);

#endif
