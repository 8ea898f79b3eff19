#ifndef POP3_SESSION_H
#define POP3_SESSION_H

/*
 * A POP3 session: the client connection, its output, the command in
 * progress and the end of the session. The bottom of proxy/pop3/: it calls
 * nothing above it; what comes in is handed up through the hooks given at
 * creation, and a running command is an object (ops + context) whose
 * hooks the session calls: drained when the client's output has room
 * again, line for input lines it wants (an AUTH continuation), free when
 * the command ends or the session closes.
 *
 * Calls run one way: server.c (accept) -> commands.c -> auth.c / fetch.c /
 * quit.c -> login.c -> IMAP operations (proxy/imap) and device state
 * (device.c over cache/) -> session.c (output).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <event2/util.h>

#include "pop3_parse.h"
#include "sockout.h"

struct bufferevent;
struct cache;
struct conf;
struct conf_upstream;
struct event;
struct event_base;
struct evbuffer;
struct evdns_base;
struct imap_client;
struct imap_pool;
struct limits;
struct pop3_device;
struct pop3_folders;
struct pop3_maildrop;
struct pop3_warm;
struct pop3_session;
struct settings;
struct oauth_tokens;

/* Client output: stop producing above HIGH, go on below LOW. */
#define POP3_OUT_HIGH (256 * 1024)
#define POP3_OUT_LOW (64 * 1024)
/* Client input buffered at most (pipelined commands wait here). */
#define POP3_IN_HIGH (16 * 1024)

/* What every session shares. The owner (main) keeps it alive as long as
   sessions exist. */
struct pop3_server {
	struct event_base *base;
	struct evdns_base *dns;
	struct settings *settings;            /* current generation: new
						 sessions take a reference */
	struct cache *cache;                  /* per-device state store */
	struct limits *limits;                /* per-IP and auth failure records */
	struct oauth_tokens *oauth;           /* access tokens (auth = oauth2) */
	unsigned int sessions;                /* open now */
	unsigned int unauthenticated;         /* of them, not logged in yet */
	uint64_t listing_bytes;               /* reserved by message tables and
						 re-maps (max_listing_memory) */
	unsigned int remaps;                  /* logins re-mapping now */
	uint64_t sessions_total;
	LIST_HEAD(, pop3_session) list;
	bool stopping;
	/* A second after sessions end, the memory they freed goes back to
	   the system (malloc_trim): glibc keeps freed heap pages otherwise,
	   and one busy hour would set the process size for good. */
	struct event *trim_ev;
	struct imap_pool *pool;               /* kept upstream sessions (keep.h) */
};

/* Memory freed is given back to the system within a second (one
   malloc_trim a second at most): called when a session or a login ends,
   whose listing, UIDL and device-view buffers go. */
void pop3_server_trim_soon(struct pop3_server *srv);

/* Frees what the server struct holds itself (trim_ev); sessions are gone. */
void pop3_server_cleanup(struct pop3_server *srv);

enum pop3_state {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_TRANSACTION,
	POP3_STATE_UPDATE,
	POP3_STATE_CLOSED,
	POP3_STATE_COUNT
};

/* The session's hooks into the layer above (commands.c). */
struct pop3_session_hooks {
	/* A complete command line (no running command wants it). */
	void (*line)(struct pop3_session *s, const char *line, size_t len);
};

/* A running command. Every member may be NULL. */
struct pop3_cmd_ops {
	/* The client's output drained below POP3_OUT_LOW: produce more. */
	void (*drained)(struct pop3_session *s, void *ctx);
	/* The next input line, while this command waits for one (an AUTH
	   continuation). Commands without it hold input back until done. */
	void (*line)(struct pop3_session *s, void *ctx, const char *line, size_t len);
	/* The command ended (pop3_cmd_done) or the session closed while it
	   ran: cancel what is pending and free ctx. Never replies. */
	void (*free)(struct pop3_session *s, void *ctx);
	/* The longest input line it takes (0: POP3_MAX_CMD_LINE). */
	size_t max_line;
};

struct pop3_session {
	LIST_ENTRY(pop3_session) link;
	struct pop3_server *srv;
	struct settings *set;       /* the configuration it started with */
	const struct conf *conf;    /* set->conf */
	const struct pop3_session_hooks *hooks;
	struct bufferevent *bev;
	struct sockout out;         /* bev's output written directly (plain) */
	struct event *read_ev;      /* reads bev's socket (plain), libevent's
				       own reading off; NULL: libevent reads */
	struct event *free_ev;      /* frees from the loop */
	struct event *resume_ev;    /* reads the next command from the loop */
	struct event *timer;        /* pop3_session_set_timer() */
	struct event *life_timer;   /* max_session_time */
	struct event *idle_timer;   /* idle_timeout: complete lines reset it */
	struct event *login_timer;  /* login_timeout */
	void (*timer_cb)(struct pop3_session *s);

	char id[20];
	char log_id[32];            /* "session=<id>" */
	char client_ip[64];         /* "address:port", for logs */
	char client_addr[64];       /* the address alone */
	char addr_key[64];          /* per-address limits: the address, or
				       its /64 for IPv6 */
	uint16_t client_port;
	char local_addr[64];        /* our end of the connection */
	char via[64];               /* the load balancer's address; "" direct */
	uint16_t local_port;
	bool conn_counted;          /* counted in the per-address limit */
	bool unauth_counted;        /* counted in srv->unauthenticated */
	uint64_t reserved;          /* of srv->listing_bytes, this session's */
	bool client_tls;            /* TLS with the client (POP3S or STLS) */
	bool client_local;          /* address in local_networks */

