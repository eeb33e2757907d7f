/* Rooms, memberships and subscriptions (PROTOCOL.md section 4, "Rooms").
 * Membership is stored and mirrored here in memory (loaded at start), so
 * the per-request permission check costs one hash lookup. Subscriptions
 * belong to connections; a room keeps its subscribers and a connection its
 * rooms, each entry knowing its twin's index, so subscribe, unsubscribe and
 * disconnect cost what they touch (Redis pubsub.c). */
#ifndef PD_ROOMS_H
#define PD_ROOMS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "hmap.h"
#include "request.h"
#include "text.h"

struct server;
struct pd_conn;

struct pd_member {
    char user[PD_NAME_MAX + 1];
    char *name; /* display name at join */
    bool owner;
    int64_t joined_at;
    int64_t last_read_seq;
};

/* One subscriber of a room, and the index of the room in its conn->subs. */
struct pd_room_sub {
    struct pd_conn *conn;
    size_t conn_idx;
};

struct pd_room {
    char name[PD_NAME_MAX + 1];
    bool is_private;
    char created_by[PD_NAME_MAX + 1];
    int64_t created_at;
    int64_t last_seq;
    struct pd_hmap members; /* user -> struct pd_member */
    struct pd_room_sub *subs;
    size_t nsubs, subs_cap;
};

/* One room a connection is subscribed to, and its index in room->subs. */
struct pd_sub {
    struct pd_room *room;
    size_t room_idx;
};

int pd_rooms_init(struct server *srv, char *err, size_t errlen);
void pd_rooms_free(struct server *srv);

struct pd_room *pd_room_find(struct server *srv, const char *name);
struct pd_member *pd_room_member(const struct pd_room *room, const char *user);

/* The room named by `field` of the request, when the caller is a member:
 * PD_OK with *room and *member; PD_E_BAD_REQUEST for a bad name;
 * PD_E_FORBIDDEN when not a member, whether or not the room exists. */
enum pd_err pd_req_member_room(struct pd_req *r, const char *field, struct pd_room **room,
                               struct pd_member **member);

/* Queues the same framed push to every subscriber except `except` (NULL for
 * none). Serialized once, whatever the number of recipients. */
void pd_room_broadcast(struct pd_room *room, const char *json, size_t len,
                       const struct pd_conn *except);

/* Presence as far as this slice knows it: the user has a live connection. */
bool pd_user_online(struct server *srv, const char *user);

/* Handlers */
enum pd_err pd_handle_join(struct pd_req *r);
enum pd_err pd_handle_leave(struct pd_req *r);

/* Connection hooks */
int pd_rooms_conn_open(struct server *srv, struct pd_conn *c);
void pd_rooms_conn_close(struct server *srv, struct pd_conn *c);

#endif
