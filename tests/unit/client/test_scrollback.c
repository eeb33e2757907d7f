/* client/scrollback.c: seq order whatever the arrival order, dedupe,
 * notices anchored where they came, eviction, delete, cumulative marks,
 * the body and prefix strings byte for byte, and the layout of the window
 * row by row (wrapping, hanging indent, scrolling, tiny windows, wide
 * characters, a conversation of 100k entries). TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scrollback.h"
#include "width.h"

#include "tap.h"

/* 2023-11-14 22:13:20 UTC; a message of seq s is s minutes later */
#define T0 1700000000000LL

static int add_full(pc_scroll *sb, int64_t id, int64_t seq, const char *user, const char *text,
                    int64_t reply_to)
{
    struct pc_msg m = {id, seq, T0 + seq * 60000, reply_to, user, user, text, 0};

    return pc_scroll_add(sb, &m);
}

static int add(pc_scroll *sb, int64_t id, int64_t seq, const char *user, const char *text)
{
    return add_full(sb, id, seq, user, text, 0);
}

/* The entries in display order, "3 [bob joined] 4": laid out one row each
 * in a wide window, first rows only. */
static const char *order(pc_scroll *sb)
{
    static char buf[1 << 16];
    int rows = 4 * (int)pc_scroll_count(sb) + 16, scroll = 0; /* short texts */
    struct pc_row *out = calloc((size_t)rows + 1, sizeof *out);
    int64_t newest;
    size_t n = 0;

    buf[0] = '\0';
    if (!out || pc_scroll_layout(sb, 400, rows, &scroll, out, &newest) < 0) {
        free(out);
        return "(error)";
    }
    for (int i = 0; i < rows && n < sizeof buf - 100; i++) {
        const struct pc_entry *e = out[i].e;

        if (!e || out[i].line)
            continue;
        if (e->kind == PC_ENTRY_MSG)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%lld", n ? " " : "",
                                  (long long)e->seq);
        else
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s[%s]", n ? " " : "", e->text);
    }
    free(out);
    return buf;
}

static int body_is(const pc_scroll *sb, const struct pc_entry *e, const char *want, size_t ql,
                   size_t ml)
{
    size_t q = 99, m = 99;
    char *body = e ? pc_scroll_body(sb, e, &q, &m) : NULL;
    int good = body && !strcmp(body, want) && q == ql && m == ml;

    if (!good)
        printf("# body \"%s\" quote %zu mark %zu, want \"%s\" %zu %zu\n", body ? body : "(null)",
               q, m, want, ql, ml);
    free(body);
    return good;
}

static int prefix_is(const struct pc_entry *e, int cols, const char *want)
{
    char buf[256];
    int w = pc_scroll_prefix(e, cols, buf, sizeof buf);
    int good = !strcmp(buf, want) && w == pc_str_width(want, strlen(want));

    if (!good)
        printf("# prefix \"%s\" (%d), want \"%s\"\n", buf, w, want);
    return good;
}

/* One row as "line indent text", or "-" for an unused row. */
static const char *row_str(const pc_scroll *sb, const struct pc_row *r)
{
    static char buf[512];
    size_t q, m;
    char *body;

    if (!r->e)
        return "-";
    body = pc_scroll_body(sb, r->e, &q, &m);
    snprintf(buf, sizeof buf, "%d %d %.*s", r->line, r->indent, (int)r->len,
             body ? body + r->off : "?");
    free(body);
    return buf;
}

static int rows_are(const pc_scroll *sb, const struct pc_row *out, int rows,
                    const char *const *want)
{
    int good = 1;

    for (int i = 0; i < rows; i++) {
        const char *got = row_str(sb, &out[i]);

        if (strcmp(got, want[i])) {
            printf("# row %d \"%s\", want \"%s\"\n", i, got, want[i]);
            good = 0;
        }
    }
    return good;
}

