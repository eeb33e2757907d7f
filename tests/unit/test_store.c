/* server/store.c against a real SQLite file in a temp directory: schema and
 * migrations, the group-commit queue (order, drain, many submits), per-room
 * seq and server-wide ids, idempotent client_msg_id, history paging, a
 * failing job inside a batch, persistence across close/reopen, accounts;
 * migration 2 from a version 1 file, invites, receipt pointers and events,
 * receipt_times, soft delete; migration 3 from a version 2 file, recovery
 * sessions (save, replace, single-use consume with successor, drop, bad
 * input, in a failing batch, across a restart) and last_seen. TAP. */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

/* ---- TAP ------------------------------------------------------------------- */

#include "tap.h"

/* ---- jobs ------------------------------------------------------------------- */

/* A test job: records the order completions ran in. */
struct tjob {
    struct pd_store_job job; /* first: done() gets &tjob->job */
    struct run *run;
    int idx;
    int done;
};

struct run {
    int *order;
    int ndone, cap;
};

static void tjob_done(struct pd_store_job *job)
{
    struct tjob *tj = (struct tjob *)job;
    struct run *r = tj->run;

    tj->done++;
    if (r->ndone < r->cap)
        r->order[r->ndone] = tj->idx;
    r->ndone++;
}

static void tjob_init(struct tjob *tj, struct run *r, int idx)
{
    memset(tj, 0, sizeof(*tj));
    tj->run = r;
    tj->idx = idx;
    tj->job.done = tjob_done;
    tj->job.now = 1700000000000LL + idx;
}

static void set_join(struct tjob *tj, const char *room, const char *user, bool owner,
                     bool is_private)
{
    tj->job.op = PD_OP_JOIN;
    snprintf(tj->job.room, sizeof(tj->job.room), "%s", room);
    snprintf(tj->job.user, sizeof(tj->job.user), "%s", user);
    tj->job.name = user;
    tj->job.owner = owner;
    tj->job.is_private = is_private;
}

static void set_leave(struct tjob *tj, const char *room, const char *user)
{
    tj->job.op = PD_OP_LEAVE;
    snprintf(tj->job.room, sizeof(tj->job.room), "%s", room);
    snprintf(tj->job.user, sizeof(tj->job.user), "%s", user);
}

/* Fills a SEND the way messaging.c does (msg.room, msg.user, owned strings). */
static void set_send(struct tjob *tj, const char *room, const char *user, const char *text,
                     const char *cmid)
{
    struct pd_message *m = &tj->job.msg;

    tj->job.op = PD_OP_SEND;
    snprintf(tj->job.room, sizeof(tj->job.room), "%s", room);
    snprintf(tj->job.user, sizeof(tj->job.user), "%s", user);
    snprintf(m->room, sizeof(m->room), "%s", room);
    snprintf(m->user, sizeof(m->user), "%s", user);
    m->name = strdup(user);
    m->text = text ? strdup(text) : NULL;
    m->client_msg_id = cmid ? strdup(cmid) : NULL;
    m->ts = tj->job.now;
}

static void set_invite(struct tjob *tj, const char *room, const char *invitee,
                       const char *inviter)
{
    tj->job.op = PD_OP_INVITE;
    snprintf(tj->job.room, sizeof(tj->job.room), "%s", room);
    snprintf(tj->job.user, sizeof(tj->job.user), "%s", invitee);
    tj->job.name = inviter;
}

static void set_receipt(struct tjob *tj, const char *room, const char *user,
                        enum pd_receipt_kind kind, int64_t seq, int64_t now)
{
    tj->job.op = PD_OP_RECEIPT;
    snprintf(tj->job.room, sizeof(tj->job.room), "%s", room);
    snprintf(tj->job.user, sizeof(tj->job.user), "%s", user);
    tj->job.receipt_kind = kind;
    tj->job.msg.seq = seq;
    tj->job.now = now;
}

static void set_delete(struct tjob *tj, int64_t id)
{
    tj->job.op = PD_OP_DELETE;
    tj->job.msg.id = id;
}

/* Runs completions until r has seen `want` of them (or 10 s pass). */
static int wait_done(struct pd_store *st, struct run *r, int want)
{
    struct pollfd p = {.fd = pd_store_event_fd(st), .events = POLLIN};

    while (r->ndone < want) {
        if (poll(&p, 1, 10000) <= 0)
            return -1;
        pd_store_run_completions(st);
    }
    return 0;
}

/* Submits one job and waits for it. */
static int run_one(struct pd_store *st, struct tjob *tj)
{
    struct run *r = tj->run;
    int before = r->ndone;

    if (pd_store_submit(st, &tj->job) != 0)
        return -1;
    return wait_done(st, r, before + 1);
}

/* A one-off job on a throwaway run. */
struct single {
    struct run run;
    int order[1];
    struct tjob tj;
};

static void single_init(struct single *s)
{
    memset(s, 0, sizeof(*s));
    s->run.order = s->order;
    s->run.cap = 1;
    tjob_init(&s->tj, &s->run, 0);
}

static enum pd_err do_join(struct pd_store *st, const char *room, const char *user, bool owner)
{
    struct single s;

    single_init(&s);
    set_join(&s.tj, room, user, owner, false);
    return run_one(st, &s.tj) == 0 ? s.tj.job.rc : PD_E__COUNT;
}

/* Sends and returns the job's result in *out (caller clears out). */
static enum pd_err do_send(struct pd_store *st, const char *room, const char *user,
                           const char *text, const char *cmid, struct pd_message *out,
                           bool *dup)
{
    struct single s;

    single_init(&s);
    set_send(&s.tj, room, user, text, cmid);
    if (run_one(st, &s.tj) != 0) {
        pd_message_clear(&s.tj.job.msg);
        return PD_E__COUNT;
    }
    if (dup)
        *dup = s.tj.job.duplicate;
    if (out)
        *out = s.tj.job.msg;
    else
        pd_message_clear(&s.tj.job.msg);
    return s.tj.job.rc;
}

static enum pd_err do_invite(struct pd_store *st, const char *room, const char *invitee,
                             const char *inviter, int64_t now, bool *dup)
{
    struct single s;

    single_init(&s);
    set_invite(&s.tj, room, invitee, inviter);
    s.tj.job.now = now;
    if (run_one(st, &s.tj) != 0)
        return PD_E__COUNT;
    if (dup)
        *dup = s.tj.job.duplicate;
    return s.tj.job.rc;
}

static enum pd_err do_receipt(struct pd_store *st, const char *room, const char *user,
                              enum pd_receipt_kind kind, int64_t seq, int64_t now, bool *dup)
{
    struct single s;

    single_init(&s);
    set_receipt(&s.tj, room, user, kind, seq, now);
    if (run_one(st, &s.tj) != 0)
        return PD_E__COUNT;
    if (dup)
        *dup = s.tj.job.duplicate;
    return s.tj.job.rc;
}

/* Deletes id; *out gets the job's msg (room, user, seq filled by the store). */
static enum pd_err do_delete(struct pd_store *st, int64_t id, struct pd_message *out, bool *dup)
{
    struct single s;

    single_init(&s);
    set_delete(&s.tj, id);
    if (run_one(st, &s.tj) != 0)
        return PD_E__COUNT;
    if (dup)
        *dup = s.tj.job.duplicate;
    if (out)
        *out = s.tj.job.msg;
    else
        pd_message_clear(&s.tj.job.msg);
    return s.tj.job.rc;
}

/* ---- row collectors ----------------------------------------------------------- */

struct rooms_seen {
    int n;
    struct pd_room_row last, want_row;
    const char *want;
    int found;
};

static int collect_room(void *arg, const struct pd_room_row *r)
{
    struct rooms_seen *rs = arg;

    rs->n++;
    rs->last = *r;
    if (rs->want && strcmp(r->room, rs->want) == 0) {
        rs->found = 1;
        rs->want_row = *r;
    }
    return 0;
}

static int stop_after_one(void *arg, const struct pd_room_row *r)
{
    (*(int *)arg)++;
    return 7;
}

struct members_seen {
    int n;
    const char *room, *user;
    int found;
    bool owner;
    int64_t last_read_seq, last_delivered_seq;
    char name[64];
};

static int collect_member(void *arg, const struct pd_member_row *m)
{
    struct members_seen *ms = arg;

    ms->n++;
    if (strcmp(m->room, ms->room) == 0 && strcmp(m->user, ms->user) == 0) {
        ms->found = 1;
        ms->owner = m->owner;
        ms->last_read_seq = m->last_read_seq;
        ms->last_delivered_seq = m->last_delivered_seq;
        snprintf(ms->name, sizeof(ms->name), "%s", m->name);
    }
    return 0;
}

static struct members_seen member(struct pd_store *st, const char *room, const char *user)
{
    struct members_seen ms;

    memset(&ms, 0, sizeof(ms));
    ms.room = room;
    ms.user = user;
    pd_store_each_member(st, collect_member, &ms);
    return ms;
}

static struct rooms_seen room_row(struct pd_store *st, const char *room)
{
    struct rooms_seen rs;

    memset(&rs, 0, sizeof(rs));
    rs.want = room;
    pd_store_each_room(st, collect_room, &rs);
    return rs;
}

struct invites_seen {
    int n;
    const char *room, *user;
    int found;
    struct pd_invite_row row;
};

static int collect_invite(void *arg, const struct pd_invite_row *i)
{
    struct invites_seen *is = arg;

    is->n++;
    if (strcmp(i->room, is->room) == 0 && strcmp(i->user, is->user) == 0) {
        is->found = 1;
        is->row = *i;
    }
    return 0;
}

static struct invites_seen invite(struct pd_store *st, const char *room, const char *user)
{
    struct invites_seen is;

    memset(&is, 0, sizeof(is));
    is.room = room;
    is.user = user;
    pd_store_each_invite(st, collect_invite, &is);
    return is;
}

/* ---- helpers on the file itself -------------------------------------------------- */

static int sql_int(const char *path, const char *sql, int64_t *out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            *out = sqlite3_column_int64(s, 0);
            rc = 0;
        } else if (r == SQLITE_DONE) {
            rc = 0;
        }
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rc;
}

static int sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ==
        SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    }
    sqlite3_close(db);
    return rc;
}

/* sql_int with a formatted statement; -1 when it fails. */
__attribute__((format(printf, 2, 3))) static int64_t sql_intf(const char *path, const char *fmt,
                                                              ...)
{
    char sql[512];
    int64_t v = -1;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    if (sql_int(path, sql, &v) != 0)
        return -1;
    return v;
}

/* ---- receipt times -------------------------------------------------------------- */

struct times_seen {
    int n, stop_after;
    char user[8][PD_NAME_MAX + 1];
    int64_t ts[8];
};

static int collect_time(void *arg, const char *user, int64_t ts)
{
    struct times_seen *ts_seen = arg;

    if (ts_seen->n < 8) {
        snprintf(ts_seen->user[ts_seen->n], sizeof(ts_seen->user[0]), "%s", user);
        ts_seen->ts[ts_seen->n] = ts;
    }
    ts_seen->n++;
    return ts_seen->stop_after && ts_seen->n >= ts_seen->stop_after;
}

static struct times_seen times_of(struct pd_store *st, const char *room, int64_t seq,
                                  enum pd_receipt_kind kind, enum pd_err *rc)
{
    struct times_seen ts_seen;
    enum pd_err e;

    memset(&ts_seen, 0, sizeof(ts_seen));
    e = pd_store_receipt_times(st, room, seq, kind, collect_time, &ts_seen);
    if (rc)
        *rc = e;
    return ts_seen;
}

