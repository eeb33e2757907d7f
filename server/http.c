/* libmicrohttpd: the REST routes (/healthz, /api/register, /api/login) and
 * the WebSocket upgrade gate of PROTOCOL.md 1.1-1.3, which runs in order
 * (rate limit, origin, JWT) before anything else and before the 101.
 *
 * MHD runs its own threads (a pool of two, so one slow scrypt in /api/login
 * does not stall every other request). Upgraded sockets leave MHD's threads
 * at once: the upgrade callback copies what it needs and hands it to the
 * loop with pd_loop_call. */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "auth.h"
#include "clock.h"
#include "conns.h"
#include "errors.h"
#include "log.h"
#include "loop.h"
#include "reqdeadline.h"
#include "monitoring.h"
#include "ratelimit.h"
#include "server.h"
#include "store.h"
#include "text.h"
#include "upgrade.h"
#include "wsproto.h"

#define BODY_MAX 4096
/* Beyond this much of an oversized body, the connection is dropped. */
#define DISCARD_MAX (1024 * 1024)
#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024
#define TOKEN_TTL_S 86400
#define USER_AGENT_MAX 256
/* MHD's per-connection pool. Under TLS MHD keeps it for the whole life of
 * an upgraded connection, all of it resident (without TLS it goes at the
 * upgrade: handoff). Smaller would save memory per request, but it also
 * bounds the request: the request line and headers, one record per header,
 * and MHD 0.9.75 copies a Cookie header to split it (one more record per
 * cookie), all before the response headers go in the same pool. With 4096
 * a 3 KB Cookie (which browsers send to /ws along with the token) gets no
 * answer at all and realistic browser cookies past about 600 bytes get
 * 431; with 8192 a 3.4 KB Cookie, or 7 KB of other headers, still upgrade,
 * and more is answered 431 (parleyd.8, tests/bats/38-conn-limit.bats). */
#define CONN_MEMORY_LIMIT 8192
/* Under TLS the pool also holds the upgrade's forwarding buffers; 0.9.75
 * stalls on large messages with small ones, so it keeps its default. */
#define CONN_MEMORY_LIMIT_TLS 32768
#define HTTP_TIMEOUT_S 10
/* The WebSocket cap (max_connections) at most, and at least (when the open
 * file limit is too low to give that many, it is what it was before). */
#define CONN_LIMIT_MAX 19000
#define CONN_LIMIT_MIN 64
/* File descriptors kept back from MHD's share: store, epoll, eventfds... */
#define FD_RESERVE 256
/* MHD accepts this many connections beyond the WebSocket cap, so a request
 * past the cap is still read and answered (503, /healthz, /metrics,
 * logins) instead of waiting unaccepted in the kernel's backlog. */
#define CONN_HEADROOM 128
/* Retry-After of a 503 at the cap, and how often the refusals are logged
 * at most (a flood of them must not flood the log). */
#define CONN_FULL_RETRY_S 10
#define CONN_FULL_LOG_MS 10000

struct pd_http {
    struct server *srv;
    struct MHD_Daemon *d;
    struct pd_reqdl *reqdl; /* each request read within HTTP_TIMEOUT_S (slowloris) */
    char *tls_cert, *tls_key; /* PEM text, kept while the daemon runs */
    /* A hash of no one's password, verified against for unknown users so a
     * failed login takes as long whether or not the user exists. */
    pthread_mutex_t dummy_mu;
    char *dummy_hash;
    /* The WebSocket cap (pd_http_conn_limit); the places under it are
     * counted by the connection table (pd_conns_reserve). */
    unsigned ws_cap;
    /* Refusals at the cap: when one was last logged (monotonic ms) and how
     * many since then; atomic (MHD's threads). */
    int64_t full_logged_ms;
    uint64_t full_unlogged;
};

enum route { R_NONE, R_HEALTHZ, R_METRICS, R_REGISTER, R_LOGIN, R_WS };

/* Per request (MHD's con_cls), freed by the completion callback. */
struct req {
    enum route route;
    bool responded;
    bool too_large;
    char *body;
    size_t len;
    size_t discarded; /* body bytes dropped after too_large */
    /* /ws: what the gate verified, for the upgrade callback. */
    struct pd_identity ident;
    char *user_agent;
    bool admitted; /* holds a place (pd_conns_reserve) */
    bool upgraded; /* on_upgrade took it over */
};

/* ---- responses ------------------------------------------------------------- */

/* The body, with the extra headers hdrs (name, value pairs, NULL-ended;
 * may be NULL). */
static enum MHD_Result send_json_hdrs(struct MHD_Connection *conn, struct req *r,
                                      unsigned status, cJSON *body, const char *const *hdrs)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    cJSON_Delete(body);
    if (text == NULL)
        return MHD_NO;
    /* cJSON allocates with malloc, so MHD may free() it. */
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    for (; hdrs != NULL && hdrs[0] != NULL; hdrs += 2)
        MHD_add_response_header(resp, hdrs[0], hdrs[1]);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    if (r != NULL)
        r->responded = true;
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, struct req *r, unsigned status,
                                 cJSON *body, const char *hname, const char *hval)
{
    const char *hdrs[] = {hname, hval, NULL};

    return send_json_hdrs(conn, r, status, body, hdrs);
}

