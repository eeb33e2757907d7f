/* Recovery in the CLI: tracking, replay marks, the SDK's reconnect. */
#include "recovery.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "jfield.h"
#include "output.h"
#include "session.h"
#include "token.h"

/* The SDK's backoff (parley_set_reconnect): attempt k waits up to
 * min(RC_MAX_MS, RC_MIN_MS * 2^(k-1)). */
#define RC_MIN_MS 1000
#define RC_MAX_MS 30000
/* What one catch-up reloads per room: message:history's largest page. */
#define CATCHUP_LIMIT 100
/* Rooms in one room:subscribe-multiple. */
#define SUBSCRIBE_MAX 100

/* ---- what this connection has seen ---------------------------------------- */

static struct cli_track *track_get(struct cli *ctx, const char *room)
{
    struct cli_track *t;

    for (size_t i = 0; i < ctx->ntrack; i++)
        if (!strcmp(ctx->track[i].room, room))
            return &ctx->track[i];
    if (ctx->ntrack == ctx->track_cap) {
        size_t cap = ctx->track_cap ? ctx->track_cap * 2 : 8;
        struct cli_track *nt = realloc(ctx->track, cap * sizeof *nt);
        if (!nt)
            return NULL;
        ctx->track = nt;
        ctx->track_cap = cap;
    }
    t = &ctx->track[ctx->ntrack];
    memset(t, 0, sizeof *t);
    t->room = strdup(room);
    if (!t->room)
        return NULL;
    ctx->ntrack++;
    return t;
}

static void track_seq(struct cli_track *t, long long seq)
{
    if (t && (!t->known || seq > t->seq)) {
        t->seq = seq;
        t->known = 1;
    }
}

/* A message object: its room's seq has been shown. */
static struct cli_track *track_message(struct cli *ctx, const cJSON *m)
{
    const char *room = jf_str(m, "room", NULL);
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(m, "seq");
    struct cli_track *t;

    if (!room || !cJSON_IsNumber(seq))
        return NULL;
    t = track_get(ctx, room);
    track_seq(t, (long long)seq->valuedouble);
    return t;
}

/* The rooms of a string array: subscribed (on) or not. */
static void track_subs(struct cli *ctx, const cJSON *rooms, int on)
{
    const cJSON *r;

    cJSON_ArrayForEach(r, rooms)
    {
        struct cli_track *t = cJSON_IsString(r) ? track_get(ctx, r->valuestring) : NULL;
        if (!t)
            continue;
        t->sub = on;
        if (!on)
            t->catching = 0;
    }
}

static void set_my_status(struct cli *ctx, const char *status)
{
    char *copy = status ? strdup(status) : NULL;

    if (!copy)
        return;
    free(ctx->my_status);
    ctx->my_status = copy;
}

/* presence:update about this user (a status set on another device). */
static void presence_push(struct cli *ctx, const char *data_json)
{
    cJSON *d = cJSON_Parse(data_json);
    char *me = token_sub(ctx->token);
    const char *user = jf_str(d, "user", NULL);

    if (me && user && !strcmp(me, user))
        set_my_status(ctx, jf_str(d, "status", NULL));
    free(me);
    cJSON_Delete(d);
}

const char *recovery_push(struct cli *ctx, const char *event, const char *data_json)
{
    const char *mark = NULL;
    struct cli_track *t;
    const cJSON *m;
    cJSON *d;

    if (!strcmp(event, "presence:update")) {
        presence_push(ctx, data_json);
        return NULL;
    }
    if (strcmp(event, "message:new") != 0)
        return NULL;
    /* A recovery's replay comes right after its ack, before any live
     * message: the first `missed` message:new pushes are the replay. */
    if (ctx->replay_left > 0) {
        mark = "replayed";
        ctx->replay_left--;
    }
    d = cJSON_Parse(data_json);
    m = cJSON_GetObjectItemCaseSensitive(d, "message");
    t = track_message(ctx, m);
    if (t) {
        t->sub = 1; /* pushes come to subscribed connections only */
        if (t->catching && !t->first_live)
            t->first_live = jf_int(m, "seq");
    }
    cJSON_Delete(d);
    return mark;
}

/* The ack of a connection:recover: the missed messages it announces come
 * next, each push marked; people are told before them. */
