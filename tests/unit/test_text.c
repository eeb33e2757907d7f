/* common/text.c: strict UTF-8 (RFC 3629 and the Unicode "well-formed"
 * table: overlongs, surrogates, code points above U+10FFFF, truncated and
 * stray bytes), code point counting, and the user id and room name
 * grammars of PROTOCOL.md. TAP. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

#include "tap.h"

struct utf8_case {
    const char *bytes;
    size_t len;       /* 0: strlen(bytes) */
    long chars;       /* -1: invalid */
    const char *desc;
};

#define S(x) x, sizeof(x) - 1

static const struct utf8_case utf8_cases[] = {
    /* valid */
    {S(""), 0, "empty string"},
    {S("hello"), 5, "ASCII"},
    {S("\x00"), 1, "NUL is a valid code point"},
    {S("\x7f"), 1, "U+007F, last one-byte"},
    {S("\xc2\x80"), 1, "U+0080, first two-byte"},
    {S("\xdf\xbf"), 1, "U+07FF, last two-byte"},
    {S("\xe0\xa0\x80"), 1, "U+0800, first three-byte"},
    {S("\xed\x9f\xbf"), 1, "U+D7FF, just below the surrogates"},
    {S("\xee\x80\x80"), 1, "U+E000, just above the surrogates"},
    {S("\xef\xbf\xbf"), 1, "U+FFFF"},
    {S("\xef\xbb\xbf"), 1, "BOM is a character"},
    {S("\xf0\x90\x80\x80"), 1, "U+10000, first four-byte"},
    {S("\xf4\x8f\xbf\xbf"), 1, "U+10FFFF, the last code point"},
    {S("Zo\xc3\xab \xe2\x98\x83 \xf0\x9f\x98\x80"), 7, "mixed widths count code points"},
    /* overlongs */
    {S("\xc0\x80"), -1, "overlong NUL (C0 80)"},
    {S("\xc1\xbf"), -1, "overlong U+007F (C1 BF)"},
    {S("\xe0\x80\x80"), -1, "overlong NUL in three bytes"},
    {S("\xe0\x9f\xbf"), -1, "overlong U+07FF in three bytes"},
    {S("\xf0\x80\x80\x80"), -1, "overlong NUL in four bytes"},
    {S("\xf0\x8f\xbf\xbf"), -1, "overlong U+FFFF in four bytes"},
    {S("\xc0\xaf"), -1, "overlong '/' (the classic path trick)"},
    /* surrogates */
    {S("\xed\xa0\x80"), -1, "U+D800, first high surrogate"},
    {S("\xed\xbf\xbf"), -1, "U+DFFF, last low surrogate"},
    {S("\xed\xa0\xbd\xed\xb8\x80"), -1, "CESU-8 surrogate pair"},
    /* beyond U+10FFFF and impossible leads */
    {S("\xf4\x90\x80\x80"), -1, "U+110000"},
    {S("\xf5\x80\x80\x80"), -1, "lead F5"},
    {S("\xf8\x88\x80\x80\x80"), -1, "five-byte form"},
    {S("\xfc\x84\x80\x80\x80\x80"), -1, "six-byte form"},
    {S("\xfe"), -1, "FE"},
    {S("\xff"), -1, "FF"},
    /* truncated and stray */
    {S("\xc3"), -1, "truncated two-byte at end"},
    {S("\xe2\x98"), -1, "truncated three-byte at end"},
    {S("\xf0\x9f\x98"), -1, "truncated four-byte at end"},
    {S("\xe2\x98x"), -1, "three-byte cut by ASCII"},
    {S("\xc3\xc3\xab"), -1, "lead followed by a lead"},
    {S("\x80"), -1, "lone continuation byte"},
    {S("a\xbf"), -1, "continuation after ASCII"},
    {S("\xf0\x9f\x98\x80\x80"), -1, "extra continuation after a four-byte"},
};

static void test_utf8(struct tap *t)
{
    for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
        const struct utf8_case *c = &utf8_cases[i];
        long got = pd_utf8_chars(c->bytes, c->len);
        bool valid = pd_utf8_valid(c->bytes, c->len);
        ok(t, got == c->chars && valid == (c->chars >= 0), "utf8: %s (chars %ld, want %ld)",
           c->desc, got, c->chars);
    }
}

/* Every code point encodes and decodes back to one character, and every
 * surrogate is refused: an exhaustive sweep is cheap (1.1 M code points). */
static void test_utf8_sweep(struct tap *t)
{
    long bad_valid = 0, bad_surrogate = 0;

    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        char b[4];
        size_t n = pd_utf8_encode(cp, b);
        long got = pd_utf8_chars(b, n);
        if (cp >= 0xD800 && cp <= 0xDFFF)
            bad_surrogate += got != -1;
        else
            bad_valid += got != 1;
    }
    ok(t, bad_valid == 0, "every scalar value U+0000..U+10FFFF is one character (%ld wrong)",
       bad_valid);
    ok(t, bad_surrogate == 0, "every surrogate U+D800..U+DFFF is refused (%ld accepted)",
       bad_surrogate);
}

/* A length shorter than the buffer: validation must not read past it. */
static void test_utf8_bounds(struct tap *t)
{
    const char buf[] = "ab\xe2\x98\x83";

    ok(t, pd_utf8_chars(buf, 4) == -1, "a length that cuts a sequence is invalid");
    ok(t, pd_utf8_chars(buf, 5) == 3, "the same buffer at full length is valid");
    ok(t, pd_utf8_chars(buf, 0) == 0, "zero length is valid and empty");
}

struct name_case {
    const char *s;
    bool user_ok, room_ok;
};

static const char L64[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.";
static const char L65[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";

static const struct name_case name_cases[] = {
    {"alice", true, true},
    {"Alice_01", true, true},
    {"a", true, true},
    {L64, true, true},
    {L65, false, false},
    {"", false, false},
    {"bob@example.com", true, false},
    {"general:random", false, true},
    {"a-b.c_d", true, true},
    {"a b", false, false},
    {"a/b", false, false},
    {"a\tb", false, false},
    {"caf\xc3\xa9", false, false},
    {"a\"b", false, false},
    {"a+b", false, false},
    {"a#b", false, false},
    {"..", true, true},
};

static void test_names(struct tap *t)
{
    for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
        const struct name_case *c = &name_cases[i];
        ok(t, pd_valid_user_id(c->s) == c->user_ok, "user id '%s': %s", c->s,
           c->user_ok ? "valid" : "invalid");
        ok(t, pd_valid_room_name(c->s) == c->room_ok, "room name '%s': %s", c->s,
           c->room_ok ? "valid" : "invalid");
    }
    ok(t, !pd_valid_user_id(NULL) && !pd_valid_room_name(NULL), "NULL is not a name");
    ok(t, strlen(L64) == 64 && strlen(L65) == 65 && PD_NAME_MAX == 64, "limits are 64");
}

int main(void)
{
    struct tap t = {0, 0};

    test_utf8(&t);
    test_utf8_sweep(&t);
    test_utf8_bounds(&t);
    test_names(&t);
    return tap_done(&t);
}
