#include "settings.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tls.h"

static void settings_free(struct settings *set)
{
	for (unsigned int i = 0; i < set->tls_owned_count; i++)
		tls_client_ctx_free(&set->tls_owned[i]);
	free(set->tls_owned);
	free(set->upstream_tls);
	tls_server_ctx_free(&set->client_tls);
	conf_free(&set->conf);
	free(set);
}

static const struct conf_upstream *settings_upstream(const struct conf *conf, unsigned int i)
{
	return i == 0 ? conf->upstream : &conf->routes[i - 1];
}

/* One context per distinct (verify, ca_file): each loads a CA store. */
static int settings_upstream_ctx(struct settings *set, unsigned int index, char **error_r)
{
	const struct conf *conf = set->conf;
	const struct conf_upstream *up = settings_upstream(conf, index);

	if (up == NULL)
		return 0;
	if (up->tls == CONF_TLS_NONE) {
		log_warn("event=config_warning route=%s upstream=%s:%u "
			 "warning=\"tls = none: passwords cross the network in clear\"",
			 up->name, up->host, up->port);
		/* The legacy POP3 server may still speak TLS. */
		if (up->legacy_pop3 == NULL)
			return 0;
	}
	if (up->legacy_pop3 != NULL && up->legacy_plaintext)
		log_warn("event=config_warning route=%s legacy_pop3=%s warning=\"legacy_plaintext "
			 "= yes: the legacy server may get passwords in clear\"", up->name,
			 up->legacy_pop3);
	if (!up->verify)
		log_warn("event=config_warning route=%s upstream=%s:%u "
			 "warning=\"verify = no: certificates are not checked\"",
			 up->name, up->host, up->port);
	for (unsigned int j = 0; j < index; j++) {
		const struct conf_upstream *other = settings_upstream(conf, j);

		if (other != NULL && set->upstream_tls[j] != NULL &&
		    other->verify == up->verify &&
		    (other->ca_file == NULL) == (up->ca_file == NULL) &&
		    (up->ca_file == NULL || strcmp(other->ca_file, up->ca_file) == 0)) {
			set->upstream_tls[index] = set->upstream_tls[j];
			return 0;
		}
	}
	set->upstream_tls[index] = tls_client_ctx_new(up->verify, up->ca_file, error_r);
	if (set->upstream_tls[index] == NULL)
		return -1;
	set->tls_owned[set->tls_owned_count++] = set->upstream_tls[index];
	return 0;
}

struct settings *settings_new(struct conf *conf, unsigned int generation, char **error_r)
{
	struct settings *set = calloc(1, sizeof(*set));
	unsigned int n = 1 + conf->route_count;

	*error_r = NULL;
	if (set == NULL) {
		conf_free(&conf);
		*error_r = strdup("out of memory");
		return NULL;
	}
	set->refs = 1;
	set->generation = generation;
	set->conf = conf;
	set->upstream_tls = calloc(n, sizeof(*set->upstream_tls));
	set->tls_owned = calloc(n, sizeof(*set->tls_owned));
	if (set->upstream_tls == NULL || set->tls_owned == NULL) {
		*error_r = strdup("out of memory");
		goto fail;
	}
	if (conf->tls_cert_file != NULL) {
		set->client_tls = tls_server_ctx_new(conf->tls_cert_file, conf->tls_key_file,
						     error_r);
		if (set->client_tls == NULL)
			goto fail;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (settings_upstream_ctx(set, i, error_r) < 0)
			goto fail;
	}
	return set;
fail:
	if (*error_r == NULL)
		*error_r = strdup("out of memory");
	settings_free(set);
	return NULL;
}

struct settings *settings_ref(struct settings *set)
{
	set->refs++;
	return set;
}

void settings_unref(struct settings **set_p)
{
	struct settings *set = *set_p;

	if (set == NULL)
		return;
	*set_p = NULL;
	if (--set->refs == 0)
		settings_free(set);
}

struct tls_client_ctx *settings_upstream_tls(const struct settings *set,
					     const struct conf_upstream *up)
{
	return set->upstream_tls[conf_upstream_index(set->conf, up)];
}
