/* Monitoring (PROTOCOL.md section 6). See monitoring.h for the threads.
 *
 * Figures. messages_in/out and bytes_in/out count WebSocket data messages
 * and their payload bytes (each recipient of a broadcast counts once); the
 * per-type event counters (connections_total is the count of connect
 * events, auth_failures of auth_failed, ...) live next to the events ring.
 *
 * Windows. A 1 s timer takes a sample of the cumulative figures into a
 * ring of per-second samples; a rate over the last 10 s and a count over
 * the last minute are the difference between now and the sample that old.
 * The two "slowest in the last minute" figures (store commit, loop lag)
 * are per-second maxima in the same samples. The loop lag is how late a
 * 100 ms timer runs: the loop checks timers once per pass, so a pass that
 * takes 300 ms makes it 200 ms late. */
#include "monitoring.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cluster.h"
#include "conn.h"
#include "hmap.h"
#include "http.h"
#include "loop.h"
#include "recovery.h"
#include "rooms.h"
#include "server.h"
#include "store.h"

#define TICK_MS 1000
#define LAG_TICK_MS 100
#define SAMPLES 64 /* per-second samples: a minute and a few seconds */
#define RATE_WINDOW_S 10
#define HEALTH_WINDOW_S 60
#define TOP_N 20
#define EVENTS_DEFAULT 100
#define EVENTS_MAX 1000
#define DETAIL_MAX 160
#define UA_MAX 256

/* Health thresholds (PROTOCOL.md 6; documented in parley-protocol.7). */
#define CONN_WARN_PCT 80
#define CONN_FAIL_PCT 95
#define MEMORY_WARN_MB 1024
/* A single slow commit or loop pass on a shared, busy machine (or under a
 * sanitizer) is not a sick server: the thresholds sit where users would
 * notice — half a second — so /healthz does not flap to 503 on a hiccup. */
#define STORE_WARN_MS 500
#define STORE_FAIL_MS 5000
#define AUTH_FAILURES_WARN 30
#define LAG_WARN_MS 500
#define LAG_FAIL_MS 5000

static const char *const type_names[PD_MON__COUNT] = {
    "connect",  "disconnect",     "auth_failed",   "rate_limited",   "origin_rejected",
    "recovered", "recover_failed", "slow_consumer", "protocol_error",
};

enum { CHK_OK, CHK_WARN, CHK_FAIL };
static const char *const check_status_names[] = {"ok", "warn", "fail"};
static const char *const health_names[] = {"healthy", "degraded", "unhealthy"};

enum check_id {
    CK_CONNECTIONS,
    CK_MEMORY,
    CK_STORE_LATENCY,
    CK_STORE_ERRORS,
    CK_SLOW_CONSUMERS,
    CK_AUTH_FAILURE_RATE,
    CK_LOOP_LAG,
    CK_CLUSTER, /* only on a node of a cluster */
    CK__COUNT
};
static const char *const check_names[CK__COUNT] = {
    "connections",    "memory",            "store_latency", "store_errors",
    "slow_consumers", "auth_failure_rate", "loop_lag",      "cluster",
};

struct check {
    bool absent; /* not reported (cluster on a node alone) */
    int status;
    double value, threshold;
    char rec[224]; /* the recommendation, "" when ok */
};

struct health {
    int status; /* worst check */
    struct check c[CK__COUNT];
};

struct mon_event {
    int64_t ts; /* wall ms */
    enum pd_mon_event type;
    char user[PD_NAME_MAX + 1]; /* "" when unknown */
    char ip[64];
    char *user_agent; /* owned, NULL when none */
    char detail[DETAIL_MAX];
};

/* Current connections of one IP, User-Agent or user; the key is inline. */
struct mon_count {
    size_t n;
    char key[];
};

struct sample {
    int64_t t; /* monotonic ms */
    uint64_t messages_in, connections_total, auth_failures, slow_consumers, store_errors, refused;
    int64_t lag_ms, store_ms; /* maxima over the second that ended at t */
};

/* Everything the figures and health checks are made of, at one instant. */
struct figures {
    int64_t uptime_s;
    uint64_t connections, messages_in, messages_out, bytes_in, bytes_out;
    uint64_t rooms, users_online, sessions;
    double messages_in_per_s, connections_per_s;
    double duration_sum_s;
    uint64_t duration_count;
    uint64_t by_type[PD_MON__COUNT];
    uint64_t refused; /* upgrades refused at the connection limit */
    struct pd_store_stats store;
    int64_t rss_bytes;
    int64_t lag_ms, store_ms; /* slowest in the last minute */
    uint64_t conn_limit;
    bool cluster_on, cluster_up;
    unsigned cluster_nodes;
    struct health health;
};

struct pd_monitor {
    struct server *srv;

