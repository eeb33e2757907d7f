/* What a bus message from another node means on this one: the same change
 * to the mirror in memory the origin made to its own (rooms, members,
 * pointers, presence), and the origin's push to our own subscribers. The
 * store already holds the change: nothing here writes to it, but the
 * last-seen time presence keeps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster.h"
#include "log.h"
#include "messaging.h"
#include "presence.h"
#include "ratelimit.h"
#include "recovery.h"
#include "rooms.h"
#include "server.h"
#include "store.h"
#include "typing.h"

/* The head's string field, or "" (never NULL). */
static const char *str(const cJSON *head, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(head, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int64_t num(const cJSON *head, const char *name)
{
    int64_t v = 0;

    return pd_json_int(cJSON_GetObjectItemCaseSensitive(head, name), 0, PD_JSON_INT_MAX, &v) ? v
                                                                                             : 0;
}

static bool flag(const cJSON *head, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(head, name));
}

static void apply_msg(struct server *srv, struct pd_room *room, const cJSON *head,
                      const char *frame, size_t len)
{
    int64_t seq = num(head, "s");
    const char *user = str(head, "u");

    /* message:send is limited per user across the cluster: what another
     * node allowed is taken from this node's bucket too. */
    pd_ratelimit_charge(srv, PD_RL_MESSAGE, user);
    if (room == NULL || seq <= 0)
        return;
    pd_member_advance(pd_room_member(room, user), seq, seq);
    pd_room_deliver(srv, room, seq, frame, len, NULL);
}

static void apply_join(struct server *srv, struct pd_room *room, const cJSON *head,
                       const char *frame, size_t len)
{
    const char *user = str(head, "u");
    int64_t seq = num(head, "s");

    if (!pd_valid_user_id(user))
        return;
    if (room == NULL) {
        room = pd_room_create(srv, str(head, "r"), flag(head, "p"), str(head, "cb"),
                              num(head, "ca"));
        if (room == NULL) {
            pd_error("cluster: out of memory mirroring room '%s'", str(head, "r"));
            return;
        }
    }
    if (pd_room_member(room, user) == NULL &&
        pd_member_add(srv, room, user, str(head, "nm"), flag(head, "o"), num(head, "ja"), seq,
                      seq) == NULL) {
        pd_error("cluster: out of memory mirroring '%s' joining '%s'", user, room->name);
        return;
    }
    pd_room_broadcast(room, frame, len, NULL);
}

/* user left room on another node: what leaving does here, but the push. */
static void member_gone(struct server *srv, struct pd_room *room, const char *user)
{
    pd_room_unsubscribe_user(room, user);
    pd_typing_forget(srv, room, user);
    pd_member_free(pd_member_unlink(srv, room, user));
}

static void apply_leave(struct server *srv, struct pd_room *room, const cJSON *head,
                        const char *frame, size_t len)
{
    if (room == NULL)
        return;
    member_gone(srv, room, str(head, "u"));
    pd_room_broadcast(room, frame, len, NULL);
}

static void apply_receipt(struct server *srv, struct pd_room *room, const cJSON *head,
                          const char *frame, size_t len)
{
    if (room != NULL)
        pd_member_advance(pd_room_member(room, str(head, "u")), num(head, "rd"), num(head, "dl"));
    if (len > 0)
        pd_user_send_frame(srv, str(head, "a"), frame, len);
}

void pd_cluster_apply(struct server *srv, const char *node, const cJSON *head, const char *frame,
                      size_t len)
{
    const char *kind = str(head, "k");
    const char *name = str(head, "r");
    struct pd_room *room = name[0] ? pd_room_find(srv, name) : NULL;

    if (strcmp(kind, "msg") == 0) {
        apply_msg(srv, room, head, frame, len);
    } else if (strcmp(kind, "typ") == 0) {
        if (room != NULL && pd_room_member(room, str(head, "u")) != NULL) {
            pd_typing_remote(srv, room, str(head, "u"), flag(head, "t"));
            if (len > 0) /* none: a refresh, nothing to push */
                pd_room_broadcast(room, frame, len, NULL);
        }
    } else if (strcmp(kind, "del") == 0) {
        if (room != NULL) {
            room->deleted_count++;
            pd_room_broadcast(room, frame, len, NULL);
        }
    } else if (strcmp(kind, "join") == 0) {
        if (pd_valid_room_name(name))
            apply_join(srv, room, head, frame, len);
    } else if (strcmp(kind, "leave") == 0) {
        apply_leave(srv, room, head, frame, len);
    } else if (strcmp(kind, "inv") == 0) {
        if (room != NULL && pd_valid_user_id(str(head, "u")) &&
            pd_room_invite(room, str(head, "u")) != 0)
            pd_error("cluster: out of memory mirroring an invitation to '%s'", room->name);
    } else if (strcmp(kind, "rcpt") == 0) {
        apply_receipt(srv, room, head, frame, len);
    } else if (strcmp(kind, "pres") == 0 || strcmp(kind, "sync") == 0) {
        pd_presence_apply(srv, node, head);
    } else if (strcmp(kind, "sess") == 0) {
        pd_recovery_forget(srv, str(head, "h"));
    } else {
        pd_warn("cluster: node %s sent a bus message of unknown kind '%.32s': ignored", node,
                kind);
    }
}

/* ---- after the bus was away ------------------------------------------------------- */

/* Members the store no longer has left on another node meanwhile: they
 * go here too, with the room:user-left our subscribers did not get. */
static void sweep_left(struct server *srv, int64_t gen)
{
    size_t rpos = 0;
    struct pd_room *room;

    while ((room = pd_room_next(srv, &rpos)) != NULL) {
        size_t mpos = 0;
        struct pd_member *m;
        while ((m = pd_hmap_next(&room->members, &mpos, NULL)) != NULL) {
            cJSON *ev;
            if (m->seen == gen || m->pending)
                continue;
            ev = cJSON_CreateObject();
            cJSON_AddStringToObject(ev, "room", room->name);
            cJSON_AddStringToObject(ev, "user", m->user);
            member_gone(srv, room, m->user); /* frees m */
            /* Ours only: the other nodes resync on their own. */
            pd_room_push_bus(srv, room, "room:user-left", ev, NULL, NULL);
        }
    }
}

void pd_cluster_resync(struct server *srv)
{
    int64_t gen = pd_mono_ms();

    /* What this node has in flight is committed first and its completions
     * run, so that memory and the store differ only by what other nodes
     * did: a join or leave of ours half done is not mistaken for theirs. */
    pd_store_drain(srv->store);
    pd_store_run_completions(srv->store);
    if (pd_rooms_load(srv, gen) != 0) {
        pd_error("cluster: could not read the rooms back from the store: what other nodes "
                 "changed while the bus was away shows here when it is next back");
        return;
    }
    sweep_left(srv, gen);
}
