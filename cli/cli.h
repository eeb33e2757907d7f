/* The one context of a `parley` run: options, the SDK client, the queue of
 * pushes `wait` consumes, the rooms the shell completes, and the worst exit
 * status so far. Every module takes a pointer to it; there is no other
 * global state (shell.c keeps one file-static pointer because readline's
 * callbacks take no user pointer). */
#ifndef PARLEY_CLI_H
#define PARLEY_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "parley.h"

/* Exit statuses of parley(1), in increasing severity: a run ends with the
 * worst one seen. */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,    /* a command failed: refused, timed out, wait timed out */
    CLI_EXIT_USAGE = 2,   /* bad flag, unknown command, missing argument */
    CLI_EXIT_CONNECT = 3, /* no connection or upgrade refused: stop there */
};

/* One push kept for `wait`: the event name and its data as JSON text. */
struct cli_push {
    struct cli_push *next;
    unsigned long seq; /* 1 for the first push of the run, then 2, 3... */
    char *event;
    char *data_json;
};

/* An acknowledgement as it arrived. */
struct cli_ack {
    long long id;
    int ok;      /* 1 "ok": true, 0 false, -1 neither */
    char *json;  /* ok: the data object; else the error object ("{}" if absent) */
    char *frame; /* the whole ack, as the server sent it */
    int printed; /* already printed as it arrived (see session_call) */
};

/* What this connection has shown of a room, for the catch-up after a
 * lost session (reconnect.c). */
struct cli_track {
    char *room;
    long long seq;        /* the highest seq shown: pushes, own sends, history, join */
    int known;            /* seq means something */
    int sub;              /* this connection is subscribed to the room */
    int catching;         /* a catch-up from history is due */
    long long floor;      /* catching: seq before the session was lost, -1 unknown */
    long long first_live; /* catching: seq of the first message:new since, 0 none */
};

/* Where a finished output line goes. The shell replaces the default
 * (write and flush) so a push does not break the line being edited. */
typedef void (*cli_emit_fn)(void *hook_arg, FILE *f, const char *line);

struct cli {
    /* options */
    const char *url;
    char *token; /* owned; NULL when none */
    int json;
    int timeout_ms;
    int interactive;
    /* --user/--password (or the environment's): logging in again when an
     * automatic reconnect finds the token expired */
    const char *login_user, *login_password;
    /* --cafile, --capath, --insecure (or PARLEY_CAFILE/PARLEY_CAPATH) for
     * https/wss, also for register and login; NULL: the defaults */
    const struct parley_tls_opts *tls;

    /* the connection; client is created at start, connected lazily */
    parley_client *client;
    int closing_self; /* we are closing it: a close is not the server's */
    long long last_misc_ms; /* when parley_loop_misc last ran */

    /* pushes not yet consumed by `wait`, oldest first */
    struct cli_push *queue_head, *queue_tail;
    size_t queue_len;
    unsigned long pushes_seen; /* counts every push, for send-text */

    /* rooms joined in this session (for tab completion) */
    char **rooms;
    size_t nrooms, rooms_cap;

    /* the request session_call waits for (0: none), and its ack once it
     * arrived (wait_done) */
    long long wait_id;
    int wait_done;
    struct cli_ack wait_ack;
    /* acks no command waited for: late ones, those of send-text frames */
    unsigned long stray_acks;
    /* session_call prints nothing (the shell's own room:list) */
    int call_quiet;

    /* the event of the request session_call waits for */
    const char *wait_event;

    /* recovery: the id of the last connection:recover request; how many
     * message:new pushes still to come are its replay (marked so) */
    long long recover_id;
    long long replay_left;

    /* the rooms this connection is subscribed to and has seen (reconnect.c) */
    struct cli_track *track;
    size_t ntrack, track_cap;

    /* automatic reconnect (the shell, --reconnect): see reconnect.h */
    int reconnect;
    int rc_down;        /* dropped, not connected again yet */
    int rc_state;       /* the last parley_conn_state reported */
    int rc_attempt;     /* the attempt that state names (CONNECTING) */
    int rc_failed_told; /* that attempt's failure is printed */
    int rc_back;        /* connected again: the recovery's outcome says so */
    int catchup_due;    /* a session was lost: reload history (recovery_idle) */
    char *my_status;    /* the status this user last set (wire form), NULL: none */
    int status_due;     /* connected again: restore my_status if the server reset it */
    int close_code;     /* the last drop, for the state line */
    char *close_reason;

    cli_emit_fn emit;
    void *emit_arg;

    int status; /* worst enum cli_exit so far */
    int stop;   /* quit, or a connect failure in a script */
};

/* Records an exit status; the run ends with the worst. */
void cli_fail(struct cli *ctx, int status);

#endif
