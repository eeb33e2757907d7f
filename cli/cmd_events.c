/* The commands that are one request each (rooms, subscriptions, typing,
 * receipts, deletes): the generic runner, the builders of their data
 * objects and the human renderings of their acks. Which command uses which
 * is the table in commands.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "jfield.h"
#include "output.h"
#include "session.h"

int cmd_event(struct cli *ctx, const struct command *cmd, struct words *w)
{
    cJSON *data = cJSON_CreateObject(), *parsed;
    const char *why = NULL;
    char *ack = NULL;
    int status;

    if (!data)
        return cmd_nomem(ctx);
    if (cmd->build && cmd->build(w, data, &why) != 0) {
        cJSON_Delete(data);
        return why ? cmd_usage(ctx, cmd, why) : cmd_nomem(ctx);
    }
    status = cmd_request(ctx, cmd->event, data, &ack);
    cJSON_Delete(data);
    if (status == CLI_EXIT_OK && cmd->show) {
        /* A show copes with a NULL ack: every field then has its default. */
        parsed = cJSON_Parse(ack ? ack : "{}");
        cmd->show(ctx, w, parsed);
        cJSON_Delete(parsed);
    }
    free(ack);
    return status;
}

/* ---- builders: words -> data object ---------------------------------------
 * run_line has checked the argument count against the table. Each returns
 * 0, or -1 with *why set (a usage error) or left NULL (out of memory). */

static int add_str(cJSON *data, const char *name, const char *value)
{
    return cJSON_AddStringToObject(data, name, value) ? 0 : -1;
}

/* ROOM */
int build_room(const struct words *w, cJSON *data, const char **why)
{
    return add_str(data, "room", w->v[1]);
}

/* [ROOM] */
int build_room_opt(const struct words *w, cJSON *data, const char **why)
{
    return w->n > 1 ? build_room(w, data, why) : 0;
}

/* ROOM... as the array `rooms` (the server counts duplicates once). */
int build_rooms(const struct words *w, cJSON *data, const char **why)
{
    cJSON *rooms = cJSON_AddArrayToObject(data, "rooms");

    if (!rooms)
        return -1;
    for (size_t i = 1; i < w->n; i++) {
        cJSON *r = cJSON_CreateString(w->v[i]);
        if (!r || !cJSON_AddItemToArray(rooms, r)) {
            cJSON_Delete(r);
            return -1;
        }
    }
    return 0;
}

/* ROOM USER */
int build_invite(const struct words *w, cJSON *data, const char **why)
{
    return add_str(data, "room", w->v[1]) || add_str(data, "user", w->v[2]) ? -1 : 0;
}

/* ROOM on|off */
int build_typing(const struct words *w, cJSON *data, const char **why)
{
    int on = !strcmp(w->v[2], "on");

    if (!on && strcmp(w->v[2], "off") != 0) {
        *why = "the second argument must be 'on' or 'off'";
        return -1;
    }
    if (build_room(w, data, why) != 0)
        return -1;
    return cJSON_AddBoolToObject(data, "typing", on) ? 0 : -1;
}

/* ID: a message id, sent as an exact integer. */
int build_message_id(const struct words *w, cJSON *data, const char **why)
{
    long long id;

    if (cmd_parse_id(w->v[1], &id) != 0) {
        *why = "ID must be a message id (a whole number from 1 to 2^53-1)";
        return -1;
    }
    return cmd_add_int(data, "message_id", id);
}

/* ---- renderings of the acks for people -------------------------------------
 * out_text prints nothing under --json, where the ack line has said it all;
 * the room lists are still learnt there, for completion. */

/* Prints label + the joined items of arr (see jf_join). */
static void text_list(struct cli *ctx, const char *label, const cJSON *arr, const char *field,
                      const char *none)
{
    char *list = jf_join(arr, field, none);

    out_text(ctx, "%s%s", label, list ? list : "?");
    free(list);
}

static void learn_rooms(struct cli *ctx, const cJSON *arr, const char *field)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, arr)
    {
        const char *room = field ? jf_str(item, field, NULL)
                                 : (cJSON_IsString(item) ? item->valuestring : NULL);
        if (room)
            session_room_add(ctx, room);
    }
}

