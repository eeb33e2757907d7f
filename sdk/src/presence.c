/* Typed calls of the presence events (presence:update-status,
 * presence:online-users, presence:user-status, presence:stats) and of the
 * connection recovery events (connection:create-session,
 * connection:recover, connection:session-info, connection:stats). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "calls.h"
#include "client.h"
#include "json.h"
#include "text.h"

/* The protocol's user ids and session tokens are short; anything longer is
 * a mistake of the caller, not something to send. */
#define USER_MAX 256
#define SESSION_TOKEN_MAX 256

/* ---- presence ------------------------------------------------------------------ */

static cJSON *status_data(const char *status, int *rc)
{
    static const char *const allowed[] = {"online", "away", "busy", "offline"};
    cJSON *d;
    size_t i;

    *rc = PARLEY_ERR_INVAL;
    if (!status)
        return NULL;
    for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (strcmp(status, allowed[i]) == 0)
            break;
    if (i == sizeof(allowed) / sizeof(allowed[0]))
        return NULL;
    *rc = PARLEY_ERR_NOMEM;
    d = cJSON_CreateObject();
    if (!d || !cJSON_AddStringToObject(d, "status", status)) {
        cJSON_Delete(d);
        return NULL;
    }
    *rc = PARLEY_OK;
    return d;
}

PARLEY_API int parley_update_status(parley_client *c, const char *status, int timeout_ms)
{
    int rc;
    cJSON *d = status_data(status, &rc);

    return pl_call_sync(c, PD_EV_PRESENCE_UPDATE_STATUS, d, rc, timeout_ms, NULL);
}

PARLEY_API int parley_update_status_async(parley_client *c, const char *status,
                                          parley_ack_cb cb, void *arg)
{
    int rc;
    cJSON *d = status_data(status, &rc);

    return pl_call_async(c, PD_EV_PRESENCE_UPDATE_STATUS, d, rc, cb, arg);
}

/* {} for the whole server, {"room": room} for one. */
static cJSON *optional_room_data(const char *room, int *rc)
{
    if (!room) {
        *rc = PARLEY_OK;
        return NULL;
    }
    return pl_room_data(room, rc);
}

PARLEY_API int parley_online_users(parley_client *c, const char *room, int timeout_ms,
                                   struct parley_member **users, size_t *n)
{
    int rc;
    char *ack = NULL;
    cJSON *d = optional_room_data(room, &rc);

    if (users)
        *users = NULL;
    if (n)
        *n = 0;
    rc = pl_call_sync(c, PD_EV_PRESENCE_ONLINE_USERS, d, rc, timeout_ms, users ? &ack : NULL);
    if (rc == PARLEY_OK && users) {
        size_t count = 0;
        rc = parley_members_parse(ack, users, &count);
        if (n)
            *n = count;
    }
    free(ack);
    return rc;
}

PARLEY_API int parley_online_users_async(parley_client *c, const char *room,
                                         parley_ack_cb cb, void *arg)
{
    int rc;
    cJSON *d = optional_room_data(room, &rc);

    return pl_call_async(c, PD_EV_PRESENCE_ONLINE_USERS, d, rc, cb, arg);
}

static cJSON *user_data(const char *user, int *rc)
{
    cJSON *d;
    size_t len;

    *rc = PARLEY_ERR_INVAL;
    if (!user || !(len = strlen(user)) || len > USER_MAX || !pd_utf8_valid(user, len))
        return NULL;
    *rc = PARLEY_ERR_NOMEM;
    d = cJSON_CreateObject();
    if (!d || !cJSON_AddStringToObject(d, "user", user)) {
        cJSON_Delete(d);
        return NULL;
    }
    *rc = PARLEY_OK;
    return d;
}

PARLEY_API int parley_user_status(parley_client *c, const char *user, int timeout_ms,
                                  struct parley_user_status **out)
{
    int rc;
    char *ack = NULL;
    cJSON *d = user_data(user, &rc);

    if (out)
        *out = NULL;
    rc = pl_call_sync(c, PD_EV_PRESENCE_USER_STATUS, d, rc, timeout_ms, out ? &ack : NULL);
    if (rc == PARLEY_OK && out)
        rc = parley_user_status_parse(ack, out);
    free(ack);
    return rc;
}

PARLEY_API int parley_user_status_async(parley_client *c, const char *user, parley_ack_cb cb,
                                        void *arg)
{
    int rc;
    cJSON *d = user_data(user, &rc);

    return pl_call_async(c, PD_EV_PRESENCE_USER_STATUS, d, rc, cb, arg);
}

PARLEY_API int parley_presence_stats(parley_client *c, int timeout_ms,
                                     struct parley_presence_stats *out)
{
    char *ack = NULL;
    int rc;
    struct parley_presence_stats tmp;

    if (out)
        memset(out, 0, sizeof(*out));
    rc = pl_call_sync(c, PD_EV_PRESENCE_STATS, NULL, PARLEY_OK, timeout_ms, out ? &ack : NULL);
    if (rc == PARLEY_OK && out) {
        rc = parley_presence_stats_parse(ack, &tmp);
        if (rc == PARLEY_OK)
            *out = tmp;
    }
    free(ack);
    return rc;
}

