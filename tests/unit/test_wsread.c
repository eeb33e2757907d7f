/* server/wsread.c: the client-to-server frame reader. Every refusal with
 * its close code (RFC 6455 and what wslay 1.1.1 did before it), valid
 * streams giving the same callbacks however they are split (one feed, byte
 * by byte, random chunks), control frames between fragments, UTF-8 across
 * fragments (and agreeing with common/text.c's pd_utf8_valid), the size
 * limit exactly at and one over, zero copy on the fast path and no heap
 * held between messages. TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "wsread.h"

#include "tap.h"

/* ---- building client frames --------------------------------------------------- */

/* How the length is written: the shortest form, or a forced one. */
enum enc { ENC_MIN, ENC_16, ENC_64 };

struct fspec {
    unsigned op;
    int fin;        /* 1: FIN set */
    unsigned rsv;   /* 0..7 */
    int unmasked;   /* 1: no mask bit, no key */
    enum enc enc;
    uint64_t declared; /* 0: the payload's length */
};

/* Appends one frame to out (which has room); returns its length. */
static size_t frame(uint8_t *out, struct fspec f, const void *payload, size_t n, uint32_t *rng)
{
    uint64_t len = f.declared ? f.declared : n;
    uint8_t mbit = f.unmasked ? 0 : 0x80, key[4];
    size_t h = 0;

    out[h++] = (uint8_t)((f.fin ? 0x80 : 0) | (f.rsv << 4) | f.op);
    if (f.enc == ENC_MIN && len < 126) {
        out[h++] = (uint8_t)(mbit | len);
    } else if (f.enc == ENC_16 || (f.enc == ENC_MIN && len <= 0xFFFF)) {
        out[h++] = mbit | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (uint8_t)(len >> (8 * i));
    }
    for (int i = 0; i < 4; i++)
        key[i] = (uint8_t)tap_rand(rng);
    if (!f.unmasked) {
        memcpy(out + h, key, 4);
        h += 4;
    }
    for (size_t i = 0; i < n; i++)
        out[h + i] = ((const uint8_t *)payload)[i] ^ (f.unmasked ? 0 : key[i & 3]);
    return h + n;
}

#define F(op_, fin_) ((struct fspec){.op = (op_), .fin = (fin_)})

/* A stream under construction. */
struct stream {
    uint8_t *b;
    size_t len;
    uint32_t rng;
};

static void s_init(struct stream *s)
{
    s->b = malloc(1 << 20);
    s->len = 0;
    s->rng = 0x1234567;
    if (s->b == NULL)
        abort();
}

static void add(struct stream *s, struct fspec f, const void *p, size_t n)
{
    s->len += frame(s->b + s->len, f, p, n, &s->rng);
}

static void add_str(struct stream *s, struct fspec f, const char *p)
{
    add(s, f, p, strlen(p));
}

static void add_close(struct stream *s, unsigned code, const char *reason)
{
    uint8_t p[125];
    size_t rl = strlen(reason);

    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    memcpy(p + 2, reason, rl);
    add(s, F(PD_WS_CLOSE, 1), p, 2 + rl);
}

/* ---- recording callbacks ------------------------------------------------------- */

struct rec {
    char log[8192]; /* one line per callback */
    size_t n;
    const uint8_t *lo, *hi; /* the buffer of the current feed */
    int in_place;           /* messages handed out inside it */
    int copied;             /* messages handed out from elsewhere */
    const struct pd_wsread *r;
};

static uint32_t fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void logf_(struct rec *rc, const char *what, unsigned a, const uint8_t *p, size_t n)
{
    int k = snprintf(rc->log + rc->n, sizeof(rc->log) - rc->n, "%s %u len %zu fnv %08x\n", what,
                     a, n, p ? fnv(p, n) : 0);
    if (k > 0 && rc->n + (size_t)k < sizeof(rc->log))
        rc->n += (size_t)k;
}

static void cb_message(void *arg, unsigned op, const uint8_t *p, size_t n)
{
    struct rec *rc = arg;

    logf_(rc, "message", op, p, n);
    if (n > 0 && p >= rc->lo && p + n <= rc->hi)
        rc->in_place++;
    else if (n > 0)
        rc->copied++;
}

