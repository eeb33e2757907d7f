#include "cluster.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "hmap.h"
#include "log.h"
#include "loop.h"
#include "presence.h"
#include "redis.h"
#include "request.h"
#include "server.h"

/* How often the connection state and the peers are looked at. */
#define PD_CLUSTER_TICK_MS 100

enum pd_cl_state { CL_DOWN, CL_CONNECTING, CL_UP };

/* Another node, as last heard from. */
struct pd_peer {
    char id[PD_NODE_ID_MAX + 1];
    int64_t inc;   /* its incarnation: a restart is a new node */
    int64_t heard; /* monotonic ms */
};

struct pd_cluster {
    struct server *srv;
    char node[PD_NODE_ID_MAX + 1];
    int64_t inc;
    char channel[32]; /* parley:DB:bus: pub/sub ignores SELECT, so the DB is in the name */
    char where[300];  /* redis://HOST:PORT/DB, for logs */
    struct pd_redis_io pub, sub;
    enum pd_cl_state state;
    bool pub_connected, subscribed;
    int64_t retry_at, backoff, deadline, next_hb, self_heard;
    struct pd_hmap peers; /* id -> struct pd_peer */
    uint64_t published, received, dropped, lost;
};

bool pd_cluster_on(const struct server *srv)
{
    return srv->cluster != NULL;
}

bool pd_cluster_up(const struct server *srv)
{
    return srv->cluster != NULL && srv->cluster->state == CL_UP;
}

unsigned pd_cluster_nodes(const struct server *srv)
{
    return srv->cluster != NULL ? 1u + (unsigned)srv->cluster->peers.len : 1u;
}

/* ---- the connection -------------------------------------------------------------- */

static void drop_peer(struct pd_cluster *cl, struct pd_peer *p, const char *why)
{
    pd_info("cluster: node %s is gone (%s)", p->id, why);
    pd_hmap_del(&cl->peers, p->id);
    pd_presence_node_gone(cl->srv, p->id);
    free(p);
}

/* Both contexts go (but `dying`, which hiredis is freeing itself); a
 * reconnect is tried after the backoff. */
static void go_down(struct pd_cluster *cl, const redisAsyncContext *dying, const char *why)
{
    int64_t now = pd_mono_ms();

    if (cl->state == CL_DOWN)
        return;
    if (cl->state == CL_UP) {
        pd_warn("cluster: lost %s (%s): retrying", cl->where, why);
        cl->lost++;
    } else {
        pd_warn("cluster: cannot reach %s (%s): retrying in %lld ms", cl->where, why,
                (long long)cl->backoff);
    }
    cl->state = CL_DOWN;
    cl->pub_connected = cl->subscribed = false;
    if (cl->pub.ac != NULL && cl->pub.ac != dying)
        redisAsyncFree(cl->pub.ac);
    if (cl->sub.ac != NULL && cl->sub.ac != dying)
        redisAsyncFree(cl->sub.ac);
    cl->retry_at = now + cl->backoff;
    cl->backoff = cl->backoff * 2 > PD_CLUSTER_RETRY_MAX_MS ? PD_CLUSTER_RETRY_MAX_MS
                                                            : cl->backoff * 2;
}

static void publish_kind(struct pd_cluster *cl, const char *kind)
{
    cJSON *h = pd_bus_head(cl->srv, kind, NULL);

    if (h != NULL)
        pd_cluster_publish(cl->srv, h, NULL, 0);
}

static void maybe_up(struct pd_cluster *cl)
{
    size_t pos = 0;
    struct pd_peer *p;
    int64_t now = pd_mono_ms();

    if (cl->state != CL_CONNECTING || !cl->pub_connected || !cl->subscribed)
        return;
    cl->state = CL_UP;
    cl->backoff = PD_CLUSTER_RETRY_MIN_MS;
    cl->self_heard = now;
    cl->next_hb = now + PD_CLUSTER_HEARTBEAT_MS;
    /* Whatever the peers did while we could not hear them, they get a
     * full timeout to be heard again before they count as gone. */
    while ((p = pd_hmap_next(&cl->peers, &pos, NULL)) != NULL)
        p->heard = now;
    pd_info("cluster: node %s connected to %s", cl->node, cl->where);
    /* hello: every node answers with its presence (pd_presence_publish_all). */
    publish_kind(cl, "hello");
    pd_presence_publish_all(cl->srv);
    pd_cluster_resync(cl->srv);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct pd_cluster *cl = ac->data;

    if (status != REDIS_OK) {
        go_down(cl, ac, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    if (ac == cl->pub.ac)
        cl->pub_connected = true;
    maybe_up(cl);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct pd_cluster *cl = ac->data;

    (void)status;
    go_down(cl, ac, ac->err ? ac->errstr : "connection closed");
}

static struct pd_peer *peer_heard(struct pd_cluster *cl, const char *id, int64_t inc)
{
    struct pd_peer *p = pd_hmap_get(&cl->peers, id);

    if (p != NULL && p->inc != inc) {
        drop_peer(cl, p, "it restarted");
        p = NULL;
    }
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL)
            return NULL;
        snprintf(p->id, sizeof(p->id), "%s", id);
        p->inc = inc;
        if (pd_hmap_put(&cl->peers, p->id, p) != 0) {
            free(p);
            return NULL;
        }
        pd_info("cluster: node %s joined", p->id);
    }
    p->heard = pd_mono_ms();
    return p;
}

