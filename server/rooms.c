#include "rooms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "server.h"
#include "store.h"

#define PD_MEMBERS_IN_ACK 100

/* A user with at least one live connection. */
struct pd_online {
    char user[PD_NAME_MAX + 1];
    unsigned conns;
};

struct pd_rooms {
    struct pd_hmap rooms;  /* name -> struct pd_room */
    struct pd_hmap online; /* user -> struct pd_online */
};

/* A join or leave waiting for its commit. */
struct pd_room_job {
    struct pd_store_job job;
    struct server *srv;
    uint64_t conn_id;
    int64_t req_id;
    bool created_room;         /* join: this request created the room */
    struct pd_member *removed; /* leave: put back if the commit fails */
};

/* ---- state ----------------------------------------------------------------- */

static void member_free(struct pd_member *m)
{
    if (m) {
        free(m->name);
        free(m);
    }
}

static void room_free(struct pd_room *room)
{
    size_t pos = 0;
    struct pd_member *m;

    while ((m = pd_hmap_next(&room->members, &pos, NULL)) != NULL)
        member_free(m);
    pd_hmap_free(&room->members);
    free(room->subs);
    free(room);
}

static struct pd_room *room_add(struct pd_rooms *rs, const char *name, bool is_private,
                                const char *created_by, int64_t created_at, int64_t last_seq)
{
    struct pd_room *room = calloc(1, sizeof(*room));

    if (room == NULL)
        return NULL;
    snprintf(room->name, sizeof(room->name), "%s", name);
    snprintf(room->created_by, sizeof(room->created_by), "%s", created_by);
    room->is_private = is_private;
    room->created_at = created_at;
    room->last_seq = last_seq;
    if (pd_hmap_put(&rs->rooms, room->name, room) != 0) {
        free(room);
        return NULL;
    }
    return room;
}

static struct pd_member *member_add(struct pd_room *room, const char *user, const char *name,
                                    bool owner, int64_t joined_at, int64_t last_read_seq)
{
    struct pd_member *m = calloc(1, sizeof(*m));

    if (m == NULL || (m->name = strdup(name)) == NULL) {
        free(m);
        return NULL;
    }
    snprintf(m->user, sizeof(m->user), "%s", user);
    m->owner = owner;
    m->joined_at = joined_at;
    m->last_read_seq = last_read_seq;
    if (pd_hmap_put(&room->members, m->user, m) != 0) {
        member_free(m);
        return NULL;
    }
    return m;
}

struct pd_room *pd_room_find(struct server *srv, const char *name)
{
    return pd_hmap_get(&srv->rooms->rooms, name);
}

struct pd_member *pd_room_member(const struct pd_room *room, const char *user)
{
    return pd_hmap_get(&room->members, user);
}

bool pd_user_online(struct server *srv, const char *user)
{
    return pd_hmap_get(&srv->rooms->online, user) != NULL;
}

static int load_room(void *arg, const struct pd_room_row *row)
{
    return room_add(arg, row->room, row->is_private, row->created_by, row->created_at,
                    row->last_seq) ? 0 : -1;
}

static int load_member(void *arg, const struct pd_member_row *row)
{
    struct pd_room *room = pd_hmap_get(&((struct pd_rooms *)arg)->rooms, row->room);

    if (room == NULL) /* foreign keys make this impossible; skip rather than die */
        return 0;
    return member_add(room, row->user, row->name, row->owner, row->joined_at,
                      row->last_read_seq) ? 0 : -1;
}

int pd_rooms_init(struct server *srv, char *err, size_t errlen)
{
    struct pd_rooms *rs = calloc(1, sizeof(*rs));

    if (rs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    srv->rooms = rs;
    if (pd_store_each_room(srv->store, load_room, rs) != 0 ||
        pd_store_each_member(srv->store, load_member, rs) != 0) {
        snprintf(err, errlen, "could not load rooms and members from the store");
        pd_rooms_free(srv);
        return -1;
    }
    pd_info("loaded %zu rooms", rs->rooms.len);
    return 0;
}

void pd_rooms_free(struct server *srv)
{
    struct pd_rooms *rs = srv->rooms;
    size_t pos = 0;
    void *v;

    if (rs == NULL)
        return;
    while ((v = pd_hmap_next(&rs->rooms, &pos, NULL)) != NULL)
        room_free(v);
    pos = 0;
    while ((v = pd_hmap_next(&rs->online, &pos, NULL)) != NULL)
        free(v);
    pd_hmap_free(&rs->rooms);
    pd_hmap_free(&rs->online);
    free(rs);
    srv->rooms = NULL;
}

/* ---- subscriptions ------------------------------------------------------------ */

static bool is_subscribed(const struct pd_conn *c, const struct pd_room *room)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i].room == room)
            return true;
    return false;
}

