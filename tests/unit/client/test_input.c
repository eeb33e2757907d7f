/* client/input.c: the line editor (characters are a base code point and
 * its zero-width followers), the kill buffer, the history, pastes and the
 * horizontal view, then random edits that must keep the line valid. TAP. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input.h"
#include "width.h"

#include "tap.h"

#define E_ACUTE "\xc3\xa9"       /* U+00E9, 1 column */
#define COMB "\xcc\x81"          /* U+0301 combining acute, 0 columns */
#define COMB2 "\xcc\x82"         /* U+0302 combining circumflex */
#define HAN "\xe4\xb8\xad"       /* U+4E2D, 2 columns */
#define EMOJI "\xf0\x9f\x98\x80" /* U+1F600, 2 columns */
#define ZWSP "\xe2\x80\x8b"      /* U+200B, 0 columns */

static pc_input *mk(size_t max, size_t hist)
{
    pc_input *in = pc_input_new(max, hist);

    if (!in) {
        fprintf(stderr, "pc_input_new failed\n");
        exit(1);
    }
    return in;
}

static int is(const pc_input *in, const char *text, size_t cursor)
{
    size_t len;
    const char *s = pc_input_text(in, &len);
    int good = len == strlen(text) && memcmp(s, text, len) == 0 && s[len] == '\0' &&
               pc_input_cursor(in) == cursor;

    if (!good)
        printf("# line \"%s\" (%zu bytes) cursor %zu, want \"%s\" cursor %zu\n", s, len,
               pc_input_cursor(in), text, cursor);
    return good;
}

/* Types s one code point at a time; returns how many were accepted. */
static int type(pc_input *in, const char *s)
{
    size_t n = strlen(s), i = 0;
    int accepted = 0;

    while (i < n) {
        uint32_t cp;

        i += pc_utf8_decode(s + i, n - i, &cp);
        accepted += pc_input_edit(in, PC_EDIT_INSERT, cp) == 1;
    }
    return accepted;
}

static int ed(pc_input *in, enum pc_edit op)
{
    return pc_input_edit(in, op, 0);
}

static void repeat(pc_input *in, enum pc_edit op, int n)
{
    while (n-- > 0)
        ed(in, op);
}

static int take_is(pc_input *in, const char *want)
{
    char *s = pc_input_take(in);
    int good = s && strcmp(s, want) == 0;

    if (!good)
        printf("# took \"%s\", want \"%s\"\n", s ? s : "(null)", want);
    free(s);
    return good;
}

/* Strict UTF-8 (no overlongs, surrogates or values above U+10FFFF), kept
 * apart from width.c so a bug there cannot hide one here. */
static int valid_utf8(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;

    for (size_t i = 0; i < len;) {
        uint32_t c = u[i], min;
        size_t n;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 2, c &= 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3, c &= 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4, c &= 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i < n)
            return 0;
        for (size_t k = 1; k < n; k++) {
            if ((u[i + k] & 0xc0) != 0x80)
                return 0;
            c = c << 6 | (u[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        i += n;
    }
    return 1;
}

static int has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;

        i += pc_utf8_decode(s + i, len - i, &cp);
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return 1;
    }
    return 0;
}

/* A character boundary: the start, the end, or a code point of non-zero
 * width (never inside a sequence, never before a zero-width follower). */
static int at_boundary(const char *s, size_t len, size_t p)
{
    uint32_t cp;

    if (p == 0 || p == len)
        return 1;
    if (p > len || ((unsigned char)s[p] & 0xc0) == 0x80)
        return 0;
    pc_utf8_decode(s + p, len - p, &cp);
    return pc_cp_width(cp) != 0;
}

/* Columns the cursor needs: its character whole, or one at the end. */
static int cursor_need(const pc_input *in)
{
    size_t len, cur = pc_input_cursor(in), end;
    const char *s = pc_input_text(in, &len);
    int w;

    if (cur == len)
        return 1;
    end = cur + 1;
    while (end < len && !at_boundary(s, len, end))
        end++;
    w = pc_str_width(s + cur, end - cur);
    return w > 1 ? w : 1;
}

/* The view's contract; returns 1 when it holds and fills the outputs. */
static int view_ok(pc_input *in, int cols, size_t *off_out, int *col_out)
{
    size_t len, off, vlen, cur = pc_input_cursor(in);
    const char *s = pc_input_text(in, &len);
    int col, good;

    pc_input_view(in, cols, &off, &vlen, &col);
    good = off <= cur && cur <= off + vlen && off + vlen <= len && at_boundary(s, len, off) &&
           at_boundary(s, len, off + vlen) && pc_str_width(s + off, vlen) <= cols &&
           col == pc_str_width(s + off, cur - off) && col >= 0 && col + cursor_need(in) <= cols;
    if (!good)
        printf("# view cols %d: off %zu len %zu col %d, line %zu bytes, cursor %zu\n", cols, off,
               vlen, col, len, cur);
    if (off_out)
        *off_out = off;
    if (col_out)
        *col_out = col;
    return good;
}

