#ifndef CONF_H
#define CONF_H

/*
 * popgate configuration: one INI file (inih). Loaded once at start (and on
 * reload into a fresh struct); read-only after loading.
 *
 * Every key is one row of the table in conf_keys.c: its section, the field
 * below it sets, its default, its range. The defaults are not repeated
 * here; conf_key_info() lists them, and so do the sample conf/popgate.conf,
 * popgate.conf(5) and the README (tests/packaging compares all four).
 */

#include <stdbool.h>
#include <stdint.h>

#include "conf_folders.h"
#include "conf_glob.h"
#include "conf_value.h"
#include "log.h"

/* Where the daemon and its subcommands look without -c. */
#define CONF_DEFAULT_PATH "/etc/popgate/popgate.conf"

#define CONF_MAX_LISTEN 8
#define CONF_MAX_NETWORKS 16

enum conf_tls_mode {
	CONF_TLS_IMAPS,    /* implicit TLS (port 993) */
	CONF_TLS_STARTTLS, /* plain connect, STARTTLS required (port 143) */
	CONF_TLS_NONE,     /* plaintext IMAP: loopback/test only, warned */
};

/* What QUIT does with the messages a device DELE'd. */
enum conf_retention_when {
	CONF_RETENTION_OFF,
	CONF_RETENTION_ALL_DONE,       /* all-devices-done */
};

enum conf_retention_action {
	CONF_RETENTION_TRASH,
	CONF_RETENTION_EXPUNGE,
};

enum conf_delete_action {
	CONF_DELETE_HIDE,     /* hidden for this device only */
	CONF_DELETE_HIDE_ALL, /* hidden for every POP3 device of the account */
	CONF_DELETE_TRASH,    /* moved to the upstream Trash */
	CONF_DELETE_EXPUNGE,  /* deleted upstream */
};

/* What a device seen for the first time gets. */
enum conf_new_device {
	CONF_NEW_DEVICE_ALL,  /* the whole mailbox */
	CONF_NEW_DEVICE_NEW,  /* only mail arriving from then on */
};

/* What a [device PATTERN] profile lists (proxy/pop3/profile.h). */
enum conf_show {
	CONF_SHOW_ALL,        /* every message of the mailbox */
	CONF_SHOW_UNSEEN,     /* only those without \Seen upstream at login */
};

#define CONF_MAX_PROFILES 256

/*
 * A device profile: a [device PATTERN] section, or, when none matches,
 * the one [policy] makes (pattern NULL). The three policy values are
 * those of [policy] unless the section gives its own.
 */
struct conf_profile {
	char *pattern;                     /* glob on the device name; NULL:
					      [policy] */
	char *account;                     /* glob on the address; NULL: any */
	enum conf_show show;
	unsigned int max_age_secs;         /* INTERNALDATE within; 0: any age */
	enum conf_delete_action delete_action;
	enum conf_new_device new_device_sees;
	bool mark_seen_on_retr;
	/* folders = ...: the maildrop's folders in order, each a mailbox
	   name or an RFC 6154 special-use name ("\Sent": conf_folder_special);
	   the first is the route's mailbox. NULL (folder_count 0): the
	   route's mailbox alone. */
	char **folders;
	unsigned int folder_count;
	unsigned int given;                /* conf_device.c: which keys the
					      section gave */
	unsigned int line;                 /* its section header */
};

/* Which name the upstream login uses. */
enum conf_login_name {
	CONF_LOGIN_FULL,       /* the login name as given */
	CONF_LOGIN_LOCAL_PART, /* without "@domain" */
};

/* The listing copy in Redis ([cache] share_listings). */
enum conf_share_listings {
	CONF_SHARE_LISTINGS_AUTO, /* with a Redis of one's own (url not auto) */
	CONF_SHARE_LISTINGS_YES,
	CONF_SHARE_LISTINGS_NO,
};

/* Sizes in LIST and STAT ([upstream] exact_sizes). */
enum conf_exact_sizes {
	CONF_EXACT_SIZES_AUTO, /* RFC822.SIZE until a RETR proves it wrong */
	CONF_EXACT_SIZES_YES,  /* every message counted once */
	CONF_EXACT_SIZES_NO,   /* RFC822.SIZE */
};

