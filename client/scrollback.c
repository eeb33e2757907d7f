/* One room's conversation (see scrollback.h).
 *
 * Entries are kept in an array of node pointers sorted by (key, nth): a
 * message's key is its seq and its nth 0; a notice's key is the seq of the
 * message that was newest when it came and its nth its arrival number, so
 * it stays right after that message whatever arrives later, in any order.
 * The array keeps free slots at both ends: live messages land at the end,
 * history at the start and eviction takes from the start, so the common
 * cases move almost nothing. Nodes are allocated one by one so the entry
 * pointers handed out stay valid while other entries come and go. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scrollback.h"
#include "width.h"
#include "wrap.h"

#define PC_QUOTE_COLS 30
/* Holds the prefix of any sane name: a screen drawing prefixes from a
 * buffer at least this big draws the width the layout counted. */
#define PC_PREFIX_BUF 512

struct pc_node {
    struct pc_entry e;
    int64_t key;
    uint64_t nth;
};

struct pc_buf {
    char *p;
    size_t len, cap;
};

struct pc_scroll {
    char *self;
    size_t max;
    struct pc_node **v; /* entries are v[head .. head + n) */
    size_t head, n, cap;
    struct pc_node **ids; /* messages by id: open addressing, linear probing */
    size_t ids_cap, ids_n;
    uint64_t notices;
    int has_older;
    /* layout's scratch, reused from call to call */
    struct pc_span *spans;
    size_t spans_cap;
    struct pc_buf body;
};

static struct pc_node *pc_at(const pc_scroll *sb, size_t i)
{
    return sb->v[sb->head + i];
}

/* ---- nodes -------------------------------------------------------------- */

static void pc_node_free(struct pc_node *nd)
{
    free(nd->e.user);
    free(nd->e.name);
    free(nd->e.text);
    free(nd);
}

static char *pc_clean(const char *s, int keep_newlines)
{
    return s ? pc_sanitize(s, strlen(s), keep_newlines) : pc_sanitize("", 0, 0);
}

static struct pc_node *pc_msg_node(const pc_scroll *sb, const struct pc_msg *m)
{
    struct pc_node *nd = calloc(1, sizeof *nd);
    /* the protocol always sends a name, but an empty one would draw "<>" */
    const char *name = m->name && *m->name ? m->name : m->user;

    if (!nd)
        return NULL;
    nd->e.kind = PC_ENTRY_MSG;
    nd->e.id = m->id;
    nd->e.seq = nd->key = m->seq;
    nd->e.ts = m->ts;
    nd->e.reply_to = m->reply_to;
    nd->e.user = pc_clean(m->user, 0);
    nd->e.name = pc_clean(name, 0);
    nd->e.text = pc_clean(m->deleted ? "" : m->text, 1);
    nd->e.deleted = !!m->deleted;
    nd->e.own = sb->self && m->user && !strcmp(m->user, sb->self);
    if (!nd->e.user || !nd->e.name || !nd->e.text) {
        pc_node_free(nd);
        return NULL;
    }
    return nd;
}

/* A deletion is final: a history page or replay fetched before it cannot
 * bring the text back. */
static int pc_update(struct pc_entry *e, const struct pc_msg *m)
{
    char *text;

    if (e->deleted || m->deleted) {
        e->deleted = 1;
        e->text[0] = '\0';
        return 0;
    }
    if (!(text = pc_clean(m->text, 1)))
        return -1;
    free(e->text);
    e->text = text;
    return 0;
}

/* ---- messages by id ----------------------------------------------------- */

static size_t pc_id_home(int64_t id, size_t cap)
{
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15u) >> 32) & (cap - 1);
}

/* The slot holding id, or the empty slot where it would go. */
static size_t pc_id_probe(const pc_scroll *sb, int64_t id)
{
    size_t i = pc_id_home(id, sb->ids_cap);

    while (sb->ids[i] && sb->ids[i]->e.id != id)
        i = (i + 1) & (sb->ids_cap - 1);
    return i;
}

/* Makes room for one more id, keeping the table at most half full so
 * probes stay short and always end at an empty slot. */
static int pc_id_reserve(pc_scroll *sb)
{
    struct pc_node **old = sb->ids;
    size_t old_cap = sb->ids_cap, i;

    if ((sb->ids_n + 1) * 2 <= sb->ids_cap)
        return 0;
    sb->ids_cap = old_cap ? old_cap * 2 : 16;
    if (!(sb->ids = calloc(sb->ids_cap, sizeof *sb->ids))) {
        sb->ids = old;
        sb->ids_cap = old_cap;
        return -1;
    }
    for (i = 0; i < old_cap; i++)
        if (old[i])
            sb->ids[pc_id_probe(sb, old[i]->e.id)] = old[i];
    free(old);
    return 0;
}

