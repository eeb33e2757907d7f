/* The commands of parley(1): the table, argument checks, and each command.
 * Every request goes through parley_request so the ack's data can be
 * printed whole; the typed calls of parley.h return less than the ack. */
#include "commands.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "output.h"
#include "session.h"
#include "token.h"
#include "words.h"

struct command {
    const char *name;
    const char *args;    /* usage after the name */
    const char *summary; /* one line for help */
    int min_args;        /* words after the name */
    int max_args;        /* -1: no limit */
    /* > 0: only this many words (the name included) are split; the rest of
     * the line is handed over as typed (raw JSON needs no quoting). */
    int split_words;
    int (*run)(struct cli *ctx, const struct command *cmd, struct words *w);
};

static int usage(struct cli *ctx, const struct command *cmd, const char *why)
{
    if (cmd)
        out_errorf(ctx, "usage", 0, "%s; usage: %s%s%s", why, cmd->name, *cmd->args ? " " : "",
                   cmd->args);
    else
        out_error(ctx, "usage", why, 0);
    return CLI_EXIT_USAGE;
}

/* Parses a whole decimal number; 0 on success. */
static int parse_i64(const char *s, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    return (errno || end == s || *end) ? -1 : 0;
}

/* Sends one request and prints its ack; *ack_out (if not NULL) keeps the
 * ack JSON for human output. Returns the exit status. */
static int request(struct cli *ctx, const char *event, cJSON *data, char **ack_out)
{
    char *json = cJSON_PrintUnformatted(data), *ack = NULL;
    long id = 0;
    int rc, status;

    if (ack_out)
        *ack_out = NULL;
    if (!json) {
        out_error(ctx, "nomem", "out of memory", 0);
        return CLI_EXIT_FAIL;
    }
    if (session_ensure(ctx) != 0) {
        cJSON_free(json);
        return CLI_EXIT_CONNECT;
    }
    rc = session_call(ctx, event, json, &ack, &id);
    cJSON_free(json);
    status = session_report(ctx, event, rc, id, ack);
    if (status == CLI_EXIT_OK && ack_out)
        *ack_out = ack;
    else
        parley_free(ack);
    return status;
}

/* ---- help ----------------------------------------------------------------- */

/* Defined after the table it lists. */
static int cmd_help(struct cli *ctx, const struct command *cmd, struct words *w);


/* ---- accounts ------------------------------------------------------------- */

/* The response body of a successful register/login, rebuilt from what
 * parley_auth_result keeps: the token and its lifetime, and for register
 * the user object (its id is the token's `sub`). */
static char *auth_body(const char *user, const struct parley_auth_result *res, int registered)
{
    cJSON *body = cJSON_CreateObject();
    char *json;

    if (!body)
        return NULL;
    if (registered) {
        cJSON *claims = token_claims(res->token);
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
        cJSON *u = cJSON_AddObjectToObject(body, "user");
        cJSON_AddStringToObject(u, "id", cJSON_IsString(sub) ? sub->valuestring : user);
        cJSON_AddStringToObject(u, "name", user);
        cJSON_Delete(claims);
    }
    cJSON_AddStringToObject(body, "token", res->token);
    cJSON_AddNumberToObject(body, "expires_in", (double)res->expires_in);
    json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    return json;
}

