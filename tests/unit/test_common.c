/* Tables and helpers both sides share: errors, events, the handshake key,
 * frame headers, and the server's hash map. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "events.h"
#include "hmap.h"
#include "tap.h"
#include "wsproto.h"

static void test_tables(struct tap *t)
{
    int all = 1;

    for (unsigned e = 1; e < PD_E__COUNT; e++)
        all &= pd_err_from_name(pd_err_name((enum pd_err)e)) == (enum pd_err)e;
    ok(t, all, "every error code round-trips through its wire name");
    ok(t, strcmp(pd_err_name(PD_E_SESSION_EXPIRED), "session_expired") == 0,
       "session_expired is spelled as in the protocol");
    ok(t, pd_err_from_name("nope") == PD_E__COUNT, "an unknown error name is refused");
    ok(t, pd_err_http_status(PD_E_CONFLICT) == 409 && pd_err_http_status(PD_E_UNAUTHORIZED) == 401,
       "HTTP statuses of conflict and unauthorized");

    all = 1;
    for (unsigned e = 0; e < PD_EV__COUNT; e++)
        all &= pd_event_from_name(pd_event_name((enum pd_event)e)) == (enum pd_event)e;
    ok(t, all, "every event round-trips through its wire name");
    ok(t, pd_event_from_name("join:chat") == PD_EV_JOIN, "join:chat is known");
    ok(t, pd_event_from_name("join:chaT") == PD_EV__COUNT, "event names are case-sensitive");
}

static void test_handshake(struct tap *t)
{
    char out[PD_WS_ACCEPT_LEN + 1];

    /* The worked example of RFC 6455 section 1.3. */
    ok(t, pd_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out) == 0 &&
           strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
       "accept key of the RFC example");
    ok(t, pd_ws_accept_key("short", out) == -1, "a key that is not 24 characters is refused");
    ok(t, pd_ws_accept_key(NULL, out) == -1, "a missing key is refused");
}

static void test_frames(struct tap *t)
{
    uint8_t h[PD_WS_MAX_HEADER];
    const uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t data[5] = {'h', 'e', 'l', 'l', 'o'};

    ok(t, pd_ws_frame_header(h, 1, 5, NULL) == 2 && h[0] == 0x81 && h[1] == 5,
       "small server text frame: 2-byte header, FIN, unmasked");
    ok(t, pd_ws_frame_header(h, 1, 126, NULL) == 4 && h[1] == 126 && h[2] == 0 && h[3] == 126,
       "126 bytes take the 16-bit length");
    ok(t, pd_ws_frame_header(h, 1, 65535, NULL) == 4 && h[2] == 0xFF && h[3] == 0xFF,
       "65535 bytes still fit the 16-bit length");
    ok(t, pd_ws_frame_header(h, 1, 65536, NULL) == 10 && h[1] == 127 && h[7] == 1 && h[9] == 0,
       "65536 bytes take the 64-bit length");
    ok(t, pd_ws_frame_header(h, 2, 3, mask) == 6 && h[1] == (0x80 | 3) && h[5] == 4,
       "client frames carry the mask bit and key");
    pd_ws_mask(data, 5, mask, 0);
    pd_ws_mask(data, 2, mask, 0);
    pd_ws_mask(data + 2, 3, mask, 2);
    ok(t, memcmp(data, "hello", 5) == 0, "masking twice (in two pieces) restores the payload");
}

static void test_hmap(struct tap *t)
{
    struct pd_hmap m = {0};
    enum { N = 5000 };
    static char keys[N][16];
    size_t pos = 0, seen = 0;
    int all = 1;

    ok(t, pd_hmap_get(&m, "x") == NULL && pd_hmap_del(&m, "x") == NULL, "empty map finds nothing");
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        all &= pd_hmap_put(&m, keys[i], keys[i]) == 0;
    }
    ok(t, all && m.len == N, "5000 inserts");
    all = 1;
    for (int i = 0; i < N; i++)
        all &= pd_hmap_get(&m, keys[i]) == keys[i];
    ok(t, all, "every key found");
    for (int i = 0; i < N; i += 2)
        all &= pd_hmap_del(&m, keys[i]) == keys[i];
    ok(t, all && m.len == N / 2, "half deleted");
    all = 1;
    for (int i = 0; i < N; i++)
        all &= (pd_hmap_get(&m, keys[i]) != NULL) == (i % 2 == 1);
    ok(t, all, "deleted keys gone, the rest still found past tombstones");
    while (pd_hmap_next(&m, &pos, NULL) != NULL)
        seen++;
    ok(t, seen == N / 2, "iteration visits each live entry once");
    /* Churn on tombstones must not grow the table without bound. */
    size_t cap = m.cap;
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < N; i += 2) {
            pd_hmap_put(&m, keys[i], keys[i]);
            pd_hmap_del(&m, keys[i]);
        }
    ok(t, m.cap <= cap * 2 && m.len == N / 2, "insert/delete churn keeps the table bounded");
    ok(t, pd_hmap_put(&m, keys[1], keys[3]) == 0 && pd_hmap_get(&m, keys[1]) == keys[3] &&
           m.len == N / 2,
       "put on an existing key replaces its value");
    pd_hmap_free(&m);
}

int main(void)
{
    struct tap t = {0};

    test_tables(&t);
    test_handshake(&t);
    test_frames(&t);
    test_hmap(&t);
    return tap_done(&t);
}
