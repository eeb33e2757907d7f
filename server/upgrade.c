/* The pure checks of the upgrade request (upgrade.h), moved out of http.c
 * so they can be fuzzed and unit-tested without a running MHD. */
#include "upgrade.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* ---- origin (PROTOCOL.md 1.2) ------------------------------------------------ */

struct origin {
    char scheme[16];
    char host[256];
    unsigned port; /* 0: none given and no default for the scheme */
};

/* host[:port] or [v6][:port] from s (len bytes); host lower-cased, *port
 * set only when a port is given. */
static int parse_hostport(const char *s, size_t len, char *host, size_t hostlen, unsigned *port)
{
    const char *end = s + len, *h = s, *hend, *p = NULL;
    size_t hlen;
    unsigned v = 0;

    if (len > 0 && s[0] == '[') {
        hend = memchr(s, ']', len);
        if (hend == NULL)
            return -1;
        h = s + 1;
        if (hend + 1 < end) {
            if (hend[1] != ':')
                return -1;
            p = hend + 2;
        }
    } else {
        hend = memchr(s, ':', len);
        if (hend != NULL)
            p = hend + 1;
        else
            hend = end;
    }
    hlen = (size_t)(hend - h);
    if (hlen == 0 || hlen >= hostlen)
        return -1;
    for (size_t i = 0; i < hlen; i++)
        host[i] = (char)tolower((unsigned char)h[i]);
    host[hlen] = '\0';
    if (p == NULL)
        return 0;
    if (p == end)
        return -1;
    for (; p < end; p++)
        if (!isdigit((unsigned char)*p) || (v = v * 10 + (unsigned)(*p - '0')) > 65535)
            return -1;
    *port = v;
    return 0;
}

/* "scheme://host[:port]" (a trailing "/" tolerated); default ports filled in,
 * so "http://a" and "http://a:80" are the same origin. */
static int parse_origin(const char *s, size_t len, struct origin *o)
{
    const char *sep = NULL;
    size_t slen;

    for (size_t i = 0; i + 2 < len; i++) {
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            sep = s + i;
            break;
        }
    }
    if (sep == NULL || (slen = (size_t)(sep - s)) == 0 || slen >= sizeof(o->scheme))
        return -1;
    for (size_t i = 0; i < slen; i++)
        o->scheme[i] = (char)tolower((unsigned char)s[i]);
    o->scheme[slen] = '\0';
    s = sep + 3;
    len -= slen + 3;
    if (len > 0 && s[len - 1] == '/')
        len--;
    if (memchr(s, '/', len) != NULL || memchr(s, '@', len) != NULL)
        return -1;
    o->port = 0;
    if (strcmp(o->scheme, "http") == 0 || strcmp(o->scheme, "ws") == 0)
        o->port = 80;
    else if (strcmp(o->scheme, "https") == 0 || strcmp(o->scheme, "wss") == 0)
        o->port = 443;
    return parse_hostport(s, len, o->host, sizeof(o->host), &o->port);
}

static bool origin_listed(const char *list, const struct origin *o)
{
    const char *p = list;

    while (*p) {
        const char *end = strchr(p, ',');
        size_t len;
        struct origin e;

        if (end == NULL)
            end = p + strlen(p);
        while (p < end && isspace((unsigned char)*p))
            p++;
        len = (size_t)(end - p);
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
        if (len == 1 && p[0] == '*')
            return true;
        if (parse_origin(p, len, &e) == 0 && strcmp(e.scheme, o->scheme) == 0 &&
            strcmp(e.host, o->host) == 0 && e.port == o->port)
            return true;
        p = *end ? end + 1 : end;
    }
    return false;
}

const char *pd_origin_check(const char *origins, const char *origin, const char *host)
{
    struct origin o;
    char hhost[256];
    unsigned hport = 0;

    if (origin == NULL)
        return NULL; /* native clients send none */
    if (origins != NULL) {
        if (strcmp(origins, "*") == 0)
            return NULL;
        if (parse_origin(origin, strlen(origin), &o) != 0 || !origin_listed(origins, &o))
            return "is not on the allowed list";
        return NULL;
    }
    if (parse_origin(origin, strlen(origin), &o) != 0)
        return "is not a valid origin";
    if (host == NULL || parse_hostport(host, strlen(host), hhost, sizeof(hhost), &hport) != 0)
        return "cannot be compared: the request has no valid Host header";
    if (strcmp(o.host, hhost) != 0)
        return "does not match the Host of the request";
    return NULL;
}

/* ---- the request headers ------------------------------------------------------ */

bool pd_header_has_token(const char *value, const char *token)
{
    size_t tlen = strlen(token);

    while (value != NULL && *value) {
        const char *end;
        size_t len;

        while (*value == ' ' || *value == '\t' || *value == ',')
            value++;
        end = value;
        while (*end && *end != ',')
            end++;
        len = (size_t)(end - value);
        while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
            len--;
        if (len == tlen && strncasecmp(value, token, tlen) == 0)
            return true;
        value = end;
    }
    return false;
}

/* PROTOCOL.md 1.1: the header first, then the query parameter. */
const char *pd_token_from_request(const char *auth, const char *query_token)
{
    if (auth != NULL && strncasecmp(auth, "Bearer", 6) == 0 && (auth[6] == ' ' || auth[6] == '\t')) {
        auth += 7;
        while (*auth == ' ' || *auth == '\t')
            auth++;
        if (*auth)
            return auth;
    }
    return query_token;
}

enum pd_ws_req pd_ws_request_check(const char *upgrade, const char *connection,
                                   const char *version, const char *key,
                                   char accept[PD_WS_ACCEPT_LEN + 1])
{
    if (!pd_header_has_token(upgrade, "websocket") || !pd_header_has_token(connection, "upgrade"))
        return PD_WS_REQ_NOT_UPGRADE;
    if (version == NULL || strcmp(version, "13") != 0)
        return PD_WS_REQ_VERSION;
    if (pd_ws_accept_key(key, accept) != 0)
        return PD_WS_REQ_KEY;
    return PD_WS_REQ_OK;
}
