/* One upgraded WebSocket per struct pd_conn, all owned by the loop thread.
 *
 * Input: reads go into one buffer shared by every connection (the table's,
 * READ_BUF bytes; at most READ_BUDGET per connection per pass) and through
 * the connection's frame reader (wsread.h), which checks framing, masking,
 * UTF-8 across fragments (close 1007) and the message size (close 1009)
 * before allocating. A message whole in one read is handed over in place,
 * unmasked in the shared buffer; only a message split across reads or
 * fragmented is copied, into a buffer the reader frees once it is
 * delivered, so an idle connection holds no heap beyond its structs. We
 * answer pings, echo the peer's close, and refuse binary (1003).
 *
 * Output: one contiguous byte queue per connection. Control frames (pong,
 * ping, close) are appended to it whole, and our text frames are framed
 * once (a broadcast is framed once for all recipients) and copied in; so
 * every byte leaves in the order it was queued. The queue is
 * written once per loop pass, from the after-pass callback, with one write()
 * per connection: coalescing is what makes fan-out cheap (DESIGN.md 3).
 * EPOLLOUT is wanted only while bytes remain.
 *
 * Close: pd_conn_close queues the close frame after what is queued; no
 * message is dispatched any more, and the connection goes CLOSING (flushing)
 * → DRAINING (all sent, shutdown(SHUT_WR) done; input read only to see the
 * peer's close frame or EOF, so the peer reads our close frame rather than
 * a reset) → DEAD, bounded by CLOSE_GRACE_MS. The
 * services hear of it (pd_services_conn_close) once, after the pass in
 * which it stopped being open, outside any of their own callbacks; the
 * memory is freed after the pass in which it died (Redis freeClientAsync). */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clock.h"
#include "conns.h"
#include "dispatch.h"
#include "log.h"
#include "loop.h"
#include "monitoring.h"
#include "server.h"
#include "wsproto.h"
#include "wsread.h"

/* How long a closing connection may take to flush and see the peer's EOF. */
#define CLOSE_GRACE_MS 2000
/* Socket bytes read per connection per pass, so one fast sender cannot
 * starve the others (level-triggered epoll brings us back next pass). */
#define READ_BUDGET (128 * 1024)
/* The shared read buffer: one read() fills at most this much. */
#define READ_BUF (64 * 1024)
#define TICK_MS 1000
/* A connection's first output buffer, and how many emptied ones are kept
 * for reuse (SPARE_MAX * OUT_MIN bytes at most: 2 MiB). */
#define OUT_MIN 2048
#define SPARE_MAX 1024
/* The close code recorded when no close frame was sent or received
 * (RFC 6455 7.1.5: abnormal closure). */
#define CODE_NONE 1006

enum io_state {
    ST_OPEN,     /* parsing input, dispatching messages */
    ST_CLOSING,  /* close frame queued: flushing the queue */
    ST_DRAINING, /* all sent, SHUT_WR done: discarding input until EOF */
    ST_DEAD,     /* on the dead list, freed after this pass */
};

struct pd_conn_io {
    int fd;
    int tcp_fd; /* != fd under TLS: MHD forwards between the two */
    struct MHD_UpgradeResponseHandle *urh;
    enum io_state state;
    uint32_t events; /* what epoll watches now */

    uint8_t *extra; /* bytes MHD read before the upgrade: parsed first */
    size_t extra_len;
    bool peer_eof;
    bool graceful; /* died in DRAINING: all our bytes, close frame included,
                    * were handed to the socket */
    bool close_received; /* the peer's close frame was read */
    /* Close codes for the log and monitoring: CODE_NONE until a close
     * frame is queued or read, 1005 for one without a code. */
    uint16_t code_sent, code_received;

    /* Outbound queue: bytes [out_off, out_len) are unsent. frame_base is a
     * frame boundary at or before out_off, so the queue can be compacted,
     * or cut after the frame being written, without splitting a frame. */
    uint8_t *out;
    size_t out_off, out_len, out_cap, frame_base;

    int64_t last_recv_ms, next_ping_ms, close_deadline_ms; /* monotonic */
    bool services_open; /* pd_services_conn_open called, close not yet */
    bool dirty;         /* on the flush list */
    int64_t frag_start_ms; /* monotonic: a fragmented message began; 0: none */
    struct pd_wsread rd;   /* what the client sends */