static void test_order(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 1000);
    static const int64_t seqs[] = {5, 3, 9, 1, 7, 2, 8, 4, 6};
    int fine = 1;

    ok(t, sb && pc_scroll_count(sb) == 0 && !strcmp(order(sb), ""), "a new scrollback is empty");
    ok(t, pc_scroll_oldest_seq(sb) == 0 && pc_scroll_newest_seq(sb) == 0,
       "oldest and newest seq are 0 without messages");
    ok(t, !pc_scroll_find(sb, 1) && !pc_scroll_last_own(sb) && !pc_scroll_last_other(sb),
       "nothing to find in an empty scrollback");
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++)
        fine &= add(sb, seqs[i] * 10, seqs[i], "bob", "hi") == 1;
    ok(t, fine, "each new seq is added (1)");
    ok(t, !strcmp(order(sb), "1 2 3 4 5 6 7 8 9"), "out of order arrivals end in seq order: %s",
       order(sb));
    ok(t, pc_scroll_oldest_seq(sb) == 1 && pc_scroll_newest_seq(sb) == 9 &&
              pc_scroll_count(sb) == 9,
       "oldest 1, newest 9, 9 entries");
    fine = 1;
    for (int64_t s = 1; s <= 9; s++) {
        const struct pc_entry *e = pc_scroll_find(sb, s * 10);

        fine &= e && e->seq == s && e->kind == PC_ENTRY_MSG && e->ts == T0 + s * 60000;
    }
    ok(t, fine, "every message is found by its id");
    ok(t, !pc_scroll_find(sb, 11) && !pc_scroll_find(sb, 0), "an unknown id is not found");
    pc_scroll_free(sb);
}

/* History pages, replays and live messages interleaved, each seq arriving
 * several times: the order is seq order and nothing is duplicated. */
static void test_order_many(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100000);
    enum { N = 3000 };
    int added = 0, again = 0, fine = 1;
    char want[1 << 15];
    size_t n = 0;

    srand(7);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < N; i++) {
            /* a shuffled walk: every seq comes once per round */
            int64_t s = (int64_t)((i * 1237L + round * 17) % N) + 1;
            int r = add(sb, 1000 + s, s, rand() % 2 ? "bob" : "me", "x");

            added += r == 1;
            again += r == 0;
        }
    ok(t, added == N && again == 2 * N, "each seq added once, updated twice (%d, %d)", added,
       again);
    ok(t, pc_scroll_count(sb) == N, "%d entries", N);
    for (int64_t s = 1; s <= N && n < sizeof want - 16; s++)
        n += (size_t)snprintf(want + n, sizeof want - n, "%s%lld", s > 1 ? " " : "", (long long)s);
    ok(t, !strcmp(order(sb), want), "in seq order");
    for (int64_t s = 1; s <= N; s++) {
        const struct pc_entry *e = pc_scroll_find(sb, 1000 + s);

        fine &= e && e->seq == s;
    }
    ok(t, fine, "all found by id");
    pc_scroll_free(sb);
}

static void test_dedupe(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);
    const struct pc_entry *e;
    struct pc_msg del = {30, 3, T0, 0, "me", "me", "gone", 1};
    struct pc_msg back = {30, 3, T0, 0, "me", "me", "back again", 0};

    add(sb, 10, 1, "bob", "one");
    add(sb, 30, 3, "me", "three");
    e = pc_scroll_find(sb, 30);
    ok(t, add(sb, 30, 3, "me", "three, edited") == 0, "a seq already present returns 0");
    ok(t, pc_scroll_count(sb) == 2 && pc_scroll_find(sb, 30) == e,
       "and updates that entry in place");
    ok(t, !strcmp(e->text, "three, edited"), "with the new text");
    pc_scroll_mark(sb, 30, PC_MARK_READ);
    add(sb, 30, 3, "me", "three");
    ok(t, e->mark == PC_MARK_READ, "an update keeps the mark");
    ok(t, pc_scroll_add(sb, &del) == 0 && e->deleted && !strcmp(e->text, ""),
       "an update marked deleted deletes it (text \"\")");
    ok(t, pc_scroll_add(sb, &back) == 0 && e->deleted && !strcmp(e->text, ""),
       "a stale copy cannot undelete it");
    ok(t, add(sb, 11, 1, "bob", "one") == 0 && pc_scroll_find(sb, 10) &&
              !strcmp(order(sb), "1 3"),
       "dedupe is by seq");
    pc_scroll_free(sb);
}

