#ifndef IMAP_CLIENT_PRIVATE_H
#define IMAP_CLIENT_PRIVATE_H

/*
 * Inside the IMAP client: shared by imap_client.c (the connection, the
 * queues, response dispatch) and imap_login.c (the login and what goes
 * with it: ID, post-login capabilities, ENABLE). Not for use outside
 * proxy/imap/.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <sys/queue.h>

#include "imap_client.h"
#include "imap_cmd.h"
#include "sockout.h"

struct bufferevent;
struct imap_parser;
struct event;

enum imap_client_state {
	IMAP_CLIENT_NEW,
	IMAP_CLIENT_CONNECTING,   /* TCP (and implicit TLS) handshake */
	IMAP_CLIENT_GREETING,     /* waiting for the server greeting */
	IMAP_CLIENT_PREPARING,    /* CAPABILITY / STARTTLS before ready */
	IMAP_CLIENT_READY,
	IMAP_CLIENT_FAILED,       /* connection gone; commands fail */
	IMAP_CLIENT_CLOSED,       /* closed by the owner; silent */
};

struct imap_command {
	TAILQ_ENTRY(imap_command) link;
	char tag[IMAP_TAG_MAX + 1];
	struct imap_cmd_text text;
	unsigned int parts_sent;
	bool sensitive;            /* holds credentials: never logged */
	bool setup;                /* the client's own, before READY */
	bool logout;               /* LOGOUT: the end of the connection */
	/* An OAuth2 AUTHENTICATE: what answers the server's error challenge
	   (a "+" after the whole command went out), once; NULL: none. */
	const char *sasl_abort;
	bool sasl_aborted;
	const struct imap_cmd_handlers *h;
	void *ctx;
};
TAILQ_HEAD(imap_command_list, imap_command);

/* The longest kept: a login's code and text, an OAuth2 challenge. */
#define IMAP_LOGIN_CODE_MAX 128
#define IMAP_LOGIN_TEXT_MAX 256
#define IMAP_SASL_CHALLENGE_MAX 512

struct imap_client {
	struct event_base *base;
	struct evdns_base *dns;
	struct bufferevent *bev;
	struct sockout out;           /* bev's output written directly (plain) */
	/* A plain connection once ready: the socket's own read event, each
	   readiness one readv (sockin_read()); libevent's reading is off.
	   NULL: libevent reads (set-up, TLS). */
	struct event *read_ev;
	struct imap_parser *parser;
	struct event *deferred;       /* reports failures from the loop */

	char *host;
	uint16_t port;
	enum imap_tls_mode tls;
	struct tls_client_ctx *tls_ctx;
	unsigned int timeout_secs;
	char *log_id;
	struct imap_id_params id;     /* strings owned */

	enum imap_client_state state;
	const char *doing;            /* for error messages */
	/* Texts kept only once there is one (malloc'd; NULL: none): why
	   the connection failed, what an untagged BYE said. */
	char *fail_reason;
	char *bye_reason;
	enum imap_throttle bye_throttle;  /* what that BYE said (imap_throttle.h) */
	bool logging_out;             /* LOGOUT sent: EOF is expected */
	unsigned int caps;
	bool caps_known;
	uint64_t caps_sig;            /* a hash of their text as the server wrote it */
	uint64_t login_sig;           /* ... as it was when the login was sent */
	bool utf8_enabled;            /* server said ENABLED UTF8=ACCEPT */
	bool qresync_enabled;         /* server said ENABLED QRESYNC */
	struct imap_listing *listing; /* the selected mailbox's, kept (imap_sync.h) */
	void *attached;               /* the caller's (imap_client_attach()) */
	void (*attached_free)(void *);
	bool tls_active;
	int read_errno;               /* sockin_fill() met a socket error */
	short tls_end;                /* tls_fill() met the end (BEV_EVENT_EOF/ERROR) */
	unsigned int tag_counter;
	/* Round trips waited for (imap_client_round_trips()); heard: the
	   server sent something since the last write. */
	unsigned int round_trips;
	bool heard;

	struct imap_command_list queue;   /* not sent yet */
	struct imap_command_list waiting; /* sent, waiting for tagged reply */
	struct imap_command *sending;     /* waiting for "+" to go on */

