/* The SQLite backend of the store (store_backend.h): schema and
 * migrations, prepared statements, each job kind applied inside the batch's
 * transaction, the start-up loads, the reads and accounts.
 *
 * Three connections, one owner each, so no connection is ever shared
 * between threads without a lock:
 *   writer   - the writer thread: every change to rooms, members, messages,
 *              invites, receipts, recovery sessions and last_seen;
 *   reader   - the loop thread: start-up loads, history, message lookups;
 *   accounts - any thread (HTTP), behind accounts_mu.
 *
 * A batch is one BEGIN IMMEDIATE ... COMMIT; with WAL and synchronous=FULL
 * a commit costs one fsync, so a batch of 200 messages costs what one
 * message would. Per-room seq and the next message id live in the writer's
 * memory (loaded once), and follow every rollback so they always match what
 * is committed: one node owns the file, so its memory is authoritative (see
 * store_backend.h for why a shared database must not do this). */
#include "store_backend.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "log.h"

#define BUSY_TIMEOUT_MS 5000

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
    W_SESSION_UPDATE,
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
    [W_SESSION_UPDATE] = "UPDATE sessions SET expires_at = ?2, rooms = ?3 WHERE token_hash = ?1",
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
    R_SESSION_GET,
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
    [R_SESSION_GET] = "SELECT token_hash, id, user, created_at, expires_at, rooms FROM sessions"
                      " WHERE token_hash = ?1",
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

struct sqlite_store {
    struct pd_store_backend base; /* first: the core's handle */
    sqlite3 *wdb, *rdb, *adb;
    sqlite3_stmt *w[W_COUNT], *r[R_COUNT], *a[A_COUNT];
    pthread_mutex_t accounts_mu;
    bool accounts_mu_init;

    /* The writer thread's own (before the thread starts: open's). */
    struct pd_hmap seqs; /* room -> struct room_seq */
    struct room_seq *dirty[PD_STORE_BATCH_MAX];
    size_t ndirty;
    int64_t next_id, committed_next_id;
};

