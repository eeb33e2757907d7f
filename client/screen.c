#define NCURSES_WIDECHAR 1

#include "screen.h"

#include <curses.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "width.h"

#define ESC_DELAY_MS 25
#define PREFIX_BUF 512 /* as the scrollback's: the prefix the layout counted fits */
#define NAME_COLOURS 6

enum { PAIR_NAME = 1, PAIR_NOTICE = PAIR_NAME + NAME_COLOURS, PAIR_MARK };

struct screen {
    struct pc_chat *ch;
    pc_input *in;
    SCREEN *scr;
    WINDOW *conv, *status, *input; /* conv is NULL on a terminal of fewer than 3 rows */
    int rows, cols;
    int colours;
    int key_ctrl_left, key_ctrl_right; /* 0 when the terminal has none */
    int edited;                        /* the input line changed since the last draw */
};

/* ---- attributes ---------------------------------------------------------------- */

static attr_t name_attr(const struct screen *s, const struct pc_entry *e)
{
    uint32_t h = 2166136261u;

    if (!s->colours)
        return A_NORMAL;
    for (const char *p = e->user ? e->user : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return (attr_t)COLOR_PAIR(PAIR_NAME + (int)(h % NAME_COLOURS)) | (e->own ? A_BOLD : 0);
}

static attr_t colour(const struct screen *s, int pair)
{
    return s->colours ? (attr_t)COLOR_PAIR(pair) : A_NORMAL;
}

static attr_t dim(const struct screen *s)
{
    return s->colours ? A_DIM : A_NORMAL;
}

static void put(WINDOW *win, attr_t attr, const char *p, size_t n)
{
    if (!n)
        return;
    wattrset(win, attr);
    waddnstr(win, p, (int)n);
}

/* ---- the conversation ------------------------------------------------------------- */

/* Columns "#ID " takes before every text with /ids: the widest id's. */
static int ids_width(const struct pc_chat *ch)
{
    int w = 3; /* '#', a digit, ' ' */

    for (int64_t id = ch->max_id; id >= 10; id /= 10)
        w++;
    return ch->show_ids ? w : 0;
}

/* The prefix of line 0: the time dim, then the name in its colour or the
 * notice marker. */
static void draw_prefix(struct screen *s, const struct pc_entry *e)
{
    char prefix[PREFIX_BUF];
    size_t len, time_len = 0;
    attr_t rest = e->kind == PC_ENTRY_NOTICE ? colour(s, PAIR_NOTICE) : name_attr(s, e);

    pc_scroll_prefix(e, s->ch->view_cols, prefix, sizeof prefix);
    len = strlen(prefix);
    if (s->ch->view_cols >= 40 && len >= 6 && prefix[5] == ' ')
        time_len = 6; /* "HH:MM " */
    put(s->conv, dim(s), prefix, time_len);
    put(s->conv, rest, prefix + time_len, len - time_len);
}

/* Bytes [off, off + len) of an entry's body, each part in its colour: the
 * reply quote dim, the mark green, a notice all cyan. */
static void draw_body(struct screen *s, const struct pc_entry *e, const char *body,
                      size_t body_len, size_t quote_len, size_t mark_len, size_t off, size_t len)
{
    size_t cuts[4] = {0, quote_len, body_len - mark_len, body_len};
    attr_t text = e->kind == PC_ENTRY_NOTICE ? colour(s, PAIR_NOTICE) : A_NORMAL;
    attr_t attrs[3] = {dim(s), text, colour(s, PAIR_MARK)};
    size_t end = off + len;

    for (int i = 0; i < 3; i++) {
        size_t a = cuts[i] > off ? cuts[i] : off, b = cuts[i + 1] < end ? cuts[i + 1] : end;
        if (b > a)
            put(s->conv, attrs[i], body + a, b - a);
    }
}

static void draw_conversation(struct screen *s)
{
    struct pc_chat *ch = s->ch;
    struct pc_window *w = pc_chat_current(ch);
    const struct pc_entry *cached = NULL;
    char *body = NULL;
    size_t body_len = 0, quote_len = 0, mark_len = 0;
    int idw = ids_width(ch);

    if (!s->conv)
        return;
    werase(s->conv);
    if (pc_chat_set_view(ch, s->cols - idw, s->rows - 2) != 0 || pc_chat_layout(ch) != 0) {
        pc_chat_notice(ch, NULL, "error: out of memory");
        return;
    }
    for (int y = 0; y < ch->view_rows; y++) {
        const struct pc_row *r = &ch->rows[y];
        const struct pc_entry *e = r->e;
        int x = r->indent;

        if (!e)
            continue;
        if (e != cached) {
            free(body);
            body = pc_scroll_body(w->sb, e, &quote_len, &mark_len);
            body_len = body ? strlen(body) : 0;
            cached = e;
        }
        if (!body)
            break;
        wmove(s->conv, y, 0);
        if (r->line == 0)
            draw_prefix(s, e);
        if (idw && e->kind == PC_ENTRY_MSG) {
            char id[32];
            int n = snprintf(id, sizeof id, "#%lld ", (long long)e->id);
            if (r->line == 0) {
                wmove(s->conv, y, x);
                put(s->conv, dim(s), id, (size_t)n);
            }
            x += n;
        }
        wmove(s->conv, y, x);
        draw_body(s, e, body, body_len, quote_len, mark_len, r->off, r->len);
    }
    free(body);
    wattrset(s->conv, A_NORMAL);
}

/* ---- the status line ----------------------------------------------------------------- */

/* Appends " │ " and a section (sanitized) to a growing string. */
static char *section(char *line, const char *text)
{
    char *safe, *joined = NULL;

    if (!line || !text || !*text)
        return line;
    safe = pc_sanitize(text, strlen(text), 0);
    if (safe && asprintf(&joined, "%s%s%s", line, *line ? " │ " : " ", safe) < 0)
        joined = NULL;
    free(safe);
    free(line);
    return joined;
}

static char *typing_text(const struct pc_window *w)
{
    const struct pc_umap *t = &w->typing;
    char *s = NULL;
    int rc = 0;

    if (t->n == 1)
        rc = asprintf(&s, "%s is typing…", pc_chat_name(w, t->e[0].user));
    else if (t->n == 2)
        rc = asprintf(&s, "%s and %s are typing…", pc_chat_name(w, t->e[0].user),
                      pc_chat_name(w, t->e[1].user));
    else if (t->n > 2)
        rc = asprintf(&s, "%zu people are typing…", t->n);
    return rc < 0 ? NULL : s;
}

static char *activity_text(const struct pc_chat *ch)
{
    char *s = strdup(""), *more;

    for (size_t i = 0; s && i < ch->n_win; i++) {
        if (i == ch->cur || !ch->win[i]->unread)
            continue;
        if (asprintf(&more, "%s%s%zu:%s(%d)", s, *s ? " " : "", i + 1, ch->win[i]->room,
                     ch->win[i]->unread) < 0)
            more = NULL;
        free(s);
        s = more;
    }
    return s;
}

static void draw_status(struct screen *s)
{
    static const char *const states[] = {"connected", "connecting…", "reconnecting…", "offline"};
    struct pc_window *w = pc_chat_current(s->ch);
    char *line = strdup(""), *typing = typing_text(w), *act = activity_text(s->ch);
    size_t fit;

    line = section(line, w->room);
    line = section(line, states[s->ch->conn]);
    line = section(line, typing);
    line = section(line, act);
    free(typing);
    free(act);
    werase(s->status);
    if (line) {
        fit = pc_prefix_fit(line, strlen(line), s->cols, NULL);
        mvwaddnstr(s->status, 0, 0, line, (int)fit);
    }
    free(line);
}

/* ---- the input line ---------------------------------------------------------------- */

static void draw_input(struct screen *s)
{
    struct pc_window *w = pc_chat_current(s->ch);
    char *prefix = NULL, *safe = w->room ? pc_sanitize(w->room, strlen(w->room), 0) : NULL;
    size_t plen = 0, off, len, tlen;
    int pw = 0, cursor;
    const char *text;

    if (safe && asprintf(&prefix, "[%s] ", safe) >= 0) {
        /* a field of at least 2 columns stays */
        plen = pc_prefix_fit(prefix, strlen(prefix), s->cols > 2 ? s->cols - 2 : 0, &pw);
    }
    werase(s->input);
    if (prefix)
        mvwaddnstr(s->input, 0, 0, prefix, (int)plen);
    free(prefix);
    free(safe);
    text = pc_input_text(s->in, &tlen);
    pc_input_view(s->in, s->cols - pw < 2 ? 2 : s->cols - pw, &off, &len, &cursor);
    mvwaddnstr(s->input, 0, pw, text + off, (int)len);
    wmove(s->input, 0, pw + cursor);
}

/* Everything, with one doupdate: the input window last, so the cursor is
 * left in the input field whatever arrived. */
static void draw(struct screen *s)
{
    draw_conversation(s);
    draw_status(s);
    draw_input(s);
    if (s->conv)
        wnoutrefresh(s->conv);
    wnoutrefresh(s->status);
    wnoutrefresh(s->input);
    doupdate();
    s->ch->dirty = 0;
    s->edited = 0;
}

/* ---- windows and resizes ---------------------------------------------------------------- */

static void free_windows(struct screen *s)
{
    if (s->conv)
        delwin(s->conv);
    if (s->status)
        delwin(s->status);
    if (s->input)
        delwin(s->input);
    s->conv = s->status = s->input = NULL;
}

static int make_windows(struct screen *s)
{
    free_windows(s);
    getmaxyx(stdscr, s->rows, s->cols);
    if (s->rows < 2 || s->cols < 4) {
        /* too small for anything but the input line */
        s->rows = s->rows < 1 ? 1 : s->rows;
        s->status = newwin(1, s->cols, 0, 0);
        s->input = newwin(1, s->cols, s->rows - 1, 0);
    } else {
        if (s->rows >= 3)
            s->conv = newwin(s->rows - 2, s->cols, 0, 0);
        s->status = newwin(1, s->cols, s->rows - 2, 0);
        s->input = newwin(1, s->cols, s->rows - 1, 0);
    }
    if (!s->status || !s->input || (s->rows >= 3 && s->cols >= 4 && !s->conv))
        return -1;
    wbkgdset(s->status, ' ' | A_REVERSE);
    keypad(s->input, TRUE);
    nodelay(s->input, TRUE);
    s->ch->dirty = 1;
    return 0;
}

static int resize(struct screen *s)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
        resize_term(ws.ws_row, ws.ws_col);
    clearok(curscr, TRUE);
    return make_windows(s);
}