    /* Loop thread only; `open` is also read (atomically) by HTTP threads,
     * which must not touch srv->conns: it is freed before HTTP stops. */
    uint64_t open;
    uint64_t messages_in, messages_out, bytes_in, bytes_out;
    struct pd_hmap by_ip, by_ua, by_user; /* -> struct mon_count */
    int64_t duration_sum_ms;
    uint64_t duration_count;
    struct sample samples[SAMPLES];
    uint64_t nsamples;   /* taken so far; the newest is [(nsamples - 1) % SAMPLES] */
    int64_t lag_cur_ms;  /* this second's maxima, folded into the next sample */
    int64_t store_cur_ms;
    int64_t lag_last;    /* when the lag probe last ran (monotonic ms) */
    unsigned conn_limit;
    /* Atomic, any thread: upgrades refused at the connection limit (503).
     * Not an event: PROTOCOL.md 6 has no type for it, and rate_limited
     * counts refusals of a client, not of a full server. */
    uint64_t refused;

    /* ev_mu: the ring and the per-type counters (HTTP threads write both). */
    pthread_mutex_t ev_mu;
    struct mon_event *ring; /* PD_MON_RING entries */
    uint64_t nevents;       /* recorded so far; the newest is [(nevents - 1) % RING] */
    uint64_t by_type[PD_MON__COUNT];

    /* snap_mu: what the loop published last, for /metrics and /healthz. */
    pthread_mutex_t snap_mu;
    struct figures snap;
};

/* ---- events --------------------------------------------------------------------- */

static void record(struct pd_monitor *m, enum pd_mon_event type, const char *user, const char *ip,
                   const char *user_agent, const char *fmt, va_list ap)
{
    char *ua = user_agent && *user_agent ? strndup(user_agent, UA_MAX) : NULL;
    char *old;
    struct mon_event *e;

    if ((unsigned)type >= PD_MON__COUNT) {
        free(ua);
        return;
    }
    pthread_mutex_lock(&m->ev_mu);
    e = &m->ring[m->nevents++ % PD_MON_RING];
    old = e->user_agent;
    e->ts = pd_now_ms();
    e->type = type;
    snprintf(e->user, sizeof(e->user), "%s", user ? user : "");
    snprintf(e->ip, sizeof(e->ip), "%s", ip ? ip : "");
    e->user_agent = ua;
    vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
    m->by_type[type]++;
    pthread_mutex_unlock(&m->ev_mu);
    free(old);
}

void pd_mon_event(struct server *srv, enum pd_mon_event type, const char *user, const char *ip,
                  const char *user_agent, const char *fmt, ...)
{
    va_list ap;

    if (srv == NULL || srv->monitor == NULL)
        return;
    va_start(ap, fmt);
    record(srv->monitor, type, user, ip, user_agent, fmt, ap);
    va_end(ap);
}

void pd_mon_conn_event(const struct pd_conn *c, enum pd_mon_event type, const char *fmt, ...)
{
    va_list ap;

    if (c->srv->monitor == NULL)
        return;
    va_start(ap, fmt);
    record(c->srv->monitor, type, c->ident.sub, c->ip, c->user_agent, fmt, ap);
    va_end(ap);
}

void pd_mon_conn_refused(struct server *srv)
{
    if (srv != NULL && srv->monitor != NULL)
        __atomic_add_fetch(&srv->monitor->refused, 1, __ATOMIC_RELAXED);
}

static void counters_read(struct pd_monitor *m, uint64_t out[PD_MON__COUNT])
{
    pthread_mutex_lock(&m->ev_mu);
    memcpy(out, m->by_type, sizeof(m->by_type));
    pthread_mutex_unlock(&m->ev_mu);
}

/* ---- connections -------------------------------------------------------------- */

static void count_add(struct pd_hmap *map, const char *key)
{
    struct mon_count *e = pd_hmap_get(map, key);
    size_t len;

    if (e != NULL) {
        e->n++;
        return;
    }
    len = strlen(key);
    e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return;
    e->n = 1;
    memcpy(e->key, key, len + 1);
    if (pd_hmap_put(map, e->key, e) != 0)
        free(e);
}

static void count_del(struct pd_hmap *map, const char *key)
{
    struct mon_count *e = pd_hmap_get(map, key);

    if (e != NULL && --e->n == 0)
        free(pd_hmap_del(map, key));
}

static void counts_free(struct pd_hmap *map)
{
    size_t pos = 0;
    struct mon_count *e;

    while ((e = pd_hmap_next(map, &pos, NULL)) != NULL)
        free(e);
    pd_hmap_free(map);
}

/* Connections without a User-Agent are grouped under "" (null on the wire). */
static const char *ua_key(const struct pd_conn *c)
{
    return c->user_agent ? c->user_agent : "";
}

void pd_mon_conn_open(const struct pd_conn *c)
{
    struct pd_monitor *m = c->srv->monitor;

    if (m == NULL)
        return;
    __atomic_add_fetch(&m->open, 1, __ATOMIC_RELAXED);
    count_add(&m->by_ip, c->ip);
    count_add(&m->by_ua, ua_key(c));
    count_add(&m->by_user, c->ident.sub);
    pd_mon_conn_event(c, PD_MON_CONNECT, "connection %llu opened%s", (unsigned long long)c->id,
                      c->ident.admin ? " (admin)" : "");
}

