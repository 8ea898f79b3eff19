#ifndef POP3_PROFILE_H
#define POP3_PROFILE_H

/*
 * What a device lists: the one rule, applied once at login while the
 * maildrop is built (login.c), with the device's profile (conf.h,
 * conf_profile_find(): the first [device PATTERN] that matches, else
 * [policy]).
 *
 * A message of the mailbox is listed when, in this order:
 *   1. it is not flagged \Deleted upstream;
 *   2. show = unseen: it is not flagged \Seen upstream;
 *   3. max_age > 0: its INTERNALDATE is at most max_age before the login
 *      (a date in the future counts as now);
 *   4. it is not hidden for the device (its own DELEs, hide-all);
 *   5. new_device_sees: its UID is at least the device's starting point.
 * 1-3 are pop3_profile_lists() on the listing's FETCH data; 4-5 are the
 * device view from the state store (pop3_maildrop_narrow()). A message
 * 2-3 leave out still exists for the state store: its hides stay, and
 * so does its UIDL in the UIDL map (assigned at the first login of any
 * device that lists it), so it is listed with the same UIDL at a login
 * where the rule lets it through again.
 */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "conf.h"

/* Whether the listing must fetch INTERNALDATE for this profile. */
bool pop3_profile_needs_date(const struct conf_profile *p);

/* Steps 1-3 for one message: flags are enum imap_flag bits, internaldate
   unix time (read only when pop3_profile_needs_date()), now the login's
   time. */
bool pop3_profile_lists(const struct conf_profile *p, unsigned int flags, int64_t internaldate,
			time_t now);

/*
 * Retention (retention.h): whether a device of this profile can never
 * list the message again at any later login, whatever its flags: only
 * max_age makes that so, when the message's INTERNALDATE (known, > 0) is
 * more than max_age before now (time only moves forward, so what step 3
 * leaves out now it leaves out at every later login). show = unseen
 * never does: \Seen can be taken off again by any IMAP client, and the
 * message is then listed again. pop3_profile_done_age() is the max_age
 * that counts (0: none, the device may list the message at any age);
 * pop3_profile_past_age() the test for one max_age, so that the pass can
 * apply the largest max_age of several devices.
 */
unsigned int pop3_profile_done_age(const struct conf_profile *p);
bool pop3_profile_past_age(unsigned int max_age_secs, int64_t internaldate, time_t now);

/* The rule of a profile in words, for popgate device show: "every
   message", "messages without \Seen at login, that arrived within 1d"
   (max_age as the shortest exact form: 90s, 12h, 2w). Into buf; returns
   buf. */
const char *pop3_profile_rule(const struct conf_profile *p, char *buf, size_t size);

/* A duration as the shortest exact form ("0", "90s", "12h", "2w"; in
   days, not weeks, unless weeks: only max_age takes weeks). */
const char *pop3_profile_duration(unsigned int secs, bool weeks, char *buf, size_t size);

#endif
