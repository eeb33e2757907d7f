/* SQLite persistence with group commit (DESIGN.md 3).
 *
 * Three connections, one owner each, so no connection is ever shared
 * between threads without a lock:
 *   writer   - the writer thread: every change to rooms, members, messages,
 *              invites, receipts, recovery sessions and last_seen;
 *   reader   - the loop thread: start-up loads, history, message lookups;
 *   accounts - any thread (HTTP), behind accounts_mu.
 *
 * The writer thread takes everything queued (up to BATCH_MAX jobs), applies
 * it in one BEGIN IMMEDIATE ... COMMIT, and only then hands the batch to
 * the loop thread through an eventfd. With WAL and synchronous=FULL a commit
 * costs one fsync, so a batch of 200 messages costs what one message would.
 * Per-room seq and the next message id live in the writer's memory (loaded
 * once), and follow every rollback so they always match what is committed. */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "hmap.h"
#include "log.h"

#define BATCH_MAX 256
#define BUSY_TIMEOUT_MS 5000
/* history never returns more than this, whatever the caller asks */
#define HISTORY_LIMIT_MAX 1000

/* ---- schema ------------------------------------------------------------------ */

/* migrations[i] takes the schema from user_version i to i + 1. Append only:
 * a released migration is never edited, since databases already ran it. */
