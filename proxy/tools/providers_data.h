#ifndef PROVIDERS_DATA_H
#define PROVIDERS_DATA_H

/* conf/providers.conf as built into the binary (provider_table.h reads
   it). */

#include <stddef.h>

const char *providers_builtin(size_t *len_r);

#endif
