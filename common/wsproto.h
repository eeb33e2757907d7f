/* The parts of RFC 6455 both sides need outside wslay: the handshake's accept
 * key, and framing of whole outbound text messages so a broadcast is framed
 * once and the same bytes go to every recipient. */
#ifndef PD_WSPROTO_H
#define PD_WSPROTO_H

#include <stddef.h>
#include <stdint.h>

/* Close codes used by PROTOCOL.md section 1.4. */
enum {
    PD_CLOSE_NORMAL = 1000,
    PD_CLOSE_GOING_AWAY = 1001,
    PD_CLOSE_PROTOCOL = 1002,
    PD_CLOSE_UNSUPPORTED = 1003,
    PD_CLOSE_INVALID_DATA = 1007,
    PD_CLOSE_POLICY = 1008,
    PD_CLOSE_TOO_BIG = 1009,
    PD_CLOSE_INTERNAL = 1011,
    PD_CLOSE_TOKEN_EXPIRED = 4001,
};

#define PD_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key; out gets
 * PD_WS_ACCEPT_LEN characters and a NUL. Returns 0, or -1 on a bad key. */
int pd_ws_accept_key(const char *client_key, char out[PD_WS_ACCEPT_LEN + 1]);

/* Largest header a frame can need (2 + 8 length + 4 mask). */
#define PD_WS_MAX_HEADER 14

/* Writes the header of one unfragmented frame with the given opcode and
 * payload length into hdr; mask is NULL for server frames, else 4 bytes
 * (the caller then masks the payload with pd_ws_mask). Returns the header
 * length. */
size_t pd_ws_frame_header(uint8_t hdr[PD_WS_MAX_HEADER], unsigned opcode, uint64_t len,
                          const uint8_t *mask);

/* XOR the payload with the 4-byte mask, starting at payload offset `off`. */
void pd_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t off);

#endif
