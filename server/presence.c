#include "presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "conn.h"
#include "hmap.h"
#include "log.h"
#include "rooms.h"
#include "server.h"
#include "store.h"
#include "users.h"

/* When a user was last seen going offline (for others). */
struct pd_seen {
    char user[PD_NAME_MAX + 1];
    int64_t ts;
};

struct pd_presence {
    struct pd_hmap seen; /* user -> struct pd_seen */
    uint64_t mark;       /* stamp of the push being sent */
};

static const char *const status_names[] = {
    [PD_STATUS_ONLINE] = "online",
    [PD_STATUS_AWAY] = "away",
    [PD_STATUS_BUSY] = "busy",
    [PD_STATUS_OFFLINE] = "offline",
};

static bool connected(const struct pd_user *u)
{
    return u != NULL && u->nconns > 0;
}

static bool visible(const struct pd_user *u)
{
    return connected(u) && u->status != PD_STATUS_OFFLINE;
}

const char *pd_presence_visible(struct server *srv, const char *user)
{
    const struct pd_user *u = pd_user_find(srv, user);
    return visible(u) ? status_names[u->status] : "offline";
}

static int64_t seen_at(struct server *srv, const char *user)
{
    const struct pd_seen *s = pd_hmap_get(&srv->presence->seen, user);
    return s ? s->ts : -1;
}

static void free_job(struct pd_store_job *job)
{
    free(job);
}

/* Remembers (and stores) that user went offline, for others, at ts. */
static void set_seen(struct server *srv, const char *user, int64_t ts)
{
    struct pd_seen *s = pd_hmap_get(&srv->presence->seen, user);
    struct pd_store_job *job;

    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return;
        snprintf(s->user, sizeof(s->user), "%s", user);
        if (pd_hmap_put(&srv->presence->seen, s->user, s) != 0) {
            free(s);
            return;
        }
    }
    s->ts = ts;
    job = calloc(1, sizeof(*job));
    if (job == NULL)
        return;
    job->op = PD_OP_LAST_SEEN;
    job->now = ts;
    job->done = free_job;
    snprintf(job->user, sizeof(job->user), "%s", user);
    if (pd_store_submit(srv->store, job) != 0)
        free(job);
}

static void add_last_seen(cJSON *o, int64_t ts)
{
    if (ts >= 0)
        pd_json_add_int(o, "last_seen", ts);
    else
        cJSON_AddNullToObject(o, "last_seen");
}

/* presence:update {user, name, status, last_seen} to every connection
 * subscribed to a room of the user, once each, except `except`. */
static void push_update(struct server *srv, const struct pd_user *u, const char *name,
                        const char *status, int64_t last_seen, const struct pd_conn *except)
{
    uint64_t mark = ++srv->presence->mark;
    cJSON *root = cJSON_CreateObject(), *data = cJSON_CreateObject();
    struct pd_frame *f = NULL;
    char *json;

    cJSON_AddStringToObject(data, "user", u->id);
    cJSON_AddStringToObject(data, "name", name);
    cJSON_AddStringToObject(data, "status", status);
    add_last_seen(data, last_seen);
    cJSON_AddStringToObject(root, "event", "presence:update");
    cJSON_AddItemToObject(root, "data", data);
    json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (json != NULL)
        f = pd_frame_text(json, strlen(json));
    cJSON_free(json);
    if (f == NULL) {
        pd_error("out of memory pushing the presence of '%s'", u->id);
        return;
    }
    for (size_t i = 0; i < u->nrooms; i++) {
        const struct pd_room *room = u->rooms[i];
        for (size_t j = 0; j < room->nsubs; j++) {
            struct pd_conn *c = room->subs[j].conn;
            if (c == except || c->closing || c->mark == mark)
                continue;
            c->mark = mark;
            pd_conn_send_frame(c, f);
        }
    }
    free(f);
}

