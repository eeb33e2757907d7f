/* Driving the socket: the I/O round shared by every mode, the managed loop
 * thread, the embedded entry points, and the wait of blocking calls. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"

static void drain_wake(int fd)
{
    uint64_t v;

    while (read(fd, &v, sizeof(v)) > 0)
        ;
}

/* The earliest moment something is due without I/O: a request timeout or
 * the end of the close wait. */
static int64_t next_due_locked(const parley_client *c)
{
    int64_t due = pl_request_next_deadline_locked(c);

    if (c->state == PL_CLOSING && (due < 0 || c->close_deadline < due))
        due = c->close_deadline;
    return due;
}

/* Returns 1 when the connection ended during the round. */
static int io_round_locked(parley_client *c, int timeout_ms)
{
    struct pollfd pfd[2];
    unsigned gen = c->conn_gen;
    int64_t due;
    int n, ms;
    short need;

    if (!c->ws)
        return 0;
    /* What the transport itself waits for (TLS: a read that needs the
     * socket writable) makes the read worth retrying once it comes. */
    need = c->tr.need_events;
    pfd[0].fd = c->tr.fd;
    pfd[0].events = (short)(POLLIN | need);
    if (pl_ws_want_write_locked(c))
        pfd[0].events |= POLLOUT;
    pfd[0].revents = 0;
    pfd[1].fd = c->wake_fd;
    pfd[1].events = POLLIN;
    pfd[1].revents = 0;
    due = next_due_locked(c);
    ms = pl_ms_until(due, timeout_ms);
    /* Bytes that came with the 101 are already here: do not wait for the
     * socket to say so. A failed socket is reaped at once. */
    if (c->prebuf || c->io_failed)
        ms = 0;
    pl_unlock(c);
    n = poll(pfd, 2, ms);
    if (n > 0 && (pfd[1].revents & POLLIN))
        drain_wake(c->wake_fd);
    pl_lock(c);
    if (!c->ws || c->conn_gen != gen)
        return 1; /* another thread closed it meanwhile */
    if (c->prebuf || (n > 0 && (pfd[0].revents & (POLLIN | POLLERR | POLLHUP | need))))
        pl_ws_read_locked(c);
    pl_ws_write_locked(c);
    pl_request_timeouts_locked(c);
    return pl_ws_reap_locked(c);
}

void pl_reconnect_round_locked(parley_client *c, int cap_ms)
{
    int64_t due = pl_reconnect_due_locked(c), rd;
    struct pollfd pfd;

    if (due >= 0 && pd_mono_ms() >= due) {
        pl_reconnect_attempt_locked(c);
        pl_request_timeouts_locked(c);
        return;
    }
    rd = pl_request_next_deadline_locked(c);
    if (rd >= 0 && (due < 0 || rd < due))
        due = rd;
    pfd.fd = c->wake_fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    pl_unlock(c);
    if (poll(&pfd, 1, pl_ms_until(due, cap_ms)) > 0)
        drain_wake(c->wake_fd);
    pl_lock(c);
    pl_request_timeouts_locked(c);
}

int pl_wait_locked(parley_client *c, int (*pred)(parley_client *, void *), void *arg,
                   int64_t deadline)
{
    for (;;) {
        int64_t now;

        if (pred(c, arg))
            return 1;
        now = pd_mono_ms();
        if (deadline >= 0 && now >= deadline)
            return 0;
        if (c->loop_running || c->driving ||
            (!c->ws && (c->state == PL_CONNECTING || c->rc_connecting))) {
            /* Someone else polls the socket or connects: sleep until they
             * report. The one-second cap is a safety net, not the
             * mechanism. */
            int64_t until = now + 1000;
            struct timespec ts;
            if (deadline >= 0 && deadline < until)
                until = deadline;
            ts.tv_sec = (time_t)(until / 1000);
            ts.tv_nsec = (long)(until % 1000) * 1000000L;
            pthread_cond_timedwait(&c->cond, &c->lock, &ts);
            continue;
        }
        if (!c->ws && !c->rc_pending)
            return pred(c, arg); /* nothing left to drive */
        c->driving = 1;
        c->driver_tid = pthread_self();
        if (c->ws)
            io_round_locked(c, pl_ms_until(deadline, 1000));
        else
            pl_reconnect_round_locked(c, pl_ms_until(deadline, 1000));
        c->driving = 0;
        pthread_cond_broadcast(&c->cond);
        /* Pushes that arrived meanwhile reach their callbacks before the
         * blocking call returns. */
        pl_unlock(c);
        pl_dispatch(c);
        pl_lock(c);
    }
}

/* ---- managed ---- */

static void *loop_main(void *arg)
{
    parley_client *c = arg;

    pl_lock(c);
    while (!c->loop_stop) {
        if (c->ws) {
            io_round_locked(c, 1000);
        } else {
            /* Reconnect when due; otherwise idle until parley_connect or
             * parley_loop_stop wakes us (queued requests still time out). */
            pl_reconnect_round_locked(c, 1000);
        }
        pl_unlock(c);
        pl_dispatch(c);
        pl_lock(c);
    }
    c->loop_running = 0;
    pthread_cond_broadcast(&c->cond);
    pl_unlock(c);
    /* What arrived before the stop is still delivered, on this thread. */
    pl_dispatch(c);
    return NULL;
}

