/* The CLI side of the SDK client: callbacks, lazy connect, requests. */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "output.h"
#include "recovery.h"

/* Pushes kept for `wait` at most; the oldest go first. A script that never
 * waits should not grow without bound. */
#define QUEUE_MAX 10000

long long session_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *session_rc_code(int rc)
{
    switch (rc) {
    case PARLEY_ERR_TIMEOUT:
        return "timeout";
    case PARLEY_ERR_CLOSED:
    case PARLEY_ERR_NOT_CONNECTED:
        return "closed";
    case PARLEY_ERR_CONNECT:
    case PARLEY_ERR_HTTP:
        return "connect";
    case PARLEY_ERR_PROTOCOL:
        return "protocol";
    case PARLEY_ERR_INVAL:
        return "invalid";
    case PARLEY_ERR_NOMEM:
        return "nomem";
    case PARLEY_ERR_IO:
        return "io";
    default:
        return "error";
    }
}

void session_push_free(struct cli_push *p)
{
    if (!p)
        return;
    free(p->event);
    free(p->data_json);
    free(p);
}

static void queue_add(struct cli *ctx, const char *event, const char *data_json)
{
    struct cli_push *p = calloc(1, sizeof *p);

    if (!p)
        return;
    p->seq = ctx->pushes_seen;
    p->event = strdup(event);
    p->data_json = strdup(data_json ? data_json : "{}");
    if (!p->event || !p->data_json) {
        session_push_free(p);
        return;
    }
    if (ctx->queue_tail)
        ctx->queue_tail->next = p;
    else
        ctx->queue_head = p;
    ctx->queue_tail = p;
    if (++ctx->queue_len > QUEUE_MAX) {
        struct cli_push *old = ctx->queue_head;
        ctx->queue_head = old->next;
        session_push_free(old);
        ctx->queue_len--;
    }
}

int session_arrived_since(const struct cli *ctx, unsigned long seen, const char *event)
{
    for (const struct cli_push *p = ctx->queue_head; p; p = p->next)
        if (p->seq > seen && !strcmp(p->event, event))
            return 1;
    return 0;
}

struct cli_push *session_take(struct cli *ctx, const char *event)
{
    struct cli_push **pp = &ctx->queue_head, *prev = NULL;

    for (; *pp; prev = *pp, pp = &(*pp)->next) {
        struct cli_push *p = *pp;
        if (strcmp(p->event, event) != 0)
            continue;
        *pp = p->next;
        if (ctx->queue_tail == p)
            ctx->queue_tail = prev;
        ctx->queue_len--;
        p->next = NULL;
        return p;
    }
    return NULL;
}

void session_queue(struct cli *ctx, const char *event, const char *data_json)
{
    ctx->pushes_seen++;
    queue_add(ctx, event, data_json);
}

/* Every push, printed the moment it arrives. The SDK calls this before a
 * blocking request returns, so pushes and acks print in arrival order. */
static void on_push(parley_client *c, void *userdata, const struct parley_push *push)
{
    struct cli *ctx = userdata;
    const char *mark = recovery_push(ctx, push->event, push->data_json);

    (void)c;
    out_push(ctx, push->event, push->data_json, mark);
    session_queue(ctx, push->event, push->data_json);
}

/* A close we did not ask for is news: print it and queue it for
 * `wait close`. Our own closes (quit, reconnect with a new token) are not. */
static void on_disconnect(parley_client *c, void *userdata, int code, const char *reason)
{
    struct cli *ctx = userdata;
    char *data = NULL;
    cJSON *d;

    (void)c;
    if (ctx->closing_self)
        return;
    if (!recovery_on_close(ctx, code, reason))
        out_close(ctx, code, reason);
    d = cJSON_CreateObject();
    if (d) {
        cJSON_AddNumberToObject(d, "code", code);
        cJSON_AddStringToObject(d, "reason", reason ? reason : "");
        data = cJSON_PrintUnformatted(d);
        cJSON_Delete(d);
    }
    session_queue(ctx, "close", data ? data : "{}");
    cJSON_free(data);
}

/* Every ack reaches the CLI here: it writes its requests itself (see
 * session_call). Each is printed as it arrives, so acks and pushes print in
 * the order they came (pushes that follow an ack in the same read are
 * handled before the request returns). The one a command waits for is
 * kept for it; any other (a late one, after its command timed out, or the
 * ack of a send-text frame) is only printed. */
