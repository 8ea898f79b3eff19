#ifndef VERSION_H
#define VERSION_H

/* popgate's version: -V, CAPA IMPLEMENTATION, the upstream ID command.
   A release also changes packaging/debian/changelog and the man pages. */
#define POPGATE_VERSION "0.1"

#endif