static void test_empty(struct tap *t)
{
    pc_input *in = mk(100, 10);
    static const enum pc_edit ops[] = {
        PC_EDIT_LEFT,      PC_EDIT_RIGHT,        PC_EDIT_WORD_LEFT,    PC_EDIT_WORD_RIGHT,
        PC_EDIT_HOME,      PC_EDIT_END,          PC_EDIT_BACKSPACE,    PC_EDIT_DELETE,
        PC_EDIT_KILL_END,  PC_EDIT_KILL_START,   PC_EDIT_KILL_WORD,    PC_EDIT_YANK,
        PC_EDIT_TRANSPOSE, PC_EDIT_HISTORY_PREV, PC_EDIT_HISTORY_NEXT, PC_EDIT_CLEAR,
    };
    int changed = 0;

    ok(t, is(in, "", 0), "a new line is empty with the cursor at 0");
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        changed += pc_input_edit(in, ops[i], 'x') != 0;
    ok(t, changed == 0 && is(in, "", 0), "every edit but insert does nothing on an empty line");
    ok(t, pc_input_text(in, NULL)[0] == '\0', "the text may be asked for without its length");
    ok(t,
       pc_input_edit(in, (enum pc_edit)0, 'x') == 0 &&
           pc_input_edit(in, (enum pc_edit)99, 'x') == 0 && is(in, "", 0),
       "an unknown edit does nothing");
    pc_input_free(in);
    pc_input_free(NULL);
    ok(t, pc_input_new(SIZE_MAX, 1) == NULL && pc_input_new(10, SIZE_MAX) == NULL,
       "sizes that would overflow are refused");
    ok(t, 1, "pc_input_free(NULL) is harmless");
}

static void test_insert(struct tap *t)
{
    pc_input *in = mk(100, 10);
    static const uint32_t refused[] = {0,      0x01,   0x09,   0x0a,     0x0d,       0x1b,
                                       0x1f,   0x7f,   0x80,   0x85,     0x9f,       0xd800,
                                       0xdbff, 0xdc00, 0xdfff, 0x110000, 0x7fffffff, 0xffffffff};
    int accepted = 0;

    ok(t, pc_input_edit(in, PC_EDIT_INSERT, 'a') == 1 && is(in, "a", 1), "insert 'a'");
    ok(t, type(in, "bc") == 2 && is(in, "abc", 3), "insert at the end");
    ed(in, PC_EDIT_HOME);
    ok(t, pc_input_edit(in, PC_EDIT_INSERT, 'x') == 1 && is(in, "xabc", 1),
       "insert at the start moves the cursor after the new character");
    ed(in, PC_EDIT_RIGHT);
    ok(t, pc_input_edit(in, PC_EDIT_INSERT, '-') == 1 && is(in, "xa-bc", 3),
       "insert in the middle");
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        accepted += pc_input_edit(in, PC_EDIT_INSERT, refused[i]) != 0;
    ok(t, accepted == 0 && is(in, "xa-bc", 3),
       "controls (C0, DEL, C1), surrogates and values above U+10FFFF are refused");
    ed(in, PC_EDIT_CLEAR);
    ok(t, pc_input_edit(in, PC_EDIT_INSERT, 0xe9) == 1 && is(in, E_ACUTE, 2),
       "a two-byte code point");
    ok(t, pc_input_edit(in, PC_EDIT_INSERT, 0x4e2d) == 1 && is(in, E_ACUTE HAN, 5),
       "a wide three-byte code point");
    ok(t, pc_input_edit(in, PC_EDIT_INSERT, 0x1f600) == 1 && is(in, E_ACUTE HAN EMOJI, 9),
       "a four-byte emoji");
    ok(t,
       type(in, "\xc2\xa0\xef\xbf\xbd\xf4\x8f\xbf\xbf ~") == 5 &&
           is(in, E_ACUTE HAN EMOJI "\xc2\xa0\xef\xbf\xbd\xf4\x8f\xbf\xbf ~", 20),
       "U+00A0, U+FFFD, U+10FFFF, space and '~' are accepted");
    pc_input_free(in);
}

static void test_full(struct tap *t)
{
    pc_input *in = mk(5, 10);

    type(in, "abcd");
    ok(t, pc_input_edit(in, PC_EDIT_INSERT, 0xe9) == 0 && is(in, "abcd", 4),
       "a two-byte character does not fit in the last byte");
    ok(t, pc_input_edit(in, PC_EDIT_INSERT, 'e') == 1 && is(in, "abcde", 5),
       "the line fills up to max_bytes");
    ok(t, pc_input_edit(in, PC_EDIT_INSERT, 'f') == 0 && is(in, "abcde", 5),
       "a full line refuses inserts at the end");
    ed(in, PC_EDIT_HOME);
    ok(t, pc_input_edit(in, PC_EDIT_INSERT, 'f') == 0 && is(in, "abcde", 0), "and at the start");
    ed(in, PC_EDIT_DELETE);
    ok(t,
       pc_input_edit(in, PC_EDIT_INSERT, 0xe9) == 0 &&
           pc_input_edit(in, PC_EDIT_INSERT, 'z') == 1 && is(in, "zbcde", 1),
       "one byte free takes one ASCII character only");
    pc_input_free(in);

    in = mk(0, 0);
    ok(t,
       pc_input_edit(in, PC_EDIT_INSERT, 'a') == 0 && pc_input_insert_text(in, "abc", 3) == 0 &&
           is(in, "", 0),
       "max_bytes 0 accepts nothing");
    pc_input_free(in);
}

