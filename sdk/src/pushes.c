/* Typed pushes: the server's pushes other than message:new, read into the
 * structs of parley.h and handed to their callbacks. Strings point into the
 * parsed JSON, which lives until the callback returns. A push that does not
 * have the shape of parley-protocol(7) section 5 is not handed on (the raw
 * push callback has already seen it). */
#include <string.h>

#include <cjson/cJSON.h>

#include "client.h"
#include "json.h"

static const char *str_field(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* A required integer: 1 and *out set, else 0. */
static int int_field(const cJSON *obj, const char *key, int64_t *out)
{
    return pl_json_int64(cJSON_GetObjectItemCaseSensitive(obj, key), out);
}

static void typing(parley_client *c, const struct pl_cbs *cb, const cJSON *d)
{
    struct parley_typing t;
    const cJSON *flag = cJSON_GetObjectItemCaseSensitive(d, "typing");

    t.room = str_field(d, "room");
    t.user = str_field(d, "user");
    if (!t.room || !t.user || !cJSON_IsBool(flag))
        return;
    t.typing = cJSON_IsTrue(flag);
    cb->typing(c, cb->userdata, &t);
}

static void receipt(parley_client *c, const struct pl_cbs *cb, const cJSON *d, int kind)
{
    struct parley_receipt r;

    r.kind = kind;
    r.room = str_field(d, "room");
    r.user = str_field(d, "user");
    if (!r.room || !r.user || !int_field(d, "message_id", &r.message_id))
        return;
    if (!int_field(d, "ts", &r.ts))
        r.ts = 0;
    cb->receipt(c, cb->userdata, &r);
}

static void deleted(parley_client *c, const struct pl_cbs *cb, const cJSON *d)
{
    struct parley_deleted x;

    x.room = str_field(d, "room");
    if (!x.room || !int_field(d, "message_id", &x.message_id))
        return;
    cb->deleted(c, cb->userdata, &x);
}

static void member(parley_client *c, const struct pl_cbs *cb, const cJSON *d, int joined)
{
    struct parley_member_event e;

    e.joined = joined;
    e.room = str_field(d, "room");
    e.user = str_field(d, "user");
    if (!e.room || !e.user)
        return;
    e.name = str_field(d, "name");
    if (!e.name)
        e.name = e.user;
    cb->member(c, cb->userdata, &e);
}

static void error_push(parley_client *c, const struct pl_cbs *cb, const cJSON *d)
{
    struct parley_error_push e;

    e.code = str_field(d, "code");
    if (!e.code)
        return;
    e.message = str_field(d, "message");
    if (!e.message)
        e.message = "";
    e.event = str_field(d, "event");
    cb->error(c, cb->userdata, &e);
}

static void presence(parley_client *c, const struct pl_cbs *cb, const cJSON *d)
{
    struct parley_presence p;
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(d, "last_seen");

    p.user = str_field(d, "user");
    p.status = str_field(d, "status");
    if (!p.user || !p.status)
        return;
    p.name = str_field(d, "name");
    if (!p.name)
        p.name = p.user;
    if (!ls || cJSON_IsNull(ls))
        p.last_seen = -1;
    else if (!pl_json_int64(ls, &p.last_seen))
        return;
    cb->presence(c, cb->userdata, &p);
}

void pl_push_typed(parley_client *c, const struct pl_cbs *cb, const char *name,
                   const char *json)
{
    enum { NONE, TYPING, DELIVERED, READ, DELETED, JOINED, LEFT, ERROR, PRESENCE } kind = NONE;
    cJSON *d;

    if (strcmp(name, "message:typing") == 0 && cb->typing)
        kind = TYPING;
    else if (strcmp(name, "message:delivered") == 0 && cb->receipt)
        kind = DELIVERED;
    else if (strcmp(name, "message:read") == 0 && cb->receipt)
        kind = READ;
    else if (strcmp(name, "message:deleted") == 0 && cb->deleted)
        kind = DELETED;
    else if (strcmp(name, "room:user-joined") == 0 && cb->member)
        kind = JOINED;
    else if (strcmp(name, "room:user-left") == 0 && cb->member)
        kind = LEFT;
    else if (strcmp(name, "error") == 0 && cb->error)
        kind = ERROR;
    else if (strcmp(name, "presence:update") == 0 && cb->presence)
        kind = PRESENCE;
    if (kind == NONE)
        return; /* no callback for it: not even parsed */
    d = cJSON_Parse(json);
    if (!cJSON_IsObject(d)) {
        cJSON_Delete(d);
        return;
    }
    switch (kind) {
    case TYPING:
        typing(c, cb, d);
        break;
    case DELIVERED:
        receipt(c, cb, d, PARLEY_RECEIPT_DELIVERED);
        break;
    case READ:
        receipt(c, cb, d, PARLEY_RECEIPT_READ);
        break;
    case DELETED:
        deleted(c, cb, d);
        break;
    case JOINED:
        member(c, cb, d, 1);
        break;
    case LEFT:
        member(c, cb, d, 0);
        break;
    case ERROR:
        error_push(c, cb, d);
        break;
    case PRESENCE:
        presence(c, cb, d);
        break;
    case NONE:
        break;
    }
    cJSON_Delete(d);
}
