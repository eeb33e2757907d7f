/* sdk_tls: libparley over TLS, the way an application uses it.
 *
 *   sdk_tls URL CAFILE TOKEN_A TOKEN_B ROOM
 *
 * URL is the https:// base of a parleyd serving TLS (directly or behind a
 * proxy) whose certificate, issued by CAFILE, names 127.0.0.1 and
 * localhost but not wrong.example. ROOM must be new. Checks the TLS
 * settings (system store refused, a CA file, a bad CA file, server_name
 * right and wrong, insecure), accounts over https (parley_register_tls,
 * parley_login_tls), and large messages (4000 four-byte characters) both
 * ways with A blocking, B embedded in its own poll() loop (many sends
 * queued at once, so TLS writes block part way), then A managed.
 * Prints TAP; exits 1 when a check fails, 2 on bad usage. */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "parley.h"
#include "sdk_tap.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 4000 characters of U+1F600 (16000 bytes of UTF-8), the first `tag`. */
static char *big_text(char tag)
{
    static const char smile[] = "\xF0\x9F\x98\x80";
    char *t = malloc(4000 * 4 + 1);

    if (!t)
        exit(2);
    t[0] = tag;
    for (int i = 1; i < 4000; i++)
        memcpy(t + 1 + (size_t)(i - 1) * 4, smile, 4);
    t[1 + 3999 * 4] = '\0';
    return t;
}

/* ---- what the callbacks saw --------------------------------------------------- */

struct seen {
    pthread_mutex_t mu;
    int messages;      /* message:new with the expected text */
    int bad_messages;  /* message:new whose text was damaged */
    int acks_ok, acks_bad;
    const char *expect_a, *expect_b; /* the texts that may arrive */
};

static void on_message(parley_client *c, void *ud, const struct parley_message *m)
{
    struct seen *s = ud;

    pthread_mutex_lock(&s->mu);
    if ((s->expect_a && strcmp(m->text, s->expect_a) == 0) ||
        (s->expect_b && strcmp(m->text, s->expect_b) == 0))
        s->messages++;
    else
        s->bad_messages++;
    pthread_mutex_unlock(&s->mu);
}

static void on_send_ack(parley_client *c, void *ud, void *arg, int rc, const char *json)
{
    struct seen *s = ud;
    struct parley_message *m = NULL;
    const char *want = arg;
    char *msg = json ? strstr(json, "\"message\"") : NULL;

    pthread_mutex_lock(&s->mu);
    /* The ack's data is {"message": {...}}: its text must be what was sent. */
    if (rc == PARLEY_OK && msg && (msg = strchr(msg, '{')) &&
        parley_message_parse(msg, &m) == PARLEY_OK && strcmp(m->text, want) == 0)
        s->acks_ok++;
    else
        s->acks_bad++;
    pthread_mutex_unlock(&s->mu);
    parley_message_free(m);
}

