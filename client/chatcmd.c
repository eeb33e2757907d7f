/* Running the commands of the input line against the chat state, and the
 * acks of the requests only commands make. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "commands.h"

static void no_room(struct pc_chat *ch)
{
    pc_chat_notice(ch, NULL, "no room: /join ROOM");
}

/* The current room, or NULL after saying there is none. */
static struct pc_window *current_room(struct pc_chat *ch)
{
    struct pc_window *w = pc_chat_current(ch);

    if (w->room)
        return w;
    no_room(ch);
    return NULL;
}

static void say(struct pc_chat *ch, const char *text, int64_t reply_to)
{
    struct pc_window *w = current_room(ch);
    struct parley_send_opts opts = {NULL, reply_to};
    struct pc_req *rq;

    if (!w || !(rq = pc_req_new(ch, PC_REQ_SEND, w->room)))
        return;
    pc_chat_sent(ch, rq, parley_send_async(ch->c, w->room, text, &opts, pc_bridge_ack, rq));
}

static void leave(struct pc_chat *ch, const char *room)
{
    size_t index;
    struct pc_req *rq;

    if (!room) {
        struct pc_window *w = current_room(ch);
        if (!w)
            return;
        room = w->room;
    }
    if (!(rq = pc_req_new(ch, PC_REQ_LEAVE, room)))
        return;
    if (pc_chat_sent(ch, rq, parley_leave_async(ch->c, room, pc_bridge_ack, rq)) != PARLEY_OK)
        return;
    if (pc_chat_find(ch, rq->room, &index))
        pc_chat_close(ch, index);
}

static void switch_to(struct pc_chat *ch, const struct pc_cmd *cmd)
{
    size_t index;

    if (cmd->number > 0) {
        if ((uint64_t)cmd->number <= ch->n_win)
            pc_chat_switch(ch, (size_t)cmd->number - 1);
        else
            pc_chat_notice(ch, NULL, "no window %lld", (long long)cmd->number);
    } else if (pc_chat_find(ch, cmd->arg, &index)) {
        pc_chat_switch(ch, index);
    } else {
        pc_chat_notice(ch, NULL, "no window %s", cmd->arg);
    }
}

static void set_status(struct pc_chat *ch, const struct pc_cmd *cmd)
{
    struct pc_req *rq = pc_req_new(ch, PC_REQ_STATUS, NULL);

    if (!rq)
        return;
    rq->word = cmd->arg; /* a static string of the command table */
    pc_chat_sent(ch, rq, parley_update_status_async(ch->c, cmd->status, pc_bridge_ack, rq));
}

static void who(struct pc_chat *ch, const char *room)
{
    struct pc_req *rq;

    if (!room) {
        struct pc_window *w = current_room(ch);
        if (!w)
            return;
        room = w->room;
    }
    if ((rq = pc_req_new(ch, PC_REQ_WHO, room)))
        pc_chat_sent(ch, rq, parley_room_info_async(ch->c, room, pc_bridge_ack, rq));
}

static void rooms(struct pc_chat *ch)
{
    struct pc_req *rq = pc_req_new(ch, PC_REQ_ROOMS, NULL);

    if (rq)
        pc_chat_sent(ch, rq, parley_room_list_async(ch->c, pc_bridge_ack, rq));
}

static void delete_message(struct pc_chat *ch, int64_t id)
{
    struct pc_window *w = current_room(ch);
    struct pc_req *rq;

    if (!w)
        return;
    if (!id) {
        const struct pc_entry *e = pc_scroll_last_own(w->sb);
        if (!e) {
            pc_chat_notice(ch, w, "nothing to delete");
            return;
        }
        id = e->id;
    }
    if (!(rq = pc_req_new(ch, PC_REQ_DELETE, w->room)))
        return;
    rq->id = id;
    pc_chat_sent(ch, rq, parley_delete_async(ch->c, id, pc_bridge_ack, rq));
}

static void reply(struct pc_chat *ch, int64_t id, const char *text)
{
    struct pc_window *w = current_room(ch);

    if (!w)
        return;
    if (!id) {
        const struct pc_entry *e = pc_scroll_last_other(w->sb);
        if (!e) {
            pc_chat_notice(ch, w, "nothing to reply to");
            return;
        }
        id = e->id;
    }
    say(ch, text, id);
}

