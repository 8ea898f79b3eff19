#ifndef SETUP_PRINT_H
#define SETUP_PRINT_H

/* What popgate setup prints at the end: for one address, the POP3
   settings of Outlook, Thunderbird, fetchmail, Apple Mail and a phone,
   from the gateway's listen addresses in conf. */

#include <stdio.h>

#include "conf.h"

void setup_print_clients(FILE *out, const struct conf *conf, const char *address);

#endif
