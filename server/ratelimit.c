/* Rate limits: one table of GCRA buckets per kind of limit (see
 * ratelimit.h for the model). A table is open addressing with linear
 * probing and backward-shift deletion, its entries inline (hash, bucket
 * time, key), hashed with SipHash-2-4 under a random key: usernames at
 * /api/login are chosen by whoever is knocking, so collisions must not be
 * either. */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"
#include "loop.h"
#include "server.h"

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL
/* Bucket times never run further ahead than this (about 73 years): keeps
 * every sum below INT64_MAX whatever COUNT/SECONDS say. */
#define TAU_MAX (INT64_MAX / 4)
#define TABLE_MIN 64
/* Buckets looked at to pick one to evict from a full table. */
#define EVICT_SAMPLE 16
/* rate_requests bursts this many times its COUNT. */
#define REQUEST_BURST_FACTOR 5

struct entry {
    uint64_t hash; /* 0: empty slot */
    int64_t tat;   /* ns: when the bucket is full again */
    char key[PD_RL_KEY_MAX + 1];
};

struct table {
    pthread_mutex_t mu;
    struct entry *slots;
    size_t cap, len, max;
    int64_t interval; /* ns per token; 0: the limit is off */
    int64_t tau;      /* ns: (burst - 1) * interval */
    uint64_t refused; /* atomic */
    uint64_t rng;     /* xorshift state for eviction samples */
};

struct pd_ratelimit {
    uint64_t k0, k1; /* SipHash key */
    struct table t[PD_RL__COUNT];
    struct pd_rl_limits limits[PD_RL__COUNT];
    struct server *srv;
};

/* ---- SipHash-2-4 (Aumasson and Bernstein), 64-bit output -------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                               \
    do {                                                                                       \
        v0 += v1;                                                                              \
        v1 = ROTL(v1, 13);                                                                     \
        v1 ^= v0;                                                                              \
        v0 = ROTL(v0, 32);                                                                     \
        v2 += v3;                                                                              \
        v3 = ROTL(v3, 16);                                                                     \
        v3 ^= v2;                                                                              \
        v0 += v3;                                                                              \
        v3 = ROTL(v3, 21);                                                                     \
        v3 ^= v0;                                                                              \
        v2 += v1;                                                                              \
        v1 = ROTL(v1, 17);                                                                     \
        v1 ^= v2;                                                                              \
        v2 = ROTL(v2, 32);                                                                     \
    } while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)len << 56, m;
    size_t i, tail = len & 7;

    for (i = 0; i + 8 <= len; i += 8) {
        m = 0;
        for (int j = 7; j >= 0; j--)
            m = m << 8 | in[i + (size_t)j];
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t j = 0; j < tail; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- one table ------------------------------------------------------------------ */

static size_t home_of(const struct table *t, uint64_t hash)
{
    return (size_t)(hash >> 7) & (t->cap - 1);
}

/* Slot of key, or of the empty slot where it would go. cap > 0. */
static size_t probe(const struct table *t, uint64_t hash, const char *key)
{
    size_t j = home_of(t, hash);

    while (t->slots[j].hash != 0 &&
           (t->slots[j].hash != hash || strcmp(t->slots[j].key, key) != 0))
        j = (j + 1) & (t->cap - 1);
    return j;
}

/* Moves the live buckets into a table of ncap slots (dropping those for
 * which keep says no): growth, shrinking and the sweep in one. */
static int rebuild(struct table *t, size_t ncap, int64_t now_ns, bool sweep)
{
    struct entry *old = t->slots, *ns = calloc(ncap, sizeof(*ns));
    size_t ocap = t->cap;

    if (ns == NULL)
        return -1;
    t->slots = ns;
    t->cap = ncap;
    t->len = 0;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].hash == 0 || (sweep && old[i].tat <= now_ns))
            continue;
        size_t j = home_of(t, old[i].hash);
        while (ns[j].hash != 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = old[i];
        t->len++;
    }
    free(old);
    return 0;
}

/* Removal with backward shift, so lookups never need tombstones. */
static void remove_at(struct table *t, size_t i)
{
    size_t j;

    t->slots[i].hash = 0;
    t->len--;
    for (j = (i + 1) & (t->cap - 1); t->slots[j].hash != 0; j = (j + 1) & (t->cap - 1)) {
        size_t home = home_of(t, t->slots[j].hash);
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            t->slots[j].hash = 0;
            i = j;
        }
    }
}

