#include "bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOGIN_TIMEOUT_MS 10000

struct pc_bridge {
    pthread_mutex_t lock;
    struct pc_event *head, *tail; /* under lock */
    unsigned lost, lost_acks;     /* under lock */
    int pipe_r, pipe_w;
    void (*free_arg)(void *arg);
    /* re-login on the SDK thread only */
    char *url, *user, *password;
    struct parley_tls_opts tls;
    int has_tls;
    char *ca_file, *ca_path, *server_name;
    char *token; /* the last JWT handed to the SDK (it copies it) */
};

void pc_event_free(struct pc_bridge *b, struct pc_event *ev, int free_arg)
{
    if (!ev)
        return;
    free(ev->room);
    free(ev->user);
    free(ev->name);
    free(ev->text);
    free(ev->code);
    if (free_arg && ev->arg && b->free_arg)
        b->free_arg(ev->arg);
    free(ev);
}

/* A copy of s, or NULL (with *failed set) when s is not NULL and there is
 * no memory. */
static char *dup_or_fail(const char *s, int *failed)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *failed = 1;
    return d;
}

static void wake(struct pc_bridge *b)
{
    ssize_t w;

    /* A full pipe already guarantees a wake-up: EAGAIN is fine. */
    do
        w = write(b->pipe_w, "", 1);
    while (w < 0 && errno == EINTR);
}

/* Queues ev, or drops it (counted) when failed: out of memory while it
 * was filled. */
static void push(struct pc_bridge *b, struct pc_event *ev, int failed)
{
    int was_empty;

    pthread_mutex_lock(&b->lock);
    if (failed) {
        b->lost++;
        if (ev && ev->kind == PC_EV_ACK)
            b->lost_acks++;
        pthread_mutex_unlock(&b->lock);
        pc_event_free(b, ev, 1);
        wake(b); /* the UI hears of the loss */
        return;
    }
    was_empty = !b->head;
    if (b->tail)
        b->tail->next = ev;
    else
        b->head = ev;
    b->tail = ev;
    pthread_mutex_unlock(&b->lock);
    if (was_empty)
        wake(b);
}

static struct pc_event *event_new(int kind)
{
    struct pc_event *ev = calloc(1, sizeof *ev);

    if (ev)
        ev->kind = kind;
    return ev;
}

/* Counts an event that could not even be allocated. */
static void lost(struct pc_bridge *b, int ack)
{
    pthread_mutex_lock(&b->lock);
    b->lost++;
    if (ack)
        b->lost_acks++;
    pthread_mutex_unlock(&b->lock);
    wake(b);
}

static void on_message(parley_client *c, void *ud, const struct parley_message *m)
{
    struct pc_bridge *b = ud;
    struct pc_event *ev = event_new(PC_EV_MESSAGE);
    int failed = 0;

    (void)c;
    if (!ev) {
        lost(b, 0);
        return;
    }
    ev->room = dup_or_fail(m->room, &failed);
    ev->user = dup_or_fail(m->user, &failed);
    ev->name = dup_or_fail(m->name && *m->name ? m->name : m->user, &failed);
    ev->text = dup_or_fail(m->text, &failed);
    ev->id = m->id;
    ev->seq = m->seq;
    ev->ts = m->ts;
    ev->reply_to = m->reply_to;
    ev->deleted = m->deleted;
    ev->replayed = m->replayed;
    push(b, ev, failed);
}

static void on_typing(parley_client *c, void *ud, const struct parley_typing *t)
{
    struct pc_bridge *b = ud;
    struct pc_event *ev = event_new(PC_EV_TYPING);
    int failed = 0;

    (void)c;
    if (!ev) {
        lost(b, 0);
        return;
    }
    ev->room = dup_or_fail(t->room, &failed);
    ev->user = dup_or_fail(t->user, &failed);
    ev->typing = t->typing;
    push(b, ev, failed);
}

