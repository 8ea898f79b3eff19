#ifndef CONF_H
#define CONF_H

/*
 * popgate configuration: one INI file (inih). Loaded once at start (and on
 * reload into a fresh struct); read-only after loading.
 */

#include <stdbool.h>
#include <stdint.h>

#include "conf_value.h"
#include "log.h"

#define CONF_MAX_LISTEN 8
#define CONF_MAX_NETWORKS 16

enum conf_tls_mode {
	CONF_TLS_IMAPS,    /* implicit TLS (default, port 993) */
	CONF_TLS_STARTTLS, /* plain connect, STARTTLS required (port 143) */
	CONF_TLS_NONE,     /* plaintext IMAP: loopback/test only, warned */
};

/* What QUIT does with the messages a device DELE'd. */
enum conf_delete_action {
	CONF_DELETE_HIDE,     /* hidden for this device only (default) */
	CONF_DELETE_HIDE_ALL, /* hidden for every POP3 device of the account */
	CONF_DELETE_TRASH,    /* moved to the upstream Trash */
	CONF_DELETE_EXPUNGE,  /* deleted upstream */
};

/* What a device seen for the first time gets. */
enum conf_new_device {
	CONF_NEW_DEVICE_ALL,  /* the whole mailbox (default) */
	CONF_NEW_DEVICE_NEW,  /* only mail arriving from then on */
};

/* Which name the upstream login uses. */
enum conf_login_name {
	CONF_LOGIN_FULL,       /* the login name as given (default) */
	CONF_LOGIN_LOCAL_PART, /* without "@domain" */
};

/* An IMAP server: the [upstream] default, or a [route DOMAIN]. */
struct conf_upstream {
	char *domain;                      /* lower case; NULL for [upstream] */
	const char *name;                  /* "default" or the domain: logs, metrics */
	char *host;                        /* required */
	uint16_t port;                     /* default 993 / 143 by tls */
	enum conf_tls_mode tls;            /* default imaps */
	bool verify;                       /* default yes */
	char *ca_file;                     /* NULL: system store */
	unsigned int timeout_secs;         /* default 30: connect and reply */
	char *mailbox;                     /* default "INBOX" */
	enum conf_login_name login_name;   /* default full */
	bool port_set;
	unsigned int line;                 /* its section header, for errors */
};

#define CONF_MAX_ROUTES 4096
#define CONF_DOMAIN_MAX 180   /* a "[route ...]" header fits a line */

struct conf_listen {
	char *host;        /* numeric address or name, e.g. "127.0.0.1", "::" */
	uint16_t port;
	bool tls;          /* implicit TLS (POP3S) */
};

/* Where plaintext USER/PASS and AUTH PLAIN are accepted without TLS. */
enum conf_plaintext_auth {
	CONF_PLAINTEXT_LOCAL,    /* only from local_networks (default) */
	CONF_PLAINTEXT_TLS_ONLY, /* never without TLS */
	CONF_PLAINTEXT_ALWAYS,
};

struct conf {
	char *path;                        /* file it was loaded from */

	/* [server] */
	struct conf_listen listen[CONF_MAX_LISTEN];
	unsigned int listen_count;         /* listen = host:port, repeatable */
	unsigned int idle_timeout_secs;    /* default 600 (RFC 1939) */
	unsigned int max_connections;      /* default 1000 */
	unsigned int max_bad_commands;     /* default 10: then disconnect */
	unsigned int max_connections_per_ip; /* default 50; 0: no limit */
	unsigned int auth_fail_delay_ms;   /* default 1000: first failure */
	unsigned int auth_fail_delay_max_ms; /* default 15000: doubling stops */
	unsigned int auth_fail_window_secs; /* default 900: failures forgotten */
	unsigned int max_session_secs;     /* default 7200 */
	unsigned int login_delay_secs;     /* default 0: LOGIN-DELAY not used */
	unsigned int shutdown_grace_secs;  /* default 10: after SIGTERM */
	char *greeting;                    /* default "popgate ready" */
	enum conf_plaintext_auth plaintext_auth; /* default local */
	struct conf_cidr local_networks[CONF_MAX_NETWORKS];
	unsigned int local_network_count;  /* default 127.0.0.0/8 ::1/128 */

	/* [tls] client side: STLS on listen, implicit TLS on listen_tls */
	char *tls_cert_file;               /* PEM chain; NULL: no TLS */
	char *tls_key_file;

	/* [upstream]: the default; NULL when only routes are configured */
	struct conf_upstream *upstream;
	/* [route DOMAIN] sections, sorted by domain */
	struct conf_upstream *routes;
	unsigned int route_count;

	/* [cache] the per-device state store */
	char *cache_url;                   /* default "auto" */
	char *cache_password;              /* NULL: none */
	char *cache_state_dir;             /* default "/var/lib/popgate" */
	char *cache_redis_server;          /* default "redis-server" */
	unsigned int cache_timeout_ms;     /* default 2000 */
	unsigned int lock_ttl_secs;        /* default 120: device lock expiry */

	/* [policy] */
	char device_separator;             /* default '#' */
	enum conf_delete_action delete_action;  /* default hide */
	bool mark_seen_on_retr;            /* default yes */
	enum conf_new_device new_device_sees;   /* default all */
	char *trash_mailbox;               /* NULL: the SPECIAL-USE \Trash */

	/* [log] */
	enum log_target log_target;   /* default stderr */
	enum log_level log_level;     /* default info */
	char *log_ident;                   /* default "popgate" */
	int log_facility;                  /* syslog facility, default mail */

	/* [process] */
	bool daemon;                       /* default no: foreground */
	char *pid_file;                    /* NULL: none */
	char *user;                        /* NULL: keep the starting user */
	char *group;                       /* NULL: the user's primary group */

	/* [metrics] */
	char *metrics_host;                /* NULL: no metrics endpoint */
	uint16_t metrics_port;
};

/*
 * Loads and validates the file. Returns 0 and *conf_r, or -1 with a
 * message "<file>:<line>: <what>" (or "<file>: <what>") in *error_r, which
 * the caller frees with free(). Unknown sections or keys are errors.
 */
int conf_load(const char *path, struct conf **conf_r, char **error_r);

/* Built-in defaults, without a file (tests, --check of defaults). */
struct conf *conf_new_defaults(void);

void conf_free(struct conf **conf);

/*
 * The upstream for a login name's domain (domain_len octets, any case;
 * may be 0 for a name without "@"): its route, else the default, else
 * NULL (nobody serves it).
 */
const struct conf_upstream *conf_route(const struct conf *conf, const char *domain,
				       size_t domain_len);

/* Index of an upstream of conf: 0 for the default, 1 + i for routes[i]. */
unsigned int conf_upstream_index(const struct conf *conf, const struct conf_upstream *up);

#endif
