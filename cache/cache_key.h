#ifndef CACHE_KEY_H
#define CACHE_KEY_H

/*
 * The state store's names: the one device-name rule, used by the
 * login-name parser (pop3_parse.c) and the store (cache_ops.c), and the
 * account name its keys are made of. Pure: libc only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest device name. */
#define CACHE_DEVICE_MAX 32

/* 1..CACHE_DEVICE_MAX of [A-Za-z0-9._-]: safe in a key, in a log line and
   in a file name, and no ':' or '}' (the key grammar's separators). */
bool cache_device_name_ok(const char *s, size_t len);

/*
 * The account an upstream mailbox's state is stored under (the text
 * inside the Redis Cluster hash tag of every key, cache.h):
 * "<user>@<host>:<port>", plus "/<mailbox>" unless the mailbox is INBOX,
 * so two routes serving different mailboxes of one account do not share
 * device state. user and mailbox are written one-to-one as a log-safe
 * text (printable ASCII but space, '"', '\\', '{' and '}'; anything else
 * as \xNN): any name gives a valid key, and no brace can end or split
 * the hash tag. Writes a NUL-terminated name into buf (size) and returns
 * its length, or 0 when it does not fit (nothing usable in buf).
 */
size_t cache_account_name(char *buf, size_t size, const char *user, size_t user_len,
			  const char *host, uint16_t port, const char *mailbox);

#endif
