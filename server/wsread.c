/* The client-to-server frame reader (wsread.h).
 *
 * A frame goes through three phases: its header is collected (up to 14
 * bytes, kept in r->hdr so a header split across feeds costs nothing
 * extra); once complete, the frame "begins" when its first payload byte is
 * there (or at once when the payload is empty), which is where the
 * message-level checks run, as in wslay; then its payload is unmasked in
 * place, checked, and delivered or copied chunk by chunk. */
#include "wsread.h"

#include <stdlib.h>
#include <string.h>

enum phase {
    P_HEADER,  /* collecting the header */
    P_BEGIN,   /* header complete, the message-level checks not yet run */
    P_PAYLOAD, /* reading the payload */
    P_STOPPED, /* after a close frame or an error */
};

/* Why the reader stopped: r->err indexes errors[]. */
enum err {
    E_NONE,
    E_UNMASKED,
    E_RSV,
    E_OPCODE,
    E_CONT,
    E_INTERLEAVED,
    E_CONTROL,
    E_LENGTH,
    E_CLOSE_SHORT,
    E_CLOSE_CODE,
    E_UTF8,
    E_CLOSE_UTF8,
    E_TOO_BIG,
    E_NOMEM,
};

static const struct {
    uint16_t code;
    const char *reason;
} errors[] = {
    [E_NONE] = {0, ""},
    [E_UNMASKED] = {1002, "client frames must be masked"},
    [E_RSV] = {1002, "reserved bits set"},
    [E_OPCODE] = {1002, "unknown opcode"},
    [E_CONT] = {1002, "continuation frame without a message begun"},
    [E_INTERLEAVED] = {1002, "new data frame inside a fragmented message"},
    [E_CONTROL] = {1002, "control frame fragmented or over 125 bytes"},
    [E_LENGTH] = {1002, "frame length not in its shortest form or too large"},
    [E_CLOSE_SHORT] = {1002, "close frame with a 1-byte payload"},
    [E_CLOSE_CODE] = {1002, "invalid close code"},
    [E_UTF8] = {1007, "invalid UTF-8 in a text message"},
    [E_CLOSE_UTF8] = {1007, "invalid UTF-8 in the close reason"},
    [E_TOO_BIG] = {1009, "message over the size limit"},
    [E_NOMEM] = {1011, "out of memory"},
};

/* ---- UTF-8 -------------------------------------------------------------------
 * A byte-at-a-time automaton for strict UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). The state says how many
 * continuation bytes are still due and, after a lead byte with a narrowed
 * range, which range the next one must be in; it fails at the first byte
 * that no valid text could contain. */
enum utf8_state {
    U_ACCEPT, /* between characters */
    U_1,      /* 1, 2, 3 continuation bytes (80-BF) due: U_N - 1 after one */
    U_2,
    U_3,
    U_E0, /* E0: A0-BF next (no overlong), then 1 */
    U_ED, /* ED: 80-9F next (no surrogate), then 1 */
    U_F0, /* F0: 90-BF next (no overlong), then 2 */
    U_F4, /* F4: 80-8F next (nothing above U+10FFFF), then 2 */
    U_REJECT,
};

static uint8_t utf8_lead(uint8_t b)
{
    if (b < 0x80)
        return U_ACCEPT;
    if (b < 0xC2) /* a continuation byte, or an overlong 2-byte lead */
        return U_REJECT;
    if (b < 0xE0)
        return U_1;
    if (b == 0xE0)
        return U_E0;
    if (b == 0xED)
        return U_ED;
    if (b < 0xF0)
        return U_2;
    if (b == 0xF0)
        return U_F0;
    if (b < 0xF4)
        return U_3;
    if (b == 0xF4)
        return U_F4;
    return U_REJECT;
}

static uint8_t utf8_step(uint8_t s, uint8_t b)
{
    switch (s) {
    case U_ACCEPT:
        return utf8_lead(b);
    case U_1:
    case U_2:
    case U_3:
        return (b & 0xC0) == 0x80 ? s - 1 : U_REJECT;
    case U_E0:
        return b >= 0xA0 && b <= 0xBF ? U_1 : U_REJECT;
    case U_ED:
        return b >= 0x80 && b <= 0x9F ? U_1 : U_REJECT;
    case U_F0:
        return b >= 0x90 && b <= 0xBF ? U_2 : U_REJECT;
    case U_F4:
        return b >= 0x80 && b <= 0x8F ? U_2 : U_REJECT;
    default:
        return U_REJECT;
    }
}

