/* The transport side of conn.c: the table of live connections (struct
 * pd_conns), the hand-over of an upgraded socket from an HTTP thread to the
 * loop, and the shutdown steps. Used by http.c and main.c; services use
 * conn.h only. */
#ifndef PD_CONNS_H
#define PD_CONNS_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct server;
struct MHD_UpgradeResponseHandle;

/* Everything an upgraded socket needs, copied on the HTTP thread (MHD's
 * buffers do not outlive the upgrade callback) and handed to the loop. */
struct pd_upgrade {
    struct server *srv;
    int fd;     /* what we read and write */
    int tcp_fd; /* the TCP socket: fd itself, or under TLS the one MHD
                 * forwards to from the socketpair end in fd */
    struct MHD_UpgradeResponseHandle *urh; /* NULL: fd is ours to close */
    bool reserved; /* holds a place of pd_conns_reserve: the connection
                    * takes it over, or pd_upgrade_discard gives it back */
    uint8_t *extra; /* owned: bytes MHD read past the request, may be NULL */
    size_t extra_len;
    char ip[64];
    char *user_agent; /* owned, may be NULL */
    struct pd_identity ident;
};

/* Creates srv->conns. Needs srv->loop. 0 or -1. */
int pd_conns_new(struct server *srv);
/* Registers the per-pass flush and the 1 s connection timer with the loop.
 * Called after pd_services_init, so the flush runs after every other
 * after-pass callback and sends what they queued in the same pass. */
int pd_conns_start(struct server *srv);
/* After the loop has stopped: ends every remaining connection at once
 * (services told, socket closed through MHD), frees the table. Before
 * pd_services_free and pd_http_stop. */
void pd_conns_free(struct server *srv);

/* pd_wake_fn for pd_loop_call: the loop thread creates the pd_conn from a
 * struct pd_upgrade *, taking ownership of it in every case. */
void pd_conn_adopt(void *upgrade);
/* Closes the socket through MHD and frees up: for an upgrade that never
 * reached the loop. */
void pd_upgrade_discard(struct pd_upgrade *up);

/* Open connections; safe from any thread (for /healthz). */
size_t pd_conns_count(const struct server *srv);
/* Any thread: takes a place for an upgrade while fewer than cap are taken
 * (open connections and upgrades admitted but not yet adopted), else
 * false; *taken is the count seen. A place goes back with
 * pd_conns_unreserve, or passes to the connection an upgrade with
 * `reserved` set becomes, and goes back when it is freed. */
bool pd_conns_reserve(struct server *srv, size_t cap, size_t *taken);
void pd_conns_unreserve(struct server *srv);

/* Shutdown, loop thread. First stop reading client input (queued output
 * still flushes), then, once committed work has been acknowledged, close
 * every connection with code/reason; connections upgraded after this are
 * closed the same way at once. */
void pd_conns_pause_input(struct server *srv);
void pd_conns_close_all(struct server *srv, uint16_t code, const char *reason);

#endif
