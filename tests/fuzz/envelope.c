/* libFuzzer target: the envelope and the dispatcher (PROTOCOL.md 2) with
 * every handler behind it, a real store and the real connection layer.
 *
 * The server context is built once the way main.c builds it, minus HTTP:
 * settings (defaults, rate limits off), keys, a store in a temp directory
 * (on /dev/shm when there is one: commits fsync), the loop, the connection
 * table, the services and monitoring. Each input opens two connections
 * (alice; bob, an admin) over socketpairs, adopted as the HTTP thread would
 * hand them over but without MHD, and dispatches the input's lines as messages: a line
 * starting with '@' goes to bob without the '@', any other to alice. After
 * each message the store is drained and the loop runs a pass, so deferred
 * acks (commits), fan-out and closes happen as they would live. Then both
 * peers hang up and the loop runs until the connections are freed.
 *
 * Oracle besides the sanitizers: everything the server writes must be
 * well-formed server frames (unmasked, FIN), text frames valid UTF-8 holding
 * one JSON object, close frames with a valid code; anything else aborts.
 *
 * FUZZ_VERBOSE=1 in the environment prints every text frame received.
 *
 * Lines that are not valid UTF-8 or are over max_message_bytes are skipped:
 * the frame reader (server/wsread.c) refuses them before pd_dispatch is
 * ever called (conn.c). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "config.h"
#include "conn.h"
#include "conns.h"
#include "dispatch.h"
#include "log.h"
#include "loop.h"
#include "monitoring.h"
#include "server.h"
#include "store.h"
#include "text.h"

#define SECRET "fuzzing-secret-fuzzing-secret-fuzzing-secret"
/* Lines per input: enough for join, send, history and friends. */
#define MAX_LINES 64

struct peer {
    int fd;        /* our end of the socketpair; -1 when none */
    uint64_t id;   /* the server's connection id */
    uint8_t *buf;  /* bytes read from the server, not yet a whole frame */
    size_t len, cap;
};

static struct server srv;
static bool verbose; /* FUZZ_VERBOSE=1: print what the server sends */
static uint64_t next_id; /* pd_conn_adopt numbers connections 1, 2, ... */

static void on_store_event(void *arg, uint32_t events)
{
    struct server *s = arg;
    uint64_t n;

    if (read(pd_store_event_fd(s->store), &n, sizeof(n)) < 0) {
        /* EAGAIN: nothing new */
    }
    pd_store_run_completions(s->store);
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz envelope: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static char db_path[128];

/* At exit: the database and its directory go (the store is not closed: the
 * process ends, and SQLite's files need no more than removing). */
static void remove_db(void)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal", ".secret"};
    char path[160], *slash;

    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", db_path, suffix[i]);
        unlink(path);
    }
    slash = strrchr(db_path, '/');
    if (slash != NULL) {
        *slash = '\0';
        rmdir(db_path);
    }
}

static void setup(void)
{
    static char dir[] = "/dev/shm/parley-fuzz-XXXXXX";
    static char dir_tmp[] = "/tmp/parley-fuzz-XXXXXX";
    char *d, db[128], db_env[160], err[512];
    char *argv[] = {"fuzz-envelope", NULL};
    char *envp[] = {db_env,
                    "PARLEYD_JWT_SECRET=" SECRET,
                    "PARLEYD_RATE_MESSAGES=0",
                    "PARLEYD_RATE_REQUESTS=0",
                    "PARLEYD_RATE_CONNECTIONS=0",
                    "PARLEYD_LOG_LEVEL=error",
                    NULL};

    signal(SIGPIPE, SIG_IGN);
    d = mkdtemp(dir);
    if (d == NULL)
        d = mkdtemp(dir_tmp);
    if (d == NULL)
        die("mkdtemp", strerror(errno));
    snprintf(db, sizeof(db), "%s/parley.db", d);
    snprintf(db_env, sizeof(db_env), "PARLEYD_DB=%s", db);
    if (pd_config_load(&srv.cfg, 1, argv, envp, err, sizeof(err)) != 0)
        die("settings", err);
    pd_log_set_level(srv.cfg.log_level);
    if (pd_auth_new(&srv.auth, &srv.cfg, err, sizeof(err)) != 0)
        die("auth", err);
    if (pd_store_open(&srv.store, srv.cfg.db, err, sizeof(err)) != 0)
        die("store", err);
    if (pd_loop_new(&srv.loop) != 0 || pd_conns_new(&srv) != 0)
        die("loop", strerror(errno));
    if (pd_loop_add(srv.loop, pd_store_event_fd(srv.store), EPOLLIN, on_store_event, &srv) != 0)
        die("loop_add", strerror(errno));
    if (pd_services_init(&srv, err, sizeof(err)) != 0)
        die("services", err);
    if (pd_monitor_new(&srv) != 0)
        die("monitoring", NULL);
    if (pd_conns_start(&srv) != 0)
        die("conns_start", NULL);
    snprintf(db_path, sizeof(db_path), "%s", db);
    atexit(remove_db);
}

/* ---- the peers: what a client would read ------------------------------------- */