static const char *plural(long long n)
{
    return n == 1 ? "" : "s";
}

/* room:info: the room object's fields, flat, plus members. */
void show_info(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const char *room = jf_str(ack, "room", w->v[1]);
    long long members = jf_int(ack, "member_count");
    const cJSON *m;

    session_room_add(ctx, room);
    out_text(ctx, "%s: %s room created by %s, %lld member%s (%lld online), last seq %lld", room,
             jf_true(ack, "private") ? "private" : "public", jf_str(ack, "created_by", "?"),
             members, plural(members), jf_int(ack, "online_count"), jf_int(ack, "last_seq"));
    cJSON_ArrayForEach(m, jf_array(ack, "members"))
        out_text(ctx, "  %-24s %-6s %s", jf_str(m, "user", "?"), jf_str(m, "role", "?"),
                 jf_str(m, "status", "?"));
}

/* room:list: one row per room, under a header sized to the longest name. */
void show_rooms(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const cJSON *rooms = jf_array(ack, "rooms"), *r;
    int width = 4;

    learn_rooms(ctx, rooms, "room");
    if (cJSON_GetArraySize(rooms) == 0) {
        out_text(ctx, "(no rooms: join one)");
        return;
    }
    cJSON_ArrayForEach(r, rooms)
    {
        int len = (int)strlen(jf_str(r, "room", "?"));
        if (len > width)
            width = len;
    }
    out_text(ctx, "%-*s %7s %6s %6s", width, "ROOM", "MEMBERS", "ONLINE", "UNREAD");
    cJSON_ArrayForEach(r, rooms)
        out_text(ctx, "%-*s %7lld %6lld %6lld", width, jf_str(r, "room", "?"),
                 jf_int(r, "member_count"), jf_int(r, "online_count"), jf_int(r, "unread"));
}

/* room:online: members, with the status when it is not plain online. */
void show_online(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const char *room = jf_str(ack, "room", w->v[1]);
    const cJSON *users = jf_array(ack, "users"), *u;

    if (cJSON_GetArraySize(users) == 0) {
        out_text(ctx, "nobody is online in %s", room);
        return;
    }
    out_text(ctx, "online in %s:", room);
    cJSON_ArrayForEach(u, users)
        out_text(ctx, "  %-24s %s", jf_str(u, "user", "?"), jf_str(u, "status", "?"));
}

/* room:subscribe-multiple */
void show_subscribed(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const cJSON *ok = jf_array(ack, "subscribed"), *f;

    learn_rooms(ctx, ok, NULL);
    if (cJSON_GetArraySize(ok) > 0)
        text_list(ctx, "subscribed to ", ok, NULL, "");
    cJSON_ArrayForEach(f, jf_array(ack, "failed"))
        out_text(ctx, "not subscribed to %s: %s", jf_str(f, "room", "?"),
                 jf_str(f, "code", "?"));
}

/* room:unsubscribe-multiple */
void show_unsubscribed(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    text_list(ctx, "unsubscribed from ", jf_array(ack, "unsubscribed"), NULL,
              "nothing (this connection was subscribed to none of them)");
}

/* room:subscription-status */
void show_substatus(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    out_text(ctx, "%s: %s, %s on this connection", jf_str(ack, "room", w->v[1]),
             jf_true(ack, "member") ? "member" : "not a member",
             jf_true(ack, "subscribed") ? "subscribed" : "not subscribed");
}

/* room:subscription-details */
void show_subs(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const cJSON *subs = jf_array(ack, "subscriptions"), *s;

    learn_rooms(ctx, subs, "room");
    if (cJSON_GetArraySize(subs) == 0) {
        out_text(ctx, "(this connection is subscribed to no room)");
        return;
    }
    cJSON_ArrayForEach(s, subs)
        out_text(ctx, "%s: last seq %lld, read up to %lld, %lld unread", jf_str(s, "room", "?"),
                 jf_int(s, "last_seq"), jf_int(s, "last_read_seq"), jf_int(s, "unread"));
}

/* room:invite */
void show_invite(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    out_text(ctx, "invited %s to %s", jf_str(ack, "user", w->v[2]), jf_str(ack, "room", w->v[1]));
}

