/* The store's core (DESIGN.md 3): the job queue, the writer thread and
 * group commit, completions to the loop thread, drain and close, stats, and
 * the pd_store_* API of store.h. Nothing here knows the database: the
 * backend behind it (store_backend.h; today store_sqlite.c) is reached
 * through its ops table, picked at pd_store_open from the db path.
 *
 * The writer thread takes everything queued (up to BATCH_MAX jobs), applies
 * it inside one backend transaction, and only then hands the batch to the
 * loop thread through an eventfd: a job's completion runs only once its
 * transaction is durable. Jobs are checked here before the backend sees
 * them, so every backend refuses the same inputs the same way. */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "store_backend.h"

#define BATCH_MAX PD_STORE_BATCH_MAX
/* history never returns more than this, whatever the caller asks */
#define HISTORY_LIMIT_MAX 1000

/* ---- state --------------------------------------------------------------------- */

struct pd_store {
    /* The database. Its calls follow the threads of store_backend.h. */
    struct pd_store_backend *be;
    const struct pd_store_backend_ops *ops;

    /* Shared between submitters, the writer thread and the loop thread. */
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* queue non-empty, or stopping */
    pthread_cond_t done_cv; /* completed advanced (drain) */
    struct pd_store_job *queue_head, *queue_tail;
    struct pd_store_job *done_head, *done_tail;
    uint64_t submitted, completed;
    bool stopping;
    struct pd_store_stats stats;
    uint64_t commit_us_window; /* slowest commit since pd_store_commit_max_take */
    int efd;
    pthread_t thread;
    bool thread_started;
    bool sync_init; /* mu and the cvs exist */

    /* The writer thread's own. */
    struct pd_store_job *batch[BATCH_MAX];
    struct pd_store_result res[BATCH_MAX];
};

void pd_store_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- messages ------------------------------------------------------------------- */

void pd_message_clear(struct pd_message *m)
{
    if (m == NULL)
        return;
    free(m->name);
    free(m->text);
    free(m->client_msg_id);
    m->name = m->text = m->client_msg_id = NULL;
}

void pd_messages_free(struct pd_message *msgs, size_t n)
{
    for (size_t i = 0; msgs != NULL && i < n; i++)
        pd_message_clear(&msgs[i]);
    free(msgs);
}

/* ---- checking jobs (writer thread, before the backend) ----------------------------------- */

/* msg.room/msg.user default to the job's; ts to the job's now. */
static bool send_input_ok(struct pd_store_job *job)
{
    struct pd_message *m = &job->msg;

    if (m->room[0] == '\0')
        memcpy(m->room, job->room, sizeof(m->room));
    if (m->user[0] == '\0')
        memcpy(m->user, job->user, sizeof(m->user));
    if (m->ts == 0)
        m->ts = job->now;
    return pd_valid_room_name(m->room) && pd_valid_user_id(m->user) && m->text != NULL &&
           (m->client_msg_id == NULL || strlen(m->client_msg_id) <= PD_CLIENT_MSG_ID_MAX);
}

/* A hex SHA-256 as the server writes it: exactly 64 of [0-9a-f] within the
 * field (lower case only, so one token has one spelling). */