static void test_moves(struct tap *t)
{
    pc_input *in = mk(100, 10);
    const char *line = "a"
                       "e" COMB HAN EMOJI;
    static const size_t stops[] = {0, 1, 4, 7, 11};
    int good = 1;

    type(in, line);
    ok(t, is(in, line, 11), "typed ASCII, e + combining, wide, emoji");
    for (int i = 3; i >= 0; i--)
        good &= ed(in, PC_EDIT_LEFT) == 1 && is(in, line, stops[i]);
    ok(t, good, "left moves by character, a combining mark goes with its base");
    ok(t, ed(in, PC_EDIT_LEFT) == 0 && is(in, line, 0), "left at the start does nothing");
    good = 1;
    for (int i = 1; i <= 4; i++)
        good &= ed(in, PC_EDIT_RIGHT) == 1 && is(in, line, stops[i]);
    ok(t, good, "right moves by character");
    ok(t, ed(in, PC_EDIT_RIGHT) == 0 && is(in, line, 11), "right at the end does nothing");
    ok(t, ed(in, PC_EDIT_HOME) == 1 && is(in, line, 0) && ed(in, PC_EDIT_HOME) == 0,
       "home, and home again does nothing");
    ok(t, ed(in, PC_EDIT_END) == 1 && is(in, line, 11) && ed(in, PC_EDIT_END) == 0,
       "end, and end again does nothing");

    ed(in, PC_EDIT_CLEAR);
    type(in, "xe" COMB COMB2 ZWSP "y");
    ok(t,
       ed(in, PC_EDIT_LEFT) == 1 && is(in, "xe" COMB COMB2 ZWSP "y", 9) &&
           ed(in, PC_EDIT_LEFT) == 1 && is(in, "xe" COMB COMB2 ZWSP "y", 1),
       "several zero-width followers are one character with their base");
    ok(t,
       pc_input_edit(in, PC_EDIT_INSERT, 0x302) == 1 &&
           is(in, "x" COMB2 "e" COMB COMB2 ZWSP "y", 3),
       "a combining mark typed after a character joins it, the cursor after it");
    ed(in, PC_EDIT_LEFT);
    ok(t, is(in, "x" COMB2 "e" COMB COMB2 ZWSP "y", 0), "and left skips the pair");

    ed(in, PC_EDIT_CLEAR);
    ok(t, pc_input_edit(in, PC_EDIT_INSERT, 0x301) == 1 && is(in, COMB, 2),
       "a combining mark on an empty line is a character of its own");
    ed(in, PC_EDIT_HOME);
    ok(t, pc_input_edit(in, PC_EDIT_INSERT, 0x302) == 1 && is(in, COMB2 COMB, 4),
       "a mark typed before a leading mark: both are one character, the cursor after it");
    ed(in, PC_EDIT_HOME);
    ok(t, pc_input_edit(in, PC_EDIT_INSERT, 'a') == 1 && is(in, "a" COMB2 COMB, 5),
       "a base typed before leading marks takes them, the cursor after them");
    pc_input_free(in);
}

static void test_words(struct tap *t)
{
    pc_input *in = mk(100, 10);
    const char *line = "  foo bar  baz  ";
    static const size_t left[] = {11, 6, 2, 0};
    static const size_t right[] = {5, 9, 14, 16};
    int good = 1;

    type(in, line);
    for (size_t i = 0; i < 4; i++)
        good &= ed(in, PC_EDIT_WORD_LEFT) == 1 && is(in, line, left[i]);
    ok(t, good, "word left stops at the start of this or the previous word, then at 0");
    ok(t, ed(in, PC_EDIT_WORD_LEFT) == 0, "word left at the start does nothing");
    good = 1;
    for (size_t i = 0; i < 4; i++)
        good &= ed(in, PC_EDIT_WORD_RIGHT) == 1 && is(in, line, right[i]);
    ok(t, good, "word right stops at the end of this or the next word, then at the end");
    ok(t, ed(in, PC_EDIT_WORD_RIGHT) == 0, "word right at the end does nothing");
    ed(in, PC_EDIT_HOME);
    repeat(in, PC_EDIT_RIGHT, 4);
    ok(t, ed(in, PC_EDIT_WORD_LEFT) == 1 && is(in, line, 2), "word left from inside a word");
    repeat(in, PC_EDIT_RIGHT, 1);
    ok(t, ed(in, PC_EDIT_WORD_RIGHT) == 1 && is(in, line, 5), "word right from inside a word");

    ed(in, PC_EDIT_CLEAR);
    type(in, HAN "e" COMB " " EMOJI EMOJI);
    ok(t,
       ed(in, PC_EDIT_WORD_LEFT) == 1 && is(in, HAN "e" COMB " " EMOJI EMOJI, 7) &&
           ed(in, PC_EDIT_WORD_LEFT) == 1 && is(in, HAN "e" COMB " " EMOJI EMOJI, 0),
       "words of wide and combined characters");
    ok(t, ed(in, PC_EDIT_WORD_RIGHT) == 1 && is(in, HAN "e" COMB " " EMOJI EMOJI, 6),
       "word right ends after the combining mark");
    pc_input_free(in);
}

