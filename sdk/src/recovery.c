/* Automatic reconnect and session recovery (parley-protocol(7), connection
 * recovery): opening a connection, what follows a drop (backoff, the token
 * callback, connection:recover or a new session), the bookkeeping it needs
 * (the rooms this connection is subscribed to and the highest seq seen per
 * room), the de-duplication of message:new, and the client's counters.
 *
 * Everything here runs with the client lock held, except the connect
 * itself and the token callback, which run with it released. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>

#include "client.h"
#include "clock.h"
#include "events.h"
#include "handshake.h"
#include "json.h"

/* How long one automatic attempt (TCP connect and upgrade) may take. */
#define PL_RECONNECT_CONNECT_MS 10000
/* Rooms per room:subscribe-multiple (the protocol's limit). */
#define PL_SUBSCRIBE_CHUNK 100

/* ---- rooms ------------------------------------------------------------------ */

static struct pl_room_track *room_find(const parley_client *c, const char *name)
{
    for (size_t i = 0; i < c->n_rooms; i++)
        if (strcmp(c->rooms[i].name, name) == 0)
            return &c->rooms[i];
    return NULL;
}

/* The room's entry, made when missing; NULL for a name no room can have
 * (then nothing is tracked for it) or without memory. */
static struct pl_room_track *room_get(parley_client *c, const char *name)
{
    struct pl_room_track *t = room_find(c, name);
    size_t len = strlen(name);

    if (t)
        return t;
    if (len < 1 || len >= sizeof(t->name))
        return NULL;
    if (c->n_rooms == c->cap_rooms) {
        size_t cap = c->cap_rooms ? c->cap_rooms * 2 : 16;
        struct pl_room_track *v = realloc(c->rooms, cap * sizeof(*v));
        if (!v)
            return NULL;
        c->rooms = v;
        c->cap_rooms = cap;
    }
    t = &c->rooms[c->n_rooms++];
    memset(t, 0, sizeof(*t));
    memcpy(t->name, name, len + 1);
    return t;
}

static const char *str_item(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* Sets sub on every room named in the string array arr. */
static void rooms_sub(parley_client *c, const cJSON *arr, int sub)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, arr)
    {
        struct pl_room_track *t;
        if (!cJSON_IsString(it))
            continue;
        t = sub ? room_get(c, it->valuestring) : room_find(c, it->valuestring);
        if (t)
            t->sub = sub;
    }
}

static int in_strings(const cJSON *arr, const char *s)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, arr)
        if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
            return 1;
    return 0;
}

static void forget_seqs(parley_client *c)
{
    for (size_t i = 0; i < c->n_rooms; i++)
        c->rooms[i].known = 0;
}