/* The ts reported for user, or -1 when absent. */
static int64_t time_of(const struct times_seen *ts_seen, const char *user)
{
    for (int i = 0; i < ts_seen->n && i < 8; i++)
        if (strcmp(ts_seen->user[i], user) == 0)
            return ts_seen->ts[i];
    return -1;
}

/* ---- tests -------------------------------------------------------------------------- */

struct fx {
    char dir[64];
    char db[128];
};

static void test_open(struct tap *t, struct fx *f)
{
    struct pd_store *st = NULL;
    char err[256] = "";
    int64_t v = -1, tables = 0;

    ok(t, pd_store_open(&st, ":memory:", err, sizeof(err)) != 0 && st == NULL,
       "':memory:' is refused");
    ok(t, pd_store_open(&st, f->db, err, sizeof(err)) == 0 && st != NULL, "store opens");
    pd_store_close(st);
    ok(t, sql_int(f->db, "PRAGMA user_version", &v) == 0 && v == 3, "schema at user_version 3");
    sql_int(f->db,
            "SELECT COUNT(*) FROM sqlite_master WHERE name IN "
            "('users','rooms','members','messages','messages_client_msg_id',"
            "'invites','receipts','receipts_room_kind_seq','sessions','presence')",
            &tables);
    ok(t, tables == 10, "eight tables, the client_msg_id and receipts indexes exist");
    sql_int(f->db, "PRAGMA journal_mode", &v);
    {
        sqlite3 *db;
        sqlite3_stmt *s;
        const char *mode = "";
        sqlite3_open(f->db, &db);
        sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL);
        if (sqlite3_step(s) == SQLITE_ROW)
            mode = (const char *)sqlite3_column_text(s, 0);
        ok(t, strcmp(mode, "wal") == 0, "database is in WAL mode (%s)", mode);
        sqlite3_finalize(s);
        sqlite3_close(db);
    }
    st = NULL;
    ok(t, pd_store_open(&st, f->db, err, sizeof(err)) == 0, "reopen of an existing schema");
    pd_store_close(st);
    v = -1;
    sql_int(f->db, "PRAGMA user_version", &v);
    ok(t, v == 3, "reopen keeps user_version 3");

    {
        char newer[160];
        snprintf(newer, sizeof(newer), "%s/newer.db", f->dir);
        sql_exec(newer, "PRAGMA user_version = 99");
        st = NULL;
        ok(t, pd_store_open(&st, newer, err, sizeof(err)) != 0 && strstr(err, "99"),
           "a newer schema is refused (%s)", err);
    }
}

static void test_membership(struct tap *t, struct pd_store *st)
{
    struct rooms_seen rs;
    struct members_seen ms;
    struct single s;
    int calls = 0;

    ok(t, do_join(st, "general", "alice", true) == PD_OK, "join creates room 'general'");
    rs = room_row(st, "general");
    ok(t, rs.found && !rs.want_row.is_private && strcmp(rs.want_row.created_by, "alice") == 0 &&
              rs.want_row.created_at == 1700000000000LL && rs.want_row.last_seq == 0,
       "room row: public, created by alice, last_seq 0");
    ms = member(st, "general", "alice");
    ok(t, ms.found && ms.owner && strcmp(ms.name, "alice") == 0, "alice is the owner");
    ok(t, do_join(st, "general", "bob", false) == PD_OK && member(st, "general", "bob").found &&
              !member(st, "general", "bob").owner,
       "bob joins as member");
    ok(t, do_join(st, "general", "bob", false) == PD_OK && member(st, "general", "bob").n == 2,
       "joining twice is idempotent");

    single_init(&s);
    set_join(&s.tj, "secret", "carol", true, true);
    ok(t, run_one(st, &s.tj) == 0 && s.tj.job.rc == PD_OK && room_row(st, "secret").found &&
              room_row(st, "secret").want_row.is_private,
       "private room created");
    ok(t, room_row(st, "x").n == 2, "each_room visits every room");
    pd_store_each_room(st, stop_after_one, &calls);
    ok(t, calls == 1 && pd_store_each_room(st, stop_after_one, &calls) == 7,
       "each_room stops at a non-zero return and passes it on");

    single_init(&s);
    set_leave(&s.tj, "general", "bob");
    ok(t, run_one(st, &s.tj) == 0 && s.tj.job.rc == PD_OK && !member(st, "general", "bob").found,
       "leave removes the member");
    single_init(&s);
    set_leave(&s.tj, "general", "bob");
    ok(t, run_one(st, &s.tj) == 0 && s.tj.job.rc == PD_OK, "leaving again is not an error");
    ok(t, do_join(st, "bad room", "alice", true) == PD_E_BAD_REQUEST,
       "join with an invalid room name is refused");
    do_join(st, "general", "bob", false);
}

static void test_send(struct tap *t, struct pd_store *st)
{
    struct pd_message a1, a2, b1, a3, d1, d2;
    bool dup = true;
    struct members_seen ms;

    memset(&d2, 0, sizeof(d2));
    do_join(st, "random", "bob", true);
    ok(t, do_send(st, "general", "alice", "one", NULL, &a1, &dup) == PD_OK && !dup &&
              a1.seq == 1 && a1.id == 1,
       "first message of 'general' has seq 1 and id 1");
    ok(t, do_send(st, "random", "bob", "other room", NULL, &b1, NULL) == PD_OK && b1.seq == 1 &&
              b1.id == a1.id + 1,
       "seq is per room, id is server-wide");
    ok(t, do_send(st, "general", "bob", "two", NULL, &a2, NULL) == PD_OK && a2.seq == 2 &&
              a2.id == b1.id + 1,
       "second message of 'general' has seq 2");
    ok(t, strcmp(a2.text, "two") == 0 && strcmp(a2.room, "general") == 0 && a2.client_msg_id == NULL,
       "the job keeps its text, room and null client_msg_id");
    ms = member(st, "general", "bob");
    ok(t, ms.found && ms.last_read_seq == 2, "sending advances the sender's last_read_seq (%lld)",
       (long long)ms.last_read_seq);
    ok(t, ms.last_delivered_seq == 2, "and last_delivered_seq too (%lld)",
       (long long)ms.last_delivered_seq);
    ok(t, room_row(st, "general").want_row.last_seq == 2, "rooms.last_seq follows");

    ok(t, do_send(st, "general", "alice", "three", "c-1", &a3, &dup) == PD_OK && !dup &&
              a3.seq == 3 && a3.client_msg_id && strcmp(a3.client_msg_id, "c-1") == 0,
       "message with client_msg_id stored (seq 3)");
    ok(t, do_send(st, "general", "alice", "three, again", "c-1", &d1, &dup) == PD_OK && dup &&
              d1.id == a3.id && d1.seq == 3 && strcmp(d1.text, "three") == 0 &&
              d1.ts == a3.ts,
       "the same client_msg_id returns the original, marked duplicate");
    pd_message_clear(&d1);
    ok(t, do_send(st, "general", "bob", "bob's c-1", "c-1", &d1, &dup) == PD_OK && !dup &&
              d1.seq == 4,
       "the same client_msg_id from another user is a new message (seq 4)");
    ok(t, do_send(st, "random", "alice", "elsewhere", "c-1", &d2, &dup) == PD_OK && !dup &&
              d2.seq == 2,
       "the same client_msg_id in another room is a new message");
    pd_message_clear(&d1);
    ok(t, do_send(st, "general", "alice", "four", NULL, &d1, NULL) == PD_OK && d1.seq == 5 &&
              d1.id == d2.id + 1,
       "a duplicate consumed no seq and no id");
    pd_message_clear(&d1);

    ok(t, do_send(st, "nowhere", "alice", "lost", NULL, &d1, NULL) == PD_E_NOT_FOUND,
       "send to a missing room is not_found");
    pd_message_clear(&d1);
    ok(t, do_send(st, "general", "alice", NULL, NULL, &d1, NULL) == PD_E_BAD_REQUEST,
       "send without text is refused");
    pd_message_clear(&d1);
    ok(t, do_send(st, "general", "alice", "five", NULL, &d1, NULL) == PD_OK && d1.seq == 6,
       "after refusals the next seq is still consecutive (6)");
    {
        struct pd_message got;
        ok(t, pd_store_message_get(st, d1.id, &got) == PD_OK && got.seq == 6 &&
                  strcmp(got.text, "five") == 0 && strcmp(got.user, "alice") == 0 &&
                  strcmp(got.name, "alice") == 0 && got.client_msg_id == NULL &&
                  got.reply_to == 0 && !got.deleted,
           "message_get by id");
        pd_message_clear(&got);
        ok(t, pd_store_message_get(st, 999999, &got) == PD_E_NOT_FOUND, "unknown id: not_found");
    }
    pd_message_clear(&d1);
    pd_message_clear(&d2);
    pd_message_clear(&a1);
    pd_message_clear(&a2);
    pd_message_clear(&a3);
    pd_message_clear(&b1);
}

/* Two jobs with one client_msg_id submitted back to back (likely one batch). */
static void test_dup_in_batch(struct tap *t, struct pd_store *st)
{
    struct run r = {.order = (int[2]){0}, .cap = 2};
    struct tjob j[2];

    for (int i = 0; i < 2; i++) {
        tjob_init(&j[i], &r, i);
        set_send(&j[i], "random", "bob", i ? "retry" : "first", "same-batch");
        pd_store_submit(st, &j[i].job);
    }
    wait_done(st, &r, 2);
    ok(t, j[0].job.rc == PD_OK && !j[0].job.duplicate && j[1].job.rc == PD_OK &&
              j[1].job.duplicate && j[1].job.msg.id == j[0].job.msg.id &&
              strcmp(j[1].job.msg.text, "first") == 0,
       "a repeat queued right behind its original is a duplicate of it");
    pd_message_clear(&j[0].job.msg);
    pd_message_clear(&j[1].job.msg);
}

static void test_history(struct tap *t, struct pd_store *st)
{
    struct pd_message *m = NULL;
    size_t n = 0;
    bool more = false;
    char text[16];
    int good = 1;

    do_join(st, "hist", "alice", true);
    for (int i = 1; i <= 10; i++) {
        snprintf(text, sizeof(text), "h%d", i);
        good &= do_send(st, "hist", "alice", text, NULL, NULL, NULL) == PD_OK;
    }
    ok(t, good, "ten messages stored in 'hist'");
    ok(t, pd_store_history(st, "hist", 0, 3, &m, &n, &more) == PD_OK && n == 3 && more &&
              m[0].seq == 8 && m[1].seq == 9 && m[2].seq == 10 && strcmp(m[2].text, "h10") == 0,
       "newest 3 without before_seq: 8,9,10 ascending, has_more");
    pd_messages_free(m, n);
    ok(t, pd_store_history(st, "hist", 8, 3, &m, &n, &more) == PD_OK && n == 3 && more &&
              m[0].seq == 5 && m[2].seq == 7,
       "before_seq 8, limit 3: 5,6,7");
    pd_messages_free(m, n);
    ok(t, pd_store_history(st, "hist", 4, 3, &m, &n, &more) == PD_OK && n == 3 && !more &&
              m[0].seq == 1 && m[2].seq == 3,
       "exactly the rest: 1,2,3 and no more");
    pd_messages_free(m, n);
    ok(t, pd_store_history(st, "hist", 3, 50, &m, &n, &more) == PD_OK && n == 2 && !more &&
              m[0].seq == 1 && m[1].seq == 2,
       "fewer than the limit: 1,2");
    pd_messages_free(m, n);
    ok(t, pd_store_history(st, "hist", 1, 10, &m, &n, &more) == PD_OK && n == 0 && !more,
       "before the first message: empty");
    pd_messages_free(m, n);
    ok(t, pd_store_history(st, "nothing-here", 0, 10, &m, &n, &more) == PD_OK && n == 0 && !more,
       "unknown room: empty");
    pd_messages_free(m, n);
    ok(t, pd_store_history(st, "hist", 0, 100, &m, &n, &more) == PD_OK && n == 10 && !more,
       "all ten within the limit");
    good = 1;
    for (size_t i = 0; i < n; i++)
        good &= m[i].seq == (int64_t)i + 1;
    ok(t, good, "ascending with no gap");
    pd_messages_free(m, n);
}