static void test_strings_sanitized(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);
    struct pc_msg m = {1, 1, T0, 0, "b\x1b", "Bob\n\x1b[31m", "a\tb\nc\x1b[2J\xff", 0};
    struct pc_msg anon = {2, 2, T0, 0, "carol", "", "hi", 0};
    const struct pc_entry *e;

    pc_scroll_add(sb, &m);
    e = pc_scroll_find(sb, 1);
    ok(t, e && !strcmp(e->name, "Bob \xef\xbf\xbd[31m"), "name sanitized, newline a space: %s",
       e ? e->name : "");
    ok(t, e && !strcmp(e->text, "a b\nc\xef\xbf\xbd[2J\xef\xbf\xbd"),
       "text sanitized, newlines kept");
    ok(t, e && !strcmp(e->user, "b\xef\xbf\xbd"), "user sanitized");
    pc_scroll_add(sb, &anon);
    e = pc_scroll_find(sb, 2);
    ok(t, e && !strcmp(e->name, "carol"), "an empty name shows the user id");
    pc_scroll_notice(sb, T0, "evil\x1b]0;title\x07");
    ok(t, !strcmp(order(sb), "1 2 [evil\xef\xbf\xbd]0;title\xef\xbf\xbd]"), "notice sanitized");
    pc_scroll_free(sb);
}

static void test_notices(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);

    ok(t, pc_scroll_notice(sb, T0, "N0") == 0, "a notice is added (0)");
    add(sb, 50, 5, "bob", "x");
    add(sb, 10, 1, "bob", "x");
    ok(t, !strcmp(order(sb), "[N0] 1 5"), "a notice from before any message stays first: %s",
       order(sb));
    add(sb, 20, 2, "bob", "x");
    pc_scroll_notice(sb, T0, "A");
    pc_scroll_notice(sb, T0, "B");
    ok(t, !strcmp(order(sb), "[N0] 1 2 5 [A] [B]"), "notices append after everything: %s",
       order(sb));
    add(sb, 70, 7, "bob", "x");
    add(sb, 60, 6, "bob", "x");
    add(sb, 30, 3, "bob", "x");
    ok(t, !strcmp(order(sb), "[N0] 1 2 3 5 [A] [B] 6 7"),
       "older messages go before the notices, newer after: %s", order(sb));
    add(sb, 50, 5, "bob", "y");
    ok(t, !strcmp(order(sb), "[N0] 1 2 3 5 [A] [B] 6 7"), "an update does not move anything");
    pc_scroll_notice(sb, T0, "C");
    add(sb, 40, 4, "bob", "x");
    add(sb, 80, 8, "bob", "x");
    ok(t, !strcmp(order(sb), "[N0] 1 2 3 4 5 [A] [B] 6 7 [C] 8"), "%s", order(sb));
    ok(t, pc_scroll_count(sb) == 12, "notices count as entries");
    ok(t, pc_scroll_oldest_seq(sb) == 1 && pc_scroll_newest_seq(sb) == 8,
       "notices are not messages for oldest and newest seq");
    pc_scroll_free(sb);
}

static void test_notice_fields(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);
    struct pc_row out[2];
    int scroll = 0;
    int64_t newest;

    add(sb, 10, 1, "me", "x");
    pc_scroll_notice(sb, T0 + 5, "bob joined lobby");
    pc_scroll_layout(sb, 80, 1, &scroll, out, &newest);
    ok(t, out[0].e && out[0].e->kind == PC_ENTRY_NOTICE && out[0].e->id == 0 &&
              out[0].e->seq == 0 && out[0].e->ts == T0 + 5 && !out[0].e->own,
       "a notice has kind, ts and text only");
    ok(t, newest == 0, "a notice is not a message for newest_visible");
    ok(t, !pc_scroll_find(sb, 0), "and is not found by id");
    pc_scroll_free(sb);
}

static void test_evict(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 5);
    int fine = 1;

    pc_scroll_notice(sb, T0, "hello");
    for (int64_t s = 1; s <= 4; s++)
        add(sb, s * 10, s, "bob", "x");
    ok(t, pc_scroll_count(sb) == 5 && !pc_scroll_has_older(sb), "5 entries fit in 5");
    add(sb, 50, 5, "bob", "x");
    ok(t, !strcmp(order(sb), "1 2 3 4 5"), "the oldest entry, a notice, goes first");
    ok(t, !pc_scroll_has_older(sb), "evicting a notice loses no message");
    add(sb, 70, 7, "bob", "x");
    add(sb, 60, 6, "bob", "x");
    ok(t, !strcmp(order(sb), "3 4 5 6 7") && pc_scroll_count(sb) == 5, "then the oldest messages");
    ok(t, pc_scroll_has_older(sb), "which sets has_older");
    ok(t, !pc_scroll_find(sb, 10) && !pc_scroll_find(sb, 20) && pc_scroll_find(sb, 30),
       "evicted messages are not found");
    ok(t, pc_scroll_oldest_seq(sb) == 3, "oldest seq 3");
    pc_scroll_set_has_older(sb, 0);
    ok(t, !pc_scroll_has_older(sb), "has_older is the caller's to reset");
    pc_scroll_set_has_older(sb, 1);
    ok(t, pc_scroll_has_older(sb), "and to set");
    pc_scroll_free(sb);

    /* ids must stay findable while thousands of others pass through */
    sb = pc_scroll_new("me", 100);
    for (int64_t s = 1; s <= 20000; s++)
        add(sb, s * 7919 % 100003, s, "bob", "x");
    for (int64_t s = 1; s <= 20000; s++) {
        const struct pc_entry *e = pc_scroll_find(sb, s * 7919 % 100003);

        fine &= s > 19900 ? e && e->seq == s : !e;
    }
    ok(t, fine && pc_scroll_count(sb) == 100, "after 20000 messages through 100 slots, the last "
                                              "100 are found by id and no other");
    pc_scroll_free(sb);
}