/* {"error":{"code","message"}} with the given HTTP status. */
static enum MHD_Result send_error_h(struct MHD_Connection *conn, struct req *r, unsigned status,
                                    enum pd_err code, const char *hname, const char *hval,
                                    const char *fmt, va_list ap)
{
    char msg[512];
    cJSON *body = cJSON_CreateObject(), *err;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* It may quote a header or the path, which need not be UTF-8, and be
     * cut by a precision: only its valid UTF-8 prefix goes in the JSON. */
    msg[pd_utf8_valid_prefix(msg, strlen(msg))] = '\0';
    err = cJSON_AddObjectToObject(body, "error");
    if (err == NULL || cJSON_AddStringToObject(err, "code", pd_err_name(code)) == NULL ||
        cJSON_AddStringToObject(err, "message", msg) == NULL) {
        cJSON_Delete(body);
        return MHD_NO;
    }
    return send_json(conn, r, status, body, hname, hval);
}

static enum MHD_Result send_error(struct MHD_Connection *conn, struct req *r, enum pd_err code,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(struct MHD_Connection *conn, struct req *r, enum pd_err code,
                                  const char *fmt, ...)
{
    enum MHD_Result ret;
    va_list ap;

    va_start(ap, fmt);
    ret = send_error_h(conn, r, (unsigned)pd_err_http_status(code), code, NULL, NULL, fmt, ap);
    va_end(ap);
    return ret;
}

/* An error whose HTTP status is not the code's own (405, 426, 501), with
 * an optional extra header. */
static enum MHD_Result send_error_status(struct MHD_Connection *conn, struct req *r,
                                         unsigned status, enum pd_err code, const char *hname,
                                         const char *hval, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static enum MHD_Result send_error_status(struct MHD_Connection *conn, struct req *r,
                                         unsigned status, enum pd_err code, const char *hname,
                                         const char *hval, const char *fmt, ...)
{
    enum MHD_Result ret;
    va_list ap;

    va_start(ap, fmt);
    ret = send_error_h(conn, r, status, code, hname, hval, fmt, ap);
    va_end(ap);
    return ret;
}

/* ---- helpers ----------------------------------------------------------------- */

static const char *header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* The socket's peer address, as text ("?" when unknown). */
static void peer_ip(struct MHD_Connection *conn, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    snprintf(out, outlen, "?");
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        /* Dual-stack sockets see IPv4 clients as ::ffff:a.b.c.d. */
        if (IN6_IS_ADDR_V4MAPPED(a6))
            inet_ntop(AF_INET, &a6->s6_addr[12], out, (socklen_t)outlen);
        else
            inet_ntop(AF_INET6, a6, out, (socklen_t)outlen);
    }
}

/* Every X-Forwarded-For line of a request, joined with ",", in order. */
struct xff {
    char *s;
    size_t len;
    bool oom;
};

static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct xff *x = cls;
    size_t vlen = value ? strlen(value) : 0;
    char *ns;

    if (key == NULL || strcasecmp(key, "X-Forwarded-For") != 0 || vlen == 0)
        return MHD_YES;
    ns = realloc(x->s, x->len + vlen + 2);
    if (ns == NULL) {
        x->oom = true;
        return MHD_NO;
    }
    x->s = ns;
    if (x->len > 0)
        x->s[x->len++] = ',';
    memcpy(x->s + x->len, value, vlen + 1);
    x->len += vlen;
    return MHD_YES;
}

/* The client's address for the per-IP limits, logs and monitoring: the
 * peer's, or behind one of trusted_proxies what its X-Forwarded-For says
 * (pd_client_ip). The header is not even read for anyone else. */
static void client_ip(struct pd_http *h, struct MHD_Connection *conn, char *out, size_t outlen)
{
    struct xff x = {0};
    char peer[64];

    peer_ip(conn, peer, sizeof(peer));
    if (h->srv->cfg.ntrusted_proxies > 0)
        MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_xff, &x);
    /* Out of memory: the peer, never a partial list. */
    pd_client_ip(&h->srv->cfg, peer, x.oom ? NULL : x.s, out, outlen);
    free(x.s);
}

/* 429 rate_limited (PROTOCOL.md 1.3, 7): Retry-After in whole seconds
 * (rounded up), retry_after_ms in the body, and a rate_limited event. */
