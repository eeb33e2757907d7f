/* Greedy line breaking in display columns: a line takes as many words as
 * fit, so what was typed on one line stays on as few rows as possible. */
#include "wrap.h"

#include <string.h>

#include "width.h"

/* No character takes more columns than this (pc_cp_width). */
#define PC_WIDEST_CHAR 2

struct pc_wrapper {
    const char *text;
    int first, rest;
    struct pc_span *out;
    size_t max, count;
};

static void pc_emit(struct pc_wrapper *w, size_t off, size_t len, int width)
{
    if (w->out && w->count < w->max) {
        w->out[w->count].off = off;
        w->out[w->count].len = len;
        w->out[w->count].width = width;
    }
    w->count++;
}

/* The end of the last word of text[p..fit) that a space follows, at or
 * before fit; p when there is none. A space after spaces is not a break
 * of its own: the whole run of spaces goes, so a line never ends in the
 * spaces that separated it from the next one. */
static size_t pc_last_break(const char *text, size_t p, size_t fit)
{
    for (size_t e = fit; e > p; e--)
        if (text[e] == ' ' && text[e - 1] != ' ')
            return e;
    return p;
}

/* Lays out the line starting at p in a segment without '\n' that ends at
 * end; returns where the next line starts. */
static size_t pc_line(struct pc_wrapper *w, size_t p, size_t end, int cols)
{
    const char *text = w->text;
    int used;
    size_t fit = p + pc_prefix_fit(text + p, end - p, cols, &used);
    size_t brk;

    if (fit == end) {
        pc_emit(w, p, end - p, used);
        return end;
    }
    brk = pc_last_break(text, p, fit);
    if (brk > p) {
        size_t next = brk;
        pc_emit(w, p, brk - p, pc_str_width(text + p, brk - p));
        while (next < end && text[next] == ' ')
            next++;
        return next;
    }
    /* Nothing visible fits: the next character is wider than the line, and
     * it goes alone on one rather than wrapping forever. */
    if (used == 0)
        fit = p + pc_prefix_fit(text + p, end - p, PC_WIDEST_CHAR, &used);
    pc_emit(w, p, fit - p, used);
    return fit;
}

/* An empty segment is still a line: the empty line the user typed. */
static void pc_segment(struct pc_wrapper *w, size_t p, size_t end)
{
    do {
        p = pc_line(w, p, end, w->count == 0 ? w->first : w->rest);
    } while (p < end);
}

size_t pc_wrap(const char *text, size_t len, int first, int rest, struct pc_span *out,
               size_t max)
{
    struct pc_wrapper w = {text, first < 1 ? 1 : first, rest < 1 ? 1 : rest, out, max, 0};
    size_t p = 0;

    /* A '\n' ends the line before it: one at the very end opens no new
     * line, but an empty text is still one. */
    do {
        const char *nl = p < len ? memchr(text + p, '\n', len - p) : NULL;
        size_t end = nl ? (size_t)(nl - text) : len;
        pc_segment(&w, p, end);
        p = end + 1;
    } while (p < len);
    return w.count;
}
