/* client/width.c: strict UTF-8 decoding, column widths from our own
 * Unicode 15 tables, prefixes that keep combining marks with their base,
 * and sanitizing untrusted text for the terminal. TAP. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "width.h"

#include "tap.h"

#define S(x) x, sizeof(x) - 1
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define FFFD "\xef\xbf\xbd"

struct decode_case {
    const char *bytes;
    size_t len;
    uint32_t cp;
    size_t n;
    const char *desc;
};

static const struct decode_case decode_cases[] = {
    {S("A"), 'A', 1, "ASCII"},
    {S("\x00"), 0, 1, "NUL"},
    {S("\x7f"), 0x7F, 1, "U+007F, last one-byte"},
    {S("\xc2\x80"), 0x80, 2, "U+0080, first two-byte"},
    {S("\xdf\xbf"), 0x7FF, 2, "U+07FF, last two-byte"},
    {S("\xe0\xa0\x80"), 0x800, 3, "U+0800, first three-byte"},
    {S("\xed\x9f\xbf"), 0xD7FF, 3, "U+D7FF, below the surrogates"},
    {S("\xee\x80\x80"), 0xE000, 3, "U+E000, above the surrogates"},
    {S("\xef\xbf\xbf"), 0xFFFF, 3, "U+FFFF"},
    {S("\xef\xbf\xbd"), 0xFFFD, 3, "a real U+FFFD takes its 3 bytes"},
    {S("\xf0\x90\x80\x80"), 0x10000, 4, "U+10000, first four-byte"},
    {S("\xf4\x8f\xbf\xbf"), 0x10FFFF, 4, "U+10FFFF, the last code point"},
    {S("\xe2\x98\x83rest"), 0x2603, 3, "only the first character is decoded"},
    {S("\xc0\x80"), 0xFFFD, 1, "overlong NUL (C0 80)"},
    {S("\xc1\xbf"), 0xFFFD, 1, "overlong U+007F (C1 BF)"},
    {S("\xc0\xaf"), 0xFFFD, 1, "overlong '/'"},
    {S("\xe0\x80\x80"), 0xFFFD, 1, "overlong NUL in three bytes"},
    {S("\xe0\x9f\xbf"), 0xFFFD, 1, "overlong U+07FF in three bytes"},
    {S("\xf0\x80\x80\x80"), 0xFFFD, 1, "overlong NUL in four bytes"},
    {S("\xf0\x8f\xbf\xbf"), 0xFFFD, 1, "overlong U+FFFF in four bytes"},
    {S("\xed\xa0\x80"), 0xFFFD, 1, "U+D800, first surrogate"},
    {S("\xed\xbf\xbf"), 0xFFFD, 1, "U+DFFF, last surrogate"},
    {S("\xed\xa0\xbd\xed\xb8\x80"), 0xFFFD, 1, "CESU-8 surrogate pair"},
    {S("\xf4\x90\x80\x80"), 0xFFFD, 1, "U+110000"},
    {S("\xf5\x80\x80\x80"), 0xFFFD, 1, "lead F5"},
    {S("\xf7\xbf\xbf\xbf"), 0xFFFD, 1, "lead F7 (U+1FFFFF)"},
    {S("\xf8\x88\x80\x80\x80"), 0xFFFD, 1, "five-byte form"},
    {S("\xfc\x84\x80\x80\x80\x80"), 0xFFFD, 1, "six-byte form"},
    {S("\xfe"), 0xFFFD, 1, "FE"},
    {S("\xff"), 0xFFFD, 1, "FF"},
    {S("\x80"), 0xFFFD, 1, "lone continuation byte"},
    {S("\xbf"), 0xFFFD, 1, "lone continuation BF"},
    {S("\xc3"), 0xFFFD, 1, "truncated two-byte at end"},
    {S("\xe2\x98"), 0xFFFD, 1, "truncated three-byte at end"},
    {S("\xf0\x9f\x98"), 0xFFFD, 1, "truncated four-byte at end"},
    {"\xe2\x98\x83", 2, 0xFFFD, 1, "a length that cuts a sequence (no read past len)"},
    {"\xf0\x9f\x98\x80", 3, 0xFFFD, 1, "a length that cuts a four-byte sequence"},
    {S("\xe2\x98x"), 0xFFFD, 1, "three-byte cut by ASCII"},
    {S("\xc3\xc3\xab"), 0xFFFD, 1, "lead followed by a lead"},
    {S("\xe2\x28\xa1"), 0xFFFD, 1, "second byte not a continuation"},
    {S("\xf0\x9f\x98\x28"), 0xFFFD, 1, "fourth byte not a continuation"},
};

static void test_decode_cases(struct tap *t)
{
    for (size_t i = 0; i < COUNT(decode_cases); i++) {
        const struct decode_case *c = &decode_cases[i];
        uint32_t cp = 0;
        size_t n = pc_utf8_decode(c->bytes, c->len, &cp);
        ok(t, cp == c->cp && n == c->n, "decode: %s (U+%04X/%zu, want U+%04X/%zu)", c->desc,
           (unsigned)cp, n, (unsigned)c->cp, c->n);
    }
}

/* Malformed input resynchronises one byte at a time, so a bad byte never
 * swallows the good characters after it. */
