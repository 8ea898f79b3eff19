/* Sentinel's +switch-master message; see cache_sentinel_msg.h. */

#include "cache_sentinel_msg.h"
#include "num.h"

#include <string.h>

#define CACHE_SENTINEL_HOST_MAX 253

bool cache_sentinel_parse_switch(const char *payload, size_t len,
				 const char *master, char *host, size_t size,
				 uint16_t *port_r)
{
	const char *f[5];
	size_t flen[5], i = 0, k;
	uint64_t port;

	for (k = 0; k < 5; k++) {
		while (i < len && payload[i] == ' ')
			i++;
		f[k] = payload + i;
		while (i < len && payload[i] != ' ')
			i++;
		flen[k] = (size_t)(payload + i - f[k]);
		if (flen[k] == 0)
			return false;
	}
	while (i < len && payload[i] == ' ')
		i++;
	if (i != len || flen[0] != strlen(master) ||
	    memcmp(f[0], master, flen[0]) != 0 || flen[3] >= size ||
	    flen[3] > CACHE_SENTINEL_HOST_MAX ||
	    num_parse_u64(f[4], flen[4], 65535, &port) != NUM_OK || port == 0)
		return false;
	for (k = 0; k < flen[3]; k++) {
		unsigned char ch = (unsigned char)f[3][k];

		if (ch <= 0x20 || ch >= 0x7f)
			return false;
	}
	memcpy(host, f[3], flen[3]);
	host[flen[3]] = '\0';
	*port_r = (uint16_t)port;
	return true;
}
