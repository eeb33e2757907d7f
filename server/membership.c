/* join:chat, leave:chat and room:invite: the changes to stored membership.
 * Memory changes at once, so requests pipelined behind see them; the ack
 * waits for the commit, and a commit that fails undoes the memory change. */
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
#include "store.h"
#include "typing.h"
#include "users.h"

/* A membership change waiting for its commit. */
struct pd_room_job {
    struct pd_store_job job;
    struct server *srv;
    uint64_t conn_id;
    int64_t req_id;
    bool created_room;         /* join: this request created the room */
    struct pd_member *removed; /* leave: put back if the commit fails */
};

static struct pd_room_job *room_job_new(struct pd_req *r, enum pd_store_op op,
                                        const char *room, const char *user,
                                        void (*done)(struct pd_store_job *))
{
    struct pd_room_job *rj = calloc(1, sizeof(*rj));

    if (rj == NULL)
        return NULL;
    rj->srv = r->srv;
    rj->conn_id = r->conn->id;
    rj->req_id = r->id;
    rj->job.op = op;
    rj->job.now = pd_now_ms();
    rj->job.done = done;
    snprintf(rj->job.room, sizeof(rj->job.room), "%s", room);
    snprintf(rj->job.user, sizeof(rj->job.user), "%s", user);
    return rj;
}

static void room_job_free(struct pd_room_job *rj)
{
    free((char *)rj->job.name);
    pd_member_free(rj->removed);
    free(rj);
}

/* join:chat ack data: the room object, the caller's role, the members. */
static cJSON *join_ack(struct server *srv, const struct pd_room *room, bool owner)
{
    cJSON *data = cJSON_CreateObject();

    pd_room_add_fields(srv, data, room);
    cJSON_AddStringToObject(data, "role", owner ? "owner" : "member");
    cJSON_AddItemToObject(data, "members", pd_members_json(srv, room));
    return data;
}

/* ---- join:chat ------------------------------------------------------------------- */

/* Undoes in memory what a join that could not be stored did. */
static void join_rollback(struct server *srv, struct pd_room_job *rj)
{
    struct pd_room *room = pd_room_find(srv, rj->job.room);

    if (room == NULL)
        return;
    pd_member_free(pd_member_unlink(srv, room, rj->job.user));
    pd_room_unsubscribe_user(room, rj->job.user);
    if (rj->created_room)
        pd_room_destroy(srv, room);
}

static void join_done(struct pd_store_job *job)
{
    struct pd_room_job *rj = (struct pd_room_job *)job;
    struct server *srv = rj->srv;
    struct pd_room *room = pd_room_find(srv, job->room);
    struct pd_conn *c = pd_conn_find(srv, rj->conn_id);
    struct pd_member *m;

    if (room == NULL || job->rc != PD_OK) {
        pd_error("storing membership of '%s' in '%s' failed: %s", job->user, job->room,
                 pd_err_name(job->rc));
        join_rollback(srv, rj);
        if (c != NULL)
            pd_ack_err(c, rj->req_id, "join:chat", PD_E_INTERNAL,
                       "could not store the membership of room '%s'", job->room);
        room_job_free(rj);
        return;
    }
    /* The store started the member's pointers at the room's last seq when
     * the join committed, which is what memory holds now: completions run
     * in commit order. */
    m = pd_room_member(room, job->user);
    if (m != NULL)
        m->pending = false;
    if (m != NULL && m->last_read_seq < room->last_seq)
        m->last_read_seq = m->last_delivered_seq = room->last_seq;
    if (c != NULL && !c->closing) {
        if (pd_room_subscribe(room, c, pd_now_ms()) != 0)
            pd_ack_err(c, rj->req_id, "join:chat", PD_E_INTERNAL, "out of memory");
        else
            pd_ack_ok(c, rj->req_id, join_ack(srv, room, job->owner));
    }
    cJSON *ev = cJSON_CreateObject();
    cJSON *head = pd_bus_head(srv, "join", room->name);
    cJSON_AddStringToObject(ev, "room", room->name);
    cJSON_AddStringToObject(ev, "user", job->user);
    cJSON_AddStringToObject(ev, "name", job->name);
    if (head != NULL) {
        /* What another node needs to mirror the room and the member. */
        cJSON_AddStringToObject(head, "u", job->user);
        cJSON_AddStringToObject(head, "nm", job->name);
        cJSON_AddBoolToObject(head, "o", job->owner);
        cJSON_AddBoolToObject(head, "p", room->is_private);
        cJSON_AddStringToObject(head, "cb", room->created_by);
        pd_json_add_int(head, "ca", room->created_at);
        pd_json_add_int(head, "ja", job->now);
        pd_json_add_int(head, "s", m != NULL ? m->last_read_seq : room->last_seq);
    }
    pd_room_push_bus(srv, room, "room:user-joined", ev, c, head);
    room_job_free(rj);
}

