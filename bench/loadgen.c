/* loadgen: a load generator for parleyd and the Socket.IO peer (issue 6).
 *
 * One thread, epoll, non-blocking sockets, its own WebSocket framing (client
 * frames masked with a fixed key). Connections that only receive ("drained")
 * read in big chunks and count messages by walking frame headers; senders and
 * probes parse every message (acks, and the send time in pushed texts).
 *
 *   loadgen --proto parley|sio --url http://127.0.0.1:PORT [--url ...]
 *           [--token-cmd 'CMD %s'] [--users U] [--size B] [--drain S]
 *           [--connect-timeout S] [--src-addrs N] WORKLOAD [options]
 *   fanout  --members N --senders S --rate R --seconds T --probes P
 *   rooms   --rooms K --members-per-room N --senders-per-room S --rate R
 *           --seconds T [--probes P (per room)]
 *   idle    --conns N [--seconds T]     (hold until SIGTERM or T)
 *   durable --senders S --seconds T [--window W]
 *   churn   --rate R --seconds T            (fixed rate: R cycles/s offered)
 *   churn   --rate 0 --concurrency K --seconds T [--no-join]   (closed loop)
 *
 * Several servers (a cluster's nodes): --url given more than once (up to 16).
 * Fanout and rooms: in each room the senders connect to the first URL and the
 * receivers (probes, then the drained ones) round-robin over all the URLs, so
 * with two nodes half the receivers are on the senders' node and half on the
 * other; the JSON line gains "urls" and "per_url" (per server: conns,
 * deliveries_s, delivered, p50/p99/max_ms and latency_samples of its probes).
 * Idle, durable and churn: connection (slot) i goes to URL i % N. With one
 * --url nothing changes.
 *
 * One JSON line on stdout at the end; progress on stderr. Exit 0 when the run
 * completed, 1 on setup failure (a connection or join of fanout, rooms or
 * durable failed, or no idle connection came up: the line then carries
 * "error"), 2 on usage errors.
 *
 * Users: --users U (default 100) users bench0..bench{U-1} (--user-prefix
 * names them otherwise), connection i
 * authenticates as user i % U (parley: one --token-cmd run per user, so
 * 19000 connections do not cost 19000 processes; sio: the token is the user
 * name). A user already in a room only subscribes when another of its
 * connections joins, so setup does not push N^2 room:user-joined. Churn runs
 * at most U cycles at once, one per user (a leave must not remove the
 * membership another cycle of the same user relies on).
 *
 * Rooms are named bench-WORKLOAD-K (--room-prefix). Fanout and rooms: per room
 * the first S connections send (each message:send / "send" carries an id and
 * is acked), the next P are probes (parse everything: latency from the
 * "t=NS" at the head of the text, CLOCK_MONOTONIC, same machine), the rest
 * are drained: own epoll set polled every --drain-poll-ms (10), 256 KiB
 * read()s, frames counted by walking headers only (every text frame counts:
 * after setup they are the message pushes; sio "2" pings are answered "3"
 * and not counted). Durable: one room per sender so acks are not slowed by
 * fanout. Churn: connect, upgrade (parley: the token in the upgrade request;
 * sio: the Engine.IO open and the "40" connect with the token), join, leave,
 * close frame; a cycle completes when the server's close (or EOF) arrives;
 * connect latency is connect() to the 101, ready latency connect() to the
 * join's ack. Fixed rate (--rate R > 0): R cycles/s started, at most one per
 * user at a time, all in room 0. Closed loop (--rate 0): --concurrency K
 * (16) slots, slot i is user i and uses room i, each starts its next cycle
 * as soon as the last one completed: completed cycles/s and upgrades/s (101s
 * received) are what the server sustains. --no-join leaves the room out: a
 * cycle is connect, upgrade with auth, close, so upgrades/s measures the
 * handshake alone. Idle: connect latency likewise
 * (includes waiting behind the 256 handshakes allowed in flight). Setup opens
 * at most 256 handshakes at once; a connection not joined --connect-timeout
 * (10) s after its connect() is refused as timeout_<stage>.
 *
 * Refusals (refused_how in the JSON) say at which step and how: http_NNN (an
 * HTTP answer other than 101, e.g. http_503 or http_429; refused_retry_after
 * counts those carrying Retry-After), econnrefused, reset_connect,
 * eaddrnotavail (no local port left: the client's fault, not the server's),
 * reset_before_101, eof_before_101, close_NNNN (a close frame before the
 * join), sio_connect_error, timeout_connect / timeout_101 / timeout_sio_open
 * / timeout_sio_connect (no answer within --connect-timeout).
 *
 * Ports on loopback: churn makes a connection per cycle and the client
 * closes its socket when the server's close frame arrives, so TIME_WAIT
 * entries pile up on the client's side. With --src-addrs N (churn's default
 * is 8 when the server is on 127.0.0.0/8, else 1) the sockets are bound to
 * 127.0.0.1..127.0.0.N (IP_BIND_ADDRESS_NO_PORT: the port is still chosen
 * by connect()), N times the ephemeral ports (ip_local_port_range) per
 * second of TIME_WAIT; the kernel's tcp_tw_reuse (2 = loopback, the default)
 * reuses them after 1 s anyway. A port shortage would show as eaddrnotavail,
 * never as a slower rate. No SO_LINGER 0: every close is the normal FIN.
 *
 * loadgen_cpu_pct is the loadgen's own CPU (getrusage, user + system) over
 * the measured seconds, in % of one core: near 100 means the load generator,
 * not the server, set the pace.
 *
 * Rates are over --seconds (what arrived by then); delivered_ratio also
 * counts what arrives during the --drain (3 s) that follows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum proto { P_PARLEY, P_SIO };
enum workload { W_FANOUT, W_ROOMS, W_IDLE, W_DURABLE, W_CHURN };
static const char *wl_names[] = {"fanout", "rooms", "idle", "durable", "churn"};

/* connection states */
enum cstate {
    S_FREE,
    S_CONNECTING, /* TCP connect in progress */
    S_HANDSHAKE,  /* upgrade request sent, waiting for the 101 */
    S_SIO_OPEN,   /* sio: waiting for "0{...}" */
    S_SIO_CONN,   /* sio: "40{auth}" sent, waiting for "40" */
    S_JOINING,    /* join sent */
    S_READY,      /* joined */
    S_LEAVING,    /* churn: leave sent */
    S_CLOSING,    /* close frame sent */
    S_DEAD
};
enum role { R_DRAIN, R_SENDER, R_PROBE };

#define TS_RING 1024 /* per-sender ring of send times, indexed by request id */

struct conn {
    int fd, epfd;
    uint8_t state, role, counting, peek1;
    uint8_t op, hlen, need;
    uint8_t hdr[14];
    uint64_t skip;
    int user, room, slot;
    int url; /* index into targets (--url given several times) */
    char *rbuf;
    size_t rlen, rcap;
    char *wbuf;
    size_t wlen, wcap, woff;
    bool want_out;
    uint64_t t0;       /* connect start */
    uint64_t next_id;  /* next request id */
    uint32_t inflight; /* requests awaiting an ack */
    uint64_t *ts;      /* send times by id % TS_RING (senders) */
};