static void on_ack(parley_client *c, void *userdata, const struct parley_ack *a)
{
    struct cli *ctx = userdata;
    struct cli_ack copy = {a->id, a->ok, strdup(a->data_json), strdup(a->frame_json), 0};

    (void)c;
    if (!copy.json || !copy.frame) {
        session_ack_clear(&copy);
        return;
    }
    if (ctx->wait_id && a->id == ctx->wait_id && !ctx->wait_done) {
        /* An ack that is neither ok nor refused is reported by
         * session_report, as a protocol error. */
        if (!ctx->call_quiet && copy.ok >= 0) {
            out_ack(ctx, &copy);
            copy.printed = 1;
        }
        if (copy.ok == 1)
            recovery_ack(ctx, ctx->wait_event, copy.json);
        ctx->wait_ack = copy;
        ctx->wait_done = 1;
        return;
    }
    ctx->stray_acks++;
    out_stray_ack(ctx, &copy);
    /* A late recover ack still announces its replay. */
    if (a->id == ctx->recover_id && copy.ok == 1)
        recovery_ack(ctx, "connection:recover", copy.json);
    session_ack_clear(&copy);
}

int session_init(struct cli *ctx)
{
    ctx->client = parley_client_new(ctx->url, ctx);
    if (!ctx->client)
        return -1;
    parley_on_push(ctx->client, on_push);
    parley_on_disconnect(ctx->client, on_disconnect);
    parley_on_unmatched_ack(ctx->client, on_ack);
    if (ctx->token)
        parley_set_token(ctx->client, ctx->token);
    return 0;
}

void session_close(struct cli *ctx)
{
    if (ctx->client) {
        ctx->closing_self = 1;
        if (parley_is_connected(ctx->client))
            parley_disconnect(ctx->client);
        parley_client_destroy(ctx->client);
        ctx->client = NULL;
    }
    while (ctx->queue_head) {
        struct cli_push *p = ctx->queue_head;
        ctx->queue_head = p->next;
        session_push_free(p);
    }
    ctx->queue_tail = NULL;
    ctx->queue_len = 0;
    for (size_t i = 0; i < ctx->nrooms; i++)
        free(ctx->rooms[i]);
    free(ctx->rooms);
    ctx->rooms = NULL;
    ctx->nrooms = ctx->rooms_cap = 0;
    session_ack_clear(&ctx->wait_ack);
    recovery_free(ctx);
}

/* The protocol code for a refused upgrade: the server's own when the SDK
 * kept it, else the one its HTTP status stands for. */
static const char *handshake_code(parley_client *c, int status)
{
    const char *code = parley_error_code(c);

    if (code && *code)
        return code;
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 429:
        return "rate_limited";
    default:
        return status >= 500 ? "internal" : "handshake";
    }
}

/* A connection the server is closing keeps its socket until the close
 * handshake is over, and parley_connect refuses to start meanwhile. Let it
 * finish (its close is printed as usual); only if it hangs, cut it. */
static void settle(struct cli *ctx)
{
    long long deadline = session_now_ms() + 1500;

    while (parley_socket(ctx->client) >= 0 && session_now_ms() < deadline)
        parley_loop(ctx->client, 100);
    if (parley_socket(ctx->client) >= 0) {
        ctx->closing_self = 1;
        parley_disconnect(ctx->client);
        ctx->closing_self = 0;
    }
}

/* The shell completes the names of the rooms the user is a member of:
 * ask once per connection, silently (a server that refuses leaves the
 * list as it is). Scripts do not pay for a request they did not write. */
static void learn_rooms(struct cli *ctx)
{
    struct cli_ack ack;
    cJSON *d;
    const cJSON *r;
    int rc;

    ctx->call_quiet = 1;
    rc = session_call(ctx, "room:list", NULL, &ack);
    ctx->call_quiet = 0;
    if (rc != PARLEY_OK) {
        session_ack_clear(&ack);
        return;
    }
    d = cJSON_Parse(ack.json);
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(d, "rooms"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(r, "room");
        if (cJSON_IsString(name))
            session_room_add(ctx, name->valuestring);
    }
    cJSON_Delete(d);
    session_ack_clear(&ack);
}

