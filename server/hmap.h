/* A string-keyed hash map (open addressing, linear probing, tombstones).
 * Keys are not copied: each key must stay valid while its entry exists,
 * which is natural when the key lives inside the value (room->name). */
#ifndef PD_HMAP_H
#define PD_HMAP_H

#include <stddef.h>

struct pd_hslot {
    const char *key; /* NULL: empty; PD_HMAP_TOMB: deleted */
    void *val;
    size_t hash;
};

struct pd_hmap {
    struct pd_hslot *slots;
    size_t cap;  /* power of two, or 0 before the first put */
    size_t len;  /* live entries */
    size_t used; /* live + tombstones */
};

/* Zero-initialised struct pd_hmap is an empty map. */
void pd_hmap_free(struct pd_hmap *m);
void *pd_hmap_get(const struct pd_hmap *m, const char *key);
/* Inserts or replaces. Returns 0, or -1 when out of memory. */
int pd_hmap_put(struct pd_hmap *m, const char *key, void *val);
/* Removes key; returns its value, or NULL when absent. */
void *pd_hmap_del(struct pd_hmap *m, const char *key);
/* Iteration: start with *pos = 0; returns the next live value (and its
 * key through *key when not NULL), or NULL at the end. Do not insert while
 * iterating; deleting the entry just returned is allowed. */
void *pd_hmap_next(const struct pd_hmap *m, size_t *pos, const char **key);

#endif
