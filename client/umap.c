#include "umap.h"

#include <stdlib.h>
#include <string.h>

struct pc_uentry *pc_umap_get(const struct pc_umap *m, const char *user)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].user, user))
            return &m->e[i];
    return NULL;
}

int pc_umap_put(struct pc_umap *m, const char *user, struct pc_uentry **out)
{
    struct pc_uentry *e = pc_umap_get(m, user);
    char *copy;

    *out = NULL;
    if (e) {
        *out = e;
        return 0;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct pc_uentry *grown = realloc(m->e, cap * sizeof *grown);
        if (!grown)
            return -1;
        m->e = grown;
        m->cap = cap;
    }
    copy = strdup(user);
    if (!copy)
        return -1;
    e = &m->e[m->n++];
    memset(e, 0, sizeof *e);
    e->user = copy;
    *out = e;
    return 0;
}

int pc_umap_set_str(struct pc_uentry *e, const char *s)
{
    char *copy = NULL;

    if (s && !(copy = strdup(s)))
        return -1;
    free(e->str);
    e->str = copy;
    return 0;
}

int pc_umap_del(struct pc_umap *m, const char *user)
{
    struct pc_uentry *e = pc_umap_get(m, user);
    size_t i;

    if (!e)
        return 0;
    i = (size_t)(e - m->e);
    free(e->user);
    free(e->str);
    memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof *m->e);
    m->n--;
    return 1;
}

void pc_umap_clear(struct pc_umap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].user);
        free(m->e[i].str);
    }
    free(m->e);
    m->e = NULL;
    m->n = m->cap = 0;
}