static void on_bus(struct pd_cluster *cl, const char *msg, size_t len)
{
    const char *nl = memchr(msg, '\n', len);
    cJSON *head = cJSON_ParseWithLength(msg, nl ? (size_t)(nl - msg) : len);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(head, "n");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(head, "k");
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(head, "i");
    const char *frame = nl ? nl + 1 : msg + len;
    int64_t inc = 0;

    cl->received++;
    if (!cJSON_IsString(n) || !cJSON_IsString(k) || !pd_json_int(i, 0, PD_JSON_INT_MAX, &inc)) {
        pd_warn("cluster: a bus message without node, kind or incarnation: ignored");
        cJSON_Delete(head);
        return;
    }
    if (strcmp(n->valuestring, cl->node) == 0) {
        if (inc == cl->inc && strcmp(k->valuestring, "hb") == 0)
            cl->self_heard = pd_mono_ms();
        else if (inc != cl->inc && strcmp(k->valuestring, "hb") == 0)
            pd_error("cluster: another node calls itself %s: give each node its own node_id",
                     cl->node);
        cJSON_Delete(head);
        return;
    }
    if (peer_heard(cl, n->valuestring, inc) == NULL) {
        pd_error("cluster: out of memory recording node %s", n->valuestring);
        cJSON_Delete(head);
        return;
    }
    if (strcmp(k->valuestring, "bye") == 0)
        drop_peer(cl, pd_hmap_get(&cl->peers, n->valuestring), "it stopped");
    else if (strcmp(k->valuestring, "hello") == 0) {
        /* A node (re)joined: it may have stored what we never heard of. */
        pd_presence_publish_all(cl->srv);
        pd_cluster_resync(cl->srv);
    }
    else if (strcmp(k->valuestring, "hb") != 0)
        pd_cluster_apply(cl->srv, n->valuestring, head, frame, (size_t)(msg + len - frame));
    cJSON_Delete(head);
}

static void on_sub(redisAsyncContext *ac, void *r, void *arg)
{
    struct pd_cluster *cl = arg;
    const redisReply *reply = r;
    const redisReply *kind, *payload;

    if (reply == NULL || ac != cl->sub.ac)
        return; /* the context is going */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        (kind = reply->element[0])->type != REDIS_REPLY_STRING) {
        pd_warn("cluster: unexpected reply on the bus connection");
        return;
    }
    payload = reply->element[2];
    if (strcmp(kind->str, "subscribe") == 0) {
        cl->subscribed = true;
        maybe_up(cl);
    } else if (strcmp(kind->str, "message") == 0 && payload->type == REDIS_REPLY_STRING) {
        on_bus(cl, payload->str, payload->len);
    }
}

static void on_auth(redisAsyncContext *ac, void *r, void *arg)
{
    struct pd_cluster *cl = arg;
    const redisReply *reply = r;
    char why[160];

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR)
        return;
    snprintf(why, sizeof(why), "Redis refused the password of cluster: %.120s", reply->str);
    /* Freeing ac inside its own callback is deferred by hiredis. */
    go_down(cl, NULL, why);
    (void)ac;
}

/* AUTH [USER] PASSWORD first, when cluster names a password. 0 or -1. */
static int auth(struct pd_cluster *cl, redisAsyncContext *ac)
{
    const struct pd_redis_url *u = &cl->srv->cfg.redis;

    if (u->password == NULL)
        return 0;
    if (u->user != NULL)
        return redisAsyncCommand(ac, on_auth, cl, "AUTH %s %s", u->user, u->password) ==
                       REDIS_OK
                   ? 0
                   : -1;
    return redisAsyncCommand(ac, on_auth, cl, "AUTH %s", u->password) == REDIS_OK ? 0 : -1;
}

