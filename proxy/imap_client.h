#ifndef IMAP_CLIENT_H
#define IMAP_CLIENT_H

/*
 * Asynchronous IMAP client on a libevent bufferevent: one connection to the
 * upstream server per POP3 session.
 *
 * Commands are tagged and queued; a command is sent part by part (waiting
 * for "+" between synchronising literals), then waits in the wait list for
 * its tagged reply. Untagged responses go to the oldest waiting command.
 * Literals inside untagged responses are offered to that command and then
 * streamed to it chunk by chunk; when its consumer has no room, reading
 * from the server stops until imap_client_resume().
 *
 * Callbacks are never invoked from inside the call that queued the command
 * (a failure found at submission is reported from the event loop), and
 * after imap_client_close() none are invoked at all.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "imap_resp.h"

struct event_base;
struct evdns_base;
struct tls_client_ctx;
struct imap_client;

struct imap_client_settings {
	const char *host;
	uint16_t port;
	enum conf_tls_mode tls;
	struct tls_client_ctx *tls_ctx;  /* imaps/starttls; not owned */
	unsigned int timeout_secs;       /* connect, and waiting for replies */
	const char *log_id;              /* "session=..." prefix; copied */
};

enum imap_reply_result {
	IMAP_REPLY_OK,
	IMAP_REPLY_NO,
	IMAP_REPLY_BAD,
	IMAP_REPLY_FAILED, /* connection lost, timeout, protocol violation */
};

struct imap_reply {
	enum imap_reply_result result;
	const char *code;  /* response code without brackets, or NULL */
	size_t code_len;
	const char *text;  /* server text, or why the connection failed */
};

struct imap_cmd_handlers {
	/* Untagged response while this command is the oldest waiting one. */
	void (*untagged)(void *ctx, const struct imap_resp *resp);
	/* A literal starts; prefix is the response line up to its "{n}".
	   Return true to receive its contents, false to have it skipped. */
	bool (*literal_begin)(void *ctx, const char *prefix, size_t prefix_len,
			      uint64_t size);
	/* How many literal octets the consumer can take now; 0 pauses
	   reading until imap_client_resume(). NULL: unlimited. */
	size_t (*literal_room)(void *ctx);
	void (*literal_data)(void *ctx, const unsigned char *data, size_t len);
	void (*literal_end)(void *ctx);
	/* The tagged reply, or FAILED. Called exactly once. */
	void (*done)(void *ctx, const struct imap_reply *reply);
};

/* Connected (greeting read, capabilities known, STARTTLS done) or not. */
typedef void imap_connect_cb(void *ctx, bool ok, const char *error);

struct imap_client *imap_client_new(struct event_base *base,
				    struct evdns_base *dns,
				    const struct imap_client_settings *set);

/* Starts connecting; cb runs once from the event loop. */
void imap_client_connect(struct imap_client *c, imap_connect_cb *cb, void *ctx);

/* Capability bits (enum imap_cap) as last announced. */
unsigned int imap_client_caps(const struct imap_client *c);

/* Whether the connection is usable for new commands. */
bool imap_client_is_connected(const struct imap_client *c);

/* TLS protocol version in use, or "none". */
const char *imap_client_tls_version(const struct imap_client *c);

/*
 * Queues "<tag> <args>\r\n" (args: trusted command text, no CR/LF).
 * Returns 0, or -1 when args is malformed (nothing queued, no callback).
 */
int imap_client_command(struct imap_client *c, const char *args,
			const struct imap_cmd_handlers *h, void *ctx);

/*
 * Queues a login: AUTHENTICATE PLAIN (with SASL-IR when offered) when the
 * server offers AUTH=PLAIN, else LOGIN with both credentials as literals.
 * Credentials are never logged. Returns -1 (nothing queued) when they
 * cannot be sent (NUL, empty, too long) or the server forbids plaintext
 * login; *error_r then says why.
 */
int imap_client_login(struct imap_client *c, const char *user, size_t user_len,
		      const char *pass, size_t pass_len,
		      const struct imap_cmd_handlers *h, void *ctx,
		      const char **error_r);

/* Resumes reading after a literal_room() of 0. */
void imap_client_resume(struct imap_client *c);

/*
 * Stops everything: no callback runs after this. The connection is closed
 * when freed. Safe to call from inside any callback.
 */
void imap_client_close(struct imap_client *c);

/* Frees; must not be called from inside one of its callbacks (close
   there, free from a deferred event). */
void imap_client_free(struct imap_client **c);

#endif
