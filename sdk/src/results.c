/* The results of the room and messaging events (parley-protocol(7) section
 * 4), from ack data to the structs of parley.h.
 *
 * Each result is one allocation: the struct (or array of structs) first,
 * then the arrays and strings it points to, so one free() releases it. A
 * builder runs twice over the same JSON: the first pass (blk.base NULL)
 * checks the shape and adds up the size, the second copies into the block.
 * Both passes take the same pieces in the same order, so the second one
 * cannot fail. */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "block.h"
#include "json.h"
#include "parley.h"

/* ---- the block (block.h) ----------------------------------------------- */

/* Runs fn twice (see the top). fn's first piece is the result itself, at
 * the start of the block; *n (if fn counts) gets its count. A result of no
 * bytes (an empty list) is NULL. */
typedef int (*build_fn)(struct blk *b, const cJSON *j, size_t *n);

static int build(const cJSON *j, build_fn fn, void **out, size_t *n)
{
    struct blk b = {NULL, 0};
    size_t count = 0;

    *out = NULL;
    if (n)
        *n = 0;
    if (!fn(&b, j, &count))
        return PARLEY_ERR_PROTOCOL;
    if (b.used == 0)
        return PARLEY_OK;
    b.base = malloc(b.used);
    if (!b.base)
        return PARLEY_ERR_NOMEM;
    b.used = 0;
    fn(&b, j, &count);
    *out = b.base;
    if (n)
        *n = count;
    return PARLEY_OK;
}

/* ---- reading fields ------------------------------------------------------ */

/* A string field: absent or null gives dflt (0 when required); present it
 * must be a string. */
static int get_str(const cJSON *o, const char *key, const char **out, const char *dflt,
                   int required)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!it || cJSON_IsNull(it)) {
        *out = dflt;
        return !required;
    }
    if (!cJSON_IsString(it))
        return 0;
    *out = it->valuestring;
    return 1;
}

static int get_int(const cJSON *o, const char *key, int64_t *out, int64_t dflt, int required)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!it || cJSON_IsNull(it)) {
        *out = dflt;
        return !required;
    }
    return pl_json_int64(it, out);
}

/* An optional array: absent or null is an empty one (*out NULL). */
static int get_array(const cJSON *o, const char *key, const cJSON **out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    *out = NULL;
    if (!it || cJSON_IsNull(it))
        return 1;
    if (!cJSON_IsArray(it))
        return 0;
    *out = it;
    return 1;
}

static size_t array_size(const cJSON *arr)
{
    size_t n = 0;
    const cJSON *it;

    cJSON_ArrayForEach(it, arr)
        n++;
    return n;
}

/* ---- pieces ------------------------------------------------------------------ */

/* An array of strings (arr may be NULL: none). */
static int strings_piece(struct blk *b, const cJSON *arr, const char ***items, size_t *n)
{
    size_t count = array_size(arr), i = 0;
    const char **v = count ? TAKE(b, const char *, count) : NULL;
    const cJSON *it;

    cJSON_ArrayForEach(it, arr)
    {
        const char *s;
        if (!cJSON_IsString(it))
            return 0;
        s = put_str(b, it->valuestring);
        if (v)
            v[i] = s;
        i++;
    }
    *items = v;
    *n = count;
    return 1;
}

static int member_piece(struct blk *b, const cJSON *j, struct parley_member *slot)
{
    struct parley_member m;
    const char *user, *name, *role, *status;

    if (!cJSON_IsObject(j) || !get_str(j, "user", &user, NULL, 1) ||
        !get_str(j, "name", &name, NULL, 0) || !get_str(j, "role", &role, "", 0) ||
        !get_str(j, "status", &status, "", 0))
        return 0;
    m.user = put_str(b, user);
    m.name = put_str(b, name ? name : user);
    m.role = put_str(b, role);
    m.status = put_str(b, status);
    if (slot)
        *slot = m;
    return 1;
}

