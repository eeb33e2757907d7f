#include "rooms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "conn.h"
#include "grow.h"
#include "log.h"
#include "messaging.h"
#include "presence.h"
#include "recovery.h"
#include "server.h"
#include "store.h"
#include "users.h"

struct pd_rooms {
    struct pd_hmap by_name; /* name -> struct pd_room */
};

/* ---- state ----------------------------------------------------------------- */

void pd_member_free(struct pd_member *m)
{
    if (m) {
        free(m->name);
        free(m);
    }
}

static void room_free(struct pd_room *room)
{
    size_t pos = 0;
    void *v;

    while ((v = pd_hmap_next(&room->members, &pos, NULL)) != NULL)
        pd_member_free(v);
    pos = 0;
    while ((v = pd_hmap_next(&room->invites, &pos, NULL)) != NULL)
        free(v);
    pd_hmap_free(&room->members);
    pd_hmap_free(&room->invites);
    free(room->subs);
    free(room->typists);
    free(room);
}

struct pd_room *pd_room_find(struct server *srv, const char *name)
{
    return pd_hmap_get(&srv->rooms->by_name, name);
}

struct pd_member *pd_room_member(const struct pd_room *room, const char *user)
{
    return pd_hmap_get(&room->members, user);
}

struct pd_room *pd_room_next(struct server *srv, size_t *pos)
{
    return pd_hmap_next(&srv->rooms->by_name, pos, NULL);
}

struct pd_room *pd_room_create(struct server *srv, const char *name, bool is_private,
                               const char *created_by, int64_t created_at)
{
    struct pd_room *room = calloc(1, sizeof(*room));

    if (room == NULL)
        return NULL;
    snprintf(room->name, sizeof(room->name), "%s", name);
    snprintf(room->created_by, sizeof(room->created_by), "%s", created_by);
    room->is_private = is_private;
    room->created_at = created_at;
    if (pd_hmap_put(&srv->rooms->by_name, room->name, room) != 0) {
        free(room);
        return NULL;
    }
    return room;
}

void pd_room_destroy(struct server *srv, struct pd_room *room)
{
    /* Members are in the user index too: only an empty room may go. */
    if (room->members.len != 0)
        return;
    while (room->nsubs > 0)
        pd_room_unsubscribe(room, room->subs[room->nsubs - 1].conn);
    pd_hmap_del(&srv->rooms->by_name, room->name);
    room_free(room);
}

int pd_member_relink(struct server *srv, struct pd_room *room, struct pd_member *m)
{
    if (pd_hmap_put(&room->members, m->user, m) != 0)
        return -1;
    if (pd_user_add_room(srv, m->user, room) != 0) {
        pd_hmap_del(&room->members, m->user);
        return -1;
    }
    return 0;
}

struct pd_member *pd_member_add(struct server *srv, struct pd_room *room, const char *user,
                                const char *name, bool owner, int64_t joined_at,
                                int64_t read_seq, int64_t delivered_seq)
{
    struct pd_member *m = calloc(1, sizeof(*m));

    if (m == NULL || (m->name = strdup(name)) == NULL) {
        free(m);
        return NULL;
    }
    snprintf(m->user, sizeof(m->user), "%s", user);
    m->owner = owner;
    m->joined_at = joined_at;
    m->last_read_seq = read_seq;
    m->last_delivered_seq = delivered_seq > read_seq ? delivered_seq : read_seq;
    if (pd_member_relink(srv, room, m) != 0) {
        pd_member_free(m);
        return NULL;
    }
    return m;
}

struct pd_member *pd_member_unlink(struct server *srv, struct pd_room *room, const char *user)
{
    struct pd_member *m = pd_hmap_del(&room->members, user);

    if (m != NULL)
        pd_user_del_room(srv, m->user, room);
    return m;
}

int pd_room_invite(struct pd_room *room, const char *user)
{
    char *key;

    if (pd_hmap_get(&room->invites, user) != NULL)
        return 0;
    key = strdup(user);
    if (key == NULL || pd_hmap_put(&room->invites, key, key) != 0) {
        free(key);
        return -1;
    }
    return 0;
}

struct pd_actor pd_room_actor(const struct pd_room *room, const struct pd_identity *id)
{
    struct pd_actor a = {.admin = id->admin};
    const struct pd_member *m;

    if (room == NULL)
        return a;
    m = pd_room_member(room, id->sub);
    a.member = m != NULL;
    /* The creator owns the room, also between leaving and rejoining it. */
    a.owner = strcmp(room->created_by, id->sub) == 0;
    a.invited = pd_hmap_get(&room->invites, id->sub) != NULL;
    return a;
}

/* ---- loading ------------------------------------------------------------------ */

struct load {
    struct server *srv;
    int64_t gen;
};

/* At start, and again in a cluster (what other nodes changed): a room
 * missing here is made, one here is brought up to the stored seq (its
 * subscribers get the messages they missed). */
