/* Reading fields of the server's JSON for the human renderings, with a
 * default when a field is missing or of another type (the renderings never
 * fail on an unexpected ack; --json shows the ack as it was). Pure
 * functions over cJSON. */
#ifndef PARLEY_CLI_JFIELD_H
#define PARLEY_CLI_JFIELD_H

#include <cjson/cJSON.h>

/* The string field name of obj, else dflt. obj may be NULL. */
const char *jf_str(const cJSON *obj, const char *name, const char *dflt);
/* The number field name of obj as an integer, else 0. */
long long jf_int(const cJSON *obj, const char *name);
/* 1 when the field name of obj is true. */
int jf_true(const cJSON *obj, const char *name);
/* The array field name of obj, else NULL (cJSON_ArrayForEach takes NULL). */
const cJSON *jf_array(const cJSON *obj, const char *name);

/* The items of an array joined with ", ": strings as they are, objects by
 * their string field `field` (NULL for an array of strings). Returns a
 * malloc'd string, `none` (copied) when nothing was joined, NULL only when
 * out of memory. */
char *jf_join(const cJSON *arr, const char *field, const char *none);

#endif
