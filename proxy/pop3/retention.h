#ifndef POP3_RETENTION_H
#define POP3_RETENTION_H

/*
 * Retention ([retention] when = all-devices-done): a bounded pass at
 * QUIT, after the session's own marks are applied and before LOGOUT, on
 * the session's upstream connection and under its device lock:
 *
 *   devices  only when a profile has a max_age: the registered devices'
 *            names, and each one's profile (conf_profile_find(), as its
 *            login finds it); those with a max_age go to the decision
 *   decide   one atomic script (cache_retention.h): records the messages
 *            this session RETRieved and the device's last sight, skips
 *            the pass while another counting device holds its lock, and
 *            returns the done set (at most max_messages), each uid with
 *            the largest max_age of the devices that have not got it
 *            (profile.h, pop3_profile_past_age())
 *   age      their INTERNALDATE upstream (and which are gone): past that
 *            max_age (else kept: listable), then min_age (else young)
 *   intent   the uids to remove are written to the store first, so a
 *            pass that is cut off is taken up by the next one
 *   remove   trash or expunge (imap_remove.h)
 *   finish   the removed and the gone leave every device's records
 *
 * dry_run stops after "age" and logs what would be removed. Nothing here
 * talks to the POP3 client; every failure is logged and ends the pass
 * (what was removed stays removed, the intent says the rest).
 */

#include <stdbool.h>

struct pop3_session;
struct pop3_retention;

typedef void pop3_retention_done_cb(void *ctx);

/* Starts the pass for folder (an index of s->folders, which the
   upstream connection has selected): its account, its device's lock,
   the devices registered there (those whose maildrop has the folder).
   True, and done runs once from the loop when it ends (unless freed
   first); false when retention is off or the session cannot run one
   there (done never runs). */
bool pop3_retention_start(struct pop3_session *s, unsigned int folder,
			  struct pop3_retention **r, pop3_retention_done_cb *done, void *ctx);
/* Cancels a pass under way; NULL is fine. */
void pop3_retention_free(struct pop3_retention **r);

#endif
