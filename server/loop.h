/* The event loop: epoll over non-blocking fds, a wake fd other threads use
 * to hand work in, and coarse periodic timers (Redis serverCron style). One
 * thread runs it and owns everything registered with it. */
#ifndef PD_LOOP_H
#define PD_LOOP_H

#include <stdint.h>

struct pd_loop;

/* events: EPOLLIN/EPOLLOUT/... bits as received from epoll. */
typedef void (*pd_io_fn)(void *arg, uint32_t events);
typedef void (*pd_tick_fn)(void *arg, int64_t now_mono_ms);
typedef void (*pd_wake_fn)(void *arg);

int pd_loop_new(struct pd_loop **out);
void pd_loop_free(struct pd_loop *l);

int pd_loop_add(struct pd_loop *l, int fd, uint32_t events, pd_io_fn fn, void *arg);
int pd_loop_mod(struct pd_loop *l, int fd, uint32_t events, pd_io_fn fn, void *arg);
int pd_loop_del(struct pd_loop *l, int fd);

/* Calls fn every period_ms (at most one call per loop pass). */
int pd_loop_every(struct pd_loop *l, int64_t period_ms, pd_tick_fn fn, void *arg);

/* Called once after every loop pass, after all I/O callbacks: where output
 * gathered during the pass is flushed (one write per connection per pass)
 * and deferred frees happen. */
int pd_loop_after_pass(struct pd_loop *l, pd_wake_fn fn, void *arg);

/* Thread-safe: makes the loop run fn(arg) on its own thread soon. */
int pd_loop_call(struct pd_loop *l, pd_wake_fn fn, void *arg);

/* Runs until pd_loop_stop. Returns 0. */
int pd_loop_run(struct pd_loop *l);
/* Loop thread or signal-safe path: stop after the current pass. */
void pd_loop_stop(struct pd_loop *l);

/* For tests and fuzzing, instead of pd_loop_run: one pass (waits up to
 * timeout_ms for events, runs them, the timers due and the after-pass
 * callbacks). Queued pd_loop_call calls run when the wake fd is among the
 * events. Returns the number of events, or -1 on an epoll error. */
int pd_loop_run_once(struct pd_loop *l, int timeout_ms);

#endif
