/* The subcommand table; contracts in tools.h. */

#include "tools.h"
#include "account.h"

#include <string.h>

#include "device_tool.h"
#include "setup.h"

/* One row per subcommand, in the order --help lists them. */
static const struct popgate_tool popgate_tools[] = {
	{ "setup", "ADDRESS [-c FILE] [--password-file FILE] [--ca-file FILE] "
	  "[--provider NAME] [--providers FILE] [--timeout SECS]",
	  "find ADDRESS's IMAP server, check the login, write it into the "
	  "configuration, print the POP3 client settings", setup_main },
	{ "account", "[-c FILE] add|list|remove|password [ADDRESS]",
	  "enrol OAuth2 accounts (auth = oauth2 routes) and set their gateway passwords",
	  popgate_account_main },
	{ "device", "list ADDRESS | show|reset|forget|unlock ADDRESS#DEVICE [-c FILE] [--json] "
	  "[--force]", "show a mailbox's POP3 devices, or reset, forget or unlock one",
	  device_main },
	{ "uidl", "import --from-file FILE | import --route DOMAIN --user ADDRESS "
	  "[--password-file FILE] | show ADDRESS [-c CONFIG]",
	  "import a legacy POP3 server's UIDLs (from a dump, or from the server); "
	  "show an account's UIDLs",
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