static void test_order_and_drain(struct tap *t, struct pd_store *st)
{
    enum { N = 50 };
    int order[N];
    struct run r = {.order = order, .cap = N};
    struct tjob *j = calloc(N, sizeof(*j));
    int in_order = 1;

    for (int i = 0; i < N; i++) {
        tjob_init(&j[i], &r, i);
        if (i % 5 == 0)
            set_join(&j[i], "order", i ? "bob" : "alice", i == 0, false);
        else
            set_send(&j[i], "order", "alice", "x", NULL);
        pd_store_submit(st, &j[i].job);
    }
    pd_store_drain(st);
    /* After drain everything is on the completion list: one run, no poll. */
    pd_store_run_completions(st);
    ok(t, r.ndone == N, "drain: all %d jobs committed and completed at once (%d)", N, r.ndone);
    for (int i = 0; i < N && i < r.ndone; i++)
        in_order &= order[i] == i;
    ok(t, in_order, "completions ran in submission order");
    in_order = 1;
    for (int i = 0, seq = 0; i < N; i++)
        if (j[i].job.op == PD_OP_SEND)
            in_order &= j[i].job.rc == PD_OK && j[i].job.msg.seq == ++seq;
    ok(t, in_order, "seqs follow submission order");
    in_order = 1;
    for (int i = 0; i < N; i++)
        in_order &= j[i].done == 1;
    pd_store_run_completions(st);
    for (int i = 0; i < N; i++)
        in_order &= j[i].done == 1;
    ok(t, in_order, "each job completed exactly once");
    for (int i = 0; i < N; i++)
        pd_message_clear(&j[i].job.msg);
    free(j);
}

static void test_many(struct tap *t, struct pd_store *st)
{
    enum { N = 1000 };
    int *order = calloc(N, sizeof(int));
    struct run r = {.order = order, .cap = N};
    struct tjob *j = calloc(N, sizeof(*j));
    struct pd_store_stats before, after;
    int good = 1;

    do_join(st, "busy", "alice", true);
    pd_store_stats(st, &before);
    for (int i = 0; i < N; i++) {
        tjob_init(&j[i], &r, i);
        set_send(&j[i], "busy", "alice", "load", NULL);
        good &= pd_store_submit(st, &j[i].job) == 0;
    }
    ok(t, good && wait_done(st, &r, N) == 0, "%d submits all complete", N);
    pd_store_stats(st, &after);
    good = 1;
    for (int i = 0; i < N; i++)
        good &= j[i].job.rc == PD_OK && j[i].job.msg.seq == i + 1 &&
                (i == 0 || j[i].job.msg.id == j[i - 1].job.msg.id + 1) && order[i] == i;
    ok(t, good, "seqs 1..%d in order, ids consecutive, completions in order", N);
    printf("# %d jobs in %llu batches\n", N,
           (unsigned long long)(after.batches - before.batches));
    ok(t, after.jobs - before.jobs == N && after.batches - before.batches <= N / 10,
       "group commit: %d jobs in %llu transactions", N,
       (unsigned long long)(after.batches - before.batches));
    ok(t, room_row(st, "busy").want_row.last_seq == N, "rooms.last_seq is %d", N);
    for (int i = 0; i < N; i++)
        pd_message_clear(&j[i].job.msg);
    free(j);
    free(order);
}

/* A trigger makes one job fail inside the database: its batch rolls back,
 * the others are retried alone and stored, and the in-memory seq and id
 * counters roll back with it (no gap, no reuse). An outside connection
 * holds the write lock so the batch is known: job 0 alone (taken, then
 * stuck in BEGIN IMMEDIATE), then jobs 1..8 together, the bad one among
 * them. */
static void test_failing_job(struct tap *t, struct pd_store *st, const char *path)
{
    enum { N = 9, BAD = 4 };
    int order[N];
    struct run r = {.order = order, .cap = N};
    struct tjob j[N];
    struct pd_store_stats before, after;
    struct pd_message *m = NULL;
    size_t n = 0;
    bool more;
    int good = 1, seq = 0;
    sqlite3 *lock = NULL;

    do_join(st, "fragile", "alice", true);
    ok(t, sql_exec(path, "CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.text = 'boom' "
                         "BEGIN SELECT RAISE(ABORT, 'boom'); END") == 0,
       "trigger installed");
    pd_store_stats(st, &before);
    sqlite3_open(path, &lock);
    sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (int i = 0; i < N; i++) {
        tjob_init(&j[i], &r, i);
        set_send(&j[i], "fragile", "alice", i == BAD ? "boom" : "fine", NULL);
        pd_store_submit(st, &j[i].job);
        if (i == 0 || i == N - 1)
            usleep(50 * 1000);
    }
    sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(lock);
    wait_done(st, &r, N);
    pd_store_stats(st, &after);
    ok(t, after.batches - before.batches == 2 && after.failed_batches - before.failed_batches == 1,
       "two batches, the second (8 jobs, one bad) failed as a whole");
    for (int i = 0; i < N; i++)
        if (i != BAD)
            good &= j[i].job.rc == PD_OK && j[i].job.msg.seq == ++seq;
    ok(t, good, "the other jobs are stored with consecutive seqs 1..%d", N - 1);
    ok(t, j[BAD].job.rc == PD_E_INTERNAL && j[BAD].job.msg.seq == 0 && j[BAD].job.msg.id == 0,
       "the failing job reports internal and gets no seq or id");
    ok(t, pd_store_history(st, "fragile", 0, 100, &m, &n, &more) == PD_OK && n == N - 1 &&
              m[n - 1].seq == N - 1,
       "history holds exactly the stored ones");
    pd_messages_free(m, n);
    sql_exec(path, "DROP TRIGGER boom");
    {
        struct pd_message next;
        ok(t, do_send(st, "fragile", "alice", "after", NULL, &next, NULL) == PD_OK &&
                  next.seq == N && next.id == j[N - 1].job.msg.id + 1,
           "counters rolled back: next seq %d, next id follows", N);
        pd_message_clear(&next);
    }
    for (int i = 0; i < N; i++)
        pd_message_clear(&j[i].job.msg);
}

static void test_accounts(struct tap *t, struct pd_store *st)
{
    char *hash = NULL, *name = NULL;

    ok(t, pd_store_user_create(st, "dora", "Dora D.", "$scrypt$x", 1) == PD_OK, "user created");
    ok(t, pd_store_user_create(st, "dora", "Other", "$scrypt$y", 2) == PD_E_CONFLICT,
       "same id again: conflict");
    ok(t, pd_store_user_get(st, "dora", &hash, &name) == PD_OK && hash && name &&
              strcmp(hash, "$scrypt$x") == 0 && strcmp(name, "Dora D.") == 0,
       "user_get returns hash and name");
    free(hash);
    free(name);
    ok(t, pd_store_user_get(st, "nobody", &hash, &name) == PD_E_NOT_FOUND && !hash && !name,
       "unknown user: not_found");
    ok(t, pd_store_user_create(st, "nopw", "No Password", NULL, 3) == PD_OK &&
              pd_store_user_get(st, "nopw", &hash, &name) == PD_OK && hash == NULL &&
              strcmp(name, "No Password") == 0,
       "an account without password has a NULL hash");
    free(name);
}

/* ---- issue 3: invites, receipts, delete, migration 2 ------------------------------- */

/* The schema exactly as migration 1 left it, for a database "made by
 * version 1". */
#define V1_SCHEMA                                                                             \
    "CREATE TABLE users(id TEXT PRIMARY KEY, name TEXT NOT NULL, password_hash TEXT,"         \
    "  created_at INTEGER NOT NULL);"                                                         \
    "CREATE TABLE rooms(name TEXT PRIMARY KEY, private INTEGER NOT NULL,"                     \
    "  created_by TEXT NOT NULL, created_at INTEGER NOT NULL,"                                \
    "  last_seq INTEGER NOT NULL DEFAULT 0);"                                                 \
    "CREATE TABLE members(room TEXT NOT NULL REFERENCES rooms(name), user TEXT NOT NULL,"     \
    "  name TEXT NOT NULL, role TEXT NOT NULL CHECK(role IN ('owner','member')),"             \
    "  joined_at INTEGER NOT NULL, last_read_seq INTEGER NOT NULL DEFAULT 0,"                 \
    "  PRIMARY KEY(room, user)) WITHOUT ROWID;"                                               \
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, room TEXT NOT NULL REFERENCES rooms(name),"\
    "  seq INTEGER NOT NULL, user TEXT NOT NULL, name TEXT NOT NULL, text TEXT NOT NULL,"     \
    "  ts INTEGER NOT NULL, client_msg_id TEXT, reply_to INTEGER,"                            \
    "  deleted INTEGER NOT NULL DEFAULT 0, UNIQUE(room, seq));"                               \
    "CREATE UNIQUE INDEX messages_client_msg_id ON messages(room, user, client_msg_id)"       \
    "  WHERE client_msg_id IS NOT NULL;"

#define V1_DATA                                                                               \
    "INSERT INTO users VALUES('alice', 'Alice', '$h', 1);"                                    \
    "INSERT INTO rooms VALUES('old', 1, 'alice', 10, 3);"                                     \
    "INSERT INTO members VALUES('old', 'alice', 'Alice', 'owner', 10, 3),"                    \
    "  ('old', 'bob', 'Bob', 'member', 11, 1);"                                               \
    "INSERT INTO messages VALUES(1, 'old', 1, 'alice', 'Alice', 'm1', 100, NULL, NULL, 0),"  \
    "  (2, 'old', 2, 'bob', 'Bob', 'm2', 200, 'c-2', NULL, 1),"                               \
    "  (3, 'old', 3, 'alice', 'Alice', 'm3', 300, NULL, 2, 0);"

static int has_column(const char *path, const char *table, const char *col)
{
    return sql_intf(path, "SELECT COUNT(*) FROM pragma_table_info('%s') WHERE name = '%s'",
                    table, col) == 1;
}

