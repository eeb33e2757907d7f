/* sdk_reconnect: libparley's reconnect, token and state callbacks, offline
 * policies, and the presence and connection calls, through a real parleyd,
 * with only parley.h.
 *
 *   sdk_reconnect URL USER_A TOKEN_A_SHORT TOKEN_A USER_B TOKEN_B
 *
 * TOKEN_A_SHORT is a JWT of USER_A that expires a few seconds from now
 * (parley token --ttl 3); TOKEN_A a long-lived one of the same user;
 * TOKEN_B one of another user. Neither may be an admin.
 *
 *  1. token: two clients connect with the short token; when the server
 *     closes them with 4001, the one with a token callback is handed the
 *     close code and reconnects with the fresh token at once and recovers;
 *     the one without keeps trying with the expired token (refused with
 *     401) until the application sets a fresh one with parley_set_token.
 *  2. presence: update-status (and its presence:update push to a member of
 *     a shared room, through parley_on_presence), online-users,
 *     user-status, stats; blocking and async with the parse functions.
 *  3. connection: create-session, session-info, connection:stats, and a
 *     recovery by hand (reconnect off) with replayed messages flagged.
 *  4. offline policies: FAIL answers PARLEY_ERR_NOT_CONNECTED at once
 *     while a reconnect is pending; WAIT queues (bounded by the timeout)
 *     and sends after the reconnect, with a generated client_msg_id; sends
 *     cut by a drop are sent again and stored once; parley_disconnect stops
 *     the reconnect.
 *  5. who drives the reconnect: parley_loop (embedded) and a blocking
 *     call without a loop thread.
 *
 * Prints TAP; exits 1 when a check fails, 2 on bad usage. */
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

#define T_MS 5000

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

/* ---- one client and what its callbacks saw ----------------------------------- */

#define MAX_SEEN 64

struct who {
    const char *label;
    parley_client *c;
    pthread_mutex_t mu;
    /* states, in order */
    int states[MAX_SEEN];
    int64_t counts[MAX_SEEN];
    int n_states;
    int recovered, lost, connected, disconnected, connecting, retry_last;
    int64_t missed;
    /* disconnect callback */
    int disc_n, disc_code;
    /* token callback */
    const char *fresh; /* what the token callback hands out, NULL: none */
    int token_calls, token_code, token_attempt, token_http;
    /* messages */
    int msgs, replayed;
    char last_text[128];
    /* presence pushes */
    int presence_n;
    char presence_user[80], presence_status[16];
    int64_t presence_last_seen;
};

static int verbose;

static void on_state(parley_client *c, void *ud, const struct parley_state_event *s)
{
    struct who *w = ud;
    if (verbose)
        printf("# %s: state %s count %" PRId64 " code %d retry %d\n", w->label,
               parley_state_name(s->state), s->count, s->close_code, s->will_retry);
    pthread_mutex_lock(&w->mu);
    if (w->n_states < MAX_SEEN) {
        w->states[w->n_states] = s->state;
        w->counts[w->n_states++] = s->count;
    }
    switch (s->state) {
    case PARLEY_STATE_RECOVERED:
        w->recovered++;
        w->missed = s->count;
        break;
    case PARLEY_STATE_SESSION_LOST:
        w->lost++;
        break;
    case PARLEY_STATE_CONNECTED:
        w->connected++;
        break;
    case PARLEY_STATE_CONNECTING:
        w->connecting++;
        break;
    case PARLEY_STATE_DISCONNECTED:
        w->disconnected++;
        w->retry_last = s->will_retry;
        break;
    }
    pthread_mutex_unlock(&w->mu);
}

static void on_disconnect(parley_client *c, void *ud, int code, const char *reason)
{
    struct who *w = ud;
    pthread_mutex_lock(&w->mu);
    w->disc_n++;
    w->disc_code = code;
    pthread_mutex_unlock(&w->mu);
}

static const char *on_token(parley_client *c, void *ud, const struct parley_token_request *r)
{
    struct who *w = ud;
    pthread_mutex_lock(&w->mu);
    w->token_calls++;
    w->token_code = r->close_code;
    w->token_attempt = r->attempt;
    w->token_http = r->http_status;
    pthread_mutex_unlock(&w->mu);
    return w->fresh;
}

static void on_message(parley_client *c, void *ud, const struct parley_message *m)
{
    struct who *w = ud;
    pthread_mutex_lock(&w->mu);
    w->msgs++;
    w->replayed += m->replayed;
    snprintf(w->last_text, sizeof(w->last_text), "%s", m->text);
    pthread_mutex_unlock(&w->mu);
}