static void test_delete(struct tap *t)
{
    pc_input *in = mk(100, 10);

    type(in, "ab");
    ed(in, PC_EDIT_KILL_START);
    type(in, "a"
             "e" COMB HAN);
    ok(t, ed(in, PC_EDIT_BACKSPACE) == 1 && is(in, "ae" COMB, 4),
       "backspace removes a wide character");
    ok(t, ed(in, PC_EDIT_BACKSPACE) == 1 && is(in, "a", 1),
       "backspace removes a base with its combining mark");
    ed(in, PC_EDIT_HOME);
    ok(t, ed(in, PC_EDIT_BACKSPACE) == 0 && is(in, "a", 0), "backspace at the start does nothing");
    type(in, "e" COMB COMB2);
    ed(in, PC_EDIT_HOME);
    ok(t, ed(in, PC_EDIT_DELETE) == 1 && is(in, "a", 0),
       "delete removes the whole character under the cursor");
    ok(t, ed(in, PC_EDIT_DELETE) == 1 && is(in, "", 0), "delete the last one");
    ok(t, ed(in, PC_EDIT_DELETE) == 0, "delete at the end does nothing");
    ok(t, ed(in, PC_EDIT_YANK) == 1 && is(in, "ab", 2),
       "backspace and delete leave the kill buffer alone");
    type(in, "cd");
    ok(t, ed(in, PC_EDIT_CLEAR) == 1 && is(in, "", 0), "clear empties the line");
    ok(t, ed(in, PC_EDIT_YANK) == 1 && is(in, "ab", 2), "clear cuts nothing");
    pc_input_free(in);
}

static void test_kill(struct tap *t)
{
    pc_input *in = mk(100, 10);

    type(in, "hello world");
    ed(in, PC_EDIT_HOME);
    repeat(in, PC_EDIT_RIGHT, 5);
    ok(t, ed(in, PC_EDIT_KILL_END) == 1 && is(in, "hello", 5), "kill to the end");
    ok(t, ed(in, PC_EDIT_KILL_END) == 0 && is(in, "hello", 5),
       "kill to the end at the end does nothing");
    ok(t, ed(in, PC_EDIT_YANK) == 1 && is(in, "hello world", 11),
       "yank puts it back (and an empty kill did not replace the buffer)");
    ok(t, ed(in, PC_EDIT_YANK) == 1 && is(in, "hello world world", 17),
       "yank again inserts it again");
    ed(in, PC_EDIT_CLEAR);

    type(in, "hello world");
    ed(in, PC_EDIT_WORD_LEFT);
    ok(t, ed(in, PC_EDIT_KILL_START) == 1 && is(in, "world", 0), "kill to the start");
    ok(t, ed(in, PC_EDIT_KILL_START) == 0, "kill to the start at the start does nothing");
    ed(in, PC_EDIT_END);
    ok(t, ed(in, PC_EDIT_YANK) == 1 && is(in, "worldhello ", 11), "yank at the end");
    ed(in, PC_EDIT_CLEAR);

    type(in, "foo bar  ");
    ok(t, ed(in, PC_EDIT_KILL_WORD) == 1 && is(in, "foo ", 4),
       "kill word cuts the word before the cursor and the spaces after it");
    ok(t, ed(in, PC_EDIT_KILL_WORD) == 1 && is(in, "", 0), "again, the first word");
    ok(t, ed(in, PC_EDIT_KILL_WORD) == 0, "kill word at the start does nothing");
    ok(t, ed(in, PC_EDIT_YANK) == 1 && is(in, "foo ", 4),
       "one kill buffer: the last cut replaced the previous one");
    ed(in, PC_EDIT_CLEAR);

    type(in, "foo bar");
    ed(in, PC_EDIT_LEFT);
    ed(in, PC_EDIT_LEFT);
    ok(t, ed(in, PC_EDIT_KILL_WORD) == 1 && is(in, "foo ar", 4),
       "kill word from inside a word cuts its start");
    ed(in, PC_EDIT_CLEAR);

    type(in, HAN "e" COMB " " EMOJI);
    ok(t,
       ed(in, PC_EDIT_KILL_WORD) == 1 && is(in, HAN "e" COMB " ", 7) &&
           ed(in, PC_EDIT_KILL_WORD) == 1 && is(in, "", 0),
       "kill word over multi-byte words");
    ok(t,
       ed(in, PC_EDIT_YANK) == 1 && ed(in, PC_EDIT_YANK) == 1 &&
           is(in, HAN "e" COMB " " HAN "e" COMB " ", 14),
       "yank of multi-byte text round-trips");
    ed(in, PC_EDIT_HOME);
    ed(in, PC_EDIT_RIGHT);
    ok(t,
       ed(in, PC_EDIT_KILL_END) == 1 && ed(in, PC_EDIT_YANK) == 1 &&
           is(in, HAN "e" COMB " " HAN "e" COMB " ", 14),
       "kill to the end then yank restores the line");
    pc_input_free(in);

    /* A yank that does not fit goes in up to a character boundary. */
    in = mk(6, 0);
    type(in, "e" COMB "x");
    ed(in, PC_EDIT_HOME);
    ed(in, PC_EDIT_KILL_END);
    type(in, "abcd");
    ok(t, ed(in, PC_EDIT_YANK) == 0 && is(in, "abcd", 4),
       "a yank with room for e but not its mark inserts nothing");
    ed(in, PC_EDIT_BACKSPACE);
    ok(t, ed(in, PC_EDIT_YANK) == 1 && is(in, "abce" COMB, 6),
       "with room for e and its mark the yank stops before x");
    pc_input_free(in);
}

