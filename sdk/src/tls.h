/* The TLS transport (OpenSSL): the client side of https:// and wss://.
 *
 * A struct pl_tls is a client's TLS settings made ready: an SSL_CTX with
 * the trusted CAs loaded, and the name to verify. It is immutable once
 * built and reference counted, so a connect running without the client
 * lock keeps the one it started with while parley_set_tls installs
 * another. */
#ifndef PL_TLS_H
#define PL_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "parley.h"
#include "transport.h"

struct pl_tls;

/* Builds the settings from opts (NULL: verify against the system's CA
 * store). The CA file or directory is read now. PARLEY_OK;
 * PARLEY_ERR_TLS with the reason in msg when it cannot be; PARLEY_ERR_NOMEM. */
int pl_tls_new(const struct parley_tls_opts *opts, struct pl_tls **out, char *msg,
               size_t msg_size);
/* Another reference (NULL stays NULL). */
struct pl_tls *pl_tls_ref(struct pl_tls *tls);
/* Drops a reference; the last one frees. NULL is fine. */
void pl_tls_unref(struct pl_tls *tls);

/* Runs the TLS handshake over t, a connected non-blocking TCP transport,
 * before deadline (monotonic ms): SNI and certificate verification for
 * host (or the settings' server_name). On PARLEY_OK t reads and writes
 * through TLS and its close sends close_notify. Otherwise t is left as it
 * was (the caller closes it) and code/msg say why: PARLEY_ERR_TLS with
 * code "certificate" (verification refused the server) or "tls" (any
 * other handshake failure); PARLEY_ERR_TIMEOUT; PARLEY_ERR_NOMEM. */
int pl_tls_start(struct pl_tls *tls, const char *host, struct pl_transport *t, int64_t deadline,
                 char *code, size_t code_size, char *msg, size_t msg_size);

#endif
