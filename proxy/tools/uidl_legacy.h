#ifndef UIDL_LEGACY_H
#define UIDL_LEGACY_H

/*
 * popgate uidl import --route DOMAIN --user ADDRESS [--password-file FILE]
 *
 * The lazy import of a first login (legacy_import.h), run from the command
 * line for one account ahead of the switch-over: the password is read
 * from FILE or stdin (first line), never from the command line, and wiped
 * after use. Logs in to the IMAP upstream of ADDRESS's route (which must
 * be DOMAIN's and have legacy_pop3), lists every message, then imports as
 * the login would, honouring the same once-per-account lease and done
 * mark: an account imported before (by a login or by this command) is
 * refused, nothing changed. Any failure stores nothing (legacy_unreachable
 * = proceed does not apply here). Prints what matched.
 */

struct cache;
struct conf;
struct event_base;

/* The process's exit status. */
int uidl_legacy_import(struct event_base *base, struct cache *cache, const struct conf *conf,
		       const char *route, const char *address, const char *password_file);

#endif
