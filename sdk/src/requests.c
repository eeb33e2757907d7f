/* Requests and their acks: ids, the pending table, timeouts, and the
 * blocking and asynchronous entry points. The table is a list in id order;
 * acks come back mostly in order, so the lookup from the head is short. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "client.h"
#include "clock.h"
#include "events.h"
#include "json.h"

static void link_tail(parley_client *c, struct pl_pending *p)
{
    p->next = NULL;
    p->prev = c->pend_tail;
    if (c->pend_tail)
        c->pend_tail->next = p;
    else
        c->pend_head = p;
    c->pend_tail = p;
    p->linked = 1;
}

void pl_request_unlink_locked(parley_client *c, struct pl_pending *p)
{
    if (!p->linked)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        c->pend_head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        c->pend_tail = p->prev;
    p->prev = p->next = NULL;
    p->linked = 0;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* What a pending request keeps of itself: freed once it completes. */
static void release(struct pl_pending *p)
{
    free(p->event);
    cJSON_Delete(p->data);
    p->event = NULL;
    p->data = NULL;
}

/* Completes p exactly once: an async one becomes an inbox event, a blocking
 * one is marked done for its waiter, an internal one runs its handler (with
 * item, the ack's data or error, or NULL). Takes ownership of json. */
static void complete_item_locked(parley_client *c, struct pl_pending *p, int rc, char *json,
                                 const cJSON *item)
{
    pl_request_unlink_locked(c, p);
    release(p);
    if (p->internal) {
        pl_internal_fn fn = p->internal;
        free(json);
        free(p);
        fn(c, rc, item);
        return;
    }
    if (p->async) {
        struct pl_event *ev = p->ev;
        ev->type = PL_EV_ACK;
        ev->cb = p->cb;
        ev->arg = p->arg;
        ev->rc = rc;
        ev->json = json;
        pl_inbox_push_locked(c, ev);
        free(p);
        return;
    }
    p->done = 1;
    p->rc = rc;
    p->result = json;
    pthread_cond_broadcast(&c->cond);
    /* A blocking waiter may be polling the socket while another thread
     * (an embedded loop_read) read its ack: interrupt its poll. */
    if (c->driving && !pthread_equal(c->driver_tid, pthread_self()))
        pl_wake(c);
}

static void complete_locked(parley_client *c, struct pl_pending *p, int rc, char *json)
{
    complete_item_locked(c, p, rc, json, NULL);
}

/* An ack no pending request waits for goes to the unmatched-ack callback,
 * when one is set; otherwise it is dropped. Out of memory drops it too. */
static void unmatched_locked(parley_client *c, int64_t id, const cJSON *root, const char *raw,
                             size_t len)
{
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(root, "ok");
    const cJSON *item, *code;
    struct pl_event *ev;

    if (!c->on_unmatched_ack)
        return;
    ev = calloc(1, sizeof(*ev));
    if (!ev)
        return;
    ev->type = PL_EV_UNMATCHED;
    ev->id = id;
    ev->rc = cJSON_IsTrue(ok) ? 1 : cJSON_IsFalse(ok) ? 0 : -1;
    item = cJSON_GetObjectItemCaseSensitive(root, ev->rc == 0 ? "error" : "data");
    ev->json = item ? pl_json_print(item) : strdup("{}");
    code = cJSON_GetObjectItemCaseSensitive(item, "code");
    if (ev->rc == 0 && cJSON_IsString(code))
        ev->name = strdup(code->valuestring);
    ev->raw = malloc(len + 1);
    if (!ev->json || !ev->raw || (ev->rc == 0 && cJSON_IsString(code) && !ev->name)) {
        free(ev->json);
        free(ev->name);
        free(ev->raw);
        free(ev);
        return;
    }
    memcpy(ev->raw, raw, len);
    ev->raw[len] = '\0';
    pl_inbox_push_locked(c, ev);
}

