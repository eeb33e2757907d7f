/* libFuzzer target: libparley's reading of what a server sends, from the
 * HTTP answer to the upgrade to the last frame: the handshake parser
 * (status line, headers, Content-Length or chunked error bodies), wslay's
 * client context as the SDK wires it, the routing of acks to pending
 * requests and of pushes to the inbox, the typed push callbacks, the
 * recovery bookkeeping, and every parse function of parley.h on the JSON
 * that arrives.
 *
 * Input: byte 0 sets how many bytes each read returns (1 + byte0 % 64, so
 * headers and frames arrive split at every point); the rest is the byte
 * stream of the server, starting with its HTTP response. The 8 bytes
 * "@ACCEPT@" in it are replaced by the Sec-WebSocket-Accept the request
 * calls for (its key is random), so a 101 can succeed. The stream is read
 * through a fake transport (pl_transport's ops; writes are swallowed);
 * after a 101 the client sends a set of requests (their ids are 1, 2, ...:
 * the order of REQUESTS below) whose acks the stream may carry, then reads
 * to the end of the stream and delivers every callback.
 *
 * FUZZ_VERBOSE=1 in the environment prints the handshake's result and the
 * callbacks.
 *
 * Oracles are the sanitizers: nothing a server sends may make the library
 * read or write out of bounds, leak, or crash. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "handshake.h"
#include "parley.h"
#include "transport.h"
#include "wsproto.h"

struct stream {
    const uint8_t *data; /* the input, with @ACCEPT@ not yet replaced */
    size_t size;
    uint8_t *buf; /* the stream as served, built at the first read */
    size_t len, off, chunk;
    char key[64]; /* Sec-WebSocket-Key of the request written */
};

static struct stream st;
static volatile size_t sink; /* keeps the reads of strings from being optimized out */
static bool verbose; /* FUZZ_VERBOSE=1: print the handshake result and callbacks */

/* ---- the fake transport --------------------------------------------------- */

static void build_stream(void)
{
    char accept[PD_WS_ACCEPT_LEN + 1] = "";
    size_t alen, n = 0;

    if (pd_ws_accept_key(st.key, accept) != 0)
        accept[0] = '\0';
    alen = strlen(accept);
    st.buf = malloc(st.size / 8 * alen + st.size + 1);
    if (st.buf == NULL)
        abort();
    for (size_t i = 0; i < st.size; i++) {
        if (i + 8 <= st.size && memcmp(st.data + i, "@ACCEPT@", 8) == 0) {
            memcpy(st.buf + n, accept, alen);
            n += alen;
            i += 7;
        } else {
            st.buf[n++] = st.data[i];
        }
    }
    st.len = n;
}

static ssize_t fake_read(struct pl_transport *t, void *buf, size_t len)
{
    size_t n;

    if (st.buf == NULL)
        build_stream();
    if (st.off >= st.len)
        return 0; /* the server closed the TCP connection */
    n = st.len - st.off;
    if (n > st.chunk)
        n = st.chunk;
    if (n > len)
        n = len;
    memcpy(buf, st.buf + st.off, n);
    st.off += n;
    return (ssize_t)n;
}

static ssize_t fake_write(struct pl_transport *t, const void *buf, size_t len, int more)
{
    /* The upgrade request: remember its key. Frames: swallowed. */
    const char *k = st.key[0] ? NULL : memmem(buf, len, "Sec-WebSocket-Key: ", 19);

    if (k != NULL) {
        const char *end = memmem(k, len - (size_t)(k - (const char *)buf), "\r\n", 2);
        size_t klen = end ? (size_t)(end - k) - 19 : 0;
        if (klen < sizeof(st.key)) {
            memcpy(st.key, k + 19, klen);
            st.key[klen] = '\0';
        }
    }
    return (ssize_t)len;
}

static void fake_close(struct pl_transport *t)
{
}

static const struct pl_transport_ops fake_ops = {
    .read = fake_read,
    .write = fake_write,
    .close = fake_close,
};

/* ---- callbacks: every string touched, every JSON through every parser ----------- */

static void touch(const char *s)
{
    if (s != NULL)
        sink += strlen(s);
}

