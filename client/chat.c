#include "chat.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ackjson.h"

#define SCROLLBACK_MAX 5000
#define HISTORY_PAGE 50
#define TYPING_SHOWN_MS 6000  /* a typing user not refreshed for this long stops */
#define TYPING_REFRESH_MS 3000 /* the server forgets after 5 s */

/* How a message reached a window. */
enum how { LIVE, HISTORY_NEWEST, HISTORY_OLDER, RELOAD };

int64_t pc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pc_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- windows ----------------------------------------------------------------- */

static void window_free(struct pc_window *w)
{
    if (!w)
        return;
    free(w->room);
    pc_scroll_free(w->sb);
    pc_umap_clear(&w->members);
    pc_umap_clear(&w->typing);
    pc_umap_clear(&w->authors);
    free(w);
}

static struct pc_window *window_new(const char *self, const char *room)
{
    struct pc_window *w = calloc(1, sizeof *w);

    if (!w)
        return NULL;
    if ((room && !(w->room = strdup(room))) || !(w->sb = pc_scroll_new(self, SCROLLBACK_MAX))) {
        window_free(w);
        return NULL;
    }
    w->join_members = -1;
    return w;
}

struct pc_window *pc_chat_current(const struct pc_chat *ch)
{
    return ch->n_win ? ch->win[ch->cur] : ch->status;
}

struct pc_window *pc_chat_find(const struct pc_chat *ch, const char *room, size_t *index)
{
    for (size_t i = 0; room && i < ch->n_win; i++) {
        if (!strcmp(ch->win[i]->room, room)) {
            if (index)
                *index = i;
            return ch->win[i];
        }
    }
    return NULL;
}

const char *pc_chat_name(const struct pc_window *w, const char *user)
{
    const struct pc_uentry *e = w ? pc_umap_get(&w->members, user) : NULL;
    return e && e->str ? e->str : user;
}

/* Remembers user as a member of w with this display name. */
static void know_member(struct pc_window *w, const char *user, const char *name)
{
    struct pc_uentry *e;

    if (!user || !*user || pc_umap_put(&w->members, user, &e) != 0)
        return; /* only a name missing later: not worth failing for */
    if (name && *name && (!e->str || strcmp(e->str, name)))
        pc_umap_set_str(e, name);
}

/* Remembers a user's status; returns 1 when it changed (or was unknown). */
static int know_status(struct pc_chat *ch, const char *user, const char *status)
{
    struct pc_uentry *e;

    if (pc_umap_put(&ch->presence, user, &e) != 0)
        return 1;
    if (e->str && !strcmp(e->str, status))
        return 0;
    pc_umap_set_str(e, status);
    return 1;
}

void pc_chat_know(struct pc_chat *ch, struct pc_window *w, const char *user, const char *name,
                  const char *status)
{
    if (!user || !*user)
        return;
    know_member(w, user, name);
    if (status && *status)
        know_status(ch, user, status);
}

/* How far the window can scroll up: the rows above the bottom page. */
static int max_scroll(struct pc_chat *ch, struct pc_window *w)
{
    int s = INT_MAX / 2;
    int64_t newest;

    if (!ch->view_rows || pc_scroll_layout(w->sb, ch->view_cols, ch->view_rows, &s, ch->rows,
                                           &newest) < 0)
        return -1;
    return s;
}

/* Rows added below a view scrolled up would push it: a change of w is
 * bracketed by these two to keep what is on screen in place. */
static int keep_place_begin(struct pc_chat *ch, struct pc_window *w)
{
    return w->scroll > 0 ? max_scroll(ch, w) : -1;
}

static void keep_place_end(struct pc_chat *ch, struct pc_window *w, int before)
{
    int after = before >= 0 ? max_scroll(ch, w) : -1;

    if (after > before)
        w->scroll += after - before;
}

/* ---- notices ----------------------------------------------------------------- */