static void test_delete(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);
    const struct pc_entry *e;

    add(sb, 10, 1, "bob", "secret");
    add(sb, 20, 2, "me", "mine");
    e = pc_scroll_find(sb, 10);
    ok(t, pc_scroll_delete(sb, 10) == 1 && e->deleted && !strcmp(e->text, ""),
       "delete by id: deleted, text \"\"");
    ok(t, pc_scroll_delete(sb, 99) == 0, "an absent id: 0");
    ok(t, pc_scroll_count(sb) == 2 && !strcmp(order(sb), "1 2"), "the entry stays in place");
    ok(t, body_is(sb, e, "(deleted)", 0, 0), "its body is (deleted)");
    pc_scroll_free(sb);
}

static void test_marks(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);
    const struct pc_entry *m1, *b2, *m3, *m4, *m6;

    add(sb, 10, 1, "me", "a");
    add(sb, 20, 2, "bob", "b");
    add(sb, 30, 3, "me", "c");
    add(sb, 40, 4, "me", "d");
    m1 = pc_scroll_find(sb, 10);
    b2 = pc_scroll_find(sb, 20);
    m3 = pc_scroll_find(sb, 30);
    m4 = pc_scroll_find(sb, 40);
    ok(t, m1->own && !b2->own && m1->mark == PC_MARK_NONE, "own messages start without a mark");
    ok(t, pc_scroll_mark(sb, 30, PC_MARK_DELIVERED) == 2, "delivered up to seq 3: 2 changed");
    ok(t, m1->mark == PC_MARK_DELIVERED && m3->mark == PC_MARK_DELIVERED &&
              m4->mark == PC_MARK_NONE && b2->mark == PC_MARK_NONE,
       "own messages up to it only, not the newer one, not someone else's");
    ok(t, pc_scroll_mark(sb, 10, PC_MARK_READ) == 1 && m1->mark == PC_MARK_READ,
       "read of the first");
    ok(t, pc_scroll_mark(sb, 30, PC_MARK_DELIVERED) == 0 && m1->mark == PC_MARK_READ,
       "a delivered after read never downgrades");
    ok(t, pc_scroll_mark(sb, 20, PC_MARK_READ) == 0 && m3->mark == PC_MARK_DELIVERED &&
              b2->mark == PC_MARK_NONE,
       "the named message's seq bounds a receipt, whoever wrote it");
    ok(t, pc_scroll_mark(sb, 40, 0) == 0 && pc_scroll_mark(sb, 40, 3) == 0 &&
              m4->mark == PC_MARK_NONE,
       "no such mark: nothing changes");
    /* id absent: by id order; ids need not follow seq for this rule */
    add(sb, 35, 6, "me", "e");
    add(sb, 90, 7, "me", "f");
    m6 = pc_scroll_find(sb, 35);
    ok(t, pc_scroll_mark(sb, 50, PC_MARK_DELIVERED) == 2 && m4->mark == PC_MARK_DELIVERED &&
              m6->mark == PC_MARK_DELIVERED && pc_scroll_find(sb, 90)->mark == PC_MARK_NONE,
       "an absent id marks own messages with a smaller id");
    ok(t, pc_scroll_mark(sb, 41, PC_MARK_READ) == 3 && m3->mark == PC_MARK_READ &&
              m4->mark == PC_MARK_READ && m6->mark == PC_MARK_READ,
       "also read (ids 30, 35, 40)");
    pc_scroll_free(sb);

    sb = pc_scroll_new(NULL, 100);
    add(sb, 10, 1, "me", "a");
    ok(t, !pc_scroll_find(sb, 10)->own && pc_scroll_mark(sb, 10, PC_MARK_READ) == 0,
       "without self nothing is own");
    pc_scroll_free(sb);
}

