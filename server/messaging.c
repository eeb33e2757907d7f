#include "messaging.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "rooms.h"
#include "server.h"

/* A message:send waiting for its commit. */
struct pd_send_job {
    struct pd_store_job job;
    struct server *srv;
    uint64_t conn_id;
    int64_t req_id;
};

cJSON *pd_message_json(const struct pd_message *m)
{
    cJSON *o = cJSON_CreateObject();

    pd_json_add_int(o, "id", m->id);
    cJSON_AddStringToObject(o, "room", m->room);
    pd_json_add_int(o, "seq", m->seq);
    cJSON_AddStringToObject(o, "user", m->user);
    cJSON_AddStringToObject(o, "name", m->name ? m->name : m->user);
    cJSON_AddStringToObject(o, "text", m->deleted ? "" : (m->text ? m->text : ""));
    pd_json_add_int(o, "ts", m->ts);
    if (m->client_msg_id)
        cJSON_AddStringToObject(o, "client_msg_id", m->client_msg_id);
    else
        cJSON_AddNullToObject(o, "client_msg_id");
    if (m->reply_to > 0)
        pd_json_add_int(o, "reply_to", m->reply_to);
    else
        cJSON_AddNullToObject(o, "reply_to");
    cJSON_AddBoolToObject(o, "deleted", m->deleted);
    return o;
}

/* Store reads of a replay or catch-up, at most this many rows each. */
#define PD_RANGE_CHUNK 500

int pd_messages_range(struct server *srv, const char *room, int64_t from, int64_t upto,
                      void (*fn)(void *arg, int64_t seq, const char *json, size_t len), void *arg)
{
    while (from < upto) {
        int64_t hi = upto - from > PD_RANGE_CHUNK ? from + PD_RANGE_CHUNK : upto;
        struct pd_message *msgs = NULL;
        size_t n = 0;
        bool more;

        if (pd_store_history(srv->store, room, hi + 1, (int)(hi - from), &msgs, &n, &more) !=
            PD_OK)
            return -1;
        for (size_t i = 0; i < n; i++) {
            cJSON *root = cJSON_CreateObject(), *data = cJSON_CreateObject();
            char *json;
            cJSON_AddStringToObject(root, "event", "message:new");
            cJSON_AddItemToObject(data, "message", pd_message_json(&msgs[i]));
            cJSON_AddItemToObject(root, "data", data);
            json = cJSON_PrintUnformatted(root);
            if (json != NULL)
                fn(arg, msgs[i].seq, json, strlen(json));
            cJSON_free(json);
            cJSON_Delete(root);
        }
        pd_messages_free(msgs, n);
        from = hi;
    }
    return 0;
}

static void catch_up_one(void *arg, int64_t seq, const char *json, size_t len)
{
    pd_room_broadcast_seq(arg, json, len, NULL, seq);
}

void pd_room_catch_up(struct server *srv, struct pd_room *room, int64_t upto)
{
    if (upto <= room->last_seq)
        return;
    if (room->nsubs > 0 &&
        pd_messages_range(srv, room->name, room->last_seq, upto, catch_up_one, room) != 0)
        pd_error("cluster: could not read seqs %lld to %lld of room '%s' from the store: its "
                 "subscribers here miss them until they recover or read the history",
                 (long long)room->last_seq + 1, (long long)upto, room->name);
    room->last_seq = upto;
}

/* seq is stored: the room's subscribers get any gap before it, and the
 * room's last seq moves to it. Seqs come in order from one node, not
 * across nodes: one that overtook another finds the gap here and reads it
 * from the store (committed: the seq after it could not be handed out
 * before). */
static void reach_seq(struct server *srv, struct pd_room *room, int64_t seq)
{
    if (seq > room->last_seq + 1 && pd_cluster_on(srv))
        pd_room_catch_up(srv, room, seq - 1);
    if (seq > room->last_seq)
        room->last_seq = seq;
}

void pd_room_deliver(struct server *srv, struct pd_room *room, int64_t seq, const char *json,
                     size_t len, const struct pd_conn *except)
{
    reach_seq(srv, room, seq);
    pd_room_broadcast_seq(room, json, len, except, seq);
}

static void send_job_free(struct pd_send_job *sj)
{
    pd_message_clear(&sj->job.msg);
    free(sj);
}

