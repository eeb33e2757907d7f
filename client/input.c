/* The input line: UTF-8 editing by character, one kill buffer, a history
 * browsed readline's way, and a horizontal view of the line. Lines are a few
 * kilobytes at most, so scanning from the start of the line is cheap. */
#include "input.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "width.h"

/* A history entry as the user left it while browsing (readline keeps such
 * edits until the line is sent); the slot after the newest entry holds the
 * line that was being edited before browsing started. */
struct pc_saved {
    char *text; /* NULL: unchanged, shown as the entry with the cursor at its end */
    size_t cur;
};

struct pc_input {
    char *buf; /* max + 1 bytes, NUL-terminated, always valid UTF-8 */
    size_t len, cur, max;
    char *kill; /* max + 1 bytes (malloc(0) may give NULL) */
    size_t kill_len;
    char *tmp;   /* max + 4 bytes: a paste staged up to one code point past the
                  * room, or the character a transposition moves */
    size_t view; /* first byte shown by pc_input_view */
    char **hist; /* oldest first */
    size_t hist_n, hist_max;
    struct pc_saved *saved; /* hist_max + 1 slots */
    size_t pos;             /* the entry shown; hist_n when not browsing */
};

static int pc_is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

static int pc_width_at(const char *s, size_t len, size_t p, size_t *n)
{
    uint32_t cp;
    size_t k = pc_utf8_decode(s + p, len - p, &cp);

    if (n)
        *n = k;
    return pc_cp_width(cp);
}

/* A character is a code point and the zero-width ones after it, so a
 * character starts at 0 and wherever a code point of non-zero width does
 * (a zero-width code point at the very start has no base to join). */
static size_t pc_char_start(const char *s, size_t len, size_t p)
{
    if (p >= len)
        return len;
    while (p > 0 && ((unsigned char)s[p] & 0xc0) == 0x80)
        p--;
    while (p > 0 && pc_width_at(s, len, p, NULL) == 0) {
        p--;
        while (p > 0 && ((unsigned char)s[p] & 0xc0) == 0x80)
            p--;
    }
    return p;
}

static size_t pc_next(const pc_input *in, size_t p)
{
    size_t n;

    pc_width_at(in->buf, in->len, p, &n);
    p += n;
    while (p < in->len && pc_width_at(in->buf, in->len, p, &n) == 0)
        p += n;
    return p;
}

static size_t pc_prev(const pc_input *in, size_t p)
{
    return pc_char_start(in->buf, in->len, p - 1);
}

/* Words are runs of non-space characters; a space with a combining mark
 * still separates them. */
static int pc_space_at(const pc_input *in, size_t p)
{
    return in->buf[p] == ' ';
}

/* The longest prefix of clean text s[0..n) that fits in room bytes and
 * ends where a character does, so a base character never loses its
 * combining marks to a full line. */
static size_t pc_fit(const char *s, size_t n, size_t room)
{
    return n <= room ? n : pc_char_start(s, n, room);
}

static void pc_put(pc_input *in, const char *s, size_t n)
{
    memmove(in->buf + in->cur + n, in->buf + in->cur, in->len - in->cur + 1);
    memcpy(in->buf + in->cur, s, n);
    in->len += n;
    in->cur += n;
    /* Only at the start of a line that begins with zero-width code points:
     * what was put in front of them now owns them. */
    if (in->cur < in->len && pc_width_at(in->buf, in->len, in->cur, NULL) == 0)
        in->cur = pc_next(in, in->cur);
}

/* Removes [from, to), into the kill buffer when kill, and leaves the cursor
 * at from. */
static int pc_cut(pc_input *in, size_t from, size_t to, int kill)
{
    if (from == to)
        return 0;
    if (kill) {
        memcpy(in->kill, in->buf + from, to - from);
        in->kill_len = to - from;
    }
    memmove(in->buf + from, in->buf + to, in->len - to + 1);
    in->len -= to - from;
    in->cur = from;
    return 1;
}

static int pc_move(pc_input *in, size_t to)
{
    if (to == in->cur)
        return 0;
    in->cur = to;
    return 1;
}

static size_t pc_word_left(const pc_input *in)
{
    size_t p = in->cur;

    while (p > 0 && pc_space_at(in, pc_prev(in, p)))
        p = pc_prev(in, p);
    while (p > 0 && !pc_space_at(in, pc_prev(in, p)))
        p = pc_prev(in, p);
    return p;
}

static size_t pc_word_right(const pc_input *in)
{
    size_t p = in->cur;

    while (p < in->len && pc_space_at(in, p))
        p = pc_next(in, p);
    while (p < in->len && !pc_space_at(in, p))
        p = pc_next(in, p);
    return p;
}

