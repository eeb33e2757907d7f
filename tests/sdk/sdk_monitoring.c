/* sdk_monitoring: libparley's monitoring calls (parley_monitoring_metrics,
 * _events, _stats, _health, blocking and async, and their parse and free
 * functions) through a real parleyd, with only parley.h.
 *
 *   sdk_monitoring URL ADMIN_TOKEN USER_TOKEN
 *
 * ADMIN_TOKEN's role is admin, USER_TOKEN's is not; the two are of two
 * different users. First the parse functions and the argument checks
 * (no server needed), then: the user gets "forbidden" from every call; a
 * token the server refuses makes an auth failure; the admin (managed: a
 * loop thread) reads plausible figures while both are connected
 * (connections >= 2, connect events of both users, newest first, the
 * auth failure counted, health with a status consistent with its checks),
 * the async forms read through the parse functions, and the user's
 * disconnect shows up as an event. Prints TAP; exits 1 when a check
 * fails, 2 on bad usage. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parley.h"
#include "sdk_tap.h"

#define T_MS 5000

/* rc and the server's error, for a failing check's detail. */
static int refused(parley_client *c, int rc, const char *code)
{
    return rc == PARLEY_ERR_SERVER && strcmp(parley_error_code(c), code) == 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- async completions (the admin's loop thread runs the callback) ---------- */

struct slot {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc;
    char *json;
};

static struct slot slot = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};

static void on_ack(parley_client *c, void *ud, void *arg, int rc, const char *json)
{
    struct slot *s = arg;
    pthread_mutex_lock(&s->mu);
    s->rc = rc;
    s->json = json ? strdup(json) : NULL;
    s->done = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Waits for the async call started with rc; returns its rc, the data JSON
 * in *json (the caller frees it). */
static int wait_slot(int rc, char **json)
{
    struct timespec end;

    *json = NULL;
    if (rc != PARLEY_OK)
        return rc;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += T_MS / 1000;
    pthread_mutex_lock(&slot.mu);
    while (!slot.done && pthread_cond_timedwait(&slot.cv, &slot.mu, &end) == 0)
        ;
    rc = slot.done ? slot.rc : PARLEY_ERR_TIMEOUT;
    *json = slot.json;
    slot.json = NULL;
    slot.done = 0;
    pthread_mutex_unlock(&slot.mu);
    return rc;
}

/* ---- offline: parse functions and argument checks ------------------------------ */

static const char metrics_json[] =
    "{\"connections\":3,\"connections_total\":10,\"messages_in\":120,\"messages_out\":300,"
    "\"bytes_in\":12345,\"bytes_out\":67890,\"rooms\":4,\"users_online\":2,\"uptime_s\":42,"
    "\"rates\":{\"messages_in_per_s\":2.5,\"connections_per_s\":0.1}}";
static const char events_json[] =
    "{\"events\":[{\"type\":\"disconnect\",\"ts\":1700000000500,\"user\":\"alice\","
    "\"ip\":\"127.0.0.1\",\"user_agent\":null,\"detail\":\"1000\"},"
    "{\"type\":\"auth_failed\",\"ts\":1700000000400,\"user\":null,\"ip\":\"::1\","
    "\"user_agent\":\"curl/8\",\"detail\":{\"status\":401}},"
    "{\"type\":\"connect\",\"ts\":1700000000000,\"user\":\"alice\",\"ip\":\"127.0.0.1\","
    "\"user_agent\":\"libparley/0.1.0\",\"detail\":\"\"}]}";
static const char stats_json[] =
    "{\"by_ip\":[{\"ip\":\"127.0.0.1\",\"connections\":3},{\"ip\":\"::1\",\"connections\":1}],"
    "\"by_user_agent\":[{\"user_agent\":\"libparley/0.1.0\",\"connections\":3},"
    "{\"user_agent\":null,\"connections\":1}],\"avg_connection_s\":12.5,"
    "\"auth_failures\":2,\"rate_limited\":0}";
static const char health_json[] =
    "{\"status\":\"degraded\",\"checks\":{\"connections\":{\"status\":\"ok\",\"value\":3,"
    "\"threshold\":800},\"memory\":{\"status\":\"warn\",\"value\":612.5,\"threshold\":512},"
    "\"store_errors\":{\"status\":\"ok\",\"value\":null,\"threshold\":0}},"
    "\"recommendations\":[\"memory at 612 MB: look for a leak or raise the threshold\"]}";

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void offline_checks(const char *url)
{
    struct parley_metrics *m = NULL;
    struct parley_events *e = NULL;
    struct parley_monitoring_stats *s = NULL;
    struct parley_health *h = NULL;
    parley_client *c;
    int rc;

    rc = parley_metrics_parse(metrics_json, &m);
    ok(rc == PARLEY_OK && m && m->connections == 3 && m->connections_total == 10 &&
           m->messages_in == 120 && m->messages_out == 300 && m->bytes_in == 12345 &&
           m->bytes_out == 67890 && m->rooms == 4 && m->users_online == 2 &&
           m->uptime_s == 42 && m->messages_in_per_s == 2.5 && m->connections_per_s == 0.1,
       "parley_metrics_parse reads every figure and the rates", parley_strerror(rc));
    parley_metrics_free(m);

    rc = parley_events_parse(events_json, &e);
    ok(rc == PARLEY_OK && e && e->n == 3 && streq(e->items[0].type, "disconnect") &&
           e->items[0].ts == 1700000000500LL && streq(e->items[0].user, "alice") &&
           streq(e->items[0].ip, "127.0.0.1") && e->items[0].user_agent == NULL &&
           streq(e->items[0].detail, "1000") && e->items[1].user == NULL &&
           streq(e->items[1].user_agent, "curl/8") &&
           streq(e->items[1].detail, "{\"status\":401}") &&
           streq(e->items[2].type, "connect") && streq(e->items[2].detail, ""),
       "parley_events_parse: order kept, null user/user_agent NULL, an object detail as JSON",
       parley_strerror(rc));
    parley_events_free(e);
    e = NULL;
    rc = parley_events_parse("{\"events\":[]}", &e);
    ok(rc == PARLEY_OK && e && e->n == 0 && e->items == NULL,
       "parley_events_parse: no events is n 0, items NULL", parley_strerror(rc));
    parley_events_free(e);
    e = NULL;
    rc = parley_events_parse("[{\"type\":\"connect\",\"ts\":1,\"ip\":\"::1\"}]", &e);
    ok(rc == PARLEY_OK && e && e->n == 1 && e->items[0].user == NULL &&
           streq(e->items[0].detail, ""),
       "parley_events_parse takes the bare array; absent fields NULL or \"\"",
       parley_strerror(rc));
    parley_events_free(e);

    rc = parley_monitoring_stats_parse(stats_json, &s);
    ok(rc == PARLEY_OK && s && s->n_by_ip == 2 && streq(s->by_ip[0].ip, "127.0.0.1") &&
           s->by_ip[0].connections == 3 && streq(s->by_ip[1].ip, "::1") &&
           s->n_by_user_agent == 2 && streq(s->by_user_agent[0].user_agent, "libparley/0.1.0") &&
           s->by_user_agent[1].user_agent == NULL && s->by_user_agent[1].connections == 1 &&
           s->avg_connection_s == 12.5 && s->auth_failures == 2 && s->rate_limited == 0,
       "parley_monitoring_stats_parse reads both lists and the totals", parley_strerror(rc));
    parley_monitoring_stats_free(s);

    rc = parley_health_parse(health_json, &h);
    ok(rc == PARLEY_OK && h && streq(h->status, "degraded") && h->n_checks == 3 &&
           streq(h->checks[0].name, "connections") && streq(h->checks[0].status, "ok") &&
           h->checks[0].value == 3 && h->checks[0].threshold == 800 &&
           streq(h->checks[1].name, "memory") && h->checks[1].value == 612.5 &&
           streq(h->checks[2].name, "store_errors") && isnan(h->checks[2].value) &&
           h->checks[2].threshold == 0 && h->n_recommendations == 1 &&
           strstr(h->recommendations[0], "memory") != NULL,
       "parley_health_parse: checks in order, a null value NaN, recommendations",
       parley_strerror(rc));
    parley_health_free(h);

    m = (void *)1;
    ok(parley_metrics_parse("{\"connections\":1}", &m) == PARLEY_ERR_PROTOCOL && m == NULL,
       "a metrics object missing figures is PARLEY_ERR_PROTOCOL, *out NULL", NULL);
    ok(parley_metrics_parse("not json", &m) == PARLEY_ERR_PROTOCOL &&
           parley_events_parse("{\"events\":[{\"ts\":1}]}", &e) == PARLEY_ERR_PROTOCOL &&
           parley_events_parse("{}", &e) == PARLEY_ERR_PROTOCOL &&
           parley_monitoring_stats_parse("{\"by_ip\":{}}", &s) == PARLEY_ERR_PROTOCOL &&
           parley_health_parse("{\"status\":\"healthy\",\"checks\":[]}", &h) ==
               PARLEY_ERR_PROTOCOL &&
           parley_health_parse("{\"status\":\"healthy\",\"checks\":{\"x\":{\"status\":1}}}",
                               &h) == PARLEY_ERR_PROTOCOL,
       "other shapes are PARLEY_ERR_PROTOCOL", NULL);
    ok(parley_metrics_parse(NULL, &m) == PARLEY_ERR_INVAL &&
           parley_events_parse(events_json, NULL) == PARLEY_ERR_INVAL &&
           parley_monitoring_stats_parse(NULL, &s) == PARLEY_ERR_INVAL &&
           parley_health_parse(NULL, &h) == PARLEY_ERR_INVAL,
       "NULL arguments to the parse functions are PARLEY_ERR_INVAL", NULL);
    parley_metrics_free(NULL);
    parley_events_free(NULL);
    parley_monitoring_stats_free(NULL);
    parley_health_free(NULL);
    ok(1, "the free functions accept NULL", NULL);

    ok(parley_monitoring_metrics(NULL, T_MS, &m) == PARLEY_ERR_INVAL &&
           parley_monitoring_events_async(NULL, 0, NULL, on_ack, &slot) == PARLEY_ERR_INVAL &&
           parley_monitoring_stats(NULL, T_MS, &s) == PARLEY_ERR_INVAL &&
           parley_monitoring_health_async(NULL, on_ack, &slot) == PARLEY_ERR_INVAL,
       "a NULL client is PARLEY_ERR_INVAL", NULL);
    c = parley_client_new(url, NULL);
    if (!c) {
        ok(0, "parley_client_new", url);
        return;
    }
    ok(parley_monitoring_events(c, -1, NULL, T_MS, &e) == PARLEY_ERR_INVAL &&
           parley_monitoring_events(c, 1001, NULL, T_MS, &e) == PARLEY_ERR_INVAL &&
           parley_monitoring_events(c, 10, "", T_MS, &e) == PARLEY_ERR_INVAL &&
           parley_monitoring_events_async(c, 1001, "connect", on_ack, &slot) ==
               PARLEY_ERR_INVAL,
       "events: a limit outside 0..1000 or an empty type is PARLEY_ERR_INVAL", NULL);
    e = (void *)1;
    rc = parley_monitoring_events(c, 10, "connect", T_MS, &e);
    ok(rc == PARLEY_ERR_NOT_CONNECTED && e == NULL,
       "a call before connecting is PARLEY_ERR_NOT_CONNECTED, *out NULL", rcs(c, rc));
    ok(parley_monitoring_metrics_async(c, on_ack, &slot) == PARLEY_ERR_NOT_CONNECTED &&
           parley_monitoring_health(c, T_MS, &h) == PARLEY_ERR_NOT_CONNECTED,
       "so is an async one (no callback)", NULL);
    parley_client_destroy(c);
}

/* ---- against the server ------------------------------------------------------------ */

static parley_client *connect_as(const char *url, const char *token, const char *who)
{
    parley_client *c = parley_client_new(url, NULL);
    int rc;

    if (!c) {
        ok(0, "parley_client_new", url);
        return NULL;
    }
    parley_set_token(c, token);
    rc = parley_connect(c, T_MS);
    ok(rc == PARLEY_OK, who, rcs(c, rc));
    if (rc != PARLEY_OK) {
        parley_client_destroy(c);
        return NULL;
    }
    return c;
}

static void user_forbidden(parley_client *u)
{
    struct parley_metrics *m = (void *)1;
    struct parley_events *e = (void *)1;
    struct parley_monitoring_stats *s = (void *)1;
    struct parley_health *h = (void *)1;
    int rc;

    rc = parley_monitoring_metrics(u, T_MS, &m);
    ok(refused(u, rc, "forbidden") && m == NULL, "user: metrics is forbidden, *out NULL",
       rcs(u, rc));
    rc = parley_monitoring_events(u, 10, NULL, T_MS, &e);
    ok(refused(u, rc, "forbidden") && e == NULL, "user: events is forbidden", rcs(u, rc));
    rc = parley_monitoring_events(u, 0, "connect", T_MS, NULL);
    ok(refused(u, rc, "forbidden"), "user: events of a type (no out) is forbidden",
       rcs(u, rc));
    rc = parley_monitoring_stats(u, T_MS, &s);
    ok(refused(u, rc, "forbidden") && s == NULL, "user: stats is forbidden", rcs(u, rc));
    rc = parley_monitoring_health(u, T_MS, &h);
    ok(refused(u, rc, "forbidden") && h == NULL, "user: health is forbidden", rcs(u, rc));
    ok(parley_is_connected(u), "user: still connected after the refusals", NULL);
}

/* The user id of a connect event by a user other than not_this, NULL if
 * none. */
static const char *other_user(const struct parley_events *e, const char *not_this)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->items[i].user && (!not_this || strcmp(e->items[i].user, not_this) != 0))
            return e->items[i].user;
    return NULL;
}

