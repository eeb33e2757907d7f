/* The WebSocket connection: wslay's client context wired to the transport,
 * incoming frames routed to the pending table (acks) and the inbox (pushes),
 * and the close handshake. Everything here runs with the client lock held:
 * wslay is not thread-safe and its callbacks run inside wslay_event_recv and
 * wslay_event_send, which we call only under the lock. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>

#include "client.h"
#include "clock.h"
#include "json.h"
#include "wsproto.h"

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    parley_client *c = user;
    ssize_t n;

    /* Bytes that arrived with the 101 come before anything on the socket. */
    if (c->prebuf) {
        size_t left = c->prebuf_len - c->prebuf_off;
        if (len > left)
            len = left;
        memcpy(buf, c->prebuf + c->prebuf_off, len);
        c->prebuf_off += len;
        if (c->prebuf_off == c->prebuf_len) {
            free(c->prebuf);
            c->prebuf = NULL;
            c->prebuf_len = c->prebuf_off = 0;
        }
        return (ssize_t)len;
    }
    n = pl_tr_read(&c->tr, buf, len);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    c->io_failed = 1; /* end of stream or a socket error */
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                          int flags, void *user)
{
    parley_client *c = user;
    ssize_t n = pl_tr_write(&c->tr, data, len, (flags & WSLAY_MSG_MORE) != 0);

    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    c->io_failed = 1;
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

/* RFC 6455 wants masks an attacker cannot predict. */
static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    if (RAND_bytes(buf, (int)len) != 1) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return 0;
}

static void handle_text(parley_client *c, const uint8_t *msg, size_t len)
{
    cJSON *root = cJSON_ParseWithLength((const char *)msg, len);
    const cJSON *id, *event, *data;
    int64_t idv;
    int replayed = 0;
    char *name, *json;
    struct pl_event *ev;

    /* What the protocol does not allow is dropped, not fatal: a newer
     * server may send things this library does not know yet. */
    if (!cJSON_IsObject(root))
        goto out;
    id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (id && !cJSON_IsNull(id)) {
        if (pl_json_int64(id, &idv))
            pl_request_ack_locked(c, idv, root, (const char *)msg, len);
        goto out;
    }
    event = cJSON_GetObjectItemCaseSensitive(root, "event");
    if (!cJSON_IsString(event))
        goto out;
    data = cJSON_GetObjectItemCaseSensitive(root, "data");
    /* A message:new already seen goes no further (recovery.c). */
    if (!pl_track_push_locked(c, event->valuestring, data, &replayed))
        goto out;
    name = strdup(event->valuestring);
    json = data ? pl_json_print(data) : strdup("{}");
    ev = calloc(1, sizeof(*ev));
    if (!name || !json || !ev) {
        free(name);
        free(json);
        free(ev);
        goto out;
    }
    ev->type = PL_EV_PUSH;
    ev->name = name;
    ev->json = json;
    ev->replayed = replayed;
    pl_inbox_push_locked(c, ev);
out:
    cJSON_Delete(root);
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    parley_client *c = user;

    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
        handle_text(c, arg->msg, arg->msg_length);
        break;
    case WSLAY_CONNECTION_CLOSE: {
        size_t rlen = arg->msg_length > 2 ? arg->msg_length - 2 : 0;
        if (rlen >= sizeof(c->close_reason))
            rlen = sizeof(c->close_reason) - 1;
        c->close_received = 1;
        /* A close frame without a code is 1005 "no status" (RFC 6455 7.4.1). */
        c->close_code = arg->status_code ? arg->status_code : 1005;
        if (rlen)
            memcpy(c->close_reason, arg->msg + 2, rlen);
        c->close_reason[rlen] = '\0';
        break;
    }
    default:
        /* Binary frames are not part of the protocol; pings are answered by
         * wslay, pongs need nothing. */
        break;
    }
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .genmask_callback = ws_genmask_cb,
    .on_msg_recv_callback = ws_msg_cb,
};

int pl_ws_attach_locked(parley_client *c, struct pl_transport *t, unsigned char *extra,
                        size_t extra_len)
{
    wslay_event_context_ptr ws;
    struct pl_event *disc = calloc(1, sizeof(*disc));

    /* The disconnect event is allocated now so that the application hears
     * of the close even when memory runs out later. */
    if (!disc || wslay_event_context_client_init(&ws, &ws_callbacks, c) != 0) {
        free(disc);
        free(extra);
        pl_tr_close(t);
        return PARLEY_ERR_NOMEM;
    }
    wslay_event_config_set_max_recv_msg_length(ws, PL_MAX_RECV_MSG);
    c->ws = ws;
    c->tr = *t;
    *t = (struct pl_transport)PL_TRANSPORT_INIT;
    free(c->prebuf);
    c->prebuf = extra_len ? extra : NULL;
    if (!extra_len)
        free(extra);
    c->prebuf_len = extra_len;
    c->prebuf_off = 0;
    c->disc_ev = disc;
    c->io_failed = 0;
    c->close_received = 0;
    c->close_code = 0;
    c->close_reason[0] = '\0';
    c->state = PL_OPEN;
    c->conn_gen++;
    return PARLEY_OK;
}

