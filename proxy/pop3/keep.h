#ifndef POP3_KEEP_H
#define POP3_KEEP_H

/*
 * Kept upstream sessions ([upstream] keep_idle): a session that ends with
 * QUIT leaves its idle, logged-in IMAP connection in the server's pool
 * (proxy/imap/imap_pool.h) for the next login of the same account with
 * the same password. The password is never kept: the login stores a
 * keyed digest of it (HMAC-SHA-256 under the pool's random key) with the
 * account in the session, compared in constant time at the next login.
 */

#include <stdbool.h>
#include <stddef.h>

struct imap_client;
struct pop3_session;

/* The account's key and the credentials' digest into the session (for
   pop3_keep_take() now and pop3_keep_put() at QUIT); nothing when
   keep_idle is off or memory runs out. */
void pop3_keep_prepare(struct pop3_session *s, const char *account, const char *user,
		       size_t user_len, const char *pass, size_t pass_len);
/* Forgets what pop3_keep_prepare() stored (a failed login). */
void pop3_keep_forget(struct pop3_session *s);

/* A kept connection of this account for these credentials, now the
   caller's, or NULL. A kept one for other credentials is closed. */
struct imap_client *pop3_keep_take(struct pop3_session *s);

/* At QUIT, with nothing left to do upstream: s->imap goes to the pool
   (true, s->imap is NULL then) instead of LOGOUT. False: not kept
   (off, not idle, no key), s->imap untouched. */
bool pop3_keep_put(struct pop3_session *s);

#endif