static void start_connect(struct pd_cluster *cl, int64_t now)
{
    const struct pd_config *cfg = &cl->srv->cfg;

    cl->state = CL_CONNECTING;
    cl->deadline = now + PD_CLUSTER_CONNECT_TIMEOUT_MS;
    if (pd_redis_connect(&cl->pub, cl->srv->loop, cfg->redis.host, cfg->redis.port) != 0 ||
        pd_redis_connect(&cl->sub, cl->srv->loop, cfg->redis.host, cfg->redis.port) != 0) {
        go_down(cl, NULL, "cannot open a socket");
        return;
    }
    cl->pub.ac->data = cl;
    cl->sub.ac->data = cl;
    redisAsyncSetConnectCallback(cl->pub.ac, on_connect);
    redisAsyncSetConnectCallback(cl->sub.ac, on_connect);
    redisAsyncSetDisconnectCallback(cl->pub.ac, on_disconnect);
    redisAsyncSetDisconnectCallback(cl->sub.ac, on_disconnect);
    /* Queued now, written once connected, in this order. */
    if (auth(cl, cl->pub.ac) != 0 || auth(cl, cl->sub.ac) != 0) {
        go_down(cl, NULL, "cannot send AUTH");
        return;
    }
    if (redisAsyncCommand(cl->sub.ac, on_sub, cl, "SUBSCRIBE %s", cl->channel) != REDIS_OK)
        go_down(cl, NULL, "cannot subscribe");
}

static void tick(void *arg, int64_t now)
{
    struct pd_cluster *cl = arg;
    size_t pos = 0;
    struct pd_peer *p;

    switch (cl->state) {
    case CL_DOWN:
        if (now >= cl->retry_at)
            start_connect(cl, now);
        return;
    case CL_CONNECTING:
        if (now >= cl->deadline)
            go_down(cl, NULL, "no answer within 2 s");
        return;
    case CL_UP:
        break;
    }
    if (now - cl->self_heard > PD_CLUSTER_SELF_TIMEOUT_MS) {
        go_down(cl, NULL, "our own heartbeat did not come back within 3 s");
        return;
    }
    if (now >= cl->next_hb) {
        cl->next_hb = now + PD_CLUSTER_HEARTBEAT_MS;
        publish_kind(cl, "hb");
    }
    while ((p = pd_hmap_next(&cl->peers, &pos, NULL)) != NULL)
        if (now - p->heard > PD_CLUSTER_NODE_TIMEOUT_MS) {
            drop_peer(cl, p, "no heartbeat for 5 s");
            pos = 0; /* the table changed: start over */
        }
}

/* ---- publishing -------------------------------------------------------------------- */

cJSON *pd_bus_head(const struct server *srv, const char *kind, const char *room)
{
    cJSON *h;

    if (!pd_cluster_on(srv))
        return NULL;
    h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "k", kind);
    if (room != NULL)
        cJSON_AddStringToObject(h, "r", room);
    return h;
}

void pd_cluster_publish(struct server *srv, cJSON *head, const char *frame, size_t len)
{
    struct pd_cluster *cl = srv->cluster;
    char *text = NULL, *buf = NULL;
    size_t hlen;

    if (head == NULL)
        return;
    if (cl == NULL || cl->state != CL_UP || cl->pub.ac == NULL) {
        if (cl != NULL)
            cl->dropped++;
        cJSON_Delete(head);
        return;
    }
    cJSON_AddStringToObject(head, "n", cl->node);
    pd_json_add_int(head, "i", cl->inc);
    text = cJSON_PrintUnformatted(head);
    cJSON_Delete(head);
    hlen = text ? strlen(text) : 0;
    buf = text ? malloc(hlen + 1 + len) : NULL;
    if (buf == NULL) {
        pd_error("cluster: out of memory publishing to the bus");
        cl->dropped++;
        cJSON_free(text);
        return;
    }
    memcpy(buf, text, hlen);
    buf[hlen] = '\n';
    if (len > 0)
        memcpy(buf + hlen + 1, frame, len);
    if (redisAsyncCommand(cl->pub.ac, NULL, NULL, "PUBLISH %s %b", cl->channel, buf,
                          hlen + 1 + len) == REDIS_OK)
        cl->published++;
    else
        cl->dropped++;
    free(buf);
    cJSON_free(text);
}

