/*
 * libparley: the C client of the Parley chat protocol (parley-protocol(7)).
 *
 * One parley_client is one WebSocket connection to parleyd plus its pending
 * requests. Every protocol event has a blocking call (with a timeout) and an
 * asynchronous form (with a completion callback); pushes from the server
 * arrive through callbacks.
 *
 * Two ways to run a client:
 *  - managed: parley_loop_start() runs the client's I/O on a thread of its
 *    own; callbacks then run on that thread.
 *  - embedded: put parley_socket() in the application's own poll() loop and
 *    call parley_loop_read(), parley_loop_write() (when parley_want_write()),
 *    and parley_loop_misc() about once a second; callbacks run inside those
 *    calls. parley_loop() does one such round with its own poll().
 * A blocking call made while no loop thread runs drives the connection
 * itself until its ack arrives (pushes received meanwhile go to the
 * callbacks before it returns).
 *
 * Pushes: for each push the raw callback (parley_on_push) runs first, then
 * the typed callback of its event (parley_on_message, parley_on_typing,
 * parley_on_receipt, parley_on_deleted, parley_on_member, parley_on_error,
 * parley_on_presence).
 *
 * Reconnect: opt in with parley_set_reconnect; the library then reopens a
 * dropped connection with backoff, recovers the session and replays what
 * was missed (parley_on_state, parley_on_token, parley_set_offline_policy).
 *
 * Threads: a client may be used from several threads; calls take the
 * client's lock. Callbacks run without that lock held, so they may call
 * asynchronous functions, but a blocking call from inside a callback returns
 * PARLEY_ERR_INVAL (it would wait on itself).
 *
 * Timeouts: a timeout_ms of 0 or less means the default, 30 seconds (except
 * parley_loop, where 0 polls without waiting and a negative value waits
 * for activity). An asynchronous request that gets no ack within 30 seconds
 * completes with PARLEY_ERR_TIMEOUT.
 *
 * Memory: strings handed to callbacks live until the callback returns.
 * Everything a call returns through an out-pointer is the caller's, freed
 * with the free function named beside it. The library never aborts the
 * process and never writes to stdout or stderr.
 */
#ifndef PARLEY_H
#define PARLEY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PARLEY_BUILDING)
#define PARLEY_API __attribute__((visibility("default")))
#else
#define PARLEY_API
#endif

#define PARLEY_VERSION_MAJOR 0
#define PARLEY_VERSION_MINOR 1
#define PARLEY_VERSION_PATCH 0

/* Fills the run-time library version; returns it as major*10000+minor*100+patch. */
PARLEY_API int parley_lib_version(int *major, int *minor, int *patch);

/* Every function returning int returns PARLEY_OK or one of these. */
enum parley_err {
    PARLEY_OK = 0,
    PARLEY_ERR_INVAL = -1,         /* a bad argument */
    PARLEY_ERR_NOMEM = -2,         /* out of memory */
    PARLEY_ERR_CONNECT = -3,       /* TCP connect or name resolution failed */
    PARLEY_ERR_HANDSHAKE = -4,     /* the server refused the upgrade (see parley_http_status) */
    PARLEY_ERR_TIMEOUT = -5,       /* no answer within the timeout */
    PARLEY_ERR_CLOSED = -6,        /* the connection closed (see parley_close_code) */
    PARLEY_ERR_NOT_CONNECTED = -7, /* the call needs a connection */
    PARLEY_ERR_PROTOCOL = -8,      /* the server sent something the protocol does not allow */
    PARLEY_ERR_SERVER = -9,        /* the server refused the request (see parley_error_code) */
    PARLEY_ERR_HTTP = -10,         /* an HTTP call failed below the protocol */
    PARLEY_ERR_IO = -11,           /* a socket error */
    PARLEY_ERR_TLS = -12,          /* TLS failed: the server's certificate was refused, or the
                                    * handshake (see parley_error_code/parley_error_message) */
};

/* A one-line English description of a parley_err; never NULL. */
PARLEY_API const char *parley_strerror(int err);

typedef struct parley_client parley_client;

/* A message of the protocol (parley-protocol(7) section 3). Strings are
 * NUL-terminated UTF-8; client_msg_id is NULL when absent, reply_to 0. */
struct parley_message {
    int64_t id;
    const char *room;
    int64_t seq;
    const char *user;
    const char *name;
    const char *text;
    int64_t ts;
    const char *client_msg_id;
    int64_t reply_to;
    int deleted;
    /* 1 when the message was missed during a connection drop and replayed
     * by connection:recover (after PARLEY_STATE_RECOVERED), 0 for a live
     * one and for every message a call returns (send, history). Added
     * last, after the fields above, and stays last. */
    int replayed;
};

/* A push from the server: the event name and its `data` object as JSON. */
struct parley_push {
    const char *event;
    const char *data_json;
};

/* ---- life cycle ---------------------------------------------------------- */

/* url: "http://HOST:PORT", "ws://HOST:PORT" (path /ws implied) or
 * "ws://HOST:PORT/ws"; "https://" and "wss://" the same over TLS (default
 * port 443, see parley_set_tls). HOST may be an IPv6 literal in brackets.
 * userdata is handed back to every callback. Returns NULL on a bad URL or
 * no memory. */
PARLEY_API parley_client *parley_client_new(const char *url, void *userdata);
/* Closes the connection if open, stops the loop thread, frees everything.
 * Pending asynchronous requests complete with PARLEY_ERR_CLOSED. Not from
 * inside one of c's callbacks. */
PARLEY_API void parley_client_destroy(parley_client *c);

/* The JWT sent at the next connect (Authorization: Bearer). Copied. */
PARLEY_API int parley_set_token(parley_client *c, const char *jwt);

/* Opens the WebSocket: PARLEY_OK, PARLEY_ERR_CONNECT, PARLEY_ERR_HANDSHAKE
 * (401/403/429... in parley_http_status, the server's error in
 * parley_error_code), PARLEY_ERR_TIMEOUT; PARLEY_ERR_INVAL when already
 * connected. */