static void check_frame(const uint8_t *p, size_t hlen, size_t plen)
{
    unsigned op = p[0] & 0x0f;
    const uint8_t *payload = p + hlen;

    if ((p[0] & 0x70) != 0)
        die("server frame with RSV bits", NULL);
    if (p[1] & 0x80)
        die("masked server frame", NULL);
    if (!(p[0] & 0x80))
        die("fragmented server frame", NULL);
    switch (op) {
    case 0x1: {
        cJSON *j;
        if (!pd_utf8_valid(payload, plen))
            die("text frame is not UTF-8", NULL);
        j = cJSON_ParseWithLength((const char *)payload, plen);
        if (!cJSON_IsObject(j)) {
            fprintf(stderr, "%.*s\n", (int)(plen > 2000 ? 2000 : plen), (const char *)payload);
            die("text frame is not a JSON object", NULL);
        }
        cJSON_Delete(j);
        if (verbose)
            fprintf(stderr, "< %.*s\n", (int)(plen > 300 ? 300 : plen), (const char *)payload);
        break;
    }
    case 0x8:
        if (plen == 1 || plen > 125)
            die("bad close frame length", NULL);
        if (plen >= 2) {
            unsigned code = (unsigned)payload[0] << 8 | payload[1];
            if (code < 1000 || code == 1004 || code == 1005 || code == 1006 ||
                (code > 1011 && code < 3000) || code > 4999)
                die("bad close code", NULL);
        }
        break;
    case 0x9:
    case 0xA:
        if (plen > 125)
            die("oversize control frame", NULL);
        break;
    default:
        die("unexpected opcode from the server", NULL);
    }
}

/* Parses whole frames out of the peer's buffer. */
static void check_frames(struct peer *p)
{
    size_t off = 0;

    while (p->len - off >= 2) {
        const uint8_t *f = p->buf + off;
        size_t hlen = 2, plen = f[1] & 0x7f;

        if (plen == 126) {
            if (p->len - off < 4)
                break;
            plen = (size_t)f[2] << 8 | f[3];
            hlen = 4;
        } else if (plen == 127) {
            if (p->len - off < 10)
                break;
            plen = 0;
            for (int i = 2; i < 10; i++)
                plen = plen << 8 | f[i];
            hlen = 10;
        }
        if (p->len - off < hlen + plen)
            break;
        check_frame(f, hlen, plen);
        off += hlen + plen;
    }
    memmove(p->buf, p->buf + off, p->len - off);
    p->len -= off;
}

/* Reads what the server wrote to p, checking it frame by frame. */
static void drain_peer(struct peer *p)
{
    if (p->fd < 0)
        return;
    for (;;) {
        ssize_t n;
        if (p->cap - p->len < 65536) {
            size_t ncap = p->cap ? p->cap * 2 : 131072;
            uint8_t *nb = realloc(p->buf, ncap);
            if (nb == NULL)
                die("out of memory", NULL);
            p->buf = nb;
            p->cap = ncap;
        }
        n = read(p->fd, p->buf + p->len, p->cap - p->len);
        if (n <= 0)
            break;
        p->len += (size_t)n;
        check_frames(p);
    }
}

static void open_peer(struct peer *p, const char *sub, const char *name, bool admin)
{
    struct pd_upgrade *up = calloc(1, sizeof(*up));
    int sv[2];

    if (up == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        die("socketpair", strerror(errno));
    /* Room for a whole history page in the socket, so the server's queue
     * drains every pass and outbound_limit is not what the fuzzer finds. */
    {
        int sz = 4 << 20;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    up->srv = &srv;
    up->fd = up->tcp_fd = sv[0];
    up->urh = NULL; /* conn.c closes the fd itself */
    snprintf(up->ip, sizeof(up->ip), "127.0.0.1");
    snprintf(up->ident.sub, sizeof(up->ident.sub), "%s", sub);
    snprintf(up->ident.name, sizeof(up->ident.name), "%s", name);
    up->ident.admin = admin;
    up->ident.exp = INT64_C(4102444800); /* 2100 */
    pd_conn_adopt(up);
    p->fd = sv[1];
    p->id = ++next_id;
    p->len = 0;
}

/* One loop pass (no waiting), then what the peers got is checked. */
static void pass(struct peer *peers, int n)
{
    pd_loop_run_once(srv.loop, 0);
    for (int i = 0; i < n; i++)
        drain_peer(&peers[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    verbose = getenv("FUZZ_VERBOSE") != NULL;
    setup();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct peer peers[2] = {{.fd = -1}, {.fd = -1}};
    size_t off = 0;
    int lines = 0;

    open_peer(&peers[0], "alice", "Alice", false);
    open_peer(&peers[1], "bob", "Bob the admin", true);
    pass(peers, 2);
    while (off < size && lines++ < MAX_LINES) {
        const uint8_t *line = data + off, *nl = memchr(line, '\n', size - off);
        size_t len = nl ? (size_t)(nl - line) : size - off;
        struct peer *p = &peers[0];
        struct pd_conn *c;

        off += len + (nl ? 1 : 0);
        if (len > 0 && line[0] == '@') {
            p = &peers[1];
            line++;
            len--;
        }
        if (len > srv.cfg.max_message_bytes || !pd_utf8_valid(line, len))
            continue;
        c = pd_conn_find(&srv, p->id);
        if (c == NULL)
            continue; /* closed by the server (it stays closed this input) */
        pd_dispatch(&srv, c, (const char *)line, len);
        /* Commits, then their completions (deferred acks, broadcasts). */
        pd_store_drain(srv.store);
        pass(peers, 2);
        pass(peers, 2);
    }
    /* Both clients hang up; the server notices EOF and frees them. */
    for (int i = 0; i < 2; i++) {
        close(peers[i].fd);
        peers[i].fd = -1;
    }
    for (int i = 0; i < 100 && pd_conns_count(&srv) > 0; i++) {
        pd_store_drain(srv.store);
        pd_loop_run_once(srv.loop, i < 10 ? 0 : 10);
    }
    if (pd_conns_count(&srv) > 0)
        die("connections not freed after their peers hung up", NULL);
    for (int i = 0; i < 2; i++)
        free(peers[i].buf);
    return 0;
}
