/* conf/providers.conf built in: the assembler copies the file's bytes, so
   the table stays one data file (the Makefile makes this object depend
   on it). Paths are relative to the top of the tree, where make runs. */

#include "providers_data.h"

__asm__(".section .rodata\n"
	".global popgate_providers_text\n"
	".type popgate_providers_text, @object\n"
	"popgate_providers_text:\n"
	".incbin \"conf/providers.conf\"\n"
	".global popgate_providers_end\n"
	"popgate_providers_end:\n"
	".byte 0\n"
	".previous\n");

extern const char popgate_providers_text[];
extern const char popgate_providers_end[];

const char *providers_builtin(size_t *len_r)
{
	*len_r = (size_t)(popgate_providers_end - popgate_providers_text);
	return popgate_providers_text;
}