static void test_transpose(struct tap *t)
{
    pc_input *in = mk(100, 10);

    type(in, "ab");
    ed(in, PC_EDIT_LEFT);
    ok(t, ed(in, PC_EDIT_TRANSPOSE) == 1 && is(in, "ba", 2),
       "transpose swaps the characters around the cursor and moves past them");
    ok(t, ed(in, PC_EDIT_TRANSPOSE) == 1 && is(in, "ab", 2), "at the end it swaps the last two");
    ed(in, PC_EDIT_HOME);
    ok(t, ed(in, PC_EDIT_TRANSPOSE) == 0 && is(in, "ab", 0), "at the start it does nothing");
    ed(in, PC_EDIT_CLEAR);
    type(in, "abc");
    ed(in, PC_EDIT_HOME);
    ed(in, PC_EDIT_RIGHT);
    ok(t, ed(in, PC_EDIT_TRANSPOSE) == 1 && is(in, "bac", 2),
       "transpose after the first character");
    ed(in, PC_EDIT_CLEAR);
    type(in, "a");
    ok(t, ed(in, PC_EDIT_TRANSPOSE) == 0 && is(in, "a", 1), "one character: nothing to swap");
    ed(in, PC_EDIT_CLEAR);
    type(in, "aa");
    ok(t, ed(in, PC_EDIT_TRANSPOSE) == 0 && is(in, "aa", 2),
       "two equal characters at the end: no change");
    ed(in, PC_EDIT_LEFT);
    ok(t, ed(in, PC_EDIT_TRANSPOSE) == 1 && is(in, "aa", 2),
       "two equal characters around the cursor: only the cursor moves");
    ed(in, PC_EDIT_CLEAR);
    type(in, HAN "e" COMB);
    ok(t, ed(in, PC_EDIT_TRANSPOSE) == 1 && is(in, "e" COMB HAN, 6),
       "transpose keeps a combining mark with its base");
    ed(in, PC_EDIT_HOME);
    ed(in, PC_EDIT_RIGHT);
    type(in, EMOJI);
    ed(in, PC_EDIT_LEFT);
    ok(t, ed(in, PC_EDIT_TRANSPOSE) == 1 && is(in, EMOJI "e" COMB HAN, 7),
       "transpose of characters of different lengths");
    pc_input_free(in);
}