/* ---- keys ------------------------------------------------------------------------------- */

static void edit(struct screen *s, enum pc_edit op, uint32_t cp)
{
    if (pc_input_edit(s->in, op, cp) != 0)
        s->edited = 1;
}

static int line_empty(const struct screen *s)
{
    size_t len;

    pc_input_text(s->in, &len);
    return len == 0;
}

static void submit(struct screen *s)
{
    char *line = pc_input_take(s->in);

    s->edited = 1;
    pc_chat_typing(s->ch, "", 0);
    if (!line) {
        pc_chat_notice(s->ch, NULL, "error: out of memory");
        return;
    }
    pc_chat_line(s->ch, line);
    free(line);
}

static void page(struct screen *s, int dir)
{
    int step = s->rows - 3; /* the conversation's rows - 1: one row of context stays */

    pc_chat_scroll(s->ch, dir * (step < 1 ? 1 : step));
}

static void switch_window(struct screen *s, int n)
{
    if (n >= 1 && (size_t)n <= s->ch->n_win)
        pc_chat_switch(s->ch, (size_t)n - 1);
}

static void function_key(struct screen *s, wint_t k)
{
    switch (k) {
    case KEY_LEFT: edit(s, PC_EDIT_LEFT, 0); break;
    case KEY_RIGHT: edit(s, PC_EDIT_RIGHT, 0); break;
    case KEY_HOME: edit(s, PC_EDIT_HOME, 0); break;
    case KEY_END: edit(s, PC_EDIT_END, 0); break;
    case KEY_BACKSPACE: edit(s, PC_EDIT_BACKSPACE, 0); break;
    case KEY_DC: edit(s, PC_EDIT_DELETE, 0); break;
    case KEY_UP: edit(s, PC_EDIT_HISTORY_PREV, 0); break;
    case KEY_DOWN: edit(s, PC_EDIT_HISTORY_NEXT, 0); break;
    case KEY_PPAGE: page(s, 1); break;
    case KEY_NPAGE: page(s, -1); break;
    case KEY_ENTER: submit(s); break;
    case KEY_RESIZE: resize(s); break;
    default:
        if (s->key_ctrl_left && k == (wint_t)s->key_ctrl_left)
            edit(s, PC_EDIT_WORD_LEFT, 0);
        else if (s->key_ctrl_right && k == (wint_t)s->key_ctrl_right)
            edit(s, PC_EDIT_WORD_RIGHT, 0);
        break;
    }
}