static int load_room(void *arg, const struct pd_room_row *row)
{
    struct load *ld = arg;
    struct pd_room *room = pd_room_find(ld->srv, row->room);

    if (room == NULL &&
        (room = pd_room_create(ld->srv, row->room, row->is_private, row->created_by,
                               row->created_at)) == NULL)
        return -1;
    if (row->deleted_count > room->deleted_count)
        room->deleted_count = row->deleted_count;
    pd_room_catch_up(ld->srv, room, row->last_seq);
    return 0;
}

/* A member missing here is added, one here has its pointers moved
 * forward; either is marked as found with this load's gen. */
static int load_member(void *arg, const struct pd_member_row *row)
{
    struct load *ld = arg;
    struct pd_room *room = pd_room_find(ld->srv, row->room);
    struct pd_member *m;

    if (room == NULL) /* foreign keys make this impossible; skip rather than die */
        return 0;
    m = pd_room_member(room, row->user);
    if (m == NULL &&
        (m = pd_member_add(ld->srv, room, row->user, row->name, row->owner, row->joined_at,
                           row->last_read_seq, row->last_delivered_seq)) == NULL)
        return -1;
    pd_member_advance(m, row->last_read_seq, row->last_delivered_seq);
    m->seen = ld->gen;
    return 0;
}

static int load_invite(void *arg, const struct pd_invite_row *row)
{
    struct load *ld = arg;
    struct pd_room *room = pd_room_find(ld->srv, row->room);

    return room == NULL ? 0 : pd_room_invite(room, row->user);
}

int pd_rooms_load(struct server *srv, int64_t gen)
{
    struct load ld = {.srv = srv, .gen = gen};

    return pd_store_each_room(srv->store, load_room, &ld) != 0 ||
                   pd_store_each_member(srv->store, load_member, &ld) != 0 ||
                   pd_store_each_invite(srv->store, load_invite, &ld) != 0
               ? -1
               : 0;
}

void pd_member_advance(struct pd_member *m, int64_t read, int64_t delivered)
{
    if (m == NULL)
        return;
    if (read > m->last_read_seq)
        m->last_read_seq = read;
    if (delivered < m->last_read_seq)
        delivered = m->last_read_seq;
    if (delivered > m->last_delivered_seq)
        m->last_delivered_seq = delivered;
}

int pd_rooms_init(struct server *srv, char *err, size_t errlen)
{
    srv->rooms = calloc(1, sizeof(*srv->rooms));
    if (srv->rooms == NULL || pd_users_init(srv) != 0) {
        snprintf(err, errlen, "out of memory");
        pd_rooms_free(srv);
        return -1;
    }
    if (pd_rooms_load(srv, 0) != 0) {
        snprintf(err, errlen, "could not load rooms, members and invitations from the store");
        pd_rooms_free(srv);
        return -1;
    }
    pd_info("loaded %zu rooms", srv->rooms->by_name.len);
    return 0;
}

void pd_rooms_free(struct server *srv)
{
    size_t pos = 0;
    struct pd_room *room;

    if (srv->rooms != NULL) {
        while ((room = pd_hmap_next(&srv->rooms->by_name, &pos, NULL)) != NULL)
            room_free(room);
        pd_hmap_free(&srv->rooms->by_name);
        free(srv->rooms);
        srv->rooms = NULL;
    }
    pd_users_free(srv);
}

/* ---- access ------------------------------------------------------------------ */

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

/* ---- subscriptions ------------------------------------------------------------ */

struct pd_sub *pd_conn_sub(struct pd_conn *c, const struct pd_room *room)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i].room == room)
            return &c->subs[i];
    return NULL;
}

bool pd_conn_subscribed(const struct pd_conn *c, const struct pd_room *room)
{
    return pd_conn_sub((struct pd_conn *)c, room) != NULL;
}