void pd_mon_conn_close(const struct pd_conn *c, unsigned code_sent, unsigned code_received)
{
    struct pd_monitor *m = c->srv->monitor;
    int64_t ms;

    if (m == NULL)
        return;
    ms = pd_now_ms() - c->connected_ms;
    if (ms < 0)
        ms = 0;
    m->duration_sum_ms += ms;
    m->duration_count++;
    __atomic_sub_fetch(&m->open, 1, __ATOMIC_RELAXED);
    count_del(&m->by_ip, c->ip);
    count_del(&m->by_ua, ua_key(c));
    count_del(&m->by_user, c->ident.sub);
    pd_mon_conn_event(c, PD_MON_DISCONNECT,
                      "connection %llu closed after %lld.%03lld s (close sent %u, received %u)",
                      (unsigned long long)c->id, (long long)(ms / 1000), (long long)(ms % 1000),
                      code_sent, code_received);
}

void pd_mon_in(struct server *srv, size_t len)
{
    struct pd_monitor *m = srv->monitor;

    if (m != NULL) {
        m->messages_in++;
        m->bytes_in += len;
    }
}

void pd_mon_out(struct server *srv, size_t len)
{
    struct pd_monitor *m = srv->monitor;

    if (m != NULL) {
        m->messages_out++;
        m->bytes_out += len;
    }
}

/* ---- figures ---------------------------------------------------------------------- */

static const struct sample *sample_back(const struct pd_monitor *m, uint64_t back)
{
    if (back > m->nsamples - 1)
        back = m->nsamples - 1;
    return &m->samples[(m->nsamples - 1 - back) % SAMPLES];
}

