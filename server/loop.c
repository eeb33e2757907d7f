/* The event loop (Redis ae.c in spirit): level-triggered epoll over
 * non-blocking fds, coarse periodic timers checked once per pass, callbacks
 * run after every pass (where output is flushed and connections freed), and
 * an eventfd through which other threads hand work to the loop thread.
 *
 * Watches live in an array indexed by fd, and epoll carries (generation, fd)
 * rather than a pointer: a callback may delete or replace another fd's watch
 * while that fd's event is still pending in the same epoll_wait batch, and
 * the stale event must then be skipped, not delivered to freed memory or to
 * a newer watch on a reused fd number. */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"

#define MAX_EVENTS 256

struct watch {
    pd_io_fn fn; /* NULL: no watch on this fd */
    void *arg;
    uint32_t gen;
};

struct timer {
    int64_t period_ms, due_ms;
    pd_tick_fn fn;
    void *arg;
};

struct after {
    pd_wake_fn fn;
    void *arg;
};

struct call {
    pd_wake_fn fn;
    void *arg;
    struct call *next;
};

struct pd_loop {
    int epfd, wakefd;
    struct watch *watches;
    size_t nwatches; /* length of the fd-indexed array */
    uint32_t gen;
    struct timer *timers;
    size_t ntimers;
    struct after *afters;
    size_t nafters;
    int stop; /* atomic: set from any thread or a signal path */

    /* Cross-thread calls, FIFO. `closed` is set when the loop has ended:
     * pd_loop_call then refuses, so no call is ever accepted and dropped. */
    pthread_mutex_t mu;
    struct call *head, *tail;
    bool closed;
};

static uint64_t pack(uint32_t gen, int fd)
{
    return (uint64_t)gen << 32 | (uint32_t)fd;
}

static void wake(struct pd_loop *l)
{
    uint64_t one = 1;

    /* EAGAIN means the counter is already non-zero: the loop will wake. */
    if (write(l->wakefd, &one, sizeof(one)) < 0) {
    }
}

/* Takes the queued calls and runs them in the order they were made. */
static void run_calls(struct pd_loop *l, bool close_queue)
{
    struct call *c;

    pthread_mutex_lock(&l->mu);
    c = l->head;
    l->head = l->tail = NULL;
    if (close_queue)
        l->closed = true;
    pthread_mutex_unlock(&l->mu);
    while (c != NULL) {
        struct call *next = c->next;
        c->fn(c->arg);
        free(c);
        c = next;
    }
}

static void on_wake(void *arg, uint32_t events)
{
    struct pd_loop *l = arg;
    uint64_t n;

    if (read(l->wakefd, &n, sizeof(n)) < 0) {
        /* EAGAIN: another pass already consumed it. */
    }
    run_calls(l, false);
}

int pd_loop_new(struct pd_loop **out)
{
    struct pd_loop *l = calloc(1, sizeof(*l));

    *out = NULL;
    if (l == NULL)
        return -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || l->wakefd < 0 || pthread_mutex_init(&l->mu, NULL) != 0) {
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->wakefd >= 0)
            close(l->wakefd);
        free(l);
        return -1;
    }
    if (pd_loop_add(l, l->wakefd, EPOLLIN, on_wake, l) != 0) {
        pd_loop_free(l);
        return -1;
    }
    *out = l;
    return 0;
}

void pd_loop_free(struct pd_loop *l)
{
    struct call *c;

    if (l == NULL)
        return;
    /* Calls are left queued only when the loop never ran (pd_loop_run runs
     * them on its way out); the queue nodes are freed, their args are not
     * ours to interpret. */
    c = l->head;
    while (c != NULL) {
        struct call *next = c->next;
        free(c);
        c = next;
    }
    close(l->epfd);
    close(l->wakefd);
    pthread_mutex_destroy(&l->mu);
    free(l->watches);
    free(l->timers);
    free(l->afters);
    free(l);
}

static int ensure_watch(struct pd_loop *l, int fd)
{
    size_t n;
    struct watch *w;

    if ((size_t)fd < l->nwatches)
        return 0;
    n = l->nwatches ? l->nwatches : 64;
    while (n <= (size_t)fd)
        n *= 2;
    w = realloc(l->watches, n * sizeof(*w));
    if (w == NULL)
        return -1;
    memset(w + l->nwatches, 0, (n - l->nwatches) * sizeof(*w));
    l->watches = w;
    l->nwatches = n;
    return 0;
}

int pd_loop_add(struct pd_loop *l, int fd, uint32_t events, pd_io_fn fn, void *arg)
{
    struct epoll_event ev = {.events = events};
    struct watch *w;

    if (fd < 0 || fn == NULL || ensure_watch(l, fd) != 0)
        return -1;
    w = &l->watches[fd];
    if (w->fn != NULL)
        return -1;
    ev.data.u64 = pack(++l->gen, fd);
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return -1;
    *w = (struct watch){fn, arg, l->gen};
    return 0;
}