static void test_decode_resync(struct tap *t)
{
    const char s[] = "\xe2\x98x\xf0\x9f\x98\x80";
    uint32_t want[] = {0xFFFD, 0xFFFD, 'x', 0x1F600};
    size_t off = 0, i = 0;
    int good = 1;

    while (off < sizeof(s) - 1 && i < COUNT(want)) {
        uint32_t cp;
        off += pc_utf8_decode(s + off, sizeof(s) - 1 - off, &cp);
        good &= cp == want[i++];
    }
    ok(t, good && i == COUNT(want) && off == sizeof(s) - 1,
       "decode: a truncated sequence costs one U+FFFD per byte, then decoding goes on");
}

/* Every scalar value round-trips and every surrogate is refused: the sweep
 * is cheap (1.1 M code points). Widths are 0, 1 or 2 everywhere. */
static void test_decode_sweep(struct tap *t)
{
    long bad = 0, bad_surrogate = 0, bad_width = 0;

    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        char b[4];
        uint32_t got;
        size_t n = pd_utf8_encode(cp, b), used = pc_utf8_decode(b, n, &got);
        int w = pc_cp_width(cp);
        if (cp >= 0xD800 && cp <= 0xDFFF)
            bad_surrogate += got != 0xFFFD || used != 1;
        else
            bad += got != cp || used != n;
        bad_width += w < 0 || w > 2;
    }
    ok(t, bad == 0, "decode: every scalar value U+0000..U+10FFFF round-trips (%ld wrong)", bad);
    ok(t, bad_surrogate == 0, "decode: every surrogate is U+FFFD and 1 byte (%ld wrong)",
       bad_surrogate);
    ok(t, bad_width == 0, "width: every code point takes 0, 1 or 2 columns (%ld wrong)",
       bad_width);
}

struct width_case {
    uint32_t cp;
    int width;
    const char *desc;
};