static void vnotice(struct pc_chat *ch, struct pc_window *w, const char *fmt, va_list ap)
{
    char *text = NULL;
    int64_t ts = pc_wall_ms();
    int before;

    if (!w)
        w = pc_chat_current(ch);
    if (vasprintf(&text, fmt, ap) < 0)
        return; /* out of memory: a notice is all that is lost */
    before = keep_place_begin(ch, w);
    if (pc_scroll_notice(w->sb, ts, text) == 0) {
        keep_place_end(ch, w, before);
        if (ch->sink.notice)
            ch->sink.notice(ch->sink.ctx, w, ts, text);
        if (w == pc_chat_current(ch))
            ch->dirty = 1;
    }
    free(text);
}

void pc_chat_notice(struct pc_chat *ch, struct pc_window *w, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vnotice(ch, w, fmt, ap);
    va_end(ap);
}

/* A notice in every open room (the status window when there is none). */
__attribute__((format(printf, 2, 3))) static void notice_all(struct pc_chat *ch,
                                                             const char *fmt, ...)
{
    va_list ap;

    for (size_t i = 0; i < ch->n_win || (i == 0 && !ch->n_win); i++) {
        va_start(ap, fmt);
        vnotice(ch, ch->n_win ? ch->win[i] : ch->status, fmt, ap);
        va_end(ap);
    }
}

static void out_of_memory(struct pc_chat *ch)
{
    pc_chat_notice(ch, NULL, "error: out of memory");
}

/* ---- requests ------------------------------------------------------------------ */

void pc_req_free(void *arg)
{
    struct pc_req *rq = arg;

    if (rq) {
        free(rq->room);
        free(rq);
    }
}

struct pc_req *pc_req_new(struct pc_chat *ch, int kind, const char *room)
{
    struct pc_req *rq = calloc(1, sizeof *rq);

    if (rq && room && !(rq->room = strdup(room))) {
        free(rq);
        rq = NULL;
    }
    if (!rq)
        out_of_memory(ch);
    else
        rq->kind = kind;
    return rq;
}

int pc_chat_sent(struct pc_chat *ch, struct pc_req *rq, int rc)
{
    if (rc == PARLEY_OK) {
        ch->outstanding++;
        return rc;
    }
    if (rq->kind != PC_REQ_QUIET)
        pc_chat_notice(ch, NULL, "error: %s", parley_strerror(rc));
    pc_req_free(rq);
    return rc;
}

void pc_chat_ack_error(struct pc_chat *ch, struct pc_window *w, int rc, const char *json)
{
    char code[64], msg[512];

    if (rc == PARLEY_ERR_SERVER) {
        pc_error_fields(json, code, sizeof code, msg, sizeof msg);
        pc_chat_notice(ch, w, "error: %s: %s", code, msg);
    } else {
        pc_chat_notice(ch, w, "error: %s", parley_strerror(rc));
    }
}

static void request_history(struct pc_chat *ch, struct pc_window *w, int64_t before_seq,
                            int reload)
{
    struct pc_req *rq = pc_req_new(ch, PC_REQ_HISTORY, w->room);

    if (!rq)
        return;
    rq->before_seq = before_seq;
    rq->reload = reload;
    if (pc_chat_sent(ch, rq, parley_history_async(ch->c, w->room, before_seq, HISTORY_PAGE,
                                                  pc_bridge_ack, rq)) == PARLEY_OK &&
        before_seq > 0)
        w->loading_older = 1;
}

static void send_quiet(struct pc_chat *ch, int read, int64_t id)
{
    struct pc_req *rq = pc_req_new(ch, PC_REQ_QUIET, NULL);

    if (!rq)
        return;
    pc_chat_sent(ch, rq,
                 read ? parley_read_async(ch->c, id, pc_bridge_ack, rq)
                      : parley_delivered_async(ch->c, id, pc_bridge_ack, rq));
}

static void send_typing(struct pc_chat *ch, const char *room, int typing)
{
    struct pc_req *rq = pc_req_new(ch, PC_REQ_QUIET, NULL);

    if (rq)
        pc_chat_sent(ch, rq, parley_typing_async(ch->c, room, typing, pc_bridge_ack, rq));
}

/* ---- opening, switching, closing ------------------------------------------------ */

