/* The pure checks of the WebSocket upgrade request (PROTOCOL.md 1.1, 1.2):
 * the origin rule, the RFC 6455 request headers and where the token comes
 * from. No MHD, no I/O, no allocation: http.c looks the headers up and
 * calls these, and tests/fuzz/fuzz_upgrade.c feeds them arbitrary bytes. */
#ifndef PD_UPGRADE_H
#define PD_UPGRADE_H

#include <stdbool.h>

#include "wsproto.h"

/* NULL when a request with this Origin header (NULL: none) and Host header
 * (NULL: none) may upgrade under the configured allowlist (NULL: the
 * same-host rule, "*": any), else why not, as a phrase to follow the
 * origin in a message ("is not on the allowed list"). */
const char *pd_origin_check(const char *origins, const char *origin, const char *host);

/* True when the comma-separated header value (NULL: absent) holds token,
 * compared without regard to case ("keep-alive, Upgrade" has "upgrade"). */
bool pd_header_has_token(const char *value, const char *token);

/* The JWT of the request: from "Authorization: Bearer <jwt>" (authorization
 * is that header's value, NULL when absent), else the ?token= query
 * parameter (query_token, NULL when absent). Points into one of the two;
 * NULL or "" when neither carries one. */
const char *pd_token_from_request(const char *authorization, const char *query_token);

/* RFC 6455 4.2.1: what is wrong with the upgrade headers, if anything. */
enum pd_ws_req {
    PD_WS_REQ_OK,
    PD_WS_REQ_NOT_UPGRADE, /* no "Upgrade: websocket" or no "Connection: upgrade" */
    PD_WS_REQ_VERSION,     /* Sec-WebSocket-Version is not 13 */
    PD_WS_REQ_KEY,         /* Sec-WebSocket-Key missing or malformed */
};
/* Checks the four headers (each NULL when absent); on PD_WS_REQ_OK accept
 * holds the Sec-WebSocket-Accept value. */
enum pd_ws_req pd_ws_request_check(const char *upgrade, const char *connection,
                                   const char *version, const char *key,
                                   char accept[PD_WS_ACCEPT_LEN + 1]);

#endif