/* How popgate logs in upstream. */
enum conf_auth {
	CONF_AUTH_PASSWORD, /* the client's credentials, passed through */
	CONF_AUTH_OAUTH2,   /* an OAuth2 access token of the enrolled account;
			       the client logs in with its gateway password */
};

/* Where a route's OAuth2 settings come from. */
enum conf_oauth_provider {
	CONF_OAUTH_CUSTOM,    /* every endpoint given in the file */
	CONF_OAUTH_GOOGLE,    /* Gmail, Google Workspace */
	CONF_OAUTH_MICROSOFT, /* Microsoft 365, Outlook.com */
};

/* The SASL mechanism that carries the access token (RFC 7628). */
enum conf_oauth_mechanism {
	CONF_OAUTH_XOAUTH2,
	CONF_OAUTH_OAUTHBEARER,
};

/* What a login does when the legacy POP3 server cannot be read. */
enum conf_legacy_unreachable {
	CONF_LEGACY_REFUSE,   /* -ERR [SYS/TEMP]: the client tries again later */
	CONF_LEGACY_PROCEED,  /* logged; the messages get UIDLs by uidl_format */
};

/* An IMAP server: the [upstream] default, or a [route DOMAIN]. */
struct conf_upstream {
	char *domain;                      /* lower case; NULL for [upstream] */
	const char *name;                  /* "default" or the domain: logs, metrics */
	char *host;                        /* required */
	uint16_t port;                     /* given, else 993 / 143 by tls */
	enum conf_tls_mode tls;
	bool verify;
	char *ca_file;                     /* NULL: system store */
	unsigned int timeout_secs;         /* connect and each reply */
	char *mailbox;                     /* quoted when sent: any ASCII
					      without control characters */
	enum conf_login_name login_name;
	/* auth = oauth2: the provider's preset fills what the file leaves
	   empty (host, endpoints, scope); see conf_oauth_presets. */
	enum conf_auth auth;
	enum conf_oauth_provider oauth_provider;
	enum conf_oauth_mechanism oauth_mechanism;
	char *client_id;                   /* required with oauth2 */
	char *client_secret;               /* NULL: a public client */
	char *authorization_endpoint;      /* NULL: no code grant */
	char *token_endpoint;              /* required with oauth2 */
	char *device_endpoint;             /* NULL: no device grant */
	char *scope;                       /* space-separated */
	unsigned int token_timeout_secs;   /* one token endpoint request */
	unsigned int keep_idle_secs;       /* kept upstream sessions; 0: off */
	unsigned int keep_per_account;     /* of them, per account at most */
	char *uidl_format;                 /* uidl_format_parse() accepts it */
	unsigned int throttle_backoff_ms;  /* provider back-off: first; 0 off */
	unsigned int throttle_backoff_max_ms; /* ... doubled up to this */
	enum conf_exact_sizes exact_sizes;
	char *legacy_pop3;                 /* NULL, or legacy_url_parse() takes it */
	bool legacy_plaintext;             /* pop3:// without STLS allowed */
	unsigned int legacy_timeout_secs;  /* the whole import, connect to QUIT */
	enum conf_legacy_unreachable legacy_unreachable;
	bool port_set;                     /* port given in the file */
	unsigned int line;                 /* its section header, for errors */
};

#define CONF_MAX_ROUTES 4096
#define CONF_DOMAIN_MAX 180   /* a "[route ...]" header fits a line */

struct conf_listen {
	char *host;        /* numeric address or name, e.g. "127.0.0.1", "::" */
	uint16_t port;
	bool tls;          /* implicit TLS (POP3S) */
	bool proxy;        /* "proxy_protocol": every connection starts with a
			      PROXY header from one of proxy_networks */
};

/* Where plaintext USER/PASS and AUTH PLAIN are accepted without TLS. */
enum conf_plaintext_auth {
	CONF_PLAINTEXT_LOCAL,    /* only from local_networks */
	CONF_PLAINTEXT_TLS_ONLY, /* never without TLS */
	CONF_PLAINTEXT_ALWAYS,
};

