/* Growing arrays without type punning: pd_grow returns the (possibly moved)
 * array with room for at least n + 1 elements, or NULL with the old array
 * untouched. Capacity doubles, so appends cost O(1) amortized. */
#ifndef PD_GROW_H
#define PD_GROW_H

#include <stdlib.h>

static inline void *pd_grow(void *arr, size_t *cap, size_t n, size_t elem)
{
    size_t newcap;
    void *p;

    if (n < *cap)
        return arr;
    newcap = *cap ? *cap * 2 : 4;
    p = realloc(arr, newcap * elem);
    if (p != NULL)
        *cap = newcap;
    return p;
}

#endif
