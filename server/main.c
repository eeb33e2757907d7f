/* parleyd: settings, start-up in dependency order, the loop, and a graceful
 * shutdown on SIGTERM/SIGINT (PROTOCOL.md 1.4): stop reading input, let
 * committed work be acknowledged, close every WebSocket with 1001 after
 * what is queued, wait briefly for the close handshakes, then stop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "cluster.h"
#include "config.h"
#include "conns.h"
#include "dispatch.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "monitoring.h"
#include "server.h"
#include "store.h"
#include "wsproto.h"

/* How long shutdown waits for close handshakes before dropping the rest. */
#define SHUTDOWN_GRACE_MS 2000

extern char **environ;

/* main's own state, next to the server it runs. */
struct app {
    struct server srv;
    int sigfd;
    bool services_up;
    bool stopping;
    int64_t stop_deadline;
};

/* As many descriptors as we are allowed: each WebSocket holds one. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            pd_warn("cannot raise the open file limit: %s", strerror(errno));
    }
}

static void on_store_event(void *arg, uint32_t events)
{
    struct server *srv = arg;
    uint64_t n;

    if (read(pd_store_event_fd(srv->store), &n, sizeof(n)) < 0) {
        /* EAGAIN: nothing new; completions run anyway. */
    }
    pd_store_run_completions(srv->store);
}

/* Ends the loop once every connection has finished closing, or at the
 * deadline. */
static void shutdown_tick(void *arg, int64_t now)
{
    struct app *app = arg;

    if (pd_conns_count(&app->srv) == 0 || now >= app->stop_deadline)
        pd_loop_stop(app->srv.loop);
}

static void begin_shutdown(struct app *app, const char *signame)
{
    struct server *srv = &app->srv;

    if (app->stopping) {
        pd_info("%s again: stopping now", signame);
        pd_loop_stop(srv->loop);
        return;
    }
    app->stopping = true;
    pd_info("%s: shutting down", signame);
    /* 1. No new requests from clients. */
    pd_conns_pause_input(srv);
    /* 2. Work already accepted is committed, and its acks queued. */
    pd_store_drain(srv->store);
    pd_store_run_completions(srv->store);
    /* 3. The close frame goes after everything queued. */
    pd_conns_close_all(srv, PD_CLOSE_GOING_AWAY, "server shutting down");
    app->stop_deadline = pd_mono_ms() + SHUTDOWN_GRACE_MS;
    if (pd_loop_every(srv->loop, 50, shutdown_tick, app) != 0)
        pd_loop_stop(srv->loop);
}

static void on_signal(void *arg, uint32_t events)
{
    struct app *app = arg;
    struct signalfd_siginfo si;

    while (read(app->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        begin_shutdown(app, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
}

/* SIGTERM and SIGINT arrive through a signalfd on the loop. They are
 * blocked before any thread starts, so every thread inherits the mask and
 * none of them takes the signal instead. */
static int setup_signals(struct app *app)
{
    sigset_t set;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    app->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return app->sigfd < 0 ? -1 : 0;
}

static void print_listening(const struct pd_config *cfg, uint16_t port)
{
    const char *scheme = cfg->tls_cert ? "https" : "http";

    if (strchr(cfg->listen_host, ':') != NULL)
        printf("listening on %s://[%s]:%u\n", scheme, cfg->listen_host, port);
    else
        printf("listening on %s://%s:%u\n", scheme, cfg->listen_host, port);
    fflush(stdout);
}

/* Everything from the keys to the HTTP daemon, in dependency order.
 * Returns 0, 2 when the key material is unusable (a bad setting like any
 * other: exit 2), or 1 for a run-time failure. */
static int start(struct app *app, char *err, size_t errlen)
{
    struct server *srv = &app->srv;
    uint16_t port = 0;
    char dbname[1024];

    if (pd_auth_new(&srv->auth, &srv->cfg, err, errlen) != 0)
        return 2;
    if (pd_store_open(&srv->store, srv->cfg.db, err, errlen) != 0)
        return 1;
    if (pd_loop_new(&srv->loop) != 0 || pd_conns_new(srv) != 0) {
        snprintf(err, errlen, "cannot create the event loop: %s", strerror(errno));
        return 1;
    }
    if (pd_loop_add(srv->loop, pd_store_event_fd(srv->store), EPOLLIN, on_store_event, srv) !=
            0 ||
        pd_loop_add(srv->loop, app->sigfd, EPOLLIN, on_signal, app) != 0) {
        snprintf(err, errlen, "cannot watch the store and signals: %s", strerror(errno));
        return 1;
    }
    if (pd_services_init(srv, err, errlen) != 0)
        return 1;
    app->services_up = true;
    /* Monitoring: before HTTP, whose threads record events into it. */
    if (pd_monitor_new(srv) != 0) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    /* After the services, so connection output is flushed after their own
     * after-pass work. */
    if (pd_conns_start(srv) != 0) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    if (pd_http_start(&srv->http, srv, &port, err, errlen) != 0)
        return 1;
    if (pd_cluster_init(srv, port, err, errlen) != 0)
        return 1;
    print_listening(&srv->cfg, port);
    pd_db_redact(srv->cfg.db, dbname, sizeof(dbname));
    pd_info("parleyd listening on port %u (db %s)", port, dbname);
    return 0;
}

/* Tears down whatever start() got to, in reverse. */
static void stop(struct app *app)
{
    struct server *srv = &app->srv;

    /* WebSockets go before MHD stops: it must not see them still open. */
    pd_conns_free(srv);
    /* Connections that closed only now (still open at the end of the grace
     * period, or the last ones) stored their users' last-seen times: commit
     * those and run the completions, which free the jobs, while the
     * services are still up (ASan found the leak). */
    if (srv->store != NULL && app->services_up) {
        pd_store_drain(srv->store);
        pd_store_run_completions(srv->store);
    }
    pd_http_stop(srv->http);
    pd_cluster_free(srv);
    if (app->services_up)
        pd_services_free(srv);
    pd_monitor_free(srv); /* after HTTP (its threads read it) and the connections */
    if (srv->store != NULL)
        pd_store_close(srv->store);
    pd_auth_free(srv->auth);
    pd_loop_free(srv->loop);
    if (app->sigfd >= 0)
        close(app->sigfd);
    pd_config_free(&srv->cfg);
}

int main(int argc, char **argv)
{
    struct app app = {.sigfd = -1};
    char err[512];
    int rc;

    rc = pd_config_load(&app.srv.cfg, argc, argv, environ, err, sizeof(err));
    if (rc == 1 || rc == 3)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "parleyd: %s\n", err);
        return 2;
    }
    pd_log_set_level(app.srv.cfg.log_level);
    raise_nofile();
    app.srv.started_ms = pd_now_ms();
    if (setup_signals(&app) != 0) {
        fprintf(stderr, "parleyd: cannot set up signals: %s\n", strerror(errno));
        stop(&app);
        return 1;
    }
    rc = start(&app, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "parleyd: %s\n", err);
        stop(&app);
        return rc;
    }
    pd_loop_run(app.srv.loop);
    stop(&app);
    pd_info("stopped");
    return 0;
}