static void test_migrate_v1(struct tap *t, struct fx *f)
{
    char path[160], bad[160], err[256] = "";
    struct pd_store *st = NULL;
    struct pd_message *m = NULL, next;
    struct members_seen ms;
    struct rooms_seen rs;
    size_t n = 0;
    bool more = false, dup = false;
    char *hash = NULL, *name = NULL;

    /* A migration that fails leaves version 1 as it was: nothing half done. */
    snprintf(bad, sizeof(bad), "%s/v1-bad.db", f->dir);
    ok(t, sql_exec(bad, "PRAGMA journal_mode=WAL;" V1_SCHEMA V1_DATA
                        "CREATE TABLE invites(x); PRAGMA user_version = 1;") == 0,
       "a version 1 database with a table in migration 2's way");
    ok(t, pd_store_open(&st, bad, err, sizeof(err)) != 0 && st == NULL &&
              strstr(err, "migration 2") != NULL,
       "open fails on the failing migration (%s)", err);
    ok(t, sql_intf(bad, "PRAGMA user_version") == 1 && !has_column(bad, "members", "last_delivered_seq") &&
              !has_column(bad, "rooms", "deleted_count") &&
              sql_intf(bad, "SELECT COUNT(*) FROM messages") == 3,
       "and rolls back whole: still version 1, no new columns, data there");

    snprintf(path, sizeof(path), "%s/v1.db", f->dir);
    err[0] = '\0';
    ok(t, sql_exec(path, "PRAGMA journal_mode=WAL;" V1_SCHEMA V1_DATA "PRAGMA user_version = 1;") ==
              0,
       "a version 1 database made by hand");
    st = NULL;
    ok(t, pd_store_open(&st, path, err, sizeof(err)) == 0 && st != NULL,
       "version 1 opens and migrates (%s)", st ? "" : err);
    if (st == NULL)
        return;
    ok(t, sql_intf(path, "PRAGMA user_version") == 3 &&
              has_column(path, "members", "last_delivered_seq") &&
              has_column(path, "rooms", "deleted_count") &&
              sql_intf(path, "SELECT COUNT(*) FROM sqlite_master WHERE name IN "
                             "('invites','receipts','receipts_room_kind_seq',"
                             "'sessions','presence')") == 5,
       "now version 3 (through 2): new columns, invites, receipts and its index, sessions, "
       "presence");
    rs = room_row(st, "old");
    ok(t, rs.found && rs.want_row.is_private && rs.want_row.last_seq == 3 &&
              strcmp(rs.want_row.created_by, "alice") == 0 && rs.want_row.created_at == 10,
       "room kept");
    ok(t, rs.want_row.deleted_count == 1, "deleted_count counts the already-deleted (%lld)",
       (long long)rs.want_row.deleted_count);
    ms = member(st, "old", "alice");
    ok(t, ms.found && ms.owner && strcmp(ms.name, "Alice") == 0 && ms.last_read_seq == 3 &&
              ms.last_delivered_seq == 3,
       "alice kept; last_delivered_seq starts at her last_read_seq (3)");
    ms = member(st, "old", "bob");
    ok(t, ms.found && !ms.owner && ms.last_read_seq == 1 && ms.last_delivered_seq == 1,
       "bob kept; last_delivered_seq 1");
    ok(t, pd_store_history(st, "old", 0, 10, &m, &n, &more) == PD_OK && n == 3 &&
              strcmp(m[0].text, "m1") == 0 && m[1].deleted && strcmp(m[1].text, "") == 0 &&
              m[2].reply_to == 2 && m[2].ts == 300,
       "messages kept");
    pd_messages_free(m, n);
    ok(t, pd_store_user_get(st, "alice", &hash, &name) == PD_OK && strcmp(hash, "$h") == 0 &&
              strcmp(name, "Alice") == 0,
       "users kept");
    free(hash);
    free(name);
    ok(t, do_send(st, "old", "bob", "m4", NULL, &next, NULL) == PD_OK && next.seq == 4 &&
              next.id == 4,
       "seq and id continue (4, 4)");
    pd_message_clear(&next);
    ms = member(st, "old", "bob");
    ok(t, ms.last_read_seq == 4 && ms.last_delivered_seq == 4, "the send raised both of bob's pointers");
    ok(t, do_send(st, "old", "bob", "again", "c-2", &next, &dup) == PD_OK && dup && next.id == 2,
       "client_msg_id from version 1 still dedups");
    pd_message_clear(&next);
    ok(t, do_invite(st, "old", "carol", "alice", 20, &dup) == PD_OK && !dup &&
              do_receipt(st, "old", "alice", PD_RECEIPT_READ, 4, 30, &dup) == PD_OK && !dup,
       "invite and receipt work on the migrated database");
    pd_store_close(st);
    st = NULL;
    ok(t, pd_store_open(&st, path, err, sizeof(err)) == 0 &&
              member(st, "old", "alice").last_read_seq == 4 &&
              sql_intf(path, "PRAGMA user_version") == 3,
       "reopens at version 3 with nothing to migrate");
    pd_store_close(st);
}

static void test_invites(struct tap *t, struct pd_store *st)
{
    struct invites_seen is;
    bool dup = true;
    int before;

    ok(t, do_invite(st, "secret", "bob", "carol", 1700000000100LL, &dup) == PD_OK && !dup,
       "invite to the private room stored");
    is = invite(st, "secret", "bob");
    ok(t, is.found && strcmp(is.row.invited_by, "carol") == 0 &&
              is.row.created_at == 1700000000100LL,
       "each_invite returns it: invited by carol, at its time");
    ok(t, do_invite(st, "secret", "bob", "alice", 1700000000200LL, &dup) == PD_OK && dup,
       "the same invite again is accepted as a duplicate");
    is = invite(st, "secret", "bob");
    ok(t, is.n == 1 && strcmp(is.row.invited_by, "carol") == 0 &&
              is.row.created_at == 1700000000100LL,
       "and the first invitation stands");
    ok(t, do_invite(st, "secret", "dave", "carol", 1700000000300LL, &dup) == PD_OK && !dup &&
              invite(st, "secret", "dave").found && invite(st, "x", "y").n == 2,
       "a second invitee");
    before = invite(st, "x", "y").n;
    ok(t, do_invite(st, "nowhere", "bob", "carol", 1, &dup) == PD_E_NOT_FOUND &&
              invite(st, "x", "y").n == before,
       "invite to a missing room: not_found, nothing stored");
    ok(t, do_invite(st, "secret", "bad user!", "carol", 1, &dup) == PD_E_BAD_REQUEST,
       "an invalid invitee is refused");
    ok(t, do_invite(st, "secret", "erin", NULL, 1, &dup) == PD_E_BAD_REQUEST &&
              !invite(st, "secret", "erin").found,
       "an invite without inviter is refused");
}

static void test_receipts(struct tap *t, struct pd_store *st, const char *path)
{
    /* carol's one receipt (TC) comes before bob's, so time order is not name order */
    const int64_t T1 = 1800000000001LL, T2 = T1 + 1, T3 = T1 + 2, T4 = T1 + 3, TC = T1 - 10;
    struct pd_message msgs[5];
    struct members_seen ms;
    struct times_seen ts;
    enum pd_err rc;
    bool dup = true;
    int good = 1;

    do_join(st, "rcpt", "alice", true);
    do_join(st, "rcpt", "bob", false);
    do_join(st, "rcpt", "carol", false);
    for (int i = 0; i < 5; i++)
        good &= do_send(st, "rcpt", "alice", "r", NULL, &msgs[i], NULL) == PD_OK &&
                msgs[i].seq == i + 1;
    ok(t, good, "five messages in 'rcpt' from alice");
    ms = member(st, "rcpt", "alice");
    ok(t, ms.last_read_seq == 5 && ms.last_delivered_seq == 5,
       "the sender's own pointers are at 5");
    ok(t, sql_intf(path, "SELECT COUNT(*) FROM receipts WHERE room = 'rcpt' AND user = 'alice'") ==
              10,
       "each send recorded a read and a delivered event for the sender");

#define EVENTS(user, kind)                                                                    \
    sql_intf(path, "SELECT COUNT(*) FROM receipts WHERE room = 'rcpt' AND user = '%s' AND kind = %d", \
             user, (int)(kind))

    ok(t, do_receipt(st, "rcpt", "bob", PD_RECEIPT_DELIVERED, 2, T1, &dup) == PD_OK && !dup,
       "bob: delivered up to 2");
    ms = member(st, "rcpt", "bob");
    ok(t, ms.last_delivered_seq == 2 && ms.last_read_seq == 0,
       "delivered moves last_delivered_seq only (2, read 0)");
    ok(t, EVENTS("bob", PD_RECEIPT_DELIVERED) == 1 && EVENTS("bob", PD_RECEIPT_READ) == 0,
       "one delivered event, no read event");
    ok(t, do_receipt(st, "rcpt", "bob", PD_RECEIPT_DELIVERED, 2, T2, &dup) == PD_OK && dup &&
              EVENTS("bob", PD_RECEIPT_DELIVERED) == 1,
       "delivered 2 again: duplicate, no event");
    ok(t, do_receipt(st, "rcpt", "bob", PD_RECEIPT_DELIVERED, 1, T2, &dup) == PD_OK && dup &&
              member(st, "rcpt", "bob").last_delivered_seq == 2 &&
              EVENTS("bob", PD_RECEIPT_DELIVERED) == 1,
       "delivered 1 after 2: duplicate, the pointer does not go back");
    ok(t, do_receipt(st, "rcpt", "bob", PD_RECEIPT_READ, 1, T2, &dup) == PD_OK && !dup,
       "bob: read up to 1");
    ms = member(st, "rcpt", "bob");
    ok(t, ms.last_read_seq == 1 && ms.last_delivered_seq == 2,
       "read 1 moves last_read_seq, last_delivered_seq stays at 2");
    ok(t, EVENTS("bob", PD_RECEIPT_READ) == 1 && EVENTS("bob", PD_RECEIPT_DELIVERED) == 1,
       "a read event only (delivery had not moved)");
    ok(t, do_receipt(st, "rcpt", "bob", PD_RECEIPT_READ, 4, T3, &dup) == PD_OK && !dup,
       "bob: read up to 4");
    ms = member(st, "rcpt", "bob");
    ok(t, ms.last_read_seq == 4 && ms.last_delivered_seq == 4, "read 4 moves both pointers to 4");
    ok(t, EVENTS("bob", PD_RECEIPT_READ) == 2 && EVENTS("bob", PD_RECEIPT_DELIVERED) == 2,
       "and records both a read and a delivered event");
    ok(t, do_receipt(st, "rcpt", "bob", PD_RECEIPT_READ, 3, T4, &dup) == PD_OK && dup &&
              member(st, "rcpt", "bob").last_read_seq == 4 && EVENTS("bob", PD_RECEIPT_READ) == 2,
       "read 3 after 4: duplicate, no event, nothing back");
    ok(t, do_receipt(st, "rcpt", "bob", PD_RECEIPT_DELIVERED, 4, T4, &dup) == PD_OK && dup,
       "delivered 4 after read 4: duplicate");
    ok(t, do_receipt(st, "rcpt", "bob", PD_RECEIPT_READ, 0, T4, &dup) == PD_OK && dup,
       "read 0: duplicate");
    ok(t, do_receipt(st, "rcpt", "carol", PD_RECEIPT_READ, 5, TC, &dup) == PD_OK && !dup &&
              EVENTS("carol", PD_RECEIPT_READ) == 1 && EVENTS("carol", PD_RECEIPT_DELIVERED) == 1,
       "carol: read 5 straight away (at TC, before bob's receipts), both events");

    ok(t, do_receipt(st, "rcpt", "dave", PD_RECEIPT_READ, 1, T4, &dup) == PD_E_NOT_FOUND &&
              EVENTS("dave", PD_RECEIPT_READ) == 0,
       "a non-member: not_found, nothing recorded");
    ok(t, do_receipt(st, "nowhere", "bob", PD_RECEIPT_READ, 1, T4, &dup) == PD_E_NOT_FOUND,
       "a missing room: not_found");
    ok(t, do_receipt(st, "rcpt", "carol", PD_RECEIPT_DELIVERED, 6, T4, &dup) ==
                  PD_E_BAD_REQUEST &&
              member(st, "rcpt", "carol").last_delivered_seq == 5,
       "a seq past the room's last message is refused");
    ok(t, do_receipt(st, "rcpt", "bob", (enum pd_receipt_kind)7, 5, T4, &dup) == PD_E_BAD_REQUEST,
       "an unknown receipt kind is refused");
#undef EVENTS

    /* Times: the earliest event at or past seq, per user. */
    ts = times_of(st, "rcpt", 2, PD_RECEIPT_DELIVERED, &rc);
    ok(t, rc == PD_OK && ts.n == 3 && time_of(&ts, "alice") == msgs[1].ts &&
              time_of(&ts, "bob") == T1 && time_of(&ts, "carol") == TC,
       "delivered at seq 2: alice when she sent it, bob at T1, carol at TC");
    ts = times_of(st, "rcpt", 3, PD_RECEIPT_DELIVERED, &rc);
    ok(t, rc == PD_OK && ts.n == 3 && time_of(&ts, "bob") == T3 && time_of(&ts, "carol") == TC,
       "delivered at seq 3: bob at T3 (his read of 4 delivered it)");
    ok(t, ts.n == 3 && strcmp(ts.user[0], "alice") == 0 && strcmp(ts.user[1], "carol") == 0 &&
              strcmp(ts.user[2], "bob") == 0,
       "users come in order of time: alice, carol, bob");
    ts = times_of(st, "rcpt", 1, PD_RECEIPT_READ, &rc);
    ok(t, rc == PD_OK && ts.n == 3 && time_of(&ts, "alice") == msgs[0].ts &&
              time_of(&ts, "bob") == T2 && time_of(&ts, "carol") == TC,
       "read at seq 1: bob at T2");
    ts = times_of(st, "rcpt", 2, PD_RECEIPT_READ, &rc);
    ok(t, rc == PD_OK && ts.n == 3 && time_of(&ts, "bob") == T3,
       "read at seq 2: bob at T3 (his read of 1 does not cover it)");
    ts = times_of(st, "rcpt", 5, PD_RECEIPT_READ, &rc);
    ok(t, rc == PD_OK && ts.n == 2 && time_of(&ts, "bob") == -1 && time_of(&ts, "carol") == TC &&
              time_of(&ts, "alice") == msgs[4].ts,
       "read at seq 5: alice and carol, not bob");
    ts = times_of(st, "other-room", 1, PD_RECEIPT_READ, &rc);
    ok(t, rc == PD_OK && ts.n == 0, "another room: none");
    memset(&ts, 0, sizeof(ts));
    ts.stop_after = 1;
    ok(t, pd_store_receipt_times(st, "rcpt", 1, PD_RECEIPT_READ, collect_time, &ts) == PD_OK &&
              ts.n == 1,
       "a non-zero return from fn stops the walk");
    ok(t, times_of(st, "rcpt", 1, (enum pd_receipt_kind)0, &rc).n == 0 && rc == PD_E_BAD_REQUEST,
       "receipt_times with an unknown kind: bad_request");
    for (int i = 0; i < 5; i++)
        pd_message_clear(&msgs[i]);
}