static int members_piece(struct blk *b, const cJSON *arr, struct parley_member **out,
                         size_t *n)
{
    size_t count = array_size(arr), i = 0;
    struct parley_member *v = count ? TAKE(b, struct parley_member, count) : NULL;
    const cJSON *it;

    cJSON_ArrayForEach(it, arr)
    {
        if (!member_piece(b, it, v ? &v[i] : NULL))
            return 0;
        i++;
    }
    *out = v;
    *n = count;
    return 1;
}

static int room_piece(struct blk *b, const cJSON *j, struct parley_room *slot)
{
    struct parley_room r;
    const char *name, *created_by, *role;
    const cJSON *priv, *members;

    if (!cJSON_IsObject(j) || !get_str(j, "room", &name, NULL, 1) ||
        !get_str(j, "created_by", &created_by, "", 0) || !get_str(j, "role", &role, NULL, 0) ||
        !get_int(j, "created_at", &r.created_at, 0, 0) ||
        !get_int(j, "member_count", &r.member_count, 0, 0) ||
        !get_int(j, "online_count", &r.online_count, 0, 0) ||
        !get_int(j, "last_seq", &r.last_seq, 0, 0) || !get_int(j, "unread", &r.unread, -1, 0) ||
        !get_array(j, "members", &members))
        return 0;
    priv = cJSON_GetObjectItemCaseSensitive(j, "private");
    if (priv && !cJSON_IsBool(priv) && !cJSON_IsNull(priv))
        return 0;
    r.is_private = cJSON_IsTrue(priv);
    /* The members array comes before the strings: it needs alignment. */
    if (!members_piece(b, members, &r.members, &r.n_members))
        return 0;
    r.name = put_str(b, name);
    r.created_by = put_str(b, created_by);
    r.role = role ? put_str(b, role) : NULL;
    if (slot)
        *slot = r;
    return 1;
}

static int receipts_piece(struct blk *b, const cJSON *arr, struct parley_receipt_entry **out,
                          size_t *n)
{
    size_t count = array_size(arr), i = 0;
    struct parley_receipt_entry *v = count ? TAKE(b, struct parley_receipt_entry, count) : NULL;
    const cJSON *it;

    cJSON_ArrayForEach(it, arr)
    {
        struct parley_receipt_entry e;
        const char *user;
        if (!cJSON_IsObject(it) || !get_str(it, "user", &user, NULL, 1) ||
            !get_int(it, "ts", &e.ts, 0, 0))
            return 0;
        e.user = put_str(b, user);
        if (v)
            v[i] = e;
        i++;
    }
    *out = v;
    *n = count;
    return 1;
}

/* ---- whole results ------------------------------------------------------------ */

static int room_result(struct blk *b, const cJSON *j, size_t *n)
{
    struct parley_room *r = TAKE(b, struct parley_room, 1);

    return room_piece(b, j, r);
}

static int rooms_result(struct blk *b, const cJSON *arr, size_t *n)
{
    size_t count = array_size(arr), i = 0;
    struct parley_room *v;
    const cJSON *it;

    if (!cJSON_IsArray(arr))
        return 0;
    v = count ? TAKE(b, struct parley_room, count) : NULL;
    cJSON_ArrayForEach(it, arr)
    {
        if (!room_piece(b, it, v ? &v[i] : NULL))
            return 0;
        i++;
    }
    *n = count;
    return 1;
}

static int members_result(struct blk *b, const cJSON *arr, size_t *n)
{
    struct parley_member *v;

    return cJSON_IsArray(arr) && members_piece(b, arr, &v, n);
}

static int strings_result(struct blk *b, const cJSON *arr, size_t *n)
{
    struct parley_strings *s = TAKE(b, struct parley_strings, 1);
    struct parley_strings tmp;

    if (!cJSON_IsArray(arr) || !strings_piece(b, arr, &tmp.items, &tmp.n))
        return 0;
    if (s)
        *s = tmp;
    return 1;
}