static void test_history(struct tap *t)
{
    pc_input *in = mk(100, 3);

    ok(t, take_is(in, "") && ed(in, PC_EDIT_HISTORY_PREV) == 0, "an empty line is not added");
    type(in, "one");
    ok(t, take_is(in, "one") && is(in, "", 0), "take returns the line and empties it");
    type(in, "two");
    take_is(in, "two");
    type(in, "three");
    take_is(in, "three");
    type(in, "draft");
    ed(in, PC_EDIT_HOME);
    repeat(in, PC_EDIT_RIGHT, 2);
    ok(t, ed(in, PC_EDIT_HISTORY_NEXT) == 0 && is(in, "draft", 2),
       "next while not browsing does nothing");
    ok(t, ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "three", 5),
       "prev shows the newest entry, cursor at its end");
    ok(t,
       ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "two", 3) && ed(in, PC_EDIT_HISTORY_PREV) == 1 &&
           is(in, "one", 3),
       "prev goes to older entries");
    ok(t, ed(in, PC_EDIT_HISTORY_PREV) == 0 && is(in, "one", 3), "prev at the oldest does nothing");
    ok(t,
       ed(in, PC_EDIT_HISTORY_NEXT) == 1 && is(in, "two", 3) && ed(in, PC_EDIT_HISTORY_NEXT) == 1 &&
           is(in, "three", 5),
       "next goes to newer entries");
    ok(t, ed(in, PC_EDIT_HISTORY_NEXT) == 1 && is(in, "draft", 2),
       "next after the newest restores the line being edited, with its cursor");
    ok(t, ed(in, PC_EDIT_HISTORY_NEXT) == 0, "next on the edited line does nothing");

    ed(in, PC_EDIT_HISTORY_PREV);
    type(in, "!");
    ed(in, PC_EDIT_HISTORY_PREV);
    ok(t, is(in, "two", 3), "browsing on after editing an entry");
    ok(t, ed(in, PC_EDIT_HISTORY_NEXT) == 1 && is(in, "three!", 6),
       "the edit of an entry is kept while browsing");
    ed(in, PC_EDIT_HISTORY_NEXT);
    ok(t, take_is(in, "draft") && is(in, "", 0), "take while back on the edited line");
    ok(t,
       ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "draft", 5) &&
           ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "three", 5),
       "after take, the edited entry is back to what it was");
    ok(t,
       ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "two", 3) && ed(in, PC_EDIT_HISTORY_PREV) == 0 &&
           is(in, "two", 3),
       "history_max 3: the oldest entry, \"one\", was dropped");
    type(in, " again");
    ok(t, take_is(in, "two again") && ed(in, PC_EDIT_HISTORY_NEXT) == 0 && is(in, "", 0),
       "taking a recalled line ends browsing");
    ok(t,
       ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "two again", 9) &&
           ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "draft", 5) &&
           ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "three", 5) &&
           ed(in, PC_EDIT_HISTORY_PREV) == 0,
       "the taken line is the newest, \"two\" was dropped");
    ed(in, PC_EDIT_HISTORY_NEXT);
    ed(in, PC_EDIT_HISTORY_NEXT);
    ok(t,
       take_is(in, "two again") && ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "two again", 9) &&
           ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "draft", 5),
       "a line equal to the newest entry is not added again");
    ed(in, PC_EDIT_HISTORY_NEXT);
    ed(in, PC_EDIT_HISTORY_NEXT);
    ok(t, is(in, "", 0), "the edited line was empty and comes back empty");
    type(in, "draft");
    ok(t,
       take_is(in, "draft") && ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "draft", 5) &&
           ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "two again", 9) &&
           ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, "draft", 5),
       "an older duplicate is added again");
    pc_input_free(in);

    in = mk(100, 0);
    type(in, "x");
    ok(t, take_is(in, "x") && ed(in, PC_EDIT_HISTORY_PREV) == 0, "history_max 0 keeps nothing");
    pc_input_free(in);

    /* Many entries, each evicting one. */
    in = mk(100, 5);
    for (int i = 0; i < 50; i++) {
        char b[8];

        snprintf(b, sizeof(b), "%d", i);
        type(in, b);
        free(pc_input_take(in));
    }
    int good = 1;
    for (int i = 49; i >= 45; i--) {
        char b[8];

        snprintf(b, sizeof(b), "%d", i);
        good &= ed(in, PC_EDIT_HISTORY_PREV) == 1 && is(in, b, strlen(b));
    }
    ok(t, good && ed(in, PC_EDIT_HISTORY_PREV) == 0, "after 50 lines the newest 5 are kept");
    pc_input_free(in);
}

static void test_paste(struct tap *t)
{
    pc_input *in = mk(10, 0);
    static const char ctl[] = "a\x1b[31mb\r\n\x7f"
                              "\xc2\x85"
                              "\x00"
                              "c";

    ok(t, pc_input_insert_text(in, "a\tb", 3) == 1 && is(in, "a b", 3),
       "a tab is pasted as a space");
    ed(in, PC_EDIT_CLEAR);
    ok(t, pc_input_insert_text(in, ctl, sizeof(ctl) - 1) == 1 && is(in, "a[31mbc", 7),
       "ESC, CR, LF, DEL, C1 and NUL are dropped");
    ed(in, PC_EDIT_CLEAR);
    ok(t,
       pc_input_insert_text(in, "\r\n\x01", 3) == 0 && pc_input_insert_text(in, "", 0) == 0 &&
           is(in, "", 0),
       "a paste of nothing printable changes nothing");
    ok(t, pc_input_insert_text(in, "x\xffy", 3) == 1 && is(in, "x\xef\xbf\xbdy", 5),
       "a malformed byte becomes U+FFFD");
    ed(in, PC_EDIT_LEFT);
    ok(t, pc_input_insert_text(in, HAN, 3) == 1 && is(in, "x\xef\xbf\xbd" HAN "y", 7),
       "a paste goes in at the cursor, the cursor after it");
    ok(t, pc_input_insert_text(in, "0123456", 7) == 1 && is(in, "x\xef\xbf\xbd" HAN "01y", 9),
       "a paste stops where the line is full");
    ok(t, pc_input_insert_text(in, "z", 1) == 0, "a full line takes no paste");
    ed(in, PC_EDIT_CLEAR);
    type(in, "abcdefg");
    ok(t, pc_input_insert_text(in, HAN, 3) == 1 && is(in, "abcdefg" HAN, 10), "exactly full");
    ed(in, PC_EDIT_CLEAR);
    type(in, "abcdefgh");
    ok(t, pc_input_insert_text(in, HAN, 3) == 0 && is(in, "abcdefgh", 8),
       "a wide character is not split at the end");
    ok(t, pc_input_insert_text(in, "e" COMB "x", 4) == 0 && is(in, "abcdefgh", 8),
       "a base is not pasted without its combining mark");
    ok(t, pc_input_insert_text(in, "yz" COMB, 4) == 1 && is(in, "abcdefghy", 9),
       "the paste stops before the character that does not fit whole");
    pc_input_free(in);

    in = mk(100, 0);
    char *big = malloc(10000);
    for (size_t i = 0; i < 10000; i++)
        big[i] = "ab\tc\n\xe4\xb8\xad"[i % 8];
    int r = pc_input_insert_text(in, big, 10000);
    size_t len;
    const char *s = pc_input_text(in, &len);
    ok(t, r == 1 && len <= 100 && len >= 97 && valid_utf8(s, len) && pc_input_cursor(in) == len,
       "a paste of 10000 bytes fills the line to about 100 bytes (%zu)", len);
    free(big);
    pc_input_free(in);
}

