/* Typed calls of the monitoring events (parley-protocol(7) section 6:
 * monitoring:metrics, monitoring:events, monitoring:stats,
 * monitoring:health; admin only), their parse and free functions.
 *
 * Each result is one allocation, built as results.c builds its own: a
 * builder runs twice over the same JSON, the first pass (blk.base NULL)
 * checking the shape and adding up the size, the second copying into the
 * block; both take the same pieces in the same order, so the second one
 * cannot fail (but for memory). The result struct comes first, then its arrays, then the
 * strings. */
#include <math.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "calls.h"
#include "block.h"
#include "json.h"

/* monitoring:events' limit, and the longest type name worth sending. */
#define EVENTS_LIMIT_MAX 1000
#define EVENT_TYPE_MAX 64

/* ---- the block (block.h) ------------------------------------------------------ */

typedef int (*build_fn)(struct blk *b, const cJSON *j);

/* Parses json and runs fn twice over its root (see the top). */
static int parse_with(const char *json, build_fn fn, void **out)
{
    struct blk b = {NULL, 0};
    cJSON *root;
    int rc = PARLEY_OK;

    if (out)
        *out = NULL;
    if (!json || !out)
        return PARLEY_ERR_INVAL;
    root = cJSON_Parse(json);
    if (!root)
        return PARLEY_ERR_PROTOCOL;
    if (!fn(&b, root)) {
        rc = PARLEY_ERR_PROTOCOL;
    } else if (!(b.base = malloc(b.used))) {
        rc = PARLEY_ERR_NOMEM;
    } else {
        b.used = 0;
        /* Only printing a non-string detail allocates in this pass. */
        if (fn(&b, root)) {
            *out = b.base;
        } else {
            free(b.base);
            rc = PARLEY_ERR_NOMEM;
        }
    }
    cJSON_Delete(root);
    return rc;
}

/* ---- reading fields ------------------------------------------------------------ */