static int subscribe_result(struct blk *b, const cJSON *j, size_t *n)
{
    struct parley_subscribe_result *r = TAKE(b, struct parley_subscribe_result, 1);
    struct parley_subscribe_result tmp;
    const cJSON *subscribed, *failed, *it;
    size_t i = 0;

    if (!cJSON_IsObject(j) || !get_array(j, "subscribed", &subscribed) ||
        !get_array(j, "failed", &failed))
        return 0;
    tmp.n_failed = array_size(failed);
    tmp.failed = tmp.n_failed ? TAKE(b, struct parley_subscribe_failure, tmp.n_failed) : NULL;
    if (!strings_piece(b, subscribed, &tmp.subscribed, &tmp.n_subscribed))
        return 0;
    cJSON_ArrayForEach(it, failed)
    {
        struct parley_subscribe_failure f;
        const char *room, *code;
        if (!cJSON_IsObject(it) || !get_str(it, "room", &room, NULL, 1) ||
            !get_str(it, "code", &code, "", 0))
            return 0;
        f.room = put_str(b, room);
        f.code = put_str(b, code);
        if (tmp.failed)
            tmp.failed[i] = f;
        i++;
    }
    if (r)
        *r = tmp;
    return 1;
}

static int subscriptions_result(struct blk *b, const cJSON *arr, size_t *n)
{
    size_t count = array_size(arr), i = 0;
    struct parley_subscription *v;
    const cJSON *it;

    if (!cJSON_IsArray(arr))
        return 0;
    v = count ? TAKE(b, struct parley_subscription, count) : NULL;
    cJSON_ArrayForEach(it, arr)
    {
        struct parley_subscription s;
        const char *room;
        if (!cJSON_IsObject(it) || !get_str(it, "room", &room, NULL, 1) ||
            !get_int(it, "subscribed_at", &s.subscribed_at, 0, 0) ||
            !get_int(it, "last_seq", &s.last_seq, 0, 0) ||
            !get_int(it, "last_read_seq", &s.last_read_seq, 0, 0) ||
            !get_int(it, "unread", &s.unread, 0, 0))
            return 0;
        s.room = put_str(b, room);
        if (v)
            v[i] = s;
        i++;
    }
    *n = count;
    return 1;
}

static int delivery_result(struct blk *b, const cJSON *j, size_t *n)
{
    struct parley_delivery_status *r = TAKE(b, struct parley_delivery_status, 1);
    struct parley_delivery_status tmp;
    const cJSON *delivered, *read_by, *pending;

    if (!cJSON_IsObject(j) || !get_int(j, "message_id", &tmp.message_id, 0, 1) ||
        !get_array(j, "delivered_to", &delivered) || !get_array(j, "read_by", &read_by) ||
        !get_array(j, "pending", &pending))
        return 0;
    if (!receipts_piece(b, delivered, &tmp.delivered_to, &tmp.n_delivered) ||
        !receipts_piece(b, read_by, &tmp.read_by, &tmp.n_read) ||
        !strings_piece(b, pending, &tmp.pending, &tmp.n_pending))
        return 0;
    if (r)
        *r = tmp;
    return 1;
}

/* ---- presence and connection recovery ------------------------------------------ */

static int user_status_result(struct blk *b, const cJSON *j, size_t *n)
{
    struct parley_user_status *r = TAKE(b, struct parley_user_status, 1);
    struct parley_user_status tmp;
    const char *user, *status;

    if (!cJSON_IsObject(j) || !get_str(j, "user", &user, NULL, 1) ||
        !get_str(j, "status", &status, NULL, 1) ||
        !get_int(j, "last_seen", &tmp.last_seen, -1, 0) ||
        !get_int(j, "connections", &tmp.connections, 0, 0))
        return 0;
    tmp.user = put_str(b, user);
    tmp.status = put_str(b, status);
    if (r)
        *r = tmp;
    return 1;
}

static int presence_result(struct blk *b, const cJSON *j, size_t *n)
{
    struct parley_presence *r = TAKE(b, struct parley_presence, 1);
    struct parley_presence tmp;
    const char *user, *name, *status;

    if (!cJSON_IsObject(j) || !get_str(j, "user", &user, NULL, 1) ||
        !get_str(j, "name", &name, NULL, 0) || !get_str(j, "status", &status, NULL, 1) ||
        !get_int(j, "last_seen", &tmp.last_seen, -1, 0))
        return 0;
    tmp.user = put_str(b, user);
    tmp.name = put_str(b, name ? name : user);
    tmp.status = put_str(b, status);
    if (r)
        *r = tmp;
    return 1;
}