int pd_room_subscribe(struct pd_room *room, struct pd_conn *c, int64_t now)
{
    struct pd_room_sub *rsubs;
    struct pd_sub *csubs;

    if (pd_conn_subscribed(c, room))
        return 0;
    rsubs = pd_grow(room->subs, &room->subs_cap, room->nsubs, sizeof(*rsubs));
    if (rsubs == NULL)
        return -1;
    room->subs = rsubs;
    csubs = pd_grow(c->subs, &c->subs_cap, c->nsubs, sizeof(*csubs));
    if (csubs == NULL)
        return -1;
    c->subs = csubs;
    room->subs[room->nsubs] = (struct pd_room_sub){c, c->nsubs};
    c->subs[c->nsubs] = (struct pd_sub){room, room->nsubs, now, room->last_seq, room->last_seq};
    room->nsubs++;
    c->nsubs++;
    pd_session_touch(c);
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

bool pd_room_unsubscribe(struct pd_room *room, struct pd_conn *c)
{
    for (size_t j = 0; j < c->nsubs; j++)
        if (c->subs[j].room == room) {
            unsubscribe_at(c, j);
            pd_session_touch(c);
            return true;
        }
    return false;
}

void pd_room_unsubscribe_user(struct pd_room *room, const char *user)
{
    for (size_t i = room->nsubs; i-- > 0;) {
        struct pd_conn *c = room->subs[i].conn;
        if (strcmp(c->ident.sub, user) == 0) {
            unsubscribe_at(c, room->subs[i].conn_idx);
            pd_session_touch(c);
        }
    }
}

int pd_rooms_conn_open(struct server *srv, struct pd_conn *c)
{
    return pd_user_add_conn(srv, c);
}

void pd_rooms_conn_close(struct server *srv, struct pd_conn *c)
{
    while (c->nsubs > 0)
        unsubscribe_at(c, c->nsubs - 1);
    free(c->subs);
    c->subs = NULL;
    c->subs_cap = 0;
    pd_user_del_conn(srv, c);
}

/* ---- pushes ------------------------------------------------------------------ */

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

void pd_room_broadcast_seq(struct pd_room *room, const char *json, size_t len,
                           const struct pd_conn *except, int64_t seq)
{
    struct pd_frame *f = NULL;

    for (size_t i = 0; i < room->nsubs; i++) {
        struct pd_conn *c = room->subs[i].conn;
        struct pd_sub *sub = &c->subs[room->subs[i].conn_idx];
        /* Already written (a gap read from the store before this one came
         * over the bus, or a replay): once is enough. */
        if (c == except || c->closing || sub->last_seq >= seq)
            continue;
        if (f == NULL && (f = pd_frame_text(json, len)) == NULL) {
            pd_error("out of memory framing a push to room '%s'", room->name);
            return;
        }
        pd_conn_send_frame(c, f);
        sub->last_seq = seq;
    }
    free(f);
}

/* {"event": event, "data": data} as JSON text (taking data); NULL when out
 * of memory. Free with cJSON_free. */
static char *push_text(const char *event, cJSON *data)
{
    cJSON *root = cJSON_CreateObject();
    char *json = NULL;

    if (root == NULL) {
        cJSON_Delete(data);
        return NULL;
    }
    cJSON_AddStringToObject(root, "event", event);
    cJSON_AddItemToObject(root, "data", data);
    json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return json;
}

void pd_room_push_bus(struct server *srv, struct pd_room *room, const char *event, cJSON *data,
                      const struct pd_conn *except, cJSON *head)
{
    char *json = push_text(event, data);

    if (json == NULL) {
        cJSON_Delete(head);
        return;
    }
    pd_room_broadcast(room, json, strlen(json), except);
    pd_cluster_publish(srv, head, json, strlen(json));
    cJSON_free(json);
}

void pd_user_send_frame(struct server *srv, const char *user, const char *json, size_t len)
{
    struct pd_user *u = pd_user_find(srv, user);
    struct pd_frame *f;

    if (u == NULL || u->nconns == 0 || (f = pd_frame_text(json, len)) == NULL)
        return;
    for (size_t i = 0; i < u->nconns; i++)
        if (!u->conns[i]->closing)
            pd_conn_send_frame(u->conns[i], f);
    free(f);
}

/* ---- JSON ---------------------------------------------------------------------- */

bool pd_user_online(struct server *srv, const char *user)
{
    return strcmp(pd_presence_visible(srv, user), "offline") != 0;
}

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

void pd_room_add_fields(struct server *srv, cJSON *obj, const struct pd_room *room)
{
    cJSON_AddStringToObject(obj, "room", room->name);
    cJSON_AddBoolToObject(obj, "private", room->is_private);
    cJSON_AddStringToObject(obj, "created_by", room->created_by);
    pd_json_add_int(obj, "created_at", room->created_at);
    pd_json_add_int(obj, "member_count", (int64_t)room->members.len);
    pd_json_add_int(obj, "online_count", online_count(srv, room));
    pd_json_add_int(obj, "last_seq", room->last_seq);
}

cJSON *pd_member_json(struct server *srv, const struct pd_member *m)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "user", m->user);
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddStringToObject(o, "role", m->owner ? "owner" : "member");
    cJSON_AddStringToObject(o, "status", pd_presence_visible(srv, m->user));
    return o;
}

cJSON *pd_members_json(struct server *srv, const struct pd_room *room)
{
    cJSON *arr = cJSON_CreateArray();
    const struct pd_member *owner = pd_room_member(room, room->created_by);
    size_t pos = 0, n = 0;
    struct pd_member *m;

    if (owner != NULL) {
        cJSON_AddItemToArray(arr, pd_member_json(srv, owner));
        n++;
    }
    while (n < PD_MEMBERS_IN_ACK && (m = pd_hmap_next(&room->members, &pos, NULL)) != NULL) {
        if (m == owner)
            continue;
        cJSON_AddItemToArray(arr, pd_member_json(srv, m));
        n++;
    }
    return arr;
}