/* ---- options ---------------------------------------------------------------------- */

static enum proto proto = P_PARLEY;
static enum workload wl = W_FANOUT;
static const char *token_cmd = NULL;
/* The servers: --url may be given up to MAX_URLS times (a cluster's nodes). */
#define MAX_URLS 16
struct target {
    const char *url;
    char host[256], port[16];
    struct addrinfo *addr;
};
static struct target targets[MAX_URLS];
static int nurls;
static int members = 100, senders = 1, probes = 1, nrooms = 1, conns_opt = 100;
static int window_opt = 8, users_opt = 0, size_opt = 100;
static int concurrency_opt = 16, src_addrs_opt = -1; /* -1: the workload's default */
static bool no_join_opt; /* churn: upgrade (and auth) then close, no join/leave */
static double rate = 100, seconds = 10, drain_s = 3;
static bool seconds_given = false;
static const char *room_prefix = "bench";
static const char *user_prefix = "bench"; /* users are PREFIX0, PREFIX1, ... */

/* ---- state ------------------------------------------------------------------------ */

static int ep, ep_drain;
static double drain_poll_ms = 10;
static double connect_timeout_s = 10;
static uint64_t next_drain_poll;
static struct conn *conns;
static int nconns;
static char **tokens;
static int ntokens;
static volatile sig_atomic_t stop_flag;
static uint8_t scratch[1 << 18];

static uint64_t n_sent, n_acked, n_ack_err, n_delivered, n_errors, n_refused, n_cycles;
static uint64_t n_up, n_pending, n_joined, n_failed, n_upgrades, n_retry_after;
struct refusal {
    char how[24];
    uint64_t n;
};
static struct refusal refusals[16];

struct samples {
    uint32_t *v; /* microseconds */
    size_t n, cap;
};
static struct samples lat, acklat, connlat, readylat;
/* Per --url (with more than one): deliveries counted and latency samples
 * taken on the connections to that server. */
static uint64_t url_delivered[MAX_URLS], url_delivered_in_t[MAX_URLS];
static struct samples url_lat[MAX_URLS];
static int url_conns[MAX_URLS];
static int nsrc;                        /* source addresses in use (0: let the kernel pick) */
static struct sockaddr_in src_base;     /* 127.0.0.1; source i is + i */

static const uint8_t mask_key[4] = {0x37, 0xa1, 0x5c, 0xe2};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL && n)
        die("out of memory");
    return p;
}

static void sample_add(struct samples *s, uint64_t ns)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    uint64_t us = ns / 1000;
    s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(struct samples *s, double p)
{
    if (s->n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
    return s->v[i] / 1000.0;
}

static void refused(const char *how)
{
    n_refused++;
    for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++) {
        if (refusals[i].n == 0) {
            snprintf(refusals[i].how, sizeof refusals[i].how, "%s", how);
            refusals[i].n = 1;
            return;
        }
        if (strcmp(refusals[i].how, how) == 0) {
            refusals[i].n++;
            return;
        }
    }
}

/* ---- output buffer and frames ------------------------------------------------------ */

static void conn_fail(struct conn *c, const char *why);

/* How a socket error before the 101 reads in refused_how. */
static const char *connect_how(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return "econnrefused";
    case ECONNRESET:
        return "reset_connect";
    case ETIMEDOUT:
        return "timeout_connect";
    case EADDRNOTAVAIL:
        return "eaddrnotavail";
    default:
        return "connect_error";
    }
}

static void wreserve(struct conn *c, size_t n)
{
    if (c->woff > 0 && c->woff == c->wlen)
        c->woff = c->wlen = 0;
    if (c->wlen + n > c->wcap) {
        if (c->woff > 0) {
            memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
            c->wlen -= c->woff;
            c->woff = 0;
        }
        if (c->wlen + n > c->wcap) {
            c->wcap = (c->wlen + n) * 2;
            c->wbuf = xrealloc(c->wbuf, c->wcap);
        }
    }
}

static void set_events(struct conn *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    if (c->want_out != out) {
        c->want_out = out;
        epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

static void flush(struct conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t k = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_events(c, true);
                return;
            }
            if (errno == EINTR)
                continue;
            if (c->state == S_CONNECTING)
                conn_fail(c, connect_how(errno));
            else if (c->state == S_HANDSHAKE)
                conn_fail(c, errno == EPIPE || errno == ECONNRESET ? "reset_before_101" : "write");
            else
                conn_fail(c, "write");
            return;
        }
        c->woff += (size_t)k;
    }
    c->woff = c->wlen = 0;
    if (c->want_out)
        set_events(c, false);
}

static void ws_frame(struct conn *c, int opcode, const char *p, size_t n)
{
    wreserve(c, n + 14);
    uint8_t *h = (uint8_t *)c->wbuf + c->wlen;
    size_t hl;
    h[0] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        h[1] = (uint8_t)(0x80 | n);
        hl = 2;
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    memcpy(h + hl, mask_key, 4);
    hl += 4;
    uint8_t *d = h + hl;
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)p[i] ^ mask_key[i & 3];
    c->wlen += hl + n;
}

static void ws_text(struct conn *c, const char *p, size_t n)
{
    ws_frame(c, 1, p, n);
}

/* ---- requests --------------------------------------------------------------------- */

static void room_name(char *buf, size_t n, int room)
{
    snprintf(buf, n, "%s-%s-%d", room_prefix, wl_names[wl], room);
}

/* join:chat / leave:chat (parley) or join / leave (Socket.IO) of c's room,
 * with an ack; c waits in `next` for it. */
static void send_room_event(struct conn *c, const char *parley_event, const char *sio_event,
                            int next)
{
    char b[256], r[96];
    int n;
    room_name(r, sizeof r, c->room);
    uint64_t id = c->next_id++;
    if (proto == P_PARLEY)
        n = snprintf(b, sizeof b, "{\"id\":%" PRIu64 ",\"event\":\"%s\",\"data\":{\"room\":\"%s\"}}",
                     id, parley_event, r);
    else
        n = snprintf(b, sizeof b, "42%" PRIu64 "[\"%s\",{\"room\":\"%s\"}]", id, sio_event, r);
    c->state = next;
    ws_text(c, b, (size_t)n);
    flush(c);
}

static void send_join(struct conn *c)
{
    send_room_event(c, "join:chat", "join", S_JOINING);
}

static void send_leave(struct conn *c)
{
    send_room_event(c, "leave:chat", "leave", S_LEAVING);
}

static void send_close(struct conn *c)
{
    char p[2] = {(char)0x03, (char)0xe8}; /* 1000 */
    c->state = S_CLOSING;
    ws_frame(c, 8, p, 2);
    flush(c);
}

