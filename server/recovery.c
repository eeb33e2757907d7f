#include "recovery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "clock.h"
#include "cluster.h"
#include "conn.h"
#include "dispatch.h"
#include "hmap.h"
#include "log.h"
#include "loop.h"
#include "messaging.h"
#include "monitoring.h"
#include "rooms.h"
#include "server.h"
#include "store.h"

#define PD_SESSION_TICK_MS 1000
#define PD_TOKEN_BYTES 32
#define PD_TOKEN_LEN 43 /* base64url of 32 bytes, unpadded */

struct pd_session_room {
    char room[PD_NAME_MAX + 1];
    int64_t seq;
};

struct pd_session {
    char token_hash[65];
    char id[33];
    char user[PD_NAME_MAX + 1];
    int64_t created_at;
    int64_t expires_at; /* wall ms; 0 while a connection holds it */
    uint64_t conn_id;   /* the holder, 0 when detached */
    /* Detached: the rooms and seqs as the connection left them. */
    struct pd_session_room *rooms;
    size_t nrooms;
    bool dirty; /* held, and its subscriptions changed since the last save */
};

struct pd_recovery {
    struct pd_hmap by_hash; /* token hash -> struct pd_session */
    uint64_t recovered, failed, expired;
};

/* A save or drop in flight; for create-session and recover, also the
 * request to answer when it commits. */
struct pd_session_job {
    struct pd_store_job job;
    struct server *srv;
    uint64_t conn_id;
    int64_t req_id;
    char token[PD_TOKEN_LEN + 1]; /* the new token, for the ack */
    /* recover: what to resubscribe and replay */
    struct pd_session_room *plan;
    size_t nplan;
};

/* ---- sessions in memory -------------------------------------------------------- */

static void session_free(struct pd_session *s)
{
    if (s) {
        free(s->rooms);
        free(s);
    }
}

static void hash_token(const char *token, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)token, strlen(token), d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* A fresh random token (base64url) and a fresh public id (hex). */
static int new_secrets(char token[PD_TOKEN_LEN + 1], char id[33])
{
    unsigned char raw[PD_TOKEN_BYTES], idraw[16];
    char b64[4 * ((PD_TOKEN_BYTES + 2) / 3) + 1];

    if (RAND_bytes(raw, sizeof(raw)) != 1 || RAND_bytes(idraw, sizeof(idraw)) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw));
    for (int i = 0; i < PD_TOKEN_LEN; i++)
        token[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    token[PD_TOKEN_LEN] = '\0';
    for (int i = 0; i < 16; i++)
        snprintf(id + 2 * i, 3, "%02x", idraw[i]);
    return 0;
}

static void session_unlink(struct server *srv, struct pd_session *s)
{
    struct pd_conn *c = s->conn_id ? pd_conn_find(srv, s->conn_id) : NULL;

    if (c != NULL && c->session == s)
        c->session = NULL;
    pd_hmap_del(&srv->recovery->by_hash, s->token_hash);
}

