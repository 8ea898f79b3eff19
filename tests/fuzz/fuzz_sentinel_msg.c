/*
 * libFuzzer harness for Sentinel's +switch-master payload parser.
 *
 * Input: a master name (up to the first '\n') and the payload (the rest,
 * exactly its bytes). An accepted payload names that master, gives a
 * printable host without space that fits, and a port; printed back it
 * parses to the same host and port.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_sentinel_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char master[65], host[254], host2[254], again[600];
	size_t mlen, plen;
	uint16_t port, port2;
	char *payload;

	if (nl == NULL || (size_t)(nl - data) >= sizeof(master))
		return 0;
	mlen = (size_t)(nl - data);
	memcpy(master, data, mlen);
	master[mlen] = '\0';
	plen = size - mlen - 1;
	payload = malloc(plen > 0 ? plen : 1);
	if (payload == NULL)
		return 0;
	memcpy(payload, nl + 1, plen);
	if (cache_sentinel_parse_switch(payload, plen, master, host, sizeof(host),
					&port)) {
		if (memchr(host, '\0', sizeof(host)) == NULL || host[0] == '\0' ||
		    strchr(host, ' ') != NULL || port == 0 || strchr(master, ' '))
			abort();
		for (const char *p = host; *p != '\0'; p++) {
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
				abort();
		}
		snprintf(again, sizeof(again), "%s x 1 %s %u", master, host, port);
		if (!cache_sentinel_parse_switch(again, strlen(again), master,
						 host2, sizeof(host2), &port2) ||
		    strcmp(host, host2) != 0 || port != port2)
			abort();
	}
	free(payload);
	return 0;
}