static enum MHD_Result send_rate_limited(struct pd_http *h, struct MHD_Connection *conn,
                                         struct req *r, const char *ip, int64_t retry_ms,
                                         const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static enum MHD_Result send_rate_limited(struct pd_http *h, struct MHD_Connection *conn,
                                         struct req *r, const char *ip, int64_t retry_ms,
                                         const char *fmt, ...)
{
    char msg[300], secs[24];
    cJSON *body = cJSON_CreateObject(), *err;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(secs, sizeof(secs), "%lld", (long long)((retry_ms + 999) / 1000));
    pd_info("%s", msg);
    pd_mon_event(h->srv, PD_MON_RATE_LIMITED, NULL, ip, header(conn, MHD_HTTP_HEADER_USER_AGENT),
                 "%s", msg);
    err = cJSON_AddObjectToObject(body, "error");
    if (err == NULL || cJSON_AddStringToObject(err, "code", pd_err_name(PD_E_RATE_LIMITED)) == NULL ||
        cJSON_AddStringToObject(err, "message", msg) == NULL ||
        cJSON_AddNumberToObject(err, "retry_after_ms", (double)retry_ms) == NULL) {
        cJSON_Delete(body);
        return MHD_NO;
    }
    return send_json(conn, r, MHD_HTTP_TOO_MANY_REQUESTS, body, "Retry-After", secs);
}

/* login_rate and login_user_rate: POST /api/login and /api/register
 * attempts per client IP (user NULL) or per username. True when over the
 * limit, after answering 429 into *ret. */
static bool login_throttled(struct pd_http *h, struct MHD_Connection *conn, struct req *r,
                            const char *user, enum MHD_Result *ret)
{
    char ip[64], limit[64];
    int64_t retry;

    client_ip(h, conn, ip, sizeof(ip));
    retry = user ? pd_ratelimit_take(h->srv, PD_RL_LOGIN_USER, user)
                 : pd_ratelimit_take(h->srv, PD_RL_LOGIN_IP, ip);
    if (retry == 0)
        return false;
    pd_ratelimit_describe(h->srv, user ? PD_RL_LOGIN_USER : PD_RL_LOGIN_IP, limit, sizeof(limit));
    if (user)
        *ret = send_rate_limited(h, conn, r, ip, retry,
                                 "too many login attempts for user '%s': at most %s; retry in "
                                 "%lld ms",
                                 user, limit, (long long)retry);
    else
        *ret = send_rate_limited(h, conn, r, ip, retry,
                                 "too many login attempts from %s: at most %s; retry in %lld ms",
                                 ip, limit, (long long)retry);
    return true;
}

/* ---- /healthz ------------------------------------------------------------------ */

static enum MHD_Result handle_healthz(struct pd_http *h, struct MHD_Connection *conn,
                                      struct req *r)
{
    unsigned status = MHD_HTTP_OK;
    cJSON *body = pd_monitor_healthz(h->srv, &status); /* monitoring.c's last snapshot */

    if (body == NULL) {
        body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "status", "healthy");
    }
    return send_json(conn, r, status, body, NULL, NULL);
}

/* ---- /metrics (monitoring.c) --------------------------------------------------- */

static enum MHD_Result handle_metrics(struct pd_http *h, struct MHD_Connection *conn,
                                      struct req *r)
{
    char *text = pd_monitor_prometheus(h->srv);
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (text == NULL)
        return send_error(conn, r, PD_E_INTERNAL, "the metrics are not available");
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    r->responded = true;
    return ret;
}

/* ---- /api/register and /api/login ------------------------------------------- */

struct creds {
    cJSON *root;
    const char *user, *password;
};

/* Parses {"username","password"} strings; 0, or -1 after answering 400. */
static int parse_creds(struct MHD_Connection *conn, struct req *r, struct creds *cr,
                       enum MHD_Result *ret)
{
    const cJSON *u, *p;

    cr->root = cJSON_ParseWithLength(r->body ? r->body : "", r->len);
    if (cr->root == NULL || !cJSON_IsObject(cr->root)) {
        *ret = send_error(conn, r, PD_E_BAD_REQUEST, "the body must be a JSON object");
        return -1;
    }
    u = cJSON_GetObjectItemCaseSensitive(cr->root, "username");
    p = cJSON_GetObjectItemCaseSensitive(cr->root, "password");
    if (!cJSON_IsString(u) || !cJSON_IsString(p)) {
        *ret = send_error(conn, r, PD_E_BAD_REQUEST,
                          "'username' and 'password' are required strings");
        return -1;
    }
    cr->user = u->valuestring;
    cr->password = p->valuestring;
    return 0;
}

static enum MHD_Result no_issuer(struct pd_http *h, struct MHD_Connection *conn, struct req *r)
{
    return send_error_status(conn, r, MHD_HTTP_NOT_IMPLEMENTED, PD_E_INTERNAL, NULL, NULL,
                             "this server does not issue tokens (jwt_alg %s): get one from "
                             "your identity provider",
                             h->srv->cfg.jwt_alg);
}

static enum MHD_Result handle_register(struct pd_http *h, struct MHD_Connection *conn,
                                       struct req *r)
{
    struct creds cr;
    enum MHD_Result ret;
    size_t plen;
    char *hash = NULL, *token = NULL;
    enum pd_err rc;
    int64_t now = pd_now_ms();
    cJSON *body, *user;

