/* Redis Cluster slots and redirections; see cache_slot.h. */

#include "cache_slot.h"
#include "num.h"

#include <string.h>
#include <strings.h>

uint16_t cache_crc16(const char *buf, size_t len)
{
	uint16_t crc = 0;
	size_t i;
	int bit;

	for (i = 0; i < len; i++) {
		crc ^= (uint16_t)((unsigned char)buf[i] << 8);
		for (bit = 0; bit < 8; bit++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 :
					 crc << 1);
	}
	return crc;
}

uint16_t cache_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len), *close;

	if (open != NULL) {
		size_t rest = len - (size_t)(open + 1 - key);

		close = memchr(open + 1, '}', rest);
		if (close != NULL && close > open + 1)
			return cache_crc16(open + 1, (size_t)(close - open - 1)) %
				CACHE_SLOTS;
	}
	return cache_crc16(key, len) % CACHE_SLOTS;
}

static bool cache_slot_is(const char *arg, size_t len, const char *name)
{
	return len == strlen(name) && strncasecmp(arg, name, len) == 0;
}

int cache_slot_of_command(int argc, const char *const *argv,
			  const size_t *argvlen)
{
	uint64_t numkeys;
	int slot = -2, i;

	if (argc < 1)
		return -2;
	if (cache_slot_is(argv[0], argvlen[0], "PING") ||
	    cache_slot_is(argv[0], argvlen[0], "WAIT") ||
	    cache_slot_is(argv[0], argvlen[0], "CLUSTER"))
		return -2;
	if (!cache_slot_is(argv[0], argvlen[0], "EVAL") &&
	    !cache_slot_is(argv[0], argvlen[0], "EVALSHA"))
		return argc >= 2 ? cache_slot(argv[1], argvlen[1]) : -2;
	if (argc < 3 || num_parse_u64(argv[2], argvlen[2], (uint64_t)argc - 3,
				      &numkeys) != NUM_OK)
		return -1;
	for (i = 3; i < 3 + (int)numkeys; i++) {
		int s = cache_slot(argv[i], argvlen[i]);

		if (slot >= 0 && s != slot)
			return -1;
		slot = s;
	}
	return slot;
}

/* "<slot> <host>:<port>" in s[0..len). */
static int cache_redirect_target(const char *s, size_t len,
				 struct cache_redirect *r)
{
	const char *sp = memchr(s, ' ', len), *colon = NULL, *p;
	uint64_t v;
	size_t hlen;

	if (sp == NULL ||
	    num_parse_u64(s, (size_t)(sp - s), CACHE_SLOTS - 1, &v) != NUM_OK)
		return -1;
	r->slot = (uint16_t)v;
	for (p = sp + 1; p < s + len; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return -1;
		if (*p == ':')
			colon = p;
	}
	if (colon == NULL ||
	    num_parse_u64(colon + 1, (size_t)(s + len - colon - 1), 65535,
			  &v) != NUM_OK || v == 0)
		return -1;
	r->port = (uint16_t)v;
	hlen = (size_t)(colon - sp - 1);
	if (hlen > CACHE_REDIRECT_HOST_MAX || memchr(sp + 1, '[', hlen) != NULL ||
	    memchr(sp + 1, ']', hlen) != NULL)
		return -1;
	memcpy(r->host, sp + 1, hlen);
	r->host[hlen] = '\0';
	return 0;
}

const char *cache_redirect_name(enum cache_redirect_kind kind)
{
	static const char *const names[] = {
		"none", "moved", "ask", "tryagain", "clusterdown",
	};
	_Static_assert(sizeof(names) / sizeof(names[0]) ==
		       CACHE_REDIRECT_CLUSTERDOWN + 1, "a name per kind");

	return (unsigned int)kind < sizeof(names) / sizeof(names[0]) ?
		names[kind] : "?";
}

static bool cache_redirect_word(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && memcmp(s, word, n) == 0 &&
		(len == n || s[n] == ' ');
}

int cache_redirect_parse(const char *s, size_t len, struct cache_redirect *r)
{
	memset(r, 0, sizeof(*r));
	if (cache_redirect_word(s, len, "TRYAGAIN")) {
		r->kind = CACHE_REDIRECT_TRYAGAIN;
	} else if (cache_redirect_word(s, len, "CLUSTERDOWN")) {
		r->kind = CACHE_REDIRECT_CLUSTERDOWN;
	} else if (cache_redirect_word(s, len, "MOVED") ||
		   cache_redirect_word(s, len, "ASK")) {
		size_t skip = s[0] == 'M' ? 6 : 4;

		r->kind = s[0] == 'M' ? CACHE_REDIRECT_MOVED :
			CACHE_REDIRECT_ASK;
		if (len <= skip || cache_redirect_target(s + skip, len - skip,
							 r) < 0) {
			memset(r, 0, sizeof(*r));
			return -1;
		}
	}
	return 0;
}