int commands_account(struct cli *ctx, const char *user, const char *password, int do_register,
                     int quiet_on_success)
{
    struct parley_auth_result res;
    int rc, status = CLI_EXIT_OK;

    memset(&res, 0, sizeof res);
    rc = do_register ? parley_register(ctx->url, user, password, ctx->timeout_ms, &res)
                     : parley_login(ctx->url, user, password, ctx->timeout_ms, &res);
    if (rc == PARLEY_OK && res.token) {
        if (!quiet_on_success) {
            char *body = auth_body(user, &res, do_register);
            out_http(ctx, 1, res.http_status, body ? body : "{}", NULL, NULL);
            cJSON_free(body);
            out_text(ctx, "%s as %s (token valid for %ld s)", do_register ? "registered" : "logged in",
                     user, res.expires_in);
        }
        if (session_adopt_token(ctx, res.token) != 0)
            status = CLI_EXIT_CONNECT;
    } else if (rc == PARLEY_ERR_SERVER) {
        out_http(ctx, 0, res.http_status, NULL, res.error_code, res.error_message);
        status = CLI_EXIT_FAIL;
    } else {
        out_errorf(ctx, "connect", res.http_status, "cannot reach %s: %s", ctx->url,
                   parley_strerror(rc));
        status = CLI_EXIT_CONNECT;
        if (!ctx->interactive)
            ctx->stop = 1;
    }
    parley_free(res.token);
    return status;
}

static int cmd_account(struct cli *ctx, const struct command *cmd, struct words *w)
{
    return commands_account(ctx, w->v[1], w->v[2], cmd->name[0] == 'r', 0);
}

/* ---- rooms ---------------------------------------------------------------- */

static int cmd_join(struct cli *ctx, const struct command *cmd, struct words *w)
{
    cJSON *data, *ack_data;
    char *ack = NULL;
    int status;

    if (w->n == 3 && strcmp(w->v[2], "private") != 0)
        return usage(ctx, cmd, "the second argument can only be 'private'");
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "room", w->v[1]);
    if (w->n == 3)
        cJSON_AddTrueToObject(data, "private");
    status = request(ctx, "join:chat", data, &ack);
    cJSON_Delete(data);
    if (status != CLI_EXIT_OK)
        return status;
    session_room_add(ctx, w->v[1]);
    ack_data = cJSON_Parse(ack);
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(ack_data, "role");
        const cJSON *room = cJSON_GetObjectItemCaseSensitive(ack_data, "room");
        /* The room object's fields sit in the ack itself ("room" is then
         * its name); accept them nested too. */
        const cJSON *count = cJSON_GetObjectItemCaseSensitive(
            cJSON_IsObject(room) ? room : ack_data, "member_count");
        out_text(ctx, "joined %s as %s (%d member%s)", w->v[1],
                 cJSON_IsString(role) ? role->valuestring : "member",
                 cJSON_IsNumber(count) ? count->valueint : 1,
                 cJSON_IsNumber(count) && count->valueint == 1 ? "" : "s");
    }
    cJSON_Delete(ack_data);
    parley_free(ack);
    return CLI_EXIT_OK;
}

static int cmd_leave(struct cli *ctx, const struct command *cmd, struct words *w)
{
    cJSON *data = cJSON_CreateObject();
    int status;

    cJSON_AddStringToObject(data, "room", w->v[1]);
    status = request(ctx, "leave:chat", data, NULL);
    cJSON_Delete(data);
    if (status == CLI_EXIT_OK) {
        session_room_remove(ctx, w->v[1]);
        out_text(ctx, "left %s", w->v[1]);
    }
    return status;
}

/* ---- messages ------------------------------------------------------------- */

/* Prints the message object under `key` of an ack, human form. */
static void print_ack_message(struct cli *ctx, const char *ack)
{
    cJSON *d = cJSON_Parse(ack);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, "message");
    char *mj = cJSON_IsObject(m) ? cJSON_PrintUnformatted(m) : NULL;

    if (mj)
        out_message_human(ctx, mj);
    else
        out_text(ctx, "ok");
    cJSON_free(mj);
    cJSON_Delete(d);
}