static void recover_ack(struct cli *ctx, const cJSON *d)
{
    long long missed = jf_int(d, "missed");

    track_subs(ctx, jf_array(d, "rooms"), 1);
    if (!jf_true(d, "recovered")) {
        ctx->replay_left = 0;
        out_note(ctx, "not recovered: %lld messages missed, more than the server replays "
                      "(reload them with history)", missed);
        return;
    }
    ctx->replay_left = missed > 0 ? missed : 0;
    if (missed > 0)
        out_note(ctx, "recovered: %lld missed message%s follow%s", missed,
                 missed == 1 ? "" : "s", missed == 1 ? "s" : "");
    else
        out_note(ctx, "recovered: no message missed");
}

void recovery_ack(struct cli *ctx, const char *event, const char *data_json)
{
    cJSON *d;
    const cJSON *m;
    struct cli_track *t;
    const char *room;

    if (!event)
        return;
    d = cJSON_Parse(data_json ? data_json : "{}");
    if (!d)
        return;
    if (!strcmp(event, "join:chat")) {
        /* Messages before the join are not missed ones. */
        if ((room = jf_str(d, "room", NULL)) && (t = track_get(ctx, room))) {
            t->sub = 1;
            if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(d, "last_seq")))
                track_seq(t, jf_int(d, "last_seq"));
        }
    } else if (!strcmp(event, "leave:chat")) {
        if ((room = jf_str(d, "room", NULL)) && (t = track_get(ctx, room)))
            t->sub = t->catching = 0;
    } else if (!strcmp(event, "room:subscribe-multiple")) {
        track_subs(ctx, jf_array(d, "subscribed"), 1);
    } else if (!strcmp(event, "room:unsubscribe-multiple")) {
        track_subs(ctx, jf_array(d, "unsubscribed"), 0);
    } else if (!strcmp(event, "message:send")) {
        track_message(ctx, cJSON_GetObjectItemCaseSensitive(d, "message"));
    } else if (!strcmp(event, "message:history")) {
        cJSON_ArrayForEach(m, jf_array(d, "messages"))
            track_message(ctx, m);
    } else if (!strcmp(event, "connection:recover")) {
        recover_ack(ctx, d);
    } else if (!strcmp(event, "presence:update-status")) {
        set_my_status(ctx, jf_str(d, "status", NULL));
    }
    cJSON_Delete(d);
}

void recovery_new_connection(struct cli *ctx)
{
    for (size_t i = 0; i < ctx->ntrack; i++)
        ctx->track[i].sub = ctx->track[i].catching = 0;
    ctx->replay_left = 0;
    ctx->catchup_due = 0;
}

void recovery_free(struct cli *ctx)
{
    for (size_t i = 0; i < ctx->ntrack; i++)
        free(ctx->track[i].room);
    free(ctx->track);
    ctx->track = NULL;
    ctx->ntrack = ctx->track_cap = 0;
    free(ctx->close_reason);
    ctx->close_reason = NULL;
    free(ctx->my_status);
    ctx->my_status = NULL;
}

/* ---- the SDK's automatic reconnect ------------------------------------------ */

/* The longest wait before attempt k (1 for the first after a drop). */
static int backoff_s(int k)
{
    long long d = RC_MIN_MS;

    while (--k > 0 && d < RC_MAX_MS)
        d *= 2;
    if (d > RC_MAX_MS)
        d = RC_MAX_MS;
    return (int)((d + 999) / 1000);
}

/* --json: a state change as a line {"event":"state","data":{...}}, also
 * queued for `wait state`. */
static void json_state(struct cli *ctx, const struct parley_state_event *s)
{
    cJSON *d = cJSON_CreateObject();
    char *json;

    if (!d)
        return;
    cJSON_AddStringToObject(d, "state", parley_state_name(s->state));
    cmd_add_int(d, "count", (long long)s->count);
    cJSON_AddNumberToObject(d, "close_code", s->close_code);
    cJSON_AddBoolToObject(d, "will_retry", s->will_retry);
    json = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    if (!json)
        return;
    out_push(ctx, "state", json, NULL);
    session_queue(ctx, "state", json);
    cJSON_free(json);
}

/* The session is gone (the server refused it, or too much was missed):
 * every room this connection was subscribed to is caught up from history
 * by recovery_idle, after the messages shown before the drop. */
