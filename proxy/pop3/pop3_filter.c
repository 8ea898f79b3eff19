/* RETR/TOP output filter; contracts in pop3_filter.h. */

#include "pop3_filter.h"

#include <string.h>

void pop3_filter_init(struct pop3_filter *f)
{
	f->line_start = true;
	f->prev_cr = false;
	f->limited = false;
	f->lines_left = 0;
	f->octets = 0;
	f->wire_octets = 0;
}

void pop3_filter_limit_lines(struct pop3_filter *f, uint64_t lines)
{
	f->limited = true;
	f->lines_left = lines;
}

bool pop3_filter_limit_reached(const struct pop3_filter *f)
{
	return f->limited && f->lines_left == 0;
}

/*
 * Works a line at a time: memchr finds the next LF and the run before it
 * is copied in one go, so a 10 MB body costs one memchr and one memcpy per
 * line rather than a branch per octet. Only line starts and line ends need
 * a decision.
 */
size_t pop3_filter_run(struct pop3_filter *f, const unsigned char *in,
		       size_t in_len, unsigned char *out)
{
	const unsigned char *p = in, *end = in + in_len;
	unsigned char *o = out;
	size_t stuffed = 0, written;

	while (p < end && !pop3_filter_limit_reached(f)) {
		const unsigned char *lf;
		size_t run;
		bool cr_before_lf;

		if (f->line_start) {
			if (*p == '.') {
				*o++ = '.';
				stuffed++;
			}
			f->line_start = false;
		}

		lf = memchr(p, '\n', (size_t)(end - p));
		if (lf == NULL) {
			run = (size_t)(end - p);
			memcpy(o, p, run);
			o += run;
			/* A CR ending the fragment may be the first half of
			   a CRLF split across fragments; it is out already,
			   so the LF must not get another one. */
			f->prev_cr = p[run - 1] == '\r';
			break;
		}

		run = (size_t)(lf - p);
		memcpy(o, p, run);
		o += run;
		cr_before_lf = run > 0 ? p[run - 1] == '\r' : f->prev_cr;
		if (!cr_before_lf)
			*o++ = '\r';
		*o++ = '\n';
		p = lf + 1;
		f->prev_cr = false;
		f->line_start = true;
		if (f->limited)
			f->lines_left--;
	}

	written = (size_t)(o - out);
	f->wire_octets += written;
	f->octets += written - stuffed;
	return written;
}

size_t pop3_filter_finish(struct pop3_filter *f, unsigned char *out)
{
	unsigned char *o = out;

	/* The last line gets its line end; when the message ends in a lone
	   CR, that CR is already out, and the LF completes it (CR CR LF would
	   show the client a stray CR). */
	if (!f->line_start) {
		if (!f->prev_cr)
			*o++ = '\r';
		*o++ = '\n';
	}
	memcpy(o, ".\r\n", 3);
	o += 3;
	f->line_start = true;
	f->prev_cr = false;
	return (size_t)(o - out);
}
