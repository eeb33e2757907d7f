/* The per-request read deadline (reqdeadline.h). Each connection MHD
 * accepts gets a watch, kept in its socket context and on a list guarded by
 * one mutex; MHD's threads update it, the loop's tick reads it.
 *
 * Why shutdown() of a socket MHD owns is safe: MHD calls the CLOSED
 * notification before it closes the socket, and the notification unlinks
 * the watch under the same mutex the tick holds while it calls shutdown().
 * So the tick only ever shuts down a socket that is still MHD's, and MHD
 * then sees end of stream and closes the connection itself. */
#include "reqdeadline.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "clock.h"
#include "log.h"

struct watch {
    struct watch *prev, *next;
    int fd;
    int64_t deadline_ms; /* monotonic; 0: none (request being answered) */
    bool upgraded;
};

struct pd_reqdl {
    pthread_mutex_t mu;
    struct watch *head;
    int64_t timeout_ms;
};

int pd_reqdl_new(struct pd_reqdl **out, unsigned timeout_s)
{
    struct pd_reqdl *d = calloc(1, sizeof(*d));

    *out = NULL;
    if (d == NULL || pthread_mutex_init(&d->mu, NULL) != 0) {
        free(d);
        return -1;
    }
    d->timeout_ms = (int64_t)timeout_s * 1000;
    *out = d;
    return 0;
}

void pd_reqdl_free(struct pd_reqdl *d)
{
    struct watch *w, *next;

    if (d == NULL)
        return;
    for (w = d->head; w != NULL; w = next) {
        next = w->next;
        free(w);
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static struct watch *watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

void pd_reqdl_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe)
{
    struct pd_reqdl *d = cls;
    struct watch *w;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci == NULL || (w = calloc(1, sizeof(*w))) == NULL)
            return; /* no deadline for this one: MHD's idle timeout still applies */
        w->fd = ci->connect_fd;
        w->deadline_ms = pd_mono_ms() + d->timeout_ms;
        pthread_mutex_lock(&d->mu);
        w->next = d->head;
        if (d->head != NULL)
            d->head->prev = w;
        d->head = w;
        pthread_mutex_unlock(&d->mu);
        *socket_context = w;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && (w = *socket_context) != NULL) {
        pthread_mutex_lock(&d->mu);
        if (w->prev != NULL)
            w->prev->next = w->next;
        else
            d->head = w->next;
        if (w->next != NULL)
            w->next->prev = w->prev;
        pthread_mutex_unlock(&d->mu);
        free(w);
        *socket_context = NULL;
    }
}

/* The deadline fields are written by the connection's own MHD thread and
 * read by the tick: atomics, no lock needed for one int64 and one bool. */
void pd_reqdl_read(struct MHD_Connection *conn)
{
    struct watch *w = watch_of(conn);

    if (w != NULL)
        __atomic_store_n(&w->deadline_ms, 0, __ATOMIC_RELAXED);
}

void pd_reqdl_next(struct pd_reqdl *d, struct MHD_Connection *conn)
{
    struct watch *w = watch_of(conn);

    if (w != NULL && !__atomic_load_n(&w->upgraded, __ATOMIC_RELAXED))
        __atomic_store_n(&w->deadline_ms, pd_mono_ms() + d->timeout_ms, __ATOMIC_RELAXED);
}

void pd_reqdl_upgraded(struct MHD_Connection *conn)
{
    struct watch *w = watch_of(conn);

    if (w != NULL) {
        __atomic_store_n(&w->upgraded, true, __ATOMIC_RELAXED);
        __atomic_store_n(&w->deadline_ms, 0, __ATOMIC_RELAXED);
    }
}

void pd_reqdl_tick(void *arg, int64_t now)
{
    struct pd_reqdl *d = arg;

    pthread_mutex_lock(&d->mu);
    for (struct watch *w = d->head; w != NULL; w = w->next) {
        int64_t dl = __atomic_load_n(&w->deadline_ms, __ATOMIC_RELAXED);
        if (dl == 0 || now < dl || __atomic_load_n(&w->upgraded, __ATOMIC_RELAXED))
            continue;
        __atomic_store_n(&w->deadline_ms, 0, __ATOMIC_RELAXED);
        pd_info("http: a request not read within %llds, closing its connection",
                (long long)(d->timeout_ms / 1000));
        shutdown(w->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&d->mu);
}