    if (!pd_auth_can_issue(h->srv->auth))
        return no_issuer(h, conn, r);
    if (login_throttled(h, conn, r, NULL, &ret))
        return ret;
    if (parse_creds(conn, r, &cr, &ret) != 0)
        goto out;
    if (pd_valid_user_id(cr.user) && login_throttled(h, conn, r, cr.user, &ret))
        goto out;
    plen = strlen(cr.password);
    if (!pd_valid_user_id(cr.user)) {
        ret = send_error(conn, r, PD_E_BAD_REQUEST,
                         "'username' must be 1 to 64 characters of A-Z a-z 0-9 _ . @ -");
        goto out;
    }
    if (plen < PASSWORD_MIN || plen > PASSWORD_MAX) {
        ret = send_error(conn, r, PD_E_BAD_REQUEST, "'password' must be %d to %d bytes",
                         PASSWORD_MIN, PASSWORD_MAX);
        goto out;
    }
    if (pd_password_hash(cr.password, &hash) != 0) {
        ret = send_error(conn, r, PD_E_INTERNAL, "could not hash the password");
        goto out;
    }
    rc = pd_store_user_create(h->srv->store, cr.user, cr.user, hash, now);
    if (rc == PD_E_CONFLICT) {
        ret = send_error(conn, r, PD_E_CONFLICT, "the username '%s' is taken", cr.user);
        goto out;
    }
    if (rc != PD_OK || pd_auth_issue(h->srv->auth, cr.user, cr.user, now / 1000, TOKEN_TTL_S,
                                     &token) != 0) {
        ret = send_error(conn, r, PD_E_INTERNAL, "could not create the user");
        goto out;
    }
    pd_info("user %s registered", cr.user);
    body = cJSON_CreateObject();
    user = cJSON_AddObjectToObject(body, "user");
    cJSON_AddStringToObject(user, "id", cr.user);
    cJSON_AddStringToObject(user, "name", cr.user);
    cJSON_AddStringToObject(body, "token", token);
    cJSON_AddNumberToObject(body, "expires_in", TOKEN_TTL_S);
    ret = send_json(conn, r, MHD_HTTP_CREATED, body, NULL, NULL);
out:
    free(hash);
    free(token);
    cJSON_Delete(cr.root);
    return ret;
}

static const char *dummy_hash(struct pd_http *h)
{
    const char *d;

    pthread_mutex_lock(&h->dummy_mu);
    if (h->dummy_hash == NULL && pd_password_hash("no one's password, for timing", &h->dummy_hash) != 0)
        h->dummy_hash = NULL;
    d = h->dummy_hash;
    pthread_mutex_unlock(&h->dummy_mu);
    return d;
}

static enum MHD_Result handle_login(struct pd_http *h, struct MHD_Connection *conn,
                                    struct req *r)
{
    struct creds cr;
    enum MHD_Result ret;
    char *hash = NULL, *name = NULL, *token = NULL;
    enum pd_err rc = PD_E_NOT_FOUND;
    bool ok = false;
    int64_t now = pd_now_ms();
    cJSON *body;

    if (!pd_auth_can_issue(h->srv->auth))
        return no_issuer(h, conn, r);
    if (login_throttled(h, conn, r, NULL, &ret))
        return ret;
    if (parse_creds(conn, r, &cr, &ret) != 0)
        goto out;
    if (pd_valid_user_id(cr.user) && login_throttled(h, conn, r, cr.user, &ret))
        goto out;
    if (pd_valid_user_id(cr.user))
        rc = pd_store_user_get(h->srv->store, cr.user, &hash, &name);
    if (rc == PD_E_INTERNAL) {
        ret = send_error(conn, r, PD_E_INTERNAL, "could not read the user");
        goto out;
    }
    if (rc == PD_OK) {
        ok = pd_password_verify(cr.password, hash) == 0;
    } else {
        /* Same work as a wrong password, so timing does not tell. */
        const char *d = dummy_hash(h);
        if (d != NULL)
            pd_password_verify(cr.password, d);
    }
    if (!ok) {
        pd_info("login failed for '%.64s'", cr.user);
        {   /* monitoring */
            char ip[64];
            client_ip(h, conn, ip, sizeof(ip));
            pd_mon_event(h->srv, PD_MON_AUTH_FAILED, NULL, ip, header(conn, MHD_HTTP_HEADER_USER_AGENT),
                         "login failed for '%.64s'", cr.user);
        }
        ret = send_error(conn, r, PD_E_UNAUTHORIZED, "invalid username or password");
        goto out;
    }
    if (pd_auth_issue(h->srv->auth, cr.user, name, now / 1000, TOKEN_TTL_S, &token) != 0) {
        ret = send_error(conn, r, PD_E_INTERNAL, "could not issue a token");
        goto out;
    }
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "token", token);
    cJSON_AddNumberToObject(body, "expires_in", TOKEN_TTL_S);
    ret = send_json(conn, r, MHD_HTTP_OK, body, NULL, NULL);
out:
    free(hash);
    free(name);
    free(token);
    cJSON_Delete(cr.root);
    return ret;
}

/* ---- GET /ws ------------------------------------------------------------------ */

/* 503 at the WebSocket cap: Retry-After, the JSON error, Connection:
 * close (the slot in MHD's headroom is wanted back at once). Counted for
 * monitoring; logged at warn at most every CONN_FULL_LOG_MS with how many
 * were refused meanwhile, so a flood of refusals does not flood the log. */
static enum MHD_Result send_full(struct pd_http *h, struct MHD_Connection *conn, struct req *r,
                                 const char *ip, size_t open)
{
    char secs[16], msg[160];
    const char *hdrs[] = {"Retry-After", secs, MHD_HTTP_HEADER_CONNECTION, "close", NULL};
    int64_t now = pd_mono_ms(), last = __atomic_load_n(&h->full_logged_ms, __ATOMIC_RELAXED);
    cJSON *body = cJSON_CreateObject(), *err;

    __atomic_add_fetch(&h->full_unlogged, 1, __ATOMIC_RELAXED);
    pd_mon_conn_refused(h->srv);
    if ((last == 0 || now - last >= CONN_FULL_LOG_MS) &&
        __atomic_compare_exchange_n(&h->full_logged_ms, &last, now, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED)) {
        uint64_t n = __atomic_exchange_n(&h->full_unlogged, 0, __ATOMIC_RELAXED);
        pd_warn("connection limit reached: %zu of %u WebSockets open or opening; upgrade from %s "
                "refused with 503 (%llu refused since the last such line, logged at most every "
                "%d s)",
                open, h->ws_cap, ip, (unsigned long long)n, CONN_FULL_LOG_MS / 1000);
    }
    snprintf(secs, sizeof(secs), "%d", CONN_FULL_RETRY_S);
    snprintf(msg, sizeof(msg),
             "the server is at its limit of %u WebSocket connections: try again in %d s",
             h->ws_cap, CONN_FULL_RETRY_S);
    err = cJSON_AddObjectToObject(body, "error");
    if (err == NULL || cJSON_AddStringToObject(err, "code", pd_err_name(PD_E_INTERNAL)) == NULL ||
        cJSON_AddStringToObject(err, "message", msg) == NULL) {
        cJSON_Delete(body);
        return MHD_NO;
    }
    return send_json_hdrs(conn, r, MHD_HTTP_SERVICE_UNAVAILABLE, body, hdrs);
}