static void on_presence(parley_client *c, void *ud, const struct parley_presence *p)
{
    struct who *w = ud;
    pthread_mutex_lock(&w->mu);
    w->presence_n++;
    snprintf(w->presence_user, sizeof(w->presence_user), "%s", p->user);
    snprintf(w->presence_status, sizeof(w->presence_status), "%s", p->status);
    w->presence_last_seen = p->last_seen;
    pthread_mutex_unlock(&w->mu);
}

/* An async completion. */
struct slot {
    pthread_mutex_t mu;
    int done, rc;
    char *json;
};

static void on_ack(parley_client *c, void *ud, void *arg, int rc, const char *json)
{
    struct slot *s = arg;
    pthread_mutex_lock(&s->mu);
    s->rc = rc;
    s->json = json ? strdup(json) : NULL;
    s->done = 1;
    pthread_mutex_unlock(&s->mu);
}

/* Polls *field (under w->mu) until it reaches want, up to ms; the client
 * runs managed, so waiting is all there is to do. */
static int wait_int(struct who *w, const int *field, int want, int ms)
{
    int64_t until = now_ms() + ms;
    int r;

    for (;;) {
        pthread_mutex_lock(&w->mu);
        r = *field >= want;
        pthread_mutex_unlock(&w->mu);
        if (r || now_ms() >= until)
            return r;
        sleep_ms(10);
    }
}

static int wait_slot(struct slot *s, int rc, int ms)
{
    int64_t until = now_ms() + ms;
    int done;

    if (rc != PARLEY_OK)
        return rc;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        done = s->done;
        pthread_mutex_unlock(&s->mu);
        if (done)
            return s->rc;
        if (now_ms() >= until)
            return PARLEY_ERR_TIMEOUT;
        sleep_ms(5);
    }
}

static void slot_init(struct slot *s)
{
    pthread_mutex_init(&s->mu, NULL);
    s->done = s->rc = 0;
    s->json = NULL;
}

static void slot_free(struct slot *s)
{
    free(s->json);
    s->json = NULL;
    s->done = 0;
    pthread_mutex_destroy(&s->mu);
}

/* A client with every callback of this test; managed unless told not. */
static int who_init(struct who *w, const char *label, const char *url, const char *token,
                    int managed, int connect)
{
    memset(w, 0, sizeof(*w));
    w->label = label;
    pthread_mutex_init(&w->mu, NULL);
    w->c = parley_client_new(url, w);
    if (!w->c)
        return PARLEY_ERR_INVAL;
    parley_on_state(w->c, on_state);
    parley_on_disconnect(w->c, on_disconnect);
    parley_on_message(w->c, on_message);
    parley_on_presence(w->c, on_presence);
    parley_set_token(w->c, token);
    if (managed && parley_loop_start(w->c) != PARLEY_OK)
        return PARLEY_ERR_INVAL;
    return connect ? parley_connect(w->c, T_MS) : PARLEY_OK;
}

static void who_free(struct who *w)
{
    if (w->c)
        parley_client_destroy(w->c);
    w->c = NULL;
    pthread_mutex_destroy(&w->mu);
}

static int state_seen(struct who *w, int from, int state)
{
    int r = 0;
    pthread_mutex_lock(&w->mu);
    for (int i = from; i < w->n_states && !r; i++)
        r = w->states[i] == state;
    pthread_mutex_unlock(&w->mu);
    return r;
}