static int pc_insert(pc_input *in, uint32_t cp)
{
    char enc[4];
    size_t n;

    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || pc_is_control(cp))
        return 0;
    n = pd_utf8_encode(cp, enc);
    if (n > in->max - in->len)
        return 0;
    pc_put(in, enc, n);
    return 1;
}

static int pc_yank(pc_input *in)
{
    size_t n = pc_fit(in->kill, in->kill_len, in->max - in->len);

    if (n == 0)
        return 0;
    pc_put(in, in->kill, n);
    return 1;
}

/* readline's transpose-chars: at the end of the line the last two
 * characters are swapped, elsewhere the ones around the cursor, and the
 * cursor ends after both. */
static int pc_transpose(pc_input *in)
{
    size_t a, b, end, na, nb;

    if (in->cur == 0)
        return 0;
    b = in->cur == in->len ? pc_prev(in, in->cur) : in->cur;
    if (b == 0)
        return 0;
    a = pc_prev(in, b);
    end = in->cur == in->len ? in->len : pc_next(in, in->cur);
    na = b - a;
    nb = end - b;
    if (na != nb || memcmp(in->buf + a, in->buf + b, na) != 0) {
        memcpy(in->tmp, in->buf + a, na);
        memmove(in->buf + a, in->buf + b, nb);
        memcpy(in->buf + a + nb, in->tmp, na);
    } else if (end == in->cur) {
        return 0;
    }
    in->cur = end;
    return 1;
}

static int pc_hist_save(pc_input *in)
{
    struct pc_saved *s = &in->saved[in->pos];
    char *text = malloc(in->len + 1);

    if (!text)
        return -1;
    memcpy(text, in->buf, in->len + 1);
    free(s->text);
    s->text = text;
    s->cur = in->cur;
    return 0;
}

static int pc_hist_go(pc_input *in, size_t pos)
{
    const struct pc_saved *s;

    if (pc_hist_save(in) < 0)
        return -1;
    in->pos = pos;
    s = &in->saved[pos];
    /* Both come from earlier lines, so they fit in the buffer. */
    in->len = strlen(s->text ? s->text : in->hist[pos]);
    memcpy(in->buf, s->text ? s->text : in->hist[pos], in->len + 1);
    in->cur = s->text ? s->cur : in->len;
    return 1;
}

pc_input *pc_input_new(size_t max_bytes, size_t history_max)
{
    pc_input *in;

    if (max_bytes > SIZE_MAX - 4 || history_max == SIZE_MAX)
        return NULL;
    in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    in->max = max_bytes;
    in->hist_max = history_max;
    in->buf = malloc(max_bytes + 1);
    in->kill = malloc(max_bytes + 1);
    in->tmp = malloc(max_bytes + 4);
    in->hist = calloc(history_max + 1, sizeof(*in->hist));
    in->saved = calloc(history_max + 1, sizeof(*in->saved));
    if (!in->buf || !in->kill || !in->tmp || !in->hist || !in->saved) {
        pc_input_free(in);
        return NULL;
    }
    in->buf[0] = '\0';
    return in;
}

void pc_input_free(pc_input *in)
{
    if (!in)
        return;
    for (size_t i = 0; i < in->hist_n; i++)
        free(in->hist[i]);
    if (in->saved)
        for (size_t i = 0; i <= in->hist_max; i++)
            free(in->saved[i].text);
    free(in->saved);
    free(in->hist);
    free(in->tmp);
    free(in->kill);
    free(in->buf);
    free(in);
}

int pc_input_edit(pc_input *in, enum pc_edit op, uint32_t cp)
{
    switch (op) {
    case PC_EDIT_INSERT:
        return pc_insert(in, cp);
    case PC_EDIT_LEFT:
        return in->cur > 0 ? pc_move(in, pc_prev(in, in->cur)) : 0;
    case PC_EDIT_RIGHT:
        return in->cur < in->len ? pc_move(in, pc_next(in, in->cur)) : 0;
    case PC_EDIT_WORD_LEFT:
        return pc_move(in, pc_word_left(in));
    case PC_EDIT_WORD_RIGHT:
        return pc_move(in, pc_word_right(in));
    case PC_EDIT_HOME:
        return pc_move(in, 0);
    case PC_EDIT_END:
        return pc_move(in, in->len);
    case PC_EDIT_BACKSPACE:
        return in->cur > 0 ? pc_cut(in, pc_prev(in, in->cur), in->cur, 0) : 0;
    case PC_EDIT_DELETE:
        return in->cur < in->len ? pc_cut(in, in->cur, pc_next(in, in->cur), 0) : 0;
    case PC_EDIT_KILL_END:
        return pc_cut(in, in->cur, in->len, 1);
    case PC_EDIT_KILL_START:
        return pc_cut(in, 0, in->cur, 1);
    case PC_EDIT_KILL_WORD:
        return pc_cut(in, pc_word_left(in), in->cur, 1);
    case PC_EDIT_YANK:
        return pc_yank(in);
    case PC_EDIT_TRANSPOSE:
        return pc_transpose(in);
    case PC_EDIT_HISTORY_PREV:
        return in->pos > 0 ? pc_hist_go(in, in->pos - 1) : 0;
    case PC_EDIT_HISTORY_NEXT:
        return in->pos < in->hist_n ? pc_hist_go(in, in->pos + 1) : 0;
    case PC_EDIT_CLEAR:
        return pc_cut(in, 0, in->len, 0);
    }
    return 0;
}

