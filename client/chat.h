/* parley-chat's application state and its handling of every event: the
 * windows (one per open room, in opening order), the current one, the
 * connection's state, receipts, typing, history loading. Runs on the UI
 * thread only; talks to the server with asynchronous calls only, whose
 * acks come back as bridge events. The screen (or line mode) draws from
 * this state; nothing here touches the terminal. */
#ifndef PC_CHAT_H
#define PC_CHAT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge.h"
#include "parley.h"
#include "scrollback.h"
#include "umap.h"

/* The values of a window's authors map: per author of others' messages,
 * the newest message id to report and the newest reported. */
/* Each WANT is followed by its SENT (chat.c relies on it). */
enum { PC_RC_WANT_DELIVERED, PC_RC_SENT_DELIVERED, PC_RC_WANT_READ, PC_RC_SENT_READ };

struct pc_window {
    char *room;             /* NULL: the status window, shown while no room is open */
    pc_scroll *sb;
    int unread;
    int scroll;             /* rows scrolled up from the newest (pc_scroll_layout's) */
    int joined;             /* join:chat acknowledged */
    int64_t join_members;   /* the member count of the join ack, announced (then -1)
                             * after the first history so the notice comes below it */
    int loading_older;      /* a message:history for older messages is in flight */
    struct pc_umap members; /* known members: str the display name */
    struct pc_umap typing;  /* v[0]: when the typing ends (pc_now_ms) */
    struct pc_umap authors; /* v[PC_RC_*] */
};

enum pc_conn { PC_CONN_CONNECTED, PC_CONN_CONNECTING, PC_CONN_RECONNECTING, PC_CONN_OFFLINE };

struct pc_chat;

/* Line mode prints what arrives; the full screen draws the state instead
 * and leaves these NULL. Strings are as received: the sink sanitizes. */
struct pc_sink {
    void (*message)(void *ctx, const struct pc_chat *ch, const struct pc_window *w,
                    const struct pc_entry *e);
    void (*notice)(void *ctx, const struct pc_window *w, int64_t ts, const char *text);
    /* what: "delivered", "read" (user: the reader) or "deleted" (user NULL) */
    void (*mark)(void *ctx, const struct pc_window *w, const char *what, int64_t id,
                 const char *user);
    void *ctx;
};

struct pc_chat {
    parley_client *c;
    struct pc_bridge *bridge;
    char *self;               /* this user's id */
    struct pc_window **win;   /* the rooms, in the order they were opened */
    size_t n_win, cap_win;
    size_t cur;               /* the current window's index (when n_win > 0) */
    struct pc_window *status; /* shown when no room is open */
    struct pc_umap presence;  /* str: the last status seen of a user */
    int conn;                 /* enum pc_conn */
    int dropped;              /* a drop happened: connect attempts are reconnects */
    int show_ids;             /* /ids */
    int64_t max_id;           /* the highest message id seen (the width of /ids) */
    int quit;                 /* /quit was asked */
    int dirty;                /* something to redraw */
    size_t outstanding;       /* asynchronous calls whose ack has not been handled */
    int line_mode;            /* every message printed counts as read */
    int view_cols, view_rows; /* the conversation's size for layout (0: no screen) */
    struct pc_row *rows;      /* view_rows rows of the last layout */
    size_t rows_cap;
    struct pc_sink sink;
    char *typing_room;        /* where typing true was sent last, NULL when none */
    int64_t typing_at;        /* when (pc_now_ms) */
};

/* Milliseconds of the monotonic clock; of the wall clock since the epoch. */
int64_t pc_now_ms(void);
int64_t pc_wall_ms(void);

/* self is copied. 0 or -1 (out of memory). */
int pc_chat_new(parley_client *c, struct pc_bridge *b, const char *self, int line_mode,
                struct pc_chat **out);
void pc_chat_free(struct pc_chat *ch);

/* The bridge's free function for an ACK's arg. */
void pc_req_free(void *arg);

/* The current window: the status window when no room is open. */
struct pc_window *pc_chat_current(const struct pc_chat *ch);
/* The window of room and its index, or NULL. */
struct pc_window *pc_chat_find(const struct pc_chat *ch, const char *room, size_t *index);
/* Makes window index current (its unread count becomes 0). */
void pc_chat_switch(struct pc_chat *ch, size_t index);
/* Opens a window for room and sends join:chat (then its history); the
 * window is made current when make_current. 0, or -1 (a notice says why). */