/* message:typing: the ack is {}, the words say what was asked. */
void show_typing(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    out_text(ctx, "told %s you %s", w->v[1],
             !strcmp(w->v[2], "on") ? "are typing" : "stopped typing");
}

/* message:typing-users */
void show_typers(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const char *room = jf_str(ack, "room", w->v[1]);
    const cJSON *users = jf_array(ack, "users");
    char *label = NULL;

    if (cJSON_GetArraySize(users) == 0) {
        out_text(ctx, "nobody is typing in %s", room);
        return;
    }
    if (asprintf(&label, "typing in %s: ", room) < 0)
        return;
    text_list(ctx, label, users, NULL, "");
    free(label);
}

/* message:delivered */
void show_delivered(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    out_text(ctx, "message #%lld and those before it marked delivered",
             jf_int(ack, "message_id"));
}

/* message:read */
void show_read(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    out_text(ctx, "message #%lld marked read: %s read up to seq %lld", jf_int(ack, "message_id"),
             jf_str(ack, "room", "?"), jf_int(ack, "last_read_seq"));
}

/* message:delivery-status */
void show_receipts(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    out_text(ctx, "message #%lld:", jf_int(ack, "message_id"));
    text_list(ctx, "  read by:      ", jf_array(ack, "read_by"), "user", "nobody");
    text_list(ctx, "  delivered to: ", jf_array(ack, "delivered_to"), "user", "nobody");
    text_list(ctx, "  pending:      ", jf_array(ack, "pending"), NULL, "nobody");
}

/* message:stats */
void show_stats(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    out_text(ctx, "%s: %lld sent, %lld delivered, %lld read, %lld deleted",
             jf_str(ack, "room", w->n > 1 ? w->v[1] : "all rooms"), jf_int(ack, "sent"),
             jf_int(ack, "delivered"), jf_int(ack, "read"), jf_int(ack, "deleted"));
}

/* message:delete */
void show_deleted(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    out_text(ctx, "deleted message #%lld in %s", jf_int(ack, "message_id"),
             jf_str(ack, "room", "?"));
}

/* ---- monitoring (admin only) ------------------------------------------------
 * metrics, events, monitor-stats and health: one request each; the
 * server refuses anyone but an admin (forbidden). */

static const char *const mon_types[] = {
    "connect",   "disconnect",     "auth_failed",   "rate_limited",   "origin_rejected",
    "recovered", "recover_failed", "slow_consumer", "protocol_error",
};

const char *mon_event_type(size_t i)
{
    return i < sizeof mon_types / sizeof mon_types[0] ? mon_types[i] : NULL;
}

/* [--limit N] [--type T], in any order, each at most once. */
int build_mon_events(const struct words *w, cJSON *data, const char **why)
{
    int has_limit = 0, has_type = 0;

    for (size_t i = 1; i < w->n; i++) {
        const char *a = w->v[i];
        long long v;
        size_t k;
        if (!strcmp(a, "--limit")) {
            if (has_limit || i + 1 >= w->n || cmd_parse_i64(w->v[i + 1], &v) != 0 || v < 1 ||
                v > 1000) {
                *why = has_limit ? "--limit given twice"
                                 : "--limit takes a number from 1 to 1000";
                return -1;
            }
            if (cmd_add_int(data, "limit", v) != 0)
                return -1;
            has_limit = 1;
            i++;
        } else if (!strcmp(a, "--type")) {
            if (has_type || i + 1 >= w->n) {
                *why = has_type ? "--type given twice" : "--type takes an event type";
                return -1;
            }
            for (k = 0; mon_event_type(k) && strcmp(mon_event_type(k), w->v[i + 1]); k++)
                ;
            if (!mon_event_type(k)) {
                *why = "--type is one of connect, disconnect, auth_failed, rate_limited, "
                       "origin_rejected, recovered, recover_failed, slow_consumer, "
                       "protocol_error";
                return -1;
            }
            if (add_str(data, "type", w->v[i + 1]) != 0)
                return -1;
            has_type = 1;
            i++;
        } else {
            *why = !strncmp(a, "--", 2) ? "unknown option" : "unexpected argument";
            return -1;
        }
    }
    return 0;
}

/* A number of the ack for people: integers as they are, others with two
 * decimals, "-" when absent or null. */
