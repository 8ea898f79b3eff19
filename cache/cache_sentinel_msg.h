#ifndef CACHE_SENTINEL_MSG_H
#define CACHE_SENTINEL_MSG_H

/*
 * The Sentinel message popgate acts on, +switch-master (cache_sentinel.c).
 * Pure: libc only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The payload "<name> <old-ip> <old-port> <new-ip> <new-port>" (len
   bytes, no NUL needed; fields separated by spaces). True when name is
   master and the new address is 1..253 printable bytes without space
   with a port 1..65535: it is copied into host (size bytes, NUL
   terminated; false if it does not fit) and *port_r. */
bool cache_sentinel_parse_switch(const char *payload, size_t len,
				 const char *master, char *host, size_t size,
				 uint16_t *port_r);

#endif