void pc_chat_line(struct pc_chat *ch, char *line)
{
    struct pc_cmd cmd;

    pc_cmd_parse(line, &cmd);
    switch (cmd.kind) {
    case PC_CMD_NONE:
        break;
    case PC_CMD_SAY:
        say(ch, cmd.arg, 0);
        break;
    case PC_CMD_JOIN:
        pc_chat_open(ch, cmd.arg, 1);
        break;
    case PC_CMD_LEAVE:
        leave(ch, cmd.arg);
        break;
    case PC_CMD_ROOMS:
        rooms(ch);
        break;
    case PC_CMD_SWITCH:
        switch_to(ch, &cmd);
        break;
    case PC_CMD_STATUS:
        set_status(ch, &cmd);
        break;
    case PC_CMD_WHO:
        who(ch, cmd.arg);
        break;
    case PC_CMD_DELETE:
        delete_message(ch, cmd.number);
        break;
    case PC_CMD_REPLY:
        reply(ch, cmd.number, cmd.arg);
        break;
    case PC_CMD_IDS:
        ch->show_ids = !ch->show_ids;
        ch->dirty = 1;
        break;
    case PC_CMD_HELP:
        for (const char *const *l = pc_cmd_help(); *l; l++)
            pc_chat_notice(ch, NULL, "%s", *l);
        break;
    case PC_CMD_QUIT:
        ch->quit = 1;
        break;
    case PC_CMD_UNKNOWN:
        pc_chat_notice(ch, NULL, "unknown command %s (try /help)", cmd.arg);
        break;
    case PC_CMD_USAGE:
        pc_chat_notice(ch, NULL, "usage: %s", cmd.arg);
        break;
    }
}

/* ---- acks ------------------------------------------------------------------- */

/* Appends to a growing string; on no memory the string is freed and NULL. */
__attribute__((format(printf, 2, 3))) static char *append(char *s, const char *fmt, ...)
{
    va_list ap;
    char *more = NULL, *joined = NULL;
    int rc;

    if (!s)
        return NULL;
    va_start(ap, fmt);
    rc = vasprintf(&more, fmt, ap);
    va_end(ap);
    if (rc >= 0 && asprintf(&joined, "%s%s", s, more) < 0)
        joined = NULL;
    free(more);
    free(s);
    return joined;
}

/* "rooms: 1:lobby 2:dev(3) ops": the windows, then the other rooms. */
static void rooms_ack(struct pc_chat *ch, const struct pc_event *ev)
{
    struct parley_room *list = NULL;
    size_t n = 0;
    char *s = strdup("rooms:");
    int any = 0;

    if (parley_rooms_parse(ev->text, &list, &n) != PARLEY_OK)
        list = NULL, n = 0;
    for (size_t i = 0; i < ch->n_win; i++, any = 1) {
        struct pc_window *w = ch->win[i];
        if (w->unread)
            s = append(s, " %zu:%s(%d)", i + 1, w->room, w->unread);
        else
            s = append(s, " %zu:%s", i + 1, w->room);
    }
    for (size_t i = 0; i < n; i++) {
        if (!pc_chat_find(ch, list[i].name, NULL)) {
            s = append(s, " %s", list[i].name);
            any = 1;
        }
    }
    if (!any)
        s = append(s, " none");
    if (s)
        pc_chat_notice(ch, NULL, "%s", s);
    free(s);
    parley_rooms_free(list, n);
}

/* "members of lobby: alice (online), bob (away)" */
static void who_ack(struct pc_chat *ch, const struct pc_req *rq, const struct pc_event *ev)
{
    struct parley_room *room = NULL;
    struct pc_window *w = pc_chat_find(ch, rq->room, NULL);
    char *s;

    if (parley_room_parse(ev->text, &room) != PARLEY_OK) {
        pc_chat_notice(ch, NULL, "error: unreadable room:info answer");
        return;
    }
    s = strdup("");
    for (size_t i = 0; i < room->n_members; i++) {
        const struct parley_member *m = &room->members[i];
        s = append(s, "%s%s (%s)", i ? ", " : "", *m->name ? m->name : m->user, m->status);
        if (w)
            pc_chat_know(ch, w, m->user, m->name, m->status);
    }
    if (s)
        pc_chat_notice(ch, NULL, "members of %s: %s", rq->room, s);
    free(s);
    parley_room_free(room);
}

void pc_chat_cmd_ack(struct pc_chat *ch, struct pc_req *rq, const struct pc_event *ev)
{
    size_t index;
    struct pc_window *w;

    if (ev->rc != PARLEY_OK) {
        pc_chat_ack_error(ch, NULL, ev->rc, ev->text);
        return;
    }
    switch (rq->kind) {
    case PC_REQ_LEAVE:
        pc_chat_notice(ch, NULL, "left %s", rq->room);
        break;
    case PC_REQ_ROOMS:
        rooms_ack(ch, ev);
        break;
    case PC_REQ_STATUS:
        pc_chat_notice(ch, NULL, "you are now %s", rq->word);
        break;
    case PC_REQ_WHO:
        who_ack(ch, rq, ev);
        break;
    case PC_REQ_DELETE:
        w = pc_chat_find(ch, rq->room, &index);
        if (w && pc_scroll_delete(w->sb, rq->id) == 1 && index == ch->cur)
            ch->dirty = 1;
        break;
    default:
        break;
    }
}