static void on_receipt(parley_client *c, void *ud, const struct parley_receipt *r)
{
    struct pc_bridge *b = ud;
    struct pc_event *ev = event_new(PC_EV_RECEIPT);
    int failed = 0;

    (void)c;
    if (!ev) {
        lost(b, 0);
        return;
    }
    ev->room = dup_or_fail(r->room, &failed);
    ev->user = dup_or_fail(r->user, &failed);
    ev->id = r->message_id;
    ev->ts = r->ts;
    ev->receipt = r->kind;
    push(b, ev, failed);
}

static void on_deleted(parley_client *c, void *ud, const struct parley_deleted *d)
{
    struct pc_bridge *b = ud;
    struct pc_event *ev = event_new(PC_EV_DELETED);
    int failed = 0;

    (void)c;
    if (!ev) {
        lost(b, 0);
        return;
    }
    ev->room = dup_or_fail(d->room, &failed);
    ev->id = d->message_id;
    push(b, ev, failed);
}

static void on_member(parley_client *c, void *ud, const struct parley_member_event *e)
{
    struct pc_bridge *b = ud;
    struct pc_event *ev = event_new(PC_EV_MEMBER);
    int failed = 0;

    (void)c;
    if (!ev) {
        lost(b, 0);
        return;
    }
    ev->room = dup_or_fail(e->room, &failed);
    ev->user = dup_or_fail(e->user, &failed);
    ev->name = dup_or_fail(e->name && *e->name ? e->name : e->user, &failed);
    ev->joined = e->joined;
    push(b, ev, failed);
}

static void on_error(parley_client *c, void *ud, const struct parley_error_push *e)
{
    struct pc_bridge *b = ud;
    struct pc_event *ev = event_new(PC_EV_ERROR);
    int failed = 0;

    (void)c;
    if (!ev) {
        lost(b, 0);
        return;
    }
    ev->code = dup_or_fail(e->code ? e->code : "", &failed);
    ev->text = dup_or_fail(e->message ? e->message : "", &failed);
    ev->name = dup_or_fail(e->event, &failed);
    push(b, ev, failed);
}

static void on_presence(parley_client *c, void *ud, const struct parley_presence *p)
{
    struct pc_bridge *b = ud;
    struct pc_event *ev = event_new(PC_EV_PRESENCE);
    int failed = 0;

    (void)c;
    if (!ev) {
        lost(b, 0);
        return;
    }
    ev->user = dup_or_fail(p->user, &failed);
    ev->name = dup_or_fail(p->name && *p->name ? p->name : p->user, &failed);
    ev->text = dup_or_fail(p->status, &failed);
    push(b, ev, failed);
}

static void on_state(parley_client *c, void *ud, const struct parley_state_event *s)
{
    struct pc_bridge *b = ud;
    struct pc_event *ev = event_new(PC_EV_STATE);

    (void)c;
    if (!ev) {
        lost(b, 0);
        return;
    }
    ev->state = s->state;
    ev->count = s->count;
    ev->close_code = s->close_code;
    ev->will_retry = s->will_retry;
    push(b, ev, 0);
}

void pc_bridge_ack(parley_client *c, void *ud, void *arg, int rc, const char *data_json)
{
    struct pc_bridge *b = ud;
    struct pc_event *ev = event_new(PC_EV_ACK);
    int failed = 0;

    (void)c;
    if (!ev) {
        if (arg && b->free_arg)
            b->free_arg(arg);
        lost(b, 1);
        return;
    }
    ev->arg = arg;
    ev->rc = rc;
    ev->text = dup_or_fail(data_json, &failed);
    push(b, ev, failed);
}

/* Before each automatic reconnect: an expired (4001) or refused (401) JWT
 * is replaced by logging in again. This blocks the SDK's thread for the
 * HTTP round trip, never the UI. */