/* Runs the automaton over p from *state; ASCII between characters goes 8
 * bytes at a time (most of what clients send is JSON in ASCII). Returns
 * how many bytes it took: n, or up to the first bad one (*state is then
 * U_REJECT). */
static size_t utf8_run(uint8_t *state, const uint8_t *p, size_t n)
{
    uint8_t s = *state;
    size_t i = 0;

    while (i < n && s != U_REJECT) {
        if (s == U_ACCEPT) {
            uint64_t w;
            while (i + 8 <= n && (memcpy(&w, p + i, 8), (w & 0x8080808080808080ull) == 0))
                i += 8;
            if (i == n)
                break;
        }
        s = utf8_step(s, p[i++]);
    }
    *state = s;
    return i;
}

/* ---- frames ------------------------------------------------------------------ */

static unsigned hdr_opcode(const struct pd_wsread *r)
{
    return r->hdr[0] & 0x0F;
}

static bool hdr_fin(const struct pd_wsread *r)
{
    return r->hdr[0] & 0x80;
}

static bool hdr_masked(const struct pd_wsread *r)
{
    return r->hdr[1] & 0x80;
}

static bool is_control(unsigned opcode)
{
    return opcode & 0x8;
}

/* Bytes of extended length after the first two: 0, 2 or 8. */
static unsigned hdr_ext(const struct pd_wsread *r)
{
    unsigned n = r->hdr[1] & 0x7F;

    return n == 126 ? 2 : n == 127 ? 8 : 0;
}

static unsigned hdr_size(const struct pd_wsread *r)
{
    return 2 + hdr_ext(r) + (hdr_masked(r) ? 4 : 0);
}

static void msg_reset(struct pd_wsread *r)
{
    free(r->msg);
    r->msg = NULL;
    r->msg_len = r->msg_cap = 0;
    r->msg_total = 0;
    r->msg_op = 0;
    r->utf8 = U_ACCEPT;
}

/* Nothing more will be read: a message in progress is dropped. */
static void halt(struct pd_wsread *r)
{
    msg_reset(r);
    r->phase = P_STOPPED;
}

static size_t stop(struct pd_wsread *r, enum err e, size_t used)
{
    r->err = (uint8_t)e;
    halt(r);
    return used;
}

/* The checks wslay's framing layer made on the first two bytes and on the
 * extended length, as soon as they are in. Returns E_NONE or the error. */
static enum err check_start(const struct pd_wsread *r)
{
    if (is_control(hdr_opcode(r)) && ((r->hdr[1] & 0x7F) > 125 || !hdr_fin(r)))
        return E_CONTROL;
    return E_NONE;
}

static enum err check_length(struct pd_wsread *r)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < hdr_ext(r); i++)
        n = n << 8 | r->hdr[2 + i];
    /* Shortest form only (as wslay 1.1.1), and 63 bits (RFC 6455 5.2). */
    if (hdr_ext(r) == 2 ? n < 126 : n < 65536 || n >> 63)
        return E_LENGTH;
    r->plen = n;
    return E_NONE;
}

/* Collects header bytes from p; returns how many it took. On return the
 * phase is P_HEADER (more needed), P_BEGIN or P_STOPPED. */
static size_t read_header(struct pd_wsread *r, const uint8_t *p, size_t n)
{
    size_t used = 0;

    for (;;) {
        /* The next checkpoint: 2 bytes, then the extended length, then all. */
        unsigned ext = r->hlen < 2 ? 0 : hdr_ext(r);
        unsigned want = r->hlen < 2 ? 2 : r->hlen < 2 + ext ? 2 + ext : hdr_size(r);
        size_t k = want - r->hlen;
        enum err e = E_NONE;

        if (k > n - used)
            k = n - used;
        memcpy(r->hdr + r->hlen, p + used, k);
        r->hlen += (uint8_t)k;
        used += k;
        if (r->hlen < want)
            return used;
        if (want == 2) {
            e = check_start(r);
            r->plen = r->hdr[1] & 0x7F;
        } else if (ext > 0 && want == 2 + ext) {
            e = check_length(r);
        }
        if (e != E_NONE)
            return stop(r, e, used);
        if (r->hlen == hdr_size(r)) {
            r->poff = 0;
            r->phase = P_BEGIN;
            return used;
        }
    }
}