static void cb_ping(void *arg, const uint8_t *p, size_t n)
{
    logf_(arg, "ping", 0, p, n);
}

static void cb_pong(void *arg, const uint8_t *p, size_t n)
{
    logf_(arg, "pong", 0, p, n);
}

static void cb_close(void *arg, unsigned code, const uint8_t *p, size_t n)
{
    logf_(arg, "close", code, p, n);
}

static void cb_frag(void *arg, unsigned op)
{
    logf_(arg, "frag", op, NULL, 0);
}

static const struct pd_wsread_cb cbs = {cb_message, cb_ping, cb_pong, cb_close, cb_frag};

/* ---- running a stream ------------------------------------------------------------ */

enum split { ONE_SHOT, BYTES, RANDOM };

struct result {
    struct rec rec;
    unsigned error;   /* pd_wsread_error */
    int stopped;
    size_t used;      /* bytes the reader consumed in all */
    int held_heap;    /* r.msg still allocated after the run */
    int idle_heap;    /* heap held right after a complete message: never */
};

/* Feeds a copy of the stream (the reader unmasks in place) split as asked. */
static void run(struct result *res, const struct stream *s, enum split how, uint32_t seed,
                uint32_t max)
{
    uint8_t *copy = malloc(s->len ? s->len : 1);
    struct pd_wsread r;
    size_t off = 0;

    if (copy == NULL)
        abort();
    memcpy(copy, s->b, s->len);
    memset(res, 0, sizeof(*res));
    pd_wsread_init(&r, max);
    res->rec.r = &r;
    while (off < s->len) {
        size_t k = s->len - off, u;
        if (how == BYTES)
            k = 1;
        else if (how == RANDOM)
            k = 1 + tap_rand(&seed) % (k < 300 ? k : (tap_rand(&seed) & 1 ? 300 : k));
        res->rec.lo = copy + off;
        res->rec.hi = copy + off + k;
        u = pd_wsread_feed(&r, copy + off, k, &cbs, &res->rec);
        res->used += u;
        if (u < k && !pd_wsread_stopped(&r))
            res->used = (size_t)-1; /* never: short use without a stop */
        if (r.msg_op == 0 && r.msg != NULL)
            res->idle_heap = 1;
        off += k;
    }
    res->error = pd_wsread_error(&r);
    res->stopped = pd_wsread_stopped(&r);
    res->held_heap = r.msg != NULL;
    pd_wsread_free(&r);
    free(copy);
}

/* The same callbacks, error and consumption one-shot, byte by byte and in
 * 20 random splits. */
static int split_invariant(const struct stream *s, uint32_t max, struct result *one)
{
    struct result *o = malloc(sizeof(*o));
    int same = 1;

    if (o == NULL)
        abort();
    run(one, s, ONE_SHOT, 0, max);
    for (int i = -1; i < 20 && same; i++) {
        run(o, s, i < 0 ? BYTES : RANDOM, 0x9e3779b9u + (uint32_t)i * 7919u, max);
        same = strcmp(o->rec.log, one->rec.log) == 0 && o->error == one->error &&
               o->stopped == one->stopped && o->used == one->used && !o->idle_heap;
        if (!same)
            printf("# split %d differs:\n# one-shot:\n%s# split:\n%s", i, one->rec.log, o->rec.log);
    }
    free(o);
    return same;
}

/* ---- the checks ------------------------------------------------------------------- */

#define MAX 65536u
/* The line a fragmented text message's first frame gives. */
#define FRAG "frag 1 len 0 fnv 00000000\n"

/* Runs stream s, expects error code `code` and the callbacks `log` before
 * it, in every split. */
static void expect(struct tap *t, struct stream *s, uint32_t max, unsigned code, const char *log,
                   const char *what)
{
    struct result *res = malloc(sizeof(*res));
    int inv;

    if (res == NULL)
        abort();
    inv = split_invariant(s, max, res);
    ok(t, inv && res->error == code && (code == 0 || res->stopped) &&
              strcmp(res->rec.log, log) == 0 && !res->held_heap,
       "%s: %s%u%s", what, code ? "close " : "no error (", code, code ? "" : ")");
    if (res->error != code || strcmp(res->rec.log, log) != 0)
        printf("# got error %u, callbacks:\n%s", res->error, res->rec.log);
    free(res);
    s->len = 0;
}