enum pd_err pd_handle_join(struct pd_req *r)
{
    const struct pd_identity *id = &r->conn->ident;
    const char *name;
    bool is_private = false, created = false;
    struct pd_room *room;
    struct pd_member *m;
    struct pd_room_job *rj;
    struct pd_actor actor;
    enum pd_err e;

    if ((e = pd_req_room(r, "room", &name)) != PD_OK ||
        (e = pd_req_bool(r, "private", &is_private, NULL)) != PD_OK)
        return e;

    room = pd_room_find(r->srv, name);
    actor = pd_room_actor(room, id);
    if (room != NULL && (m = pd_room_member(room, id->sub)) != NULL) {
        /* Already a member (another device, or a rejoin): only subscribe. */
        if (pd_room_subscribe(room, r->conn, pd_now_ms()) != 0)
            return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
        r->result = join_ack(r->srv, room, m->owner);
        return PD_OK;
    }
    if (room != NULL && !pd_may_join(&actor, room->is_private))
        return pd_req_fail(r, PD_E_FORBIDDEN, "room '%s' is private: join by invitation only",
                           name);
    /* rooms_per_user (PROTOCOL.md 8): only a join that adds a membership
     * counts; memberships still being stored are counted too. */
    {
        const struct pd_user *u = pd_user_find(r->srv, id->sub);
        unsigned limit = r->srv->cfg.rooms_per_user;
        if (limit > 0 && u != NULL && u->nrooms >= limit)
            return pd_req_fail(r, PD_E_FORBIDDEN, "member of too many rooms (limit %u)", limit);
    }

    rj = room_job_new(r, PD_OP_JOIN, name, id->sub, join_done);
    if (rj == NULL || (rj->job.name = strdup(id->name)) == NULL) {
        free(rj);
        return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
    }
    if (room == NULL) {
        room = pd_room_create(r->srv, name, is_private, id->sub, rj->job.now);
        if (room == NULL) {
            room_job_free(rj);
            return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
        }
        created = rj->created_room = true;
    }
    /* The creator, and whoever rejoins a room they created, owns it. */
    rj->job.owner = created || strcmp(room->created_by, id->sub) == 0;
    rj->job.is_private = room->is_private;
    m = pd_member_add(r->srv, room, id->sub, id->name, rj->job.owner, rj->job.now,
                      room->last_seq, room->last_seq);
    if (m != NULL)
        m->pending = true;
    if (m == NULL || pd_store_submit(r->srv->store, &rj->job) != 0) {
        join_rollback(r->srv, rj);
        room_job_free(rj);
        return pd_req_fail(r, PD_E_INTERNAL, m ? "the server is shutting down" : "out of memory");
    }
    r->deferred = true;
    return PD_OK;
}

/* ---- leave:chat ------------------------------------------------------------------ */

static void leave_done(struct pd_store_job *job)
{
    struct pd_room_job *rj = (struct pd_room_job *)job;
    struct server *srv = rj->srv;
    struct pd_room *room = pd_room_find(srv, job->room);
    struct pd_conn *c = pd_conn_find(srv, rj->conn_id);

    if (job->rc != PD_OK || room == NULL) {
        pd_error("storing the departure of '%s' from '%s' failed: %s", job->user, job->room,
                 pd_err_name(job->rc));
        /* Nothing changed in the store: nor may it here. */
        if (room != NULL && pd_room_member(room, job->user) == NULL &&
            pd_member_relink(srv, room, rj->removed) == 0)
            rj->removed = NULL;
        if (c != NULL)
            pd_ack_err(c, rj->req_id, "leave:chat", PD_E_INTERNAL,
                       "could not store leaving room '%s'", job->room);
        room_job_free(rj);
        return;
    }
    if (c != NULL) {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "room", room->name);
        pd_ack_ok(c, rj->req_id, data);
    }
    cJSON *ev = cJSON_CreateObject();
    cJSON *head = pd_bus_head(srv, "leave", room->name);
    cJSON_AddStringToObject(ev, "room", room->name);
    cJSON_AddStringToObject(ev, "user", job->user);
    if (head != NULL)
        cJSON_AddStringToObject(head, "u", job->user);
    pd_room_push_bus(srv, room, "room:user-left", ev, NULL, head);
    room_job_free(rj);
}