static void test_last(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);

    add(sb, 10, 1, "me", "a");
    add(sb, 20, 2, "bob", "b");
    add(sb, 30, 3, "me", "c");
    add(sb, 40, 4, "carol", "d");
    pc_scroll_notice(sb, T0, "n");
    ok(t, pc_scroll_last_own(sb) == pc_scroll_find(sb, 30), "last own: seq 3");
    ok(t, pc_scroll_last_other(sb) == pc_scroll_find(sb, 40), "last other: seq 4");
    pc_scroll_delete(sb, 30);
    pc_scroll_delete(sb, 40);
    ok(t, pc_scroll_last_own(sb) == pc_scroll_find(sb, 10), "a deleted own message is skipped");
    ok(t, pc_scroll_last_other(sb) == pc_scroll_find(sb, 20), "so is a deleted other one");
    pc_scroll_delete(sb, 10);
    pc_scroll_delete(sb, 20);
    ok(t, !pc_scroll_last_own(sb) && !pc_scroll_last_other(sb), "all deleted: NULL");
    pc_scroll_free(sb);
}

static void test_body(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);
    const struct pc_entry *e;
    const char *q;

    add(sb, 10, 1, "bob", "short");
    add(sb, 20, 2, "carol", "abcdefghij abcdefghij abcdefghij abcdefghij");
    add(sb, 30, 3, "dave", "exactly thirty columns of text");
    add(sb, 40, 4, "erin", "two\nlines");
    add(sb, 50, 5, "fay", "日本語のテキストは二十桁より長いです");
    add_full(sb, 101, 101, "me", "hello", 0);
    add_full(sb, 102, 102, "alice", "re", 10);
    add_full(sb, 103, 103, "alice", "re", 20);
    add_full(sb, 104, 104, "alice", "re", 30);
    add_full(sb, 105, 105, "alice", "re", 40);
    add_full(sb, 106, 106, "alice", "re", 50);
    add_full(sb, 107, 107, "me", "re", 77);
    add_full(sb, 108, 108, "alice", "re", 109);
    add_full(sb, 109, 109, "bob", "later", 0);

    e = pc_scroll_find(sb, 101);
    ok(t, body_is(sb, e, "hello", 0, 0), "own, no mark yet: the text");
    pc_scroll_mark(sb, 101, PC_MARK_DELIVERED);
    ok(t, body_is(sb, e, "hello \xe2\x9c\x93", 0, 4), "delivered: \" \xe2\x9c\x93\" (4 bytes)");
    pc_scroll_mark(sb, 101, PC_MARK_READ);
    ok(t, body_is(sb, e, "hello \xe2\x9c\x93\xe2\x9c\x93", 0, 7), "read: \" ✓✓\" (7 bytes)");

    q = "↪ bob: short ";
    ok(t, body_is(sb, pc_scroll_find(sb, 102), "↪ bob: short re", strlen(q), 0),
       "a reply quotes name and text");
    q = "↪ carol: abcdefghij abcdefghij abcdefgh… ";
    ok(t, body_is(sb, pc_scroll_find(sb, 103), "↪ carol: abcdefghij abcdefghij abcdefgh… re",
                  strlen(q), 0),
       "30 columns of a longer text, then …");
    q = "↪ dave: exactly thirty columns of text ";
    ok(t, body_is(sb, pc_scroll_find(sb, 104), "↪ dave: exactly thirty columns of text re",
                  strlen(q), 0),
       "exactly 30 columns: no …");
    q = "↪ erin: two lines ";
    ok(t, body_is(sb, pc_scroll_find(sb, 105), "↪ erin: two lines re", strlen(q), 0),
       "the quote is one line");
    q = "↪ fay: 日本語のテキストは二十桁より長… ";
    ok(t, body_is(sb, pc_scroll_find(sb, 106), "↪ fay: 日本語のテキストは二十桁より長… re", strlen(q), 0),
       "wide characters: 15 of them are 30 columns");
    ok(t, body_is(sb, pc_scroll_find(sb, 107), "↪ #77 re", strlen("↪ #77 "), 0),
       "the quoted message absent: ↪ #ID");
    ok(t, body_is(sb, pc_scroll_find(sb, 108), "↪ bob: later re", strlen("↪ bob: later "), 0),
       "a reply to a newer message quotes it too");
    pc_scroll_delete(sb, 10);
    ok(t, body_is(sb, pc_scroll_find(sb, 102), "↪ bob: (deleted) re",
                  strlen("↪ bob: (deleted) "), 0),
       "the quoted message deleted");
    pc_scroll_mark(sb, 107, PC_MARK_DELIVERED);
    ok(t, body_is(sb, pc_scroll_find(sb, 107), "↪ #77 re \xe2\x9c\x93", strlen("↪ #77 "), 4),
       "quote and mark together");
    pc_scroll_delete(sb, 101);
    ok(t, body_is(sb, pc_scroll_find(sb, 101), "(deleted) \xe2\x9c\x93\xe2\x9c\x93", 0, 7),
       "a deleted own message keeps its mark");
    pc_scroll_free(sb);
}

