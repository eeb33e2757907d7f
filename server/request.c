#include "request.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

cJSON *pd_json_add_int(cJSON *obj, const char *name, int64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return cJSON_AddRawToObject(obj, name, buf);
}

enum pd_err pd_req_fail(struct pd_req *r, enum pd_err code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
    return code;
}

bool pd_json_int(const cJSON *v, int64_t min, int64_t max, int64_t *out)
{
    double d;

    if (!cJSON_IsNumber(v))
        return false;
    d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max)
        return false;
    *out = (int64_t)d;
    return true;
}

/* The field, or NULL when it is absent or JSON null. */
static const cJSON *field_of(struct pd_req *r, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->data, field);
    return cJSON_IsNull(v) ? NULL : v;
}

enum pd_err pd_req_string(struct pd_req *r, const char *field, bool required, size_t min_chars,
                          size_t max_chars, const char **out, bool *present)
{
    const cJSON *v = field_of(r, field);
    long chars;

    if (present)
        *present = v != NULL;
    if (v == NULL) {
        if (required)
            return pd_req_fail(r, PD_E_BAD_REQUEST, "field '%s' is required", field);
        return PD_OK;
    }
    if (!cJSON_IsString(v))
        return pd_req_fail(r, PD_E_BAD_REQUEST, "field '%s' must be a string", field);
    /* The frame was valid UTF-8, so JSON escapes are the only way to smuggle
     * a lone surrogate or NUL in: count and check again. */
    chars = pd_utf8_chars(v->valuestring, strlen(v->valuestring));
    if (chars < 0)
        return pd_req_fail(r, PD_E_BAD_REQUEST, "field '%s' is not valid UTF-8", field);
    if ((size_t)chars < min_chars || (size_t)chars > max_chars)
        return pd_req_fail(r, PD_E_BAD_REQUEST, "field '%s' must be %zu to %zu characters",
                           field, min_chars, max_chars);
    *out = v->valuestring;
    return PD_OK;
}

enum pd_err pd_req_room(struct pd_req *r, const char *field, const char **out)
{
    const char *s = NULL;
    enum pd_err e = pd_req_string(r, field, true, 1, PD_NAME_MAX, &s, NULL);

    if (e != PD_OK)
        return e;
    if (!pd_valid_room_name(s))
        return pd_req_fail(r, PD_E_BAD_REQUEST,
                           "field '%s' must be 1 to 64 characters of [A-Za-z0-9_.:-]", field);
    *out = s;
    return PD_OK;
}

enum pd_err pd_req_int(struct pd_req *r, const char *field, bool required, int64_t min,
                       int64_t max, int64_t *out, bool *present)
{
    const cJSON *v = field_of(r, field);

    if (present)
        *present = v != NULL;
    if (v == NULL) {
        if (required)
            return pd_req_fail(r, PD_E_BAD_REQUEST, "field '%s' is required", field);
        return PD_OK;
    }
    if (!pd_json_int(v, min, max, out))
        return pd_req_fail(r, PD_E_BAD_REQUEST,
                           "field '%s' must be an integer from %lld to %lld", field,
                           (long long)min, (long long)max);
    return PD_OK;
}

enum pd_err pd_req_bool(struct pd_req *r, const char *field, bool *out, bool *present)
{
    const cJSON *v = field_of(r, field);

    if (present)
        *present = v != NULL;
    if (v == NULL)
        return PD_OK;
    if (!cJSON_IsBool(v))
        return pd_req_fail(r, PD_E_BAD_REQUEST, "field '%s' must be true or false", field);
    *out = cJSON_IsTrue(v);
    return PD_OK;
}
