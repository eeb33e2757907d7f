/* Unit tests for server/ratelimit.c: the bucket arithmetic at chosen
 * times (bursts, refill, retry_after, the limit off), the bounded tables
 * (sweep, eviction), and the client address behind trusted proxies.
 * Prints TAP; exits 1 on any failure. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ratelimit.h"

#define S 1000000000LL
#define MS 1000000LL

static int test_no, failures;

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(int cond, const char *fmt, ...)
{
    va_list ap;

    printf("%s %d - ", cond ? "ok" : "not ok", ++test_no);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond)
        failures++;
}

static struct pd_ratelimit *make(unsigned count, unsigned seconds, unsigned burst, size_t max)
{
    struct pd_rl_limits l[PD_RL__COUNT] = {{0}};

    l[PD_RL_MESSAGE] = (struct pd_rl_limits){count, seconds, burst};
    return pd_ratelimit_new(l, max);
}

static void test_bucket(void)
{
    struct pd_ratelimit *rl = make(5, 60, 0, 100);
    int64_t t0 = 1000 * S, r;
    int allowed = 0;

    for (int i = 0; i < 5; i++)
        allowed += pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "alice", t0) == 0;
    ok(allowed == 5, "5/60: a full bucket allows 5 at once");
    r = pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "alice", t0);
    ok(r == 12000, "the 6th is refused with retry_after 12000 ms (one token per 12 s), got %lld",
       (long long)r);
    r = pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "alice", t0 + 5 * S);
    ok(r == 7000, "5 s later: 7000 ms left, got %lld", (long long)r);
    r = pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "alice", t0 + 11999 * MS + 1);
    ok(r == 1, "just before the token: 1 ms (rounded up), got %lld", (long long)r);
    ok(pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "alice", t0 + 12 * S) == 0,
       "after 12 s one more is allowed");
    ok(pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "alice", t0 + 12 * S) == 12000,
       "and then the bucket is empty again");
    ok(pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "bob", t0) == 0, "another key has its own bucket");
    ok(pd_ratelimit_refused_rl(rl, PD_RL_MESSAGE) == 4 &&
           pd_ratelimit_refused_rl(rl, PD_RL__COUNT) == 4 &&
           pd_ratelimit_refused_rl(rl, PD_RL_CONNECT) == 0,
       "refusals are counted per kind and in total (%llu)",
       (unsigned long long)pd_ratelimit_refused_rl(rl, PD_RL__COUNT));
    /* A refusal does not use a token: after a long wait the bucket is full. */
    allowed = 0;
    for (int i = 0; i < 6; i++)
        allowed += pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "alice", t0 + 1000 * S) == 0;
    ok(allowed == 5, "after a long idle time the bucket holds 5 again, no more");
    ok(pd_ratelimit_take_at(rl, PD_RL_CONNECT, "alice", t0) == 0 &&
           pd_ratelimit_size(rl, PD_RL_CONNECT) == 0,
       "a kind with count 0 is off and keeps nothing");
    pd_ratelimit_delete(rl);
}

static void test_burst(void)
{
    /* rate_requests 20/1 with burst 100. */
    struct pd_ratelimit *rl = make(20, 1, 100, 100);
    int64_t t0 = 50 * S, r;
    int allowed = 0;

    for (int i = 0; i < 150; i++)
        allowed += pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "7", t0) == 0;
    ok(allowed == 100, "20/1 burst 100: 100 at once, got %d", allowed);
    r = pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "7", t0);
    ok(r == 50, "then one per 50 ms: retry_after 50, got %lld", (long long)r);
    allowed = 0;
    for (int ms = 0; ms <= 1000; ms += 10)
        allowed += pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "7", t0 + ms * MS) == 0;
    ok(allowed == 20, "sustained: 20 in the next second, got %d", allowed);
    pd_ratelimit_delete(rl);

    /* Extreme settings neither overflow nor divide by zero. */
    rl = make(4294967295u, 1, 4294967295u, 100);
    allowed = 0;
    for (int i = 0; i < 1000; i++)
        allowed += pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "x", t0) == 0;
    ok(allowed == 1000, "COUNT 4294967295/1: effectively unlimited");
    pd_ratelimit_delete(rl);
    rl = make(1, 2147483, 4294967295u, 100);
    allowed = 0;
    for (int i = 0; i < 1000; i++)
        allowed += pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "x", t0) == 0;
    ok(allowed == 1000, "1/2147483 with a huge burst: bounded arithmetic, no overflow");
    pd_ratelimit_delete(rl);
    rl = make(1, 2147483, 0, 100);
    pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "x", t0);
    r = pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "x", t0);
    ok(r == 2147483000LL, "1/2147483: retry_after 2147483000 ms, got %lld", (long long)r);
    pd_ratelimit_delete(rl);
}

