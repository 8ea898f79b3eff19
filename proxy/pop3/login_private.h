#ifndef POP3_LOGIN_PRIVATE_H
#define POP3_LOGIN_PRIVATE_H

/*
 * What the login flow's files share (login.h lists the steps):
 *
 *   login.c           the command: route, delay, then the upstream part
 *   login_folders.c   folders = ...: the special-use names, then each
 *                     folder after the first through select .. uidl
 *   login_upstream.c  connect, authenticate, LOGIN-DELAY, select, list
 *   login_state.c     sizes, lock, view, remap, legacy, uidl, +OK
 *   login_common.c    the step bookkeeping and the one failure exit
 *
 * Each calls only the ones below it in this list (login_common.c none of
 * them), so the flow has no circle between its files; login_state.c
 * hands a built folder back up through l->folder_built.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cache_gen.h"
#include "imap_client.h"
#include "imap_mailbox.h"
#include "imap_sync.h"
#include "imap_throttle.h"
#include "limits_shared.h"
#include "metrics.h"
#include "shared_listing.h"
#include "throttle.h"
#include "uidl.h"

struct pop3_session;

enum login_step {
	LOGIN_ROUTE,
	LOGIN_DELAY,
	LOGIN_CONNECT,
	LOGIN_AUTHENTICATE,
	LOGIN_SELECT,
	LOGIN_LIST,
	LOGIN_SIZES,
	LOGIN_LOCK,
	LOGIN_VIEW,
	LOGIN_REMAP,
	LOGIN_LEGACY,
	LOGIN_UIDL,
	LOGIN_DONE,
	LOGIN_STEP_COUNT
};

struct pop3_login {
	struct pop3_session *s;
	enum login_step step;
	char *pass;
	size_t pass_len;
	const char *login_user;      /* the name sent upstream (in s->user) */
	size_t login_user_len;       /* without device, maybe without domain */
	size_t address_len;          /* s->user without the device suffix */
	char *account;               /* the state store's account key */
	struct imap_client *imap;
	struct pop3_oauth_auth *oauth;  /* auth = oauth2: the token login */
	struct timespec connect_started;
	struct imap_select_op select;
	struct imap_sync_op list;    /* validated, or fetched whole */
	struct pop3_maildrop *drop;
	struct pop3_device *dev;
	uint32_t remap_from;         /* UIDVALIDITY being re-mapped from */
	struct pop3_remap *remap;    /* the re-map in progress */
	bool remapping;              /* counted in srv->remaps */
	bool kept;                   /* l->imap came from the pool (keep.h) */
	bool fresh;                  /* ... and failed: connect anew */
	struct uidl_format uidl_fmt; /* the route's */
	struct pop3_uidl_map *uidls; /* the UIDL step in progress */
	struct pop3_legacy_import *legacy;  /* the legacy step (login_legacy.h) */
	uint8_t *hidden;             /* the view, kept for after that step */
	uint32_t view_first_uidnext; /* the device's, as the view said */
	struct cache_gens gens;      /* what the lock read (cache_gen.h) */
	struct pop3_warm *warm;      /* the last login's read, or this one's (warm.h) */
	bool warm_hit;               /* ... which stands for the store's answer */
	bool warm_more;              /* ... but for new mail (cache_peek()) */
	const char **stored;         /* ... the UIDLs it says are stored */
	bool lock_pending;           /* the lock and the sizes run side by side */
	bool sizes_pending;
	uint32_t first_uid;
	time_t listed_at;            /* the profile's max_age counts from it */
	unsigned int left_out;       /* by the profile's rule (profile.h) */
	bool new_device;
	size_t pruned;
	uint64_t reserved_drop;      /* memory reserved: the message table, */
	uint64_t reserved_remap;     /* the re-map, */
	uint64_t reserved_uidl;      /* and the UIDL step */
	struct pop3_limits limits;   /* failure delays, LOGIN-DELAY */
	struct pop3_sizes *sizes;    /* exact_sizes: the step in progress */
	struct pop3_throttle throttle; /* the provider's back-off, before connecting */
	unsigned int rtt_start;      /* imap's round trips when the login took it */
	unsigned int rtt_before;     /* ... and those of a kept one that broke */
	/* folders = ... (login_folders.c): the folders, the first built
	   into l->drop as ever, then each other one in turn. */
	void (*folder_built)(struct pop3_login *l); /* NULL: one folder */
	struct pop3_folders *folders; /* what is built so far */
	unsigned int folder;         /* the one being built */
	uint64_t exist_total;        /* EXISTS of the folders so far (max_messages) */
	char *folder_account;        /* its state's account (folder > 0) */
	struct imap_listing *kept_listing; /* the first folder's, meanwhile */
	struct login_special *special; /* the LIST of special-use names */
	bool folder_listed;          /* LIST named the folder SELECT refused */
	/* A cold login's copy of the listing from Redis (shared_listing.h),
	   read while it connects. */
	struct pop3_shared shared;
	bool ahead_waits;            /* the listing ahead waits for the copy */
	const char *listing_source;  /* "redis", "memory", "none" */
	struct pop3_shared_mark listing_before; /* its validators then */
	uint8_t *shared_blob;        /* the copy to write after the +OK */
	size_t shared_len, shared_messages;
};