/* Ends our typing indicator, if one is on. */
static void typing_off(struct pc_chat *ch)
{
    if (!ch->typing_room)
        return;
    send_typing(ch, ch->typing_room, 0);
    free(ch->typing_room);
    ch->typing_room = NULL;
}

void pc_chat_switch(struct pc_chat *ch, size_t index)
{
    if (index >= ch->n_win)
        return;
    if (ch->typing_room && strcmp(ch->typing_room, ch->win[index]->room))
        typing_off(ch);
    ch->cur = index;
    ch->win[index]->unread = 0;
    ch->dirty = 1;
}

int pc_chat_open(struct pc_chat *ch, const char *room, int make_current)
{
    struct pc_window *w;
    struct pc_req *rq;
    size_t index;

    if (pc_chat_find(ch, room, &index)) {
        if (make_current)
            pc_chat_switch(ch, index);
        return 0;
    }
    if (ch->n_win == ch->cap_win) {
        size_t cap = ch->cap_win ? ch->cap_win * 2 : 8;
        struct pc_window **grown = realloc(ch->win, cap * sizeof *grown);
        if (!grown) {
            out_of_memory(ch);
            return -1;
        }
        ch->win = grown;
        ch->cap_win = cap;
    }
    w = window_new(ch->self, room);
    rq = w ? pc_req_new(ch, PC_REQ_JOIN, room) : NULL;
    if (!rq) {
        window_free(w);
        out_of_memory(ch);
        return -1;
    }
    if (pc_chat_sent(ch, rq, parley_join_async(ch->c, room, 0, pc_bridge_ack, rq)) !=
        PARLEY_OK) {
        window_free(w);
        return -1;
    }
    /* The window exists before the ack so that what is typed next (a
     * script's next line) already goes to this room, in order. */
    ch->win[ch->n_win++] = w;
    if (make_current || ch->n_win == 1)
        pc_chat_switch(ch, ch->n_win - 1);
    ch->dirty = 1;
    return 0;
}

void pc_chat_close(struct pc_chat *ch, size_t index)
{
    struct pc_window *w;

    if (index >= ch->n_win)
        return;
    w = ch->win[index];
    if (ch->typing_room && !strcmp(ch->typing_room, w->room))
        typing_off(ch);
    memmove(&ch->win[index], &ch->win[index + 1], (ch->n_win - index - 1) * sizeof *ch->win);
    ch->n_win--;
    window_free(w);
    if (ch->cur > index || ch->cur >= ch->n_win)
        ch->cur = ch->cur ? ch->cur - 1 : 0;
    if (ch->n_win)
        ch->win[ch->cur]->unread = 0;
    ch->dirty = 1;
}

/* ---- messages --------------------------------------------------------------------- */

static struct pc_uentry *author(struct pc_window *w, const char *user)
{
    struct pc_uentry *e;
    return pc_umap_put(&w->authors, user, &e) == 0 ? e : NULL;
}

static void want(struct pc_window *w, const char *user, int which, int64_t id)
{
    struct pc_uentry *e = author(w, user);

    if (e && id > e->v[which])
        e->v[which] = id;
}

/* Adds m to w. Returns 1 when it is new, 0 when it was there, -1. */
static int add_message(struct pc_chat *ch, struct pc_window *w, const struct pc_msg *m,
                       enum how how)
{
    int own = !strcmp(m->user, ch->self);
    /* older history goes above the view: nothing moves */
    int before = how != HISTORY_OLDER ? keep_place_begin(ch, w) : -1;
    const struct pc_entry *e;
    int rc = pc_scroll_add(w->sb, m);