cJSON *pl_last_seq_json_locked(const parley_client *c)
{
    cJSON *o = cJSON_CreateObject();

    for (size_t i = 0; o && i < c->n_rooms; i++) {
        const struct pl_room_track *t = &c->rooms[i];
        if (t->sub && t->known && !pl_json_add_int64(o, t->name, t->seq)) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    return o;
}

void pl_track_reset_locked(parley_client *c)
{
    free(c->session_token);
    c->session_token = NULL;
    c->n_rooms = 0;
    c->replay_left = 0;
    c->resume = 0;
}

void pl_track_free(parley_client *c)
{
    pl_track_reset_locked(c);
    free(c->rooms);
    c->rooms = NULL;
    c->cap_rooms = 0;
}

/* ---- pushes and acks ---------------------------------------------------------- */

int pl_track_push_locked(parley_client *c, const char *event, const cJSON *data, int *replayed)
{
    const cJSON *m;
    const char *room;
    int64_t seq;
    struct pl_room_track *t;

    *replayed = 0;
    if (strcmp(event, "message:new") != 0)
        return 1;
    m = cJSON_GetObjectItemCaseSensitive(data, "message");
    room = str_item(m, "room");
    if (!room || !pl_json_int64(cJSON_GetObjectItemCaseSensitive(m, "seq"), &seq))
        return 1; /* not for us to judge: the raw callback gets it */
    /* The server sends the `missed` replayed pushes right after the
     * recover ack, before anything live. */
    if (c->replay_left > 0) {
        *replayed = 1;
        c->replay_left--;
    }
    t = room_get(c, room);
    if (!t)
        return 1;
    t->sub = 1; /* pushes come to subscribed connections only */
    if (t->known && seq <= t->seq) {
        c->stats.duplicates_dropped++;
        return 0;
    }
    t->known = 1;
    t->seq = seq;
    if (*replayed)
        c->stats.replayed++;
    return 1;
}

static void adopt_token(parley_client *c, const cJSON *data)
{
    const char *tok = str_item(data, "session_token");
    char *copy;

    if (!tok || !(copy = strdup(tok)))
        return;
    free(c->session_token);
    c->session_token = copy;
    c->stats.sessions++;
}

void pl_track_ack_locked(parley_client *c, const struct pl_pending *p, int ok,
                         const cJSON *item)
{
    const char *room;
    struct pl_room_track *t;
    const cJSON *arr;
    int64_t v;

    switch (p->kind) {
    case PD_EV_JOIN:
        if (!ok)
            break;
        room = str_item(item, "room");
        if (!room)
            room = str_item(p->data, "room");
        if (room && (t = room_get(c, room))) {
            t->sub = 1;
            /* What the room held at the join was not this connection's to
             * receive live: from here on the seq is known, so a recovery
             * names it even before the first message arrives. Without it
             * the server would start the replay after what it wrote to the
             * dead connection, and what was in flight would be lost. */
            if (pl_json_int64(cJSON_GetObjectItemCaseSensitive(item, "last_seq"), &v) &&
                v >= 0 && (!t->known || v > t->seq)) {
                t->known = 1;
                t->seq = v;
            }
        }
        break;
    case PD_EV_LEAVE:
        if (ok && (room = str_item(p->data, "room")) && (t = room_find(c, room)))
            t->sub = 0;
        break;
    case PD_EV_ROOM_SUBSCRIBE: {
        const cJSON *f;
        if (!ok)
            break;
        rooms_sub(c, cJSON_GetObjectItemCaseSensitive(item, "subscribed"), 1);
        arr = cJSON_GetObjectItemCaseSensitive(item, "failed");
        cJSON_ArrayForEach(f, arr)
        {
            room = str_item(f, "room");
            if (room && (t = room_find(c, room)))
                t->sub = 0;
        }
        break;
    }
    case PD_EV_ROOM_UNSUBSCRIBE:
        if (!ok)
            break;
        arr = cJSON_GetObjectItemCaseSensitive(item, "unsubscribed");
        if (!cJSON_IsArray(arr))
            arr = cJSON_GetObjectItemCaseSensitive(p->data, "rooms");
        rooms_sub(c, arr, 0);
        break;
    case PD_EV_MSG_SEND: {
        /* The sender's own message is not pushed to it: its ack is what
         * the connection received of that seq. */
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(item, "message");
        room = str_item(m, "room");
        if (ok && room && pl_json_int64(cJSON_GetObjectItemCaseSensitive(m, "seq"), &v) &&
            (t = room_get(c, room)) && (!t->known || v > t->seq)) {
            t->known = 1;
            t->seq = v;
        }
        break;
    }
    case PD_EV_CONN_CREATE_SESSION:
        if (ok)
            adopt_token(c, item);
        break;
    case PD_EV_CONN_RECOVER:
        if (!ok) {
            /* A refused token is dead for us whatever the reason (another
             * user's stays valid for its owner, not for this client). */
            free(c->session_token);
            c->session_token = NULL;
            break;
        }
        adopt_token(c, item);
        c->replay_left = 0;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "recovered")) &&
            pl_json_int64(cJSON_GetObjectItemCaseSensitive(item, "missed"), &v) && v > 0)
            c->replay_left = v;
        if (!p->internal) /* the library's own: see recover_done */
            rooms_sub(c, cJSON_GetObjectItemCaseSensitive(item, "rooms"), 1);
        break;
    default:
        break;
    }
}