static const char *num_text(const cJSON *obj, const char *name, char *buf, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (!cJSON_IsNumber(v))
        snprintf(buf, size, "-");
    else if (v->valuedouble > -1e15 && v->valuedouble < 1e15 &&
             v->valuedouble == (double)(long long)v->valuedouble)
        snprintf(buf, size, "%lld", (long long)v->valuedouble);
    else
        snprintf(buf, size, "%.2f", v->valuedouble);
    return buf;
}

/* monitoring:metrics: one row per figure, the rates last. */
void show_metrics(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    static const char *const names[] = {"connections", "connections_total", "messages_in",
                                        "messages_out", "bytes_in", "bytes_out", "rooms",
                                        "users_online", "uptime_s"};
    static const char *const rates[] = {"messages_in_per_s", "connections_per_s"};
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(ack, "rates");
    char buf[48];

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        out_text(ctx, "%-18s %s", names[i], num_text(ack, names[i], buf, sizeof buf));
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        out_text(ctx, "%-18s %s", rates[i], num_text(r, rates[i], buf, sizeof buf));
}

/* monitoring:events: one line per event, newest first as sent: time, type,
 * user ("-" when unknown), ip, detail. */
void show_mon_events(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const cJSON *events = jf_array(ack, "events"), *e;

    if (cJSON_GetArraySize(events) == 0) {
        out_text(ctx, "(no events)");
        return;
    }
    cJSON_ArrayForEach(e, events)
    {
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(e, "ts");
        const char *detail = jf_str(e, "detail", "");
        char when[32] = "?";
        if (cJSON_IsNumber(ts))
            out_clock((long long)ts->valuedouble, when, sizeof when);
        out_text(ctx, "%s %-15s %-16s %-15s%s%s", when, jf_str(e, "type", "?"),
                 jf_str(e, "user", "-"), jf_str(e, "ip", "-"), *detail ? " " : "", detail);
    }
}

/* monitoring:stats: the totals, then the connections per ip and per user
 * agent. */
void show_monitor_stats(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const cJSON *e;
    char avg[48];
    long long failures = jf_int(ack, "auth_failures");

    out_text(ctx, "average connection %s s; %lld auth failure%s, %lld rate limited",
             num_text(ack, "avg_connection_s", avg, sizeof avg), failures, plural(failures),
             jf_int(ack, "rate_limited"));
    out_text(ctx, "connections by ip:");
    if (cJSON_GetArraySize(jf_array(ack, "by_ip")) == 0)
        out_text(ctx, "  (none)");
    cJSON_ArrayForEach(e, jf_array(ack, "by_ip"))
        out_text(ctx, "  %-39s %lld", jf_str(e, "ip", "?"), jf_int(e, "connections"));
    out_text(ctx, "connections by user agent:");
    if (cJSON_GetArraySize(jf_array(ack, "by_user_agent")) == 0)
        out_text(ctx, "  (none)");
    cJSON_ArrayForEach(e, jf_array(ack, "by_user_agent"))
        out_text(ctx, "  %-39s %lld", jf_str(e, "user_agent", "(none)"),
                 jf_int(e, "connections"));
}

/* monitoring:health: the status, a row per check, the recommendations. */
void show_health(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const cJSON *checks = cJSON_GetObjectItemCaseSensitive(ack, "checks"), *c;
    const cJSON *recs = jf_array(ack, "recommendations");
    char value[48], threshold[48];

    out_text(ctx, "status: %s", jf_str(ack, "status", "?"));
    if (cJSON_IsObject(checks) && checks->child) {
        out_text(ctx, "%-18s %-6s %12s %12s", "CHECK", "STATUS", "VALUE", "THRESHOLD");
        cJSON_ArrayForEach(c, checks)
            out_text(ctx, "%-18s %-6s %12s %12s", c->string ? c->string : "?",
                     jf_str(c, "status", "?"), num_text(c, "value", value, sizeof value),
                     num_text(c, "threshold", threshold, sizeof threshold));
    }
    if (cJSON_GetArraySize(recs) > 0) {
        out_text(ctx, "recommendations:");
        cJSON_ArrayForEach(c, recs)
            if (cJSON_IsString(c))
                out_text(ctx, "  - %s", c->valuestring);
    }
}
