/* echo_bot: joins a room and answers every message of someone else with
 * "echo: TEXT". It stays in the room across dropped connections and server
 * restarts (the library reconnects and recovers the session by itself) and
 * exits 0 on SIGINT or SIGTERM.
 *
 *   echo_bot ROOM                  (server and JWT from PARLEY_URL, PARLEY_TOKEN)
 *   echo_bot URL TOKEN ROOM
 *
 * stdout: "joined ROOM as USER" once the bot listens, then one line per
 * answer. stderr: connection changes and errors. Exit status: 0 after a
 * signal, 1 when it cannot connect or join at the start or the server
 * later refuses its token, 2 on bad usage.
 *
 * The client runs managed: parley_loop_start() gives it a thread of its
 * own and the callbacks below run on that thread. The main thread only
 * waits for a signal. */
#define _POSIX_C_SOURCE 200809L /* sigwait, pthread_sigmask, kill */

#include <parley.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT_MS 10000

struct bot {
    char *self; /* the bot's user id: its messages are not answered */
};

/* The user id a JWT names (its "sub" claim), malloc'd, or NULL. The server
 * checks the token; the bot only reads it, to know its own messages. */
static char *token_subject(const char *jwt)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = strchr(jwt, '.'), *end, *k, *v;
    char *json, *sub = NULL;
    size_t n = 0, len;
    unsigned bits = 0, nbits = 0;

    if (!p || !(end = strchr(++p, '.')))
        return NULL;
    if (!(json = malloc((size_t)(end - p) + 1)))
        return NULL;
    for (; p < end; p++) { /* base64url, no padding */
        const char *d = strchr(b64, *p);
        if (!d)
            goto out;
        bits = (bits << 6) | (unsigned)(d - b64);
        if ((nbits += 6) >= 8)
            json[n++] = (char)((bits >> (nbits -= 8)) & 0xff);
    }
    json[n] = '\0';
    /* {"sub":"ann",...}: user ids are [A-Za-z0-9_.@-], never escaped. */
    for (k = json; (k = strstr(k, "\"sub\"")); k++) {
        for (v = k + 5; *v == ' '; v++)
            ;
        if (*v++ != ':')
            continue; /* "sub" as a value, not the key */
        while (*v == ' ')
            v++;
        if (*v++ != '"' || !(len = strcspn(v, "\"")) || v[len] != '"')
            break;
        if ((sub = malloc(len + 1))) {
            memcpy(sub, v, len);
            sub[len] = '\0';
        }
        break;
    }
out:
    free(json);
    return sub;
}

/* The ack of an answer: only failures are worth a line. */
static void on_answer_ack(parley_client *c, void *ud, void *arg, int rc, const char *data_json)
{
    (void)c, (void)ud, (void)arg;
    if (rc == PARLEY_ERR_SERVER)
        fprintf(stderr, "echo_bot: answer refused: %s\n", data_json); /* the error object */
    else if (rc != PARLEY_OK)
        fprintf(stderr, "echo_bot: answer failed: %s\n", parley_strerror(rc));
}

/* Replayed messages (sent while the connection was down, handed over by
 * the recovery after a reconnect) are answered too: their authors are
 * waiting for the echo just the same, and the library hands each one over
 * once. Should an answer still be repeated (the bot restarted, a send
 * retried after a drop), its client_msg_id, made of the original
 * message's id, lets the server store it only once. */
static void on_message(parley_client *c, void *ud, const struct parley_message *m)
{
    struct bot *bot = ud;
    struct parley_send_opts opts;
    char cmid[32], *text;
    int rc;

    if (m->deleted || strcmp(m->user, bot->self) == 0)
        return; /* never answer itself: two bots would echo each other forever */
    if (!(text = malloc(strlen(m->text) + sizeof("echo: ")))) {
        fprintf(stderr, "echo_bot: out of memory\n");
        return;
    }
    sprintf(text, "echo: %s", m->text);
    snprintf(cmid, sizeof(cmid), "echo-%lld", (long long)m->id);
    memset(&opts, 0, sizeof(opts));
    opts.client_msg_id = cmid;
    opts.reply_to = m->id;
    /* A callback must not make blocking calls (they would wait on this very
     * thread): the answer goes out asynchronously. */
    rc = parley_send_async(c, m->room, text, &opts, on_answer_ack, NULL);
    if (rc == PARLEY_OK)
        printf("answered #%lld of %s in %s%s\n", (long long)m->seq, m->user, m->room,
               m->replayed ? " (replayed)" : "");
    else
        fprintf(stderr, "echo_bot: cannot answer #%lld: %s\n", (long long)m->seq,
                parley_strerror(rc));
    fflush(stdout);
    free(text);
}

