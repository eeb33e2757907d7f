/* The permission rules, exhaustively over every combination of facts. */
#include "perm.h"
#include "tap.h"

static struct pd_actor actor(unsigned bits)
{
    return (struct pd_actor){
        .admin = bits & 1, .member = bits & 2, .owner = bits & 4, .invited = bits & 8};
}

int main(void)
{
    struct tap t = {0};
    int all;

    all = 1;
    for (unsigned b = 0; b < 16; b++) {
        struct pd_actor a = actor(b);
        all &= pd_may_join(&a, false);
    }
    ok(&t, all, "anyone may join a public room");

    all = 1;
    for (unsigned b = 0; b < 16; b++) {
        struct pd_actor a = actor(b);
        all &= pd_may_join(&a, true) == (a.admin || a.member || a.owner || a.invited);
    }
    ok(&t, all, "a private room: only invited users, members, its owner and admins");
    struct pd_actor stranger = actor(0);
    ok(&t, !pd_may_join(&stranger, true), "a stranger may not join a private room");

    all = 1;
    for (unsigned b = 0; b < 16; b++) {
        struct pd_actor a = actor(b);
        all &= pd_may_invite(&a) == (a.member && (a.owner || a.admin));
    }
    ok(&t, all, "invite: a member who owns the room or is an admin, over all 16 combinations");
    struct pd_actor member = actor(2), invited = actor(2 | 8);
    ok(&t, !pd_may_invite(&member) && !pd_may_invite(&invited),
       "a plain or invited member may not invite");

    all = 1;
    for (unsigned b = 0; b < 32; b++) {
        struct pd_actor a = actor(b & 15);
        bool author = b & 16;
        all &= pd_may_delete(&a, author) == (a.member && (author || a.owner || a.admin));
    }
    ok(&t, all, "delete: a member who is the author, the owner or an admin");
    ok(&t, !pd_may_delete(&member, false), "another member may not delete");
    struct pd_actor outsider_admin = actor(1), former_owner = actor(4);
    ok(&t, !pd_may_delete(&outsider_admin, false) && !pd_may_invite(&outsider_admin),
       "an admin who is not a member neither deletes nor invites");
    ok(&t, !pd_may_delete(&former_owner, true), "an author who left may no longer delete");
    return tap_done(&t);
}