/* A full table of busy buckets: of a sample, the one that would be full
 * again soonest goes (it has the least to forget). */
static void evict_one(struct table *t)
{
    size_t best = SIZE_MAX, seen = 0, j;

    t->rng ^= t->rng << 13;
    t->rng ^= t->rng >> 7;
    t->rng ^= t->rng << 17;
    j = (size_t)t->rng & (t->cap - 1);
    for (size_t k = 0; k < t->cap && seen < EVICT_SAMPLE; k++, j = (j + 1) & (t->cap - 1)) {
        if (t->slots[j].hash == 0)
            continue;
        seen++;
        if (best == SIZE_MAX || t->slots[j].tat < t->slots[best].tat)
            best = j;
    }
    if (best != SIZE_MAX)
        remove_at(t, best);
}

/* Room for one more bucket: grow, or when the table is at its bound,
 * evict. No sweep here: that is the timer's, so a flood of new keys costs
 * each insert O(1), not a pass over the table. Lock held. */
static int make_room(struct table *t, int64_t now_ns)
{
    if (t->cap == 0)
        return rebuild(t, TABLE_MIN, now_ns, false);
    if (t->len + 1 > t->max) {
        evict_one(t);
        return 0;
    }
    if ((t->len + 1) * 4 > t->cap * 3)
        return rebuild(t, t->cap * 2, now_ns, false);
    return 0;
}

/* force: the token is taken even past the limit (a take another node of
 * the cluster already allowed), and nothing is refused or counted. */
static int64_t table_take(struct table *t, uint64_t hash, const char *key, int64_t now_ns,
                          bool force)
{
    size_t j = 0;
    int64_t tat, retry = 0;

    pthread_mutex_lock(&t->mu);
    if (t->cap == 0 || t->slots[j = probe(t, hash, key)].hash == 0) {
        /* A new bucket is full: the take is allowed. If no memory is
         * left for it, the request is allowed unlimited rather than
         * refused for something the client did not do. */
        if (make_room(t, now_ns) == 0) {
            j = probe(t, hash, key);
            t->slots[j].hash = hash;
            snprintf(t->slots[j].key, sizeof(t->slots[j].key), "%s", key);
            t->slots[j].tat = now_ns + t->interval;
            t->len++;
        }
        pthread_mutex_unlock(&t->mu);
        return 0;
    }
    tat = t->slots[j].tat > now_ns ? t->slots[j].tat : now_ns;
    if (!force && tat - now_ns > t->tau) {
        int64_t ns = tat - t->tau - now_ns;
        retry = (ns + NS_PER_MS - 1) / NS_PER_MS;
        __atomic_add_fetch(&t->refused, 1, __ATOMIC_RELAXED);
    } else {
        t->slots[j].tat = tat + t->interval;
    }
    pthread_mutex_unlock(&t->mu);
    return retry;
}

/* ---- the engine -------------------------------------------------------------------- */

struct pd_ratelimit *pd_ratelimit_new(const struct pd_rl_limits limits[PD_RL__COUNT],
                                      size_t table_max)
{
    struct pd_ratelimit *rl = calloc(1, sizeof(*rl));
    uint64_t seed[3];

    if (rl == NULL)
        return NULL;
    if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
        /* No entropy (very early boot): the time will have to do. */
        seed[0] = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL;
        seed[1] = (uint64_t)(uintptr_t)rl ^ seed[0];
        seed[2] = seed[0] ^ 0x5bd1e995;
    }
    rl->k0 = seed[0];
    rl->k1 = seed[1];
    for (int k = 0; k < PD_RL__COUNT; k++) {
        struct table *t = &rl->t[k];
        const struct pd_rl_limits *l = &limits[k];

        rl->limits[k] = *l;
        pthread_mutex_init(&t->mu, NULL);
        t->max = table_max;
        t->rng = (seed[2] ^ (uint64_t)(k + 1) * 0x2545F4914F6CDD1DULL) | 1;
        if (l->count == 0 || l->seconds == 0)
            continue;
        t->interval = (int64_t)((uint64_t)l->seconds * NS_PER_S / l->count);
        if (t->interval < 1)
            t->interval = 1;
        uint64_t burst = l->burst ? l->burst : l->count;
        t->tau = burst - 1 > (uint64_t)(TAU_MAX / t->interval) ? TAU_MAX
                                                                : (int64_t)(burst - 1) * t->interval;
    }
    return rl;
}