static void parse_all(const char *json)
{
    struct parley_message *m = NULL;
    struct parley_room *room = NULL, *rooms = NULL;
    struct parley_member *members = NULL;
    struct parley_strings *strs = NULL;
    struct parley_subscribe_result *sr = NULL;
    struct parley_subscription *subs = NULL;
    struct parley_delivery_status *ds = NULL;
    struct parley_message_stats ms;
    struct parley_user_status *us = NULL;
    struct parley_presence_stats ps;
    struct parley_session *sess = NULL;
    struct parley_recover_result *rr = NULL;
    struct parley_session_info *si = NULL;
    struct parley_connection_stats cs;
    struct parley_presence *pr = NULL;
    struct parley_metrics *met = NULL;
    struct parley_events *evs = NULL;
    struct parley_monitoring_stats *mst = NULL;
    struct parley_health *h = NULL;
    size_t n = 0;
    int a, b;
    int64_t v;

    if (json == NULL)
        return;
    if (parley_message_parse(json, &m) == PARLEY_OK) {
        touch(m->room);
        touch(m->user);
        touch(m->name);
        touch(m->text);
        touch(m->client_msg_id);
        parley_message_free(m);
    }
    if (parley_room_parse(json, &room) == PARLEY_OK)
        parley_room_free(room);
    if (parley_rooms_parse(json, &rooms, &n) == PARLEY_OK)
        parley_rooms_free(rooms, n);
    if (parley_members_parse(json, &members, &n) == PARLEY_OK)
        parley_members_free(members, n);
    if (parley_strings_parse(json, "users", &strs) == PARLEY_OK)
        parley_strings_free(strs);
    if (parley_strings_parse(json, NULL, &strs) == PARLEY_OK)
        parley_strings_free(strs);
    if (parley_subscribe_result_parse(json, &sr) == PARLEY_OK)
        parley_subscribe_result_free(sr);
    parley_subscription_status_parse(json, &a, &b);
    if (parley_subscriptions_parse(json, &subs, &n) == PARLEY_OK)
        parley_subscriptions_free(subs, n);
    parley_read_parse(json, &v);
    if (parley_delivery_status_parse(json, &ds) == PARLEY_OK)
        parley_delivery_status_free(ds);
    parley_message_stats_parse(json, &ms);
    if (parley_user_status_parse(json, &us) == PARLEY_OK)
        parley_user_status_free(us);
    parley_presence_stats_parse(json, &ps);
    if (parley_session_parse(json, &sess) == PARLEY_OK)
        parley_session_free(sess);
    if (parley_recover_result_parse(json, &rr) == PARLEY_OK)
        parley_recover_result_free(rr);
    if (parley_session_info_parse(json, &si) == PARLEY_OK)
        parley_session_info_free(si);
    parley_connection_stats_parse(json, &cs);
    if (parley_presence_parse(json, &pr) == PARLEY_OK)
        parley_presence_free(pr);
    if (parley_metrics_parse(json, &met) == PARLEY_OK)
        parley_metrics_free(met);
    if (parley_events_parse(json, &evs) == PARLEY_OK)
        parley_events_free(evs);
    if (parley_monitoring_stats_parse(json, &mst) == PARLEY_OK)
        parley_monitoring_stats_free(mst);
    if (parley_health_parse(json, &h) == PARLEY_OK)
        parley_health_free(h);
}

static void on_push(parley_client *c, void *u, const struct parley_push *p)
{
    if (verbose)
        fprintf(stderr, "push %s: %.100s\n", p->event, p->data_json);
    touch(p->event);
    parse_all(p->data_json);
}

static void on_message(parley_client *c, void *u, const struct parley_message *m)
{
    touch(m->room);
    touch(m->user);
    touch(m->name);
    touch(m->text);
    touch(m->client_msg_id);
}

static void on_disconnect(parley_client *c, void *u, int code, const char *reason)
{
    if (verbose)
        fprintf(stderr, "disconnect %d %s\n", code, reason);
    touch(reason);
}

static void on_typing(parley_client *c, void *u, const struct parley_typing *t)
{
    touch(t->room);
    touch(t->user);
}

static void on_receipt(parley_client *c, void *u, const struct parley_receipt *r)
{
    touch(r->room);
    touch(r->user);
}

static void on_deleted(parley_client *c, void *u, const struct parley_deleted *d)
{
    touch(d->room);
}

static void on_member(parley_client *c, void *u, const struct parley_member_event *e)
{
    touch(e->room);
    touch(e->user);
    touch(e->name);
}

static void on_error(parley_client *c, void *u, const struct parley_error_push *e)
{
    touch(e->code);
    touch(e->message);
    touch(e->event);
}

static void on_unmatched(parley_client *c, void *u, const struct parley_ack *a)
{
    touch(a->data_json);
    touch(a->error_code);
    touch(a->frame_json);
    parse_all(a->data_json);
}

static void on_presence(parley_client *c, void *u, const struct parley_presence *p)
{
    touch(p->user);
    touch(p->name);
    touch(p->status);
}

