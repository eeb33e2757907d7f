/* sdk_chat: two clients through libparley, the way an application uses it.
 *
 *   sdk_chat URL TOKEN_A TOKEN_B [ROOM]
 *
 * A runs in blocking mode (its calls drive the socket), B in managed mode
 * (a loop thread, messages through the message callback). ROOM (default
 * "sdk") must be new on the server: A's first message must get seq 1.
 * Prints TAP; exits 1 when a check fails, 2 on bad usage. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "parley.h"
#include "sdk_tap.h"

/* What B's loop thread saw, handed to the main thread. */
struct b_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t msg_id, msg_seq;
    char msg_text[256];
    int got_message;
    int got_push_new;
    int blocking_rc;     /* a blocking call from inside the callback */
    int on_loop_thread;
    pthread_t loop_tid_seen;
    int async_rc, async_done;
};

static void b_on_push(parley_client *c, void *ud, const struct parley_push *p)
{
    struct b_state *s = ud;
    pthread_mutex_lock(&s->mu);
    if (strcmp(p->event, "message:new") == 0 && strstr(p->data_json, "\"message\""))
        s->got_push_new++;
    pthread_mutex_unlock(&s->mu);
}

static void b_on_async(parley_client *c, void *ud, void *arg, int rc, const char *json)
{
    struct b_state *s = ud;
    pthread_mutex_lock(&s->mu);
    s->async_rc = rc;
    s->async_done++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void b_on_message(parley_client *c, void *ud, const struct parley_message *m)
{
    struct b_state *s = ud;
    /* Callbacks run without the client's lock: a blocking call is refused
     * (it would wait on this very thread), an asynchronous one is fine. */
    int brc = parley_join(c, "sdk-never", 0, 1000);
    int arc = parley_history_async(c, m->room, 0, 1, b_on_async, NULL);

    pthread_mutex_lock(&s->mu);
    s->blocking_rc = brc;
    if (arc != PARLEY_OK)
        s->async_rc = arc, s->async_done++;
    s->msg_id = m->id;
    s->msg_seq = m->seq;
    snprintf(s->msg_text, sizeof(s->msg_text), "%s", m->text);
    s->loop_tid_seen = pthread_self();
    s->got_message++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Waits up to ms for *flag to become non-zero. */
static int wait_flag(struct b_state *s, int *flag, int ms)
{
    struct timespec ts;
    int r;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&s->mu);
    while (!*flag && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
        ;
    r = *flag;
    pthread_mutex_unlock(&s->mu);
    return r;
}

struct a_state {
    int disc_code, disc_calls;
    int async_rc, async_done;
    int64_t async_seq;
};

static void a_on_disconnect(parley_client *c, void *ud, int code, const char *reason)
{
    struct a_state *s = ud;
    s->disc_code = code;
    s->disc_calls++;
}

static void a_on_send_ack(parley_client *c, void *ud, void *arg, int rc, const char *json)
{
    struct a_state *s = ud;
    struct parley_message *m = NULL;

    s->async_rc = rc;
    s->async_done++;
    if (rc == PARLEY_OK && parley_message_parse(json, &m) == PARLEY_OK) {
        s->async_seq = m->seq;
        parley_message_free(m);
    }
}

int main(int argc, char **argv)
{
    const char *url, *room;
    char cmid[64], priv[80], detail[512];
    struct b_state bs;
    struct a_state as = {0};
    parley_client *a, *b;
    struct parley_message *m1 = NULL, *m2 = NULL, *hist = NULL;
    struct parley_send_opts opts;
    size_t n = 0;
    int rc, has_more = 0;
    char *ack = NULL;

    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: sdk_chat URL TOKEN_A TOKEN_B [ROOM]\n");
        return 2;
    }
    url = argv[1];
    room = argc == 5 ? argv[4] : "sdk";
    memset(&bs, 0, sizeof(bs));
    pthread_mutex_init(&bs.mu, NULL);
    pthread_cond_init(&bs.cv, NULL);
    snprintf(cmid, sizeof(cmid), "sdk-chat-%ld", (long)getpid());
    snprintf(priv, sizeof(priv), "%s-private-%ld", room, (long)getpid());

    a = parley_client_new(url, &as);
    b = parley_client_new(url, &bs);
    if (!a || !b) {
        printf("not ok 1 - parley_client_new accepts %s\n1..1\n", url);
        return 1;
    }
    parley_on_disconnect(a, a_on_disconnect);
    parley_on_message(b, b_on_message);
    parley_on_push(b, b_on_push);

    parley_set_token(a, argv[2]);
    rc = parley_connect(a, 5000);
    ok(rc == PARLEY_OK && parley_is_connected(a), "A connects (blocking mode)", rcs(a, rc));

    parley_set_token(b, argv[3]);
    rc = parley_loop_start(b);
    ok(rc == PARLEY_OK, "B starts its loop thread", rcs(b, rc));
    rc = parley_connect(b, 5000);
    ok(rc == PARLEY_OK && parley_is_connected(b), "B connects (managed mode)", rcs(b, rc));

    rc = parley_join(a, room, 0, 5000);
    ok(rc == PARLEY_OK, "A joins the room", rcs(a, rc));
    rc = parley_join(b, room, 0, 5000);
    ok(rc == PARLEY_OK, "B joins the room (waits on the loop thread)", rcs(b, rc));

    memset(&opts, 0, sizeof(opts));
    opts.client_msg_id = cmid;
    rc = parley_send(a, room, "hello from A", &opts, 5000, &m1);
    ok(rc == PARLEY_OK && m1, "A sends with a client_msg_id", rcs(a, rc));
    snprintf(detail, sizeof(detail), "seq %lld", m1 ? (long long)m1->seq : -1LL);
    ok(m1 && m1->seq == 1 && m1->id > 0, "the stored message has seq 1", detail);
    ok(m1 && strcmp(m1->text, "hello from A") == 0 && strcmp(m1->room, room) == 0 &&
           m1->client_msg_id && strcmp(m1->client_msg_id, cmid) == 0 && !m1->deleted,
       "the ack carries text, room and client_msg_id", NULL);

    ok(wait_flag(&bs, &bs.got_message, 5000), "B gets message:new through the message callback",
       NULL);
    pthread_mutex_lock(&bs.mu);
    ok(m1 && bs.msg_id == m1->id && bs.msg_seq == 1 && strcmp(bs.msg_text, "hello from A") == 0,
       "B's message is A's message", NULL);
    ok(bs.got_push_new == 1, "B's push callback saw the same message:new", NULL);
    snprintf(detail, sizeof(detail), "rc %d", bs.blocking_rc);
    ok(bs.blocking_rc == PARLEY_ERR_INVAL, "a blocking call inside a callback is refused", detail);
    ok(!pthread_equal(bs.loop_tid_seen, pthread_self()), "B's callback ran on its loop thread",
       NULL);
    pthread_mutex_unlock(&bs.mu);
    ok(wait_flag(&bs, &bs.async_done, 5000) && bs.async_rc == PARLEY_OK,
       "an async call from inside a callback completes", NULL);

    rc = parley_send(a, room, "hello from A", &opts, 5000, &m2);
    ok(rc == PARLEY_OK && m1 && m2 && m2->id == m1->id && m2->seq == m1->seq,
       "resending the same client_msg_id returns the original message", rcs(a, rc));

    rc = parley_history(a, room, 0, 0, 5000, &hist, &n, &has_more);
    snprintf(detail, sizeof(detail), "%s; n %zu", rcs(a, rc), n);
    ok(rc == PARLEY_OK && n == 1 && m1 && hist[0].id == m1->id && hist[0].seq == 1 && !has_more,
       "history returns the message once", detail);
    parley_messages_free(hist, n);

    /* A private room of A's: B is no member, so anything on it is forbidden. */
    rc = parley_join(a, priv, 1, 5000);
    ok(rc == PARLEY_OK, "A creates a private room", rcs(a, rc));
    rc = parley_history(b, priv, 0, 0, 5000, &hist, &n, &has_more);
    ok(rc == PARLEY_ERR_SERVER && strcmp(parley_error_code(b), "forbidden") == 0 && n == 0,
       "B's request on a room it is not in is forbidden", rcs(b, rc));
    ok(parley_error_message(b)[0] != '\0', "the refusal has a message", NULL);
    rc = parley_request(b, "message:history", "{\"room\":\"nope\"", 5000, &ack);
    ok(rc == PARLEY_ERR_INVAL && !ack, "malformed request data is refused locally", rcs(b, rc));
    rc = parley_request(b, "message:send", NULL, 5000, &ack);
    ok(rc == PARLEY_ERR_SERVER && ack && strstr(ack, "\"code\""),
       "a raw request's error object comes back as JSON", rcs(b, rc));
    parley_free(ack);
    /* 2^53 - 1 must reach the server as written (cJSON alone prints it
     * with 15 digits); the server names the id in its refusal. */
    char big[160];
    snprintf(big, sizeof(big), "{\"room\":\"%s\",\"text\":\"x\",\"reply_to\":9007199254740991}", room);
    rc = parley_request(b, "message:send", big, 5000, &ack);
    ok(rc == PARLEY_ERR_SERVER && ack && strstr(ack, "9007199254740991"),
       "request data keeps integers up to 2^53 - 1 exact", ack ? ack : rcs(b, rc));
    parley_free(ack);

    /* Async in blocking mode: A drives the socket with parley_loop. */
    rc = parley_send_async(a, room, "async from A", NULL, a_on_send_ack, NULL);
    for (int i = 0; rc == PARLEY_OK && !as.async_done && i < 50; i++)
        parley_loop(a, 100);
    snprintf(detail, sizeof(detail), "rc %d done %d seq %lld", as.async_rc, as.async_done,
             (long long)as.async_seq);
    ok(rc == PARLEY_OK && as.async_done == 1 && as.async_rc == PARLEY_OK && as.async_seq == 2,
       "an async send completes once with the next seq", detail);

    parley_disconnect(a);
    ok(!parley_is_connected(a) && parley_socket(a) == -1, "A disconnects", NULL);
    snprintf(detail, sizeof(detail), "calls %d code %d", as.disc_calls, as.disc_code);
    ok(as.disc_calls == 1 && as.disc_code == 1000, "A's disconnect callback reports 1000", detail);
    rc = parley_join(a, room, 0, 1000);
    ok(rc == PARLEY_ERR_NOT_CONNECTED, "calls after the disconnect say so", rcs(a, rc));

    rc = parley_loop_stop(b);
    ok(rc == PARLEY_OK, "B stops its loop thread", rcs(b, rc));
    parley_message_free(m1);
    parley_message_free(m2);
    parley_client_destroy(a);
    parley_client_destroy(b);
    printf("1..%d\n", test_no);
    return failed ? 1 : 0;
}
