/* SQLite persistence. One writer thread commits queued jobs in batches
 * (group commit, WAL, synchronous=FULL): a job's completion runs on the loop
 * thread only once its transaction is durable. Reads for the loop thread go
 * through a connection of its own; account calls from HTTP threads through a
 * third connection behind a mutex. */
#ifndef PD_STORE_H
#define PD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "text.h"

#define PD_CLIENT_MSG_ID_MAX 64

struct pd_store;

struct pd_message {
    int64_t id;       /* unique server-wide */
    int64_t seq;      /* 1, 2, ... within the room */
    int64_t ts;       /* ms since the epoch */
    int64_t reply_to; /* 0 when none */
    char room[PD_NAME_MAX + 1];
    char user[PD_NAME_MAX + 1];
    char *name;          /* owned */
    char *text;          /* owned */
    char *client_msg_id; /* owned, NULL when none */
    bool deleted;
};
/* Frees the owned strings of m (not m itself). */
void pd_message_clear(struct pd_message *m);
void pd_messages_free(struct pd_message *msgs, size_t n);

struct pd_room_row {
    char room[PD_NAME_MAX + 1];
    bool is_private;
    char created_by[PD_NAME_MAX + 1];
    int64_t created_at;
    int64_t last_seq;
    int64_t deleted_count; /* messages of the room soft-deleted */
};

struct pd_member_row {
    char room[PD_NAME_MAX + 1];
    char user[PD_NAME_MAX + 1];
    const char *name; /* valid during the callback only */
    bool owner;
    int64_t joined_at;
    int64_t last_read_seq;
    int64_t last_delivered_seq; /* >= last_read_seq: reading implies delivery */
};

struct pd_invite_row {
    char room[PD_NAME_MAX + 1];
    char user[PD_NAME_MAX + 1];
    char invited_by[PD_NAME_MAX + 1];
    int64_t created_at;
};

/* Opens (creating with the schema, or migrating) the database at path, and
 * starts the writer thread. ":memory:" is not allowed (three connections
 * must share it); tests use a temp file. */
int pd_store_open(struct pd_store **out, const char *path, char *err, size_t errlen);
/* True when db names a PostgreSQL server (postgresql:// or postgres://)
 * rather than a SQLite file. */
bool pd_db_is_url(const char *db);
/* db for a log line: a password in a URL becomes "***". */
void pd_db_redact(const char *db, char *out, size_t outlen);
/* Commits everything queued, runs nothing further, stops the thread. */
void pd_store_close(struct pd_store *st);

/* --- start-up loads, loop thread ----------------------------------------- */
int pd_store_each_room(struct pd_store *st, int (*fn)(void *arg, const struct pd_room_row *r),
                       void *arg);
int pd_store_each_member(struct pd_store *st,
                         int (*fn)(void *arg, const struct pd_member_row *m), void *arg);

int pd_store_each_invite(struct pd_store *st,
                         int (*fn)(void *arg, const struct pd_invite_row *i), void *arg);

/* A recovery session (PROTOCOL.md 4, Connection recovery). Only a hash of
 * its token is stored: the token is a credential, like a password. */
struct pd_session_rec {
    char token_hash[65]; /* hex SHA-256 of the token */
    char id[33];         /* public id (session-info), not the token */
    char user[PD_NAME_MAX + 1];
    int64_t created_at;  /* ms */
    int64_t expires_at;  /* ms; 0 while a connection holds it */
    char *rooms_json;    /* {"room": last seq written to the connection, ...} */
};
/* Every stored session; rec->rooms_json is valid during the call only. */
int pd_store_each_session(struct pd_store *st,
                          int (*fn)(void *arg, const struct pd_session_rec *rec), void *arg);
/* The stored session of that token hash: PD_OK with *out (out->rooms_json
 * malloc'd, the caller frees it), PD_E_NOT_FOUND, or PD_E_INTERNAL. For a
 * recovery on another node than the one the session was made on. */
enum pd_err pd_store_session_get(struct pd_store *st, const char *token_hash,
                                 struct pd_session_rec *out);
/* When each user was last seen (their last connection closed), ms. */
int pd_store_each_last_seen(struct pd_store *st,
                            int (*fn)(void *arg, const char *user, int64_t ts), void *arg);

/* --- reads, loop thread --------------------------------------------------- */
/* Newest `limit` messages of room with seq < before_seq (before_seq 0: no
 * bound), returned in ascending seq; *has_more when older ones exist.
 * *msgs is malloc'd (free with pd_messages_free). Returns PD_OK or
 * PD_E_INTERNAL. */
enum pd_err pd_store_history(struct pd_store *st, const char *room, int64_t before_seq,
                             int limit, struct pd_message **msgs, size_t *n, bool *has_more);
/* One message by id: PD_OK, PD_E_NOT_FOUND or PD_E_INTERNAL. */
enum pd_err pd_store_message_get(struct pd_store *st, int64_t id, struct pd_message *out);

/* When each user's receipt pointer of `kind` first reached seq or beyond in
 * room: calls fn(user, ts) once per user that has such a receipt event
 * (the earliest event with event seq >= seq). Pointers only grow, so that
 * event is when the message at seq became delivered/read for them. */
