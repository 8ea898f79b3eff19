#ifndef POP3_FETCH_H
#define POP3_FETCH_H

/*
 * RETR and TOP: one message streamed from the upstream through the output
 * filter (CRLF line ends, dot-stuffing, TOP's line count) to the client,
 * paced by the client: above POP3_OUT_HIGH of unsent output the upstream
 * is not read, and it goes on when the output drains.
 *
 * RETR fetches BODY[] (BODY.PEEK[] when mark_seen_on_retr is off); TOP
 * fetches BODY.PEEK[HEADER] then BODY.PEEK[TEXT] in POP3_TOP_CHUNK ranges
 * until it has its lines, and never sets \Seen. A message that breaks off
 * mid-stream is never ended with the terminating dot: the session closes,
 * so the client cannot take a partial message for a complete one.
 */

#include <stdbool.h>
#include <stdint.h>

/* TOP reads the body in ranges of this size until it has its lines. */
#define POP3_TOP_CHUNK (64 * 1024)

struct pop3_session;
struct pop3_msg;

/* Runs as the session's command; replies when done. */
void pop3_fetch_start(struct pop3_session *s, struct pop3_msg *msg, bool top,
		      uint64_t lines);

#endif
