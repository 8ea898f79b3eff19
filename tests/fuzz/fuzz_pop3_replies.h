#ifndef FUZZ_POP3_REPLIES_H
#define FUZZ_POP3_REPLIES_H

/*
 * The POP3 client of fuzz_pop3_session.c: its fixed commands and the
 * checks on every line popgate sends back (listed there). Lines are handed
 * over one at a time, CRLF taken off; a broken invariant is reported with
 * violated() and aborts.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER "alice@example.com"

#define FUZZ_NAME "fuzz_pop3_session"
#include "fuzz_check.h"

enum reply_cmd {
	CMD_USER, CMD_PASS, CMD_STAT, CMD_LIST, CMD_UIDL, CMD_RETR, CMD_TOP, CMD_DELE,
	CMD_QUIT, CMD_COUNT,
	CMD_GREETING = CMD_COUNT,   /* before the first */
};

static const char *const reply_commands[CMD_COUNT] = {
	[CMD_USER] = ("USER " USER), [CMD_PASS] = "PASS secret", [CMD_STAT] = "STAT",
	[CMD_LIST] = "LIST", [CMD_UIDL] = "UIDL", [CMD_RETR] = "RETR 1",
	[CMD_TOP] = "TOP 1 0", [CMD_DELE] = "DELE 1", [CMD_QUIT] = "QUIT",
};

struct replies {
	enum reply_cmd cmd;         /* the command being answered */
	bool waiting;               /* a reply is due */
	bool multi;                 /* inside a multi-line reply */
	bool quit_ok, quit_unknown, dele_ok;
	bool have_stat, have_list, have_retr;
	unsigned int stat_count, list_count, uidl_count;
	unsigned long long stat_octets, list_octets, list1_size, retr_size;
	char uidl1[80];             /* message 1's UIDL */
	char uidls[64][72];
};

static inline const char *replies_cmd_name(const struct replies *k)
{
	return k->cmd < CMD_COUNT ? reply_commands[k->cmd] : "the greeting";
}

static inline void replies_init(struct replies *k)
{
	memset(k, 0, sizeof(*k));
	k->cmd = CMD_GREETING;
	k->waiting = true;
}

/* The next command to send, or NULL after QUIT. */
static inline const char *replies_next(struct replies *k)
{
	k->cmd = k->cmd == CMD_GREETING ? CMD_USER : k->cmd + 1;
	k->waiting = k->cmd < CMD_COUNT;
	return k->waiting ? reply_commands[k->cmd] : NULL;
}

/* Inside a message (RETR, TOP): where a reply may break off. */
static inline bool replies_in_message(const struct replies *k)
{
	return k->multi && (k->cmd == CMD_RETR || k->cmd == CMD_TOP);
}

static inline void replies_check_status(const struct replies *k, const char *line, size_t len)
{
	CHECK(len + 2 <= 512, "status line of %zu octets: %.80s", len + 2, line);
	CHECK((len >= 3 && memcmp(line, "+OK", 3) == 0 && (len == 3 || line[3] == ' ')) ||
	      (len >= 4 && memcmp(line, "-ERR", 4) == 0 && (len == 4 || line[4] == ' ')),
	      "not a status line (to %s): %.80s", replies_cmd_name(k), line);
	CHECK(memchr(line, '\0', len) == NULL && memchr(line, '\r', len) == NULL,
	      "NUL or CR inside a status line: %.80s", line);
}

/* True when the reply is complete. */
static inline bool replies_status(struct replies *k, const char *line, size_t len)
{
	bool ok = line[0] == '+';
	unsigned long long a, b;

	replies_check_status(k, line, len);
	switch (k->cmd) {
	case CMD_STAT:
		if (ok && sscanf(line, "+OK %llu %llu", &a, &b) == 2) {
			k->have_stat = true;
			k->stat_count = (unsigned int)a;
			k->stat_octets = b;
		}
		break;
	case CMD_RETR:
		if (ok && sscanf(line, "+OK %llu octets", &a) == 1) {
			k->have_retr = true;
			k->retr_size = a;
		}
		break;
	case CMD_DELE:
		k->dele_ok = ok;
		break;
	case CMD_QUIT:
		k->quit_ok = ok;
		k->quit_unknown = strstr(line, "entirely or not at all") != NULL;
		break;
	default:
		break;
	}
	if (ok && (k->cmd == CMD_LIST || k->cmd == CMD_UIDL || k->cmd == CMD_RETR ||
		   k->cmd == CMD_TOP)) {
		k->multi = true;
		return false;
	}
	return true;
}

