/*
 * Subcommands of the popgate binary: `popgate NAME ARGS...` (setup,
 * account, ...). Each runs to completion in the foreground and returns
 * the process's exit status; they read the same configuration file as
 * the daemon (-c FILE, parsed by the subcommand itself).
 */
#ifndef POPGATE_TOOLS_H
#define POPGATE_TOOLS_H

#include <stdio.h>

#include "conf.h"

#define POPGATE_DEFAULT_CONFIG CONF_DEFAULT_PATH

struct popgate_tool {
	const char *name;
	const char *usage;  /* the arguments, for "usage: popgate NAME ..." */
	const char *summary;
	/* argv[0] is the subcommand's name; getopt may be used from there. */
	int (*run)(int argc, char **argv);
};

/* popgate uidl ... (uidl_tool.c). */
int popgate_uidl_tool(int argc, char **argv);

/* The subcommand called name, or NULL. */
const struct popgate_tool *popgate_tool_find(const char *name);

/* One line per subcommand, for popgate --help. */
void popgate_tools_usage(FILE *out);

#endif