/* The rest of an escape sequence ncurses did not recognise (ESC [ ... or
 * ESC O x, from a terminal whose keys its description does not list): read
 * and dropped, so a key nobody bound never turns into text in the line. */
static void skip_sequence(struct screen *s, wint_t intro)
{
    wint_t k;

    if (wget_wch(s->input, &k) != OK || intro == 'O')
        return;
    /* CSI: parameter and intermediate bytes, then one final byte. */
    while (k >= 0x20 && k <= 0x3F && wget_wch(s->input, &k) == OK)
        ;
}

/* After ESC: Alt+digit switches windows, Alt+b/f move by words, an
 * unknown escape sequence is dropped; anything else is taken as itself (a
 * lone ESC does nothing). Returns 1 when the key after ESC was used up
 * here. */
static int alt_key(struct screen *s, int *r, wint_t *k)
{
    wtimeout(s->input, ESC_DELAY_MS);
    *r = wget_wch(s->input, k);
    if (*r == OK && (*k == '[' || *k == 'O'))
        skip_sequence(s, *k);
    nodelay(s->input, TRUE);
    if (*r != OK)
        return *r == ERR;
    if (*k == '[' || *k == 'O')
        return 1;
    if (*k >= '1' && *k <= '9')
        switch_window(s, (int)(*k - '0'));
    else if (*k == 'b' || *k == 'B')
        edit(s, PC_EDIT_WORD_LEFT, 0);
    else if (*k == 'f' || *k == 'F')
        edit(s, PC_EDIT_WORD_RIGHT, 0);
    else
        return 0;
    return 1;
}

