#ifndef POP3_FILTER_H
#define POP3_FILTER_H

/*
 * RETR/TOP output filter. Pure: libc only, no I/O.
 *
 * Turns message octets as they arrive from IMAP (in any fragmentation) into
 * the POP3 multi-line response body:
 *  - line ends normalised: a bare LF becomes CRLF; CRLF stays; a bare CR
 *    (not followed by LF) passes through unchanged, as IMAP servers count it
 *    as one octet in RFC822.SIZE;
 *  - dot-stuffing: a line starting with '.' gets one more '.';
 *  - optional line limit (TOP): after the limit is reached, the rest of the
 *    input is consumed and dropped.
 * The terminating ".\r\n" (preceded by CRLF when the message did not end
 * with a line end) is produced by pop3_filter_finish().
 *
 * A CR at the very end of one fragment and an LF at the start of the next
 * are handled as one CRLF.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pop3_filter {
	bool line_start;     /* next octet begins a line */
	bool prev_cr;        /* last octet seen was CR (already emitted) */
	bool limited;        /* a line limit is active */
	uint64_t lines_left; /* complete lines still to pass when limited */
	uint64_t octets;     /* octets emitted before dot-stuffing, i.e. what
				LIST/STAT count (CRLF form) */
	uint64_t wire_octets;/* octets emitted including stuffing dots */
	/* Both counters cover pop3_filter_run() output only: the CRLF and
	   ".\r\n" written by pop3_filter_finish() are not part of the message.
	   Dropped input (after a line limit) is not counted. */
};

/* Worst-case output for n input octets: every octet may double. */
#define POP3_FILTER_MAX_OUT(n) (2 * (n) + 2)

void pop3_filter_init(struct pop3_filter *f);

/* From now on pass at most `lines` more complete lines, then drop all
   input. TOP n 0 passes the header only: call with 0 before feeding the
   body. A line counts when its LF is passed. */
void pop3_filter_limit_lines(struct pop3_filter *f, uint64_t lines);

/* True when a line limit is active and has been reached (more input would
   be dropped). */
bool pop3_filter_limit_reached(const struct pop3_filter *f);

/*
 * Filters in[0..in_len) into out, which must hold at least
 * POP3_FILTER_MAX_OUT(in_len) octets. Always consumes all of in.
 * Returns the number of octets written to out.
 */
size_t pop3_filter_run(struct pop3_filter *f, const unsigned char *in,
		       size_t in_len, unsigned char *out);

/*
 * The longest start of in[0..in_len) that pop3_filter_run() would pass as
 * it is (no line end to complete, no dot to stuff), taken as it would
 * take it (state and counters) but not copied: the caller sends those
 * octets itself and hands the rest to pop3_filter_run(). 0 with a line
 * limit active, or when the first octet needs a change.
 */
size_t pop3_filter_clean(struct pop3_filter *f, const unsigned char *in, size_t in_len);

/*
 * Writes the end of the multi-line response into out (at least 5 octets):
 * CRLF if the last line was not terminated, then ".\r\n".
 * Returns the number of octets written.
 */
size_t pop3_filter_finish(struct pop3_filter *f, unsigned char *out);

#endif
