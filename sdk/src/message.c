#include "message.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

/* What a message object holds, read and checked before anything is
 * allocated. Strings point into the cJSON tree. */
struct fields {
    int64_t id, seq, ts, reply_to;
    const char *room, *user, *name, *text, *client_msg_id;
    int deleted;
};

static int get_int64(const cJSON *obj, const char *key, int64_t *out, int required)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!it || cJSON_IsNull(it)) {
        *out = 0;
        return !required;
    }
    return pl_json_int64(it, out);
}

static int get_str(const cJSON *obj, const char *key, const char **out, const char *dflt,
                   int required)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!it || cJSON_IsNull(it)) {
        *out = dflt;
        return !required;
    }
    if (!cJSON_IsString(it))
        return 0;
    *out = it->valuestring;
    return 1;
}

static int read_fields(const cJSON *m, struct fields *f)
{
    if (!cJSON_IsObject(m))
        return 0;
    if (!get_int64(m, "id", &f->id, 1) || !get_int64(m, "seq", &f->seq, 1) ||
        !get_str(m, "room", &f->room, "", 1))
        return 0;
    if (!get_int64(m, "ts", &f->ts, 0) || !get_int64(m, "reply_to", &f->reply_to, 0) ||
        !get_str(m, "user", &f->user, "", 0) || !get_str(m, "text", &f->text, "", 0) ||
        !get_str(m, "client_msg_id", &f->client_msg_id, NULL, 0))
        return 0;
    /* The protocol says name falls back to the user id; so do we. */
    if (!get_str(m, "name", &f->name, f->user, 0))
        return 0;
    f->deleted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "deleted"));
    return 1;
}

static size_t strings_size(const struct fields *f)
{
    return strlen(f->room) + strlen(f->user) + strlen(f->name) + strlen(f->text) + 4 +
           (f->client_msg_id ? strlen(f->client_msg_id) + 1 : 0);
}

static const char *put(char **pool, const char *s)
{
    size_t n = strlen(s) + 1;
    char *r = *pool;

    memcpy(r, s, n);
    *pool += n;
    return r;
}

static void fill(struct parley_message *m, const struct fields *f, char **pool)
{
    m->id = f->id;
    m->seq = f->seq;
    m->ts = f->ts;
    m->reply_to = f->reply_to;
    m->deleted = f->deleted;
    m->replayed = 0;
    m->room = put(pool, f->room);
    m->user = put(pool, f->user);
    m->name = put(pool, f->name);
    m->text = put(pool, f->text);
    m->client_msg_id = f->client_msg_id ? put(pool, f->client_msg_id) : NULL;
}

int pl_message_from_json(const cJSON *obj, struct parley_message **out)
{
    struct fields f;
    struct parley_message *m;
    char *pool;

    *out = NULL;
    if (!read_fields(obj, &f))
        return PARLEY_ERR_PROTOCOL;
    m = malloc(sizeof(*m) + strings_size(&f));
    if (!m)
        return PARLEY_ERR_NOMEM;
    pool = (char *)(m + 1);
    fill(m, &f, &pool);
    *out = m;
    return PARLEY_OK;
}

int pl_messages_from_json(const cJSON *arr, struct parley_message **out, size_t *n)
{
    struct fields f;
    const cJSON *it;
    size_t count = 0, bytes = 0, i = 0;
    struct parley_message *ms;
    char *pool;

    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(arr))
        return PARLEY_ERR_PROTOCOL;
    cJSON_ArrayForEach(it, arr)
    {
        if (!read_fields(it, &f))
            return PARLEY_ERR_PROTOCOL;
        count++;
        bytes += strings_size(&f);
    }
    if (count == 0)
        return PARLEY_OK;
    ms = malloc(count * sizeof(*ms) + bytes);
    if (!ms)
        return PARLEY_ERR_NOMEM;
    pool = (char *)(ms + count);
    cJSON_ArrayForEach(it, arr)
    {
        read_fields(it, &f);
        fill(&ms[i++], &f, &pool);
    }
    *out = ms;
    *n = count;
    return PARLEY_OK;
}

PARLEY_API int parley_message_parse(const char *json, struct parley_message **out)
{
    cJSON *root, *inner;
    int rc;

    if (!out)
        return PARLEY_ERR_INVAL;
    *out = NULL;
    if (!json)
        return PARLEY_ERR_INVAL;
    root = cJSON_Parse(json);
    if (!root)
        return PARLEY_ERR_PROTOCOL;
    /* Also take a push's or ack's whole data, {"message": {...}}. */
    inner = cJSON_GetObjectItemCaseSensitive(root, "message");
    rc = pl_message_from_json(cJSON_IsObject(inner) ? inner : root, out);
    cJSON_Delete(root);
    return rc;
}

PARLEY_API void parley_message_free(struct parley_message *m)
{
    free(m);
}

PARLEY_API void parley_messages_free(struct parley_message *msgs, size_t n)
{
    (void)n; /* one block, whatever the count */
    free(msgs);
}