static int session_result(struct blk *b, const cJSON *j, size_t *n)
{
    struct parley_session *r = TAKE(b, struct parley_session, 1);
    struct parley_session tmp;
    const char *token;

    if (!cJSON_IsObject(j) || !get_str(j, "session_token", &token, NULL, 1) ||
        !get_int(j, "expires_in", &tmp.expires_in, 0, 0))
        return 0;
    tmp.session_token = put_str(b, token);
    if (r)
        *r = tmp;
    return 1;
}

static int recover_result(struct blk *b, const cJSON *j, size_t *n)
{
    struct parley_recover_result *r = TAKE(b, struct parley_recover_result, 1);
    struct parley_recover_result tmp;
    const cJSON *rec, *rooms;
    const char *token;

    if (!cJSON_IsObject(j))
        return 0;
    rec = cJSON_GetObjectItemCaseSensitive(j, "recovered");
    if (!cJSON_IsBool(rec) || !get_str(j, "session_token", &token, "", 0) ||
        !get_array(j, "rooms", &rooms) || !get_int(j, "missed", &tmp.missed, 0, 0))
        return 0;
    tmp.recovered = cJSON_IsTrue(rec);
    if (!strings_piece(b, rooms, &tmp.rooms, &tmp.n_rooms))
        return 0;
    tmp.session_token = put_str(b, token);
    if (r)
        *r = tmp;
    return 1;
}

static int session_info_result(struct blk *b, const cJSON *j, size_t *n)
{
    struct parley_session_info *r = TAKE(b, struct parley_session_info, 1);
    struct parley_session_info tmp;
    const cJSON *rooms, *id;
    const char *sid = NULL, *state;
    char num[24];

    if (!cJSON_IsObject(j) || !get_array(j, "rooms", &rooms) ||
        !get_int(j, "created_at", &tmp.created_at, 0, 0) ||
        !get_int(j, "expires_at", &tmp.expires_at, -1, 0) ||
        !get_str(j, "state", &state, "", 0))
        return 0;
    /* An opaque id: a string, or an integer read as its decimal text. */
    id = cJSON_GetObjectItemCaseSensitive(j, "session_id");
    if (cJSON_IsString(id)) {
        sid = id->valuestring;
    } else {
        int64_t v;
        if (!pl_json_int64(id, &v))
            return 0;
        snprintf(num, sizeof(num), "%lld", (long long)v);
        sid = num;
    }
    if (!strings_piece(b, rooms, &tmp.rooms, &tmp.n_rooms))
        return 0;
    tmp.session_id = put_str(b, sid);
    tmp.state = put_str(b, state);
    if (r)
        *r = tmp;
    return 1;
}

/* ---- the public parse functions ------------------------------------------------- */

/* The array to read: the root itself, or the first of keys that holds an
 * array in an object root. NULL when neither. */
static const cJSON *pick_array(const cJSON *root, const char *const *keys)
{
    if (cJSON_IsArray(root))
        return root;
    if (!cJSON_IsObject(root))
        return NULL;
    for (; *keys; keys++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, *keys);
        if (cJSON_IsArray(it))
            return it;
    }
    return NULL;
}

/* Parses json and builds from the array found under keys (or the root
 * object when keys is NULL). */
static int parse_with(const char *json, const char *const *keys, build_fn fn, void **out,
                      size_t *n)
{
    cJSON *root;
    const cJSON *j;
    int rc;

    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (!json || !out)
        return PARLEY_ERR_INVAL;
    root = cJSON_Parse(json);
    if (!root)
        return PARLEY_ERR_PROTOCOL;
    j = keys ? pick_array(root, keys) : root;
    rc = j ? build(j, fn, out, n) : PARLEY_ERR_PROTOCOL;
    cJSON_Delete(root);
    return rc;
}

PARLEY_API int parley_room_parse(const char *json, struct parley_room **out)
{
    return parse_with(json, NULL, room_result, (void **)out, NULL);
}

