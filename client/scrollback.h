/* One room's conversation as parley-chat shows it: messages in seq order
 * (live, replayed after a reconnect, or loaded from history, in any order
 * and any number of times) with the notices between them, and the
 * arithmetic of drawing the newest part of it into a window of given
 * size. No terminal here: the screen draws the rows this computes. */
#ifndef PC_SCROLLBACK_H
#define PC_SCROLLBACK_H

#include <stddef.h>
#include <stdint.h>

enum pc_entry_kind { PC_ENTRY_MSG = 1, PC_ENTRY_NOTICE };
enum pc_mark { PC_MARK_NONE = 0, PC_MARK_DELIVERED = 1, PC_MARK_READ = 2 };

/* A message as it arrives (strings borrowed for the call; the scrollback
 * sanitizes and copies them). */
struct pc_msg {
    int64_t id, seq, ts, reply_to;
    const char *user, *name, *text;
    int deleted;
};

/* A stored entry. Strings are sanitized (pc_sanitize) and owned by the
 * scrollback. For a notice only ts and text are set (id, seq 0). */
struct pc_entry {
    int kind;             /* enum pc_entry_kind */
    int64_t id, seq, ts, reply_to;
    char *user, *name, *text;
    int deleted;
    int own;              /* sent by this user (pc_scroll_new's self) */
    int mark;             /* enum pc_mark, own messages only */
};

typedef struct pc_scroll pc_scroll;

/* self: the user id of this client (own messages get marks). max: entries
 * kept; beyond it the oldest go (and has_older becomes 1, so scrolling up
 * loads them again from history). NULL when out of memory. */
pc_scroll *pc_scroll_new(const char *self, size_t max);
void pc_scroll_free(pc_scroll *sb);

/* Adds a message at its place in seq order. A seq already present updates
 * that entry in place (text, deleted) instead: replays and history overlaps
 * never duplicate. Returns 1 when added, 0 when it was already there, -1
 * when out of memory. */
int pc_scroll_add(pc_scroll *sb, const struct pc_msg *m);
/* Appends a notice ("bob joined", "reconnected, 3 missed messages") after
 * everything present. Text is sanitized. 0 or -1. */
int pc_scroll_notice(pc_scroll *sb, int64_t ts, const char *text);

/* message:deleted: the message with this id becomes deleted with text "".
 * 1 when found, 0 when not. */
int pc_scroll_delete(pc_scroll *sb, int64_t id);
/* A receipt from someone else for message id: every own message up to that
 * message's seq gets at least `mark` (receipts are cumulative). When id is
 * not present, own messages with a smaller id do (ids grow with seq within
 * a room). Returns how many entries changed. */
int pc_scroll_mark(pc_scroll *sb, int64_t id, int mark);

/* The entry with this message id, or NULL. */
const struct pc_entry *pc_scroll_find(const pc_scroll *sb, int64_t id);
/* The newest own message that is not deleted, the newest message of
 * someone else, or NULL. */
const struct pc_entry *pc_scroll_last_own(const pc_scroll *sb);
const struct pc_entry *pc_scroll_last_other(const pc_scroll *sb);
/* Lowest and highest seq present, 0 when no message. */
int64_t pc_scroll_oldest_seq(const pc_scroll *sb);
int64_t pc_scroll_newest_seq(const pc_scroll *sb);
size_t pc_scroll_count(const pc_scroll *sb);

/* Whether older messages exist on the server than the oldest here: set by
 * the caller from message:history's has_more (and by eviction). */
void pc_scroll_set_has_older(pc_scroll *sb, int has_older);
int pc_scroll_has_older(const pc_scroll *sb);

/* ---- layout ------------------------------------------------------------- */

/* How an entry is laid out, column by column, for a window `cols` wide:
 *   "HH:MM <name> text" for a message ("HH:MM" local time of ts; the
 *     time is left out when cols < 40);
 *   "HH:MM -!- text" for a notice;
 *   a deleted message's text is "(deleted)";
 *   a reply starts its text with "↪ NAME: " and up to 30 columns of the
 *     replied message's text then "…" when cut, when that message is
 *     present ("↪ #ID " when it is not);
 *   an own message ends with " ✓" (delivered) or " ✓✓" (read).
 * Continuation lines are indented to where the text started, unless that
 * is more than cols/2, then by 2. */

/* One display row: the entry, which of its lines (0 the first, which
 * carries the prefix), and the bytes of the entry's body text on it. The
 * body is the entry's text with the reply quote and the mark added (as
 * pc_scroll_body builds it). */
struct pc_row {
    const struct pc_entry *e;
    int line;
    size_t off, len; /* into the body */
    int indent;      /* columns before the body text on this row (the prefix on line 0) */
};

/* The entry's body (see above) as a malloc'd string, NULL when out of
 * memory; *quote_len gets the bytes of the reply quote at its start and
 * *mark_len the bytes of the mark at its end (0 when none), so the screen
 * can draw them in their own colours. */
char *pc_scroll_body(const pc_scroll *sb, const struct pc_entry *e, size_t *quote_len,
                     size_t *mark_len);
/* The prefix of line 0 ("HH:MM <name> " or "HH:MM -!- ") into buf, with its
 * width in columns as the result. */
int pc_scroll_prefix(const struct pc_entry *e, int cols, char *buf, size_t size);

/* Lays out the window: `rows` rows of `cols` columns showing the
 * conversation scrolled up by `*scroll` rows from the bottom (0: the
 * newest at the last row). Clamps *scroll to what exists. Fills out[0..rows)
 * top to bottom (unused rows at the top get e NULL) and returns 1 when the
 * top of the window shows the oldest entry present (so the caller loads
 * older history when has_older), else 0; -1 when out of memory. Work is
 * proportional to rows + *scroll, not to the size of the conversation.
 * *newest_visible gets the highest seq of a message with a row in the
 * window (0 when none), for read receipts. */
int pc_scroll_layout(pc_scroll *sb, int cols, int rows, int *scroll, struct pc_row *out,
                     int64_t *newest_visible);

/* Moving *scroll by a page keeps one row of context: callers use rows - 1. */

#endif