/* The log line a payload gives. */
static const char *line(char *buf, const char *what, unsigned a, const void *p, size_t n)
{
    snprintf(buf, 128, "%s %u len %zu fnv %08x\n", what, a, n, p ? fnv(p, n) : 0);
    return buf;
}

static void errors_1002(struct tap *t, struct stream *s)
{
    uint8_t big[200] = {0};

    add_str(s, (struct fspec){.op = PD_WS_TEXT, .fin = 1, .unmasked = 1}, "{}");
    expect(t, s, MAX, 1002, "", "unmasked text frame");
    add_str(s, (struct fspec){.op = PD_WS_PING, .fin = 1, .unmasked = 1}, "x");
    expect(t, s, MAX, 1002, "", "unmasked ping");
    for (unsigned rsv = 1; rsv < 8; rsv <<= 1) {
        add_str(s, (struct fspec){.op = PD_WS_TEXT, .fin = 1, .rsv = rsv}, "{}");
        expect(t, s, MAX, 1002, "", rsv == 4 ? "RSV1 set" : rsv == 2 ? "RSV2 set" : "RSV3 set");
    }
    for (unsigned op = 3; op < 16; op++) {
        char what[64];
        if (op >= 8 && op <= 10)
            continue;
        snprintf(what, sizeof(what), "reserved opcode %u", op);
        add_str(s, F(op, 1), "x");
        expect(t, s, MAX, 1002, "", what);
    }
    add_str(s, F(PD_WS_CONT, 1), "x");
    expect(t, s, MAX, 1002, "", "continuation without a message begun");
    add_str(s, F(PD_WS_CONT, 0), "x");
    expect(t, s, MAX, 1002, "", "continuation (no FIN) without a message begun");
    add_str(s, F(PD_WS_TEXT, 0), "ab");
    add_str(s, F(PD_WS_TEXT, 1), "cd");
    expect(t, s, MAX, 1002, FRAG, "a new text frame inside a fragmented message");
    add_str(s, F(PD_WS_TEXT, 0), "ab");
    add_str(s, F(PD_WS_BINARY, 1), "cd");
    expect(t, s, MAX, 1002, FRAG, "a binary frame inside a fragmented text");
    add_str(s, F(PD_WS_TEXT, 0), "ab");
    add_str(s, F(5, 1), "cd");
    expect(t, s, MAX, 1002, FRAG, "an unknown opcode inside a fragmented message");
    add(s, F(PD_WS_PING, 1), big, 126);
    expect(t, s, MAX, 1002, "", "ping of 126 bytes");
    add(s, F(PD_WS_CLOSE, 1), big, 126);
    expect(t, s, MAX, 1002, "", "close of 126 bytes");
    add_str(s, F(PD_WS_PING, 0), "x");
    expect(t, s, MAX, 1002, "", "ping without FIN");
    add_str(s, F(PD_WS_CLOSE, 0), "\x03\xe8");
    expect(t, s, MAX, 1002, "", "close without FIN");
    add(s, (struct fspec){.op = PD_WS_PING, .fin = 1, .enc = ENC_16}, "x", 1);
    expect(t, s, MAX, 1002, "", "control frame with a 16-bit length");
    add(s, (struct fspec){.op = PD_WS_TEXT, .fin = 1, .enc = ENC_16}, "{}", 2);
    expect(t, s, MAX, 1002, "", "16-bit length under 126 (not the shortest form)");
    add(s, (struct fspec){.op = PD_WS_TEXT, .fin = 1, .enc = ENC_64}, big, 200);
    expect(t, s, MAX, 1002, "", "64-bit length under 65536 (not the shortest form)");
    add(s, (struct fspec){.op = PD_WS_TEXT, .fin = 1, .enc = ENC_64,
                          .declared = (1ull << 63) + 5}, "abcd", 4);
    expect(t, s, MAX, 1002, "", "64-bit length with the top bit set");
    add(s, F(PD_WS_CLOSE, 1), "\x03", 1);
    expect(t, s, MAX, 1002, "", "close with a 1-byte payload");
    static const unsigned bad_codes[] = {0,    999,  1004, 1005, 1006, 1012, 1013, 1014,
                                         1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
        char what[64];
        snprintf(what, sizeof(what), "close code %u", bad_codes[i]);
        add_close(s, bad_codes[i], "");
        expect(t, s, MAX, 1002, "", what);
    }
}