    if (rc < 0) {
        out_of_memory(ch);
        return -1;
    }
    if (m->id > ch->max_id)
        ch->max_id = m->id;
    if (!own)
        know_member(w, m->user, m->name);
    if (rc == 0) {
        if (w == pc_chat_current(ch))
            ch->dirty = 1; /* an update in place (a deletion seen again) */
        return 0;
    }
    keep_place_end(ch, w, before);
    e = pc_scroll_find(w->sb, m->id);
    if (e && ch->sink.message)
        ch->sink.message(ch->sink.ctx, ch, w, e);
    if (!own) {
        if (how == LIVE)
            pc_umap_del(&w->typing, m->user);
        /* a reload after a lost session brings what was missed: as new */
        if (how == LIVE || how == RELOAD) {
            if (w != pc_chat_current(ch) || w->scroll > 0)
                w->unread++;
            want(w, m->user, PC_RC_WANT_DELIVERED, m->id);
        }
        if (ch->line_mode)
            want(w, m->user, PC_RC_WANT_READ, m->id);
    }
    if (w == pc_chat_current(ch) || how == LIVE || how == RELOAD)
        ch->dirty = 1; /* the activity list may change */
    return 1;
}

static void on_message(struct pc_chat *ch, const struct pc_event *ev)
{
    struct pc_window *w = pc_chat_find(ch, ev->room, NULL);
    struct pc_msg m = {
        .id = ev->id,
        .seq = ev->seq,
        .ts = ev->ts,
        .reply_to = ev->reply_to,
        .user = ev->user ? ev->user : "",
        .name = ev->name ? ev->name : "",
        .text = ev->text ? ev->text : "",
        .deleted = ev->deleted,
    };

    if (w) /* a push for a room not open is not ours to show */
        add_message(ch, w, &m, LIVE);
}

/* ---- other pushes ---------------------------------------------------------------- */

static void on_typing(struct pc_chat *ch, const struct pc_event *ev)
{
    struct pc_window *w = pc_chat_find(ch, ev->room, NULL);
    struct pc_uentry *e;

    if (!w || !ev->user || !strcmp(ev->user, ch->self))
        return;
    if (!ev->typing)
        pc_umap_del(&w->typing, ev->user);
    else if (pc_umap_put(&w->typing, ev->user, &e) == 0)
        e->v[0] = pc_now_ms() + TYPING_SHOWN_MS;
    if (w == pc_chat_current(ch))
        ch->dirty = 1;
}

static void on_receipt(struct pc_chat *ch, const struct pc_event *ev)
{
    struct pc_window *w = pc_chat_find(ch, ev->room, NULL);
    int read = ev->receipt == PARLEY_RECEIPT_READ;

    if (!w || !ev->user || !strcmp(ev->user, ch->self))
        return;
    if (pc_scroll_mark(w->sb, ev->id, read ? PC_MARK_READ : PC_MARK_DELIVERED) > 0 &&
        w == pc_chat_current(ch))
        ch->dirty = 1;
    if (ch->sink.mark)
        ch->sink.mark(ch->sink.ctx, w, read ? "read" : "delivered", ev->id, ev->user);
}

static void on_deleted(struct pc_chat *ch, const struct pc_event *ev)
{
    struct pc_window *w = pc_chat_find(ch, ev->room, NULL);

    if (!w || pc_scroll_delete(w->sb, ev->id) != 1)
        return;
    if (w == pc_chat_current(ch))
        ch->dirty = 1;
    if (ch->sink.mark)
        ch->sink.mark(ch->sink.ctx, w, "deleted", ev->id, NULL);
}

static void on_member(struct pc_chat *ch, const struct pc_event *ev)
{
    struct pc_window *w = pc_chat_find(ch, ev->room, NULL);

    if (!w || !ev->user || !strcmp(ev->user, ch->self))
        return;
    if (ev->joined) {
        know_member(w, ev->user, ev->name);
        pc_chat_notice(ch, w, "%s joined %s", pc_chat_name(w, ev->user), w->room);
    } else {
        pc_chat_notice(ch, w, "%s left %s", pc_chat_name(w, ev->user), w->room);
        pc_umap_del(&w->members, ev->user);
        if (pc_umap_del(&w->typing, ev->user) && w == pc_chat_current(ch))
            ch->dirty = 1;
    }
}

