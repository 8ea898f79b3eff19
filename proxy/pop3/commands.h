#ifndef POP3_COMMANDS_H
#define POP3_COMMANDS_H

/*
 * The POP3 commands: a const table of {name, handler, states, argument
 * counts}, checked before a handler runs, and the handlers that answer at
 * once (CAPA, STAT, LIST, UIDL, DELE, RSET, NOOP, STLS); the others start
 * a flow: USER/PASS/AUTH (auth.h, then login.h), RETR/TOP (fetch.h), QUIT
 * (quit.h).
 */

#include <stddef.h>

struct pop3_session;

/* The session's line hook: parses and runs one command line. */
void pop3_dispatch_line(struct pop3_session *s, const char *line, size_t len);

#endif
