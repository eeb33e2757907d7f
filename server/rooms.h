/* Rooms, memberships, invitations and subscriptions (PROTOCOL.md section 4,
 * "Rooms"). Membership is stored and mirrored here in memory (loaded at
 * start), so the per-request permission check costs one hash lookup.
 * Subscriptions belong to connections; a room keeps its subscribers and a
 * connection its rooms, each entry knowing its twin's index, so subscribe,
 * unsubscribe and disconnect cost what they touch (Redis pubsub.c).
 *
 * rooms.c holds the state; the handlers live in membership.c (join, leave,
 * invite), roominfo.c (info, list, online) and subscriptions.c. */
#ifndef PD_ROOMS_H
#define PD_ROOMS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "hmap.h"
#include "perm.h"
#include "request.h"
#include "text.h"

struct server;
struct pd_conn;
struct pd_identity;

#define PD_MEMBERS_IN_ACK 100

struct pd_member {
    char user[PD_NAME_MAX + 1];
    char *name; /* display name at join */
    bool owner;
    int64_t joined_at;
    int64_t last_read_seq;
    int64_t last_delivered_seq; /* >= last_read_seq */
    bool pending;  /* joined here, not committed yet */
    int64_t seen;  /* the cluster resync that last found it stored */
};

/* One subscriber of a room, and the index of the room in its conn->subs. */
struct pd_room_sub {
    struct pd_conn *conn;
    size_t conn_idx;
};

/* A user typing in a room (typing.c), and until when (monotonic ms). */
struct pd_typist {
    char user[PD_NAME_MAX + 1];
    uint64_t conn_id; /* the connection that said so (0: on another node) */
    int64_t expires;
    int64_t told;     /* when the other nodes were last told (monotonic ms) */
    bool remote;      /* said on another node of the cluster */
};

struct pd_room {
    char name[PD_NAME_MAX + 1];
    bool is_private;
    char created_by[PD_NAME_MAX + 1];
    int64_t created_at;
    int64_t last_seq;
    int64_t deleted_count;
    struct pd_hmap members; /* user -> struct pd_member */
    struct pd_hmap invites; /* user -> its own key (a malloc'd user id) */
    struct pd_room_sub *subs;
    size_t nsubs, subs_cap;
    struct pd_typist *typists;
    size_t ntypists, typists_cap;
};

/* One room a connection is subscribed to, and its index in room->subs. */
struct pd_sub {
    struct pd_room *room;
    size_t room_idx;
    int64_t subscribed_at; /* ms since the epoch */
    int64_t start_seq;     /* the room's last seq when the subscription began */
    int64_t last_seq;      /* the last message of the room written to the connection */
};

int pd_rooms_init(struct server *srv, char *err, size_t errlen);
void pd_rooms_free(struct server *srv);

/* ---- state ------------------------------------------------------------- */

struct pd_room *pd_room_find(struct server *srv, const char *name);
struct pd_member *pd_room_member(const struct pd_room *room, const char *user);
/* Every room, for server-wide figures: iterate like pd_hmap_next. */
struct pd_room *pd_room_next(struct server *srv, size_t *pos);

/* Creates a room in memory (the store is the caller's business). */
struct pd_room *pd_room_create(struct server *srv, const char *name, bool is_private,
                               const char *created_by, int64_t created_at);
/* Drops a room with no members (a creation whose commit failed). */
void pd_room_destroy(struct server *srv, struct pd_room *room);
/* Adds a member, indexed under its user too; NULL when out of memory. */
struct pd_member *pd_member_add(struct server *srv, struct pd_room *room, const char *user,
                                const char *name, bool owner, int64_t joined_at,
                                int64_t read_seq, int64_t delivered_seq);
/* Unlinks a member (returned, for the caller to free or put back). */
struct pd_member *pd_member_unlink(struct server *srv, struct pd_room *room, const char *user);
/* Puts back a member unlinked before; 0 or -1. */
int pd_member_relink(struct server *srv, struct pd_room *room, struct pd_member *m);
void pd_member_free(struct pd_member *m);
/* Moves a member's pointers forward, never back (delivered never behind
 * read); NULL m: nothing. */