PARLEY_API int parley_connect(parley_client *c, int timeout_ms);
/* Sends a normal close (1000) and closes, waiting up to a second for the
 * server's answer (from inside a callback it does not wait). */
PARLEY_API void parley_disconnect(parley_client *c);
/* 1 while the WebSocket is open. */
PARLEY_API int parley_is_connected(const parley_client *c);

/* HTTP status of the last refused upgrade or HTTP call, 0 if none. */
PARLEY_API int parley_http_status(const parley_client *c);
/* Close code and reason the server sent when it closed, 0/"" if none. */
PARLEY_API int parley_close_code(const parley_client *c);
PARLEY_API const char *parley_close_reason(const parley_client *c);

/* After PARLEY_ERR_SERVER: the protocol's error code ("forbidden", ...) and
 * its message, valid until the next call on c from the same thread. After
 * PARLEY_ERR_TLS (parley_connect, parley_set_tls, an automatic reconnect
 * on the thread that made it): "certificate" when verification refused the
 * server's certificate (untrusted issuer, expired, not for this host) or
 * "tls" for any other TLS failure, and the reason, e.g. "certificate
 * verify failed: unable to get local issuer certificate". */
PARLEY_API const char *parley_error_code(const parley_client *c);
PARLEY_API const char *parley_error_message(const parley_client *c);

/* ---- TLS ------------------------------------------------------------------- */

/* https:// and wss:// URLs speak TLS 1.2 or later and verify the server:
 * its certificate must chain to a trusted CA and name the URL's host (a
 * DNS name in subjectAltName, or the address for an IP literal). The host
 * name goes out as SNI (an address does not). Zero the struct before
 * filling it: every field's zero is the default. */
struct parley_tls_opts {
    /* A PEM file of the CA certificates to trust. NULL with ca_path NULL:
     * the system's store (OpenSSL's default, which SSL_CERT_FILE and
     * SSL_CERT_DIR override). */
    const char *ca_file;
    /* A directory of CA certificates named by hash (openssl rehash). */
    const char *ca_path;
    /* The name to verify and send as SNI instead of the URL's host, for a
     * server reached by an address or alias its certificate does not name.
     * NULL: the URL's host. */
    const char *server_name;
    /* 1: no verification at all, any certificate for any name is taken.
     * FOR TESTS ONLY: anyone on the path can then read and change the
     * traffic, the token included. */
    int insecure;
};

/* The TLS settings of c's next connects, automatic reconnects included
 * (NULL: the defaults). Everything is copied, and the CA file or
 * directory is read now: PARLEY_ERR_TLS when it cannot be (the reason in
 * parley_error_message). No effect on an http:// or ws:// client. */
PARLEY_API int parley_set_tls(parley_client *c, const struct parley_tls_opts *opts);

/* ---- callbacks ----------------------------------------------------------- */

/* Every push, message:new included, as raw JSON. */
typedef void (*parley_push_cb)(parley_client *c, void *userdata, const struct parley_push *push);
/* message:new, parsed. */
typedef void (*parley_message_cb)(parley_client *c, void *userdata,
                                  const struct parley_message *msg);
/* The connection closed: code/reason from the server's close frame, or
 * 1006 and "" when it dropped without one. */
typedef void (*parley_disconnect_cb)(parley_client *c, void *userdata, int code,
                                     const char *reason);
/* Completion of an asynchronous request: rc PARLEY_OK with the ack's
 * `data` as JSON; PARLEY_ERR_SERVER with the ack's `error` object as JSON;
 * or a transport error with data_json NULL. arg is the caller's. Called
 * exactly once for every asynchronous call that returned PARLEY_OK (with
 * PARLEY_ERR_CLOSED when the connection closes first), never for one that
 * failed. */
typedef void (*parley_ack_cb)(parley_client *c, void *userdata, void *arg, int rc,
                              const char *data_json);

PARLEY_API void parley_on_push(parley_client *c, parley_push_cb cb);
PARLEY_API void parley_on_message(parley_client *c, parley_message_cb cb);
PARLEY_API void parley_on_disconnect(parley_client *c, parley_disconnect_cb cb);

/* Typed pushes. For every push the raw push callback (parley_on_push) runs
 * first, then the typed callback of its event, if one is set and the push
 * is well formed (one that is not still reached the raw callback). */

/* message:typing */
struct parley_typing {
    const char *room;
    const char *user;
    int typing; /* 1 started, 0 stopped (or expired, or disconnected) */
};
typedef void (*parley_typing_cb)(parley_client *c, void *userdata,
                                 const struct parley_typing *t);

/* message:delivered and message:read, sent to the author's connections. */
enum parley_receipt_kind { PARLEY_RECEIPT_DELIVERED = 1, PARLEY_RECEIPT_READ = 2 };
struct parley_receipt {
    int kind; /* enum parley_receipt_kind */
    int64_t message_id;
    const char *room;
    const char *user; /* who received or read it */
    int64_t ts;       /* ms since the epoch, 0 when absent */
};
typedef void (*parley_receipt_cb)(parley_client *c, void *userdata,
                                  const struct parley_receipt *r);

/* message:deleted */
struct parley_deleted {
    int64_t message_id;
    const char *room;
};
typedef void (*parley_deleted_cb)(parley_client *c, void *userdata,
                                  const struct parley_deleted *d);

/* room:user-joined (joined 1) and room:user-left (joined 0). name is the
 * display name, or the user id when the push has none (user-left). */
struct parley_member_event {
    int joined;
    const char *room;
    const char *user;
    const char *name;
};
typedef void (*parley_member_cb)(parley_client *c, void *userdata,
                                 const struct parley_member_event *e);

/* An "error" push: the failure of a request sent without an id (or of a
 * frame the server could not read). event is NULL when the push names none. */