static inline void replies_multi_end(struct replies *k)
{
	if (k->cmd == CMD_LIST) {
		k->have_list = true;
		if (k->have_stat)
			CHECK(k->list_count == k->stat_count && k->list_octets == k->stat_octets,
			      "LIST %u/%llu, STAT %u/%llu", k->list_count, k->list_octets,
			      k->stat_count, k->stat_octets);
	} else if (k->cmd == CMD_UIDL && k->have_stat) {
		CHECK(k->uidl_count == k->stat_count, "UIDL %u lines, STAT %u", k->uidl_count,
		      k->stat_count);
	}
	k->multi = false;
}

static inline void replies_uidl(struct replies *k, const char *line, size_t len)
{
	char uidl[128];
	unsigned int n;
	int used = 0;

	CHECK(len < sizeof(uidl) && sscanf(line, "%u %127s%n", &n, uidl, &used) == 2 &&
	      (size_t)used == len && strlen(uidl) >= 1 && strlen(uidl) <= 70,
	      "bad UIDL line: %.80s", line);
	for (const char *p = uidl; *p != '\0'; p++)
		CHECK(*p >= 0x21 && *p <= 0x7e, "bad UIDL octet in: %.80s", line);
	for (unsigned int i = 0; i < k->uidl_count && i < 64; i++)
		CHECK(strcmp(k->uidls[i], uidl) != 0, "UIDL %s twice", uidl);
	if (k->uidl_count < 64)
		snprintf(k->uidls[k->uidl_count], sizeof(k->uidls[0]), "%s", uidl);
	if (n == 1)
		snprintf(k->uidl1, sizeof(k->uidl1), "%s", uidl);
	k->uidl_count++;
}

/* A line of a multi-line reply; true when the reply is complete. */
static inline bool replies_data(struct replies *k, const char *line, size_t len)
{
	unsigned long long size;
	unsigned int n;
	int used = 0;

	if (len == 1 && line[0] == '.') {
		replies_multi_end(k);
		return true;
	}
	if (replies_in_message(k)) {
		CHECK(line[0] != '.' || (len >= 2 && line[1] == '.'),
		      "an unstuffed dot line in %s: %.80s", replies_cmd_name(k), line);
		return false;
	}
	CHECK(memchr(line, '\0', len) == NULL, "NUL in a %s line", replies_cmd_name(k));
	if (k->cmd == CMD_LIST) {
		CHECK(sscanf(line, "%u %llu%n", &n, &size, &used) == 2 && (size_t)used == len,
		      "bad LIST line: %.80s", line);
		k->list_count++;
		k->list_octets += size;
		if (n == 1)
			k->list1_size = size;
		return false;
	}
	replies_uidl(k, line, len);
	return false;
}

/* One line from popgate; true when the reply to the command is complete
   (the next one may be sent). */
static inline bool replies_line(struct replies *k, const char *line, size_t len)
{
	CHECK(k->waiting, "output while no command was sent (after %s)",
	      k->cmd < CMD_COUNT ? reply_commands[k->cmd] : "QUIT");
	return k->multi ? replies_data(k, line, len) : replies_status(k, line, len);
}

/* What can be said once the session has ended. */
static inline void replies_end(const struct replies *k)
{
	if (k->have_retr && k->have_list && k->list1_size != 0)
		CHECK(k->retr_size == k->list1_size, "RETR 1 says %llu octets, LIST %llu",
		      k->retr_size, k->list1_size);
}

#endif