/* The WebSocket cap: takes a place for this upgrade while the open
 * WebSockets and the admitted upgrades stay under the cap, else answers
 * 503 into *ret. The check and the taking are one compare-and-swap
 * (pd_conns_reserve), so a burst of upgrades cannot all pass on the same
 * count; the place passes to the connection when the loop adopts it. */
static bool admit(struct pd_http *h, struct MHD_Connection *conn, struct req *r, const char *ip,
                  enum MHD_Result *ret)
{
    size_t taken;

    if (!pd_conns_reserve(h->srv, h->ws_cap, &taken)) {
        *ret = send_full(h, conn, r, ip, taken);
        return false;
    }
    r->admitted = true;
    return true;
}

/* Gives back the place of admit, for an upgrade that did not happen. */
static void unreserve(struct pd_http *h)
{
    pd_conns_unreserve(h->srv);
}

/* On the loop thread: the connection takes over the upgrade's place. */
static void adopt(void *arg)
{
    pd_conn_adopt(arg); /* frees it */
}

/* Without TLS the socket is taken from MHD altogether: a duplicate of it
 * is ours, and MHD closes its own descriptor and frees the connection,
 * whose memory pool (CONN_MEMORY_LIMIT, all of it resident) it would
 * otherwise keep for the WebSocket's whole life; an idle WebSocket then
 * costs our few hundred bytes instead of about 11 KB. MHD takes its
 * descriptor out of its epoll set before closing it, and MHD_USE_TURBO
 * keeps it from shutting the socket down, which would end ours too. If
 * the descriptor cannot be duplicated (fd limit), MHD keeps the socket as
 * under TLS. */
static void handoff(struct pd_upgrade *up)
{
    int fd = fcntl(up->fd, F_DUPFD_CLOEXEC, 0);

    if (fd < 0)
        return;
    MHD_upgrade_action(up->urh, MHD_UPGRADE_ACTION_CLOSE);
    up->urh = NULL;
    up->fd = up->tcp_fd = fd;
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls,
                       const char *extra_in, size_t extra_in_size, MHD_socket sock,
                       struct MHD_UpgradeResponseHandle *urh)
{
    struct pd_http *h = cls;
    struct req *r = con_cls;
    struct pd_upgrade *up = calloc(1, sizeof(*up));
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1, fl;

