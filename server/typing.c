#include "typing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster.h"
#include "conn.h"
#include "grow.h"
#include "log.h"
#include "loop.h"
#include "rooms.h"
#include "server.h"

/* How often expiry is checked: a typing:false arrives at most this late. */
#define PD_TYPING_TICK_MS 200

struct pd_typing {
    /* Rooms with at least one typist: the only ones the tick looks at. */
    struct pd_room **active;
    size_t nactive, cap;
};

/* Pushes the change here and, when it happened here (not `remote`), to
 * the other nodes. */
/* The bus head telling the other nodes user is (not) typing in room;
 * NULL when this node is alone. */
static cJSON *typing_head(struct server *srv, const struct pd_room *room, const char *user,
                          bool typing)
{
    cJSON *head = pd_bus_head(srv, "typ", room->name);

    if (head != NULL) {
        cJSON_AddStringToObject(head, "u", user);
        cJSON_AddBoolToObject(head, "t", typing);
    }
    return head;
}

static void push_state(struct server *srv, struct pd_room *room, const char *user, bool typing,
                       uint64_t except_conn, bool remote)
{
    cJSON *data = cJSON_CreateObject();

    cJSON_AddStringToObject(data, "room", room->name);
    cJSON_AddStringToObject(data, "user", user);
    cJSON_AddBoolToObject(data, "typing", typing);
    pd_room_push_bus(srv, room, "message:typing", data, pd_conn_find(srv, except_conn),
                     remote ? NULL : typing_head(srv, room, user, typing));
}

static struct pd_typist *find_typist(struct pd_room *room, const char *user)
{
    for (size_t i = 0; i < room->ntypists; i++)
        if (strcmp(room->typists[i].user, user) == 0)
            return &room->typists[i];
    return NULL;
}

static void deactivate(struct pd_typing *t, struct pd_room *room)
{
    for (size_t i = 0; i < t->nactive; i++)
        if (t->active[i] == room) {
            t->active[i] = t->active[--t->nactive];
            return;
        }
}

/* Removes room->typists[i], pushing typing:false when push is set. */
static void end_typist(struct server *srv, struct pd_room *room, size_t i, bool push)
{
    struct pd_typist gone = room->typists[i];

    room->typists[i] = room->typists[--room->ntypists];
    if (room->ntypists == 0)
        deactivate(srv->typing, room);
    if (push)
        push_state(srv, room, gone.user, false, gone.conn_id, gone.remote);
}

static void tick(void *arg, int64_t now)
{
    struct server *srv = arg;
    struct pd_typing *t = srv->typing;

    /* Backwards: end_typist may move the last active room into slot i. */
    for (size_t i = t->nactive; i-- > 0;) {
        struct pd_room *room = t->active[i];
        for (size_t j = room->ntypists; j-- > 0;)
            if (room->typists[j].expires <= now)
                end_typist(srv, room, j, true);
    }
}

int pd_typing_init(struct server *srv)
{
    srv->typing = calloc(1, sizeof(*srv->typing));
    if (srv->typing == NULL)
        return -1;
    return pd_loop_every(srv->loop, PD_TYPING_TICK_MS, tick, srv);
}

void pd_typing_free(struct server *srv)
{
    if (srv->typing != NULL) {
        free(srv->typing->active);
        free(srv->typing);
        srv->typing = NULL;
    }
}

/* A new typist; 0, or -1 when out of memory. */
static int add_typist(struct server *srv, struct pd_room *room, const char *user,
                      uint64_t conn_id, int64_t expires, bool remote)
{
    struct pd_typing *t = srv->typing;
    struct pd_typist *typists, *ty;

    typists = pd_grow(room->typists, &room->typists_cap, room->ntypists, sizeof(*typists));
    if (typists == NULL)
        return -1;
    room->typists = typists;
    if (room->ntypists == 0) {
        struct pd_room **active = pd_grow(t->active, &t->cap, t->nactive, sizeof(*active));
        if (active == NULL)
            return -1;
        t->active = active;
        t->active[t->nactive++] = room;
    }
    ty = &room->typists[room->ntypists++];
    snprintf(ty->user, sizeof(ty->user), "%s", user);
    ty->conn_id = conn_id;
    ty->expires = expires;
    ty->told = pd_mono_ms();
    ty->remote = remote;
    return 0;
}