static size_t count_type(const struct parley_events *e, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n; i++)
        n += streq(e->items[i].type, type);
    return n;
}

static int newest_first(const struct parley_events *e)
{
    for (size_t i = 1; i < e->n; i++)
        if (e->items[i].ts > e->items[i - 1].ts)
            return 0;
    return 1;
}

static void admin_metrics(parley_client *a)
{
    struct parley_metrics *m = NULL, *m2 = NULL;
    char detail[256], *json;
    int rc;

    rc = parley_monitoring_metrics(a, T_MS, &m);
    ok(rc == PARLEY_OK && m, "admin: metrics", rcs(a, rc));
    if (!m)
        return;
    snprintf(detail, sizeof detail,
             "connections %lld total %lld in %lld out %lld bytes %lld/%lld users %lld "
             "uptime %lld rates %g %g",
             (long long)m->connections, (long long)m->connections_total,
             (long long)m->messages_in, (long long)m->messages_out, (long long)m->bytes_in,
             (long long)m->bytes_out, (long long)m->users_online, (long long)m->uptime_s,
             m->messages_in_per_s, m->connections_per_s);
    ok(m->connections >= 2 && m->connections_total >= m->connections,
       "admin: connections >= 2 while both are connected, total >= open", detail);
    ok(m->users_online >= 2, "admin: users_online >= 2", detail);
    ok(m->messages_in >= 6 && m->messages_out >= 6 && m->bytes_in > m->messages_in &&
           m->bytes_out > m->messages_out,
       "admin: the requests so far are counted in and out, with their bytes", detail);
    ok(m->uptime_s >= 0 && m->uptime_s < 86400 && m->rooms >= 0 && m->messages_in_per_s >= 0 &&
           m->connections_per_s >= 0 && m->connections_per_s < 1000,
       "admin: uptime, rooms and rates are plausible", detail);

    rc = wait_slot(parley_monitoring_metrics_async(a, on_ack, &slot), &json);
    ok(rc == PARLEY_OK && json, "admin: metrics async", parley_strerror(rc));
    rc = json ? parley_metrics_parse(json, &m2) : PARLEY_ERR_INVAL;
    ok(rc == PARLEY_OK && m2 && m2->connections_total >= m->connections_total &&
           m2->messages_in > m->messages_in,
       "admin: its data parses with parley_metrics_parse, later counters not lower",
       json ? json : parley_strerror(rc));
    free(json);
    parley_metrics_free(m2);
    parley_metrics_free(m);
}