/* Grows *arr (of elem-sized entries) to hold one more; 0 or -1. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    size_t newcap;
    void *p;

    if (n < *cap)
        return 0;
    newcap = *cap ? *cap * 2 : 4;
    p = realloc(*arr, newcap * elem);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = newcap;
    return 0;
}

static int subscribe(struct pd_room *room, struct pd_conn *c)
{
    if (is_subscribed(c, room))
        return 0;
    if (grow((void **)&room->subs, &room->subs_cap, room->nsubs, sizeof(*room->subs)) != 0 ||
        grow((void **)&c->subs, &c->subs_cap, c->nsubs, sizeof(*c->subs)) != 0)
        return -1;
    room->subs[room->nsubs] = (struct pd_room_sub){c, c->nsubs};
    c->subs[c->nsubs] = (struct pd_sub){room, room->nsubs};
    room->nsubs++;
    c->nsubs++;
    return 0;
}

/* Removes c->subs[j] and its twin, moving the last entry of each array into
 * the hole and fixing the moved entry's twin index. */
static void unsubscribe_at(struct pd_conn *c, size_t j)
{
    struct pd_room *room = c->subs[j].room;
    size_t i = c->subs[j].room_idx;

    room->subs[i] = room->subs[--room->nsubs];
    if (i < room->nsubs)
        room->subs[i].conn->subs[room->subs[i].conn_idx].room_idx = i;
    c->subs[j] = c->subs[--c->nsubs];
    if (j < c->nsubs)
        c->subs[j].room->subs[c->subs[j].room_idx].conn_idx = j;
}

/* Every connection of `user` stops receiving the room's pushes. */
static void unsubscribe_user(struct pd_room *room, const char *user)
{
    for (size_t i = room->nsubs; i-- > 0;) {
        struct pd_conn *c = room->subs[i].conn;
        if (strcmp(c->ident.sub, user) == 0)
            unsubscribe_at(c, room->subs[i].conn_idx);
    }
}

void pd_room_broadcast(struct pd_room *room, const char *json, size_t len,
                       const struct pd_conn *except)
{
    struct pd_frame *f;

    if (room->nsubs == 0 || (room->nsubs == 1 && room->subs[0].conn == except))
        return;
    f = pd_frame_text(json, len);
    if (f == NULL) {
        pd_error("out of memory framing a push to room '%s'", room->name);
        return;
    }
    for (size_t i = 0; i < room->nsubs; i++) {
        struct pd_conn *c = room->subs[i].conn;
        if (c != except && !c->closing)
            pd_conn_send_frame(c, f);
    }
    free(f);
}

/* Serializes {"event":event,"data":data} (taking data) and broadcasts it. */
static void room_push(struct pd_room *room, const char *event, cJSON *data,
                      const struct pd_conn *except)
{
    cJSON *root = cJSON_CreateObject();
    char *json;

    if (root == NULL) {
        cJSON_Delete(data);
        return;
    }
    cJSON_AddStringToObject(root, "event", event);
    cJSON_AddItemToObject(root, "data", data);
    json = cJSON_PrintUnformatted(root);
    if (json != NULL)
        pd_room_broadcast(room, json, strlen(json), except);
    cJSON_free(json);
    cJSON_Delete(root);
}

int pd_rooms_conn_open(struct server *srv, struct pd_conn *c)
{
    struct pd_rooms *rs = srv->rooms;
    struct pd_online *o = pd_hmap_get(&rs->online, c->ident.sub);

    if (o == NULL) {
        o = calloc(1, sizeof(*o));
        if (o == NULL)
            return -1;
        snprintf(o->user, sizeof(o->user), "%s", c->ident.sub);
        if (pd_hmap_put(&rs->online, o->user, o) != 0) {
            free(o);
            return -1;
        }
    }
    o->conns++;
    return 0;
}

