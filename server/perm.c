#include "perm.h"

bool pd_may_join(const struct pd_actor *a, bool room_private)
{
    return !room_private || a->member || a->owner || a->admin || a->invited;
}

bool pd_may_invite(const struct pd_actor *a)
{
    /* An admin need not be a member: admins may join any room anyway. */
    return a->admin || (a->member && a->owner);
}

bool pd_may_delete(const struct pd_actor *a, bool is_author)
{
    /* Admins moderate every room, member or not; otherwise only a member
     * who wrote the message or owns the room. */
    return a->admin || (a->member && (is_author || a->owner));
}
