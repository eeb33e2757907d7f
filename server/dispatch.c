#include "dispatch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "conn.h"
#include "events.h"
#include "log.h"
#include "messaging.h"
#include "monitoring.h"
#include "presence.h"
#include "ratelimit.h"
#include "receipts.h"
#include "recovery.h"
#include "request.h"
#include "rooms.h"
#include "server.h"
#include "text.h"
#include "typing.h"

/* The events this server answers, and who may call them. Events of the
 * protocol not listed here are answered with bad_request. */
static const struct pd_route {
    enum pd_event event;
    pd_handler_fn fn;
} routes[] = {
    {PD_EV_JOIN, pd_handle_join},
    {PD_EV_LEAVE, pd_handle_leave},
    {PD_EV_ROOM_INFO, pd_handle_room_info},
    {PD_EV_ROOM_LIST, pd_handle_room_list},
    {PD_EV_ROOM_ONLINE, pd_handle_room_online},
    {PD_EV_ROOM_SUBSCRIBE, pd_handle_subscribe},
    {PD_EV_ROOM_UNSUBSCRIBE, pd_handle_unsubscribe},
    {PD_EV_ROOM_SUB_STATUS, pd_handle_sub_status},
    {PD_EV_ROOM_SUB_DETAILS, pd_handle_sub_details},
    {PD_EV_ROOM_INVITE, pd_handle_invite},
    {PD_EV_MSG_SEND, pd_handle_send},
    {PD_EV_MSG_HISTORY, pd_handle_history},
    {PD_EV_MSG_TYPING, pd_handle_typing},
    {PD_EV_MSG_TYPING_USERS, pd_handle_typing_users},
    {PD_EV_MSG_DELIVERED, pd_handle_delivered},
    {PD_EV_MSG_READ, pd_handle_read},
    {PD_EV_MSG_DELIVERY_STATUS, pd_handle_delivery_status},
    {PD_EV_MSG_STATS, pd_handle_message_stats},
    {PD_EV_MSG_DELETE, pd_handle_delete},
    {PD_EV_PRESENCE_UPDATE_STATUS, pd_handle_update_status},
    {PD_EV_PRESENCE_ONLINE_USERS, pd_handle_online_users},
    {PD_EV_PRESENCE_USER_STATUS, pd_handle_user_status},
    {PD_EV_PRESENCE_STATS, pd_handle_presence_stats},
    {PD_EV_CONN_CREATE_SESSION, pd_handle_create_session},
    {PD_EV_CONN_RECOVER, pd_handle_recover},
    {PD_EV_CONN_SESSION_INFO, pd_handle_session_info},
    {PD_EV_CONN_STATS, pd_handle_connection_stats},
    {PD_EV_MON_METRICS, pd_handle_mon_metrics},
    {PD_EV_MON_EVENTS, pd_handle_mon_events},
    {PD_EV_MON_STATS, pd_handle_mon_stats},
    {PD_EV_MON_HEALTH, pd_handle_mon_health},
};

static pd_handler_fn route_of(const char *name)
{
    enum pd_event ev = pd_event_from_name(name);

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (routes[i].event == ev)
            return routes[i].fn;
    return NULL;
}

/* Serializes root (consuming it) and queues it to c. */
static void send_json(struct pd_conn *c, cJSON *root)
{
    char *json = root ? cJSON_PrintUnformatted(root) : NULL;

    if (json == NULL)
        pd_error("out of memory serializing a reply to connection %llu",
               (unsigned long long)c->id);
    else
        pd_conn_send(c, json, strlen(json));
    cJSON_free(json);
    cJSON_Delete(root);
}

void pd_ack_ok(struct pd_conn *c, int64_t req_id, cJSON *data)
{
    cJSON *root;

    if (req_id <= 0 || c->closing) {
        cJSON_Delete(data);
        return;
    }
    root = cJSON_CreateObject();
    pd_json_add_int(root, "id", req_id);
    cJSON_AddBoolToObject(root, "ok", 1);
    cJSON_AddItemToObject(root, "data", data ? data : cJSON_CreateObject());
    send_json(c, root);
}

/* An error ack (or error push); retry_after_ms > 0 adds that member, the
 * one extra an error object may carry (rate_limited, PROTOCOL.md 7). */