void pd_rooms_conn_close(struct server *srv, struct pd_conn *c)
{
    struct pd_rooms *rs = srv->rooms;
    struct pd_online *o = pd_hmap_get(&rs->online, c->ident.sub);

    while (c->nsubs > 0)
        unsubscribe_at(c, c->nsubs - 1);
    free(c->subs);
    c->subs = NULL;
    c->subs_cap = 0;
    if (o != NULL && --o->conns == 0) {
        pd_hmap_del(&rs->online, o->user);
        free(o);
    }
}

/* ---- JSON ---------------------------------------------------------------------- */

static unsigned online_count(struct server *srv, const struct pd_room *room)
{
    size_t pos = 0;
    const char *user;
    unsigned n = 0;

    while (pd_hmap_next(&room->members, &pos, &user) != NULL)
        if (pd_user_online(srv, user))
            n++;
    return n;
}

/* The protocol's room object (section 3), as fields added to obj. */
static void add_room_fields(struct server *srv, cJSON *obj, const struct pd_room *room)
{
    cJSON_AddStringToObject(obj, "room", room->name);
    cJSON_AddBoolToObject(obj, "private", room->is_private);
    cJSON_AddStringToObject(obj, "created_by", room->created_by);
    pd_json_add_int(obj, "created_at", room->created_at);
    pd_json_add_int(obj, "member_count", room->members.len);
    pd_json_add_int(obj, "online_count", online_count(srv, room));
    pd_json_add_int(obj, "last_seq", room->last_seq);
}

static cJSON *members_json(struct server *srv, const struct pd_room *room)
{
    cJSON *arr = cJSON_CreateArray();
    size_t pos = 0, n = 0;
    struct pd_member *m;

    while (arr && n < PD_MEMBERS_IN_ACK && (m = pd_hmap_next(&room->members, &pos, NULL))) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "user", m->user);
        cJSON_AddStringToObject(o, "name", m->name);
        cJSON_AddStringToObject(o, "role", m->owner ? "owner" : "member");
        cJSON_AddStringToObject(o, "status", pd_user_online(srv, m->user) ? "online" : "offline");
        cJSON_AddItemToArray(arr, o);
        n++;
    }
    return arr;
}

/* join:chat ack data: the room object, the caller's role, the members. */
static cJSON *join_ack(struct server *srv, const struct pd_room *room, bool owner)
{
    cJSON *data = cJSON_CreateObject();

    add_room_fields(srv, data, room);
    cJSON_AddStringToObject(data, "role", owner ? "owner" : "member");
    cJSON_AddItemToObject(data, "members", members_json(srv, room));
    return data;
}

/* ---- access ---------------------------------------------------------------------- */

enum pd_err pd_req_member_room(struct pd_req *r, const char *field, struct pd_room **room,
                               struct pd_member **member)
{
    const char *name;
    enum pd_err e = pd_req_room(r, field, &name);
    struct pd_room *rm;
    struct pd_member *m = NULL;

    if (e != PD_OK)
        return e;
    rm = pd_room_find(r->srv, name);
    if (rm != NULL)
        m = pd_room_member(rm, r->conn->ident.sub);
    /* Same answer whether or not the room exists: no probing for private rooms. */
    if (m == NULL)
        return pd_req_fail(r, PD_E_FORBIDDEN, "not a member of room '%s'", name);
    *room = rm;
    if (member)
        *member = m;
    return PD_OK;
}

/* ---- join:chat ------------------------------------------------------------------- */

/* Undoes in memory what a join that could not be stored did. */
static void join_rollback(struct server *srv, struct pd_room_job *rj)
{
    struct pd_room *room = pd_room_find(srv, rj->job.room);

    if (room == NULL)
        return;
    member_free(pd_hmap_del(&room->members, rj->job.user));
    unsubscribe_user(room, rj->job.user);
    if (rj->created_room && room->members.len == 0) {
        pd_hmap_del(&srv->rooms->rooms, room->name);
        room_free(room);
    }
}

static void room_job_free(struct pd_room_job *rj)
{
    free((char *)rj->job.name);
    member_free(rj->removed);
    free(rj);
}