static const char *on_token(parley_client *c, void *ud, const struct parley_token_request *r)
{
    struct pc_bridge *b = ud;
    struct parley_auth_result res;

    (void)c;
    if (!b->user || (r->close_code != 4001 && r->http_status != 401))
        return NULL;
    memset(&res, 0, sizeof res);
    if (parley_login_tls(b->url, b->user, b->password, LOGIN_TIMEOUT_MS,
                         b->has_tls ? &b->tls : NULL, &res) != PARLEY_OK || !res.token) {
        parley_auth_result_clear(&res);
        return NULL; /* the current token; the next attempt asks again */
    }
    free(b->token);
    b->token = strdup(res.token);
    parley_auth_result_clear(&res);
    return b->token;
}

void pc_bridge_attach(struct pc_bridge *b, parley_client *c)
{
    (void)b;
    parley_on_message(c, on_message);
    parley_on_typing(c, on_typing);
    parley_on_receipt(c, on_receipt);
    parley_on_deleted(c, on_deleted);
    parley_on_member(c, on_member);
    parley_on_error(c, on_error);
    parley_on_presence(c, on_presence);
    parley_on_state(c, on_state);
    parley_on_token(c, on_token);
}

int pc_bridge_fd(const struct pc_bridge *b)
{
    return b->pipe_r;
}

struct pc_event *pc_bridge_take(struct pc_bridge *b, unsigned *lost_n, unsigned *lost_acks)
{
    char buf[256];
    struct pc_event *list;

    while (read(b->pipe_r, buf, sizeof buf) > 0)
        ;
    pthread_mutex_lock(&b->lock);
    list = b->head;
    b->head = b->tail = NULL;
    *lost_n = b->lost;
    *lost_acks = b->lost_acks;
    b->lost = b->lost_acks = 0;
    pthread_mutex_unlock(&b->lock);
    return list;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void pc_bridge_free(struct pc_bridge *b)
{
    struct pc_event *ev, *next;

    if (!b)
        return;
    for (ev = b->head; ev; ev = next) {
        next = ev->next;
        pc_event_free(b, ev, 1);
    }
    if (b->pipe_r >= 0)
        close(b->pipe_r);
    if (b->pipe_w >= 0)
        close(b->pipe_w);
    pthread_mutex_destroy(&b->lock);
    free(b->url);
    free(b->user);
    free_secret(b->password);
    free_secret(b->token);
    free(b->ca_file);
    free(b->ca_path);
    free(b->server_name);
    free(b);
}

static int copy_login(struct pc_bridge *b, const struct pc_bridge_login *l)
{
    int failed = 0;

    if (!l || !l->user)
        return 0;
    b->url = dup_or_fail(l->url, &failed);
    b->user = dup_or_fail(l->user, &failed);
    b->password = dup_or_fail(l->password ? l->password : "", &failed);
    if (l->tls) {
        b->has_tls = 1;
        b->tls = *l->tls;
        b->tls.ca_file = b->ca_file = dup_or_fail(l->tls->ca_file, &failed);
        b->tls.ca_path = b->ca_path = dup_or_fail(l->tls->ca_path, &failed);
        b->tls.server_name = b->server_name = dup_or_fail(l->tls->server_name, &failed);
    }
    return failed ? -1 : 0;
}

int pc_bridge_new(const struct pc_bridge_login *login, void (*free_arg)(void *arg),
                  struct pc_bridge **out)
{
    struct pc_bridge *b = calloc(1, sizeof *b);
    int fds[2];

    *out = NULL;
    if (!b)
        return -1;
    b->pipe_r = b->pipe_w = -1;
    b->free_arg = free_arg;
    if (pthread_mutex_init(&b->lock, NULL) != 0) {
        free(b);
        return -1;
    }
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        pc_bridge_free(b);
        return -1;
    }
    b->pipe_r = fds[0];
    b->pipe_w = fds[1];
    if (copy_login(b, login) != 0) {
        pc_bridge_free(b);
        return -1;
    }
    *out = b;
    return 0;
}
