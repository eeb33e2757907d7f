/* libFuzzer target: the checks of the WebSocket upgrade request
 * (server/upgrade.c): the origin rule against an allowlist or the Host
 * header, the Upgrade/Connection/Sec-WebSocket-Version/-Key headers, and
 * where the token comes from (Authorization: Bearer, else ?token=).
 *
 * Input: two bytes saying which fields are present (bit i of the
 * little-endian 16-bit value: field i; an absent field is a missing header,
 * NULL), then the fields separated by '\n', in this order:
 *   0 origins setting   1 Origin   2 Host   3 Authorization   4 ?token=
 *   5 Upgrade   6 Connection   7 Sec-WebSocket-Version   8 Sec-WebSocket-Key
 *
 * Oracles besides the sanitizers: the token returned points into one of
 * the two places it may come from; with no Origin, or origins "*", any
 * request passes; an origin that the same-host rule calls valid is always
 * allowed by an allowlist naming exactly it; a header value equal to the
 * token has the token; an accepted key yields a 28-character accept. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upgrade.h"

#define NFIELDS 9

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz upgrade: %s\n", what);
        abort();
    }
}

static int has_space_or_comma(const char *s)
{
    size_t n = strlen(s);

    return strchr(s, ',') != NULL || (n > 0 && (isspace((unsigned char)s[0]) ||
                                                isspace((unsigned char)s[n - 1])));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[NFIELDS] = {0};
    const char *tok, *why;
    char accept[PD_WS_ACCEPT_LEN + 1];
    size_t off = 2;
    unsigned present;

    if (size < 2)
        return 0;
    present = data[0] | (unsigned)data[1] << 8;
    for (int i = 0; i < NFIELDS; i++) {
        const uint8_t *p = data + off, *nl;
        size_t len;

        if (off > size)
            p = data + size;
        len = off <= size ? size - off : 0;
        nl = memchr(p, '\n', len);
        if (nl != NULL)
            len = (size_t)(nl - p);
        if (present & (1u << i)) {
            f[i] = malloc(len + 1);
            if (f[i] == NULL)
                abort();
            memcpy(f[i], p, len);
            f[i][len] = '\0';
        }
        off += len + 1;
    }

    /* Origin. */
    why = pd_origin_check(f[0], f[1], f[2]);
    check(why == pd_origin_check(f[0], f[1], f[2]), "origin check not deterministic");
    if (f[1] == NULL)
        check(why == NULL, "a request without Origin refused");
    if (f[0] != NULL && strcmp(f[0], "*") == 0)
        check(why == NULL, "origins '*' refused an origin");
    if (f[1] != NULL && !has_space_or_comma(f[1]) && strcmp(f[1], "*") != 0) {
        const char *same = pd_origin_check(NULL, f[1], "example.org");
        bool valid = same == NULL || strcmp(same, "is not a valid origin") != 0;
        if (valid)
            check(pd_origin_check(f[1], f[1], f[2]) == NULL,
                  "a valid origin is refused by an allowlist naming exactly it");
        else
            check(pd_origin_check(f[1], f[1], f[2]) != NULL,
                  "an invalid origin is accepted by an allowlist naming it");
    }

    /* Token. */
    tok = pd_token_from_request(f[3], f[4]);
    if (tok != NULL)
        check(tok == f[4] || (f[3] != NULL && tok > f[3] && tok < f[3] + strlen(f[3])),
              "token points outside the request");
    if (f[3] == NULL)
        check(tok == f[4], "without Authorization the token is not ?token=");

    /* The RFC 6455 headers. */
    switch (pd_ws_request_check(f[5], f[6], f[7], f[8], accept)) {
    case PD_WS_REQ_OK:
        check(strlen(accept) == PD_WS_ACCEPT_LEN, "accept key of the wrong length");
        check(f[7] != NULL && strcmp(f[7], "13") == 0, "version other than 13 accepted");
        break;
    case PD_WS_REQ_NOT_UPGRADE:
    case PD_WS_REQ_VERSION:
    case PD_WS_REQ_KEY:
        break;
    }
    if (f[5] != NULL)
        check(pd_header_has_token(f[5], f[5]) || strchr(f[5], ',') != NULL ||
                  f[5][0] == ' ' || f[5][0] == '\t' || f[5][0] == '\0' ||
                  f[5][strlen(f[5]) - 1] == ' ' || f[5][strlen(f[5]) - 1] == '\t',
              "a header value does not have itself as a token");

    for (int i = 0; i < NFIELDS; i++)
        free(f[i]);
    return 0;
}
