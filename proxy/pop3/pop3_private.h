#ifndef POP3_PRIVATE_H
#define POP3_PRIVATE_H

/* Internals shared by pop3_session.c, pop3_commands.c, pop3_upstream.c. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "limits_table.h"
#include "metrics.h"
#include "pop3_filter.h"
#include "pop3_parse.h"
#include "pop3_session.h"

/* Client output: stop producing above HIGH, go on below LOW. */
#define POP3_OUT_HIGH (256 * 1024)
#define POP3_OUT_LOW (64 * 1024)
/* Client input buffered at most (pipelined commands wait here). */
#define POP3_IN_HIGH (16 * 1024)
/* TOP reads the body in ranges of this size until it has its lines. */
#define POP3_TOP_CHUNK (64 * 1024)
/* Bounds the per-session message table. */
#define POP3_MAX_MESSAGES 2000000

struct pop3_session;

/* A message's fingerprint (pop3_fingerprint.c). */
struct pop3_fp {
	uint32_t uid;
	char fp[65];          /* hex SHA-256 of the canonical header; "" if none */
	int64_t internaldate; /* unix time; 0 if unknown */
};

typedef void pop3_fp_done_cb(struct pop3_session *s, bool ok, struct pop3_fp *fps,
			     size_t n);

struct pop3_fp_job {
	const uint32_t *uids;  /* sorted; owned by the caller until done */
	size_t uid_count, next;
	struct pop3_fp *fps;   /* in the order the server answered */
	size_t count, cap;
	char *raw;             /* header octets of the literal in progress */
	size_t raw_len;
	bool have_raw;
	pop3_fp_done_cb *done;
};

enum pop3_state {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_TRANSACTION,
	POP3_STATE_UPDATE,
	POP3_STATE_CLOSED,
	POP3_STATE_COUNT
};

#define POP3_IN_AUTH (1u << POP3_STATE_AUTHORIZATION)
#define POP3_IN_TRANS (1u << POP3_STATE_TRANSACTION)

enum pop3_msg_flag {
	POP3_MSG_DELETED = 1u << 0, /* DELE'd in this session */
};

struct pop3_msg {
	uint32_t uid;
	uint32_t flags;
	uint64_t size;
};

/* A multi-line listing produced as the client drains its output. */
enum pop3_listing {
	POP3_LISTING_NONE,
	POP3_LISTING_LIST,
	POP3_LISTING_UIDL,
};

/* What the message stream in progress is. */
enum pop3_fetch_kind {
	POP3_FETCH_RETR,
	POP3_FETCH_TOP_HEADER,
	POP3_FETCH_TOP_TEXT,
};

struct pop3_session {
	LIST_ENTRY(pop3_session) link;
	struct pop3_server *srv;
	struct settings *set;       /* the configuration it started with */
	const struct conf *conf;    /* set->conf */
	const struct conf_upstream *route; /* chosen at login; NULL before */
	struct bufferevent *bev;
	struct event *free_ev;
	struct event *resume_ev;    /* reads the next command from the loop */
	struct event *timer;        /* auth failure delay */
	struct event *life_timer;   /* max_session_time */
	void (*timer_cb)(struct pop3_session *s);

	char id[20];
	char log_id[32];            /* "session=<id>" */
	char client_ip[64];         /* "address:port", for logs */
	char client_addr[64];       /* the address alone: per-IP limits */
	char addr_key[64];          /* key of per-address limits and auth
				       failures: the address, or its /64 for
				       IPv6 (one host has a whole /64) */
	uint16_t client_port;
	char local_addr[64];        /* our end of the connection */
	uint16_t local_port;
	bool conn_counted;          /* counted in the per-IP limit */
	enum pop3_state state;
	bool busy;                  /* a command is in flight */
	const char *doing;          /* what it is doing, for errors */
	bool close_after_flush;
	bool client_eof;            /* client closed its sending side */
	bool client_gone;           /* connection lost during UPDATE: the
				       update finishes, nothing is written */
	bool client_tls;            /* TLS with the client (POP3S or STLS) */
	bool client_local;          /* address in local_networks */
	bool stls_pending;          /* +OK to STLS sent, handshake next */
	const char *end_reason;
	unsigned int bad_commands;