static void test_delete(struct tap *t, struct pd_store *st, const char *path)
{
    struct pd_message a, b, c, got, d, *m = NULL;
    size_t n = 0;
    bool dup = true, more;

    do_join(st, "del", "alice", true);
    do_send(st, "del", "alice", "keep", NULL, &a, NULL);
    do_send(st, "del", "alice", "secret text", "del-1", &b, NULL);
    do_send(st, "del", "alice", "keep too", NULL, &c, NULL);
    ok(t, room_row(st, "del").want_row.deleted_count == 0, "a new room has deleted_count 0");

    memset(&d, 0, sizeof(d));
    ok(t, do_delete(st, b.id, &d, &dup) == PD_OK && !dup, "delete the second message");
    ok(t, strcmp(d.room, "del") == 0 && strcmp(d.user, "alice") == 0 && d.seq == 2,
       "the job learns room, author and seq (%s, %s, %lld)", d.room, d.user, (long long)d.seq);
    pd_message_clear(&d);
    ok(t, pd_store_message_get(st, b.id, &got) == PD_OK && got.deleted && got.id == b.id &&
              got.seq == 2 && strcmp(got.text, "") == 0 && strcmp(got.user, "alice") == 0,
       "message_get: deleted, same id and seq, text ''");
    pd_message_clear(&got);
    ok(t, sql_intf(path, "SELECT COUNT(*) FROM messages WHERE id = %lld AND text = '' AND deleted = 1",
                   (long long)b.id) == 1,
       "the text is gone from the file, not only hidden");
    ok(t, pd_store_history(st, "del", 0, 10, &m, &n, &more) == PD_OK && n == 3 && !m[0].deleted &&
              strcmp(m[0].text, "keep") == 0 && m[1].deleted && strcmp(m[1].text, "") == 0 &&
              m[1].seq == 2 && !m[2].deleted,
       "history keeps the deleted message in place, with text ''");
    pd_messages_free(m, n);
    ok(t, room_row(st, "del").want_row.deleted_count == 1, "deleted_count is 1");

    memset(&d, 0, sizeof(d));
    ok(t, do_delete(st, b.id, &d, &dup) == PD_OK && dup && strcmp(d.room, "del") == 0 &&
              d.seq == 2,
       "deleting it again: duplicate, room and seq still filled");
    pd_message_clear(&d);
    ok(t, room_row(st, "del").want_row.deleted_count == 1, "and deleted_count stays 1");
    ok(t, do_delete(st, 987654321, NULL, &dup) == PD_E_NOT_FOUND && !dup,
       "deleting a missing id: not_found");
    ok(t, do_delete(st, 0, NULL, &dup) == PD_E_NOT_FOUND, "id 0: not_found");
    ok(t, do_send(st, "del", "alice", "retry", "del-1", &d, &dup) == PD_OK && dup &&
              d.id == b.id && d.deleted && strcmp(d.text, "") == 0,
       "a retry of the deleted message's client_msg_id returns it deleted");
    pd_message_clear(&d);
    ok(t, do_send(st, "del", "alice", "after", NULL, &d, NULL) == PD_OK && d.seq == 4,
       "seq goes on after a delete (4)");
    pd_message_clear(&d);
    pd_message_clear(&a);
    pd_message_clear(&b);
    pd_message_clear(&c);
}

/* New ops queued together with sends: each sees the writes before it in
 * the same transaction (a receipt for a message sent in the same batch, a
 * delete of one). */
static void test_mixed_batch(struct tap *t, struct pd_store *st, const char *path)
{
    enum { N = 5 };
    int order[N];
    struct run r = {.order = order, .cap = N};
    struct tjob j[N];
    int64_t next_id = sql_intf(path, "SELECT MAX(id) FROM messages") + 1;
    int good = 1;

    do_join(st, "mix", "alice", true);
    do_join(st, "mix", "bob", false);
    for (int i = 0; i < N; i++)
        tjob_init(&j[i], &r, i);
    set_send(&j[0], "mix", "alice", "first", NULL);
    set_receipt(&j[1], "mix", "bob", PD_RECEIPT_READ, 1, 1900000000000LL);
    set_delete(&j[2], next_id);
    set_invite(&j[3], "mix", "eve", "alice");
    set_send(&j[4], "mix", "bob", "second", NULL);
    for (int i = 0; i < N; i++)
        good &= pd_store_submit(st, &j[i].job) == 0;
    ok(t, good && wait_done(st, &r, N) == 0, "send, receipt, delete, invite, send queued at once");
    ok(t, j[0].job.rc == PD_OK && j[0].job.msg.id == next_id && j[0].job.msg.seq == 1,
       "the first send got the expected id");
    ok(t, j[1].job.rc == PD_OK && !j[1].job.duplicate,
       "a read receipt for it, queued behind it, is accepted");
    ok(t, j[2].job.rc == PD_OK && !j[2].job.duplicate && j[2].job.msg.seq == 1 &&
              strcmp(j[2].job.msg.room, "mix") == 0,
       "a delete of it, queued behind it, deletes it");
    ok(t, j[3].job.rc == PD_OK && j[4].job.rc == PD_OK && j[4].job.msg.seq == 2,
       "invite and the next send go through");
    ok(t, member(st, "mix", "bob").last_read_seq == 2 &&
              member(st, "mix", "bob").last_delivered_seq == 2 &&
              room_row(st, "mix").want_row.deleted_count == 1,
       "bob's pointers at 2 (his own send), deleted_count 1");
    for (int i = 0; i < N; i++)
        pd_message_clear(&j[i].job.msg);
}

/* A batch with a failing job rolls back the new ops too, and their retry
 * alone writes each effect exactly once (no doubled events or counts). */
static void test_failing_batch_new_ops(struct tap *t, struct pd_store *st, const char *path)
{
    enum { N = 6 };
    int order[N];
    struct run r = {.order = order, .cap = N};
    struct tjob j[N];
    struct pd_store_stats before, after;
    struct pd_message target;
    int64_t t0 = 1950000000000LL;
    sqlite3 *lock = NULL;

    do_join(st, "fragile2", "alice", true);
    do_join(st, "fragile2", "bob", false);
    do_send(st, "fragile2", "alice", "target", NULL, &target, NULL);
    ok(t, sql_exec(path, "CREATE TRIGGER boom2 BEFORE INSERT ON messages WHEN NEW.text = 'boom' "
                         "BEGIN SELECT RAISE(ABORT, 'boom'); END") == 0,
       "trigger installed again");
    for (int i = 0; i < N; i++)
        tjob_init(&j[i], &r, i);
    set_send(&j[0], "fragile2", "alice", "fine", NULL);                       /* seq 2, alone */
    set_receipt(&j[1], "fragile2", "bob", PD_RECEIPT_READ, 1, t0);            /* read + delivered */
    set_delete(&j[2], target.id);
    set_send(&j[3], "fragile2", "alice", "boom", NULL);                       /* fails */
    set_invite(&j[4], "fragile2", "eve", "alice");
    set_receipt(&j[5], "fragile2", "bob", PD_RECEIPT_DELIVERED, 2, t0 + 1);   /* delivered */
    pd_store_stats(st, &before);
    sqlite3_open(path, &lock);
    sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (int i = 0; i < N; i++) {
        pd_store_submit(st, &j[i].job);
        if (i == 0 || i == N - 1)
            usleep(50 * 1000);
    }
    sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(lock);
    wait_done(st, &r, N);
    pd_store_stats(st, &after);
    ok(t, after.batches - before.batches == 2 && after.failed_batches - before.failed_batches == 1,
       "two batches, the second failed as a whole and was retried job by job");
    ok(t, j[0].job.rc == PD_OK && j[1].job.rc == PD_OK && !j[1].job.duplicate &&
              j[2].job.rc == PD_OK && !j[2].job.duplicate && j[3].job.rc == PD_E_INTERNAL &&
              j[4].job.rc == PD_OK && !j[4].job.duplicate && j[5].job.rc == PD_OK &&
              !j[5].job.duplicate,
       "receipt, delete, invite and receipt succeed on retry (not duplicates), the bad send fails");
    ok(t, sql_intf(path, "SELECT COUNT(*) FROM receipts WHERE room = 'fragile2' AND user = 'bob'"
                         " AND kind = 2") == 1 &&
              sql_intf(path, "SELECT COUNT(*) FROM receipts WHERE room = 'fragile2' AND user = 'bob'"
                             " AND kind = 1") == 2,
       "bob's events written once each: one read, two delivered");
    ok(t, room_row(st, "fragile2").want_row.deleted_count == 1 &&
              invite(st, "fragile2", "eve").found,
       "deleted_count counted once; the invite is there");
    ok(t, member(st, "fragile2", "bob").last_read_seq == 1 &&
              member(st, "fragile2", "bob").last_delivered_seq == 2,
       "bob: read 1, delivered 2");
    sql_exec(path, "DROP TRIGGER boom2");
    pd_message_clear(&target);
    for (int i = 0; i < N; i++)
        pd_message_clear(&j[i].job.msg);
}

