#ifndef CACHE_KEY_H
#define CACHE_KEY_H

/*
 * What may name a device in the state store's keys: the one device-name
 * rule, used by the login-name parser (pop3_parse.c) and the store
 * (cache_ops.c). Pure: libc only.
 */

#include <stdbool.h>
#include <stddef.h>

/* Longest device name. */
#define CACHE_DEVICE_MAX 32

/* 1..CACHE_DEVICE_MAX of [A-Za-z0-9._-]: safe in a key, in a log line and
   in a file name, and no ':' or '}' (the key grammar's separators). */
bool cache_device_name_ok(const char *s, size_t len);

#endif