static void char_key(struct screen *s, wint_t k)
{
    switch (k) {
    case '\r': case '\n': submit(s); break;
    case 1: edit(s, PC_EDIT_HOME, 0); break;           /* Ctrl+A */
    case 2: edit(s, PC_EDIT_LEFT, 0); break;           /* Ctrl+B */
    case 4:                                            /* Ctrl+D */
        if (line_empty(s))
            s->ch->quit = 1;
        else
            edit(s, PC_EDIT_DELETE, 0);
        break;
    case 5: edit(s, PC_EDIT_END, 0); break;            /* Ctrl+E */
    case 6: edit(s, PC_EDIT_RIGHT, 0); break;          /* Ctrl+F */
    case 8: case 127: edit(s, PC_EDIT_BACKSPACE, 0); break;
    case '\t': edit(s, PC_EDIT_INSERT, ' '); break;
    case 11: edit(s, PC_EDIT_KILL_END, 0); break;      /* Ctrl+K */
    case 12:                                           /* Ctrl+L */
        clearok(curscr, TRUE);
        s->ch->dirty = 1;
        break;
    case 14: edit(s, PC_EDIT_HISTORY_NEXT, 0); break;  /* Ctrl+N */
    case 16: edit(s, PC_EDIT_HISTORY_PREV, 0); break;  /* Ctrl+P */
    case 20: edit(s, PC_EDIT_TRANSPOSE, 0); break;     /* Ctrl+T */
    case 21: edit(s, PC_EDIT_KILL_START, 0); break;    /* Ctrl+U */
    case 23: edit(s, PC_EDIT_KILL_WORD, 0); break;     /* Ctrl+W */
    case 25: edit(s, PC_EDIT_YANK, 0); break;          /* Ctrl+Y */
    default:
        if (k >= 32)
            edit(s, PC_EDIT_INSERT, (uint32_t)k);
        break;
    }
}

/* Every key ncurses has (a paste is many at once). */
static void read_keys(struct screen *s)
{
    wint_t k;
    int r;

    while (!s->ch->quit && (r = wget_wch(s->input, &k)) != ERR) {
        if (r == OK && k == 27 && alt_key(s, &r, &k))
            continue;
        if (r == KEY_CODE_YES)
            function_key(s, k);
        else if (r == OK && k != 27)
            char_key(s, k);
    }
    if (s->edited) {
        size_t len;
        const char *text = pc_input_text(s->in, &len);
        pc_chat_typing(s->ch, text, len);
    }
}