static int n_states(struct who *w)
{
    int n;
    pthread_mutex_lock(&w->mu);
    n = w->n_states;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* Until the client holds n session tokens (parley_stats), driving it
 * with parley_loop when it is not managed. */
static int wait_sessions(parley_client *c, int64_t n, int managed)
{
    int64_t until = now_ms() + 5000;
    struct parley_client_stats st;

    for (;;) {
        parley_stats(c, &st);
        if (st.sessions >= n)
            return 1;
        if (now_ms() >= until)
            return 0;
        if (managed)
            sleep_ms(5);
        else
            parley_loop(c, 20);
    }
}

/* Kills the client's socket as a network failure would. */
static void drop(parley_client *c)
{
    int fd = parley_socket(c);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

static char room[64];

/* ---- 1. token ---------------------------------------------------------------- */

static void part_token(const char *url, const char *short_a, const char *fresh_a,
                       const char *token_b)
{
    struct who t1, t2, b;
    int rc;
    char detail[256];

    rc = who_init(&t1, "t1", url, short_a, 1, 0);
    if (rc == PARLEY_OK) {
        t1.fresh = fresh_a;
        parley_on_token(t1.c, on_token);
        parley_set_reconnect(t1.c, 1, 50, 300);
        rc = parley_connect(t1.c, T_MS);
    }
    ok(rc == PARLEY_OK, "token: t1 (token callback) connects with the short token",
       rcs(t1.c, rc));
    rc = who_init(&t2, "t2", url, short_a, 1, 0);
    if (rc == PARLEY_OK) {
        parley_set_reconnect(t2.c, 1, 50, 300);
        rc = parley_connect(t2.c, T_MS);
    }
    ok(rc == PARLEY_OK, "token: t2 (no token callback) connects with the short token",
       rcs(t2.c, rc));
    rc = parley_join(t1.c, room, 0, T_MS);
    ok(rc == PARLEY_OK && wait_sessions(t1.c, 1, 1) && wait_sessions(t2.c, 1, 1),
       "token: t1 joins the room; both hold a session", rcs(t1.c, rc));

    /* The server closes both with 4001 when the token expires. */
    ok(wait_int(&t1, &t1.disc_n, 1, 10000) && t1.disc_code == 4001,
       "token: t1 is closed with 4001 when its JWT expires", NULL);
    ok(wait_int(&t1, &t1.recovered, 1, 5000), "token: t1 reconnects and recovers", NULL);
    snprintf(detail, sizeof(detail), "calls %d code %d attempt %d", t1.token_calls,
             t1.token_code, t1.token_attempt);
    ok(t1.token_calls == 1 && t1.token_code == 4001 && t1.token_attempt == 1,
       "token: the callback was asked once, with close code 4001, attempt 1", detail);
    ok(parley_is_connected(t1.c) && state_seen(&t1, 0, PARLEY_STATE_RECOVERING) && t1.lost == 0,
       "token: t1 is connected again, its session recovered", NULL);

    /* t1's subscription came back with the session: a message reaches it. */
    rc = who_init(&b, "b", url, token_b, 1, 1);
    if (rc == PARLEY_OK)
        rc = parley_join(b.c, room, 0, T_MS);
    if (rc == PARLEY_OK)
        rc = parley_send(b.c, room, "after the new token", NULL, T_MS, NULL);
    ok(rc == PARLEY_OK && wait_int(&t1, &t1.msgs, 1, 5000) &&
           strcmp(t1.last_text, "after the new token") == 0,
       "token: t1 gets a live message in the recovered room", rcs(b.c, rc));

    /* t2 keeps trying with the expired token, refused. */
    ok(wait_int(&t2, &t2.disc_n, 1, 5000) && t2.disc_code == 4001,
       "token: t2 is closed with 4001 too", NULL);
    {
        /* Between attempts the status of the last refusal is there. */
        int64_t until = now_ms() + 5000;
        int refused = 0;
        wait_int(&t2, &t2.connecting, 3, 5000);
        while (!refused && now_ms() < until) {
            refused = parley_http_status(t2.c) == 401 && !parley_is_connected(t2.c);
            if (!refused)
                sleep_ms(5);
        }
        ok(refused && t2.connecting >= 3,
           "token: without a callback the old token is reused and refused (401), again and "
           "again",
           NULL);
    }
    ok(parley_set_token(t2.c, fresh_a) == PARLEY_OK && wait_int(&t2, &t2.recovered, 1, 5000) &&
           parley_is_connected(t2.c),
       "token: after parley_set_token the next attempt connects and recovers", NULL);
    {
        struct parley_client_stats st;
        parley_stats(t1.c, &st);
        snprintf(detail, sizeof(detail), "drops %" PRId64 " reconnects %" PRId64
                 " recovered %" PRId64, st.drops, st.reconnects, st.recovered);
        ok(st.drops == 1 && st.reconnects == 1 && st.recovered == 1,
           "token: parley_stats of t1: one drop, one reconnect, one recovery", detail);
    }
    who_free(&b);
    who_free(&t2);
    who_free(&t1);
}

/* ---- 2. presence --------------------------------------------------------------- */

static void part_presence(const char *url, const char *user_a, const char *token_a,
                          const char *user_b, const char *token_b)
{
    struct who a, b;
    struct parley_member *users = NULL;
    struct parley_user_status *us = NULL;
    struct parley_presence_stats ps;
    struct slot s;
    size_t n = 0;
    int rc, before;
    char never[64];

    rc = who_init(&a, "a", url, token_a, 1, 1);
    ok(rc == PARLEY_OK, "presence: a connects", rcs(a.c, rc));
    rc = who_init(&b, "b", url, token_b, 1, 1);
    ok(rc == PARLEY_OK, "presence: b connects", rcs(b.c, rc));
    rc = parley_join(a.c, room, 0, T_MS);
    if (rc == PARLEY_OK)
        rc = parley_join(b.c, room, 0, T_MS);
    ok(rc == PARLEY_OK, "presence: both are members of the room", rcs(b.c, rc));

    ok(parley_update_status(a.c, "bogus", T_MS) == PARLEY_ERR_INVAL &&
           parley_update_status(a.c, NULL, T_MS) == PARLEY_ERR_INVAL &&
           parley_update_status_async(a.c, "Online", on_ack, NULL) == PARLEY_ERR_INVAL &&
           parley_update_status(NULL, "away", T_MS) == PARLEY_ERR_INVAL,
       "presence: update_status refuses a status the protocol does not have", NULL);
    pthread_mutex_lock(&b.mu);
    before = b.presence_n;
    pthread_mutex_unlock(&b.mu);
    rc = parley_update_status(a.c, "away", T_MS);
    ok(rc == PARLEY_OK, "presence: a goes away", rcs(a.c, rc));
    ok(wait_int(&b, &b.presence_n, before + 1, 5000) && strcmp(b.presence_user, user_a) == 0 &&
           strcmp(b.presence_status, "away") == 0 && b.presence_last_seen == -1,
       "presence: b gets presence:update {a, away, last_seen null (-1)}", b.presence_status);

    rc = parley_online_users(b.c, room, T_MS, &users, &n);
    {
        const struct parley_member *ma = NULL, *mb = NULL;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(users[i].user, user_a) == 0)
                ma = &users[i];
            if (strcmp(users[i].user, user_b) == 0)
                mb = &users[i];
        }
        ok(rc == PARLEY_OK && ma && mb && strcmp(ma->status, "away") == 0 &&
               strcmp(mb->status, "online") == 0 && strcmp(ma->role, "") == 0 &&
               (n < 2 || strcmp(users[0].user, users[1].user) < 0),
           "presence: online_users of the room lists a away and b online, sorted",
           rcs(b.c, rc));
    }
    parley_members_free(users, n);
    users = NULL;
    rc = parley_online_users(b.c, NULL, T_MS, &users, &n);
    ok(rc == PARLEY_OK && n >= 2, "presence: online_users of the server", rcs(b.c, rc));
    parley_members_free(users, n);
    users = NULL;

    rc = parley_user_status(b.c, user_a, T_MS, &us);
    ok(rc == PARLEY_OK && us && strcmp(us->user, user_a) == 0 &&
           strcmp(us->status, "away") == 0 && us->last_seen == -1 && us->connections >= 1,
       "presence: user_status of a: away, last_seen -1, connections", rcs(b.c, rc));
    parley_user_status_free(us);
    us = NULL;
    snprintf(never, sizeof(never), "never-%d-%ld", (int)getpid(), (long)now_ms());
    rc = parley_user_status(b.c, never, T_MS, &us);
    ok(rc == PARLEY_OK && us && strcmp(us->status, "offline") == 0 && us->last_seen == -1 &&
           us->connections == 0,
       "presence: a user never seen is offline, last_seen -1, 0 connections", rcs(b.c, rc));
    parley_user_status_free(us);
    us = NULL;
    ok(parley_user_status(b.c, "", T_MS, &us) == PARLEY_ERR_INVAL && us == NULL &&
           parley_user_status(b.c, NULL, T_MS, &us) == PARLEY_ERR_INVAL,
       "presence: user_status refuses an empty or NULL user", NULL);

    rc = parley_presence_stats(b.c, T_MS, &ps);
    ok(rc == PARLEY_OK && ps.away >= 1 && ps.online >= 1 && ps.users >= 2 &&
           ps.connections >= 2,
       "presence: stats count a away, b online, both connected", rcs(b.c, rc));

    /* Invisible: others see offline with a last_seen. */
    pthread_mutex_lock(&b.mu);
    before = b.presence_n;
    pthread_mutex_unlock(&b.mu);
    slot_init(&s);
    rc = wait_slot(&s, parley_update_status_async(a.c, "offline", on_ack, &s), T_MS);
    ok(rc == PARLEY_OK && s.json && strstr(s.json, "\"offline\""),
       "presence: update_status_async offline (invisible), ack data has the status", s.json);
    slot_free(&s);
    ok(wait_int(&b, &b.presence_n, before + 1, 5000) &&
           strcmp(b.presence_status, "offline") == 0 && b.presence_last_seen > 0,
       "presence: b sees a offline with last_seen set", b.presence_status);

    slot_init(&s);
    rc = wait_slot(&s, parley_user_status_async(b.c, user_a, on_ack, &s), T_MS);
    if (rc == PARLEY_OK)
        rc = parley_user_status_parse(s.json, &us);
    ok(rc == PARLEY_OK && us && strcmp(us->status, "offline") == 0 && us->connections == 0 &&
           us->last_seen > 0,
       "presence: user_status_async + parse: invisible a is offline to b, 0 connections",
       s.json);
    parley_user_status_free(us);
    us = NULL;
    slot_free(&s);
    rc = parley_user_status(a.c, user_a, T_MS, &us);
    ok(rc == PARLEY_OK && us && strcmp(us->status, "offline") == 0 && us->connections >= 1,
       "presence: a asking about itself sees its real connections", rcs(a.c, rc));
    parley_user_status_free(us);
    us = NULL;

    slot_init(&s);
    rc = wait_slot(&s, parley_online_users_async(b.c, room, on_ack, &s), T_MS);
    if (rc == PARLEY_OK)
        rc = parley_members_parse(s.json, &users, &n);
    {
        int has_a = 0;
        for (size_t i = 0; rc == PARLEY_OK && i < n; i++)
            has_a |= strcmp(users[i].user, user_a) == 0;
        ok(rc == PARLEY_OK && !has_a,
           "presence: online_users_async + parse: invisible a is not listed", s.json);
    }
    parley_members_free(users, n);
    users = NULL;
    slot_free(&s);
    slot_init(&s);
    rc = wait_slot(&s, parley_presence_stats_async(b.c, on_ack, &s), T_MS);
    if (rc == PARLEY_OK)
        rc = parley_presence_stats_parse(s.json, &ps);
    ok(rc == PARLEY_OK && ps.users >= 2, "presence: presence_stats_async + parse", s.json);
    slot_free(&s);
    rc = parley_update_status(a.c, "online", T_MS);
    ok(rc == PARLEY_OK, "presence: a visible again", rcs(a.c, rc));
    who_free(&b);
    who_free(&a);
}