static int cmd_send(struct cli *ctx, const struct command *cmd, struct words *w)
{
    const char *cmid = NULL;
    long long reply_to = 0;
    int has_reply = 0, status;
    size_t i = 1;
    char *text, *ack = NULL;
    cJSON *data;

    /* Options come before ROOM: after it, every word is text. */
    for (; i < w->n && !strncmp(w->v[i], "--", 2); i++) {
        if (!strcmp(w->v[i], "--")) {
            i++;
            break;
        }
        if (i + 1 >= w->n)
            return usage(ctx, cmd, "an option is missing its value");
        if (!strcmp(w->v[i], "--id")) {
            cmid = w->v[++i];
        } else if (!strcmp(w->v[i], "--reply-to")) {
            if (parse_i64(w->v[++i], &reply_to) != 0)
                return usage(ctx, cmd, "--reply-to takes a message id");
            has_reply = 1;
        } else {
            return usage(ctx, cmd, "unknown option");
        }
    }
    if (w->n - i < 2)
        return usage(ctx, cmd, "missing argument");
    text = words_join(&w->v[i + 1], w->n - i - 1);
    if (!text) {
        out_error(ctx, "nomem", "out of memory", 0);
        return CLI_EXIT_FAIL;
    }
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "room", w->v[i]);
    cJSON_AddStringToObject(data, "text", text);
    if (cmid)
        cJSON_AddStringToObject(data, "client_msg_id", cmid);
    if (has_reply)
        cJSON_AddNumberToObject(data, "reply_to", (double)reply_to);
    free(text);
    status = request(ctx, "message:send", data, &ack);
    cJSON_Delete(data);
    if (status == CLI_EXIT_OK)
        print_ack_message(ctx, ack);
    parley_free(ack);
    return status;
}

static void print_history(struct cli *ctx, const char *ack)
{
    cJSON *d = cJSON_Parse(ack);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(d, "messages"), *m;
    const cJSON *more = cJSON_GetObjectItemCaseSensitive(d, "has_more");

    cJSON_ArrayForEach(m, msgs)
    {
        char *mj = cJSON_PrintUnformatted(m);
        if (mj)
            out_message_human(ctx, mj);
        cJSON_free(mj);
    }
    if (cJSON_GetArraySize(msgs) == 0)
        out_text(ctx, "(no messages)");
    if (cJSON_IsTrue(more))
        out_text(ctx, "(older messages exist: use --before)");
    cJSON_Delete(d);
}

static int cmd_history(struct cli *ctx, const struct command *cmd, struct words *w)
{
    const char *room = NULL;
    long long before = 0, limit = 0;
    int has_before = 0, has_limit = 0, status;
    char *ack = NULL;
    cJSON *data;

    /* Options may come before or after ROOM. */
    for (size_t i = 1; i < w->n; i++) {
        const char *a = w->v[i];
        if (!strcmp(a, "--before") || !strcmp(a, "--limit")) {
            long long v;
            if (i + 1 >= w->n || parse_i64(w->v[i + 1], &v) != 0)
                return usage(ctx, cmd, "--before and --limit take a number");
            if (a[2] == 'b') {
                before = v;
                has_before = 1;
            } else {
                limit = v;
                has_limit = 1;
            }
            i++;
        } else if (!strncmp(a, "--", 2)) {
            return usage(ctx, cmd, "unknown option");
        } else if (room) {
            return usage(ctx, cmd, "too many arguments");
        } else {
            room = a;
        }
    }
    if (!room)
        return usage(ctx, cmd, "missing argument");
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "room", room);
    if (has_before)
        cJSON_AddNumberToObject(data, "before_seq", (double)before);
    if (has_limit)
        cJSON_AddNumberToObject(data, "limit", (double)limit);
    status = request(ctx, "message:history", data, &ack);
    cJSON_Delete(data);
    if (status == CLI_EXIT_OK)
        print_history(ctx, ack);
    parley_free(ack);
    return status;
}

/* ---- raw frames ----------------------------------------------------------- */

/* Id of frames `raw` builds itself: far above what the SDK hands out, so a
 * late ack can never be taken for one of the SDK's requests. */
#define RAW_TEXT_ID 2000000000L