static void on_state(parley_client *c, void *u, const struct parley_state_event *s)
{
    sink += (size_t)s->state;
}

static void on_ack(parley_client *c, void *u, void *arg, int rc, const char *json)
{
    if (verbose)
        fprintf(stderr, "ack rc %d: %.100s\n", rc, json ? json : "(null)");
    parse_all(json);
}

/* The requests whose acks the stream may answer, ids 1, 2, ... in order. */
static void send_requests(parley_client *c)
{
    static const char *const rooms[] = {"r", "s"};
    static const struct parley_last_seq last[] = {{"r", 3}};
    struct parley_send_opts opts;

    memset(&opts, 0, sizeof(opts));
    opts.client_msg_id = "c1";
    parley_join_async(c, "r", 0, on_ack, NULL);                    /* 1 */
    parley_room_list_async(c, on_ack, NULL);                       /* 2 */
    parley_history_async(c, "r", 0, 50, on_ack, NULL);             /* 3 */
    parley_subscribe_async(c, rooms, 2, on_ack, NULL);             /* 4 */
    parley_typing_users_async(c, "r", on_ack, NULL);               /* 5 */
    parley_read_async(c, 7, on_ack, NULL);                         /* 6 */
    parley_online_users_async(c, "r", on_ack, NULL);               /* 7 */
    parley_user_status_async(c, "bob", on_ack, NULL);              /* 8 */
    parley_create_session_async(c, on_ack, NULL);                  /* 9 */
    parley_session_info_async(c, on_ack, NULL);                    /* 10 */
    parley_connection_stats_async(c, on_ack, NULL);                /* 11 */
    parley_monitoring_metrics_async(c, on_ack, NULL);              /* 12 */
    parley_monitoring_events_async(c, 10, NULL, on_ack, NULL);     /* 13 */
    parley_monitoring_stats_async(c, on_ack, NULL);                /* 14 */
    parley_monitoring_health_async(c, on_ack, NULL);               /* 15 */
    parley_send_async(c, "r", "hi", &opts, on_ack, NULL);          /* 16 */
    parley_recover_async(c, "tok", last, 1, on_ack, NULL);         /* 17 */
    parley_delivery_status_async(c, 7, on_ack, NULL);              /* 18 */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parley_client *c;
    struct pl_transport t = PL_TRANSPORT_INIT;
    struct pl_hs_result res;
    int rc;

    if (size < 1)
        return 0;
    verbose = getenv("FUZZ_VERBOSE") != NULL;
    memset(&st, 0, sizeof(st));
    st.chunk = 1 + data[0] % 64;
    st.data = data + 1;
    st.size = size - 1;

    c = parley_client_new("ws://127.0.0.1:9/ws", NULL);
    if (c == NULL)
        abort();
    parley_on_push(c, on_push);
    parley_on_message(c, on_message);
    parley_on_disconnect(c, on_disconnect);
    parley_on_typing(c, on_typing);
    parley_on_receipt(c, on_receipt);
    parley_on_deleted(c, on_deleted);
    parley_on_member(c, on_member);
    parley_on_error(c, on_error);
    parley_on_unmatched_ack(c, on_unmatched);
    parley_on_presence(c, on_presence);
    parley_on_state(c, on_state);

    t.ops = &fake_ops;
    t.fd = -1;
    rc = pl_handshake(&t, &c->url, "a.b.c", pl_deadline(1000), &res);
    if (verbose)
        fprintf(stderr, "handshake: %d, HTTP %d, error '%s' '%s', %zu extra bytes\n", rc,
                res.http_status, res.error_code, res.error_message, res.extra_len);
    touch(res.error_code);
    touch(res.error_message);
    if (rc != PARLEY_OK) {
        free(res.extra);
        pl_tr_close(&t);
    } else {
        pl_lock(c);
        rc = pl_ws_attach_locked(c, &t, res.extra, res.extra_len);
        pl_unlock(c);
        if (rc == PARLEY_OK) {
            send_requests(c);
            pl_lock(c);
            /* Read to the end of the stream, then end the connection as the
             * loop would (reap, or tear down when the close is unfinished). */
            for (int i = 0; i < 100000 && c->ws != NULL && !c->io_failed; i++)
                pl_ws_read_locked(c);
            if (c->ws != NULL && !pl_ws_reap_locked(c))
                pl_ws_teardown_locked(c);
            pl_unlock(c);
            pl_dispatch(c);
        }
    }
    parley_client_destroy(c);
    free(st.buf);
    return 0;
}