int pd_loop_mod(struct pd_loop *l, int fd, uint32_t events, pd_io_fn fn, void *arg)
{
    struct epoll_event ev = {.events = events};
    struct watch *w;

    if (fd < 0 || (size_t)fd >= l->nwatches || l->watches[fd].fn == NULL || fn == NULL)
        return -1;
    w = &l->watches[fd];
    ev.data.u64 = pack(w->gen, fd);
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
        return -1;
    w->fn = fn;
    w->arg = arg;
    return 0;
}

int pd_loop_del(struct pd_loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->nwatches || l->watches[fd].fn == NULL)
        return -1;
    l->watches[fd].fn = NULL;
    l->watches[fd].arg = NULL;
    /* The fd may already be closed by its owner; the watch is gone either
     * way, and epoll drops closed fds by itself. */
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    return 0;
}

int pd_loop_every(struct pd_loop *l, int64_t period_ms, pd_tick_fn fn, void *arg)
{
    struct timer *t;

    if (period_ms <= 0 || fn == NULL)
        return -1;
    t = realloc(l->timers, (l->ntimers + 1) * sizeof(*t));
    if (t == NULL)
        return -1;
    l->timers = t;
    l->timers[l->ntimers++] = (struct timer){period_ms, pd_mono_ms() + period_ms, fn, arg};
    return 0;
}

int pd_loop_after_pass(struct pd_loop *l, pd_wake_fn fn, void *arg)
{
    struct after *a;

    if (fn == NULL)
        return -1;
    a = realloc(l->afters, (l->nafters + 1) * sizeof(*a));
    if (a == NULL)
        return -1;
    l->afters = a;
    l->afters[l->nafters++] = (struct after){fn, arg};
    return 0;
}

int pd_loop_call(struct pd_loop *l, pd_wake_fn fn, void *arg)
{
    struct call *c = malloc(sizeof(*c));
    bool refused;

    if (c == NULL)
        return -1;
    *c = (struct call){fn, arg, NULL};
    pthread_mutex_lock(&l->mu);
    refused = l->closed;
    if (!refused) {
        if (l->tail != NULL)
            l->tail->next = c;
        else
            l->head = c;
        l->tail = c;
    }
    pthread_mutex_unlock(&l->mu);
    if (refused) {
        free(c);
        return -1;
    }
    wake(l);
    return 0;
}

void pd_loop_stop(struct pd_loop *l)
{
    __atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
    /* write() is async-signal-safe; it makes a blocked epoll_wait return. */
    wake(l);
}

/* Milliseconds until the next timer is due: the epoll_wait timeout. */
static int next_timeout(const struct pd_loop *l, int64_t now)
{
    int64_t best = -1;

    for (size_t i = 0; i < l->ntimers; i++) {
        int64_t d = l->timers[i].due_ms - now;
        if (d < 0)
            d = 0;
        if (best < 0 || d < best)
            best = d;
    }
    return best > 60000 ? 60000 : (int)best;
}

static void run_timers(struct pd_loop *l)
{
    int64_t now = pd_mono_ms();

    /* Index loop: a tick may register a new timer (realloc). */
    for (size_t i = 0; i < l->ntimers; i++) {
        if (l->timers[i].due_ms <= now) {
            /* Coarse: the next run is a period after this one, so a loop
             * that fell behind does not fire a burst of catch-up calls. */
            l->timers[i].due_ms = now + l->timers[i].period_ms;
            l->timers[i].fn(l->timers[i].arg, now);
        }
    }
}

static void dispatch(struct pd_loop *l, const struct epoll_event *ev)
{
    int fd = (int)(uint32_t)ev->data.u64;
    uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
    struct watch *w;

    if ((size_t)fd >= l->nwatches)
        return;
    w = &l->watches[fd];
    if (w->fn == NULL || w->gen != gen)
        return; /* deleted or replaced earlier in this pass */
    w->fn(w->arg, ev->events);
}

int pd_loop_run(struct pd_loop *l)
{
    struct epoll_event evs[MAX_EVENTS];

    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
        int n = epoll_wait(l->epfd, evs, MAX_EVENTS, next_timeout(l, pd_mono_ms()));

        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++)
            dispatch(l, &evs[i]);
        run_timers(l);
        for (size_t i = 0; i < l->nafters; i++)
            l->afters[i].fn(l->afters[i].arg);
    }
    /* A call accepted by pd_loop_call is a promise to run it: run what is
     * queued, and refuse any later call so its caller cleans up itself. */
    run_calls(l, true);
    for (size_t i = 0; i < l->nafters; i++)
        l->afters[i].fn(l->afters[i].arg);
    return 0;
}

int pd_loop_run_once(struct pd_loop *l, int timeout_ms)
{
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(l->epfd, evs, MAX_EVENTS, timeout_ms);

    if (n < 0 && errno != EINTR)
        return -1;
    for (int i = 0; i < n; i++)
        dispatch(l, &evs[i]);
    run_timers(l);
    for (size_t i = 0; i < l->nafters; i++)
        l->afters[i].fn(l->afters[i].arg);
    return n < 0 ? 0 : n;
}
