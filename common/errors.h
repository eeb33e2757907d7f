/* Wire error codes of PROTOCOL.md section 7: one table gives the enum, the
 * wire name and the HTTP status, so the three can never drift apart. */
#ifndef PD_ERRORS_H
#define PD_ERRORS_H

/* X(ENUM, wire name, HTTP status) */
#define PD_ERROR_TABLE(X)                         \
    X(PD_E_BAD_REQUEST, "bad_request", 400)       \
    X(PD_E_UNAUTHORIZED, "unauthorized", 401)     \
    X(PD_E_FORBIDDEN, "forbidden", 403)           \
    X(PD_E_NOT_FOUND, "not_found", 404)           \
    X(PD_E_SESSION_EXPIRED, "session_expired", 410) \
    X(PD_E_CONFLICT, "conflict", 409)             \
    X(PD_E_RATE_LIMITED, "rate_limited", 429)     \
    X(PD_E_TOO_LARGE, "too_large", 413)           \
    X(PD_E_INTERNAL, "internal", 500)

enum pd_err {
    PD_OK = 0,
#define PD_X(e, name, http) e,
    PD_ERROR_TABLE(PD_X)
#undef PD_X
    PD_E__COUNT
};

/* Wire name ("forbidden"), or "unknown" for a value outside the table. */
const char *pd_err_name(enum pd_err e);
/* HTTP status for the REST routes. */
int pd_err_http_status(enum pd_err e);
/* Parse a wire name; returns PD_E__COUNT when it is not one. */
enum pd_err pd_err_from_name(const char *name);

#endif