static void join_done(struct pd_store_job *job)
{
    struct pd_room_job *rj = (struct pd_room_job *)job;
    struct server *srv = rj->srv;
    struct pd_room *room = pd_room_find(srv, job->room);
    struct pd_conn *c = pd_conn_find(srv, rj->conn_id);

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
    if (c != NULL && !c->closing) {
        if (subscribe(room, c) != 0)
            pd_ack_err(c, rj->req_id, "join:chat", PD_E_INTERNAL, "out of memory");
        else
            pd_ack_ok(c, rj->req_id, join_ack(srv, room, job->owner));
    }
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "room", room->name);
    cJSON_AddStringToObject(ev, "user", job->user);
    cJSON_AddStringToObject(ev, "name", job->name);
    room_push(room, "room:user-joined", ev, c);
    room_job_free(rj);
}

enum pd_err pd_handle_join(struct pd_req *r)
{
    const struct pd_identity *id = &r->conn->ident;
    const char *name;
    bool is_private = false, created = false, owner;
    struct pd_room *room;
    struct pd_member *m;
    struct pd_room_job *rj;
    int64_t now = pd_now_ms();
    enum pd_err e;

    if ((e = pd_req_room(r, "room", &name)) != PD_OK ||
        (e = pd_req_bool(r, "private", &is_private, NULL)) != PD_OK)
        return e;

    room = pd_room_find(r->srv, name);
    if (room != NULL && (m = pd_room_member(room, id->sub)) != NULL) {
        /* Already a member (another device, or a rejoin): only subscribe. */
        if (subscribe(room, r->conn) != 0)
            return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
        r->result = join_ack(r->srv, room, m->owner);
        return PD_OK;
    }
    if (room != NULL && room->is_private && !id->admin && strcmp(room->created_by, id->sub) != 0)
        return pd_req_fail(r, PD_E_FORBIDDEN, "room '%s' is private: join by invitation only",
                           name);

    rj = calloc(1, sizeof(*rj));
    if (rj == NULL || (rj->job.name = strdup(id->name)) == NULL) {
        free(rj);
        return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
    }
    rj->srv = r->srv;
    rj->conn_id = r->conn->id;
    rj->req_id = r->id;
    rj->job.op = PD_OP_JOIN;
    rj->job.now = now;
    rj->job.done = join_done;
    snprintf(rj->job.room, sizeof(rj->job.room), "%s", name);
    snprintf(rj->job.user, sizeof(rj->job.user), "%s", id->sub);

    if (room == NULL) {
        room = room_add(r->srv->rooms, name, is_private, id->sub, now, 0);
        if (room == NULL) {
            room_job_free(rj);
            return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
        }
        created = rj->created_room = true;
    }
    /* The creator, and whoever rejoins a room they created, owns it. */
    owner = created || strcmp(room->created_by, id->sub) == 0;
    rj->job.is_private = room->is_private;
    rj->job.owner = owner;
    m = member_add(room, id->sub, id->name, owner, now, room->last_seq);
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
            pd_hmap_put(&room->members, rj->removed->user, rj->removed) == 0)
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
    cJSON_AddStringToObject(ev, "room", room->name);
    cJSON_AddStringToObject(ev, "user", job->user);
    room_push(room, "room:user-left", ev, NULL);
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
    rj = calloc(1, sizeof(*rj));
    if (rj == NULL)
        return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
    pd_hmap_del(&room->members, m->user);
    unsubscribe_user(room, m->user);
    rj->srv = r->srv;
    rj->conn_id = r->conn->id;
    rj->req_id = r->id;
    rj->removed = m;
    rj->job.op = PD_OP_LEAVE;
    snprintf(rj->job.room, sizeof(rj->job.room), "%s", room->name);
    snprintf(rj->job.user, sizeof(rj->job.user), "%s", m->user);
    rj->job.now = pd_now_ms();
    rj->job.done = leave_done;
    if (pd_store_submit(r->srv->store, &rj->job) != 0) {
        /* Not stored, so not left: put the member back. */
        if (pd_hmap_put(&room->members, m->user, m) == 0)
            rj->removed = NULL;
        room_job_free(rj);
        return pd_req_fail(r, PD_E_INTERNAL, "the server is shutting down");
    }
    r->deferred = true;
    return PD_OK;
}
