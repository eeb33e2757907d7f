/* Terminal display width of UTF-8 text, and making untrusted text safe to
 * draw: parley-chat's layout measures everything in columns, never bytes. */
#ifndef PC_WIDTH_H
#define PC_WIDTH_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one code point of s[0..len) (len >= 1) into *cp and returns the
 * bytes it took (1..4). A malformed or truncated sequence, an overlong
 * form, a surrogate or a value above U+10FFFF gives U+FFFD and 1. */
size_t pc_utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Columns cp takes: 0 for combining marks, zero-width characters (ZWJ,
 * ZWNJ, variation selectors, U+200B...) and format characters; 2 for East
 * Asian Wide and Fullwidth characters and emoji presentation; 1 otherwise.
 * Control characters are never drawn (pc_sanitize replaces them) and count
 * 1. Unicode 15 tables of our own, so the result does not depend on the
 * locale, except that where glibc's wcwidth() draws a character wider
 * (the soft hyphen, the Arabic number signs, the hexagrams) its width is
 * taken, so text never runs past the edge the layout planned. */
int pc_cp_width(uint32_t cp);

/* Columns of s[0..len). */
int pc_str_width(const char *s, size_t len);

/* The longest prefix of s[0..len) that fits in cols columns without
 * splitting a character or separating a zero-width character from the
 * one before it: returns its length in bytes and writes its width to
 * *used (may be NULL). */
size_t pc_prefix_fit(const char *s, size_t len, int cols, int *used);

/* A malloc'd copy of s[0..len) that is safe to write to a terminal: valid
 * UTF-8 (malformed bytes become U+FFFD), a tab becomes one space, '\n' is
 * kept when keep_newlines (else a space), every other C0 or C1 control
 * character, DEL, and the bidirectional overrides and isolates
 * (U+202A..U+202E, U+2066..U+2069) become U+FFFD, so text from the network
 * can never move the cursor, change colours or reorder what is shown.
 * NULL when out of memory. */
char *pc_sanitize(const char *s, size_t len, int keep_newlines);

#endif
