/* Monitoring (PROTOCOL.md section 6): counters, a bounded ring of events,
 * current connections per IP and per User-Agent, 10 s rates, health checks
 * over the last minute; the monitoring:* handlers (admins only) and the
 * bodies of GET /metrics and GET /healthz.
 *
 * Threads. The loop thread owns the monitor and calls every hook below
 * except those marked "any thread". The events ring and the per-type event
 * counters sit behind one mutex, so the HTTP gate (MHD threads) records
 * auth_failed, origin_rejected and rate_limited directly. Every second the
 * loop publishes a snapshot of the loop-owned figures under a second mutex;
 * /metrics and /healthz (MHD threads) read only that snapshot and the
 * mutex-guarded counters, never loop state.
 *
 * Every hook does nothing when srv->monitor is NULL (unit tests, start-up
 * failures), so callers need no checks of their own. */
#ifndef PD_MONITORING_H
#define PD_MONITORING_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "request.h"

struct server;
struct pd_conn;
struct pd_monitor;

/* The event types of PROTOCOL.md section 6, in wire order. */
enum pd_mon_event {
    PD_MON_CONNECT,
    PD_MON_DISCONNECT,
    PD_MON_AUTH_FAILED,
    PD_MON_RATE_LIMITED,
    PD_MON_ORIGIN_REJECTED,
    PD_MON_RECOVERED,
    PD_MON_RECOVER_FAILED,
    PD_MON_SLOW_CONSUMER,
    PD_MON_PROTOCOL_ERROR,
    PD_MON__COUNT
};

/* Capacity of the events ring: the newest this many are kept. */
#define PD_MON_RING 4096

/* Creates srv->monitor and registers its timers (1 s bookkeeping, 100 ms
 * loop-lag probe). After srv->loop and srv->store exist, before HTTP
 * starts. 0, or -1 when out of memory. */
int pd_monitor_new(struct server *srv);
/* After HTTP has stopped and every connection is gone. */
void pd_monitor_free(struct server *srv);

/* ---- hooks, loop thread ------------------------------------------------- */

/* A connection was adopted (event connect) / is being freed (event
 * disconnect, with the close codes sent and received, 0 when none). */
void pd_mon_conn_open(const struct pd_conn *c);
void pd_mon_conn_close(const struct pd_conn *c, unsigned code_sent, unsigned code_received);
/* A data message received, of len payload bytes. */
void pd_mon_in(struct server *srv, size_t len);
/* A data message queued to one connection, of len payload bytes. */
void pd_mon_out(struct server *srv, size_t len);
/* An event about a live connection: user, ip and User-Agent come from c. */
void pd_mon_conn_event(const struct pd_conn *c, enum pd_mon_event type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- hooks, any thread -------------------------------------------------- */

/* Records an event (user and user_agent may be NULL: unknown / none) and
 * counts it: auth_failed events are the auth_failures figure, rate_limited
 * events the rate_limited one. */
void pd_mon_event(struct server *srv, enum pd_mon_event type, const char *user, const char *ip,
                  const char *user_agent, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* An upgrade refused at the connection limit (503): counted for /metrics
 * and the connections health check, not an event (PROTOCOL.md 6 has no
 * type for it). */
void pd_mon_conn_refused(struct server *srv);

/* ---- handlers (dispatch.c's table) -------------------------------------- */

enum pd_err pd_handle_mon_metrics(struct pd_req *r);
enum pd_err pd_handle_mon_events(struct pd_req *r);
enum pd_err pd_handle_mon_stats(struct pd_req *r);
enum pd_err pd_handle_mon_health(struct pd_req *r);

/* ---- HTTP, any thread ----------------------------------------------------- */

/* The Prometheus text exposition (version 0.0.4) of the last snapshot:
 * malloc'd, NUL-terminated; NULL when out of memory or no monitor. */
char *pd_monitor_prometheus(struct server *srv);
/* The /healthz body of the last snapshot ({"status", "checks",
 * "recommendations", "uptime_s", "connections"}), and its HTTP status in
 * *http_status: 200 when healthy, 503 otherwise. NULL when out of memory
 * or no monitor. */
cJSON *pd_monitor_healthz(struct server *srv, unsigned *http_status);

#endif