PARLEY_API int parley_rooms_parse(const char *json, struct parley_room **rooms, size_t *n)
{
    static const char *const keys[] = {"rooms", NULL};

    return parse_with(json, keys, rooms_result, (void **)rooms, n);
}

PARLEY_API int parley_members_parse(const char *json, struct parley_member **members,
                                    size_t *n)
{
    static const char *const keys[] = {"users", "members", NULL};

    return parse_with(json, keys, members_result, (void **)members, n);
}

PARLEY_API int parley_strings_parse(const char *json, const char *key,
                                    struct parley_strings **out)
{
    const char *keys[2] = {key, NULL};
    cJSON *root;
    const cJSON *arr;
    int rc;

    if (!key)
        return parse_with(json, keys + 1, strings_result, (void **)out, NULL);
    /* With a key, the root must be an object holding that key. */
    if (out)
        *out = NULL;
    if (!json || !out)
        return PARLEY_ERR_INVAL;
    root = cJSON_Parse(json);
    arr = cJSON_GetObjectItemCaseSensitive(root, key);
    rc = cJSON_IsObject(root) && cJSON_IsArray(arr)
             ? build(arr, strings_result, (void **)out, NULL)
             : PARLEY_ERR_PROTOCOL;
    cJSON_Delete(root);
    return rc;
}

PARLEY_API int parley_subscribe_result_parse(const char *json,
                                             struct parley_subscribe_result **out)
{
    return parse_with(json, NULL, subscribe_result, (void **)out, NULL);
}

PARLEY_API int parley_subscriptions_parse(const char *json, struct parley_subscription **subs,
                                          size_t *n)
{
    static const char *const keys[] = {"subscriptions", NULL};

    return parse_with(json, keys, subscriptions_result, (void **)subs, n);
}

PARLEY_API int parley_delivery_status_parse(const char *json,
                                            struct parley_delivery_status **out)
{
    return parse_with(json, NULL, delivery_result, (void **)out, NULL);
}

PARLEY_API int parley_subscription_status_parse(const char *json, int *member, int *subscribed)
{
    cJSON *root;
    const cJSON *m, *s;
    int rc = PARLEY_ERR_PROTOCOL;

    if (member)
        *member = 0;
    if (subscribed)
        *subscribed = 0;
    if (!json)
        return PARLEY_ERR_INVAL;
    root = cJSON_Parse(json);
    m = cJSON_GetObjectItemCaseSensitive(root, "member");
    s = cJSON_GetObjectItemCaseSensitive(root, "subscribed");
    if (cJSON_IsObject(root) && cJSON_IsBool(m) && cJSON_IsBool(s)) {
        if (member)
            *member = cJSON_IsTrue(m);
        if (subscribed)
            *subscribed = cJSON_IsTrue(s);
        rc = PARLEY_OK;
    }
    cJSON_Delete(root);
    return rc;
}

PARLEY_API int parley_read_parse(const char *json, int64_t *last_read_seq)
{
    cJSON *root;
    int64_t v;
    int rc = PARLEY_ERR_PROTOCOL;

    if (last_read_seq)
        *last_read_seq = 0;
    if (!json)
        return PARLEY_ERR_INVAL;
    root = cJSON_Parse(json);
    if (cJSON_IsObject(root) && get_int(root, "last_read_seq", &v, 0, 1)) {
        if (last_read_seq)
            *last_read_seq = v;
        rc = PARLEY_OK;
    }
    cJSON_Delete(root);
    return rc;
}

PARLEY_API int parley_message_stats_parse(const char *json, struct parley_message_stats *out)
{
    cJSON *root;
    struct parley_message_stats s;
    int rc = PARLEY_ERR_PROTOCOL;

    if (!out)
        return PARLEY_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    if (!json)
        return PARLEY_ERR_INVAL;
    root = cJSON_Parse(json);
    if (cJSON_IsObject(root) && get_int(root, "sent", &s.sent, 0, 1) &&
        get_int(root, "delivered", &s.delivered, 0, 1) && get_int(root, "read", &s.read, 0, 1) &&
        get_int(root, "deleted", &s.deleted, 0, 1)) {
        *out = s;
        rc = PARLEY_OK;
    }
    cJSON_Delete(root);
    return rc;
}