PARLEY_API int parley_loop_start(parley_client *c)
{
    sigset_t all, old;
    int r;

    if (!c)
        return PARLEY_ERR_INVAL;
    pl_lock(c);
    if (c->loop_running && !c->loop_stop) {
        pl_unlock(c);
        return PARLEY_ERR_INVAL;
    }
    if (c->loop_joinable && pthread_equal(c->loop_tid, pthread_self())) {
        pl_unlock(c);
        return PARLEY_ERR_INVAL; /* restarting itself from a callback */
    }
    /* Another thread's parley_loop_stop is joining the old thread: let that
     * thread end before a new one starts, or it would see loop_stop reset. */
    while (c->loop_running && !c->loop_joinable)
        pthread_cond_wait(&c->cond, &c->lock);
    if (c->loop_joinable) {
        /* A stop is under way (or it stopped itself): finish it first. */
        pthread_t tid = c->loop_tid;
        c->loop_joinable = 0;
        pl_unlock(c);
        pthread_join(tid, NULL);
        pl_lock(c);
    }
    c->loop_stop = 0;
    c->loop_running = 1;
    /* The thread takes no signals: they belong to the application's threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&c->loop_tid, NULL, loop_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        c->loop_running = 0;
        pl_unlock(c);
        return PARLEY_ERR_NOMEM;
    }
    c->loop_joinable = 1;
    pl_unlock(c);
    return PARLEY_OK;
}

PARLEY_API int parley_loop_stop(parley_client *c)
{
    pthread_t tid;

    if (!c)
        return PARLEY_ERR_INVAL;
    pl_lock(c);
    if (!c->loop_joinable) {
        pl_unlock(c);
        return PARLEY_ERR_INVAL;
    }
    c->loop_stop = 1;
    pl_wake(c);
    if (pthread_equal(c->loop_tid, pthread_self())) {
        /* From a callback: the thread ends when the callback returns and is
         * joined by the next parley_loop_start or parley_client_destroy. */
        pl_unlock(c);
        return PARLEY_OK;
    }
    tid = c->loop_tid;
    c->loop_joinable = 0;
    pl_unlock(c);
    pthread_join(tid, NULL);
    return PARLEY_OK;
}

/* ---- embedded ---- */

/* The embedded calls belong to the application's loop, not beside ours. */
static int embedded_ok_locked(const parley_client *c)
{
    return !c->loop_running || pthread_equal(c->loop_tid, pthread_self());
}

PARLEY_API int parley_socket(const parley_client *c)
{
    int fd;

    if (!c)
        return -1;
    pl_lock(c);
    fd = c->ws ? c->tr.fd : -1;
    pl_unlock(c);
    return fd;
}

PARLEY_API int parley_want_write(const parley_client *c)
{
    int w;

    if (!c)
        return 0;
    pl_lock(c);
    w = pl_ws_want_write_locked(c);
    pl_unlock(c);
    return w;
}

/* read or write, then what follows from it; returns the call's result. */
static int embedded_io(parley_client *c, int do_read)
{
    int rc = PARLEY_OK;

    if (!c)
        return PARLEY_ERR_INVAL;
    pl_lock(c);
    if (!embedded_ok_locked(c)) {
        pl_unlock(c);
        return PARLEY_ERR_INVAL;
    }
    if (!c->ws) {
        pl_unlock(c);
        pl_dispatch(c); /* a close seen by another call may still be queued */
        return PARLEY_ERR_NOT_CONNECTED;
    }
    /* A TLS read that waited for the socket to be writable (the reason
     * parley_want_write said 1) is retried on POLLOUT; reading writes too. */
    if (do_read || (c->tr.need_events & POLLOUT))
        pl_ws_read_locked(c);
    else
        pl_ws_write_locked(c);
    if (pl_ws_reap_locked(c))
        rc = PARLEY_ERR_CLOSED;
    pl_unlock(c);
    pl_dispatch(c);
    return rc;
}

PARLEY_API int parley_loop_read(parley_client *c)
{
    return embedded_io(c, 1);
}

PARLEY_API int parley_loop_write(parley_client *c)
{
    return embedded_io(c, 0);
}

PARLEY_API int parley_loop_misc(parley_client *c)
{
    int rc = PARLEY_OK;

    if (!c)
        return PARLEY_ERR_INVAL;
    pl_lock(c);
    if (!embedded_ok_locked(c)) {
        pl_unlock(c);
        return PARLEY_ERR_INVAL;
    }
    pl_request_timeouts_locked(c);
    if (pl_ws_reap_locked(c))
        rc = PARLEY_ERR_CLOSED;
    else if (!c->ws && pl_reconnect_due_locked(c) >= 0 &&
             pd_mono_ms() >= pl_reconnect_due_locked(c))
        pl_reconnect_attempt_locked(c);
    pl_unlock(c);
    pl_dispatch(c);
    return rc;
}

PARLEY_API int parley_loop(parley_client *c, int timeout_ms)
{
    int rc = PARLEY_OK;

    if (!c)
        return PARLEY_ERR_INVAL;
    pl_lock(c);
    if (!embedded_ok_locked(c)) {
        pl_unlock(c);
        return PARLEY_ERR_INVAL;
    }
    if (!c->ws) {
        /* With a reconnect pending, the round waits for it (and makes the
         * attempt when due) instead of failing. */
        if (!c->rc_pending || c->rc_connecting) {
            pl_unlock(c);
            pl_dispatch(c);
            return c->rc_pending ? PARLEY_OK : PARLEY_ERR_NOT_CONNECTED;
        }
        pl_reconnect_round_locked(c, timeout_ms < 0 ? 1000 : timeout_ms);
        pl_unlock(c);
        pl_dispatch(c);
        return PARLEY_OK;
    }
    if (io_round_locked(c, timeout_ms < 0 ? -1 : timeout_ms))
        rc = PARLEY_ERR_CLOSED;
    pl_unlock(c);
    pl_dispatch(c);
    return rc;
}