static const struct width_case width_cases[] = {
    {'a', 1, "ASCII letter"},
    {' ', 1, "space"},
    {0x00, 1, "NUL (a control counts 1)"},
    {0x1B, 1, "ESC (a control counts 1)"},
    {0x7F, 1, "DEL"},
    {0x9B, 1, "C1 CSI"},
    {0xA0, 1, "no-break space"},
    {0xE9, 1, "e acute, precomposed"},
    {0xAD, 1, "soft hyphen (drawn by glibc wcwidth and terminals)"},
    {0x0300, 0, "combining grave, first of the block"},
    {0x0301, 0, "combining acute"},
    {0x036F, 0, "last of the combining diacritics block"},
    {0x0370, 1, "just after the combining diacritics"},
    {0x0483, 0, "Cyrillic titlo (Mn)"},
    {0x0488, 0, "Cyrillic hundred thousands sign (Me)"},
    {0x05B0, 0, "Hebrew point sheva"},
    {0x064B, 0, "Arabic fathatan"},
    {0x0903, 1, "Devanagari visarga (Mc, spacing) counts 1"},
    {0x093F, 1, "Devanagari vowel sign i (Mc)"},
    {0x0941, 0, "Devanagari vowel sign u (Mn)"},
    {0x0E31, 0, "Thai mai han-akat"},
    {0x0E33, 1, "Thai sara am (a letter)"},
    {0x1AB0, 0, "combining diacritics extended"},
    {0x1DC0, 0, "combining diacritics supplement"},
    {0x20D0, 0, "combining marks for symbols"},
    {0x20DD, 0, "combining enclosing circle (Me)"},
    {0x200B, 0, "zero width space"},
    {0x200C, 0, "ZWNJ"},
    {0x200D, 0, "ZWJ"},
    {0x200E, 0, "left-to-right mark"},
    {0x200F, 0, "right-to-left mark"},
    {0x2010, 1, "hyphen, just after the zero-width run"},
    {0x2060, 0, "word joiner"},
    {0x2064, 0, "invisible plus"},
    {0xFEFF, 0, "zero width no-break space (BOM)"},
    {0xFE00, 0, "variation selector 1"},
    {0xFE0E, 0, "variation selector 15 (text)"},
    {0xFE0F, 0, "variation selector 16 (emoji)"},
    {0xFE20, 0, "combining half marks"},
    {0xE0001, 0, "language tag"},
    {0xE0020, 0, "tag space"},
    {0xE007F, 0, "cancel tag"},
    {0xE0100, 0, "variation selector 17"},
    {0xE01EF, 0, "variation selector 256"},
    {0xE01F0, 1, "past the variation selectors"},
    {0x1160, 0, "Hangul jungseong filler (medial)"},
    {0x11A8, 0, "Hangul jongseong kiyeok (final)"},
    {0x11FF, 0, "last Hangul final jamo"},
    {0xD7B0, 0, "Hangul jungseong extended-B (medial)"},
    {0xD7FB, 0, "last Hangul jongseong extended-B (final)"},
    {0x1100, 2, "Hangul choseong kiyeok (leading, wide)"},
    {0x115F, 2, "Hangul choseong filler"},
    {0x2E80, 2, "first CJK radical"},
    {0x3000, 2, "ideographic space (fullwidth)"},
    {0x302A, 0, "ideographic level tone mark (Mn inside a wide block)"},
    {0x303E, 2, "ideographic variation indicator"},
    {0x303F, 1, "ideographic half fill space is narrow"},
    {0x3041, 2, "hiragana small a"},
    {0x3099, 0, "combining kana voiced mark"},
    {0x30A2, 2, "katakana a"},
    {0x33FF, 2, "square gal"},
    {0x3400, 2, "CJK extension A"},
    {0x4DBF, 2, "end of CJK extension A"},
    {0x4DC0, 2, "hexagram for the creative heaven (wide in glibc and Unicode 16)"},
    {0x4E00, 2, "CJK unified ideograph one"},
    {0x9FFF, 2, "end of CJK unified ideographs"},
    {0xA000, 2, "Yi syllable"},
    {0xA4C6, 2, "Yi radical"},
    {0xAC00, 2, "first Hangul syllable"},
    {0xD7A3, 2, "last Hangul syllable"},
    {0xF900, 2, "CJK compatibility ideograph"},
    {0xFAFF, 2, "end of the CJK compatibility block"},
    {0xFE30, 2, "CJK compatibility forms"},
    {0xFE4F, 2, "end of the CJK compatibility forms"},
    {0xFF01, 2, "fullwidth exclamation mark"},
    {0xFF21, 2, "fullwidth A"},
    {0xFF60, 2, "fullwidth right white parenthesis"},
    {0xFF61, 1, "halfwidth ideographic full stop"},
    {0xFF71, 1, "halfwidth katakana a"},
    {0xFFE0, 2, "fullwidth cent sign"},
    {0xFFE6, 2, "fullwidth won sign"},
    {0xFFE8, 1, "halfwidth forms light vertical"},
    {0xFFFD, 1, "replacement character"},
    {0x231A, 2, "watch (emoji presentation)"},
    {0x23F0, 2, "alarm clock"},
    {0x2614, 2, "umbrella with rain drops"},
    {0x26A1, 2, "high voltage"},
    {0x2705, 2, "white heavy check mark"},
    {0x2B50, 2, "white medium star"},
    {0x263A, 1, "white smiling face (text presentation by default)"},
    {0x2764, 1, "heavy black heart (text presentation by default)"},
    {0x2713, 1, "check mark"},
    {0x1F004, 2, "mahjong red dragon"},
    {0x1F1E6, 2, "regional indicator A (emoji presentation)"},
    {0x1F300, 2, "cyclone"},
    {0x1F321, 1, "thermometer (text presentation by default)"},
    {0x1F389, 2, "party popper"},
    {0x1F3FB, 2, "skin tone modifier"},
    {0x1F44D, 2, "thumbs up"},
    {0x1F600, 2, "grinning face"},
    {0x1F64F, 2, "folded hands"},
    {0x1F680, 2, "rocket"},
    {0x1F6D1, 2, "octagonal sign"},
    {0x1F90C, 2, "pinched fingers"},
    {0x1F93B, 1, "modern pentathlon (text presentation by design)"},
    {0x1F946, 1, "rifle (text presentation by design)"},
    {0x1F9FF, 2, "nazar amulet"},
    {0x1FA70, 2, "ballet shoes"},
    {0x20000, 2, "CJK extension B"},
    {0x2A6E0, 2, "unassigned in plane 2 (defaults to wide)"},
    {0x2FFFD, 2, "last of plane 2"},
    {0x2FFFE, 1, "plane 2 noncharacter"},
    {0x30000, 2, "CJK extension G"},
    {0x3FFFD, 2, "last of plane 3"},
    {0x10FFFF, 1, "U+10FFFF"},
    /* new in Unicode 15.0: the tables are that version's */
    {0x0CF3, 1, "15.0: Kannada sign combining anusvara above right (Mc)"},
    {0x10EFD, 0, "15.0: Arabic small low word sakta (Mn)"},
    {0x11F00, 0, "15.0: Kawi sign candrabindu (Mn)"},
    {0x1E4EC, 0, "15.0: Nag Mundari sign muhor (Mn)"},
    {0x1F6DC, 2, "15.0: wireless"},
    {0x1FA77, 2, "15.0: pink heart"},
    {0x1FAE8, 2, "15.0: shaking face"},
    {0x31350, 2, "15.0: CJK extension H"},
};