void pd_ratelimit_delete(struct pd_ratelimit *rl)
{
    if (rl == NULL)
        return;
    for (int k = 0; k < PD_RL__COUNT; k++) {
        pthread_mutex_destroy(&rl->t[k].mu);
        free(rl->t[k].slots);
    }
    free(rl);
}

static int64_t take_at(struct pd_ratelimit *rl, enum pd_rl_kind kind, const char *key,
                       int64_t now_ns, bool force)
{
    struct table *t;
    char k[PD_RL_KEY_MAX + 1];
    size_t len;

    if (rl == NULL || (unsigned)kind >= PD_RL__COUNT || (t = &rl->t[kind])->interval == 0)
        return 0;
    len = strnlen(key, PD_RL_KEY_MAX);
    memcpy(k, key, len);
    k[len] = '\0';
    return table_take(t, siphash(rl->k0, rl->k1, (const uint8_t *)k, len) | 1, k, now_ns,
                      force);
}

int64_t pd_ratelimit_take_at(struct pd_ratelimit *rl, enum pd_rl_kind kind, const char *key,
                             int64_t now_ns)
{
    return take_at(rl, kind, key, now_ns, false);
}

void pd_ratelimit_charge_at(struct pd_ratelimit *rl, enum pd_rl_kind kind, const char *key,
                            int64_t now_ns)
{
    take_at(rl, kind, key, now_ns, true);
}

void pd_ratelimit_sweep_at(struct pd_ratelimit *rl, int64_t now_ns)
{
    for (int k = 0; k < PD_RL__COUNT; k++) {
        struct table *t = &rl->t[k];
        size_t ncap;

        pthread_mutex_lock(&t->mu);
        if (t->cap > 0) {
            size_t live = 0;
            for (size_t i = 0; i < t->cap; i++)
                live += t->slots[i].hash != 0 && t->slots[i].tat > now_ns;
            if (live == 0) {
                /* Nothing left: the table's memory goes too. */
                free(t->slots);
                t->slots = NULL;
                t->cap = t->len = 0;
            } else {
                /* The smallest table keeping the load under 3/8, so a
                 * flood that has passed gives its memory back. */
                for (ncap = TABLE_MIN; live * 8 > ncap * 3; ncap *= 2)
                    ;
                if (ncap > t->cap)
                    ncap = t->cap;
                if (live < t->len || ncap < t->cap)
                    rebuild(t, ncap, now_ns, true);
            }
        }
        pthread_mutex_unlock(&t->mu);
    }
}

size_t pd_ratelimit_size(struct pd_ratelimit *rl, enum pd_rl_kind kind)
{
    size_t n;

    pthread_mutex_lock(&rl->t[kind].mu);
    n = rl->t[kind].len;
    pthread_mutex_unlock(&rl->t[kind].mu);
    return n;
}

uint64_t pd_ratelimit_refused_rl(const struct pd_ratelimit *rl, enum pd_rl_kind kind)
{
    uint64_t n = 0;

    if (rl == NULL)
        return 0;
    for (int k = 0; k < PD_RL__COUNT; k++)
        if (kind == PD_RL__COUNT || (enum pd_rl_kind)k == kind)
            n += __atomic_load_n(&rl->t[k].refused, __ATOMIC_RELAXED);
    return n;
}

/* ---- the server's limits -------------------------------------------------------- */

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void sweep_tick(void *arg, int64_t now_mono_ms)
{
    pd_ratelimit_sweep_at(arg, mono_ns());
}

static struct pd_rl_limits limits_of(const struct pd_rate *r, unsigned factor)
{
    uint64_t burst = (uint64_t)r->count * factor;

    return (struct pd_rl_limits){r->count, r->seconds,
                                 burst > UINT32_MAX ? UINT32_MAX : (unsigned)burst};
}

int pd_ratelimit_init(struct server *srv)
{
    const struct pd_config *cfg = &srv->cfg;
    struct pd_rl_limits limits[PD_RL__COUNT];

    limits[PD_RL_CONNECT] = limits_of(&cfg->rate_connections, 1);
    limits[PD_RL_MESSAGE] = limits_of(&cfg->rate_messages, 1);
    limits[PD_RL_REQUEST] = limits_of(&cfg->rate_requests, REQUEST_BURST_FACTOR);
    limits[PD_RL_LOGIN_IP] = limits_of(&cfg->login_rate, 1);
    limits[PD_RL_LOGIN_USER] = limits_of(&cfg->login_user_rate, 1);
    srv->ratelimit = pd_ratelimit_new(limits, PD_RL_TABLE_MAX);
    if (srv->ratelimit == NULL)
        return -1;
    srv->ratelimit->srv = srv;
    if (pd_loop_every(srv->loop, PD_RL_SWEEP_MS, sweep_tick, srv->ratelimit) != 0) {
        pd_ratelimit_free(srv);
        return -1;
    }
    return 0;
}

