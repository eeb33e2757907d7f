#include "handshake.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "clock.h"
#include "parley.h"
#include "version.h"
#include "wsproto.h"


/* ---- parsing ------------------------------------------------------------ */

size_t pl_http_head_len(const char *buf, size_t len)
{
    /* Accept bare LF line ends too: robust reading costs nothing here. */
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

int pl_http_status(const char *head, size_t len)
{
    int status = 0;

    if (len < 12 || strncmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ')
        return -1;
    for (size_t i = 9; i < 12; i++) {
        if (head[i] < '0' || head[i] > '9')
            return -1;
        status = status * 10 + (head[i] - '0');
    }
    if (len > 12 && head[12] != ' ' && head[12] != '\r' && head[12] != '\n')
        return -1;
    return status;
}

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

int pl_http_header(const char *head, size_t len, const char *name, const char **val,
                   size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *end = head + len;
    const char *line = memchr(head, '\n', len); /* skip the status line */

    while (line && line + 1 < end) {
        const char *ls = line + 1;
        const char *le = memchr(ls, '\n', (size_t)(end - ls));
        const char *ve;

        if (!le)
            le = end;
        line = le < end ? le : NULL;
        ve = le;
        if (ve > ls && ve[-1] == '\r')
            ve--;
        if ((size_t)(ve - ls) <= nlen || ls[nlen] != ':' || strncasecmp(ls, name, nlen) != 0)
            continue;
        ls += nlen + 1;
        while (ls < ve && is_ows(*ls))
            ls++;
        while (ve > ls && is_ows(ve[-1]))
            ve--;
        *val = ls;
        *vlen = (size_t)(ve - ls);
        return 1;
    }
    return 0;
}

/* Does a comma-separated header value contain token (case-insensitive)? */
static int has_token(const char *v, size_t n, const char *token)
{
    size_t tlen = strlen(token);
    size_t i = 0;

    while (i < n) {
        size_t s, e;
        while (i < n && (is_ows(v[i]) || v[i] == ','))
            i++;
        s = i;
        while (i < n && v[i] != ',')
            i++;
        e = i;
        while (e > s && is_ows(v[e - 1]))
            e--;
        if (e - s == tlen && strncasecmp(v + s, token, tlen) == 0)
            return 1;
    }
    return 0;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void pl_http_error_body(const char *body, size_t len, char *code, size_t code_size, char *msg,
                        size_t msg_size)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    cJSON *c = cJSON_GetObjectItemCaseSensitive(err, "code");
    cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");

    code[0] = msg[0] = '\0';
    if (cJSON_IsString(c))
        copy_str(code, code_size, c->valuestring);
    if (cJSON_IsString(m))
        copy_str(msg, msg_size, m->valuestring);
    cJSON_Delete(root);
}

/* Has the whole chunked body (through its last, empty chunk) arrived? */
static int chunked_complete(const char *buf, size_t len)
{
    size_t in = 0;

    for (;;) {
        const char *eol = memchr(buf + in, '\n', len - in);
        unsigned long sz = 0;
        size_t i = in;

        if (!eol)
            return 0;
        while (i < len) {
            char ch = buf[i];
            int d = (ch >= '0' && ch <= '9')   ? ch - '0'
                    : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
                    : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                               : -1;
            if (d < 0)
                break;
            if (sz > PL_HS_BODY_MAX)
                return 1; /* absurd size: stop waiting, the parse will fail */
            sz = sz * 16 + (unsigned long)d;
            i++;
        }
        if (i == in)
            return 1; /* malformed: nothing more to wait for */
        in = (size_t)(eol - buf) + 1;
        if (sz == 0)
            return 1;
        if (sz + 2 > len - in)
            return 0;
        in += sz + 2;
    }
}

/* Decodes a chunked body in place; returns the decoded length, or -1 while
 * it is incomplete or malformed. */
static long dechunk(char *buf, size_t len)
{
    size_t in = 0, out = 0;

    for (;;) {
        char *eol;
        unsigned long sz;
        char *endp;

        eol = memchr(buf + in, '\n', len - in);
        if (!eol)
            return -1;
        sz = strtoul(buf + in, &endp, 16);
        if (endp == buf + in)
            return -1;
        in = (size_t)(eol - buf) + 1;
        if (sz == 0)
            return (long)out;
        if (sz > len - in)
            return -1;
        memmove(buf + out, buf + in, sz);
        out += sz;
        in += sz;
        if (in < len && buf[in] == '\r')
            in++;
        if (in < len && buf[in] == '\n')
            in++;
    }
}

/* ---- I/O ---------------------------------------------------------------- */

static int write_all(struct pl_transport *t, const char *buf, size_t len, int64_t deadline)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = pl_tr_write(t, buf + off, len - off, 0);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return PARLEY_ERR_IO;
        int rev = pl_poll_fd(t->fd, POLLOUT | t->need_events, deadline);
        if (rev == 0)
            return PARLEY_ERR_TIMEOUT;
        if (rev < 0)
            return PARLEY_ERR_IO;
    }
    return PARLEY_OK;
}