static void send_msg(struct conn *c)
{
    static char b[70000];
    char r[96];
    uint64_t t = now_ns(), id = c->next_id++;
    int n;
    room_name(r, sizeof r, c->room);
    if (proto == P_PARLEY)
        n = snprintf(b, sizeof b,
                     "{\"id\":%" PRIu64 ",\"event\":\"message:send\",\"data\":{\"room\":\"%s\",\"text\":\"",
                     id, r);
    else
        n = snprintf(b, sizeof b, "42%" PRIu64 "[\"send\",{\"room\":\"%s\",\"text\":\"", id, r);
    int tn = snprintf(b + n, 40, "t=%" PRIu64 " ", t);
    n += tn;
    for (int i = tn; i < size_opt && (size_t)n < sizeof b - 16; i++)
        b[n++] = 'x';
    n += snprintf(b + n, 16, proto == P_PARLEY ? "\"}}" : "\"}]");
    if (c->ts)
        c->ts[id % TS_RING] = t;
    c->inflight++;
    n_sent++;
    ws_text(c, b, (size_t)n);
    flush(c);
}

/* ---- connection lifecycle --------------------------------------------------------- */

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (c->state == S_READY || c->state == S_LEAVING || c->state == S_CLOSING)
        n_up--;
    if (c->state >= S_CONNECTING && c->state <= S_JOINING)
        n_pending--;
    c->state = S_DEAD;
    free(c->rbuf);
    c->rbuf = NULL;
    c->rlen = c->rcap = 0;
    c->wlen = c->woff = 0;
    c->counting = 0;
    c->hlen = 0;
    c->skip = 0;
    c->inflight = 0;
}

static void conn_fail(struct conn *c, const char *why)
{
    if (c->state == S_DEAD || c->state == S_FREE)
        return;
    if (c->state == S_CLOSING) {
        n_cycles += (wl == W_CHURN);
        conn_close(c);
        return;
    }
    if (c->state <= S_SIO_CONN)
        refused(why);
    else
        n_errors++;
    if (c->state <= S_JOINING)
        n_failed++;
    conn_close(c);
}

static void conn_start(struct conn *c)
{
    const struct addrinfo *addr = targets[c->url].addr;
    int fd = socket(addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        c->state = S_CONNECTING;
        n_pending++;
        c->fd = -1;
        conn_fail(c, "socket");
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (nsrc > 1) {
        /* 127.0.0.(1 + slot % nsrc), the port left to connect() */
        struct sockaddr_in sa = src_base;
        sa.sin_addr.s_addr = htonl(ntohl(src_base.sin_addr.s_addr) + (uint32_t)(c->slot % nsrc));
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            close(fd);
            c->state = S_CONNECTING;
            n_pending++;
            c->fd = -1;
            conn_fail(c, connect_how(errno));
            return;
        }
    }
    c->fd = fd;
    c->t0 = now_ns();
    c->state = S_CONNECTING;
    c->next_id = 1;
    c->want_out = true;
    c->epfd = ep;
    n_pending++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, addr->ai_addr, addr->ai_addrlen) < 0 && errno != EINPROGRESS)
        conn_fail(c, connect_how(errno));
}

