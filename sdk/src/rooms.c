/* Typed calls of the room events: room:info, room:list, room:online,
 * room:subscribe-multiple, room:unsubscribe-multiple,
 * room:subscription-status, room:subscription-details and room:invite. Each
 * blocking call parses the ack with the same function an async user would
 * (results.c). */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "calls.h"
#include "client.h"
#include "text.h"

PARLEY_API int parley_room_info(parley_client *c, const char *room, int timeout_ms,
                                struct parley_room **out)
{
    int rc;
    char *ack = NULL;
    cJSON *d = pl_room_data(room, &rc);

    if (out)
        *out = NULL;
    rc = pl_call_sync(c, PD_EV_ROOM_INFO, d, rc, timeout_ms, out ? &ack : NULL);
    if (rc == PARLEY_OK && out)
        rc = parley_room_parse(ack, out);
    free(ack);
    return rc;
}

PARLEY_API int parley_room_info_async(parley_client *c, const char *room, parley_ack_cb cb,
                                      void *arg)
{
    int rc;
    cJSON *d = pl_room_data(room, &rc);

    return pl_call_async(c, PD_EV_ROOM_INFO, d, rc, cb, arg);
}

PARLEY_API int parley_room_list(parley_client *c, int timeout_ms, struct parley_room **rooms,
                                size_t *n)
{
    int rc;
    char *ack = NULL;
    struct parley_room *tmp = NULL;
    size_t count = 0;

    if (rooms)
        *rooms = NULL;
    if (n)
        *n = 0;
    rc = pl_call_sync(c, PD_EV_ROOM_LIST, NULL, PARLEY_OK, timeout_ms, &ack);
    if (rc == PARLEY_OK)
        rc = parley_rooms_parse(ack, &tmp, &count);
    free(ack);
    if (rc != PARLEY_OK)
        return rc;
    if (rooms) {
        *rooms = tmp;
        tmp = NULL;
    }
    if (n)
        *n = count;
    parley_rooms_free(tmp, count);
    return rc;
}

PARLEY_API int parley_room_list_async(parley_client *c, parley_ack_cb cb, void *arg)
{
    return pl_call_async(c, PD_EV_ROOM_LIST, NULL, PARLEY_OK, cb, arg);
}

PARLEY_API int parley_room_online(parley_client *c, const char *room, int timeout_ms,
                                  struct parley_member **users, size_t *n)
{
    int rc;
    char *ack = NULL;
    struct parley_member *tmp = NULL;
    size_t count = 0;
    cJSON *d = pl_room_data(room, &rc);

    if (users)
        *users = NULL;
    if (n)
        *n = 0;
    rc = pl_call_sync(c, PD_EV_ROOM_ONLINE, d, rc, timeout_ms, &ack);
    if (rc == PARLEY_OK)
        rc = parley_members_parse(ack, &tmp, &count);
    free(ack);
    if (rc != PARLEY_OK)
        return rc;
    if (users) {
        *users = tmp;
        tmp = NULL;
    }
    if (n)
        *n = count;
    parley_members_free(tmp, count);
    return rc;
}

PARLEY_API int parley_room_online_async(parley_client *c, const char *room, parley_ack_cb cb,
                                        void *arg)
{
    int rc;
    cJSON *d = pl_room_data(room, &rc);

    return pl_call_async(c, PD_EV_ROOM_ONLINE, d, rc, cb, arg);
}

PARLEY_API int parley_subscribe(parley_client *c, const char *const *rooms, size_t n,
                                int timeout_ms, struct parley_subscribe_result **out)
{
    int rc;
    char *ack = NULL;
    cJSON *d = pl_rooms_data("rooms", rooms, n, &rc);

    if (out)
        *out = NULL;
    rc = pl_call_sync(c, PD_EV_ROOM_SUBSCRIBE, d, rc, timeout_ms, out ? &ack : NULL);
    if (rc == PARLEY_OK && out)
        rc = parley_subscribe_result_parse(ack, out);
    free(ack);
    return rc;
}

PARLEY_API int parley_subscribe_async(parley_client *c, const char *const *rooms, size_t n,
                                      parley_ack_cb cb, void *arg)
{
    int rc;
    cJSON *d = pl_rooms_data("rooms", rooms, n, &rc);

    return pl_call_async(c, PD_EV_ROOM_SUBSCRIBE, d, rc, cb, arg);
}