static int64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, res = 0;
    int n;

    if (f == NULL)
        return 0;
    n = fscanf(f, "%lld %lld", &size, &res);
    fclose(f);
    return n == 2 ? res * (int64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* The store's slowest commit since the last call joins this second's. */
static void fold_store(struct pd_monitor *m)
{
    int64_t ms = (int64_t)(pd_store_commit_max_take(m->srv->store) / 1000);

    if (ms > m->store_cur_ms)
        m->store_cur_ms = ms;
}

static double per_s(uint64_t now_v, uint64_t then_v, int64_t dt_ms)
{
    return dt_ms > 0 ? (double)(now_v - then_v) * 1000.0 / (double)dt_ms : 0.0;
}

static void set_check(struct check *k, int status, double value, double threshold)
{
    k->status = status;
    k->value = value;
    k->threshold = threshold;
    k->rec[0] = '\0';
}

/* The seven checks of the spec; f's other figures are filled. */
static void health_eval(const struct pd_monitor *m, struct figures *f, const struct sample *base)
{
    struct health *h = &f->health;
    struct check *k;
    double pct = f->conn_limit ? 100.0 * (double)f->connections / (double)f->conn_limit : 0;
    uint64_t failures = f->by_type[PD_MON_AUTH_FAILED] - base->auth_failures;
    uint64_t slow = f->by_type[PD_MON_SLOW_CONSUMER] - base->slow_consumers;
    uint64_t store_errors = f->store.failed_batches - base->store_errors;
    uint64_t refused = f->refused - base->refused;
    int64_t rss_mb = f->rss_bytes / (1024 * 1024);

    k = &h->c[CK_CONNECTIONS];
    if (pct >= CONN_FAIL_PCT)
        set_check(k, CHK_FAIL, (double)f->connections, (double)f->conn_limit * CONN_FAIL_PCT / 100);
    else if (pct >= CONN_WARN_PCT || refused > 0) /* refusals: it was full this minute */
        set_check(k, CHK_WARN, (double)f->connections, (double)f->conn_limit * CONN_WARN_PCT / 100);
    else
        set_check(k, CHK_OK, (double)f->connections, (double)f->conn_limit * CONN_WARN_PCT / 100);
    if (k->status != CHK_OK && refused > 0)
        snprintf(k->rec, sizeof(k->rec),
                 "connections at %.0f %% of the limit (%llu of %llu), %llu upgrade%s refused with "
                 "503 in the last minute: raise max_connections or the open file limit, or add a "
                 "node",
                 pct, (unsigned long long)f->connections, (unsigned long long)f->conn_limit,
                 (unsigned long long)refused, refused == 1 ? "" : "s");
    else if (k->status != CHK_OK)
        snprintf(k->rec, sizeof(k->rec),
                 "connections at %.0f %% of the limit (%llu of %llu): past it upgrades are "
                 "refused with 503; raise max_connections or the open file limit, or add a node",
                 pct, (unsigned long long)f->connections, (unsigned long long)f->conn_limit);

    k = &h->c[CK_MEMORY];
    set_check(k, rss_mb > MEMORY_WARN_MB ? CHK_WARN : CHK_OK, (double)rss_mb, MEMORY_WARN_MB);
    if (k->status != CHK_OK)
        snprintf(k->rec, sizeof(k->rec),
                 "resident memory is %lld MB (over %d MB): look for slow consumers and large "
                 "rooms, or give the server more memory",
                 (long long)rss_mb, MEMORY_WARN_MB);

    k = &h->c[CK_STORE_LATENCY];
    if (f->store_ms >= STORE_FAIL_MS)
        set_check(k, CHK_FAIL, (double)f->store_ms, STORE_FAIL_MS);
    else
        set_check(k, f->store_ms >= STORE_WARN_MS ? CHK_WARN : CHK_OK, (double)f->store_ms,
                  STORE_WARN_MS);
    if (k->status != CHK_OK)
        snprintf(k->rec, sizeof(k->rec),
                 "the slowest store commit of the last minute took %lld ms: put the database on "
                 "faster storage or lighten the write load",
                 (long long)f->store_ms);

    k = &h->c[CK_STORE_ERRORS];
    set_check(k, store_errors > 0 ? CHK_FAIL : CHK_OK, (double)store_errors, 0);
    if (k->status != CHK_OK)
        snprintf(k->rec, sizeof(k->rec),
                 "%llu store transactions failed in the last minute: check the disk (space, "
                 "permissions, errors) and the server log",
                 (unsigned long long)store_errors);

    k = &h->c[CK_SLOW_CONSUMERS];
    set_check(k, slow > 0 ? CHK_WARN : CHK_OK, (double)slow, 0);
    if (k->status != CHK_OK)
        snprintf(k->rec, sizeof(k->rec),
                 "%llu slow consumers were closed in the last minute: check those clients' "
                 "networks, or raise outbound_limit if they only fall behind in bursts",
                 (unsigned long long)slow);

    k = &h->c[CK_AUTH_FAILURE_RATE];
    set_check(k, failures > AUTH_FAILURES_WARN ? CHK_WARN : CHK_OK, (double)failures,
              AUTH_FAILURES_WARN);
    if (k->status != CHK_OK)
        snprintf(k->rec, sizeof(k->rec),
                 "%llu authentication failures in the last minute: check the clients' tokens and "
                 "the jwt_ settings, and the auth_failed events for a guessing attack",
                 (unsigned long long)failures);

    k = &h->c[CK_LOOP_LAG];
    if (f->lag_ms >= LAG_FAIL_MS)
        set_check(k, CHK_FAIL, (double)f->lag_ms, LAG_FAIL_MS);
    else
        set_check(k, f->lag_ms >= LAG_WARN_MS ? CHK_WARN : CHK_OK, (double)f->lag_ms,
                  LAG_WARN_MS);
    if (k->status != CHK_OK)
        snprintf(k->rec, sizeof(k->rec),
                 "the event loop ran up to %lld ms late in the last minute: the server is "
                 "overloaded; spread the connections over more nodes",
                 (long long)f->lag_ms);

    k = &h->c[CK_CLUSTER];
    set_check(k, f->cluster_on && !f->cluster_up ? CHK_FAIL : CHK_OK, (double)f->cluster_nodes,
              1);
    k->absent = !f->cluster_on;
    if (k->status != CHK_OK)
        snprintf(k->rec, sizeof(k->rec),
                 "this node has lost Redis (cluster): messages are still stored and acked, but "
                 "the other nodes learn of them only when it is back; check Redis and the "
                 "network to it");

    h->status = CHK_OK;
    for (int i = 0; i < CK__COUNT; i++)
        if (h->c[i].status > h->status)
            h->status = h->c[i].status;
    (void)m;
}

/* Every figure, now. Loop thread. */
static void collect(struct pd_monitor *m, struct figures *f)
{
    struct server *srv = m->srv;
    int64_t now = pd_mono_ms();
    const struct sample *rate_base = sample_back(m, RATE_WINDOW_S);
    const struct sample *health_base = sample_back(m, HEALTH_WINDOW_S);
    size_t pos = 0;

    memset(f, 0, sizeof(*f));
    f->uptime_s = (pd_now_ms() - srv->started_ms) / 1000;
    f->connections = m->open;
    f->messages_in = m->messages_in;
    f->messages_out = m->messages_out;
    f->bytes_in = m->bytes_in;
    f->bytes_out = m->bytes_out;
    if (srv->rooms != NULL)
        while (pd_room_next(srv, &pos) != NULL)
            f->rooms++;
    f->users_online = m->by_user.len;
    f->sessions = pd_recovery_count(srv);
    counters_read(m, f->by_type);
    f->refused = __atomic_load_n(&m->refused, __ATOMIC_RELAXED);
    f->messages_in_per_s = per_s(m->messages_in, rate_base->messages_in, now - rate_base->t);
    f->connections_per_s =
        per_s(f->by_type[PD_MON_CONNECT], rate_base->connections_total, now - rate_base->t);
    f->duration_sum_s = (double)m->duration_sum_ms / 1000.0;
    f->duration_count = m->duration_count;
    pd_store_stats(srv->store, &f->store);
    f->rss_bytes = rss_bytes();
    fold_store(m);
    f->lag_ms = m->lag_cur_ms;
    f->store_ms = m->store_cur_ms;
    for (uint64_t i = 0; i < m->nsamples && i < HEALTH_WINDOW_S; i++) {
        const struct sample *s = sample_back(m, i);
        if (s->lag_ms > f->lag_ms)
            f->lag_ms = s->lag_ms;
        if (s->store_ms > f->store_ms)
            f->store_ms = s->store_ms;
    }
    f->conn_limit = m->conn_limit;
    f->cluster_on = pd_cluster_on(srv);
    f->cluster_up = pd_cluster_up(srv);
    f->cluster_nodes = pd_cluster_nodes(srv);
    health_eval(m, f, health_base);
}

static void take_sample(struct pd_monitor *m, const struct figures *f, int64_t now)
{
    struct sample *s = &m->samples[m->nsamples++ % SAMPLES];

    s->t = now;
    s->messages_in = f->messages_in;
    s->connections_total = f->by_type[PD_MON_CONNECT];
    s->auth_failures = f->by_type[PD_MON_AUTH_FAILED];
    s->slow_consumers = f->by_type[PD_MON_SLOW_CONSUMER];
    s->store_errors = f->store.failed_batches;
    s->refused = f->refused;
    s->lag_ms = m->lag_cur_ms;
    s->store_ms = m->store_cur_ms;
    m->lag_cur_ms = 0;
    m->store_cur_ms = 0;
}

/* Every second: the figures are published for the HTTP threads, then
 * become the newest sample. */
static void tick(void *arg, int64_t now)
{
    struct pd_monitor *m = arg;
    struct figures f;

    collect(m, &f);
    pthread_mutex_lock(&m->snap_mu);
    m->snap = f;
    pthread_mutex_unlock(&m->snap_mu);
    take_sample(m, &f, now);
}

static void lag_tick(void *arg, int64_t now)
{
    struct pd_monitor *m = arg;
    int64_t late = now - m->lag_last - LAG_TICK_MS;

    /* The first run only starts the clock: between pd_monitor_new and the
     * loop's first pass lies the rest of start-up, which is not lag. */
    if (m->lag_last != 0 && late > m->lag_cur_ms)
        m->lag_cur_ms = late;
    m->lag_last = now;
}

/* ---- lifecycle ------------------------------------------------------------------ */

int pd_monitor_new(struct server *srv)
{
    struct pd_monitor *m = calloc(1, sizeof(*m));
    struct figures f;

    if (m == NULL)
        return -1;
    m->ring = calloc(PD_MON_RING, sizeof(*m->ring));
    if (m->ring == NULL || pthread_mutex_init(&m->ev_mu, NULL) != 0) {
        free(m->ring);
        free(m);
        return -1;
    }
    if (pthread_mutex_init(&m->snap_mu, NULL) != 0) {
        pthread_mutex_destroy(&m->ev_mu);
        free(m->ring);
        free(m);
        return -1;
    }
    m->srv = srv;
    m->conn_limit = pd_http_conn_limit(&srv->cfg);
    srv->monitor = m;
    /* A first sample (the start) and snapshot, so windows and /healthz
     * have something to compare with from the first second. */
    m->nsamples = 0;
    m->samples[0].t = pd_mono_ms();
    m->nsamples = 1;
    if (srv->store != NULL) {
        struct pd_store_stats st;
        pd_store_stats(srv->store, &st);
        m->samples[0].store_errors = st.failed_batches;
        collect(m, &f);
        m->snap = f;
    }
    if (pd_loop_every(srv->loop, TICK_MS, tick, m) != 0 ||
        pd_loop_every(srv->loop, LAG_TICK_MS, lag_tick, m) != 0) {
        pd_monitor_free(srv);
        return -1;
    }
    return 0;
}

void pd_monitor_free(struct server *srv)
{
    struct pd_monitor *m = srv->monitor;

    if (m == NULL)
        return;
    srv->monitor = NULL;
    for (size_t i = 0; i < PD_MON_RING; i++)
        free(m->ring[i].user_agent);
    free(m->ring);
    counts_free(&m->by_ip);
    counts_free(&m->by_ua);
    counts_free(&m->by_user);
    pthread_mutex_destroy(&m->ev_mu);
    pthread_mutex_destroy(&m->snap_mu);
    free(m);
}

/* ---- handlers ---------------------------------------------------------------------- */

static enum pd_err admin_only(struct pd_req *r)
{
    if (!r->conn->ident.admin)
        return pd_req_fail(r, PD_E_FORBIDDEN, "%s is for admins only (role \"admin\" in the token)",
                           r->event);
    if (r->srv->monitor == NULL)
        return pd_req_fail(r, PD_E_INTERNAL, "monitoring is not running");
    return PD_OK;
}

enum pd_err pd_handle_mon_metrics(struct pd_req *r)
{
    struct figures f;
    cJSON *rates;
    enum pd_err e = admin_only(r);

    if (e != PD_OK)
        return e;
    collect(r->srv->monitor, &f);
    r->result = cJSON_CreateObject();
    pd_json_add_int(r->result, "connections", (int64_t)f.connections);
    pd_json_add_int(r->result, "connections_total", (int64_t)f.by_type[PD_MON_CONNECT]);
    pd_json_add_int(r->result, "messages_in", (int64_t)f.messages_in);
    pd_json_add_int(r->result, "messages_out", (int64_t)f.messages_out);
    pd_json_add_int(r->result, "bytes_in", (int64_t)f.bytes_in);
    pd_json_add_int(r->result, "bytes_out", (int64_t)f.bytes_out);
    pd_json_add_int(r->result, "rooms", (int64_t)f.rooms);
    pd_json_add_int(r->result, "users_online", (int64_t)f.users_online);
    pd_json_add_int(r->result, "uptime_s", f.uptime_s);
    rates = cJSON_AddObjectToObject(r->result, "rates");
    cJSON_AddNumberToObject(rates, "messages_in_per_s", f.messages_in_per_s);
    cJSON_AddNumberToObject(rates, "connections_per_s", f.connections_per_s);
    /* PROTOCOL.md 6 lists the members of a server alone; a node of a
     * cluster adds which node it is and what it sees of the others. */
    if (pd_cluster_on(r->srv))
        pd_cluster_json(r->srv, r->result);
    return PD_OK;
}

static int type_from_name(const char *name)
{
    for (int i = 0; i < PD_MON__COUNT; i++)
        if (strcmp(name, type_names[i]) == 0)
            return i;
    return -1;
}

static cJSON *event_json(const struct mon_event *e)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "type", type_names[e->type]);
    pd_json_add_int(o, "ts", e->ts);
    if (e->user[0])
        cJSON_AddStringToObject(o, "user", e->user);
    else
        cJSON_AddNullToObject(o, "user");
    cJSON_AddStringToObject(o, "ip", e->ip);
    if (e->user_agent)
        cJSON_AddStringToObject(o, "user_agent", e->user_agent);
    else
        cJSON_AddNullToObject(o, "user_agent");
    cJSON_AddStringToObject(o, "detail", e->detail);
    return o;
}