struct parley_error_push {
    const char *code;
    const char *message;
    const char *event;
};
typedef void (*parley_error_cb)(parley_client *c, void *userdata,
                                const struct parley_error_push *e);

PARLEY_API void parley_on_typing(parley_client *c, parley_typing_cb cb);
PARLEY_API void parley_on_receipt(parley_client *c, parley_receipt_cb cb);
PARLEY_API void parley_on_deleted(parley_client *c, parley_deleted_cb cb);
PARLEY_API void parley_on_member(parley_client *c, parley_member_cb cb);
PARLEY_API void parley_on_error(parley_client *c, parley_error_cb cb);

/* An ack whose id matches no pending request of the library: an id the
 * application sent itself with parley_send_text, or the late ack of a
 * request that already completed with PARLEY_ERR_TIMEOUT. */
struct parley_ack {
    int64_t id;
    int ok;                 /* 1 for "ok": true, 0 for false, -1 neither */
    const char *data_json;  /* ok: the data object; else the error object; "{}" if absent */
    const char *error_code; /* !ok: the error's code, else NULL */
    const char *frame_json; /* the whole frame as received */
};
typedef void (*parley_unmatched_ack_cb)(parley_client *c, void *userdata,
                                        const struct parley_ack *ack);
PARLEY_API void parley_on_unmatched_ack(parley_client *c, parley_unmatched_ack_cb cb);

/* ---- running the connection ---------------------------------------------- */

/* parley_loop_stop may be called from a callback on the loop thread: the
 * thread then ends when the callback returns. While the loop thread runs,
 * the embedded calls below return PARLEY_ERR_INVAL. */
PARLEY_API int parley_loop_start(parley_client *c);
PARLEY_API int parley_loop_stop(parley_client *c);

/* Embedded: the socket to poll (-1 when not connected). */
PARLEY_API int parley_socket(const parley_client *c);
/* 1 when there is output to write: poll for POLLOUT too. The loop calls
 * return PARLEY_ERR_CLOSED when the connection ended during the call (the
 * disconnect callback has run) and PARLEY_ERR_NOT_CONNECTED without one. */
PARLEY_API int parley_want_write(const parley_client *c);
PARLEY_API int parley_loop_read(parley_client *c);
PARLEY_API int parley_loop_write(parley_client *c);
/* Timeouts of pending requests; call about once a second. */
PARLEY_API int parley_loop_misc(parley_client *c);
/* One round: poll up to timeout_ms, then read, write and misc. */
PARLEY_API int parley_loop(parley_client *c, int timeout_ms);

/* ---- requests -------------------------------------------------------------- */

/* Any event with `data` given as a JSON object text (NULL for {}). On
 * PARLEY_OK *ack_data (if not NULL) gets the ack's data as malloc'd JSON; on
 * PARLEY_ERR_SERVER it gets the ack's error object. Free with parley_free. */
PARLEY_API int parley_request(parley_client *c, const char *event, const char *data_json,
                              int timeout_ms, char **ack_data);
PARLEY_API int parley_request_async(parley_client *c, const char *event, const char *data_json,
                                    parley_ack_cb cb, void *arg);
/* As parley_request_async; on PARLEY_OK *id_out (if not NULL) gets the id
 * the request was sent with, set before cb can run. */
PARLEY_API int parley_request_async_id(parley_client *c, const char *event,
                                       const char *data_json, parley_ack_cb cb, void *arg,
                                       int64_t *id_out);
/* A request id the library will never use itself (ids are positive and
 * increase per client), for a frame the application writes with
 * parley_send_text; its ack reaches the unmatched-ack callback. Returns 0
 * only when c is NULL. */
PARLEY_API int64_t parley_reserve_id(parley_client *c);
/* Sends a text frame exactly as given (no id added): for tools and tests.
 * When text is a JSON object whose "id" is an integer (up to 2^52) the
 * library has not used yet, the library's own ids skip past it, so the ack
 * of that frame is never taken for one of the library's requests (an id
 * the library has used may collide: take ids from parley_reserve_id). */
PARLEY_API int parley_send_text(parley_client *c, const char *text, size_t len);
PARLEY_API void parley_free(void *p);

/* ---- typed calls --------------------------------------------------------- */

PARLEY_API int parley_join(parley_client *c, const char *room, int is_private, int timeout_ms);
PARLEY_API int parley_join_async(parley_client *c, const char *room, int is_private,
                                 parley_ack_cb cb, void *arg);
PARLEY_API int parley_leave(parley_client *c, const char *room, int timeout_ms);
PARLEY_API int parley_leave_async(parley_client *c, const char *room, parley_ack_cb cb,
                                  void *arg);

/* Optional fields of message:send; pass NULL for none. */
struct parley_send_opts {
    const char *client_msg_id; /* idempotency key, <= 64 characters */
    int64_t reply_to;          /* 0 for none */
};
/* On PARLEY_OK, *out (if not NULL) gets the stored message; free it with
 * parley_message_free. */
PARLEY_API int parley_send(parley_client *c, const char *room, const char *text,
                           const struct parley_send_opts *opts, int timeout_ms,
                           struct parley_message **out);
PARLEY_API int parley_send_async(parley_client *c, const char *room, const char *text,
                                 const struct parley_send_opts *opts, parley_ack_cb cb,
                                 void *arg);

/* Newest `limit` (1..100, 0 for the default 50) messages with seq below
 * before_seq (0: the newest), ascending. Free with parley_messages_free. */
PARLEY_API int parley_history(parley_client *c, const char *room, int64_t before_seq, int limit,
                              int timeout_ms, struct parley_message **msgs, size_t *n,
                              int *has_more);
PARLEY_API int parley_history_async(parley_client *c, const char *room, int64_t before_seq,
                                    int limit, parley_ack_cb cb, void *arg);