enum pd_err pd_handle_typing(struct pd_req *r)
{
    struct pd_room *room;
    struct pd_typist *ty;
    bool typing = false, present;
    enum pd_err e;

    if ((e = pd_req_member_room(r, "room", &room, NULL)) != PD_OK ||
        (e = pd_req_bool(r, "typing", &typing, &present)) != PD_OK)
        return e;
    if (!present)
        return pd_req_fail(r, PD_E_BAD_REQUEST, "field 'typing' is required");

    ty = find_typist(room, r->conn->ident.sub);
    if (typing && ty != NULL) {
        /* A keystroke refresh: no push, the room already knows. Other
         * nodes expire it on their own, so they hear of it, at most
         * twice per typing_timeout. */
        int64_t now = pd_mono_ms(), timeout = (int64_t)r->srv->cfg.typing_timeout * 1000;
        ty->expires = now + timeout;
        ty->conn_id = r->conn->id;
        ty->remote = false;
        if (now - ty->told >= timeout / 2) {
            ty->told = now;
            pd_cluster_publish(r->srv, typing_head(r->srv, room, ty->user, true), NULL, 0);
        }
        return PD_OK;
    }
    if (typing) {
        if (add_typist(r->srv, room, r->conn->ident.sub, r->conn->id,
                       pd_mono_ms() + (int64_t)r->srv->cfg.typing_timeout * 1000, false) != 0)
            return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
        push_state(r->srv, room, r->conn->ident.sub, true, r->conn->id, false);
        return PD_OK;
    }
    if (ty != NULL) {
        ty->conn_id = r->conn->id;
        end_typist(r->srv, room, (size_t)(ty - room->typists), true);
    }
    return PD_OK;
}

enum pd_err pd_handle_typing_users(struct pd_req *r)
{
    struct pd_room *room;
    cJSON *users;
    enum pd_err e = pd_req_member_room(r, "room", &room, NULL);

    if (e != PD_OK)
        return e;
    r->result = cJSON_CreateObject();
    cJSON_AddStringToObject(r->result, "room", room->name);
    users = cJSON_AddArrayToObject(r->result, "users");
    for (size_t i = 0; i < room->ntypists; i++)
        cJSON_AddItemToArray(users, cJSON_CreateString(room->typists[i].user));
    return PD_OK;
}

void pd_typing_conn_close(struct server *srv, struct pd_conn *c)
{
    struct pd_typing *t = srv->typing;

    for (size_t i = t->nactive; i-- > 0;) {
        struct pd_room *room = t->active[i];
        for (size_t j = room->ntypists; j-- > 0;)
            if (room->typists[j].conn_id == c->id)
                end_typist(srv, room, j, true);
    }
}

void pd_typing_forget(struct server *srv, struct pd_room *room, const char *user)
{
    struct pd_typist *ty = find_typist(room, user);

    if (ty != NULL)
        end_typist(srv, room, (size_t)(ty - room->typists), false);
}

void pd_typing_remote(struct server *srv, struct pd_room *room, const char *user, bool typing)
{
    struct pd_typist *ty = find_typist(room, user);
    /* The origin ends it itself; this expiry only covers an origin that
     * died meanwhile, so it comes a second later. */
    int64_t expires = pd_mono_ms() + (int64_t)srv->cfg.typing_timeout * 1000 + 1000;

    if (typing && ty != NULL) {
        ty->expires = expires;
    } else if (typing) {
        if (add_typist(srv, room, user, 0, expires, true) != 0)
            pd_error("cluster: out of memory recording '%s' typing in '%s'", user, room->name);
    } else if (ty != NULL) {
        end_typist(srv, room, (size_t)(ty - room->typists), false);
    }
}