/* Drives the connection until more than `seen` pushes (a close counts)
 * arrived, the socket is gone, or the timeout. Returns 1 when one of the
 * new pushes is named want (any push when want is NULL), else 0. */
static int wait_next_push(struct cli *ctx, unsigned long seen, const char *want)
{
    long long deadline = session_now_ms() + ctx->timeout_ms;

    for (;;) {
        if (ctx->pushes_seen > seen)
            return want ? session_arrived_since(ctx, seen, want) : 1;
        long long left = deadline - session_now_ms();
        if (left <= 0 || !session_alive(ctx))
            return 0;
        session_pump(ctx, left > 1000 ? 1000 : (int)left);
    }
}

/* DATA that is not a JSON object, which parley_request refuses: the frame
 * is built here and sent with parley_send_text. The server's answer must
 * be something parley.h shows, and an ack to an id the SDK did not send is
 * dropped by the SDK. So:
 *  - DATA that is not JSON: the frame carries an id, as `raw` promises; the
 *    server cannot read it from broken JSON and answers with an `error`
 *    push;
 *  - DATA that is JSON but not an object: the frame goes without an id, so
 *    the server's bad_request comes as an `error` push too (with an id it
 *    would be an ack nobody could print).
 * The push is printed by the push callback as it arrives. */
static int raw_as_text(struct cli *ctx, const char *event, const char *data, int with_id)
{
    cJSON *ev = cJSON_CreateString(event);
    char *evs = ev ? cJSON_PrintUnformatted(ev) : NULL, *frame = NULL;
    unsigned long seen = ctx->pushes_seen;
    int rc, n;

    cJSON_Delete(ev);
    if (!evs) {
        out_error(ctx, "nomem", "out of memory", 0);
        return CLI_EXIT_FAIL;
    }
    if (with_id)
        n = asprintf(&frame, "{\"id\":%ld,\"event\":%s,\"data\":%s}", RAW_TEXT_ID, evs, data);
    else
        n = asprintf(&frame, "{\"event\":%s,\"data\":%s}", evs, data);
    cJSON_free(evs);
    if (n < 0) {
        out_error(ctx, "nomem", "out of memory", 0);
        return CLI_EXIT_FAIL;
    }
    rc = parley_send_text(ctx->client, frame, (size_t)n);
    free(frame);
    if (rc != PARLEY_OK)
        return session_report(ctx, event, rc, 0, NULL);
    if (wait_next_push(ctx, seen, "error"))
        return CLI_EXIT_FAIL; /* refused; the error push is already printed */
    if (!parley_is_connected(ctx->client))
        return session_report(ctx, event, PARLEY_ERR_CLOSED, 0, NULL);
    if (ctx->pushes_seen > seen) {
        out_errorf(ctx, "protocol", 0, "%s got no answer, only an unrelated push", event);
        return CLI_EXIT_FAIL;
    }
    out_errorf(ctx, "timeout", 0, "no answer to %s within %d ms", event, ctx->timeout_ms);
    return CLI_EXIT_FAIL;
}

static int cmd_raw(struct cli *ctx, const struct command *cmd, struct words *w)
{
    const char *event = w->v[1];
    char *data = *w->rest ? words_rest_text(w->rest) : strdup("{}");
    char *ack = NULL;
    cJSON *parsed;
    long id = 0;
    int rc, status;

    if (!data) {
        out_error(ctx, "nomem", "out of memory", 0);
        return CLI_EXIT_FAIL;
    }
    if (session_ensure(ctx) != 0) {
        free(data);
        return CLI_EXIT_CONNECT;
    }
    parsed = cJSON_Parse(data);
    if (!cJSON_IsObject(parsed)) {
        status = raw_as_text(ctx, event, data, parsed == NULL);
        cJSON_Delete(parsed);
        free(data);
        return status;
    }
    cJSON_Delete(parsed);
    /* A valid object: the SDK sends {"id","event","data"} and matches the
     * ack, which is then printed like any other. */
    rc = session_call(ctx, event, data, &ack, &id);
    status = session_report(ctx, event, rc, id, ack);
    if (status == CLI_EXIT_OK)
        out_text(ctx, "%s", ack ? ack : "{}");
    parley_free(ack);
    free(data);
    return status;
}

