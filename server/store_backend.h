/* What the store core (store.c) needs from a database: the contract between
 * the backend-neutral part of the store (job queue, writer thread, group
 * commit, completions, stats, the pd_store_* API) and one database behind
 * it (store_sqlite.c). Internal to the server: callers use store.h only.
 *
 * A backend is an ops table plus its own state, which embeds
 * struct pd_store_backend as its first member. pd_store_open picks the ops
 * table from the db path; adding a database is one more table and one more
 * case there, nothing in the core.
 *
 * Threads: open and close run on the thread calling pd_store_open/close,
 * before the writer thread starts and after it stopped. begin, apply,
 * commit and rollback run on the writer thread only. The loads and reads
 * run on the loop thread only. The account calls may run on any thread at
 * once: the backend serialises them itself.
 *
 * Per-room seq and message ids are the backend's business, not the core's:
 * apply() of a SEND hands back the id and seq it assigned (in res), and
 * commit()/rollback() tell the backend which of them became real. The
 * SQLite backend keeps a per-room seq cache and the next id in the writer
 * thread's memory: one node owns the file, so that memory is authoritative
 * and saves a query per message (DESIGN.md 3); it follows every rollback so
 * it always matches what is committed. A backend shared by several nodes
 * (PostgreSQL, issue 9) must not do that: one node's memory cannot know
 * what another node assigned, so it takes seq from the database inside the
 * transaction (UPDATE rooms SET last_seq = last_seq + 1 ... RETURNING
 * last_seq) and ids from a sequence, and needs no cache at all. */
#ifndef PD_STORE_BACKEND_H
#define PD_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The most jobs the core puts between one begin() and its commit() or
 * rollback(): a backend may size per-transaction state by it. */
#define PD_STORE_BATCH_MAX 256

/* A job's outcome, kept aside by the core until its transaction commits: a
 * job is told nothing about a transaction that may still roll back. The
 * core resets it (rc PD_E_INTERNAL, the rest zero) before each apply. */
struct pd_store_result {
    enum pd_err rc;
    int64_t id, seq;          /* SEND: new; DELETE: the row's seq */
    bool duplicate;           /* SEND, INVITE, RECEIPT, DELETE */
    char room[PD_NAME_MAX + 1], user[PD_NAME_MAX + 1]; /* DELETE: the row's */
    struct pd_message orig;   /* SEND: the stored original, when duplicate
                               * (owned; the core frees or moves it) */
};

/* The caller's callback of one start-up load (each_room ... each_last_seen
 * below), carried through a backend's row walker to its per-row function:
 * the walk (query, loop, error, cleanup) is written once per backend, and
 * each load is only the conversion of one row and a call of its own
 * member of fn. */
struct pd_store_each_cb {
    union {
        int (*room)(void *arg, const struct pd_room_row *r);
        int (*member)(void *arg, const struct pd_member_row *m);
        int (*invite)(void *arg, const struct pd_invite_row *i);
        int (*session)(void *arg, const struct pd_session_rec *rec);
        int (*last_seen)(void *arg, const char *user, int64_t ts);
    } fn;
    void *arg;
};

struct pd_store_backend_ops;

/* The first member of every backend's state. */
struct pd_store_backend {
    const struct pd_store_backend_ops *ops;
};

struct pd_store_backend_ops {
    /* Opens (creating or migrating the schema) the database at path. On
     * failure *out stays NULL, err says why and nothing is left open. */
    int (*open)(struct pd_store_backend **out, const char *path, char *err, size_t errlen);
    /* Frees everything open() made. */
    void (*close)(struct pd_store_backend *be);

    /* --- one batch: begin, apply each job, then commit or rollback ---
     * begin: 0, or -1 (logged) when no transaction could start.
     * apply: jobs the core already checked (see job_input_ok in store.c):
     *   0 with res->rc set (PD_OK, or a refusal that wrote nothing), or -1
     *   when the database failed and the transaction must go.
     * commit: 0, or -1 (logged) when it failed; the core then calls
     *   rollback.
     * rollback: undoes the open transaction, if the database did not
     *   already, and everything apply handed out in it. */
    int (*begin)(struct pd_store_backend *be);
    int (*apply)(struct pd_store_backend *be, struct pd_store_job *job,
                 struct pd_store_result *res);
    int (*commit)(struct pd_store_backend *be);
    void (*rollback)(struct pd_store_backend *be);

    /* --- start-up loads and reads: as the pd_store_* calls of store.h --- */
    int (*each_room)(struct pd_store_backend *be,
                     int (*fn)(void *arg, const struct pd_room_row *r), void *arg);
    int (*each_member)(struct pd_store_backend *be,
                       int (*fn)(void *arg, const struct pd_member_row *m), void *arg);
    int (*each_invite)(struct pd_store_backend *be,
                       int (*fn)(void *arg, const struct pd_invite_row *i), void *arg);
    int (*each_session)(struct pd_store_backend *be,
                        int (*fn)(void *arg, const struct pd_session_rec *rec), void *arg);
    enum pd_err (*session_get)(struct pd_store_backend *be, const char *token_hash,
                               struct pd_session_rec *out);
    int (*each_last_seen)(struct pd_store_backend *be,
                          int (*fn)(void *arg, const char *user, int64_t ts), void *arg);
    /* cap is already bounded by the core; *msgs, *n and *has_more arrive
     * NULL, 0 and false. */
    enum pd_err (*history)(struct pd_store_backend *be, const char *room, int64_t before_seq,
                           size_t cap, struct pd_message **msgs, size_t *n, bool *has_more);
    enum pd_err (*message_get)(struct pd_store_backend *be, int64_t id, struct pd_message *out);
    /* room, fn and kind already checked by the core. */
    enum pd_err (*receipt_times)(struct pd_store_backend *be, const char *room, int64_t seq,
                                 enum pd_receipt_kind kind,
                                 int (*fn)(void *arg, const char *user, int64_t ts), void *arg);

    /* --- accounts, any thread --- */
    /* id and name already checked by the core. */
    enum pd_err (*user_create)(struct pd_store_backend *be, const char *id, const char *name,
                               const char *password_hash, int64_t now);
    enum pd_err (*user_get)(struct pd_store_backend *be, const char *id, char **hash,
                            char **name);
};

/* The SQLite backend's table (store_sqlite.c). */
const struct pd_store_backend_ops *pd_store_sqlite_backend(void);
const struct pd_store_backend_ops *pd_store_pg_backend(void);

/* snprintf into err (when err is not NULL and errlen > 0); store.c. */
void pd_store_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