static bool valid_close_code(unsigned code)
{
    return (code >= 1000 && code <= 1011 && code != 1004 && code != 1005 && code != 1006) ||
           (code >= 3000 && code <= 4999);
}

/* The message-level checks, in wslay's order, once the frame begins.
 * left: bytes available in the buffer being fed, from the payload's start. */
static enum err begin_frame(struct pd_wsread *r, size_t left)
{
    unsigned op = hdr_opcode(r);
    uint64_t total;

    if (r->hdr[0] & 0x70)
        return E_RSV;
    if (!hdr_masked(r))
        return E_UNMASKED;
    if (r->msg_op == 0) {
        if (op == PD_WS_CONT)
            return E_CONT;
        if (op != PD_WS_TEXT && op != PD_WS_BINARY && op != PD_WS_CLOSE && op != PD_WS_PING &&
            op != PD_WS_PONG)
            return E_OPCODE;
    } else if (op != PD_WS_CONT && op != PD_WS_CLOSE && op != PD_WS_PING && op != PD_WS_PONG) {
        /* wslay says so for an unknown opcode here too: same code. */
        return op == PD_WS_TEXT || op == PD_WS_BINARY ? E_INTERLEAVED : E_OPCODE;
    }
    total = is_control(op) ? r->plen : r->msg_total + r->plen;
    if (total > r->max)
        return E_TOO_BIG;
    if (is_control(op)) {
        r->ctl_utf8 = U_ACCEPT;
        r->fast = 0;
        return E_NONE;
    }
    if (op != PD_WS_CONT)
        r->msg_op = (uint8_t)op;
    r->msg_total = total;
    /* Zero copy: a whole message in one frame, all of it in this buffer. */
    r->fast = op != PD_WS_CONT && hdr_fin(r) && left >= r->plen;
    return E_NONE;
}

/* XOR with the mask key, continuing at payload offset off; 8 bytes at a
 * time (a multiple of 4 keeps the key's phase). */
static void unmask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t off)
{
    uint8_t k[8];
    uint64_t k8;
    size_t i = 0;

    for (int j = 0; j < 8; j++)
        k[j] = key[(off + (unsigned)j) & 3];
    memcpy(&k8, k, 8);
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k8;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++)
        p[i] ^= k[i & 3];
}

/* Appends to the message being assembled. The buffer grows by doubling,
 * never past what the frames so far announced (at most max). */
static int msg_append(struct pd_wsread *r, const uint8_t *p, size_t n)
{
    size_t need = r->msg_len + n;

    if (need > r->msg_cap) {
        size_t ncap = r->msg_cap ? r->msg_cap * 2 : 256;
        uint8_t *m;

        if (ncap > r->msg_total)
            ncap = (size_t)r->msg_total;
        if (ncap < need)
            ncap = need;
        m = realloc(r->msg, ncap);
        if (m == NULL)
            return -1;
        r->msg = m;
        r->msg_cap = ncap;
    }
    memcpy(r->msg + r->msg_len, p, n);
    r->msg_len = need;
    return 0;
}

/* One chunk of payload (*n bytes at p, *n > 0): unmasked in place,
 * checked, and copied unless the frame is on the fast path. On an error
 * *n is cut to the bytes used, the bad one included. */
static enum err read_payload(struct pd_wsread *r, uint8_t *p, size_t *n)
{
    unsigned op = hdr_opcode(r);

    unmask(p, *n, r->hdr + r->hlen - 4, r->poff);
    if (is_control(op)) {
        if (op == PD_WS_CLOSE) {
            /* The reason is what follows the 2-byte code. */
            size_t skip = r->poff < 2 ? 2 - (size_t)r->poff : 0;
            if (skip < *n) {
                size_t k = utf8_run(&r->ctl_utf8, p + skip, *n - skip);
                if (r->ctl_utf8 == U_REJECT) {
                    *n = skip + k;
                    return E_CLOSE_UTF8;
                }
            }
        }
        memcpy(r->ctl + r->poff, p, *n);
    } else {
        if (r->msg_op == PD_WS_TEXT) {
            size_t k = utf8_run(&r->utf8, p, *n);
            if (r->utf8 == U_REJECT) {
                *n = k;
                return E_UTF8;
            }
        }
        if (!r->fast && msg_append(r, p, *n) != 0)
            return E_NOMEM;
    }
    r->poff += *n;
    return E_NONE;
}