int pl_track_send_data_locked(parley_client *c, cJSON *data)
{
    unsigned char raw[16];
    char hex[sizeof(raw) * 2 + 1];
    static const char digits[] = "0123456789abcdef";

    if (!c->rc_enabled || cJSON_GetObjectItemCaseSensitive(data, "client_msg_id"))
        return 1;
    /* Unpredictable and unique enough that two sends never share one. */
    if (RAND_bytes(raw, (int)sizeof(raw)) != 1)
        return 1; /* no retry safety, but the send itself can go */
    for (size_t i = 0; i < sizeof(raw); i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 15];
    }
    hex[sizeof(hex) - 1] = '\0';
    return cJSON_AddStringToObject(data, "client_msg_id", hex) != NULL;
}

/* ---- state events ---------------------------------------------------------------- */

void pl_state_locked(parley_client *c, int state, int64_t count, int code, int retry)
{
    struct pl_event *ev;

    if (!c->on_state)
        return;
    ev = calloc(1, sizeof(*ev));
    if (!ev)
        return;
    ev->type = PL_EV_STATE;
    ev->rc = state;
    ev->count = count;
    ev->code = code;
    ev->retry = retry;
    pl_inbox_push_locked(c, ev);
}

/* ---- the session requests ------------------------------------------------------- */

static void session_created(parley_client *c, int rc, const cJSON *item)
{
    /* The token was adopted by pl_track_ack_locked; without one, a drop
     * ends in SESSION_LOST and a new subscription. A server that did not
     * answer in time is asked again while the connection lasts. */
    if (rc == PARLEY_ERR_TIMEOUT && c->rc_enabled && c->state == PL_OPEN && !c->io_failed &&
        !c->session_token)
        pl_request_internal_locked(c, PD_EV_CONN_CREATE_SESSION, NULL, session_created);
}

static void subscribed(parley_client *c, int rc, const cJSON *item)
{
    (void)c;
    (void)rc;
    (void)item; /* pl_track_ack_locked marked the rooms */
}

/* room:subscribe-multiple of the tracked rooms marked sub whose name is not
 * in except (a string array, may be NULL), 100 at a time. */
static void resubscribe(parley_client *c, const cJSON *except)
{
    cJSON *d = NULL, *arr = NULL;
    int n = 0;

    for (size_t i = 0; i <= c->n_rooms; i++) {
        if (i < c->n_rooms) {
            const struct pl_room_track *t = &c->rooms[i];
            cJSON *s;
            if (!t->sub || (except && in_strings(except, t->name)))
                continue;
            if (!d) {
                d = cJSON_CreateObject();
                arr = d ? cJSON_AddArrayToObject(d, "rooms") : NULL;
                if (!arr) {
                    cJSON_Delete(d);
                    return;
                }
            }
            s = cJSON_CreateString(t->name);
            if (!s || !cJSON_AddItemToArray(arr, s)) {
                cJSON_Delete(s);
                cJSON_Delete(d);
                return;
            }
            n++;
        }
        if (d && (n == PL_SUBSCRIBE_CHUNK || i == c->n_rooms)) {
            pl_request_internal_locked(c, PD_EV_ROOM_SUBSCRIBE, d, subscribed);
            d = NULL;
            arr = NULL;
            n = 0;
        }
    }
}

/* The session is gone: say so, subscribe again, take a new session. */
static void session_lost(parley_client *c, int64_t missed, const cJSON *except)
{
    c->stats.sessions_lost++;
    pl_state_locked(c, PARLEY_STATE_SESSION_LOST, missed, 0, 0);
    /* What the application saw is no guide to the next replay: the rooms
     * start again from the session's record. */
    forget_seqs(c);
    resubscribe(c, except);
    if (!c->session_token)
        pl_request_internal_locked(c, PD_EV_CONN_CREATE_SESSION, NULL, session_created);
}

