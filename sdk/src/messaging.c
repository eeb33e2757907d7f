/* Typed calls of the messaging events beyond send and history:
 * message:typing, message:typing-users, message:delivered, message:read,
 * message:delivery-status, message:stats and message:delete. */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "calls.h"
#include "client.h"

static cJSON *typing_data(const char *room, int typing, int *rc)
{
    cJSON *d = pl_room_data(room, rc);

    if (d && !cJSON_AddBoolToObject(d, "typing", typing != 0)) {
        cJSON_Delete(d);
        *rc = PARLEY_ERR_NOMEM;
        return NULL;
    }
    return d;
}

PARLEY_API int parley_typing(parley_client *c, const char *room, int typing, int timeout_ms)
{
    int rc;
    cJSON *d = typing_data(room, typing, &rc);

    return pl_call_sync(c, PD_EV_MSG_TYPING, d, rc, timeout_ms, NULL);
}

PARLEY_API int parley_typing_async(parley_client *c, const char *room, int typing,
                                   parley_ack_cb cb, void *arg)
{
    int rc;
    cJSON *d = typing_data(room, typing, &rc);

    return pl_call_async(c, PD_EV_MSG_TYPING, d, rc, cb, arg);
}

PARLEY_API int parley_typing_users(parley_client *c, const char *room, int timeout_ms,
                                   struct parley_strings **users)
{
    int rc;
    char *ack = NULL;
    cJSON *d = pl_room_data(room, &rc);

    if (users)
        *users = NULL;
    rc = pl_call_sync(c, PD_EV_MSG_TYPING_USERS, d, rc, timeout_ms, users ? &ack : NULL);
    if (rc == PARLEY_OK && users)
        rc = parley_strings_parse(ack, "users", users);
    free(ack);
    return rc;
}

PARLEY_API int parley_typing_users_async(parley_client *c, const char *room, parley_ack_cb cb,
                                         void *arg)
{
    int rc;
    cJSON *d = pl_room_data(room, &rc);

    return pl_call_async(c, PD_EV_MSG_TYPING_USERS, d, rc, cb, arg);
}

PARLEY_API int parley_delivered(parley_client *c, int64_t message_id, int timeout_ms)
{
    int rc;
    cJSON *d = pl_message_id_data(message_id, &rc);

    return pl_call_sync(c, PD_EV_MSG_DELIVERED, d, rc, timeout_ms, NULL);
}

PARLEY_API int parley_delivered_async(parley_client *c, int64_t message_id, parley_ack_cb cb,
                                      void *arg)
{
    int rc;
    cJSON *d = pl_message_id_data(message_id, &rc);

    return pl_call_async(c, PD_EV_MSG_DELIVERED, d, rc, cb, arg);
}

PARLEY_API int parley_read(parley_client *c, int64_t message_id, int timeout_ms,
                           int64_t *last_read_seq)
{
    int rc;
    char *ack = NULL;
    cJSON *d = pl_message_id_data(message_id, &rc);

    if (last_read_seq)
        *last_read_seq = 0;
    rc = pl_call_sync(c, PD_EV_MSG_READ, d, rc, timeout_ms, last_read_seq ? &ack : NULL);
    if (rc == PARLEY_OK && last_read_seq)
        rc = parley_read_parse(ack, last_read_seq);
    free(ack);
    return rc;
}

PARLEY_API int parley_read_async(parley_client *c, int64_t message_id, parley_ack_cb cb,
                                 void *arg)
{
    int rc;
    cJSON *d = pl_message_id_data(message_id, &rc);

    return pl_call_async(c, PD_EV_MSG_READ, d, rc, cb, arg);
}

PARLEY_API int parley_delivery_status(parley_client *c, int64_t message_id, int timeout_ms,
                                      struct parley_delivery_status **out)
{
    int rc;
    char *ack = NULL;
    cJSON *d = pl_message_id_data(message_id, &rc);

    if (out)
        *out = NULL;
    rc = pl_call_sync(c, PD_EV_MSG_DELIVERY_STATUS, d, rc, timeout_ms, out ? &ack : NULL);
    if (rc == PARLEY_OK && out)
        rc = parley_delivery_status_parse(ack, out);
    free(ack);
    return rc;
}

PARLEY_API int parley_delivery_status_async(parley_client *c, int64_t message_id,
                                            parley_ack_cb cb, void *arg)
{
    int rc;
    cJSON *d = pl_message_id_data(message_id, &rc);

    return pl_call_async(c, PD_EV_MSG_DELIVERY_STATUS, d, rc, cb, arg);
}

/* {} for every room, {"room": room} for one. */
static cJSON *stats_data(const char *room, int *rc)
{
    if (!room) {
        *rc = PARLEY_OK;
        return NULL;
    }
    return pl_room_data(room, rc);
}

PARLEY_API int parley_message_stats(parley_client *c, const char *room, int timeout_ms,
                                    struct parley_message_stats *out)
{
    int rc;
    char *ack = NULL;
    cJSON *d = stats_data(room, &rc);
    struct parley_message_stats tmp;

    if (out)
        *out = (struct parley_message_stats){0, 0, 0, 0};
    rc = pl_call_sync(c, PD_EV_MSG_STATS, d, rc, timeout_ms, out ? &ack : NULL);
    if (rc == PARLEY_OK && out) {
        rc = parley_message_stats_parse(ack, &tmp);
        if (rc == PARLEY_OK)
            *out = tmp;
    }
    free(ack);
    return rc;
}

PARLEY_API int parley_message_stats_async(parley_client *c, const char *room, parley_ack_cb cb,
                                          void *arg)
{
    int rc;
    cJSON *d = stats_data(room, &rc);

    return pl_call_async(c, PD_EV_MSG_STATS, d, rc, cb, arg);
}

PARLEY_API int parley_delete(parley_client *c, int64_t message_id, int timeout_ms)
{
    int rc;
    cJSON *d = pl_message_id_data(message_id, &rc);

    return pl_call_sync(c, PD_EV_MSG_DELETE, d, rc, timeout_ms, NULL);
}

PARLEY_API int parley_delete_async(parley_client *c, int64_t message_id, parley_ack_cb cb,
                                   void *arg)
{
    int rc;
    cJSON *d = pl_message_id_data(message_id, &rc);

    return pl_call_async(c, PD_EV_MSG_DELETE, d, rc, cb, arg);
}
