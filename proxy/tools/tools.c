/* The subcommand table; contracts in tools.h. */

#include "tools.h"

#include <string.h>

#include "setup.h"

/* One row per subcommand, in the order --help lists them. */
static const struct popgate_tool popgate_tools[] = {
	{ "setup", "ADDRESS [-c FILE] [--password-file FILE] [--ca-file FILE] "
	  "[--provider NAME] [--providers FILE] [--timeout SECS]",
	  "find ADDRESS's IMAP server, check the login, write it into the "
	  "configuration, print the POP3 client settings", setup_main },
	{ "uidl", "import --from-file FILE | show ADDRESS [-c CONFIG]",
	  "import a legacy POP3 server's UIDLs from a dump; show an account's UIDLs",
	  popgate_uidl_tool },
	{ NULL, NULL, NULL, NULL },
};

const struct popgate_tool *popgate_tool_find(const char *name)
{
	for (const struct popgate_tool *t = popgate_tools; t->name != NULL; t++) {
		if (strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

void popgate_tools_usage(FILE *out)
{
	for (const struct popgate_tool *t = popgate_tools; t->name != NULL; t++)
		fprintf(out, "       popgate %s %s\n         %s\n", t->name, t->usage, t->summary);
}