static void on_state(parley_client *c, void *ud, const struct parley_state_event *s)
{
    (void)c, (void)ud;
    switch (s->state) {
    case PARLEY_STATE_DISCONNECTED:
        fprintf(stderr, "echo_bot: disconnected (code %d)%s\n", s->close_code,
                s->will_retry ? ", reconnecting" : "");
        break;
    case PARLEY_STATE_CONNECTED:
        fprintf(stderr, "echo_bot: connected\n");
        break;
    case PARLEY_STATE_RECOVERED:
        fprintf(stderr, "echo_bot: session recovered, %lld missed messages follow\n",
                (long long)s->count);
        break;
    case PARLEY_STATE_SESSION_LOST:
        /* Too much was missed (or the server forgot the session): the
         * library rejoins the room, but the missed messages are not
         * replayed. An echo long after the fact helps nobody: they stay
         * unanswered. */
        fprintf(stderr, "echo_bot: session lost, %lld missed messages left unanswered\n",
                (long long)s->count);
        break;
    }
}

/* Before each automatic reconnect. The bot has no way to get a fresh
 * token: once the server refuses the one it has (expired, revoked),
 * retrying is pointless, so it asks the main thread to stop. */
static const char *on_token(parley_client *c, void *ud, const struct parley_token_request *r)
{
    (void)c, (void)ud;
    if (r->http_status == 401 || r->http_status == 403) {
        fprintf(stderr, "echo_bot: the server refuses the token (HTTP %d)\n", r->http_status);
        kill(getpid(), SIGUSR1);
    }
    return NULL; /* keep the current token */
}

/* A failed blocking call, explained. */
static void report(parley_client *c, const char *what, int rc)
{
    if (rc == PARLEY_ERR_SERVER)
        fprintf(stderr, "echo_bot: %s: %s: %s\n", what, parley_error_code(c),
                parley_error_message(c));
    else if (rc == PARLEY_ERR_HANDSHAKE)
        fprintf(stderr, "echo_bot: %s: %s (HTTP %d)\n", what, parley_strerror(rc),
                parley_http_status(c));
    else
        fprintf(stderr, "echo_bot: %s: %s\n", what, parley_strerror(rc));
}

int main(int argc, char **argv)
{
    const char *url = getenv("PARLEY_URL"), *token = getenv("PARLEY_TOKEN"), *room;
    struct bot bot;
    parley_client *c;
    sigset_t sigs;
    int rc, sig = 0, status = 1;

    if (argc == 4) {
        url = argv[1];
        token = argv[2];
    } else if (argc != 2 || !url || !token) {
        fprintf(stderr, "usage: echo_bot URL TOKEN ROOM\n"
                        "       echo_bot ROOM   (with PARLEY_URL and PARLEY_TOKEN set)\n");
        return 2;
    }
    room = argv[argc - 1];
    if (!(bot.self = token_subject(token))) {
        fprintf(stderr, "echo_bot: the token names no user (no sub claim)\n");
        return 2;
    }
    if (!(c = parley_client_new(url, &bot))) {
        fprintf(stderr, "echo_bot: bad URL: %s\n", url);
        free(bot.self);
        return 2;
    }

    /* The signals are taken by sigwait below, never by a handler: block them
     * before any thread starts, so every thread (the library's included)
     * inherits the mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGUSR1); /* on_token: give up */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    parley_on_message(c, on_message);
    parley_on_state(c, on_state);
    parley_on_token(c, on_token);
    if ((rc = parley_set_token(c, token)) != PARLEY_OK ||
        (rc = parley_set_reconnect(c, 1, 0, 0)) != PARLEY_OK ||
        /* An answer made during a drop waits for the reconnect. */
        (rc = parley_set_offline_policy(c, PARLEY_OFFLINE_WAIT)) != PARLEY_OK ||
        (rc = parley_loop_start(c)) != PARLEY_OK) {
        report(c, "setup", rc);
        goto done;
    }
    /* Blocking calls from the main thread wait for the loop thread's work.
     * The first connect is not retried: a wrong URL or token should fail
     * loudly, not spin. */
    if ((rc = parley_connect(c, TIMEOUT_MS)) != PARLEY_OK) {
        report(c, "connect", rc);
        goto done;
    }
    /* Joining subscribes this connection; after a reconnect the library
     * subscribes the new one to the same rooms. */
    if ((rc = parley_join(c, room, 0, TIMEOUT_MS)) != PARLEY_OK) {
        report(c, "join", rc);
        goto done;
    }
    printf("joined %s as %s\n", room, bot.self);
    fflush(stdout);

    if (sigwait(&sigs, &sig) != 0)
        sig = SIGUSR1;
    status = sig == SIGUSR1 ? 1 : 0;
    parley_disconnect(c); /* a clean close (1000), no reconnect after it */
done:
    parley_client_destroy(c); /* stops the loop thread */
    free(bot.self);
    return status;
}