	struct pop3_scanner scanner;
	struct pop3_cmd cmd;
	bool auth_continuation;     /* next line answers AUTH PLAIN "+ " */

	/* authentication */
	char *user;                 /* from USER, or the SASL authcid: the
				       login name with its device suffix */
	size_t user_len;
	size_t upstream_user_len;   /* user without the device suffix */
	const char *login_user;     /* the name sent upstream (in user) */
	size_t login_user_len;      /* without device, maybe without domain */
	char device[POP3_DEVICE_MAX + 1];
	char *account;              /* "<upstream user>@<host>:<port>" */
	char user_log[128];         /* user, escaped for log lines */
	char *pass;                 /* held only until the login is sent */
	size_t pass_len;
	struct imap_client *imap;
	const char *upstream_tls;   /* TLS version upstream, "none" */

	/* per-device state (pop3_state.c) */
	struct cache_req *cache_req; /* the command's request in flight */
	struct cache_req *refresh_req; /* a lock refresh in flight */
	struct event *lock_timer;   /* refreshes the device lock */
	bool locked;                /* we hold the device lock */
	bool lock_requested;        /* a lock request went out: its outcome
				       may be unknown, so unlock at the end */
	char lock_token[40];

	/* the maildrop, fixed at login */
	uint32_t uidnext;
	uint32_t uidvalidity;
	uint32_t exists;
	struct pop3_msg *msgs;
	unsigned int msg_count;
	unsigned int msg_cap;
	bool listing_failed;

	/* multi-line listing in progress */
	enum pop3_listing listing;
	unsigned int listing_next;

	/* message stream in progress (RETR/TOP) */
	enum pop3_fetch_kind fetch_kind;
	struct pop3_msg *fetch_msg;
	struct pop3_filter filter;
	uint64_t top_lines;
	uint64_t top_offset;        /* next TEXT range start */
	uint64_t chunk_size;        /* size of the TEXT range literal seen */
	bool fetch_started;         /* +OK sent */
	bool fetch_streaming;       /* inside the message literal */
	bool fetch_got_body;        /* the wanted item was seen */

	/* removing DELE'd messages upstream at QUIT (pop3_remove.c) */
	void (*remove_done)(struct pop3_session *s, bool ok, bool permanent,
			    const char *error);
	bool trash_created;         /* CREATE tried after [TRYCREATE] */
	char remove_error[200];
	uint32_t *remove_uids;      /* sorted */
	size_t remove_count;
	size_t remove_next;         /* first uid of the chunk in progress */
	size_t remove_chunk_end;
	char *remove_set;           /* that chunk as an IMAP UID set */
	unsigned int remove_step, remove_first_step;
	bool remove_trash;
	char trash[256];

	struct pop3_fp_job *fp_job;  /* fingerprint fetch in progress */
	uint32_t *state_uids;       /* UIDs the state module is working on */
	size_t state_uid_count;
	uint32_t remap_from;        /* UIDVALIDITY being re-mapped from */

	/* counters for the summary line */
	unsigned int retr_count, top_count, dele_count;
	uint64_t bytes_out;
	uint64_t bytes_counted;     /* of bytes_out, already in the metrics */
	struct timeval started;
	struct timespec connect_started; /* upstream connect (monotonic) */
};