static void admin_events(parley_client *a, const char *admin_user, int64_t start)
{
    struct parley_events *e = NULL, *one = NULL, *conn = NULL, *af = NULL;
    char *json;
    int rc;
    int64_t now = now_ms();

    rc = parley_monitoring_events(a, 0, NULL, T_MS, &e);
    ok(rc == PARLEY_OK && e, "admin: events (default limit)", rcs(a, rc));
    if (!e)
        return;
    ok(e->n >= 2 && e->n <= 100 && count_type(e, "connect") >= 2,
       "admin: at least two connect events, at most 100", NULL);
    ok(newest_first(e), "admin: events newest first", NULL);
    ok(e->n > 0 && e->items[0].ts >= start - 60000 && e->items[0].ts <= now + 60000 &&
           e->items[0].ip && *e->items[0].ip && e->items[0].detail,
       "admin: the newest event has a plausible ts and an ip", NULL);
    parley_events_free(e);

    rc = parley_monitoring_events(a, 1, NULL, T_MS, &one);
    ok(rc == PARLEY_OK && one && one->n == 1, "admin: events with limit 1 gives one",
       rcs(a, rc));
    parley_events_free(one);

    rc = parley_monitoring_events(a, 1000, "connect", T_MS, &conn);
    ok(rc == PARLEY_OK && conn && conn->n >= 2 && count_type(conn, "connect") == conn->n,
       "admin: events of type connect are all connect, two at least", rcs(a, rc));
    if (conn) {
        const char *other = other_user(conn, admin_user);
        ok(other_user(conn, NULL) && other && (!admin_user || strcmp(other, admin_user) != 0),
           "admin: connect events name the users (two different ones)", NULL);
        ok(conn->n > 0 && conn->items[0].user_agent && strstr(conn->items[0].user_agent, "parley"),
           "admin: the newest connect has libparley's user agent",
           conn->n && conn->items[0].user_agent ? conn->items[0].user_agent : "(null)");
    }
    parley_events_free(conn);

    rc = parley_monitoring_events(a, 0, "auth_failed", T_MS, &af);
    ok(rc == PARLEY_OK && af && af->n >= 1 && count_type(af, "auth_failed") == af->n,
       "admin: the refused token is an auth_failed event", rcs(a, rc));
    parley_events_free(af);

    rc = parley_monitoring_events(a, 5, "no_such_type", T_MS, &e);
    ok(refused(a, rc, "bad_request"), "admin: an unknown type is bad_request", rcs(a, rc));

    e = NULL;
    rc = wait_slot(parley_monitoring_events_async(a, 3, "connect", on_ack, &slot), &json);
    ok(rc == PARLEY_OK && json, "admin: events async", parley_strerror(rc));
    rc = json ? parley_events_parse(json, &e) : PARLEY_ERR_INVAL;
    ok(rc == PARLEY_OK && e && e->n >= 2 && e->n <= 3 && count_type(e, "connect") == e->n,
       "admin: its data parses with parley_events_parse (limit and type sent)",
       json ? json : parley_strerror(rc));
    free(json);
    parley_events_free(e);
}

