#include "presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster.h"
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

/* One node's connections of a user. */
struct pd_rnode {
    char node[PD_NODE_ID_MAX + 1];
    int64_t conns;
};

/* A user connected to other nodes of the cluster (as they published). */
struct pd_remote {
    char user[PD_NAME_MAX + 1];
    char *name;
    enum pd_status status; /* as last set, on any node */
    struct pd_rnode *nodes;
    size_t nnodes;
    int64_t conns; /* over all of them */
};

struct pd_presence {
    struct pd_hmap seen;   /* user -> struct pd_seen */
    struct pd_hmap remote; /* user -> struct pd_remote: connected elsewhere */
    uint64_t mark;         /* stamp of the push being sent */
};

static const char *const status_names[] = {
    [PD_STATUS_ONLINE] = "online",
    [PD_STATUS_AWAY] = "away",
    [PD_STATUS_BUSY] = "busy",
    [PD_STATUS_OFFLINE] = "offline",
};

static const struct pd_remote *remote_of(struct server *srv, const char *user)
{
    return pd_hmap_get(&srv->presence->remote, user);
}

static int64_t local_conns(const struct pd_user *u)
{
    return u != NULL ? (int64_t)u->nconns : 0;
}

static int64_t remote_conns(const struct pd_remote *r)
{
    return r != NULL ? r->conns : 0;
}

/* What others see of a user connected to other nodes only. */
static const char *shown_remote(const struct pd_remote *r)
{
    return remote_conns(r) > 0 && r->status != PD_STATUS_OFFLINE ? status_names[r->status]
                                                                 : "offline";
}

/* What others see, over the whole cluster: the status the user set
 * (shared by all their connections, wherever) while any is open. */
static const char *shown(struct server *srv, const char *user)
{
    const struct pd_user *u = pd_user_find(srv, user);

    if (local_conns(u) == 0)
        return shown_remote(remote_of(srv, user));
    return u->status != PD_STATUS_OFFLINE ? status_names[u->status] : "offline";
}