static void errors_1007(struct tap *t, struct stream *s)
{
    static const struct {
        const char *bytes, *what;
    } bad[] = {
        {"{\"a\":\"\xff\"}", "0xff"},
        {"\"\xc0\xaf\"", "overlong '/'"},
        {"\"\xed\xa0\x80\"", "a surrogate"},
        {"\"\xf4\x90\x80\x80\"", "above U+10FFFF"},
        {"\"ab\xe2\x82", "truncated at the end of the message"},
        {"{\"\xa0\"}", "a lone continuation byte"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char what[96];
        snprintf(what, sizeof(what), "invalid UTF-8 in a text message: %s", bad[i].what);
        add_str(s, F(PD_WS_TEXT, 1), bad[i].bytes);
        expect(t, s, MAX, 1007, "", what);
    }
    add_str(s, F(PD_WS_TEXT, 0), "{\"a\":\"");
    add_str(s, F(PD_WS_CONT, 1), "\xff\"}");
    expect(t, s, MAX, 1007, FRAG, "invalid UTF-8 in a later fragment");
    add_str(s, F(PD_WS_TEXT, 0), "\"\xe2");
    add_str(s, F(PD_WS_CONT, 1), "\x82");
    expect(t, s, MAX, 1007, FRAG, "a character left incomplete by the last fragment");
    add_close(s, 1000, "\xff\xfe");
    expect(t, s, MAX, 1007, "", "invalid UTF-8 in the close reason");
    add_close(s, 1000, "ab\xc3");
    expect(t, s, MAX, 1007, "", "a truncated character ending the close reason");

    /* As soon as the bytes can no longer be valid: a 100-byte frame whose
     * third byte is bad fails with only 10 of its bytes in. */
    {
        uint8_t p[100];
        struct result *res = malloc(sizeof(*res));
        memset(p, 'a', sizeof(p));
        p[2] = 0xff;
        add(s, F(PD_WS_TEXT, 1), p, sizeof(p));
        s->len = 2 + 4 + 10;
        run(res, s, BYTES, 0, MAX);
        ok(t, res->error == 1007 && res->stopped && res->used == 2 + 4 + 3,
           "invalid UTF-8 fails at the first bad byte, before the frame is complete (used %zu)",
           res->used);
        free(res);
        s->len = 0;
    }
}

static void too_big(struct tap *t, struct stream *s)
{
    uint8_t p[202];
    char l[128];
    struct result *res = malloc(sizeof(*res));

    memset(p, 'x', sizeof(p));
    p[0] = '"';
    add(s, F(PD_WS_TEXT, 1), p, 100);
    expect(t, s, 100, 0, line(l, "message", 1, p, 100),
           "a message of exactly max bytes is delivered");
    add(s, F(PD_WS_TEXT, 1), p, 101);
    expect(t, s, 100, 1009, "", "one byte over max: 1009");
    add(s, F(PD_WS_TEXT, 0), p, 50);
    add(s, F(PD_WS_CONT, 1), p + 50, 50);
    {
        char want[256];
        snprintf(want, sizeof(want), FRAG "%s", line(l, "message", 1, p, 100));
        expect(t, s, 100, 0, want, "fragments of exactly max bytes in total are delivered");
    }
    add(s, F(PD_WS_TEXT, 0), p, 50);
    add(s, F(PD_WS_CONT, 0), p + 50, 0);
    add(s, F(PD_WS_CONT, 1), p + 50, 51);
    expect(t, s, 100, 1009, FRAG, "fragments one byte over max in total: 1009");
    add(s, F(PD_WS_PING, 1), p, 20);
    expect(t, s, 10, 1009, "", "a control frame over max: 1009 (as wslay)");

    /* Declared 2^62 and 16 bytes of it: refused, nothing allocated. */
    add(s, (struct fspec){.op = PD_WS_TEXT, .fin = 1, .declared = 1ull << 62}, p, 16);
    run(res, s, RANDOM, 7, MAX);
    ok(t, res->error == 1009 && !res->held_heap,
       "2^62 declared, 16 bytes sent: 1009 with nothing allocated");
    /* The header alone is waited on (wslay did; conformance case 9.6.1). */
    s->len = 2 + 8 + 4;
    run(res, s, ONE_SHOT, 0, MAX);
    ok(t, res->error == 0 && !res->stopped && res->used == s->len,
       "2^62 declared and no payload yet: the reader waits");
    /* An unmasked frame with nothing after its header is waited on too. */
    s->len = 0;
    add(s, (struct fspec){.op = PD_WS_TEXT, .fin = 1, .unmasked = 1}, p, 10);
    s->len = 2;
    run(res, s, ONE_SHOT, 0, MAX);
    ok(t, !res->stopped, "errors found once the frame begins wait for its first payload byte");
    s->len = 0;
    free(res);
}

/* Valid streams: expected callbacks, and the same in every split. */
static void valid(struct tap *t, struct stream *s)
{
    static uint8_t big[70000];
    char want[1024], l[128];

    add_str(s, F(PD_WS_TEXT, 1), "hello");
    expect(t, s, MAX, 0, line(l, "message", 1, "hello", 5), "a short text message");
    add_str(s, F(PD_WS_TEXT, 1), "");
    expect(t, s, MAX, 0, line(l, "message", 1, "", 0), "an empty text message");
    add(s, F(PD_WS_BINARY, 1), "\x00\x01", 2);
    expect(t, s, MAX, 0, line(l, "message", 2, "\x00\x01", 2), "a binary message is reported");
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)('a' + i % 26);
    add(s, F(PD_WS_TEXT, 1), big, 1000);
    expect(t, s, MAX, 0, line(l, "message", 1, big, 1000), "16-bit length (1000 bytes)");
    add(s, F(PD_WS_TEXT, 1), big, 65535);
    expect(t, s, MAX, 0, line(l, "message", 1, big, 65535), "16-bit length (65535 bytes)");
    add(s, F(PD_WS_TEXT, 1), big, 70000);
    expect(t, s, 100000, 0, line(l, "message", 1, big, 70000), "64-bit length (70000 bytes)");
    add_str(s, F(PD_WS_PING, 1), "p1");
    add_str(s, F(PD_WS_PONG, 1), "");
    add(s, F(PD_WS_PING, 1), big, 125);
    snprintf(want, sizeof(want), "%s", line(l, "ping", 0, "p1", 2));
    strcat(want, line(l, "pong", 0, "", 0));
    strcat(want, line(l, "ping", 0, big, 125));
    expect(t, s, MAX, 0, want, "pings (2 and 125 bytes) and a pong");

    /* Fragments with control frames between them. */
    add_str(s, F(PD_WS_TEXT, 0), "{\"id\":");
    add_str(s, F(PD_WS_PING, 1), "a");
    add_str(s, F(PD_WS_CONT, 0), "");
    add_str(s, F(PD_WS_PONG, 1), "b");
    add_str(s, F(PD_WS_CONT, 0), "1,");
    add_str(s, F(PD_WS_PING, 1), "c");
    add_str(s, F(PD_WS_CONT, 1), "\"x\":2}");
    snprintf(want, sizeof(want), "%s", FRAG);
    strcat(want, line(l, "ping", 0, "a", 1));
    strcat(want, line(l, "pong", 0, "b", 1));
    strcat(want, line(l, "ping", 0, "c", 1));
    strcat(want, line(l, "message", 1, "{\"id\":1,\"x\":2}", 14));
    expect(t, s, MAX, 0, want, "fragments with pings and a pong between them");

    /* UTF-8 split inside characters across fragments. */
    {
        static const char u[] = "\"\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\"";
        add(s, F(PD_WS_TEXT, 0), u, 2);
        add(s, F(PD_WS_CONT, 0), u + 2, 3);
        add(s, F(PD_WS_CONT, 0), u + 5, 3);
        add(s, F(PD_WS_CONT, 1), u + 8, sizeof(u) - 1 - 8);
        snprintf(want, sizeof(want), "%s", FRAG);
        strcat(want, line(l, "message", 1, u, sizeof(u) - 1));
        expect(t, s, MAX, 0, want, "UTF-8 characters split across fragments");
    }
    add_str(s, F(PD_WS_TEXT, 0), "");
    add_str(s, F(PD_WS_CONT, 1), "");
    snprintf(want, sizeof(want), "%s", FRAG);
    strcat(want, line(l, "message", 1, "", 0));
    expect(t, s, MAX, 0, want, "an empty message in two empty fragments");

    /* Several messages, then a close: the reader stops after it. */
    add_str(s, F(PD_WS_TEXT, 1), "one");
    add_str(s, F(PD_WS_TEXT, 1), "two");
    add_close(s, 1000, "bye \xc3\xa9");
    add_str(s, F(PD_WS_TEXT, 1), "after");
    snprintf(want, sizeof(want), "%s", line(l, "message", 1, "one", 3));
    strcat(want, line(l, "message", 1, "two", 3));
    strcat(want, line(l, "close", 1000, "bye \xc3\xa9", 6));
    expect(t, s, MAX, 0, want, "messages, then a close with a reason; nothing after it");

    static const unsigned good_codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                          1010, 1011, 3000, 3999, 4000, 4999};
    int all = 1;
    for (size_t i = 0; i < sizeof(good_codes) / sizeof(good_codes[0]); i++) {
        struct result *res = malloc(sizeof(*res));
        add_close(s, good_codes[i], "");
        run(res, s, BYTES, 0, MAX);
        all &= res->stopped && res->error == 0 &&
               strcmp(res->rec.log, line(l, "close", good_codes[i], "", 0)) == 0;
        free(res);
        s->len = 0;
    }
    ok(t, all, "close codes 1000-1003, 1007-1011, 3000-4999 are accepted and reported");
    add(s, F(PD_WS_CLOSE, 1), "", 0);
    expect(t, s, MAX, 0, line(l, "close", PD_WS_NO_STATUS, "", 0),
           "a close without a code is reported as 1005");
    add_close(s, 1000, "");
    add_str(s, F(PD_WS_TEXT, 1), "more");
    {
        struct result *res = malloc(sizeof(*res));
        struct pd_wsread r;
        size_t n, more;
        uint8_t *copy = malloc(s->len);
        memset(res, 0, sizeof(*res));
        memcpy(copy, s->b, s->len);
        pd_wsread_init(&r, MAX);
        n = pd_wsread_feed(&r, copy, s->len, &cbs, &res->rec);
        more = pd_wsread_feed(&r, copy + n, s->len - n, &cbs, &res->rec);
        ok(t, n == 2 + 4 + 2 && more == 0 && pd_wsread_stopped(&r),
           "after a close the reader consumes nothing more (%zu used, then %zu)", n, more);
        pd_wsread_free(&r);
        free(copy);
        free(res);
        s->len = 0;
    }
}