static void admin_stats(parley_client *a)
{
    struct parley_monitoring_stats *s = NULL, *s2 = NULL;
    int64_t local = 0, agents = 0;
    char *json;
    int rc;

    rc = parley_monitoring_stats(a, T_MS, &s);
    ok(rc == PARLEY_OK && s, "admin: stats", rcs(a, rc));
    if (!s)
        return;
    for (size_t i = 0; i < s->n_by_ip; i++)
        if (streq(s->by_ip[i].ip, "127.0.0.1") || streq(s->by_ip[i].ip, "::1") ||
            streq(s->by_ip[i].ip, "::ffff:127.0.0.1"))
            local += s->by_ip[i].connections;
    for (size_t i = 0; i < s->n_by_user_agent; i++)
        agents += s->by_user_agent[i].connections;
    ok(local >= 2 && s->n_by_ip <= 20, "admin: by_ip counts both local connections", NULL);
    ok(agents >= 2 && s->n_by_user_agent <= 20 && s->n_by_user_agent >= 1,
       "admin: by_user_agent counts them too", NULL);
    ok(s->auth_failures >= 1 && s->rate_limited >= 0 && s->avg_connection_s >= 0,
       "admin: the auth failure is counted; avg_connection_s >= 0", NULL);
    rc = wait_slot(parley_monitoring_stats_async(a, on_ack, &slot), &json);
    rc = rc == PARLEY_OK && json ? parley_monitoring_stats_parse(json, &s2) : rc;
    ok(rc == PARLEY_OK && s2 && s2->auth_failures >= s->auth_failures,
       "admin: stats async, parsed with parley_monitoring_stats_parse",
       json ? json : parley_strerror(rc));
    free(json);
    parley_monitoring_stats_free(s2);
    parley_monitoring_stats_free(s);
}

