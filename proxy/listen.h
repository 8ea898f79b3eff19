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
struct event_base;
struct pop3_server;
struct listeners;

/* Binds every listen/listen_tls address of conf and hands new connections
   to pop3_session_create(). NULL (logged) if one cannot be bound; an
   address in use is logged with what to do about it. With [server]
   reuse_port each socket has SO_REUSEPORT, so that several popgate
   processes of one user serve the same addresses. Opened once, at start:
   a reload keeps them as they are. */
struct listeners *listeners_open(struct pop3_server *srv, const struct conf *conf);

/* Closes the listeners; NULL is fine. */
void listeners_free(struct listeners **ls);

/*
 * Stopping (SIGTERM): first hands on every connection the kernel has
 * already completed and queued on the listeners as a new session, then
 * closes them as listeners_free() (which also ends the PROXY header
 * waits, those just taken from a balancer among them). Closing a
 * listener resets what is left in its queue; after this only what came
 * in since the last accept is (with reuse_port and the Linux sysctl
 * net.ipv4.tcp_migrate_req = 1, not even that: the kernel moves it to
 * another process's socket). Call before the server is marked stopping,
 * or the taken sessions are refused as shutting down.
 */
void listeners_close(struct listeners **ls);

/*
 * Raises the soft RLIMIT_NOFILE towards what max_connections needs (a
 * client and an upstream socket per session, and some to spare) as far as
 * the hard limit allows, and warns when that is still too low.
 */
void listeners_fd_limit(const struct conf *conf);

/*
 * libevent keeps a small record per descriptor number, made the first
 * time the number is watched and kept for good. Made under load, those
 * records land among the sessions' memory and keep its pages from going
 * back to the system once the sessions end (after 2,000 sessions the
 * process stayed 2.4x its idle size). This makes them now, together, for
 * every number max_connections may use (at most 65,536; after
 * listeners_fd_limit()), before anything else is open beyond the
 * listeners. Single-threaded start-up only: free numbers are borrowed.
 */
void listeners_fd_prepare(struct event_base *base, const struct conf *conf);

#endif