    pd_reqdl_upgraded(conn);
    /* From here the reservation goes with the socket, in adopt or when it
     * is given up below. */
    r->upgraded = true;
    if (up == NULL) {
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        unreserve(h);
        return;
    }
    up->srv = h->srv;
    up->fd = sock;
    up->tcp_fd = ci ? ci->connect_fd : sock;
    up->urh = urh;
    up->ident = r->ident;
    up->user_agent = r->user_agent;
    r->user_agent = NULL;
    client_ip(h, conn, up->ip, sizeof(up->ip));
    /* extra_in points into MHD's buffer, gone after this returns. */
    if (extra_in_size > 0) {
        up->extra = malloc(extra_in_size);
        if (up->extra == NULL) {
            pd_upgrade_discard(up);
            unreserve(h);
            return;
        }
        memcpy(up->extra, extra_in, extra_in_size);
        up->extra_len = extra_in_size;
    }
    /* MHD turns Nagle back on for the upgrade (it corks the 101); small
     * chat frames must not wait for it. Under TLS that is the TCP socket
     * behind MHD's forwarding, not the socketpair we are given. */
    setsockopt(up->tcp_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fl = fcntl(sock, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(sock, F_SETFL, fl | O_NONBLOCK);
    if (up->tcp_fd == sock) /* last: it ends MHD's part in the request */
        handoff(up);
    up->reserved = true; /* the place goes with up from here */
    if (pd_loop_call(h->srv->loop, adopt, up) != 0)
        pd_upgrade_discard(up);
}

/* The JWT from Authorization: Bearer, else ?token= (PROTOCOL.md 1.1). */
static const char *find_token(struct MHD_Connection *conn)
{
    return pd_token_from_request(header(conn, MHD_HTTP_HEADER_AUTHORIZATION),
                                 MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token"));
}

/* RFC 6455 4.2.1: the request really asks for a version 13 WebSocket. */
static enum MHD_Result check_ws_request(struct MHD_Connection *conn, struct req *r,
                                        char accept[PD_WS_ACCEPT_LEN + 1], bool *ok)
{
    *ok = false;
    switch (pd_ws_request_check(header(conn, MHD_HTTP_HEADER_UPGRADE),
                                header(conn, MHD_HTTP_HEADER_CONNECTION),
                                header(conn, "Sec-WebSocket-Version"),
                                header(conn, "Sec-WebSocket-Key"), accept)) {
    case PD_WS_REQ_NOT_UPGRADE:
        return send_error(conn, r, PD_E_BAD_REQUEST,
                          "/ws needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)");
    case PD_WS_REQ_VERSION:
        return send_error_status(conn, r, MHD_HTTP_UPGRADE_REQUIRED, PD_E_BAD_REQUEST,
                                 "Sec-WebSocket-Version", "13",
                                 "only WebSocket version 13 is supported");
    case PD_WS_REQ_KEY:
        return send_error(conn, r, PD_E_BAD_REQUEST, "missing or malformed Sec-WebSocket-Key");
    case PD_WS_REQ_OK:
        break;
    }
    *ok = true;
    return MHD_YES;
}

static enum MHD_Result handle_ws(struct pd_http *h, struct MHD_Connection *conn, struct req *r)
{
    const char *origin = header(conn, "Origin"), *token, *why, *ua;
    char ip[64], reason[128], accept[PD_WS_ACCEPT_LEN + 1];
    struct MHD_Response *resp;
    enum MHD_Result ret;
    int64_t retry;
    bool ok;

    client_ip(h, conn, ip, sizeof(ip));

    /* First of all, the WebSocket cap (max_connections): a full server
     * does no further work for the request, and a refusal for its sake
     * does not spend the client's rate_connections budget. */
    if (!admit(h, conn, r, ip, &ret))
        return ret;

    /* PROTOCOL.md 1.3, before any auth work: upgrade attempts per client
     * IP (rate_connections). */
    if ((retry = pd_ratelimit_take(h->srv, PD_RL_CONNECT, ip)) > 0) {
        char limit[64];
        pd_ratelimit_describe(h->srv, PD_RL_CONNECT, limit, sizeof(limit));
        return send_rate_limited(h, conn, r, ip, retry,
                                 "too many connection attempts from %s: at most %s; retry in "
                                 "%lld ms",
                                 ip, limit, (long long)retry);
    }

    why = pd_origin_check(h->srv->cfg.origins, origin, header(conn, MHD_HTTP_HEADER_HOST));
    if (why != NULL) {
        pd_info("upgrade from %s refused: origin '%.100s' %s", ip, origin, why);
        pd_mon_event(h->srv, PD_MON_ORIGIN_REJECTED, NULL, ip, header(conn, MHD_HTTP_HEADER_USER_AGENT),
                     "origin '%.100s' %s", origin, why); /* monitoring */
        return send_error(conn, r, PD_E_FORBIDDEN, "origin '%.200s' %s", origin, why);
    }

    token = find_token(conn);
    if (token == NULL || *token == '\0') {
        pd_info("upgrade from %s refused: no token", ip);
        pd_mon_event(h->srv, PD_MON_AUTH_FAILED, NULL, ip, header(conn, MHD_HTTP_HEADER_USER_AGENT),
                     "upgrade without a token"); /* monitoring */
        return send_error(conn, r, PD_E_UNAUTHORIZED,
                          "a token is required: send Authorization: Bearer <jwt> or ?token=<jwt>");
    }
    if (pd_auth_verify(h->srv->auth, token, pd_now_ms() / 1000, &r->ident, reason,
                       sizeof(reason)) != 0) {
        /* The reason names the failed check, never the token itself. */
        pd_info("upgrade from %s refused: %s", ip, reason);
        pd_mon_event(h->srv, PD_MON_AUTH_FAILED, NULL, ip, header(conn, MHD_HTTP_HEADER_USER_AGENT),
                     "invalid token: %s", reason); /* monitoring */
        return send_error(conn, r, PD_E_UNAUTHORIZED, "invalid token: %s", reason);
    }

    ret = check_ws_request(conn, r, accept, &ok);
    if (!ok)
        return ret;

    ua = header(conn, MHD_HTTP_HEADER_USER_AGENT);
    if (ua != NULL && (r->user_agent = strndup(ua, USER_AGENT_MAX)) == NULL)
        return MHD_NO;
    resp = MHD_create_response_for_upgrade(on_upgrade, h);
    if (resp == NULL)
        return MHD_NO;
    /* No Connection header: MHD adds "Connection: Upgrade" itself, and a
     * doubled value makes strict clients (Node's WebSocket) refuse. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    r->responded = true;
    return ret;
}

/* ---- routing ------------------------------------------------------------------- */

static enum route route_of(const char *url)
{
    if (strcmp(url, "/healthz") == 0)
        return R_HEALTHZ;
    if (strcmp(url, "/metrics") == 0)
        return R_METRICS;
    if (strcmp(url, "/api/register") == 0)
        return R_REGISTER;
    if (strcmp(url, "/api/login") == 0)
        return R_LOGIN;
    if (strcmp(url, "/ws") == 0)
        return R_WS;
    return R_NONE;
}

static bool is_get(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* First call of a request (headers read, no body yet): refuses early what
 * is refused anyway (unknown path, wrong method, declared body too large).
 * Everything else is answered on the last call, once MHD has read the
 * whole request, so the connection can stay alive. */
static enum MHD_Result on_headers(struct MHD_Connection *conn, const char *url,
                                  const char *method, struct req *r)
{
    bool post = r->route == R_REGISTER || r->route == R_LOGIN;
    const char *clen;

    if (r->route == R_NONE)
        return send_error(conn, r, PD_E_NOT_FOUND, "no such resource: %.200s", url);
    if (post ? strcmp(method, MHD_HTTP_METHOD_POST) != 0
             : (r->route == R_WS ? strcmp(method, MHD_HTTP_METHOD_GET) != 0 : !is_get(method)))
        return send_error_status(conn, r, MHD_HTTP_METHOD_NOT_ALLOWED, PD_E_BAD_REQUEST,
                                 MHD_HTTP_HEADER_ALLOW, post ? "POST" : "GET",
                                 "%.200s allows only %s", url, post ? "POST" : "GET");
    clen = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (post && clen != NULL && strtoull(clen, NULL, 10) > BODY_MAX)
        return send_error(conn, r, PD_E_TOO_LARGE, "the body is over %d bytes", BODY_MAX);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct pd_http *h = cls;
    struct req *r = *con_cls;

    if (r == NULL) {
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return MHD_NO;
        *con_cls = r;
        r->route = route_of(url);
        pd_debug("%s %.200s", method, url); /* url has no query string: no token */
        return on_headers(conn, url, method, r);
    }
    if (r->responded) {
        *upload_data_size = 0; /* the rest of a refused body is discarded */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->route == R_HEALTHZ || r->route == R_METRICS || r->route == R_WS)
            return MHD_YES; /* a body on a GET means nothing */
        /* MHD 0.9.75 takes no response in the middle of a body: the rest
         * is discarded and 413 sent at the end, or, past DISCARD_MAX, the
         * connection is dropped. */
        if (r->too_large || r->len + n > BODY_MAX) {
            r->too_large = true;
            r->discarded += n;
            return r->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        char *b = realloc(r->body, r->len + n + 1);
        if (b == NULL)
            return MHD_NO;
        memcpy(b + r->len, upload_data, n);
        r->body = b;
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    pd_reqdl_read(conn); /* the whole request is in: no deadline while it is answered */
    if (r->too_large)
        return send_error(conn, r, PD_E_TOO_LARGE, "the body is over %d bytes", BODY_MAX);
    switch (r->route) {
    case R_HEALTHZ:
        return handle_healthz(h, conn, r);
    case R_METRICS:
        return handle_metrics(h, conn, r);
    case R_WS:
        return handle_ws(h, conn, r);
    case R_REGISTER:
        return handle_register(h, conn, r);
    case R_LOGIN:
        return handle_login(h, conn, r);
    case R_NONE:
        break;
    }
    return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct pd_http *h = cls;
    struct req *r = *con_cls;

    pd_reqdl_next(h->reqdl, conn); /* a next request on this connection has its deadline */
    if (r == NULL)
        return;
    /* Admitted, then refused (origin, token) or gone before the 101. */
    if (r->admitted && !r->upgraded)
        unreserve(h);
    if (r->body != NULL)
        explicit_bzero(r->body, r->len); /* it held a password */
    free(r->body);
    free(r->user_agent);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    pd_warn("http: %s", msg);
}

/* ---- start and stop ------------------------------------------------------------ */

static char *read_pem(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL) {
        snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        char *nb;
        size_t n;
        if (len + 4097 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 20) || (nb = realloc(buf, cap)) == NULL) {
                snprintf(err, errlen, "'%s' is too large", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static int load_tls(struct pd_http *h, const struct pd_config *cfg, char *err, size_t errlen)
{
    char why[300];

    if (cfg->tls_cert == NULL && cfg->tls_key == NULL)
        return 0;
    if (cfg->tls_cert == NULL || cfg->tls_key == NULL) {
        snprintf(err, errlen, "tls_cert and tls_key must be set together");
        return -1;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errlen, "tls_cert: this libmicrohttpd has no TLS support");
        return -1;
    }
    h->tls_cert = read_pem(cfg->tls_cert, why, sizeof(why));
    if (h->tls_cert == NULL) {
        snprintf(err, errlen, "tls_cert: %s", why);
        return -1;
    }
    h->tls_key = read_pem(cfg->tls_key, why, sizeof(why));
    if (h->tls_key == NULL) {
        snprintf(err, errlen, "tls_key: %s", why);
        return -1;
    }
    return 0;
}

/* The WebSocket cap: max_connections when set, else (and at most) what
 * the open file limit allows, at most CONN_LIMIT_MAX. The file limit is
 * read as main left it (raised to the hard limit). It must hold, besides
 * FD_RESERVE for everything else, the cap's WebSockets (one descriptor
 * each; three under TLS, where MHD forwards the TCP socket through a
 * socketpair) and MHD's CONN_HEADROOM connections beyond the cap (one
 * each, as plain HTTP). Below CONN_LIMIT_MIN the cap stays CONN_LIMIT_MIN,
 * as it was before there was a headroom. why (may be NULL) says what set
 * it, for the start-up line; *fd_cap gets what the file limit alone
 * allows. */
static unsigned conn_cap(const struct pd_config *cfg, unsigned *fd_cap, char *why, size_t whylen)
{
    struct rlimit rl;
    unsigned long long fds = 1024, avail, n;
    unsigned per = cfg->tls_cert != NULL ? 3 : 1, cap;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        fds = rl.rlim_cur == RLIM_INFINITY ? ULLONG_MAX : (unsigned long long)rl.rlim_cur;
    avail = fds > FD_RESERVE + CONN_HEADROOM ? fds - FD_RESERVE - CONN_HEADROOM : 0;
    n = avail / per;
    cap = n < CONN_LIMIT_MIN ? CONN_LIMIT_MIN : n > CONN_LIMIT_MAX ? CONN_LIMIT_MAX : (unsigned)n;
    if (fd_cap != NULL)
        *fd_cap = cap;
    if (cfg->max_connections != 0 && cfg->max_connections <= cap) {
        if (why != NULL)
            snprintf(why, whylen, "max_connections");
        return cfg->max_connections;
    }
    if (why == NULL)
        return cap;
    if (n > CONN_LIMIT_MAX)
        snprintf(why, whylen, "the most parleyd holds");
    else if (n < CONN_LIMIT_MIN)
        snprintf(why, whylen, "the least parleyd takes: the open file limit %llu is lower than it "
                 "needs", fds);
    else
        snprintf(why, whylen, "from the open file limit %llu, less %d kept back and %d for HTTP%s",
                 fds, FD_RESERVE, CONN_HEADROOM, per > 1 ? ", 3 per TLS WebSocket" : "");
    return cap;
}

unsigned pd_http_conn_limit(const struct pd_config *cfg)
{
    return conn_cap(cfg, NULL, NULL, 0);
}

static int resolve(const struct pd_config *cfg, struct sockaddr_storage *ss, socklen_t *sslen,
                   char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(cfg->listen_host, NULL, &hints, &res);

    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "listen: cannot resolve '%s': %s", cfg->listen_host,
                 gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(cfg->listen_port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(cfg->listen_port);
    return 0;
}

static void http_free(struct pd_http *h)
{
    free(h->tls_cert);
    if (h->tls_key != NULL)
        explicit_bzero(h->tls_key, strlen(h->tls_key));
    free(h->tls_key);
    free(h->dummy_hash);
    pthread_mutex_destroy(&h->dummy_mu);
    pd_reqdl_free(h->reqdl);
    free(h);
}

int pd_http_start(struct pd_http **out, struct server *srv, uint16_t *port, char *err,
                  size_t errlen)
{
    const struct pd_config *cfg = &srv->cfg;
    struct pd_http *h = calloc(1, sizeof(*h));
    struct sockaddr_storage ss;
    socklen_t sslen;
    unsigned flags = MHD_ALLOW_UPGRADE | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    unsigned fd_cap, mhd_limit;
    char why[160];
    bool tls;

    *out = NULL;
    if (h == NULL || pthread_mutex_init(&h->dummy_mu, NULL) != 0) {
        free(h);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->srv = srv;
    if (pd_reqdl_new(&h->reqdl, HTTP_TIMEOUT_S) != 0) {
        snprintf(err, errlen, "out of memory");
        http_free(h);
        return -1;
    }
    if (load_tls(h, cfg, err, errlen) != 0 || resolve(cfg, &ss, &sslen, err, errlen) != 0) {
        http_free(h);
        return -1;
    }
    tls = h->tls_cert != NULL;
    h->ws_cap = conn_cap(cfg, &fd_cap, why, sizeof(why));
    if (cfg->max_connections > fd_cap)
        pd_warn("max_connections %u is more than this server can hold (%s): the cap is %u",
                cfg->max_connections, why, fd_cap);
    /* MHD counts the WebSockets it keeps (TLS); the headroom lets a
     * request past the cap in, to be answered 503. */
    mhd_limit = h->ws_cap + CONN_HEADROOM;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* TURBO: no shutdown() before MHD closes a socket, so a WebSocket
     * handed off (handoff) survives MHD closing its descriptor. */
    flags |= tls ? MHD_USE_TLS : MHD_USE_TURBO;
    h->d = MHD_start_daemon(
        flags, cfg->listen_port, NULL, NULL, on_request, h,
        /* First, so MHD's own start-up messages come through it too. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, pd_reqdl_notify, h->reqdl,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(tls ? CONN_MEMORY_LIMIT_TLS : CONN_MEMORY_LIMIT),
        tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, h->tls_cert, MHD_OPTION_HTTPS_MEM_KEY,
        h->tls_key, MHD_OPTION_END);
    if (h->d == NULL) {
        snprintf(err, errlen, "listen: cannot start the HTTP server on %s port %u (in use?)",
                 cfg->listen_host, cfg->listen_port);
        http_free(h);
        return -1;
    }
    /* MHD_OPTION_CONNECTION_TIMEOUT is only an idle timeout: the loop
     * enforces the per-request deadline (reqdeadline.h). */
    if (pd_loop_every(srv->loop, 1000, pd_reqdl_tick, h->reqdl) != 0) {
        snprintf(err, errlen, "out of memory");
        MHD_stop_daemon(h->d);
        http_free(h);
        return -1;
    }
    pd_info("connection limit: %u WebSockets (%s); upgrades past it are refused with 503, "
            "and HTTP takes %u connections in all",
            h->ws_cap, why, mhd_limit);
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : cfg->listen_port;
    (void)sslen;
    *out = h;
    return 0;
}

void pd_http_stop(struct pd_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d);
    http_free(h);
}