	enum pop3_state state;
	const char *doing;          /* what it is doing, for errors */
	bool closing;               /* closes once the output is sent */
	bool client_eof;            /* client closed its sending side */
	bool client_gone;           /* lost during UPDATE: the update
				       finishes, nothing is written */
	const char *end_reason;
	unsigned int bad_commands;
	unsigned int auth_commands; /* commands before the login */
	/* The command line being read: only while one is (2 KB), not for
	   the whole of an idle session. line_max: the next line's limit. */
	struct pop3_scanner *scanner;
	size_t line_max;

	/* the running command, if any */
	const struct pop3_cmd_ops *run;
	void *run_ctx;

	/* who: the login name from USER or AUTH (with its device suffix;
	   not secret), then the route and device of a successful login */
	char *user;
	size_t user_len;
	char user_log[128];         /* user, escaped for log lines */
	const struct conf_upstream *route; /* NULL before login */
	char device[POP3_DEVICE_MAX + 1];
	/* The device's profile (conf_profile_find()): what it lists, what
	   its deletes do; NULL until the login has the device's name. */
	const struct conf_profile *profile;

	/* after login */
	struct imap_client *imap;
	struct imap_client *retired; /* closed, freed from the loop */
	const char *upstream_tls;   /* TLS version upstream, "none" */
	bool sizes_inexact;         /* a message still there came with another
				       size than listed: sizes are no proof */
	struct pop3_device *dev;    /* the device's state and lock */
	struct pop3_maildrop *drop; /* the messages, fixed at login (of the
				       first folder) */
	/* The maildrop's folders (folders.h), the first one's drop and dev
	   being drop and dev; one folder without folders = ... */
	struct pop3_folders *folders;
	/* Upstream work a command left running after it ended (RETR's
	   prefetch of the next message): ahead_free frees it with the
	   session, after the IMAP client has been closed. */
	void *ahead;
	void (*ahead_free)(struct pop3_session *s);
	/* the account and the credentials' keyed digest (keep.h) */
	char *keep_key;
	unsigned char keep_digest[32];
	struct pop3_warm *warm;     /* what the login read of the store (warm.h) */

	/* counters for the summary line */
	unsigned int retr_count, top_count;
	uint64_t bytes_out;
	uint64_t bytes_counted;     /* of bytes_out, already in the metrics */
	struct timeval started;
};

/*
 * A new session on a connected bufferevent (taken over; freed with the
 * session). Counted in srv and linked into srv->list; the configuration
 * is srv->settings, referenced. NULL when out of memory (bev freed).
 * The caller fills in the addresses, then greets or refuses.
 */
struct pop3_session *pop3_session_new(struct pop3_server *srv, struct bufferevent *bev,
				      bool tls, const struct pop3_session_hooks *hooks);

void pop3_session_set_state(struct pop3_session *s, enum pop3_state state);

/* Output. Nothing is written once the session is closed or its client
   gone. A reply is one line; CRLF is added, overlong text is cut. */
void pop3_reply(struct pop3_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void pop3_write(struct pop3_session *s, const void *data, size_t len);
size_t pop3_output_len(struct pop3_session *s);
struct evbuffer *pop3_output(struct pop3_session *s);
/* Octets added to the output buffer directly (pop3_output()): counted. */
void pop3_count_out(struct pop3_session *s, size_t n);

/* Starts a command that goes on asynchronously: input is not processed
   until pop3_cmd_done(). ctx belongs to the command (ops->free). */
void pop3_cmd_start(struct pop3_session *s, const struct pop3_cmd_ops *ops, void *ctx);
/* The running command is done: frees it, reads the next command (from the
   loop, never nested in the caller). The caller must not touch ctx after. */
void pop3_cmd_done(struct pop3_session *s);

/* A bad command: counts it, replies "-ERR <reply>", closes when the budget
   (max_bad_commands) is spent. */
void pop3_bad_command(struct pop3_session *s, const char *reply);

/* Closes now (no more output). Safe from any callback. */
void pop3_session_close(struct pop3_session *s, const char *reason);
/* Closes once everything queued has reached the client. */
void pop3_session_close_after_flush(struct pop3_session *s, const char *reason);

/* One timer per session (auth failure delays). */
void pop3_session_set_timer(struct pop3_session *s, unsigned int msecs,
			    void (*cb)(struct pop3_session *s));

/* STLS, after its +OK is queued: once that has left, pipelined plaintext
   is discarded, what was said before (USER) forgotten, and TLS starts. */
void pop3_session_stls(struct pop3_session *s);

/* The login name (USER, the SASL authcid); -1 if it cannot be one (empty,
   NUL, too long). NULL clears it. */
int pop3_session_set_user(struct pop3_session *s, const char *user, size_t len);

/* An IMAP client that is of no more use: closed now, freed from the loop
   (it may be the one whose callback is running). *c is set to NULL. */
void pop3_session_retire_imap(struct pop3_session *s, struct imap_client **c);

/* Memory for message tables and re-maps, out of max_listing_memory for
   all sessions together: true and reserved, or false (nothing reserved)
   when it would pass the budget. What a session holds goes at its end. */
bool pop3_session_reserve(struct pop3_session *s, uint64_t bytes);
void pop3_session_unreserve(struct pop3_session *s, uint64_t bytes);

/* Whether USER/PASS and AUTH PLAIN may be used on this connection. */
bool pop3_plaintext_allowed(const struct pop3_session *s);

/* Monotonic clock in milliseconds. */
uint64_t pop3_now_ms(void);

#endif