void pd_member_advance(struct pd_member *m, int64_t read, int64_t delivered);
/* Reads rooms, members and invitations from the store into memory: what
 * is missing is added, what is there moves forward (a room's subscribers
 * get the messages they missed), and every stored member is marked with
 * gen (struct pd_member.seen). At start, and when a node of a cluster
 * rejoins the others. 0, or -1 (the store failed, or out of memory). */
int pd_rooms_load(struct server *srv, int64_t gen);
/* Records an invitation in memory; 0 or -1. */
int pd_room_invite(struct pd_room *room, const char *user);

/* What the caller is with respect to room (NULL room: nothing but admin). */
struct pd_actor pd_room_actor(const struct pd_room *room, const struct pd_identity *id);

/* ---- access ------------------------------------------------------------ */

/* The room named by `field` of the request, when the caller is a member:
 * PD_OK with *room and *member; PD_E_BAD_REQUEST for a bad name;
 * PD_E_FORBIDDEN when not a member, whether or not the room exists. */
enum pd_err pd_req_member_room(struct pd_req *r, const char *field, struct pd_room **room,
                               struct pd_member **member);

/* ---- subscriptions ------------------------------------------------------ */

bool pd_conn_subscribed(const struct pd_conn *c, const struct pd_room *room);
/* 0 (also when already subscribed) or -1 when out of memory. The
 * connection is taken to have the room up to its current last seq. */
int pd_room_subscribe(struct pd_room *room, struct pd_conn *c, int64_t now);
/* The subscription of c to room, or NULL. */
struct pd_sub *pd_conn_sub(struct pd_conn *c, const struct pd_room *room);
/* True when c was subscribed. */
bool pd_room_unsubscribe(struct pd_room *room, struct pd_conn *c);
/* Every connection of `user` stops receiving the room's pushes. */
void pd_room_unsubscribe_user(struct pd_room *room, const char *user);

/* ---- pushes ------------------------------------------------------------ */

/* Queues the same framed push to every subscriber except `except` (NULL for
 * none). Serialized once, whatever the number of recipients. */
void pd_room_broadcast(struct pd_room *room, const char *json, size_t len,
                       const struct pd_conn *except);
/* pd_room_broadcast of a message:new with that seq, to the subscriptions
 * that have not had it yet; each then records seq as written to it (for
 * recovery). */
void pd_room_broadcast_seq(struct pd_room *room, const char *json, size_t len,
                           const struct pd_conn *except, int64_t seq);
/* Serializes {"event": event, "data": data} (taking data), broadcasts it,
 * and sends the same frame to the other nodes of the cluster with head
 * (taken; NULL: this node only). */
void pd_room_push_bus(struct server *srv, struct pd_room *room, const char *event, cJSON *data,
                      const struct pd_conn *except, cJSON *head);
/* A push already serialized (from another node) to every connection of user. */
void pd_user_send_frame(struct server *srv, const char *user, const char *json, size_t len);

/* ---- JSON -------------------------------------------------------------- */

/* The user is visibly present (online, away or busy). */
bool pd_user_online(struct server *srv, const char *user);
/* The room object of section 3, as fields added to obj. */
void pd_room_add_fields(struct server *srv, cJSON *obj, const struct pd_room *room);
/* The member object of section 3. */
cJSON *pd_member_json(struct server *srv, const struct pd_member *m);
/* Up to PD_MEMBERS_IN_ACK member objects, owner first. */
cJSON *pd_members_json(struct server *srv, const struct pd_room *room);

/* ---- handlers ---------------------------------------------------------- */

enum pd_err pd_handle_join(struct pd_req *r);
enum pd_err pd_handle_leave(struct pd_req *r);
enum pd_err pd_handle_invite(struct pd_req *r);
enum pd_err pd_handle_room_info(struct pd_req *r);
enum pd_err pd_handle_room_list(struct pd_req *r);
enum pd_err pd_handle_room_online(struct pd_req *r);
enum pd_err pd_handle_subscribe(struct pd_req *r);
enum pd_err pd_handle_unsubscribe(struct pd_req *r);
enum pd_err pd_handle_sub_status(struct pd_req *r);
enum pd_err pd_handle_sub_details(struct pd_req *r);

/* ---- connection hooks -------------------------------------------------- */

int pd_rooms_conn_open(struct server *srv, struct pd_conn *c);
void pd_rooms_conn_close(struct server *srv, struct pd_conn *c);

#endif