enum pd_err pd_handle_mon_events(struct pd_req *r)
{
    struct pd_monitor *m;
    int64_t limit = EVENTS_DEFAULT;
    const char *type_name = NULL;
    int type = -1;
    size_t n = 0;
    cJSON *events;
    enum pd_err e = admin_only(r);

    if (e != PD_OK)
        return e;
    if ((e = pd_req_int(r, "limit", false, 1, EVENTS_MAX, &limit, NULL)) != PD_OK)
        return e;
    if ((e = pd_req_string(r, "type", false, 1, 64, &type_name, NULL)) != PD_OK)
        return e;
    if (type_name != NULL && (type = type_from_name(type_name)) < 0)
        return pd_req_fail(r, PD_E_BAD_REQUEST,
                           "field 'type' must be one of connect, disconnect, auth_failed, "
                           "rate_limited, origin_rejected, recovered, recover_failed, "
                           "slow_consumer, protocol_error");
    m = r->srv->monitor;
    r->result = cJSON_CreateObject();
    events = cJSON_AddArrayToObject(r->result, "events");
    pthread_mutex_lock(&m->ev_mu);
    for (uint64_t i = 0; i < m->nevents && i < PD_MON_RING && n < (size_t)limit; i++) {
        const struct mon_event *ev = &m->ring[(m->nevents - 1 - i) % PD_MON_RING];
        if (type >= 0 && (int)ev->type != type)
            continue;
        cJSON_AddItemToArray(events, event_json(ev));
        n++;
    }
    pthread_mutex_unlock(&m->ev_mu);
    return PD_OK;
}

