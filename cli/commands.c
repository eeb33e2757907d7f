/* The command table of parley(1) and the line dispatcher: split a line,
 * find its command, check the argument count, run it. The commands
 * themselves are in cmd_chat.c (the chat) and cmd_wire.c (frames and
 * pushes, for tests) and, for the commands that are one request each,
 * cmd_events.c. Every request goes through session_call, which writes
 * the frame itself and prints the ack as the server sent it; the typed
 * calls of parley.h return less than the ack. */
#include "commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "recovery.h"
#include "session.h"

int cmd_usage(struct cli *ctx, const struct command *cmd, const char *why)
{
    if (cmd)
        out_errorf(ctx, "usage", 0, "%s; usage: %s%s%s", why, cmd->name, *cmd->args ? " " : "",
                   cmd->args);
    else
        out_error(ctx, "usage", why, 0);
    return CLI_EXIT_USAGE;
}

int cmd_nomem(struct cli *ctx)
{
    out_error(ctx, "nomem", "out of memory", 0);
    return CLI_EXIT_FAIL;
}

int cmd_add_int(cJSON *obj, const char *name, long long v)
{
    char digits[24];

    snprintf(digits, sizeof digits, "%lld", v);
    return cJSON_AddRawToObject(obj, name, digits) ? 0 : -1;
}

int cmd_parse_i64(const char *s, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    return (errno || end == s || *end) ? -1 : 0;
}

int cmd_parse_id(const char *s, long long *out)
{
    return cmd_parse_i64(s, out) == 0 && *out >= 1 && *out <= CMD_ID_MAX ? 0 : -1;
}

int cmd_request(struct cli *ctx, const char *event, cJSON *data, char **ack_out)
{
    char *json = cJSON_PrintUnformatted(data);
    struct cli_ack ack;
    int rc, status;

    if (ack_out)
        *ack_out = NULL;
    if (!json)
        return cmd_nomem(ctx);
    if ((status = session_ensure(ctx)) != CLI_EXIT_OK) {
        cJSON_free(json);
        return status;
    }
    rc = session_call(ctx, event, json, &ack);
    cJSON_free(json);
    status = session_report(ctx, event, rc, &ack);
    if (status == CLI_EXIT_OK && ack_out) {
        *ack_out = ack.json;
        ack.json = NULL;
    }
    session_ack_clear(&ack);
    return status;
}

/* Defined after the table it lists. */
static int cmd_help(struct cli *ctx, const struct command *cmd, struct words *w);

static int cmd_quit(struct cli *ctx, const struct command *cmd, struct words *w)
{
    ctx->stop = 1;
    return CLI_EXIT_OK;
}

/* ---- the table ------------------------------------------------------------ */

/* A command with its own run function. */
#define LOCAL(name, args, summary, min, max, rooms, run)                                        \
    {name, args, summary, min, max, 0, rooms, run, NULL, NULL, NULL}
/* A command that is one request: build its data, send, show the ack. */
#define REQUEST(name, args, summary, min, max, rooms, event, build, show)                       \
    {name, args, summary, min, max, 0, rooms, cmd_event, event, build, show}

/* Two commands have two forms, told apart by their words: each form is a
 * row of its own, out of the table (help shows the table's row). */
static const struct command status_set_row =
    REQUEST("status", "STATUS", "", 1, 1, 0, "presence:update-status", build_status,
            show_status_set);
static const struct command status_receipts_row =
    REQUEST("status", "ID", "", 1, 1, 0, "message:delivery-status", build_message_id,
            show_receipts);
static const struct command online_status_row =
    REQUEST("online", "", "", 0, 0, 0, "presence:update-status", build_status,
            show_status_set);
static const struct command online_room_row =
    REQUEST("online", "ROOM", "", 1, 1, ROOM_ARG(1), "room:online", build_room, show_online);

/* status STATUS sets your status; status ID (a message id) is the
 * delivery status of that message. */
static int cmd_status(struct cli *ctx, const struct command *cmd, struct words *w)
{
    long long id;

    if (presence_status_wire(w->v[1]))
        return cmd_event(ctx, &status_set_row, w);
    if (cmd_parse_id(w->v[1], &id) == 0)
        return cmd_event(ctx, &status_receipts_row, w);
    return cmd_usage(ctx, cmd,
                     "the argument is a status (online, away, busy, offline, invisible) or a "
                     "message id (a whole number from 1 to 2^53-1)");
}