static int load_seen(void *arg, const char *user, int64_t ts)
{
    struct server *srv = arg;
    struct pd_seen *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return -1;
    snprintf(s->user, sizeof(s->user), "%s", user);
    s->ts = ts;
    if (pd_hmap_put(&srv->presence->seen, s->user, s) != 0) {
        free(s);
        return -1;
    }
    return 0;
}

int pd_presence_init(struct server *srv, char *err, size_t errlen)
{
    srv->presence = calloc(1, sizeof(*srv->presence));
    if (srv->presence == NULL || pd_store_each_last_seen(srv->store, load_seen, srv) != 0) {
        snprintf(err, errlen, "could not load last-seen times from the store");
        pd_presence_free(srv);
        return -1;
    }
    return 0;
}

void pd_presence_free(struct server *srv)
{
    size_t pos = 0;
    void *s;

    if (srv->presence == NULL)
        return;
    while ((s = pd_hmap_next(&srv->presence->seen, &pos, NULL)) != NULL)
        free(s);
    pd_hmap_free(&srv->presence->seen);
    free(srv->presence);
    srv->presence = NULL;
}

void pd_presence_conn_open(struct server *srv, struct pd_conn *c)
{
    struct pd_user *u = pd_user_find(srv, c->ident.sub);

    /* A further device inherits the user's status; the first starts online. */
    if (u == NULL || u->nconns != 1)
        return;
    u->status = PD_STATUS_ONLINE;
    push_update(srv, u, c->ident.name, "online", -1, c);
}

void pd_presence_conn_close(struct server *srv, struct pd_conn *c)
{
    struct pd_user *u = pd_user_find(srv, c->ident.sub);
    int64_t now = pd_now_ms();

    if (u == NULL || u->nconns != 1)
        return; /* other devices keep the user as they are */
    if (u->status != PD_STATUS_OFFLINE) {
        set_seen(srv, u->id, now);
        push_update(srv, u, c->ident.name, "offline", now, c);
    }
    /* Invisible until now: others saw them leave when they hid. */
}

/* ---- handlers ------------------------------------------------------------------ */

enum pd_err pd_handle_update_status(struct pd_req *r)
{
    struct pd_user *u = pd_user_find(r->srv, r->conn->ident.sub);
    const char *name = NULL;
    enum pd_status st = PD_STATUS__COUNT;
    bool was_visible;
    enum pd_err e = pd_req_string(r, "status", true, 1, 16, &name, NULL);

    if (e != PD_OK)
        return e;
    for (unsigned i = 0; i < PD_STATUS__COUNT; i++)
        if (strcmp(name, status_names[i]) == 0)
            st = (enum pd_status)i;
    if (st == PD_STATUS__COUNT)
        return pd_req_fail(r, PD_E_BAD_REQUEST,
                           "field 'status' must be online, away, busy or offline");
    if (u == NULL)
        return pd_req_fail(r, PD_E_INTERNAL, "connection not registered");
    was_visible = visible(u);
    if (u->status != st) {
        const char *before = was_visible ? status_names[u->status] : "offline";
        u->status = st;
        if (strcmp(before, pd_presence_visible(r->srv, u->id)) != 0) {
            int64_t now = pd_now_ms();
            if (st == PD_STATUS_OFFLINE)
                set_seen(r->srv, u->id, now);
            push_update(r->srv, u, r->conn->ident.name, pd_presence_visible(r->srv, u->id),
                        st == PD_STATUS_OFFLINE ? now : -1, r->conn);
        }
    }
    r->result = cJSON_CreateObject();
    cJSON_AddStringToObject(r->result, "status", status_names[st]);
    return PD_OK;
}

static int by_user_field(const void *a, const void *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)a, "user");
    const cJSON *y = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)b, "user");
    return strcmp(x->valuestring, y->valuestring);
}

