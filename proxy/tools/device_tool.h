#ifndef DEVICE_TOOL_H
#define DEVICE_TOOL_H

/* popgate device list|show|reset|forget|unlock (proxy/tools/device.c):
   the subcommand's entry point, for the table of tools.c. Exit status 0
   done, 1 failed (unknown device or domain, state store unavailable, the
   daemon not running with url = auto), 2 usage, 3 refused: the device
   has a live session (its lock exists) and --force was not given. */
int device_main(int argc, char **argv);

#endif