static void test_view(struct tap *t)
{
    pc_input *in = mk(400, 5);
    size_t off, prev_off, vlen;
    int col, prev_col, good = 1, jumps = 0;

    type(in, "abc");
    ok(t, view_ok(in, 10, &off, &col) && off == 0 && col == 3,
       "a short line is shown from its start");

    /* Typing on: the view stays until the cursor would leave it, then the
     * cursor goes back by about a third of the field. */
    ed(in, PC_EDIT_CLEAR);
    view_ok(in, 12, &prev_off, &prev_col);
    for (int i = 0; i < 60; i++) {
        pc_input_edit(in, PC_EDIT_INSERT, 'a' + i % 26);
        good &= view_ok(in, 12, &off, &col);
        if (off == prev_off) {
            good &= col == prev_col + 1;
        } else {
            jumps++;
            good &= col == 7 && off > prev_off;
        }
        prev_off = off;
        prev_col = col;
    }
    ok(t, good && jumps > 4, "typing past the right edge scrolls by a third (%d jumps)", jumps);

    /* Moving left keeps the view until the cursor leaves it on the left. */
    good = 1;
    jumps = 0;
    for (int i = 0; i < 60; i++) {
        ed(in, PC_EDIT_LEFT);
        good &= view_ok(in, 12, &off, &col);
        if (off == prev_off) {
            good &= col == prev_col - 1;
        } else {
            jumps++;
            good &= off < prev_off && (col == 4 || off == 0);
        }
        prev_off = off;
        prev_col = col;
    }
    ok(t, good && jumps > 4 && off == 0 && col == 0,
       "moving left past the left edge scrolls back by a third (%d jumps)", jumps);
    good = 1;
    for (int i = 0; i < 11; i++) {
        ed(in, PC_EDIT_RIGHT);
        good &= view_ok(in, 12, &off, &col) && off == 0 && col == i + 1;
    }
    ok(t, good, "moving right inside the field keeps the view");

    /* The view is kept after a jump while the cursor moves inside it. */
    ed(in, PC_EDIT_END);
    view_ok(in, 12, &prev_off, &prev_col);
    repeat(in, PC_EDIT_LEFT, 5);
    ok(t, view_ok(in, 12, &off, &col) && off == prev_off && col == prev_col - 5,
       "the scroll position is kept while the cursor stays in the field");

    /* A shorter line from the history, whose end is left of the view. */
    ed(in, PC_EDIT_END);
    free(pc_input_take(in));
    type(in, "short");
    ok(t, view_ok(in, 12, &off, &col) && off == 0 && col == 5, "after take the view starts over");
    ed(in, PC_EDIT_CLEAR);
    for (int i = 0; i < 25; i++)
        pc_input_edit(in, PC_EDIT_INSERT, 'A' + i % 26);
    free(pc_input_take(in));
    for (int i = 0; i < 40; i++)
        pc_input_edit(in, PC_EDIT_INSERT, 'a' + i % 26);
    view_ok(in, 12, &off, &col);
    ed(in, PC_EDIT_HISTORY_PREV);
    pc_input_view(in, 12, &off, &vlen, &col);
    ok(t, view_ok(in, 12, &off, &col) && vlen > 0 && off + vlen == 25 && col == 7,
       "a history line ending left of the view is shown with its end");
    ed(in, PC_EDIT_HISTORY_NEXT);
    view_ok(in, 12, &off, &col);
    ed(in, PC_EDIT_KILL_START);
    ok(t, view_ok(in, 12, &off, &col) && off == 0 && col == 0, "an emptied line is shown from 0");
    pc_input_free(in);

    /* Wide characters: never cut, the one under the cursor always whole. */
    in = mk(400, 0);
    for (int i = 0; i < 25; i++) {
        type(in, i % 3 ? HAN : "a");
        type(in, i % 4 ? "" : "e" COMB);
    }
    for (int cols = 2; cols <= 9; cols++) {
        good = 1;
        ed(in, PC_EDIT_END);
        good &= view_ok(in, cols, NULL, NULL);
        while (ed(in, PC_EDIT_LEFT))
            good &= view_ok(in, cols, NULL, NULL);
        while (ed(in, PC_EDIT_RIGHT))
            good &= view_ok(in, cols, NULL, NULL);
        while (ed(in, PC_EDIT_WORD_LEFT))
            good &= view_ok(in, cols, NULL, NULL);
        ok(t, good, "wide and combining characters in %d columns: cursor inside, nothing cut",
           cols);
    }
    ed(in, PC_EDIT_CLEAR);
    type(in, "abcd" HAN);
    ed(in, PC_EDIT_LEFT);
    ok(t, view_ok(in, 5, &off, &col) && col + 2 <= 5,
       "a wide character under the cursor at the right edge scrolls into view");
    ed(in, PC_EDIT_CLEAR);
    type(in, HAN HAN);
    ok(t, view_ok(in, 4, &off, &col) && off == 3 && col == 2,
       "a line as wide as the field scrolls so the cursor after it fits");
    ed(in, PC_EDIT_LEFT);
    ok(t, view_ok(in, 4, &off, &col) && off == 3 && col == 0,
       "the view is kept when moving back onto it");
    pc_input_free(in);
}