static const cJSON *field(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A counter: any finite number within +-(2^53-1), a fraction cut off (the
 * server's integers come as integers; an uptime in fractional seconds
 * still reads). Required. */
static int get_count(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *it = field(o, key);
    double d;

    if (!cJSON_IsNumber(it))
        return 0;
    d = it->valuedouble;
    if (!(d >= -(double)PL_JSON_INT_MAX && d <= (double)PL_JSON_INT_MAX))
        return 0;
    *out = (int64_t)d;
    return 1;
}

/* A number; null or absent gives NaN when optional. */
static int get_double(const cJSON *o, const char *key, double *out, int required)
{
    const cJSON *it = field(o, key);

    if (!it || cJSON_IsNull(it)) {
        *out = NAN;
        return !required;
    }
    if (!cJSON_IsNumber(it))
        return 0;
    *out = it->valuedouble;
    return 1;
}

/* A string: absent or null gives dflt (refused when required). */
static int get_str(const cJSON *o, const char *key, const char **out, const char *dflt,
                   int required)
{
    const cJSON *it = field(o, key);

    if (!it || cJSON_IsNull(it)) {
        *out = dflt;
        return !required;
    }
    if (!cJSON_IsString(it))
        return 0;
    *out = it->valuestring;
    return 1;
}

/* An array: absent or null is an empty one (*out NULL). */
static int get_array(const cJSON *o, const char *key, const cJSON **out, int required)
{
    const cJSON *it = field(o, key);

    *out = NULL;
    if (!it || cJSON_IsNull(it))
        return !required;
    if (!cJSON_IsArray(it))
        return 0;
    *out = it;
    return 1;
}

static size_t count_items(const cJSON *arr)
{
    size_t n = 0;
    const cJSON *it;

    cJSON_ArrayForEach(it, arr)
        n++;
    return n;
}

/* ---- monitoring:metrics ------------------------------------------------------------ */

static int metrics_result(struct blk *b, const cJSON *j)
{
    struct parley_metrics *r = TAKE(b, struct parley_metrics, 1);
    struct parley_metrics m;
    const cJSON *rates = field(j, "rates");

    if (!cJSON_IsObject(j) || !get_count(j, "connections", &m.connections) ||
        !get_count(j, "connections_total", &m.connections_total) ||
        !get_count(j, "messages_in", &m.messages_in) ||
        !get_count(j, "messages_out", &m.messages_out) ||
        !get_count(j, "bytes_in", &m.bytes_in) || !get_count(j, "bytes_out", &m.bytes_out) ||
        !get_count(j, "rooms", &m.rooms) || !get_count(j, "users_online", &m.users_online) ||
        !get_count(j, "uptime_s", &m.uptime_s) || !cJSON_IsObject(rates) ||
        !get_double(rates, "messages_in_per_s", &m.messages_in_per_s, 1) ||
        !get_double(rates, "connections_per_s", &m.connections_per_s, 1))
        return 0;
    if (r)
        *r = m;
    return 1;
}

/* ---- monitoring:events --------------------------------------------------------------- */

/* detail: a string as it is; anything else (an object...) as its JSON
 * text, which the measuring pass prints too so both take the same size. */
static int event_piece(struct blk *b, const cJSON *j, struct parley_monitoring_event *slot)
{
    struct parley_monitoring_event e;
    const char *type, *user, *ip, *agent, *detail = "";
    const cJSON *d = field(j, "detail");
    char *printed = NULL;

    if (!cJSON_IsObject(j) || !get_str(j, "type", &type, NULL, 1) ||
        !get_count(j, "ts", &e.ts) || !get_str(j, "user", &user, NULL, 0) ||
        !get_str(j, "ip", &ip, "", 0) || !get_str(j, "user_agent", &agent, NULL, 0))
        return 0;
    if (cJSON_IsString(d)) {
        detail = d->valuestring;
    } else if (d && !cJSON_IsNull(d)) {
        printed = pl_json_print(d);
        if (!printed)
            return 0;
        detail = printed;
    }
    e.type = put_str(b, type);
    e.user = put_str(b, user);
    e.ip = put_str(b, ip);
    e.user_agent = put_str(b, agent);
    e.detail = put_str(b, detail);
    free(printed);
    if (slot)
        *slot = e;
    return 1;
}

/* The array of events: {"events": [...]}, or the bare array. */
static int events_result(struct blk *b, const cJSON *j)
{
    struct parley_events *r = TAKE(b, struct parley_events, 1);
    struct parley_events tmp;
    const cJSON *arr = j, *it;
    size_t i = 0;

    if (cJSON_IsObject(j) && !get_array(j, "events", &arr, 1))
        return 0;
    if (!cJSON_IsArray(arr))
        return 0;
    tmp.n = count_items(arr);
    tmp.items = tmp.n ? TAKE(b, struct parley_monitoring_event, tmp.n) : NULL;
    cJSON_ArrayForEach(it, arr)
    {
        if (!event_piece(b, it, tmp.items ? &tmp.items[i] : NULL))
            return 0;
        i++;
    }
    if (r)
        *r = tmp;
    return 1;
}

/* ---- monitoring:stats -------------------------------------------------------------------- */

static int stats_result(struct blk *b, const cJSON *j)
{
    struct parley_monitoring_stats *r = TAKE(b, struct parley_monitoring_stats, 1);
    struct parley_monitoring_stats s;
    const cJSON *ips, *agents, *it;
    size_t i;

    if (!cJSON_IsObject(j) || !get_array(j, "by_ip", &ips, 1) ||
        !get_array(j, "by_user_agent", &agents, 1) ||
        !get_double(j, "avg_connection_s", &s.avg_connection_s, 1) ||
        !get_count(j, "auth_failures", &s.auth_failures) ||
        !get_count(j, "rate_limited", &s.rate_limited))
        return 0;
    /* Both arrays before the strings: they need alignment. */
    s.n_by_ip = count_items(ips);
    s.by_ip = s.n_by_ip ? TAKE(b, struct parley_ip_count, s.n_by_ip) : NULL;
    s.n_by_user_agent = count_items(agents);
    s.by_user_agent =
        s.n_by_user_agent ? TAKE(b, struct parley_user_agent_count, s.n_by_user_agent) : NULL;
    i = 0;
    cJSON_ArrayForEach(it, ips)
    {
        struct parley_ip_count e;
        const char *ip;
        if (!cJSON_IsObject(it) || !get_str(it, "ip", &ip, "", 0) ||
            !get_count(it, "connections", &e.connections))
            return 0;
        e.ip = put_str(b, ip);
        if (s.by_ip)
            s.by_ip[i] = e;
        i++;
    }
    i = 0;
    cJSON_ArrayForEach(it, agents)
    {
        struct parley_user_agent_count e;
        const char *agent;
        if (!cJSON_IsObject(it) || !get_str(it, "user_agent", &agent, NULL, 0) ||
            !get_count(it, "connections", &e.connections))
            return 0;
        e.user_agent = put_str(b, agent);
        if (s.by_user_agent)
            s.by_user_agent[i] = e;
        i++;
    }
    if (r)
        *r = s;
    return 1;
}

/* ---- monitoring:health ------------------------------------------------------------------- */

/* checks is an object {name: {status, value, threshold}}, read in its
 * order. */
static int health_result(struct blk *b, const cJSON *j)
{
    struct parley_health *r = TAKE(b, struct parley_health, 1);
    struct parley_health h;
    const cJSON *checks = field(j, "checks"), *recs, *it;
    const char *status;
    size_t i;

    if (!cJSON_IsObject(j) || !get_str(j, "status", &status, NULL, 1) ||
        !cJSON_IsObject(checks) || !get_array(j, "recommendations", &recs, 0))
        return 0;
    h.n_checks = count_items(checks);
    h.checks = h.n_checks ? TAKE(b, struct parley_health_check, h.n_checks) : NULL;
    h.n_recommendations = count_items(recs);
    h.recommendations = h.n_recommendations ? TAKE(b, const char *, h.n_recommendations) : NULL;
    i = 0;
    cJSON_ArrayForEach(it, checks)
    {
        struct parley_health_check c;
        const char *st;
        if (!it->string || !cJSON_IsObject(it) || !get_str(it, "status", &st, NULL, 1) ||
            !get_double(it, "value", &c.value, 0) ||
            !get_double(it, "threshold", &c.threshold, 0))
            return 0;
        c.name = put_str(b, it->string);
        c.status = put_str(b, st);
        if (h.checks)
            h.checks[i] = c;
        i++;
    }
    i = 0;
    cJSON_ArrayForEach(it, recs)
    {
        const char *s;
        if (!cJSON_IsString(it))
            return 0;
        s = put_str(b, it->valuestring);
        if (h.recommendations)
            h.recommendations[i] = s;
        i++;
    }
    h.status = put_str(b, status);
    if (r)
        *r = h;
    return 1;
}

/* ---- the public parse and free functions --------------------------------------------- */

PARLEY_API int parley_metrics_parse(const char *json, struct parley_metrics **out)
{
    return parse_with(json, metrics_result, (void **)out);
}

PARLEY_API int parley_events_parse(const char *json, struct parley_events **out)
{
    return parse_with(json, events_result, (void **)out);
}

PARLEY_API int parley_monitoring_stats_parse(const char *json,
                                             struct parley_monitoring_stats **out)
{
    return parse_with(json, stats_result, (void **)out);
}

PARLEY_API int parley_health_parse(const char *json, struct parley_health **out)
{
    return parse_with(json, health_result, (void **)out);
}

PARLEY_API void parley_metrics_free(struct parley_metrics *m)
{
    free(m);
}

PARLEY_API void parley_events_free(struct parley_events *e)
{
    free(e);
}

PARLEY_API void parley_monitoring_stats_free(struct parley_monitoring_stats *s)
{
    free(s);
}

PARLEY_API void parley_health_free(struct parley_health *h)
{
    free(h);
}

/* ---- the calls ------------------------------------------------------------------------- */

typedef int (*parse_fn)(const char *json, void **out);

/* Runs ev with data d (see pl_call_sync) and, when out is not NULL,
 * parses the ack into *out. */
static int call(parley_client *c, enum pd_event ev, cJSON *d, int rc, int timeout_ms,
                parse_fn parse, void **out)
{
    char *ack = NULL;

    if (out)
        *out = NULL;
    rc = pl_call_sync(c, ev, d, rc, timeout_ms, out ? &ack : NULL);
    if (rc == PARLEY_OK && out)
        rc = parse(ack, out);
    free(ack);
    return rc;
}

static int parse_metrics(const char *json, void **out)
{
    return parse_with(json, metrics_result, out);
}

static int parse_events(const char *json, void **out)
{
    return parse_with(json, events_result, out);
}

static int parse_stats(const char *json, void **out)
{
    return parse_with(json, stats_result, out);
}

static int parse_health(const char *json, void **out)
{
    return parse_with(json, health_result, out);
}

PARLEY_API int parley_monitoring_metrics(parley_client *c, int timeout_ms,
                                         struct parley_metrics **out)
{
    return call(c, PD_EV_MON_METRICS, NULL, PARLEY_OK, timeout_ms, parse_metrics,
                (void **)out);
}

PARLEY_API int parley_monitoring_metrics_async(parley_client *c, parley_ack_cb cb, void *arg)
{
    return pl_call_async(c, PD_EV_MON_METRICS, NULL, PARLEY_OK, cb, arg);
}

/* {} or {"limit": limit, "type": type}, each when given. */
static cJSON *events_data(int limit, const char *type, int *rc)
{
    cJSON *d;
    size_t len = type ? strnlen(type, EVENT_TYPE_MAX + 1) : 0;

    *rc = PARLEY_ERR_INVAL;
    if (limit < 0 || limit > EVENTS_LIMIT_MAX || (type && (len == 0 || len > EVENT_TYPE_MAX)))
        return NULL;
    *rc = PARLEY_OK;
    if (limit == 0 && !type)
        return NULL;
    *rc = PARLEY_ERR_NOMEM;
    d = cJSON_CreateObject();
    if (!d || (limit > 0 && !pl_json_add_int64(d, "limit", limit)) ||
        (type && !cJSON_AddStringToObject(d, "type", type))) {
        cJSON_Delete(d);
        return NULL;
    }
    *rc = PARLEY_OK;
    return d;
}

PARLEY_API int parley_monitoring_events(parley_client *c, int limit, const char *type,
                                        int timeout_ms, struct parley_events **out)
{
    int rc;
    cJSON *d = events_data(limit, type, &rc);

    return call(c, PD_EV_MON_EVENTS, d, rc, timeout_ms, parse_events, (void **)out);
}

PARLEY_API int parley_monitoring_events_async(parley_client *c, int limit, const char *type,
                                              parley_ack_cb cb, void *arg)
{
    int rc;
    cJSON *d = events_data(limit, type, &rc);

    return pl_call_async(c, PD_EV_MON_EVENTS, d, rc, cb, arg);
}

PARLEY_API int parley_monitoring_stats(parley_client *c, int timeout_ms,
                                       struct parley_monitoring_stats **out)
{
    return call(c, PD_EV_MON_STATS, NULL, PARLEY_OK, timeout_ms, parse_stats, (void **)out);
}

PARLEY_API int parley_monitoring_stats_async(parley_client *c, parley_ack_cb cb, void *arg)
{
    return pl_call_async(c, PD_EV_MON_STATS, NULL, PARLEY_OK, cb, arg);
}

PARLEY_API int parley_monitoring_health(parley_client *c, int timeout_ms,
                                        struct parley_health **out)
{
    return call(c, PD_EV_MON_HEALTH, NULL, PARLEY_OK, timeout_ms, parse_health, (void **)out);
}

PARLEY_API int parley_monitoring_health_async(parley_client *c, parley_ack_cb cb, void *arg)
{
    return pl_call_async(c, PD_EV_MON_HEALTH, NULL, PARLEY_OK, cb, arg);
}