enum pd_receipt_kind { PD_RECEIPT_DELIVERED = 1, PD_RECEIPT_READ = 2 };
enum pd_err pd_store_receipt_times(struct pd_store *st, const char *room, int64_t seq,
                                   enum pd_receipt_kind kind,
                                   int (*fn)(void *arg, const char *user, int64_t ts),
                                   void *arg);

/* --- writes: group commit -------------------------------------------------- */
enum pd_store_op {
    PD_OP_JOIN,  /* create the room if missing (room, user, is_private, now), add member */
    PD_OP_LEAVE, /* remove member (room, user) */
    PD_OP_SEND,  /* msg in: room, user, name, text, client_msg_id, reply_to, ts */
    PD_OP_INVITE,  /* invite user to room (room, user = invitee, name = inviter, now);
                    * a repeat keeps the first invitation */
    PD_OP_RECEIPT, /* receipt_kind of user in room up to seq (msg.seq), at now:
                    * raises members.last_delivered_seq (both kinds) and
                    * last_read_seq (READ) to seq when lower, and records the
                    * event (room, user, kind, seq, now); nothing when the
                    * pointer is already there */
    PD_OP_SESSION_SAVE, /* upsert session (by token_hash; user from session.user);
                         * when consume_hash[0] is set, delete that session
                         * first, in the same transaction (a recovery swaps
                         * the consumed token for its successor atomically);
                         * with session_update_only, only expires_at and rooms
                         * of a session still stored (one consumed meanwhile,
                         * on another node, stays consumed) */
    PD_OP_SESSION_DROP, /* delete session session.token_hash (nothing if absent) */
    PD_OP_LAST_SEEN,    /* user was last seen at now: upsert */
    PD_OP_DELETE,  /* soft-delete message msg.id: deleted = 1, text = '', and
                    * rooms.deleted_count + 1; PD_E_NOT_FOUND when absent; a
                    * message already deleted is left as it is (duplicate set) */
};

struct pd_store_job {
    enum pd_store_op op;
    /* in */
    char room[PD_NAME_MAX + 1];
    char user[PD_NAME_MAX + 1];
    const char *name; /* display name, JOIN; must live until done */
    bool is_private;  /* JOIN, when it creates the room */
    bool owner;       /* JOIN: the member's role */
    enum pd_receipt_kind receipt_kind; /* RECEIPT */
    struct pd_session_rec session;     /* SESSION_SAVE, SESSION_DROP (rooms_json
                                        * owned by the caller) */
    char consume_hash[65];             /* SESSION_SAVE */
    bool session_update_only;          /* SESSION_SAVE */
    int64_t now;      /* ms */
    /* in (SEND) and out: the store sets id and seq. When client_msg_id
     * repeats one of the same user in the same room, msg is replaced by the
     * stored original (owned strings freed and re-allocated) and duplicate
     * is set; nothing is stored. SEND also sets the sender's last_read_seq
     * to the new seq, in the same transaction. */
    struct pd_message msg;
    /* out */
    bool duplicate;
    enum pd_err rc;
    /* runs on the loop thread from pd_store_run_completions */
    void (*done)(struct pd_store_job *job);
    void *arg;
    struct pd_store_job *next; /* the store's */
};

/* Queues job; ownership stays with the caller, who must keep it alive until
 * done(job) is called (exactly once). Returns 0, or -1 when the store is
 * closing. */
int pd_store_submit(struct pd_store *st, struct pd_store_job *job);
/* Blocks until every job submitted so far is committed (shutdown: then
 * pd_store_run_completions sends their acks before sockets close). */
void pd_store_drain(struct pd_store *st);
/* Readable (eventfd) when completions are waiting. */
int pd_store_event_fd(const struct pd_store *st);
/* Runs waiting completions in submission order. Loop thread. */
void pd_store_run_completions(struct pd_store *st);

/* Group-commit counters, for /metrics and tests. Any thread. */
struct pd_store_stats {
    uint64_t jobs;           /* jobs completed (committed or refused) */
    uint64_t batches;        /* batches taken by the writer thread */
    uint64_t failed_batches; /* batch transactions that failed (jobs then retried alone) */
    uint64_t commit_us_total; /* writer time spent committing batches, µs */
    uint64_t commit_us_max;   /* the slowest batch so far, µs */
};
void pd_store_stats(struct pd_store *st, struct pd_store_stats *out);
/* The slowest batch commit (µs) since the previous call, and starts over:
 * the monitor's per-second window (one caller). Any thread. */
uint64_t pd_store_commit_max_take(struct pd_store *st);

/* --- accounts, any thread ---------------------------------------------- */
/* PD_OK, PD_E_CONFLICT when the user exists, PD_E_INTERNAL. */
enum pd_err pd_store_user_create(struct pd_store *st, const char *id, const char *name,
                                 const char *password_hash, int64_t now);
/* PD_OK with malloc'd *hash and *name, PD_E_NOT_FOUND, PD_E_INTERNAL. */
enum pd_err pd_store_user_get(struct pd_store *st, const char *id, char **hash, char **name);

#endif