PARLEY_API int parley_presence_stats_async(parley_client *c, parley_ack_cb cb, void *arg)
{
    return pl_call_async(c, PD_EV_PRESENCE_STATS, NULL, PARLEY_OK, cb, arg);
}

/* ---- connection recovery ------------------------------------------------------------ */

PARLEY_API int parley_create_session(parley_client *c, int timeout_ms,
                                     struct parley_session **out)
{
    char *ack = NULL;
    int rc;

    if (out)
        *out = NULL;
    rc = pl_call_sync(c, PD_EV_CONN_CREATE_SESSION, NULL, PARLEY_OK, timeout_ms,
                      out ? &ack : NULL);
    if (rc == PARLEY_OK && out)
        rc = parley_session_parse(ack, out);
    free(ack);
    return rc;
}

PARLEY_API int parley_create_session_async(parley_client *c, parley_ack_cb cb, void *arg)
{
    return pl_call_async(c, PD_EV_CONN_CREATE_SESSION, NULL, PARLEY_OK, cb, arg);
}

/* {"session_token", "last_seq": {...}}: the caller's seqs, or (last_seq
 * NULL) what the library saw. */
static cJSON *recover_data(parley_client *c, const char *token,
                           const struct parley_last_seq *last_seq, size_t n, int *rc)
{
    cJSON *d, *ls;
    size_t len;

    *rc = PARLEY_ERR_INVAL;
    if (!c || !token || !(len = strlen(token)) || len > SESSION_TOKEN_MAX ||
        !pd_utf8_valid(token, len) || (n && !last_seq))
        return NULL;
    for (size_t i = 0; last_seq && i < n; i++)
        if (!last_seq[i].room || !pd_valid_room_name(last_seq[i].room) ||
            last_seq[i].seq < 0 || last_seq[i].seq > PL_JSON_INT_MAX)
            return NULL;
    *rc = PARLEY_ERR_NOMEM;
    if (last_seq) {
        ls = cJSON_CreateObject();
        for (size_t i = 0; ls && i < n; i++)
            if (!pl_json_add_int64(ls, last_seq[i].room, last_seq[i].seq)) {
                cJSON_Delete(ls);
                ls = NULL;
            }
    } else {
        pl_lock(c);
        ls = pl_last_seq_json_locked(c);
        pl_unlock(c);
    }
    d = cJSON_CreateObject();
    if (!d || !ls || !cJSON_AddStringToObject(d, "session_token", token) ||
        !cJSON_AddItemToObject(d, "last_seq", ls)) {
        cJSON_Delete(d);
        cJSON_Delete(ls);
        return NULL;
    }
    *rc = PARLEY_OK;
    return d;
}

PARLEY_API int parley_recover(parley_client *c, const char *session_token,
                              const struct parley_last_seq *last_seq, size_t n, int timeout_ms,
                              struct parley_recover_result **out)
{
    int rc;
    char *ack = NULL;
    cJSON *d = recover_data(c, session_token, last_seq, n, &rc);

    if (out)
        *out = NULL;
    rc = pl_call_sync(c, PD_EV_CONN_RECOVER, d, rc, timeout_ms, out ? &ack : NULL);
    if (rc == PARLEY_OK && out)
        rc = parley_recover_result_parse(ack, out);
    free(ack);
    return rc;
}

PARLEY_API int parley_recover_async(parley_client *c, const char *session_token,
                                    const struct parley_last_seq *last_seq, size_t n,
                                    parley_ack_cb cb, void *arg)
{
    int rc;
    cJSON *d = recover_data(c, session_token, last_seq, n, &rc);

    return pl_call_async(c, PD_EV_CONN_RECOVER, d, rc, cb, arg);
}

PARLEY_API int parley_session_info(parley_client *c, int timeout_ms,
                                   struct parley_session_info **out)
{
    char *ack = NULL;
    int rc;

    if (out)
        *out = NULL;
    rc = pl_call_sync(c, PD_EV_CONN_SESSION_INFO, NULL, PARLEY_OK, timeout_ms,
                      out ? &ack : NULL);
    if (rc == PARLEY_OK && out)
        rc = parley_session_info_parse(ack, out);
    free(ack);
    return rc;
}

PARLEY_API int parley_session_info_async(parley_client *c, parley_ack_cb cb, void *arg)
{
    return pl_call_async(c, PD_EV_CONN_SESSION_INFO, NULL, PARLEY_OK, cb, arg);
}

PARLEY_API int parley_connection_stats(parley_client *c, int timeout_ms,
                                       struct parley_connection_stats *out)
{
    char *ack = NULL;
    int rc;
    struct parley_connection_stats tmp;

    if (out)
        memset(out, 0, sizeof(*out));
    rc = pl_call_sync(c, PD_EV_CONN_STATS, NULL, PARLEY_OK, timeout_ms, out ? &ack : NULL);
    if (rc == PARLEY_OK && out) {
        rc = parley_connection_stats_parse(ack, &tmp);
        if (rc == PARLEY_OK)
            *out = tmp;
    }
    free(ack);
    return rc;
}

PARLEY_API int parley_connection_stats_async(parley_client *c, parley_ack_cb cb, void *arg)
{
    return pl_call_async(c, PD_EV_CONN_STATS, NULL, PARLEY_OK, cb, arg);
}