enum pd_err pd_handle_leave(struct pd_req *r)
{
    struct pd_room *room;
    struct pd_member *m;
    struct pd_room_job *rj;
    enum pd_err e = pd_req_member_room(r, "room", &room, &m);

    if (e != PD_OK)
        return e;
    rj = room_job_new(r, PD_OP_LEAVE, room->name, m->user, leave_done);
    if (rj == NULL)
        return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
    rj->removed = pd_member_unlink(r->srv, room, m->user);
    pd_room_unsubscribe_user(room, m->user);
    pd_typing_forget(r->srv, room, m->user);
    if (pd_store_submit(r->srv->store, &rj->job) != 0) {
        /* Not stored, so not left: put the member back. */
        if (pd_member_relink(r->srv, room, rj->removed) == 0)
            rj->removed = NULL;
        room_job_free(rj);
        return pd_req_fail(r, PD_E_INTERNAL, "the server is shutting down");
    }
    r->deferred = true;
    return PD_OK;
}

/* ---- room:invite ------------------------------------------------------------------ */

static void invite_done(struct pd_store_job *job)
{
    struct pd_room_job *rj = (struct pd_room_job *)job;
    struct pd_conn *c = pd_conn_find(rj->srv, rj->conn_id);
    struct pd_room *room = pd_room_find(rj->srv, job->room);

    if (job->rc != PD_OK || room == NULL || pd_room_invite(room, job->user) != 0) {
        if (c != NULL)
            pd_ack_err(c, rj->req_id, "room:invite", PD_E_INTERNAL,
                       "could not store the invitation to room '%s'", job->room);
    } else {
        cJSON *head = pd_bus_head(rj->srv, "inv", room->name);
        if (head != NULL) {
            cJSON_AddStringToObject(head, "u", job->user);
            pd_cluster_publish(rj->srv, head, NULL, 0);
        }
        if (c != NULL) {
            cJSON *data = cJSON_CreateObject();
            cJSON_AddStringToObject(data, "room", room->name);
            cJSON_AddStringToObject(data, "user", job->user);
            pd_ack_ok(c, rj->req_id, data);
        }
    }
    room_job_free(rj);
}

enum pd_err pd_handle_invite(struct pd_req *r)
{
    const char *name, *user;
    struct pd_room *room;
    struct pd_actor actor;
    struct pd_room_job *rj;
    enum pd_err e;

    if ((e = pd_req_room(r, "room", &name)) != PD_OK ||
        (e = pd_req_string(r, "user", true, 1, PD_NAME_MAX, &user, NULL)) != PD_OK)
        return e;
    if (!pd_valid_user_id(user))
        return pd_req_fail(r, PD_E_BAD_REQUEST,
                           "field 'user' must be 1 to 64 characters of [A-Za-z0-9_.@-]");
    room = pd_room_find(r->srv, name);
    actor = pd_room_actor(room, &r->conn->ident);
    if (!actor.member)
        return pd_req_fail(r, PD_E_FORBIDDEN, "not a member of room '%s'", name);
    if (!pd_may_invite(&actor))
        return pd_req_fail(r, PD_E_FORBIDDEN,
                           "only the owner of room '%s' or an admin may invite", name);
    rj = room_job_new(r, PD_OP_INVITE, room->name, user, invite_done);
    if (rj == NULL || (rj->job.name = strdup(r->conn->ident.sub)) == NULL) {
        free(rj);
        return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
    }
    if (pd_store_submit(r->srv->store, &rj->job) != 0) {
        room_job_free(rj);
        return pd_req_fail(r, PD_E_INTERNAL, "the server is shutting down");
    }
    r->deferred = true;
    return PD_OK;
}
