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
#include <stddef.h>
#include <stdint.h>

/* TOP reads the body in ranges of this size until it has its lines. */
#define POP3_TOP_CHUNK (64 * 1024)

struct pop3_session;
struct pop3_msg;

/* Runs as the session's command; replies when done. */
void pop3_fetch_start(struct pop3_session *s, struct pop3_msg *msg, bool top,
		      uint64_t lines);

/*
 * Prefetch (prefetch_max_size > 0): as a RETR starts, the next message of
 * the listing is asked for right behind it with BODY.PEEK[] (none above
 * the size cap), and the ones after it while their listed sizes together
 * stay within 128 KB (16 at most); each RETR taking one asks for more.
 * Together they hold at most 128 KB in memory (a server that runs
 * pipelined commands at once may send them before the current RETR's
 * tagged reply; one that does not fit then is dropped rather than held
 * in front of the reply). The rest waits in the upstream connection
 * (reading pauses) until RETR of it takes it over and sets \Seen (UID
 * STORE, when mark_seen_on_retr; they are asked for with FLAGS then, and
 * one whose FLAGS came with \Seen before its body needs none). RETR of a
 * later one throws away those
 * before it; RETR or TOP of another message, or pop3_fetch_ahead_drop(),
 * drops them: the rest is read and thrown away before anything queued
 * behind it.
 *
 * pop3_fetch_ahead_drop: drops the message waiting ahead if it is m (all
 * of them when m is NULL), before DELE of it or QUIT. Called from a
 * command (not an IMAP callback) it may run the connection's callbacks
 * before it returns, and the session may be closed then.
 */
void pop3_fetch_ahead_drop(struct pop3_session *s, const struct pop3_msg *m);

#endif
