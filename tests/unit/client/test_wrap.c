/* client/wrap.c: breaking text into terminal lines by columns: at spaces,
 * inside words longer than a line, at '\n', with wide and zero-width
 * characters, a different first line, and counting without filling. TAP. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "width.h"
#include "wrap.h"

#include "tap.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_SPANS 64

/* The lines of a wrap joined with '|', which the cases below never hold,
 * so one string says both where the breaks are and what each line holds. */
static void joined(const char *text, const struct pc_span *sp, size_t n, char *buf,
                   size_t cap)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + len, cap - len, "%s%.*s", i ? "|" : "", (int)sp[i].len,
                         text + sp[i].off);
        if (w < 0 || (size_t)w >= cap - len)
            return;
        len += (size_t)w;
    }
}

struct wrap_case {
    const char *text;
    int first, rest;
    const char *lines;
    const char *desc;
};

static const struct wrap_case wrap_cases[] = {
    {"", 10, 10, "", "empty text is one empty line"},
    {"hello world", 20, 20, "hello world", "fits on one line"},
    {"hello world", 11, 11, "hello world", "fits exactly"},
    {"hello world", 10, 10, "hello|world", "breaks at the space"},
    {"hello world", 5, 5, "hello|world", "the space right after a full line is the break"},
    {"hello world", 8, 8, "hello|world", "breaks after the last space that fits"},
    {"aaa bbb ccc", 7, 7, "aaa bbb|ccc", "several words on a line"},
    {"a b c d e", 3, 3, "a b|c d|e", "one-letter words"},
    {"hello   world", 7, 7, "hello|world", "the spaces at a break belong to no line"},
    {"hello   world", 6, 6, "hello|world", "a run of spaces at the limit"},
    {"ab   cd", 4, 4, "ab|cd", "the break is before the whole run of spaces"},
    {"abcde fgh", 5, 5, "abcde|fgh", "a word that exactly fills the line"},
    {"abcdefghij", 4, 4, "abcd|efgh|ij", "a word longer than a line is cut"},
    {"hi abcdefghij", 4, 4, "hi|abcd|efgh|ij", "a long word after a short one"},
    {"a verylongword", 5, 5, "a|veryl|ongwo|rd", "a long word starts on its own line"},
    {"   indented", 20, 20, "   indented", "leading spaces are kept"},
    {"   indented text", 12, 12, "   indented|text", "leading spaces are not a break"},
    {"word   ", 20, 20, "word   ", "trailing spaces that fit are kept"},
    {"word      ", 6, 6, "word", "trailing spaces at a break open no line"},
    {"a\nb", 10, 10, "a|b", "newline ends a line"},
    {"a\n\nb", 10, 10, "a||b", "an empty line between two newlines"},
    {"\n", 10, 10, "", "a lone newline is one empty line"},
    {"\n\n", 10, 10, "|", "two newlines are two empty lines"},
    {"a\n", 10, 10, "a", "a newline at the end opens no line"},
    {"\na", 10, 10, "|a", "a newline at the start makes an empty first line"},
    {"one two\nthree four", 5, 5, "one|two|three|four", "breaks and newlines together"},
    {"ab \ncd", 2, 2, "ab|cd", "spaces before a newline at a break"},
    {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88", 5, 5,
     "\xe6\x97\xa5\xe6\x9c\xac|\xe8\xaa\x9e\xe3\x83\x86|\xe3\x82\xad\xe3\x82\xb9|\xe3\x83\x88",
     "CJK without spaces: two per line of 5"},
    {"a\xe6\x97\xa5\xe6\x9c\xac", 2, 2, "a|\xe6\x97\xa5|\xe6\x9c\xac",
     "a wide character at the edge goes to the next line"},
    {"ab \xe6\x97\xa5", 3, 3, "ab|\xe6\x97\xa5", "a wide character after a space"},
    {"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 5, 5,
     "\xf0\x9f\x98\x80\xf0\x9f\x98\x80|\xf0\x9f\x98\x80", "emoji"},
    {"abc", 1, 1, "a|b|c", "one column"},
    {"\xe6\x97\xa5\xe6\x9c\xac", 1, 1, "\xe6\x97\xa5|\xe6\x9c\xac",
     "one column: each wide character alone"},
    {"a\xe6\x97\xa5" "b", 1, 1, "a|\xe6\x97\xa5|b", "one column: narrow, wide, narrow"},
    {"a b", 1, 1, "a|b", "one column: the space is the break"},
    {"\xf0\x9f\x98\x80", 1, 1, "\xf0\x9f\x98\x80", "one column: an emoji alone"},
    {"\xcc\x81\xe6\x97\xa5x", 1, 1, "\xcc\x81\xe6\x97\xa5|x",
     "one column: a leading mark goes with the wide character"},
    {"abc", 0, 0, "a|b|c", "zero columns count as one"},
    {"abc", -5, -7, "a|b|c", "negative columns count as one"},
    {"e\xcc\x81" "e\xcc\x81" "e\xcc\x81", 2, 2, "e\xcc\x81" "e\xcc\x81|e\xcc\x81",
     "combining marks stay with their base"},
    {"ab\xe2\x80\x8d" "cd", 2, 2, "ab\xe2\x80\x8d|cd", "a ZWJ stays with what is before it"},
    {"\xe4\xb8\xad\xef\xb8\x8f\xe4\xb8\xad", 2, 2, "\xe4\xb8\xad\xef\xb8\x8f|\xe4\xb8\xad",
     "a variation selector stays with its base"},
    {"aaaa bbbb cccc dddd", 9, 4, "aaaa bbbb|cccc|dddd", "a wider first line"},
    {"aaaa bbbb cccc", 4, 9, "aaaa|bbbb cccc", "a narrower first line"},
    {"abcdefgh", 3, 5, "abc|defgh", "a word cut to the first, then the rest width"},
    {"ab\nabcdef", 10, 3, "ab|abc|def", "after a newline the rest width applies"},
    {"\xe6\x97\xa5\xe6\x9c\xac", 1, 4, "\xe6\x97\xa5|\xe6\x9c\xac",
     "a first line too narrow for a wide character"},
};