static void test_cp_width(struct tap *t)
{
    for (size_t i = 0; i < COUNT(width_cases); i++) {
        const struct width_case *c = &width_cases[i];
        int w = pc_cp_width(c->cp);
        ok(t, w == c->width, "width U+%04X %s: %d (want %d)", (unsigned)c->cp, c->desc, w,
           c->width);
    }
}

struct range_case {
    uint32_t lo, hi;
    int width;
    const char *desc;
};

/* Whole ranges, so that every binary search step across them is right. */
static const struct range_case range_cases[] = {
    {0x20, 0x7E, 1, "printable ASCII"},
    {0x0300, 0x036F, 0, "combining diacritical marks"},
    {0x1160, 0x11FF, 0, "Hangul medial and final jamo"},
    {0x200B, 0x200F, 0, "U+200B..U+200F"},
    {0x2060, 0x2064, 0, "U+2060..U+2064"},
    {0xFE00, 0xFE0F, 0, "variation selectors"},
    {0xE0100, 0xE01EF, 0, "variation selectors supplement"},
    {0x1100, 0x115F, 2, "Hangul leading jamo"},
    {0x3041, 0x3096, 2, "hiragana"},
    {0x3400, 0x4DBF, 2, "CJK extension A"},
    {0x4E00, 0x9FFF, 2, "CJK unified ideographs"},
    {0xAC00, 0xD7A3, 2, "Hangul syllables"},
    {0xF900, 0xFAFF, 2, "CJK compatibility ideographs"},
    {0xFF01, 0xFF60, 2, "fullwidth forms"},
    {0xFFE0, 0xFFE6, 2, "fullwidth signs"},
    {0x1F600, 0x1F64F, 2, "emoticons"},
    {0x1F947, 0x1F9FF, 2, "supplemental symbols and pictographs from the medals on"},
    {0x20000, 0x2FFFD, 2, "plane 2"},
    {0x30000, 0x3FFFD, 2, "plane 3"},
};

static void test_width_ranges(struct tap *t)
{
    for (size_t i = 0; i < COUNT(range_cases); i++) {
        const struct range_case *c = &range_cases[i];
        long wrong = 0;
        for (uint32_t cp = c->lo; cp <= c->hi; cp++)
            wrong += pc_cp_width(cp) != c->width;
        ok(t, wrong == 0, "width %d for all of U+%04X..U+%04X %s (%ld wrong)", c->width,
           (unsigned)c->lo, (unsigned)c->hi, c->desc, wrong);
    }
}