/* Sorts the array's objects by their "user" field. */
static void sort_by_user(cJSON *arr)
{
    int n = cJSON_GetArraySize(arr);
    cJSON **items = n > 1 ? calloc((size_t)n, sizeof(*items)) : NULL;
    cJSON *it;
    int i = 0;

    if (items == NULL)
        return;
    while ((it = cJSON_DetachItemFromArray(arr, 0)) != NULL)
        items[i++] = it;
    qsort(items, (size_t)i, sizeof(*items), by_user_field);
    for (int j = 0; j < i; j++)
        cJSON_AddItemToArray(arr, items[j]);
    free(items);
}

static cJSON *user_entry(const char *user, const char *name, const char *status)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "user", user);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "status", status);
    return o;
}

enum pd_err pd_handle_online_users(struct pd_req *r)
{
    const cJSON *room_field = cJSON_GetObjectItemCaseSensitive(r->data, "room");
    cJSON *users;
    enum pd_err e;

    r->result = cJSON_CreateObject();
    users = cJSON_AddArrayToObject(r->result, "users");
    if (room_field != NULL && !cJSON_IsNull(room_field)) {
        struct pd_room *room;
        struct pd_member *m;
        size_t pos = 0;

        if ((e = pd_req_member_room(r, "room", &room, NULL)) != PD_OK)
            return e;
        while ((m = pd_hmap_next(&room->members, &pos, NULL)) != NULL) {
            const struct pd_user *u = pd_user_find(r->srv, m->user);
            if (visible(u))
                cJSON_AddItemToArray(users, user_entry(m->user, m->name, status_names[u->status]));
        }
    } else {
        size_t pos = 0;
        struct pd_user *u;

        while ((u = pd_user_next(r->srv, &pos)) != NULL)
            if (visible(u))
                cJSON_AddItemToArray(users, user_entry(u->id, u->conns[0]->ident.name,
                                                       status_names[u->status]));
    }
    sort_by_user(users);
    return PD_OK;
}

enum pd_err pd_handle_user_status(struct pd_req *r)
{
    const char *user = NULL;
    const struct pd_user *u;
    bool self, shown;
    enum pd_err e = pd_req_string(r, "user", true, 1, PD_NAME_MAX, &user, NULL);

    if (e != PD_OK)
        return e;
    if (!pd_valid_user_id(user))
        return pd_req_fail(r, PD_E_BAD_REQUEST,
                           "field 'user' must be 1 to 64 characters of [A-Za-z0-9_.@-]");
    u = pd_user_find(r->srv, user);
    self = strcmp(user, r->conn->ident.sub) == 0;
    /* Others do not learn that an invisible user is connected. */
    shown = self ? connected(u) : visible(u);
    r->result = cJSON_CreateObject();
    cJSON_AddStringToObject(r->result, "user", user);
    cJSON_AddStringToObject(r->result, "status", shown ? status_names[u->status] : "offline");
    add_last_seen(r->result, shown && u->status != PD_STATUS_OFFLINE ? -1 : seen_at(r->srv, user));
    pd_json_add_int(r->result, "connections", shown ? (int64_t)u->nconns : 0);
    return PD_OK;
}

enum pd_err pd_handle_presence_stats(struct pd_req *r)
{
    int64_t count[PD_STATUS__COUNT] = {0}, users = 0, conns = 0;
    size_t pos = 0;
    struct pd_user *u;

    while ((u = pd_user_next(r->srv, &pos)) != NULL) {
        if (!connected(u))
            continue;
        count[u->status]++;
        users++;
        conns += (int64_t)u->nconns;
    }
    r->result = cJSON_CreateObject();
    pd_json_add_int(r->result, "online", count[PD_STATUS_ONLINE]);
    pd_json_add_int(r->result, "away", count[PD_STATUS_AWAY]);
    pd_json_add_int(r->result, "busy", count[PD_STATUS_BUSY]);
    pd_json_add_int(r->result, "users", users);
    pd_json_add_int(r->result, "connections", conns);
    return PD_OK;
}