static struct sqlite_store *sq(struct pd_store_backend *be)
{
    return (struct sqlite_store *)be; /* base is the first member */
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
        pd_store_set_err(err, errlen, "db %s: %s", path,
                         db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    if (set_wal(db) != 0 || exec_sql(db, "PRAGMA synchronous=FULL") != 0 ||
        exec_sql(db, "PRAGMA foreign_keys=ON") != 0 ||
        (query_only && exec_sql(db, "PRAGMA query_only=ON") != 0)) {
        pd_store_set_err(err, errlen, "db %s: cannot set WAL mode and pragmas: %s", path,
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
    pd_store_set_err(err, errlen, "schema migration %d failed: %s", target,
                     sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
        exec_sql(db, "ROLLBACK");
    return -1;
}

static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    int v = 0;

    if (user_version(db, &v) != 0) {
        pd_store_set_err(err, errlen, "db %s: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    if (v > SCHEMA_VERSION) {
        pd_store_set_err(err, errlen,
                         "db %s: schema version %d is newer than this parleyd knows (%d)", path,
                         v, SCHEMA_VERSION);
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
            pd_store_set_err(err, errlen, "preparing \"%s\": %s", sql[i],
                             sqlite3_errmsg(db));
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
static int load_next_id(struct sqlite_store *st, char *err, size_t errlen)
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
        pd_store_set_err(err, errlen, "reading message ids: %s", sqlite3_errmsg(st->wdb));
    }
    sqlite3_finalize(s);
    return rc;
}

/* ---- the writer's seq cache ---------------------------------------------------------- */

/* The room's entry, loading rooms.last_seq on first use. Returns PD_OK,
 * PD_E_NOT_FOUND (no such room; nothing cached), or PD_E_INTERNAL with
 * *sql_error set when the database failed. */
static enum pd_err room_seq_get(struct sqlite_store *st, const char *room,
                                struct room_seq **out, bool *sql_error)
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

static void room_seq_advance(struct sqlite_store *st, struct room_seq *e, int64_t seq)
{
    if (!e->dirty) {
        e->dirty = true;
        /* one room per job: never more than PD_STORE_BATCH_MAX */
        st->dirty[st->ndirty++] = e;
    }
    e->seq = seq;
}

/* After COMMIT: what ran ahead is now what is stored. */
static void counters_commit(struct sqlite_store *st)
{
    for (size_t i = 0; i < st->ndirty; i++) {
        st->dirty[i]->committed = st->dirty[i]->seq;
        st->dirty[i]->dirty = false;
    }
    st->ndirty = 0;
    st->committed_next_id = st->next_id;
}

/* After ROLLBACK: seqs and ids handed out in it were never stored. */
static void counters_rollback(struct sqlite_store *st)
{
    for (size_t i = 0; i < st->ndirty; i++) {
        st->dirty[i]->seq = st->dirty[i]->committed;
        st->dirty[i]->dirty = false;
    }
    st->ndirty = 0;
    st->next_id = st->committed_next_id;
}

static void seqs_free(struct sqlite_store *st)
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

static int add_receipt_event(struct sqlite_store *st, const char *room, const char *user,
                             enum pd_receipt_kind kind, int64_t seq, int64_t ts);
static int member_pointers(struct sqlite_store *st, const char *room, const char *user,
                           int64_t *last_read, int64_t *last_delivered);

/* Each apply_* returns 0 with res->rc set (PD_OK, or a refusal that wrote
 * nothing), or -1 when the database failed and the transaction must go.
 * The job's input was checked by the core before (job_input_ok). */
static int apply_join(struct sqlite_store *st, struct pd_store_job *job,
                      struct pd_store_result *res)
{
    sqlite3_stmt *s = st->w[W_ROOM_ADD];

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
static int apply_leave(struct sqlite_store *st, struct pd_store_job *job,
                       struct pd_store_result *res)
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
static int find_duplicate(struct sqlite_store *st, const struct pd_message *m,
                          struct pd_store_result *res)
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

static int add_receipt_event(struct sqlite_store *st, const char *room, const char *user,
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
static int member_pointers(struct sqlite_store *st, const char *room, const char *user,
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
static int raise_pointers(struct sqlite_store *st, const char *room, const char *user,
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
static int insert_message(struct sqlite_store *st, const struct pd_message *m, int64_t id,
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

/* msg.room, msg.user and msg.ts are filled in already (job_input_ok). */
static int apply_send(struct sqlite_store *st, struct pd_store_job *job,
                      struct pd_store_result *res)
{
    struct pd_message *m = &job->msg;
    struct room_seq *e = NULL;
    bool sql_error = false, no_room = false;
    int dup;

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
static int room_exists(struct sqlite_store *st, const char *room)
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
static int apply_invite(struct sqlite_store *st, struct pd_store_job *job,
                        struct pd_store_result *res)
{
    sqlite3_stmt *s;
    int r = room_exists(st, job->room);

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
static int apply_receipt(struct sqlite_store *st, struct pd_store_job *job,
                         struct pd_store_result *res)
{
    int64_t seq = job->msg.seq, last_read = 0, last_delivered = 0;
    struct room_seq *e = NULL;
    bool sql_error = false, moved = false;
    int r;

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
static int apply_delete(struct sqlite_store *st, struct pd_store_job *job,
                        struct pd_store_result *res)
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

/* The token_hash of the session with this id: 1 (in *hash), 0 (none), -1
 * (database). */
static int session_by_id(struct sqlite_store *st, const char *id, char hash[65])
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
static int consume_session(struct sqlite_store *st, const char *hash, const char *user,
                           struct pd_store_result *res)
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
static int apply_session_save(struct sqlite_store *st, struct pd_store_job *job,
                              struct pd_store_result *res)
{
    const struct pd_session_rec *rec = &job->session;
    sqlite3_stmt *s;
    char other[65] = "";
    int r;

    if (job->session_update_only) {
        s = st->w[W_SESSION_UPDATE];
        sqlite3_bind_text(s, 1, rec->token_hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, rec->expires_at);
        sqlite3_bind_text(s, 3, rec->rooms_json, -1, SQLITE_STATIC);
        if (step_done(st->wdb, s) != 0)
            return -1;
        res->rc = PD_OK;
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
static int apply_session_drop(struct sqlite_store *st, struct pd_store_job *job,
                              struct pd_store_result *res)
{
    sqlite3_stmt *s = st->w[W_SESSION_DEL];

    sqlite3_bind_text(s, 1, job->session.token_hash, -1, SQLITE_STATIC);
    if (step_done(st->wdb, s) != 0)
        return -1;
    res->duplicate = sqlite3_changes(st->wdb) == 0;
    res->rc = PD_OK;
    return 0;
}

static int apply_last_seen(struct sqlite_store *st, struct pd_store_job *job,
                           struct pd_store_result *res)
{
    sqlite3_stmt *s = st->w[W_LAST_SEEN];

    sqlite3_bind_text(s, 1, job->user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, job->now);
    if (step_done(st->wdb, s) != 0)
        return -1;
    res->rc = PD_OK;
    return 0;
}

/* ---- one batch (writer thread) ---------------------------------------------------------- */

static int sqlite_begin(struct pd_store_backend *be)
{
    struct sqlite_store *st = sq(be);

    if (exec_sql(st->wdb, "BEGIN IMMEDIATE") != 0) {
        pd_error("store: BEGIN: %s", sqlite3_errmsg(st->wdb));
        return -1;
    }
    return 0;
}

static int sqlite_apply(struct pd_store_backend *be, struct pd_store_job *job,
                        struct pd_store_result *res)
{
    struct sqlite_store *st = sq(be);

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

static int sqlite_commit(struct pd_store_backend *be)
{
    struct sqlite_store *st = sq(be);

    if (exec_sql(st->wdb, "COMMIT") == 0) {
        counters_commit(st);
        return 0;
    }
    pd_error("store: COMMIT: %s", sqlite3_errmsg(st->wdb));
    return -1;
}

static void sqlite_rollback(struct pd_store_backend *be)
{
    struct sqlite_store *st = sq(be);

    /* Some errors (disk full, I/O) already rolled back; others did not. */
    if (!sqlite3_get_autocommit(st->wdb))
        exec_sql(st->wdb, "ROLLBACK");
    counters_rollback(st);
}

/* ---- reads (loop thread) ------------------------------------------------------------------------ */

/* Every read resets its statement before returning: an un-reset statement
 * holds a WAL read snapshot open and would hide later commits. */

/* One row of a start-up load: converts the current row of s and hands it
 * to the caller's callback in cb. Returns what that returns (non-zero
 * stops the walk), or -1 when the row cannot be converted. */
typedef int sq_load_row(sqlite3_stmt *s, const struct pd_store_each_cb *cb);

/* A start-up load: every row of reader statement stmt through row, until
 * one returns non-zero. Returns 0, that value, or -1 (logged) when a step
 * failed. */
static int r_each(struct pd_store_backend *be, int stmt, const char *what, sq_load_row *row,
                  const struct pd_store_each_cb *cb)
{
    struct sqlite_store *st = sq(be);
    sqlite3_stmt *s = st->r[stmt];
    int r = SQLITE_DONE, rc = 0;

    while (rc == 0 && (r = sqlite3_step(s)) == SQLITE_ROW)
        rc = row(s, cb);
    if (rc == 0 && r != SQLITE_DONE) {
        pd_error("store: reading %s: %s", what, sqlite3_errmsg(st->rdb));
        rc = -1;
    }
    sqlite3_reset(s);
    return rc;
}

static int room_row(sqlite3_stmt *s, const struct pd_store_each_cb *cb)
{
    struct pd_room_row row;

    memset(&row, 0, sizeof(row));
    copy_name(row.room, s, 0);
    row.is_private = sqlite3_column_int(s, 1) != 0;
    copy_name(row.created_by, s, 2);
    row.created_at = sqlite3_column_int64(s, 3);
    row.last_seq = sqlite3_column_int64(s, 4);
    row.deleted_count = sqlite3_column_int64(s, 5);
    return cb->fn.room(cb->arg, &row);
}

static int sqlite_each_room(struct pd_store_backend *be,
                            int (*fn)(void *arg, const struct pd_room_row *r), void *arg)
{
    const struct pd_store_each_cb cb = {.fn.room = fn, .arg = arg};

    return r_each(be, R_ROOMS, "rooms", room_row, &cb);
}

static int member_row(sqlite3_stmt *s, const struct pd_store_each_cb *cb)
{
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
    return cb->fn.member(cb->arg, &row);
}

static int sqlite_each_member(struct pd_store_backend *be,
                              int (*fn)(void *arg, const struct pd_member_row *m), void *arg)
{
    const struct pd_store_each_cb cb = {.fn.member = fn, .arg = arg};

    return r_each(be, R_MEMBERS, "members", member_row, &cb);
}

static int invite_row(sqlite3_stmt *s, const struct pd_store_each_cb *cb)
{
    struct pd_invite_row row;

    memset(&row, 0, sizeof(row));
    copy_name(row.room, s, 0);
    copy_name(row.user, s, 1);
    copy_name(row.invited_by, s, 2);
    row.created_at = sqlite3_column_int64(s, 3);
    return cb->fn.invite(cb->arg, &row);
}

static int sqlite_each_invite(struct pd_store_backend *be,
                              int (*fn)(void *arg, const struct pd_invite_row *i), void *arg)
{
    const struct pd_store_each_cb cb = {.fn.invite = fn, .arg = arg};

    return r_each(be, R_INVITES, "invites", invite_row, &cb);
}

/* The current row of a sessions SELECT into rec (rooms_json malloc'd);
 * 0 or -1. */
static int read_session(sqlite3_stmt *s, struct pd_session_rec *rec)
{
    const unsigned char *t;

    memset(rec, 0, sizeof(*rec));
    t = sqlite3_column_text(s, 0);
    snprintf(rec->token_hash, sizeof(rec->token_hash), "%s", t ? (const char *)t : "");
    t = sqlite3_column_text(s, 1);
    snprintf(rec->id, sizeof(rec->id), "%s", t ? (const char *)t : "");
    copy_name(rec->user, s, 2);
    rec->created_at = sqlite3_column_int64(s, 3);
    rec->expires_at = sqlite3_column_int64(s, 4);
    rec->rooms_json = dup_text(s, 5);
    if (rec->rooms_json == NULL) {
        pd_error("store: reading sessions: out of memory");
        return -1;
    }
    return 0;
}

static enum pd_err sqlite_session_get(struct pd_store_backend *be, const char *token_hash,
                                      struct pd_session_rec *out)
{
    struct sqlite_store *st = sq(be);
    sqlite3_stmt *s = st->r[R_SESSION_GET];
    enum pd_err e;
    int r;

    sqlite3_bind_text(s, 1, token_hash, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        e = read_session(s, out) == 0 ? PD_OK : PD_E_INTERNAL;
    else if (r == SQLITE_DONE)
        e = PD_E_NOT_FOUND;
    else {
        pd_error("store: reading a session: %s", sqlite3_errmsg(st->rdb));
        e = PD_E_INTERNAL;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return e;
}

/* rooms_json is a copy of the column, freed after the call: the callback
 * gets a string it may even write to, and nothing of the statement's. */
static int session_row(sqlite3_stmt *s, const struct pd_store_each_cb *cb)
{
    struct pd_session_rec rec;
    int rc;

    if (read_session(s, &rec) != 0)
        return -1;
    rc = cb->fn.session(cb->arg, &rec);
    free(rec.rooms_json);
    return rc;
}

static int sqlite_each_session(struct pd_store_backend *be,
                               int (*fn)(void *arg, const struct pd_session_rec *rec), void *arg)
{
    const struct pd_store_each_cb cb = {.fn.session = fn, .arg = arg};

    return r_each(be, R_SESSIONS, "sessions", session_row, &cb);
}

static int last_seen_row(sqlite3_stmt *s, const struct pd_store_each_cb *cb)
{
    char user[PD_NAME_MAX + 1];

    copy_name(user, s, 0);
    return cb->fn.last_seen(cb->arg, user, sqlite3_column_int64(s, 1));
}

static int sqlite_each_last_seen(struct pd_store_backend *be,
                                 int (*fn)(void *arg, const char *user, int64_t ts), void *arg)
{
    const struct pd_store_each_cb cb = {.fn.last_seen = fn, .arg = arg};

    return r_each(be, R_LAST_SEEN, "last_seen", last_seen_row, &cb);
}

static enum pd_err sqlite_history(struct pd_store_backend *be, const char *room,
                                  int64_t before_seq, size_t cap, struct pd_message **msgs,
                                  size_t *n, bool *has_more)
{
    struct sqlite_store *st = sq(be);
    sqlite3_stmt *s = st->r[R_HISTORY];
    struct pd_message *out;
    size_t got = 0;
    int r;

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

static enum pd_err sqlite_message_get(struct pd_store_backend *be, int64_t id,
                                      struct pd_message *out)
{
    struct sqlite_store *st = sq(be);
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

static enum pd_err sqlite_user_create(struct pd_store_backend *be, const char *id,
                                      const char *name, const char *password_hash, int64_t now)
{
    struct sqlite_store *st = sq(be);
    sqlite3_stmt *s = st->a[A_USER_ADD];
    enum pd_err e = PD_OK;
    int r;

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

static enum pd_err sqlite_user_get(struct pd_store_backend *be, const char *id, char **hash,
                                   char **name)
{
    struct sqlite_store *st = sq(be);
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
static enum pd_err sqlite_receipt_times(struct pd_store_backend *be, const char *room,
                                        int64_t seq, enum pd_receipt_kind kind,
                                        int (*fn)(void *arg, const char *user, int64_t ts),
                                        void *arg)
{
    struct sqlite_store *st = sq(be);
    sqlite3_stmt *s = st->r[R_RECEIPT_TIMES];
    enum pd_err e = PD_OK;
    int r = SQLITE_DONE, stop = 0;

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

/* ---- open / close ------------------------------------------------------------------------ */

static void sqlite_free(struct sqlite_store *st)
{
    finalize_all(st->w, W_COUNT);
    finalize_all(st->r, R_COUNT);
    finalize_all(st->a, A_COUNT);
    sqlite3_close(st->wdb);
    sqlite3_close(st->rdb);
    sqlite3_close(st->adb);
    seqs_free(st);
    if (st->accounts_mu_init)
        pthread_mutex_destroy(&st->accounts_mu);
    free(st);
}

static void sqlite_close(struct pd_store_backend *be)
{
    if (be != NULL)
        sqlite_free(sq(be));
}

static int sqlite_open(struct pd_store_backend **out, const char *path, char *err, size_t errlen)
{
    struct sqlite_store *st;

    *out = NULL;
    if (path == NULL || path[0] == '\0' || strcmp(path, ":memory:") == 0 ||
        strncmp(path, "file:", 5) == 0) {
        pd_store_set_err(err, errlen, "db: a file path is needed (three connections share it)");
        return -1;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        pd_store_set_err(err, errlen, "out of memory");
        return -1;
    }
    st->base.ops = pd_store_sqlite_backend();
    if (pthread_mutex_init(&st->accounts_mu, NULL) != 0) {
        pd_store_set_err(err, errlen, "cannot initialise store locks");
        free(st);
        return -1;
    }
    st->accounts_mu_init = true;
    if (open_conn(path, &st->wdb, false, err, errlen) != 0 ||
        migrate(st->wdb, path, err, errlen) != 0 ||
        open_conn(path, &st->rdb, true, err, errlen) != 0 ||
        open_conn(path, &st->adb, false, err, errlen) != 0 ||
        prepare_all(st->wdb, w_sql, st->w, W_COUNT, err, errlen) != 0 ||
        prepare_all(st->rdb, r_sql, st->r, R_COUNT, err, errlen) != 0 ||
        prepare_all(st->adb, a_sql, st->a, A_COUNT, err, errlen) != 0 ||
        load_next_id(st, err, errlen) != 0) {
        sqlite_free(st);
        return -1;
    }
    *out = &st->base;
    return 0;
}

const struct pd_store_backend_ops *pd_store_sqlite_backend(void)
{
    static const struct pd_store_backend_ops ops = {
        .open = sqlite_open,
        .close = sqlite_close,
        .begin = sqlite_begin,
        .apply = sqlite_apply,
        .commit = sqlite_commit,
        .rollback = sqlite_rollback,
        .each_room = sqlite_each_room,
        .each_member = sqlite_each_member,
        .each_invite = sqlite_each_invite,
        .each_session = sqlite_each_session,
        .each_last_seen = sqlite_each_last_seen,
        .history = sqlite_history,
        .message_get = sqlite_message_get,
        .session_get = sqlite_session_get,
        .receipt_times = sqlite_receipt_times,
        .user_create = sqlite_user_create,
        .user_get = sqlite_user_get,
    };
    return &ops;
}