struct str_case {
    const char *s;
    size_t len;
    int width;
    const char *desc;
};

static const struct str_case str_cases[] = {
    {S(""), 0, "empty"},
    {S("hello"), 5, "ASCII"},
    {S("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"), 6, "three CJK ideographs"},
    {S("\xed\x95\x9c\xea\xb5\xad"), 4, "two Hangul syllables"},
    {S("\xe1\x84\x80\xe1\x85\xa1"), 2, "conjoining jamo: leading wide, medial zero"},
    {S("e\xcc\x81"), 1, "e + combining acute"},
    {S("e\xcc\x81\xcc\xa3\xcc\x84"), 1, "e + three combining marks"},
    {S("\xf0\x9f\x98\x80"), 2, "emoji"},
    {S("\xe2\x9d\xa4\xef\xb8\x8f"), 1, "heart + VS16: the selector adds nothing"},
    {S("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"), 4, "ZWJ sequence: each emoji counts"},
    {S("a\xe2\x80\x8b" "b"), 2, "zero width space between letters"},
    {S("\xef\xbd\xb1"), 1, "halfwidth katakana"},
    {S("\xff\xfe"), 2, "two malformed bytes are two U+FFFD"},
    {S("\xe2\x98"), 2, "a truncated sequence is one U+FFFD per byte"},
    {S("a\x00" "b"), 3, "NUL counts 1 like any control"},
};

static void test_str_width(struct tap *t)
{
    for (size_t i = 0; i < COUNT(str_cases); i++) {
        const struct str_case *c = &str_cases[i];
        int w = pc_str_width(c->s, c->len);
        ok(t, w == c->width, "str width: %s: %d (want %d)", c->desc, w, c->width);
    }
}

struct fit_case {
    const char *s;
    size_t len;
    int cols;
    size_t bytes;
    int used;
    const char *desc;
};

static const struct fit_case fit_cases[] = {
    {S("hello"), 3, 3, 3, "ASCII cut"},
    {S("hello"), 5, 5, 5, "exact fit"},
    {S("hello"), 10, 5, 5, "room to spare"},
    {S("hello"), 0, 0, 0, "zero columns"},
    {S("hello"), -3, 0, 0, "negative columns"},
    {S(""), 4, 0, 0, "empty text"},
    {S("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"), 3, 3, 2, "CJK: the second does not fit in 1"},
    {S("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"), 4, 6, 4, "CJK: two of three"},
    {S("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"), 1, 0, 0, "CJK in one column: nothing"},
    {S("a\xe6\x97\xa5"), 2, 1, 1, "a wide character at the edge is left out"},
    {S("\xc3\xa9t\xc3\xa9"), 1, 2, 1, "a two-byte character is never split"},
    {S("\xc3\xa9t\xc3\xa9"), 2, 3, 2, "stops before the second two-byte"},
    {S("e\xcc\x81x"), 1, 3, 1, "a combining mark stays with its base"},
    {S("ab\xcc\x81\xcc\x82" "c"), 2, 6, 2, "two combining marks stay with their base"},
    {S("ab\xcc\x81\xcc\x82" "c"), 1, 1, 1, "marks of a base that does not fit stay out"},
    {S("a\xe2\x80\x8d" "b"), 1, 4, 1, "ZWJ stays with the character before it"},
    {S("\xe4\xb8\xad\xef\xb8\x8fx"), 2, 6, 2, "a variation selector stays with its base"},
    {S("\xf0\x9f\x98\x80\xf0\x9f\x98\x80"), 3, 4, 2, "emoji: one of two in three columns"},
    {S("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"), 3, 7, 2, "ZWJ sequence cut after ZWJ"},
    {S("\xcc\x81" "a"), 0, 2, 0, "a leading combining mark fits in zero columns"},
    {S("\xff" "ab"), 2, 2, 2, "a malformed byte is one U+FFFD column"},
    {S("\xe2\x98\x83"), 1, 3, 1, "a snowman (narrow, three bytes)"},
};