static void ack_err_retry(struct pd_conn *c, int64_t req_id, const char *event, enum pd_err code,
                          const char *msg, int64_t retry_after_ms)
{
    cJSON *root = cJSON_CreateObject(), *err = cJSON_CreateObject();
    char valid[256];
    size_t mlen = strlen(msg), vlen = pd_utf8_valid_prefix(msg, mlen);

    if (c->closing) {
        cJSON_Delete(root);
        cJSON_Delete(err);
        return;
    }
    /* A message quoting the client, cut by a buffer or a precision, may end
     * inside a character: only its valid UTF-8 goes out (a text frame that
     * is not UTF-8 makes clients fail the connection). */
    if (vlen < mlen) {
        if (vlen >= sizeof(valid))
            vlen = pd_utf8_valid_prefix(msg, sizeof(valid) - 1);
        memcpy(valid, msg, vlen);
        valid[vlen] = '\0';
        msg = valid;
    }
    cJSON_AddStringToObject(err, "code", pd_err_name(code));
    cJSON_AddStringToObject(err, "message", msg);
    if (retry_after_ms > 0)
        pd_json_add_int(err, "retry_after_ms", retry_after_ms);
    if (req_id > 0) {
        pd_json_add_int(root, "id", req_id);
        cJSON_AddBoolToObject(root, "ok", 0);
        cJSON_AddItemToObject(root, "error", err);
    } else {
        /* No id to answer: the error goes out as a push naming the event. */
        if (event)
            cJSON_AddStringToObject(err, "event", event);
        else
            cJSON_AddNullToObject(err, "event");
        cJSON_AddStringToObject(root, "event", "error");
        cJSON_AddItemToObject(root, "data", err);
    }
    send_json(c, root);
}

static void ack_err_msg(struct pd_conn *c, int64_t req_id, const char *event, enum pd_err code,
                        const char *msg)
{
    ack_err_retry(c, req_id, event, code, msg, 0);
}

void pd_ack_err(struct pd_conn *c, int64_t req_id, const char *event, enum pd_err code,
                const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ack_err_msg(c, req_id, event, code, msg);
}

/* A bad_request of the envelope: answered like any error, and recorded as
 * a protocol_error event (monitoring). */
static void bad_envelope(struct pd_conn *c, int64_t req_id, const char *event, const char *msg)
{
    pd_mon_conn_event(c, PD_MON_PROTOCOL_ERROR, "bad_request: %s", msg);
    ack_err_msg(c, req_id, event, PD_E_BAD_REQUEST, msg);
}

/* Reads the envelope of section 2. On failure answers itself and returns
 * false. */
static bool read_envelope(struct pd_conn *c, const cJSON *root, struct pd_req *r,
                          pd_handler_fn *fn)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(root, "event");
    const char *event = cJSON_IsString(ev) ? ev->valuestring : NULL;

    if (id != NULL && !cJSON_IsNull(id) && !pd_json_int(id, 1, PD_JSON_INT_MAX, &r->id)) {
        bad_envelope(c, 0, event, "'id' must be a positive integer");
        return false;
    }
    if (event == NULL) {
        bad_envelope(c, r->id, NULL, "'event' is required and must be a string");
        return false;
    }
    *fn = route_of(event);
    if (*fn == NULL) {
        char msg[96];
        snprintf(msg, sizeof(msg), "unknown event '%.*s'",
                 (int)pd_utf8_valid_prefix(event, strnlen(event, 64)), event);
        bad_envelope(c, r->id, event, msg);
        return false;
    }
    r->event = pd_event_name(pd_event_from_name(event));
    r->data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (r->data != NULL && !cJSON_IsObject(r->data)) {
        bad_envelope(c, r->id, r->event, "'data' must be an object");
        return false;
    }
    return true;
}

/* True when a JSON string escapes U+0000. cJSON would hand back a C string
 * cut at that point, silently storing less than was sent; refuse instead.
 * Escaped backslashes are skipped in pairs, so "\\\\u0000" is not one. */
static bool has_escaped_nul(const char *s, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0)
            return true;
        i++;
    }
    return false;
}

/* ---- limits (PROTOCOL.md 7, 8) ------------------------------------------------ */

/* The rate limits, before anything else is looked at: message:send per
 * user across all their connections, every other message (malformed ones
 * and unknown events included: they cost a parse too) per connection.
 * Over a limit, answers rate_limited with retry_after_ms and returns
 * false. root may be NULL (not JSON). */
static bool rate_gate(struct server *srv, struct pd_conn *c, const cJSON *root)
{
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(root, "event");
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(root, "id");
    enum pd_event e = cJSON_IsString(ev) ? pd_event_from_name(ev->valuestring) : PD_EV__COUNT;
    bool send = e == PD_EV_MSG_SEND;
    int64_t retry = send ? pd_ratelimit_take(srv, PD_RL_MESSAGE, c->ident.sub)
                         : pd_ratelimit_take_conn(srv, c->id);
    int64_t id = 0;
    char limit[64], msg[200];

    if (retry == 0)
        return true;
    if (!pd_json_int(idv, 1, PD_JSON_INT_MAX, &id))
        id = 0;
    pd_ratelimit_describe(srv, send ? PD_RL_MESSAGE : PD_RL_REQUEST, limit, sizeof(limit));
    snprintf(msg, sizeof(msg), "%s: at most %s; retry in %lld ms",
             send ? "too many messages from this user" : "too many requests on this connection",
             limit, (long long)retry);
    pd_mon_conn_event(c, PD_MON_RATE_LIMITED, "%s", msg); /* monitoring */
    /* Only a known event name is echoed back, never a client's string. */
    ack_err_retry(c, id, e == PD_EV__COUNT ? NULL : pd_event_name(e), PD_E_RATE_LIMITED, msg,
                  retry);
    return false;
}