/* online alone sets your status; online ROOM lists the room's members
 * who are online. */
static int cmd_online(struct cli *ctx, const struct command *cmd, struct words *w)
{
    return cmd_event(ctx, w->n > 1 ? &online_room_row : &online_status_row, w);
}

static const struct command commands[] = {
    LOCAL("help", "", "list every command with its usage", 0, 0, 0, cmd_help),
    LOCAL("register", "USER PASSWORD", "create an account over HTTP and use its token", 2, 2, 0,
          cmd_account),
    LOCAL("login", "USER PASSWORD", "log in over HTTP and use the token", 2, 2, 0, cmd_account),

    /* rooms */
    LOCAL("join", "ROOM [private]", "join (or create) a room", 1, 2, ROOM_ARG(1), cmd_join),
    LOCAL("leave", "ROOM", "leave a room", 1, 1, ROOM_ARG(1), cmd_leave),
    REQUEST("info", "ROOM", "a room and its members", 1, 1, ROOM_ARG(1), "room:info",
            build_room, show_info),
    REQUEST("rooms", "", "your rooms: members, online, unread", 0, 0, 0, "room:list", NULL,
            show_rooms),
    LOCAL("online", "[ROOM]", "set your status online; with ROOM: its members online", 0, 1,
          ROOM_ARG(1), cmd_online),
    REQUEST("subscribe", "ROOM...", "receive these rooms' pushes on this connection", 1, -1,
            ROOM_ARGS_ALL, "room:subscribe-multiple", build_rooms, show_subscribed),
    REQUEST("unsubscribe", "ROOM...", "stop receiving these rooms' pushes here", 1, -1,
            ROOM_ARGS_ALL, "room:unsubscribe-multiple", build_rooms, show_unsubscribed),
    REQUEST("substatus", "ROOM", "whether you are a member, and subscribed here", 1, 1,
            ROOM_ARG(1), "room:subscription-status", build_room, show_substatus),
    REQUEST("subs", "", "this connection's subscriptions", 0, 0, 0,
            "room:subscription-details", NULL, show_subs),
    REQUEST("invite", "ROOM USER", "let USER join a private room", 2, 2, ROOM_ARG(1),
            "room:invite", build_invite, show_invite),

    /* messages */
    LOCAL("send", "[--id CMID] [--reply-to ID] ROOM TEXT...", "send a message", 2, -1,
          ROOM_ARGS_ALL, cmd_send),
    LOCAL("history", "ROOM [--before SEQ] [--limit N]", "show a room's messages", 1, 5,
          ROOM_ARGS_ALL, cmd_history),
    REQUEST("typing", "ROOM on|off", "tell a room you are typing, or stopped", 2, 2,
            ROOM_ARG(1), "message:typing", build_typing, show_typing),
    REQUEST("typers", "ROOM", "who is typing in a room", 1, 1, ROOM_ARG(1),
            "message:typing-users", build_room, show_typers),
    REQUEST("delivered", "ID", "mark message ID and those before it delivered", 1, 1, 0,
            "message:delivered", build_message_id, show_delivered),
    REQUEST("read", "ID", "mark message ID and those before it read", 1, 1, 0, "message:read",
            build_message_id, show_read),
    REQUEST("stats", "[ROOM]", "message counts of a room, or of all rooms", 0, 1, ROOM_ARG(1),
            "message:stats", build_room_opt, show_stats),
    REQUEST("delete", "ID", "delete message ID (yours, or as the room's owner)", 1, 1, 0,
            "message:delete", build_message_id, show_deleted),

    /* presence */
    LOCAL("status", "STATUS|ID",
          "set your status; with a message ID: who received and read it", 1, 1,
          0, cmd_status),
    REQUEST("away", "", "set your status to away", 0, 0, 0, "presence:update-status",
            build_status, show_status_set),
    REQUEST("busy", "", "set your status to busy", 0, 0, 0, "presence:update-status",
            build_status, show_status_set),
    REQUEST("invisible", "", "appear offline to others (status offline)", 0, 0, 0,
            "presence:update-status", build_status, show_status_set),
    REQUEST("who", "[ROOM]", "the users online, or the members of ROOM online", 0, 1,
            ROOM_ARG(1), "presence:online-users", build_room_opt, show_who),
    REQUEST("whois", "USER", "a user's status, last seen time and connections", 1, 1, 0,
            "presence:user-status", build_user, show_whois),
    REQUEST("presence-stats", "", "how many users are online, away, busy; connections", 0, 0,
            0, "presence:stats", NULL, show_presence_stats),

    /* connection recovery */
    REQUEST("session", "", "start a recovery session here and print its token", 0,
            0, 0, "connection:create-session", NULL, show_session),
    REQUEST("recover", "TOKEN [ROOM=SEQ...]",
            "resume a session: resubscribe, replay missed messages", 1, -1, 0,
            "connection:recover", build_recover, show_recover),
    REQUEST("session-info", "", "this connection's recovery session", 0, 0, 0,
            "connection:session-info", NULL, show_session_info),
    REQUEST("recovery-stats", "", "sessions and recoveries, server-wide", 0, 0, 0,
            "connection:stats", NULL, show_recovery_stats),

    /* monitoring (admin only) */
    REQUEST("metrics", "", "server counters: connections, messages, bytes, rates (admin)", 0,
            0, 0, "monitoring:metrics", NULL, show_metrics),
    REQUEST("events", "[--limit N] [--type TYPE]",
            "the server's recent connection events, newest first (admin)", 0, 4, 0,
            "monitoring:events", build_mon_events, show_mon_events),
    REQUEST("monitor-stats", "", "connections by ip and user agent, auth failures (admin)", 0,
            0, 0, "monitoring:stats", NULL, show_monitor_stats),
    REQUEST("health", "", "the server's health checks and recommendations (admin)", 0, 0, 0,
            "monitoring:health", NULL, show_health),

    /* wire level */
    {"raw", "EVENT [DATA]", "send any event with DATA as typed (default {})", 1, -1, 2, 0,
     cmd_raw, NULL, NULL, NULL},
    {"send-text", "TEXT", "send TEXT as one text frame, exactly as typed", 1, -1, 1, 0,
     cmd_send_text, NULL, NULL, NULL},
    LOCAL("wait", "EVENT [TIMEOUT_MS]",
          "wait for a push named EVENT ('close': the server closing)", 1, 2, 0, cmd_wait),
    LOCAL("quit", "", "end the session", 0, 0, 0, cmd_quit),
    {NULL, NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
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

int commands_room_arg(const char *name, size_t argi)
{
    const struct command *c = find_command(name);

    return c && argi > 0 && argi < 32 && (c->room_args & ROOM_ARG(argi));
}

/* Arguments that take one of a few fixed words, for completion. */
static const char *typing_word(size_t i)
{
    static const char *const words[] = {"on", "off"};
    return i < sizeof words / sizeof words[0] ? words[i] : NULL;
}

static const char *join_word(size_t i)
{
    return i == 0 ? "private" : NULL;
}

static const struct {
    const char *command;
    size_t argi;
    const char *(*word)(size_t i);
} arg_words[] = {
    {"status", 1, presence_status_word},
    {"typing", 2, typing_word},
    {"join", 2, join_word},
};

const char *commands_arg_word(const char *name, size_t argi, size_t i)
{
    for (size_t k = 0; k < sizeof arg_words / sizeof arg_words[0]; k++)
        if (arg_words[k].argi == argi && !strcmp(arg_words[k].command, name))
            return arg_words[k].word(i);
    return NULL;
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
        return cmd_usage(ctx, NULL, err);
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
        return cmd_usage(ctx, cmd, err);
    /* For a command with a raw rest, the rest counts as its last argument. */
    nargs = w.n - 1 + (cmd->split_words > 0 && *w.rest ? 1 : 0);
    if (nargs < (size_t)cmd->min_args)
        status = cmd_usage(ctx, cmd, "missing argument");
    else if (cmd->max_args >= 0 && nargs > (size_t)cmd->max_args)
        status = cmd_usage(ctx, cmd, "too many arguments");
    else
        status = cmd->run(ctx, cmd, &w);
    words_free(&w);
    return status;
}

int commands_run_line(struct cli *ctx, const char *line)
{
    const char *p = line;
    int status;

    /* What a lost session left to catch up on comes before the command. */
    recovery_idle(ctx);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '#' || *p == '\n' || *p == '\r')
        return CLI_EXIT_OK;
    status = run_line(ctx, p);
    cli_fail(ctx, status);
    return status;
}