void pl_request_ack_locked(parley_client *c, int64_t id, const cJSON *root, const char *raw,
                           size_t len)
{
    struct pl_pending *p;
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(root, "ok");
    const cJSON *item = NULL;
    char *json = NULL;
    int rc;

    for (p = c->pend_head; p && (p->id != id || !p->sent); p = p->next)
        ;
    if (!p) {
        /* Timed out already, or never ours (an id the application sent). */
        unmatched_locked(c, id, root, raw, len);
        return;
    }
    if (cJSON_IsTrue(ok)) {
        item = cJSON_GetObjectItemCaseSensitive(root, "data");
        pl_track_ack_locked(c, p, 1, item);
        json = p->internal ? NULL : item ? pl_json_print(item) : strdup("{}");
        rc = json || p->internal ? PARLEY_OK : PARLEY_ERR_NOMEM;
    } else if (cJSON_IsFalse(ok)) {
        const cJSON *code, *msg;
        item = cJSON_GetObjectItemCaseSensitive(root, "error");
        pl_track_ack_locked(c, p, 0, item);
        code = cJSON_GetObjectItemCaseSensitive(item, "code");
        msg = cJSON_GetObjectItemCaseSensitive(item, "message");
        copy_str(p->err_code, sizeof(p->err_code), cJSON_IsString(code) ? code->valuestring : "");
        copy_str(p->err_message, sizeof(p->err_message),
                 cJSON_IsString(msg) ? msg->valuestring : "");
        json = p->internal ? NULL : item ? pl_json_print(item) : strdup("{}");
        rc = json || p->internal ? PARLEY_ERR_SERVER : PARLEY_ERR_NOMEM;
    } else {
        rc = PARLEY_ERR_PROTOCOL;
    }
    complete_item_locked(c, p, rc, json, item);
}

void pl_request_timeouts_locked(parley_client *c)
{
    int64_t now = pd_mono_ms();
    struct pl_pending *p = c->pend_head, *next;

    for (; p; p = next) {
        next = p->next;
        if (p->deadline >= 0 && now >= p->deadline)
            complete_locked(c, p, PARLEY_ERR_TIMEOUT, NULL);
    }
}

void pl_request_fail_all_locked(parley_client *c, int rc)
{
    while (c->pend_head)
        complete_locked(c, c->pend_head, rc, NULL);
}

/* Safe to send again on a new connection: everything but what changes
 * state in a way a second request would not find the same (delete), the
 * library's own session requests, and events it does not know. A
 * message:send carries a client_msg_id when reconnect is on. */
static int retryable(const struct pl_pending *p)
{
    if (p->internal || p->kind == PD_EV__COUNT)
        return 0;
    switch (p->kind) {
    case PD_EV_MSG_DELETE:
    case PD_EV_CONN_CREATE_SESSION:
    case PD_EV_CONN_RECOVER:
        return 0;
    case PD_EV_MSG_SEND:
        return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(p->data, "client_msg_id"));
    default:
        return 1;
    }
}

void pl_request_drop_locked(parley_client *c, int keep)
{
    struct pl_pending *p = c->pend_head, *next;

    for (; p; p = next) {
        next = p->next;
        if (keep && (!p->sent || retryable(p))) {
            if (p->sent)
                c->stats.retried++;
            p->sent = 0;
        } else {
            complete_locked(c, p, p->sent ? PARLEY_ERR_CLOSED : PARLEY_ERR_NOT_CONNECTED, NULL);
        }
    }
}

void pl_request_fail_queued_locked(parley_client *c)
{
    struct pl_pending *p = c->pend_head, *next;

    for (; p; p = next) {
        next = p->next;
        if (!p->sent)
            complete_locked(c, p, PARLEY_ERR_NOT_CONNECTED, NULL);
    }
}

int64_t pl_request_next_deadline_locked(const parley_client *c)
{
    int64_t best = -1;

    for (const struct pl_pending *p = c->pend_head; p; p = p->next)
        if (p->deadline >= 0 && (best < 0 || p->deadline < best))
            best = p->deadline;
    return best;
}

/* Writes p's frame {"id","event","data"} on the connection. */
static int transmit_locked(parley_client *c, struct pl_pending *p)
{
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    int rc;

    if (root && pl_json_add_int64(root, "id", p->id) &&
        cJSON_AddStringToObject(root, "event", p->event) &&
        cJSON_AddItemReferenceToObject(root, "data", p->data))
        text = pl_json_print(root);
    cJSON_Delete(root);
    if (!text)
        return PARLEY_ERR_NOMEM;
    rc = pl_ws_send_text_locked(c, text, strlen(text));
    free(text);
    if (rc == PARLEY_OK)
        p->sent = 1;
    return rc;
}

static int connected_locked(const parley_client *c)
{
    return c->state == PL_OPEN && !c->io_failed;
}