/* ---- 3. connection events by hand ------------------------------------------------ */

static void part_connection(const char *url, const char *token_a, const char *token_b)
{
    struct who a, b;
    struct parley_session *sess = NULL;
    struct parley_session_info *info = NULL;
    struct parley_connection_stats cs;
    struct parley_recover_result *rr = NULL;
    struct parley_last_seq bad = {"x", -1};
    struct slot s;
    char *tok = NULL;
    int rc;

    rc = who_init(&a, "a", url, token_a, 1, 1);
    ok(rc == PARLEY_OK, "connection: a connects (reconnect off)", rcs(a.c, rc));
    rc = who_init(&b, "b", url, token_b, 1, 1);
    ok(rc == PARLEY_OK, "connection: b connects", rcs(b.c, rc));
    rc = parley_session_info(a.c, T_MS, &info);
    ok(rc == PARLEY_ERR_SERVER && strcmp(parley_error_code(a.c), "not_found") == 0 && !info,
       "connection: session_info without a session is not_found", rcs(a.c, rc));
    parley_join(a.c, room, 0, T_MS);
    parley_join(b.c, room, 0, T_MS);

    rc = parley_create_session(a.c, T_MS, &sess);
    ok(rc == PARLEY_OK && sess && strlen(sess->session_token) >= 43 && sess->expires_in > 0,
       "connection: create_session gives a token (43+ characters) and expires_in",
       rcs(a.c, rc));
    if (sess)
        tok = strdup(sess->session_token);
    parley_session_free(sess);
    rc = parley_session_info(a.c, T_MS, &info);
    {
        int has_room = 0;
        for (size_t i = 0; info && i < info->n_rooms; i++)
            has_room |= strcmp(info->rooms[i], room) == 0;
        ok(rc == PARLEY_OK && info && *info->session_id && has_room && info->created_at > 0 &&
               info->expires_at == -1 && strcmp(info->state, "active") == 0,
           "connection: session_info: id, the room, created_at, expires_at null, active",
           rcs(a.c, rc));
    }
    parley_session_info_free(info);
    info = NULL;
    rc = parley_connection_stats(a.c, T_MS, &cs);
    ok(rc == PARLEY_OK && cs.active_sessions >= 1, "connection: stats count the session",
       rcs(a.c, rc));
    slot_init(&s);
    rc = wait_slot(&s, parley_connection_stats_async(a.c, on_ack, &s), T_MS);
    if (rc == PARLEY_OK)
        rc = parley_connection_stats_parse(s.json, &cs);
    ok(rc == PARLEY_OK && cs.active_sessions >= 1, "connection: stats_async + parse", s.json);
    slot_free(&s);
    slot_init(&s);
    rc = wait_slot(&s, parley_session_info_async(a.c, on_ack, &s), T_MS);
    if (rc == PARLEY_OK)
        rc = parley_session_info_parse(s.json, &info);
    ok(rc == PARLEY_OK && info && info->expires_at == -1, "connection: session_info_async + parse",
       s.json);
    parley_session_info_free(info);
    info = NULL;
    slot_free(&s);

    /* One live message, then a drop, then two missed ones. */
    rc = parley_send(b.c, room, "live", NULL, T_MS, NULL);
    ok(rc == PARLEY_OK && wait_int(&a, &a.msgs, 1, 5000), "connection: a gets a live message",
       rcs(b.c, rc));
    drop(a.c);
    ok(wait_int(&a, &a.disc_n, 1, 5000) && !parley_is_connected(a.c),
       "connection: a's socket dropped (no reconnect: it is off)", NULL);
    rc = parley_send(b.c, room, "missed 1", NULL, T_MS, NULL);
    if (rc == PARLEY_OK)
        rc = parley_send(b.c, room, "missed 2", NULL, T_MS, NULL);
    ok(rc == PARLEY_OK, "connection: two messages while a is away", rcs(b.c, rc));
    sleep_ms(300);
    ok(!parley_is_connected(a.c) && a.connecting == 0, "connection: nothing reconnects a", NULL);
    rc = parley_connect(a.c, T_MS);
    ok(rc == PARLEY_OK, "connection: a connects again", rcs(a.c, rc));
    ok(parley_recover(a.c, NULL, NULL, 0, T_MS, &rr) == PARLEY_ERR_INVAL &&
           parley_recover(a.c, "t", NULL, 1, T_MS, &rr) == PARLEY_ERR_INVAL &&
           parley_recover(a.c, "t", &bad, 1, T_MS, &rr) == PARLEY_ERR_INVAL && rr == NULL,
       "connection: recover refuses a NULL token, n without seqs, a negative seq", NULL);
    rc = parley_recover(a.c, tok ? tok : "none", NULL, 0, T_MS, &rr);
    {
        int has_room = 0;
        for (size_t i = 0; rr && i < rr->n_rooms; i++)
            has_room |= strcmp(rr->rooms[i], room) == 0;
        ok(rc == PARLEY_OK && rr && rr->recovered && rr->missed == 2 && has_room &&
               strlen(rr->session_token) >= 43 && strcmp(rr->session_token, tok) != 0,
           "connection: recover with the library's last_seq: recovered, 2 missed, the room, "
           "a successor token",
           rcs(a.c, rc));
    }
    parley_recover_result_free(rr);
    rr = NULL;
    ok(wait_int(&a, &a.replayed, 2, 5000) && a.msgs == 3 &&
           strcmp(a.last_text, "missed 2") == 0,
       "connection: the 2 missed messages reach the message callback flagged replayed", NULL);
    rc = parley_send(b.c, room, "live again", NULL, T_MS, NULL);
    ok(rc == PARLEY_OK && wait_int(&a, &a.msgs, 4, 5000) && a.replayed == 2,
       "connection: the next live message is not flagged", NULL);
    rc = parley_recover(a.c, tok ? tok : "none", NULL, 0, T_MS, &rr);
    ok(rc == PARLEY_ERR_SERVER && strcmp(parley_error_code(a.c), "session_expired") == 0,
       "connection: the consumed token is session_expired", rcs(a.c, rc));
    slot_init(&s);
    rc = wait_slot(&s, parley_recover_async(a.c, "no-such-token-at-all", NULL, 0, on_ack, &s),
                   T_MS);
    ok(rc == PARLEY_ERR_SERVER && s.json && strstr(s.json, "session_expired"),
       "connection: recover_async of an unknown token: session_expired", s.json);
    slot_free(&s);
    free(tok);
    who_free(&b);
    who_free(&a);
}