	/* the literal being streamed, and to which command */
	struct imap_command *literal_cmd;
	/* the command that took a literal of the response line being read:
	   the line, once complete, is its too */
	struct imap_command *line_cmd;
	bool paused;

	/* The set-up's steps (imap_client_open.c), set by imap_client_connect. */
	const struct imap_client_opening *opening;
	imap_connect_cb *connect_cb;
	void *connect_ctx;
	imap_logout_cb *logout_cb;
	void *logout_ctx;

	/* The owner's login (imap_login.c), whose done waits for the
	   post-login capabilities; login_h is NULL when none is under way. */
	const struct imap_cmd_handlers *login_h;
	void *login_ctx;
	bool login_caps_seen;         /* capabilities came with the login */
	struct imap_reply login_reply; /* kept while CAPABILITY runs, */
	char *login_code;             /* with its texts (malloc'd) */
	char *login_text;
	/* The decoded error challenge of an OAuth2 login (malloc'd
	   IMAP_SASL_CHALLENGE_MAX), NULL if none. */
	char *sasl_challenge;
	/* The login's pipelining (imap_login.c, imap_caps_memo.h). */
	struct imap_caps_memo *caps_memo;  /* not owned; NULL: none */
	bool login_ahead;             /* commands may follow the login at once */
	bool enable_sent;             /* ENABLE went right behind the login */
	bool caps_pipelined;          /* ... and CAPABILITY */
	bool login_wait_caps;         /* login answered; done waits for CAPABILITY */
	bool keeps_input;             /* its ID named such a server (imap_caps_memo.h) */
};

/* What the response reader hands to the set-up (imap_client_open.c). */
struct imap_client_opening {
	/* The first response, in state GREETING. */
	void (*greeting)(struct imap_client *c, const struct imap_resp *resp);
	/* The TLS handshake after STARTTLS is done (no new greeting). */
	void (*tls_up)(struct imap_client *c);
};

/* ---- imap_client.c and imap_client_input.c, for the other imap_client_*.c ---- */

void imap_client_set_state(struct imap_client *c, enum imap_client_state state);
/* The connection failed: logged, closed, every command answered FAILED
   from the loop. */
void imap_client_fail(struct imap_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Writes to the server, counting a round trip when it answered since
   the last write. */
void imap_client_send(struct imap_client *c, const void *data, size_t len);
/* Sends what is queued and may go out in the current state. */
void imap_client_flush(struct imap_client *c);
/* Callbacks, watermarks and timeouts on c->bev (again after STARTTLS);
   in imap_client_input.c. */
void imap_client_setup_bev(struct imap_client *c);
void imap_client_update_timeout(struct imap_client *c);

/* A new command with its tag; NULL when out of memory. */
struct imap_command *imap_client_new_command(struct imap_client *c,
					     const struct imap_cmd_handlers *h, void *ctx);
/* Wipes (if sensitive) and frees a command that was never queued. */
void imap_command_free(struct imap_command *cmd);
/* Queues a built command (at the front: before anything queued, for the
   client's own set-up commands). */
void imap_client_enqueue(struct imap_client *c, struct imap_command *cmd, bool front);
/* Builds (imap_cmd_vformat) and queues a command; front and setup: one of
   the client's own set-up commands. -1 (logged as a bug): nothing queued. */
int imap_client_vqueue(struct imap_client *c, const struct imap_cmd_handlers *h,
		       void *ctx, bool front, const char *fmt, va_list args);
/* Builds and queues a command of the client's own (ctx = the client). */
int imap_client_queue_own(struct imap_client *c, const struct imap_cmd_handlers *h,
			  bool front, const char *fmt, ...);
/* The builder options for this server (LITERAL+/-, UTF8=ACCEPT). */
struct imap_cmd_opts imap_client_opts(const struct imap_client *c);

/* Answers a command (its done handler unless the client was closed) and
   frees it. */
void imap_command_finish(struct imap_client *c, struct imap_command *cmd,
			 const struct imap_reply *reply);
/* Sends the next part of a command (the one after a continuation). */
void imap_client_write_part(struct imap_client *c, struct imap_command *cmd);
/* Reading on (with the timeout while busy) and off, by whoever reads:
   libevent, or the own read event. */
void imap_client_read_on(struct imap_client *c);
void imap_client_read_off(struct imap_client *c);
/* No more reading or writing on this connection. */
void imap_client_stop_io(struct imap_client *c);

#endif
