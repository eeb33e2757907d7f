/* An incremental reader of what a WebSocket client sends (RFC 6455): feed
 * it whatever bytes arrived, in any split down to one byte at a time, and
 * it calls back once per complete message and per control frame.
 *
 * It replaces wslay's event context in parleyd (about 8.6 KB per
 * connection, allocated up front): the state is a small struct, and heap
 * is used only while a message is split across feeds or fragmented; an
 * idle connection holds none.
 *
 * Zero copy on the fast path: a whole unfragmented frame in the buffer
 * being fed is unmasked in place (the buffer must be writable: the
 * caller's read buffer) and handed out as a pointer into it. Anything
 * else is unmasked in place and copied into a buffer allocated on demand
 * and freed once the message is delivered.
 *
 * What it refuses, and the close code the caller should send (it reports
 * the code, the caller sends the frame):
 *   1002  an unmasked frame, RSV bits, an unknown opcode, a continuation
 *         without a started message or a new data frame inside one, a
 *         control frame over 125 bytes or without FIN, a length not in
 *         its shortest form or with the top bit set, a close payload of
 *         1 byte, a close code RFC 6455 7.4 does not allow
 *   1007  invalid UTF-8 in a text message (as soon as the bytes can no
 *         longer be valid, across fragments) or in a close reason
 *   1009  a message whose frames announce more than the limit in total,
 *         before anything is allocated for it
 * The checks and their order are those of wslay 1.1.1, which parleyd used
 * before: the header's own checks (control frame length and FIN, length
 * encoding) as soon as the header is in; the others once the header is
 * complete and either the payload is empty or its first byte is there
 * (a frame declaring 2 GiB and sending nothing more is waited for, not
 * refused: tests/clients/conformance.py case 9.6.1).
 *
 * After a close frame or an error the reader stops: pd_wsread_feed
 * consumes nothing more. */
#ifndef PD_WSREAD_H
#define PD_WSREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opcodes (RFC 6455 5.2). */
enum {
    PD_WS_CONT = 0x0,
    PD_WS_TEXT = 0x1,
    PD_WS_BINARY = 0x2,
    PD_WS_CLOSE = 0x8,
    PD_WS_PING = 0x9,
    PD_WS_PONG = 0xA,
};

/* A close frame without a code is reported as this (RFC 6455 7.1.5). */
#define PD_WS_NO_STATUS 1005

/* What the reader reports. Any member may be NULL. Pointers are valid only
 * during the call and never NULL (an empty payload is ""). */
struct pd_wsread_cb {
    /* A complete text or binary message (binary is reported, not
     * refused: the caller decides). Text is valid UTF-8. */
    void (*message)(void *arg, unsigned opcode, const uint8_t *data, size_t len);
    void (*ping)(void *arg, const uint8_t *data, size_t len);
    void (*pong)(void *arg, const uint8_t *data, size_t len);
    /* The peer's close: its code (PD_WS_NO_STATUS when it sent none) and
     * reason (valid UTF-8, at most 123 bytes). The reader stops after it. */
    void (*close)(void *arg, unsigned code, const uint8_t *reason, size_t len);
    /* The first frame of a fragmented message (text or binary without FIN)
     * begins; called before any of its payload is reported. */
    void (*frag_start)(void *arg, unsigned opcode);
};

/* Zeroed memory is a valid reader with no limit set: call pd_wsread_init. */
struct pd_wsread {
    uint8_t *msg;          /* the message being assembled, or NULL */
    size_t msg_len, msg_cap;
    uint64_t msg_total;    /* payload lengths announced by its frames so far */
    uint64_t plen, poff;   /* the current frame's payload: length, bytes read */
    uint32_t max;          /* largest message accepted (bytes) */
    uint8_t err;           /* what stopped the reader, if an error (wsread.c) */
    uint8_t phase;         /* where in a frame the next byte goes (wsread.c) */
    uint8_t msg_op;        /* opcode of the message begun, 0 when none */
    uint8_t utf8;          /* UTF-8 state of the text message */
    uint8_t ctl_utf8;      /* UTF-8 state of the close reason */
    uint8_t fast;          /* the frame is whole in the buffer: no copy */
    uint8_t hlen;          /* header bytes collected */
    uint8_t hdr[14];       /* the current frame's header */
    uint8_t ctl[125];      /* the current control frame's payload */
};

/* A reader accepting messages up to max bytes. */
void pd_wsread_init(struct pd_wsread *r, uint32_t max);

/* Frees what a message in progress holds; r can be fed again only after
 * pd_wsread_init. */
void pd_wsread_free(struct pd_wsread *r);

/* Reads len bytes from buf (which it modifies: unmasking is in place),
 * calling cb's members with arg. Returns how many bytes it used: len,
 * unless it stopped on a close frame or an error inside buf. */
size_t pd_wsread_feed(struct pd_wsread *r, uint8_t *buf, size_t len,
                      const struct pd_wsread_cb *cb, void *arg);

/* True once a close frame or an error stopped the reader. */
bool pd_wsread_stopped(const struct pd_wsread *r);

/* The close code to send for the error that stopped the reader (1002,
 * 1007 or 1009), or 0 when none did. */
unsigned pd_wsread_error(const struct pd_wsread *r);

/* A short English sentence saying what the error was ("" when none): the
 * reason of the close frame. */
const char *pd_wsread_error_reason(const struct pd_wsread *r);

#endif
