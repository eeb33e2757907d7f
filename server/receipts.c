/* Delivery and read receipts, and the figures built on them: every
 * member keeps two pointers per room (delivered up to seq, read up to seq);
 * a receipt only moves them forward, and unread counts and stats are seq
 * arithmetic over them, never a count of rows. */
#include "receipts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "messaging.h"
#include "rooms.h"
#include "server.h"
#include "store.h"

/* A receipt waiting for its commit. */
struct pd_receipt_job {
    struct pd_store_job job;
    struct server *srv;
    uint64_t conn_id;
    int64_t req_id;
    int64_t message_id;
    char author[PD_NAME_MAX + 1];
};

static const char *kind_event(enum pd_receipt_kind kind)
{
    return kind == PD_RECEIPT_READ ? "message:read" : "message:delivered";
}

static cJSON *receipt_ack(enum pd_receipt_kind kind, int64_t message_id, const char *room,
                          int64_t last_read_seq)
{
    cJSON *data = cJSON_CreateObject();

    pd_json_add_int(data, "message_id", message_id);
    if (kind == PD_RECEIPT_READ) {
        cJSON_AddStringToObject(data, "room", room);
        pd_json_add_int(data, "last_read_seq", last_read_seq);
    }
    return data;
}

static void receipt_done(struct pd_store_job *job)
{
    struct pd_receipt_job *rj = (struct pd_receipt_job *)job;
    struct server *srv = rj->srv;
    struct pd_conn *c = pd_conn_find(srv, rj->conn_id);
    struct pd_room *room = pd_room_find(srv, job->room);
    struct pd_member *m = room ? pd_room_member(room, job->user) : NULL;
    enum pd_receipt_kind kind = job->receipt_kind;
    int64_t seq = job->msg.seq;

    if (job->rc != PD_OK || m == NULL) {
        if (c != NULL)
            pd_ack_err(c, rj->req_id, kind_event(kind),
                       job->rc == PD_E_NOT_FOUND || m == NULL ? PD_E_NOT_FOUND : PD_E_INTERNAL,
                       "could not store the receipt for message %lld",
                       (long long)rj->message_id);
        free(rj);
        return;
    }
    pd_member_advance(m, kind == PD_RECEIPT_READ ? seq : 0, seq);
    if (c != NULL)
        pd_ack_ok(c, rj->req_id, receipt_ack(kind, rj->message_id, room->name, m->last_read_seq));
    /* The author learns it once: not again for a repeat, not from
     * themselves; on whichever node they are connected. */
    cJSON *head = pd_bus_head(srv, "rcpt", room->name);
    char *json = NULL;
    if (!job->duplicate && strcmp(rj->author, job->user) != 0) {
        cJSON *root = cJSON_CreateObject(), *data = cJSON_CreateObject();
        pd_json_add_int(data, "message_id", rj->message_id);
        cJSON_AddStringToObject(data, "room", room->name);
        cJSON_AddStringToObject(data, "user", job->user);
        pd_json_add_int(data, "ts", job->now);
        cJSON_AddStringToObject(root, "event", kind_event(kind));
        cJSON_AddItemToObject(root, "data", data);
        json = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        if (json != NULL)
            pd_user_send_frame(srv, rj->author, json, strlen(json));
    }
    if (head != NULL) {
        /* The pointers move on every node; the push goes to the author. */
        cJSON_AddStringToObject(head, "u", job->user);
        cJSON_AddStringToObject(head, "a", rj->author);
        pd_json_add_int(head, "dl", m->last_delivered_seq);
        pd_json_add_int(head, "rd", m->last_read_seq);
        pd_cluster_publish(srv, head, json, json ? strlen(json) : 0);
    }
    cJSON_free(json);
    free(rj);
}

static enum pd_err handle_receipt(struct pd_req *r, enum pd_receipt_kind kind)
{
    struct pd_message msg = {0};
    struct pd_room *room;
    struct pd_member *m;
    struct pd_receipt_job *rj;
    int64_t pointer;
    enum pd_err e = pd_req_message(r, &msg, &room, &m);

    if (e != PD_OK)
        return e;
    pointer = kind == PD_RECEIPT_READ ? m->last_read_seq : m->last_delivered_seq;
    if (pointer >= msg.seq) {
        /* Already covered by an earlier, cumulative receipt: nothing to store. */
        r->result = receipt_ack(kind, msg.id, room->name, m->last_read_seq);
        pd_message_clear(&msg);
        return PD_OK;
    }
    rj = calloc(1, sizeof(*rj));
    if (rj == NULL) {
        pd_message_clear(&msg);
        return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
    }
    rj->srv = r->srv;
    rj->conn_id = r->conn->id;
    rj->req_id = r->id;
    rj->message_id = msg.id;
    snprintf(rj->author, sizeof(rj->author), "%s", msg.user);
    rj->job.op = PD_OP_RECEIPT;
    rj->job.receipt_kind = kind;
    rj->job.now = pd_now_ms();
    rj->job.msg.seq = msg.seq;
    rj->job.done = receipt_done;
    snprintf(rj->job.room, sizeof(rj->job.room), "%s", room->name);
    snprintf(rj->job.user, sizeof(rj->job.user), "%s", r->conn->ident.sub);
    pd_message_clear(&msg);
    if (pd_store_submit(r->srv->store, &rj->job) != 0) {
        free(rj);
        return pd_req_fail(r, PD_E_INTERNAL, "the server is shutting down");
    }
    r->deferred = true;
    return PD_OK;
}

