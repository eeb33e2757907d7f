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
};

/* A push from the server: the event name and its `data` object as JSON. */
struct parley_push {
    const char *event;
    const char *data_json;
};

/* ---- life cycle ---------------------------------------------------------- */

/* url: "http://HOST:PORT", "ws://HOST:PORT" (path /ws implied) or
 * "ws://HOST:PORT/ws"; HOST may be an IPv6 literal in brackets. userdata is
 * handed back to every callback. Returns NULL on a bad URL or no memory
 * (https and wss too, until TLS support arrives). */
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
 * its message, valid until the next call on c from the same thread. */
PARLEY_API const char *parley_error_code(const parley_client *c);
PARLEY_API const char *parley_error_message(const parley_client *c);

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
/* Sends a text frame exactly as given (no id added): for tools and tests. */
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

/* ---- accounts over HTTP ------------------------------------------------- */

struct parley_auth_result {
    char *token;          /* the JWT; free with parley_free */
    long expires_in;      /* seconds */
    int http_status;      /* the response status */
    char error_code[32];  /* protocol error code on failure, else "" */
    char error_message[256];
};

/* POST /api/register and /api/login on the server at url (as for
 * parley_client_new). PARLEY_OK; PARLEY_ERR_SERVER with the error in res
 * (409 taken, 401 bad credentials, 400 bad input); PARLEY_ERR_HTTP when the
 * server could not be reached. */
PARLEY_API int parley_register(const char *url, const char *username, const char *password,
                               int timeout_ms, struct parley_auth_result *res);
PARLEY_API int parley_login(const char *url, const char *username, const char *password,
                            int timeout_ms, struct parley_auth_result *res);

#ifdef __cplusplus
}
#endif

#endif
