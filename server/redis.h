/* hiredis's asynchronous client driven by our loop. hiredis ships adapters
 * for libevent, libev, ae and others (hiredis/adapters/); this one is the
 * same few hooks over pd_loop: hiredis says when it wants to read or
 * write, the loop calls back when the socket is ready. */
#ifndef PD_REDIS_H
#define PD_REDIS_H

#include <stdbool.h>
#include <stdint.h>

#include <hiredis/async.h>

struct pd_loop;

/* One connection. Lives as long as its owner, across reconnects: ac is
 * the current context (NULL when none). hiredis owns and frees the
 * context; the cleanup hook clears ac, so after any call into hiredis the
 * owner compares ac with what it had. */
struct pd_redis_io {
    struct pd_loop *loop;
    redisAsyncContext *ac;
    int fd;
    uint32_t events;
    bool registered;
};

/* Starts a non-blocking connect to host:port and hooks it to the loop.
 * 0, or -1 (errno set or the reason logged) with io->ac NULL. */
int pd_redis_connect(struct pd_redis_io *io, struct pd_loop *loop, const char *host,
                     uint16_t port);

#endif