static void test_prefix(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);
    struct pc_row out[1];
    const struct pc_entry *alice, *me, *notice, *longname;
    struct pc_msg lm = {30, 3, T0 + 3600000, 0, "x", "abcdefghijklmnopqrstuvwxyz0123", "hi", 0};
    char small[4];
    int scroll = 0;
    int64_t newest;

    add(sb, 10, 1, "alice", "hi");
    add(sb, 20, 2, "me", "hi");
    pc_scroll_add(sb, &lm);
    alice = pc_scroll_find(sb, 10);
    me = pc_scroll_find(sb, 20);
    longname = pc_scroll_find(sb, 30);
    pc_scroll_notice(sb, T0 + 59 * 60000, "n");
    pc_scroll_layout(sb, 80, 1, &scroll, out, &newest);
    notice = out[0].e;
    ok(t, prefix_is(alice, 80, "22:14 <alice> "), "message at 80 columns");
    ok(t, prefix_is(alice, 40, "22:14 <alice> "), "the time shows from 40 columns");
    ok(t, prefix_is(alice, 39, "<alice> "), "and not below");
    ok(t, prefix_is(me, 80, "22:15 <me> "), "own messages show the own name");
    ok(t, prefix_is(notice, 80, "23:12 -!- "), "a notice");
    ok(t, prefix_is(notice, 20, "-!- "), "a notice in a narrow window");
    ok(t, prefix_is(longname, 80, "23:13 <abcdefghijklmnopqrstuvwxyz0123> "),
       "a long name in a wide window");
    ok(t, prefix_is(longname, 40, "23:13 <abcdefghijklmnopqrs…> "),
       "a name wider than cols/2 is cut with …");
    ok(t, prefix_is(alice, 10, "<alice> "), "a name of cols/2 is whole");
    ok(t, prefix_is(alice, 9, "<ali…> "), "a wider one is cut to cols/2");
    ok(t, prefix_is(alice, 5, "<a…>"), "never more than cols - 1");
    ok(t, prefix_is(alice, 3, "<…"), "3 columns");
    ok(t, prefix_is(alice, 2, "<"), "2 columns");
    ok(t, prefix_is(alice, 1, ""), "1 column: no prefix");
    ok(t, prefix_is(notice, 4, "-!-"), "a notice in 4 columns");
    ok(t, pc_scroll_prefix(alice, 80, small, sizeof small) == 3 && !strcmp(small, "22:"),
       "a small buffer gets what fits, and its width");
    pc_scroll_free(sb);
}

static void test_prefix_wide(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);
    struct pc_msg m = {1, 1, T0, 0, "u", "名前です", "x", 0};
    char small[4];

    pc_scroll_add(sb, &m);
    ok(t, prefix_is(pc_scroll_find(sb, 1), 80, "22:13 <名前です> "), "a wide name");
    ok(t, prefix_is(pc_scroll_find(sb, 1), 12, "<名前…> "), "cut at cols/2 = 6 columns");
    ok(t, prefix_is(pc_scroll_find(sb, 1), 11, "<名前…> "), "5 columns: the … after 4");
    ok(t, pc_scroll_prefix(pc_scroll_find(sb, 1), 30, small, sizeof small) == 1 &&
              !strcmp(small, "<"),
       "a wide character is not split by the buffer size");
    pc_scroll_free(sb);
}

