/* poll_embed: a line chat that runs the client inside the application's
 * own poll() loop, next to its other input (here stdin): no extra thread.
 *
 *   poll_embed ROOM                (server and JWT from PARLEY_URL, PARLEY_TOKEN)
 *   poll_embed URL TOKEN ROOM
 *
 * Every line read from stdin is sent to ROOM; every message of ROOM (its
 * own once stored) is printed as "#SEQ USER: TEXT". At the end of stdin
 * it waits for the acknowledgements of what it sent, closes and exits: 0
 * when every line was stored, 1 when one was not or the first connect
 * failed, 2 on bad usage.
 *
 * The embedded calls: poll parley_socket() for input, and for output too
 * while parley_want_write(); then parley_loop_read() / parley_loop_write()
 * for what poll() reported, and parley_loop_misc() about once a second
 * (request timeouts, and the automatic reconnect). Callbacks run inside
 * those calls, on this thread. */
#define _POSIX_C_SOURCE 200809L /* poll, clock_gettime */

#include <errno.h>
#include <parley.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 10000
#define MISC_EVERY_MS 1000

struct app {
    const char *room;
    int pending; /* sends not acknowledged yet */
    int failed;  /* sends that failed */
};

static void print_message(const struct parley_message *m)
{
    printf("#%lld %s: %s%s\n", (long long)m->seq, m->user, m->text,
           m->replayed ? " (while away)" : "");
    fflush(stdout);
}

static void on_message(parley_client *c, void *ud, const struct parley_message *m)
{
    (void)c, (void)ud;
    print_message(m);
}

/* The ack of a line sent. The server pushes a message to the other
 * connections of the room, not back to the one that sent it: its ack is
 * where the line shows as stored. */
static void on_sent(parley_client *c, void *ud, void *arg, int rc, const char *data_json)
{
    struct app *app = ud;
    struct parley_message *m;

    (void)c, (void)arg;
    app->pending--;
    if (rc == PARLEY_OK && (rc = parley_message_parse(data_json, &m)) == PARLEY_OK) {
        print_message(m);
        parley_message_free(m);
        return;
    }
    app->failed++;
    if (rc == PARLEY_ERR_SERVER)
        fprintf(stderr, "poll_embed: send refused: %s\n", data_json); /* the error object */
    else
        fprintf(stderr, "poll_embed: send failed: %s\n", parley_strerror(rc));
}

static void on_state(parley_client *c, void *ud, const struct parley_state_event *s)
{
    (void)c, (void)ud;
    if (s->state == PARLEY_STATE_DISCONNECTED)
        fprintf(stderr, "poll_embed: disconnected (code %d)%s\n", s->close_code,
                s->will_retry ? ", reconnecting" : "");
    else if (s->state == PARLEY_STATE_CONNECTED)
        fprintf(stderr, "poll_embed: connected\n");
    else if (s->state == PARLEY_STATE_SESSION_LOST)
        fprintf(stderr, "poll_embed: %lld messages missed while away\n", (long long)s->count);
}