static void recover_done(parley_client *c, int rc, const cJSON *item)
{
    const cJSON *rooms;
    int64_t missed = 0;

    c->recovering = 0;
    if (rc == PARLEY_OK) {
        rooms = cJSON_GetObjectItemCaseSensitive(item, "rooms");
        pl_json_int64(cJSON_GetObjectItemCaseSensitive(item, "missed"), &missed);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "recovered"))) {
            /* The server resubscribed the rooms where the user is still a
             * member; the others are gone. */
            for (size_t i = 0; i < c->n_rooms; i++)
                c->rooms[i].sub = in_strings(rooms, c->rooms[i].name);
            rooms_sub(c, rooms, 1);
            c->stats.recovered++;
            pl_state_locked(c, PARLEY_STATE_RECOVERED, missed, 0, 0);
        } else {
            rooms_sub(c, rooms, 1);
            session_lost(c, missed, rooms);
        }
    } else if (rc == PARLEY_ERR_SERVER || rc == PARLEY_ERR_PROTOCOL) {
        /* session_expired (or another refusal): the token is forgotten. */
        free(c->session_token);
        c->session_token = NULL;
        session_lost(c, 0, NULL);
    } else if (rc == PARLEY_ERR_TIMEOUT && c->ws) {
        /* A server that does not answer: start over on a new connection. */
        c->io_failed = 1;
        pl_wake(c);
    }
    /* PARLEY_ERR_CLOSED: the reconnect that follows recovers again. */
    pl_request_flush_locked(c);
}

/* After every connect: the session, then what was queued. */
static void session_start_locked(parley_client *c)
{
    int resume = c->resume;

    c->resume = 0;
    c->replay_left = 0;
    c->rc_pending = 0;
    c->rc_attempt = 0;
    pl_state_locked(c, PARLEY_STATE_CONNECTED, 0, 0, 0);
    if (c->rc_enabled) {
        if (c->session_token) {
            cJSON *d = cJSON_CreateObject();
            cJSON *ls = pl_last_seq_json_locked(c);
            if (d && ls && cJSON_AddStringToObject(d, "session_token", c->session_token) &&
                cJSON_AddItemToObject(d, "last_seq", ls)) {
                ls = NULL;
                if (pl_request_internal_locked(c, PD_EV_CONN_RECOVER, d, recover_done) ==
                    PARLEY_OK) {
                    c->recovering = 1;
                    pl_state_locked(c, PARLEY_STATE_RECOVERING, 0, 0, 0);
                }
            } else {
                cJSON_Delete(d);
            }
            cJSON_Delete(ls);
        } else if (resume) {
            session_lost(c, 0, NULL);
        } else {
            pl_request_internal_locked(c, PD_EV_CONN_CREATE_SESSION, NULL, session_created);
        }
    }
    pl_request_flush_locked(c);
}

/* ---- connecting ----------------------------------------------------------------- */

int pl_connect_locked(parley_client *c, char *token, int64_t deadline, int automatic)
{
    struct pl_transport tr = PL_TRANSPORT_INIT;
    struct pl_hs_result hs;
    /* Secure URLs: the TLS settings as they are now (parley_set_tls may
     * replace them meanwhile), and why TLS failed. */
    struct pl_tls *tls = pl_tls_ref(c->tls);
    char tls_code[32] = "", tls_msg[256] = "";
    int rc = PARLEY_OK, made_tls = 0;

    memset(&hs, 0, sizeof(hs));
    /* The connect and the handshake run unlocked: other threads see
     * PL_CONNECTING and get PARLEY_ERR_NOT_CONNECTED (or queue) meanwhile. */
    c->state = PL_CONNECTING;
    c->http_status = 0;
    c->close_code = 0;
    c->close_reason[0] = '\0';
    pl_unlock(c);

    /* No parley_set_tls: the defaults, made here without the lock. */
    if (c->url.secure && !tls) {
        rc = pl_tls_new(NULL, &tls, tls_msg, sizeof(tls_msg));
        made_tls = rc == PARLEY_OK;
        if (rc == PARLEY_ERR_TLS)
            strcpy(tls_code, "tls");
    }
    if (rc == PARLEY_OK)
        rc = pl_tcp_connect(c->url.host, c->url.port, deadline, &tr);
    if (rc == PARLEY_OK && c->url.secure)
        rc = pl_tls_start(tls, c->url.host, &tr, deadline, tls_code, sizeof(tls_code), tls_msg,
                          sizeof(tls_msg));
    if (rc == PARLEY_OK)
        rc = pl_handshake(&tr, &c->url, token, deadline, &hs);
    free(token);

    pl_lock(c);
    /* Kept for the next connects, unless parley_set_tls came meanwhile. */
    if (made_tls && !c->tls)
        c->tls = pl_tls_ref(tls);
    pl_tls_unref(tls);
    c->http_status = hs.http_status;
    if (rc == PARLEY_OK && (c->destroying || (automatic && c->rc_cancel)))
        rc = PARLEY_ERR_NOT_CONNECTED; /* parley_disconnect came meanwhile */
    if (rc == PARLEY_OK) {
        rc = pl_ws_attach_locked(c, &tr, hs.extra, hs.extra_len);
        hs.extra = NULL;
    }
    if (rc != PARLEY_OK) {
        pl_tr_close(&tr);
        free(hs.extra);
        c->state = PL_DISCONNECTED;
        if (hs.error_code[0] || hs.error_message[0])
            pl_set_error(c, hs.error_code, hs.error_message);
        else if (tls_code[0])
            pl_set_error(c, tls_code, tls_msg);
        /* Queued requests wait for a connection only while one may come. */
        if (!c->rc_pending)
            pl_request_fail_queued_locked(c);
    } else {
        if (automatic)
            c->stats.reconnects++;
        session_start_locked(c);
        if (c->prebuf && !c->loop_running) {
            /* Frames that came with the 101: handle them now, since the
             * socket will not report them readable. */
            pl_ws_read_locked(c);
            pl_ws_reap_locked(c);
        }
    }
    pthread_cond_broadcast(&c->cond);
    pl_wake(c);
    return rc;
}