static void session_lost(struct cli *ctx)
{
    for (size_t i = 0; i < ctx->ntrack; i++) {
        struct cli_track *t = &ctx->track[i];
        if (!t->sub)
            continue;
        t->catching = 1;
        t->floor = t->known ? t->seq : -1;
        t->first_live = 0;
    }
    ctx->catchup_due = 1;
    ctx->replay_left = 0;
}

static void on_state(parley_client *c, void *userdata, const struct parley_state_event *s)
{
    struct cli *ctx = userdata;
    const char *back;

    (void)c;
    if (ctx->closing_self)
        return; /* our own disconnect (quit, a new token) */
    ctx->rc_state = s->state;
    if (ctx->json)
        json_state(ctx, s);
    switch (s->state) {
    case PARLEY_STATE_CONNECTING:
        ctx->rc_attempt = (int)s->count;
        ctx->rc_failed_told = 0;
        break;
    case PARLEY_STATE_CONNECTED:
        /* Said with the recovery's outcome, which follows. */
        if (ctx->rc_down)
            ctx->rc_back = 1;
        ctx->rc_down = 0;
        break;
    case PARLEY_STATE_RECOVERED:
        ctx->replay_left = s->count > 0 ? s->count : 0;
        back = ctx->rc_back ? "reconnected" : "session recovered";
        if (s->count > 0)
            out_note(ctx, "%s, %lld missed message%s recovered", back, (long long)s->count,
                     s->count == 1 ? "" : "s");
        else
            out_note(ctx, "%s, no message missed", back);
        ctx->rc_back = 0;
        ctx->status_due = 1;
        break;
    case PARLEY_STATE_SESSION_LOST:
        session_lost(ctx);
        if (s->count > 0)
            out_note(ctx, "%ssession lost (%lld messages missed): reloading history",
                     ctx->rc_back ? "reconnected; " : "", (long long)s->count);
        else
            out_note(ctx, "%ssession lost: reloading history",
                     ctx->rc_back ? "reconnected; " : "");
        ctx->rc_back = 0;
        ctx->status_due = 1;
        break;
    case PARLEY_STATE_DISCONNECTED:
        ctx->replay_left = 0;
        ctx->rc_back = 0;
        if (!s->will_retry) {
            if (ctx->rc_down)
                out_note(ctx, "no longer reconnecting");
            else if (!ctx->json)
                out_close(ctx, s->close_code, ctx->close_reason);
            ctx->rc_down = 0;
            break;
        }
        ctx->rc_down = 1;
        ctx->rc_attempt = 0;
        if (s->close_code == 4001)
            out_note(ctx, "disconnected (4001 token expired), reconnecting now");
        else
            out_note(ctx, "disconnected (%d%s%s), reconnecting in %d s or less", s->close_code,
                     ctx->close_reason && *ctx->close_reason ? " " : "",
                     ctx->close_reason ? ctx->close_reason : "", backoff_s(1));
        break;
    default:
        break;
    }
}

/* Before each automatic attempt: after 4001 (token expired) or a 401, log
 * in again when the run logged in with --user/--password; else keep the
 * token (which `login` may have changed meanwhile). */
static const char *on_token(parley_client *c, void *userdata,
                            const struct parley_token_request *r)
{
    struct cli *ctx = userdata;
    struct parley_auth_result res;
    const char *fresh = NULL;

    (void)c;
    if (!(r->close_code == 4001 && r->attempt == 1) && r->http_status != 401)
        return NULL;
    if (!ctx->login_user) {
        if (r->attempt == 1)
            out_note(ctx, "the token is refused or expired: log in again (login USER "
                          "PASSWORD)");
        return NULL;
    }
    memset(&res, 0, sizeof res);
    if (parley_login_tls(ctx->url, ctx->login_user, ctx->login_password, ctx->timeout_ms,
                         ctx->tls, &res) == PARLEY_OK &&
        res.token) {
        char *copy = strdup(res.token);
        if (copy) {
            free(ctx->token);
            ctx->token = copy;
            fresh = copy;
            out_note(ctx, "logged in again as %s", ctx->login_user);
        }
    } else {
        out_note(ctx, "logging in again as %s failed: %s", ctx->login_user,
                 res.error_message[0] ? res.error_message : "no answer");
    }
    parley_auth_result_clear(&res);
    return fresh;
}