/* ---- 4. offline policies --------------------------------------------------------- */

static void part_offline(const char *url, const char *token_a, const char *token_b)
{
    struct who p, b;
    struct parley_room *info = NULL;
    struct parley_message *m = NULL, *hist = NULL;
    struct parley_client_stats st;
    struct slot s, cut[5];
    int rc, mark;
    int64_t t0;
    size_t nh = 0;
    int more = 0;
    char text[64];

    rc = who_init(&p, "p", url, token_a, 1, 0);
    if (rc == PARLEY_OK) {
        /* A long backoff: the test works in the window before the attempt. */
        ok(parley_set_reconnect(p.c, 1, 0, 0) == PARLEY_OK &&
               parley_set_reconnect(p.c, 1, 2000, 1000) == PARLEY_ERR_INVAL &&
               parley_set_reconnect(p.c, 1, 1500, 1500) == PARLEY_OK &&
               parley_set_offline_policy(p.c, 7) == PARLEY_ERR_INVAL,
           "offline: set_reconnect and set_offline_policy check their arguments", NULL);
        rc = parley_connect(p.c, T_MS);
    }
    ok(rc == PARLEY_OK, "offline: p connects (reconnect on, policy FAIL)", rcs(p.c, rc));
    rc = parley_join(p.c, room, 0, T_MS);
    ok(rc == PARLEY_OK, "offline: p joins", rcs(p.c, rc));
    rc = who_init(&b, "b", url, token_b, 1, 1);
    if (rc == PARLEY_OK)
        rc = parley_join(b.c, room, 0, T_MS);
    ok(rc == PARLEY_OK, "offline: b connects and joins", rcs(b.c, rc));

    ok(wait_sessions(p.c, 1, 1), "offline: p holds a session token", NULL);
    drop(p.c);
    ok(wait_int(&p, &p.disc_n, 1, 5000) && p.retry_last == 1,
       "offline: the drop is reported, DISCONNECTED with will_retry", NULL);
    t0 = now_ms();
    rc = parley_join(p.c, room, 0, T_MS);
    ok(rc == PARLEY_ERR_NOT_CONNECTED && now_ms() - t0 < 500,
       "offline: FAIL: a call while reconnecting is NOT_CONNECTED at once", rcs(p.c, rc));

    ok(parley_set_offline_policy(p.c, PARLEY_OFFLINE_WAIT) == PARLEY_OK,
       "offline: policy WAIT", NULL);
    slot_init(&s);
    rc = parley_room_info_async(p.c, room, on_ack, &s);
    ok(rc == PARLEY_OK, "offline: WAIT: an async call is queued", rcs(p.c, rc));
    t0 = now_ms();
    rc = parley_room_info(p.c, room, 200, &info);
    ok(rc == PARLEY_ERR_TIMEOUT && now_ms() - t0 >= 150 && !info,
       "offline: WAIT: a blocking call still times out (200 ms) before the reconnect",
       rcs(p.c, rc));
    rc = parley_send(p.c, room, "queued while away", NULL, 5000, &m);
    ok(rc == PARLEY_OK && m && m->client_msg_id && strlen(m->client_msg_id) == 32,
       "offline: WAIT: a blocking send waits for the reconnect, with a generated client_msg_id",
       rcs(p.c, rc));
    parley_message_free(m);
    m = NULL;
    rc = wait_slot(&s, PARLEY_OK, 5000);
    ok(rc == PARLEY_OK && s.json && strstr(s.json, room),
       "offline: WAIT: the queued async call completes after the reconnect", s.json);
    slot_free(&s);
    ok(wait_int(&p, &p.recovered, 1, 5000), "offline: p recovered", NULL);

    /* Sends cut by a drop right after they left: sent again after the
     * reconnect with the same client_msg_id, stored once. */
    parley_set_reconnect(p.c, 1, 50, 200);
    mark = p.recovered;
    for (int i = 0; i < 5; i++) {
        snprintf(text, sizeof(text), "cut %d", i);
        slot_init(&cut[i]);
        rc = parley_send_async(p.c, room, text, NULL, on_ack, &cut[i]);
        drop(p.c);
        ok(rc == PARLEY_OK && wait_int(&p, &p.recovered, mark + i + 1, 5000),
           "offline: a send and a drop right after it; p recovers", rcs(p.c, rc));
        rc = wait_slot(&cut[i], PARLEY_OK, 5000);
        ok(rc == PARLEY_OK, "offline: the cut send completes OK", cut[i].json);
        slot_free(&cut[i]);
    }
    rc = parley_history(b.c, room, 0, 100, T_MS, &hist, &nh, &more);
    {
        int counts[5] = {0};
        int bad = 0;
        for (size_t i = 0; rc == PARLEY_OK && i < nh; i++)
            for (int k = 0; k < 5; k++) {
                snprintf(text, sizeof(text), "cut %d", k);
                if (strcmp(hist[i].text, text) == 0)
                    counts[k]++;
            }
        for (int k = 0; k < 5; k++)
            bad += counts[k] != 1;
        ok(rc == PARLEY_OK && bad == 0, "offline: each cut send is stored exactly once",
           rcs(b.c, rc));
    }
    parley_messages_free(hist, nh);
    parley_stats(p.c, &st);
    printf("# cut sends: retried %" PRId64 " of 5 (the others were acked before the drop)\n",
           st.retried);

    /* parley_disconnect: no reconnect, nothing queued any more. */
    mark = n_states(&p);
    parley_disconnect(p.c);
    sleep_ms(400);
    ok(!parley_is_connected(p.c) && !state_seen(&p, mark, PARLEY_STATE_CONNECTING) &&
           p.retry_last == 0,
       "offline: after parley_disconnect nothing reconnects (DISCONNECTED, will_retry 0)",
       NULL);
    rc = parley_join(p.c, room, 0, T_MS);
    ok(rc == PARLEY_ERR_NOT_CONNECTED,
       "offline: WAIT after parley_disconnect: NOT_CONNECTED (no connection is coming)",
       rcs(p.c, rc));
    parley_stats(p.c, &st);
    ok(st.drops == 6 && st.reconnects == 6, "offline: stats: 6 drops, 6 reconnects", NULL);

    /* Reconnect disabled while one is pending cancels it. */
    rc = parley_connect(p.c, T_MS);
    parley_set_reconnect(p.c, 1, 1500, 1500);
    drop(p.c);
    wait_int(&p, &p.disc_n, 7, 5000);
    mark = n_states(&p);
    parley_set_reconnect(p.c, 0, 0, 0);
    sleep_ms(1800);
    ok(rc == PARLEY_OK && !parley_is_connected(p.c) &&
           !state_seen(&p, mark, PARLEY_STATE_CONNECTING),
       "offline: disabling reconnect cancels the pending one", NULL);
    who_free(&b);
    who_free(&p);
}

