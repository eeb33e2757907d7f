#include "json.h"

#include <inttypes.h>
#include <stdio.h>

int pl_json_add_int64(cJSON *obj, const char *key, int64_t v)
{
    char buf[24];
    cJSON *raw;

    snprintf(buf, sizeof(buf), "%" PRId64, v);
    raw = cJSON_CreateRaw(buf);
    if (!raw)
        return 0;
    if (!cJSON_AddItemToObject(obj, key, raw)) {
        cJSON_Delete(raw);
        return 0;
    }
    return 1;
}

int pl_json_int64(const cJSON *item, int64_t *out)
{
    double d;

    if (!cJSON_IsNumber(item))
        return 0;
    d = item->valuedouble;
    if (!(d >= -(double)PL_JSON_INT_MAX && d <= (double)PL_JSON_INT_MAX) ||
        d != (double)(int64_t)d)
        return 0;
    *out = (int64_t)d;
    return 1;
}