/* Appends what is there to buf (up to cap); PARLEY_OK with *eof set at end
 * of stream, PARLEY_ERR_TIMEOUT at the deadline. */
static int read_some(struct pl_transport *t, char *buf, size_t *len, size_t cap,
                     int64_t deadline, int *eof)
{
    for (;;) {
        ssize_t n = pl_tr_read(t, buf + *len, cap - *len);
        if (n > 0) {
            *len += (size_t)n;
            return PARLEY_OK;
        }
        if (n == 0) {
            *eof = 1;
            return PARLEY_OK;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return PARLEY_ERR_IO;
        int rev = pl_poll_fd(t->fd, POLLIN | t->need_events, deadline);
        if (rev == 0)
            return PARLEY_ERR_TIMEOUT;
        if (rev < 0)
            return PARLEY_ERR_IO;
    }
}

static int build_request(const struct pl_url *u, const char *token, const char *key,
                         char **out, size_t *outlen)
{
    char hostport[PL_URL_HOST_MAX + 16];
    size_t cap;
    int n;
    char *req;

    if (pl_url_host_port(u, hostport, sizeof(hostport)) != PARLEY_OK)
        return PARLEY_ERR_INVAL;
    cap = 512 + strlen(u->path) + strlen(hostport) + (token ? strlen(token) : 0);
    req = malloc(cap);
    if (!req)
        return PARLEY_ERR_NOMEM;
    n = snprintf(req, cap,
                 "GET %s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "%s%s%s"
                 "User-Agent: " PL_USER_AGENT "\r\n"
                 "\r\n",
                 u->path, hostport, key, token ? "Authorization: Bearer " : "",
                 token ? token : "", token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= cap) {
        free(req);
        return PARLEY_ERR_INVAL;
    }
    *out = req;
    *outlen = (size_t)n;
    return PARLEY_OK;
}

/* After a refusal: read the body (bounded in size and time) and pick the
 * protocol error out of it. Best effort: a missing body is not an error. */
static void read_error_body(struct pl_transport *t, char *buf, size_t head_len, size_t len,
                            size_t cap, int64_t deadline, struct pl_hs_result *res)
{
    const char *v;
    size_t vlen;
    long want = -1;
    int chunked = 0, eof = 0;
    /* The server answers an error at once; do not wait out a long connect
     * timeout on a peer that keeps the connection open without a length. */
    int64_t soon = pd_mono_ms() + 1000;

    if (deadline < 0 || deadline > soon)
        deadline = soon;
    if (pl_http_header(buf, head_len, "Content-Length", &v, &vlen)) {
        want = 0;
        for (size_t i = 0; i < vlen && v[i] >= '0' && v[i] <= '9' && want <= PL_HS_BODY_MAX; i++)
            want = want * 10 + (v[i] - '0');
        if (want > PL_HS_BODY_MAX)
            want = PL_HS_BODY_MAX;
    } else if (pl_http_header(buf, head_len, "Transfer-Encoding", &v, &vlen) &&
               has_token(v, vlen, "chunked")) {
        chunked = 1;
    }
    for (;;) {
        size_t have = len - head_len;
        if (want >= 0 && have >= (size_t)want)
            break;
        if (chunked && chunked_complete(buf + head_len, have))
            break;
        if (eof || len >= cap)
            break;
        if (read_some(t, buf, &len, cap, deadline, &eof) != PARLEY_OK)
            break;
    }
    {
        size_t blen = len - head_len;
        if (want >= 0 && blen > (size_t)want)
            blen = (size_t)want;
        if (chunked) {
            long d = dechunk(buf + head_len, blen);
            blen = d < 0 ? 0 : (size_t)d;
        }
        pl_http_error_body(buf + head_len, blen, res->error_code, sizeof(res->error_code),
                           res->error_message, sizeof(res->error_message));
    }
}

int pl_handshake(struct pl_transport *t, const struct pl_url *u, const char *token,
                 int64_t deadline, struct pl_hs_result *res)
{
    unsigned char nonce[16];
    char key[32], expect[PD_WS_ACCEPT_LEN + 1];
    char *req = NULL, *buf = NULL;
    size_t reqlen = 0, len = 0, head_len = 0;
    const size_t cap = PL_HS_HEAD_MAX + PL_HS_BODY_MAX;
    const char *v;
    size_t vlen;
    int rc, eof = 0;

    memset(res, 0, sizeof(*res));
    if (RAND_bytes(nonce, sizeof(nonce)) != 1)
        return PARLEY_ERR_IO;
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
    if (pd_ws_accept_key(key, expect) != 0)
        return PARLEY_ERR_HANDSHAKE;
    rc = build_request(u, token, key, &req, &reqlen);
    if (rc != PARLEY_OK)
        return rc;
    rc = write_all(t, req, reqlen, deadline);
    free(req);
    if (rc != PARLEY_OK)
        return rc;

    buf = malloc(cap + 1);
    if (!buf)
        return PARLEY_ERR_NOMEM;
    /* Read until the blank line; whatever follows it is already WebSocket
     * data (a server may send its first frame with the 101). */
    while ((head_len = pl_http_head_len(buf, len)) == 0) {
        if (len >= PL_HS_HEAD_MAX) {
            rc = PARLEY_ERR_HANDSHAKE;
            goto out;
        }
        rc = read_some(t, buf, &len, cap, deadline, &eof);
        if (rc != PARLEY_OK)
            goto out;
        if (eof) {
            res->http_status = pl_http_status(buf, len) > 0 ? pl_http_status(buf, len) : 0;
            rc = PARLEY_ERR_HANDSHAKE;
            goto out;
        }
    }
    if (head_len > PL_HS_HEAD_MAX) {
        rc = PARLEY_ERR_HANDSHAKE;
        goto out;
    }
    buf[len] = '\0';
    res->http_status = pl_http_status(buf, head_len);
    if (res->http_status < 0) {
        res->http_status = 0;
        rc = PARLEY_ERR_HANDSHAKE;
        goto out;
    }
    if (res->http_status != 101) {
        read_error_body(t, buf, head_len, len, cap, deadline, res);
        rc = PARLEY_ERR_HANDSHAKE;
        goto out;
    }
    rc = PARLEY_ERR_HANDSHAKE;
    if (!pl_http_header(buf, head_len, "Upgrade", &v, &vlen) || !has_token(v, vlen, "websocket"))
        goto out;
    if (!pl_http_header(buf, head_len, "Connection", &v, &vlen) || !has_token(v, vlen, "upgrade"))
        goto out;
    if (!pl_http_header(buf, head_len, "Sec-WebSocket-Accept", &v, &vlen) ||
        vlen != PD_WS_ACCEPT_LEN || memcmp(v, expect, PD_WS_ACCEPT_LEN) != 0)
        goto out;
    /* We offered no extension and no subprotocol, so none may be chosen. */
    if (pl_http_header(buf, head_len, "Sec-WebSocket-Extensions", &v, &vlen) && vlen > 0)
        goto out;
    if (pl_http_header(buf, head_len, "Sec-WebSocket-Protocol", &v, &vlen) && vlen > 0)
        goto out;
    if (len > head_len) {
        res->extra = malloc(len - head_len);
        if (!res->extra) {
            rc = PARLEY_ERR_NOMEM;
            goto out;
        }
        memcpy(res->extra, buf + head_len, len - head_len);
        res->extra_len = len - head_len;
    }
    rc = PARLEY_OK;
out:
    free(buf);
    return rc;
}