/* ---- issue 4: recovery sessions, last_seen, migration 3 ---------------------------- */

/* A token hash as the server writes one: 64 lower-case hex digits. */
static void hash_of(char out[65], unsigned long long n)
{
    snprintf(out, 65, "%064llx", n);
}

static void set_session_save(struct tjob *tj, unsigned long long hash, const char *id,
                             const char *user, int64_t created, int64_t expires,
                             const char *rooms, unsigned long long consume)
{
    tj->job.op = PD_OP_SESSION_SAVE;
    hash_of(tj->job.session.token_hash, hash);
    snprintf(tj->job.session.id, sizeof(tj->job.session.id), "%s", id);
    snprintf(tj->job.session.user, sizeof(tj->job.session.user), "%s", user);
    tj->job.session.created_at = created;
    tj->job.session.expires_at = expires;
    tj->job.session.rooms_json = (char *)rooms;
    if (consume)
        hash_of(tj->job.consume_hash, consume);
}

static void set_session_drop(struct tjob *tj, unsigned long long hash)
{
    tj->job.op = PD_OP_SESSION_DROP;
    hash_of(tj->job.session.token_hash, hash);
}

static void set_last_seen(struct tjob *tj, const char *user, int64_t now)
{
    tj->job.op = PD_OP_LAST_SEEN;
    snprintf(tj->job.user, sizeof(tj->job.user), "%s", user);
    tj->job.now = now;
}

static enum pd_err do_session_save(struct pd_store *st, unsigned long long hash, const char *id,
                                   const char *user, int64_t created, int64_t expires,
                                   const char *rooms, unsigned long long consume)
{
    struct single s;

    single_init(&s);
    set_session_save(&s.tj, hash, id, user, created, expires, rooms, consume);
    return run_one(st, &s.tj) == 0 ? s.tj.job.rc : PD_E__COUNT;
}

/* A save job as the caller filled it (for inputs set_session_save cannot
 * make). */
static enum pd_err do_session_job(struct pd_store *st, const struct pd_store_job *proto)
{
    struct single s;

    single_init(&s);
    s.tj.job.op = proto->op;
    s.tj.job.session = proto->session;
    memcpy(s.tj.job.consume_hash, proto->consume_hash, sizeof(s.tj.job.consume_hash));
    memcpy(s.tj.job.user, proto->user, sizeof(s.tj.job.user));
    s.tj.job.now = proto->now;
    return run_one(st, &s.tj) == 0 ? s.tj.job.rc : PD_E__COUNT;
}

static enum pd_err do_session_drop(struct pd_store *st, unsigned long long hash, bool *dup)
{
    struct single s;

    single_init(&s);
    set_session_drop(&s.tj, hash);
    if (run_one(st, &s.tj) != 0)
        return PD_E__COUNT;
    if (dup)
        *dup = s.tj.job.duplicate;
    return s.tj.job.rc;
}

static enum pd_err do_last_seen(struct pd_store *st, const char *user, int64_t now)
{
    struct single s;

    single_init(&s);
    set_last_seen(&s.tj, user, now);
    return run_one(st, &s.tj) == 0 ? s.tj.job.rc : PD_E__COUNT;
}

/* What pd_store_each_session reported for one hash. */
struct session_seen {
    char want[65];
    int total, found;
    struct pd_session_rec rec; /* rec.rooms_json points to rooms */
    char rooms[256];
    int stop_after;
};

static int collect_session(void *arg, const struct pd_session_rec *rec)
{
    struct session_seen *ss = arg;

    ss->total++;
    if (strcmp(rec->token_hash, ss->want) == 0) {
        ss->found++;
        ss->rec = *rec;
        snprintf(ss->rooms, sizeof(ss->rooms), "%s", rec->rooms_json ? rec->rooms_json : "(null)");
        ss->rec.rooms_json = ss->rooms;
    }
    return ss->stop_after && ss->total >= ss->stop_after ? 7 : 0;
}

static struct session_seen session_of(struct pd_store *st, unsigned long long hash, int *rc)
{
    struct session_seen ss;
    int r;

    memset(&ss, 0, sizeof(ss));
    hash_of(ss.want, hash);
    r = pd_store_each_session(st, collect_session, &ss);
    if (rc)
        *rc = r;
    return ss;
}

static int sessions_total(struct pd_store *st)
{
    return session_of(st, 0, NULL).total;
}

struct last_seen_seen {
    const char *want;
    int total, found;
    int64_t ts;
};

static int collect_last_seen(void *arg, const char *user, int64_t ts)
{
    struct last_seen_seen *ls = arg;

    ls->total++;
    if (strcmp(user, ls->want) == 0) {
        ls->found++;
        ls->ts = ts;
    }
    return 0;
}

/* user's last_seen, -1 when absent, -2 when reported more than once or the
 * walk failed. */
static int64_t last_seen_of(struct pd_store *st, const char *user)
{
    struct last_seen_seen ls = {.want = user};

    if (pd_store_each_last_seen(st, collect_last_seen, &ls) != 0 || ls.found > 1)
        return -2;
    return ls.found ? ls.ts : -1;
}

/* What migration 2 did to a version 1 database (after V1_SCHEMA V1_DATA,
 * whose inserts know only version 1's columns), then a little of
 * everything version 2 added. */
#define V2_SCHEMA                                                                             \
    "ALTER TABLE members ADD COLUMN last_delivered_seq INTEGER NOT NULL DEFAULT 0;"           \
    "ALTER TABLE rooms ADD COLUMN deleted_count INTEGER NOT NULL DEFAULT 0;"                  \
    "CREATE TABLE invites(room TEXT NOT NULL REFERENCES rooms(name), user TEXT NOT NULL,"     \
    "  invited_by TEXT NOT NULL, created_at INTEGER NOT NULL,"                                \
    "  PRIMARY KEY(room, user)) WITHOUT ROWID;"                                               \
    "CREATE TABLE receipts(room TEXT NOT NULL, user TEXT NOT NULL, kind INTEGER NOT NULL,"    \
    "  seq INTEGER NOT NULL, ts INTEGER NOT NULL);"                                           \
    "CREATE INDEX receipts_room_kind_seq ON receipts(room, kind, seq, user, ts);"

#define V2_DATA                                                                               \
    "UPDATE members SET last_delivered_seq = 3 WHERE user = 'bob';"                           \
    "UPDATE rooms SET deleted_count = 1;"                                                     \
    "INSERT INTO invites VALUES('old', 'carol', 'alice', 12);"                                \
    "INSERT INTO receipts VALUES('old', 'bob', 1, 3, 400), ('old', 'bob', 2, 1, 150);"