static void send_line(parley_client *c, struct app *app, char *line)
{
    size_t n = strlen(line);
    int rc;

    if (n > 0 && line[n - 1] == '\r')
        line[--n] = '\0';
    if (n == 0)
        return;
    /* The text is copied: the buffer may change before the ack. */
    rc = parley_send_async(c, app->room, line, NULL, on_sent, NULL);
    if (rc == PARLEY_OK)
        app->pending++;
    else {
        app->failed++;
        fprintf(stderr, "poll_embed: cannot send: %s\n", parley_strerror(rc));
    }
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    const char *url = getenv("PARLEY_URL"), *token = getenv("PARLEY_TOKEN");
    struct app app = {0};
    parley_client *c;
    char buf[4096];
    size_t len = 0;
    int rc, eof = 0, status = 1;
    long long next_misc = 0;

    if (argc == 4) {
        url = argv[1];
        token = argv[2];
    } else if (argc != 2 || !url || !token) {
        fprintf(stderr, "usage: poll_embed URL TOKEN ROOM\n"
                        "       poll_embed ROOM   (with PARLEY_URL and PARLEY_TOKEN set)\n");
        return 2;
    }
    app.room = argv[argc - 1];
    if (!(c = parley_client_new(url, &app))) {
        fprintf(stderr, "poll_embed: bad URL: %s\n", url);
        return 2;
    }
    parley_on_message(c, on_message);
    parley_on_state(c, on_state);
    /* Reconnect by itself, from inside parley_loop_misc; lines typed
     * meanwhile wait for the new connection. */
    if ((rc = parley_set_token(c, token)) != PARLEY_OK ||
        (rc = parley_set_reconnect(c, 1, 0, 0)) != PARLEY_OK ||
        (rc = parley_set_offline_policy(c, PARLEY_OFFLINE_WAIT)) != PARLEY_OK) {
        fprintf(stderr, "poll_embed: setup: %s\n", parley_strerror(rc));
        goto done;
    }
    /* Blocking calls are fine before the loop: each drives the socket until
     * its answer arrives. */
    if ((rc = parley_connect(c, TIMEOUT_MS)) != PARLEY_OK) {
        fprintf(stderr, "poll_embed: connect: %s (HTTP %d)\n", parley_strerror(rc),
                parley_http_status(c));
        goto done;
    }
    if ((rc = parley_join(c, app.room, 0, TIMEOUT_MS)) != PARLEY_OK) {
        if (rc == PARLEY_ERR_SERVER)
            fprintf(stderr, "poll_embed: join: %s: %s\n", parley_error_code(c),
                    parley_error_message(c));
        else
            fprintf(stderr, "poll_embed: join: %s\n", parley_strerror(rc));
        goto done;
    }
    fprintf(stderr, "poll_embed: in %s; type lines to send, end with EOF\n", app.room);

    /* Until stdin ends and every send is answered (each is, within 30 s). */
    while (!eof || app.pending > 0) {
        struct pollfd pfd[2];
        long long wait = next_misc - now_ms();
        char *nl;
        ssize_t n;

        pfd[0].fd = eof ? -1 : STDIN_FILENO; /* poll() skips a negative fd */
        pfd[0].events = POLLIN;
        /* Asked every round: a reconnect opens a new socket, and between
         * connections there is none (-1). */
        pfd[1].fd = parley_socket(c);
        pfd[1].events = POLLIN | (parley_want_write(c) ? POLLOUT : 0);
        if (poll(pfd, 2, wait < 0 ? 0 : (int)wait) < 0 && errno != EINTR) {
            perror("poll_embed: poll");
            goto done;
        }
        /* The loop calls report PARLEY_ERR_CLOSED or _NOT_CONNECTED when the
         * connection is gone: on_state has said so and parley_loop_misc
         * reconnects, so they need no handling here. */
        if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))
            parley_loop_read(c);
        if ((pfd[1].revents & POLLOUT) && parley_want_write(c))
            parley_loop_write(c);
        if (now_ms() >= next_misc) {
            parley_loop_misc(c);
            next_misc = now_ms() + MISC_EVERY_MS;
        }

        if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        n = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                perror("poll_embed: stdin");
            eof = 1;
            buf[len] = '\0';
            send_line(c, &app, buf); /* a last line without a newline */
            continue;
        }
        len += (size_t)n;
        buf[len] = '\0';
        while ((nl = strchr(buf, '\n'))) {
            *nl = '\0';
            send_line(c, &app, buf);
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len + 1);
        }
        if (len == sizeof(buf) - 1) { /* a line longer than the buffer: send what fits */
            send_line(c, &app, buf);
            len = 0;
        }
    }
    status = app.failed ? 1 : 0;
    parley_disconnect(c);
done:
    parley_client_destroy(c);
    return status;
}