PARLEY_API void parley_message_free(struct parley_message *m);
PARLEY_API void parley_messages_free(struct parley_message *msgs, size_t n);
/* Parses a message object (as in a message:new push's data.message, or an
 * ack's data.message) into *out. Free with parley_message_free. */
PARLEY_API int parley_message_parse(const char *json, struct parley_message **out);

/* ---- rooms ------------------------------------------------------------------ */

/* Results are one allocation each (the struct or array, then what it points
 * to), freed with the function named beside it; the free functions accept
 * NULL. The async forms hand the ack's data JSON to cb; the parse functions
 * below turn it into the same structs. A string field the server left out
 * is "" (unless said otherwise). */

/* A member of a room (parley-protocol(7) section 3). */
struct parley_member {
    const char *user;
    const char *name;   /* display name; the user id when absent */
    const char *role;   /* "owner" or "member" */
    const char *status; /* "online", "away", "busy" or "offline" */
};

/* A room object, with the extras some acks carry. */
struct parley_room {
    const char *name;       /* the wire's "room" */
    int is_private;
    const char *created_by;
    int64_t created_at;     /* ms since the epoch */
    int64_t member_count;
    int64_t online_count;
    int64_t last_seq;
    int64_t unread;         /* room:list; -1 when not given */
    const char *role;       /* the caller's role (join:chat's ack), NULL when not given */
    struct parley_member *members; /* room:info and join:chat (at most 100), else NULL */
    size_t n_members;
};

/* A list of strings. */
struct parley_strings {
    const char **items;
    size_t n;
};

/* room:subscribe-multiple's outcome. */
struct parley_subscribe_failure {
    const char *room;
    const char *code; /* "forbidden" (not a member), "bad_request" (bad name) */
};
struct parley_subscribe_result {
    const char **subscribed;
    size_t n_subscribed;
    struct parley_subscribe_failure *failed;
    size_t n_failed;
};

/* One subscription of this connection (room:subscription-details). */
struct parley_subscription {
    const char *room;
    int64_t subscribed_at; /* ms since the epoch */
    int64_t last_seq;
    int64_t last_read_seq;
    int64_t unread;
};

/* room:info: *out gets the room with its members; parley_room_free. */
PARLEY_API int parley_room_info(parley_client *c, const char *room, int timeout_ms,
                                struct parley_room **out);
PARLEY_API int parley_room_info_async(parley_client *c, const char *room, parley_ack_cb cb,
                                      void *arg);
/* room:list: every room the user is a member of, with unread counts;
 * parley_rooms_free. *rooms is NULL when there are none. */
PARLEY_API int parley_room_list(parley_client *c, int timeout_ms, struct parley_room **rooms,
                                size_t *n);
PARLEY_API int parley_room_list_async(parley_client *c, parley_ack_cb cb, void *arg);
/* room:online: the members whose status is not offline; parley_members_free. */
PARLEY_API int parley_room_online(parley_client *c, const char *room, int timeout_ms,
                                  struct parley_member **users, size_t *n);
PARLEY_API int parley_room_online_async(parley_client *c, const char *room, parley_ack_cb cb,
                                        void *arg);
/* room:subscribe-multiple of n (1..100) rooms: which were subscribed and
 * which failed, with the code of each; parley_subscribe_result_free. A
 * name the server refuses is reported in failed, not checked here. */
PARLEY_API int parley_subscribe(parley_client *c, const char *const *rooms, size_t n,
                                int timeout_ms, struct parley_subscribe_result **out);
PARLEY_API int parley_subscribe_async(parley_client *c, const char *const *rooms, size_t n,
                                      parley_ack_cb cb, void *arg);
/* room:unsubscribe-multiple: *unsubscribed gets the rooms this connection
 * was subscribed to and no longer is; parley_strings_free. */
PARLEY_API int parley_unsubscribe(parley_client *c, const char *const *rooms, size_t n,
                                  int timeout_ms, struct parley_strings **unsubscribed);
PARLEY_API int parley_unsubscribe_async(parley_client *c, const char *const *rooms, size_t n,
                                        parley_ack_cb cb, void *arg);
/* room:subscription-status: whether the user is a member (a non-member gets
 * PARLEY_ERR_SERVER "forbidden") and this connection subscribed. */
PARLEY_API int parley_subscription_status(parley_client *c, const char *room, int timeout_ms,
                                          int *member, int *subscribed);
PARLEY_API int parley_subscription_status_async(parley_client *c, const char *room,
                                                parley_ack_cb cb, void *arg);
/* room:subscription-details: this connection's subscriptions;
 * parley_subscriptions_free. */
PARLEY_API int parley_subscription_details(parley_client *c, int timeout_ms,
                                           struct parley_subscription **subs, size_t *n);
PARLEY_API int parley_subscription_details_async(parley_client *c, parley_ack_cb cb,
                                                 void *arg);
/* room:invite: lets user join the private room (owner or admin only). */
PARLEY_API int parley_invite(parley_client *c, const char *room, const char *user,
                             int timeout_ms);
PARLEY_API int parley_invite_async(parley_client *c, const char *room, const char *user,
                                   parley_ack_cb cb, void *arg);

/* ---- messaging ------------------------------------------------------------ */

/* message:delivery-status */
struct parley_receipt_entry {
    const char *user;
    int64_t ts; /* ms since the epoch */
};
struct parley_delivery_status {
    int64_t message_id;
    struct parley_receipt_entry *delivered_to; /* readers included */
    size_t n_delivered;
    struct parley_receipt_entry *read_by;
    size_t n_read;
    const char **pending; /* members not delivered to yet */
    size_t n_pending;
};

/* message:stats: plain numbers, filled into the caller's struct. */
struct parley_message_stats {
    int64_t sent;
    int64_t delivered;
    int64_t read;
    int64_t deleted;
};

/* message:typing: typing non-zero for started, 0 for stopped. */
PARLEY_API int parley_typing(parley_client *c, const char *room, int typing, int timeout_ms);
PARLEY_API int parley_typing_async(parley_client *c, const char *room, int typing,
                                   parley_ack_cb cb, void *arg);