const char *pd_presence_visible(struct server *srv, const char *user)
{
    return shown(srv, user);
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

static void remote_free(struct pd_remote *r)
{
    if (r != NULL) {
        free(r->name);
        free(r->nodes);
        free(r);
    }
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
    pos = 0;
    while ((s = pd_hmap_next(&srv->presence->remote, &pos, NULL)) != NULL)
        remote_free(s);
    pd_hmap_free(&srv->presence->remote);
    free(srv->presence);
    srv->presence = NULL;
}

/* Tells the other nodes how many connections of user this node holds now
 * and the user's status; last_seen when the count just dropped. */
static void publish(struct server *srv, const char *user, const char *name, int64_t conns,
                    enum pd_status st, int64_t last_seen)
{
    cJSON *h = pd_bus_head(srv, "pres", NULL);

    if (h == NULL)
        return;
    cJSON_AddStringToObject(h, "u", user);
    cJSON_AddStringToObject(h, "nm", name);
    pd_json_add_int(h, "c", conns);
    cJSON_AddStringToObject(h, "st", status_names[st]);
    if (last_seen >= 0)
        pd_json_add_int(h, "ls", last_seen);
    pd_cluster_publish(srv, h, NULL, 0);
}

void pd_presence_conn_open(struct server *srv, struct pd_conn *c)
{
    struct pd_user *u = pd_user_find(srv, c->ident.sub);

    if (u == NULL)
        return;
    /* A further device inherits the user's status, wherever the others
     * are; the first anywhere starts online. */
    if (u->nconns == 1) {
        const struct pd_remote *r = remote_of(srv, u->id);
        const char *before = shown_remote(r), *after;
        u->status = remote_conns(r) > 0 ? r->status : PD_STATUS_ONLINE;
        after = shown(srv, u->id);
        if (strcmp(before, after) != 0)
            push_update(srv, u, c->ident.name, after, -1, c);
    }
    publish(srv, u->id, c->ident.name, (int64_t)u->nconns, u->status, -1);
}

void pd_presence_conn_close(struct server *srv, struct pd_conn *c)
{
    struct pd_user *u = pd_user_find(srv, c->ident.sub);
    int64_t now = pd_now_ms();

    if (u == NULL)
        return;
    /* Other devices, here or on other nodes, keep the user as they are;
     * one invisible until now was seen leaving when they hid. */
    if (u->nconns == 1 && strcmp(shown(srv, u->id), shown_remote(remote_of(srv, u->id))) != 0) {
        const char *after = shown_remote(remote_of(srv, u->id));
        bool off = strcmp(after, "offline") == 0;
        if (off)
            set_seen(srv, u->id, now);
        push_update(srv, u, c->ident.name, after, off ? now : -1, c);
    }
    publish(srv, u->id, c->ident.name, (int64_t)u->nconns - 1, u->status, now);
}

/* ---- other nodes ------------------------------------------------------------------ */

static struct pd_remote *remote_get(struct server *srv, const char *user, const char *name)
{
    struct pd_remote *r = pd_hmap_get(&srv->presence->remote, user);

    if (r == NULL) {
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return NULL;
        snprintf(r->user, sizeof(r->user), "%s", user);
        if (pd_hmap_put(&srv->presence->remote, r->user, r) != 0) {
            free(r);
            return NULL;
        }
    }
    if (name[0] != '\0' && (r->name == NULL || strcmp(r->name, name) != 0)) {
        char *copy = strdup(name);
        if (copy != NULL) {
            free(r->name);
            r->name = copy;
        }
    }
    return r;
}

/* Sets node's count of the user's connections; 0 or -1 (out of memory). */
static int remote_set(struct pd_remote *r, const char *node, int64_t conns)
{
    size_t i;

    for (i = 0; i < r->nnodes && strcmp(r->nodes[i].node, node) != 0; i++)
        ;
    if (i == r->nnodes) {
        struct pd_rnode *grown;
        if (conns == 0)
            return 0;
        grown = realloc(r->nodes, (r->nnodes + 1) * sizeof(*grown));
        if (grown == NULL)
            return -1;
        r->nodes = grown;
        snprintf(r->nodes[i].node, sizeof(r->nodes[i].node), "%s", node);
        r->nodes[i].conns = 0;
        r->nnodes++;
    }
    r->conns += conns - r->nodes[i].conns;
    r->nodes[i].conns = conns;
    if (conns == 0)
        r->nodes[i] = r->nodes[--r->nnodes];
    return 0;
}

/* node holds `conns` connections of user now, who set status st; pushes
 * what changed for others here. */
static void remote_update(struct server *srv, const char *node, const char *user,
                          const char *name, int64_t conns, enum pd_status st, int64_t last_seen)
{
    struct pd_user *u = pd_user_find(srv, user);
    const char *before = shown(srv, user), *after;
    struct pd_remote *r = remote_get(srv, user, name);

    if (r == NULL || remote_set(r, node, conns) != 0) {
        pd_error("cluster: out of memory recording the presence of '%s'", user);
        return;
    }
    r->status = st;
    if (local_conns(u) > 0)
        u->status = st; /* one status for all of the user's connections */
    after = shown(srv, user);
    if (strcmp(before, after) != 0 && u != NULL) {
        bool off = strcmp(after, "offline") == 0;
        int64_t ts = last_seen > 0 ? last_seen : pd_now_ms();
        if (off)
            set_seen(srv, user, ts);
        push_update(srv, u, r->name ? r->name : user, after, off ? ts : -1, NULL);
    }
    if (r->conns == 0) {
        pd_hmap_del(&srv->presence->remote, r->user);
        remote_free(r);
    }
}

static enum pd_status status_of(const char *name)
{
    for (unsigned i = 0; i < PD_STATUS__COUNT; i++)
        if (strcmp(name, status_names[i]) == 0)
            return (enum pd_status)i;
    return PD_STATUS_ONLINE;
}

/* One entry of a presence message: user, name, connections, status. */
static void apply_entry(struct server *srv, const char *node, const cJSON *user,
                        const cJSON *name, const cJSON *conns, const cJSON *st, int64_t ls)
{
    int64_t n = 0;

    if (!cJSON_IsString(user) || !pd_valid_user_id(user->valuestring) ||
        !pd_json_int(conns, 0, PD_JSON_INT_MAX, &n))
        return;
    remote_update(srv, node, user->valuestring, cJSON_IsString(name) ? name->valuestring : "",
                  n, status_of(cJSON_IsString(st) ? st->valuestring : ""), ls);
}

/* Every user node had connections of, but those in `keep` (a sync lists
 * them all), drop to none there. */
static void forget_node(struct server *srv, const char *node, const cJSON *keep)
{
    size_t pos = 0, n = 0, cap = srv->presence->remote.len;
    const struct pd_remote *r;
    char(*gone)[PD_NAME_MAX + 1] = cap ? calloc(cap, sizeof(*gone)) : NULL;
    struct pd_hmap kept = {0}; /* the users of keep, so each lookup is one probe */
    const cJSON *e;
    int64_t now = pd_now_ms();

    if (cap > 0 && gone == NULL) {
        pd_error("cluster: out of memory forgetting the connections of node %s", node);
        return;
    }
    cJSON_ArrayForEach(e, keep)
    {
        const cJSON *u = cJSON_GetArrayItem(e, 0);
        if (cJSON_IsString(u) && pd_hmap_put(&kept, u->valuestring, (void *)u) != 0) {
            pd_error("cluster: out of memory reading the presence of node %s", node);
            pd_hmap_free(&kept);
            free(gone);
            return;
        }
    }
    while (gone != NULL && (r = pd_hmap_next(&srv->presence->remote, &pos, NULL)) != NULL) {
        bool there = false;
        for (size_t i = 0; i < r->nnodes; i++)
            there |= strcmp(r->nodes[i].node, node) == 0;
        if (there && pd_hmap_get(&kept, r->user) == NULL)
            snprintf(gone[n++], sizeof(gone[0]), "%s", r->user);
    }
    for (size_t i = 0; i < n; i++) {
        r = remote_of(srv, gone[i]);
        if (r != NULL)
            remote_update(srv, node, gone[i], "", 0, r->status, now);
    }
    pd_hmap_free(&kept);
    free(gone);
}

void pd_presence_apply(struct server *srv, const char *node, const cJSON *head)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(head, "k");
    const cJSON *users, *e;
    int64_t ls = 0;

    if (strcmp(k->valuestring, "pres") == 0) {
        pd_json_int(cJSON_GetObjectItemCaseSensitive(head, "ls"), 0, PD_JSON_INT_MAX, &ls);
        apply_entry(srv, node, cJSON_GetObjectItemCaseSensitive(head, "u"),
                    cJSON_GetObjectItemCaseSensitive(head, "nm"),
                    cJSON_GetObjectItemCaseSensitive(head, "c"),
                    cJSON_GetObjectItemCaseSensitive(head, "st"), ls);
        return;
    }
    /* sync: everything node holds; whoever is not listed is gone there. */
    users = cJSON_GetObjectItemCaseSensitive(head, "us");
    if (!cJSON_IsArray(users))
        return;
    forget_node(srv, node, users);
    cJSON_ArrayForEach(e, users)
    {
        apply_entry(srv, node, cJSON_GetArrayItem(e, 0), cJSON_GetArrayItem(e, 1),
                    cJSON_GetArrayItem(e, 2), cJSON_GetArrayItem(e, 3), 0);
    }
}