static int check_status_ok(const char *s)
{
    return streq(s, "ok") || streq(s, "warn") || streq(s, "fail");
}

static void admin_health(parley_client *a)
{
    struct parley_health *h = NULL, *h2 = NULL;
    size_t warn = 0, fail = 0, bad = 0, named = 0;
    const char *want;
    char *json;
    int rc;

    rc = parley_monitoring_health(a, T_MS, &h);
    ok(rc == PARLEY_OK && h, "admin: health", rcs(a, rc));
    if (!h)
        return;
    ok(streq(h->status, "healthy") || streq(h->status, "degraded") ||
           streq(h->status, "unhealthy"),
       "admin: health has a status", h->status);
    for (size_t i = 0; i < h->n_checks; i++) {
        warn += streq(h->checks[i].status, "warn");
        fail += streq(h->checks[i].status, "fail");
        bad += !check_status_ok(h->checks[i].status) || !h->checks[i].name ||
               !*h->checks[i].name;
        named += streq(h->checks[i].name, "connections");
    }
    ok(h->n_checks >= 1 && bad == 0 && named == 1,
       "admin: health has checks (connections among them), each ok, warn or fail", NULL);
    want = fail ? "unhealthy" : warn ? "degraded" : "healthy";
    ok(streq(h->status, want), "admin: the status follows the worst check", want);
    ok(h->n_recommendations >= warn + fail,
       "admin: a recommendation for each warning or failing check", NULL);
    for (size_t i = 0; i < h->n_recommendations; i++)
        printf("# recommendation: %s\n", h->recommendations[i]);
    rc = wait_slot(parley_monitoring_health_async(a, on_ack, &slot), &json);
    rc = rc == PARLEY_OK && json ? parley_health_parse(json, &h2) : rc;
    ok(rc == PARLEY_OK && h2 && h2->n_checks == h->n_checks,
       "admin: health async, parsed with parley_health_parse", json ? json : parley_strerror(rc));
    free(json);
    parley_health_free(h2);
    parley_health_free(h);
}

