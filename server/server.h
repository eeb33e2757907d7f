/* The one server context: every module's state hangs off it; there are no
 * other globals. */
#ifndef PD_SERVER_H
#define PD_SERVER_H

#include <stdint.h>

#include "config.h"

struct pd_loop;
struct pd_http;
struct pd_store;
struct pd_auth;
struct pd_rooms;
struct pd_conns;
struct pd_users;
struct pd_typing;
struct pd_recovery;
struct pd_presence;
struct pd_monitor;
struct pd_ratelimit;
struct pd_cluster;

struct server {
    struct pd_config cfg;
    struct pd_loop *loop;
    struct pd_http *http;
    struct pd_store *store;
    struct pd_auth *auth;
    struct pd_rooms *rooms; /* rooms.c: rooms, memberships, subscriptions */
    struct pd_conns *conns; /* conn.c: live connections by id */
    struct pd_users *users; /* users.c: each user's connections and rooms */
    struct pd_typing *typing; /* typing.c: who is typing where, expiry */
    struct pd_recovery *recovery; /* recovery.c: sessions */
    struct pd_presence *presence; /* presence.c: last seen times */
    struct pd_monitor *monitor; /* monitoring.c: counters, events, health */
    struct pd_ratelimit *ratelimit; /* ratelimit.c: buckets per IP, user, connection */
    struct pd_cluster *cluster; /* cluster.c: the node's name, the bus to the others */
    int64_t started_ms;
};

#endif
