#include "wsproto.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int pd_ws_accept_key(const char *client_key, char out[PD_WS_ACCEPT_LEN + 1])
{
    unsigned char digest[SHA_DIGEST_LENGTH];
    char buf[128];
    size_t klen = client_key ? strlen(client_key) : 0;

    /* A valid key is base64 of 16 bytes: 24 characters. */
    if (klen != 24)
        return -1;
    memcpy(buf, client_key, klen);
    memcpy(buf + klen, ws_guid, sizeof(ws_guid) - 1);
    SHA1((const unsigned char *)buf, klen + sizeof(ws_guid) - 1, digest);
    if (EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH) != PD_WS_ACCEPT_LEN)
        return -1;
    out[PD_WS_ACCEPT_LEN] = '\0';
    return 0;
}

size_t pd_ws_frame_header(uint8_t hdr[PD_WS_MAX_HEADER], unsigned opcode, uint64_t len,
                          const uint8_t *mask)
{
    size_t n = 0;
    uint8_t mbit = mask ? 0x80 : 0;

    hdr[n++] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        hdr[n++] = (uint8_t)(mbit | len);
    } else if (len <= 0xFFFF) {
        hdr[n++] = mbit | 126;
        hdr[n++] = (uint8_t)(len >> 8);
        hdr[n++] = (uint8_t)len;
    } else {
        hdr[n++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            hdr[n++] = (uint8_t)(len >> (8 * i));
    }
    if (mask) {
        memcpy(hdr + n, mask, 4);
        n += 4;
    }
    return n;
}

void pd_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t off)
{
    for (size_t i = 0; i < len; i++)
        data[i] ^= mask[(i + off) & 3];
}
