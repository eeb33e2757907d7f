#include "json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Replaces, below parent, every integral number node with a raw node
 * holding its exact decimal text. */
static int exact_ints(cJSON *parent)
{
    cJSON *it = parent->child;

    while (it != NULL) {
        cJSON *next = it->next;
        int64_t v;

        if (pl_json_int64(it, &v)) {
            char buf[24];
            cJSON *raw;

            snprintf(buf, sizeof(buf), "%" PRId64, v);
            raw = cJSON_CreateRaw(buf);
            /* ReplaceItemViaPointer keeps the position, not the key. */
            if (raw != NULL && it->string != NULL && (raw->string = strdup(it->string)) == NULL) {
                cJSON_Delete(raw);
                return 0;
            }
            if (raw == NULL || !cJSON_ReplaceItemViaPointer(parent, it, raw)) {
                cJSON_Delete(raw);
                return 0;
            }
        } else if ((cJSON_IsObject(it) || cJSON_IsArray(it)) && !exact_ints(it)) {
            return 0;
        }
        it = next;
    }
    return 1;
}

char *pl_json_print(const cJSON *item)
{
    cJSON *copy;
    char *text = NULL;
    int64_t v;

    if (pl_json_int64(item, &v)) {
        char buf[24];
        snprintf(buf, sizeof(buf), "%" PRId64, v);
        return strdup(buf);
    }
    copy = cJSON_Duplicate(item, 1);
    if (copy != NULL && exact_ints(copy))
        text = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    return text;
}