static void test_tables(void)
{
    struct pd_ratelimit *rl = make(1, 10, 0, 50);
    int64_t t0 = 100 * S;
    char key[128];

    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "user%d", i);
        pd_ratelimit_take_at(rl, PD_RL_MESSAGE, key, t0 + i * MS);
    }
    ok(pd_ratelimit_size(rl, PD_RL_MESSAGE) == 40, "40 keys, 40 buckets");
    pd_ratelimit_sweep_at(rl, t0 + 5 * S);
    ok(pd_ratelimit_size(rl, PD_RL_MESSAGE) == 40, "a sweep keeps the busy ones");
    ok(pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "user3", t0 + 5 * S) > 0,
       "and what they hold: user3 still limited");
    pd_ratelimit_sweep_at(rl, t0 + 10 * S + 20 * MS);
    ok(pd_ratelimit_size(rl, PD_RL_MESSAGE) == 19,
       "at 10.020 s the 21 buckets full again are swept, 19 left (%zu)",
       pd_ratelimit_size(rl, PD_RL_MESSAGE));
    pd_ratelimit_sweep_at(rl, t0 + 100 * S);
    ok(pd_ratelimit_size(rl, PD_RL_MESSAGE) == 0, "all idle: the table is empty");

    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "flood%d", i);
        pd_ratelimit_take_at(rl, PD_RL_MESSAGE, key, t0 + 200 * S + i * MS);
    }
    ok(pd_ratelimit_size(rl, PD_RL_MESSAGE) == 50, "500 keys into a table of 50: it holds 50 (%zu)",
       pd_ratelimit_size(rl, PD_RL_MESSAGE));
    ok(pd_ratelimit_take_at(rl, PD_RL_MESSAGE, "flood499", t0 + 200 * S + 499 * MS) > 0,
       "the newest keys are kept (flood499 still limited)");
    pd_ratelimit_delete(rl);

    rl = make(1, 10, 0, 100);
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    pd_ratelimit_take_at(rl, PD_RL_MESSAGE, key, t0);
    key[PD_RL_KEY_MAX] = '\0'; /* the same first 64 bytes */
    ok(pd_ratelimit_take_at(rl, PD_RL_MESSAGE, key, t0) > 0,
       "keys are cut at %d bytes (no unbounded key storage)", PD_RL_KEY_MAX);
    pd_ratelimit_delete(rl);
}

static void test_cidr(void)
{
    struct pd_config cfg;
    char err[256];
    char *argv[] = {"parleyd", "--trusted-proxies", "127.0.0.1, 10.0.0.0/8, fd00::/8", NULL};
    uint8_t a[16];

    ok(pd_config_load(&cfg, 3, argv, NULL, err, sizeof(err)) == 0 && cfg.ntrusted_proxies == 3,
       "trusted_proxies parses three entries");
    ok(pd_ip_parse("10.200.3.4", 10, a) == 0 && pd_cidr_match(cfg.trusted_proxies, 3, a),
       "10.200.3.4 is in 10.0.0.0/8");
    ok(pd_ip_parse("11.0.0.1", 8, a) == 0 && !pd_cidr_match(cfg.trusted_proxies, 3, a),
       "11.0.0.1 is not");
    ok(pd_ip_parse("fd12::1", 7, a) == 0 && pd_cidr_match(cfg.trusted_proxies, 3, a),
       "fd12::1 is in fd00::/8");
    ok(pd_ip_parse("::ffff:127.0.0.1", 16, a) == 0 && pd_cidr_match(cfg.trusted_proxies, 3, a),
       "::ffff:127.0.0.1 is 127.0.0.1");
    ok(pd_ip_parse("127.0.0.2", 9, a) == 0 && !pd_cidr_match(cfg.trusted_proxies, 3, a),
       "127.0.0.2 is not 127.0.0.1/32");
    ok(pd_ip_parse("1.2.3", 5, a) != 0 && pd_ip_parse("", 0, a) != 0 &&
           pd_ip_parse("1.2.3.4\0x", 9, a) != 0,
       "not addresses: 1.2.3, empty, an embedded NUL");

    static const struct {
        const char *peer, *xff, *want, *what;
    } cases[] = {
        {"127.0.0.1", NULL, "127.0.0.1", "no header: the peer"},
        {"127.0.0.1", "203.0.113.7", "203.0.113.7", "trusted peer: the forwarded address"},
        {"192.0.2.1", "203.0.113.7", "192.0.2.1", "untrusted peer: the header is ignored"},
        {"127.0.0.1", "6.6.6.6, 203.0.113.7", "203.0.113.7",
         "the right-most untrusted entry, not a spoofed left one"},
        {"127.0.0.1", "198.51.100.1, 203.0.113.7, 10.1.2.3", "203.0.113.7",
         "trusted hops are skipped"},
        {"127.0.0.1", "10.0.0.5,10.0.0.6", "10.0.0.5", "all trusted: the left-most"},
        {"127.0.0.1", "junk, 203.0.113.7", "203.0.113.7", "junk left of the client is not read"},
        {"127.0.0.1", "203.0.113.7, junk", "127.0.0.1", "junk right after the peer: the peer"},
        {"127.0.0.1", "203.0.113.7:4711", "203.0.113.7", "IPv4 with a port"},
        {"127.0.0.1", "[2001:db8::1]:4711", "2001:db8::1", "bracketed IPv6 with a port"},
        {"127.0.0.1", " 2001:DB8:0::2 ", "2001:db8::2", "IPv6 normalised"},
        {"127.0.0.1", "::ffff:198.51.100.9", "198.51.100.9", "IPv4-mapped shown as IPv4"},
        {"127.0.0.1", "", "127.0.0.1", "an empty header: the peer"},
        {"127.0.0.1", ",,,", "127.0.0.1", "only commas: the peer"},
        {"?", "203.0.113.7", "?", "an unknown peer stays unknown"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        pd_client_ip(&cfg, cases[i].peer, cases[i].xff, out, sizeof(out));
        ok(strcmp(out, cases[i].want) == 0, "client ip: %s (%s)", cases[i].what, out);
    }
    pd_config_free(&cfg);
    {
        char *argv0[] = {"parleyd", NULL};
        char out[64];
        pd_config_load(&cfg, 1, argv0, NULL, err, sizeof(err));
        pd_client_ip(&cfg, "127.0.0.1", "203.0.113.7", out, sizeof(out));
        ok(strcmp(out, "127.0.0.1") == 0, "no trusted_proxies: X-Forwarded-For is ignored");
        pd_config_free(&cfg);
    }
}

int main(void)
{
    test_bucket();
    test_burst();
    test_tables();
    test_cidr();
    printf("1..%d\n", test_no);
    return failures ? 1 : 0;
}
