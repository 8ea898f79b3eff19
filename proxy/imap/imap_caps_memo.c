/* Capabilities seen per upstream server; contracts in imap_caps_memo.h. */

#include "imap_caps_memo.h"

#include <stdlib.h>
#include <string.h>

struct imap_caps_memo_entry {
	char server[IMAP_CAPS_MEMO_KEY + 1];   /* "" : free */
	struct imap_caps_seen seen;
};

struct imap_caps_memo {
	struct imap_caps_memo_entry e[IMAP_CAPS_MEMO_MAX];
	unsigned int next;        /* the slot written longest ago */
};

struct imap_caps_memo *imap_caps_memo_new(void)
{
	return calloc(1, sizeof(struct imap_caps_memo));
}

void imap_caps_memo_free(struct imap_caps_memo **m)
{
	free(*m);
	*m = NULL;
}

static struct imap_caps_memo_entry *imap_caps_memo_find(const struct imap_caps_memo *m,
							 const char *server)
{
	if (server[0] == '\0')
		return NULL;
	for (unsigned int i = 0; i < IMAP_CAPS_MEMO_MAX; i++) {
		if (strcmp(m->e[i].server, server) == 0)
			return (struct imap_caps_memo_entry *)&m->e[i];
	}
	return NULL;
}

bool imap_caps_memo_get(const struct imap_caps_memo *m, const char *server,
			struct imap_caps_seen *r)
{
	const struct imap_caps_memo_entry *e = m != NULL ? imap_caps_memo_find(m, server) : NULL;

	if (e == NULL)
		return false;
	*r = e->seen;
	return true;
}

void imap_caps_memo_put(struct imap_caps_memo *m, const char *server,
			const struct imap_caps_seen *seen)
{
	struct imap_caps_memo_entry *e;
	size_t len = strlen(server);

	if (m == NULL || len == 0 || len > IMAP_CAPS_MEMO_KEY)
		return;
	if ((e = imap_caps_memo_find(m, server)) == NULL) {
		e = &m->e[m->next];
		m->next = (m->next + 1) % IMAP_CAPS_MEMO_MAX;
		memcpy(e->server, server, len + 1);
	}
	e->seen = *seen;
}

void imap_caps_memo_clear(struct imap_caps_memo *m)
{
	memset(m, 0, sizeof(*m));
}