static void test_prefix_fit(struct tap *t)
{
    for (size_t i = 0; i < COUNT(fit_cases); i++) {
        const struct fit_case *c = &fit_cases[i];
        int used = -1;
        size_t n = pc_prefix_fit(c->s, c->len, c->cols, &used);
        ok(t, n == c->bytes && used == c->used, "prefix fit: %s: %zu bytes %d cols (want %zu, %d)",
           c->desc, n, used, c->bytes, c->used);
    }
    ok(t, pc_prefix_fit("hello", 5, 2, NULL) == 2, "prefix fit: used may be NULL");
}

static uint32_t rnd_state = 0x9E3779B9u;

static uint32_t rnd(void)
{
    return tap_rand(&rnd_state);
}

/* Random text from pieces that exercise every class of character, plus
 * now and then a random byte so malformed input is covered too. */
static size_t random_text(char *buf, size_t cap)
{
    static const char *const pieces[] = {
        "a", "b", " ", "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "\xcc\x81",
        "\xe2\x80\x8d", "\xef\xb8\x8f", "\xe1\x85\xa1", "\xef\xbd\xb1", "\n", "\t", "\x1b",
        "\xc2\x9b", "\xe2\x80\xae", "\xe2\x81\xa6", "\x7f", "\xed\xa0\x80", "\xc0\xaf",
    };
    size_t len = 0, n = rnd() % 24;

    for (size_t i = 0; i < n; i++) {
        char byte[2] = {(char)rnd(), 0};
        const char *p = rnd() % 8 == 0 ? byte : pieces[rnd() % COUNT(pieces)];
        size_t plen = p == byte ? 1 : strlen(p);
        if (len + plen > cap)
            break;
        memcpy(buf + len, p, plen);
        len += plen;
    }
    return len;
}

/* The prefix ends on a character boundary, is as wide as it says, fits,
 * and is the longest: the next character would not fit, so (with room for
 * it, 0 columns) it is never a zero-width one left behind. */
static int fit_is_right(const char *s, size_t len, int cols)
{
    int used;
    size_t n = pc_prefix_fit(s, len, cols, &used), off = 0;
    uint32_t cp;

    while (off < n)
        off += pc_utf8_decode(s + off, len - off, &cp);
    if (off != n || used != pc_str_width(s, n) || used > (cols < 0 ? 0 : cols))
        return 0;
    if (n == len)
        return 1;
    pc_utf8_decode(s + n, len - n, &cp);
    return pc_cp_width(cp) > cols - used;
}

static void test_prefix_fit_random(struct tap *t)
{
    char buf[128];
    long wrong = 0;

    for (int i = 0; i < 20000; i++) {
        size_t len = random_text(buf, sizeof(buf));
        wrong += !fit_is_right(buf, len, (int)(rnd() % 14) - 1);
    }
    ok(t, wrong == 0, "prefix fit: 20000 random texts and widths (%ld wrong)", wrong);
}

struct sanitize_case {
    const char *in;
    size_t len;
    int keep_newlines;
    const char *want;
    const char *desc;
};

