/* sdk_churn: libparley's automatic reconnect and recovery under connection
 * churn, with only parley.h, the way an application uses it.
 *
 *   sdk_churn URL TOKEN_SENDER TOKEN_RECEIVER N DROPS
 *
 * The two tokens are of two different users. Both clients run managed (a
 * loop thread each) with reconnect on and PARLEY_OFFLINE_WAIT. The sender
 * sends N messages ("churn <i>", no client_msg_id of its own: the library
 * makes one) to a fresh room at a steady pace, one blocking send after the
 * other. Meanwhile the receiver's own socket is killed DROPS times
 * (shutdown(2) on parley_socket()) at random moments, each once the
 * previous drop was recovered and the session token is there. At the end the receiver must have seen
 * every seq 1..N exactly once (live or replayed), in order, each with the
 * text the sender sent for it: nothing lost, nothing duplicated, no send
 * stored twice.
 *
 * Environment (all optional):
 *   CHURN_PACE_MS    ms between two sends (default 10)
 *   CHURN_RC_MIN_MS  reconnect backoff (defaults 50 and 500)
 *   CHURN_RC_MAX_MS
 *   CHURN_WAIT_S     how long the end waits for the last messages (default 30)
 *   CHURN_VERBOSE    1: print the receiver's state changes as TAP comments
 *   CHURN_ALLOW_LOST 1: a SESSION_LOST is allowed; the receiver then
 *                    reloads what it missed with message:history, as an
 *                    application does (default: a SESSION_LOST fails)
 *
 * Prints TAP, "# sent K" as the sends progress, and, after the plan, a last
 * line
 *   # churn: drops=D messages=N lost=L duplicated=U replayed=R ...
 * (duplicated counts seqs seen twice, seqs above N and texts not matching
 * their seq: a send stored twice shows there).
 * Exits 1 on any loss, duplicate or failed check, 2 on bad usage. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "parley.h"
#include "sdk_tap.h"

#define T_MS 10000

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- what the receiver saw ---------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char room[64];
static int n_msgs;
static int *seen;          /* [1..N]: times seen */
static int distinct;       /* seqs seen at least once */
static int64_t last_seq;   /* highest seq seen live or replayed */
static int out_of_order;   /* a seq not above the one before it */
static int beyond;         /* seqs above N: a send stored twice */
static int wrong_text;     /* seq i without the text "churn i" */
static int foreign;        /* messages of other rooms */
static int replayed_seen;  /* messages flagged replayed */
static int reloaded;       /* seqs fetched with message:history */
static int st_recovered, st_lost, st_connected, st_disconnected;
static int64_t missed_total;

static void record(const struct parley_message *m, int via_history)
{
    char want[64];

    if (strcmp(m->room, room) != 0) {
        foreign++;
        return;
    }
    if (m->seq < 1 || m->seq > n_msgs) {
        beyond++;
        return;
    }
    snprintf(want, sizeof(want), "churn %" PRId64, m->seq);
    if (strcmp(m->text, want) != 0)
        wrong_text++;
    if (!via_history) {
        if (m->seq <= last_seq)
            out_of_order++;
        else
            last_seq = m->seq;
        if (m->replayed)
            replayed_seen++;
    } else if (seen[m->seq]) {
        return; /* the reload only fills gaps */
    } else {
        reloaded++;
    }
    if (seen[m->seq]++ == 0)
        distinct++;
}

static void on_message(parley_client *c, void *ud, const struct parley_message *m)
{
    pthread_mutex_lock(&mu);
    record(m, 0);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static int verbose;

static void on_state(parley_client *c, void *ud, const struct parley_state_event *s)
{
    if (verbose) {
        printf("# state %s count %" PRId64 " code %d retry %d\n", parley_state_name(s->state),
               s->count, s->close_code, s->will_retry);
        fflush(stdout);
    }
    pthread_mutex_lock(&mu);
    switch (s->state) {
    case PARLEY_STATE_RECOVERED:
        st_recovered++;
        missed_total += s->count;
        break;
    case PARLEY_STATE_SESSION_LOST:
        st_lost++;
        break;
    case PARLEY_STATE_CONNECTED:
        st_connected++;
        break;
    case PARLEY_STATE_DISCONNECTED:
        st_disconnected++;
        break;
    default:
        break;
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* ---- the dropper ------------------------------------------------------------------ */

struct dropper {
    parley_client *c;
    int drops, done;
    int gap_ms; /* mean wait before a drop */
    int stop;
};

static unsigned rnd_state;

static int rnd(int below)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return below > 0 ? (int)((rnd_state >> 8) % (unsigned)below) : 0;
}

static void *drop_main(void *arg)
{
    struct dropper *d = arg;

    while (d->done < d->drops) {
        int64_t give_up = now_ms() + 30000;
        int fd;

        /* The previous drop is over (recovered, or reported lost) before
         * the next one. */
        pthread_mutex_lock(&mu);
        while (!d->stop && st_recovered + st_lost < d->done && now_ms() < give_up) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&cv, &mu, &ts);
        }
        pthread_mutex_unlock(&mu);
        if (d->stop)
            break;
        /* ... and the session it recovers with is there (its token comes
         * with the create-session or recover ack). */
        for (;;) {
            struct parley_client_stats st;
            parley_stats(d->c, &st);
            if (st.sessions > d->done || now_ms() >= give_up)
                break;
            sleep_ms(2);
        }
        sleep_ms(rnd(2 * d->gap_ms + 1));
        fd = parley_socket(d->c);
        if (fd < 0 || !parley_is_connected(d->c)) {
            sleep_ms(5);
            continue;
        }
        shutdown(fd, SHUT_RDWR);
        d->done++;
    }
    return NULL;
}

