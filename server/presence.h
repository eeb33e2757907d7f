/* Presence (PROTOCOL.md section 4): a status per user shared by all their
 * connections, offline with last_seen only when the last one closes, and
 * presence:update pushed once per connection that shares a room with the
 * user. last_seen is stored, so it outlives a restart. */
#ifndef PD_PRESENCE_H
#define PD_PRESENCE_H

#include <cjson/cJSON.h>

#include "request.h"

struct server;
struct pd_conn;

int pd_presence_init(struct server *srv, char *err, size_t errlen);
void pd_presence_free(struct server *srv);

/* After the connection is registered with the user / before it is removed. */
void pd_presence_conn_open(struct server *srv, struct pd_conn *c);
void pd_presence_conn_close(struct server *srv, struct pd_conn *c);

/* The status others see: "online", "away", "busy" or "offline". */
const char *pd_presence_visible(struct server *srv, const char *user);

/* ---- the cluster (cluster.c) ---- */

/* A "pres" or "sync" bus message from node: its connections per user. */
void pd_presence_apply(struct server *srv, const char *node, const cJSON *head);
/* node is gone: its connections with it; who is left with none goes offline. */
void pd_presence_node_gone(struct server *srv, const char *node);
/* Publishes every user connected here (a "sync"), for a node that just
 * joined or came back. */
void pd_presence_publish_all(struct server *srv);

enum pd_err pd_handle_update_status(struct pd_req *r);
enum pd_err pd_handle_online_users(struct pd_req *r);
enum pd_err pd_handle_user_status(struct pd_req *r);
enum pd_err pd_handle_presence_stats(struct pd_req *r);

#endif