/* Zero copy when a whole single-frame message is in the buffer; a copy
 * otherwise, freed once delivered. */
static void zero_copy(struct tap *t, struct stream *s)
{
    struct result *res = malloc(sizeof(*res));

    add_str(s, F(PD_WS_TEXT, 1), "{\"id\":1}");
    add_str(s, F(PD_WS_TEXT, 1), "{\"id\":2}");
    run(res, s, ONE_SHOT, 0, MAX);
    ok(t, res->rec.in_place == 2 && res->rec.copied == 0,
       "messages whole in the buffer are handed out in place (%d in place, %d copied)",
       res->rec.in_place, res->rec.copied);
    run(res, s, BYTES, 0, MAX);
    ok(t, res->rec.in_place == 0 && res->rec.copied == 2 && !res->held_heap && !res->idle_heap,
       "split messages are copied and the copy freed after each");
    s->len = 0;
    add_str(s, F(PD_WS_TEXT, 0), "{\"id\":");
    add_str(s, F(PD_WS_CONT, 1), "3}");
    run(res, s, ONE_SHOT, 0, MAX);
    ok(t, res->rec.copied == 1 && !res->held_heap, "a fragmented message is copied, then freed");
    s->len = 0;
    ok(t, sizeof(struct pd_wsread) <= 200, "the reader's state is %zu bytes (at most 200)",
       sizeof(struct pd_wsread));
    free(res);
}