int pl_request_send_locked(parley_client *c, const char *event, cJSON *data, struct pl_pending *p)
{
    int rc, queue = 0;

    if (c->recovering && !p->internal) {
        /* Sent once the recover ack and its replay are in: nothing the
         * server does for it may overtake the replay (an own send's seq
         * would make the replayed messages look already seen). */
        queue = 1;
    } else if (!connected_locked(c)) {
        queue = c->offline_policy == PARLEY_OFFLINE_WAIT && !p->internal &&
                pl_expecting_connection_locked(c);
        if (!queue) {
            cJSON_Delete(data);
            return c->state == PL_DISCONNECTED || c->state == PL_CONNECTING
                       ? PARLEY_ERR_NOT_CONNECTED
                       : PARLEY_ERR_CLOSED;
        }
    }
    if (!data)
        data = cJSON_CreateObject();
    p->event = strdup(event);
    if (!data || !p->event) {
        cJSON_Delete(data);
        free(p->event);
        p->event = NULL;
        return PARLEY_ERR_NOMEM;
    }
    p->data = data;
    p->kind = (int)pd_event_from_name(event);
    if (p->kind == PD_EV_MSG_SEND && !pl_track_send_data_locked(c, data)) {
        release(p);
        return PARLEY_ERR_NOMEM;
    }
    p->id = ++c->next_id;
    p->sent = 0;
    /* Registered before the frame leaves, so even an instant ack finds it. */
    link_tail(c, p);
    if (queue)
        return PARLEY_OK; /* sent by pl_request_flush_locked */
    rc = transmit_locked(c, p);
    if (rc != PARLEY_OK) {
        pl_request_unlink_locked(c, p);
        release(p);
    }
    return rc;
}

int pl_request_internal_locked(parley_client *c, int ev, cJSON *data, pl_internal_fn fn)
{
    struct pl_pending *p = calloc(1, sizeof(*p));
    int rc;

    if (!p) {
        cJSON_Delete(data);
        return PARLEY_ERR_NOMEM;
    }
    p->internal = fn;
    p->deadline = pl_deadline(0);
    rc = pl_request_send_locked(c, pd_event_name((enum pd_event)ev), data, p);
    if (rc != PARLEY_OK)
        free(p);
    return rc;
}

void pl_request_flush_locked(parley_client *c)
{
    struct pl_pending *p = c->pend_head, *next;

    if (c->recovering)
        return; /* recover_done flushes */
    for (; p && connected_locked(c); p = next) {
        int rc;
        next = p->next;
        if (p->sent)
            continue;
        rc = transmit_locked(c, p);
        if (rc != PARLEY_OK)
            complete_locked(c, p, rc, NULL);
    }
}

static int pending_done(parley_client *c, void *arg)
{
    return ((struct pl_pending *)arg)->done;
}

int pl_request_sync(parley_client *c, const char *event, cJSON *data, int timeout_ms, char **out)
{
    struct pl_pending p;
    int rc;

    if (out)
        *out = NULL;
    pl_clear_error(c);
    memset(&p, 0, sizeof(p));
    p.deadline = pl_deadline(timeout_ms);
    pl_lock(c);
    if (pl_in_callback_locked(c)) {
        pl_unlock(c);
        cJSON_Delete(data);
        return PARLEY_ERR_INVAL; /* it would wait for the thread it runs on */
    }
    rc = pl_request_send_locked(c, event, data, &p);
    if (rc != PARLEY_OK) {
        pl_unlock(c);
        return rc;
    }
    pl_wait_locked(c, pending_done, &p, p.deadline);
    if (p.done) {
        rc = p.rc;
    } else {
        /* Dropped from the table: a late ack finds nothing and is ignored. */
        pl_request_unlink_locked(c, &p);
        release(&p);
        rc = PARLEY_ERR_TIMEOUT;
    }
    pl_unlock(c);
    pl_dispatch(c);
    if (rc == PARLEY_ERR_SERVER)
        pl_set_error(c, p.err_code, p.err_message);
    if (out)
        *out = p.result;
    else
        free(p.result);
    return rc;
}

int pl_request_async(parley_client *c, const char *event, cJSON *data, parley_ack_cb cb,
                     void *arg)
{
    return pl_request_async_id(c, event, data, cb, arg, NULL);
}

int pl_request_async_id(parley_client *c, const char *event, cJSON *data, parley_ack_cb cb,
                        void *arg, int64_t *id_out)
{
    struct pl_pending *p = calloc(1, sizeof(*p));
    struct pl_event *ev = calloc(1, sizeof(*ev));
    int rc;

    if (!p || !ev) {
        free(p);
        free(ev);
        cJSON_Delete(data);
        return PARLEY_ERR_NOMEM;
    }
    p->async = 1;
    p->cb = cb;
    p->arg = arg;
    p->ev = ev;
    p->deadline = pl_deadline(0);
    pl_lock(c);
    rc = pl_request_send_locked(c, event, data, p);
    /* Under the lock: the ack cannot be read, let alone delivered, yet. */
    if (rc == PARLEY_OK && id_out)
        *id_out = p->id;
    pl_unlock(c);
    if (rc != PARLEY_OK) {
        free(p);
        free(ev);
    }
    return rc;
}
