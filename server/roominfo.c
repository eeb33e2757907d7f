/* room:info, room:list and room:online: what a member may see of rooms. */
#include "conn.h"
#include "rooms.h"
#include "server.h"
#include "users.h"

enum pd_err pd_handle_room_info(struct pd_req *r)
{
    struct pd_room *room;
    enum pd_err e = pd_req_member_room(r, "room", &room, NULL);

    if (e != PD_OK)
        return e;
    r->result = cJSON_CreateObject();
    pd_room_add_fields(r->srv, r->result, room);
    cJSON_AddItemToObject(r->result, "members", pd_members_json(r->srv, room));
    return PD_OK;
}

enum pd_err pd_handle_room_list(struct pd_req *r)
{
    /* The user index holds this user's rooms: no scan of every room. */
    const struct pd_user *u = pd_user_find(r->srv, r->conn->ident.sub);
    cJSON *arr;

    r->result = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(r->result, "rooms");
    for (size_t i = 0; u != NULL && i < u->nrooms; i++) {
        const struct pd_room *room = u->rooms[i];
        const struct pd_member *m = pd_room_member(room, u->id);
        cJSON *o = cJSON_CreateObject();

        pd_room_add_fields(r->srv, o, room);
        pd_json_add_int(o, "unread", m ? room->last_seq - m->last_read_seq : 0);
        cJSON_AddItemToArray(arr, o);
    }
    return PD_OK;
}

enum pd_err pd_handle_room_online(struct pd_req *r)
{
    struct pd_room *room;
    struct pd_member *m;
    size_t pos = 0;
    cJSON *users;
    enum pd_err e = pd_req_member_room(r, "room", &room, NULL);

    if (e != PD_OK)
        return e;
    r->result = cJSON_CreateObject();
    cJSON_AddStringToObject(r->result, "room", room->name);
    users = cJSON_AddArrayToObject(r->result, "users");
    while ((m = pd_hmap_next(&room->members, &pos, NULL)) != NULL)
        if (pd_user_online(r->srv, m->user))
            cJSON_AddItemToArray(users, pd_member_json(r->srv, m));
    return PD_OK;
}