/* ---- 5. embedded and blocking drivers ---------------------------------------------- */

static void part_drivers(const char *url, const char *token_a)
{
    struct who e, k;
    struct parley_room *info = NULL;
    int rc, rounds = 0;
    int64_t until;

    rc = who_init(&e, "e", url, token_a, 0, 0);
    if (rc == PARLEY_OK) {
        parley_set_reconnect(e.c, 1, 50, 200);
        rc = parley_connect(e.c, T_MS);
    }
    if (rc == PARLEY_OK)
        rc = parley_join(e.c, room, 0, T_MS);
    ok(rc == PARLEY_OK && wait_sessions(e.c, 1, 0),
       "drivers: e (embedded) connects, joins, holds a session", rcs(e.c, rc));
    drop(e.c);
    until = now_ms() + 5000;
    while (now_ms() < until && e.recovered == 0) {
        rc = parley_loop(e.c, 50);
        rounds++;
        if (rc != PARLEY_OK && rc != PARLEY_ERR_CLOSED)
            break;
    }
    ok(e.recovered == 1 && parley_is_connected(e.c) && parley_socket(e.c) >= 0,
       "drivers: parley_loop reconnects and recovers (embedded)", rcs(e.c, rc));
    parley_disconnect(e.c);
    ok(parley_loop(e.c, 0) == PARLEY_ERR_NOT_CONNECTED,
       "drivers: parley_loop after parley_disconnect: NOT_CONNECTED", NULL);
    who_free(&e);

    rc = who_init(&k, "k", url, token_a, 0, 0);
    if (rc == PARLEY_OK) {
        parley_set_reconnect(k.c, 1, 50, 200);
        parley_set_offline_policy(k.c, PARLEY_OFFLINE_WAIT);
        rc = parley_connect(k.c, T_MS);
    }
    if (rc == PARLEY_OK)
        rc = parley_join(k.c, room, 0, T_MS);
    ok(rc == PARLEY_OK && wait_sessions(k.c, 1, 0),
       "drivers: k (blocking, no loop thread) connects, joins, holds a session", rcs(k.c, rc));
    drop(k.c);
    rc = parley_room_info(k.c, room, T_MS, &info);
    ok(rc == PARLEY_OK && info && parley_is_connected(k.c),
       "drivers: a blocking call under WAIT drives the reconnect itself", rcs(k.c, rc));
    parley_room_free(info);
    {
        /* The recover ack may come after that call's own (the server
         * answers a recover once its store has it). */
        until = now_ms() + 5000;
        while (k.recovered == 0 && now_ms() < until)
            parley_loop(k.c, 20);
    }
    ok(k.recovered == 1 && k.lost == 0, "drivers: k recovered", NULL);
    who_free(&k);
}

int main(int argc, char **argv)
{
    unsigned char salt[4] = {0};
    FILE *ur;

    if (argc != 7) {
        fprintf(stderr,
                "usage: sdk_reconnect URL USER_A TOKEN_A_SHORT TOKEN_A USER_B TOKEN_B\n");
        return 2;
    }
    verbose = getenv("RECONNECT_VERBOSE") != NULL;
    ur = fopen("/dev/urandom", "rb");
    if (!ur || fread(salt, 1, sizeof(salt), ur) != sizeof(salt))
        salt[0] = (unsigned char)getpid();
    if (ur)
        fclose(ur);
    snprintf(room, sizeof(room), "rc-%02x%02x%02x%02x", salt[0], salt[1], salt[2], salt[3]);
    /* The short token first, while it is still valid. */
    part_token(argv[1], argv[3], argv[4], argv[6]);
    part_presence(argv[1], argv[2], argv[4], argv[5], argv[6]);
    part_connection(argv[1], argv[4], argv[6]);
    part_offline(argv[1], argv[4], argv[6]);
    part_drivers(argv[1], argv[4]);
    printf("1..%d\n", test_no);
    return failed ? 1 : 0;
}