int pc_chat_open(struct pc_chat *ch, const char *room, int make_current);
/* Closes window index (nothing is sent). */
void pc_chat_close(struct pc_chat *ch, size_t index);

/* A notice ("-!- ...") in w (NULL: the current window). */
__attribute__((format(printf, 3, 4))) void pc_chat_notice(struct pc_chat *ch,
                                                          struct pc_window *w,
                                                          const char *fmt, ...);

/* Takes every event the bridge has queued and handles it. */
void pc_chat_drain(struct pc_chat *ch);
/* Ends typing indicators that were not refreshed in time. */
void pc_chat_tick(struct pc_chat *ch, int64_t now_ms);
/* Milliseconds until the next tick has something to do, -1 for never
 * (a poll timeout). */
int pc_chat_timeout(const struct pc_chat *ch, int64_t now_ms);
/* Sends the receipts gathered since the last call, one per author and
 * room (call once per wake-up). */
void pc_chat_flush(struct pc_chat *ch);

/* The size of the conversation area (full screen). 0 or -1. */
int pc_chat_set_view(struct pc_chat *ch, int cols, int rows);
/* Lays out the current window into ch->rows (view_rows of them): loads
 * older history when the top is reached, clears the unread count at the
 * bottom, and gathers read receipts for what is on screen. 0 or -1. */
int pc_chat_layout(struct pc_chat *ch);
/* Scrolls the current window by delta rows (positive: up, to older). */
void pc_chat_scroll(struct pc_chat *ch, int delta);

/* The input line changed to text[0..len): message:typing as the spec
 * says (at most every 3 s while there is text that is not a command). */
void pc_chat_typing(struct pc_chat *ch, const char *text, size_t len);

/* One line typed (a command or text to send). line is modified. */
void pc_chat_line(struct pc_chat *ch, char *line);

/* ---- between chat.c and chatcmd.c ------------------------------------------- */

enum pc_req_kind {
    PC_REQ_QUIET = 1, /* receipts and typing: the result does not matter */
    PC_REQ_JOIN,
    PC_REQ_HISTORY,
    PC_REQ_SEND,
    PC_REQ_DSTATUS,
    PC_REQ_LEAVE,
    PC_REQ_ROOMS,
    PC_REQ_STATUS,
    PC_REQ_WHO,
    PC_REQ_DELETE,
};

/* The arg of an asynchronous call: what its ack is about. */
struct pc_req {
    int kind;          /* enum pc_req_kind */
    char *room;        /* the room concerned, NULL when none */
    const char *word;  /* PC_REQ_STATUS: the word typed (static) */
    int64_t id;        /* PC_REQ_DELETE: the message id */
    int64_t before_seq; /* PC_REQ_HISTORY: 0 for the newest */
    int reload;        /* PC_REQ_HISTORY: after a lost session */
};

/* A request of kind about room (may be NULL), or NULL (out of memory; a
 * notice says so). */
struct pc_req *pc_req_new(struct pc_chat *ch, int kind, const char *room);
/* After an *_async call made with rq: counts it when rc is PARLEY_OK, else
 * frees rq and shows the error (not for PC_REQ_QUIET). Returns rc. */
int pc_chat_sent(struct pc_chat *ch, struct pc_req *rq, int rc);
/* "-!- error: CODE: MESSAGE" (or the transport error) for a failed ack. */
void pc_chat_ack_error(struct pc_chat *ch, struct pc_window *w, int rc, const char *json);
/* The display name of user as known from w's members, else user. */
const char *pc_chat_name(const struct pc_window *w, const char *user);
/* Remembers user as a member of w, with its display name and status. */
void pc_chat_know(struct pc_chat *ch, struct pc_window *w, const char *user, const char *name,
                  const char *status);
/* Handles the ack of a command's request (LEAVE ROOMS STATUS WHO DELETE). */
void pc_chat_cmd_ack(struct pc_chat *ch, struct pc_req *rq, const struct pc_event *ev);

#endif