void pd_presence_node_gone(struct server *srv, const char *node)
{
    forget_node(srv, node, NULL);
}

void pd_presence_publish_all(struct server *srv)
{
    cJSON *h = pd_bus_head(srv, "sync", NULL), *users;
    size_t pos = 0;
    struct pd_user *u;

    if (h == NULL)
        return;
    users = cJSON_AddArrayToObject(h, "us");
    while ((u = pd_user_next(srv, &pos)) != NULL) {
        cJSON *e;
        if (u->nconns == 0)
            continue;
        e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateString(u->id));
        cJSON_AddItemToArray(e, cJSON_CreateString(u->conns[0]->ident.name));
        cJSON_AddItemToArray(e, cJSON_CreateNumber((double)u->nconns));
        cJSON_AddItemToArray(e, cJSON_CreateString(status_names[u->status]));
        cJSON_AddItemToArray(users, e);
    }
    pd_cluster_publish(srv, h, NULL, 0);
}

/* ---- handlers ------------------------------------------------------------------ */

enum pd_err pd_handle_update_status(struct pd_req *r)
{
    struct pd_user *u = pd_user_find(r->srv, r->conn->ident.sub);
    struct pd_remote *rem;
    const char *name = NULL, *before, *after;
    enum pd_status st = PD_STATUS__COUNT;
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
    before = shown(r->srv, u->id);
    u->status = st;
    if ((rem = pd_hmap_get(&r->srv->presence->remote, u->id)) != NULL)
        rem->status = st;
    after = shown(r->srv, u->id);
    if (strcmp(before, after) != 0) {
        int64_t now = pd_now_ms();
        if (st == PD_STATUS_OFFLINE)
            set_seen(r->srv, u->id, now);
        push_update(r->srv, u, r->conn->ident.name, after, st == PD_STATUS_OFFLINE ? now : -1,
                    r->conn);
    }
    publish(r->srv, u->id, r->conn->ident.name, (int64_t)u->nconns, st, -1);
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
            const char *st = shown(r->srv, m->user);
            if (strcmp(st, "offline") != 0)
                cJSON_AddItemToArray(users, user_entry(m->user, m->name, st));
        }
    } else {
        size_t pos = 0;
        struct pd_user *u;
        const struct pd_remote *rem;

        while ((u = pd_user_next(r->srv, &pos)) != NULL)
            if (local_conns(u) > 0 && u->status != PD_STATUS_OFFLINE)
                cJSON_AddItemToArray(users, user_entry(u->id, u->conns[0]->ident.name,
                                                       status_names[u->status]));
        pos = 0;
        while ((rem = pd_hmap_next(&r->srv->presence->remote, &pos, NULL)) != NULL)
            if (local_conns(pd_user_find(r->srv, rem->user)) == 0 &&
                strcmp(shown_remote(rem), "offline") != 0)
                cJSON_AddItemToArray(users, user_entry(rem->user, rem->name ? rem->name : "",
                                                       shown_remote(rem)));
    }
    sort_by_user(users);
    return PD_OK;
}

