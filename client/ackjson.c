#include "ackjson.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t int_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static const char *str_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

int pc_history_each(const char *json, int (*fn)(void *ctx, const struct pc_msg *m), void *ctx,
                    int *has_more)
{
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages"), *it;
    int rc = 0;

    *has_more = 0;
    if (!cJSON_IsArray(msgs)) {
        cJSON_Delete(root);
        return -1;
    }
    *has_more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "has_more"));
    cJSON_ArrayForEach(it, msgs)
    {
        struct pc_msg m = {
            .id = int_field(it, "id"),
            .seq = int_field(it, "seq"),
            .ts = int_field(it, "ts"),
            .reply_to = int_field(it, "reply_to"),
            .user = str_field(it, "user"),
            .name = str_field(it, "name"),
            .text = str_field(it, "text"),
            .deleted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "deleted")),
        };
        if (!cJSON_IsObject(it) || m.id <= 0 || m.seq <= 0)
            continue; /* not a message: nothing to place */
        if (!*m.name)
            m.name = m.user;
        rc = fn(ctx, &m);
        if (rc)
            break;
    }
    cJSON_Delete(root);
    return rc;
}

void pc_error_fields(const char *json, char *code, size_t code_size, char *msg, size_t msg_size)
{
    cJSON *root = json ? cJSON_Parse(json) : NULL;

    snprintf(code, code_size, "%s", str_field(root, "code"));
    snprintf(msg, msg_size, "%s", str_field(root, "message"));
    cJSON_Delete(root);
}

/* base64url without padding into a malloc'd NUL-terminated buffer, NULL
 * on a character outside the alphabet or no memory. */
static char *b64url_decode(const char *s, size_t len)
{
    char *out = malloc(len * 3 / 4 + 4);
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len && s[i] != '='; i++) {
        int c = (unsigned char)s[i], v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-')
            v = 62;
        else if (c == '_')
            v = 63;
        else {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    return out;
}

int pc_jwt_subject(const char *jwt, char **sub)
{
    const char *p = strchr(jwt, '.'), *q;
    char *payload;
    cJSON *root;
    const cJSON *s;

    *sub = NULL;
    if (!p || !(q = strchr(p + 1, '.')))
        return -1;
    payload = b64url_decode(p + 1, (size_t)(q - p - 1));
    root = payload ? cJSON_Parse(payload) : NULL;
    free(payload);
    s = cJSON_GetObjectItemCaseSensitive(root, "sub");
    if (cJSON_IsString(s) && *s->valuestring)
        *sub = strdup(s->valuestring);
    cJSON_Delete(root);
    return *sub ? 0 : -1;
}
