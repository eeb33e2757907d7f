/* The registry of users the server knows right now: each one's live
 * connections and the rooms they are a member of. It answers "every
 * connection of the author" (receipts) and "every room of this user"
 * (room:list) without scanning all rooms or all connections. A user with
 * neither connections nor memberships is not kept. */
#ifndef PD_USERS_H
#define PD_USERS_H

#include <stddef.h>

#include "text.h"

struct server;
struct pd_conn;
struct pd_room;

/* What the user set with presence:update-status; OFFLINE while connected
 * means invisible. Meaningful only while the user has connections. */
enum pd_status {
    PD_STATUS_ONLINE,
    PD_STATUS_AWAY,
    PD_STATUS_BUSY,
    PD_STATUS_OFFLINE,
    PD_STATUS__COUNT
};

struct pd_user {
    char id[PD_NAME_MAX + 1];
    struct pd_conn **conns;
    size_t nconns, conns_cap;
    struct pd_room **rooms;
    size_t nrooms, rooms_cap;
    enum pd_status status;
};

int pd_users_init(struct server *srv);
void pd_users_free(struct server *srv);

/* The user, or NULL when they have no connection and no membership. */
struct pd_user *pd_user_find(struct server *srv, const char *id);

/* Every known user: start with *pos = 0; NULL at the end. */
struct pd_user *pd_user_next(struct server *srv, size_t *pos);

/* Each returns 0, or -1 when out of memory (nothing changed then). */
int pd_user_add_conn(struct server *srv, struct pd_conn *c);
int pd_user_add_room(struct server *srv, const char *id, struct pd_room *room);
/* Removals forget the user once nothing is left. */
void pd_user_del_conn(struct server *srv, struct pd_conn *c);
void pd_user_del_room(struct server *srv, const char *id, struct pd_room *room);

#endif
