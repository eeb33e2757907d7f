/* The inside of a parley_client, shared by the SDK's modules.
 *
 * Locking: every field below is guarded by `lock` except where noted. The
 * wslay context is not thread-safe, so it is touched only with the lock
 * held; callbacks into the application run with it released (inbox.c).
 * Functions named *_locked expect the lock held and may not release it;
 * pl_wait_locked is the one that does, while it waits. */
#ifndef PL_CLIENT_H
#define PL_CLIENT_H

#include <pthread.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <wslay/wslay.h>

#include "parley.h"
#include "tls.h"
#include "transport.h"
#include "url.h"

/* Timeouts used when the caller gives 0 or less, and for async requests. */
#define PL_DEFAULT_TIMEOUT_MS 30000
/* How long a close handshake may take before the socket is just closed. */
#define PL_CLOSE_WAIT_MS 1000
/* Largest WebSocket message accepted from the server. */
#define PL_MAX_RECV_MSG (16u * 1024 * 1024)

enum pl_state {
    PL_DISCONNECTED = 0,
    PL_CONNECTING,  /* parley_connect is opening the socket, unlocked */
    PL_OPEN,
    PL_CLOSING,     /* we sent a close frame and wait for the server's */
};

/* Something to hand to the application once the lock is released. */
enum pl_event_type { PL_EV_PUSH, PL_EV_ACK, PL_EV_DISCONNECT, PL_EV_UNMATCHED, PL_EV_STATE };

struct pl_event {
    enum pl_event_type type;
    char *name;       /* push: event name; unmatched: error code or NULL */
    char *json;       /* push: data; ack, unmatched: data or error; disconnect: reason */
    char *raw;        /* unmatched: the whole frame */
    int64_t id;       /* unmatched: the ack's id */
    parley_ack_cb cb; /* ack */
    void *arg;
    int rc;           /* ack: result; disconnect: close code; unmatched: ok (1/0/-1);
                       * state: the state */
    int replayed;     /* push: a message:new replayed by connection:recover */
    int64_t count;    /* state */
    int code, retry;  /* state: close code, will_retry */
    struct pl_event *next;
};

/* The application's callbacks, copied under the lock for one dispatch. */
struct pl_cbs {
    parley_push_cb push;
    parley_message_cb message;
    parley_disconnect_cb disconnect;
    parley_typing_cb typing;
    parley_receipt_cb receipt;
    parley_deleted_cb deleted;
    parley_member_cb member;
    parley_error_cb error;
    parley_unmatched_ack_cb unmatched_ack;
    parley_presence_cb presence;
    parley_state_cb state;
    void *userdata;
};

struct pl_pending;
/* Completion of a request the library made itself (recovery.c), run with
 * the lock held: rc PARLEY_OK with the ack's data, PARLEY_ERR_SERVER with
 * its error object, or a transport error with item NULL. */
typedef void (*pl_internal_fn)(parley_client *c, int rc, const cJSON *item);

/* A request waiting for its ack. Blocking requests live on the waiter's
 * stack; asynchronous and internal ones are malloc'd and freed once
 * completed. The request itself (event and data) is kept until then, so it
 * can be sent later (queued while disconnected) or again (after a drop). */
struct pl_pending {
    int64_t id;
    int64_t deadline; /* monotonic ms, < 0: none */
    int async;
    pl_internal_fn internal; /* the library's own request */
    int kind;         /* enum pd_event, PD_EV__COUNT when unknown */
    char *event;
    cJSON *data;
    int sent;         /* on the current connection */
    parley_ack_cb cb; /* async */
    void *arg;
    int done;         /* blocking: the result fields are set */
    int rc;
    char *result;     /* blocking: ack data / error JSON, the waiter's */
    char err_code[32];
    char err_message[256];
    struct pl_event *ev; /* async: the completion, allocated up front */
    int linked;
    struct pl_pending *prev, *next;
};

struct parley_client {
    pthread_mutex_t lock;
    /* Broadcast when a blocking request completes, the connection changes
     * state, a driver finishes a round or the loop thread stops. Uses
     * CLOCK_MONOTONIC. */
    pthread_cond_t cond;
    void *userdata;         /* set once at creation */
    struct pl_url url;      /* set once at creation */
    struct pl_tls *tls;     /* secure URLs: the settings of the next connect (tls.h);
                             * NULL until parley_set_tls or the first connect */
    char *token;

    parley_push_cb on_push;
    parley_message_cb on_message;
    parley_disconnect_cb on_disconnect;
    parley_typing_cb on_typing;
    parley_receipt_cb on_receipt;
    parley_deleted_cb on_deleted;
    parley_member_cb on_member;
    parley_error_cb on_error;
    parley_unmatched_ack_cb on_unmatched_ack;
    parley_presence_cb on_presence;
    parley_state_cb on_state;
    parley_token_cb on_token;