enum pd_err pd_handle_delivered(struct pd_req *r)
{
    return handle_receipt(r, PD_RECEIPT_DELIVERED);
}

enum pd_err pd_handle_read(struct pd_req *r)
{
    return handle_receipt(r, PD_RECEIPT_READ);
}

/* ---- message:delivery-status ------------------------------------------------ */

/* Receipt times by user, filled from the store. */
struct receipt_times {
    cJSON *by_user; /* object: user -> ts */
};

static int collect_time(void *arg, const char *user, int64_t ts)
{
    struct receipt_times *t = arg;
    return pd_json_add_int(t->by_user, user, ts) ? 0 : -1;
}

/* {user, ts} for a member whose pointer covers the message. */
static cJSON *user_ts(const char *user, const cJSON *times)
{
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(times, user);
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "user", user);
    if (cJSON_IsRaw(ts))
        cJSON_AddRawToObject(o, "ts", ts->valuestring);
    else
        cJSON_AddNullToObject(o, "ts"); /* a pointer moved before events were kept */
    return o;
}

static int by_user(const void *a, const void *b)
{
    return strcmp((*(struct pd_member *const *)a)->user, (*(struct pd_member *const *)b)->user);
}

enum pd_err pd_handle_delivery_status(struct pd_req *r)
{
    struct pd_message msg = {0};
    struct pd_room *room;
    struct pd_member *me, *m, **recipients = NULL;
    struct receipt_times delivered = {cJSON_CreateObject()}, read = {cJSON_CreateObject()};
    cJSON *delivered_to, *read_by, *pending;
    size_t pos = 0, n = 0;
    enum pd_err e = pd_req_message(r, &msg, &room, &me);

    if (e != PD_OK)
        goto out;
    if (pd_store_receipt_times(r->srv->store, room->name, msg.seq, PD_RECEIPT_DELIVERED,
                               collect_time, &delivered) != PD_OK ||
        pd_store_receipt_times(r->srv->store, room->name, msg.seq, PD_RECEIPT_READ,
                               collect_time, &read) != PD_OK) {
        e = pd_req_fail(r, PD_E_INTERNAL, "could not read the receipts of message %lld",
                        (long long)msg.id);
        goto out;
    }
    /* Every current member but the author, as their pointers say (a later
     * joiner's start at the room's last seq when they joined, as in unread
     * and stats), in user order so the answer does not depend on hash
     * order. */
    recipients = calloc(room->members.len ? room->members.len : 1, sizeof(*recipients));
    if (recipients == NULL) {
        e = pd_req_fail(r, PD_E_INTERNAL, "out of memory");
        goto out;
    }
    while ((m = pd_hmap_next(&room->members, &pos, NULL)) != NULL)
        if (strcmp(m->user, msg.user) != 0)
            recipients[n++] = m;
    qsort(recipients, n, sizeof(*recipients), by_user);

    r->result = cJSON_CreateObject();
    pd_json_add_int(r->result, "message_id", msg.id);
    delivered_to = cJSON_AddArrayToObject(r->result, "delivered_to");
    read_by = cJSON_AddArrayToObject(r->result, "read_by");
    pending = cJSON_AddArrayToObject(r->result, "pending");
    for (size_t i = 0; i < n; i++) {
        m = recipients[i];
        if (m->last_delivered_seq >= msg.seq)
            cJSON_AddItemToArray(delivered_to, user_ts(m->user, delivered.by_user));
        else
            cJSON_AddItemToArray(pending, cJSON_CreateString(m->user));
        if (m->last_read_seq >= msg.seq)
            cJSON_AddItemToArray(read_by, user_ts(m->user, read.by_user));
    }
out:
    free(recipients);
    pd_message_clear(&msg);
    cJSON_Delete(delivered.by_user);
    cJSON_Delete(read.by_user);
    return e;
}

/* ---- message:stats ----------------------------------------------------------- */

struct stats {
    int64_t sent, delivered, read, deleted;
};

static void add_room(struct stats *s, const struct pd_room *room)
{
    size_t pos = 0;
    const struct pd_member *m;

    s->sent += room->last_seq;
    s->deleted += room->deleted_count;
    while ((m = pd_hmap_next(&room->members, &pos, NULL)) != NULL) {
        s->delivered += m->last_delivered_seq;
        s->read += m->last_read_seq;
    }
}

enum pd_err pd_handle_message_stats(struct pd_req *r)
{
    struct stats s = {0};
    struct pd_room *room = NULL;
    bool has_room = cJSON_GetObjectItemCaseSensitive(r->data, "room") != NULL &&
                    !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r->data, "room"));
    enum pd_err e;

    if (has_room) {
        if ((e = pd_req_member_room(r, "room", &room, NULL)) != PD_OK)
            return e;
        add_room(&s, room);
    } else {
        size_t pos = 0;
        while ((room = pd_room_next(r->srv, &pos)) != NULL)
            add_room(&s, room);
        room = NULL;
    }
    r->result = cJSON_CreateObject();
    if (room != NULL)
        cJSON_AddStringToObject(r->result, "room", room->name);
    pd_json_add_int(r->result, "sent", s.sent);
    pd_json_add_int(r->result, "delivered", s.delivered);
    pd_json_add_int(r->result, "read", s.read);
    pd_json_add_int(r->result, "deleted", s.deleted);
    return PD_OK;
}