int recovery_enable(struct cli *ctx)
{
    ctx->reconnect = 1;
    parley_on_state(ctx->client, on_state);
    parley_on_token(ctx->client, on_token);
    return parley_set_reconnect(ctx->client, 1, RC_MIN_MS, RC_MAX_MS) == PARLEY_OK ? 0 : -1;
}

int recovery_on_close(struct cli *ctx, int code, const char *reason)
{
    char *copy = strdup(reason ? reason : "");

    if (copy) {
        free(ctx->close_reason);
        ctx->close_reason = copy;
    }
    ctx->close_code = code;
    /* The state line that follows says it, with what happens next. */
    return ctx->reconnect && !ctx->json;
}

int recovery_pending(const struct cli *ctx)
{
    return ctx->reconnect && ctx->rc_down;
}

int recovery_wait(struct cli *ctx)
{
    long long deadline = session_now_ms() + ctx->timeout_ms;

    while (!parley_is_connected(ctx->client) && recovery_pending(ctx)) {
        long long left = deadline - session_now_ms();
        if (left <= 0)
            break;
        parley_loop(ctx->client, left > 500 ? 500 : (int)left);
        recovery_idle(ctx);
    }
    if (parley_is_connected(ctx->client))
        return 0;
    out_errorf(ctx, "closed", 0, "not connected: still reconnecting to %s (attempt %d)",
               ctx->url, ctx->rc_attempt);
    return -1;
}

/* Prints the messages of a history ack that this connection missed in
 * t's room: after its floor, before the first live push since. Returns
 * how many. */
static long long print_missed(struct cli *ctx, struct cli_track *t, const cJSON *ack)
{
    const cJSON *m;
    long long n = 0, first = 0;

    cJSON_ArrayForEach(m, jf_array(ack, "messages"))
    {
        long long seq = jf_int(m, "seq");
        cJSON *push;
        char *json;
        if (!first)
            first = seq;
        if (seq <= t->floor || (t->first_live && seq >= t->first_live))
            continue;
        push = cJSON_CreateObject();
        if (!push || !cJSON_AddItemToObject(push, "message", cJSON_Duplicate(m, 1))) {
            cJSON_Delete(push);
            continue;
        }
        json = cJSON_PrintUnformatted(push);
        cJSON_Delete(push);
        if (!json)
            continue;
        out_push(ctx, "message:new", json, "missed");
        session_queue(ctx, "message:new", json);
        cJSON_free(json);
        n++;
    }
    if (jf_true(ack, "has_more") && first > t->floor + 1)
        out_note(ctx, "%s: more missed messages before #%lld (history %s --before %lld)",
                 t->room, first, t->room, first);
    return n;
}

/* One quiet request; its ack data parsed into *out on success. */
static int quiet_call(struct cli *ctx, const char *event, cJSON *data, cJSON **out)
{
    char *json = cJSON_PrintUnformatted(data);
    struct cli_ack ack;
    int rc;

    *out = NULL;
    if (!json)
        return PARLEY_ERR_NOMEM;
    ctx->call_quiet = 1;
    rc = session_call(ctx, event, json, &ack);
    ctx->call_quiet = 0;
    cJSON_free(json);
    if (rc == PARLEY_OK)
        *out = cJSON_Parse(ack.json ? ack.json : "{}");
    else if (rc == PARLEY_ERR_SERVER)
        out_note(ctx, "%s refused: %s", event, ack.json ? ack.json : "");
    else
        out_note(ctx, "%s failed: %s", event, parley_strerror(rc));
    session_ack_clear(&ack);
    return rc;
}

/* After a lost session: subscribe again to the rooms this connection had
 * (the SDK does so for those it saw), then print from history what was
 * missed in each. The rooms stay `catching` until their history is in, so
 * live pushes meanwhile set first_live. */