    /* connection */
    enum pl_state state;
    struct pl_transport tr;
    wslay_event_context_ptr ws;
    unsigned char *prebuf;  /* WebSocket bytes that came with the 101 */
    size_t prebuf_len, prebuf_off;
    int io_failed;          /* the socket hit end of stream or an error */
    int64_t close_deadline; /* PL_CLOSING: give up waiting for the server */
    int http_status;
    int close_code;         /* what the server's close frame said */
    char close_reason[128];
    int close_received;
    struct pl_event *disc_ev; /* the disconnect callback, allocated at attach */
    unsigned conn_gen;      /* bumped per connection */

    /* requests */
    int64_t next_id;
    struct pl_pending *pend_head, *pend_tail; /* ascending id */

    /* callbacks waiting to run, in arrival order */
    struct pl_event *inbox_head, *inbox_tail;
    int dispatching;        /* a thread is draining the inbox */
    pthread_t dispatch_tid;

    /* who drives the socket */
    int wake_fd;            /* eventfd: interrupts the poll of the loop/driver */
    int loop_running;
    int loop_stop;
    int loop_joinable;      /* a thread was started and not yet joined */
    pthread_t loop_tid;
    int driving;            /* a blocking call is polling the socket */
    pthread_t driver_tid;

    /* reconnect and recovery (recovery.c) */
    int rc_enabled;
    int rc_min_ms, rc_max_ms;
    int offline_policy;     /* enum parley_offline_policy */
    int rc_pending;         /* an automatic reconnect is scheduled or under way */
    int rc_attempt;         /* attempts since the drop */
    int64_t rc_due;         /* monotonic ms of the next attempt */
    int rc_close_code;      /* how the connection ended */
    int rc_connecting;      /* a thread runs an attempt (unlocked) */
    pthread_t rc_tid;
    int rc_cancel;          /* parley_disconnect during that attempt */
    int in_token_cb;        /* rc_tid runs the token callback */
    int app_closing;        /* parley_disconnect (or destroy) closes the connection */
    int destroying;
    int resume;             /* the next connect continues a dropped one */
    char *session_token;
    int64_t replay_left;    /* message:new pushes still to flag replayed */
    int recovering;         /* the library's recover is unanswered: requests wait */
    struct pl_room_track *rooms;
    size_t n_rooms, cap_rooms;
    struct parley_client_stats stats;
};

/* What the library knows of a room: whether this connection is subscribed
 * and the highest seq it saw (message:new, own send acks, join acks). */
struct pl_room_track {
    char name[65];
    int sub;
    int known;
    int64_t seq;
};

/* ---- client.c ---- */
void pl_lock(const parley_client *c);
void pl_unlock(const parley_client *c);
/* Is the calling thread running one of c's callbacks right now? */
int pl_in_callback_locked(const parley_client *c);
/* Wakes whoever polls c's socket (loop thread or blocking driver). */
void pl_wake(parley_client *c);
/* Remember a protocol error for parley_error_code/message on this thread. */
void pl_set_error(const parley_client *c, const char *code, const char *message);
void pl_clear_error(const parley_client *c);
/* A deadline from a timeout argument (<= 0: the default). */
int64_t pl_deadline(int timeout_ms);
/* A copy of a JWT fit for the Authorization header, or PARLEY_ERR_INVAL. */
int pl_token_dup(const char *jwt, char **out);

/* ---- ws.c ---- */
/* Wraps a connected, upgraded transport; takes ownership of t and extra. */
int pl_ws_attach_locked(parley_client *c, struct pl_transport *t, unsigned char *extra,
                        size_t extra_len);
/* Queues one text message; flushes what the socket takes at once. */
int pl_ws_send_text_locked(parley_client *c, const char *text, size_t len);
/* Reads and handles what the socket has. */
void pl_ws_read_locked(parley_client *c);
/* Writes what wslay has queued, as far as the socket takes it. */
void pl_ws_write_locked(parley_client *c);
int pl_ws_want_write_locked(const parley_client *c);
/* Starts the close handshake with code 1000. */
void pl_ws_close_locked(parley_client *c);
/* Tears the connection down once it is over (or the close wait ran out).
 * Returns 1 when it did. */
int pl_ws_reap_locked(parley_client *c);
/* Tears down now, whatever the state: code 1006 unless a close arrived. */
void pl_ws_teardown_locked(parley_client *c);

/* ---- requests.c ---- */
/* Registers p for event with data (consumed; NULL for {}) and sends it, or
 * queues it when the client is reconnecting under PARLEY_OFFLINE_WAIT. */
int pl_request_send_locked(parley_client *c, const char *event, cJSON *data,
                           struct pl_pending *p);
/* Sends a request of the library's own; fn runs on its completion.
 * Returns PARLEY_OK or an error (fn then never runs). */
int pl_request_internal_locked(parley_client *c, int ev, cJSON *data, pl_internal_fn fn);
/* Sends every queued request (after a connect). */
void pl_request_flush_locked(parley_client *c);
/* The connection is gone (or will not come): requests to send again after
 * the reconnect are kept when keep is set, the others complete with rc
 * (PARLEY_ERR_CLOSED when sent, PARLEY_ERR_NOT_CONNECTED when queued). */