static void pc_id_put(pc_scroll *sb, struct pc_node *nd)
{
    size_t i = pc_id_probe(sb, nd->e.id);

    sb->ids_n += !sb->ids[i];
    sb->ids[i] = nd;
}

/* Backward-shift deletion: no tombstones, so lookups never slow down
 * however many messages pass through. */
static void pc_id_remove(pc_scroll *sb, const struct pc_node *nd)
{
    size_t mask = sb->ids_cap - 1, i = pc_id_probe(sb, nd->e.id), j;

    if (sb->ids[i] != nd)
        return; /* a later message with the same id took the slot */
    sb->ids[i] = NULL;
    sb->ids_n--;
    for (j = (i + 1) & mask; sb->ids[j]; j = (j + 1) & mask) {
        size_t home = pc_id_home(sb->ids[j]->e.id, sb->ids_cap);

        if (((j - home) & mask) >= ((j - i) & mask)) {
            sb->ids[i] = sb->ids[j];
            sb->ids[j] = NULL;
            i = j;
        }
    }
}

/* ---- the ordered array -------------------------------------------------- */

/* The first position whose node sorts at or after (key, nth). */
static size_t pc_lower(const pc_scroll *sb, int64_t key, uint64_t nth)
{
    size_t lo = 0, hi = sb->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct pc_node *nd = pc_at(sb, mid);

        if (nd->key < key || (nd->key == key && nd->nth < nth))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Moves the entries to the middle of an array with at least as many free
 * slots as entries, so the next n/2 inserts at either end move nothing. */
static int pc_recenter(pc_scroll *sb)
{
    size_t cap = sb->cap >= 2 * sb->n + 2 ? sb->cap : 2 * sb->n + 16;
    size_t head = (cap - sb->n) / 2;
    struct pc_node **v = malloc(cap * sizeof *v);

    if (!v)
        return -1;
    if (sb->n)
        memcpy(v + head, sb->v + sb->head, sb->n * sizeof *v);
    free(sb->v);
    sb->v = v;
    sb->cap = cap;
    sb->head = head;
    return 0;
}

static int pc_insert(pc_scroll *sb, size_t i, struct pc_node *nd)
{
    int front = i < sb->n - i; /* shift whichever side is shorter */
    struct pc_node **v;

    if ((front ? sb->head == 0 : sb->head + sb->n == sb->cap) && pc_recenter(sb) < 0)
        return -1;
    v = sb->v + sb->head;
    if (front) {
        memmove(v - 1, v, i * sizeof *v);
        sb->head--;
    } else {
        memmove(v + i + 1, v + i, (sb->n - i) * sizeof *v);
    }
    sb->v[sb->head + i] = nd;
    sb->n++;
    return 0;
}

static void pc_evict(pc_scroll *sb)
{
    while (sb->n > sb->max) {
        struct pc_node *nd = pc_at(sb, 0);

        if (nd->e.kind == PC_ENTRY_MSG) {
            pc_id_remove(sb, nd);
            sb->has_older = 1;
        }
        pc_node_free(nd);
        sb->head++;
        sb->n--;
    }
}

/* ---- the public calls --------------------------------------------------- */

pc_scroll *pc_scroll_new(const char *self, size_t max)
{
    pc_scroll *sb = calloc(1, sizeof *sb);

    if (!sb)
        return NULL;
    sb->max = max;
    if (self && !(sb->self = strdup(self))) {
        free(sb);
        return NULL;
    }
    return sb;
}

void pc_scroll_free(pc_scroll *sb)
{
    size_t i;

    if (!sb)
        return;
    for (i = 0; i < sb->n; i++)
        pc_node_free(pc_at(sb, i));
    free(sb->v);
    free(sb->ids);
    free(sb->spans);
    free(sb->body.p);
    free(sb->self);
    free(sb);
}

int pc_scroll_add(pc_scroll *sb, const struct pc_msg *m)
{
    size_t i = pc_lower(sb, m->seq, 0);
    struct pc_node *nd;

    if (i < sb->n && pc_at(sb, i)->e.kind == PC_ENTRY_MSG && pc_at(sb, i)->key == m->seq)
        return pc_update(&pc_at(sb, i)->e, m);
    if (pc_id_reserve(sb) < 0 || !(nd = pc_msg_node(sb, m)))
        return -1;
    if (pc_insert(sb, i, nd) < 0) {
        pc_node_free(nd);
        return -1;
    }
    pc_id_put(sb, nd);
    pc_evict(sb);
    return 1;
}

int pc_scroll_notice(pc_scroll *sb, int64_t ts, const char *text)
{
    struct pc_node *nd = calloc(1, sizeof *nd);

    if (!nd || !(nd->e.text = pc_clean(text, 1))) {
        free(nd);
        return -1;
    }
    nd->e.kind = PC_ENTRY_NOTICE;
    nd->e.ts = ts;
    /* the last entry's key is the newest seq, or a notice's anchor when
     * the messages before it were evicted: either way this one sorts last */
    nd->key = sb->n ? pc_at(sb, sb->n - 1)->key : 0;
    nd->nth = ++sb->notices;
    if (pc_insert(sb, sb->n, nd) < 0) {
        pc_node_free(nd);
        return -1;
    }
    pc_evict(sb);
    return 0;
}

static struct pc_node *pc_find(const pc_scroll *sb, int64_t id)
{
    return sb->ids_cap ? sb->ids[pc_id_probe(sb, id)] : NULL;
}

const struct pc_entry *pc_scroll_find(const pc_scroll *sb, int64_t id)
{
    const struct pc_node *nd = pc_find(sb, id);

    return nd ? &nd->e : NULL;
}

int pc_scroll_delete(pc_scroll *sb, int64_t id)
{
    struct pc_node *nd = pc_find(sb, id);

    if (!nd)
        return 0;
    nd->e.deleted = 1;
    nd->e.text[0] = '\0';
    return 1;
}

int pc_scroll_mark(pc_scroll *sb, int64_t id, int mark)
{
    const struct pc_node *target = pc_find(sb, id);
    size_t end = target ? pc_lower(sb, target->key, 1) : sb->n, i;
    int changed = 0;

    if (mark != PC_MARK_DELIVERED && mark != PC_MARK_READ)
        return 0;
    for (i = 0; i < end; i++) {
        struct pc_entry *e = &pc_at(sb, i)->e;

        if (e->kind == PC_ENTRY_MSG && e->own && e->mark < mark && (target || e->id < id)) {
            e->mark = mark;
            changed++;
        }
    }
    return changed;
}

static const struct pc_entry *pc_last(const pc_scroll *sb, int own)
{
    size_t i;

    for (i = sb->n; i > 0; i--) {
        const struct pc_entry *e = &pc_at(sb, i - 1)->e;

        if (e->kind == PC_ENTRY_MSG && !e->deleted && e->own == own)
            return e;
    }
    return NULL;
}

const struct pc_entry *pc_scroll_last_own(const pc_scroll *sb)
{
    return pc_last(sb, 1);
}

const struct pc_entry *pc_scroll_last_other(const pc_scroll *sb)
{
    return pc_last(sb, 0);
}

int64_t pc_scroll_oldest_seq(const pc_scroll *sb)
{
    size_t i;

    for (i = 0; i < sb->n; i++)
        if (pc_at(sb, i)->e.kind == PC_ENTRY_MSG)
            return pc_at(sb, i)->e.seq;
    return 0;
}

int64_t pc_scroll_newest_seq(const pc_scroll *sb)
{
    size_t i;

    for (i = sb->n; i > 0; i--)
        if (pc_at(sb, i - 1)->e.kind == PC_ENTRY_MSG)
            return pc_at(sb, i - 1)->e.seq;
    return 0;
}

size_t pc_scroll_count(const pc_scroll *sb)
{
    return sb->n;
}

void pc_scroll_set_has_older(pc_scroll *sb, int has_older)
{
    sb->has_older = !!has_older;
}

int pc_scroll_has_older(const pc_scroll *sb)
{
    return sb->has_older;
}

/* ---- the body ----------------------------------------------------------- */

/* Keeps p NUL-terminated, so a finished buffer is a string. */
static int pc_put(struct pc_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);

        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int pc_puts(struct pc_buf *b, const char *s)
{
    return pc_put(b, s, strlen(s));
}

static const char *pc_text(const struct pc_entry *e)
{
    return e->deleted ? "(deleted)" : e->text;
}

/* "↪ NAME: quoted text… ": the quote is one line whatever the quoted
 * message's newlines, and the space ends it like the "↪ #ID " form. */
static int pc_quote(const pc_scroll *sb, const struct pc_entry *e, struct pc_buf *b)
{
    const struct pc_entry *q;
    const char *text;
    size_t len, fit, i, start;
    char num[40];

    if (e->kind != PC_ENTRY_MSG || !e->reply_to)
        return 0;
    if (!(q = pc_scroll_find(sb, e->reply_to))) {
        snprintf(num, sizeof num, "↪ #%lld ", (long long)e->reply_to);
        return pc_puts(b, num);
    }
    text = pc_text(q);
    len = strlen(text);
    fit = pc_prefix_fit(text, len, PC_QUOTE_COLS, NULL);
    if (pc_puts(b, "↪ ") < 0 || pc_puts(b, q->name) < 0 || pc_puts(b, ": ") < 0)
        return -1;
    start = b->len;
    if (pc_put(b, text, fit) < 0 || pc_puts(b, fit < len ? "… " : " ") < 0)
        return -1;
    for (i = start; i < b->len; i++)
        if (b->p[i] == '\n')
            b->p[i] = ' ';
    return 0;
}

static const char *pc_mark_text(const struct pc_entry *e)
{
    if (e->kind != PC_ENTRY_MSG || !e->own)
        return "";
    return e->mark == PC_MARK_READ ? " ✓✓" : e->mark == PC_MARK_DELIVERED ? " ✓" : "";
}

static int pc_body_build(const pc_scroll *sb, const struct pc_entry *e, struct pc_buf *b,
                         size_t *quote_len, size_t *mark_len)
{
    const char *mark = pc_mark_text(e);

    b->len = 0;
    if (pc_quote(sb, e, b) < 0)
        return -1;
    *quote_len = b->len;
    if (pc_puts(b, pc_text(e)) < 0 || pc_puts(b, mark) < 0)
        return -1;
    *mark_len = strlen(mark);
    return 0;
}

char *pc_scroll_body(const pc_scroll *sb, const struct pc_entry *e, size_t *quote_len,
                     size_t *mark_len)
{
    struct pc_buf b = {0};

    if (pc_body_build(sb, e, &b, quote_len, mark_len) < 0) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- the prefix --------------------------------------------------------- */

/* A string filling up to cols columns and size bytes; once a piece is
 * cut nothing more goes in, so "<name> " never becomes "<> ". */
struct pc_cut {
    char *buf;
    size_t size, len;
    int cols, width, cut;
};

/* Appends what fits of s[0..n), never splitting a character. */
static void pc_cut_put(struct pc_cut *c, const char *s, size_t n)
{
    size_t room = c->size - c->len - 1, fit = 0;
    int used = 0;

    if (!c->cut) {
        fit = n > room ? room : n;
        while (fit > 0 && fit < n && ((unsigned char)s[fit] & 0xC0) == 0x80)
            fit--;
        fit = pc_prefix_fit(s, fit, c->cols - c->width, &used);
    }
    memcpy(c->buf + c->len, s, fit);
    c->len += fit;
    c->buf[c->len] = '\0';
    c->width += used;
    c->cut |= fit < n;
}

/* A name longer than max columns ends in "…", so one long display name
 * cannot push every line of its messages to the next row. */
static void pc_cut_name(struct pc_cut *c, const char *name, int max)
{
    size_t len = strlen(name);

    if (max < 1)
        max = 1;
    if (pc_str_width(name, len) <= max) {
        pc_cut_put(c, name, len);
        return;
    }
    pc_cut_put(c, name, pc_prefix_fit(name, len, max - 1, NULL));
    pc_cut_put(c, "…", strlen("…"));
}

static void pc_clock(int64_t ts, char *out, size_t size)
{
    time_t t = (time_t)(ts / 1000);
    struct tm tm;

    if (localtime_r(&t, &tm))
        snprintf(out, size, "%02d:%02d ", tm.tm_hour, tm.tm_min);
    else
        snprintf(out, size, "--:-- ");
}

int pc_scroll_prefix(const struct pc_entry *e, int cols, char *buf, size_t size)
{
    /* line 0 keeps at least one column for the text: pc_wrap gives every
     * line one, and the row must not run past the window */
    struct pc_cut c = {buf, size, 0, cols > 1 ? cols - 1 : 0, 0, 0};
    char clock[32];

    if (!size)
        return 0;
    buf[0] = '\0';
    if (cols >= 40) {
        pc_clock(e->ts, clock, sizeof clock);
        pc_cut_put(&c, clock, strlen(clock));
    }
    if (e->kind == PC_ENTRY_NOTICE) {
        pc_cut_put(&c, "-!- ", 4);
    } else {
        pc_cut_put(&c, "<", 1);
        pc_cut_name(&c, e->name, cols / 2);
        pc_cut_put(&c, "> ", 2);
    }
    return c.width;
}

/* ---- layout ------------------------------------------------------------- */

/* An entry wrapped for the window: its rows, the prefix width and the
 * indent of the continuation rows. */
struct pc_shape {
    size_t lines;
    int pw, indent;
};

static int pc_grow_spans(pc_scroll *sb, size_t need)
{
    size_t cap = need > 2 * sb->spans_cap ? need : 2 * sb->spans_cap;
    struct pc_span *spans = realloc(sb->spans, cap * sizeof *spans);

    if (!spans)
        return -1;
    sb->spans = spans;
    sb->spans_cap = cap;
    return 0;
}

/* Builds e's body into sb->body and wraps it: with want_spans the lines
 * land in sb->spans, else they are only counted. */
static int pc_shape(pc_scroll *sb, const struct pc_entry *e, int cols, int want_spans,
                    struct pc_shape *sh)
{
    char prefix[PC_PREFIX_BUF];
    size_t quote_len, mark_len;

    sh->pw = pc_scroll_prefix(e, cols, prefix, sizeof prefix);
    sh->indent = sh->pw <= cols / 2 ? sh->pw : 2;
    if (pc_body_build(sb, e, &sb->body, &quote_len, &mark_len) < 0)
        return -1;
    sh->lines = pc_wrap(sb->body.p, sb->body.len, cols - sh->pw, cols - sh->indent,
                        want_spans ? sb->spans : NULL, want_spans ? sb->spans_cap : 0);
    if (!want_spans || sh->lines <= sb->spans_cap)
        return 0;
    if (pc_grow_spans(sb, sh->lines) < 0)
        return -1;
    pc_wrap(sb->body.p, sb->body.len, cols - sh->pw, cols - sh->indent, sb->spans,
            sb->spans_cap);
    return 0;
}

/* Rows are numbered from the bottom of the conversation (0 the newest
 * one's last row); the window shows rows [scroll, scroll + rows). */
struct pc_window {
    size_t bottom, top;
    struct pc_row *out;
};

/* Places e's rows that fall in the window, e's last row being row `below`
 * minus one; returns whether any did. */
static int pc_place(const pc_scroll *sb, const struct pc_entry *e, const struct pc_shape *sh,
                    size_t below, const struct pc_window *w)
{
    size_t j;
    int placed = 0;

    for (j = 0; j < sh->lines; j++) {
        size_t r = below - 1 - j;
        struct pc_row *row;

        if (r < w->bottom || r >= w->top)
            continue;
        row = &w->out[w->top - 1 - r];
        row->e = e;
        row->line = (int)j;
        row->off = sb->spans[j].off;
        row->len = sb->spans[j].len;
        row->indent = j ? sh->indent : sh->pw;
        placed = 1;
    }
    return placed;
}

int pc_scroll_layout(pc_scroll *sb, int cols, int rows, int *scroll, struct pc_row *out,
                     int64_t *newest_visible)
{
    struct pc_shape sh;
    struct pc_window w;
    size_t i = sb->n, below = 0;
    int at_top;

    cols = cols < 1 ? 1 : cols;
    rows = rows < 0 ? 0 : rows;
    *scroll = *scroll < 0 ? 0 : *scroll;
    *newest_visible = 0;
    /* count rows upward from the newest until the window's top is reached:
     * this bounds the work by rows + *scroll */
    while (i > 0 && below < (size_t)rows + (size_t)*scroll) {
        if (pc_shape(sb, &pc_at(sb, i - 1)->e, cols, 0, &sh) < 0)
            return -1;
        below += sh.lines;
        i--;
    }
    if (below < (size_t)rows + (size_t)*scroll)
        *scroll = below > (size_t)rows ? (int)(below - (size_t)rows) : 0;
    at_top = i == 0 && below <= (size_t)rows + (size_t)*scroll;
    w.bottom = (size_t)*scroll;
    w.top = w.bottom + (size_t)rows;
    w.out = out;
    if (rows)
        memset(out, 0, (size_t)rows * sizeof *out);
    /* then fill the window top down, from the entry the count stopped at */
    for (; i < sb->n && below > w.bottom; i++) {
        const struct pc_entry *e = &pc_at(sb, i)->e;

        if (pc_shape(sb, e, cols, 1, &sh) < 0)
            return -1;
        if (pc_place(sb, e, &sh, below, &w) && e->kind == PC_ENTRY_MSG)
            *newest_visible = e->seq;
        below -= sh.lines;
    }
    return at_top;
}
