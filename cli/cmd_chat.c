/* The chat commands: accounts over HTTP, rooms, messages. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "output.h"
#include "session.h"

/* ---- accounts ------------------------------------------------------------- */

int commands_account(struct cli *ctx, const char *user, const char *password, int do_register,
                     int quiet_on_success)
{
    struct parley_auth_result res;
    int rc, status = CLI_EXIT_OK;

    memset(&res, 0, sizeof res);
    rc = do_register
             ? parley_register_tls(ctx->url, user, password, ctx->timeout_ms, ctx->tls, &res)
             : parley_login_tls(ctx->url, user, password, ctx->timeout_ms, ctx->tls, &res);
    if (rc == PARLEY_OK && res.token) {
        if (!quiet_on_success) {
            out_http(ctx, 1, res.http_status, res.body_json ? res.body_json : "{}", NULL, NULL);
            out_text(ctx, "%s as %s (token valid for %ld s)", do_register ? "registered" : "logged in",
                     user, res.expires_in);
        }
        if (session_adopt_token(ctx, res.token) != 0)
            status = CLI_EXIT_CONNECT;
    } else if (rc == PARLEY_ERR_SERVER) {
        out_http(ctx, 0, res.http_status, NULL, res.error_code, res.error_message);
        status = CLI_EXIT_FAIL;
    } else if (rc == PARLEY_ERR_TLS) {
        /* "certificate verify failed ..." says more than the error name. */
        out_errorf(ctx, res.error_code, 0, "cannot reach %s: %s", ctx->url, res.error_message);
        status = CLI_EXIT_CONNECT;
        if (!ctx->interactive)
            ctx->stop = 1;
    } else {
        out_errorf(ctx, "connect", res.http_status, "cannot reach %s: %s", ctx->url,
                   parley_strerror(rc));
        status = CLI_EXIT_CONNECT;
        if (!ctx->interactive)
            ctx->stop = 1;
    }
    parley_auth_result_clear(&res);
    return status;
}

int cmd_account(struct cli *ctx, const struct command *cmd, struct words *w)
{
    return commands_account(ctx, w->v[1], w->v[2], cmd->name[0] == 'r', 0);
}

/* ---- rooms ---------------------------------------------------------------- */

int cmd_join(struct cli *ctx, const struct command *cmd, struct words *w)
{
    cJSON *data, *ack_data;
    char *ack = NULL;
    int status;

    if (w->n == 3 && strcmp(w->v[2], "private") != 0)
        return cmd_usage(ctx, cmd, "the second argument can only be 'private'");
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "room", w->v[1]);
    if (w->n == 3)
        cJSON_AddTrueToObject(data, "private");
    status = cmd_request(ctx, "join:chat", data, &ack);
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
    free(ack);
    return CLI_EXIT_OK;
}

int cmd_leave(struct cli *ctx, const struct command *cmd, struct words *w)
{
    cJSON *data = cJSON_CreateObject();
    int status;

    cJSON_AddStringToObject(data, "room", w->v[1]);
    status = cmd_request(ctx, "leave:chat", data, NULL);
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

int cmd_send(struct cli *ctx, const struct command *cmd, struct words *w)
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
            return cmd_usage(ctx, cmd, "an option is missing its value");
        if (!strcmp(w->v[i], "--id")) {
            cmid = w->v[++i];
        } else if (!strcmp(w->v[i], "--reply-to")) {
            if (cmd_parse_id(w->v[++i], &reply_to) != 0)
                return cmd_usage(ctx, cmd, "--reply-to takes a message id");
            has_reply = 1;
        } else {
            return cmd_usage(ctx, cmd, "unknown option");
        }
    }
    if (w->n - i < 2)
        return cmd_usage(ctx, cmd, "missing argument");
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
        cmd_add_int(data, "reply_to", reply_to);
    free(text);
    status = cmd_request(ctx, "message:send", data, &ack);
    cJSON_Delete(data);
    if (status == CLI_EXIT_OK)
        print_ack_message(ctx, ack);
    free(ack);
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

int cmd_history(struct cli *ctx, const struct command *cmd, struct words *w)
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
            if (i + 1 >= w->n || cmd_parse_i64(w->v[i + 1], &v) != 0)
                return cmd_usage(ctx, cmd, "--before and --limit take a number");
            if (a[2] == 'b') {
                before = v;
                has_before = 1;
            } else {
                limit = v;
                has_limit = 1;
            }
            i++;
        } else if (!strncmp(a, "--", 2)) {
            return cmd_usage(ctx, cmd, "unknown option");
        } else if (room) {
            return cmd_usage(ctx, cmd, "too many arguments");
        } else {
            room = a;
        }
    }
    if (!room)
        return cmd_usage(ctx, cmd, "missing argument");
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "room", room);
    if (has_before)
        cmd_add_int(data, "before_seq", before);
    if (has_limit)
        cmd_add_int(data, "limit", limit);
    status = cmd_request(ctx, "message:history", data, &ack);
    cJSON_Delete(data);
    if (status == CLI_EXIT_OK)
        print_history(ctx, ack);
    free(ack);
    return status;
}