static const struct sanitize_case sanitize_cases[] = {
    {S("hello"), 0, "hello", "plain text unchanged"},
    {S(""), 0, "", "empty text"},
    {S("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"), 0,
     "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", "accents, CJK and emoji kept"},
    {S("e\xcc\x81\xe2\x80\x8d\xef\xb8\x8f"), 0, "e\xcc\x81\xe2\x80\x8d\xef\xb8\x8f",
     "combining mark, ZWJ and VS16 kept"},
    {S("\xef\xbf\xbd"), 0, FFFD, "a real U+FFFD kept"},
    {S("\x1b[31mred\x1b[0m"), 0, FFFD "[31mred" FFFD "[0m", "ESC of a colour sequence"},
    {S("\x1b]0;title\x07"), 0, FFFD "]0;title" FFFD, "OSC title sequence and BEL"},
    {S("\x1b" "c"), 0, FFFD "c", "terminal reset"},
    {S("a\tb"), 0, "a b", "tab becomes one space"},
    {S("a\nb"), 1, "a\nb", "newline kept when asked"},
    {S("a\nb"), 0, "a b", "newline becomes a space otherwise"},
    {S("a\r\nb"), 1, "a" FFFD "\nb", "carriage return replaced"},
    {S("a\x00" "b"), 0, "a" FFFD "b", "NUL replaced, and what follows kept"},
    {S("\x01\x08\x0b\x0c\x1f"), 0, FFFD FFFD FFFD FFFD FFFD, "C0 controls"},
    {S("x\x7fy"), 0, "x" FFFD "y", "DEL"},
    {S("\xc2\x80\xc2\x85\xc2\x9b\xc2\x9f"), 0, FFFD FFFD FFFD FFFD,
     "C1 controls (PAD, NEL, CSI, APC)"},
    {S("\xc2\xa0"), 0, "\xc2\xa0", "U+00A0 is not a control"},
    {S("\x9b" "31m"), 0, FFFD "31m", "a raw 8-bit CSI byte"},
    {S("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x80\xae"), 0,
     FFFD FFFD FFFD FFFD FFFD, "bidi embeddings and overrides U+202A..U+202E"},
    {S("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9"), 0, FFFD FFFD FFFD FFFD,
     "bidi isolates U+2066..U+2069"},
    {S("\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa"), 0,
     "\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa", "neighbours of the bidi ranges kept"},
    {S("\xe2\x80\x8e\xe2\x80\x8f"), 0, "\xe2\x80\x8e\xe2\x80\x8f", "LRM and RLM are marks, kept"},
    {S("evil\xe2\x80\xaetxt.exe"), 0, "evil" FFFD "txt.exe", "RLO filename trick"},
    {S("\xc0\xaf"), 0, FFFD FFFD, "overlong: one U+FFFD per byte"},
    {S("\xed\xa0\x80"), 0, FFFD FFFD FFFD, "surrogate"},
    {S("\xf4\x90\x80\x80"), 0, FFFD FFFD FFFD FFFD, "above U+10FFFF"},
    {S("ab\xe2\x98"), 0, "ab" FFFD FFFD, "truncated at the end"},
    {S("\xe2\x98x"), 0, FFFD FFFD "x", "truncated by ASCII"},
    {S("\xff\xfe"), 0, FFFD FFFD, "FF and FE"},
};

static void test_sanitize_cases(struct tap *t)
{
    for (size_t i = 0; i < COUNT(sanitize_cases); i++) {
        const struct sanitize_case *c = &sanitize_cases[i];
        char *got = pc_sanitize(c->in, c->len, c->keep_newlines);
        ok(t, got && strcmp(got, c->want) == 0, "sanitize: %s", c->desc);
        free(got);
    }
}

/* What no sanitized text may hold, whatever came in. */
static int safe_for_terminal(const char *s, int keep_newlines)
{
    size_t len = strlen(s), off = 0;

    while (off < len) {
        uint32_t cp;
        size_t n = pc_utf8_decode(s + off, len - off, &cp);
        if (cp == 0xFFFD && n == 1)
            return 0; /* malformed */
        if ((cp < 0x20 && !(cp == '\n' && keep_newlines)) || (cp >= 0x7F && cp <= 0x9F))
            return 0;
        if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
            return 0;
        off += n;
    }
    return 1;
}

static void test_sanitize_random(struct tap *t)
{
    char buf[128];
    long unsafe = 0, unstable = 0, failed = 0;

    for (int i = 0; i < 20000; i++) {
        size_t len = random_text(buf, sizeof(buf));
        int keep = (int)(rnd() % 2);
        char *once = pc_sanitize(buf, len, keep), *twice;
        if (once == NULL) {
            failed++;
            continue;
        }
        unsafe += !safe_for_terminal(once, keep);
        twice = pc_sanitize(once, strlen(once), keep);
        unstable += twice == NULL || strcmp(once, twice) != 0;
        free(once);
        free(twice);
    }
    ok(t, failed == 0 && unsafe == 0,
       "sanitize: 20000 random texts give valid UTF-8 without controls or bidi (%ld unsafe)",
       unsafe);
    ok(t, unstable == 0, "sanitize: sanitized text goes through unchanged (%ld changed)",
       unstable);
}

int main(void)
{
    struct tap t = {0};

    test_decode_cases(&t);
    test_decode_resync(&t);
    test_decode_sweep(&t);
    test_cp_width(&t);
    test_width_ranges(&t);
    test_str_width(&t);
    test_prefix_fit(&t);
    test_prefix_fit_random(&t);
    test_sanitize_cases(&t);
    test_sanitize_random(&t);
    return tap_done(&t);
}
