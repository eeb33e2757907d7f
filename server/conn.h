/* One upgraded WebSocket connection: the socket, its frame reader for what
 * the client sends (wsread.h), a bounded outbound buffer flushed once per
 * loop pass, timeouts, and close codes (PROTOCOL.md 1.4). Owned by the loop
 * thread.
 * A connection is never freed inside its own callback: pd_conn_close marks
 * it, and the loop frees it after the pass (Redis freeClientAsync). */
#ifndef PD_CONN_H
#define PD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct server;
struct pd_conn_io; /* transport state, conn.c's own */

struct pd_conn {
    uint64_t id; /* unique for the life of the process, never reused */
    struct server *srv;
    struct pd_identity ident;
    char ip[64];
    char *user_agent;     /* owned, may be NULL */
    int64_t connected_ms; /* wall clock */
    bool closing;         /* no further input handled, no output queued */

    /* Services' per-connection state, owned by rooms.c (freed in
     * pd_services_conn_close): the rooms this connection is subscribed to. */
    struct pd_sub *subs;
    size_t nsubs, subs_cap;
    /* recovery.c: the session this connection holds, if any. */
    struct pd_session *session;
    /* presence.c: stamp that makes a push reach each connection once. */
    uint64_t mark;

    struct pd_conn_io *io;
};

/* A complete text message framed once, shared by every recipient of a
 * broadcast. */
struct pd_frame {
    size_t len;
    uint8_t bytes[];
};
/* malloc'd frame for a text payload; NULL on allocation failure. */
struct pd_frame *pd_frame_text(const char *payload, size_t len);

/* Queues one text message (framed here). When the queue would exceed
 * outbound_limit the connection is closed with 1008 instead. Returns 0, or
 * -1 when the connection is closing or was just closed for it. */
int pd_conn_send(struct pd_conn *c, const char *json, size_t len);
/* Queues an already framed message (broadcast). Same rules. */
int pd_conn_send_frame(struct pd_conn *c, const struct pd_frame *f);

/* Sends a close frame with code and reason, flushes, and frees the
 * connection after the current loop pass. Idempotent. */
void pd_conn_close(struct pd_conn *c, uint16_t code, const char *reason);

/* The live connection with that id, or NULL once it has closed: how a
 * completion arriving later finds its requester. */
struct pd_conn *pd_conn_find(struct server *srv, uint64_t id);

#endif