static void test_migrate_v2(struct tap *t, struct fx *f)
{
    char path[160], bad[160], err[256] = "";
    struct pd_store *st = NULL;
    struct members_seen ms;
    struct session_seen ss;
    int rc = -1;

    /* A failing migration 3 rolls back whole: still version 2. */
    snprintf(bad, sizeof(bad), "%s/v2-bad.db", f->dir);
    ok(t, sql_exec(bad, "PRAGMA journal_mode=WAL;" V1_SCHEMA V1_DATA V2_SCHEMA V2_DATA
                        "CREATE TABLE presence(x); PRAGMA user_version = 2;") == 0,
       "a version 2 database with a table in migration 3's way");
    ok(t, pd_store_open(&st, bad, err, sizeof(err)) != 0 && st == NULL &&
              strstr(err, "migration 3") != NULL,
       "open fails on the failing migration 3 (%s)", err);
    ok(t, sql_intf(bad, "PRAGMA user_version") == 2 &&
              sql_intf(bad, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sessions'") == 0 &&
              sql_intf(bad, "SELECT COUNT(*) FROM invites") == 1,
       "and rolls back whole: still version 2, no sessions table, data there");

    snprintf(path, sizeof(path), "%s/v2.db", f->dir);
    err[0] = '\0';
    ok(t, sql_exec(path, "PRAGMA journal_mode=WAL;" V1_SCHEMA V1_DATA V2_SCHEMA V2_DATA "PRAGMA user_version = 2;") ==
              0,
       "a version 2 database made by hand");
    st = NULL;
    ok(t, pd_store_open(&st, path, err, sizeof(err)) == 0 && st != NULL,
       "version 2 opens and migrates (%s)", st ? "" : err);
    if (st == NULL)
        return;
    ok(t, sql_intf(path, "PRAGMA user_version") == 3 && has_column(path, "sessions", "token_hash") &&
              has_column(path, "sessions", "rooms") && has_column(path, "presence", "last_seen"),
       "now version 3: sessions and presence tables");
    ok(t, sql_intf(path, "SELECT COUNT(*) FROM pragma_index_list('sessions') WHERE \"unique\"") ==
              2,
       "sessions: token_hash and id both unique");
    ms = member(st, "old", "bob");
    ok(t, ms.found && ms.last_read_seq == 1 && ms.last_delivered_seq == 3 &&
              room_row(st, "old").want_row.deleted_count == 1 && invite(st, "old", "carol").found,
       "version 2 data kept (pointers, deleted_count, invite)");
    {
        struct times_seen ts = times_of(st, "old", 2, PD_RECEIPT_DELIVERED, NULL);
        ok(t, ts.n == 1 && time_of(&ts, "bob") == 400, "receipt events kept");
    }
    ss = session_of(st, 1, &rc);
    ok(t, rc == 0 && ss.total == 0 && last_seen_of(st, "alice") == -1,
       "no sessions, no last_seen yet");
    ok(t, do_session_save(st, 1, "m1", "alice", 10, 0, "{\"old\":3}", 0) == PD_OK &&
              do_last_seen(st, "alice", 500) == PD_OK,
       "a session and a last_seen stored on the migrated database");
    pd_store_close(st);
    st = NULL;
    ok(t, pd_store_open(&st, path, err, sizeof(err)) == 0 &&
              sql_intf(path, "PRAGMA user_version") == 3,
       "reopens at version 3 with nothing to migrate");
    if (st == NULL)
        return;
    ss = session_of(st, 1, NULL);
    ok(t, ss.found == 1 && strcmp(ss.rooms, "{\"old\":3}") == 0 &&
              last_seen_of(st, "alice") == 500,
       "and both are still there");
    pd_store_close(st);
}

static void test_sessions(struct tap *t, struct pd_store *st)
{
    struct session_seen ss;
    bool dup = false;
    int rc = -1, n0;

    n0 = sessions_total(st);
    ok(t, do_session_save(st, 1, "sid-1", "alice", 1000, 0, "{\"general\":3,\"x\":0}", 0) ==
              PD_OK,
       "save a held session (expires_at 0)");
    ss = session_of(st, 1, &rc);
    ok(t, rc == 0 && ss.found == 1 && strcmp(ss.rec.id, "sid-1") == 0 &&
              strcmp(ss.rec.user, "alice") == 0 && ss.rec.created_at == 1000 &&
              ss.rec.expires_at == 0 && strcmp(ss.rooms, "{\"general\":3,\"x\":0}") == 0,
       "each_session gives it back: id, user, created_at, expires_at, rooms JSON");
    ok(t, do_session_save(st, 1, "sid-1", "alice", 1000, 121000, "{\"general\":5}", 0) == PD_OK,
       "save the same token again (detached, new rooms)");
    ss = session_of(st, 1, NULL);
    ok(t, ss.found == 1 && ss.total == n0 + 1 && ss.rec.expires_at == 121000 &&
              strcmp(ss.rooms, "{\"general\":5}") == 0 && ss.rec.created_at == 1000,
       "replaced in place: one row, new expires_at and rooms");

    /* Recovery: consume 1, successor 2 (the session keeps its id). */
    ok(t, do_session_save(st, 2, "sid-1", "alice", 1000, 0, "{\"general\":7}", 1) == PD_OK,
       "consume token 1 with successor 2 (same session id)");
    ok(t, session_of(st, 1, NULL).found == 0 && session_of(st, 2, NULL).found == 1 &&
              strcmp(session_of(st, 2, NULL).rooms, "{\"general\":7}") == 0 &&
              sessions_total(st) == n0 + 1,
       "successor stored, consumed one gone");
    ok(t, do_session_save(st, 3, "sid-3", "alice", 1000, 0, "{}", 1) == PD_E_SESSION_EXPIRED,
       "consuming token 1 again: session_expired");
    ok(t, session_of(st, 3, NULL).found == 0 && session_of(st, 2, NULL).found == 1,
       "and its successor is not stored; 2 untouched");
    ok(t, do_session_save(st, 4, "sid-4", "alice", 1000, 0, "{}", 999) == PD_E_SESSION_EXPIRED &&
              session_of(st, 4, NULL).found == 0,
       "consuming a hash never stored: session_expired, successor not stored");

    /* Another user's token: refused, and it stays valid for its owner. */
    ok(t, do_session_save(st, 5, "sid-5", "bob", 2000, 0, "{\"b\":1}", 0) == PD_OK,
       "bob's session 5");
    ok(t, do_session_save(st, 6, "sid-6", "alice", 2000, 0, "{}", 5) == PD_E_FORBIDDEN &&
              session_of(st, 5, NULL).found == 1 && session_of(st, 6, NULL).found == 0,
       "alice consuming bob's token: forbidden, bob's stays, nothing stored");
    ok(t, do_session_save(st, 6, "sid-5", "bob", 2000, 0, "{\"b\":2}", 5) == PD_OK &&
              session_of(st, 5, NULL).found == 0 && session_of(st, 6, NULL).found == 1,
       "bob himself consumes it");

    /* ids are unique: another session's id is a conflict, not a replace. */
    ok(t, do_session_save(st, 7, "sid-1", "alice", 3000, 0, "{}", 0) == PD_E_CONFLICT &&
              session_of(st, 7, NULL).found == 0 && session_of(st, 2, NULL).found == 1,
       "a new token with a live session's id: conflict, the live one untouched");

    ok(t, do_session_drop(st, 6, &dup) == PD_OK && !dup && session_of(st, 6, NULL).found == 0,
       "drop removes the session");
    ok(t, do_session_drop(st, 6, &dup) == PD_OK && dup, "drop of an absent session: ok (duplicate)");
    ok(t, do_session_save(st, 8, "sid-8", "alice", 1000, 0, "{}", 6) == PD_E_SESSION_EXPIRED,
       "a dropped token cannot be consumed");

    /* each_session: a non-zero callback return stops the walk and is returned. */
    {
        struct session_seen stop;
        memset(&stop, 0, sizeof(stop));
        stop.stop_after = 1;
        ok(t, pd_store_each_session(st, collect_session, &stop) == 7 && stop.total == 1,
           "each_session stops when the callback says so");
    }
}

static void test_sessions_bad_input(struct tap *t, struct pd_store *st)
{
    struct pd_store_job j;
    char long_id[33];
    int n0 = sessions_total(st), good = 1;

    /* A template that is valid, then one thing wrong at a time. */
#define BASE()                                                                                \
    do {                                                                                      \
        memset(&j, 0, sizeof(j));                                                             \
        j.op = PD_OP_SESSION_SAVE;                                                            \
        hash_of(j.session.token_hash, 0xbad);                                                 \
        snprintf(j.session.id, sizeof(j.session.id), "sid-bad");                              \
        snprintf(j.session.user, sizeof(j.session.user), "alice");                            \
        j.session.rooms_json = (char *)"{}";                                                  \
    } while (0)
#define REFUSED(what)                                                                         \
    do {                                                                                      \
        enum pd_err e_ = do_session_job(st, &j);                                              \
        good &= ok(t, e_ == PD_E_BAD_REQUEST, "refused: %s (%s)", what, pd_err_name(e_));     \
    } while (0)

    BASE();
    j.session.token_hash[63] = '\0';
    REFUSED("token_hash of 63 digits");
    BASE();
    j.session.token_hash[0] = 'A';
    REFUSED("token_hash in upper case");
    BASE();
    j.session.token_hash[10] = 'g';
    REFUSED("token_hash not hex");
    BASE();
    memset(j.session.token_hash, 'a', sizeof(j.session.token_hash)); /* no NUL in the field */
    REFUSED("token_hash not terminated");
    BASE();
    j.session.id[0] = '\0';
    REFUSED("empty id");
    BASE();
    memset(j.session.id, 'i', sizeof(j.session.id)); /* fills the field: no NUL */
    REFUSED("id not terminated");
    BASE();
    j.session.user[0] = '\0';
    REFUSED("empty user");
    BASE();
    snprintf(j.session.user, sizeof(j.session.user), "al ice");
    REFUSED("user not a valid id");
    BASE();
    j.session.rooms_json = NULL;
    REFUSED("rooms_json NULL");
    BASE();
    j.session.rooms_json = (char *)"[]";
    REFUSED("rooms_json an array");
    BASE();
    j.session.rooms_json = (char *)"3";
    REFUSED("rooms_json a number");
    BASE();
    j.session.rooms_json = (char *)"{\"a\":1";
    REFUSED("rooms_json cut short");
    BASE();
    j.session.rooms_json = (char *)"{} {}";
    REFUSED("rooms_json with something after the object");
    BASE();
    j.session.rooms_json = (char *)"";
    REFUSED("rooms_json empty");
    BASE();
    j.session.created_at = -1;
    REFUSED("negative created_at");
    BASE();
    j.session.expires_at = -5;
    REFUSED("negative expires_at");
    BASE();
    snprintf(j.consume_hash, sizeof(j.consume_hash), "xyz");
    REFUSED("consume_hash not a hash");
    BASE();
    hash_of(j.consume_hash, 0xbad);
    REFUSED("consume_hash equal to the successor's");
    BASE();
    j.op = PD_OP_SESSION_DROP;
    j.session.token_hash[5] = 'Z';
    REFUSED("drop with a bad token_hash");
    BASE();
    j.op = PD_OP_LAST_SEEN;
    snprintf(j.user, sizeof(j.user), "no/slash");
    j.now = 5;
    REFUSED("last_seen of an invalid user");
    BASE();
    j.op = PD_OP_LAST_SEEN;
    snprintf(j.user, sizeof(j.user), "alice");
    j.now = -1;
    REFUSED("last_seen at a negative time");
#undef REFUSED
    ok(t, good && sessions_total(st) == n0 && last_seen_of(st, "no/slash") == -1,
       "nothing stored by any of them");

    BASE();
    memset(long_id, 'i', 32);
    long_id[32] = '\0';
    memcpy(j.session.id, long_id, sizeof(long_id));
    j.session.rooms_json = (char *)"{\"general\":1,\"r.2\":0}";
    ok(t, do_session_job(st, &j) == PD_OK && session_of(st, 0xbad, NULL).found == 1 &&
              strcmp(session_of(st, 0xbad, NULL).rec.id, long_id) == 0,
       "while the same job made valid (a 32-character id) is stored");
    do_session_drop(st, 0xbad, NULL);
#undef BASE
}

static void test_last_seen(struct tap *t, struct pd_store *st)
{
    ok(t, last_seen_of(st, "carol") == -1, "never seen: no row");
    ok(t, do_last_seen(st, "carol", 1000) == PD_OK && last_seen_of(st, "carol") == 1000,
       "last_seen stored");
    ok(t, do_last_seen(st, "carol", 2000) == PD_OK && last_seen_of(st, "carol") == 2000,
       "upsert: replaced, one row");
    ok(t, do_last_seen(st, "dave@x.org", 1500) == PD_OK &&
              last_seen_of(st, "dave@x.org") == 1500 && last_seen_of(st, "carol") == 2000,
       "one row per user");
}

/* Jobs in one batch are applied in order: a consume followed by a second
 * consume of the same token lets only the first through. */
static void test_sessions_in_batch(struct tap *t, struct pd_store *st)
{
    enum { N = 4 };
    int order[N];
    struct run r = {.order = order, .cap = N};
    struct tjob j[N];
    bool in_order = true;

    do_session_save(st, 20, "sid-20", "erin", 1, 0, "{}", 0);
    for (int i = 0; i < N; i++)
        tjob_init(&j[i], &r, i);
    set_session_save(&j[0], 21, "sid-21", "erin", 1, 0, "{\"a\":1}", 20);
    set_session_save(&j[1], 22, "sid-22", "erin", 1, 0, "{\"a\":2}", 20);
    set_last_seen(&j[2], "erin", 4242);
    set_session_drop(&j[3], 21);
    for (int i = 0; i < N; i++)
        pd_store_submit(st, &j[i].job);
    ok(t, wait_done(st, &r, N) == 0, "four session jobs completed");
    for (int i = 0; i < N; i++)
        in_order &= order[i] == i;
    ok(t, in_order, "in submission order");
    ok(t, j[0].job.rc == PD_OK && j[1].job.rc == PD_E_SESSION_EXPIRED && j[2].job.rc == PD_OK &&
              j[3].job.rc == PD_OK && !j[3].job.duplicate,
       "first consume ok, the second session_expired, last_seen ok, drop of 21 ok");
    ok(t, session_of(st, 20, NULL).found == 0 && session_of(st, 21, NULL).found == 0 &&
              session_of(st, 22, NULL).found == 0 && last_seen_of(st, "erin") == 4242,
       "20 consumed, 21 dropped, 22 never stored; last_seen written");
}

/* A batch that fails is retried job by job: a consume in it must then
 * succeed exactly once (its first attempt rolled back), and nothing is
 * reported before the commit. */
static void test_sessions_failing_batch(struct tap *t, struct pd_store *st, const char *path)
{
    enum { N = 5 };
    int order[N];
    struct run r = {.order = order, .cap = N};
    struct tjob j[N];
    struct pd_store_stats before, after;
    struct pollfd p = {.fd = pd_store_event_fd(st), .events = POLLIN};
    sqlite3 *lock = NULL;
    int early;

    do_join(st, "fragile3", "frank", true);
    do_session_save(st, 30, "sid-30", "frank", 1, 0, "{}", 0);
    ok(t, sql_exec(path, "CREATE TRIGGER boom3 BEFORE INSERT ON messages WHEN NEW.text = 'boom' "
                         "BEGIN SELECT RAISE(ABORT, 'boom'); END") == 0,
       "trigger installed for the session batch");
    for (int i = 0; i < N; i++)
        tjob_init(&j[i], &r, i);
    set_last_seen(&j[0], "frank", 1); /* alone in the first batch */
    set_session_save(&j[1], 31, "sid-30", "frank", 1, 0, "{\"fragile3\":0}", 30);
    set_last_seen(&j[2], "frank", 7777);
    set_send(&j[3], "fragile3", "frank", "boom", NULL); /* fails the batch */
    set_session_drop(&j[4], 0x5eed);
    pd_store_stats(st, &before);
    sqlite3_open(path, &lock);
    sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (int i = 0; i < N; i++) {
        pd_store_submit(st, &j[i].job);
        if (i == 0 || i == N - 1)
            usleep(50 * 1000);
    }
    early = poll(&p, 1, 100);
    if (early > 0)
        pd_store_run_completions(st);
    ok(t, r.ndone == 0 && session_of(st, 31, NULL).found == 0,
       "while the database is locked: no completion, no successor visible");
    sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(lock);
    wait_done(st, &r, N);
    pd_store_stats(st, &after);
    ok(t, after.batches - before.batches == 2 && after.failed_batches - before.failed_batches == 1,
       "two batches, the second failed and was retried job by job");
    ok(t, j[1].job.rc == PD_OK && j[2].job.rc == PD_OK && j[3].job.rc == PD_E_INTERNAL &&
              j[4].job.rc == PD_OK && j[4].job.duplicate,
       "the consume succeeds on retry (not session_expired), last_seen ok, the bad send fails");
    ok(t, session_of(st, 30, NULL).found == 0 && session_of(st, 31, NULL).found == 1 &&
              last_seen_of(st, "frank") == 7777,
       "consumed once, successor stored, last_seen written once");
    sql_exec(path, "DROP TRIGGER boom3");
    for (int i = 0; i < N; i++)
        pd_message_clear(&j[i].job.msg);
}

/* Left for test_reopen to find after a restart. */
static void test_sessions_for_reopen(struct tap *t, struct pd_store *st)
{
    ok(t, do_session_save(st, 0xabcdef, "keep-me", "alice", 5000, 9000,
                          "{\"general\":12,\"hist\":10}", 0) == PD_OK &&
              do_last_seen(st, "alice", 123456789) == PD_OK,
       "a detached session and a last_seen to survive the restart");
}

/* Everything stored by the main tests, after a close and reopen. */
static void test_reopen(struct tap *t, struct fx *f, int64_t *last_id)
{
    struct pd_store *st = NULL;
    struct pd_message *m = NULL, next;
    size_t n = 0;
    bool more;
    char err[256] = "";

    ok(t, pd_store_open(&st, f->db, err, sizeof(err)) == 0, "reopen after close (%s)", err);
    if (st == NULL)
        return;
    ok(t, room_row(st, "busy").want_row.last_seq == 1200 && room_row(st, "general").found,
       "rooms and last_seq survived");
    ok(t, member(st, "general", "alice").owner && member(st, "general", "bob").found,
       "members survived");
    ok(t, pd_store_history(st, "hist", 0, 2, &m, &n, &more) == PD_OK && n == 2 && more &&
              strcmp(m[1].text, "h10") == 0,
       "messages survived");
    pd_messages_free(m, n);
    ok(t, do_send(st, "hist", "alice", "h11", NULL, &next, NULL) == PD_OK && next.seq == 11 &&
              next.id == *last_id + 1,
       "seq and id continue after reopen (seq 11, id MAX(id) + 1)");
    pd_message_clear(&next);
    {
        bool dup = false;
        ok(t, do_send(st, "general", "alice", "again", "c-1", &next, &dup) == PD_OK && dup &&
                  next.seq == 3,
           "client_msg_id dedup works across a restart");
        pd_message_clear(&next);
    }
    ok(t, room_row(st, "del").want_row.deleted_count == 1 &&
              room_row(st, "fragile2").want_row.deleted_count == 1 &&
              room_row(st, "general").want_row.deleted_count == 0,
       "deleted_count survived");
    ok(t, invite(st, "secret", "bob").found &&
              strcmp(invite(st, "secret", "bob").row.invited_by, "carol") == 0,
       "invites survived");
    ok(t, member(st, "rcpt", "bob").last_read_seq == 4 &&
              member(st, "rcpt", "bob").last_delivered_seq == 4,
       "receipt pointers survived");
    {
        struct times_seen ts = times_of(st, "rcpt", 3, PD_RECEIPT_DELIVERED, NULL);
        ok(t, ts.n == 3 && time_of(&ts, "bob") == 1800000000003LL,
           "receipt events survived (receipt_times after reopen)");
    }
    {
        struct session_seen ss = session_of(st, 0xabcdef, NULL);
        ok(t, ss.found == 1 && strcmp(ss.rec.id, "keep-me") == 0 &&
                  strcmp(ss.rec.user, "alice") == 0 && ss.rec.created_at == 5000 &&
                  ss.rec.expires_at == 9000 &&
                  strcmp(ss.rooms, "{\"general\":12,\"hist\":10}") == 0,
           "sessions survived, rooms JSON and all");
        ok(t, session_of(st, 31, NULL).found == 1 && session_of(st, 30, NULL).found == 0,
           "the recovery's swap survived: successor there, consumed token still gone");
        ok(t, do_session_save(st, 0xabcdf0, "keep-me", "alice", 5000, 0, "{}", 0xabcdef) ==
                      PD_OK &&
                  do_session_save(st, 0xabcdf1, "keep-me-2", "alice", 5000, 0, "{}", 0xabcdef) ==
                      PD_E_SESSION_EXPIRED,
           "a stored session is recovered once after the restart, not twice");
    }
    ok(t, last_seen_of(st, "alice") == 123456789 && last_seen_of(st, "frank") == 7777,
       "last_seen survived");
    pd_store_close(st);
}

/* Child side of the kill -9 test: each completion writes the message id to
 * the pipe, as an ack would go out to a client; then waits to be killed. */
static int pipe_fd = -1;

static void ack_to_pipe(struct pd_store_job *job)
{
    int64_t id = job->rc == PD_OK ? job->msg.id : -1;

    if (write(pipe_fd, &id, sizeof(id)) != sizeof(id))
        _exit(3);
}

static void crash_child(const char *path)
{
    struct pd_store *st = NULL;
    struct pd_store_job jobs[6];
    char err[256];

    if (pd_store_open(&st, path, err, sizeof(err)) != 0)
        _exit(2);
    memset(jobs, 0, sizeof(jobs));
    jobs[0].op = PD_OP_JOIN;
    strcpy(jobs[0].room, "crash");
    strcpy(jobs[0].user, "alice");
    jobs[0].owner = true;
    jobs[0].done = ack_to_pipe;
    for (int i = 1; i < 6; i++) {
        jobs[i].op = PD_OP_SEND;
        strcpy(jobs[i].msg.room, "crash");
        strcpy(jobs[i].msg.user, "alice");
        jobs[i].msg.text = strdup("acked, so durable");
        jobs[i].msg.ts = i;
        jobs[i].done = ack_to_pipe;
    }
    for (int i = 0; i < 6; i++)
        pd_store_submit(st, &jobs[i]);
    for (;;) {
        struct pollfd p = {.fd = pd_store_event_fd(st), .events = POLLIN};
        poll(&p, 1, -1);
        pd_store_run_completions(st);
    }
}

/* PROTOCOL.md 4: an acknowledged message survives kill -9 of the server.
 * Runs first, while this process has no threads, so fork is safe. */
static void test_kill9(struct tap *t, struct fx *f)
{
    char path[160];
    int fds[2], acked = 0;
    int64_t ids[6], count = -1;
    pid_t pid;

    snprintf(path, sizeof(path), "%s/crash.db", f->dir);
    if (pipe(fds) != 0 || (pid = fork()) < 0) {
        ok(t, 0, "fork for the kill -9 test");
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        pipe_fd = fds[1];
        crash_child(path);
    }
    close(fds[1]);
    while (acked < 6 && read(fds[0], &ids[acked], sizeof(ids[0])) == sizeof(ids[0]))
        acked++;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    ok(t, acked == 6 && ids[5] == 5, "child acked a join and 5 messages, then was killed");
    sql_int(path, "SELECT COUNT(*) FROM messages WHERE room = 'crash'", &count);
    ok(t, count == 5, "all 5 acknowledged messages are in the database after kill -9 (%lld)",
       (long long)count);
}

struct creator {
    struct pd_store *st;
    int k, failures;
};

static void *create_users(void *arg)
{
    struct creator *c = arg;
    char id[32];

    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof(id), "t%d-%d", c->k, i);
        c->failures += pd_store_user_create(c->st, id, id, NULL, i) != PD_OK;
    }
    return NULL;
}

