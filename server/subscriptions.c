/* room:subscribe-multiple, room:unsubscribe-multiple,
 * room:subscription-status and room:subscription-details. Subscriptions
 * belong to the connection; membership (stored) is what they need. */
#include <string.h>

#include "clock.h"
#include "conn.h"
#include "rooms.h"
#include "server.h"

#define PD_ROOMS_PER_REQUEST 100

/* The `rooms` array of the request: 1 to 100 strings, else bad_request. */
static enum pd_err rooms_array(struct pd_req *r, const cJSON **out)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(r->data, "rooms");
    const cJSON *it;
    int n;

    if (!cJSON_IsArray(arr))
        return pd_req_fail(r, PD_E_BAD_REQUEST, "field 'rooms' must be an array of room names");
    n = cJSON_GetArraySize(arr);
    if (n < 1 || n > PD_ROOMS_PER_REQUEST)
        return pd_req_fail(r, PD_E_BAD_REQUEST, "field 'rooms' must hold 1 to %d rooms",
                           PD_ROOMS_PER_REQUEST);
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it))
            return pd_req_fail(r, PD_E_BAD_REQUEST, "field 'rooms' must hold only strings");
    }
    *out = arr;
    return PD_OK;
}

/* True when `name` appears in arr before `upto`: a repeat, counted once. */
static bool seen_before(const cJSON *arr, const cJSON *upto, const char *name)
{
    for (const cJSON *it = arr->child; it != NULL && it != upto; it = it->next)
        if (strcmp(it->valuestring, name) == 0)
            return true;
    return false;
}

static void add_failure(cJSON *failed, const char *room, enum pd_err code)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "room", room);
    cJSON_AddStringToObject(o, "code", pd_err_name(code));
    cJSON_AddItemToArray(failed, o);
}

enum pd_err pd_handle_subscribe(struct pd_req *r)
{
    const cJSON *arr, *it;
    cJSON *subscribed, *failed;
    int64_t now = pd_now_ms();
    enum pd_err e = rooms_array(r, &arr);

    if (e != PD_OK)
        return e;
    r->result = cJSON_CreateObject();
    subscribed = cJSON_AddArrayToObject(r->result, "subscribed");
    failed = cJSON_AddArrayToObject(r->result, "failed");
    cJSON_ArrayForEach(it, arr)
    {
        const char *name = it->valuestring;
        struct pd_room *room;

        if (seen_before(arr, it, name))
            continue;
        if (!pd_valid_room_name(name)) {
            add_failure(failed, name, PD_E_BAD_REQUEST);
            continue;
        }
        room = pd_room_find(r->srv, name);
        if (room == NULL || pd_room_member(room, r->conn->ident.sub) == NULL) {
            add_failure(failed, name, PD_E_FORBIDDEN);
            continue;
        }
        if (pd_room_subscribe(room, r->conn, now) != 0) {
            add_failure(failed, name, PD_E_INTERNAL);
            continue;
        }
        cJSON_AddItemToArray(subscribed, cJSON_CreateString(name));
    }
    return PD_OK;
}

enum pd_err pd_handle_unsubscribe(struct pd_req *r)
{
    const cJSON *arr, *it;
    cJSON *done;
    enum pd_err e = rooms_array(r, &arr);

    if (e != PD_OK)
        return e;
    r->result = cJSON_CreateObject();
    done = cJSON_AddArrayToObject(r->result, "unsubscribed");
    cJSON_ArrayForEach(it, arr)
    {
        struct pd_room *room = pd_room_find(r->srv, it->valuestring);

        if (room != NULL && pd_room_unsubscribe(room, r->conn))
            cJSON_AddItemToArray(done, cJSON_CreateString(room->name));
    }
    return PD_OK;
}

enum pd_err pd_handle_sub_status(struct pd_req *r)
{
    struct pd_room *room;
    enum pd_err e = pd_req_member_room(r, "room", &room, NULL);

    if (e != PD_OK)
        return e;
    r->result = cJSON_CreateObject();
    cJSON_AddStringToObject(r->result, "room", room->name);
    cJSON_AddBoolToObject(r->result, "member", 1);
    cJSON_AddBoolToObject(r->result, "subscribed", pd_conn_subscribed(r->conn, room));
    return PD_OK;
}

enum pd_err pd_handle_sub_details(struct pd_req *r)
{
    cJSON *arr;

    r->result = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(r->result, "subscriptions");
    for (size_t i = 0; i < r->conn->nsubs; i++) {
        const struct pd_sub *s = &r->conn->subs[i];
        const struct pd_member *m = pd_room_member(s->room, r->conn->ident.sub);
        int64_t read = m ? m->last_read_seq : s->room->last_seq;
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "room", s->room->name);
        pd_json_add_int(o, "subscribed_at", s->subscribed_at);
        pd_json_add_int(o, "last_seq", s->room->last_seq);
        pd_json_add_int(o, "last_read_seq", read);
        pd_json_add_int(o, "unread", s->room->last_seq - read);
        cJSON_AddItemToArray(arr, o);
    }
    return PD_OK;
}