/* The reader's UTF-8 agrees with pd_utf8_valid: every string of 1 to 3
 * bytes over a set of interesting bytes, and random 4 to 8 byte strings,
 * fed in a random split. */
static void utf8_agrees(struct tap *t, struct stream *s)
{
    static const uint8_t pick[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0,
                                   0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0,
                                   0xf1, 0xf3, 0xf4, 0xf5, 0xf8, 0xfe, 0xff};
    const size_t np = sizeof(pick);
    struct result *res = malloc(sizeof(*res));
    uint32_t rng = 42;
    long n = 0, bad = 0;

    for (size_t len = 1; len <= 8; len++) {
        size_t count = len <= 3 ? 1 : 20000;
        for (size_t i = 0; i < len; i++)
            count *= len <= 3 ? np : 1;
        for (size_t k = 0; k < count; k++) {
            uint8_t b[8];
            size_t x = k;
            for (size_t i = 0; i < len; i++) {
                b[i] = len <= 3 ? pick[x % np] : pick[tap_rand(&rng) % np];
                x /= np;
            }
            add(s, F(PD_WS_TEXT, 1), b, len);
            run(res, s, RANDOM, tap_rand(&rng) | 1, MAX);
            n++;
            if ((res->error == 0) != pd_utf8_valid(b, len) ||
                (res->error != 0 && res->error != 1007))
                bad++;
            s->len = 0;
        }
    }
    ok(t, bad == 0, "UTF-8 verdicts agree with pd_utf8_valid on %ld strings (%ld differ)", n, bad);
    free(res);
}