/* How a failed login is answered. */
enum login_answer {
	LOGIN_ANSWER_REPLY,   /* the reply, at once */
	LOGIN_ANSWER_BAD,     /* the reply, counted as a bad command (it cost
				 nobody upstream, so it costs the client) */
	LOGIN_ANSWER_AUTH,    /* the password was rejected: counted as an auth
				 failure, answered after its delay */
};

/* ---- login_common.c ---- */

void login_set_step(struct pop3_login *l, enum login_step step);
/* The password, wiped and freed (it is kept no longer than needed). */
void login_clear_password(struct pop3_login *l);
/* The re-map step's and the UIDL step's holdings, given back. */
void login_free_remap(struct pop3_login *l);
void login_free_uidls(struct pop3_login *l);
/* Everything the attempt holds, given back; l itself stays. */
void login_release(struct pop3_login *l);
/* The login failed at the current step: nothing of it is kept, the
   session stays in AUTHORIZATION. result: for the metrics
   (METRICS_LOGIN_COUNT: not counted, the attempt never got anywhere). */
void login_fail(struct pop3_login *l, enum metrics_login result, enum login_answer answer,
		const char *reply);
/* The upstream throttles the account (throttle.h): the login ends, the
   account backs off. False when kind says nothing of throttling. */
bool login_throttled(struct pop3_login *l, enum imap_throttle kind, const char *text);

/* need bytes of max_listing_memory for the attempt, or the login fails
   (logged, "too busy"); the caller records what it reserved. */
bool login_reserve(struct pop3_login *l, size_t need);

/* The account the state of the folder being built is stored under. */
const char *login_state_account(const struct pop3_login *l);

/* ---- login_folders.c ---- */

/* folder_built of a session with folders = ... */
void login_folders_built(struct pop3_login *l);
/* Whether the profile's first folder is the route's mailbox. */
bool login_folders_first_ok(const struct pop3_login *l);

/* ---- login_upstream.c ---- */

/* The connect step, or a kept connection of the same credentials. */
void login_step_connect(struct pop3_session *s);

/* The listing of the selected folder into a new l->drop (kept with the
   connection only for the first folder); then login_step_sizes(). */
void login_step_list(struct pop3_login *l, const struct imap_selected *info);

/* ---- login_state.c ---- */

/* After a complete listing: sizes, lock, view, remap, legacy, uidl, +OK. */
void login_step_sizes(struct pop3_login *l);

/* +OK: the session takes the maildrop (and l->folders, or a set of one
   folder made here). */
void login_finish(struct pop3_login *l);

#endif