static void catch_up(struct cli *ctx)
{
    cJSON *data = cJSON_CreateObject(), *rooms, *ack = NULL;
    const cJSON *f;
    int n = 0;

    rooms = data ? cJSON_AddArrayToObject(data, "rooms") : NULL;
    for (size_t i = 0; rooms && i < ctx->ntrack && n < SUBSCRIBE_MAX; i++)
        if (ctx->track[i].catching &&
            cJSON_AddItemToArray(rooms, cJSON_CreateString(ctx->track[i].room)))
            n++;
    if (n > 0 && quiet_call(ctx, "room:subscribe-multiple", data, &ack) == PARLEY_OK) {
        cJSON_ArrayForEach(f, jf_array(ack, "failed"))
        {
            struct cli_track *t = track_get(ctx, jf_str(f, "room", ""));
            out_note(ctx, "%s: not subscribed again (%s)", jf_str(f, "room", "?"),
                     jf_str(f, "code", "?"));
            if (t)
                t->sub = t->catching = 0;
        }
    }
    cJSON_Delete(ack);
    cJSON_Delete(data);
    /* ctx->track may move during a request (a push can add a room): index
     * it again after each. */
    for (size_t i = 0; i < ctx->ntrack && parley_is_connected(ctx->client); i++) {
        cJSON *req;
        long long got;
        if (!ctx->track[i].catching)
            continue;
        if (ctx->track[i].floor < 0) {
            ctx->track[i].catching = 0;
            out_note(ctx, "%s: what you missed is in 'history %s'", ctx->track[i].room,
                     ctx->track[i].room);
            continue;
        }
        req = cJSON_CreateObject();
        if (req && cJSON_AddStringToObject(req, "room", ctx->track[i].room) &&
            cmd_add_int(req, "limit", CATCHUP_LIMIT) == 0 &&
            quiet_call(ctx, "message:history", req, &ack) == PARLEY_OK) {
            got = print_missed(ctx, &ctx->track[i], ack);
            if (got > 0)
                out_note(ctx, "%s: %lld missed message%s reloaded", ctx->track[i].room, got,
                         got == 1 ? "" : "s");
        }
        ctx->track[i].catching = 0;
        cJSON_Delete(ack);
        ack = NULL;
        cJSON_Delete(req);
    }
}

/* Connected again after a drop: a user whose connections all closed
 * starts online again. Set the status this user had back, unless another
 * device kept it (or changed it) meanwhile. */
static void restore_status(struct cli *ctx)
{
    char *me = token_sub(ctx->token);
    cJSON *data = cJSON_CreateObject(), *ack = NULL;
    const char *now;

    if (!me || !data || !cJSON_AddStringToObject(data, "user", me) ||
        quiet_call(ctx, "presence:user-status", data, &ack) != PARLEY_OK)
        goto out;
    now = jf_str(ack, "status", "");
    if (!strcmp(now, "online") && strcmp(ctx->my_status, "online") != 0) {
        cJSON_Delete(data);
        cJSON_Delete(ack);
        ack = NULL;
        data = cJSON_CreateObject();
        if (data && cJSON_AddStringToObject(data, "status", ctx->my_status) &&
            quiet_call(ctx, "presence:update-status", data, &ack) == PARLEY_OK)
            out_note(ctx, "your status is %s again",
                     !strcmp(ctx->my_status, "offline") ? "invisible" : ctx->my_status);
    }
out:
    cJSON_Delete(ack);
    cJSON_Delete(data);
    free(me);
}

void recovery_idle(struct cli *ctx)
{
    if (!ctx->reconnect || ctx->wait_id)
        return;
    if (ctx->rc_down && ctx->rc_state == PARLEY_STATE_CONNECTING && !ctx->rc_failed_told &&
        !parley_is_connected(ctx->client)) {
        int http = parley_http_status(ctx->client);
        ctx->rc_failed_told = 1;
        if (http)
            out_note(ctx, "reconnect attempt %d refused (HTTP %d), next in %d s or less",
                     ctx->rc_attempt, http, backoff_s(ctx->rc_attempt + 1));
        else
            out_note(ctx, "reconnect attempt %d failed, next in %d s or less", ctx->rc_attempt,
                     backoff_s(ctx->rc_attempt + 1));
    }
    if (ctx->catchup_due && parley_is_connected(ctx->client)) {
        ctx->catchup_due = 0;
        catch_up(ctx);
    }
    if (ctx->status_due && parley_is_connected(ctx->client)) {
        ctx->status_due = 0;
        if (ctx->my_status && strcmp(ctx->my_status, "online") != 0)
            restore_status(ctx);
    }
}