int pc_input_insert_text(pc_input *in, const char *s, size_t len)
{
    size_t room = in->max - in->len, out = 0, n;

    for (size_t i = 0; i < len && out <= room;) {
        uint32_t cp;

        i += pc_utf8_decode(s + i, len - i, &cp);
        if (cp == '\t')
            cp = ' ';
        if (!pc_is_control(cp))
            out += pd_utf8_encode(cp, in->tmp + out);
    }
    n = pc_fit(in->tmp, out, room);
    if (n == 0)
        return 0;
    pc_put(in, in->tmp, n);
    return 1;
}

const char *pc_input_text(const pc_input *in, size_t *len)
{
    if (len)
        *len = in->len;
    return in->buf;
}

size_t pc_input_cursor(const pc_input *in)
{
    return in->cur;
}

char *pc_input_take(pc_input *in)
{
    char *line = malloc(in->len + 1), *entry = NULL;

    if (!line)
        return NULL;
    memcpy(line, in->buf, in->len + 1);
    if (in->hist_max > 0 && in->len > 0 &&
        (in->hist_n == 0 || strcmp(in->hist[in->hist_n - 1], in->buf) != 0)) {
        entry = malloc(in->len + 1);
        if (!entry) {
            free(line);
            return NULL;
        }
        memcpy(entry, in->buf, in->len + 1);
    }
    for (size_t i = 0; i <= in->hist_max; i++) {
        free(in->saved[i].text);
        in->saved[i].text = NULL;
    }
    if (entry) {
        if (in->hist_n == in->hist_max) {
            free(in->hist[0]);
            memmove(in->hist, in->hist + 1, (in->hist_n - 1) * sizeof(*in->hist));
            in->hist_n--;
        }
        in->hist[in->hist_n++] = entry;
    }
    in->pos = in->hist_n;
    in->len = in->cur = in->view = 0;
    in->buf[0] = '\0';
    return line;
}

/* The first byte to show so that the cursor is `lead` columns or fewer
 * from the left edge, its own character (need columns) included. */
static size_t pc_view_start(const pc_input *in, int lead, int need)
{
    size_t p = in->cur;
    int w = need;

    while (p > 0) {
        size_t q = pc_prev(in, p);

        w += pc_str_width(in->buf + q, p - q);
        if (w > lead)
            break;
        p = q;
    }
    return p;
}

void pc_input_view(pc_input *in, int cols, size_t *off, size_t *len, int *cursor_col)
{
    /* The character under the cursor is drawn whole; at the end of the
     * line the cursor needs one free column. */
    int need = 1;

    if (in->cur < in->len) {
        size_t end = pc_next(in, in->cur);
        int w = pc_str_width(in->buf + in->cur, end - in->cur);

        if (w > need)
            need = w;
    }
    /* Edits since the last call may have moved the text under the kept
     * position: it goes back to the start of its character, and when the
     * line no longer reaches it (a shorter history entry) the view moves
     * as if the cursor had left on the right, to show the text before it. */
    in->view = pc_char_start(in->buf, in->len, in->view);
    if (pc_str_width(in->buf, in->len) + 1 <= cols)
        in->view = 0; /* nothing is hidden when everything fits */
    else if (in->cur < in->view && in->view < in->len)
        in->view = pc_view_start(in, cols / 3 + need, need);
    else if (in->view == in->len ||
             pc_str_width(in->buf + in->view, in->cur - in->view) + need > cols)
        in->view = pc_view_start(in, cols - cols / 3, need);
    *off = in->view;
    *cursor_col = pc_str_width(in->buf + in->view, in->cur - in->view);
    *len = pc_prefix_fit(in->buf + in->view, in->len - in->view, cols, NULL);
}
