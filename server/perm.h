/* Who may do what: the permission rules of PROTOCOL.md section 4 as pure
 * functions of the facts, so every handler asks the same question the same
 * way and the rules are unit-tested on their own. */
#ifndef PD_PERM_H
#define PD_PERM_H

#include <stdbool.h>

/* What is known about the caller with respect to one room. */
struct pd_actor {
    bool admin;   /* JWT role "admin" */
    bool member;  /* stored membership of the room */
    bool owner;   /* the room's owner (its creator) */
    bool invited; /* an invitation to the room is stored */
};

/* join:chat of an existing room. */
bool pd_may_join(const struct pd_actor *a, bool room_private);
/* room:invite: a member who owns the room or is an admin. */
bool pd_may_invite(const struct pd_actor *a);
/* message:delete: a member who wrote it, owns the room, or is an admin. */
bool pd_may_delete(const struct pd_actor *a, bool is_author);

#endif