static void on_presence(struct pc_chat *ch, const struct pc_event *ev)
{
    const char *status = ev->text ? ev->text : "";
    const char *name = ev->name ? ev->name : ev->user;
    int shown = 0;

    /* Our own change is answered by its ack ("you are now ..."). */
    if (!ev->user || !strcmp(ev->user, ch->self) || !know_status(ch, ev->user, status))
        return;
    for (size_t i = 0; i < ch->n_win; i++) {
        if (pc_umap_get(&ch->win[i]->members, ev->user)) {
            pc_chat_notice(ch, ch->win[i], "%s is now %s", name, status);
            shown = 1;
        }
    }
    if (!shown)
        pc_chat_notice(ch, NULL, "%s is now %s", name, status);
}

static void on_state(struct pc_chat *ch, const struct pc_event *ev)
{
    switch (ev->state) {
    case PARLEY_STATE_CONNECTING:
        ch->conn = ch->dropped ? PC_CONN_RECONNECTING : PC_CONN_CONNECTING;
        break;
    case PARLEY_STATE_CONNECTED:
        ch->conn = PC_CONN_CONNECTED;
        break;
    case PARLEY_STATE_RECOVERED:
        notice_all(ch, "reconnected, %lld missed message%s", (long long)ev->count,
                   ev->count == 1 ? "" : "s");
        break;
    case PARLEY_STATE_SESSION_LOST:
        notice_all(ch, "reconnected; session lost, reloading history");
        for (size_t i = 0; i < ch->n_win; i++)
            request_history(ch, ch->win[i], 0, 1);
        break;
    case PARLEY_STATE_DISCONNECTED:
        ch->dropped = 1;
        ch->conn = ev->will_retry ? PC_CONN_RECONNECTING : PC_CONN_OFFLINE;
        /* The server ended everyone's typing with the connection. */
        free(ch->typing_room);
        ch->typing_room = NULL;
        if (ev->will_retry)
            notice_all(ch, "disconnected (%d), reconnecting…", ev->close_code);
        else
            notice_all(ch, "disconnected (%d)", ev->close_code);
        break;
    default:
        break;
    }
    ch->dirty = 1;
}

/* ---- acks ---------------------------------------------------------------------------- */

static void on_join_ack(struct pc_chat *ch, struct pc_req *rq, const struct pc_event *ev)
{
    size_t index;
    struct pc_window *w = pc_chat_find(ch, rq->room, &index);
    struct parley_room *room = NULL;
    int64_t members;

    if (!w)
        return; /* closed meanwhile */
    if (ev->rc != PARLEY_OK) {
        if (!w->joined)
            pc_chat_close(ch, index);
        pc_chat_ack_error(ch, NULL, ev->rc, ev->text);
        return;
    }
    w->joined = 1;
    if (parley_room_parse(ev->text, &room) == PARLEY_OK) {
        for (size_t i = 0; i < room->n_members; i++)
            pc_chat_know(ch, w, room->members[i].user, room->members[i].name,
                         room->members[i].status);
        members = room->member_count > 0 ? room->member_count : (int64_t)room->n_members;
        parley_room_free(room);
    } else {
        members = (int64_t)w->members.n;
    }
    w->join_members = members;
    request_history(ch, w, 0, 0);
}

struct history_ctx {
    struct pc_chat *ch;
    struct pc_window *w;
    enum how how;
    int64_t oldest; /* the lowest seq of the page */
};

static int history_one(void *ctx, const struct pc_msg *m)
{
    struct history_ctx *h = ctx;

    if (!h->oldest || m->seq < h->oldest)
        h->oldest = m->seq;
    return add_message(h->ch, h->w, m, h->how) < 0 ? -1 : 0;
}

/* message:delivery-status of our newest message, for its mark. */
static void request_dstatus(struct pc_chat *ch, struct pc_window *w)
{
    const struct pc_entry *own = pc_scroll_last_own(w->sb);
    struct pc_req *rq;

    if (!own || own->mark == PC_MARK_READ || !(rq = pc_req_new(ch, PC_REQ_DSTATUS, w->room)))
        return;
    pc_chat_sent(ch, rq, parley_delivery_status_async(ch->c, own->id, pc_bridge_ack, rq));
}

/* "-!- joined ROOM (M members)", once, below the history it came with. */
static void announce_join(struct pc_chat *ch, struct pc_window *w)
{
    if (w->join_members < 0)
        return;
    pc_chat_notice(ch, w, "joined %s (%lld member%s)", w->room, (long long)w->join_members,
                   w->join_members == 1 ? "" : "s");
    w->join_members = -1;
}

