/* The client side of the RFC 6455 opening handshake over a connected
 * transport: the upgrade request, and a bounded, incremental read of the
 * response. */
#ifndef PL_HANDSHAKE_H
#define PL_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"
#include "url.h"

/* The response head we accept at most, and the error body we read at most. */
#define PL_HS_HEAD_MAX (16 * 1024)
#define PL_HS_BODY_MAX (16 * 1024)

struct pl_hs_result {
    int http_status;          /* 0 when no status line was read */
    char error_code[32];      /* from a JSON error body, else "" */
    char error_message[256];
    unsigned char *extra;     /* bytes after a 101 head: WebSocket data; caller frees */
    size_t extra_len;
};

/* Sends the upgrade for u (Authorization: Bearer token when token is not
 * NULL) and reads the answer before deadline. PARLEY_OK with res->extra set
 * after a valid 101; PARLEY_ERR_HANDSHAKE for any other answer or a bad
 * accept key; PARLEY_ERR_TIMEOUT; PARLEY_ERR_IO when the stream failed;
 * PARLEY_ERR_NOMEM. */
int pl_handshake(struct pl_transport *t, const struct pl_url *u, const char *token,
                 int64_t deadline, struct pl_hs_result *res);

/* ---- pure parsing, exposed for the fuzz targets ---- */

/* Length of the head (through the blank line) in buf, or 0 when the blank
 * line has not arrived yet. */
size_t pl_http_head_len(const char *buf, size_t len);
/* The status code of a head, or -1 when the status line is malformed. */
int pl_http_status(const char *head, size_t len);
/* Finds header name (case-insensitive) in head; sets *val and *vlen to its value
 * with surrounding whitespace trimmed. Returns 1 when found. */
int pl_http_header(const char *head, size_t len, const char *name, const char **val,
                   size_t *vlen);
/* Reads {"error":{"code","message"}} from a body into res. */
void pl_http_error_body(const char *body, size_t len, char *code, size_t code_size, char *msg,
                        size_t msg_size);

#endif
