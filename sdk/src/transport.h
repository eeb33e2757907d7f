/* The byte stream under the WebSocket: plain TCP (tcp.c) or TLS over it
 * (tls.c), with the same operations (a TLS read may need the socket
 * writable, which `need_events` reports to the poller), so nothing above
 * this layer knows which one it talks to. */
#ifndef PL_TRANSPORT_H
#define PL_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pl_transport;

struct pl_transport_ops {
    /* Like recv(2) on a non-blocking socket: bytes read, 0 at end of stream,
     * -1 with errno (EAGAIN when nothing is there yet). */
    ssize_t (*read)(struct pl_transport *t, void *buf, size_t len);
    /* Like send(2): bytes written or -1 with errno; never raises SIGPIPE.
     * `more` hints that another write follows at once. */
    ssize_t (*write)(struct pl_transport *t, const void *buf, size_t len, int more);
    /* Closes the stream and releases what the transport owns. */
    void (*close)(struct pl_transport *t);
};

struct pl_transport {
    const struct pl_transport_ops *ops; /* NULL when there is no stream */
    int fd;                             /* -1 when there is no stream */
    short need_events;                  /* extra poll events the layer needs (TLS) */
    void *impl;                         /* the layer's own state (TLS session) */
};

#define PL_TRANSPORT_INIT {NULL, -1, 0, NULL}

/* Resolves host, connects a non-blocking TCP socket before deadline (a
 * monotonic ms value), sets TCP_NODELAY and fills t. Returns PARLEY_OK,
 * PARLEY_ERR_CONNECT or PARLEY_ERR_TIMEOUT. */
int pl_tcp_connect(const char *host, int port, int64_t deadline, struct pl_transport *t);

static inline ssize_t pl_tr_read(struct pl_transport *t, void *buf, size_t len)
{
    return t->ops->read(t, buf, len);
}

static inline ssize_t pl_tr_write(struct pl_transport *t, const void *buf, size_t len, int more)
{
    return t->ops->write(t, buf, len, more);
}

/* Safe to call on a closed transport. */
static inline void pl_tr_close(struct pl_transport *t)
{
    if (t->ops)
        t->ops->close(t);
    t->ops = NULL;
    t->fd = -1;
    t->need_events = 0;
    t->impl = NULL;
}

/* Waits until fd has one of events or the deadline passes. Returns the
 * revents, 0 on timeout, -1 on a poll error. deadline < 0: no deadline. */
int pl_poll_fd(int fd, short events, int64_t deadline);

/* Milliseconds from now to deadline for poll(), clamped to [0, cap]; a
 * negative deadline gives cap (cap < 0: infinite). */
int pl_ms_until(int64_t deadline, int cap);

#endif
