/* Typed calls: each builds its event's data with cJSON (never by pasting
 * strings) and reads the ack into C types. Arguments are checked here so a
 * mistake is PARLEY_ERR_INVAL at once instead of a bad_request later. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "calls.h"
#include "client.h"
#include "events.h"
#include "json.h"
#include "message.h"
#include "text.h"

#define CLIENT_MSG_ID_MAX 64

cJSON *pl_room_data(const char *room, int *rc)
{
    cJSON *d;

    *rc = PARLEY_ERR_INVAL;
    if (!room || !pd_valid_room_name(room))
        return NULL;
    *rc = PARLEY_ERR_NOMEM;
    d = cJSON_CreateObject();
    if (!d || !cJSON_AddStringToObject(d, "room", room)) {
        cJSON_Delete(d);
        return NULL;
    }
    *rc = PARLEY_OK;
    return d;
}

static cJSON *join_data(const char *room, int is_private, int *rc)
{
    cJSON *d = pl_room_data(room, rc);

    if (d && is_private && !cJSON_AddTrueToObject(d, "private")) {
        cJSON_Delete(d);
        *rc = PARLEY_ERR_NOMEM;
        return NULL;
    }
    return d;
}

PARLEY_API int parley_join(parley_client *c, const char *room, int is_private, int timeout_ms)
{
    int rc;
    cJSON *d = join_data(room, is_private, &rc);

    if (!c || !d) {
        cJSON_Delete(d);
        return c ? rc : PARLEY_ERR_INVAL;
    }
    return pl_request_sync(c, pd_event_name(PD_EV_JOIN), d, timeout_ms, NULL);
}

PARLEY_API int parley_join_async(parley_client *c, const char *room, int is_private,
                                 parley_ack_cb cb, void *arg)
{
    int rc;
    cJSON *d = join_data(room, is_private, &rc);

    if (!c || !d) {
        cJSON_Delete(d);
        return c ? rc : PARLEY_ERR_INVAL;
    }
    return pl_request_async(c, pd_event_name(PD_EV_JOIN), d, cb, arg);
}

PARLEY_API int parley_leave(parley_client *c, const char *room, int timeout_ms)
{
    int rc;
    cJSON *d = pl_room_data(room, &rc);

    if (!c || !d) {
        cJSON_Delete(d);
        return c ? rc : PARLEY_ERR_INVAL;
    }
    return pl_request_sync(c, pd_event_name(PD_EV_LEAVE), d, timeout_ms, NULL);
}

PARLEY_API int parley_leave_async(parley_client *c, const char *room, parley_ack_cb cb,
                                  void *arg)
{
    int rc;
    cJSON *d = pl_room_data(room, &rc);

    if (!c || !d) {
        cJSON_Delete(d);
        return c ? rc : PARLEY_ERR_INVAL;
    }
    return pl_request_async(c, pd_event_name(PD_EV_LEAVE), d, cb, arg);
}

static cJSON *send_data(const char *room, const char *text, const struct parley_send_opts *opts,
                        int *rc)
{
    cJSON *d;
    long chars;

    if (!text)
        return *rc = PARLEY_ERR_INVAL, NULL;
    chars = pd_utf8_chars(text, strlen(text));
    /* The length limit is the server's (configurable); only what can never
     * be right is refused here. */
    if (chars < 1)
        return *rc = PARLEY_ERR_INVAL, NULL;
    if (opts && opts->client_msg_id) {
        long n = pd_utf8_chars(opts->client_msg_id, strlen(opts->client_msg_id));
        if (n < 1 || n > CLIENT_MSG_ID_MAX)
            return *rc = PARLEY_ERR_INVAL, NULL;
    }
    if (opts && opts->reply_to < 0)
        return *rc = PARLEY_ERR_INVAL, NULL;
    d = pl_room_data(room, rc);
    if (!d)
        return NULL;
    if (!cJSON_AddStringToObject(d, "text", text) ||
        (opts && opts->client_msg_id &&
         !cJSON_AddStringToObject(d, "client_msg_id", opts->client_msg_id)) ||
        (opts && opts->reply_to > 0 &&
         !pl_json_add_int64(d, "reply_to", opts->reply_to))) {
        cJSON_Delete(d);
        *rc = PARLEY_ERR_NOMEM;
        return NULL;
    }
    return d;
}

PARLEY_API int parley_send(parley_client *c, const char *room, const char *text,
                           const struct parley_send_opts *opts, int timeout_ms,
                           struct parley_message **out)
{
    int rc;
    char *ack = NULL;
    cJSON *d, *root;

    if (out)
        *out = NULL;
    d = send_data(room, text, opts, &rc);
    if (!c || !d) {
        cJSON_Delete(d);
        return c ? rc : PARLEY_ERR_INVAL;
    }
    rc = pl_request_sync(c, pd_event_name(PD_EV_MSG_SEND), d, timeout_ms, out ? &ack : NULL);
    if (rc != PARLEY_OK || !out)
        goto done;
    root = cJSON_Parse(ack);
    rc = pl_message_from_json(cJSON_GetObjectItemCaseSensitive(root, "message"), out);
    cJSON_Delete(root);
done:
    free(ack);
    return rc;
}