static bool valid_token_hash(const char h[65])
{
    for (size_t i = 0; i < 64; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return false;
    return h[64] == '\0';
}

static bool valid_json_object(const char *json)
{
    cJSON *j = cJSON_ParseWithOpts(json, NULL, 1);
    bool is_object = j != NULL && cJSON_IsObject(j);

    cJSON_Delete(j);
    return is_object;
}

static bool session_input_ok(const struct pd_store_job *job)
{
    const struct pd_session_rec *r = &job->session;
    size_t idlen = strnlen(r->id, sizeof(r->id));

    return valid_token_hash(r->token_hash) && idlen > 0 && idlen < sizeof(r->id) &&
           memchr(r->user, '\0', sizeof(r->user)) != NULL && pd_valid_user_id(r->user) &&
           r->created_at >= 0 && r->expires_at >= 0 && r->rooms_json != NULL &&
           valid_json_object(r->rooms_json) &&
           (job->consume_hash[0] == '\0' ||
            (valid_token_hash(job->consume_hash) &&
             strcmp(job->consume_hash, r->token_hash) != 0));
}

/* Whether job is well formed for its op (SEND's defaults filled in): what
 * is refused with PD_E_BAD_REQUEST before any database work, the same for
 * every backend. An unknown op is refused too. */
static bool job_input_ok(struct pd_store_job *job)
{
    switch (job->op) {
    case PD_OP_JOIN:
        return pd_valid_room_name(job->room) && pd_valid_user_id(job->user);
    case PD_OP_LEAVE:
    case PD_OP_DELETE:
        return true;
    case PD_OP_SEND:
        return send_input_ok(job);
    case PD_OP_INVITE:
        return pd_valid_room_name(job->room) && pd_valid_user_id(job->user) &&
               job->name != NULL;
    case PD_OP_RECEIPT:
        return job->receipt_kind == PD_RECEIPT_DELIVERED || job->receipt_kind == PD_RECEIPT_READ;
    case PD_OP_SESSION_SAVE:
        return session_input_ok(job);
    case PD_OP_SESSION_DROP:
        return valid_token_hash(job->session.token_hash);
    case PD_OP_LAST_SEEN:
        return pd_valid_user_id(job->user) && job->now >= 0;
    }
    return false;
}

/* ---- group commit (writer thread) ------------------------------------------------------ */

static void result_reset(struct pd_store_result *res)
{
    pd_message_clear(&res->orig);
    memset(res, 0, sizeof(*res));
    res->rc = PD_E_INTERNAL;
}

/* Applies batch[from .. from + n) in one transaction. 0 when committed;
 * when rolled back, with the backend's counters and the results of the
 * range reset (nothing of it happened): -1 when a job failed, -2 when the
 * transaction itself did (begin or commit: lock timeout, I/O, disk full).
 * A job refused by job_input_ok writes nothing and stays in the batch. */
static int run_txn(struct pd_store *st, size_t from, size_t n)
{
    int rc = -1;

    for (size_t i = from; i < from + n; i++)
        result_reset(&st->res[i]);
    if (st->ops->begin(st->be) != 0)
        return -2;
    for (size_t i = from; i < from + n; i++) {
        if (!job_input_ok(st->batch[i])) {
            st->res[i].rc = PD_E_BAD_REQUEST;
            continue;
        }
        if (st->ops->apply(st->be, st->batch[i], &st->res[i]) != 0)
            goto rollback;
    }
    if (st->ops->commit(st->be) == 0)
        return 0;
    rc = -2;
rollback:
    st->ops->rollback(st->be);
    for (size_t i = from; i < from + n; i++)
        result_reset(&st->res[i]);
    return rc;
}

/* One transaction for the whole batch; when a job in it fails, each job
 * alone, so one bad job does not take the others down with it. When the
 * transaction itself failed, retrying job by job would only repeat the
 * failure (and each BEGIN may wait out the busy timeout): all report
 * PD_E_INTERNAL, which their results already say. */
static void commit_batch(struct pd_store *st, size_t n, uint64_t *failed)
{
    int rc = run_txn(st, 0, n);

    if (rc == 0)
        return;
    (*failed)++;
    if (rc == -2 || n == 1)
        return;
    for (size_t i = 0; i < n; i++)
        run_txn(st, i, 1);
}

/* Committed results into the jobs (the writer still owns them here). */
static void publish_result(struct pd_store_job *job, struct pd_store_result *res)
{
    job->rc = res->rc;
    job->duplicate = false;
    if (res->rc != PD_OK)
        return;
    if (job->op == PD_OP_DELETE) {
        memcpy(job->msg.room, res->room, sizeof(job->msg.room));
        memcpy(job->msg.user, res->user, sizeof(job->msg.user));
        job->msg.seq = res->seq;
        job->msg.deleted = true;
    }
    if (job->op != PD_OP_SEND) {
        job->duplicate = res->duplicate;
        return;
    }
    if (res->duplicate) {
        pd_message_clear(&job->msg);
        job->msg = res->orig;
        memset(&res->orig, 0, sizeof(res->orig)); /* moved */
        job->duplicate = true;
    } else {
        job->msg.id = res->id;
        job->msg.seq = res->seq;
    }
}

/* Takes up to BATCH_MAX queued jobs into st->batch. Called with mu held. */
static size_t take_batch(struct pd_store *st)
{
    size_t n = 0;

    while (st->queue_head != NULL && n < BATCH_MAX) {
        struct pd_store_job *job = st->queue_head;
        st->queue_head = job->next;
        job->next = NULL;
        st->batch[n++] = job;
    }
    if (st->queue_head == NULL)
        st->queue_tail = NULL;
    return n;
}

/* Hands a finished batch to the loop thread, in submission order; us is
 * how long committing it took. */
static void complete_batch(struct pd_store *st, size_t n, uint64_t failed, uint64_t us)
{
    uint64_t one = 1;

    for (size_t i = 0; i < n; i++)
        publish_result(st->batch[i], &st->res[i]);
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < n; i++) {
        struct pd_store_job *job = st->batch[i];
        if (st->done_tail != NULL)
            st->done_tail->next = job;
        else
            st->done_head = job;
        st->done_tail = job;
    }
    st->completed += n;
    st->stats.jobs += n;
    st->stats.batches++;
    st->stats.failed_batches += failed;
    st->stats.commit_us_total += us;
    if (us > st->stats.commit_us_max)
        st->stats.commit_us_max = us;
    if (us > st->commit_us_window)
        st->commit_us_window = us;
    pthread_cond_broadcast(&st->done_cv);
    pthread_mutex_unlock(&st->mu);
    /* Only fails when the counter would overflow (it cannot: the loop
     * reads it) or on EAGAIN, which still leaves it readable. */
    if (write(st->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        pd_error("store: eventfd write: %s", strerror(errno));
}

static uint64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void *writer_main(void *arg)
{
    struct pd_store *st = arg;

    for (;;) {
        size_t n;
        uint64_t failed = 0, t0;

        pthread_mutex_lock(&st->mu);
        while (st->queue_head == NULL && !st->stopping)
            pthread_cond_wait(&st->work_cv, &st->mu);
        if (st->queue_head == NULL) { /* stopping, and nothing left */
            pthread_mutex_unlock(&st->mu);
            break;
        }
        n = take_batch(st);
        pthread_mutex_unlock(&st->mu);

        t0 = mono_us();
        commit_batch(st, n, &failed);
        complete_batch(st, n, failed, mono_us() - t0);
    }
    return NULL;
}

/* ---- open / close ------------------------------------------------------------------------ */

static void store_free(struct pd_store *st)
{
    if (st->be != NULL)
        st->ops->close(st->be);
    if (st->efd >= 0)
        close(st->efd);
    for (size_t i = 0; i < BATCH_MAX; i++)
        pd_message_clear(&st->res[i].orig);
    if (st->sync_init) {
        pthread_mutex_destroy(&st->mu);
        pthread_cond_destroy(&st->work_cv);
        pthread_cond_destroy(&st->done_cv);
    }
    free(st);
}

static int init_sync(struct pd_store *st, char *err, size_t errlen)
{
    st->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (st->efd < 0) {
        pd_store_set_err(err, errlen, "eventfd: %s", strerror(errno));
        return -1;
    }
    if (pthread_mutex_init(&st->mu, NULL) != 0 ||
        pthread_cond_init(&st->work_cv, NULL) != 0 || pthread_cond_init(&st->done_cv, NULL)) {
        pd_store_set_err(err, errlen, "cannot initialise store locks");
        return -1;
    }
    st->sync_init = true;
    return 0;
}

/* The writer blocks every signal: they belong to the main thread (its
 * signalfd or handler), not to whichever thread the kernel picks. */
static int start_writer(struct pd_store *st, char *err, size_t errlen)
{
    sigset_t all, old;
    int r;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&st->thread, NULL, writer_main, st);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        pd_store_set_err(err, errlen, "cannot start the store thread: %s", strerror(r));
        return -1;
    }
    st->thread_started = true;
    return 0;
}