/* Random valid streams (text, binary, fragments, pings, pongs, a final
 * close) give the same callbacks in every split. */
static void random_valid(struct tap *t, struct stream *s)
{
    uint32_t rng = 2024;
    int all = 1;
    struct result *res = malloc(sizeof(*res));

    for (int iter = 0; iter < 300 && all; iter++) {
        int frames = 1 + (int)(tap_rand(&rng) % 12);
        for (int i = 0; i < frames; i++) {
            uint8_t p[300];
            size_t n = tap_rand(&rng) % (tap_rand(&rng) % 4 ? 20 : 300);
            unsigned op = tap_rand(&rng) % 3 ? PD_WS_TEXT : PD_WS_BINARY;
            int parts = 1 + (int)(tap_rand(&rng) % 4);
            for (size_t j = 0; j < n; j++)
                p[j] = (uint8_t)(op == PD_WS_TEXT ? 'a' + tap_rand(&rng) % 26 : tap_rand(&rng));
            for (int k = 0; k < parts; k++) {
                size_t from = n * (size_t)k / (size_t)parts;
                size_t to = n * (size_t)(k + 1) / (size_t)parts;
                add(s, F(k == 0 ? op : PD_WS_CONT, k == parts - 1), p + from, to - from);
                if (tap_rand(&rng) % 4 == 0)
                    add_str(s, F(tap_rand(&rng) % 2 ? PD_WS_PING : PD_WS_PONG, 1), "ctl");
            }
        }
        if (tap_rand(&rng) % 2)
            add_close(s, 1000, "done");
        all = split_invariant(s, MAX, res) && res->error == 0;
        s->len = 0;
    }
    ok(t, all, "300 random valid streams: the same callbacks however they are split");
    free(res);
}

int main(void)
{
    struct tap t = {0};
    struct stream s;

    s_init(&s);
    valid(&t, &s);
    errors_1002(&t, &s);
    errors_1007(&t, &s);
    too_big(&t, &s);
    zero_copy(&t, &s);
    utf8_agrees(&t, &s);
    random_valid(&t, &s);
    free(s.b);
    return tap_done(&t);
}
