/* Field readers for the human renderings. */
#include "jfield.h"

#include <stdlib.h>
#include <string.h>

const char *jf_str(const cJSON *obj, const char *name, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

long long jf_int(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

int jf_true(const cJSON *obj, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

const cJSON *jf_array(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsArray(v) ? v : NULL;
}

/* The text an array item stands for, NULL to skip it. */
static const char *item_text(const cJSON *item, const char *field)
{
    if (field)
        return jf_str(item, field, NULL);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

char *jf_join(const cJSON *arr, const char *field, const char *none)
{
    const cJSON *item;
    size_t len = 1;
    char *out, *q;

    cJSON_ArrayForEach(item, arr)
    {
        const char *t = item_text(item, field);
        if (t)
            len += strlen(t) + 2;
    }
    if (len == 1)
        return strdup(none);
    out = malloc(len);
    if (!out)
        return NULL;
    q = out;
    cJSON_ArrayForEach(item, arr)
    {
        const char *t = item_text(item, field);
        size_t l;
        if (!t)
            continue;
        if (q != out) {
            memcpy(q, ", ", 2);
            q += 2;
        }
        l = strlen(t);
        memcpy(q, t, l);
        q += l;
    }
    *q = '\0';
    return out;
}