/* Random edits from a palette of awkward code points: the line must stay
 * valid UTF-8 without controls, within max_bytes, the cursor at a
 * character boundary, and a 0 result must mean nothing changed. */
static void test_random(struct tap *t)
{
    static const uint32_t cps[] = {'a',    'b',    ' ',     ' ',    0xe9,     0x301,   0x302,
                                   0x200b, 0x4e2d, 0x1f600, 0xfe0f, 0x200d,   0x0a,    0x1b,
                                   0x7f,   0x85,   0xd800,  0xdfff, 0x110000, 0x10ffff};
    static const char *const pastes[] = {"x y",          "\t",       "\xff\xfe",
                                         "e\xcc\x81",    "\xe4\xb8", "\xf0\x9f\x98\x80\xf0\x9f",
                                         "\xed\xa0\x80", "a\nb",     "\xcc\x81\xcc\x82",
                                         "  w  "};
    int bad_text = 0, bad_cursor = 0, bad_result = 0, bad_view = 0, bad_take = 0;

    srand(20240607);
    for (int round = 0; round < 20; round++) {
        pc_input *in = mk(16 + (size_t)round * 3, 4);

        for (int step = 0; step < 2000; step++) {
            size_t len0, len, cur0 = pc_input_cursor(in), cur;
            char before[128];
            int r, op = rand() % 22;

            const char *s0 = pc_input_text(in, &len0);

            memcpy(before, s0, len0 + 1);
            if (op == 20) {
                const char *p = pastes[rand() % 10];
                r = pc_input_insert_text(in, p, strlen(p));
            } else if (op == 21) {
                char *s = pc_input_take(in);
                bad_take += !s || strcmp(s, before) != 0 || pc_input_text(in, NULL)[0] != '\0';
                free(s);
                continue;
            } else if (op >= PC_EDIT_INSERT && op <= PC_EDIT_CLEAR) {
                r = pc_input_edit(in, (enum pc_edit)op, cps[rand() % 20]);
            } else {
                r = pc_input_edit(in, PC_EDIT_INSERT, cps[rand() % 20]);
            }
            const char *s = pc_input_text(in, &len);
            cur = pc_input_cursor(in);
            bad_text += !valid_utf8(s, len) || has_control(s, len) || strlen(s) != len ||
                        len > 16 + (size_t)round * 3;
            bad_cursor += cur > len || !at_boundary(s, len, cur);
            if (r == 0)
                bad_result += len != len0 || cur != cur0 || memcmp(s, before, len) != 0;
            else if (r != 1)
                bad_result++;
            else if (op != PC_EDIT_HISTORY_PREV && op != PC_EDIT_HISTORY_NEXT)
                bad_result += len == len0 && cur == cur0 && memcmp(s, before, len) == 0;
            if (step % 7 == 0)
                bad_view += !view_ok(in, 2 + rand() % 15, NULL, NULL);
        }
        pc_input_free(in);
    }
    ok(t, bad_text == 0, "random edits: the line stays valid UTF-8 within max_bytes (%d bad)",
       bad_text);
    ok(t, bad_cursor == 0, "random edits: the cursor stays at a character boundary (%d bad)",
       bad_cursor);
    ok(t, bad_result == 0, "random edits: 1 means a change, 0 means none (%d bad)", bad_result);
    ok(t, bad_view == 0, "random edits: the view keeps its contract (%d bad)", bad_view);
    ok(t, bad_take == 0, "random edits: take returns the line and empties it (%d bad)", bad_take);
}

int main(void)
{
    struct tap t = {0};

    test_empty(&t);
    test_insert(&t);
    test_full(&t);
    test_moves(&t);
    test_words(&t);
    test_delete(&t);
    test_kill(&t);
    test_transpose(&t);
    test_history(&t);
    test_paste(&t);
    test_view(&t);
    test_random(&t);
    return tap_done(&t);
}