/* message:typing-users: the user ids typing in room; parley_strings_free. */
PARLEY_API int parley_typing_users(parley_client *c, const char *room, int timeout_ms,
                                   struct parley_strings **users);
PARLEY_API int parley_typing_users_async(parley_client *c, const char *room, parley_ack_cb cb,
                                         void *arg);
/* message:delivered: marks message_id and every earlier message of its room
 * delivered (message ids are positive). */
PARLEY_API int parley_delivered(parley_client *c, int64_t message_id, int timeout_ms);
PARLEY_API int parley_delivered_async(parley_client *c, int64_t message_id, parley_ack_cb cb,
                                      void *arg);
/* message:read: marks read (and delivered) up to message_id; *last_read_seq
 * (if not NULL) gets the room's new read pointer. */
PARLEY_API int parley_read(parley_client *c, int64_t message_id, int timeout_ms,
                           int64_t *last_read_seq);
PARLEY_API int parley_read_async(parley_client *c, int64_t message_id, parley_ack_cb cb,
                                 void *arg);
/* message:delivery-status; parley_delivery_status_free. */
PARLEY_API int parley_delivery_status(parley_client *c, int64_t message_id, int timeout_ms,
                                      struct parley_delivery_status **out);
PARLEY_API int parley_delivery_status_async(parley_client *c, int64_t message_id,
                                            parley_ack_cb cb, void *arg);
/* message:stats over room, or over every room when room is NULL. */
PARLEY_API int parley_message_stats(parley_client *c, const char *room, int timeout_ms,
                                    struct parley_message_stats *out);
PARLEY_API int parley_message_stats_async(parley_client *c, const char *room, parley_ack_cb cb,
                                          void *arg);
/* message:delete (the author, the room's owner or an admin). */
PARLEY_API int parley_delete(parley_client *c, int64_t message_id, int timeout_ms);
PARLEY_API int parley_delete_async(parley_client *c, int64_t message_id, parley_ack_cb cb,
                                   void *arg);

/* ---- parsing ack data, and freeing ------------------------------------------ */

/* Each returns PARLEY_OK, PARLEY_ERR_INVAL (NULL arguments),
 * PARLEY_ERR_PROTOCOL (not the expected shape; out-parameters cleared) or
 * PARLEY_ERR_NOMEM. An empty list gives a NULL array and a count of 0. */

/* A room object: room:info's or join:chat's ack data. */
PARLEY_API int parley_room_parse(const char *json, struct parley_room **out);
/* room:list's ack data {"rooms": [...]}, or the bare array. */
PARLEY_API int parley_rooms_parse(const char *json, struct parley_room **rooms, size_t *n);
/* room:online's ack data {"users": [...]}, {"members": [...]}, or the bare array. */
PARLEY_API int parley_members_parse(const char *json, struct parley_member **members,
                                    size_t *n);
/* The array of strings at key of a JSON object ("users" of
 * message:typing-users, "unsubscribed" of room:unsubscribe-multiple), or a
 * bare array when key is NULL. */
PARLEY_API int parley_strings_parse(const char *json, const char *key,
                                    struct parley_strings **out);
PARLEY_API int parley_subscribe_result_parse(const char *json,
                                             struct parley_subscribe_result **out);
/* room:subscription-status's ack data; either pointer may be NULL. */
PARLEY_API int parley_subscription_status_parse(const char *json, int *member, int *subscribed);
/* room:subscription-details' ack data {"subscriptions": [...]}, or the bare array. */
PARLEY_API int parley_subscriptions_parse(const char *json, struct parley_subscription **subs,
                                          size_t *n);
/* message:read's ack data. */
PARLEY_API int parley_read_parse(const char *json, int64_t *last_read_seq);
PARLEY_API int parley_delivery_status_parse(const char *json,
                                            struct parley_delivery_status **out);
PARLEY_API int parley_message_stats_parse(const char *json, struct parley_message_stats *out);

PARLEY_API void parley_room_free(struct parley_room *room);
PARLEY_API void parley_rooms_free(struct parley_room *rooms, size_t n);
PARLEY_API void parley_members_free(struct parley_member *members, size_t n);
PARLEY_API void parley_strings_free(struct parley_strings *s);
PARLEY_API void parley_subscribe_result_free(struct parley_subscribe_result *r);
PARLEY_API void parley_subscriptions_free(struct parley_subscription *subs, size_t n);
PARLEY_API void parley_delivery_status_free(struct parley_delivery_status *s);

/* ---- presence ------------------------------------------------------------- */

/* presence:update push: a user's status as others see it changed. */
struct parley_presence {
    const char *user;
    const char *name;   /* display name; the user id when absent */
    const char *status; /* "online", "away", "busy" or "offline" */
    int64_t last_seen;  /* ms since the epoch when offline, -1 when null (visible) */
};
typedef void (*parley_presence_cb)(parley_client *c, void *userdata,
                                   const struct parley_presence *p);
PARLEY_API void parley_on_presence(parley_client *c, parley_presence_cb cb);

/* presence:user-status */
struct parley_user_status {
    const char *user;
    const char *status;  /* as others see it ("offline" while invisible) */
    int64_t last_seen;   /* ms since the epoch, -1 when null */
    int64_t connections;
};

/* presence:stats: plain numbers. */
struct parley_presence_stats {
    int64_t online, away, busy; /* users visibly in that status */
    int64_t users;              /* users with a connection, invisible ones included */
    int64_t connections;        /* open WebSocket connections */
};

/* presence:update-status: status is "online", "away", "busy" or "offline"
 * (invisible while connected); anything else is PARLEY_ERR_INVAL. */
PARLEY_API int parley_update_status(parley_client *c, const char *status, int timeout_ms);
PARLEY_API int parley_update_status_async(parley_client *c, const char *status,
                                          parley_ack_cb cb, void *arg);