static const char *const migrations[] = {
    /* 1: the initial schema */
    "CREATE TABLE users("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  password_hash TEXT,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE rooms("
    "  name TEXT PRIMARY KEY,"
    "  private INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  last_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE members("
    "  room TEXT NOT NULL REFERENCES rooms(name),"
    "  user TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK(role IN ('owner','member')),"
    "  joined_at INTEGER NOT NULL,"
    "  last_read_seq INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(room, user)) WITHOUT ROWID;"
    "CREATE TABLE messages("
    "  id INTEGER PRIMARY KEY,"
    "  room TEXT NOT NULL REFERENCES rooms(name),"
    "  seq INTEGER NOT NULL,"
    "  user TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  client_msg_id TEXT,"
    "  reply_to INTEGER,"
    "  deleted INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(room, seq));"
    "CREATE UNIQUE INDEX messages_client_msg_id ON messages(room, user, client_msg_id)"
    "  WHERE client_msg_id IS NOT NULL;",
    /* 2: invites, receipts (delivered/read pointers plus events), deleted
     * counts. Existing rows get what the new columns would have said:
     * what was read was delivered, and deleted_count counts the deleted. */
    "ALTER TABLE members ADD COLUMN last_delivered_seq INTEGER NOT NULL DEFAULT 0;"
    "UPDATE members SET last_delivered_seq = last_read_seq;"
    "ALTER TABLE rooms ADD COLUMN deleted_count INTEGER NOT NULL DEFAULT 0;"
    "UPDATE rooms SET deleted_count ="
    "  (SELECT COUNT(*) FROM messages WHERE messages.room = rooms.name AND deleted != 0);"
    "CREATE TABLE invites("
    "  room TEXT NOT NULL REFERENCES rooms(name),"
    "  user TEXT NOT NULL,"
    "  invited_by TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY(room, user)) WITHOUT ROWID;"
    /* One row each time a pointer moved: (room, user) reached seq at ts. */
    "CREATE TABLE receipts("
    "  room TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  ts INTEGER NOT NULL);"
    /* pd_store_receipt_times: a range on (room, kind, seq); ts makes it
     * covering, so the table itself is never read. */
    "CREATE INDEX receipts_room_kind_seq ON receipts(room, kind, seq, user, ts);",
    /* 3: recovery sessions (only a hash of each token: it is a credential)
     * and when each user was last seen. */
    "CREATE TABLE sessions("
    "  token_hash TEXT PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  user TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  rooms TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE presence("
    "  user TEXT PRIMARY KEY,"
    "  last_seen INTEGER NOT NULL) WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define MSG_COLS "id, room, seq, user, name, text, ts, client_msg_id, reply_to, deleted"

/* Statements are prepared once per connection and reused. */
enum w_stmt {
    W_ROOM_SEQ,
    W_ROOM_ADD,
    W_MEMBER_ADD,
    W_MEMBER_DEL,
    W_MSG_BY_CMID,
    W_ROOM_SET_SEQ,
    W_MSG_ADD,
    W_MEMBER_PTRS,
    W_MEMBER_SET_PTRS,
    W_RECEIPT_ADD,
    W_INVITE_ADD,
    W_MSG_DEL_GET,
    W_MSG_DEL,
    W_ROOM_DELETED,
    W_SESSION_CONSUME,
    W_SESSION_OWNER,
    W_SESSION_BY_ID,
    W_SESSION_PUT,
    W_SESSION_DEL,
    W_LAST_SEEN,
    W_COUNT
};
static const char *const w_sql[W_COUNT] = {
    [W_ROOM_SEQ] = "SELECT last_seq FROM rooms WHERE name = ?1",
    [W_ROOM_ADD] = "INSERT OR IGNORE INTO rooms(name, private, created_by, created_at)"
                   " VALUES (?1, ?2, ?3, ?4)",
    /* A new member starts with nothing unread: the room's history is
     * there to read, but was not sent to them. */
    [W_MEMBER_ADD] = "INSERT OR IGNORE INTO members(room, user, name, role, joined_at,"
                     " last_read_seq, last_delivered_seq)"
                     " SELECT ?1, ?2, ?3, ?4, ?5, last_seq, last_seq FROM rooms WHERE name = ?1",
    [W_MEMBER_DEL] = "DELETE FROM members WHERE room = ?1 AND user = ?2",
    [W_MSG_BY_CMID] = "SELECT " MSG_COLS " FROM messages"
                      " WHERE room = ?1 AND user = ?2 AND client_msg_id = ?3",
    [W_ROOM_SET_SEQ] = "UPDATE rooms SET last_seq = ?1 WHERE name = ?2",
    [W_MSG_ADD] = "INSERT INTO messages(id, room, seq, user, name, text, ts, client_msg_id,"
                  " reply_to) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [W_MEMBER_PTRS] = "SELECT last_read_seq, last_delivered_seq FROM members"
                      " WHERE room = ?1 AND user = ?2",
    /* Only forward, whatever the caller computed. */
    [W_MEMBER_SET_PTRS] = "UPDATE members SET last_read_seq = MAX(last_read_seq, ?1),"
                          " last_delivered_seq = MAX(last_delivered_seq, ?2)"
                          " WHERE room = ?3 AND user = ?4",
    [W_RECEIPT_ADD] = "INSERT INTO receipts(room, user, kind, seq, ts) VALUES (?1, ?2, ?3, ?4, ?5)",
    [W_INVITE_ADD] = "INSERT OR IGNORE INTO invites(room, user, invited_by, created_at)"
                     " VALUES (?1, ?2, ?3, ?4)",
    [W_MSG_DEL_GET] = "SELECT room, user, seq, deleted FROM messages WHERE id = ?1",
    [W_MSG_DEL] = "UPDATE messages SET deleted = 1, text = '' WHERE id = ?1",
    [W_ROOM_DELETED] = "UPDATE rooms SET deleted_count = deleted_count + 1 WHERE name = ?1",
    /* Only the owner's recovery consumes a token. */
    [W_SESSION_CONSUME] = "DELETE FROM sessions WHERE token_hash = ?1 AND user = ?2",
    [W_SESSION_OWNER] = "SELECT user FROM sessions WHERE token_hash = ?1",
    [W_SESSION_BY_ID] = "SELECT token_hash FROM sessions WHERE id = ?1",
    /* An upsert by token_hash (not INSERT OR REPLACE, which would also
     * delete another session that happens to have the same id). */
    [W_SESSION_PUT] = "INSERT INTO sessions(token_hash, id, user, created_at, expires_at, rooms)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                      " ON CONFLICT(token_hash) DO UPDATE SET id = excluded.id,"
                      " user = excluded.user, created_at = excluded.created_at,"
                      " expires_at = excluded.expires_at, rooms = excluded.rooms",
    [W_SESSION_DEL] = "DELETE FROM sessions WHERE token_hash = ?1",
    [W_LAST_SEEN] = "INSERT OR REPLACE INTO presence(user, last_seen) VALUES (?1, ?2)",
};

enum r_stmt {
    R_ROOMS,
    R_MEMBERS,
    R_INVITES,
    R_HISTORY,
    R_MSG_GET,
    R_RECEIPT_TIMES,
    R_SESSIONS,
    R_LAST_SEEN,
    R_COUNT
};
static const char *const r_sql[R_COUNT] = {
    [R_ROOMS] = "SELECT name, private, created_by, created_at, last_seq, deleted_count FROM rooms",
    [R_MEMBERS] = "SELECT room, user, name, role, joined_at, last_read_seq, last_delivered_seq"
                  " FROM members",
    [R_INVITES] = "SELECT room, user, invited_by, created_at FROM invites",
    [R_HISTORY] = "SELECT " MSG_COLS " FROM messages WHERE room = ?1 AND seq < ?2"
                  " ORDER BY seq DESC LIMIT ?3",
    [R_MSG_GET] = "SELECT " MSG_COLS " FROM messages WHERE id = ?1",
    /* Pointers only grow, so each user's earliest event at or past seq is
     * when seq was reached. */
    [R_RECEIPT_TIMES] = "SELECT user, MIN(ts) FROM receipts"
                        " WHERE room = ?1 AND kind = ?2 AND seq >= ?3"
                        " GROUP BY user ORDER BY 2, 1",
    [R_SESSIONS] = "SELECT token_hash, id, user, created_at, expires_at, rooms FROM sessions",
    [R_LAST_SEEN] = "SELECT user, last_seen FROM presence",
};

enum a_stmt { A_USER_ADD, A_USER_GET, A_COUNT };
static const char *const a_sql[A_COUNT] = {
    [A_USER_ADD] = "INSERT INTO users(id, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
    [A_USER_GET] = "SELECT password_hash, name FROM users WHERE id = ?1",
};

/* ---- state --------------------------------------------------------------------- */

/* A room's last seq as the writer thread knows it. `committed` is the value
 * in the database; `seq` runs ahead inside an open transaction and falls
 * back to `committed` when it rolls back. */
struct room_seq {
    char room[PD_NAME_MAX + 1]; /* the map's key lives here */
    int64_t seq, committed;
    bool dirty;
};

/* A job's outcome, kept aside until its transaction commits: a job is told
 * nothing about a transaction that may still roll back. */
struct job_result {
    enum pd_err rc;
    int64_t id, seq;                                  /* SEND: new; DELETE: the row's seq */
    bool duplicate;                                   /* SEND, INVITE, RECEIPT, DELETE */
    char room[PD_NAME_MAX + 1], user[PD_NAME_MAX + 1]; /* DELETE: the row's */
    struct pd_message orig;                           /* SEND: the stored original, when duplicate */
};

struct pd_store {
    sqlite3 *wdb, *rdb, *adb;
    sqlite3_stmt *w[W_COUNT], *r[R_COUNT], *a[A_COUNT];
    pthread_mutex_t accounts_mu;

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
    bool sync_init; /* mu, cvs and accounts_mu exist */

    /* The writer thread's own (before the thread starts: open's). */
    struct pd_hmap seqs; /* room -> struct room_seq */
    struct room_seq *dirty[BATCH_MAX];
    size_t ndirty;
    int64_t next_id, committed_next_id;
    struct pd_store_job *batch[BATCH_MAX];
    struct job_result res[BATCH_MAX];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
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

static char *dup_text(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return strdup(t ? (const char *)t : "");
}

static void copy_name(char dst[PD_NAME_MAX + 1], sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(dst, PD_NAME_MAX + 1, "%s", t ? (const char *)t : "");
}

/* One row of MSG_COLS into m. A deleted message keeps id and seq but shows
 * no text (PROTOCOL.md 3), whatever the row still holds. 0 or -1 (memory). */
static int read_message(sqlite3_stmt *s, struct pd_message *m)
{
    memset(m, 0, sizeof(*m));
    m->id = sqlite3_column_int64(s, 0);
    copy_name(m->room, s, 1);
    m->seq = sqlite3_column_int64(s, 2);
    copy_name(m->user, s, 3);
    m->ts = sqlite3_column_int64(s, 6);
    m->reply_to = sqlite3_column_int64(s, 8); /* NULL reads as 0: none */
    m->deleted = sqlite3_column_int(s, 9) != 0;
    m->name = dup_text(s, 4);
    m->text = m->deleted ? strdup("") : dup_text(s, 5);
    if (sqlite3_column_type(s, 7) != SQLITE_NULL)
        m->client_msg_id = dup_text(s, 7);
    if (m->name == NULL || m->text == NULL ||
        (sqlite3_column_type(s, 7) != SQLITE_NULL && m->client_msg_id == NULL)) {
        pd_message_clear(m);
        return -1;
    }
    return 0;
}

/* ---- connections ----------------------------------------------------------------- */

static int exec_sql(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* PRAGMA journal_mode answers with the mode it ended in: check it. */
static int set_wal(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int ok = 0;

    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(s, 0);
        ok = mode != NULL && strcmp((const char *)mode, "wal") == 0;
    }
    sqlite3_finalize(s);
    return ok ? 0 : -1;
}

/* Every connection gets the same settings: WAL, fsync at each commit,
 * foreign keys enforced, and waiting (not failing) on a busy lock. */
static int open_conn(const char *path, sqlite3 **out, bool query_only, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

    *out = NULL;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        set_err(err, errlen, "db %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    if (set_wal(db) != 0 || exec_sql(db, "PRAGMA synchronous=FULL") != 0 ||
        exec_sql(db, "PRAGMA foreign_keys=ON") != 0 ||
        (query_only && exec_sql(db, "PRAGMA query_only=ON") != 0)) {
        set_err(err, errlen, "db %s: cannot set WAL mode and pragmas: %s", path,
                sqlite3_errmsg(db));
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

static int user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *s = NULL;
    int rc = -1;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        *v = sqlite3_column_int(s, 0);
        rc = 0;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Runs migration `target` (from target - 1) in its own transaction. The
 * version is re-read under the write lock: another parleyd on the same file
 * may have migrated meanwhile. */
static int migrate_one(sqlite3 *db, int target, char *err, size_t errlen)
{
    char sql[64];
    int v = 0;

    if (exec_sql(db, "BEGIN IMMEDIATE") != 0)
        goto fail;
    if (user_version(db, &v) != 0)
        goto fail;
    if (v < target) {
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", target);
        if (exec_sql(db, migrations[target - 1]) != 0 || exec_sql(db, sql) != 0)
            goto fail;
    }
    if (exec_sql(db, "COMMIT") != 0)
        goto fail;
    return 0;
fail:
    set_err(err, errlen, "schema migration %d failed: %s", target, sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
        exec_sql(db, "ROLLBACK");
    return -1;
}

static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    int v = 0;

    if (user_version(db, &v) != 0) {
        set_err(err, errlen, "db %s: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    if (v > SCHEMA_VERSION) {
        set_err(err, errlen, "db %s: schema version %d is newer than this parleyd knows (%d)",
                path, v, SCHEMA_VERSION);
        return -1;
    }
    for (int target = v + 1; target <= SCHEMA_VERSION; target++)
        if (migrate_one(db, target, err, errlen) != 0)
            return -1;
    return 0;
}

static int prepare_all(sqlite3 *db, const char *const *sql, sqlite3_stmt **stmts, int n,
                       char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &stmts[i], NULL) !=
            SQLITE_OK) {
            set_err(err, errlen, "preparing \"%s\": %s", sql[i], sqlite3_errmsg(db));
            return -1;
        }
    }
    return 0;
}

static void finalize_all(sqlite3_stmt **stmts, int n)
{
    for (int i = 0; i < n; i++) {
        sqlite3_finalize(stmts[i]);
        stmts[i] = NULL;
    }
}

/* ids are server-wide: continue after the largest one stored. */
static int load_next_id(struct pd_store *st, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc = -1;

    if (sqlite3_prepare_v2(st->wdb, "SELECT COALESCE(MAX(id), 0) FROM messages", -1, &s, NULL) ==
            SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        st->next_id = sqlite3_column_int64(s, 0) + 1;
        st->committed_next_id = st->next_id;
        rc = 0;
    } else {
        set_err(err, errlen, "reading message ids: %s", sqlite3_errmsg(st->wdb));
    }
    sqlite3_finalize(s);
    return rc;
}

/* ---- the writer's seq cache ---------------------------------------------------------- */

/* The room's entry, loading rooms.last_seq on first use. Returns PD_OK,
 * PD_E_NOT_FOUND (no such room; nothing cached), or PD_E_INTERNAL with
 * *sql_error set when the database failed. */
static enum pd_err room_seq_get(struct pd_store *st, const char *room, struct room_seq **out,
                                bool *sql_error)
{
    struct room_seq *e = pd_hmap_get(&st->seqs, room);
    sqlite3_stmt *s = st->w[W_ROOM_SEQ];
    int64_t last;
    int r;

    if (e != NULL) {
        *out = e;
        return PD_OK;
    }
    sqlite3_bind_text(s, 1, room, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    last = r == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (r == SQLITE_DONE)
        return PD_E_NOT_FOUND;
    if (r != SQLITE_ROW) {
        *sql_error = true;
        return PD_E_INTERNAL;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return PD_E_INTERNAL;
    snprintf(e->room, sizeof(e->room), "%s", room);
    e->seq = e->committed = last;
    if (pd_hmap_put(&st->seqs, e->room, e) != 0) {
        free(e);
        return PD_E_INTERNAL;
    }
    *out = e;
    return PD_OK;
}

static void room_seq_advance(struct pd_store *st, struct room_seq *e, int64_t seq)
{
    if (!e->dirty) {
        e->dirty = true;
        st->dirty[st->ndirty++] = e; /* one room per job: never more than BATCH_MAX */
    }
    e->seq = seq;
}

/* After COMMIT: what ran ahead is now what is stored. */
static void counters_commit(struct pd_store *st)
{
    for (size_t i = 0; i < st->ndirty; i++) {
        st->dirty[i]->committed = st->dirty[i]->seq;
        st->dirty[i]->dirty = false;
    }
    st->ndirty = 0;
    st->committed_next_id = st->next_id;
}

/* After ROLLBACK: seqs and ids handed out in it were never stored. */
static void counters_rollback(struct pd_store *st)
{
    for (size_t i = 0; i < st->ndirty; i++) {
        st->dirty[i]->seq = st->dirty[i]->committed;
        st->dirty[i]->dirty = false;
    }
    st->ndirty = 0;
    st->next_id = st->committed_next_id;
}

static void seqs_free(struct pd_store *st)
{
    size_t pos = 0;
    struct room_seq *e;

    while ((e = pd_hmap_next(&st->seqs, &pos, NULL)) != NULL)
        free(e);
    pd_hmap_free(&st->seqs);
}

/* ---- applying jobs (writer thread, inside a transaction) ------------------------------- */

/* Steps a write statement to completion and resets it. 0 or -1. */
static int step_done(sqlite3 *db, sqlite3_stmt *s)
{
    int r = sqlite3_step(s);

    if (r != SQLITE_DONE)
        pd_error("store: %s: %s", sqlite3_sql(s), sqlite3_errmsg(db));
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return r == SQLITE_DONE ? 0 : -1;
}

static int add_receipt_event(struct pd_store *st, const char *room, const char *user,
                             enum pd_receipt_kind kind, int64_t seq, int64_t ts);
static int member_pointers(struct pd_store *st, const char *room, const char *user,
                           int64_t *last_read, int64_t *last_delivered);

/* Each apply_* returns 0 with res->rc set (PD_OK, or a refusal that wrote
 * nothing), or -1 when the database failed and the transaction must go. */
static int apply_join(struct pd_store *st, struct pd_store_job *job, struct job_result *res)
{
    sqlite3_stmt *s;

    if (!pd_valid_room_name(job->room) || !pd_valid_user_id(job->user)) {
        res->rc = PD_E_BAD_REQUEST;
        return 0;
    }
    s = st->w[W_ROOM_ADD];
    sqlite3_bind_text(s, 1, job->room, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, job->is_private ? 1 : 0);
    sqlite3_bind_text(s, 3, job->user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, job->now);
    if (step_done(st->wdb, s) != 0)
        return -1;
    s = st->w[W_MEMBER_ADD];
    sqlite3_bind_text(s, 1, job->room, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, job->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, job->name ? job->name : job->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, job->owner ? "owner" : "member", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, job->now);
    if (step_done(st->wdb, s) != 0)
        return -1;
    /* A new member's pointers start at the room's last seq: record that as
     * their receipts, at the join, so delivery-status has a time for them
     * like for everyone its pointers cover. */
    if (sqlite3_changes(st->wdb) == 1) {
        int64_t read = 0, delivered = 0;
        if (member_pointers(st, job->room, job->user, &read, &delivered) < 0)
            return -1;
        if (read > 0 &&
            (add_receipt_event(st, job->room, job->user, PD_RECEIPT_READ, read, job->now) != 0 ||
             add_receipt_event(st, job->room, job->user, PD_RECEIPT_DELIVERED, read, job->now) != 0))
            return -1;
    }
    res->rc = PD_OK;
    return 0;
}

/* Leaving a room one is not in is not an error: the end state is the one
 * asked for, and a retried leave must not fail. */
static int apply_leave(struct pd_store *st, struct pd_store_job *job, struct job_result *res)
{
    sqlite3_stmt *s = st->w[W_MEMBER_DEL];

    sqlite3_bind_text(s, 1, job->room, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, job->user, -1, SQLITE_STATIC);
    if (step_done(st->wdb, s) != 0)
        return -1;
    res->rc = PD_OK;
    return 0;
}

/* A repeat of (room, user, client_msg_id): 1 with the original in
 * res->orig (res->rc and res->duplicate set), 0 when new, -1 on a database
 * error. */
static int find_duplicate(struct pd_store *st, const struct pd_message *m,
                          struct job_result *res)
{
    sqlite3_stmt *s = st->w[W_MSG_BY_CMID];
    int r, found = 0;

    sqlite3_bind_text(s, 1, m->room, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, m->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, m->client_msg_id, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        found = 1;
        /* Out of memory: refused (PD_E_INTERNAL), and nothing stored. */
        res->duplicate = read_message(s, &res->orig) == 0;
        res->rc = res->duplicate ? PD_OK : PD_E_INTERNAL;
    } else if (r != SQLITE_DONE) {
        pd_error("store: duplicate lookup: %s", sqlite3_errmsg(st->wdb));
        found = -1;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return found;
}

static int add_receipt_event(struct pd_store *st, const char *room, const char *user,
                             enum pd_receipt_kind kind, int64_t seq, int64_t ts)
{
    sqlite3_stmt *s = st->w[W_RECEIPT_ADD];

    sqlite3_bind_text(s, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, user, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, (int)kind);
    sqlite3_bind_int64(s, 4, seq);
    sqlite3_bind_int64(s, 5, ts);
    return step_done(st->wdb, s);
}

/* user's receipt pointers in room: 1 (a member), 0 (not one), -1 (database). */
static int member_pointers(struct pd_store *st, const char *room, const char *user,
                           int64_t *last_read, int64_t *last_delivered)
{
    sqlite3_stmt *s = st->w[W_MEMBER_PTRS];
    int r;

    sqlite3_bind_text(s, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, user, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *last_read = sqlite3_column_int64(s, 0);
        *last_delivered = sqlite3_column_int64(s, 1);
    } else if (r != SQLITE_DONE) {
        pd_error("store: receipt pointers of %s in %s: %s", user, room, sqlite3_errmsg(st->wdb));
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

/* Raises a member's receipt pointers (now last_read, last_delivered) to
 * seq: last_delivered_seq for both kinds, last_read_seq too for READ
 * (reading implies delivery). Each pointer that moves gets its event at
 * ts, so pd_store_receipt_times sees a read as a delivery as well.
 * *moved says whether anything changed. 0, or -1 on a database error. */
static int raise_pointers(struct pd_store *st, const char *room, const char *user,
                          enum pd_receipt_kind kind, int64_t seq, int64_t ts, int64_t last_read,
                          int64_t last_delivered, bool *moved)
{
    bool read_moves = kind == PD_RECEIPT_READ && seq > last_read;
    bool delivered_moves = seq > last_delivered;
    sqlite3_stmt *s = st->w[W_MEMBER_SET_PTRS];

    *moved = read_moves || delivered_moves;
    if (!*moved)
        return 0;
    sqlite3_bind_int64(s, 1, read_moves ? seq : last_read);
    sqlite3_bind_int64(s, 2, delivered_moves ? seq : last_delivered);
    sqlite3_bind_text(s, 3, room, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, user, -1, SQLITE_STATIC);
    if (step_done(st->wdb, s) != 0)
        return -1;
    if (read_moves && add_receipt_event(st, room, user, PD_RECEIPT_READ, seq, ts) != 0)
        return -1;
    if (delivered_moves && add_receipt_event(st, room, user, PD_RECEIPT_DELIVERED, seq, ts) != 0)
        return -1;
    return 0;
}

/* The writes of a new message: room seq, message row, and the sender's
 * pointers (sending reads, and so delivers, one's own message) with their
 * events. The rooms update goes first: if it touches no row the room does
 * not exist and nothing has been written. */
static int insert_message(struct pd_store *st, const struct pd_message *m, int64_t id,
                          int64_t seq, bool *no_room)
{
    sqlite3_stmt *s = st->w[W_ROOM_SET_SEQ];
    int64_t last_read = 0, last_delivered = 0;
    bool moved;
    int r;

    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_text(s, 2, m->room, -1, SQLITE_STATIC);
    if (step_done(st->wdb, s) != 0)
        return -1;
    if (sqlite3_changes(st->wdb) == 0) {
        *no_room = true;
        return 0;
    }
    s = st->w[W_MSG_ADD];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, m->room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, seq);
    sqlite3_bind_text(s, 4, m->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, m->name ? m->name : m->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, m->text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, m->ts);
    if (m->client_msg_id != NULL)
        sqlite3_bind_text(s, 8, m->client_msg_id, -1, SQLITE_STATIC);
    if (m->reply_to > 0)
        sqlite3_bind_int64(s, 9, m->reply_to);
    if (step_done(st->wdb, s) != 0)
        return -1;
    /* A sender who is not a member (the caller checks) has no pointers. */
    r = member_pointers(st, m->room, m->user, &last_read, &last_delivered);
    if (r <= 0)
        return r;
    return raise_pointers(st, m->room, m->user, PD_RECEIPT_READ, seq, m->ts, last_read,
                          last_delivered, &moved);
}

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

static int apply_send(struct pd_store *st, struct pd_store_job *job, struct job_result *res)
{
    struct pd_message *m = &job->msg;
    struct room_seq *e = NULL;
    bool sql_error = false, no_room = false;
    int dup;

    if (!send_input_ok(job)) {
        res->rc = PD_E_BAD_REQUEST;
        return 0;
    }
    if (m->client_msg_id != NULL) {
        dup = find_duplicate(st, m, res);
        if (dup < 0)
            return -1;
        if (dup > 0)
            return 0; /* the original stands: no row, no seq */
    }
    res->rc = room_seq_get(st, m->room, &e, &sql_error);
    if (res->rc != PD_OK)
        return sql_error ? -1 : 0;
    if (insert_message(st, m, st->next_id, e->seq + 1, &no_room) != 0)
        return -1;
    if (no_room) {
        res->rc = PD_E_NOT_FOUND;
        return 0;
    }
    res->id = st->next_id++;
    res->seq = e->seq + 1;
    room_seq_advance(st, e, res->seq);
    return 0;
}

/* Whether room is in the database now: 1, 0, or -1 (database). Asks the
 * table, not the seq cache: a cached room may have been created by a batch
 * that rolled back. */
static int room_exists(struct pd_store *st, const char *room)
{
    sqlite3_stmt *s = st->w[W_ROOM_SEQ];
    int r;

    sqlite3_bind_text(s, 1, room, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        pd_error("store: room %s: %s", room, sqlite3_errmsg(st->wdb));
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

/* A repeat keeps the first invitation (duplicate set). The room must exist
 * (the foreign key would fail the whole batch otherwise). */
static int apply_invite(struct pd_store *st, struct pd_store_job *job, struct job_result *res)
{
    sqlite3_stmt *s;
    int r;

    if (!pd_valid_room_name(job->room) || !pd_valid_user_id(job->user) || job->name == NULL) {
        res->rc = PD_E_BAD_REQUEST;
        return 0;
    }
    r = room_exists(st, job->room);
    if (r <= 0) {
        res->rc = PD_E_NOT_FOUND;
        return r;
    }
    res->rc = PD_OK;
    s = st->w[W_INVITE_ADD];
    sqlite3_bind_text(s, 1, job->room, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, job->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, job->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, job->now);
    if (step_done(st->wdb, s) != 0)
        return -1;
    res->duplicate = sqlite3_changes(st->wdb) == 0;
    return 0;
}

/* Not a member (or no such room): PD_E_NOT_FOUND. A seq past the room's
 * last message would mark messages read before they exist:
 * PD_E_BAD_REQUEST. Nothing to raise: duplicate. */
static int apply_receipt(struct pd_store *st, struct pd_store_job *job, struct job_result *res)
{
    int64_t seq = job->msg.seq, last_read = 0, last_delivered = 0;
    struct room_seq *e = NULL;
    bool sql_error = false, moved = false;
    int r;

    if (job->receipt_kind != PD_RECEIPT_DELIVERED && job->receipt_kind != PD_RECEIPT_READ) {
        res->rc = PD_E_BAD_REQUEST;
        return 0;
    }
    r = member_pointers(st, job->room, job->user, &last_read, &last_delivered);
    if (r <= 0) {
        res->rc = PD_E_NOT_FOUND;
        return r;
    }
    res->rc = room_seq_get(st, job->room, &e, &sql_error);
    if (res->rc != PD_OK)
        return sql_error ? -1 : 0;
    if (seq > e->seq) {
        res->rc = PD_E_BAD_REQUEST;
        return 0;
    }
    if (raise_pointers(st, job->room, job->user, job->receipt_kind, seq, job->now, last_read,
                       last_delivered, &moved) != 0)
        return -1;
    res->duplicate = !moved;
    return 0;
}

/* Soft delete: the row keeps id, seq and author; its text goes. The row's
 * room, user and seq go back to the caller, for a repeat too. */
static int apply_delete(struct pd_store *st, struct pd_store_job *job, struct job_result *res)
{
    sqlite3_stmt *s = st->w[W_MSG_DEL_GET];
    bool deleted = false;
    int r;

    sqlite3_bind_int64(s, 1, job->msg.id);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        copy_name(res->room, s, 0);
        copy_name(res->user, s, 1);
        res->seq = sqlite3_column_int64(s, 2);
        deleted = sqlite3_column_int(s, 3) != 0;
    } else if (r != SQLITE_DONE) {
        pd_error("store: message %lld to delete: %s", (long long)job->msg.id,
                 sqlite3_errmsg(st->wdb));
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (r != SQLITE_ROW) {
        res->rc = PD_E_NOT_FOUND;
        return r == SQLITE_DONE ? 0 : -1;
    }
    res->rc = PD_OK;
    if (deleted) {
        res->duplicate = true;
        return 0;
    }
    s = st->w[W_MSG_DEL];
    sqlite3_bind_int64(s, 1, job->msg.id);
    if (step_done(st->wdb, s) != 0)
        return -1;
    s = st->w[W_ROOM_DELETED];
    sqlite3_bind_text(s, 1, res->room, -1, SQLITE_STATIC);
    return step_done(st->wdb, s);
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

/* The token_hash of the session with this id: 1 (in *hash), 0 (none), -1
 * (database). */
static int session_by_id(struct pd_store *st, const char *id, char hash[65])
{
    sqlite3_stmt *s = st->w[W_SESSION_BY_ID];
    int r;

    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        const unsigned char *h = sqlite3_column_text(s, 0);
        snprintf(hash, 65, "%s", h ? (const char *)h : "");
    } else if (r != SQLITE_DONE) {
        pd_error("store: session by id: %s", sqlite3_errmsg(st->wdb));
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

/* Consumes the session consume_hash of user: 1 when it was there and is
 * now gone; 0 with res->rc set when not (PD_E_SESSION_EXPIRED: no such
 * session, or already consumed; PD_E_FORBIDDEN: another user's, which
 * stays); -1 (database). */
static int consume_session(struct pd_store *st, const char *hash, const char *user,
                           struct job_result *res)
{
    sqlite3_stmt *s = st->w[W_SESSION_CONSUME];
    int r;

    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, user, -1, SQLITE_STATIC);
    if (step_done(st->wdb, s) != 0)
        return -1;
    if (sqlite3_changes(st->wdb) == 1)
        return 1;
    s = st->w[W_SESSION_OWNER];
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        pd_error("store: session owner: %s", sqlite3_errmsg(st->wdb));
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return -1;
    res->rc = r == SQLITE_ROW ? PD_E_FORBIDDEN : PD_E_SESSION_EXPIRED;
    return 0;
}

/* Upsert by token_hash. With consume_hash, that session goes first, in the
 * same transaction: a recovery swaps the consumed token for its successor
 * at once, and only once (a second consume of the same hash finds nothing
 * and stores nothing). Every refusal comes before any write, so a refused
 * job leaves the transaction as it found it. */
static int apply_session_save(struct pd_store *st, struct pd_store_job *job,
                              struct job_result *res)
{
    const struct pd_session_rec *rec = &job->session;
    sqlite3_stmt *s;
    char other[65] = "";
    int r;

    if (!session_input_ok(job)) {
        res->rc = PD_E_BAD_REQUEST;
        return 0;
    }
    /* The id is unique too: another live session with it (not this one,
     * nor the one being consumed) is a conflict, not something to replace. */
    r = session_by_id(st, rec->id, other);
    if (r < 0)
        return -1;
    if (r > 0 && strcmp(other, rec->token_hash) != 0 &&
        (job->consume_hash[0] == '\0' || strcmp(other, job->consume_hash) != 0)) {
        res->rc = PD_E_CONFLICT;
        return 0;
    }
    if (job->consume_hash[0] != '\0') {
        r = consume_session(st, job->consume_hash, rec->user, res);
        if (r <= 0)
            return r;
    }
    s = st->w[W_SESSION_PUT];
    sqlite3_bind_text(s, 1, rec->token_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, rec->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, rec->user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, rec->created_at);
    sqlite3_bind_int64(s, 5, rec->expires_at);
    sqlite3_bind_text(s, 6, rec->rooms_json, -1, SQLITE_STATIC);
    if (step_done(st->wdb, s) != 0)
        return -1;
    res->rc = PD_OK;
    return 0;
}

/* Dropping a session that is not there is not an error (the end state is
 * the one asked for); duplicate says nothing was there. */
static int apply_session_drop(struct pd_store *st, struct pd_store_job *job,
                              struct job_result *res)
{
    sqlite3_stmt *s = st->w[W_SESSION_DEL];

    if (!valid_token_hash(job->session.token_hash)) {
        res->rc = PD_E_BAD_REQUEST;
        return 0;
    }
    sqlite3_bind_text(s, 1, job->session.token_hash, -1, SQLITE_STATIC);
    if (step_done(st->wdb, s) != 0)
        return -1;
    res->duplicate = sqlite3_changes(st->wdb) == 0;
    res->rc = PD_OK;
    return 0;
}

static int apply_last_seen(struct pd_store *st, struct pd_store_job *job,
                           struct job_result *res)
{
    sqlite3_stmt *s = st->w[W_LAST_SEEN];

    if (!pd_valid_user_id(job->user) || job->now < 0) {
        res->rc = PD_E_BAD_REQUEST;
        return 0;
    }
    sqlite3_bind_text(s, 1, job->user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, job->now);
    if (step_done(st->wdb, s) != 0)
        return -1;
    res->rc = PD_OK;
    return 0;
}

static int apply_job(struct pd_store *st, struct pd_store_job *job, struct job_result *res)
{
    switch (job->op) {
    case PD_OP_JOIN:
        return apply_join(st, job, res);
    case PD_OP_LEAVE:
        return apply_leave(st, job, res);
    case PD_OP_SEND:
        return apply_send(st, job, res);
    case PD_OP_INVITE:
        return apply_invite(st, job, res);
    case PD_OP_RECEIPT:
        return apply_receipt(st, job, res);
    case PD_OP_DELETE:
        return apply_delete(st, job, res);
    case PD_OP_SESSION_SAVE:
        return apply_session_save(st, job, res);
    case PD_OP_SESSION_DROP:
        return apply_session_drop(st, job, res);
    case PD_OP_LAST_SEEN:
        return apply_last_seen(st, job, res);
    }
    res->rc = PD_E_BAD_REQUEST;
    return 0;
}

/* ---- group commit (writer thread) ------------------------------------------------------ */

static void result_reset(struct job_result *res)
{
    pd_message_clear(&res->orig);
    memset(res, 0, sizeof(*res));
    res->rc = PD_E_INTERNAL;
}

/* Applies batch[from .. from + n) in one transaction. 0 when committed;
 * when rolled back, with the counters and results of the range reset
 * (nothing of it happened): -1 when a job failed, -2 when the transaction
 * itself did (BEGIN or COMMIT: lock timeout, I/O, disk full). */
static int run_txn(struct pd_store *st, size_t from, size_t n)
{
    int rc = -1;

    for (size_t i = from; i < from + n; i++)
        result_reset(&st->res[i]);
    if (exec_sql(st->wdb, "BEGIN IMMEDIATE") != 0) {
        pd_error("store: BEGIN: %s", sqlite3_errmsg(st->wdb));
        return -2;
    }
    for (size_t i = from; i < from + n; i++)
        if (apply_job(st, st->batch[i], &st->res[i]) != 0)
            goto rollback;
    if (exec_sql(st->wdb, "COMMIT") == 0) {
        counters_commit(st);
        return 0;
    }
    pd_error("store: COMMIT: %s", sqlite3_errmsg(st->wdb));
    rc = -2;
rollback:
    /* Some errors (disk full, I/O) already rolled back; others did not. */
    if (!sqlite3_get_autocommit(st->wdb))
        exec_sql(st->wdb, "ROLLBACK");
    counters_rollback(st);
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
static void publish_result(struct pd_store_job *job, struct job_result *res)
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
    finalize_all(st->w, W_COUNT);
    finalize_all(st->r, R_COUNT);
    finalize_all(st->a, A_COUNT);
    sqlite3_close(st->wdb);
    sqlite3_close(st->rdb);
    sqlite3_close(st->adb);
    if (st->efd >= 0)
        close(st->efd);
    for (size_t i = 0; i < BATCH_MAX; i++)
        pd_message_clear(&st->res[i].orig);
    seqs_free(st);
    if (st->sync_init) {
        pthread_mutex_destroy(&st->mu);
        pthread_mutex_destroy(&st->accounts_mu);
        pthread_cond_destroy(&st->work_cv);
        pthread_cond_destroy(&st->done_cv);
    }
    free(st);
}

static int init_sync(struct pd_store *st, char *err, size_t errlen)
{
    st->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (st->efd < 0) {
        set_err(err, errlen, "eventfd: %s", strerror(errno));
        return -1;
    }
    if (pthread_mutex_init(&st->mu, NULL) != 0 || pthread_mutex_init(&st->accounts_mu, NULL) ||
        pthread_cond_init(&st->work_cv, NULL) != 0 || pthread_cond_init(&st->done_cv, NULL)) {
        set_err(err, errlen, "cannot initialise store locks");
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
        set_err(err, errlen, "cannot start the store thread: %s", strerror(r));
        return -1;
    }
    st->thread_started = true;
    return 0;
}

int pd_store_open(struct pd_store **out, const char *path, char *err, size_t errlen)
{
    struct pd_store *st;

    *out = NULL;
    if (path == NULL || path[0] == '\0' || strcmp(path, ":memory:") == 0 ||
        strncmp(path, "file:", 5) == 0) {
        set_err(err, errlen, "db: a file path is needed (three connections share it)");
        return -1;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    st->efd = -1;
    if (init_sync(st, err, errlen) != 0 || open_conn(path, &st->wdb, false, err, errlen) != 0 ||
        migrate(st->wdb, path, err, errlen) != 0 ||
        open_conn(path, &st->rdb, true, err, errlen) != 0 ||
        open_conn(path, &st->adb, false, err, errlen) != 0 ||
        prepare_all(st->wdb, w_sql, st->w, W_COUNT, err, errlen) != 0 ||
        prepare_all(st->rdb, r_sql, st->r, R_COUNT, err, errlen) != 0 ||
        prepare_all(st->adb, a_sql, st->a, A_COUNT, err, errlen) != 0 ||
        load_next_id(st, err, errlen) != 0 || start_writer(st, err, errlen) != 0) {
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

/* Every read resets its statement before returning: an un-reset statement
 * holds a WAL read snapshot open and would hide later commits. */

int pd_store_each_room(struct pd_store *st, int (*fn)(void *arg, const struct pd_room_row *r),
                       void *arg)
{
    sqlite3_stmt *s = st->r[R_ROOMS];
    int r = SQLITE_DONE, rc = 0;

    while (rc == 0 && (r = sqlite3_step(s)) == SQLITE_ROW) {
        struct pd_room_row row;
        memset(&row, 0, sizeof(row));
        copy_name(row.room, s, 0);
        row.is_private = sqlite3_column_int(s, 1) != 0;
        copy_name(row.created_by, s, 2);
        row.created_at = sqlite3_column_int64(s, 3);
        row.last_seq = sqlite3_column_int64(s, 4);
        row.deleted_count = sqlite3_column_int64(s, 5);
        rc = fn(arg, &row);
    }
    if (rc == 0 && r != SQLITE_DONE) {
        pd_error("store: reading rooms: %s", sqlite3_errmsg(st->rdb));
        rc = -1;
    }
    sqlite3_reset(s);
    return rc;
}

int pd_store_each_member(struct pd_store *st,
                         int (*fn)(void *arg, const struct pd_member_row *m), void *arg)
{
    sqlite3_stmt *s = st->r[R_MEMBERS];
    int r = SQLITE_DONE, rc = 0;

    while (rc == 0 && (r = sqlite3_step(s)) == SQLITE_ROW) {
        struct pd_member_row row;
        const unsigned char *name = sqlite3_column_text(s, 2);
        const unsigned char *role = sqlite3_column_text(s, 3);
        memset(&row, 0, sizeof(row));
        copy_name(row.room, s, 0);
        copy_name(row.user, s, 1);
        row.name = name ? (const char *)name : row.user;
        row.owner = role != NULL && strcmp((const char *)role, "owner") == 0;
        row.joined_at = sqlite3_column_int64(s, 4);
        row.last_read_seq = sqlite3_column_int64(s, 5);
        row.last_delivered_seq = sqlite3_column_int64(s, 6);
        rc = fn(arg, &row);
    }
    if (rc == 0 && r != SQLITE_DONE) {
        pd_error("store: reading members: %s", sqlite3_errmsg(st->rdb));
        rc = -1;
    }
    sqlite3_reset(s);
    return rc;
}

int pd_store_each_invite(struct pd_store *st,
                         int (*fn)(void *arg, const struct pd_invite_row *i), void *arg)
{
    sqlite3_stmt *s = st->r[R_INVITES];
    int r = SQLITE_DONE, rc = 0;

    while (rc == 0 && (r = sqlite3_step(s)) == SQLITE_ROW) {
        struct pd_invite_row row;
        memset(&row, 0, sizeof(row));
        copy_name(row.room, s, 0);
        copy_name(row.user, s, 1);
        copy_name(row.invited_by, s, 2);
        row.created_at = sqlite3_column_int64(s, 3);
        rc = fn(arg, &row);
    }
    if (rc == 0 && r != SQLITE_DONE) {
        pd_error("store: reading invites: %s", sqlite3_errmsg(st->rdb));
        rc = -1;
    }
    sqlite3_reset(s);
    return rc;
}

/* rooms_json is a copy of the column, freed after the call: the callback
 * gets a string it may even write to, and nothing of the statement's. */
int pd_store_each_session(struct pd_store *st,
                          int (*fn)(void *arg, const struct pd_session_rec *rec), void *arg)
{
    sqlite3_stmt *s = st->r[R_SESSIONS];
    int r = SQLITE_DONE, rc = 0;

    while (rc == 0 && (r = sqlite3_step(s)) == SQLITE_ROW) {
        struct pd_session_rec rec;
        const unsigned char *t;

        memset(&rec, 0, sizeof(rec));
        t = sqlite3_column_text(s, 0);
        snprintf(rec.token_hash, sizeof(rec.token_hash), "%s", t ? (const char *)t : "");
        t = sqlite3_column_text(s, 1);
        snprintf(rec.id, sizeof(rec.id), "%s", t ? (const char *)t : "");
        copy_name(rec.user, s, 2);
        rec.created_at = sqlite3_column_int64(s, 3);
        rec.expires_at = sqlite3_column_int64(s, 4);
        rec.rooms_json = dup_text(s, 5);
        if (rec.rooms_json == NULL) {
            pd_error("store: reading sessions: out of memory");
            rc = -1;
            break;
        }
        rc = fn(arg, &rec);
        free(rec.rooms_json);
    }
    if (rc == 0 && r != SQLITE_DONE) {
        pd_error("store: reading sessions: %s", sqlite3_errmsg(st->rdb));
        rc = -1;
    }
    sqlite3_reset(s);
    return rc;
}

int pd_store_each_last_seen(struct pd_store *st,
                            int (*fn)(void *arg, const char *user, int64_t ts), void *arg)
{
    sqlite3_stmt *s = st->r[R_LAST_SEEN];
    int r = SQLITE_DONE, rc = 0;

    while (rc == 0 && (r = sqlite3_step(s)) == SQLITE_ROW) {
        char user[PD_NAME_MAX + 1];
        copy_name(user, s, 0);
        rc = fn(arg, user, sqlite3_column_int64(s, 1));
    }
    if (rc == 0 && r != SQLITE_DONE) {
        pd_error("store: reading last_seen: %s", sqlite3_errmsg(st->rdb));
        rc = -1;
    }
    sqlite3_reset(s);
    return rc;
}

enum pd_err pd_store_history(struct pd_store *st, const char *room, int64_t before_seq,
                             int limit, struct pd_message **msgs, size_t *n, bool *has_more)
{
    sqlite3_stmt *s = st->r[R_HISTORY];
    struct pd_message *out;
    size_t cap, got = 0;
    int r;

    *msgs = NULL;
    *n = 0;
    *has_more = false;
    cap = limit < 0 ? 0 : limit > HISTORY_LIMIT_MAX ? HISTORY_LIMIT_MAX : (size_t)limit;
    out = calloc(cap + 1, sizeof(*out));
    if (out == NULL)
        return PD_E_INTERNAL;
    sqlite3_bind_text(s, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, before_seq > 0 ? before_seq : INT64_MAX);
    /* One row more than asked: its presence is has_more. */
    sqlite3_bind_int64(s, 3, (int64_t)cap + 1);
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (got == cap) {
            *has_more = true;
            continue;
        }
        if (read_message(s, &out[got]) != 0)
            break;
        got++;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (r != SQLITE_DONE) {
        if (r != SQLITE_ROW)
            pd_error("store: history of %s: %s", room, sqlite3_errmsg(st->rdb));
        pd_messages_free(out, got);
        *has_more = false;
        return PD_E_INTERNAL;
    }
    /* Newest first from the query; ascending seq to the caller. */
    for (size_t i = 0; i < got / 2; i++) {
        struct pd_message tmp = out[i];
        out[i] = out[got - 1 - i];
        out[got - 1 - i] = tmp;
    }
    *msgs = out;
    *n = got;
    return PD_OK;
}

enum pd_err pd_store_message_get(struct pd_store *st, int64_t id, struct pd_message *out)
{
    sqlite3_stmt *s = st->r[R_MSG_GET];
    enum pd_err e;
    int r;

    memset(out, 0, sizeof(*out));
    sqlite3_bind_int64(s, 1, id);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        e = read_message(s, out) == 0 ? PD_OK : PD_E_INTERNAL;
    else if (r == SQLITE_DONE)
        e = PD_E_NOT_FOUND;
    else {
        pd_error("store: message %lld: %s", (long long)id, sqlite3_errmsg(st->rdb));
        e = PD_E_INTERNAL;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return e;
}

/* ---- accounts (any thread) ------------------------------------------------------------------------- */

enum pd_err pd_store_user_create(struct pd_store *st, const char *id, const char *name,
                                 const char *password_hash, int64_t now)
{
    sqlite3_stmt *s = st->a[A_USER_ADD];
    enum pd_err e = PD_OK;
    int r;

    if (!pd_valid_user_id(id) || name == NULL)
        return PD_E_BAD_REQUEST;
    pthread_mutex_lock(&st->accounts_mu);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    if (password_hash != NULL)
        sqlite3_bind_text(s, 3, password_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now);
    r = sqlite3_step(s);
    if (r == SQLITE_CONSTRAINT_PRIMARYKEY || r == SQLITE_CONSTRAINT_UNIQUE) {
        e = PD_E_CONFLICT;
    } else if (r != SQLITE_DONE) {
        pd_error("store: creating user %s: %s", id, sqlite3_errmsg(st->adb));
        e = PD_E_INTERNAL;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    pthread_mutex_unlock(&st->accounts_mu);
    return e;
}

enum pd_err pd_store_user_get(struct pd_store *st, const char *id, char **hash, char **name)
{
    sqlite3_stmt *s = st->a[A_USER_GET];
    enum pd_err e;
    int r;

    *hash = *name = NULL;
    pthread_mutex_lock(&st->accounts_mu);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        /* An account without a password (NULL) has *hash NULL: no login. */
        if (sqlite3_column_type(s, 0) != SQLITE_NULL)
            *hash = dup_text(s, 0);
        *name = dup_text(s, 1);
        e = *name != NULL && (sqlite3_column_type(s, 0) == SQLITE_NULL || *hash != NULL)
                ? PD_OK
                : PD_E_INTERNAL;
    } else if (r == SQLITE_DONE) {
        e = PD_E_NOT_FOUND;
    } else {
        pd_error("store: reading user %s: %s", id, sqlite3_errmsg(st->adb));
        e = PD_E_INTERNAL;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    pthread_mutex_unlock(&st->accounts_mu);
    if (e != PD_OK) {
        free(*hash);
        free(*name);
        *hash = *name = NULL;
    }
    return e;
}

/* Users in order of that time (then name). fn returning non-zero stops the
 * walk early; that is not an error (PD_OK). */
enum pd_err pd_store_receipt_times(struct pd_store *st, const char *room, int64_t seq,
                                   enum pd_receipt_kind kind,
                                   int (*fn)(void *arg, const char *user, int64_t ts),
                                   void *arg)
{
    sqlite3_stmt *s = st->r[R_RECEIPT_TIMES];
    enum pd_err e = PD_OK;
    int r = SQLITE_DONE, stop = 0;

    if (room == NULL || fn == NULL ||
        (kind != PD_RECEIPT_DELIVERED && kind != PD_RECEIPT_READ))
        return PD_E_BAD_REQUEST;
    sqlite3_bind_text(s, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, (int)kind);
    sqlite3_bind_int64(s, 3, seq);
    while (stop == 0 && (r = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *user = sqlite3_column_text(s, 0);
        stop = fn(arg, user ? (const char *)user : "", sqlite3_column_int64(s, 1));
    }
    if (stop == 0 && r != SQLITE_DONE) {
        pd_error("store: receipts of %s: %s", room, sqlite3_errmsg(st->rdb));
        e = PD_E_INTERNAL;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return e;
}