/* The message is durable: ack the sender, then push it to the room. */
static void send_done(struct pd_store_job *job)
{
    struct pd_send_job *sj = (struct pd_send_job *)job;
    struct server *srv = sj->srv;
    struct pd_conn *c = pd_conn_find(srv, sj->conn_id);
    struct pd_room *room = pd_room_find(srv, job->msg.room);
    const struct pd_message *m = &job->msg;

    if (job->rc != PD_OK || room == NULL) {
        if (c != NULL)
            pd_ack_err(c, sj->req_id, "message:send", job->rc == PD_E_NOT_FOUND ? PD_E_NOT_FOUND
                                                                               : PD_E_INTERNAL,
                       "could not store the message in room '%s'", job->msg.room);
        send_job_free(sj);
        return;
    }
    if (!job->duplicate) {
        /* Before the ack: the sender's connection gets the gap too. */
        reach_seq(srv, room, m->seq);
        /* The store moved both of the sender's pointers in the same
         * transaction: one's own message is read, so delivered too. */
        pd_member_advance(pd_room_member(room, m->user), m->seq, m->seq);
    }
    if (c != NULL) {
        cJSON *data = cJSON_CreateObject();
        struct pd_sub *sub = pd_conn_sub(c, room);
        cJSON_AddItemToObject(data, "message", pd_message_json(m));
        pd_ack_ok(c, sj->req_id, data);
        /* The ack carries the message: the sender's connection has it. */
        if (sub != NULL && sub->last_seq < m->seq)
            sub->last_seq = m->seq;
    }
    if (!job->duplicate) {
        cJSON *root = cJSON_CreateObject(), *data = cJSON_CreateObject();
        char *json;
        cJSON_AddStringToObject(root, "event", "message:new");
        cJSON_AddItemToObject(data, "message", pd_message_json(m));
        cJSON_AddItemToObject(root, "data", data);
        json = cJSON_PrintUnformatted(root);
        if (json != NULL) {
            cJSON *head = pd_bus_head(srv, "msg", room->name);
            pd_room_broadcast_seq(room, json, strlen(json), c, m->seq);
            if (head != NULL) {
                pd_json_add_int(head, "s", m->seq);
                cJSON_AddStringToObject(head, "u", m->user);
                pd_cluster_publish(srv, head, json, strlen(json));
            }
        }
        cJSON_free(json);
        cJSON_Delete(root);
    }
    send_job_free(sj);
}

enum pd_err pd_req_message(struct pd_req *r, struct pd_message *m, struct pd_room **room,
                           struct pd_member **member)
{
    int64_t id = 0;
    struct pd_room *rm;
    struct pd_member *mb = NULL;
    enum pd_err e = pd_req_int(r, "message_id", true, 1, PD_JSON_INT_MAX, &id, NULL);

    if (e != PD_OK)
        return e;
    e = pd_store_message_get(r->srv->store, id, m);
    if (e == PD_E_INTERNAL)
        return pd_req_fail(r, PD_E_INTERNAL, "could not read message %lld", (long long)id);
    rm = e == PD_OK ? pd_room_find(r->srv, m->room) : NULL;
    if (rm != NULL)
        mb = pd_room_member(rm, r->conn->ident.sub);
    if (mb == NULL) {
        pd_message_clear(m);
        return pd_req_fail(r, PD_E_NOT_FOUND, "no message %lld", (long long)id);
    }
    *room = rm;
    *member = mb;
    return PD_OK;
}

/* reply_to must name a message of the same room; anything else is refused
 * without saying what the other message holds. */
static enum pd_err check_reply_to(struct pd_req *r, const struct pd_room *room, int64_t id)
{
    struct pd_message target = {0};
    enum pd_err e = pd_store_message_get(r->srv->store, id, &target);
    bool same_room = e == PD_OK && strcmp(target.room, room->name) == 0;

    pd_message_clear(&target);
    if (e == PD_E_INTERNAL)
        return pd_req_fail(r, PD_E_INTERNAL, "could not read message %lld", (long long)id);
    if (!same_room)
        return pd_req_fail(r, PD_E_NOT_FOUND, "no message %lld in room '%s'", (long long)id,
                           room->name);
    return PD_OK;
}

enum pd_err pd_handle_send(struct pd_req *r)
{
    const struct pd_identity *id = &r->conn->ident;
    struct pd_room *room;
    const char *text = NULL, *cmid = NULL;
    int64_t reply_to = 0;
    bool has_reply = false;
    struct pd_send_job *sj;
    enum pd_err e;

    if ((e = pd_req_member_room(r, "room", &room, NULL)) != PD_OK ||
        (e = pd_req_string(r, "text", true, 1, PD_TEXT_MAX_CHARS, &text, NULL)) != PD_OK ||
        (e = pd_req_string(r, "client_msg_id", false, 1, PD_CLIENT_MSG_ID_MAX, &cmid, NULL)) !=
            PD_OK ||
        (e = pd_req_int(r, "reply_to", false, 1, PD_JSON_INT_MAX, &reply_to, &has_reply)) !=
            PD_OK)
        return e;
    if (has_reply && (e = check_reply_to(r, room, reply_to)) != PD_OK)
        return e;