bool pd_db_is_url(const char *db)
{
    return db != NULL &&
           (strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0);
}

void pd_db_redact(const char *db, char *out, size_t outlen)
{
    const char *auth = pd_db_is_url(db) ? strstr(db, "://") + 3 : NULL;
    const char *at = auth ? strchr(auth, '@') : NULL;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;

    if (colon == NULL)
        snprintf(out, outlen, "%s", db ? db : "");
    else
        snprintf(out, outlen, "%.*s:***%s", (int)(colon - db), db, at);
}

/* The backend for a db path: a libpq URI (postgresql:// or postgres://,
 * the two schemes libpq accepts) is PostgreSQL (store_pg.c); anything else
 * is a SQLite file (store_sqlite.c, which refuses what is not a file
 * path). Another backend is one more ops table and a case here on its
 * scheme. */
static const struct pd_store_backend_ops *backend_for(const char *path)
{
    return pd_db_is_url(path) ? pd_store_pg_backend() : pd_store_sqlite_backend();
}

int pd_store_open(struct pd_store **out, const char *path, char *err, size_t errlen)
{
    struct pd_store *st;

    *out = NULL;
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        pd_store_set_err(err, errlen, "out of memory");
        return -1;
    }
    st->efd = -1;
    st->ops = backend_for(path);
    if (init_sync(st, err, errlen) != 0 || st->ops->open(&st->be, path, err, errlen) != 0 ||
        start_writer(st, err, errlen) != 0) {
        store_free(st);
        return -1;
    }
    *out = st;
    return 0;
}

