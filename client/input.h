/* The input line: a UTF-8 line editor with readline's keys and a history,
 * independent of the terminal (the screen maps keys to pc_edit). */
#ifndef PC_INPUT_H
#define PC_INPUT_H

#include <stddef.h>
#include <stdint.h>

enum pc_edit {
    PC_EDIT_INSERT = 1,  /* insert code point cp at the cursor */
    PC_EDIT_LEFT,        /* one character (a base character with its zero-width followers) */
    PC_EDIT_RIGHT,
    PC_EDIT_WORD_LEFT,   /* Alt+b, Ctrl+Left: to the start of this or the previous word */
    PC_EDIT_WORD_RIGHT,  /* Alt+f, Ctrl+Right: to the end of this or the next word */
    PC_EDIT_HOME,        /* Ctrl+a, Home */
    PC_EDIT_END,         /* Ctrl+e, End */
    PC_EDIT_BACKSPACE,   /* delete the character before the cursor */
    PC_EDIT_DELETE,      /* delete the character under the cursor (Ctrl+d, Delete) */
    PC_EDIT_KILL_END,    /* Ctrl+k: cut to the end of the line */
    PC_EDIT_KILL_START,  /* Ctrl+u: cut to the start of the line */
    PC_EDIT_KILL_WORD,   /* Ctrl+w: cut the word before the cursor (and the spaces after it) */
    PC_EDIT_YANK,        /* Ctrl+y: insert the last cut text */
    PC_EDIT_TRANSPOSE,   /* Ctrl+t: swap the characters around the cursor */
    PC_EDIT_HISTORY_PREV, /* Up, Ctrl+p: older history entry (the line being edited is kept) */
    PC_EDIT_HISTORY_NEXT, /* Down, Ctrl+n: newer entry, back to the line being edited */
    PC_EDIT_CLEAR,       /* empty the line (nothing is cut) */
};

typedef struct pc_input pc_input;

/* max_bytes: the longest line accepted (inserts beyond it are refused);
 * history_max: entries kept (oldest dropped). NULL when out of memory. */
pc_input *pc_input_new(size_t max_bytes, size_t history_max);
void pc_input_free(pc_input *in);

/* Applies one edit. Returns 1 when the text or the cursor changed, 0 when
 * nothing happened (cursor at the edge, line full, empty history, or cp a
 * control character or not a Unicode scalar value), -1 when out of memory. */
int pc_input_edit(pc_input *in, enum pc_edit op, uint32_t cp);

/* Inserts UTF-8 text at the cursor (a paste); control characters other
 * than tab (inserted as a space) are dropped; stops where the line is full.
 * Returns as pc_input_edit. */
int pc_input_insert_text(pc_input *in, const char *s, size_t len);

/* The line (NUL-terminated, owned by in, valid until the next call) and its
 * length in bytes. */
const char *pc_input_text(const pc_input *in, size_t *len);
/* The cursor as a byte offset into the line, always at a character boundary. */
size_t pc_input_cursor(const pc_input *in);

/* Takes the line for sending: returns a malloc'd copy, adds it to the
 * history (not when empty, nor when equal to the newest entry), empties the
 * line and ends any history browsing. NULL when out of memory. */
char *pc_input_take(pc_input *in);

/* What to draw in a field of cols columns (cols >= 2) so the cursor is
 * visible: bytes [*off, *off + *len) of the line and the cursor's column in
 * the field. Scrolls horizontally by about a third of the field when the
 * cursor leaves it (the scroll position is kept between calls), never
 * cuts a wide character in half. */
void pc_input_view(pc_input *in, int cols, size_t *off, size_t *len, int *cursor_col);

#endif