void pl_request_drop_locked(parley_client *c, int keep);
/* Completes the queued (unsent) requests with PARLEY_ERR_NOT_CONNECTED. */
void pl_request_fail_queued_locked(parley_client *c);
/* An ack frame arrived (root is the parsed message, raw/len its text). */
void pl_request_ack_locked(parley_client *c, int64_t id, const cJSON *root, const char *raw,
                           size_t len);
/* Unlinks p from the pending table (blocking waiter giving up or done). */
void pl_request_unlink_locked(parley_client *c, struct pl_pending *p);
/* Expires pending requests whose deadline passed. */
void pl_request_timeouts_locked(parley_client *c);
/* Completes every pending request with rc (connection gone). */
void pl_request_fail_all_locked(parley_client *c, int rc);
/* Earliest pending deadline, or -1. */
int64_t pl_request_next_deadline_locked(const parley_client *c);
/* Blocking request: sends, waits, and fills *out (result JSON). */
int pl_request_sync(parley_client *c, const char *event, cJSON *data, int timeout_ms,
                    char **out);
int pl_request_async(parley_client *c, const char *event, cJSON *data, parley_ack_cb cb,
                     void *arg);
/* The same; *id_out (if not NULL) gets the request's id before cb can run. */
int pl_request_async_id(parley_client *c, const char *event, cJSON *data, parley_ack_cb cb,
                        void *arg, int64_t *id_out);

/* ---- recovery.c ---- */
/* Opens the connection with token (consumed) before deadline; the lock is
 * released during the connect and handshake. c->state must be
 * PL_DISCONNECTED. On success the session is created or recovered and
 * queued requests go out. */
int pl_connect_locked(parley_client *c, char *token, int64_t deadline, int automatic);
/* The connection was torn down (teardown runs this before the disconnect
 * event is queued): schedules the reconnect, sorts the pending requests.
 * Returns 1 when a reconnect will follow. */
int pl_conn_lost_locked(parley_client *c, int code);
/* Queues a state event. */
void pl_state_locked(parley_client *c, int state, int64_t count, int code, int retry);
/* One automatic connect attempt (the lock is released meanwhile, the
 * token callback runs without it). */
void pl_reconnect_attempt_locked(parley_client *c);
/* Monotonic ms of the next attempt, or -1 when none can start now. */
int64_t pl_reconnect_due_locked(const parley_client *c);
/* ---- loop.c ---- */
/* One round while there is no connection: an attempt when one is due,
 * else a wait (up to cap_ms, on the wake fd) for it or the next request
 * deadline. Runs the request timeouts. */
void pl_reconnect_round_locked(parley_client *c, int cap_ms);
/* {room: seq} of the subscribed rooms whose seq the library knows. */
cJSON *pl_last_seq_json_locked(const parley_client *c);
/* Bookkeeping of a push (before it is queued): returns 0 to drop it
 * (a message:new already seen), sets *replayed. */
int pl_track_push_locked(parley_client *c, const char *event, const cJSON *data, int *replayed);
/* Bookkeeping of an ack of p (ok: data, else the error object). */
void pl_track_ack_locked(parley_client *c, const struct pl_pending *p, int ok,
                         const cJSON *item);
/* Adds a client_msg_id to a message:send's data when reconnect is on and
 * the caller gave none. Returns 0 without memory. */
int pl_track_send_data_locked(parley_client *c, cJSON *data);
/* Forgets sessions, rooms and seqs (parley_disconnect). */
void pl_track_reset_locked(parley_client *c);
void pl_track_free(parley_client *c);
/* Whether a connection is coming (a reconnect pending or to be scheduled,
 * or a connect under way). */
int pl_expecting_connection_locked(const parley_client *c);

/* ---- inbox.c ---- */
void pl_inbox_push_locked(parley_client *c, struct pl_event *ev);
/* Queues an event; returns PARLEY_ERR_NOMEM when it could not. Takes
 * ownership of name and json either way. */
int pl_inbox_add_locked(parley_client *c, enum pl_event_type type, char *name, char *json,
                        parley_ack_cb cb, void *arg, int rc);
/* Runs queued callbacks, without the lock. Call with the lock released. */
void pl_dispatch(parley_client *c);
/* Frees queued events without running them. */
void pl_inbox_clear_locked(parley_client *c);

/* ---- pushes.c ---- */
/* Runs the typed callback of a push (name, data JSON), if any is set and
 * the push is well formed. Called without the lock. */
void pl_push_typed(parley_client *c, const struct pl_cbs *cb, const char *name,
                   const char *json);

/* ---- loop.c ---- */
/* Waits with the lock held until pred(c, arg) is true or the deadline;
 * drives the socket itself when no loop thread does. Returns pred's last
 * value. */
int pl_wait_locked(parley_client *c, int (*pred)(parley_client *, void *), void *arg,
                   int64_t deadline);

#endif