static void on_history_ack(struct pc_chat *ch, struct pc_req *rq, const struct pc_event *ev)
{
    struct pc_window *w = pc_chat_find(ch, rq->room, NULL);
    struct history_ctx h = {ch, w, rq->before_seq ? HISTORY_OLDER : rq->reload ? RELOAD : HISTORY_NEWEST, 0};
    int64_t had_oldest;
    int has_more;

    if (!w)
        return;
    if (rq->before_seq)
        w->loading_older = 0;
    if (ev->rc != PARLEY_OK) {
        announce_join(ch, w);
        pc_chat_ack_error(ch, w, ev->rc, ev->text);
        return;
    }
    had_oldest = pc_scroll_oldest_seq(w->sb);
    if (pc_history_each(ev->text, history_one, &h, &has_more) == -1 && !h.oldest) {
        pc_chat_notice(ch, w, "error: unreadable history");
        return;
    }
    /* A page of the newest says nothing about what lies before messages
     * already held that are older than it. */
    if (rq->before_seq || !had_oldest || (h.oldest && h.oldest <= had_oldest))
        pc_scroll_set_has_older(w->sb, has_more);
    if (!rq->before_seq) {
        announce_join(ch, w);
        request_dstatus(ch, w);
    }
    if (w == pc_chat_current(ch))
        ch->dirty = 1;
}

static void on_send_ack(struct pc_chat *ch, struct pc_req *rq, const struct pc_event *ev)
{
    struct pc_window *w = pc_chat_find(ch, rq->room, NULL);
    struct parley_message *m = NULL;

    if (ev->rc != PARLEY_OK) {
        pc_chat_ack_error(ch, w, ev->rc, ev->text);
        return;
    }
    if (!w || parley_message_parse(ev->text, &m) != PARLEY_OK)
        return;
    {
        struct pc_msg pm = {
            .id = m->id,
            .seq = m->seq,
            .ts = m->ts,
            .reply_to = m->reply_to,
            .user = m->user,
            .name = m->name && *m->name ? m->name : m->user,
            .text = m->text,
            .deleted = m->deleted,
        };
        add_message(ch, w, &pm, LIVE);
    }
    parley_message_free(m);
}

/* Whether someone other than us is in a receipt list. */
static int others_in(const struct parley_receipt_entry *list, size_t n, const char *self)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].user, self))
            return 1;
    return 0;
}

static void on_dstatus_ack(struct pc_chat *ch, struct pc_req *rq, const struct pc_event *ev)
{
    struct pc_window *w = pc_chat_find(ch, rq->room, NULL);
    struct parley_delivery_status *st = NULL;
    int mark = PC_MARK_NONE;

    if (!w || ev->rc != PARLEY_OK || parley_delivery_status_parse(ev->text, &st) != PARLEY_OK)
        return;
    if (others_in(st->read_by, st->n_read, ch->self))
        mark = PC_MARK_READ;
    else if (others_in(st->delivered_to, st->n_delivered, ch->self))
        mark = PC_MARK_DELIVERED;
    if (mark && pc_scroll_mark(w->sb, st->message_id, mark) > 0 && w == pc_chat_current(ch))
        ch->dirty = 1;
    parley_delivery_status_free(st);
}

static void on_ack(struct pc_chat *ch, struct pc_event *ev)
{
    struct pc_req *rq = ev->arg;

    ev->arg = NULL;
    if (ch->outstanding)
        ch->outstanding--;
    switch (rq->kind) {
    case PC_REQ_QUIET:
        break;
    case PC_REQ_JOIN:
        on_join_ack(ch, rq, ev);
        break;
    case PC_REQ_HISTORY:
        on_history_ack(ch, rq, ev);
        break;
    case PC_REQ_SEND:
        on_send_ack(ch, rq, ev);
        break;
    case PC_REQ_DSTATUS:
        on_dstatus_ack(ch, rq, ev);
        break;
    default:
        pc_chat_cmd_ack(ch, rq, ev);
        break;
    }
    pc_req_free(rq);
}

