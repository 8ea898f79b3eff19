/* The client settings popgate setup prints; contracts in setup_print.h. */

#include "setup_print.h"

#include <string.h>

struct setup_endpoint {
	const char *host;       /* what a client types as the server */
	unsigned int port;
	const char *security;   /* "None", "SSL/TLS", "STARTTLS" */
	bool local_only;        /* reachable from this machine only */
	bool found;
};

static bool setup_is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
		strcmp(host, "localhost") == 0;
}

static bool setup_is_wildcard(const char *host)
{
	return strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* The first plain listener and the first TLS one. */
static void setup_endpoints(const struct conf *conf, struct setup_endpoint *plain,
			    struct setup_endpoint *tls)
{
	memset(plain, 0, sizeof(*plain));
	memset(tls, 0, sizeof(*tls));
	for (unsigned int i = 0; i < conf->listen_count; i++) {
		const struct conf_listen *l = &conf->listen[i];
		struct setup_endpoint *e = l->tls ? tls : plain;

		if (e->found)
			continue;
		e->found = true;
		e->port = l->port;
		e->local_only = setup_is_loopback(l->host);
		e->host = setup_is_wildcard(l->host) ? "<this machine's name or address>" : l->host;
		e->security = l->tls ? "SSL/TLS" :
			conf->tls_cert_file != NULL && !e->local_only ? "STARTTLS" : "None";
	}
}

void setup_print_clients(FILE *out, const struct conf *conf, const char *address)
{
	struct setup_endpoint plain, tls;
	const struct setup_endpoint *pc, *phone;
	char sep = conf->device_separator;

	setup_endpoints(conf, &plain, &tls);
	/* A program on this machine takes the plain loopback listener;
	   others need one they can reach, TLS first. */
	pc = plain.found ? &plain : &tls;
	phone = tls.found && !tls.local_only ? &tls :
		plain.found && !plain.local_only && conf->tls_cert_file != NULL ? &plain : NULL;
	fprintf(out, "\nPOP3 settings for %s through this popgate (incoming mail).\n"
		"The password is the mail account's own; each device gets its own view of\n"
		"the mailbox through the \"%c\" suffix of the user name:\n\n", address, sep);
	if (!pc->found) {
		fprintf(out, "  (popgate has no listen address)\n");
		return;
	}
	fprintf(out, "  Outlook      File > Account Settings > (the account) > Change >\n"
		"               More Settings > Advanced: type POP3, incoming server %s,\n"
		"               port %u, encryption %s; user name %s%coutlook\n",
		pc->host, pc->port, pc->security, address, sep);
	fprintf(out, "  Thunderbird  Account Settings > Server Settings: type POP Mail Server,\n"
		"               server %s, port %u, connection security %s,\n"
		"               authentication Normal password; user name %s%cthunderbird\n",
		pc->host, pc->port, pc->security, address, sep);
	fprintf(out, "  fetchmail    poll %s service %u protocol pop3%s\n"
		"                 user \"%s%cfetchmail\" password \"...\" keep\n",
		pc->host, pc->port, strcmp(pc->security, "SSL/TLS") == 0 ? " ssl sslcertck" :
		strcmp(pc->security, "STARTTLS") == 0 ? " sslproto tls1.2+ sslcertck" : "",
		address, sep);
	fprintf(out, "  Apple Mail   Settings > Accounts > (the account) > Server Settings:\n"
		"               incoming POP server %s, port %u, %s;\n"
		"               user name %s%cmac, authentication Password\n",
		pc->host, pc->port, strcmp(pc->security, "None") == 0 ? "Use TLS/SSL off" :
		"Use TLS/SSL on", address, sep);
	if (phone != NULL) {
		fprintf(out, "  Phone        Add account > Other > POP3: incoming server %s,\n"
			"               port %u, security %s, user name %s%cphone\n",
			phone->host, phone->port, phone->security, address, sep);
	} else {
		fprintf(out, "  Phone        A phone cannot reach this popgate: it listens on this\n"
			"               machine only%s. Give it [tls] cert_file and key_file and\n"
			"               listen_tls = *:995 (README, \"Running an office gateway\"),\n"
			"               then: incoming server <this machine's name>, port 995,\n"
			"               security SSL/TLS, user name %s%cphone\n",
			pc->local_only ? "" : " without TLS", address, sep);
	}
	if (pc->local_only && strcmp(pc->security, "None") == 0)
		fprintf(out, "\n  (No encryption is needed on %s: the connection stays on this "
			"machine.)\n", pc->host);
}
