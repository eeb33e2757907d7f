/* The bridge between libparley's thread and parley-chat's UI thread.
 *
 * The SDK runs managed: its callbacks run on its own thread. Each callback
 * copies what it got into a malloc'd pc_event, appends it to a queue under
 * a mutex and, when the queue was empty, writes one byte to a self-pipe;
 * the UI thread polls the pipe's read end, drains it, then takes the whole
 * queue (in that order, so no event is left without a wake-up). The UI
 * thread never touches SDK data and the SDK thread never touches UI state.
 *
 * Acks of asynchronous calls come the same way: pass pc_bridge_ack as the
 * completion callback and a pc_req-like object as its arg; the event
 * carries the arg back, and the bridge frees it with the free function
 * given at creation when an event is dropped unhandled. */
#ifndef PC_BRIDGE_H
#define PC_BRIDGE_H

#include <stdint.h>

#include "parley.h"

enum pc_ev_kind {
    PC_EV_MESSAGE = 1, /* message:new */
    PC_EV_TYPING,      /* message:typing */
    PC_EV_RECEIPT,     /* message:delivered / message:read */
    PC_EV_DELETED,     /* message:deleted */
    PC_EV_MEMBER,      /* room:user-joined / room:user-left */
    PC_EV_ERROR,       /* an error push */
    PC_EV_PRESENCE,    /* presence:update */
    PC_EV_STATE,       /* the connection's state (reconnects) */
    PC_EV_ACK,         /* the completion of an asynchronous call */
};

/* One event; fields a kind does not use are 0 or NULL. Strings are owned
 * by the event. */
struct pc_event {
    struct pc_event *next;
    int kind;
    char *room;     /* MESSAGE TYPING RECEIPT DELETED MEMBER */
    char *user;     /* MESSAGE TYPING RECEIPT MEMBER PRESENCE */
    char *name;     /* MESSAGE MEMBER PRESENCE: display name; ERROR: the event named */
    char *text;     /* MESSAGE: text; ERROR: message; PRESENCE: status; ACK: data JSON */
    char *code;     /* ERROR: the error code */
    int64_t id;     /* MESSAGE: id; RECEIPT DELETED: message_id */
    int64_t seq, reply_to; /* MESSAGE */
    int64_t ts;     /* MESSAGE RECEIPT */
    int deleted, replayed; /* MESSAGE */
    int typing;     /* TYPING: 1 started, 0 stopped */
    int receipt;    /* RECEIPT: enum parley_receipt_kind */
    int joined;     /* MEMBER: 1 joined, 0 left */
    int state;      /* STATE: enum parley_conn_state */
    int64_t count;  /* STATE: as parley_state_event's */
    int close_code, will_retry; /* STATE */
    int rc;         /* ACK: PARLEY_OK, PARLEY_ERR_SERVER (text: the error object) or a transport error */
    void *arg;      /* ACK: the caller's arg, now the event's */
};

struct pc_bridge;

/* What the token callback logs in with when the JWT expired (4001) or was
 * refused (401): NULL user for none (a --token client keeps its token).
 * Strings are copied. */
struct pc_bridge_login {
    const char *url, *user, *password;
    const struct parley_tls_opts *tls; /* NULL: the defaults */
};

/* free_arg frees an ACK's arg (for events freed unhandled). 0 or -1. */
int pc_bridge_new(const struct pc_bridge_login *login, void (*free_arg)(void *arg),
                  struct pc_bridge **out);
/* Sets every callback of c (its userdata must be b). */
void pc_bridge_attach(struct pc_bridge *b, parley_client *c);
/* Frees the queue and b. After parley_client_destroy: no callback may run. */
void pc_bridge_free(struct pc_bridge *b);

/* The fd to poll for input. */
int pc_bridge_fd(const struct pc_bridge *b);
/* Drains the pipe and returns the queued events, oldest first (NULL when
 * none). *lost gets how many events could not be queued for lack of
 * memory since the last call, *lost_acks how many of them were acks
 * (their args were freed). */
struct pc_event *pc_bridge_take(struct pc_bridge *b, unsigned *lost, unsigned *lost_acks);
/* Frees an event; an ACK's arg is freed only when free_arg is set. */
void pc_event_free(struct pc_bridge *b, struct pc_event *ev, int free_arg);

/* The completion callback for every *_async call (userdata: the bridge). */
void pc_bridge_ack(parley_client *c, void *userdata, void *arg, int rc, const char *data_json);

#endif