int session_ensure(struct cli *ctx)
{
    int rc;

    if (parley_is_connected(ctx->client))
        return CLI_EXIT_OK;
    /* Dropped, and the SDK reconnects: wait for it rather than race it. A
     * failure is the command's, not the run's: the reconnect goes on. */
    if (recovery_pending(ctx))
        return recovery_wait(ctx) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    settle(ctx);
    rc = parley_connect(ctx->client, ctx->timeout_ms);
    if (rc == PARLEY_OK) {
        recovery_new_connection(ctx);
        if (ctx->interactive)
            learn_rooms(ctx);
        return CLI_EXIT_OK;
    }
    if (rc == PARLEY_ERR_HANDSHAKE) {
        int status = parley_http_status(ctx->client);
        const char *msg = parley_error_message(ctx->client);
        if (msg && *msg)
            out_error(ctx, handshake_code(ctx->client, status), msg, status);
        else
            out_errorf(ctx, handshake_code(ctx->client, status), status,
                       "the server refused the upgrade (HTTP %d)", status);
    } else if (rc == PARLEY_ERR_TLS) {
        /* "certificate" or "tls", and why: the verification's reason. */
        out_errorf(ctx, parley_error_code(ctx->client), 0, "cannot connect to %s: %s", ctx->url,
                   parley_error_message(ctx->client));
    } else {
        out_errorf(ctx, "connect", 0, "cannot connect to %s: %s", ctx->url,
                   parley_strerror(rc));
    }
    cli_fail(ctx, CLI_EXIT_CONNECT);
    /* A script cannot do anything useful without the connection; a person
     * at the shell can fix the token and try again. */
    if (!ctx->interactive)
        ctx->stop = 1;
    return CLI_EXIT_CONNECT;
}

int session_adopt_token(struct cli *ctx, const char *token)
{
    char *copy = strdup(token);

    if (!copy)
        return -1;
    free(ctx->token);
    ctx->token = copy;
    parley_set_token(ctx->client, token);
    if (!parley_is_connected(ctx->client))
        return 0;
    ctx->closing_self = 1;
    parley_disconnect(ctx->client);
    ctx->closing_self = 0;
    return session_ensure(ctx) == CLI_EXIT_OK ? 0 : -1;
}

void session_ack_clear(struct cli_ack *a)
{
    free(a->json);
    free(a->frame);
    memset(a, 0, sizeof *a);
}

/* The frame {"id","event","data"} of a request, data being the JSON text
 * of an object (checked here: PARLEY_ERR_INVAL otherwise), sent as it is.
 * *frame is malloc'd. */
static int request_frame(long long id, const char *event, const char *data_json, char **frame)
{
    cJSON *check = cJSON_Parse(data_json), *root;
    char digits[24];
    int is_object = cJSON_IsObject(check);

    cJSON_Delete(check);
    *frame = NULL;
    if (!is_object)
        return PARLEY_ERR_INVAL;
    snprintf(digits, sizeof digits, "%lld", id);
    root = cJSON_CreateObject();
    if (root && cJSON_AddRawToObject(root, "id", digits) &&
        cJSON_AddStringToObject(root, "event", event) &&
        cJSON_AddRawToObject(root, "data", data_json))
        *frame = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return *frame ? PARLEY_OK : PARLEY_ERR_NOMEM;
}

/* Drives the connection until the ack of ctx->wait_id is in, the socket
 * is gone, or the timeout. */
static int await_ack(struct cli *ctx)
{
    long long deadline = session_now_ms() + ctx->timeout_ms;

    for (;;) {
        long long left = deadline - session_now_ms();
        if (ctx->wait_done)
            return PARLEY_OK;
        if (!parley_is_connected(ctx->client))
            return PARLEY_ERR_CLOSED;
        if (left <= 0)
            return PARLEY_ERR_TIMEOUT;
        parley_loop(ctx->client, left > 1000 ? 1000 : (int)left);
    }
}

int session_call(struct cli *ctx, const char *event, const char *data_json,
                 struct cli_ack *ack)
{
    long long id;
    char *frame;
    int rc;

    /* The CLI writes the frame itself with an id the SDK reserved, and the
     * ack comes back through the unmatched-ack callback: so the id is
     * known, the frame goes out with DATA's text as it is (no trip of its
     * numbers through doubles), the ack is printed as the server sent it,
     * and the wait is the CLI's own --timeout. */
    memset(ack, 0, sizeof *ack);
    if (!parley_is_connected(ctx->client))
        return PARLEY_ERR_NOT_CONNECTED;
    id = parley_reserve_id(ctx->client);
    rc = request_frame(id, event, data_json ? data_json : "{}", &frame);
    if (rc != PARLEY_OK)
        return rc;
    session_ack_clear(&ctx->wait_ack);
    ctx->wait_done = 0;
    ctx->wait_id = id;
    ctx->wait_event = event;
    if (!strcmp(event, "connection:recover"))
        ctx->recover_id = id;
    rc = parley_send_text(ctx->client, frame, strlen(frame));
    free(frame);
    if (rc == PARLEY_OK)
        rc = await_ack(ctx);
    ack->id = id;
    ctx->wait_id = 0;
    ctx->wait_event = NULL;
    if (rc != PARLEY_OK) {
        session_ack_clear(&ctx->wait_ack);
        return rc;
    }
    *ack = ctx->wait_ack;
    memset(&ctx->wait_ack, 0, sizeof ctx->wait_ack);
    return ack->ok == 1 ? PARLEY_OK : ack->ok == 0 ? PARLEY_ERR_SERVER : PARLEY_ERR_PROTOCOL;
}

