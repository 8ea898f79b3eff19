#ifndef IMAP_CLIENT_H
#define IMAP_CLIENT_H

/*
 * Asynchronous IMAP client on a libevent bufferevent: one connection to the
 * upstream server per POP3 session.
 *
 * Commands are tagged and queued; a command is sent part by part (waiting
 * for "+" between synchronising literals), then waits in the wait list for
 * its tagged reply. Untagged responses go to the oldest waiting command.
 * Literals inside untagged responses are offered to each waiting command,
 * oldest first, until one takes it (a server may answer pipelined
 * commands out of order), and then streamed to it chunk by chunk; when its
 * consumer has no room, reading from the server stops until
 * imap_client_resume().
 *
 * Callbacks are never invoked from inside the call that queued the command
 * (a failure found at submission is reported from the event loop), and
 * after imap_client_close() none are invoked at all.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_resp.h"
#include "imap_throttle.h"

struct event_base;
struct evdns_base;
struct tls_client_ctx;
struct imap_client;

enum imap_tls_mode {
	IMAP_TLS_IMAPS,    /* implicit TLS */
	IMAP_TLS_STARTTLS, /* plain connect, STARTTLS required */
	IMAP_TLS_NONE,     /* plaintext */
};

struct imap_client_settings {
	const char *host;
	uint16_t port;
	enum imap_tls_mode tls;
	struct tls_client_ctx *tls_ctx;  /* imaps/starttls; not owned */
	unsigned int timeout_secs;       /* connect, and waiting for replies */
	const char *log_id;              /* "session=..." prefix; copied */
	/* Told to the server in ID (RFC 2971) before the login when it offers
	   ID, so its logs and abuse controls see the real client. Copied;
	   NULL/0: the field is left out. A value imap_cmd_id() refuses (not a
	   numeric address or plain token) makes the client skip ID, logged,
	   never fail the login. */
	const char *client_ip;           /* POP3 client's address, no port */
	uint16_t client_port;
	const char *local_ip;            /* our address it connected to */
	uint16_t local_port;
	const char *session_id;          /* popgate's session id */
	const char *version;             /* popgate's version */
	/* What logins to this server showed before (imap_caps_memo.h), read
	   and written by the login (imap_login.h); not owned, must outlive
	   the client. NULL: nothing is pipelined behind the login. */
	struct imap_caps_memo *caps_memo;
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
	/* An untagged response for this command: the line that ends a
	   response whose literal this command took; else, with commands
	   pipelined, one that the oldest command claiming it claims (a
	   server may answer a later command before it ends an earlier one,
	   RFC 3501 5.5); else, as unsolicited (EXISTS, EXPUNGE, FETCH
	   FLAGS pushed by the server), while this is the oldest waiting. */
	void (*untagged)(void *ctx, const struct imap_resp *resp);
	/* Optional: whether an untagged response (no BYE) answers this
	   command (by its kind, its UIDs, the items or the mailbox asked
	   for). Called only with more than one command waiting; it must
	   not change anything. What popgate pipelines, and who claims:
	   the login's ID, LOGIN, CAPABILITY, ENABLE, SELECT and listing
	   (ID, ENABLED, SELECT's UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ codes,
	   FETCH with a UID and no body); prefetched UID FETCH BODY.PEEK[]s
	   (their UID and section); a QUIT's fingerprint fetch (its UIDs'
	   HEADER.FIELDS), STORE .SILENT and UID EXPUNGE (nothing to
	   claim); the exists check's NOOP and UID SEARCH (SEARCH); a
	   listing's validation (one UID SEARCH at a time, with UID
	   FETCHes of the same operation). */
	bool (*claims)(void *ctx, const struct imap_resp *resp);
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

/* Capability bits (enum imap_cap) as last announced: after a login's
   done, the post-login ones. */
unsigned int imap_client_caps(const struct imap_client *c);

/* True once the server confirmed ENABLE UTF8=ACCEPT (see
   imap_client_login): mailbox names in its responses are then UTF-8, not
   modified UTF-7, and quoted strings may hold UTF-8. Known by the time any
   command queued after the login's done gets its reply. */
bool imap_client_utf8_enabled(const struct imap_client *c);

/* True once the server confirmed ENABLE QRESYNC (RFC 7162): expunges
   come as VANISHED, and UID FETCH takes (CHANGEDSINCE n VANISHED). */
bool imap_client_qresync_enabled(const struct imap_client *c);

/* The last listing of the selected mailbox kept with the connection
   (imap_sync.h), NULL if none: c owns it and frees it with itself.
   set_listing gives l to c, freeing the one it had (NULL: just that). */
struct imap_listing;
struct imap_listing *imap_client_listing(const struct imap_client *c);
void imap_client_set_listing(struct imap_client *c, struct imap_listing *l);
/* The kept listing handed over to the caller (c keeps none): while another
   mailbox is listed on c, to be given back with set_listing. */
struct imap_listing *imap_client_take_listing(struct imap_client *c);

/* Round trips waited for on this connection so far: the connect with
   the greeting counts one, each TLS handshake one (implicit, or after
   STARTTLS), and each burst of commands written after the server had
   sent something since the previous one (commands pipelined behind
   others cost nothing more). */
unsigned int imap_client_round_trips(const struct imap_client *c);

/* Something of the caller's kept with the connection (pop3/warm.h: with
   a kept one), freed with free_fn when c is freed or something else is
   attached; NULL data: just that. take gives it back (NULL if none):
   then it is the caller's again. */
void imap_client_attach(struct imap_client *c, void *data, void (*free_fn)(void *));
void *imap_client_take_attached(struct imap_client *c);

/* The "session=..." prefix of its log lines. */
const char *imap_client_log_id(const struct imap_client *c);

/* Whether the connection is usable for new commands. */
bool imap_client_is_connected(const struct imap_client *c);

/* Connected, and nothing queued, waiting, paused or logging out: a
   connection that may be handed to someone else (imap_pool.h). */
bool imap_client_idle(const struct imap_client *c);

/* The "session=..." prefix of its log lines from now on; -1 when out of
   memory (the old one stays). */
int imap_client_set_log_id(struct imap_client *c, const char *log_id);

/* TLS protocol version in use, or "none". */
/* What the server's last untagged BYE said of throttling (in place of
   the greeting: at least IMAP_THROTTLE_CONNECTIONS); NONE without one, or
   for c NULL. Read it when a command or the connection failed. */
enum imap_throttle imap_client_throttle(const struct imap_client *c);
const char *imap_client_tls_version(const struct imap_client *c);

/*
 * Queues "<tag> <args>\r\n" (args: constant command text, no CR/LF).
 * Returns 0, or -1 when args is malformed (nothing queued, no callback).
 */
int imap_client_command(struct imap_client *c, const char *args,
			const struct imap_cmd_handlers *h, void *ctx);

/*
 * Builds the command with imap_cmd_format() (imap_cmd.h: %s arguments are
 * quoted or sent as literals, never spliced in) with this server's
 * LITERAL+/LITERAL-/UTF8=ACCEPT, and queues it. Returns 0, or -1 (logged
 * as a bug: a bad format or argument) with nothing queued.
 */
int imap_client_cmdf(struct imap_client *c, const struct imap_cmd_handlers *h, void *ctx,
		     const char *fmt, ...);

/*
 * LOGOUT. From then on the end of the connection is expected: neither
 * EOF nor a TLS close without close_notify is logged as an error. cb runs
 * once when the server answered or the connection ended (never after
 * imap_client_close()). -1 when a logout is already under way.
 */
typedef void imap_logout_cb(void *ctx);
int imap_client_logout(struct imap_client *c, imap_logout_cb *cb, void *ctx);

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