static int widths_right(const char *text, const struct pc_span *sp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sp[i].width != pc_str_width(text + sp[i].off, sp[i].len))
            return 0;
    return 1;
}

static void test_wrap_cases(struct tap *t)
{
    for (size_t i = 0; i < COUNT(wrap_cases); i++) {
        const struct wrap_case *c = &wrap_cases[i];
        struct pc_span sp[MAX_SPANS];
        char got[512];
        size_t len = strlen(c->text);
        size_t n = pc_wrap(c->text, len, c->first, c->rest, sp, MAX_SPANS);
        size_t counted = pc_wrap(c->text, len, c->first, c->rest, NULL, 0);
        joined(c->text, sp, n, got, sizeof(got));
        ok(t, strcmp(got, c->lines) == 0 && widths_right(c->text, sp, n) && counted == n,
           "wrap %d/%d: %s: \"%s\"", c->first, c->rest, c->desc, got);
    }
}

static void test_wrap_widths(struct tap *t)
{
    struct pc_span sp[4];
    const char *cjk = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";
    size_t n = pc_wrap("", 0, 10, 10, sp, 4);

    ok(t, n == 1 && sp[0].off == 0 && sp[0].len == 0 && sp[0].width == 0,
       "wrap: an empty text is one span of width 0");
    n = pc_wrap(cjk, strlen(cjk), 5, 5, sp, 4);
    ok(t, n == 2 && sp[0].width == 4 && sp[1].width == 2, "wrap: CJK lines are 4 and 2 wide");
    n = pc_wrap(cjk, strlen(cjk), 1, 1, sp, 4);
    ok(t, n == 3 && sp[0].width == 2 && sp[2].width == 2,
       "wrap: a wide character alone is 2 wide on a 1-column line");
    n = pc_wrap("e\xcc\x81" "x", 4, 1, 1, sp, 4);
    ok(t, n == 2 && sp[0].len == 3 && sp[0].width == 1, "wrap: a base and its mark are 1 wide");
    n = pc_wrap("hello world", 11, 5, 5, sp, 4);
    ok(t, n == 2 && sp[1].off == 6 && sp[1].len == 5,
       "wrap: the second line starts after the space");
}

static int same_span(const struct pc_span *a, const struct pc_span *b)
{
    return a->off == b->off && a->len == b->len && a->width == b->width;
}

/* Counting and filling agree, and a short out is filled with exactly the
 * first spans of the full answer, never past max. */
static void test_wrap_counting(struct tap *t)
{
    const char *text = "the quick brown fox\njumps over\n\nthe lazy \xe6\x97\xa5\xe6\x9c\xac dog";
    size_t len = strlen(text);
    struct pc_span all[MAX_SPANS], part[4];
    size_t n = pc_wrap(text, len, 7, 5, all, MAX_SPANS);
    size_t counted = pc_wrap(text, len, 7, 5, NULL, 0);
    size_t partial;

    memset(part, 0xA5, sizeof(part));
    partial = pc_wrap(text, len, 7, 5, part, 2);
    ok(t, n > 4 && counted == n, "wrap: counting (out NULL, max 0) gives %zu like filling (%zu)",
       counted, n);
    ok(t, partial == n, "wrap: a short out still returns every line needed (%zu)", partial);
    ok(t, same_span(&part[0], &all[0]) && same_span(&part[1], &all[1]),
       "wrap: a short out holds the first spans");
    ok(t, part[2].off == (size_t)0xA5A5A5A5A5A5A5A5ull && part[3].width == (int)0xA5A5A5A5,
       "wrap: nothing is written past max");
    ok(t, pc_wrap(text, len, 7, 5, all, 0) == n, "wrap: max 0 with an out only counts");
}