PARLEY_API int parley_unsubscribe(parley_client *c, const char *const *rooms, size_t n,
                                  int timeout_ms, struct parley_strings **unsubscribed)
{
    int rc;
    char *ack = NULL;
    cJSON *d = pl_rooms_data("rooms", rooms, n, &rc);

    if (unsubscribed)
        *unsubscribed = NULL;
    rc = pl_call_sync(c, PD_EV_ROOM_UNSUBSCRIBE, d, rc, timeout_ms,
                      unsubscribed ? &ack : NULL);
    if (rc == PARLEY_OK && unsubscribed)
        rc = parley_strings_parse(ack, "unsubscribed", unsubscribed);
    free(ack);
    return rc;
}

PARLEY_API int parley_unsubscribe_async(parley_client *c, const char *const *rooms, size_t n,
                                        parley_ack_cb cb, void *arg)
{
    int rc;
    cJSON *d = pl_rooms_data("rooms", rooms, n, &rc);

    return pl_call_async(c, PD_EV_ROOM_UNSUBSCRIBE, d, rc, cb, arg);
}

PARLEY_API int parley_subscription_status(parley_client *c, const char *room, int timeout_ms,
                                          int *member, int *subscribed)
{
    int rc;
    char *ack = NULL;
    cJSON *d = pl_room_data(room, &rc);

    if (member)
        *member = 0;
    if (subscribed)
        *subscribed = 0;
    rc = pl_call_sync(c, PD_EV_ROOM_SUB_STATUS, d, rc, timeout_ms, &ack);
    if (rc == PARLEY_OK)
        rc = parley_subscription_status_parse(ack, member, subscribed);
    free(ack);
    return rc;
}

PARLEY_API int parley_subscription_status_async(parley_client *c, const char *room,
                                                parley_ack_cb cb, void *arg)
{
    int rc;
    cJSON *d = pl_room_data(room, &rc);

    return pl_call_async(c, PD_EV_ROOM_SUB_STATUS, d, rc, cb, arg);
}

PARLEY_API int parley_subscription_details(parley_client *c, int timeout_ms,
                                           struct parley_subscription **subs, size_t *n)
{
    int rc;
    char *ack = NULL;
    struct parley_subscription *tmp = NULL;
    size_t count = 0;

    if (subs)
        *subs = NULL;
    if (n)
        *n = 0;
    rc = pl_call_sync(c, PD_EV_ROOM_SUB_DETAILS, NULL, PARLEY_OK, timeout_ms, &ack);
    if (rc == PARLEY_OK)
        rc = parley_subscriptions_parse(ack, &tmp, &count);
    free(ack);
    if (rc != PARLEY_OK)
        return rc;
    if (subs) {
        *subs = tmp;
        tmp = NULL;
    }
    if (n)
        *n = count;
    parley_subscriptions_free(tmp, count);
    return rc;
}

PARLEY_API int parley_subscription_details_async(parley_client *c, parley_ack_cb cb, void *arg)
{
    return pl_call_async(c, PD_EV_ROOM_SUB_DETAILS, NULL, PARLEY_OK, cb, arg);
}

static cJSON *invite_data(const char *room, const char *user, int *rc)
{
    cJSON *d;

    if (!user || !pd_valid_user_id(user))
        return *rc = PARLEY_ERR_INVAL, NULL;
    d = pl_room_data(room, rc);
    if (d && !cJSON_AddStringToObject(d, "user", user)) {
        cJSON_Delete(d);
        *rc = PARLEY_ERR_NOMEM;
        return NULL;
    }
    return d;
}

PARLEY_API int parley_invite(parley_client *c, const char *room, const char *user,
                             int timeout_ms)
{
    int rc;
    cJSON *d = invite_data(room, user, &rc);

    return pl_call_sync(c, PD_EV_ROOM_INVITE, d, rc, timeout_ms, NULL);
}

PARLEY_API int parley_invite_async(parley_client *c, const char *room, const char *user,
                                   parley_ack_cb cb, void *arg)
{
    int rc;
    cJSON *d = invite_data(room, user, &rc);

    return pl_call_async(c, PD_EV_ROOM_INVITE, d, rc, cb, arg);
}