PARLEY_API int parley_user_status_parse(const char *json, struct parley_user_status **out)
{
    return parse_with(json, NULL, user_status_result, (void **)out, NULL);
}

PARLEY_API int parley_presence_parse(const char *json, struct parley_presence **out)
{
    return parse_with(json, NULL, presence_result, (void **)out, NULL);
}

PARLEY_API int parley_session_parse(const char *json, struct parley_session **out)
{
    return parse_with(json, NULL, session_result, (void **)out, NULL);
}

PARLEY_API int parley_recover_result_parse(const char *json, struct parley_recover_result **out)
{
    return parse_with(json, NULL, recover_result, (void **)out, NULL);
}

PARLEY_API int parley_session_info_parse(const char *json, struct parley_session_info **out)
{
    return parse_with(json, NULL, session_info_result, (void **)out, NULL);
}

/* Reads the required integer fields keys[i] of a JSON object into vals[i]
 * (all or none). */
static int parse_numbers(const char *json, const char *const *keys, int64_t *vals, size_t n)
{
    cJSON *root;
    int rc = PARLEY_ERR_PROTOCOL;
    size_t i;

    if (!json)
        return PARLEY_ERR_INVAL;
    root = cJSON_Parse(json);
    if (cJSON_IsObject(root)) {
        for (i = 0; i < n && get_int(root, keys[i], &vals[i], 0, 1); i++)
            ;
        if (i == n)
            rc = PARLEY_OK;
    }
    cJSON_Delete(root);
    return rc;
}

PARLEY_API int parley_presence_stats_parse(const char *json, struct parley_presence_stats *out)
{
    static const char *const keys[] = {"online", "away", "busy", "users", "connections"};
    int64_t v[5];
    int rc;

    if (!out)
        return PARLEY_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    rc = parse_numbers(json, keys, v, 5);
    if (rc == PARLEY_OK) {
        out->online = v[0];
        out->away = v[1];
        out->busy = v[2];
        out->users = v[3];
        out->connections = v[4];
    }
    return rc;
}

PARLEY_API int parley_connection_stats_parse(const char *json,
                                             struct parley_connection_stats *out)
{
    static const char *const keys[] = {"active_sessions", "recovered", "failed", "expired",
                                       "queued"};
    int64_t v[5];
    int rc;

    if (!out)
        return PARLEY_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    rc = parse_numbers(json, keys, v, 5);
    if (rc == PARLEY_OK) {
        out->active_sessions = v[0];
        out->recovered = v[1];
        out->failed = v[2];
        out->expired = v[3];
        out->queued = v[4];
    }
    return rc;
}

/* ---- freeing: every result is one block ---------------------------------------- */

PARLEY_API void parley_room_free(struct parley_room *room)
{
    free(room);
}

PARLEY_API void parley_rooms_free(struct parley_room *rooms, size_t n)
{
    (void)n;
    free(rooms);
}

PARLEY_API void parley_members_free(struct parley_member *members, size_t n)
{
    (void)n;
    free(members);
}

PARLEY_API void parley_strings_free(struct parley_strings *s)
{
    free(s);
}

PARLEY_API void parley_subscribe_result_free(struct parley_subscribe_result *r)
{
    free(r);
}

PARLEY_API void parley_subscriptions_free(struct parley_subscription *subs, size_t n)
{
    (void)n;
    free(subs);
}

PARLEY_API void parley_delivery_status_free(struct parley_delivery_status *s)
{
    free(s);
}

PARLEY_API void parley_user_status_free(struct parley_user_status *s)
{
    free(s);
}

PARLEY_API void parley_session_free(struct parley_session *s)
{
    free(s);
}

PARLEY_API void parley_recover_result_free(struct parley_recover_result *r)
{
    free(r);
}

PARLEY_API void parley_session_info_free(struct parley_session_info *s)
{
    free(s);
}

PARLEY_API void parley_presence_free(struct parley_presence *p)
{
    free(p);
}