/* presence:online-users: the visible users of room (the caller must be a
 * member), or of the whole server when room is NULL, sorted by user id.
 * role is "" in these entries. parley_members_free. */
PARLEY_API int parley_online_users(parley_client *c, const char *room, int timeout_ms,
                                   struct parley_member **users, size_t *n);
PARLEY_API int parley_online_users_async(parley_client *c, const char *room,
                                         parley_ack_cb cb, void *arg);
/* presence:user-status of user; parley_user_status_free. */
PARLEY_API int parley_user_status(parley_client *c, const char *user, int timeout_ms,
                                  struct parley_user_status **out);
PARLEY_API int parley_user_status_async(parley_client *c, const char *user, parley_ack_cb cb,
                                        void *arg);
PARLEY_API int parley_presence_stats(parley_client *c, int timeout_ms,
                                     struct parley_presence_stats *out);
PARLEY_API int parley_presence_stats_async(parley_client *c, parley_ack_cb cb, void *arg);

/* ---- connection recovery: the events ---------------------------------------- */

/* With automatic reconnect (below) the library creates and recovers
 * sessions itself; these calls are for applications that run their own.
 * A session token the library sees in any ack of create-session or recover
 * on this client becomes the one it recovers with. */

/* connection:create-session */
struct parley_session {
    const char *session_token;
    int64_t expires_in; /* seconds */
};

/* One room of connection:recover's last_seq. */
struct parley_last_seq {
    const char *room;
    int64_t seq; /* >= 0: the highest seq received */
};

/* connection:recover's ack. */
struct parley_recover_result {
    int recovered;             /* 0: too many missed, nothing replayed */
    const char *session_token; /* the successor, attached to this connection */
    const char **rooms;        /* resubscribed */
    size_t n_rooms;
    int64_t missed;
};

/* connection:session-info */
struct parley_session_info {
    const char *session_id;
    const char **rooms;
    size_t n_rooms;
    int64_t created_at; /* ms since the epoch */
    int64_t expires_at; /* ms since the epoch, -1 when null (held by this connection) */
    const char *state;  /* "active" */
};

/* connection:stats: plain numbers. */
struct parley_connection_stats {
    int64_t active_sessions, recovered, failed, expired, queued;
};

/* parley_session_free. */
PARLEY_API int parley_create_session(parley_client *c, int timeout_ms,
                                     struct parley_session **out);
PARLEY_API int parley_create_session_async(parley_client *c, parley_ack_cb cb, void *arg);
/* connection:recover with last_seq[0..n): the replay of each room starts
 * after its seq. last_seq NULL: the highest seq this client saw per room
 * (message:new pushes, its own send acks, join acks), as the automatic
 * recovery sends. The replayed message:new pushes follow the ack; the
 * message callback gets them with replayed set. parley_recover_result_free. */
PARLEY_API int parley_recover(parley_client *c, const char *session_token,
                              const struct parley_last_seq *last_seq, size_t n, int timeout_ms,
                              struct parley_recover_result **out);
PARLEY_API int parley_recover_async(parley_client *c, const char *session_token,
                                    const struct parley_last_seq *last_seq, size_t n,
                                    parley_ack_cb cb, void *arg);
/* parley_session_info_free. */
PARLEY_API int parley_session_info(parley_client *c, int timeout_ms,
                                   struct parley_session_info **out);
PARLEY_API int parley_session_info_async(parley_client *c, parley_ack_cb cb, void *arg);
PARLEY_API int parley_connection_stats(parley_client *c, int timeout_ms,
                                       struct parley_connection_stats *out);
PARLEY_API int parley_connection_stats_async(parley_client *c, parley_ack_cb cb, void *arg);

/* Parsing the acks' data (as the parse functions above), and freeing. */
PARLEY_API int parley_user_status_parse(const char *json, struct parley_user_status **out);
PARLEY_API int parley_presence_stats_parse(const char *json, struct parley_presence_stats *out);
PARLEY_API int parley_session_parse(const char *json, struct parley_session **out);
PARLEY_API int parley_recover_result_parse(const char *json, struct parley_recover_result **out);
PARLEY_API int parley_session_info_parse(const char *json, struct parley_session_info **out);
PARLEY_API int parley_connection_stats_parse(const char *json,
                                             struct parley_connection_stats *out);
/* A presence:update push's data. parley_presence_free. */
PARLEY_API int parley_presence_parse(const char *json, struct parley_presence **out);
PARLEY_API void parley_user_status_free(struct parley_user_status *s);
PARLEY_API void parley_session_free(struct parley_session *s);
PARLEY_API void parley_recover_result_free(struct parley_recover_result *r);
PARLEY_API void parley_session_info_free(struct parley_session_info *s);
PARLEY_API void parley_presence_free(struct parley_presence *p);

/* ---- automatic reconnect and recovery --------------------------------------- */

/* Off by default. When on, a connection that ends without
 * parley_disconnect (dropped, closed by the server, 4001 when the JWT
 * expired) is reopened to the same URL: attempt k waits a random time
 * between d/2 and d, d = min(max_ms, min_ms * 2^(k-1)); after a 4001 the
 * first attempt is immediate. min_ms <= 0 means 1000, max_ms <= 0 30000;
 * PARLEY_ERR_INVAL when max_ms < min_ms.
 *
 * After every connect the library sends connection:create-session and
 * keeps the token. After a reconnect it sends connection:recover with that
 * token and last_seq (the highest seq it saw per room), adopts the
 * successor token, and hands the replayed messages to the message callback
 * with replayed set. When the server answers recovered false (too many
 * missed) or refuses the token (session_expired), the state callback gets
 * PARLEY_STATE_SESSION_LOST, the library subscribes again to the rooms the
 * connection had (room:subscribe-multiple) and takes a new session; the
 * application reloads what it missed with message:history.
 *
 * Every message:new whose seq is not above the last one seen for its room
 * is dropped (counted in duplicates_dropped), with or without reconnect;
 * the seqs seen are forgotten at parley_disconnect and when a session is
 * lost.
 *
 * Who makes the attempts: the loop thread (managed); a blocking call
 * waiting for its ack when no loop thread runs; parley_loop and
 * parley_loop_misc (embedded: each attempt blocks that call up to 10 s;
 * ask parley_socket again after every call). Disabling cancels a pending
 * reconnect. */