/* max_json_depth and max_json_array over the parsed request (the envelope
 * object is depth 1). NULL when within both, else why not. cJSON refuses
 * nesting past 1000 while parsing, which bounds this recursion. */
static const char *json_limits(const struct pd_config *cfg, const cJSON *v, unsigned depth,
                               char *why, size_t whylen)
{
    size_t n = 0;

    if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
        return NULL;
    if (cfg->max_json_depth > 0 && depth > cfg->max_json_depth) {
        snprintf(why, whylen, "the request nests deeper than %u levels", cfg->max_json_depth);
        return why;
    }
    for (const cJSON *k = v->child; k != NULL; k = k->next) {
        const char *e = json_limits(cfg, k, depth + 1, why, whylen);
        if (e != NULL)
            return e;
        n++;
    }
    if (cJSON_IsArray(v) && cfg->max_json_array > 0 && n > cfg->max_json_array) {
        snprintf(why, whylen, "an array in the request holds more than %u elements",
                 cfg->max_json_array);
        return why;
    }
    return NULL;
}

void pd_dispatch(struct server *srv, struct pd_conn *c, const char *msg, size_t len)
{
    static const cJSON empty = {.type = cJSON_Object};
    struct pd_req r = {.srv = srv, .conn = c};
    pd_handler_fn fn;
    cJSON *root;
    enum pd_err e;
    const char *why;
    char whybuf[96];

    if (c->closing)
        return;
    root = cJSON_ParseWithLength(msg, len);
    if (!rate_gate(srv, c, root)) {
        cJSON_Delete(root);
        return;
    }
    if (root == NULL || !cJSON_IsObject(root)) {
        bad_envelope(c, 0, NULL, root ? "a request must be a JSON object" : "malformed JSON");
        cJSON_Delete(root);
        return;
    }
    if (!read_envelope(c, root, &r, &fn)) {
        cJSON_Delete(root);
        return;
    }
    if ((why = json_limits(&srv->cfg, root, 1, whybuf, sizeof(whybuf))) != NULL) {
        bad_envelope(c, r.id, r.event, why);
        cJSON_Delete(root);
        return;
    }
    if (has_escaped_nul(msg, len)) {
        ack_err_msg(c, r.id, r.event, PD_E_BAD_REQUEST, "strings may not contain U+0000");
        cJSON_Delete(root);
        return;
    }
    if (r.data == NULL)
        r.data = &empty;
    e = fn(&r);
    if (e != PD_OK) {
        cJSON_Delete(r.result);
        ack_err_msg(c, r.id, r.event, e, r.msg);
    } else if (!r.deferred) {
        pd_ack_ok(c, r.id, r.result);
    }
    cJSON_Delete(root);
}

int pd_services_init(struct server *srv, char *err, size_t errlen)
{
    if (pd_rooms_init(srv, err, errlen) != 0)
        return -1;
    if (pd_typing_init(srv) != 0) {
        snprintf(err, errlen, "out of memory");
        pd_services_free(srv);
        return -1;
    }
    if (pd_presence_init(srv, err, errlen) != 0 || pd_recovery_init(srv, err, errlen) != 0) {
        pd_services_free(srv);
        return -1;
    }
    if (pd_ratelimit_init(srv) != 0) {
        snprintf(err, errlen, "out of memory");
        pd_services_free(srv);
        return -1;
    }
    return 0;
}

void pd_services_free(struct server *srv)
{
    pd_ratelimit_free(srv);
    pd_recovery_free(srv);
    pd_presence_free(srv);
    pd_typing_free(srv);
    pd_rooms_free(srv);
}

void pd_services_conn_open(struct server *srv, struct pd_conn *c)
{
    if (pd_rooms_conn_open(srv, c) != 0) {
        pd_error("out of memory registering connection %llu", (unsigned long long)c->id);
        pd_conn_close(c, 1011, "out of memory");
        return;
    }
    pd_presence_conn_open(srv, c);
}

void pd_services_conn_close(struct server *srv, struct pd_conn *c)
{
    /* Typing and presence first: their pushes go to the rooms while the
     * connection's state still exists; the session snapshots the
     * subscriptions before they go. */
    pd_typing_conn_close(srv, c);
    pd_presence_conn_close(srv, c);
    pd_recovery_conn_close(srv, c);
    pd_rooms_conn_close(srv, c);
}
