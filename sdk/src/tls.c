/* TLS under the WebSocket: OpenSSL's client over the non-blocking TCP
 * socket of tcp.c, behind the same transport operations, so ws.c, the
 * handshake and the loops do not know which one they talk to.
 *
 * What the layers above rely on, and how TLS keeps it:
 *  - read and write never block and say EAGAIN like recv/send. SSL_read
 *    may need the socket writable (a key update to answer): it then sets
 *    POLLOUT in need_events, the pollers wait for that too and retry the
 *    read (loop.c), and parley_want_write says 1 (ws.c).
 *  - A write that got EAGAIN is retried with the same bytes: wslay resends
 *    from the same offset, with the same length, from a buffer that may
 *    have moved (its masking buffer is on the stack), which is what
 *    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows.
 *  - No SIGPIPE: the socket is read and written by our own BIO with
 *    send(MSG_NOSIGNAL), as tcp.c does.
 *  - Nothing waits inside OpenSSL's buffers unseen by poll(): wslay reads
 *    until the transport says EAGAIN, and SSL_read reads one record at a
 *    time from the socket (no read-ahead), so what poll() cannot see was
 *    already handed up.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clock.h"

struct pl_tls {
    int refs;          /* atomic */
    SSL_CTX *ctx;
    char *server_name; /* NULL: the URL's host */
    int insecure;
};

/* ---- errors -------------------------------------------------------------- */