/* ---- setup ---------------------------------------------------------------------- */

static parley_client *client(const char *url, const char *token, const char *who, int rmin,
                             int rmax)
{
    parley_client *c = parley_client_new(url, NULL);
    char what[128];
    int rc;

    if (!c) {
        ok(0, "parley_client_new", url);
        return NULL;
    }
    parley_set_token(c, token);
    ok(parley_set_reconnect(c, 1, rmin, rmax) == PARLEY_OK &&
           parley_set_offline_policy(c, PARLEY_OFFLINE_WAIT) == PARLEY_OK,
       "reconnect on, offline policy WAIT", NULL);
    rc = parley_connect(c, T_MS);
    snprintf(what, sizeof(what), "%s connects", who);
    ok(rc == PARLEY_OK, what, rcs(c, rc));
    if (rc != PARLEY_OK) {
        parley_client_destroy(c);
        return NULL;
    }
    return c;
}

/* Fills the gaps from message:history (after a SESSION_LOST). */
static void reload(parley_client *c)
{
    int64_t before = 0;

    for (;;) {
        struct parley_message *ms = NULL;
        size_t n = 0;
        int more = 0, rc = parley_history(c, room, before, 100, T_MS, &ms, &n, &more);
        if (rc != PARLEY_OK) {
            ok(0, "message:history reload", rcs(c, rc));
            return;
        }
        pthread_mutex_lock(&mu);
        for (size_t i = 0; i < n; i++)
            record(&ms[i], 1);
        pthread_mutex_unlock(&mu);
        before = n ? ms[0].seq : 0;
        parley_messages_free(ms, n);
        if (!more || n == 0)
            return;
    }
}