PARLEY_API int parley_send_async(parley_client *c, const char *room, const char *text,
                                 const struct parley_send_opts *opts, parley_ack_cb cb,
                                 void *arg)
{
    int rc;
    cJSON *d = send_data(room, text, opts, &rc);

    if (!c || !d) {
        cJSON_Delete(d);
        return c ? rc : PARLEY_ERR_INVAL;
    }
    return pl_request_async(c, pd_event_name(PD_EV_MSG_SEND), d, cb, arg);
}

static cJSON *history_data(const char *room, int64_t before_seq, int limit, int *rc)
{
    cJSON *d;

    if (before_seq < 0 || limit < 0 || limit > 100)
        return *rc = PARLEY_ERR_INVAL, NULL;
    d = pl_room_data(room, rc);
    if (!d)
        return NULL;
    if ((before_seq > 0 && !pl_json_add_int64(d, "before_seq", before_seq)) ||
        (limit > 0 && !pl_json_add_int64(d, "limit", limit))) {
        cJSON_Delete(d);
        *rc = PARLEY_ERR_NOMEM;
        return NULL;
    }
    return d;
}

PARLEY_API int parley_history(parley_client *c, const char *room, int64_t before_seq, int limit,
                              int timeout_ms, struct parley_message **msgs, size_t *n,
                              int *has_more)
{
    int rc;
    char *ack = NULL;
    cJSON *d, *root;
    struct parley_message *tmp = NULL;
    size_t count = 0;

    if (msgs)
        *msgs = NULL;
    if (n)
        *n = 0;
    if (has_more)
        *has_more = 0;
    d = history_data(room, before_seq, limit, &rc);
    if (!c || !d) {
        cJSON_Delete(d);
        return c ? rc : PARLEY_ERR_INVAL;
    }
    rc = pl_request_sync(c, pd_event_name(PD_EV_MSG_HISTORY), d, timeout_ms, &ack);
    if (rc != PARLEY_OK)
        goto done;
    root = cJSON_Parse(ack);
    rc = pl_messages_from_json(cJSON_GetObjectItemCaseSensitive(root, "messages"), &tmp, &count);
    if (rc == PARLEY_OK) {
        if (has_more)
            *has_more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "has_more"));
        if (msgs) {
            *msgs = tmp;
            tmp = NULL;
        }
        if (n)
            *n = count;
    }
    parley_messages_free(tmp, count);
    cJSON_Delete(root);
done:
    free(ack);
    return rc;
}

PARLEY_API int parley_history_async(parley_client *c, const char *room, int64_t before_seq,
                                    int limit, parley_ack_cb cb, void *arg)
{
    int rc;
    cJSON *d = history_data(room, before_seq, limit, &rc);

    if (!c || !d) {
        cJSON_Delete(d);
        return c ? rc : PARLEY_ERR_INVAL;
    }
    return pl_request_async(c, pd_event_name(PD_EV_MSG_HISTORY), d, cb, arg);
}

/* ---- shared by rooms.c and messaging.c ---- */

cJSON *pl_message_id_data(int64_t message_id, int *rc)
{
    cJSON *d;

    *rc = PARLEY_ERR_INVAL;
    if (message_id < 1 || message_id > PL_JSON_INT_MAX)
        return NULL;
    *rc = PARLEY_ERR_NOMEM;
    d = cJSON_CreateObject();
    if (!d || !pl_json_add_int64(d, "message_id", message_id)) {
        cJSON_Delete(d);
        return NULL;
    }
    *rc = PARLEY_OK;
    return d;
}

#define ROOMS_MAX 100

cJSON *pl_rooms_data(const char *key, const char *const *rooms, size_t n, int *rc)
{
    cJSON *d, *arr;

    *rc = PARLEY_ERR_INVAL;
    if (!rooms || n < 1 || n > ROOMS_MAX)
        return NULL;
    /* A bad name is reported per room by the server; only what would break
     * the frame itself (no string, invalid UTF-8: the server closes with
     * 1007) is refused here. */
    for (size_t i = 0; i < n; i++)
        if (!rooms[i] || !pd_utf8_valid(rooms[i], strlen(rooms[i])))
            return NULL;
    *rc = PARLEY_ERR_NOMEM;
    d = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(d, key);
    if (!arr) {
        cJSON_Delete(d);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateString(rooms[i]);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            cJSON_Delete(d);
            return NULL;
        }
    }
    *rc = PARLEY_OK;
    return d;
}

int pl_call_sync(parley_client *c, enum pd_event ev, cJSON *d, int rc, int timeout_ms,
                 char **ack)
{
    if (ack)
        *ack = NULL;
    if (!c || rc != PARLEY_OK) {
        cJSON_Delete(d);
        return c ? rc : PARLEY_ERR_INVAL;
    }
    return pl_request_sync(c, pd_event_name(ev), d, timeout_ms, ack);
}

int pl_call_async(parley_client *c, enum pd_event ev, cJSON *d, int rc, parley_ack_cb cb,
                  void *arg)
{
    if (!c || rc != PARLEY_OK) {
        cJSON_Delete(d);
        return c ? rc : PARLEY_ERR_INVAL;
    }
    return pl_request_async(c, pd_event_name(ev), d, cb, arg);
}
