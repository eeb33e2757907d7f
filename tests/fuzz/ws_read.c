/* libFuzzer target: the frame reader of what clients send
 * (server/wsread.c), over any byte stream.
 *
 * Input: byte 0 sets the message limit (bit 7 set: 65536, else
 * 1 + (byte0 & 0x7f) * 8, so small limits meet fragments and control
 * frames); bytes 1-4 seed the split points; the rest is the stream. It is
 * read three times, each from a fresh copy (the reader unmasks in place):
 * in one feed, in random chunks, and byte by byte.
 *
 * Oracles besides the sanitizers: the three reads give the same callbacks
 * (kind, opcode or code, length, a hash of the bytes), the same error and
 * use the same number of bytes; a feed uses all it is given unless the
 * reader stopped, and nothing after; text messages and close reasons are
 * valid UTF-8, close codes valid, messages at most the limit; no heap is
 * held between messages.
 *
 * FUZZ_VERBOSE=1 in the environment prints the callbacks of the first
 * read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "wsread.h"

struct event {
    unsigned kind; /* 'm' message, 'i' ping, 'o' pong, 'c' close, 'f' frag */
    unsigned a;    /* opcode or close code */
    size_t len;
    uint32_t hash;
};

struct record {
    struct event *ev;
    size_t n, cap;
    uint32_t max;
    int verbose;
};

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz ws_read: %s\n", what);
        abort();
    }
}

static uint32_t fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void add(struct record *rc, unsigned kind, unsigned a, const uint8_t *p, size_t n)
{
    check(p != NULL, "a NULL payload");
    if (rc->n == rc->cap) {
        rc->cap = rc->cap ? rc->cap * 2 : 64;
        rc->ev = realloc(rc->ev, rc->cap * sizeof(*rc->ev));
        check(rc->ev != NULL, "out of memory");
    }
    rc->ev[rc->n++] = (struct event){kind, a, n, fnv(p, n)};
    if (rc->verbose)
        fprintf(stderr, "%c %u len %zu\n", kind, a, n);
}

static void on_message(void *arg, unsigned op, const uint8_t *p, size_t n)
{
    struct record *rc = arg;

    check(op == PD_WS_TEXT || op == PD_WS_BINARY, "a message with a control opcode");
    check(n <= rc->max, "a message over the limit");
    check(op != PD_WS_TEXT || pd_utf8_valid(p, n), "a text message that is not UTF-8");
    add(rc, 'm', op, p, n);
}

static void on_ping(void *arg, const uint8_t *p, size_t n)
{
    check(n <= 125, "a ping over 125 bytes");
    add(arg, 'i', 0, p, n);
}

static void on_pong(void *arg, const uint8_t *p, size_t n)
{
    check(n <= 125, "a pong over 125 bytes");
    add(arg, 'o', 0, p, n);
}

static void on_close(void *arg, unsigned code, const uint8_t *p, size_t n)
{
    check(n <= 123, "a close reason over 123 bytes");
    check(pd_utf8_valid(p, n), "a close reason that is not UTF-8");
    check(code == PD_WS_NO_STATUS ? n == 0
                                  : (code >= 1000 && code <= 1011 && code != 1004 &&
                                     code != 1005 && code != 1006) ||
                                        (code >= 3000 && code <= 4999),
          "an invalid close code reported");
    add(arg, 'c', code, p, n);
}

static void on_frag(void *arg, unsigned op)
{
    check(op == PD_WS_TEXT || op == PD_WS_BINARY, "a fragmented control frame");
    add(arg, 'f', op, (const uint8_t *)"", 0);
}

static const struct pd_wsread_cb cbs = {on_message, on_ping, on_pong, on_close, on_frag};

struct outcome {
    struct record rec;
    unsigned error;
    int stopped;
    size_t used;
};

enum split { ONE_SHOT, RANDOM, BYTES };

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void read_stream(struct outcome *o, const uint8_t *data, size_t size, uint32_t max,
                        enum split how, uint32_t seed, int verbose)
{
    uint8_t *copy = malloc(size ? size : 1);
    struct pd_wsread r;
    size_t off = 0;

    check(copy != NULL, "out of memory");
    memcpy(copy, data, size);
    memset(o, 0, sizeof(*o));
    o->rec.max = max;
    o->rec.verbose = verbose;
    pd_wsread_init(&r, max);
    while (off < size) {
        size_t k = size - off, u;
        if (how == BYTES)
            k = 1;
        else if (how == RANDOM)
            k = 1 + xorshift(&seed) % (k < 64 ? k : 64);
        u = pd_wsread_feed(&r, copy + off, k, &cbs, &o->rec);
        check(u <= k, "used more than it was given");
        check(u == k || pd_wsread_stopped(&r), "used less than given without stopping");
        check(r.msg_op != 0 || r.msg == NULL, "heap held between messages");
        o->used += u;
        off += k;
    }
    o->error = pd_wsread_error(&r);
    o->stopped = pd_wsread_stopped(&r);
    check(o->error == 0 || o->error == 1002 || o->error == 1007 || o->error == 1009 ||
              o->error == 1011,
          "an unexpected error code");
    check(o->error == 0 || o->stopped, "an error without a stop");
    check(!o->stopped || r.msg == NULL, "heap held after the reader stopped");
    pd_wsread_free(&r);
    free(copy);
}

static int same_events(const struct record *a, const struct record *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct event *x = &a->ev[i], *y = &b->ev[i];
        if (x->kind != y->kind || x->a != y->a || x->len != y->len || x->hash != y->hash)
            return 0;
    }
    return 1;
}

static void same(const struct outcome *a, const struct outcome *b, const char *how)
{
    if (!same_events(&a->rec, &b->rec) || a->error != b->error || a->stopped != b->stopped ||
        a->used != b->used) {
        fprintf(stderr, "one feed: %zu callbacks, error %u, used %zu; %s: %zu, %u, %zu\n",
                a->rec.n, a->error, a->used, how, b->rec.n, b->error, b->used);
        check(0, "a split changed what the reader reported");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome one, split;
    uint32_t max, seed;
    int verbose = getenv("FUZZ_VERBOSE") != NULL;

    if (size < 5)
        return 0;
    max = data[0] & 0x80 ? 65536 : 1 + (uint32_t)(data[0] & 0x7f) * 8;
    seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
           (uint32_t)data[4] << 24;
    if (seed == 0)
        seed = 1;
    data += 5;
    size -= 5;

    read_stream(&one, data, size, max, ONE_SHOT, 0, verbose);
    read_stream(&split, data, size, max, RANDOM, seed, 0);
    same(&one, &split, "random chunks");
    free(split.rec.ev);
    read_stream(&split, data, size, max, BYTES, 0, 0);
    same(&one, &split, "byte by byte");
    free(split.rec.ev);
    free(one.rec.ev);
    return 0;
}
