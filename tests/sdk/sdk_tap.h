/* TAP for the SDK test programs: ok() per check, and rcs() to say why a
 * call failed. Each program prints "1..N" (test_no) at its end and exits
 * non-zero when `failed`. */
#ifndef SDK_TAP_H
#define SDK_TAP_H

#include <stdio.h>

#include "parley.h"

static int test_no, failed;

/* detail (NULL or "" for none) is printed only for a failing check. */
static void ok(int cond, const char *what, const char *detail)
{
    test_no++;
    printf("%sok %d - %s", cond ? "" : "not ", test_no, what);
    if (!cond && detail && *detail)
        printf(" (%s)", detail);
    printf("\n");
    fflush(stdout); /* a crash later must not swallow the lines so far */
    if (!cond)
        failed++;
}

/* A call's result with the client's last HTTP status and server error
 * (c may be NULL), valid until the next rcs(). */
static inline const char *rcs(parley_client *c, int rc)
{
    static char buf[640];
    snprintf(buf, sizeof(buf), "rc %d %s; http %d; error %s: %s", rc, parley_strerror(rc),
             c ? parley_http_status(c) : 0, c ? parley_error_code(c) : "",
             c ? parley_error_message(c) : "");
    return buf;
}

#endif