/* {"room": seq, ...} of what the holder has, or of the detached snapshot. */
static char *rooms_json(struct server *srv, const struct pd_session *s)
{
    struct pd_conn *c = s->conn_id ? pd_conn_find(srv, s->conn_id) : NULL;
    cJSON *o = cJSON_CreateObject();
    char *text;

    if (c != NULL)
        for (size_t i = 0; i < c->nsubs; i++)
            pd_json_add_int(o, c->subs[i].room->name, c->subs[i].last_seq);
    else
        for (size_t i = 0; i < s->nrooms; i++)
            pd_json_add_int(o, s->rooms[i].room, s->rooms[i].seq);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static void session_job_free(struct pd_session_job *sj)
{
    cJSON_free(sj->job.session.rooms_json);
    free(sj->plan);
    free(sj);
}

static void quiet_done(struct pd_store_job *job)
{
    struct pd_session_job *sj = (struct pd_session_job *)job;

    if (job->rc != PD_OK)
        pd_warn("storing session %s failed: %s", job->session.id, pd_err_name(job->rc));
    session_job_free(sj);
}

/* A job that saves s as it stands (or drops it); NULL when out of memory. */
static struct pd_session_job *session_job(struct server *srv, const struct pd_session *s,
                                          enum pd_store_op op, void (*done)(struct pd_store_job *))
{
    struct pd_session_job *sj = calloc(1, sizeof(*sj));

    if (sj == NULL)
        return NULL;
    sj->srv = srv;
    sj->job.op = op;
    sj->job.now = pd_now_ms();
    sj->job.done = done;
    snprintf(sj->job.user, sizeof(sj->job.user), "%s", s->user);
    sj->job.session = (struct pd_session_rec){.created_at = s->created_at,
                                              .expires_at = s->expires_at};
    memcpy(sj->job.session.token_hash, s->token_hash, sizeof(s->token_hash));
    memcpy(sj->job.session.id, s->id, sizeof(s->id));
    memcpy(sj->job.session.user, s->user, sizeof(s->user));
    if (op == PD_OP_SESSION_SAVE && (sj->job.session.rooms_json = rooms_json(srv, s)) == NULL) {
        free(sj);
        return NULL;
    }
    return sj;
}

/* Fire and forget: a save or drop nobody waits for. */
static void persist(struct server *srv, const struct pd_session *s, enum pd_store_op op)
{
    struct pd_session_job *sj = session_job(srv, s, op, quiet_done);

    /* A save of a session stored before: one another node consumed
     * meanwhile must not come back from it. */
    if (sj != NULL)
        sj->job.session_update_only = op == PD_OP_SESSION_SAVE;

    if (sj == NULL || pd_store_submit(srv->store, &sj->job) != 0) {
        pd_warn("session %s not stored (out of memory or shutting down)", s->id);
        if (sj)
            session_job_free(sj);
    }
}

/* A new session held by c, in the map; NULL when out of memory. */
static struct pd_session *session_new(struct server *srv, struct pd_conn *c,
                                      char token[PD_TOKEN_LEN + 1])
{
    struct pd_session *s = calloc(1, sizeof(*s));

    if (s == NULL || new_secrets(token, s->id) != 0) {
        free(s);
        return NULL;
    }
    hash_token(token, s->token_hash);
    snprintf(s->user, sizeof(s->user), "%s", c->ident.sub);
    s->created_at = pd_now_ms();
    s->conn_id = c->id;
    if (pd_hmap_put(&srv->recovery->by_hash, s->token_hash, s) != 0) {
        free(s);
        return NULL;
    }
    c->session = s;
    return s;
}

/* c's current session (if any) ends: forgotten here and in the store. */
static void drop_held(struct server *srv, struct pd_conn *c)
{
    struct pd_session *old = c->session;

    if (old == NULL)
        return;
    session_unlink(srv, old);
    persist(srv, old, PD_OP_SESSION_DROP);
    session_free(old);
}

void pd_session_touch(struct pd_conn *c)
{
    if (c->session != NULL)
        c->session->dirty = true;
}

/* ---- loading and the sweep ------------------------------------------------------ */

/* A detached session from its stored record; NULL when out of memory or
 * (*unreadable set) the record cannot be read. */
static struct pd_session *session_from_rec(struct server *srv, const struct pd_session_rec *rec,
                                           bool *unreadable)
{
    struct pd_session *s = calloc(1, sizeof(*s));
    cJSON *rooms = cJSON_Parse(rec->rooms_json), *it;
    size_t n = 0;

    *unreadable = s != NULL && !cJSON_IsObject(rooms);
    if (s == NULL || *unreadable) {
        cJSON_Delete(rooms);
        free(s);
        return NULL;
    }
    s->rooms = calloc((size_t)cJSON_GetArraySize(rooms) + 1, sizeof(*s->rooms));
    cJSON_ArrayForEach(it, rooms)
    {
        int64_t seq;
        if (s->rooms != NULL && pd_valid_room_name(it->string) && pd_json_int(it, 0, PD_JSON_INT_MAX, &seq)) {
            snprintf(s->rooms[n].room, sizeof(s->rooms[n].room), "%s", it->string);
            s->rooms[n++].seq = seq;
        }
    }
    cJSON_Delete(rooms);
    s->nrooms = n;
    memcpy(s->token_hash, rec->token_hash, sizeof(s->token_hash));
    memcpy(s->id, rec->id, sizeof(s->id));
    memcpy(s->user, rec->user, sizeof(s->user));
    s->created_at = rec->created_at;
    /* Held when the server stopped (or died), or by a connection of
     * another node: the TTL starts now. */
    s->expires_at = rec->expires_at ? rec->expires_at
                                    : pd_now_ms() + (int64_t)srv->cfg.session_ttl * 1000;
    if (s->rooms == NULL) {
        session_free(s);
        return NULL;
    }
    return s;
}

static int load_session(void *arg, const struct pd_session_rec *rec)
{
    struct server *srv = arg;
    bool unreadable;
    struct pd_session *s = session_from_rec(srv, rec, &unreadable);

    if (s == NULL)
        return unreadable ? 0 : -1; /* an unreadable row is skipped, not fatal */
    if (pd_hmap_put(&srv->recovery->by_hash, s->token_hash, s) != 0) {
        session_free(s);
        return -1;
    }
    return 0;
}

/* A session this node does not hold: made, or last held, on another node
 * of the cluster. NULL when the store has none (or it expired). */
static struct pd_session *session_elsewhere(struct server *srv, const char *hash)
{
    struct pd_session_rec rec;
    struct pd_session *s = NULL;
    bool unreadable;

    if (!pd_cluster_on(srv) || pd_store_session_get(srv->store, hash, &rec) != PD_OK)
        return NULL;
    if (rec.expires_at == 0 || rec.expires_at > pd_now_ms())
        s = session_from_rec(srv, &rec, &unreadable);
    free(rec.rooms_json);
    return s;
}

void pd_recovery_forget(struct server *srv, const char *token_hash)
{
    struct pd_session *s = pd_hmap_get(&srv->recovery->by_hash, token_hash);

    if (s != NULL) {
        session_unlink(srv, s);
        session_free(s);
    }
}

static void tick(void *arg, int64_t now_mono)
{
    struct server *srv = arg;
    int64_t now = pd_now_ms();
    size_t pos = 0;
    struct pd_session *s;

    (void)now_mono;
    while ((s = pd_hmap_next(&srv->recovery->by_hash, &pos, NULL)) != NULL) {
        if (s->conn_id != 0 && s->dirty) {
            /* Subscriptions changed: a crash must not forget which rooms. */
            s->dirty = false;
            persist(srv, s, PD_OP_SESSION_SAVE);
        } else if (s->conn_id == 0 && s->expires_at <= now) {
            pd_hmap_del(&srv->recovery->by_hash, s->token_hash);
            persist(srv, s, PD_OP_SESSION_DROP);
            session_free(s);
            srv->recovery->expired++;
        }
    }
}

int pd_recovery_init(struct server *srv, char *err, size_t errlen)
{
    srv->recovery = calloc(1, sizeof(*srv->recovery));
    if (srv->recovery == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (pd_store_each_session(srv->store, load_session, srv) != 0) {
        snprintf(err, errlen, "could not load recovery sessions from the store");
        pd_recovery_free(srv);
        return -1;
    }
    if (pd_loop_every(srv->loop, PD_SESSION_TICK_MS, tick, srv) != 0) {
        snprintf(err, errlen, "out of memory");
        pd_recovery_free(srv);
        return -1;
    }
    pd_info("loaded %zu recovery sessions", srv->recovery->by_hash.len);
    return 0;
}

void pd_recovery_free(struct server *srv)
{
    size_t pos = 0;
    struct pd_session *s;

    if (srv->recovery == NULL)
        return;
    while ((s = pd_hmap_next(&srv->recovery->by_hash, &pos, NULL)) != NULL)
        session_free(s);
    pd_hmap_free(&srv->recovery->by_hash);
    free(srv->recovery);
    srv->recovery = NULL;
}

void pd_recovery_conn_close(struct server *srv, struct pd_conn *c)
{
    struct pd_session *s = c->session;
    struct pd_session_room *rooms;

    if (s == NULL)
        return;
    /* Snapshot what the connection had, then let go of it. */
    rooms = calloc(c->nsubs + 1, sizeof(*rooms));
    if (rooms != NULL) {
        for (size_t i = 0; i < c->nsubs; i++) {
            snprintf(rooms[i].room, sizeof(rooms[i].room), "%s", c->subs[i].room->name);
            rooms[i].seq = c->subs[i].last_seq;
        }
        free(s->rooms);
        s->rooms = rooms;
        s->nrooms = c->nsubs;
    }
    s->conn_id = 0;
    s->dirty = false;
    s->expires_at = pd_now_ms() + (int64_t)srv->cfg.session_ttl * 1000;
    c->session = NULL;
    persist(srv, s, PD_OP_SESSION_SAVE);
}

/* ---- connection:create-session ---------------------------------------------------- */

static void created_done(struct pd_store_job *job)
{
    struct pd_session_job *sj = (struct pd_session_job *)job;
    struct pd_conn *c = pd_conn_find(sj->srv, sj->conn_id);

    if (c != NULL && job->rc != PD_OK) {
        pd_ack_err(c, sj->req_id, "connection:create-session", PD_E_INTERNAL,
                   "could not store the session");
    } else if (c != NULL) {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "session_token", sj->token);
        pd_json_add_int(data, "expires_in", sj->srv->cfg.session_ttl);
        pd_ack_ok(c, sj->req_id, data);
    }
    session_job_free(sj);
}

enum pd_err pd_handle_create_session(struct pd_req *r)
{
    char token[PD_TOKEN_LEN + 1];
    struct pd_session *s;
    struct pd_session_job *sj;

    drop_held(r->srv, r->conn);
    s = session_new(r->srv, r->conn, token);
    sj = s ? session_job(r->srv, s, PD_OP_SESSION_SAVE, created_done) : NULL;
    if (sj == NULL) {
        if (s) {
            session_unlink(r->srv, s);
            session_free(s);
        }
        return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
    }
    sj->conn_id = r->conn->id;
    sj->req_id = r->id;
    memcpy(sj->token, token, sizeof(token));
    if (pd_store_submit(r->srv->store, &sj->job) != 0) {
        session_job_free(sj);
        return pd_req_fail(r, PD_E_INTERNAL, "the server is shutting down");
    }
    r->deferred = true;
    return PD_OK;
}

/* ---- connection:recover ------------------------------------------------------------ */

static void replay_one(void *arg, int64_t seq, const char *json, size_t len)
{
    (void)seq;
    pd_conn_send(arg, json, len);
}

/* Pushes message:new for seqs (from, upto] of room to c, oldest first. */
static int replay(struct server *srv, struct pd_conn *c, const struct pd_room *room, int64_t from,
                  int64_t upto)
{
    return pd_messages_range(srv, room->name, from, upto, replay_one, c);
}

static void recover_done(struct pd_store_job *job)
{
    struct pd_session_job *sj = (struct pd_session_job *)job;
    struct server *srv = sj->srv;
    struct pd_conn *c = pd_conn_find(srv, sj->conn_id);
    int64_t now = pd_now_ms(), missed = 0;
    int64_t *upto = NULL;
    cJSON *data, *rooms;
    bool recovered;

    if (c == NULL) { /* gone meanwhile: its close already detached the successor */
        session_job_free(sj);
        return;
    }
    if (job->rc != PD_OK) {
        /* The store says the token was consumed already: nothing changes. */
        if (c->session != NULL && strcmp(c->session->token_hash, job->session.token_hash) == 0) {
            struct pd_session *s = c->session;
            session_unlink(srv, s);
            session_free(s);
        }
        srv->recovery->failed++;
        pd_mon_conn_event(c, PD_MON_RECOVER_FAILED, "the store refused the recovery: %s",
                          pd_err_name(job->rc)); /* monitoring */
        pd_ack_err(c, sj->req_id, "connection:recover",
                   job->rc == PD_E_SESSION_EXPIRED ? PD_E_SESSION_EXPIRED : PD_E_INTERNAL,
                   "the session could not be recovered");
        session_job_free(sj);
        return;
    }
    /* Subscribe and replay in this one callback: nothing live can come in
     * between, and what is live from here on follows the replay. */
    upto = calloc(sj->nplan + 1, sizeof(*upto));
    data = cJSON_CreateObject();
    rooms = cJSON_CreateArray();
    for (size_t i = 0; upto != NULL && i < sj->nplan; i++) {
        struct pd_room *room = pd_room_find(srv, sj->plan[i].room);
        struct pd_sub *sub;
        bool had;

        upto[i] = -1;
        if (room == NULL || pd_room_member(room, c->ident.sub) == NULL)
            continue;
        sub = pd_conn_sub(c, room);
        had = sub != NULL;
        /* Already subscribed (rejoined before recovering): it has had the
         * live messages since then; only the gap before is owed. */
        upto[i] = had ? sub->start_seq : room->last_seq;
        if (!had && pd_room_subscribe(room, c, now) != 0) {
            upto[i] = -1;
            continue;
        }
        if (upto[i] > sj->plan[i].seq)
            missed += upto[i] - sj->plan[i].seq;
        cJSON_AddItemToArray(rooms, cJSON_CreateString(room->name));
    }
    recovered = upto != NULL && missed <= (int64_t)srv->cfg.recover_max;
    cJSON_AddBoolToObject(data, "recovered", recovered);
    cJSON_AddStringToObject(data, "session_token", sj->token);
    cJSON_AddItemToObject(data, "rooms", rooms);
    pd_json_add_int(data, "missed", missed);
    /* monitoring: a recovery without replay (too many missed) is a failure to the client */
    if (recovered)
        pd_mon_conn_event(c, PD_MON_RECOVERED, "%lld missed messages replayed, %d rooms resubscribed",
                          (long long)missed, cJSON_GetArraySize(rooms));
    else
        pd_mon_conn_event(c, PD_MON_RECOVER_FAILED,
                          "%lld missed messages, over recover_max %u: rooms resubscribed, no replay",
                          (long long)missed, srv->cfg.recover_max);
    pd_ack_ok(c, sj->req_id, data);
    for (size_t i = 0; recovered && i < sj->nplan; i++) {
        struct pd_room *room = pd_room_find(srv, sj->plan[i].room);
        if (upto[i] >= 0 && room != NULL &&
            replay(srv, c, room, sj->plan[i].seq, upto[i]) != 0)
            pd_error("replay of room '%s' to connection %llu failed", room->name,
                     (unsigned long long)c->id);
    }
    srv->recovery->recovered++;
    pd_session_touch(c);
    /* Other nodes may still hold the consumed session in memory. */
    cJSON *head = pd_bus_head(srv, "sess", NULL);
    if (head != NULL) {
        cJSON_AddStringToObject(head, "h", job->consume_hash);
        pd_cluster_publish(srv, head, NULL, 0);
    }
    free(upto);
    session_job_free(sj);
}

/* The rooms to resubscribe and where each replay starts: the session's
 * record, overridden by what the client says it received, plus rooms only
 * the client names (it knows what it had). */
static enum pd_err plan_rooms(struct pd_req *r, const struct pd_session *s,
                              struct pd_session_room **out, size_t *nout)
{
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(r->data, "last_seq"), *it;
    struct pd_conn *holder = s->conn_id ? pd_conn_find(r->srv, s->conn_id) : NULL;
    size_t cap, n = 0;
    struct pd_session_room *plan;

    if (last != NULL && !cJSON_IsNull(last) && !cJSON_IsObject(last))
        return pd_req_fail(r, PD_E_BAD_REQUEST, "field 'last_seq' must be an object of room: seq");
    cap = (holder ? holder->nsubs : s->nrooms) + (size_t)cJSON_GetArraySize(last) + 1;
    plan = calloc(cap, sizeof(*plan));
    if (plan == NULL)
        return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
    for (size_t i = 0; holder != NULL && i < holder->nsubs; i++) {
        snprintf(plan[n].room, sizeof(plan[n].room), "%s", holder->subs[i].room->name);
        plan[n++].seq = holder->subs[i].last_seq;
    }
    for (size_t i = 0; holder == NULL && i < s->nrooms; i++)
        plan[n++] = s->rooms[i];
    const cJSON *given = cJSON_IsObject(last) ? last : NULL;
    cJSON_ArrayForEach(it, given)
    {
        int64_t seq;
        size_t j;
        if (!pd_valid_room_name(it->string) || !pd_json_int(it, 0, PD_JSON_INT_MAX, &seq)) {
            free(plan);
            return pd_req_fail(r, PD_E_BAD_REQUEST,
                               "field 'last_seq' must map room names to seqs (integers >= 0)");
        }
        for (j = 0; j < n && strcmp(plan[j].room, it->string) != 0; j++)
            ;
        if (j == n)
            snprintf(plan[n++].room, sizeof(plan[0].room), "%s", it->string);
        plan[j].seq = seq;
    }
    *out = plan;
    *nout = n;
    return PD_OK;
}

enum pd_err pd_handle_recover(struct pd_req *r)
{
    struct server *srv = r->srv;
    const char *token;
    char hash[65], fresh[PD_TOKEN_LEN + 1];
    struct pd_session *old, *s, *elsewhere = NULL;
    struct pd_session_job *sj;
    struct pd_session_room *plan = NULL;
    size_t nplan = 0;
    enum pd_err e = pd_req_string(r, "session_token", true, 1, 256, &token, NULL);

    if (e != PD_OK)
        return e;
    hash_token(token, hash);
    old = pd_hmap_get(&srv->recovery->by_hash, hash);
    if (old == NULL)
        old = elsewhere = session_elsewhere(srv, hash);
    if (old == NULL) {
        srv->recovery->failed++;
        pd_mon_conn_event(r->conn, PD_MON_RECOVER_FAILED,
                          "unknown, expired or already recovered session token"); /* monitoring */
        return pd_req_fail(r, PD_E_SESSION_EXPIRED,
                           "the session is unknown, expired or already recovered");
    }
    if (strcmp(old->user, r->conn->ident.sub) != 0) {
        /* Refused without touching it: the token stays valid for its owner. */
        srv->recovery->failed++;
        pd_mon_conn_event(r->conn, PD_MON_RECOVER_FAILED, "session %s belongs to another user",
                          old->id); /* monitoring */
        session_free(elsewhere);
        return pd_req_fail(r, PD_E_FORBIDDEN, "the session belongs to another user");
    }
    if (old == r->conn->session)
        return pd_req_fail(r, PD_E_BAD_REQUEST, "this connection already holds that session");
    if ((e = plan_rooms(r, old, &plan, &nplan)) != PD_OK) {
        session_free(elsewhere);
        return e;
    }

    /* Consumed from here on, in memory at once and in the store with the
     * successor: a second recover of the same token finds nothing. */
    session_unlink(srv, old);
    drop_held(srv, r->conn);
    s = session_new(srv, r->conn, fresh);
    sj = s ? session_job(srv, s, PD_OP_SESSION_SAVE, recover_done) : NULL;
    if (sj == NULL) {
        if (s) {
            session_unlink(srv, s);
            session_free(s);
        }
        session_free(old);
        free(plan);
        return pd_req_fail(r, PD_E_INTERNAL, "out of memory");
    }
    memcpy(sj->job.consume_hash, old->token_hash, sizeof(old->token_hash));
    session_free(old);
    sj->conn_id = r->conn->id;
    sj->req_id = r->id;
    sj->plan = plan;
    sj->nplan = nplan;
    memcpy(sj->token, fresh, sizeof(fresh));
    if (pd_store_submit(srv->store, &sj->job) != 0) {
        session_job_free(sj);
        return pd_req_fail(r, PD_E_INTERNAL, "the server is shutting down");
    }
    r->deferred = true;
    return PD_OK;
}

size_t pd_recovery_count(const struct server *srv)
{
    return srv->recovery ? srv->recovery->by_hash.len : 0;
}

/* ---- connection:session-info and connection:stats --------------------------------- */

enum pd_err pd_handle_session_info(struct pd_req *r)
{
    const struct pd_session *s = r->conn->session;
    cJSON *rooms;

    if (s == NULL)
        return pd_req_fail(r, PD_E_NOT_FOUND,
                           "this connection has no session: send connection:create-session");
    r->result = cJSON_CreateObject();
    cJSON_AddStringToObject(r->result, "session_id", s->id);
    rooms = cJSON_AddArrayToObject(r->result, "rooms");
    for (size_t i = 0; i < r->conn->nsubs; i++)
        cJSON_AddItemToArray(rooms, cJSON_CreateString(r->conn->subs[i].room->name));
    pd_json_add_int(r->result, "created_at", s->created_at);
    cJSON_AddNullToObject(r->result, "expires_at");
    cJSON_AddStringToObject(r->result, "state", "active");
    return PD_OK;
}

enum pd_err pd_handle_connection_stats(struct pd_req *r)
{
    struct pd_recovery *rc = r->srv->recovery;
    size_t pos = 0;
    struct pd_session *s;
    int64_t queued = 0;

    while ((s = pd_hmap_next(&rc->by_hash, &pos, NULL)) != NULL) {
        for (size_t i = 0; s->conn_id == 0 && i < s->nrooms; i++) {
            const struct pd_room *room = pd_room_find(r->srv, s->rooms[i].room);
            if (room != NULL && room->last_seq > s->rooms[i].seq)
                queued += room->last_seq - s->rooms[i].seq;
        }
    }
    r->result = cJSON_CreateObject();
    pd_json_add_int(r->result, "active_sessions", (int64_t)rc->by_hash.len);
    pd_json_add_int(r->result, "recovered", (int64_t)rc->recovered);
    pd_json_add_int(r->result, "failed", (int64_t)rc->failed);
    pd_json_add_int(r->result, "expired", (int64_t)rc->expired);
    pd_json_add_int(r->result, "queued", queued);
    return PD_OK;
}
