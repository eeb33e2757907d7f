/* The client's life cycle: creation, the lock, connect and disconnect,
 * state queries, and the per-thread error of the last refused request. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "client.h"
#include "clock.h"
#include "json.h"

/* ---- lock ---- */

/* The lock is taken by const getters too: it guards the object, it is not
 * part of its value. */
void pl_lock(const parley_client *c)
{
    pthread_mutex_lock((pthread_mutex_t *)&c->lock);
}

void pl_unlock(const parley_client *c)
{
    pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
}

int pl_in_callback_locked(const parley_client *c)
{
    pthread_t self = pthread_self();

    return (c->dispatching && pthread_equal(c->dispatch_tid, self)) ||
           (c->in_token_cb && pthread_equal(c->rc_tid, self));
}

void pl_wake(parley_client *c)
{
    uint64_t one = 1;
    ssize_t r = write(c->wake_fd, &one, sizeof(one));
    (void)r; /* a full counter already means "wake up" */
}

int64_t pl_deadline(int timeout_ms)
{
    return pd_mono_ms() + (timeout_ms > 0 ? timeout_ms : PL_DEFAULT_TIMEOUT_MS);
}

/* ---- the error of the last refused call, per thread ---- */

/* Per thread, so one thread's failure never overwrites what another is
 * about to read (parley.h: "valid until the next call on c from the same
 * thread"). */
static __thread const parley_client *err_client;
static __thread char err_code[32];
static __thread char err_message[256];

static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void pl_set_error(const parley_client *c, const char *code, const char *message)
{
    err_client = c;
    copy_str(err_code, sizeof(err_code), code);
    copy_str(err_message, sizeof(err_message), message);
}

void pl_clear_error(const parley_client *c)
{
    if (err_client == c) {
        err_client = NULL;
        err_code[0] = err_message[0] = '\0';
    }
}

PARLEY_API const char *parley_error_code(const parley_client *c)
{
    return c && err_client == c ? err_code : "";
}

PARLEY_API const char *parley_error_message(const parley_client *c)
{
    return c && err_client == c ? err_message : "";
}

/* ---- life cycle ---- */

PARLEY_API parley_client *parley_client_new(const char *url, void *userdata)
{
    parley_client *c;
    pthread_condattr_t ca;

    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    /* A secure URL gets its TLS settings from parley_set_tls, or the
     * defaults at the first connect (reading the system's CA store takes
     * tens of milliseconds: not for a client that will name its own CA). */
    if (pl_url_parse(url, &c->url) != PARLEY_OK) {
        free(c);
        return NULL;
    }
    c->userdata = userdata;
    c->tr = (struct pl_transport)PL_TRANSPORT_INIT;
    c->rc_min_ms = 1000;
    c->rc_max_ms = 30000;
    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->wake_fd < 0) {
        free(c);
        return NULL;
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        close(c->wake_fd);
        free(c);
        return NULL;
    }
    if (pthread_condattr_init(&ca) != 0) {
        pthread_mutex_destroy(&c->lock);
        close(c->wake_fd);
        free(c);
        return NULL;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&c->cond, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        pthread_mutex_destroy(&c->lock);
        close(c->wake_fd);
        free(c);
        return NULL;
    }
    pthread_condattr_destroy(&ca);
    return c;
}

static int no_connection(parley_client *c, void *arg)
{
    return c->ws == NULL;
}

/* Close handshake, bounded; then whatever is left is torn down. */
static void close_and_wait_locked(parley_client *c)
{
    if (!c->ws)
        return;
    pl_ws_close_locked(c);
    if (!pl_in_callback_locked(c)) {
        pl_wait_locked(c, no_connection, NULL, pd_mono_ms() + PL_CLOSE_WAIT_MS + 100);
        pl_ws_teardown_locked(c);
    }
}

