#ifndef OAUTH_JSON_H
#define OAUTH_JSON_H

/*
 * The JSON that OAuth2 endpoints and IMAP servers send (RFC 6749 5.1 and
 * 5.2, RFC 8628 3.2, RFC 7628 3.2.2), read with jansson. Bytes in, a
 * result out: no I/O. Every string taken is checked (length, characters)
 * before anyone uses it; on any error nothing is kept.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OAUTH_TOKEN_MAX 8192   /* an access or refresh token, octets */
#define OAUTH_ERROR_MAX 64     /* an "error" code we keep */

/* jansson's memory is wiped when freed (its copies of tokens and of the
   sealed record's plaintext); once at start, before any JSON is read. */
void oauth_json_init(void);

enum oauth_json_kind {
	OAUTH_JSON_OK,      /* the success reply */
	OAUTH_JSON_ERROR,   /* an RFC 6749 5.2 error reply: error[] says which */
	OAUTH_JSON_BAD,     /* neither: not JSON, a field missing or malformed */
};

/* A token endpoint reply. Strings malloc'd, freed (and wiped) by
   oauth_token_reply_clear(). */
struct oauth_token_reply {
	char *access_token;       /* b64token, 1..OAUTH_TOKEN_MAX */
	char *refresh_token;      /* NULL: none sent (keep the old one) */
	uint32_t expires_in;      /* seconds; 3600 when not sent */
	char error[OAUTH_ERROR_MAX + 1]; /* OAUTH_JSON_ERROR: "invalid_grant"... */
};

enum oauth_json_kind oauth_json_token(const char *body, size_t len,
				      struct oauth_token_reply *r);
void oauth_token_reply_clear(struct oauth_token_reply *r);

/* A device authorization reply (RFC 8628 3.2; Google says
   verification_url). Strings malloc'd; oauth_device_reply_clear(). */
struct oauth_device_reply {
	char *device_code;
	char *user_code;
	char *verification_uri;
	char *verification_uri_complete; /* NULL: not sent */
	uint32_t expires_in;             /* seconds */
	uint32_t interval;               /* seconds between polls; 5 if absent */
	char error[OAUTH_ERROR_MAX + 1];
};

enum oauth_json_kind oauth_json_device(const char *body, size_t len,
				       struct oauth_device_reply *r);
void oauth_device_reply_clear(struct oauth_device_reply *r);

/* The "status" of an IMAP server's OAuth2 error challenge
   ({"status":"401",...} from Google, {"status":"invalid_token",...} from
   others) into status (size > OAUTH_STATUS_MAX): true when it is there
   and 1..OAUTH_STATUS_MAX of [0-9a-z_]. */
#define OAUTH_STATUS_MAX 32
bool oauth_json_challenge_status(const char *json, size_t len, char *status, size_t size);

#endif
