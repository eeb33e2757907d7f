/* The commands that are one request each (rooms, subscriptions, typing,
 * receipts, deletes): the generic runner, the builders of their data
 * objects and the human renderings of their acks. Which command uses which
 * is the table in commands.c. */
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