    sj = calloc(1, sizeof(*sj));
    if (sj == NULL)
        return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
    sj->srv = r->srv;
    sj->conn_id = r->conn->id;
    sj->req_id = r->id;
    sj->job.op = PD_OP_SEND;
    sj->job.now = pd_now_ms();
    sj->job.done = send_done;
    snprintf(sj->job.room, sizeof(sj->job.room), "%s", room->name);
    snprintf(sj->job.user, sizeof(sj->job.user), "%s", id->sub);
    snprintf(sj->job.msg.room, sizeof(sj->job.msg.room), "%s", room->name);
    snprintf(sj->job.msg.user, sizeof(sj->job.msg.user), "%s", id->sub);
    sj->job.msg.ts = sj->job.now;
    sj->job.msg.reply_to = has_reply ? reply_to : 0;
    sj->job.msg.name = strdup(id->name);
    sj->job.msg.text = strdup(text);
    sj->job.msg.client_msg_id = cmid ? strdup(cmid) : NULL;
    if (sj->job.msg.name == NULL || sj->job.msg.text == NULL ||
        (cmid != NULL && sj->job.msg.client_msg_id == NULL)) {
        send_job_free(sj);
        return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
    }
    if (pd_store_submit(r->srv->store, &sj->job) != 0) {
        send_job_free(sj);
        return pd_req_fail(r, PD_E_INTERNAL, "the server is shutting down");
    }
    r->deferred = true;
    return PD_OK;
}

enum pd_err pd_handle_history(struct pd_req *r)
{
    struct pd_room *room;
    int64_t before = 0, limit = PD_HISTORY_DEFAULT;
    struct pd_message *msgs = NULL;
    size_t n = 0;
    bool has_more = false;
    enum pd_err e;
    cJSON *arr;

    if ((e = pd_req_member_room(r, "room", &room, NULL)) != PD_OK ||
        (e = pd_req_int(r, "before_seq", false, 1, PD_JSON_INT_MAX, &before, NULL)) != PD_OK ||
        (e = pd_req_int(r, "limit", false, 1, PD_HISTORY_MAX, &limit, NULL)) != PD_OK)
        return e;
    e = pd_store_history(r->srv->store, room->name, before, (int)limit, &msgs, &n, &has_more);
    if (e != PD_OK)
        return pd_req_fail(r, PD_E_INTERNAL, "could not read the history of room '%s'",
                           room->name);
    r->result = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(r->result, "messages");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, pd_message_json(&msgs[i]));
    cJSON_AddBoolToObject(r->result, "has_more", has_more);
    pd_messages_free(msgs, n);
    return PD_OK;
}

/* ---- message:delete -------------------------------------------------------- */

static void delete_done(struct pd_store_job *job)
{
    struct pd_send_job *sj = (struct pd_send_job *)job;
    struct pd_conn *c = pd_conn_find(sj->srv, sj->conn_id);
    struct pd_room *room = pd_room_find(sj->srv, job->msg.room);
    cJSON *data;

    if (job->rc != PD_OK || room == NULL) {
        if (c != NULL)
            pd_ack_err(c, sj->req_id, "message:delete",
                       job->rc == PD_E_NOT_FOUND ? PD_E_NOT_FOUND : PD_E_INTERNAL,
                       "could not delete message %lld", (long long)job->msg.id);
        send_job_free(sj);
        return;
    }
    if (c != NULL) {
        data = cJSON_CreateObject();
        pd_json_add_int(data, "message_id", job->msg.id);
        cJSON_AddStringToObject(data, "room", room->name);
        pd_ack_ok(c, sj->req_id, data);
    }
    /* Deleting twice is fine, and says nothing new to the room. */
    if (!job->duplicate) {
        room->deleted_count++;
        data = cJSON_CreateObject();
        pd_json_add_int(data, "message_id", job->msg.id);
        cJSON_AddStringToObject(data, "room", room->name);
        pd_room_push_bus(sj->srv, room, "message:deleted", data, c,
                         pd_bus_head(sj->srv, "del", room->name));
    }
    send_job_free(sj);
}

enum pd_err pd_handle_delete(struct pd_req *r)
{
    struct pd_message m = {0};
    struct pd_room *room;
    struct pd_member *member;
    struct pd_actor actor;
    struct pd_send_job *sj;
    enum pd_err e = pd_req_message(r, &m, &room, &member);

    if (e != PD_OK)
        return e;
    actor = pd_room_actor(room, &r->conn->ident);
    if (!pd_may_delete(&actor, strcmp(m.user, r->conn->ident.sub) == 0)) {
        e = pd_req_fail(r, PD_E_FORBIDDEN,
                        "only the author, the owner of room '%s' or an admin may delete "
                        "message %lld", room->name, (long long)m.id);
        pd_message_clear(&m);
        return e;
    }
    sj = calloc(1, sizeof(*sj));
    if (sj == NULL) {
        pd_message_clear(&m);
        return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
    }
    sj->srv = r->srv;
    sj->conn_id = r->conn->id;
    sj->req_id = r->id;
    sj->job.op = PD_OP_DELETE;
    sj->job.now = pd_now_ms();
    sj->job.done = delete_done;
    snprintf(sj->job.room, sizeof(sj->job.room), "%s", room->name);
    snprintf(sj->job.user, sizeof(sj->job.user), "%s", r->conn->ident.sub);
    sj->job.msg = m; /* the job owns its strings now */
    if (pd_store_submit(r->srv->store, &sj->job) != 0) {
        send_job_free(sj);
        return pd_req_fail(r, PD_E_INTERNAL, "the server is shutting down");
    }
    r->deferred = true;
    return PD_OK;
}