static void on_error(struct pc_chat *ch, const struct pc_event *ev)
{
    pc_chat_notice(ch, NULL, "error: %s: %s", ev->code ? ev->code : "",
                   ev->text ? ev->text : "");
}

void pc_chat_drain(struct pc_chat *ch)
{
    unsigned lost, lost_acks;
    struct pc_event *ev = pc_bridge_take(ch->bridge, &lost, &lost_acks), *next;

    for (; ev; ev = next) {
        next = ev->next;
        switch (ev->kind) {
        case PC_EV_MESSAGE:
            on_message(ch, ev);
            break;
        case PC_EV_TYPING:
            on_typing(ch, ev);
            break;
        case PC_EV_RECEIPT:
            on_receipt(ch, ev);
            break;
        case PC_EV_DELETED:
            on_deleted(ch, ev);
            break;
        case PC_EV_MEMBER:
            on_member(ch, ev);
            break;
        case PC_EV_ERROR:
            on_error(ch, ev);
            break;
        case PC_EV_PRESENCE:
            on_presence(ch, ev);
            break;
        case PC_EV_STATE:
            on_state(ch, ev);
            break;
        case PC_EV_ACK:
            on_ack(ch, ev);
            break;
        }
        pc_event_free(ch->bridge, ev, 1);
    }
    if (lost) {
        ch->outstanding -= lost_acks < ch->outstanding ? lost_acks : ch->outstanding;
        pc_chat_notice(ch, NULL, "error: out of memory, %u events lost", lost);
    }
}

/* ---- timers, receipts, typing ---------------------------------------------------------- */

void pc_chat_tick(struct pc_chat *ch, int64_t now_ms)
{
    for (size_t i = 0; i < ch->n_win; i++) {
        struct pc_umap *t = &ch->win[i]->typing;
        for (size_t j = t->n; j-- > 0;) {
            if (t->e[j].v[0] <= now_ms) {
                pc_umap_del(t, t->e[j].user);
                if (i == ch->cur)
                    ch->dirty = 1;
            }
        }
    }
}

/* The author of a (which: PC_RC_WANT_READ or PC_RC_WANT_DELIVERED) with
 * the lowest message id still to report, or NULL. */
static struct pc_uentry *lowest_due(struct pc_umap *a, int which)
{
    struct pc_uentry *best = NULL;

    for (size_t j = 0; j < a->n; j++) {
        int64_t *v = a->e[j].v;
        if (v[which] > v[which + 1] && (!best || v[which] < best->v[which]))
            best = &a->e[j];
    }
    return best;
}

/* The server keeps one read and one delivered pointer per reader and room,
 * and stores (and pushes to the author) only a receipt that moves it: the
 * receipts of a room go out in ascending order, or a later author's
 * would swallow an earlier one's. */
int pc_chat_timeout(const struct pc_chat *ch, int64_t now_ms)
{
    int64_t next = -1;

    for (size_t i = 0; i < ch->n_win; i++) {
        const struct pc_umap *t = &ch->win[i]->typing;
        for (size_t j = 0; j < t->n; j++)
            if (next < 0 || t->e[j].v[0] < next)
                next = t->e[j].v[0];
    }
    if (next < 0)
        return -1;
    return next <= now_ms ? 0 : next - now_ms > 60000 ? 60000 : (int)(next - now_ms);
}

void pc_chat_flush(struct pc_chat *ch)
{
    struct pc_uentry *e;

    for (size_t i = 0; i < ch->n_win; i++) {
        struct pc_umap *a = &ch->win[i]->authors;
        while ((e = lowest_due(a, PC_RC_WANT_READ))) {
            send_quiet(ch, 1, e->v[PC_RC_WANT_READ]);
            e->v[PC_RC_SENT_READ] = e->v[PC_RC_WANT_READ];
            /* read is delivered too */
            if (e->v[PC_RC_SENT_DELIVERED] < e->v[PC_RC_SENT_READ])
                e->v[PC_RC_SENT_DELIVERED] = e->v[PC_RC_SENT_READ];
        }
        while ((e = lowest_due(a, PC_RC_WANT_DELIVERED))) {
            send_quiet(ch, 0, e->v[PC_RC_WANT_DELIVERED]);
            e->v[PC_RC_SENT_DELIVERED] = e->v[PC_RC_WANT_DELIVERED];
        }
    }
}

