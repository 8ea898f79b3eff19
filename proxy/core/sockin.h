#ifndef SOCKIN_H
#define SOCKIN_H

/*
 * Large reads on a plain socket bufferevent. libevent 2.1 reads at most
 * 4096 octets per readiness event (EVBUFFER_MAX_READ caps every
 * evbuffer_read, whatever bufferevent_set_max_single_read says), each
 * after a FIONREAD ioctl: a 10 MB message is 2,560 wake-ups and 7,700
 * system calls. From a read callback, sockin_fill() tops the input up
 * with one readv of up to max octets straight from the socket.
 *
 * Plain sockets only (an OpenSSL bufferevent's input holds decrypted
 * data). With sockin_fill() the end of the stream is left to libevent:
 * the socket stays readable, and its next read reports EOF through the
 * event callback as before. A caller with libevent's reading off (its
 * own read event on the socket) reads with sockin_read(), which tells the
 * end: one readv per readiness, no FIONREAD.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct bufferevent;

/*
 * Reads up to max octets into bev's input. Returns the octets read, 0
 * when none could be read now (nothing more has arrived, or the stream
 * has ended: libevent finds that itself), or -1 with errno set on a
 * socket error (or ENOMEM).
 */
ssize_t sockin_fill(struct bufferevent *bev, size_t max);

/*
 * The same for a caller that reads the socket itself (libevent's reading
 * off, the socket's own read event): *eof is set when the stream has
 * ended (readv returned 0 with room to read).
 */
ssize_t sockin_read(struct bufferevent *bev, size_t max, bool *eof);

#endif
