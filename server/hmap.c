#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char tomb_mark;
#define PD_HMAP_TOMB (&tomb_mark)

/* FNV-1a: short keys (names of at most 64 bytes), no need for more. */
static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

void pd_hmap_free(struct pd_hmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static struct pd_hslot *find(const struct pd_hmap *m, const char *key, size_t h)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct pd_hslot *s = &m->slots[i];
        if (s->key == NULL)
            return NULL;
        if (s->key != PD_HMAP_TOMB && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

void *pd_hmap_get(const struct pd_hmap *m, const char *key)
{
    struct pd_hslot *s = find(m, key, hash_str(key));
    return s ? s->val : NULL;
}

/* Rehash into a table of newcap slots, dropping tombstones. */
static int resize(struct pd_hmap *m, size_t newcap)
{
    struct pd_hslot *slots = calloc(newcap, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        struct pd_hslot *s = &m->slots[i];
        if (s->key == NULL || s->key == PD_HMAP_TOMB)
            continue;
        size_t j = s->hash & (newcap - 1);
        while (slots[j].key != NULL)
            j = (j + 1) & (newcap - 1);
        slots[j] = *s;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = newcap;
    m->used = m->len;
    return 0;
}

int pd_hmap_put(struct pd_hmap *m, const char *key, void *val)
{
    size_t h = hash_str(key);
    struct pd_hslot *s = find(m, key, h);

    if (s != NULL) {
        s->key = key;
        s->val = val;
        return 0;
    }
    /* Keep the load (tombstones included) under 3/4 so probes stay short. */
    if ((m->used + 1) * 4 > m->cap * 3) {
        size_t newcap = m->cap ? m->cap : 8;
        while ((m->len + 1) * 2 > newcap)
            newcap *= 2;
        if (resize(m, newcap) != 0)
            return -1;
    }
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        s = &m->slots[i];
        if (s->key == NULL || s->key == PD_HMAP_TOMB) {
            if (s->key == NULL)
                m->used++;
            s->key = key;
            s->val = val;
            s->hash = h;
            m->len++;
            return 0;
        }
    }
}

void *pd_hmap_del(struct pd_hmap *m, const char *key)
{
    struct pd_hslot *s = find(m, key, hash_str(key));
    void *val;

    if (s == NULL)
        return NULL;
    val = s->val;
    s->key = PD_HMAP_TOMB;
    s->val = NULL;
    m->len--;
    return val;
}

void *pd_hmap_next(const struct pd_hmap *m, size_t *pos, const char **key)
{
    while (*pos < m->cap) {
        struct pd_hslot *s = &m->slots[(*pos)++];
        if (s->key != NULL && s->key != PD_HMAP_TOMB) {
            if (key)
                *key = s->key;
            return s->val;
        }
    }
    return NULL;
}