void pc_chat_typing(struct pc_chat *ch, const char *text, size_t len)
{
    const char *room = ch->n_win ? ch->win[ch->cur]->room : NULL;
    int active = room && len > 0 && !(text[0] == '/' && (len < 2 || text[1] != '/'));
    int64_t now = pc_now_ms();

    if (ch->typing_room && (!active || strcmp(ch->typing_room, room)))
        typing_off(ch);
    if (!active || (ch->typing_room && now - ch->typing_at < TYPING_REFRESH_MS))
        return;
    if (!ch->typing_room && !(ch->typing_room = strdup(room)))
        return;
    ch->typing_at = now;
    send_typing(ch, room, 1);
}

/* ---- the view ---------------------------------------------------------------------------- */

int pc_chat_set_view(struct pc_chat *ch, int cols, int rows)
{
    if (rows < 0)
        rows = 0;
    if ((size_t)rows > ch->rows_cap) {
        struct pc_row *grown = realloc(ch->rows, (size_t)rows * sizeof *grown);
        if (!grown)
            return -1;
        ch->rows = grown;
        ch->rows_cap = (size_t)rows;
    }
    ch->view_cols = cols < 1 ? 1 : cols;
    ch->view_rows = rows;
    return 0;
}

int pc_chat_layout(struct pc_chat *ch)
{
    struct pc_window *w = pc_chat_current(ch);
    int64_t newest = 0;
    int top;

    if (!ch->view_rows)
        return 0;
    top = pc_scroll_layout(w->sb, ch->view_cols, ch->view_rows, &w->scroll, ch->rows, &newest);
    if (top < 0)
        return -1;
    /* A full scrollback evicts its oldest entry on every add, so a page
     * older than everything would be dropped as it arrives and asked for
     * again at once: the window keeps the newest SCROLLBACK_MAX entries. */
    if (top == 1 && w->room && pc_scroll_has_older(w->sb) && !w->loading_older && w->joined &&
        pc_scroll_count(w->sb) < SCROLLBACK_MAX)
        request_history(ch, w, pc_scroll_oldest_seq(w->sb), 0);
    if (w->scroll == 0)
        w->unread = 0;
    for (int i = 0; w->room && i < ch->view_rows; i++) {
        const struct pc_entry *e = ch->rows[i].e;
        if (e && e->kind == PC_ENTRY_MSG && !e->own && e->id > 0)
            want(w, e->user, PC_RC_WANT_READ, e->id);
    }
    return 0;
}

void pc_chat_scroll(struct pc_chat *ch, int delta)
{
    struct pc_window *w = pc_chat_current(ch);
    long s = (long)w->scroll + delta;

    w->scroll = s < 0 ? 0 : s > INT_MAX / 2 ? INT_MAX / 2 : (int)s;
    ch->dirty = 1;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

int pc_chat_new(parley_client *c, struct pc_bridge *b, const char *self, int line_mode,
                struct pc_chat **out)
{
    struct pc_chat *ch = calloc(1, sizeof *ch);

    *out = NULL;
    if (!ch)
        return -1;
    ch->c = c;
    ch->bridge = b;
    ch->line_mode = line_mode;
    ch->conn = PC_CONN_CONNECTED;
    if (!(ch->self = strdup(self)) || !(ch->status = window_new(self, NULL))) {
        pc_chat_free(ch);
        return -1;
    }
    *out = ch;
    return 0;
}

void pc_chat_free(struct pc_chat *ch)
{
    if (!ch)
        return;
    for (size_t i = 0; i < ch->n_win; i++)
        window_free(ch->win[i]);
    free(ch->win);
    window_free(ch->status);
    pc_umap_clear(&ch->presence);
    free(ch->rows);
    free(ch->typing_room);
    free(ch->self);
    free(ch);
}