/* The window of the example in scrollback.h's comment, at 20 columns. */
static void test_layout_rows(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);
    struct pc_row out[6];
    int scroll = 0, top;
    int64_t newest = -1;

    add(sb, 10, 1, "alice", "hello there world foo");
    pc_scroll_notice(sb, T0, "bob joined lobby");
    add(sb, 20, 2, "me", "ok");
    pc_scroll_mark(sb, 20, PC_MARK_DELIVERED);

    top = pc_scroll_layout(sb, 20, 6, &scroll, out, &newest);
    ok(t, rows_are(sb, out, 6,
                   (const char *[]){"-", "-", "0 8 hello there", "1 8 world foo",
                                    "0 4 bob joined lobby", "0 5 ok \xe2\x9c\x93"}),
       "the whole conversation at the bottom, unused rows NULL at the top");
    ok(t, !out[0].e && !out[1].e && out[2].e == pc_scroll_find(sb, 10), "rows point at entries");
    ok(t, out[2].off == 0 && out[2].len == 11 && out[3].off == 12 && out[3].len == 9,
       "offsets into the body");
    ok(t, top == 1 && scroll == 0 && newest == 2, "at the top, scroll 0, newest visible 2");

    top = pc_scroll_layout(sb, 20, 2, &scroll, out, &newest);
    ok(t, rows_are(sb, out, 2, (const char *[]){"0 4 bob joined lobby", "0 5 ok \xe2\x9c\x93"}),
       "2 rows: the newest two");
    ok(t, top == 0 && newest == 2, "not at the top");

    scroll = 1;
    top = pc_scroll_layout(sb, 20, 2, &scroll, out, &newest);
    ok(t, rows_are(sb, out, 2, (const char *[]){"1 8 world foo", "0 4 bob joined lobby"}),
       "scrolled up by one row");
    ok(t, top == 0 && scroll == 1 && newest == 1, "newest visible is the older message");

    scroll = 2;
    top = pc_scroll_layout(sb, 20, 2, &scroll, out, &newest);
    ok(t, rows_are(sb, out, 2, (const char *[]){"0 8 hello there", "1 8 world foo"}),
       "scrolled up by two: the first message");
    ok(t, top == 1 && scroll == 2, "the oldest entry's first row is in the window");

    scroll = 100;
    top = pc_scroll_layout(sb, 20, 2, &scroll, out, &newest);
    ok(t, scroll == 2 && top == 1 && rows_are(sb, out, 2,
                                              (const char *[]){"0 8 hello there", "1 8 world foo"}),
       "scrolling past the top clamps to it");
    scroll = 100;
    top = pc_scroll_layout(sb, 20, 6, &scroll, out, &newest);
    ok(t, scroll == 0 && top == 1 && !out[1].e && out[2].e, "a window taller than it all: 0");
    scroll = -5;
    pc_scroll_layout(sb, 20, 2, &scroll, out, &newest);
    ok(t, scroll == 0, "a negative scroll is 0");

    pc_scroll_free(sb);
}

static void test_layout_indent(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);
    struct pc_row out[4];
    int scroll = 0;
    int64_t newest;

    add(sb, 10, 1, "abcdefghij", "one two three four five six");
    pc_scroll_layout(sb, 20, 4, &scroll, out, &newest);
    ok(t, rows_are(sb, out, 4,
                   (const char *[]){"-", "0 13 one two", "1 2 three four five", "2 2 six"}),
       "a prefix wider than cols/2: continuation rows indented by 2");
    ok(t, out[2].line == 1 && out[3].line == 2, "line numbers");
    pc_scroll_free(sb);

    sb = pc_scroll_new("me", 100);
    add(sb, 10, 1, "bob", "the quick brown fox jumps over the lazy dog");
    pc_scroll_layout(sb, 51, 4, &scroll, out, &newest);
    ok(t, rows_are(sb, out, 2, (const char *[]){"-", "-"}) &&
              rows_are(sb, out + 2, 2,
                       (const char *[]){"0 12 the quick brown fox jumps over the lazy",
                                        "1 12 dog"}),
       "with the time: hanging indent under the text");
    pc_scroll_free(sb);
}

static void test_layout_wide(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);
    struct pc_row out[3];
    int scroll = 0;
    int64_t newest;

    add(sb, 10, 1, "bob", "日本語のテキストです");
    add(sb, 20, 2, "eve", "😀😀😀😀😀😀😀😀 ok");
    pc_scroll_layout(sb, 20, 3, &scroll, out, &newest);
    ok(t, rows_are(sb, out, 3, (const char *[]){"1 6 トです", "0 6 😀😀😀😀😀😀😀", "1 6 😀 ok"}),
       "CJK and emoji wrap by columns: 7 wide characters in 14");
    ok(t, out[0].off == 21 && out[0].len == 9 && out[1].len == 28, "offsets in bytes");
    pc_scroll_free(sb);
}