int pl_ws_want_write_locked(const parley_client *c)
{
    /* TLS may need the socket writable for a read of its own (tls.c): the
     * poller must wait for POLLOUT then too. */
    return c->ws && !c->io_failed &&
           (wslay_event_want_write(c->ws) || (c->tr.need_events & POLLOUT));
}

void pl_ws_write_locked(parley_client *c)
{
    if (pl_ws_want_write_locked(c) && wslay_event_send(c->ws) != 0)
        c->io_failed = 1;
}

void pl_ws_read_locked(parley_client *c)
{
    if (!c->ws || c->io_failed)
        return;
    if (wslay_event_recv(c->ws) != 0)
        c->io_failed = 1;
    /* Pongs and the answer to a close are queued by wslay_event_recv. */
    pl_ws_write_locked(c);
}

int pl_ws_send_text_locked(parley_client *c, const char *text, size_t len)
{
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    int r;

    if (c->state != PL_OPEN)
        return c->state == PL_CLOSING ? PARLEY_ERR_CLOSED : PARLEY_ERR_NOT_CONNECTED;
    if (c->io_failed)
        return PARLEY_ERR_CLOSED;
    r = wslay_event_queue_msg(c->ws, &msg);
    if (r == WSLAY_ERR_NOMEM)
        return PARLEY_ERR_NOMEM;
    if (r != 0)
        return PARLEY_ERR_CLOSED;
    /* Write now from the caller's thread: no hop through the loop thread on
     * the common path. What the socket does not take, the poller sends. */
    pl_ws_write_locked(c);
    if (pl_ws_want_write_locked(c) || c->io_failed)
        pl_wake(c);
    return PARLEY_OK;
}

void pl_ws_close_locked(parley_client *c)
{
    if (c->state != PL_OPEN || !c->ws)
        return;
    /* Fails only when a close is already queued or sent: nothing to add. */
    wslay_event_queue_close(c->ws, PD_CLOSE_NORMAL, NULL, 0);
    c->state = PL_CLOSING;
    c->close_deadline = pd_mono_ms() + PL_CLOSE_WAIT_MS;
    pl_ws_write_locked(c);
    pl_wake(c);
}

void pl_ws_teardown_locked(parley_client *c)
{
    struct pl_event *disc = c->disc_ev;
    int code = c->close_received ? c->close_code : 1006;
    int retry;

    if (!c->ws)
        return;
    wslay_event_context_free(c->ws);
    c->ws = NULL;
    pl_tr_close(&c->tr);
    free(c->prebuf);
    c->prebuf = NULL;
    c->prebuf_len = c->prebuf_off = 0;
    c->state = PL_DISCONNECTED;
    c->disc_ev = NULL;
    /* Requests first, then the disconnect: a completion never arrives after
     * the application was told the connection is gone. pl_conn_lost_locked
     * completes them (or keeps them for the reconnect) and schedules it. */
    retry = pl_conn_lost_locked(c, code);
    if (disc) {
        disc->type = PL_EV_DISCONNECT;
        disc->rc = code;
        disc->json = strdup(c->close_received ? c->close_reason : "");
        pl_inbox_push_locked(c, disc);
    }
    pl_state_locked(c, PARLEY_STATE_DISCONNECTED, 0, code, retry);
    pthread_cond_broadcast(&c->cond);
    pl_wake(c);
}

int pl_ws_reap_locked(parley_client *c)
{
    wslay_event_context_ptr ws = c->ws;
    int over = 0;

    if (!ws)
        return 0;
    if (c->io_failed) {
        over = 1;
    } else if (wslay_event_get_close_received(ws)) {
        /* The close handshake is done once our answer went out (or cannot). */
        over = wslay_event_get_close_sent(ws) || !wslay_event_get_write_enabled(ws);
    } else if (!wslay_event_get_read_enabled(ws)) {
        /* wslay failed the connection (bad frame, message too big) and
         * queued a close: send it, then stop; nothing more will be read. */
        if (c->state == PL_OPEN) {
            c->state = PL_CLOSING;
            c->close_deadline = pd_mono_ms() + PL_CLOSE_WAIT_MS;
        }
        over = wslay_event_get_close_sent(ws) || !wslay_event_get_write_enabled(ws);
    }
    if (!over && c->state == PL_CLOSING && pd_mono_ms() >= c->close_deadline)
        over = 1;
    if (over)
        pl_ws_teardown_locked(c);
    return over;
}
