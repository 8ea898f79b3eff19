#ifndef SETTINGS_H
#define SETTINGS_H

/*
 * One generation of configuration: the parsed file and what is built from
 * it (TLS contexts). Sessions hold a reference to the generation they
 * started with, so a reload (SIGHUP) changes only new sessions; the old
 * generation is freed with its last session.
 */

#include "conf.h"

struct tls_client_ctx;
struct tls_server_ctx;

struct settings {
	unsigned int refs;
	unsigned int generation;            /* 1 at start, +1 per reload */
	struct conf *conf;                  /* owned */
	struct tls_server_ctx *client_tls;  /* POP3S/STLS, or NULL: none */
	/* Per upstream (conf_upstream_index()): the TLS context, NULL for
	   tls = none. Upstreams with the same verify/ca_file share one. */
	struct tls_client_ctx **upstream_tls;
	struct tls_client_ctx **tls_owned;  /* the distinct ones, freed once */
	unsigned int tls_owned_count;
};

/* Builds a generation from conf (taken over, also on failure). Returns
   NULL with a malloc'd reason in *error_r. Warnings (tls = none, verify
   = no) are logged. */
struct settings *settings_new(struct conf *conf, unsigned int generation, char **error_r);
struct settings *settings_ref(struct settings *set);
void settings_unref(struct settings **set);

/* The TLS context for an upstream of set->conf. */
struct tls_client_ctx *settings_upstream_tls(const struct settings *set,
					     const struct conf_upstream *up);

#endif
