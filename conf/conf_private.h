#ifndef CONF_PRIVATE_H
#define CONF_PRIVATE_H

/* Shared by the loader (conf.c) and the key setters (conf_keys.c). */

#include <stddef.h>
#include <stdio.h>

#include "conf.h"

struct conf_ctx;

struct conf_key {
	const char *section;
	const char *name;
	bool repeatable;
	/* 0, or -1 with a static reason in *error_r */
	int (*set)(struct conf_ctx *ctx, const char *value,
		   const char **error_r);
};

struct conf_ctx {
	struct conf *conf;
	FILE *file;
	unsigned int lineno;        /* line inih is working on */
	unsigned int error_line;    /* 0: no error of ours yet */
	int route;                  /* section being read: -1 [upstream], else
				       routes[route]; -2 neither */
	unsigned int listen_tls_line; /* first listen_tls, for errors */
	unsigned int tls_file_line;   /* first [tls] file key */
	unsigned int seen_line[64]; /* per conf_keys row; 0 = not seen */
	unsigned int upstream_line; /* first [upstream] header */
	char error[320];
};

extern const struct conf_key conf_keys[];
extern const size_t conf_key_count;

#endif