/* Accounts from several threads while the writer commits messages: the
 * accounts mutex and the busy timeout keep every call succeeding. */
static void test_concurrent_accounts(struct tap *t, struct pd_store *st)
{
    enum { THREADS = 4, SENDS = 200 };
    pthread_t th[THREADS];
    struct creator c[THREADS];
    int *order = calloc(SENDS, sizeof(int));
    struct run r = {.order = order, .cap = SENDS};
    struct tjob *j = calloc(SENDS, sizeof(*j));
    int failures = 0, good = 1;

    for (int k = 0; k < THREADS; k++) {
        c[k] = (struct creator){st, k, 0};
        pthread_create(&th[k], NULL, create_users, &c[k]);
    }
    for (int i = 0; i < SENDS; i++) {
        tjob_init(&j[i], &r, i);
        set_send(&j[i], "busy", "alice", "meanwhile", NULL);
        pd_store_submit(st, &j[i].job);
    }
    for (int k = 0; k < THREADS; k++) {
        pthread_join(th[k], NULL);
        failures += c[k].failures;
    }
    wait_done(st, &r, SENDS);
    for (int i = 0; i < SENDS; i++)
        good &= j[i].job.rc == PD_OK;
    ok(t, failures == 0 && good, "%d accounts from %d threads alongside %d sends: all stored",
       THREADS * 25, THREADS, SENDS);
    for (int i = 0; i < SENDS; i++)
        pd_message_clear(&j[i].job.msg);
    free(j);
    free(order);
}

int main(void)
{
    struct tap t = {0, 0};
    struct fx f;
    struct pd_store *st = NULL;
    char err[256], cmd[128];
    int64_t last_id = 0;

    snprintf(f.dir, sizeof(f.dir), "/tmp/parley-test-store-XXXXXX");
    if (mkdtemp(f.dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(f.db, sizeof(f.db), "%s/parley.db", f.dir);

    test_kill9(&t, &f);
    test_open(&t, &f);
    test_migrate_v1(&t, &f);
    test_migrate_v2(&t, &f);
    if (pd_store_open(&st, f.db, err, sizeof(err)) != 0) {
        ok(&t, 0, "open for the main tests: %s", err);
    } else {
        test_membership(&t, st);
        test_send(&t, st);
        test_dup_in_batch(&t, st);
        test_history(&t, st);
        test_order_and_drain(&t, st);
        test_many(&t, st);
        test_failing_job(&t, st, f.db);
        test_invites(&t, st);
        test_receipts(&t, st, f.db);
        test_delete(&t, st, f.db);
        test_mixed_batch(&t, st, f.db);
        test_failing_batch_new_ops(&t, st, f.db);
        test_sessions(&t, st);
        test_sessions_bad_input(&t, st);
        test_last_seen(&t, st);
        test_sessions_in_batch(&t, st);
        test_sessions_failing_batch(&t, st, f.db);
        test_sessions_for_reopen(&t, st);
        test_accounts(&t, st);
        test_concurrent_accounts(&t, st);
        pd_store_close(st);
        sql_int(f.db, "SELECT MAX(id) FROM messages", &last_id);
        test_reopen(&t, &f, &last_id);
    }

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f.dir);
    return tap_done(&t);
}