/* After the user left: its disconnect event (the server notices the close
 * on its own time, so this polls, bounded). */
static void admin_after_disconnect(parley_client *a, const char *user)
{
    struct parley_events *e = NULL;
    int found = 0, rc = PARLEY_OK;

    for (int i = 0; i < 100 && !found; i++) {
        rc = parley_monitoring_events(a, 50, "disconnect", T_MS, &e);
        if (rc != PARLEY_OK)
            break;
        for (size_t k = 0; k < e->n; k++)
            found |= !user || streq(e->items[k].user, user);
        parley_events_free(e);
        e = NULL;
        if (!found)
            sleep_ms(50);
    }
    ok(found, "admin: the user's disconnect is an event", rcs(a, rc));
}

int main(int argc, char **argv)
{
    const char *url, *admin_token, *user_token;
    parley_client *a = NULL, *u = NULL, *bad;
    struct parley_events *e = NULL;
    char *admin_user = NULL, *user = NULL;
    int64_t start = now_ms();
    int rc;

    if (argc != 4) {
        fprintf(stderr, "usage: sdk_monitoring URL ADMIN_TOKEN USER_TOKEN\n");
        return 2;
    }
    url = argv[1];
    admin_token = argv[2];
    user_token = argv[3];
    setvbuf(stdout, NULL, _IOLBF, 0);

    offline_checks(url);

    u = connect_as(url, user_token, "user connects (blocking mode)");
    if (u)
        user_forbidden(u);

    bad = parley_client_new(url, NULL);
    if (bad) {
        parley_set_token(bad, "not.a.jwt");
        rc = parley_connect(bad, T_MS);
        ok(rc == PARLEY_ERR_HANDSHAKE && parley_http_status(bad) == 401,
           "a bad token is refused (an auth failure for the server)", rcs(bad, rc));
        parley_client_destroy(bad);
    }

    a = connect_as(url, admin_token, "admin connects");
    if (a) {
        rc = parley_loop_start(a);
        ok(rc == PARLEY_OK, "admin: managed mode (loop thread)", parley_strerror(rc));
    }
    if (a && u) {
        /* Who is who: the newest connect is the admin's own. */
        rc = parley_monitoring_events(a, 2, "connect", T_MS, &e);
        if (rc == PARLEY_OK && e && e->n >= 1 && e->items[0].user)
            admin_user = strdup(e->items[0].user);
        if (rc == PARLEY_OK && e && e->n >= 2 && e->items[1].user)
            user = strdup(e->items[1].user);
        parley_events_free(e);
        admin_metrics(a);
        admin_events(a, admin_user, start);
        admin_stats(a);
        admin_health(a);
        parley_disconnect(u);
        parley_client_destroy(u);
        u = NULL;
        admin_after_disconnect(a, user);
    }
    if (u)
        parley_client_destroy(u);
    if (a) {
        parley_loop_stop(a);
        parley_disconnect(a);
        parley_client_destroy(a);
    }
    free(admin_user);
    free(user);
    printf("1..%d\n", test_no);
    printf("# sdk_monitoring: %d of %d failed\n", failed, test_no);
    return failed ? 1 : 0;
}