static int count(struct seen *s, int *field)
{
    int v;
    pthread_mutex_lock(&s->mu);
    v = *field;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* ---- embedded: the application's own poll loop ----------------------------------- */

static int want_write_seen;

/* Drives c until *field reaches n or ms pass; returns whether it did. */
static int pump(parley_client *c, struct seen *s, int *field, int n, int ms)
{
    long long end = now_ms() + ms, last_misc = 0;

    while (count(s, field) < n && now_ms() < end) {
        struct pollfd p = {.fd = parley_socket(c), .events = POLLIN};
        if (p.fd < 0)
            return 0;
        if (parley_want_write(c)) {
            p.events |= POLLOUT;
            want_write_seen++;
        }
        if (poll(&p, 1, 100) > 0) {
            if ((p.revents & (POLLIN | POLLERR | POLLHUP)) && parley_loop_read(c) != PARLEY_OK)
                return 0;
            if ((p.revents & POLLOUT) && parley_loop_write(c) != PARLEY_OK)
                return 0;
        }
        if (now_ms() - last_misc >= 1000) {
            parley_loop_misc(c);
            last_misc = now_ms();
        }
    }
    return count(s, field) >= n;
}

/* ---- settings ----------------------------------------------------------------- */

static int try_connect(const char *url, const char *token, const struct parley_tls_opts *o,
                       char *code, size_t code_size, char *msg, size_t msg_size)
{
    parley_client *c = parley_client_new(url, NULL);
    int rc;

    if (!c)
        return -100;
    parley_set_token(c, token);
    rc = o ? parley_set_tls(c, o) : PARLEY_OK;
    if (rc == PARLEY_OK)
        rc = parley_connect(c, 10000);
    snprintf(code, code_size, "%s", parley_error_code(c));
    snprintf(msg, msg_size, "%s", parley_error_message(c));
    if (rc == PARLEY_OK)
        parley_disconnect(c);
    parley_client_destroy(c);
    return rc;
}

static void settings(const char *url, const char *ws_url, const char *cafile, const char *tok)
{
    struct parley_tls_opts o;
    char code[64], msg[512], detail[700];
    int rc;

    rc = try_connect(url, tok, NULL, code, sizeof(code), msg, sizeof(msg));
    snprintf(detail, sizeof(detail), "rc %d, %s: %s", rc, code, msg);
    ok(rc == PARLEY_ERR_TLS && !strcmp(code, "certificate") &&
           strstr(msg, "unable to get local issuer certificate"),
       "the system's CA store does not trust the test CA: PARLEY_ERR_TLS, 'certificate'", detail);

    memset(&o, 0, sizeof(o));
    o.ca_file = cafile;
    rc = try_connect(url, tok, &o, code, sizeof(code), msg, sizeof(msg));
    snprintf(detail, sizeof(detail), "rc %d, %s: %s", rc, code, msg);
    ok(rc == PARLEY_OK, "ca_file: the server is verified and the upgrade succeeds", detail);

    rc = try_connect(ws_url, tok, &o, code, sizeof(code), msg, sizeof(msg));
    snprintf(detail, sizeof(detail), "rc %d, %s: %s", rc, code, msg);
    ok(rc == PARLEY_OK, "a wss:// URL works the same", detail);

    o.server_name = "wrong.example";
    rc = try_connect(url, tok, &o, code, sizeof(code), msg, sizeof(msg));
    snprintf(detail, sizeof(detail), "rc %d, %s: %s", rc, code, msg);
    ok(rc == PARLEY_ERR_TLS && !strcmp(code, "certificate") &&
           strstr(msg, "not for 'wrong.example'"),
       "server_name wrong.example: refused, the message names it", detail);

    o.server_name = "localhost";
    rc = try_connect(url, tok, &o, code, sizeof(code), msg, sizeof(msg));
    snprintf(detail, sizeof(detail), "rc %d, %s: %s", rc, code, msg);
    ok(rc == PARLEY_OK, "server_name localhost (a name the certificate has) is verified", detail);

    memset(&o, 0, sizeof(o));
    o.ca_file = "/nonexistent/ca.pem";
    rc = try_connect(url, tok, &o, code, sizeof(code), msg, sizeof(msg));
    snprintf(detail, sizeof(detail), "rc %d, %s: %s", rc, code, msg);
    ok(rc == PARLEY_ERR_TLS && strstr(msg, "/nonexistent/ca.pem") && strstr(msg, "No such file"),
       "a CA file that does not exist: parley_set_tls says so", detail);

    memset(&o, 0, sizeof(o));
    o.insecure = 1;
    rc = try_connect(url, tok, &o, code, sizeof(code), msg, sizeof(msg));
    snprintf(detail, sizeof(detail), "rc %d, %s: %s", rc, code, msg);
    ok(rc == PARLEY_OK, "insecure: connects without verification", detail);
}

/* ---- accounts over https --------------------------------------------------------- */

static void accounts(const char *url, const char *cafile)
{
    struct parley_tls_opts o;
    struct parley_auth_result res;
    char user[64], detail[400];
    int rc;

    snprintf(user, sizeof(user), "tls%ld%d", (long)time(NULL) % 100000, (int)getpid());
    memset(&o, 0, sizeof(o));

    rc = parley_register(url, user, "secret-pw-1", 10000, &res);
    snprintf(detail, sizeof(detail), "rc %d, %s: %s", rc, res.error_code, res.error_message);
    ok(rc == PARLEY_ERR_TLS && !strcmp(res.error_code, "certificate") && res.error_message[0],
       "parley_register over https without the CA: PARLEY_ERR_TLS, 'certificate'", detail);
    parley_auth_result_clear(&res);

    o.ca_file = cafile;
    rc = parley_register_tls(url, user, "secret-pw-1", 10000, &o, &res);
    snprintf(detail, sizeof(detail), "rc %d, http %d, %s: %s", rc, res.http_status,
             res.error_code, res.error_message);
    ok(rc == PARLEY_OK && res.http_status == 201 && res.token,
       "parley_register_tls with ca_file: 201 and a token", detail);
    parley_auth_result_clear(&res);

    rc = parley_login_tls(url, user, "secret-pw-1", 10000, &o, &res);
    snprintf(detail, sizeof(detail), "rc %d, http %d, %s: %s", rc, res.http_status,
             res.error_code, res.error_message);
    ok(rc == PARLEY_OK && res.http_status == 200 && res.token,
       "parley_login_tls with ca_file: 200 and a token", detail);
    parley_auth_result_clear(&res);

    o.server_name = "wrong.example";
    rc = parley_login_tls(url, user, "secret-pw-1", 10000, &o, &res);
    snprintf(detail, sizeof(detail), "rc %d, %s: %s", rc, res.error_code, res.error_message);
    ok(rc == PARLEY_ERR_TLS && !strcmp(res.error_code, "certificate"),
       "parley_login_tls with server_name wrong.example: refused", detail);
    parley_auth_result_clear(&res);

    o.server_name = "localhost";
    rc = parley_login_tls(url, user, "secret-pw-1", 10000, &o, &res);
    snprintf(detail, sizeof(detail), "rc %d, %s: %s", rc, res.error_code, res.error_message);
    ok(rc == PARLEY_OK && res.token, "parley_login_tls with server_name localhost: verified",
       detail);
    parley_auth_result_clear(&res);

    memset(&o, 0, sizeof(o));
    o.insecure = 1;
    rc = parley_login_tls(url, user, "wrong-password", 10000, &o, &res);
    snprintf(detail, sizeof(detail), "rc %d, http %d", rc, res.http_status);
    ok(rc == PARLEY_ERR_SERVER && res.http_status == 401,
       "parley_login_tls insecure: reaches the server (401 for a bad password)", detail);
    parley_auth_result_clear(&res);
}

/* ---- large messages, three driving modes ---------------------------------------- */

#define B_SENDS 12

static void chat(const char *url, const char *cafile, const char *tok_a, const char *tok_b,
                 const char *room)
{
    struct parley_tls_opts o;
    struct seen sa, sb;
    parley_client *a, *b;
    struct parley_message *m = NULL, *hist = NULL;
    size_t n = 0;
    int rc, has_more = 0, sends;
    size_t want;
    char *text_a = big_text('A'), *text_b = big_text('B');
    long long t0;

    memset(&o, 0, sizeof(o));
    o.ca_file = cafile;
    memset(&sa, 0, sizeof(sa));
    memset(&sb, 0, sizeof(sb));
    pthread_mutex_init(&sa.mu, NULL);
    pthread_mutex_init(&sb.mu, NULL);
    sa.expect_a = sb.expect_a = text_a;
    sa.expect_b = sb.expect_b = text_b;

    a = parley_client_new(url, &sa);
    b = parley_client_new(url, &sb);
    if (!a || !b)
        exit(2);
    parley_set_token(a, tok_a);
    parley_set_token(b, tok_b);
    parley_set_tls(a, &o);
    parley_set_tls(b, &o);
    parley_on_message(a, on_message);
    parley_on_message(b, on_message);

    rc = parley_connect(a, 10000);
    ok(rc == PARLEY_OK, "A connects (blocking mode)", rcs(a, rc));
    rc = parley_join(a, room, 0, 10000);
    ok(rc == PARLEY_OK, "A joins", rcs(a, rc));
    rc = parley_connect(b, 10000);
    ok(rc == PARLEY_OK, "B connects (embedded mode)", rcs(b, rc));
    rc = parley_join(b, room, 0, 10000);
    ok(rc == PARLEY_OK, "B joins", rcs(b, rc));

    /* A blocking send of 16 KB: the ack carries the text back. */
    t0 = now_ms();
    rc = parley_send(a, room, text_a, NULL, 30000, &m);
    ok(rc == PARLEY_OK && m && strcmp(m->text, text_a) == 0,
       "A sends 4000 four-byte characters; the stored text is identical", rcs(a, rc));
    printf("# blocking send of 16 KB: %lld ms\n", now_ms() - t0);
    parley_message_free(m);
    ok(pump(b, &sb, &sb.messages, 1, 30000), "B's own poll loop receives it intact",
       "no message:new with the text");

    /* A goes managed: its loop thread receives B's messages as they come
     * (a client that did not read would be cut off as a slow consumer). */
    rc = parley_loop_start(a);
    ok(rc == PARLEY_OK, "A starts its loop thread", rcs(a, rc));

    /* B queues its sends at once; its own loop writes them out. */
    t0 = now_ms();
    for (sends = 0; sends < B_SENDS; sends++)
        if ((rc = parley_send_async(b, room, text_b, NULL, on_send_ack, text_b)) != PARLEY_OK)
            break;
    ok(rc == PARLEY_OK, "B queues 12 sends of 16 KB", rcs(b, rc));
    ok(pump(b, &sb, &sb.acks_ok, sends, 90000), "B's loop gets every ack, texts intact",
       "acks missing or damaged");
    printf("# embedded: %d sends of 16 KB acked in %lld ms\n", sends, now_ms() - t0);
    ok(count(&sb, &sb.acks_bad) == 0 && count(&sb, &sb.bad_messages) == 0,
       "B saw no damaged ack or message", "");
    for (long long end = now_ms() + 60000; count(&sa, &sa.messages) < sends && now_ms() < end;)
        usleep(20000);
    ok(count(&sa, &sa.messages) == sends && count(&sa, &sa.bad_messages) == 0,
       "A's loop thread receives all of B's messages intact", "");

    t0 = now_ms();
    rc = parley_history(a, room, 0, 100, 60000, &hist, &n, &has_more);
    want = (size_t)sends + 1 < 100 ? (size_t)sends + 1 : 100;
    ok(rc == PARLEY_OK && n == want, "history over TLS returns every large message", rcs(a, rc));
    for (size_t i = 0; rc == PARLEY_OK && i < n; i++)
        if (strcmp(hist[i].text, i == 0 && n == (size_t)sends + 1 ? text_a : text_b) != 0) {
            ok(0, "history texts intact", "a text differs");
            break;
        }
    printf("# history of %zu x 16 KB: %lld ms\n", n, now_ms() - t0);
    parley_messages_free(hist, n);
    parley_loop_stop(a);

    parley_disconnect(b);
    parley_disconnect(a);
    ok(!parley_is_connected(a) && !parley_is_connected(b), "both disconnect cleanly", "");
    parley_client_destroy(a);
    parley_client_destroy(b);
    pthread_mutex_destroy(&sa.mu);
    pthread_mutex_destroy(&sb.mu);
    free(text_a);
    free(text_b);
}

/* ---- against tls_stall_server.py: TLS writes that block part way ---------------- */

#define STALL_MAX 400

static void stall(const char *url, const char *cafile)
{
    struct parley_tls_opts o;
    struct seen s;
    parley_client *c;
    char *text = big_text('S');
    int rc = PARLEY_OK, sends, wanted = 0;
    long long t0;

    memset(&o, 0, sizeof(o));
    o.ca_file = cafile;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    c = parley_client_new(url, &s);
    if (!c)
        exit(2);
    parley_set_tls(c, &o);
    rc = parley_connect(c, 10000);
    ok(rc == PARLEY_OK, "connects to the stalling server", rcs(c, rc));
    /* The server reads nothing for a while: queue until the socket is
     * full and TLS holds a record it could not finish writing. */
    t0 = now_ms();
    for (sends = 0; sends < STALL_MAX && rc == PARLEY_OK; sends++) {
        rc = parley_send_async(c, "stall", text, NULL, on_send_ack, text);
        if (parley_want_write(c) && ++wanted >= 4) {
            sends++;
            break;
        }
    }
    ok(rc == PARLEY_OK && wanted > 0, "parley_want_write says 1 once the socket is full",
       rcs(c, rc));
    printf("# %d sends of 16 KB queued, the socket full after %d\n", sends, sends - wanted);
    want_write_seen = 0;
    ok(pump(c, &s, &s.acks_ok, sends, 60000), "the embedded loop finishes every write: all acked",
       "acks missing");
    ok(count(&s, &s.acks_bad) == 0, "every ack carries the text sent, intact", "");
    ok(want_write_seen > 0, "the loop polled POLLOUT because parley_want_write asked", "");
    printf("# flushed and acked in %lld ms (POLLOUT polled %d times)\n", now_ms() - t0,
           want_write_seen);
    parley_disconnect(c);
    ok(!parley_is_connected(c), "disconnects cleanly", "");
    parley_client_destroy(c);
    pthread_mutex_destroy(&s.mu);
    free(text);
}

int main(int argc, char **argv)
{
    char ws_url[512];

    if (argc == 4 && strcmp(argv[1], "--stall") == 0) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        stall(argv[2], argv[3]);
        printf("1..%d\n", test_no);
        return failed ? 1 : 0;
    }
    if (argc != 6 || strncmp(argv[1], "https://", 8) != 0) {
        fprintf(stderr, "usage: sdk_tls https://HOST:PORT CAFILE TOKEN_A TOKEN_B ROOM\n"
                        "       sdk_tls --stall https://HOST:PORT CAFILE\n");
        return 2;
    }
    snprintf(ws_url, sizeof(ws_url), "wss://%s/ws", argv[1] + 8);
    setvbuf(stdout, NULL, _IOLBF, 0);
    settings(argv[1], ws_url, argv[2], argv[3]);
    accounts(argv[1], argv[2]);
    chat(argv[1], argv[2], argv[3], argv[4], argv[5]);
    printf("1..%d\n", test_no);
    return failed ? 1 : 0;
}