struct conf {
	char *path;                        /* file it was loaded from */

	/* [server] */
	struct conf_listen listen[CONF_MAX_LISTEN];
	unsigned int listen_count;         /* listen = host:port, repeatable */
	unsigned int idle_timeout_secs;    /* RFC 1939 autologout */
	unsigned int login_timeout_secs;   /* connect to successful login */
	unsigned int max_connections;
	unsigned int max_bad_commands;     /* then disconnect */
	unsigned int max_unauthenticated;  /* connections not logged in yet */
	unsigned int max_listing_mib;      /* all sessions' message tables */
	unsigned int max_messages;         /* of one maildrop, all its folders */
	unsigned int keep_max;             /* kept upstream sessions in all */
	unsigned int prefetch_max_kib;     /* RETR fetches the next message
					      ahead up to this size; 0: off */
	unsigned int max_connections_per_ip; /* 0: no limit */
	unsigned int auth_fail_delay_ms;   /* first failure */
	unsigned int auth_fail_delay_max_ms; /* doubling stops */
	unsigned int auth_fail_window_secs; /* failures forgotten */
	unsigned int max_session_secs;
	unsigned int login_delay_secs;     /* 0: LOGIN-DELAY not used */
	unsigned int shutdown_grace_secs;  /* after SIGTERM */
	char *greeting;
	enum conf_plaintext_auth plaintext_auth;
	struct conf_cidr local_networks[CONF_MAX_NETWORKS];
	unsigned int local_network_count;
	struct conf_cidr proxy_networks[CONF_MAX_NETWORKS]; /* load balancers */
	unsigned int proxy_network_count;
	unsigned int proxy_timeout_ms;     /* to read the PROXY header */
	bool shared_limits;                /* failure counts and LOGIN-DELAY in [cache] */
	bool reuse_port;                   /* SO_REUSEPORT on the POP3 listeners */
	char *resolver;                    /* DNS server "addr[:port]" for
					      upstream names; NULL: the
					      system's (/etc/resolv.conf) */

	/* [tls] client side: STLS on listen, implicit TLS on listen_tls */
	char *tls_cert_file;               /* PEM chain; NULL: no TLS */
	char *tls_key_file;

	/* [upstream]: the default; NULL when only routes are configured */
	struct conf_upstream *upstream;
	/* [route DOMAIN] sections, sorted by domain */
	struct conf_upstream *routes;
	unsigned int route_count;

	/* [cache] the per-device state store */
	char *cache_url;                   /* "auto": a managed redis-server */
	char *cache_password;              /* NULL: none */
	char *cache_state_dir;
	char *cache_redis_server;
	unsigned int cache_timeout_ms;
	unsigned int lock_ttl_secs;        /* device lock expiry */
	unsigned int cache_max_memory_mib; /* the managed redis-server's maxmemory */
	unsigned int cache_replicas;       /* WAIT for this many before +OK */
	int share_listings;                /* enum conf_share_listings */

	/* [policy] */
	char device_separator;
	enum conf_delete_action delete_action;
	bool mark_seen_on_retr;
	enum conf_new_device new_device_sees;
	char *trash_mailbox;               /* NULL: the SPECIAL-USE \Trash; as
					      mailbox above */

	/* [device PATTERN] sections in file order (first match wins), and
	   the profile of devices none matches, made from [policy] */
	struct conf_profile *profiles;
	unsigned int profile_count;
	struct conf_profile policy_profile;

	/* [retention] (proxy/pop3/retention.h) */
	enum conf_retention_when retention_when;
	enum conf_retention_action retention_action;
	unsigned int retention_min_age_secs;      /* 0: any age */
	unsigned int retention_forget_after_secs; /* 0: devices never stop counting */
	bool retention_dry_run;
	unsigned int retention_max_messages;      /* per pass */
	unsigned int retention_max_time_ms;       /* per pass, before removal starts */

	/* [log] */
	enum log_target log_target;
	enum log_level log_level;
	char *log_ident;
	int log_facility;                  /* a syslog LOG_* facility */

