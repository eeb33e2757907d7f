/* base64url without padding. */
#include "b64url.h"

#include <stdlib.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *b64url_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = malloc(len / 3 * 4 + 4 + 1), *q = out;
    size_t i = 0;

    if (!out)
        return NULL;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *q++ = alphabet[v >> 18 & 63];
        *q++ = alphabet[v >> 12 & 63];
        *q++ = alphabet[v >> 6 & 63];
        *q++ = alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        *q++ = alphabet[v >> 18 & 63];
        *q++ = alphabet[v >> 12 & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        *q++ = alphabet[v >> 18 & 63];
        *q++ = alphabet[v >> 12 & 63];
        *q++ = alphabet[v >> 6 & 63];
    }
    *q = '\0';
    return out;
}

static int value_of(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

unsigned char *b64url_decode(const char *s, size_t len, size_t *out_len)
{
    unsigned char *out, *q;
    unsigned acc = 0;
    int bits = 0;

    while (len > 0 && s[len - 1] == '=')
        len--;
    /* One leftover character carries only 6 bits: never a whole byte. */
    if (len % 4 == 1)
        return NULL;
    out = malloc(len / 4 * 3 + 3 + 1);
    if (!out)
        return NULL;
    q = out;
    for (size_t i = 0; i < len; i++) {
        int v = value_of(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *q++ = (unsigned char)(acc >> bits & 0xff);
        }
    }
    *q = '\0';
    *out_len = (size_t)(q - out);
    return out;
}
