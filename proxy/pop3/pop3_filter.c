/* RETR/TOP output filter; contracts in pop3_filter.h. */

#include "pop3_filter.h"

#include <string.h>

/* 16 octets compared at once (SSE2, in every x86-64): GCC and Clang
   vector types, no intrinsics header. */
#if defined(__SSE2__) && defined(__GNUC__)
#define POP3_FILTER_SIMD 1
typedef char pop3_v16 __attribute__((vector_size(16)));
#endif

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
 * With a line limit (TOP): a line at a time. memchr finds the next LF and
 * the run before it is copied in one go; only line starts and line ends
 * need a decision.
 */
static size_t pop3_filter_run_lines(struct pop3_filter *f, const unsigned char *in,
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

#ifdef POP3_FILTER_SIMD
/*
 * Without a limit (RETR): an octet needs a decision only where it is a
 * dot starting a line or an LF without a CR before it; between such
 * octets the input goes out as it is. 16 octets at a time are compared
 * with the octets one before them and copied as they are; only a block
 * with one of those in it is looked at octet by octet, from that octet
 * on. A message with CRLF line ends and no dot line costs one pass,
 * without a call per line. The octet before p is always known here: the
 * first one of a run is decided alone (the filter's state stands for the
 * one before it), and the state after any octet follows from that octet.
 */
static size_t pop3_filter_run_all(struct pop3_filter *f, const unsigned char *in,
				  size_t in_len, unsigned char *out)
{
	const unsigned char *p = in, *end = in + in_len;
	unsigned char *o = out;
	bool line_start = f->line_start, prev_cr = f->prev_cr;
	size_t stuffed = 0, written;
	const pop3_v16 lf = { '\n', '\n', '\n', '\n', '\n', '\n', '\n', '\n',
			      '\n', '\n', '\n', '\n', '\n', '\n', '\n', '\n' };
	const pop3_v16 cr = lf + ('\r' - '\n'), dot = lf + ('.' - '\n');

	while (p < end) {
		unsigned char c = *p++;

		if (line_start && c == '.') {
			*o++ = '.';
			stuffed++;
		}
		if (c == '\n' && !prev_cr)
			*o++ = '\r';
		*o++ = c;
		/* Each input octet makes two output octets at most, so a
		   16-octet store at o stays within POP3_FILTER_MAX_OUT while
		   16 input octets are left. */
		while (end - p >= 16) {
			pop3_v16 v, before;
			unsigned int due;

			memcpy(&v, p, sizeof(v));
			memcpy(&before, p - 1, sizeof(before));
			/* -1 where an octet is due: an LF with no CR before
			   it, a dot after an LF. */
			due = (unsigned int)__builtin_ia32_pmovmskb128(
				((v == lf) & (before != cr)) | ((v == dot) & (before == lf)));
			memcpy(o, &v, sizeof(v));
			if (due != 0) {
				unsigned int clean = (unsigned int)__builtin_ctz(due);

				o += clean;
				p += clean;
				break;
			}
			o += 16;
			p += 16;
		}
		line_start = p[-1] == '\n';
		prev_cr = p[-1] == '\r';
	}
	f->line_start = line_start;
	f->prev_cr = prev_cr;
	written = (size_t)(o - out);
	f->wire_octets += written;
	f->octets += written - stuffed;
	return written;
}
#endif

/* The octet at p (p > in) needs a decision: an LF without a CR before
   it, a dot after an LF. */
static bool pop3_filter_due(const unsigned char *p)
{
	return (p[0] == '\n' && p[-1] != '\r') || (p[0] == '.' && p[-1] == '\n');
}

size_t pop3_filter_clean(struct pop3_filter *f, const unsigned char *in, size_t in_len)
{
	const unsigned char *p = in + 1, *end = in + in_len;
	size_t n;

	if (f->limited || in_len == 0 || (f->line_start && in[0] == '.') ||
	    (in[0] == '\n' && !f->prev_cr))
		return 0;
#ifdef POP3_FILTER_SIMD
	{
		const pop3_v16 lf = { '\n', '\n', '\n', '\n', '\n', '\n', '\n', '\n',
				      '\n', '\n', '\n', '\n', '\n', '\n', '\n', '\n' };
		const pop3_v16 cr = lf + ('\r' - '\n'), dot = lf + ('.' - '\n');

		/* As in pop3_filter_run_all(), without the copy. */
		while (end - p >= 16) {
			pop3_v16 v, before;
			unsigned int due;

			memcpy(&v, p, sizeof(v));
			memcpy(&before, p - 1, sizeof(before));
			due = (unsigned int)__builtin_ia32_pmovmskb128(
				((v == lf) & (before != cr)) | ((v == dot) & (before == lf)));
			if (due != 0) {
				end = p + __builtin_ctz(due);
				break;
			}
			p += 16;
		}
	}
#endif
	while (p < end && !pop3_filter_due(p))
		p++;
	n = (size_t)(p - in);
	f->line_start = p[-1] == '\n';
	f->prev_cr = p[-1] == '\r';
	f->octets += n;
	f->wire_octets += n;
	return n;
}

size_t pop3_filter_run(struct pop3_filter *f, const unsigned char *in,
		       size_t in_len, unsigned char *out)
{
#ifdef POP3_FILTER_SIMD
	if (!f->limited)
		return pop3_filter_run_all(f, in, in_len, out);
#endif
	return pop3_filter_run_lines(f, in, in_len, out);
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