static void put(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void put(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;

    if (!dst || size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

/* The reason of OpenSSL's most recent error ("wrong version number"), or
 * fallback; the error queue is emptied. */
static const char *ssl_reason(char *buf, size_t size, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    if (r)
        snprintf(buf, size, "%s", r);
    else if (e)
        ERR_error_string_n(e, buf, size);
    else
        snprintf(buf, size, "%s", fallback);
    ERR_clear_error();
    return buf;
}

/* ---- settings ------------------------------------------------------------- */

int pl_tls_new(const struct parley_tls_opts *opts, struct pl_tls **out, char *msg,
               size_t msg_size)
{
    struct pl_tls *tls;
    char why[160];
    int insecure = opts && opts->insecure;
    const char *ca_file = opts && opts->ca_file && *opts->ca_file ? opts->ca_file : NULL;
    const char *ca_path = opts && opts->ca_path && *opts->ca_path ? opts->ca_path : NULL;
    const char *name = opts && opts->server_name && *opts->server_name ? opts->server_name : NULL;

    *out = NULL;
    if (name && strlen(name) > 255) {
        put(msg, msg_size, "server name too long");
        return PARLEY_ERR_INVAL;
    }
    tls = calloc(1, sizeof(*tls));
    if (!tls)
        return PARLEY_ERR_NOMEM;
    tls->refs = 1;
    tls->insecure = insecure;
    if (name && !(tls->server_name = strdup(name)))
        goto nomem;
    ERR_clear_error();
    tls->ctx = SSL_CTX_new(TLS_client_method());
    if (!tls->ctx)
        goto nomem;
    SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(tls->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(tls->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (insecure) {
        /* The caller asked for no verification (tests): nothing to load. */
        SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER, NULL);
        if (ca_path) {
            /* OpenSSL only remembers a directory; say now if it is none. */
            struct stat st;
            int bad = stat(ca_path, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
            if (bad) {
                put(msg, msg_size, "cannot read the CA directory '%s': %s", ca_path,
                    strerror(bad));
                pl_tls_unref(tls);
                return PARLEY_ERR_TLS;
            }
        }
        if (ca_file) {
            /* OpenSSL's reason for a missing file is "system lib". */
            FILE *f = fopen(ca_file, "r");
            if (!f) {
                put(msg, msg_size, "cannot read the CA file '%s': %s", ca_file, strerror(errno));
                pl_tls_unref(tls);
                return PARLEY_ERR_TLS;
            }
            fclose(f);
        }
        if (ca_file || ca_path) {
            if (SSL_CTX_load_verify_locations(tls->ctx, ca_file, ca_path) != 1) {
                put(msg, msg_size, "cannot load the CA file '%s': %s", ca_file ? ca_file : "",
                    ssl_reason(why, sizeof(why), "no certificate in it"));
                pl_tls_unref(tls);
                return PARLEY_ERR_TLS;
            }
        } else if (SSL_CTX_set_default_verify_paths(tls->ctx) != 1) {
            put(msg, msg_size, "cannot load the system's CA certificates: %s",
                ssl_reason(why, sizeof(why), "unknown reason"));
            pl_tls_unref(tls);
            return PARLEY_ERR_TLS;
        }
    }
    ERR_clear_error();
    *out = tls;
    return PARLEY_OK;
nomem:
    ERR_clear_error();
    pl_tls_unref(tls);
    return PARLEY_ERR_NOMEM;
}

struct pl_tls *pl_tls_ref(struct pl_tls *tls)
{
    if (tls)
        __atomic_add_fetch(&tls->refs, 1, __ATOMIC_RELAXED);
    return tls;
}

void pl_tls_unref(struct pl_tls *tls)
{
    if (!tls || __atomic_sub_fetch(&tls->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    SSL_CTX_free(tls->ctx);
    free(tls->server_name);
    free(tls);
}

/* ---- a BIO on the socket that never raises SIGPIPE ----------------------------- */

/* OpenSSL's socket BIO writes with write(2): a peer gone away would kill
 * the application with SIGPIPE. This one is tcp.c's read and write. */
static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_fd(BIO *b)
{
    return (int)(intptr_t)BIO_get_data(b);
}

static int bio_sock_write(BIO *b, const char *buf, int len)
{
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = send(bio_fd(b), buf, (size_t)len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_write(b);
    return (int)n;
}

static int bio_sock_read(BIO *b, char *buf, int len)
{
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = recv(bio_fd(b), buf, (size_t)len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    return (int)n;
}

static long bio_sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    /* Nothing is buffered here; a flush has nothing to do. */
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_sock_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "parley socket");

    if (m && BIO_meth_set_write(m, bio_sock_write) && BIO_meth_set_read(m, bio_sock_read) &&
        BIO_meth_set_ctrl(m, bio_sock_ctrl) && BIO_meth_set_create(m, bio_sock_create)) {
        bio_method = m;
        return;
    }
    BIO_meth_free(m);
}

/* ---- the transport ----------------------------------------------------------- */

struct tls_conn {
    SSL *ssl;
    int failed; /* a fatal error: no close_notify may follow */
    /* A WebSocket frame header handed over with `more`: it goes out in the
     * same TLS record as the payload that follows at once, not in a record
     * (and, with TCP_NODELAY, a packet) of its own. */
    unsigned char stash[16];
    size_t stash_len;
    unsigned char *wbuf; /* stash + payload, one record's worth */
};

/* One TLS record of plaintext at most per staged write. */
#define TLS_RECORD_MAX 16384

/* Maps an SSL_read/SSL_write result that is not a success to errno. */
static ssize_t io_error(struct pl_transport *t, struct tls_conn *tc, int r, int reading)
{
    int e = SSL_get_error(tc->ssl, r);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        /* The socket must become readable; POLLIN is always polled. */
        if (reading)
            t->need_events = 0;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        /* A read blocked on a write of TLS's own: poll for POLLOUT too,
         * and retry the read then (loop.c). A write that blocks is
         * retried by the WebSocket layer, which polls POLLOUT itself. */
        if (reading)
            t->need_events = POLLOUT;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        /* close_notify: the end of the stream. */
        ERR_clear_error();
        return 0;
    case SSL_ERROR_SYSCALL:
        tc->failed = 1;
        ERR_clear_error();
        if (errno == 0)
            return 0; /* end of stream without close_notify */
        return -1;
    default:
        tc->failed = 1;
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

static ssize_t tls_read(struct pl_transport *t, void *buf, size_t len)
{
    struct tls_conn *tc = t->impl;
    int r;

    if (tc->failed) {
        errno = EPROTO;
        return -1;
    }
    if (len > INT_MAX)
        len = INT_MAX;
    ERR_clear_error();
    errno = 0;
    r = SSL_read(tc->ssl, buf, (int)len);
    if (r > 0) {
        t->need_events = 0;
        return r;
    }
    return io_error(t, tc, r, 1);
}

static ssize_t tls_write(struct pl_transport *t, const void *buf, size_t len, int more)
{
    struct tls_conn *tc = t->impl;
    const void *data = buf;
    size_t n = len, take = 0;
    int r;

    if (tc->failed) {
        errno = EPIPE;
        return -1;
    }
    if (len == 0)
        return 0;
    if (more && tc->stash_len + len <= sizeof(tc->stash)) {
        memcpy(tc->stash + tc->stash_len, buf, len);
        tc->stash_len += len;
        return (ssize_t)len;
    }
    if (tc->stash_len) {
        /* Rebuilt the same way on a retry: the caller hands the same bytes
         * again, so OpenSSL sees the same length. */
        if (!tc->wbuf && !(tc->wbuf = malloc(TLS_RECORD_MAX))) {
            errno = ENOMEM;
            return -1;
        }
        take = len < TLS_RECORD_MAX - tc->stash_len ? len : TLS_RECORD_MAX - tc->stash_len;
        memcpy(tc->wbuf, tc->stash, tc->stash_len);
        memcpy(tc->wbuf + tc->stash_len, buf, take);
        data = tc->wbuf;
        n = tc->stash_len + take;
    }
    if (n > INT_MAX)
        n = INT_MAX;
    ERR_clear_error();
    errno = 0;
    r = SSL_write(tc->ssl, data, (int)n);
    if (r <= 0)
        return io_error(t, tc, r, 0);
    if (tc->stash_len) {
        /* One record of at most TLS_RECORD_MAX bytes: all of it or nothing. */
        size_t sent = (size_t)r > tc->stash_len ? (size_t)r - tc->stash_len : 0;
        tc->stash_len = 0;
        return (ssize_t)(sent < take ? sent : take);
    }
    return r;
}

static void tls_close(struct pl_transport *t)
{
    struct tls_conn *tc = t->impl;

    if (tc) {
        /* close_notify, once and without waiting: the WebSocket close
         * handshake has already ended the conversation. Not after a fatal
         * error (OpenSSL forbids it). */
        if (!tc->failed && SSL_is_init_finished(tc->ssl)) {
            ERR_clear_error();
            SSL_shutdown(tc->ssl);
        }
        ERR_clear_error();
        SSL_free(tc->ssl);
        free(tc->wbuf);
        free(tc);
    }
    t->impl = NULL;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

static const struct pl_transport_ops tls_ops = {
    .read = tls_read,
    .write = tls_write,
    .close = tls_close,
};

/* ---- the handshake ---------------------------------------------------------- */

static int is_ip_literal(const char *s)
{
    unsigned char addr[16];

    return inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

/* Why a handshake failed, in code/msg. */
static int handshake_error(SSL *ssl, int r, const char *name, char *code, size_t code_size,
                           char *msg, size_t msg_size)
{
    long vr = SSL_get_verify_result(ssl);
    int e = SSL_get_error(ssl, r);
    char why[160];

    if (vr != X509_V_OK) {
        put(code, code_size, "certificate");
        if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
            put(msg, msg_size, "certificate verify failed: the certificate is not for '%s' (%s)",
                name, X509_verify_cert_error_string(vr));
        else
            put(msg, msg_size, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
        ERR_clear_error();
        return PARLEY_ERR_TLS;
    }
    put(code, code_size, "tls");
    if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0) {
        if (errno == 0)
            put(msg, msg_size, "TLS handshake failed: the server closed the connection");
        else
            put(msg, msg_size, "TLS handshake failed: %s", strerror(errno));
        ERR_clear_error();
        return PARLEY_ERR_TLS;
    }
    put(msg, msg_size, "TLS handshake failed: %s",
        ssl_reason(why, sizeof(why), "unknown reason"));
    return PARLEY_ERR_TLS;
}

int pl_tls_start(struct pl_tls *tls, const char *host, struct pl_transport *t, int64_t deadline,
                 char *code, size_t code_size, char *msg, size_t msg_size)
{
    const char *name = tls->server_name ? tls->server_name : host;
    struct tls_conn *tc;
    SSL *ssl;
    BIO *bio;
    int ip = is_ip_literal(name);

    pthread_once(&bio_once, bio_method_init);
    if (!bio_method)
        return PARLEY_ERR_NOMEM;
    tc = calloc(1, sizeof(*tc));
    ERR_clear_error();
    ssl = tc ? SSL_new(tls->ctx) : NULL;
    bio = ssl ? BIO_new(bio_method) : NULL;
    if (!bio) {
        SSL_free(ssl);
        free(tc);
        ERR_clear_error();
        return PARLEY_ERR_NOMEM;
    }
    BIO_set_data(bio, (void *)(intptr_t)t->fd);
    SSL_set_bio(ssl, bio, bio);
    tc->ssl = ssl;
    if (!tls->insecure) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        int ok;
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        /* An address is checked against the certificate's IP entries, a
         * name against its DNS entries; never one as the other. */
        ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name) : SSL_set1_host(ssl, name);
        if (ok != 1) {
            SSL_free(ssl);
            free(tc);
            ERR_clear_error();
            put(code, code_size, "tls");
            put(msg, msg_size, "cannot verify the name '%s'", name);
            return PARLEY_ERR_TLS;
        }
    }
    /* SNI carries host names only (RFC 6066), never an address. */
    if (!ip)
        SSL_set_tlsext_host_name(ssl, name);

    for (;;) {
        int r, e, rev;
        short ev;

        ERR_clear_error();
        errno = 0;
        r = SSL_connect(ssl);
        if (r == 1)
            break;
        e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            ev = POLLIN;
        } else if (e == SSL_ERROR_WANT_WRITE) {
            ev = POLLOUT;
        } else {
            int rc = handshake_error(ssl, r, name, code, code_size, msg, msg_size);
            SSL_free(ssl);
            free(tc);
            return rc;
        }
        rev = pl_poll_fd(t->fd, ev, deadline);
        if (rev == 0 || rev < 0) {
            SSL_free(ssl);
            free(tc);
            ERR_clear_error();
            if (rev == 0)
                return PARLEY_ERR_TIMEOUT;
            put(code, code_size, "tls");
            put(msg, msg_size, "TLS handshake failed: poll: %s", strerror(errno));
            return PARLEY_ERR_TLS;
        }
    }
    t->ops = &tls_ops;
    t->impl = tc;
    t->need_events = 0;
    return PARLEY_OK;
}