PARLEY_API void parley_client_destroy(parley_client *c)
{
    if (!c)
        return;
    pl_lock(c);
    /* No reconnect from here on, whoever would make it. */
    c->destroying = 1;
    c->rc_pending = 0;
    c->rc_cancel = 1;
    if (c->loop_joinable) {
        pthread_t tid = c->loop_tid;
        c->loop_stop = 1;
        c->loop_joinable = 0;
        pl_wake(c);
        pl_unlock(c);
        pthread_join(tid, NULL);
        pl_lock(c);
    }
    /* A blocking call of another thread may be mid-attempt: let it end. */
    while (c->rc_connecting)
        pthread_cond_wait(&c->cond, &c->lock);
    close_and_wait_locked(c);
    pl_request_fail_all_locked(c, PARLEY_ERR_CLOSED);
    pl_unlock(c);
    /* Pending completions (PARLEY_ERR_CLOSED) and the disconnect. */
    pl_dispatch(c);
    pl_lock(c);
    pl_inbox_clear_locked(c);
    pl_unlock(c);
    pl_clear_error(c);
    free(c->disc_ev);
    free(c->prebuf);
    free(c->token);
    pl_tls_unref(c->tls);
    pl_track_free(c);
    close(c->wake_fd);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int pl_token_dup(const char *jwt, char **out)
{
    *out = NULL;
    /* It goes into a header line: nothing that could end or split it. */
    for (const char *p = jwt; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return PARLEY_ERR_INVAL;
    if (strlen(jwt) > 8192)
        return PARLEY_ERR_INVAL;
    *out = strdup(jwt);
    return *out ? PARLEY_OK : PARLEY_ERR_NOMEM;
}

PARLEY_API int parley_set_token(parley_client *c, const char *jwt)
{
    char *copy = NULL;
    int rc;

    if (!c)
        return PARLEY_ERR_INVAL;
    if (jwt && (rc = pl_token_dup(jwt, &copy)) != PARLEY_OK)
        return rc;
    pl_lock(c);
    free(c->token);
    c->token = copy;
    pl_unlock(c);
    return PARLEY_OK;
}

PARLEY_API int parley_set_tls(parley_client *c, const struct parley_tls_opts *opts)
{
    struct pl_tls *tls = NULL, *old;
    char msg[256] = "";
    int rc;

    if (!c)
        return PARLEY_ERR_INVAL;
    pl_clear_error(c);
    if (!c->url.secure)
        return PARLEY_OK; /* nothing of it would ever be used */
    /* Built without the lock: reading a CA file takes a while. A connect
     * under way keeps the settings it started with (its own reference). */
    rc = pl_tls_new(opts, &tls, msg, sizeof(msg));
    if (rc != PARLEY_OK) {
        if (rc == PARLEY_ERR_TLS)
            pl_set_error(c, "tls", msg);
        return rc;
    }
    pl_lock(c);
    old = c->tls;
    c->tls = tls;
    pl_unlock(c);
    pl_tls_unref(old);
    return PARLEY_OK;
}

PARLEY_API int parley_connect(parley_client *c, int timeout_ms)
{
    char *token = NULL;
    int64_t deadline = pl_deadline(timeout_ms);
    int rc;

    if (!c)
        return PARLEY_ERR_INVAL;
    pl_clear_error(c);
    pl_lock(c);
    if (c->state != PL_DISCONNECTED || c->rc_connecting) {
        pl_unlock(c);
        return PARLEY_ERR_INVAL;
    }
    if (c->token && !(token = strdup(c->token))) {
        pl_unlock(c);
        return PARLEY_ERR_NOMEM;
    }
    rc = pl_connect_locked(c, token, deadline, 0);
    pl_unlock(c);
    pl_dispatch(c);
    return rc;
}

PARLEY_API void parley_disconnect(parley_client *c)
{
    if (!c)
        return;
    pl_lock(c);
    /* No reconnect after this: cancel a pending one, and one under way
     * (waiting for it unless this thread runs it, from the token
     * callback). */
    if (c->rc_pending || c->rc_connecting) {
        int had_pending = c->rc_pending;
        c->rc_pending = 0;
        c->rc_cancel = 1;
        if (c->rc_connecting && !pthread_equal(c->rc_tid, pthread_self())) {
            while (c->rc_connecting)
                pthread_cond_wait(&c->cond, &c->lock);
        }
        if (had_pending && !c->ws)
            pl_state_locked(c, PARLEY_STATE_DISCONNECTED, 0, c->rc_close_code, 0);
    }
    if (c->ws) {
        c->app_closing = 1;
        close_and_wait_locked(c);
    } else {
        /* Nothing to close: what a reconnect would have resumed ends here. */
        pl_request_fail_queued_locked(c);
        pl_track_reset_locked(c);
    }
    pl_unlock(c);
    pl_dispatch(c);
}

PARLEY_API int parley_is_connected(const parley_client *c)
{
    int r;

    if (!c)
        return 0;
    pl_lock(c);
    r = c->state == PL_OPEN && !c->io_failed;
    pl_unlock(c);
    return r;
}

PARLEY_API int parley_http_status(const parley_client *c)
{
    int r;

    if (!c)
        return 0;
    pl_lock(c);
    r = c->http_status;
    pl_unlock(c);
    return r;
}

PARLEY_API int parley_close_code(const parley_client *c)
{
    int r;

    if (!c)
        return 0;
    pl_lock(c);
    r = c->close_received ? c->close_code : 0;
    pl_unlock(c);
    return r;
}

PARLEY_API const char *parley_close_reason(const parley_client *c)
{
    /* Stable until the next connect, which is the only writer after a
     * close; reading it needs no lock beyond that. */
    return c && c->close_received ? c->close_reason : "";
}

/* ---- callbacks ---- */

PARLEY_API void parley_on_push(parley_client *c, parley_push_cb cb)
{
    if (!c)
        return;
    pl_lock(c);
    c->on_push = cb;
    pl_unlock(c);
}

PARLEY_API void parley_on_message(parley_client *c, parley_message_cb cb)
{
    if (!c)
        return;
    pl_lock(c);
    c->on_message = cb;
    pl_unlock(c);
}

PARLEY_API void parley_on_disconnect(parley_client *c, parley_disconnect_cb cb)
{
    if (!c)
        return;
    pl_lock(c);
    c->on_disconnect = cb;
    pl_unlock(c);
}

/* One setter per typed push callback; each takes the lock so a dispatch
 * sees either the old or the new pointer. */
#define PL_SETTER(fn, type, field)                 \
    PARLEY_API void fn(parley_client *c, type cb) \
    {                                              \
        if (!c)                                    \
            return;                                \
        pl_lock(c);                                \
        c->field = cb;                             \
        pl_unlock(c);                              \
    }

PL_SETTER(parley_on_typing, parley_typing_cb, on_typing)
PL_SETTER(parley_on_receipt, parley_receipt_cb, on_receipt)
PL_SETTER(parley_on_deleted, parley_deleted_cb, on_deleted)
PL_SETTER(parley_on_member, parley_member_cb, on_member)
PL_SETTER(parley_on_error, parley_error_cb, on_error)
PL_SETTER(parley_on_unmatched_ack, parley_unmatched_ack_cb, on_unmatched_ack)
PL_SETTER(parley_on_presence, parley_presence_cb, on_presence)
PL_SETTER(parley_on_state, parley_state_cb, on_state)
PL_SETTER(parley_on_token, parley_token_cb, on_token)

#undef PL_SETTER

/* ---- raw requests ---- */

/* NULL means {}; anything but a JSON object is the caller's mistake. */
static int parse_data(const char *data_json, cJSON **out)
{
    *out = NULL;
    if (!data_json)
        return PARLEY_OK;
    *out = cJSON_Parse(data_json);
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return PARLEY_ERR_INVAL;
    }
    return PARLEY_OK;
}

PARLEY_API int parley_request(parley_client *c, const char *event, const char *data_json,
                              int timeout_ms, char **ack_data)
{
    cJSON *data;

    if (ack_data)
        *ack_data = NULL;
    if (!c || !event || !*event || parse_data(data_json, &data) != PARLEY_OK)
        return PARLEY_ERR_INVAL;
    return pl_request_sync(c, event, data, timeout_ms, ack_data);
}

PARLEY_API int parley_request_async(parley_client *c, const char *event, const char *data_json,
                                    parley_ack_cb cb, void *arg)
{
    cJSON *data;

    if (!c || !event || !*event || parse_data(data_json, &data) != PARLEY_OK)
        return PARLEY_ERR_INVAL;
    return pl_request_async(c, event, data, cb, arg);
}

PARLEY_API int parley_request_async_id(parley_client *c, const char *event,
                                       const char *data_json, parley_ack_cb cb, void *arg,
                                       int64_t *id_out)
{
    cJSON *data;

    if (!c || !event || !*event || parse_data(data_json, &data) != PARLEY_OK)
        return PARLEY_ERR_INVAL;
    return pl_request_async_id(c, event, data, cb, arg, id_out);
}

PARLEY_API int64_t parley_reserve_id(parley_client *c)
{
    int64_t id;

    if (!c)
        return 0;
    pl_lock(c);
    id = ++c->next_id;
    pl_unlock(c);
    return id;
}

/* Application ids above this do not move the library's counter: a tool
 * probing the top of the range must not push the library's own ids past
 * what the protocol allows. The library would need 2^52 requests to reach
 * them. */
#define PL_APP_ID_MAX (PL_JSON_INT_MAX / 2)

/* The integer "id" of a frame that is a JSON object, or 0. */
static int64_t frame_id(const char *text, size_t len)
{
    cJSON *root;
    int64_t id = 0;

    /* Cheap test first: most frames a tool sends by hand are small, but a
     * frame without the characters "id" cannot carry one. */
    if (len < 4 || !memmem(text, len, "\"id\"", 4))
        return 0;
    root = cJSON_ParseWithLength(text, len);
    if (cJSON_IsObject(root) &&
        !pl_json_int64(cJSON_GetObjectItemCaseSensitive(root, "id"), &id))
        id = 0;
    cJSON_Delete(root);
    return id;
}

PARLEY_API int parley_send_text(parley_client *c, const char *text, size_t len)
{
    int rc;
    int64_t id;

    if (!c || (!text && len))
        return PARLEY_ERR_INVAL;
    id = text ? frame_id(text, len) : 0;
    pl_lock(c);
    rc = pl_ws_send_text_locked(c, text ? text : "", len);
    /* The library's next ids go past the application's own, so the ack of
     * this frame is never taken for one of the library's requests. */
    if (rc == PARLEY_OK && id > c->next_id && id <= PL_APP_ID_MAX)
        c->next_id = id;
    pl_unlock(c);
    return rc;
}

PARLEY_API void parley_free(void *p)
{
    free(p);
}
