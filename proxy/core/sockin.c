#include "sockin.h"

#include <errno.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#define SOCKIN_VECS 2

ssize_t sockin_read(struct bufferevent *bev, size_t max, bool *eof)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[SOCKIN_VECS];
	struct iovec iov[SOCKIN_VECS];
	evutil_socket_t fd = bufferevent_getfd(bev);
	ssize_t got, left;
	int n, used, err;

	*eof = false;
	if (max == 0 || fd < 0)
		return 0;
	/* A socket bufferevent keeps the end of its input frozen but while
	   it reads itself. */
	evbuffer_unfreeze(in, 0);
	n = evbuffer_reserve_space(in, (ev_ssize_t)max, v, SOCKIN_VECS);
	if (n <= 0) {
		evbuffer_freeze(in, 0);
		errno = ENOMEM;
		return -1;
	}
	/* The space reserved may be larger than asked for. */
	left = (ssize_t)max;
	used = 0;
	while (used < n && left > 0) {
		iov[used].iov_base = v[used].iov_base;
		iov[used].iov_len = (size_t)left < v[used].iov_len ? (size_t)left : v[used].iov_len;
		left -= (ssize_t)iov[used].iov_len;
		used++;
	}
	do
		got = readv(fd, iov, used);
	while (got < 0 && errno == EINTR);
	err = errno;
	left = got > 0 ? got : 0;
	used = 0;
	while (used < n && left > 0) {
		if ((size_t)left < v[used].iov_len)
			v[used].iov_len = (size_t)left;
		left -= (ssize_t)v[used].iov_len;
		used++;
	}
	evbuffer_commit_space(in, v, used);
	evbuffer_freeze(in, 0);
	if (got < 0) {
		errno = err;
		return err == EAGAIN || err == EWOULDBLOCK ? 0 : -1;
	}
	*eof = got == 0;
	return got;
}

ssize_t sockin_fill(struct bufferevent *bev, size_t max)
{
	bool eof;

	return sockin_read(bev, max, &eof);
}
