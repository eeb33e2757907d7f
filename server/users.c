#include "users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "grow.h"
#include "hmap.h"
#include "server.h"

struct pd_users {
    struct pd_hmap by_id; /* id -> struct pd_user */
};

int pd_users_init(struct server *srv)
{
    srv->users = calloc(1, sizeof(*srv->users));
    return srv->users ? 0 : -1;
}

static void user_free(struct pd_user *u)
{
    free(u->conns);
    free(u->rooms);
    free(u);
}

void pd_users_free(struct server *srv)
{
    size_t pos = 0;
    struct pd_user *u;

    if (srv->users == NULL)
        return;
    while ((u = pd_hmap_next(&srv->users->by_id, &pos, NULL)) != NULL)
        user_free(u);
    pd_hmap_free(&srv->users->by_id);
    free(srv->users);
    srv->users = NULL;
}

struct pd_user *pd_user_find(struct server *srv, const char *id)
{
    return pd_hmap_get(&srv->users->by_id, id);
}

struct pd_user *pd_user_next(struct server *srv, size_t *pos)
{
    return pd_hmap_next(&srv->users->by_id, pos, NULL);
}

static struct pd_user *ensure(struct server *srv, const char *id)
{
    struct pd_user *u = pd_user_find(srv, id);

    if (u != NULL)
        return u;
    u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    snprintf(u->id, sizeof(u->id), "%s", id);
    if (pd_hmap_put(&srv->users->by_id, u->id, u) != 0) {
        free(u);
        return NULL;
    }
    return u;
}

static void release_if_empty(struct server *srv, struct pd_user *u)
{
    if (u->nconns == 0 && u->nrooms == 0) {
        pd_hmap_del(&srv->users->by_id, u->id);
        user_free(u);
    }
}

/* Removes p from an array of pointers (order is not kept). */
#define DROP(arr, n, p)                         \
    do {                                        \
        for (size_t i_ = 0; i_ < (n); i_++)     \
            if ((arr)[i_] == (p)) {             \
                (arr)[i_] = (arr)[--(n)];       \
                break;                          \
            }                                   \
    } while (0)

int pd_user_add_conn(struct server *srv, struct pd_conn *c)
{
    struct pd_user *u = ensure(srv, c->ident.sub);

    if (u == NULL)
        return -1;
    struct pd_conn **conns = pd_grow(u->conns, &u->conns_cap, u->nconns, sizeof(*conns));
    if (conns == NULL) {
        release_if_empty(srv, u);
        return -1;
    }
    u->conns = conns;
    u->conns[u->nconns++] = c;
    return 0;
}

int pd_user_add_room(struct server *srv, const char *id, struct pd_room *room)
{
    struct pd_user *u = ensure(srv, id);

    if (u == NULL)
        return -1;
    struct pd_room **rooms = pd_grow(u->rooms, &u->rooms_cap, u->nrooms, sizeof(*rooms));
    if (rooms == NULL) {
        release_if_empty(srv, u);
        return -1;
    }
    u->rooms = rooms;
    u->rooms[u->nrooms++] = room;
    return 0;
}

void pd_user_del_conn(struct server *srv, struct pd_conn *c)
{
    struct pd_user *u = pd_user_find(srv, c->ident.sub);

    if (u == NULL)
        return;
    DROP(u->conns, u->nconns, c);
    release_if_empty(srv, u);
}

void pd_user_del_room(struct server *srv, const char *id, struct pd_room *room)
{
    struct pd_user *u = pd_user_find(srv, id);

    if (u == NULL)
        return;
    DROP(u->rooms, u->nrooms, room);
    release_if_empty(srv, u);
}
