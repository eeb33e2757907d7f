/* Minimal TAP for the unit tests: ok(t, cond, fmt, ...) per check, and
 * tap_done(t) to print the plan and get the exit status. */
#ifndef PD_TAP_H
#define PD_TAP_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

struct tap {
    int n, failed;
};

__attribute__((format(printf, 3, 4))) static int ok(struct tap *t, int cond, const char *fmt,
                                                    ...)
{
    va_list ap;

    t->n++;
    if (!cond)
        t->failed++;
    printf("%sok %d - ", cond ? "" : "not ", t->n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout); /* a crash later must not swallow the lines so far */
    return cond;
}

/* A repeatable pseudo-random sequence (xorshift32) for the randomized
 * checks: the same seed gives the same run on every machine, so a failure
 * can be replayed. *state must not be 0. */
static inline uint32_t tap_rand(uint32_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

static int tap_done(const struct tap *t)
{
    printf("1..%d\n", t->n);
    return t->failed ? 1 : 0;
}

#endif