    struct pd_conn *prev, *next; /* every connection */
    struct pd_conn *next_dirty, *next_closed, *next_dead;
};

struct pd_conns {
    struct server *srv;
    uint64_t last_id;
    /* id → connection: open addressing, linear probing, power-of-two size. */
    struct pd_conn **slots;
    size_t cap, used;
    struct pd_conn *all;
    struct pd_conn *dirty;  /* output queued this pass */
    struct pd_conn *closed; /* stopped being open: services to be told */
    struct pd_conn *dead;   /* to be freed after the pass */
    uint8_t *rbuf;          /* READ_BUF bytes: every connection reads here */
    /* Emptied output buffers of OUT_MIN bytes, kept for the next pass: a
     * broadcast to N idle connections would otherwise malloc and free N
     * buffers per message, and glibc gives the heap top back to the kernel
     * and faults it in again each time (measured: clear_page and munmap
     * in the fan-out profile). At most SPARE_MAX are kept. */
    uint8_t *spare[SPARE_MAX];
    size_t nspare;
    size_t live;            /* atomic: read by HTTP threads */
    /* Atomic: live connections plus the upgrades HTTP threads admitted
     * that the loop has not adopted yet (pd_conns_reserve). One counter, so
     * an upgrade moving from admitted to live is never counted twice (a
     * false 503 at the cap) nor not at all (one past it). */
    size_t places;
    bool paused;            /* shutdown: no more input is read */
    bool shutting_down;     /* shutdown: new connections close at once */
    uint16_t shutdown_code;
    const char *shutdown_reason;
};

/* ---- the id table ------------------------------------------------------------ */

static size_t slot_of(const struct pd_conns *t, uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (t->cap - 1);
}

static int table_grow(struct pd_conns *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 256;
    struct pd_conn **old = t->slots;
    size_t ocap = t->cap;

    t->slots = calloc(ncap, sizeof(*t->slots));
    if (t->slots == NULL) {
        t->slots = old;
        return -1;
    }
    t->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i] != NULL) {
            size_t j = slot_of(t, old[i]->id);
            while (t->slots[j] != NULL)
                j = (j + 1) & (t->cap - 1);
            t->slots[j] = old[i];
        }
    }
    free(old);
    return 0;
}

static int table_put(struct pd_conns *t, struct pd_conn *c)
{
    size_t j;

    if ((t->used + 1) * 2 > t->cap && table_grow(t) != 0)
        return -1;
    j = slot_of(t, c->id);
    while (t->slots[j] != NULL)
        j = (j + 1) & (t->cap - 1);
    t->slots[j] = c;
    t->used++;
    return 0;
}

static size_t table_find(const struct pd_conns *t, uint64_t id)
{
    if (t->cap == 0)
        return SIZE_MAX;
    for (size_t j = slot_of(t, id); t->slots[j] != NULL; j = (j + 1) & (t->cap - 1))
        if (t->slots[j]->id == id)
            return j;
    return SIZE_MAX;
}

