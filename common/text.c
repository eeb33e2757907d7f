#include "text.h"

#include <string.h>

/* Decode one code point at s[0..len); returns its length in bytes, or 0 when
 * the sequence is not valid UTF-8. */
static size_t utf8_step(const uint8_t *s, size_t len)
{
    uint8_t c = s[0];
    uint32_t cp;
    size_t n;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

long pd_utf8_chars(const void *buf, size_t len)
{
    const uint8_t *s = buf;
    long chars = 0;

    while (len > 0) {
        size_t n = utf8_step(s, len);
        if (n == 0)
            return -1;
        s += n;
        len -= n;
        chars++;
    }
    return chars;
}

size_t pd_utf8_valid_prefix(const void *buf, size_t len)
{
    const uint8_t *s = buf;
    size_t off = 0;

    while (off < len) {
        size_t n = utf8_step(s + off, len - off);
        if (n == 0)
            break;
        off += n;
    }
    return off;
}

bool pd_utf8_valid(const void *s, size_t len)
{
    return pd_utf8_chars(s, len) >= 0;
}

static bool valid_name(const char *s, const char *extra)
{
    size_t n;

    if (s == NULL)
        return false;
    n = strlen(s);
    if (n < 1 || n > PD_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (strchr(extra, c) == NULL)
            return false;
    }
    return true;
}

bool pd_valid_user_id(const char *s) { return valid_name(s, "_.@-"); }
bool pd_valid_room_name(const char *s) { return valid_name(s, "_.:-"); }

size_t pd_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
