#ifndef LEGACY_POP3_H
#define LEGACY_POP3_H

/*
 * An asynchronous POP3 client for the lazy UIDL import: it logs in to the
 * legacy POP3 server with the client's credentials and reads what the
 * import matches by (login_legacy.h):
 *
 *   connect   pop3s: TLS at once; pop3: plain, then STLS (RFC 2595) after
 *             the greeting; a server that refuses STLS is refused unless
 *             allow_plaintext
 *   USER/PASS the credentials (APOP is not used: the gateway has the
 *             password itself, and APOP needs it stored in clear)
 *   CAPA      whether the server takes pipelined commands (RFC 2449)
 *   UIDL      each message's UIDL
 *   LIST      each message's size
 *   TOP n 0   each message's header, hashed as it arrives (header_fp_
 *             migration(), SHA-256): no header is kept; with PIPELINING
 *             LEGACY_POP3_WINDOW at a time, else one
 *   QUIT      nothing is deleted (no DELE is ever sent)
 *
 * Bounded: the reply reader's line length (legacy_parse.h), max_messages,
 * LEGACY_POP3_MAX_BYTES read in all, LEGACY_POP3_HEADER_MAX per header (a
 * longer one gets no hash and matches nothing), and timeout_secs for the
 * whole, connect to QUIT. One command at a time but the TOPs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "legacy_parse.h"

struct event_base;
struct evdns_base;
struct tls_client_ctx;
struct legacy_pop3;

#define LEGACY_POP3_MAX_BYTES (256u << 20)
#define LEGACY_POP3_HEADER_MAX 65536
#define LEGACY_POP3_HASH_HEX 64
#define LEGACY_POP3_WINDOW 32

/* One message of the legacy server's maildrop. */
struct legacy_msg {
	uint32_t msgno;
	uint64_t size;                            /* LIST */
	char uidl[LEGACY_UIDL_MAX + 1];           /* UIDL */
	char hash[LEGACY_POP3_HASH_HEX + 1];      /* "" when its header was
						     too long or had no field */
};

enum legacy_pop3_result {
	LEGACY_POP3_OK,
	LEGACY_POP3_UNREACHABLE,   /* DNS, connect, TLS, closed early */
	LEGACY_POP3_TIMEOUT,
	LEGACY_POP3_NO_TLS,        /* pop3:// and STLS refused */
	LEGACY_POP3_AUTH,          /* USER or PASS refused */
	LEGACY_POP3_PROTOCOL,      /* a reply that is no POP3, or -ERR to UIDL,
				      LIST or TOP */
	LEGACY_POP3_LIMIT,         /* more messages or octets than allowed */
	LEGACY_POP3_MEMORY,
};

struct legacy_pop3_settings {
	const char *host;
	uint16_t port;
	bool implicit_tls;
	bool allow_plaintext;
	struct tls_client_ctx *tls_ctx;   /* the caller's, alive until free */
	unsigned int timeout_secs;
	const char *user;                 /* copied */
	size_t user_len;
	const char *pass;                 /* copied, wiped when sent / freed */
	size_t pass_len;
	uint32_t max_messages;
	uint64_t max_bytes;               /* read in all; 0: LEGACY_POP3_MAX_BYTES */
	const char *log_id;
};

/* msgs[0..n) in the server's order, valid during the call (OK only;
   otherwise NULL, 0; NULL also for an empty maildrop). reason: what went wrong, for logs and the client's
   error ("" with OK). */
typedef void legacy_pop3_cb(void *ctx, enum legacy_pop3_result result, const char *reason,
			    const struct legacy_msg *msgs, size_t n);

/* cb runs once, from the loop, never inside this call; not after
   legacy_pop3_free(). NULL when out of memory, or when user or password
   hold a CR, LF or NUL (nothing can be sent). */
struct legacy_pop3 *legacy_pop3_start(struct event_base *base, struct evdns_base *dns,
				      const struct legacy_pop3_settings *set,
				      legacy_pop3_cb *cb, void *ctx);
/* Closes the connection; no callback after this. NULL is fine. */
void legacy_pop3_free(struct legacy_pop3 **p);

const char *legacy_pop3_result_name(enum legacy_pop3_result r);
/* Whether the server said PIPELINING (known once logged in). */
bool legacy_pop3_pipelining(const struct legacy_pop3 *p);

#endif