void pd_store_close(struct pd_store *st)
{
    if (st == NULL)
        return;
    if (st->thread_started) {
        pd_store_drain(st);
        pthread_mutex_lock(&st->mu);
        st->stopping = true;
        pthread_cond_broadcast(&st->work_cv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->thread, NULL);
    }
    store_free(st);
}

/* ---- submit / drain / completions ------------------------------------------------------------ */

int pd_store_submit(struct pd_store *st, struct pd_store_job *job)
{
    int rc = -1;

    if (st == NULL || job == NULL || job->done == NULL)
        return -1;
    job->next = NULL;
    job->duplicate = false;
    job->rc = PD_E_INTERNAL;
    pthread_mutex_lock(&st->mu);
    if (!st->stopping) {
        if (st->queue_tail != NULL)
            st->queue_tail->next = job;
        else
            st->queue_head = job;
        st->queue_tail = job;
        st->submitted++;
        pthread_cond_signal(&st->work_cv);
        rc = 0;
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

void pd_store_drain(struct pd_store *st)
{
    uint64_t target;

    pthread_mutex_lock(&st->mu);
    target = st->submitted;
    while (st->completed < target)
        pthread_cond_wait(&st->done_cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
}

int pd_store_event_fd(const struct pd_store *st)
{
    return st->efd;
}

void pd_store_run_completions(struct pd_store *st)
{
    struct pd_store_job *job;
    uint64_t v;

    /* Reset the eventfd before taking the list: a batch finished after
     * this read signals again, so none is left waiting unseen. */
    if (read(st->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        pd_error("store: eventfd read: %s", strerror(errno));
    pthread_mutex_lock(&st->mu);
    job = st->done_head;
    st->done_head = st->done_tail = NULL;
    pthread_mutex_unlock(&st->mu);
    while (job != NULL) {
        struct pd_store_job *next = job->next; /* done() may free job */
        job->next = NULL;
        job->done(job);
        job = next;
    }
}

void pd_store_stats(struct pd_store *st, struct pd_store_stats *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->stats;
    pthread_mutex_unlock(&st->mu);
}

uint64_t pd_store_commit_max_take(struct pd_store *st)
{
    uint64_t us;

    pthread_mutex_lock(&st->mu);
    us = st->commit_us_window;
    st->commit_us_window = 0;
    pthread_mutex_unlock(&st->mu);
    return us;
}

/* ---- reads (loop thread) ------------------------------------------------------------------------ */

int pd_store_each_room(struct pd_store *st, int (*fn)(void *arg, const struct pd_room_row *r),
                       void *arg)
{
    return st->ops->each_room(st->be, fn, arg);
}

int pd_store_each_member(struct pd_store *st,
                         int (*fn)(void *arg, const struct pd_member_row *m), void *arg)
{
    return st->ops->each_member(st->be, fn, arg);
}

int pd_store_each_invite(struct pd_store *st,
                         int (*fn)(void *arg, const struct pd_invite_row *i), void *arg)
{
    return st->ops->each_invite(st->be, fn, arg);
}

int pd_store_each_session(struct pd_store *st,
                          int (*fn)(void *arg, const struct pd_session_rec *rec), void *arg)
{
    return st->ops->each_session(st->be, fn, arg);
}

int pd_store_each_last_seen(struct pd_store *st,
                            int (*fn)(void *arg, const char *user, int64_t ts), void *arg)
{
    return st->ops->each_last_seen(st->be, fn, arg);
}

enum pd_err pd_store_history(struct pd_store *st, const char *room, int64_t before_seq,
                             int limit, struct pd_message **msgs, size_t *n, bool *has_more)
{
    size_t cap;

    *msgs = NULL;
    *n = 0;
    *has_more = false;
    cap = limit < 0 ? 0 : limit > HISTORY_LIMIT_MAX ? HISTORY_LIMIT_MAX : (size_t)limit;
    return st->ops->history(st->be, room, before_seq, cap, msgs, n, has_more);
}

enum pd_err pd_store_session_get(struct pd_store *st, const char *token_hash,
                                 struct pd_session_rec *out)
{
    memset(out, 0, sizeof(*out));
    if (token_hash == NULL || strlen(token_hash) != 64)
        return PD_E_NOT_FOUND;
    return st->ops->session_get(st->be, token_hash, out);
}

enum pd_err pd_store_message_get(struct pd_store *st, int64_t id, struct pd_message *out)
{
    return st->ops->message_get(st->be, id, out);
}

/* Users in order of that time (then name). fn returning non-zero stops the
 * walk early; that is not an error (PD_OK). */
enum pd_err pd_store_receipt_times(struct pd_store *st, const char *room, int64_t seq,
                                   enum pd_receipt_kind kind,
                                   int (*fn)(void *arg, const char *user, int64_t ts),
                                   void *arg)
{
    if (room == NULL || fn == NULL ||
        (kind != PD_RECEIPT_DELIVERED && kind != PD_RECEIPT_READ))
        return PD_E_BAD_REQUEST;
    return st->ops->receipt_times(st->be, room, seq, kind, fn, arg);
}

/* ---- accounts (any thread) ------------------------------------------------------------------------- */

enum pd_err pd_store_user_create(struct pd_store *st, const char *id, const char *name,
                                 const char *password_hash, int64_t now)
{
    if (!pd_valid_user_id(id) || name == NULL)
        return PD_E_BAD_REQUEST;
    return st->ops->user_create(st->be, id, name, password_hash, now);
}

enum pd_err pd_store_user_get(struct pd_store *st, const char *id, char **hash, char **name)
{
    return st->ops->user_get(st->be, id, hash, name);
}
