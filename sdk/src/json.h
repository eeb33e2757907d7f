/* Integers in JSON. cJSON keeps numbers as doubles and prints large ones
 * with 15 significant digits, which loses ids near 2^53; these helpers
 * write exact decimal integers and read back only exact ones. */
#ifndef PL_JSON_H
#define PL_JSON_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* The protocol's integers stay within what a double holds exactly. */
#define PL_JSON_INT_MAX 9007199254740991LL /* 2^53 - 1 */

/* Adds key: v as an exact integer. Returns 1, or 0 without memory. */
int pl_json_add_int64(cJSON *obj, const char *key, int64_t v);

/* 1 and *out set when item is an integral number within +-(2^53-1). */
int pl_json_int64(const cJSON *item, int64_t *out);

/* cJSON_PrintUnformatted, but every integral number within +-(2^53-1) is
 * printed exactly: what an application hands in or gets back as JSON text
 * keeps its ids. malloc'd (free with free), NULL without memory. */
char *pl_json_print(const cJSON *item);

#endif
