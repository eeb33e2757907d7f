/* A small map keyed by user id, for the per-room and per-user state of
 * parley-chat (members, typing users, receipt bookkeeping, presence). Kept
 * in insertion order; lookups are linear (a room's people are few, and
 * the order is what the status line shows). */
#ifndef PC_UMAP_H
#define PC_UMAP_H

#include <stddef.h>
#include <stdint.h>

#define PC_UMAP_VALUES 4

struct pc_uentry {
    char *user;
    char *str;                    /* a string value (a name, a status), NULL when unset */
    int64_t v[PC_UMAP_VALUES];    /* numbers; what each means is the owner's (zero when added) */
};

struct pc_umap {
    struct pc_uentry *e;
    size_t n, cap;
};

/* The entry of user, or NULL. */
struct pc_uentry *pc_umap_get(const struct pc_umap *m, const char *user);
/* The entry of user, added (zeroed, str NULL) when absent. 0, or -1 when
 * out of memory (*out NULL). The pointer is valid until the next put or del. */
int pc_umap_put(struct pc_umap *m, const char *user, struct pc_uentry **out);
/* Replaces e->str by a copy of s (NULL clears). 0 or -1 (str unchanged). */
int pc_umap_set_str(struct pc_uentry *e, const char *s);
/* Removes user; 1 when it was there. */
int pc_umap_del(struct pc_umap *m, const char *user);
/* Frees every entry; the map is empty and reusable after. */
void pc_umap_clear(struct pc_umap *m);

#endif