/* Removal with backward shift, so lookups never need tombstones. */
static void table_del(struct pd_conns *t, uint64_t id)
{
    size_t i = table_find(t, id), j;

    if (i == SIZE_MAX)
        return;
    t->slots[i] = NULL;
    t->used--;
    for (j = (i + 1) & (t->cap - 1); t->slots[j] != NULL; j = (j + 1) & (t->cap - 1)) {
        size_t home = slot_of(t, t->slots[j]->id);
        /* Move slots[j] into the hole when its home is not in (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            t->slots[j] = NULL;
            i = j;
        }
    }
}

struct pd_conn *pd_conn_find(struct server *srv, uint64_t id)
{
    struct pd_conns *t = srv->conns;
    size_t j = t ? table_find(t, id) : SIZE_MAX;

    if (j == SIZE_MAX || t->slots[j]->closing)
        return NULL;
    return t->slots[j];
}

size_t pd_conns_count(const struct server *srv)
{
    return srv->conns ? __atomic_load_n(&srv->conns->live, __ATOMIC_RELAXED) : 0;
}

bool pd_conns_reserve(struct server *srv, size_t cap, size_t *taken)
{
    struct pd_conns *t = srv->conns;
    size_t n;

    *taken = 0;
    if (t == NULL) /* shutting down: the table is gone */
        return false;
    n = __atomic_load_n(&t->places, __ATOMIC_ACQUIRE);
    do {
        *taken = n;
        if (n >= cap)
            return false;
    } while (!__atomic_compare_exchange_n(&t->places, &n, n + 1, true, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    return true;
}

void pd_conns_unreserve(struct server *srv)
{
    if (srv->conns != NULL)
        __atomic_sub_fetch(&srv->conns->places, 1, __ATOMIC_RELEASE);
}

/* ---- state changes --------------------------------------------------------- */

static void on_io(void *arg, uint32_t events);

static void update_events(struct pd_conn *c)
{
    struct pd_conn_io *io = c->io;
    uint32_t want = 0;

    if (io->state == ST_DEAD)
        return;
    if (io->state == ST_OPEN ? !c->srv->conns->paused : !io->peer_eof)
        want |= EPOLLIN;
    if (io->out_off < io->out_len)
        want |= EPOLLOUT;
    if (want != io->events && pd_loop_mod(c->srv->loop, io->fd, want, on_io, c) == 0)
        io->events = want;
}

static void mark_dirty(struct pd_conn *c)
{
    struct pd_conns *t = c->srv->conns;

    if (c->io->dirty || c->io->state == ST_DEAD)
        return;
    c->io->dirty = true;
    c->io->next_dirty = t->dirty;
    t->dirty = c;
}

/* The connection stops being open: no more dispatch, no more output. */
static void leave_open(struct pd_conn *c)
{
    struct pd_conns *t = c->srv->conns;

    if (c->closing)
        return;
    c->closing = true;
    c->io->next_closed = t->closed;
    t->closed = c;
}

/* Ends the connection: after its close handshake, or without one (peer
 * gone, I/O error, grace period over). It is freed after this pass. */
static void kill_conn(struct pd_conn *c, const char *why)
{
    struct pd_conns *t = c->srv->conns;

    if (c->io->state == ST_DEAD)
        return;
    c->io->graceful = c->io->state == ST_DRAINING;
    leave_open(c);
    pd_debug("conn %llu: %s", (unsigned long long)c->id, why);
    c->io->state = ST_DEAD;
    c->io->next_dead = t->dead;
    t->dead = c;
}

/* OPEN → CLOSING once our close frame is queued (send_close). */
static void begin_closing(struct pd_conn *c)
{
    struct pd_conn_io *io = c->io;

    if (io->state != ST_OPEN)
        return;
    leave_open(c);
    io->state = ST_CLOSING;
    io->close_deadline_ms = pd_mono_ms() + CLOSE_GRACE_MS;
    mark_dirty(c);
    update_events(c);
}

/* ---- outbound queue ---------------------------------------------------------- */

/* Length of the whole frame starting at p (header + payload). Every frame in
 * the queue is complete: every frame is appended whole. */
static size_t frame_len(const uint8_t *p)
{
    size_t n = p[1] & 0x7f, hdr = 2;

    if (n == 126) {
        n = (size_t)p[2] << 8 | p[3];
        hdr = 4;
    } else if (n == 127) {
        n = 0;
        for (int i = 2; i < 10; i++)
            n = n << 8 | p[i];
        hdr = 10;
    }
    if (p[1] & 0x80)
        hdr += 4;
    return hdr + n;
}

/* Moves frame_base forward over frames sent completely. */
static void advance_base(struct pd_conn_io *io)
{
    while (io->frame_base < io->out_off) {
        size_t fl = frame_len(io->out + io->frame_base);
        if (io->frame_base + fl > io->out_off)
            break;
        io->frame_base += fl;
    }
}

static int out_reserve(struct pd_conns *t, struct pd_conn_io *io, size_t more)
{
    size_t need, ncap;
    uint8_t *p;

    if (io->out_len + more <= io->out_cap)
        return 0;
    if (io->out_cap == 0 && more <= OUT_MIN && t->nspare > 0) {
        io->out = t->spare[--t->nspare];
        io->out_cap = OUT_MIN;
        return 0;
    }
    if (io->out_off > 0) {
        advance_base(io);
        memmove(io->out, io->out + io->frame_base, io->out_len - io->frame_base);
        io->out_off -= io->frame_base;
        io->out_len -= io->frame_base;
        io->frame_base = 0;
        if (io->out_len + more <= io->out_cap)
            return 0;
    }
    need = io->out_len + more;
    ncap = io->out_cap ? io->out_cap * 2 : OUT_MIN;
    while (ncap < need)
        ncap *= 2;
    p = realloc(io->out, ncap);
    if (p == NULL)
        return -1;
    io->out = p;
    io->out_cap = ncap;
    return 0;
}

/* Lets go of the (empty or unwanted) output buffer: kept for reuse when
 * it has the first size, else freed. */
static void out_release(struct pd_conns *t, struct pd_conn_io *io)
{
    if (io->out != NULL && io->out_cap == OUT_MIN && t->nspare < SPARE_MAX)
        t->spare[t->nspare++] = io->out;
    else
        free(io->out);
    io->out = NULL;
}

static int out_append(struct pd_conns *t, struct pd_conn_io *io, const void *a, size_t alen,
                      const void *b, size_t blen)
{
    if (out_reserve(t, io, alen + blen) != 0)
        return -1;
    memcpy(io->out + io->out_len, a, alen);
    if (blen > 0)
        memcpy(io->out + io->out_len + alen, b, blen);
    io->out_len += alen + blen;
    return 0;
}

/* A slow consumer is closed with 1008: drop the frames it has not started
 * to receive, so the close frame is the next thing after the frame being
 * written and reaches it as soon as it reads again. */
static void out_cut_unsent(struct pd_conn_io *io)
{
    size_t cut = io->out_off;

    advance_base(io);
    if (io->frame_base < io->out_off)
        cut = io->frame_base + frame_len(io->out + io->frame_base);
    io->out_len = cut;
}

static int queue_frame(struct pd_conn *c, const uint8_t *hdr, size_t hlen, const void *payload,
                       size_t plen)
{
    struct pd_conn_io *io = c->io;
    size_t pending = io->out_len - io->out_off;

    if (c->closing)
        return -1;
    /* The backlog decides, not the message: a reader that keeps up always
     * gets a reply bigger than the limit (100 messages of history at 4000
     * four-byte characters is 1.6 MB); one that does not read is cut off
     * once what it left unread passes the limit. */
    if (pending > c->srv->cfg.outbound_limit) {
        pd_warn("conn %llu (%s): outbound queue over %zu bytes, closing (slow consumer)",
                (unsigned long long)c->id, c->ident.sub, c->srv->cfg.outbound_limit);
        pd_mon_conn_event(c, PD_MON_SLOW_CONSUMER, "outbound queue over %zu bytes: closed 1008",
                          c->srv->cfg.outbound_limit); /* monitoring */
        pd_conn_close(c, PD_CLOSE_POLICY, "outbound queue full");
        return -1;
    }
    if (out_append(c->srv->conns, io, hdr, hlen, payload, plen) != 0) {
        pd_error("conn %llu: out of memory queueing %zu bytes", (unsigned long long)c->id,
               hlen + plen);
        pd_conn_close(c, PD_CLOSE_INTERNAL, "out of memory");
        return -1;
    }
    mark_dirty(c);
    return 0;
}

struct pd_frame *pd_frame_text(const char *payload, size_t len)
{
    struct pd_frame *f = malloc(sizeof(*f) + PD_WS_MAX_HEADER + len);
    size_t hlen;

    if (f == NULL)
        return NULL;
    hlen = pd_ws_frame_header(f->bytes, PD_WS_TEXT, len, NULL);
    memcpy(f->bytes + hlen, payload, len);
    f->len = hlen + len;
    return f;
}

int pd_conn_send(struct pd_conn *c, const char *json, size_t len)
{
    uint8_t hdr[PD_WS_MAX_HEADER];
    size_t hlen = pd_ws_frame_header(hdr, PD_WS_TEXT, len, NULL);

    if (queue_frame(c, hdr, hlen, json, len) != 0)
        return -1;
    pd_mon_out(c->srv, len); /* monitoring */
    return 0;
}

int pd_conn_send_frame(struct pd_conn *c, const struct pd_frame *f)
{
    if (queue_frame(c, f->bytes, f->len, NULL, 0) != 0)
        return -1;
    /* monitoring: payload bytes, without the frame header (2, 4 or 10) */
    pd_mon_out(c->srv, f->len - ((f->bytes[1] & 0x7f) == 127 ? 10 : (f->bytes[1] & 0x7f) == 126 ? 4 : 2));
    return 0;
}

/* DRAINING ends once the peer has answered our close frame, or gone. */
static bool handshake_done(struct pd_conn *c)
{
    struct pd_conn_io *io = c->io;

    if (io->state == ST_DRAINING && (io->peer_eof || io->close_received)) {
        kill_conn(c, "closed");
        return true;
    }
    return false;
}

/* Writes what is queued: one write() per connection per pass. */
static void flush(struct pd_conn *c)
{
    struct pd_conn_io *io = c->io;

    if (io->state == ST_DEAD)
        return;
    while (io->out_off < io->out_len) {
        ssize_t n = send(io->fd, io->out + io->out_off, io->out_len - io->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            io->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            kill_conn(c, n < 0 ? strerror(errno) : "short write");
            return;
        }
    }
    if (io->out_off == io->out_len) {
        /* Idle connections hold no output buffer at all. */
        out_release(c->srv->conns, io);
        io->out_off = io->out_len = io->out_cap = io->frame_base = 0;
        /* The close frame went into the queue before CLOSING began, so
         * an empty queue means it has been handed to the socket. */
        if (io->state == ST_CLOSING) {
            shutdown(io->fd, SHUT_WR);
            io->state = ST_DRAINING;
            if (handshake_done(c))
                return;
        }
    }
    update_events(c);
}

/* ---- control frames ------------------------------------------------------------ */

/* Appends a control frame (pong, ping, close) to the queue whole. They are
 * not held to outbound_limit: the close frame for a slow consumer must go
 * out. Returns 0, or -1 when out of memory killed the connection. */
static int queue_control(struct pd_conn *c, unsigned opcode, const void *payload, size_t len)
{
    uint8_t hdr[PD_WS_MAX_HEADER];
    size_t hlen = pd_ws_frame_header(hdr, opcode, len, NULL);

    if (out_append(c->srv->conns, c->io, hdr, hlen, payload, len) != 0) {
        kill_conn(c, "out of memory queueing a control frame");
        return -1;
    }
    mark_dirty(c);
    return 0;
}

/* Queues our close frame after what is queued and goes CLOSING. Code 0
 * sends one without a code: the answer to a peer's close without one. */
static void send_close(struct pd_conn *c, unsigned code, const void *reason, size_t rlen)
{
    uint8_t payload[125];
    size_t len = 0;

    if (code != 0) {
        payload[0] = (uint8_t)(code >> 8);
        payload[1] = (uint8_t)code;
        if (rlen > 123) /* a control frame's payload is at most 125 bytes */
            rlen = 123;
        if (rlen > 0)
            memcpy(payload + 2, reason, rlen);
        len = 2 + rlen;
    }
    if (queue_control(c, PD_WS_CLOSE, len > 0 ? payload : NULL, len) != 0)
        return;
    c->io->code_sent = code != 0 ? (uint16_t)code : PD_WS_NO_STATUS;
    begin_closing(c);
}

/* ---- input -------------------------------------------------------------------- */

/* The reader's callbacks. After our close (c->closing) messages are
 * ignored and pings not answered; the peer's close is still seen. */
static void on_message(void *arg, unsigned opcode, const uint8_t *data, size_t len)
{
    struct pd_conn *c = arg;

    if (c->closing)
        return;
    c->io->frag_start_ms = 0; /* fragment_timeout: the message is complete */
    pd_mon_in(c->srv, len);   /* monitoring */
    if (opcode == PD_WS_BINARY)
        pd_conn_close(c, PD_CLOSE_UNSUPPORTED, "binary frames are not accepted");
    else
        pd_dispatch(c->srv, c, (const char *)data, len);
}

static void on_ping(void *arg, const uint8_t *data, size_t len)
{
    struct pd_conn *c = arg;

    if (!c->closing)
        queue_control(c, PD_WS_PONG, data, len);
}

/* The peer's close is echoed, code and reason, and one without a code is
 * answered without one (what wslay did). */
static void on_close(void *arg, unsigned code, const uint8_t *reason, size_t len)
{
    struct pd_conn *c = arg;

    c->io->close_received = true;
    c->io->code_received = (uint16_t)code;
    pd_debug("conn %llu: peer sent close %u", (unsigned long long)c->id, code);
    if (!c->closing)
        send_close(c, code == PD_WS_NO_STATUS ? 0 : code, reason, len);
}

/* fragment_timeout: the first frame of a data message without FIN starts
 * the clock (control frames in between do not), its completion in
 * on_message stops it, and the 1 s tick closes 1008 when too slow. */
static void on_frag_start(void *arg, unsigned opcode)
{
    struct pd_conn *c = arg;

    c->io->frag_start_ms = pd_mono_ms();
}

static const struct pd_wsread_cb reader_cb = {
    .message = on_message,
    .ping = on_ping,
    .close = on_close,
    .frag_start = on_frag_start,
};

/* Bytes through the reader while it runs. A frame it refuses closes the
 * connection with its code (1002, 1007, 1009) while open; once closing,
 * it only stops the reader (our close is already queued). */
static void feed(struct pd_conn *c, uint8_t *buf, size_t len)
{
    struct pd_wsread *rd = &c->io->rd;

    if (pd_wsread_stopped(rd))
        return;
    pd_wsread_feed(rd, buf, len, &reader_cb, c);
    if (pd_wsread_error(rd) != 0 && c->io->state == ST_OPEN)
        pd_conn_close(c, (uint16_t)pd_wsread_error(rd), pd_wsread_error_reason(rd));
}

/* Reads what the socket has, at most READ_BUDGET per pass, into the
 * shared buffer. Once the reader has stopped (the peer's close, a refused
 * frame) input is read only to be discarded until EOF, so the peer reads
 * our close frame rather than a reset. */
static void read_input(struct pd_conn *c)
{
    struct pd_conn_io *io = c->io;
    uint8_t *buf = c->srv->conns->rbuf;
    size_t budget = READ_BUDGET;

    if (io->extra != NULL) {
        feed(c, io->extra, io->extra_len);
        free(io->extra);
        io->extra = NULL;
        io->extra_len = 0;
    }
    while (budget > 0 && !io->peer_eof && io->state != ST_DEAD) {
        ssize_t n = read(io->fd, buf, budget < READ_BUF ? budget : READ_BUF);
        if (n > 0) {
            budget -= (size_t)n;
            io->last_recv_ms = pd_mono_ms();
            feed(c, buf, (size_t)n);
        } else if (n == 0) {
            io->peer_eof = true;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        } else {
            kill_conn(c, strerror(errno));
            return;
        }
    }
    if (io->state == ST_DEAD)
        return;
    if (io->peer_eof && io->state == ST_OPEN) {
        kill_conn(c, "peer closed the connection");
        return;
    }
    if (!handshake_done(c))
        update_events(c); /* after EOF, stop watching input */
}

static void on_io(void *arg, uint32_t events)
{
    struct pd_conn *c = arg;
    struct pd_conn_io *io = c->io;

    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && io->state != ST_DEAD)
        read_input(c);
    if ((events & EPOLLOUT) && io->state != ST_DEAD)
        flush(c);
}

/* ---- close --------------------------------------------------------------------- */

void pd_conn_close(struct pd_conn *c, uint16_t code, const char *reason)
{
    struct pd_conn_io *io = c->io;

    if (c->closing || io->state != ST_OPEN)
        return;
    if (code == PD_CLOSE_POLICY)
        out_cut_unsent(io);
    if (code == 1002 || code == 1003 || code == 1007 || code == 1009) /* monitoring */
        pd_mon_conn_event(c, PD_MON_PROTOCOL_ERROR, "closed %u: %.100s", code, reason ? reason : "");
    pd_info("conn %llu (%s): closing %u %s", (unsigned long long)c->id, c->ident.sub, code,
            reason ? reason : "");
    send_close(c, code, reason, reason ? strlen(reason) : 0);
}

/* ---- lifecycle ------------------------------------------------------------------- */

void pd_upgrade_discard(struct pd_upgrade *up)
{
    if (up == NULL)
        return;
    if (up->urh != NULL)
        MHD_upgrade_action(up->urh, MHD_UPGRADE_ACTION_CLOSE);
    else if (up->fd >= 0)
        close(up->fd); /* handed off by MHD, or no MHD behind it (tests) */
    if (up->reserved)
        pd_conns_unreserve(up->srv);
    free(up->extra);
    free(up->user_agent);
    free(up);
}

static void list_unlink(struct pd_conns *t, struct pd_conn *c)
{
    if (c->io->prev != NULL)
        c->io->prev->io->next = c->io->next;
    else
        t->all = c->io->next;
    if (c->io->next != NULL)
        c->io->next->io->prev = c->io->prev;
}

/* Frees a connection: from the dead list after a pass, or from
 * pd_conns_free once no per-pass list is walked again. */
static void conn_free(struct pd_conn *c)
{
    struct pd_conns *t = c->srv->conns;
    struct pd_conn_io *io = c->io;

    pd_loop_del(c->srv->loop, io->fd);
    table_del(t, c->id);
    list_unlink(t, c);
    pd_info("conn %llu (%s) closed after %llds: sent %u, received %u",
            (unsigned long long)c->id, c->ident.sub,
            (long long)((pd_now_ms() - c->connected_ms) / 1000),
            io->code_sent, io->code_received);
    /* monitoring: every connection freed here was recorded by pd_conn_adopt */
    pd_mon_conn_close(c, io->code_sent, io->code_received);
    pd_wsread_free(&io->rd);
    /* Under TLS, MHD 0.9.75 ends its forwarding only once the client's side
     * is done too, and a client waits for the server to close first: ending
     * our read side of the TCP socket lets MHD send what is left, then
     * close. Without a handshake, both sides end now. */
    if (io->tcp_fd != io->fd)
        shutdown(io->tcp_fd, io->graceful ? SHUT_RD : SHUT_RDWR);
    /* Under TLS MHD owns the socket and closes it. Otherwise the socket is
     * ours (http.c handed it off from MHD; in tests and fuzzing it is one
     * end of a socketpair) and is closed here. */
    if (io->urh != NULL)
        MHD_upgrade_action(io->urh, MHD_UPGRADE_ACTION_CLOSE);
    else
        close(io->fd);
    free(io->extra);
    out_release(t, io);
    free(c->user_agent);
    free(io);
    free(c);
    __atomic_sub_fetch(&t->live, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&t->places, 1, __ATOMIC_RELEASE);
}

static void services_close(struct pd_conn *c)
{
    if (c->io->services_open) {
        c->io->services_open = false;
        pd_services_conn_close(c->srv, c);
    }
}

static struct pd_conn *conn_new(struct pd_upgrade *up)
{
    struct server *srv = up->srv;
    struct pd_conn *c = calloc(1, sizeof(*c));
    struct pd_conn_io *io = calloc(1, sizeof(*io));
    int64_t now = pd_mono_ms();

    if (c == NULL || io == NULL) {
        free(c);
        free(io);
        return NULL;
    }
    /* max_message_bytes is at most INT32_MAX (config.c). */
    pd_wsread_init(&io->rd, (uint32_t)srv->cfg.max_message_bytes);
    io->code_sent = io->code_received = CODE_NONE;
    c->srv = srv;
    c->io = io;
    c->ident = up->ident;
    memcpy(c->ip, up->ip, sizeof(c->ip));
    c->ip[sizeof(c->ip) - 1] = '\0';
    c->connected_ms = pd_now_ms();
    io->fd = up->fd;
    io->tcp_fd = up->tcp_fd;
    io->urh = up->urh;
    io->events = EPOLLIN;
    io->last_recv_ms = now;
    io->next_ping_ms = now + (int64_t)srv->cfg.ping_interval * 1000;
    return c;
}

void pd_conn_adopt(void *upgrade)
{
    struct pd_upgrade *up = upgrade;
    struct pd_conns *t = up->srv->conns;
    struct pd_conn *c = conn_new(up);

    if (c == NULL)
        goto fail;
    c->id = ++t->last_id;
    if (table_put(t, c) != 0) {
        free(c->io);
        free(c);
        goto fail;
    }
    if (pd_loop_add(up->srv->loop, up->fd, EPOLLIN, on_io, c) != 0) {
        table_del(t, c->id);
        free(c->io);
        free(c);
        goto fail;
    }
    /* Past this point nothing fails: the connection owns what up held. */
    c->user_agent = up->user_agent;
    c->io->extra = up->extra;
    c->io->extra_len = up->extra_len;
    c->io->next = t->all;
    if (t->all != NULL)
        t->all->io->prev = c;
    t->all = c;
    __atomic_add_fetch(&t->live, 1, __ATOMIC_RELAXED);
    if (!up->reserved) /* else its reservation is its place from now on */
        __atomic_add_fetch(&t->places, 1, __ATOMIC_RELEASE);
    free(up);

    pd_info("conn %llu open: user %s from %s", (unsigned long long)c->id, c->ident.sub, c->ip);
    pd_mon_conn_open(c); /* monitoring */
    c->io->services_open = true;
    pd_services_conn_open(c->srv, c);
    if (t->shutting_down) {
        pd_conn_close(c, t->shutdown_code, t->shutdown_reason);
        return;
    }
    /* Bytes that came with the request are not signalled by epoll. */
    if (c->io->extra_len > 0)
        read_input(c);
    return;
fail:
    pd_error("out of memory accepting a connection from %s", up->ip);
    pd_upgrade_discard(up);
}

/* ---- per pass and per second ---------------------------------------------------- */

static void after_pass(void *arg)
{
    struct pd_conns *t = arg;
    struct pd_conn *c;

    /* Telling the services may queue output (presence) or close others;
     * flushing may kill a connection: repeat until both are settled. */
    do {
        while ((c = t->closed) != NULL) {
            t->closed = c->io->next_closed;
            services_close(c);
        }
        while ((c = t->dirty) != NULL) {
            t->dirty = c->io->next_dirty;
            c->io->dirty = false;
            flush(c);
        }
    } while (t->closed != NULL);
    while ((c = t->dead) != NULL) {
        t->dead = c->io->next_dead;
        conn_free(c);
    }
}

static void tick_one(struct pd_conn *c, int64_t now, int64_t wall_s)
{
    struct pd_conn_io *io = c->io;
    const struct pd_config *cfg = &c->srv->cfg;

    if (io->state == ST_CLOSING || io->state == ST_DRAINING) {
        if (now >= io->close_deadline_ms)
            kill_conn(c, "close handshake timed out");
        return;
    }
    if (io->state != ST_OPEN)
        return;
    if (wall_s >= c->ident.exp) {
        pd_conn_close(c, PD_CLOSE_TOKEN_EXPIRED, "token expired");
    } else if (cfg->fragment_timeout > 0 && io->frag_start_ms > 0 &&
               now - io->frag_start_ms >= (int64_t)cfg->fragment_timeout * 1000) {
        pd_conn_close(c, PD_CLOSE_POLICY, "fragmented message not completed in time");
    } else if (now - io->last_recv_ms >= (int64_t)cfg->idle_timeout * 1000) {
        pd_conn_close(c, PD_CLOSE_GOING_AWAY, "idle timeout");
    } else if (now >= io->next_ping_ms) {
        io->next_ping_ms = now + (int64_t)cfg->ping_interval * 1000;
        queue_control(c, PD_WS_PING, NULL, 0);
    }
}

static void tick(void *arg, int64_t now)
{
    struct pd_conns *t = arg;
    int64_t wall_s = pd_now_ms() / 1000;

    for (struct pd_conn *c = t->all; c != NULL; c = c->io->next)
        tick_one(c, now, wall_s);
}

/* ---- table lifecycle and shutdown ---------------------------------------------- */

int pd_conns_new(struct server *srv)
{
    struct pd_conns *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -1;
    t->rbuf = malloc(READ_BUF);
    if (t->rbuf == NULL) {
        free(t);
        return -1;
    }
    t->srv = srv;
    srv->conns = t;
    return 0;
}

int pd_conns_start(struct server *srv)
{
    if (pd_loop_after_pass(srv->loop, after_pass, srv->conns) != 0 ||
        pd_loop_every(srv->loop, TICK_MS, tick, srv->conns) != 0)
        return -1;
    return 0;
}

void pd_conns_free(struct server *srv)
{
    struct pd_conns *t = srv->conns;

    if (t == NULL)
        return;
    while (t->all != NULL) {
        struct pd_conn *c = t->all;
        services_close(c);
        conn_free(c);
    }
    free(t->slots);
    free(t->rbuf);
    while (t->nspare > 0)
        free(t->spare[--t->nspare]);
    free(t);
    srv->conns = NULL;
}

void pd_conns_pause_input(struct server *srv)
{
    struct pd_conns *t = srv->conns;

    t->paused = true;
    for (struct pd_conn *c = t->all; c != NULL; c = c->io->next)
        update_events(c);
}

void pd_conns_close_all(struct server *srv, uint16_t code, const char *reason)
{
    struct pd_conns *t = srv->conns;

    t->shutting_down = true;
    t->shutdown_code = code;
    t->shutdown_reason = reason;
    for (struct pd_conn *c = t->all; c != NULL; c = c->io->next)
        pd_conn_close(c, code, reason);
}