static int cmd_send_text(struct cli *ctx, const struct command *cmd, struct words *w)
{
    char *text = words_rest_text(w->rest);
    unsigned long seen = ctx->pushes_seen;
    int rc;

    if (!text) {
        out_error(ctx, "nomem", "out of memory", 0);
        return CLI_EXIT_FAIL;
    }
    if (session_ensure(ctx) != 0) {
        free(text);
        return CLI_EXIT_CONNECT;
    }
    rc = parley_send_text(ctx->client, text, strlen(text));
    free(text);
    if (rc != PARLEY_OK)
        return session_report(ctx, "send-text", rc, 0, NULL);
    wait_next_push(ctx, seen, NULL);
    if (!parley_is_connected(ctx->client)) {
        int code = parley_close_code(ctx->client);
        out_errorf(ctx, "closed", 0, "the server closed the connection (%d)", code);
        return CLI_EXIT_FAIL;
    }
    out_text(ctx, "ok");
    return CLI_EXIT_OK;
}

/* ---- waiting for pushes --------------------------------------------------- */

static int cmd_wait(struct cli *ctx, const struct command *cmd, struct words *w)
{
    const char *event = w->v[1];
    long long timeout = ctx->timeout_ms, deadline;
    int want_close = !strcmp(event, "close");
    struct cli_push *p;

    if (w->n == 3 && (parse_i64(w->v[2], &timeout) != 0 || timeout < 0))
        return usage(ctx, cmd, "TIMEOUT_MS must be a number of milliseconds");
    p = session_take(ctx, event);
    /* Nothing can arrive without a connection: open one, except to wait
     * for a close (which needs an open connection to mean anything). */
    if (!p && !want_close && session_ensure(ctx) != 0)
        return CLI_EXIT_CONNECT;
    deadline = session_now_ms() + timeout;
    while (!p) {
        long long left = deadline - session_now_ms();
        if (left <= 0 || !session_alive(ctx))
            break;
        session_pump(ctx, left > 1000 ? 1000 : (int)left);
        p = session_take(ctx, event);
    }
    if (p) {
        session_push_free(p);
        out_text(ctx, "ok");
        return CLI_EXIT_OK;
    }
    if (!session_alive(ctx))
        out_errorf(ctx, "closed", 0, "no '%s' push: the connection is closed", event);
    else
        out_errorf(ctx, "timeout", 0, "no '%s' push within %lld ms", event, timeout);
    return CLI_EXIT_FAIL;
}

static int cmd_quit(struct cli *ctx, const struct command *cmd, struct words *w)
{
    ctx->stop = 1;
    return CLI_EXIT_OK;
}

/* ---- the table ------------------------------------------------------------ */

static const struct command commands[] = {
    {"help", "", "list every command with its usage", 0, 0, 0, cmd_help},
    {"register", "USER PASSWORD", "create an account over HTTP and use its token", 2, 2, 0,
     cmd_account},
    {"login", "USER PASSWORD", "log in over HTTP and use the token", 2, 2, 0, cmd_account},
    {"join", "ROOM [private]", "join (or create) a room", 1, 2, 0, cmd_join},
    {"leave", "ROOM", "leave a room", 1, 1, 0, cmd_leave},
    {"send", "[--id CMID] [--reply-to ID] ROOM TEXT...", "send a message", 2, -1, 0, cmd_send},
    {"history", "ROOM [--before SEQ] [--limit N]", "show a room's messages", 1, 5, 0,
     cmd_history},
    {"raw", "EVENT [DATA]", "send any event with DATA as typed (default {})", 1, -1, 2, cmd_raw},
    {"send-text", "TEXT", "send TEXT as one text frame, exactly as typed", 1, -1, 1,
     cmd_send_text},
    {"wait", "EVENT [TIMEOUT_MS]", "wait for a push named EVENT ('close': the server closing)",
     1, 2, 0, cmd_wait},
    {"quit", "", "end the session", 0, 0, 0, cmd_quit},
    {NULL, NULL, NULL, 0, 0, 0, NULL},
};