/* d = min(max, min * 2^(k-1)), then a random point of [d/2, d]. */
static int64_t backoff_ms(const parley_client *c, int k)
{
    int64_t d = c->rc_min_ms;
    uint32_t r = 0;

    while (--k > 0 && d < c->rc_max_ms)
        d *= 2;
    if (d > c->rc_max_ms)
        d = c->rc_max_ms;
    if (RAND_bytes((unsigned char *)&r, (int)sizeof(r)) != 1)
        r = (uint32_t)pd_mono_ms();
    return d / 2 + (int64_t)(r % (uint32_t)(d / 2 + 1));
}

int pl_expecting_connection_locked(const parley_client *c)
{
    if (c->rc_pending || c->state == PL_CONNECTING)
        return 1;
    /* Failed but not yet torn down: the teardown will schedule it. */
    return c->rc_enabled && !c->app_closing && !c->destroying && c->ws &&
           (c->io_failed || c->state == PL_CLOSING);
}

int pl_conn_lost_locked(parley_client *c, int code)
{
    int unexpected = !c->app_closing && !c->destroying;
    int retry = 0;

    c->replay_left = 0;
    c->recovering = 0;
    if (unexpected) {
        c->stats.drops++;
        c->resume = 1;
        if (c->rc_enabled) {
            retry = 1;
            c->rc_pending = 1;
            c->rc_attempt = 0;
            c->rc_close_code = code;
            /* An expired token is fixed by a new one, not by waiting. */
            c->rc_due = pd_mono_ms() + (code == 4001 ? 0 : backoff_ms(c, 1));
        }
    }
    pl_request_drop_locked(c, retry && c->offline_policy == PARLEY_OFFLINE_WAIT);
    if (c->app_closing)
        pl_track_reset_locked(c); /* the application ended the session */
    c->app_closing = 0;
    return retry;
}

int64_t pl_reconnect_due_locked(const parley_client *c)
{
    if (!c->rc_pending || c->rc_connecting || c->ws || c->state != PL_DISCONNECTED ||
        c->destroying)
        return -1;
    return c->rc_due;
}

/* The token callback, without the lock; its answer replaces c->token. */
static void ask_token_locked(parley_client *c)
{
    parley_token_cb cb = c->on_token;
    struct parley_token_request r;
    const char *jwt;
    char *copy = NULL;

    if (!cb)
        return;
    r.close_code = c->rc_close_code;
    r.attempt = c->rc_attempt;
    r.http_status = c->http_status;
    c->in_token_cb = 1;
    pl_unlock(c);
    jwt = cb(c, c->userdata, &r);
    if (jwt && pl_token_dup(jwt, &copy) != PARLEY_OK)
        copy = NULL; /* unusable: keep the current one */
    pl_lock(c);
    c->in_token_cb = 0;
    if (copy) {
        free(c->token);
        c->token = copy;
    }
}