PARLEY_API int parley_set_reconnect(parley_client *c, int enable, int min_ms, int max_ms);

/* What a request made while the client is not connected does. */
enum parley_offline_policy {
    /* PARLEY_ERR_NOT_CONNECTED at once; requests in flight when the
     * connection drops complete with PARLEY_ERR_CLOSED. The default. */
    PARLEY_OFFLINE_FAIL = 0,
    /* While a reconnect is pending or a connect under way, a request is
     * queued and sent once connected (once the recovery is answered, so
     * nothing overtakes the replay), still bounded by its timeout. Requests in flight when the connection drops
     * are sent again after the reconnect, except message:delete and
     * connection:create-session/recover and events the library does not
     * know, which complete with PARLEY_ERR_CLOSED. With reconnect on, every
     * message:send gets a client_msg_id (16 random bytes in hex) when the
     * caller gave none, so a send repeated after a lost ack is stored once. */
    PARLEY_OFFLINE_WAIT = 1,
};
PARLEY_API int parley_set_offline_policy(parley_client *c, int policy);

/* Before each automatic connect attempt: the application may hand a fresh
 * JWT (the library copies it at once; NULL keeps the current one, which
 * parley_set_token may also change meanwhile). Without this callback the
 * current token is reused. */
struct parley_token_request {
    int close_code;  /* how the connection ended: 4001 token expired, 1006 dropped, ... */
    int attempt;     /* 1 for the first attempt after the drop */
    int http_status; /* the previous attempt's refusal (401...), 0 if none */
};
typedef const char *(*parley_token_cb)(parley_client *c, void *userdata,
                                       const struct parley_token_request *r);
PARLEY_API void parley_on_token(parley_client *c, parley_token_cb cb);

enum parley_conn_state {
    PARLEY_STATE_CONNECTING = 1, /* an automatic attempt starts; count: its number */
    PARLEY_STATE_CONNECTED,      /* a connection is open (any connect) */
    PARLEY_STATE_RECOVERING,     /* connection:recover sent */
    PARLEY_STATE_RECOVERED,      /* count: messages missed, replayed next */
    PARLEY_STATE_SESSION_LOST,   /* count: messages missed (0 when the token was refused) */
    PARLEY_STATE_DISCONNECTED,   /* the connection ended; close_code, will_retry */
};
struct parley_state_event {
    int state;       /* enum parley_conn_state */
    int64_t count;
    int close_code;  /* DISCONNECTED: as the disconnect callback's code; else 0 */
    int will_retry;  /* DISCONNECTED: 1 when an automatic reconnect follows */
};
typedef void (*parley_state_cb)(parley_client *c, void *userdata,
                                const struct parley_state_event *s);
/* State events are delivered in order with the pushes: RECOVERED comes
 * before the replayed messages, DISCONNECTED after the disconnect callback. */
PARLEY_API void parley_on_state(parley_client *c, parley_state_cb cb);
/* "connecting", "connected", ...; "unknown" for anything else. */
PARLEY_API const char *parley_state_name(int state);

/* Counters since the client was created, for tests and diagnostics. */
struct parley_client_stats {
    int64_t drops;              /* connections that ended without parley_disconnect */
    int64_t reconnects;         /* successful automatic connects */
    int64_t recovered;          /* recoveries answered recovered: true */
    int64_t sessions_lost;      /* SESSION_LOST reports */
    int64_t replayed;           /* message:new pushes flagged replayed */
    int64_t duplicates_dropped; /* message:new pushes dropped as already seen */
    int64_t retried;            /* requests sent again after a reconnect */
    int64_t sessions;           /* session tokens received (create-session and recover acks):
                                 * from the first one on, a drop can be recovered */
};
PARLEY_API int parley_stats(const parley_client *c, struct parley_client_stats *out);

/* ==== monitoring (parley-protocol(7) section 6) ============================== */

/* The monitoring events answer only a token whose role is admin; anyone
 * else gets PARLEY_ERR_SERVER with parley_error_code "forbidden". Each
 * result is one allocation, freed with the function named beside it (the
 * free functions accept NULL); fields may be added at the end of the
 * structs a call returns one of (parley_metrics, parley_events,
 * parley_monitoring_stats, parley_health) in later versions, never
 * elsewhere, while the structs of their arrays (parley_monitoring_event,
 * parley_ip_count, parley_user_agent_count, parley_health_check) keep
 * their size as long as the soname stays libparley.so.0: a program steps
 * through those arrays with its own sizeof. The async forms hand the
 * ack's data JSON to cb; the parse functions turn it into the same
 * structs (PARLEY_OK, PARLEY_ERR_INVAL for NULL arguments,
 * PARLEY_ERR_PROTOCOL when the JSON is not of the expected shape, with
 * *out NULL, or PARLEY_ERR_NOMEM). Counters count since the server
 * started. */

/* monitoring:metrics */
struct parley_metrics {
    int64_t connections;       /* open WebSocket connections */
    int64_t connections_total; /* accepted since the start */
    int64_t messages_in;       /* WebSocket data messages received */
    int64_t messages_out;      /* data messages sent: acks and pushes, each recipient counted */
    int64_t bytes_in;          /* payload bytes of those messages */
    int64_t bytes_out;
    int64_t rooms;
    int64_t users_online;
    int64_t uptime_s;
    double messages_in_per_s; /* rates, averaged over the last 10 seconds */
    double connections_per_s;
};

