/* Breaking text into terminal lines. */
#ifndef PC_WRAP_H
#define PC_WRAP_H

#include <stddef.h>

/* One display line: bytes [off, off + len) of the text, width columns. */
struct pc_span {
    size_t off, len;
    int width;
};

/* Breaks text[0..len) (sanitized: no control characters but '\n') into
 * lines of at most `first` columns for the first line and `rest` columns
 * for every later one (a hanging indent is the caller's: it draws the
 * later lines `first`-`rest` columns further right). Breaks after the last
 * space that fits; the spaces at a break are not part of either line. A
 * word longer than a line is cut at a character boundary (pc_prefix_fit).
 * '\n' ends a line; an empty text, or an empty line between two '\n', is
 * one line of width 0. A character wider than the line (2 columns, 1 to
 * spare) goes alone on a line, so wrapping always advances. Columns below
 * 1 count as 1. Fills at most max spans and returns how many lines the
 * text needs (which may be more than max: call again with a bigger out,
 * or with out NULL and max 0 to count). */
size_t pc_wrap(const char *text, size_t len, int first, int rest, struct pc_span *out,
               size_t max);

#endif