static int count_cmp(const void *a, const void *b)
{
    const struct mon_count *x = *(const struct mon_count *const *)a;
    const struct mon_count *y = *(const struct mon_count *const *)b;

    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* The TOP_N keys of map with the most connections, as [{name, connections}]. */
static cJSON *top_counts(const struct pd_hmap *map, const char *name, bool empty_is_null)
{
    cJSON *arr = cJSON_CreateArray();
    struct mon_count **all = map->len ? malloc(map->len * sizeof(*all)) : NULL;
    struct mon_count *e;
    size_t pos = 0, n = 0;

    if (all == NULL)
        return arr;
    while ((e = pd_hmap_next(map, &pos, NULL)) != NULL && n < map->len)
        all[n++] = e;
    qsort(all, n, sizeof(*all), count_cmp);
    for (size_t i = 0; i < n && i < TOP_N; i++) {
        cJSON *o = cJSON_CreateObject();
        if (empty_is_null && all[i]->key[0] == '\0')
            cJSON_AddNullToObject(o, name);
        else
            cJSON_AddStringToObject(o, name, all[i]->key);
        pd_json_add_int(o, "connections", (int64_t)all[i]->n);
        cJSON_AddItemToArray(arr, o);
    }
    free(all);
    return arr;
}

enum pd_err pd_handle_mon_stats(struct pd_req *r)
{
    struct pd_monitor *m;
    uint64_t by_type[PD_MON__COUNT];
    enum pd_err e = admin_only(r);

    if (e != PD_OK)
        return e;
    m = r->srv->monitor;
    counters_read(m, by_type);
    r->result = cJSON_CreateObject();
    cJSON_AddItemToObject(r->result, "by_ip", top_counts(&m->by_ip, "ip", false));
    cJSON_AddItemToObject(r->result, "by_user_agent", top_counts(&m->by_ua, "user_agent", true));
    cJSON_AddNumberToObject(r->result, "avg_connection_s",
                            m->duration_count ? (double)m->duration_sum_ms / 1000.0 /
                                                    (double)m->duration_count
                                              : 0.0);
    pd_json_add_int(r->result, "auth_failures", (int64_t)by_type[PD_MON_AUTH_FAILED]);
    pd_json_add_int(r->result, "rate_limited", (int64_t)by_type[PD_MON_RATE_LIMITED]);
    return PD_OK;
}

/* {status, checks, recommendations} into obj. */
static void health_json(cJSON *obj, const struct health *h)
{
    cJSON *checks = cJSON_CreateObject(), *recs = cJSON_CreateArray();

    cJSON_AddStringToObject(obj, "status", health_names[h->status]);
    for (int i = 0; i < CK__COUNT; i++) {
        if (h->c[i].absent)
            continue;
        cJSON *c = cJSON_AddObjectToObject(checks, check_names[i]);
        cJSON_AddStringToObject(c, "status", check_status_names[h->c[i].status]);
        cJSON_AddNumberToObject(c, "value", h->c[i].value);
        cJSON_AddNumberToObject(c, "threshold", h->c[i].threshold);
        if (h->c[i].rec[0])
            cJSON_AddItemToArray(recs, cJSON_CreateString(h->c[i].rec));
    }
    cJSON_AddItemToObject(obj, "checks", checks);
    cJSON_AddItemToObject(obj, "recommendations", recs);
}

enum pd_err pd_handle_mon_health(struct pd_req *r)
{
    struct figures f;
    enum pd_err e = admin_only(r);

    if (e != PD_OK)
        return e;
    collect(r->srv->monitor, &f);
    r->result = cJSON_CreateObject();
    health_json(r->result, &f.health);
    return PD_OK;
}

/* ---- HTTP ----------------------------------------------------------------------------- */

static void snapshot(struct pd_monitor *m, struct figures *f)
{
    pthread_mutex_lock(&m->snap_mu);
    *f = m->snap;
    pthread_mutex_unlock(&m->snap_mu);
    /* These two are live on any thread. */
    counters_read(m, f->by_type);
    f->connections = __atomic_load_n(&m->open, __ATOMIC_RELAXED);
    f->refused = __atomic_load_n(&m->refused, __ATOMIC_RELAXED);
}

cJSON *pd_monitor_healthz(struct server *srv, unsigned *http_status)
{
    struct pd_monitor *m = srv->monitor;
    struct figures f;
    cJSON *body;

    if (m == NULL)
        return NULL;
    snapshot(m, &f);
    body = cJSON_CreateObject();
    if (body == NULL)
        return NULL;
    health_json(body, &f.health);
    pd_json_add_int(body, "uptime_s", (pd_now_ms() - srv->started_ms) / 1000);
    pd_json_add_int(body, "connections", (int64_t)f.connections);
    *http_status = f.health.status == CHK_OK ? 200 : 503;
    return body;
}

static void prom(FILE *o, const char *name, const char *type, const char *help)
{
    fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_u(FILE *o, const char *name, const char *type, const char *help, uint64_t v)
{
    prom(o, name, type, help);
    fprintf(o, "%s %llu\n", name, (unsigned long long)v);
}

static void prom_d(FILE *o, const char *name, const char *type, const char *help, double v)
{
    prom(o, name, type, help);
    fprintf(o, "%s %.6g\n", name, v);
}

char *pd_monitor_prometheus(struct server *srv)
{
    struct pd_monitor *m = srv->monitor;
    struct figures f;
    char *buf = NULL;
    size_t len = 0;
    FILE *o;

    if (m == NULL)
        return NULL;
    snapshot(m, &f);
    o = open_memstream(&buf, &len);
    if (o == NULL)
        return NULL;
    prom_u(o, "parley_connections", "gauge", "Open WebSocket connections.", f.connections);
    prom_u(o, "parley_connections_total", "counter", "WebSocket connections accepted since start.",
           f.by_type[PD_MON_CONNECT]);
    prom_u(o, "parley_messages_in_total", "counter", "WebSocket data messages received.",
           f.messages_in);
    prom_u(o, "parley_messages_out_total", "counter",
           "WebSocket data messages sent (acks and pushes, each recipient counted).",
           f.messages_out);
    prom_u(o, "parley_bytes_in_total", "counter", "Payload bytes of the data messages received.",
           f.bytes_in);
    prom_u(o, "parley_bytes_out_total", "counter", "Payload bytes of the data messages sent.",
           f.bytes_out);
    prom_u(o, "parley_rooms", "gauge", "Rooms.", f.rooms);
    prom_u(o, "parley_users_online", "gauge", "Users with at least one open connection.",
           f.users_online);
    prom_u(o, "parley_sessions", "gauge", "Recovery sessions held or waiting to be recovered.",
           f.sessions);
    if (f.cluster_on) {
        prom_u(o, "parley_cluster_redis_up", "gauge",
               "1 while this node is connected to the cluster's Redis.", f.cluster_up);
        prom_u(o, "parley_cluster_nodes", "gauge", "Live nodes of the cluster, this one included.",
               f.cluster_nodes);
    }
    prom_u(o, "parley_uptime_seconds", "gauge", "Seconds since the server started.",
           (uint64_t)f.uptime_s);
    prom_d(o, "parley_messages_in_per_second", "gauge",
           "Data messages received per second, averaged over the last 10 s.",
           f.messages_in_per_s);
    prom_d(o, "parley_connections_per_second", "gauge",
           "Connections accepted per second, averaged over the last 10 s.", f.connections_per_s);
    prom_u(o, "parley_auth_failures_total", "counter",
           "Refused authentications (upgrade tokens, logins).", f.by_type[PD_MON_AUTH_FAILED]);
    prom_u(o, "parley_rate_limited_total", "counter", "Requests refused by a rate limit.",
           f.by_type[PD_MON_RATE_LIMITED]);
    prom_u(o, "parley_origin_rejected_total", "counter", "Upgrades refused for their Origin.",
           f.by_type[PD_MON_ORIGIN_REJECTED]);
    prom_u(o, "parley_connections_refused_total", "counter",
           "Upgrades refused with 503 at the connection limit.", f.refused);
    prom_u(o, "parley_slow_consumer_closes_total", "counter",
           "Connections closed with 1008 for not reading (outbound queue full).",
           f.by_type[PD_MON_SLOW_CONSUMER]);
    prom_u(o, "parley_protocol_errors_total", "counter",
           "Protocol errors: closes 1002, 1003, 1007, 1009 and bad_request envelopes.",
           f.by_type[PD_MON_PROTOCOL_ERROR]);
    prom_u(o, "parley_recovered_total", "counter", "Sessions recovered.",
           f.by_type[PD_MON_RECOVERED]);
    prom_u(o, "parley_recover_failed_total", "counter",
           "Recoveries refused or without replay (too many missed).",
           f.by_type[PD_MON_RECOVER_FAILED]);
    prom(o, "parley_events_total", "counter", "Monitoring events recorded, by type.");
    for (int i = 0; i < PD_MON__COUNT; i++)
        fprintf(o, "parley_events_total{type=\"%s\"} %llu\n", type_names[i],
                (unsigned long long)f.by_type[i]);
    prom(o, "parley_connection_duration_seconds", "summary",
         "How long closed connections stayed open.");
    fprintf(o, "parley_connection_duration_seconds_sum %.3f\n", f.duration_sum_s);
    fprintf(o, "parley_connection_duration_seconds_count %llu\n",
            (unsigned long long)f.duration_count);
    prom_u(o, "parley_store_commits_total", "counter", "Store batches committed (group commit).",
           f.store.batches);
    prom_u(o, "parley_store_jobs_total", "counter", "Store jobs completed.", f.store.jobs);
    prom_u(o, "parley_store_errors_total", "counter", "Store batch transactions that failed.",
           f.store.failed_batches);
    prom_d(o, "parley_store_commit_max_seconds", "gauge",
           "The slowest store commit of the last minute.", (double)f.store_ms / 1000.0);
    prom_d(o, "parley_loop_lag_max_seconds", "gauge",
           "How late the event loop ran its timers at most in the last minute.",
           (double)f.lag_ms / 1000.0);
    prom_u(o, "parley_resident_memory_bytes", "gauge", "Resident set size of the server.",
           (uint64_t)f.rss_bytes);
    prom_u(o, "parley_connection_limit", "gauge",
           "WebSocket connections the server holds at most (past it upgrades get 503).",
           f.conn_limit);
    prom_u(o, "parley_health_status", "gauge", "0 healthy, 1 degraded, 2 unhealthy.",
           (uint64_t)f.health.status);
    prom(o, "parley_health_check", "gauge", "Each health check: 0 ok, 1 warn, 2 fail.");
    for (int i = 0; i < CK__COUNT; i++)
        fprintf(o, "parley_health_check{check=\"%s\"} %d\n", check_names[i],
                f.health.c[i].status);
    if (fclose(o) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