/* One entry of monitoring:events. Types: "connect", "disconnect",
 * "auth_failed", "rate_limited", "origin_rejected", "recovered",
 * "recover_failed", "slow_consumer", "protocol_error". */
struct parley_monitoring_event {
    const char *type;
    int64_t ts;             /* ms since the epoch */
    const char *user;       /* NULL when unknown (null on the wire) */
    const char *ip;
    const char *user_agent; /* NULL when none (null on the wire) */
    const char *detail;     /* "" when absent; JSON text when not a string */
};
/* monitoring:events: newest first. */
struct parley_events {
    size_t n;
    struct parley_monitoring_event *items; /* NULL when n is 0 */
};

/* monitoring:stats */
struct parley_ip_count {
    const char *ip;
    int64_t connections; /* open now */
};
struct parley_user_agent_count {
    const char *user_agent; /* NULL for connections without one */
    int64_t connections;
};
struct parley_monitoring_stats {
    struct parley_ip_count *by_ip; /* most connections first, at most 20 */
    size_t n_by_ip;
    struct parley_user_agent_count *by_user_agent; /* likewise */
    size_t n_by_user_agent;
    double avg_connection_s; /* mean duration of the closed connections, 0 if none */
    int64_t auth_failures;
    int64_t rate_limited;
};

/* monitoring:health: each check as the server sent it, in its order. */
struct parley_health_check {
    const char *name;   /* "connections", "memory", "store_latency", ... */
    const char *status; /* "ok", "warn" or "fail" */
    double value;       /* NaN when the server sent none (null) */
    double threshold;   /* likewise */
};
struct parley_health {
    const char *status; /* "healthy", "degraded" or "unhealthy" */
    struct parley_health_check *checks;
    size_t n_checks;
    const char **recommendations; /* one sentence per failing or warning check */
    size_t n_recommendations;
};

/* parley_metrics_free. */
PARLEY_API int parley_monitoring_metrics(parley_client *c, int timeout_ms,
                                         struct parley_metrics **out);
PARLEY_API int parley_monitoring_metrics_async(parley_client *c, parley_ack_cb cb, void *arg);
/* The newest limit events (1..1000; 0 for the server's default, 100),
 * only those of type when type is not NULL (the server judges the type:
 * an unknown one is PARLEY_ERR_SERVER "bad_request"). PARLEY_ERR_INVAL for
 * another limit or an empty type. parley_events_free. */
PARLEY_API int parley_monitoring_events(parley_client *c, int limit, const char *type,
                                        int timeout_ms, struct parley_events **out);
PARLEY_API int parley_monitoring_events_async(parley_client *c, int limit, const char *type,
                                              parley_ack_cb cb, void *arg);
/* parley_monitoring_stats_free. */
PARLEY_API int parley_monitoring_stats(parley_client *c, int timeout_ms,
                                       struct parley_monitoring_stats **out);
PARLEY_API int parley_monitoring_stats_async(parley_client *c, parley_ack_cb cb, void *arg);
/* parley_health_free. */
PARLEY_API int parley_monitoring_health(parley_client *c, int timeout_ms,
                                        struct parley_health **out);
PARLEY_API int parley_monitoring_health_async(parley_client *c, parley_ack_cb cb, void *arg);

PARLEY_API int parley_metrics_parse(const char *json, struct parley_metrics **out);
/* {"events": [...]} or the bare array. */
PARLEY_API int parley_events_parse(const char *json, struct parley_events **out);
PARLEY_API int parley_monitoring_stats_parse(const char *json,
                                             struct parley_monitoring_stats **out);
PARLEY_API int parley_health_parse(const char *json, struct parley_health **out);
PARLEY_API void parley_metrics_free(struct parley_metrics *m);
PARLEY_API void parley_events_free(struct parley_events *e);
PARLEY_API void parley_monitoring_stats_free(struct parley_monitoring_stats *s);
PARLEY_API void parley_health_free(struct parley_health *h);

/* ==== end of monitoring ======================================================= */

/* ---- accounts over HTTP ------------------------------------------------- */

struct parley_auth_result {
    char *token;          /* the JWT; free with parley_free */
    long expires_in;      /* seconds */
    int http_status;      /* the response status */
    char error_code[32];  /* protocol error code on failure, else "" */
    char error_message[256];
    /* The HTTP response body as received (JSON from parleyd), on success
     * and on refusal alike; NULL when there was none. Free with parley_free,
     * or free token and body_json at once with parley_auth_result_clear. */
    char *body_json;
};

/* POST /api/register and /api/login on the server at url (as for
 * parley_client_new). PARLEY_OK; PARLEY_ERR_SERVER with the error in res
 * (409 taken, 401 bad credentials, 400 bad input); PARLEY_ERR_HTTP when the
 * server could not be reached. */
PARLEY_API int parley_register(const char *url, const char *username, const char *password,
                               int timeout_ms, struct parley_auth_result *res);
PARLEY_API int parley_login(const char *url, const char *username, const char *password,
                            int timeout_ms, struct parley_auth_result *res);
/* The same with TLS settings for an https:// url (NULL: the defaults, as
 * parley_register and parley_login use). PARLEY_ERR_TLS when TLS failed,
 * with res->error_code "certificate" (the server's certificate was
 * refused) or "tls", and the reason in res->error_message. */
PARLEY_API int parley_register_tls(const char *url, const char *username, const char *password,
                                   int timeout_ms, const struct parley_tls_opts *tls,
                                   struct parley_auth_result *res);
PARLEY_API int parley_login_tls(const char *url, const char *username, const char *password,
                                int timeout_ms, const struct parley_tls_opts *tls,
                                struct parley_auth_result *res);
/* Frees res->token and res->body_json and sets them to NULL; the other
 * fields stay. Safe on a result already cleared. */
PARLEY_API void parley_auth_result_clear(struct parley_auth_result *res);

#ifdef __cplusplus
}
#endif

#endif
