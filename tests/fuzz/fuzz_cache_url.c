/*
 * libFuzzer harness for the cache url parser.
 *
 * Input: the setting, cut at the first NUL. A refused url leaves an error
 * and an all-zero result; an accepted one has terminated, kind-consistent
 * fields, prints back (password %XX-encoded) to a url that parses to the
 * same result, and its log description does not depend on the password.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <strings.h>

#include "cache_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_cache_url: %s: '%s'\n", what, s);
	abort();
}

static void fuzz_terminated(const char *field, size_t size, const char *s)
{
	if (memchr(field, '\0', size) == NULL)
		fuzz_fail("field not terminated", s);
}

/* Every byte as %XX. */
static void fuzz_encode(char *out, const char *in)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *in != '\0'; in++) {
		*out++ = '%';
		*out++ = hex[(unsigned char)*in >> 4];
		*out++ = hex[(unsigned char)*in & 15];
	}
	*out = '\0';
}

/* "[user:pass@]host:port,host:port..." of a sentinel or cluster url. */
static void fuzz_nodes(char *out, size_t size, const struct cache_url *url,
		       const char *user, const char *pass)
{
	size_t pos;
	unsigned int i;

	snprintf(out, size, "%s%s%s%s", url->password[0] != '\0' ? user : "",
		 url->password[0] != '\0' ? ":" : "",
		 url->password[0] != '\0' ? pass : "",
		 url->password[0] != '\0' ? "@" : "");
	for (i = 0; i < url->node_count; i++) {
		const struct cache_url_node *n = &url->nodes[i];
		bool v6 = strchr(n->host, ':') != NULL;

		pos = strlen(out);
		snprintf(out + pos, size - pos, "%s%s%s%s:%u", i > 0 ? "," : "",
			 v6 ? "[" : "", n->host, v6 ? "]" : "", n->port);
	}
}

static void fuzz_round_trip(const struct cache_url *url, const char *s)
{
	static char again[3 * (CACHE_URL_USER_MAX + 2 * CACHE_URL_PASSWORD_MAX) +
			  CACHE_URL_NODES_MAX * (CACHE_URL_HOST_MAX + 10) +
			  CACHE_URL_PATH_MAX + 128];
	static char nodes[sizeof(again)];
	static char user[3 * CACHE_URL_USER_MAX + 1];
	static char pass[3 * CACHE_URL_PASSWORD_MAX + 1];
	static char spass[3 * CACHE_URL_PASSWORD_MAX + 1];
	struct cache_url url2;
	const char *error = NULL;

	switch (url->kind) {
	case CACHE_URL_AUTO:
		snprintf(again, sizeof(again), "auto");
		break;
	case CACHE_URL_TCP:
		fuzz_encode(user, url->user);
		fuzz_encode(pass, url->password);
		snprintf(again, sizeof(again), "redis://%s%s%s%s%s%s%s:%u/%u",
			 url->password[0] != '\0' ? user : "",
			 url->password[0] != '\0' ? ":" : "",
			 url->password[0] != '\0' ? pass : "",
			 url->password[0] != '\0' ? "@" : "",
			 strchr(url->host, ':') != NULL ? "[" : "", url->host,
			 strchr(url->host, ':') != NULL ? "]" : "", url->port,
			 url->db);
		break;
	case CACHE_URL_UNIX:
		snprintf(again, sizeof(again), "unix:%s?db=%u", url->path,
			 url->db);
		break;
	case CACHE_URL_SENTINEL:
		fuzz_encode(user, url->user);
		fuzz_encode(pass, url->password);
		fuzz_encode(spass, url->sentinel_password);
		fuzz_nodes(nodes, sizeof(nodes), url, user, pass);
		snprintf(again, sizeof(again),
			 "redis-sentinel://%s/%s?db=%u%s%s", nodes, url->master,
			 url->db, url->sentinel_password[0] != '\0' ?
			 "&sentinel_password=" : "", spass);
		break;
	case CACHE_URL_CLUSTER:
		fuzz_encode(user, url->user);
		fuzz_encode(pass, url->password);
		fuzz_nodes(nodes, sizeof(nodes), url, user, pass);
		snprintf(again, sizeof(again), "redis-cluster://%s", nodes);
		break;
	}
	if (cache_url_parse(again, &url2, &error) != 0)
		fuzz_fail("round trip refused", s);
	if (memcmp(url, &url2, sizeof(url2)) != 0)
		fuzz_fail("round trip differs", s);
}