/* Every row of every tiny window stays inside it, and line 0 always has
 * room for text. */
static void test_layout_tiny(struct tap *t)
{
    pc_scroll *sb = pc_scroll_new("me", 100);
    struct pc_row out[200];
    int64_t newest;

    add(sb, 10, 1, "alice", "hello there");
    pc_scroll_notice(sb, T0, "bob joined");
    add_full(sb, 20, 2, "me", "a reply", 10);
    pc_scroll_mark(sb, 20, PC_MARK_READ);
    for (int cols = 1; cols <= 5; cols++) {
        int scroll = 0, top, inside = 1, seen = 0;

        top = pc_scroll_layout(sb, cols, 1, &scroll, out, &newest);
        ok(t, top == 0 && out[0].e == pc_scroll_find(sb, 20) && newest == 2,
           "%d columns, 1 row: the last row of the newest message", cols);
        scroll = 1000;
        top = pc_scroll_layout(sb, cols, 200, &scroll, out, &newest);
        for (int i = 0; i < 200; i++) {
            size_t q, m;
            char *body;

            if (!out[i].e)
                continue;
            seen++;
            body = pc_scroll_body(sb, out[i].e, &q, &m);
            inside &= body && out[i].indent + pc_str_width(body + out[i].off, out[i].len) <= cols;
            inside &= out[i].line > 0 || out[i].len > 0;
            free(body);
        }
        ok(t, top == 1 && scroll == 0 && seen > 3 && inside,
           "%d columns: %d rows, all within the window", cols, seen);
    }
    pc_scroll_free(sb);
}

/* 100k entries: the layout of the newest rows and of a window far up,
 * checked row by row against the seq each row must show. */
static void test_layout_huge(struct tap *t)
{
    enum { N = 100000, R = 30 };
    pc_scroll *sb = pc_scroll_new("me", N);
    struct pc_row out[R];
    int fine = 1, scroll, top;
    int64_t newest;

    /* the newest half first, then history pages of 50, newest first */
    for (int64_t s = N / 2 + 1; s <= N; s++)
        fine &= add(sb, s, s, s % 3 ? "bob" : "me", "x") == 1;
    for (int64_t page = N / 2; page > 0; page -= 50)
        for (int64_t s = page - 49; s <= page; s++)
            fine &= add(sb, s, s, s % 3 ? "bob" : "me", "x") == 1;
    ok(t, fine && pc_scroll_count(sb) == N, "100k messages added");
    for (int i = 0; i < 1000; i++) {
        scroll = 0;
        top = pc_scroll_layout(sb, 80, R, &scroll, out, &newest);
        fine &= top == 0 && newest == N && out[0].e->seq == N - R + 1 && out[R - 1].e->seq == N;
    }
    ok(t, fine, "1000 layouts of the newest rows");
    scroll = 12345;
    top = pc_scroll_layout(sb, 80, R, &scroll, out, &newest);
    ok(t, top == 0 && scroll == 12345 && newest == N - 12345 &&
              out[R - 1].e->seq == N - 12345 && out[0].e->seq == N - 12345 - R + 1,
       "scrolled far up");
    scroll = N;
    top = pc_scroll_layout(sb, 80, R, &scroll, out, &newest);
    ok(t, top == 1 && scroll == N - R && out[0].e->seq == 1 && newest == R,
       "scrolled to the very top");
    ok(t, pc_scroll_mark(sb, N - 2, PC_MARK_READ) == (N - 2) / 3,
       "a receipt marks every own message up to it");
    pc_scroll_free(sb);
}

int main(void)
{
    struct tap t = {0};

    setenv("TZ", "UTC", 1);
    tzset();
    test_order(&t);
    test_order_many(&t);
    test_dedupe(&t);
    test_strings_sanitized(&t);
    test_notices(&t);
    test_notice_fields(&t);
    test_evict(&t);
    test_delete(&t);
    test_marks(&t);
    test_last(&t);
    test_body(&t);
    test_prefix(&t);
    test_prefix_wide(&t);
    test_layout_rows(&t);
    test_layout_indent(&t);
    test_layout_wide(&t);
    test_layout_tiny(&t);
    test_layout_huge(&t);
    return tap_done(&t);
}