static void on_connected(struct conn *c)
{
    char b[4096];
    int n;
    const char *tok = ntokens ? tokens[c->user % ntokens] : "";
    const char *host = targets[c->url].host, *port = targets[c->url].port;
    if (proto == P_PARLEY)
        n = snprintf(b, sizeof b,
                     "GET /ws HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
                     host, port, tok);
    else
        n = snprintf(b, sizeof b,
                     "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s:%s\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     host, port);
    c->state = S_HANDSHAKE;
    wreserve(c, (size_t)n);
    memcpy(c->wbuf + c->wlen, b, (size_t)n);
    c->wlen += (size_t)n;
    flush(c);
}

static void became_ready(struct conn *c);
static void handle_msg(struct conn *c, const char *p, size_t n);

/* After the 101 (parley) or "40" (sio). */
static void upgraded(struct conn *c)
{
    n_upgrades++;
    sample_add(&connlat, now_ns() - c->t0);
    if (proto == P_SIO) {
        c->state = S_SIO_OPEN;
        return;
    }
    if (no_join_opt)
        became_ready(c); /* authenticated with the 101: ready to close */
    else
        send_join(c);
}

/* ---- counting mode: walk frame headers only ---------------------------------------- */

static void pong_sio(struct conn *c)
{
    ws_text(c, "3", 1);
    flush(c);
}

static void delivered(struct conn *c)
{
    n_delivered++;
    url_delivered[c->url]++;
}

static void frame_start(struct conn *c, int op, uint64_t len)
{
    c->op = (uint8_t)op;
    c->skip = len;
    c->peek1 = 0;
    if (op == 1 || op == 0) {
        if (proto == P_SIO && len == 1)
            c->peek1 = 1;
        else
            delivered(c);
    } else if (op == 9) {
        ws_frame(c, 10, NULL, 0);
        flush(c);
    } else if (op == 8) {
        conn_fail(c, "close");
    }
}

static void count_bytes(struct conn *c, const uint8_t *p, size_t n)
{
    while (n > 0 && c->state != S_DEAD) {
        if (c->skip > 0) {
            size_t k = n < c->skip ? n : (size_t)c->skip;
            if (c->peek1) {
                if (p[0] == '2')
                    pong_sio(c);
                else
                    delivered(c);
                c->peek1 = 0;
            }
            p += k;
            n -= k;
            c->skip -= k;
            continue;
        }
        if (c->hlen == 0 && n >= 2) { /* fast path: the whole header is here */
            uint8_t b1 = p[1] & 0x7f;
            size_t hl = 2 + (b1 == 126 ? 2 : b1 == 127 ? 8 : 0) + ((p[1] & 0x80) ? 4 : 0);
            if (n >= hl) {
                uint64_t len = b1;
                if (b1 == 126)
                    len = (uint64_t)p[2] << 8 | p[3];
                else if (b1 == 127) {
                    len = 0;
                    for (int i = 0; i < 8; i++)
                        len = len << 8 | p[2 + i];
                }
                int op = p[0] & 0x0f;
                p += hl;
                n -= hl;
                frame_start(c, op, len);
                continue;
            }
        }
        c->hdr[c->hlen++] = *p++;
        n--;
        if (c->hlen == 2) {
            uint8_t b1 = c->hdr[1] & 0x7f;
            c->need = (uint8_t)(2 + (b1 == 126 ? 2 : b1 == 127 ? 8 : 0) + ((c->hdr[1] & 0x80) ? 4 : 0));
        }
        if (c->hlen >= 2 && c->hlen == c->need) {
            uint8_t b1 = c->hdr[1] & 0x7f;
            uint64_t len = b1;
            if (b1 == 126)
                len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
            else if (b1 == 127) {
                len = 0;
                for (int i = 0; i < 8; i++)
                    len = len << 8 | c->hdr[2 + i];
            }
            c->hlen = 0;
            frame_start(c, c->hdr[0] & 0x0f, len);
        }
    }
}

static void to_counting(struct conn *c)
{
    if (c->counting || c->state == S_DEAD)
        return;
    /* Called from parse_frames (an ack): it hands the rest of rbuf to the counter.
     * Drained connections move to their own epoll set, polled every
     * --drain-poll-ms, so that each read() gets several messages. */
    if (drain_poll_ms > 0) {
        struct epoll_event ev = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        c->epfd = ep_drain;
        epoll_ctl(ep_drain, EPOLL_CTL_ADD, c->fd, &ev);
    }
    c->counting = 1;
    c->hlen = 0;
    c->skip = 0;
}

/* ---- full parsing ------------------------------------------------------------------ */

static uint64_t parse_u64(const char *p, const char *end)
{
    uint64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

static void got_text_ts(struct conn *c, const char *p, size_t n)
{
    const char *t = memmem(p, n, "\"text\":\"t=", 10);
    if (t == NULL)
        return;
    uint64_t ts = parse_u64(t + 10, p + n), now = now_ns();
    if (ts > 0 && ts <= now) {
        sample_add(&lat, now - ts);
        if (nurls > 1)
            sample_add(&url_lat[c->url], now - ts);
    }
}

static void got_ack(struct conn *c, uint64_t id, bool ok, const char *p, size_t n)
{
    (void)p;
    (void)n;
    if (c->state == S_JOINING) {
        if (!ok) {
            fprintf(stderr, "loadgen: join failed: %.*s\n", (int)(n > 300 ? 300 : n), p);
            n_errors++;
            n_failed++;
            conn_close(c);
            return;
        }
        became_ready(c);
        return;
    }
    if (c->state == S_LEAVING) {
        if (!ok)
            n_errors++;
        send_close(c);
        return;
    }
    if (c->inflight > 0)
        c->inflight--;
    if (ok) {
        n_acked++;
        if (c->ts)
            sample_add(&acklat, now_ns() - c->ts[id % TS_RING]);
    } else {
        n_ack_err++;
        if (n_ack_err < 5)
            fprintf(stderr, "loadgen: error ack: %.*s\n", (int)(n > 300 ? 300 : n), p);
    }
}

static void handle_msg(struct conn *c, const char *p, size_t n)
{
    if (proto == P_PARLEY) {
        if (n > 6 && memcmp(p, "{\"id\":", 6) == 0) {
            uint64_t id = parse_u64(p + 6, p + n);
            const char *q = memmem(p, n < 40 ? n : 40, "\"ok\":", 5);
            bool ok = q && q + 5 < p + n && q[5] == 't';
            got_ack(c, id, ok, p, n);
            return;
        }
        if (n > 30 && memmem(p, n < 40 ? n : 40, "\"message:new\"", 13)) {
            delivered(c);
            got_text_ts(c, p, n);
        } else if (c->state == S_READY) {
            delivered(c); /* other pushes count as in the drained path */
        }
        return;
    }
    /* Socket.IO */
    if (n == 1 && p[0] == '2') {
        pong_sio(c);
        return;
    }
    if (n >= 1 && p[0] == '0' && c->state == S_SIO_OPEN) {
        char b[256];
        const char *tok = ntokens ? tokens[c->user % ntokens] : "";
        int k = snprintf(b, sizeof b, "40{\"token\":\"%s\"}", tok);
        c->state = S_SIO_CONN;
        ws_text(c, b, (size_t)k);
        flush(c);
        return;
    }
    if (n >= 2 && p[0] == '4' && p[1] == '0' && c->state == S_SIO_CONN) {
        if (no_join_opt)
            became_ready(c); /* the token checked: what parley's 101 means */
        else
            send_join(c);
        return;
    }
    if (n >= 2 && p[0] == '4' && p[1] == '4') {
        conn_fail(c, "sio_connect_error");
        return;
    }
    if (n >= 2 && p[0] == '4' && p[1] == '3') {
        uint64_t id = parse_u64(p + 2, p + n);
        bool ok = memmem(p, n, "\"error\"", 7) == NULL;
        got_ack(c, id, ok, p, n);
        return;
    }
    if (n >= 2 && p[0] == '4' && p[1] == '2') {
        delivered(c);
        if (memmem(p, n < 20 ? n : 20, "\"message\"", 9))
            got_text_ts(c, p, n);
        return;
    }
    if (n >= 2 && p[0] == '4' && p[1] == '1') {
        conn_fail(c, "sio_disconnect");
        return;
    }
}

/* Parses complete frames out of rbuf; returns false if the connection died. */
static bool parse_frames(struct conn *c)
{
    size_t off = 0;
    while (!c->counting && c->state != S_DEAD) {
        uint8_t *p = (uint8_t *)c->rbuf + off;
        size_t n = c->rlen - off;
        if (n < 2)
            break;
        uint8_t b1 = p[1] & 0x7f;
        size_t hl = 2 + (b1 == 126 ? 2 : b1 == 127 ? 8 : 0) + ((p[1] & 0x80) ? 4 : 0);
        if (n < hl)
            break;
        uint64_t len = b1;
        if (b1 == 126)
            len = (uint64_t)p[2] << 8 | p[3];
        else if (b1 == 127) {
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
        }
        if (n - hl < len)
            break;
        int op = p[0] & 0x0f;
        off += hl + (size_t)len;
        if (op == 1 || op == 0)
            handle_msg(c, (char *)p + hl, (size_t)len);
        else if (op == 9) {
            ws_frame(c, 10, (char *)p + hl, (size_t)len);
            flush(c);
        } else if (op == 8) {
            if (c->state == S_CLOSING) {
                n_cycles += (wl == W_CHURN);
                conn_close(c);
            } else {
                char how[24];
                int code = len >= 2 ? p[hl] << 8 | p[hl + 1] : 0;
                snprintf(how, sizeof how, "close_%d", code);
                if (c->state <= S_JOINING)
                    fprintf(stderr, "loadgen: closed %d: %.*s\n", code, (int)(len > 2 ? len - 2 : 0),
                            (char *)p + hl + 2);
                conn_fail(c, how);
            }
            return false;
        }
    }
    if (c->state == S_DEAD)
        return false;
    if (c->counting) { /* switched mid-buffer: the rest goes through the counter */
        size_t rest = c->rlen - off;
        char *buf = c->rbuf;
        c->rbuf = NULL;
        c->rlen = c->rcap = 0;
        count_bytes(c, (uint8_t *)buf + off, rest);
        free(buf);
        return c->state != S_DEAD;
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    return true;
}

/* The status of the HTTP answer in rbuf (its status line complete), else 0. */
static int handshake_status(struct conn *c)
{
    if (c->rlen < 13 || memcmp(c->rbuf, "HTTP/1.", 7) != 0 || c->rbuf[8] != ' ')
        return 0;
    return atoi(c->rbuf + 9);
}

/* A non-101 answer: refused as http_NNN (Retry-After counted). */
static void handshake_refused(struct conn *c, int status)
{
    char how[24];
    size_t n = c->rlen;
    char *e = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (e)
        n = (size_t)(e - c->rbuf);
    if (memmem(c->rbuf, n, "\nRetry-After:", 13) || memmem(c->rbuf, n, "\nretry-after:", 13))
        n_retry_after++;
    snprintf(how, sizeof how, "http_%d", status);
    if (n_refused < 3)
        fprintf(stderr, "loadgen: upgrade refused: %.*s\n", (int)(c->rlen > 300 ? 300 : c->rlen), c->rbuf);
    conn_fail(c, how);
}

/* EOF or an error while waiting for the 101: an answer already read counts as
 * that answer (a server may send 503 and close at once). */
static void handshake_lost(struct conn *c, const char *how)
{
    int status = handshake_status(c);
    if (status > 0 && status != 101)
        handshake_refused(c, status);
    else
        conn_fail(c, how);
}

static void on_handshake_data(struct conn *c)
{
    char *e = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (e == NULL) {
        if (c->rlen > 16384)
            conn_fail(c, "bad_http");
        return;
    }
    int status = handshake_status(c);
    if (status != 101) {
        handshake_refused(c, status);
        return;
    }
    size_t hl = (size_t)(e + 4 - c->rbuf);
    memmove(c->rbuf, c->rbuf + hl, c->rlen - hl);
    c->rlen -= hl;
    upgraded(c);
    parse_frames(c);
}

static void on_readable(struct conn *c)
{
    for (;;) {
        if (c->counting) {
            ssize_t k = read(c->fd, scratch, sizeof scratch);
            if (k > 0) {
                count_bytes(c, scratch, (size_t)k);
                if (c->state == S_DEAD || (size_t)k < sizeof scratch)
                    return;
                continue;
            }
            if (k == 0) {
                conn_fail(c, "eof");
                return;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_fail(c, "reset");
            return;
        }
        if (c->rcap - c->rlen < 65536) {
            c->rcap = c->rcap ? c->rcap * 2 : 131072;
            if (c->rcap - c->rlen < 65536)
                c->rcap = c->rlen + 131072;
            c->rbuf = xrealloc(c->rbuf, c->rcap);
        }
        ssize_t k = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (k > 0) {
            c->rlen += (size_t)k;
            if (c->state == S_HANDSHAKE)
                on_handshake_data(c);
            else
                parse_frames(c);
            if (c->state == S_DEAD)
                return;
            continue;
        }
        if (k == 0) {
            if (c->state == S_HANDSHAKE)
                handshake_lost(c, "eof_before_101");
            else
                conn_fail(c, "eof");
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            if (c->state == S_HANDSHAKE)
                handshake_lost(c, "reset_before_101");
            else
                conn_fail(c, "reset");
        }
        return;
    }
}

static void on_event(struct conn *c, uint32_t ev)
{
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err != 0) {
            conn_fail(c, connect_how(err));
            return;
        }
        if (!(ev & (EPOLLOUT | EPOLLIN)))
            return;
        on_connected(c);
        if (c->state == S_DEAD)
            return;
    }
    if (ev & EPOLLOUT)
        flush(c);
    if (c->state != S_DEAD && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        on_readable(c);
}

/* ---- workloads --------------------------------------------------------------------- */

static void became_ready(struct conn *c)
{
    c->state = S_READY;
    n_pending--;
    n_up++;
    n_joined++;
    sample_add(&readylat, now_ns() - c->t0);
    if (wl == W_CHURN) {
        if (no_join_opt)
            send_close(c);
        else
            send_leave(c);
        return;
    }
    if (c->role == R_DRAIN)
        to_counting(c);
}

static void loop_once(int timeout_ms)
{
    struct epoll_event evs[512];
    int n;
    if (drain_poll_ms > 0) {
        uint64_t now = now_ns();
        if (now >= next_drain_poll) {
            next_drain_poll = now + (uint64_t)(drain_poll_ms * 1e6);
            do {
                n = epoll_wait(ep_drain, evs, 512, 0);
                for (int i = 0; i < n; i++)
                    on_event(evs[i].data.ptr, evs[i].events);
            } while (n == 512);
        }
        int left = (int)((next_drain_poll - now) / 1000000);
        if (timeout_ms < 0 || timeout_ms > left)
            timeout_ms = left;
    }
    n = epoll_wait(ep, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++)
        on_event(evs[i].data.ptr, evs[i].events);
}

/* Connections still not joined connect_timeout_s after their connect(): refused
 * ("timeout_" + the state they were stuck in). At most once a second. */
static void reap_stuck(void)
{
    static uint64_t last;
    uint64_t now = now_ns();
    if (now - last < 1000000000ull || connect_timeout_s <= 0)
        return;
    last = now;
    uint64_t lim = (uint64_t)(connect_timeout_s * 1e9);
    static const char *names[] = {"", "timeout_connect", "timeout_101", "timeout_sio_open",
                                  "timeout_sio_connect", "timeout_join"};
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if (c->state >= S_CONNECTING && c->state <= S_JOINING && now - c->t0 > lim) {
            if (c->state == S_JOINING) {
                n_errors++;
                n_failed++;
                conn_close(c);
            } else
                conn_fail(c, names[c->state]);
        }
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* Opens conns [0, nconns) with at most max_pending handshakes at once; returns when all
 * are ready or failed. */
static void open_all(int max_pending)
{
    int next = 0;
    uint64_t last = now_ns();
    while (!stop_flag) {
        while (next < nconns && n_pending < (uint64_t)max_pending)
            conn_start(&conns[next++]);
        if (next == nconns && n_pending == 0)
            break;
        loop_once(10);
        reap_stuck();
        if (now_ns() - last > 2000000000ull) {
            last = now_ns();
            fprintf(stderr, "loadgen: %" PRIu64 " up, %" PRIu64 " pending, %" PRIu64 " refused, %d to open\n",
                    n_up, n_pending, n_refused, nconns - next);
        }
    }
}

static void setup_conns(int n)
{
    nconns = n;
    conns = calloc((size_t)n, sizeof *conns);
    if (conns == NULL)
        die("out of memory");
    for (int i = 0; i < n; i++) {
        conns[i].fd = -1;
        conns[i].slot = i;
        conns[i].user = i;
        conns[i].url = i % nurls; /* fanout and rooms assign their own */
    }
}

static void settle(double s)
{
    uint64_t end = now_ns() + (uint64_t)(s * 1e9);
    while (now_ns() < end && !stop_flag)
        loop_once(5);
}

/* The loadgen's own CPU (user + system), µs. */
static uint64_t self_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static uint64_t cpu_at_start, cpu_in_t; /* self_cpu_us() when --seconds began, and used over it */

static void reset_counters(void)
{
    n_sent = n_acked = n_ack_err = n_delivered = 0;
    lat.n = acklat.n = 0;
    for (int u = 0; u < MAX_URLS; u++) {
        url_delivered[u] = 0;
        url_lat[u].n = 0;
    }
}

/* fanout and rooms: nrooms rooms of members each */
static double run_elapsed;
static uint64_t delivered_in_t, cycles_in_t, acked_in_t; /* counts at the end of --seconds */
static int run_rooms(void)
{
    setup_conns(nrooms * members);
    int nsend = 0;
    for (int r = 0; r < nrooms; r++)
        for (int i = 0; i < members; i++) {
            struct conn *c = &conns[r * members + i];
            c->room = r;
            c->role = i < senders ? R_SENDER : i < senders + probes ? R_PROBE : R_DRAIN;
            /* Senders on the first server; the receivers (probes, then the
             * drained ones) round-robin over the servers. */
            c->url = c->role == R_SENDER ? 0 : (i - senders) % nurls;
            if (c->role == R_SENDER) {
                c->ts = calloc(TS_RING, sizeof *c->ts);
                nsend++;
            }
        }
    open_all(256);
    fprintf(stderr, "loadgen: %" PRIu64 " conns up, %" PRIu64 " failed\n", n_up, n_failed);
    if (n_failed > 0 || stop_flag)
        return 1;
    struct conn **snd = calloc((size_t)nsend, sizeof *snd);
    int k = 0;
    for (int i = 0; i < nconns; i++)
        if (conns[i].role == R_SENDER)
            snd[k++] = &conns[i];
    settle(0.3);
    reset_counters();
    cpu_at_start = self_cpu_us();
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9), last = t0;
    uint64_t rr = 0;
    while (!stop_flag) {
        uint64_t now = now_ns();
        if (now >= end)
            break;
        uint64_t target = (uint64_t)(rate * (double)(now - t0) / 1e9);
        while (n_sent < target) {
            struct conn *c = snd[rr++ % (uint64_t)nsend];
            if (c->state == S_READY)
                send_msg(c);
            else if (nsend == 0)
                break;
            else
                n_sent++; /* dead sender: offered, never sent */
        }
        loop_once(1);
        if (now - last > 1000000000ull) {
            last = now;
            fprintf(stderr, "loadgen: t=%.0fs sent %" PRIu64 " acked %" PRIu64 " delivered %" PRIu64 "\n",
                    (double)(now - t0) / 1e9, n_sent, n_acked, n_delivered);
        }
    }
    run_elapsed = (double)(now_ns() - t0) / 1e9;
    cpu_in_t = self_cpu_us() - cpu_at_start;
    delivered_in_t = n_delivered;
    memcpy(url_delivered_in_t, url_delivered, sizeof url_delivered);
    acked_in_t = n_acked;
    uint64_t expect = n_sent * (uint64_t)(members - 1);
    uint64_t dend = now_ns() + (uint64_t)(drain_s * 1e9);
    while (now_ns() < dend && !stop_flag && (n_delivered < expect || n_acked + n_ack_err < n_sent))
        loop_once(5);
    free(snd);
    return 0;
}

static int run_durable(void)
{
    setup_conns(senders);
    for (int i = 0; i < nconns; i++) {
        conns[i].room = i;
        conns[i].role = R_SENDER;
        conns[i].ts = calloc(TS_RING, sizeof *conns[i].ts);
    }
    if (window_opt > TS_RING / 4)
        window_opt = TS_RING / 4;
    open_all(256);
    fprintf(stderr, "loadgen: %" PRIu64 " conns up, %" PRIu64 " failed\n", n_up, n_failed);
    if (n_failed > 0 || stop_flag)
        return 1;
    settle(0.2);
    reset_counters();
    cpu_at_start = self_cpu_us();
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9), last = t0;
    while (!stop_flag && now_ns() < end) {
        for (int i = 0; i < nconns; i++)
            while (conns[i].state == S_READY && conns[i].inflight < (uint32_t)window_opt)
                send_msg(&conns[i]);
        loop_once(1);
        if (now_ns() - last > 1000000000ull) {
            last = now_ns();
            fprintf(stderr, "loadgen: acked %" PRIu64 "\n", n_acked);
        }
    }
    run_elapsed = (double)(now_ns() - t0) / 1e9;
    cpu_in_t = self_cpu_us() - cpu_at_start;
    acked_in_t = n_acked;
    uint64_t dend = now_ns() + (uint64_t)(drain_s * 1e9);
    while (now_ns() < dend && !stop_flag && n_acked + n_ack_err < n_sent)
        loop_once(5);
    return 0;
}

static int run_idle(void)
{
    setup_conns(conns_opt);
    for (int i = 0; i < nconns; i++)
        conns[i].role = R_DRAIN;
    uint64_t t0 = now_ns();
    cpu_at_start = self_cpu_us();
    open_all(256);
    run_elapsed = (double)(now_ns() - t0) / 1e9;
    cpu_in_t = self_cpu_us() - cpu_at_start;
    fprintf(stderr, "loadgen: idle: all up: %" PRIu64 " conns, %" PRIu64 " refused, %" PRIu64
                    " errors, %.1f s\n",
            n_up, n_refused, n_errors, run_elapsed);
    if (n_up == 0)
        return 1;
    uint64_t end = seconds_given ? now_ns() + (uint64_t)(seconds * 1e9) : UINT64_MAX;
    while (!stop_flag && now_ns() < end)
        loop_once(100);
    return 0;
}

/* churn: connect, join, leave, close, over and over. Fixed rate (rate > 0):
 * `rate` cycles/s started on the users' slots (one cycle per user at a time),
 * all in room 0. Closed loop (rate == 0): concurrency_opt slots, slot i is user
 * i in room i, each restarted as soon as its cycle completed. */
static uint64_t upgrades_in_t;
static int run_churn(void)
{
    bool closed = rate == 0;
    /* one cycle per user at a time: a leave must not hit another cycle of the same user */
    int slots = closed ? concurrency_opt : ntokens;
    setup_conns(slots);
    for (int i = 0; i < nconns; i++) {
        conns[i].role = R_PROBE;
        conns[i].room = closed ? i : 0;
        conns[i].state = S_FREE;
    }
    cpu_at_start = self_cpu_us();
    uint64_t started = 0, t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9), last = t0;
    int scan = 0;
    while (!stop_flag && now_ns() < end) {
        if (closed) {
            for (int i = 0; i < nconns; i++)
                if (conns[i].state == S_FREE || conns[i].state == S_DEAD) {
                    conns[i].state = S_FREE;
                    conn_start(&conns[i]);
                    started++;
                }
            loop_once(5);
        } else {
            uint64_t target = (uint64_t)(rate * (double)(now_ns() - t0) / 1e9);
            int tries = 0;
            while (started < target && tries < nconns) {
                struct conn *c = &conns[scan];
                scan = (scan + 1) % nconns;
                tries++;
                if (c->state == S_FREE || c->state == S_DEAD) {
                    c->state = S_FREE;
                    conn_start(c);
                    started++;
                    tries = 0;
                }
            }
            loop_once(1);
        }
        reap_stuck();
        if (now_ns() - last > 1000000000ull) {
            last = now_ns();
            fprintf(stderr, "loadgen: started %" PRIu64 " completed %" PRIu64 "\n", started, n_cycles);
        }
    }
    run_elapsed = (double)(now_ns() - t0) / 1e9;
    cpu_in_t = self_cpu_us() - cpu_at_start;
    cycles_in_t = n_cycles;
    upgrades_in_t = n_upgrades;
    uint64_t dend = now_ns() + (uint64_t)(drain_s * 1e9);
    while (now_ns() < dend && !stop_flag && n_pending + n_up > 0) {
        loop_once(5);
        reap_stuck();
    }
    return 0;
}

/* ---- tokens and main --------------------------------------------------------------- */

static void get_tokens(int n)
{
    tokens = calloc((size_t)n, sizeof *tokens);
    ntokens = n;
    for (int i = 0; i < n; i++) {
        char user[64];
        snprintf(user, sizeof user, "%s%d", user_prefix, i);
        if (proto == P_SIO || token_cmd == NULL) {
            tokens[i] = strdup(user);
            continue;
        }
        char cmd[4096];
        const char *pct = strstr(token_cmd, "%s");
        if (pct == NULL)
            die("--token-cmd needs a %%s for the user");
        snprintf(cmd, sizeof cmd, "%.*s%s%s", (int)(pct - token_cmd), token_cmd, user, pct + 2);
        FILE *f = popen(cmd, "r");
        if (f == NULL)
            die("cannot run %s", cmd);
        char buf[4096] = "";
        if (fgets(buf, sizeof buf, f) == NULL)
            buf[0] = 0;
        int rc = pclose(f);
        buf[strcspn(buf, "\r\n")] = 0;
        if (rc != 0 || buf[0] == 0)
            die("token command failed: %s", cmd);
        tokens[i] = strdup(buf);
    }
}

static void usage(void)
{
    fputs("usage: loadgen --proto parley|sio --url http://HOST:PORT [--url ...] [--token-cmd 'CMD %s']\n"
          "               [--users U] [--size B] [--drain S] [--drain-poll-ms MS]\n"
          "               [--connect-timeout S] [--src-addrs N] [--room-prefix P]\n"
          "               [--user-prefix P] WORKLOAD [options]\n"
          "  fanout  --members N --senders S --rate R --seconds T --probes P\n"
          "  rooms   --rooms K --members-per-room N --senders-per-room S --rate R --seconds T [--probes P]\n"
          "  idle    --conns N [--seconds T]\n"
          "  durable --senders S --seconds T [--window W]\n"
          "  churn   --rate R --seconds T [--users U (concurrent cycles)]   (fixed rate)\n"
          "  churn   --rate 0 --concurrency K --seconds T   (closed loop: K clients, each\n"
          "          connect, auth, join, leave, close, again at once)\n"
          "          --no-join: connect, auth (parley: the 101; sio: the \"40\"), close\n"
          "  --src-addrs N: bind the client sockets to 127.0.0.1..127.0.0.N (churn's default\n"
          "          8 on loopback, else 1): more ephemeral ports for TIME_WAIT\n"
          "  --url more than once (a cluster): fanout/rooms senders on the first, receivers\n"
          "          round-robin over all; other workloads: connection i on URL i % N\n"
          "  refused_how: http_NNN (503, 429, ...), econnrefused, reset_connect,\n"
          "          eaddrnotavail, reset_before_101, eof_before_101, close_NNNN,\n"
          "          sio_connect_error, timeout_connect|101|sio_open|sio_connect\n",
          stderr);
    exit(2);
}

static void jnum(const char *k, double v)
{
    if (v == (double)(int64_t)v && v < 1e15 && v > -1e15)
        printf(",\"%s\":%" PRId64, k, (int64_t)v);
    else
        printf(",\"%s\":%.3f", k, v);
}

int main(int argc, char **argv)
{
    bool have_wl = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v != NULL && ++i)
        if (strcmp(a, "--no-join") == 0) {
            no_join_opt = true;
        } else if (OPT("--proto")) {
            if (strcmp(v, "parley") == 0)
                proto = P_PARLEY;
            else if (strcmp(v, "sio") == 0)
                proto = P_SIO;
            else
                usage();
        } else if (OPT("--url")) {
            if (nurls == MAX_URLS)
                usage();
            targets[nurls++].url = v;
        }
        else if (OPT("--token-cmd"))
            token_cmd = v;
        else if (OPT("--members") || OPT("--members-per-room"))
            members = atoi(v);
        else if (OPT("--senders") || OPT("--senders-per-room"))
            senders = atoi(v);
        else if (OPT("--probes"))
            probes = atoi(v);
        else if (OPT("--rooms"))
            nrooms = atoi(v);
        else if (OPT("--conns"))
            conns_opt = atoi(v);
        else if (OPT("--window"))
            window_opt = atoi(v);
        else if (OPT("--concurrency"))
            concurrency_opt = atoi(v);
        else if (OPT("--src-addrs"))
            src_addrs_opt = atoi(v);
        else if (OPT("--users"))
            users_opt = atoi(v);
        else if (OPT("--size"))
            size_opt = atoi(v);
        else if (OPT("--rate"))
            rate = atof(v);
        else if (OPT("--seconds")) {
            seconds = atof(v);
            seconds_given = true;
        } else if (OPT("--drain"))
            drain_s = atof(v);
        else if (OPT("--connect-timeout"))
            connect_timeout_s = atof(v);
        else if (OPT("--drain-poll-ms"))
            drain_poll_ms = atof(v);
        else if (OPT("--room-prefix"))
            room_prefix = v;
        else if (OPT("--user-prefix"))
            user_prefix = v;
        else if (a[0] != '-' && !have_wl) {
            have_wl = true;
            if (strcmp(a, "fanout") == 0)
                wl = W_FANOUT;
            else if (strcmp(a, "rooms") == 0)
                wl = W_ROOMS;
            else if (strcmp(a, "idle") == 0)
                wl = W_IDLE;
            else if (strcmp(a, "durable") == 0)
                wl = W_DURABLE;
            else if (strcmp(a, "churn") == 0)
                wl = W_CHURN;
            else
                usage();
        } else
            usage();
#undef OPT
    }
    if (!have_wl || nurls == 0 || members < 1 || senders < 0 || probes < 0 || nrooms < 1 ||
        conns_opt < 1 || window_opt < 1 || size_opt < 24 || size_opt > 4000 || rate < 0 ||
        concurrency_opt < 1 || src_addrs_opt > 254)
        usage();
    if ((rate == 0 || no_join_opt) && wl != W_CHURN)
        usage();
    if (wl == W_FANOUT)
        nrooms = 1;
    if (senders + probes > members) {
        if (senders > members)
            senders = members;
        probes = members - senders;
    }
    if (proto == P_PARLEY && token_cmd == NULL)
        die("--proto parley needs --token-cmd");

    /* each url: http://host:port */
    bool loopback4 = true;
    for (int u = 0; u < nurls; u++) {
        struct target *tg = &targets[u];
        const char *h = strstr(tg->url, "://");
        h = h ? h + 3 : tg->url;
        const char *colon = strrchr(h, ':');
        size_t hlen = colon ? (size_t)(colon - h) : strcspn(h, "/");
        if (hlen >= sizeof tg->host)
            usage();
        memcpy(tg->host, h, hlen);
        tg->host[hlen] = 0;
        snprintf(tg->port, sizeof tg->port, "80");
        if (colon)
            snprintf(tg->port, sizeof tg->port, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
        int gr = getaddrinfo(tg->host, tg->port, &hints, &tg->addr);
        if (gr != 0)
            die("%s: %s", tg->host, gai_strerror(gr));
        /* Source addresses: only towards 127.0.0.0/8 (every 127.x is local there). */
        if (!(tg->addr->ai_family == AF_INET &&
              (ntohl(((struct sockaddr_in *)tg->addr->ai_addr)->sin_addr.s_addr) >> 24) == 127))
            loopback4 = false;
    }
    nsrc = src_addrs_opt >= 0 ? src_addrs_opt : (wl == W_CHURN && loopback4 ? 8 : 1);
    if (nsrc > 1 && !loopback4)
        die("--src-addrs needs a server on 127.0.0.0/8");
    src_base.sin_family = AF_INET;
    src_base.sin_addr.s_addr = htonl(0x7f000001);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    ep = epoll_create1(EPOLL_CLOEXEC);
    ep_drain = epoll_create1(EPOLL_CLOEXEC);

    int nusers = users_opt > 0 ? users_opt : 100;
    if (wl == W_CHURN && rate == 0 && nusers < concurrency_opt)
        nusers = concurrency_opt; /* a user per closed-loop slot */
    get_tokens(nusers);

    int rc;
    switch (wl) {
    case W_FANOUT:
    case W_ROOMS:
        rc = run_rooms();
        break;
    case W_DURABLE:
        rc = run_durable();
        break;
    case W_IDLE:
        rc = run_idle();
        break;
    default:
        rc = run_churn();
        break;
    }
    if (rc != 0 && wl != W_IDLE) {
        fprintf(stderr, "loadgen: setup failed: %" PRIu64 " of %d connections failed (%" PRIu64
                        " refused)\n",
                n_failed, nconns, n_refused);
        printf("{\"workload\":\"%s\",\"proto\":\"%s\",\"error\":\"setup failed\"", wl_names[wl],
               proto == P_PARLEY ? "parley" : "sio");
        jnum("conns", nconns);
        jnum("failed", (double)n_failed);
        jnum("refused", (double)n_refused);
        printf("}\n");
        return 1;
    }
    qsort(lat.v, lat.n, sizeof *lat.v, cmp_u32);
    for (int u = 0; u < nurls; u++)
        qsort(url_lat[u].v, url_lat[u].n, sizeof *url_lat[u].v, cmp_u32);
    qsort(acklat.v, acklat.n, sizeof *acklat.v, cmp_u32);
    qsort(connlat.v, connlat.n, sizeof *connlat.v, cmp_u32);
    qsort(readylat.v, readylat.n, sizeof *readylat.v, cmp_u32);

    double T = run_elapsed > 0 ? run_elapsed : 1;
    printf("{\"workload\":\"%s\",\"proto\":\"%s\"", wl_names[wl], proto == P_PARLEY ? "parley" : "sio");
    if (wl == W_FANOUT || wl == W_ROOMS) {
        uint64_t expect = n_sent * (uint64_t)(members - 1);
        if (wl == W_ROOMS) {
            jnum("rooms", nrooms);
            jnum("members_per_room", members);
        } else
            jnum("members", members);
        jnum("seconds", T);
        jnum("offered_msgs_s", rate);
        jnum("sent_msgs_s", (double)n_sent / T);
        jnum("offered_deliveries_s", (double)expect / T);
        jnum("deliveries_s", (double)delivered_in_t / T);
        jnum("delivered_ratio", expect ? (double)n_delivered / (double)expect : 0);
        jnum("sent", (double)n_sent);
        jnum("delivered", (double)n_delivered);
        jnum("p50_ms", pct_ms(&lat, 0.5));
        jnum("p99_ms", pct_ms(&lat, 0.99));
        jnum("max_ms", lat.n ? lat.v[lat.n - 1] / 1000.0 : 0);
        jnum("latency_samples", (double)lat.n);
        jnum("acked", (double)n_acked);
        jnum("msgs_acked_s", (double)acked_in_t / T);
        jnum("ack_p50_ms", pct_ms(&acklat, 0.5));
        jnum("ack_p99_ms", pct_ms(&acklat, 0.99));
        if (nurls > 1) {
            /* Per server: its connections, what they received (over
             * --seconds, and in all) and the latency on its probes. */
            for (int i = 0; i < nconns; i++)
                url_conns[conns[i].url]++;
            jnum("urls", nurls);
            printf(",\"per_url\":[");
            for (int u = 0; u < nurls; u++) {
                struct samples *sm = &url_lat[u];
                printf("%s{\"url\":\"%s\"", u ? "," : "", targets[u].url);
                jnum("conns", url_conns[u]);
                jnum("deliveries_s", (double)url_delivered_in_t[u] / T);
                jnum("delivered", (double)url_delivered[u]);
                jnum("p50_ms", pct_ms(sm, 0.5));
                jnum("p99_ms", pct_ms(sm, 0.99));
                jnum("max_ms", sm->n ? sm->v[sm->n - 1] / 1000.0 : 0);
                jnum("latency_samples", (double)sm->n);
                printf("}");
            }
            printf("]");
        }
    } else if (wl == W_DURABLE) {
        jnum("senders", senders);
        jnum("window", window_opt);
        jnum("seconds", T);
        jnum("sent", (double)n_sent);
        jnum("acked", (double)n_acked);
        jnum("msgs_acked_s", (double)acked_in_t / T);
        jnum("ack_p50_ms", pct_ms(&acklat, 0.5));
        jnum("ack_p99_ms", pct_ms(&acklat, 0.99));
        jnum("ack_max_ms", acklat.n ? acklat.v[acklat.n - 1] / 1000.0 : 0);
    } else if (wl == W_CHURN) {
        printf(",\"mode\":\"%s\"", rate == 0 ? "closed" : "fixed");
        printf(",\"join\":%s", no_join_opt ? "false" : "true");
        if (rate == 0)
            jnum("concurrency", concurrency_opt);
        else
            jnum("offered_cycles_s", rate);
        jnum("seconds", T);
        jnum("cycles_s", (double)cycles_in_t / T);
        jnum("upgrades_s", (double)upgrades_in_t / T);
        jnum("cycles", (double)n_cycles);
        jnum("upgrades", (double)n_upgrades);
        jnum("connect_p50_ms", pct_ms(&connlat, 0.5));
        jnum("connect_p99_ms", pct_ms(&connlat, 0.99));
        jnum("connect_max_ms", connlat.n ? connlat.v[connlat.n - 1] / 1000.0 : 0);
        jnum("ready_p50_ms", pct_ms(&readylat, 0.5));
        jnum("ready_p99_ms", pct_ms(&readylat, 0.99));
        jnum("src_addrs", nsrc > 1 ? nsrc : 1);
    } else {
        jnum("requested", conns_opt);
        jnum("setup_s", T);
        jnum("connect_p50_ms", pct_ms(&connlat, 0.5));
        jnum("connect_p99_ms", pct_ms(&connlat, 0.99));
    }
    if (wl != W_CHURN)
        jnum("conns", wl == W_IDLE ? (double)n_up : (double)nconns);
    jnum("refused", (double)n_refused);
    if (n_refused) {
        printf(",\"refused_how\":{");
        for (size_t i = 0, first = 1; i < sizeof refusals / sizeof *refusals && refusals[i].n; i++, first = 0)
            printf("%s\"%s\":%" PRIu64, first ? "" : ",", refusals[i].how, refusals[i].n);
        printf("}");
        jnum("refused_retry_after", (double)n_retry_after);
    }
    jnum("errors", (double)(n_errors + n_ack_err));
    jnum("loadgen_cpu_pct", cpu_in_t / 1e4 / T);
    printf("}\n");
    fflush(stdout);
    return 0;
}