/* ---- signals and the loop ------------------------------------------------------------------ */

/* 1 when a signal asks to stop. */
static int read_signal(struct screen *s, int sigfd)
{
    struct signalfd_siginfo si;

    if (read(sigfd, &si, sizeof si) != (ssize_t)sizeof si)
        return 0;
    switch (si.ssi_signo) {
    case SIGWINCH:
        if (resize(s) != 0)
            return 1;
        return 0;
    case SIGINT: /* Ctrl+C: quits on an empty line, else empties it */
        if (line_empty(s))
            return 1;
        edit(s, PC_EDIT_CLEAR, 0);
        pc_chat_typing(s->ch, "", 0);
        return 0;
    default:
        return 1;
    }
}

/* Home and End as vt220, rxvt and tmux send them whatever TERM says
 * (ESC [ 1 ~, ESC [ 4 ~, ...): bound where the terminal description does
 * not already give those sequences a meaning. */
static void bind_home_end(void)
{
    static const char *const home[] = {"\033[1~", "\033[7~", "\033[H", "\033OH"};
    static const char *const end[] = {"\033[4~", "\033[8~", "\033[F", "\033OF"};

    for (size_t i = 0; i < sizeof home / sizeof home[0]; i++) {
        if (key_defined(home[i]) == 0)
            define_key(home[i], KEY_HOME);
        if (key_defined(end[i]) == 0)
            define_key(end[i], KEY_END);
    }
}

static int start(struct screen *s)
{
    const char *no_colour = getenv("NO_COLOR");
    int k;

    s->scr = newterm(NULL, stdout, stdin);
    if (!s->scr)
        return -1;
    set_term(s->scr);
    cbreak();
    noecho();
    nonl();
    intrflush(stdscr, FALSE);
    set_escdelay(ESC_DELAY_MS);
    if (has_colors() && !(no_colour && *no_colour) && start_color() == OK) {
        static const short names[NAME_COLOURS] = {COLOR_RED,  COLOR_GREEN,   COLOR_YELLOW,
                                                  COLOR_BLUE, COLOR_MAGENTA, COLOR_CYAN};
        use_default_colors();
        for (int i = 0; i < NAME_COLOURS; i++)
            init_pair((short)(PAIR_NAME + i), names[i], -1);
        init_pair(PAIR_NOTICE, COLOR_CYAN, -1);
        init_pair(PAIR_MARK, COLOR_GREEN, -1);
        s->colours = 1;
    }
    bind_home_end();
    k = key_defined("kLFT5");
    s->key_ctrl_left = k > 0 ? k : 0;
    k = key_defined("kRIT5");
    s->key_ctrl_right = k > 0 ? k : 0;
    curs_set(1);
    return make_windows(s);
}

static void stop(struct screen *s)
{
    free_windows(s);
    if (s->scr) {
        endwin();
        delscreen(s->scr);
        s->scr = NULL;
    }
}

int pc_screen_run(struct pc_chat *ch, pc_input *in, int sigfd)
{
    struct screen s = {.ch = ch, .in = in};
    int quit = 0;

    if (start(&s) != 0) {
        stop(&s);
        fprintf(stderr, "parley-chat: cannot use this terminal (TERM=%s)\n",
                getenv("TERM") ? getenv("TERM") : "");
        return 1;
    }
    draw(&s);
    while (!quit && !ch->quit) {
        struct pollfd fds[3] = {
            {STDIN_FILENO, POLLIN, 0},
            {pc_bridge_fd(ch->bridge), POLLIN, 0},
            {sigfd, POLLIN, 0},
        };
        if (poll(fds, 3, pc_chat_timeout(ch, pc_now_ms())) < 0 && errno != EINTR)
            break;
        if ((fds[2].revents & POLLIN) && read_signal(&s, sigfd))
            quit = 1;
        if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))
            quit = 1; /* the terminal is gone */
        else if (fds[0].revents & POLLIN)
            read_keys(&s);
        if (fds[1].revents & POLLIN)
            pc_chat_drain(ch);
        pc_chat_tick(ch, pc_now_ms());
        if (!quit && !ch->quit && (ch->dirty || s.edited))
            draw(&s);
        /* after the layout: the read receipts of what is now on screen */
        pc_chat_flush(ch);
    }
    stop(&s);
    return 0;
}