static void fuzz_describe(const struct cache_url *url, const char *s)
{
	struct cache_url nopass = *url;
	char a[400], b[400], small[7];

	memset(nopass.password, 0, sizeof(nopass.password));
	memset(nopass.sentinel_password, 0, sizeof(nopass.sentinel_password));
	cache_url_describe(url, a, sizeof(a));
	cache_url_describe(&nopass, b, sizeof(b));
	if (strcmp(a, b) != 0)
		fuzz_fail("description shows the password", s);
	memset(small, 'Z', sizeof(small));
	cache_url_describe(url, small, 5);
	if (strlen(small) > 4 || small[5] != 'Z')
		fuzz_fail("description overflows", s);
}

static void fuzz_check(const struct cache_url *url, const char *s)
{
	fuzz_terminated(url->host, sizeof(url->host), s);
	fuzz_terminated(url->path, sizeof(url->path), s);
	fuzz_terminated(url->user, sizeof(url->user), s);
	fuzz_terminated(url->password, sizeof(url->password), s);
	fuzz_terminated(url->master, sizeof(url->master), s);
	fuzz_terminated(url->sentinel_password, sizeof(url->sentinel_password), s);
	for (unsigned int i = 0; i < CACHE_URL_NODES_MAX; i++)
		fuzz_terminated(url->nodes[i].host, sizeof(url->nodes[i].host), s);
	if (url->kind != CACHE_URL_SENTINEL && url->kind != CACHE_URL_CLUSTER &&
	    url->node_count != 0)
		fuzz_fail("nodes of a single-server url", s);
	if (url->db > CACHE_URL_DB_MAX)
		fuzz_fail("db out of range", s);
	if (url->user[0] != '\0' && url->password[0] == '\0')
		fuzz_fail("user without password", s);
	switch (url->kind) {
	case CACHE_URL_AUTO:
		if (strcasecmp(s, "auto") != 0)
			fuzz_fail("auto from something else", s);
		break;
	case CACHE_URL_TCP:
		if (url->host[0] == '\0' || url->port == 0 ||
		    url->path[0] != '\0')
			fuzz_fail("bad tcp result", s);
		if (strpbrk(url->host, " /@?#%[]_") != NULL)
			fuzz_fail("odd character in host", s);
		break;
	case CACHE_URL_UNIX:
		if (url->path[0] != '/' || url->path[1] == '\0' ||
		    strchr(url->path, '?') != NULL || url->host[0] != '\0' ||
		    url->password[0] != '\0')
			fuzz_fail("bad unix result", s);
		for (const char *p = url->path; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				fuzz_fail("control character in path", s);
		}
		break;
	case CACHE_URL_SENTINEL:
	case CACHE_URL_CLUSTER:
		if (url->node_count == 0 || url->node_count > CACHE_URL_NODES_MAX ||
		    url->host[0] != '\0' || url->path[0] != '\0')
			fuzz_fail("bad node list", s);
		for (unsigned int i = 0; i < url->node_count; i++) {
			if (url->nodes[i].host[0] == '\0' ||
			    url->nodes[i].port == 0 ||
			    strpbrk(url->nodes[i].host, " /@?#%[],_") != NULL)
				fuzz_fail("bad node", s);
		}
		if ((url->kind == CACHE_URL_SENTINEL) != (url->master[0] != '\0'))
			fuzz_fail("master name and kind disagree", s);
		if (strspn(url->master, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
			   "KLMNOPQRSTUVWXYZ0123456789._-") != strlen(url->master))
			fuzz_fail("odd character in master name", s);
		if (url->kind == CACHE_URL_CLUSTER &&
		    (url->db != 0 || url->sentinel_password[0] != '\0'))
			fuzz_fail("cluster with db or sentinel password", s);
		break;
	default:
		fuzz_fail("bad kind", s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cache_url zero;
	struct cache_url url;
	const char *error = NULL;
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&url, 0x5a, sizeof(url));
	if (cache_url_parse(s, &url, &error) < 0) {
		if (error == NULL)
			fuzz_fail("no error", s);
		if (memcmp(&url, &zero, sizeof(url)) != 0)
			fuzz_fail("refused but not wiped", s);
	} else {
		fuzz_check(&url, s);
		fuzz_round_trip(&url, s);
		fuzz_describe(&url, s);
	}
	free(s);
	return 0;
}