void pl_reconnect_attempt_locked(parley_client *c)
{
    char *token = NULL;
    int rc;

    c->rc_attempt++;
    c->rc_connecting = 1;
    c->rc_tid = pthread_self();
    c->rc_cancel = 0;
    pl_state_locked(c, PARLEY_STATE_CONNECTING, c->rc_attempt, 0, 0);
    /* The application hears of the drop and the attempt before it is asked
     * for a token. */
    pl_unlock(c);
    pl_dispatch(c);
    pl_lock(c);
    if (!c->rc_cancel && c->rc_pending)
        ask_token_locked(c);
    if (c->rc_cancel || !c->rc_pending || c->destroying || c->state != PL_DISCONNECTED ||
        (c->token && !(token = strdup(c->token)))) {
        /* Cancelled, connected by the application meanwhile, or no memory
         * (then the next attempt tries again). */
        if (c->rc_pending)
            c->rc_due = pd_mono_ms() + backoff_ms(c, c->rc_attempt + 1);
        c->rc_connecting = 0;
        pthread_cond_broadcast(&c->cond);
        return;
    }
    rc = pl_connect_locked(c, token, pl_deadline(PL_RECONNECT_CONNECT_MS), 1);
    c->rc_connecting = 0;
    if (rc != PARLEY_OK && c->rc_pending)
        c->rc_due = pd_mono_ms() + backoff_ms(c, c->rc_attempt + 1);
    pthread_cond_broadcast(&c->cond);
}

/* ---- the public calls ------------------------------------------------------------ */

PARLEY_API int parley_set_reconnect(parley_client *c, int enable, int min_ms, int max_ms)
{
    if (!c)
        return PARLEY_ERR_INVAL;
    if (min_ms <= 0)
        min_ms = 1000;
    if (max_ms <= 0)
        max_ms = 30000;
    if (enable && max_ms < min_ms)
        return PARLEY_ERR_INVAL;
    pl_lock(c);
    c->rc_min_ms = min_ms;
    c->rc_max_ms = max_ms;
    if (enable && !c->rc_enabled) {
        c->rc_enabled = 1;
        /* Already connected: take the session now, not at the next connect. */
        if (c->state == PL_OPEN && !c->io_failed && !c->session_token)
            pl_request_internal_locked(c, PD_EV_CONN_CREATE_SESSION, NULL, session_created);
    } else if (!enable && c->rc_enabled) {
        c->rc_enabled = 0;
        if (c->rc_pending) {
            c->rc_pending = 0;
            c->rc_cancel = 1;
            if (!c->ws && c->state == PL_DISCONNECTED)
                pl_request_fail_queued_locked(c);
            pl_state_locked(c, PARLEY_STATE_DISCONNECTED, 0, c->rc_close_code, 0);
        }
    }
    pl_wake(c);
    pl_unlock(c);
    pl_dispatch(c);
    return PARLEY_OK;
}

PARLEY_API int parley_set_offline_policy(parley_client *c, int policy)
{
    if (!c || (policy != PARLEY_OFFLINE_FAIL && policy != PARLEY_OFFLINE_WAIT))
        return PARLEY_ERR_INVAL;
    pl_lock(c);
    c->offline_policy = policy;
    if (policy == PARLEY_OFFLINE_FAIL && !c->ws && c->state == PL_DISCONNECTED)
        pl_request_fail_queued_locked(c);
    pl_unlock(c);
    pl_dispatch(c);
    return PARLEY_OK;
}

PARLEY_API int parley_stats(const parley_client *c, struct parley_client_stats *out)
{
    if (!c || !out)
        return PARLEY_ERR_INVAL;
    pl_lock(c);
    *out = c->stats;
    pl_unlock(c);
    return PARLEY_OK;
}

PARLEY_API const char *parley_state_name(int state)
{
    switch (state) {
    case PARLEY_STATE_CONNECTING:
        return "connecting";
    case PARLEY_STATE_CONNECTED:
        return "connected";
    case PARLEY_STATE_RECOVERING:
        return "recovering";
    case PARLEY_STATE_RECOVERED:
        return "recovered";
    case PARLEY_STATE_SESSION_LOST:
        return "session_lost";
    case PARLEY_STATE_DISCONNECTED:
        return "disconnected";
    default:
        return "unknown";
    }
}