enum pd_err pd_handle_user_status(struct pd_req *r)
{
    const char *user = NULL;
    const struct pd_user *u;
    const struct pd_remote *rem;
    int64_t conns;
    enum pd_status st;
    bool self, shown_to_caller;
    enum pd_err e = pd_req_string(r, "user", true, 1, PD_NAME_MAX, &user, NULL);

    if (e != PD_OK)
        return e;
    if (!pd_valid_user_id(user))
        return pd_req_fail(r, PD_E_BAD_REQUEST,
                           "field 'user' must be 1 to 64 characters of [A-Za-z0-9_.@-]");
    u = pd_user_find(r->srv, user);
    rem = remote_of(r->srv, user);
    conns = local_conns(u) + remote_conns(rem);
    st = local_conns(u) > 0 ? u->status : rem != NULL ? rem->status : PD_STATUS_OFFLINE;
    self = strcmp(user, r->conn->ident.sub) == 0;
    /* Others do not learn that an invisible user is connected. */
    shown_to_caller = conns > 0 && (self || st != PD_STATUS_OFFLINE);
    r->result = cJSON_CreateObject();
    cJSON_AddStringToObject(r->result, "user", user);
    cJSON_AddStringToObject(r->result, "status", shown_to_caller ? status_names[st] : "offline");
    add_last_seen(r->result,
                  shown_to_caller && st != PD_STATUS_OFFLINE ? -1 : seen_at(r->srv, user));
    pd_json_add_int(r->result, "connections", shown_to_caller ? conns : 0);
    return PD_OK;
}

enum pd_err pd_handle_presence_stats(struct pd_req *r)
{
    int64_t count[PD_STATUS__COUNT] = {0}, users = 0, conns = 0;
    size_t pos = 0;
    struct pd_user *u;
    const struct pd_remote *rem;

    while ((u = pd_user_next(r->srv, &pos)) != NULL) {
        if (local_conns(u) == 0)
            continue;
        count[u->status]++;
        users++;
        conns += local_conns(u) + remote_conns(remote_of(r->srv, u->id));
    }
    pos = 0;
    while ((rem = pd_hmap_next(&r->srv->presence->remote, &pos, NULL)) != NULL) {
        if (local_conns(pd_user_find(r->srv, rem->user)) > 0)
            continue; /* counted above */
        count[rem->status]++;
        users++;
        conns += rem->conns;
    }
    r->result = cJSON_CreateObject();
    pd_json_add_int(r->result, "online", count[PD_STATUS_ONLINE]);
    pd_json_add_int(r->result, "away", count[PD_STATUS_AWAY]);
    pd_json_add_int(r->result, "busy", count[PD_STATUS_BUSY]);
    pd_json_add_int(r->result, "users", users);
    pd_json_add_int(r->result, "connections", conns);
    return PD_OK;
}