void pd_ratelimit_free(struct server *srv)
{
    pd_ratelimit_delete(srv->ratelimit);
    srv->ratelimit = NULL;
}

int64_t pd_ratelimit_take(struct server *srv, enum pd_rl_kind kind, const char *key)
{
    return pd_ratelimit_take_at(srv->ratelimit, kind, key, mono_ns());
}

void pd_ratelimit_charge(struct server *srv, enum pd_rl_kind kind, const char *key)
{
    pd_ratelimit_charge_at(srv->ratelimit, kind, key, mono_ns());
}

int64_t pd_ratelimit_take_conn(struct server *srv, uint64_t conn_id)
{
    char key[24];

    if (srv->ratelimit == NULL || srv->ratelimit->t[PD_RL_REQUEST].interval == 0)
        return 0;
    snprintf(key, sizeof(key), "%llu", (unsigned long long)conn_id);
    return pd_ratelimit_take_at(srv->ratelimit, PD_RL_REQUEST, key, mono_ns());
}

uint64_t pd_ratelimit_refused(const struct server *srv, enum pd_rl_kind kind)
{
    return pd_ratelimit_refused_rl(srv->ratelimit, kind);
}

void pd_ratelimit_describe(const struct server *srv, enum pd_rl_kind kind, char *out,
                           size_t outlen)
{
    const struct pd_rl_limits *l = &srv->ratelimit->limits[kind];

    if (l->burst != 0 && l->burst != l->count)
        snprintf(out, outlen, "%u per %u s, bursts of %u", l->count, l->seconds, l->burst);
    else
        snprintf(out, outlen, "%u per %u s", l->count, l->seconds);
}

/* ---- the client address behind trusted proxies ------------------------------------ */

/* One X-Forwarded-For entry (s, len bytes, trimmed): an address, maybe with
 * a port ("1.2.3.4:80", "[::1]:80") or in brackets. 0 and the address. */
static int parse_hop(const char *s, size_t len, uint8_t addr[16])
{
    const char *colon;

    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return -1;
        return pd_ip_parse(s + 1, (size_t)(close - s - 1), addr);
    }
    colon = memchr(s, ':', len);
    /* Exactly one colon: IPv4 with a port (IPv6 has at least two). */
    if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) == NULL)
        len = (size_t)(colon - s);
    return pd_ip_parse(s, len, addr);
}

static void format_ip(const uint8_t addr[16], char *out, size_t outlen)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char buf[INET6_ADDRSTRLEN];

    if (memcmp(addr, mapped, 12) == 0)
        inet_ntop(AF_INET, addr + 12, buf, sizeof(buf));
    else
        inet_ntop(AF_INET6, addr, buf, sizeof(buf));
    snprintf(out, outlen, "%s", buf);
}

void pd_client_ip(const struct pd_config *cfg, const char *peer, const char *xff, char *out,
                  size_t outlen)
{
    uint8_t addr[16], best[16];
    const char *end;
    bool found = false;

    snprintf(out, outlen, "%s", peer);
    if (cfg->ntrusted_proxies == 0 || xff == NULL ||
        pd_ip_parse(peer, strlen(peer), addr) != 0 ||
        !pd_cidr_match(cfg->trusted_proxies, cfg->ntrusted_proxies, addr))
        return;
    /* From the right: each hop was added by the one after it, the last by
     * the (trusted) peer. */
    end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        size_t len;

        while (start > xff && start[-1] != ',')
            start--;
        len = (size_t)(end - start);
        end = start > xff ? start - 1 : xff;
        while (len > 0 && isspace((unsigned char)*start)) {
            start++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)start[len - 1]))
            len--;
        if (parse_hop(start, len, addr) != 0)
            break; /* not an address: believe nothing further left */
        memcpy(best, addr, sizeof(best));
        found = true;
        if (!pd_cidr_match(cfg->trusted_proxies, cfg->ntrusted_proxies, addr))
            break;
    }
    if (found)
        format_ip(best, out, outlen);
}
