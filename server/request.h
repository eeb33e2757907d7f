/* One request in flight through the dispatcher, and the field readers every
 * handler uses: each checks the JSON type and range itself, since cJSON
 * accepts any JSON (DESIGN.md 4). */
#ifndef PD_REQUEST_H
#define PD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "errors.h"

struct server;
struct pd_conn;

struct pd_req {
    struct server *srv;
    struct pd_conn *conn;
    int64_t id;           /* 0: no ack wanted */
    const char *event;    /* wire name, static */
    const cJSON *data;    /* the request's data object */
    cJSON *result;        /* ack data on success (NULL: {}) */
    bool deferred;        /* the handler will ack later (store commit) */
    char msg[256];        /* error message when a handler fails */
};

/* Handlers return PD_OK (ack with result unless deferred) or an error code
 * with req->msg set through pd_req_fail. */
typedef enum pd_err (*pd_handler_fn)(struct pd_req *r);

/* Sets r->msg from the format and returns code, so a handler can write
 * `return pd_req_fail(r, PD_E_FORBIDDEN, "...", ...)`. */
enum pd_err pd_req_fail(struct pd_req *r, enum pd_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Field readers: PD_OK with the value, or PD_E_BAD_REQUEST with r->msg
 * naming the field. Optional readers leave *out untouched when the field is
 * absent or null and set *present accordingly (present may be NULL). */
enum pd_err pd_req_room(struct pd_req *r, const char *field, const char **out);
enum pd_err pd_req_string(struct pd_req *r, const char *field, bool required, size_t min_chars,
                          size_t max_chars, const char **out, bool *present);
enum pd_err pd_req_int(struct pd_req *r, const char *field, bool required, int64_t min,
                       int64_t max, int64_t *out, bool *present);
enum pd_err pd_req_bool(struct pd_req *r, const char *field, bool *out, bool *present);

/* An integral JSON number within [min, max]. */
bool pd_json_int(const cJSON *v, int64_t min, int64_t max, int64_t *out);

/* Adds an integer member printed exactly: cJSON prints numbers through a
 * double with 15 significant digits, which mangles ids near 2^53. */
cJSON *pd_json_add_int(cJSON *obj, const char *name, int64_t v);

/* Largest integer a JSON number (double) carries exactly: ids beyond it
 * could not round-trip through every client. */
#define PD_JSON_INT_MAX 9007199254740991LL

#endif
