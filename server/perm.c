#include "perm.h"

bool pd_may_join(const struct pd_actor *a, bool room_private)
{
    return !room_private || a->member || a->owner || a->admin || a->invited;
}

bool pd_may_invite(const struct pd_actor *a)
{
    /* Members only, admins too: every event naming a room is refused to
     * non-members (an admin can join any room first). */
    return a->member && (a->owner || a->admin);
}

bool pd_may_delete(const struct pd_actor *a, bool is_author)
{
    /* A non-member does not even learn the message exists (not_found), so
     * this asks only among members. */
    return a->member && (is_author || a->owner || a->admin);
}