static enum err end_close(struct pd_wsread *r, const struct pd_wsread_cb *cb, void *arg)
{
    unsigned code;

    if (r->plen == 0) {
        halt(r);
        if (cb->close)
            cb->close(arg, PD_WS_NO_STATUS, (const uint8_t *)"", 0);
        return E_NONE;
    }
    if (r->plen == 1)
        return E_CLOSE_SHORT;
    /* wslay's order: the reason's UTF-8 first, then the code. */
    if (r->ctl_utf8 != U_ACCEPT)
        return E_CLOSE_UTF8;
    code = (unsigned)r->ctl[0] << 8 | r->ctl[1];
    if (!valid_close_code(code))
        return E_CLOSE_CODE;
    halt(r);
    if (cb->close)
        cb->close(arg, code, r->ctl + 2, (size_t)r->plen - 2);
    return E_NONE;
}

/* The frame's payload is all read: deliver what it completes. fast: the
 * payload, when it was not copied. */
static enum err end_frame(struct pd_wsread *r, const uint8_t *fast, const struct pd_wsread_cb *cb,
                          void *arg)
{
    unsigned op = hdr_opcode(r);

    r->hlen = 0;
    r->phase = P_HEADER;
    switch (op) {
    case PD_WS_CLOSE:
        return end_close(r, cb, arg);
    case PD_WS_PING:
        if (cb->ping)
            cb->ping(arg, r->ctl, (size_t)r->plen);
        return E_NONE;
    case PD_WS_PONG:
        if (cb->pong)
            cb->pong(arg, r->ctl, (size_t)r->plen);
        return E_NONE;
    default:
        break;
    }
    if (!hdr_fin(r))
        return E_NONE;
    if (r->msg_op == PD_WS_TEXT && r->utf8 != U_ACCEPT)
        return E_UTF8;
    if (cb->message) {
        const uint8_t *data = r->fast ? fast : r->msg;
        size_t len = r->fast ? (size_t)r->plen : r->msg_len;
        cb->message(arg, r->msg_op, data != NULL ? data : (const uint8_t *)"", len);
    }
    msg_reset(r);
    return E_NONE;
}

size_t pd_wsread_feed(struct pd_wsread *r, uint8_t *buf, size_t len,
                      const struct pd_wsread_cb *cb, void *arg)
{
    size_t off = 0;

    for (;;) {
        enum err e = E_NONE;
        uint8_t *start = buf + off;
        size_t k;

        switch (r->phase) {
        case P_HEADER:
            if (off == len)
                return off;
            off += read_header(r, buf + off, len - off);
            break;
        case P_BEGIN:
            /* As wslay: a frame is judged once a payload byte is there. */
            if (r->plen > 0 && off == len)
                return off;
            e = begin_frame(r, len - off);
            if (e == E_NONE && cb->frag_start && !hdr_fin(r) &&
                (hdr_opcode(r) == PD_WS_TEXT || hdr_opcode(r) == PD_WS_BINARY))
                cb->frag_start(arg, hdr_opcode(r));
            if (e == E_NONE)
                r->phase = P_PAYLOAD;
            break;
        case P_PAYLOAD:
            k = r->plen - r->poff < len - off ? (size_t)(r->plen - r->poff) : len - off;
            if (k > 0) {
                e = read_payload(r, start, &k);
                off += k;
            }
            if (e == E_NONE && r->poff == r->plen)
                e = end_frame(r, start, cb, arg);
            else if (e == E_NONE)
                return off; /* k was all there was */
            break;
        default:
            return off;
        }
        if (e != E_NONE)
            return stop(r, e, off);
    }
}

void pd_wsread_init(struct pd_wsread *r, uint32_t max)
{
    memset(r, 0, sizeof(*r));
    r->max = max;
}

void pd_wsread_free(struct pd_wsread *r)
{
    free(r->msg);
    r->msg = NULL;
    r->msg_len = r->msg_cap = 0;
}

bool pd_wsread_stopped(const struct pd_wsread *r)
{
    return r->phase == P_STOPPED;
}

unsigned pd_wsread_error(const struct pd_wsread *r)
{
    return errors[r->err].code;
}

const char *pd_wsread_error_reason(const struct pd_wsread *r)
{
    return errors[r->err].reason;
}