int session_report(struct cli *ctx, const char *what, int rc, const struct cli_ack *ack)
{
    switch (rc) {
    case PARLEY_OK:
        if (!ack->printed)
            out_ack(ctx, ack);
        return CLI_EXIT_OK;
    case PARLEY_ERR_SERVER:
        if (!ack->printed)
            out_ack(ctx, ack);
        return CLI_EXIT_FAIL;
    case PARLEY_ERR_TIMEOUT:
        /* The id lets a script match the ack if it comes late (printed
         * then as it arrives). */
        if (ack && ack->id > 0)
            out_errorf(ctx, "timeout", 0, "no answer to %s (id %lld) within %d ms", what,
                       ack->id, ctx->timeout_ms);
        else
            out_errorf(ctx, "timeout", 0, "no answer to %s within %d ms", what, ctx->timeout_ms);
        return CLI_EXIT_FAIL;
    case PARLEY_ERR_CLOSED:
    case PARLEY_ERR_NOT_CONNECTED: {
        int code = parley_close_code(ctx->client);
        const char *reason = parley_close_reason(ctx->client);
        out_errorf(ctx, "closed", 0, "the connection closed before %s was answered (%d%s%s)",
                   what, code, reason && *reason ? " " : "", reason ? reason : "");
        return CLI_EXIT_FAIL;
    }
    case PARLEY_ERR_PROTOCOL:
        if (ack && ack->frame) {
            out_errorf(ctx, "protocol", 0, "the ack of %s is neither ok nor refused: %s", what,
                       ack->frame);
            return CLI_EXIT_FAIL;
        }
        /* fall through */
    default:
        out_errorf(ctx, session_rc_code(rc), 0, "%s failed: %s", what, parley_strerror(rc));
        return CLI_EXIT_FAIL;
    }
}

int session_alive(struct cli *ctx)
{
    return parley_socket(ctx->client) >= 0 || recovery_pending(ctx);
}

void session_pump(struct cli *ctx, int timeout_ms)
{
    if (!session_alive(ctx))
        return;
    /* Without a socket, a pending reconnect: the SDK waits for it and
     * makes the attempt when it is due. */
    parley_loop(ctx->client, timeout_ms);
}

int session_pollfd(struct cli *ctx, struct pollfd *pfd)
{
    int fd = parley_socket(ctx->client);

    if (fd < 0)
        return 0;
    pfd->fd = fd;
    pfd->events = POLLIN | (parley_want_write(ctx->client) ? POLLOUT : 0);
    pfd->revents = 0;
    return 1;
}

void session_handle(struct cli *ctx, const struct pollfd *pfd)
{
    long long now = session_now_ms();

    if (pfd && (pfd->revents & (POLLIN | POLLERR | POLLHUP)))
        parley_loop_read(ctx->client);
    if (pfd && (pfd->revents & POLLOUT) && session_alive(ctx))
        parley_loop_write(ctx->client);
    if (now - ctx->last_misc_ms >= 1000) {
        ctx->last_misc_ms = now;
        /* The timers, and a pending reconnect's attempt when due. */
        if (session_alive(ctx))
            parley_loop_misc(ctx->client);
    }
    recovery_idle(ctx);
}

void session_room_add(struct cli *ctx, const char *room)
{
    char *copy;

    for (size_t i = 0; i < ctx->nrooms; i++)
        if (!strcmp(ctx->rooms[i], room))
            return;
    if (ctx->nrooms == ctx->rooms_cap) {
        size_t cap = ctx->rooms_cap ? ctx->rooms_cap * 2 : 8;
        char **nv = realloc(ctx->rooms, cap * sizeof *nv);
        if (!nv)
            return;
        ctx->rooms = nv;
        ctx->rooms_cap = cap;
    }
    copy = strdup(room);
    if (copy)
        ctx->rooms[ctx->nrooms++] = copy;
}

void session_room_remove(struct cli *ctx, const char *room)
{
    for (size_t i = 0; i < ctx->nrooms; i++) {
        if (strcmp(ctx->rooms[i], room) != 0)
            continue;
        free(ctx->rooms[i]);
        ctx->rooms[i] = ctx->rooms[--ctx->nrooms];
        return;
    }
}
