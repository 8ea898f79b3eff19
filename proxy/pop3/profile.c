/* The listing rule of device profiles; contracts in profile.h. */

#include "profile.h"

#include <stdio.h>

#include "imap_resp.h"

bool pop3_profile_needs_date(const struct conf_profile *p)
{
	return p->max_age_secs > 0;
}

bool pop3_profile_lists(const struct conf_profile *p, unsigned int flags, int64_t internaldate,
			time_t now)
{
	if ((flags & IMAP_FLAG_DELETED) != 0)
		return false;
	if (p->show == CONF_SHOW_UNSEEN && (flags & IMAP_FLAG_SEEN) != 0)
		return false;
	return p->max_age_secs == 0 || internaldate >= (int64_t)now - (int64_t)p->max_age_secs;
}

unsigned int pop3_profile_done_age(const struct conf_profile *p)
{
	return p->max_age_secs;
}

bool pop3_profile_past_age(unsigned int max_age_secs, int64_t internaldate, time_t now)
{
	return max_age_secs > 0 && internaldate > 0 &&
		internaldate < (int64_t)now - (int64_t)max_age_secs;
}

const char *pop3_profile_duration(unsigned int secs, bool weeks, char *buf, size_t size)
{
	static const struct {
		unsigned int secs;
		char unit;
	} units[] = { { 604800, 'w' }, { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' } };

	for (size_t i = weeks ? 0 : 1; secs > 0 && i < sizeof(units) / sizeof(units[0]); i++) {
		if (secs % units[i].secs == 0) {
			snprintf(buf, size, "%u%c", secs / units[i].secs, units[i].unit);
			return buf;
		}
	}
	snprintf(buf, size, secs > 0 ? "%us" : "%u", secs);
	return buf;
}

const char *pop3_profile_rule(const struct conf_profile *p, char *buf, size_t size)
{
	char age[24];

	if (p->show == CONF_SHOW_ALL && p->max_age_secs == 0)
		snprintf(buf, size, "every message");
	else if (p->max_age_secs == 0)
		snprintf(buf, size, "messages without \\Seen at login");
	else
		snprintf(buf, size, "%s that arrived within %s before login",
			 p->show == CONF_SHOW_UNSEEN ? "messages without \\Seen at login" :
			 "messages", pop3_profile_duration(p->max_age_secs, true, age, sizeof(age)));
	return buf;
}
