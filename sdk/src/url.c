#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parley.h"

/* A request target goes verbatim into the HTTP request line, so anything
 * that could split the line or the header (controls, space) is refused. */
static int path_char_ok(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f;
}

static int host_char_ok(unsigned char ch, int ipv6)
{
    if (ipv6)
        return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
               ch == ':' || ch == '.';
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           ch == '-' || ch == '.' || ch == '_';
}

static int parse_port(const char *s, size_t n, int *port)
{
    long v = 0;

    if (n == 0 || n > 5)
        return PARLEY_ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return PARLEY_ERR_INVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return PARLEY_ERR_INVAL;
    *port = (int)v;
    return PARLEY_OK;
}

int pl_url_parse(const char *url, struct pl_url *out)
{
    static const struct {
        const char *prefix;
        int secure, http;
    } schemes[] = {
        {"http://", 0, 1}, {"ws://", 0, 0}, {"https://", 1, 1}, {"wss://", 1, 0},
    };
    const char *p = NULL, *host, *host_end, *path;
    int http = 0;
    size_t hlen;

    if (!url || !out)
        return PARLEY_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i].prefix);
        if (strncasecmp(url, schemes[i].prefix, n) == 0) {
            p = url + n;
            out->secure = schemes[i].secure;
            http = schemes[i].http;
            break;
        }
    }
    if (!p)
        return PARLEY_ERR_INVAL;

    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end)
            return PARLEY_ERR_INVAL;
        out->ipv6 = 1;
        p = host_end + 1;
    } else {
        host = p;
        host_end = host + strcspn(host, ":/?#");
        p = host_end;
    }
    hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof(out->host))
        return PARLEY_ERR_INVAL;
    for (size_t i = 0; i < hlen; i++)
        if (!host_char_ok((unsigned char)host[i], out->ipv6))
            return PARLEY_ERR_INVAL;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';

    out->port = out->secure ? 443 : 80;
    if (*p == ':') {
        const char *ps = p + 1;
        size_t n = strcspn(ps, "/?#");
        if (parse_port(ps, n, &out->port) != PARLEY_OK)
            return PARLEY_ERR_INVAL;
        p = ps + n;
    }
    if (*p != '\0' && *p != '/' && *p != '?')
        return PARLEY_ERR_INVAL;

    /* The fragment never goes on the wire. */
    path = p;
    hlen = strcspn(path, "#");
    for (size_t i = 0; i < hlen; i++)
        if (!path_char_ok((unsigned char)path[i]))
            return PARLEY_ERR_INVAL;
    /* An http URL names the server, not the socket: the WebSocket is on /ws.
     * A ws URL with no path means /ws too. A bare query keeps its query. */
    if (hlen == 0 || (path[0] == '/' && hlen == 1) || (http && path[0] == '/')) {
        const char *query = memchr(path, '?', hlen);
        size_t qlen = query ? hlen - (size_t)(query - path) : 0;
        if (4 + qlen >= sizeof(out->path))
            return PARLEY_ERR_INVAL;
        memcpy(out->path, "/ws", 3);
        memcpy(out->path + 3, query ? query : "", qlen);
        out->path[3 + qlen] = '\0';
    } else if (path[0] == '?') {
        if (3 + hlen >= sizeof(out->path))
            return PARLEY_ERR_INVAL;
        memcpy(out->path, "/ws", 3);
        memcpy(out->path + 3, path, hlen);
        out->path[3 + hlen] = '\0';
    } else {
        if (hlen >= sizeof(out->path))
            return PARLEY_ERR_INVAL;
        memcpy(out->path, path, hlen);
        out->path[hlen] = '\0';
    }
    return PARLEY_OK;
}

int pl_url_host_port(const struct pl_url *u, char *buf, size_t size)
{
    int n = snprintf(buf, size, u->ipv6 ? "[%s]:%d" : "%s:%d", u->host, u->port);
    return (n < 0 || (size_t)n >= size) ? PARLEY_ERR_INVAL : PARLEY_OK;
}

int pl_url_http_base(const struct pl_url *u, char *buf, size_t size)
{
    char hp[PL_URL_HOST_MAX + 16];
    int n;

    if (pl_url_host_port(u, hp, sizeof(hp)) != PARLEY_OK)
        return PARLEY_ERR_INVAL;
    n = snprintf(buf, size, "%s://%s", u->secure ? "https" : "http", hp);
    return (n < 0 || (size_t)n >= size) ? PARLEY_ERR_INVAL : PARLEY_OK;
}