int main(int argc, char **argv)
{
    parley_client *snd = NULL, *rcv = NULL;
    struct dropper d;
    pthread_t dt;
    struct parley_client_stats rs, ss;
    int pace, rmin, rmax, wait_s, allow_lost, rc, send_failed = 0, lost = 0, dup = 0;
    unsigned char salt[4];
    char summary[512] = "# churn: setup failed";
    FILE *ur;

    if (argc != 6 || atoi(argv[4]) < 1 || atoi(argv[5]) < 0) {
        fprintf(stderr, "usage: sdk_churn URL TOKEN_SENDER TOKEN_RECEIVER N DROPS\n");
        return 2;
    }
    n_msgs = atoi(argv[4]);
    pace = env_int("CHURN_PACE_MS", 10);
    rmin = env_int("CHURN_RC_MIN_MS", 50);
    rmax = env_int("CHURN_RC_MAX_MS", 500);
    wait_s = env_int("CHURN_WAIT_S", 30);
    allow_lost = env_int("CHURN_ALLOW_LOST", 0);
    verbose = env_int("CHURN_VERBOSE", 0);
    seen = calloc((size_t)n_msgs + 1, sizeof(*seen));
    if (!seen)
        return 1;
    /* A fresh room per run, so its seqs start at 1. */
    ur = fopen("/dev/urandom", "rb");
    if (!ur || fread(salt, 1, sizeof(salt), ur) != sizeof(salt))
        memset(salt, 0, sizeof(salt));
    if (ur)
        fclose(ur);
    rnd_state = (unsigned)salt[0] << 24 | (unsigned)salt[1] << 16 | (unsigned)salt[2] << 8 |
                salt[3] | 1u;
    snprintf(room, sizeof(room), "churn-%02x%02x%02x%02x-%d", salt[0], salt[1], salt[2],
             salt[3], (int)getpid());

    snd = client(argv[1], argv[2], "sender", rmin, rmax);
    rcv = client(argv[1], argv[3], "receiver", rmin, rmax);
    if (!snd || !rcv)
        goto out;
    parley_on_message(rcv, on_message);
    parley_on_state(rcv, on_state);
    rc = parley_join(snd, room, 0, T_MS);
    ok(rc == PARLEY_OK, "sender joins the room", rcs(snd, rc));
    rc = parley_join(rcv, room, 0, T_MS);
    ok(rc == PARLEY_OK, "receiver joins the room", rcs(rcv, rc));
    if (rc != PARLEY_OK)
        goto out;
    ok(parley_loop_start(snd) == PARLEY_OK && parley_loop_start(rcv) == PARLEY_OK,
       "both loop threads start", NULL);

    memset(&d, 0, sizeof(d));
    d.c = rcv;
    d.drops = atoi(argv[5]);
    d.gap_ms = d.drops ? n_msgs * pace / d.drops / 2 : 0;
    if (d.gap_ms < 1)
        d.gap_ms = 1;
    if (pthread_create(&dt, NULL, drop_main, &d) != 0) {
        ok(0, "dropper thread", NULL);
        goto out;
    }

    for (int i = 1; i <= n_msgs; i++) {
        char text[64];
        snprintf(text, sizeof(text), "churn %d", i);
        rc = parley_send(snd, room, text, NULL, 30000, NULL);
        if (rc != PARLEY_OK) {
            if (send_failed++ < 5)
                printf("# send %d failed: %s\n", i, rcs(snd, rc));
        }
        if (i % (n_msgs / 10 ? n_msgs / 10 : 1) == 0) {
            printf("# sent %d\n", i);
            fflush(stdout);
        }
        if (pace > 0)
            sleep_ms(pace);
    }
    ok(send_failed == 0, "every send acknowledged", send_failed ? "some failed" : NULL);

    /* Every drop happens, then every message arrives (bounded). */
    pthread_join(dt, NULL);
    {
        int64_t until = now_ms() + (int64_t)wait_s * 1000;
        pthread_mutex_lock(&mu);
        while (distinct < n_msgs && now_ms() < until) {
            struct timespec ts;
            pthread_mutex_unlock(&mu);
            ts.tv_sec = 0;
            ts.tv_nsec = 20 * 1000000L;
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&mu);
            /* An application reloads once it is told the session was lost. */
            if (st_lost && distinct < n_msgs && allow_lost && st_recovered + st_lost >= d.done &&
                parley_is_connected(rcv)) {
                pthread_mutex_unlock(&mu);
                reload(rcv);
                pthread_mutex_lock(&mu);
            }
        }
        pthread_mutex_unlock(&mu);
    }
    /* Late duplicates would arrive now, if the library let any through. */
    sleep_ms(300);
    ok(d.done == d.drops, "every drop was made", NULL);

    pthread_mutex_lock(&mu);
    for (int i = 1; i <= n_msgs; i++) {
        if (seen[i] == 0)
            lost++;
        else if (seen[i] > 1)
            dup += seen[i] - 1;
    }
    pthread_mutex_unlock(&mu);
    parley_stats(rcv, &rs);
    parley_stats(snd, &ss);

    {
        char detail[256];
        snprintf(detail, sizeof(detail), "lost %d, duplicated %d, beyond %d, wrong text %d", lost,
                 dup, beyond, wrong_text);
        ok(lost == 0 && dup == 0 && beyond == 0 && wrong_text == 0,
           "the receiver saw every seq 1..N exactly once, with its text", detail);
        snprintf(detail, sizeof(detail), "%d out of order", out_of_order);
        ok(out_of_order == 0, "live and replayed messages came in seq order", detail);
        snprintf(detail, sizeof(detail), "drops %" PRId64 " made %d", rs.drops, d.done);
        /* A server restart drops the connection too: at least ours. */
        ok(rs.drops >= d.done, "parley_stats counts every drop", detail);
        snprintf(detail, sizeof(detail), "reconnects %" PRId64 ", recovered %" PRId64
                 ", sessions lost %" PRId64, rs.reconnects, rs.recovered, rs.sessions_lost);
        /* A connection that drops again before the recover ack (a server
         * going down) is recovered by the next one: no more recoveries
         * than reconnects, and at least one per drop of ours. */
        ok(rs.reconnects == rs.drops && rs.recovered + rs.sessions_lost <= rs.reconnects &&
               rs.recovered + rs.sessions_lost >= d.done && parley_is_connected(rcv),
           "every drop was followed by a reconnect and a recovery", detail);
        ok(allow_lost || rs.sessions_lost == 0, "no session was lost", detail);
        snprintf(detail, sizeof(detail), "stats %" PRId64 ", flagged %d", rs.replayed,
                 replayed_seen);
        ok(rs.replayed == replayed_seen, "replayed messages were flagged replayed", detail);
        snprintf(detail, sizeof(detail), "RECOVERED %d, missed %" PRId64 ", replayed %d",
                 st_recovered, missed_total, replayed_seen);
        /* A drop during a replay cuts it short: the next recovery counts
         * the rest again. */
        ok(st_recovered == rs.recovered && missed_total >= replayed_seen,
           "the state callback saw each recovery, and what it counted was replayed", detail);
        ok(foreign == 0, "no message of another room", NULL);
    }
    snprintf(summary, sizeof(summary),
             "# churn: drops=%d messages=%d lost=%d duplicated=%d replayed=%d"
             " reloaded=%d duplicates_dropped=%" PRId64 " sessions_lost=%" PRId64
             " sender_retried=%" PRId64 " sender_drops=%" PRId64,
             d.done, n_msgs, lost, dup + beyond + wrong_text, replayed_seen, reloaded,
             rs.duplicates_dropped, rs.sessions_lost, ss.retried, ss.drops);
out:
    if (rcv)
        parley_client_destroy(rcv);
    if (snd)
        parley_client_destroy(snd);
    free(seen);
    printf("1..%d\n%s\n", test_no, summary);
    return failed || lost || dup ? 1 : 0;
}
