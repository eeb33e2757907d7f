/* One-allocation results: a builder runs twice over the same JSON, first
 * with base NULL to check the shape and add up the size, then copying into
 * one malloc'd block, so one free() releases a result with all its arrays
 * and strings. Both passes take the same pieces in the same order. Used by
 * results.c and monitoring.c. */
#ifndef PL_BLOCK_H
#define PL_BLOCK_H

#include <stdalign.h>
#include <stddef.h>
#include <string.h>

struct blk {
    char *base; /* NULL while measuring */
    size_t used;
};

/* The next size bytes, aligned; NULL while measuring. */
static inline void *take(struct blk *b, size_t size, size_t align)
{
    size_t off = (b->used + align - 1) & ~(align - 1);

    b->used = off + size;
    return b->base ? b->base + off : NULL;
}

#define TAKE(b, type, n) ((type *)take((b), sizeof(type) * (n), alignof(type)))

/* A copy of s in the block; NULL stays NULL. */
static inline const char *put_str(struct blk *b, const char *s)
{
    size_t n;
    char *p;

    if (!s)
        return NULL;
    n = strlen(s) + 1;
    p = take(b, n, 1);
    if (p)
        memcpy(p, s, n);
    return p;
}

#endif