	/* [process] */
	bool daemon;                       /* false: foreground */
	char *pid_file;                    /* NULL: none */
	char *user;                        /* NULL: keep the starting user */
	char *group;                       /* NULL: the user's primary group */

	/* [metrics] */
	char *metrics_host;                /* NULL: no metrics endpoint */
	uint16_t metrics_port;
	unsigned int metrics_max_connections;    /* open at once; more get 503 */
	unsigned int metrics_request_timeout_ms; /* accept (or last reply) to a
						    complete request */

	/* [enrol] the OAuth2 enrolment page */
	char *enrol_host;                  /* NULL: no enrolment page */
	uint16_t enrol_port;
	char *enrol_url;                   /* the page's address as browsers
					      see it; NULL: from listen */
	unsigned int enrol_max_connections;    /* open at once; more get 503 */
	unsigned int enrol_request_timeout_ms; /* accept (or last reply) to a
						  complete request */
};

/*
 * Loads and validates the file. Returns 0 and *conf_r, or -1 with a
 * message "<file>:<line>: <what>" (or "<file>: <what>") in *error_r, which
 * the caller frees with free(). Unknown sections or keys are errors.
 */
int conf_load(const char *path, struct conf **conf_r, char **error_r);

/* conf_load with flags: CONF_LOAD_NO_UPSTREAM_OK accepts a file without
   [upstream] and routes (popgate setup, which adds one; the daemon
   refuses such a file). */
#define CONF_LOAD_NO_UPSTREAM_OK 1u
int conf_load_flags(const char *path, unsigned int flags, struct conf **conf_r,
		    char **error_r);

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

/*
 * The profile of a device: the first [device PATTERN] whose pattern
 * matches the device name and whose account pattern (if any) matches the
 * address (address_len octets: the login name without the device), both
 * case-insensitive; else conf->policy_profile. Never NULL.
 */
const struct conf_profile *conf_profile_find(const struct conf *conf, const char *device,
					     const char *address, size_t address_len);

/* Index of an upstream of conf: 0 for the default, 1 + i for routes[i]. */
unsigned int conf_upstream_index(const struct conf *conf, const struct conf_upstream *up);

/*
 * The word the file uses for a value ("hide-all", "starttls", "debug",
 * "local3"), for logs and messages, so that no module keeps a copy of the
 * names; "?" for a value that is none of the enum's. Static strings.
 */
const char *conf_tls_mode_name(enum conf_tls_mode mode);
const char *conf_delete_action_name(enum conf_delete_action action);
const char *conf_new_device_name(enum conf_new_device sees);
const char *conf_show_name(enum conf_show show);
const char *conf_login_name_name(enum conf_login_name login);
const char *conf_auth_name(enum conf_auth auth);
const char *conf_oauth_provider_name(enum conf_oauth_provider provider);
const char *conf_oauth_mechanism_name(enum conf_oauth_mechanism mech);
const char *conf_plaintext_auth_name(enum conf_plaintext_auth auth);
const char *conf_log_target_name(enum log_target target);
const char *conf_log_level_name(enum log_level level);
const char *conf_log_facility_name(int facility);   /* a syslog LOG_* value */

/* Whether logins read and write the listing copy in Redis: [cache]
   share_listings = yes, or auto with a url other than auto (a Redis the
   gateways share, sized for it; the managed one is not). */
bool conf_shares_listings(const struct conf *conf);

/* One key of the file, as the table in conf_keys.c has it. Static strings. */
struct conf_key_info {
	const char *section;  /* "server", "upstream", ... */
	const char *name;
	const char *type;     /* "bool", "number", "duration", "milliseconds",
				 "string", "enum", "character", "port", "custom" */
	const char *def;      /* the default as written in the file ("10m",
				 "" for an empty value: none); NULL: none,
				 see required and implied */
	const char *min, *max; /* the range as written in the file; of a
				  string: its length. NULL: none */
	bool route;           /* also a key of every [route DOMAIN] */
	bool repeatable;
	bool required;        /* the section needs it (host) */
	bool implied;         /* follows from other keys (port from tls) */
};

/* The i-th key (from 0) into *info_r; false past the last. */
bool conf_key_info(size_t i, struct conf_key_info *info_r);

#endif
