#ifndef SETUP_H
#define SETUP_H

/*
 * popgate setup ADDRESS [-c FILE] [--password-file F] [--ca-file F]
 *               [--provider NAME] [--providers FILE] [--timeout SECS]
 *
 * Finds the IMAP server of ADDRESS's domain (setup_find.h), asks the
 * password once (not echoed) or reads it from a file, proves the settings
 * by logging in (the password is not stored), writes them into the
 * configuration ([upstream] for the first account, else [route DOMAIN];
 * nothing else in the file changes) and prints the settings of the usual
 * POP3 clients. Exit status 0; 1 when no server answered, the login was
 * refused or the file could not be written (then it is unchanged); 2 for
 * a usage error; 3 when the provider needs OAuth2 (nothing written).
 */

int setup_main(int argc, char **argv);

#endif
