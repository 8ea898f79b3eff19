/* The resolver; contracts in resolver.h. */

#include "resolver.h"

#include <event2/dns.h>

struct evdns_base *resolver_new(struct event_base *base, const char *server)
{
	struct evdns_base *dns;

	if (server == NULL) {
		dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
				     EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (dns == NULL)
			dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		return dns;
	}
	dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (dns == NULL)
		return NULL;
	if (evdns_base_nameserver_ip_add(dns, server) != 0) {
		evdns_base_free(dns, 0);
		return NULL;
	}
	/* "localhost" and the machine's own names still work. */
	(void)evdns_base_load_hosts(dns, NULL);
	return dns;
}

int resolver_server(struct evdns_base *dns, struct sockaddr_storage *sa, socklen_t *len_r)
{
	int len = evdns_base_get_nameserver_addr(dns, 0, (struct sockaddr *)sa, *len_r);

	if (len <= 0 || (socklen_t)len > *len_r)
		return -1;
	*len_r = (socklen_t)len;
	return 0;
}
