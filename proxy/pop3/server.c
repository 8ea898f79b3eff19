/* New connections and shutdown; contracts in server.h. */

#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "commands.h"
#include "conf.h"
#include "limits_table.h"
#include "log.h"
#include "metrics.h"
#include "settings.h"
#include "tls.h"

static const struct pop3_session_hooks pop3_hooks = {
	.line = pop3_dispatch_line,
};

bool pop3_addr_in(const struct conf_cidr *nets, unsigned int count, const struct sockaddr *sa)
{
	const void *addr;
	int family = sa->sa_family;

	if (family == AF_INET)
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		return false;
	for (unsigned int i = 0; i < count; i++) {
		if (conf_cidr_match(&nets[i], family, addr))
			return true;
	}
	return false;
}

void pop3_format_addr(const struct sockaddr *sa, char *addr, size_t size, uint16_t *port_r)
{
	*port_r = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)size);
		*port_r = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		/* An IPv4 client on a dual-stack socket counts as IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], addr, (socklen_t)size);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)size);
		*port_r = ntohs(in6->sin6_port);
	} else {
		snprintf(addr, size, "unknown");
	}
}

/* IPv6 hosts usually hold a whole /64: limits count per /64. */
static void pop3_addr_key(const struct sockaddr *sa, const char *addr, char *key, size_t size)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	struct in6_addr net;
	char text[INET6_ADDRSTRLEN];

	if (sa->sa_family != AF_INET6 || IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		snprintf(key, size, "%s", addr);
		return;
	}
	net = in6->sin6_addr;
	memset(&net.s6_addr[8], 0, 8);
	inet_ntop(AF_INET6, &net, text, sizeof(text));
	snprintf(key, size, "%s/64", text);
}

/* Refuses before the greeting: counted, logged, answered, closed. */
static void pop3_session_refuse(struct pop3_session *s, enum metrics_refusal why,
				const char *reply)
{
	metrics_refused(why);
	log_warn("%s event=refused client=%s reason=%s", s->log_id, s->client_ip,
		 metrics_refusal_name(why));
	pop3_reply(s, "-ERR [SYS/TEMP] %s", reply);
	pop3_session_close_after_flush(s, metrics_refusal_name(why));
}

void pop3_session_create(struct pop3_server *srv, evutil_socket_t fd,
			 const struct sockaddr *sa, socklen_t salen, bool tls)
{
	pop3_session_create_at(srv, fd, sa, NULL, NULL, tls);
}

void pop3_session_create_at(struct pop3_server *srv, evutil_socket_t fd,
			    const struct sockaddr *sa, const struct sockaddr *local_sa,
			    const char *via, bool tls)
{
	struct settings *set = srv->settings;
	const struct conf *conf = set->conf;
	struct sockaddr_storage local;
	socklen_t local_len = sizeof(local);
	struct bufferevent *bev = NULL;
	struct pop3_session *s;

	/* Replies are small and latency-bound (the final ".\r\n" of a
	   message would otherwise wait for the client's delayed ACK). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (tls && set->client_tls != NULL)
		bev = tls_server_bufferevent(srv->base, fd, set->client_tls);
	else if (!tls)
		bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warn("event=connection_dropped reason=\"%s\"", tls ?
			 "implicit TLS without a certificate" : "out of memory");
		evutil_closesocket(fd);
		return;
	}
	s = pop3_session_new(srv, bev, tls, &pop3_hooks);
	if (s == NULL) {
		log_warn("event=connection_dropped reason=\"out of memory\"");
		return;
	}
	pop3_format_addr(sa, s->client_addr, sizeof(s->client_addr), &s->client_port);
	pop3_addr_key(sa, s->client_addr, s->addr_key, sizeof(s->addr_key));
	snprintf(s->client_ip, sizeof(s->client_ip), sa->sa_family == AF_INET6 &&
		 strchr(s->client_addr, ':') != NULL ? "[%s]:%u" : "%s:%u",
		 s->client_addr, s->client_port);
	if (local_sa != NULL)
		pop3_format_addr(local_sa, s->local_addr, sizeof(s->local_addr), &s->local_port);
	else if (getsockname(fd, (struct sockaddr *)&local, &local_len) == 0)
		pop3_format_addr((struct sockaddr *)&local, s->local_addr, sizeof(s->local_addr),
				 &s->local_port);
	s->client_local = pop3_addr_in(conf->local_networks, conf->local_network_count, sa);
	if (via != NULL)
		snprintf(s->via, sizeof(s->via), "%s", via);
	log_debug("%s event=connect client=%s%s%s", s->log_id, s->client_ip,
		  via != NULL ? " via=" : "", via != NULL ? via : "");

	if (srv->stopping) {
		pop3_session_refuse(s, METRICS_REFUSED_SHUTTING_DOWN, "Server shutting down");
		return;
	}
	if (srv->sessions > conf->max_connections) {
		pop3_session_refuse(s, METRICS_REFUSED_MAX_CONNECTIONS,
				    "Too many connections, try again later");
		return;
	}
	if (srv->unauthenticated > conf->max_unauthenticated) {
		pop3_session_refuse(s, METRICS_REFUSED_MAX_UNAUTHENTICATED,
				    "Too many connections not logged in, try again later");
		return;
	}
	if (!limits_conn_open(srv->limits, s->addr_key, conf->max_connections_per_ip)) {
		/* Under its limit: the table of addresses is full (every
		   entry has open connections, none may be evicted). */
		if (conf->max_connections_per_ip == 0 ||
		    limits_conn_count(srv->limits, s->addr_key) < conf->max_connections_per_ip)
			log_error("%s event=address_table_full", s->log_id);
		pop3_session_refuse(s, METRICS_REFUSED_MAX_PER_IP,
				    "Too many connections from your address, try again later");
		return;
	}
	s->conn_counted = true;
	pop3_reply(s, "+OK %s", conf->greeting);
}

void pop3_server_close_all(struct pop3_server *srv, const char *reason)
{
	struct pop3_session *s;

	LIST_FOREACH(s, &srv->list, link)
		pop3_session_close(s, reason);
}