static int cmd_help(struct cli *ctx, const struct command *cmd, struct words *w)
{
    if (ctx->json) {
        cJSON *data = cJSON_CreateObject();
        cJSON *list = cJSON_AddArrayToObject(data, "commands");
        char *json;
        for (const struct command *c = commands; c->name; c++) {
            cJSON *o = cJSON_CreateObject();
            char *u = NULL;
            cJSON_AddStringToObject(o, "name", c->name);
            if (asprintf(&u, "%s%s%s", c->name, *c->args ? " " : "", c->args) >= 0) {
                cJSON_AddStringToObject(o, "usage", u);
                free(u);
            }
            cJSON_AddStringToObject(o, "summary", c->summary);
            cJSON_AddItemToArray(list, o);
        }
        json = cJSON_PrintUnformatted(data);
        out_ok(ctx, json);
        cJSON_free(json);
        cJSON_Delete(data);
        return CLI_EXIT_OK;
    }
    out_text(ctx, "commands:");
    for (const struct command *c = commands; c->name; c++) {
        char *u = NULL;
        if (asprintf(&u, "%s%s%s", c->name, *c->args ? " " : "", c->args) < 0)
            continue;
        out_text(ctx, "  %-48s %s", u, c->summary);
        free(u);
    }
    return CLI_EXIT_OK;
}

static const struct command *find_command(const char *name)
{
    for (const struct command *c = commands; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

const char *commands_name(size_t i)
{
    return i < sizeof commands / sizeof commands[0] - 1 ? commands[i].name : NULL;
}

int commands_takes_room(const char *name)
{
    return !strcmp(name, "join") || !strcmp(name, "leave") || !strcmp(name, "send") ||
           !strcmp(name, "history");
}

/* Parses and runs one line; returns the exit status it means. */
static int run_line(struct cli *ctx, const char *line)
{
    struct words w;
    const struct command *cmd;
    const char *err = NULL;
    size_t nargs;
    int status;

    if (words_split(line, 1, &w, &err) != 0)
        return usage(ctx, NULL, err);
    if (w.n == 0) {
        words_free(&w);
        return CLI_EXIT_OK;
    }
    cmd = find_command(w.v[0]);
    if (!cmd) {
        out_errorf(ctx, "usage", 0, "unknown command '%s' (try 'help')", w.v[0]);
        words_free(&w);
        return CLI_EXIT_USAGE;
    }
    words_free(&w);
    if (words_split(line, cmd->split_words > 0 ? cmd->split_words : -1, &w, &err) != 0)
        return usage(ctx, cmd, err);
    /* For a command with a raw rest, the rest counts as its last argument. */
    nargs = w.n - 1 + (cmd->split_words > 0 && *w.rest ? 1 : 0);
    if (nargs < (size_t)cmd->min_args)
        status = usage(ctx, cmd, "missing argument");
    else if (cmd->max_args >= 0 && nargs > (size_t)cmd->max_args)
        status = usage(ctx, cmd, "too many arguments");
    else
        status = cmd->run(ctx, cmd, &w);
    words_free(&w);
    return status;
}

int commands_run_line(struct cli *ctx, const char *line)
{
    const char *p = line;
    int status;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '#' || *p == '\n' || *p == '\r')
        return CLI_EXIT_OK;
    status = run_line(ctx, p);
    cli_fail(ctx, status);
    return status;
}
