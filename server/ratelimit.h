/* Rate limits (PROTOCOL.md 1.3, 7, 8): token buckets keyed by client IP,
 * user, username or connection, one table per kind of limit.
 *
 * Each bucket is kept as one number, GCRA style (the "theoretical arrival
 * time" of the next token): with an interval T = SECONDS / COUNT and a
 * burst B, a take is allowed when the bucket's time is at most (B - 1) * T
 * ahead of now, and then moves it T further. That is exactly a token bucket
 * of capacity B refilled with one token every T; a bucket whose time has
 * passed is full, holds nothing a fresh one would not, and is swept.
 *
 * The burst is COUNT for every limit but rate_requests, whose burst is
 * 5 x COUNT (the default 20/1 allows bursts of 100, section 8).
 *
 * Memory is bounded: each table holds at most a fixed number of keys;
 * idle (full) buckets are swept every few seconds, and when a table is full
 * of busy ones, the bucket closest to full of a small sample is evicted.
 *
 * Thread-safe: the upgrade gate and the login throttles run on MHD's
 * threads, the others on the loop thread; each table has its own lock. */
#ifndef PD_RATELIMIT_H
#define PD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct pd_config;
struct pd_ratelimit;

enum pd_rl_kind {
    PD_RL_CONNECT,    /* upgrade attempts per client IP: rate_connections */
    PD_RL_MESSAGE,    /* message:send per user, all connections: rate_messages */
    PD_RL_REQUEST,    /* other requests per connection: rate_requests */
    PD_RL_LOGIN_IP,   /* POST /api/login and /api/register per IP: login_rate */
    PD_RL_LOGIN_USER, /* the same per username: login_user_rate */
    PD_RL__COUNT
};

/* Keys longer than this are cut (callers pass IPs, user ids, numbers). */
#define PD_RL_KEY_MAX 64
/* Keys (buckets) one table holds at most. */
#define PD_RL_TABLE_MAX 49152
/* How often idle buckets are swept. */
#define PD_RL_SWEEP_MS 5000

/* Creates srv->ratelimit from srv->cfg and registers the sweep with the
 * loop. 0, or -1 when out of memory. */
int pd_ratelimit_init(struct server *srv);
void pd_ratelimit_free(struct server *srv);

/* Takes one token of kind for key: 0 when allowed (or the limit is off,
 * count 0), else the milliseconds until one more would be allowed (> 0),
 * and the refusal is counted. */
int64_t pd_ratelimit_take(struct server *srv, enum pd_rl_kind kind, const char *key);

/* Takes one token of kind for key whether or not one is left: what another
 * node of the cluster allowed counts here too (cluster.c). */
void pd_ratelimit_charge(struct server *srv, enum pd_rl_kind kind, const char *key);

/* The per-connection bucket of PD_RL_REQUEST, keyed by connection id. */
int64_t pd_ratelimit_take_conn(struct server *srv, uint64_t conn_id);

/* Refusals since start, of one kind or (PD_RL__COUNT) all: for monitoring
 * (`rate_limited`). Any thread. */
uint64_t pd_ratelimit_refused(const struct server *srv, enum pd_rl_kind kind);

/* "COUNT per SECONDS s" (plus ", bursts of B" when the burst differs) for
 * kind, for messages. */
void pd_ratelimit_describe(const struct server *srv, enum pd_rl_kind kind, char *out,
                           size_t outlen);

/* The client address for the per-IP limits, analytics and events: peer
 * (the socket's address, as text), unless peer is one of the configured
 * trusted_proxies and xff (the X-Forwarded-For value, all its header lines
 * joined with ",", NULL when absent) names others: then the right-most
 * address of xff not itself trusted (all trusted: the left-most; an entry
 * that is not an address ends the walk at the hop after it). Entries may
 * carry a port ("1.2.3.4:5", "[::1]:5"). out is normalised text. */
void pd_client_ip(const struct pd_config *cfg, const char *peer, const char *xff, char *out,
                  size_t outlen);

/* ---- the engine, without a server (unit tests) ---------------------------- */

struct pd_rl_limits {
    unsigned count, seconds, burst; /* count 0: off */
};

struct pd_ratelimit *pd_ratelimit_new(const struct pd_rl_limits limits[PD_RL__COUNT],
                                      size_t table_max);
void pd_ratelimit_delete(struct pd_ratelimit *rl);
/* pd_ratelimit_take at a given monotonic time in nanoseconds. */
int64_t pd_ratelimit_take_at(struct pd_ratelimit *rl, enum pd_rl_kind kind, const char *key,
                             int64_t now_ns);
void pd_ratelimit_charge_at(struct pd_ratelimit *rl, enum pd_rl_kind kind, const char *key,
                            int64_t now_ns);
/* Drops every idle bucket (its time passed: full again). */
void pd_ratelimit_sweep_at(struct pd_ratelimit *rl, int64_t now_ns);
/* Buckets held by one kind's table. */
size_t pd_ratelimit_size(struct pd_ratelimit *rl, enum pd_rl_kind kind);
uint64_t pd_ratelimit_refused_rl(const struct pd_ratelimit *rl, enum pd_rl_kind kind);

#endif