static uint32_t rnd_state = 0x2545F491u;

static uint32_t rnd(void)
{
    return tap_rand(&rnd_state);
}

/* Sanitized random text: words of every kind of character, runs of
 * spaces, newlines, long words. */
static size_t random_text(char *buf, size_t cap)
{
    static const char *const pieces[] = {
        "a", "b", "c", " ", " ", "  ", "   ", "\n", "\xc3\xa9", "\xe6\x97\xa5", "\xe6\x9c\xac",
        "\xf0\x9f\x98\x80", "e\xcc\x81", "\xe2\x80\x8d", "\xef\xb8\x8f", "\xcc\x81",
        "\xef\xbd\xb1", "abcdefghijklmnop", "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5",
    };
    size_t len = 0, n = rnd() % 30;

    for (size_t i = 0; i < n; i++) {
        const char *p = pieces[rnd() % COUNT(pieces)];
        size_t plen = strlen(p);
        if (len + plen > cap)
            break;
        memcpy(buf + len, p, plen);
        len += plen;
    }
    return len;
}

/* One visible character and the zero-width ones around it: the only thing
 * allowed to be wider than its line. */
static int single_char(const char *s, size_t len)
{
    size_t off = 0;
    int visible = 0;

    while (off < len) {
        uint32_t cp;
        off += pc_utf8_decode(s + off, len - off, &cp);
        visible += pc_cp_width(cp) > 0;
    }
    return visible == 1;
}

static int on_boundaries(const char *s, size_t len)
{
    size_t off = 0;

    while (off < len) {
        uint32_t cp;
        size_t n = pc_utf8_decode(s + off, len - off, &cp);
        if (cp == 0xFFFD && n == 1)
            return 0;
        off += n;
    }
    return 1;
}

struct wrap_check {
    long too_wide, bad_width, uncovered, bad_order, no_advance, count_differs, split;
};

/* An empty span is only right as an empty line: nothing but the start of
 * the text or a '\n' before it, nothing but the end or a '\n' after it. */
static int empty_line_at(const char *text, size_t len, size_t off)
{
    return (off == 0 || text[off - 1] == '\n') && (off == len || text[off] == '\n');
}

static void check_wrap(const char *text, size_t len, int first, int rest, struct wrap_check *c)
{
    struct pc_span sp[256];
    size_t n = pc_wrap(text, len, first, rest, sp, COUNT(sp)), pos = 0;

    c->count_differs += n != pc_wrap(text, len, first, rest, NULL, 0) || n > COUNT(sp);
    for (size_t i = 0; i < n && i < COUNT(sp); i++) {
        int limit = i == 0 ? first : rest;
        const char *s = text + sp[i].off;
        if (limit < 1)
            limit = 1;
        c->bad_width += sp[i].width != pc_str_width(s, sp[i].len);
        c->too_wide += sp[i].width > limit && !single_char(s, sp[i].len);
        c->bad_order += sp[i].off < pos || sp[i].off + sp[i].len > len ||
                        memchr(s, '\n', sp[i].len) != NULL;
        c->no_advance += sp[i].len == 0 && !empty_line_at(text, len, sp[i].off);
        c->split += !on_boundaries(s, sp[i].len);
        for (; pos < sp[i].off && pos < len; pos++)
            c->uncovered += text[pos] != ' ' && text[pos] != '\n';
        pos = sp[i].off + sp[i].len;
    }
    for (; pos < len; pos++)
        c->uncovered += text[pos] != ' ' && text[pos] != '\n';
}

static void test_wrap_random(struct tap *t)
{
    struct wrap_check c = {0};
    char buf[200];

    for (int i = 0; i < 50000; i++) {
        size_t len = random_text(buf, sizeof(buf));
        int first = (int)(rnd() % 14) - 1, rest = (int)(rnd() % 14) - 1;
        check_wrap(buf, len, first, rest, &c);
    }
    ok(t, c.count_differs == 0, "random wrap: counting equals filling (%ld differ)",
       c.count_differs);
    ok(t, c.too_wide == 0,
       "random wrap: every line fits its limit unless it is one character (%ld too wide)",
       c.too_wide);
    ok(t, c.bad_width == 0, "random wrap: span widths are right (%ld wrong)", c.bad_width);
    ok(t, c.uncovered == 0,
       "random wrap: every byte but spaces and newlines is in a span (%ld not)", c.uncovered);
    ok(t, c.bad_order == 0,
       "random wrap: spans are in order, inside the text, without '\\n' (%ld not)", c.bad_order);
    ok(t, c.no_advance == 0,
       "random wrap: only empty lines are empty spans, so wrapping advances (%ld)", c.no_advance);
    ok(t, c.split == 0, "random wrap: no span splits a character (%ld split)", c.split);
}

int main(void)
{
    struct tap t = {0};

    test_wrap_cases(&t);
    test_wrap_widths(&t);
    test_wrap_counting(&t);
    test_wrap_random(&t);
    return tap_done(&t);
}
