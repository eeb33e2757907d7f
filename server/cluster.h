/* Several parleyd nodes as one server (issue 9): every node stores into
 * the one PostgreSQL database, and tells the others what happened over
 * one Redis pub/sub channel, "the bus". A bus message is a small JSON head
 * naming its kind (and node), a newline, then the push frame exactly as
 * the origin sent it to its own clients, so a node relays it to its own
 * subscribers without building it again.
 *
 * What the bus carries is what other nodes mirror in memory (rooms,
 * members, read pointers, each node's connections per user for presence)
 * and what they push. Nothing durable depends on it: a message is stored
 * before it is published, and a node that missed some (Redis away, a
 * message overtaken by another node's) reads the gap from the store.
 *
 * Liveness: every node publishes a heartbeat each second; a node not
 * heard from for PD_CLUSTER_NODE_TIMEOUT_MS is gone, and its users'
 * connections with it. A node that does not hear its own heartbeat back
 * takes Redis as lost and reconnects. */
#ifndef PD_CLUSTER_H
#define PD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct server;

#define PD_NODE_ID_MAX 64
#define PD_CLUSTER_HEARTBEAT_MS 1000
#define PD_CLUSTER_NODE_TIMEOUT_MS 5000
/* Our own heartbeat not back within this: Redis is taken as lost. */
#define PD_CLUSTER_SELF_TIMEOUT_MS 3000
#define PD_CLUSTER_CONNECT_TIMEOUT_MS 2000
#define PD_CLUSTER_RETRY_MIN_MS 250
#define PD_CLUSTER_RETRY_MAX_MS 4000

/* When cluster is set: names the node (node_id, else HOSTNAME:port) and
 * starts connecting to Redis (retried until it answers). 0, or -1 with
 * err (out of memory). */
int pd_cluster_init(struct server *srv, uint16_t port, char *err, size_t errlen);
void pd_cluster_free(struct server *srv);

/* This node is part of a cluster (cluster is set), Redis up or not. */
bool pd_cluster_on(const struct server *srv);
/* Connected to Redis and subscribed to the bus. */
bool pd_cluster_up(const struct server *srv);

/* {"k": kind} plus "r": room when room is not NULL: the head of a bus
 * message, for the caller to add its fields to. NULL when this node is
 * alone (nothing to publish: the caller skips its work). */
cJSON *pd_bus_head(const struct server *srv, const char *kind, const char *room);
/* Publishes head (taken) and the frame (frame NULL: none) to the other
 * nodes. Dropped, and counted, while Redis is down. */
void pd_cluster_publish(struct server *srv, cJSON *head, const char *frame, size_t len);

/* For monitoring, on a node of a cluster: "node" and "cluster" {redis,
 * nodes, node_ids, published, received, dropped, redis_lost} into obj. */
void pd_cluster_json(const struct server *srv, cJSON *obj);
/* Live nodes, this one included (1 when alone). */
unsigned pd_cluster_nodes(const struct server *srv);

/* ---- cluster_apply.c: what a bus message from another node means here -- */

/* frame: the push as the origin framed it (len 0: none). */
void pd_cluster_apply(struct server *srv, const char *node, const cJSON *head, const char *frame,
                      size_t len);
/* The bus is (again) up: catch up from the store what was missed. */
void pd_cluster_resync(struct server *srv);

#endif
