#include "redis.h"

#include <sys/epoll.h>

#include "log.h"
#include "loop.h"

static void update(struct pd_redis_io *io);

static void on_io(void *arg, uint32_t events)
{
    struct pd_redis_io *io = arg;
    redisAsyncContext *ac = io->ac;

    if (ac == NULL)
        return;
    /* An error or hang-up is reported through whichever handler hiredis
     * is waiting in; both end the context when the socket is dead. */
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        redisAsyncHandleRead(ac);
    if (io->ac == ac && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        redisAsyncHandleWrite(ac);
}

static void update(struct pd_redis_io *io)
{
    int rc;

    if (io->registered) {
        rc = pd_loop_mod(io->loop, io->fd, io->events, on_io, io);
    } else {
        rc = pd_loop_add(io->loop, io->fd, io->events, on_io, io);
        io->registered = rc == 0;
    }
    if (rc != 0)
        pd_error("cluster: cannot watch the Redis socket: the connection will time out");
}

static void add_read(void *arg)
{
    struct pd_redis_io *io = arg;

    if (!(io->events & EPOLLIN)) {
        io->events |= EPOLLIN;
        update(io);
    }
}

static void del_read(void *arg)
{
    struct pd_redis_io *io = arg;

    if (io->events & EPOLLIN) {
        io->events &= ~(uint32_t)EPOLLIN;
        update(io);
    }
}

static void add_write(void *arg)
{
    struct pd_redis_io *io = arg;

    if (!(io->events & EPOLLOUT)) {
        io->events |= EPOLLOUT;
        update(io);
    }
}

static void del_write(void *arg)
{
    struct pd_redis_io *io = arg;

    if (io->events & EPOLLOUT) {
        io->events &= ~(uint32_t)EPOLLOUT;
        update(io);
    }
}

/* hiredis is freeing the context; the socket closes right after. */
static void cleanup(void *arg)
{
    struct pd_redis_io *io = arg;

    if (io->registered)
        pd_loop_del(io->loop, io->fd);
    io->registered = false;
    io->events = 0;
    io->fd = -1;
    io->ac = NULL;
}

int pd_redis_connect(struct pd_redis_io *io, struct pd_loop *loop, const char *host,
                     uint16_t port)
{
    redisAsyncContext *ac = redisAsyncConnect(host, port);

    io->ac = NULL;
    io->loop = loop;
    io->registered = false;
    io->events = 0;
    io->fd = -1;
    if (ac == NULL)
        return -1;
    if (ac->err) {
        pd_warn("cluster: cannot connect to Redis at %s:%u: %s", host, port, ac->errstr);
        redisAsyncFree(ac);
        return -1;
    }
    io->ac = ac;
    io->fd = ac->c.fd;
    ac->ev.data = io;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    /* The connect completes when the socket turns writable. */
    add_read(io);
    add_write(io);
    if (!io->registered) {
        redisAsyncFree(ac); /* its cleanup clears io */
        return -1;
    }
    return 0;
}