/* ---- monitoring ------------------------------------------------------------------- */

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void pd_cluster_json(const struct server *srv, cJSON *obj)
{
    const struct pd_cluster *cl = srv->cluster;
    cJSON *o, *ids;
    const char **names;
    size_t n = 0, pos = 0;
    const struct pd_peer *p;

    cJSON_AddStringToObject(obj, "node", cl->node);
    o = cJSON_AddObjectToObject(obj, "cluster");
    cJSON_AddStringToObject(o, "redis", cl->state == CL_UP ? "up" : "down");
    pd_json_add_int(o, "nodes", pd_cluster_nodes(srv));
    ids = cJSON_AddArrayToObject(o, "node_ids");
    names = calloc(cl->peers.len + 1, sizeof(*names));
    if (names != NULL) {
        names[n++] = cl->node;
        while ((p = pd_hmap_next(&cl->peers, &pos, NULL)) != NULL)
            names[n++] = p->id;
        qsort(names, n, sizeof(*names), by_string);
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(ids, cJSON_CreateString(names[i]));
        free(names);
    }
    pd_json_add_int(o, "published", (int64_t)cl->published);
    pd_json_add_int(o, "received", (int64_t)cl->received);
    pd_json_add_int(o, "dropped", (int64_t)cl->dropped);
    pd_json_add_int(o, "redis_lost", (int64_t)cl->lost);
}

/* ---- life ---------------------------------------------------------------------------- */

int pd_cluster_init(struct server *srv, uint16_t port, char *err, size_t errlen)
{
    const struct pd_config *cfg = &srv->cfg;
    struct pd_cluster *cl;
    uint64_t r = 0;

    if (cfg->cluster == NULL)
        return 0; /* a node alone */
    cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    cl->srv = srv;
    srv->cluster = cl;
    if (cfg->node_id != NULL) {
        snprintf(cl->node, sizeof(cl->node), "%s", cfg->node_id);
    } else {
        char host[PD_NODE_ID_MAX - 6] = "parleyd";
        if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
            snprintf(host, sizeof(host), "parleyd");
        host[sizeof(host) - 1] = '\0';
        snprintf(cl->node, sizeof(cl->node), "%s:%u", host, port);
    }
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)pd_now_ms() ^ ((uint64_t)getpid() << 20);
    cl->inc = (int64_t)(r & (((uint64_t)1 << 53) - 1)); /* exact as a JSON number */
    snprintf(cl->channel, sizeof(cl->channel), "parley:%u:bus", cfg->redis.db);
    snprintf(cl->where, sizeof(cl->where), "redis://%s:%u/%u", cfg->redis.host, cfg->redis.port,
             cfg->redis.db);
    cl->backoff = PD_CLUSTER_RETRY_MIN_MS;
    cl->state = CL_DOWN;
    cl->pub.fd = cl->sub.fd = -1;
    if (pd_loop_every(srv->loop, PD_CLUSTER_TICK_MS, tick, cl) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pd_info("cluster: node %s joining through %s", cl->node, cl->where);
    return 0;
}

/* The loop has stopped: what is still buffered for Redis (the last
 * presence changes of the connections that closed at shutdown) and a
 * "bye", so the others drop this node now rather than after the timeout,
 * are written here, waiting at most half a second. */
static void flush_on_exit(struct pd_cluster *cl)
{
    redisContext *c;
    int done = 0;
    int64_t deadline = pd_mono_ms() + 500;

    if (cl->state != CL_UP || cl->pub.ac == NULL)
        return;
    publish_kind(cl, "bye");
    c = &cl->pub.ac->c;
    while (!done && pd_mono_ms() < deadline) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
        if (redisBufferWrite(c, &done) == REDIS_ERR)
            break;
        if (!done)
            poll(&pfd, 1, 50);
    }
}

void pd_cluster_free(struct server *srv)
{
    struct pd_cluster *cl = srv->cluster;
    size_t pos = 0;
    struct pd_peer *p;

    if (cl == NULL)
        return;
    flush_on_exit(cl);
    /* Freed without their callbacks: there is nobody left to tell. */
    cl->state = CL_DOWN;
    if (cl->pub.ac != NULL)
        redisAsyncFree(cl->pub.ac);
    if (cl->sub.ac != NULL)
        redisAsyncFree(cl->sub.ac);
    while ((p = pd_hmap_next(&cl->peers, &pos, NULL)) != NULL)
        free(p);
    pd_hmap_free(&cl->peers);
    free(cl);
    srv->cluster = NULL;
}
