#ifndef POPGATE_ACCOUNT_H
#define POPGATE_ACCOUNT_H

/*
 * popgate account add | list | remove | password: the accounts of auth =
 * oauth2 routes, in the state store the daemon uses (a running daemon's
 * managed redis-server with cache = auto). See popgate(8).
 */

int popgate_account_main(int argc, char **argv);

#endif