/* pop3_session.c */
void pop3_session_set_state(struct pop3_session *s, enum pop3_state state);
void pop3_reply(struct pop3_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void pop3_write(struct pop3_session *s, const void *data, size_t len);
size_t pop3_output_len(struct pop3_session *s);
struct evbuffer *pop3_output(struct pop3_session *s);
/* The command goes on asynchronously: stop reading input until done. */
void pop3_command_wait(struct pop3_session *s);
/* The command in flight is done: read the next one. */
void pop3_command_done(struct pop3_session *s);
/* Closes now (no more output). */
void pop3_session_close(struct pop3_session *s, const char *reason);
/* Closes once everything queued has reached the client. */
void pop3_session_close_after_flush(struct pop3_session *s, const char *reason);
void pop3_session_set_timer(struct pop3_session *s, unsigned int msecs,
			    void (*cb)(struct pop3_session *s));
/* STLS, after its +OK is queued: once that has left, pipelined plaintext
   is discarded and TLS starts; no command is read until then. */
void pop3_session_stls_begin(struct pop3_session *s);
/* Whether USER/PASS and AUTH PLAIN may be used on this connection. */
bool pop3_plaintext_allowed(const struct pop3_session *s);
/* Monotonic clock in milliseconds (limits). */
uint64_t pop3_now_ms(void);
/* A bad command: counts it, replies, closes when the budget is spent. */
void pop3_bad_command(struct pop3_session *s, const char *reply);

/* pop3_commands.c */
void pop3_dispatch_line(struct pop3_session *s, const char *line, size_t len);
/* Produces more lines of a LIST/UIDL listing; true when finished. */
bool pop3_listing_continue(struct pop3_session *s);
void pop3_clear_credentials(struct pop3_session *s);
/* Key of the user in the auth failure records: the route and the name
   sent upstream, in lower case (Alice and alice are one mailbox). */
void pop3_auth_user_key(const struct pop3_session *s, char *buf, size_t size);
/* The auth failure delay settings of the session's configuration. */
struct limits_auth pop3_auth_settings(const struct pop3_session *s);

/* pop3_state.c: the device's view and its changes in the state store */
/* After the upstream listing: lock the device, load its view, hide what
   it must not see, then answer the login. */
void pop3_state_open(struct pop3_session *s);
/* QUIT in TRANSACTION: apply the DELE marks per delete_action, then end
   the session (+OK only once everything is durable). */
void pop3_state_quit(struct pop3_session *s);
/* Session end, whatever the reason: cancel, release the lock. */
void pop3_state_close(struct pop3_session *s);

/* pop3_fingerprint.c */
/* Writes UIDs from uids[start] on (sorted) as a compact IMAP set ("3:7,9")
   of at most about max_len octets into buf (size); returns the index of
   the first UID left out. */
size_t pop3_uid_set(const uint32_t *uids, size_t n, size_t start, char *buf, size_t size,
		    size_t max_len);
/* Fetches the fingerprints of uids[0..n) (sorted, kept alive by the
   caller); done runs once, possibly at once. */
void pop3_fingerprints_fetch(struct pop3_session *s, const uint32_t *uids, size_t n,
			     pop3_fp_done_cb *done);
void pop3_fingerprints_free(struct pop3_session *s);

/* pop3_upstream.c */
void pop3_upstream_login(struct pop3_session *s);
void pop3_upstream_fetch(struct pop3_session *s, struct pop3_msg *msg,
			 bool top, uint64_t lines);
/* LOGOUT, then "+OK" and close. */
void pop3_upstream_quit(struct pop3_session *s);
/* Makes the DELE'd messages leave the INBOX upstream (trash: moved,
   expunge: deleted); done(ok) when finished or failed. */
void pop3_upstream_remove(struct pop3_session *s, bool to_trash,
			  void (*done)(struct pop3_session *s, bool ok, bool permanent,
				       const char *error));
/* The session's login finished with this listing: reply +OK. */
void pop3_login_finish_ok(struct pop3_session *s);
/* Login failed after the upstream login (state store trouble, [IN-USE]). */
void pop3_login_abort(struct pop3_session *s, enum metrics_login result, const char *reply);
/* Output drained below POP3_OUT_LOW: let a paused stream go on. */
void pop3_upstream_output_drained(struct pop3_session *s);

#endif
