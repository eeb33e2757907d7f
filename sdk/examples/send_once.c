/* send_once: sends one message and exits, for scripts and cron jobs.
 *
 *   send_once ROOM TEXT            (server and JWT from PARLEY_URL, PARLEY_TOKEN)
 *   send_once URL TOKEN ROOM TEXT
 *
 * Joins ROOM (creating it when new), sends TEXT and waits for the server's
 * acknowledgement. Exit status: 0 when the message is stored, printing its
 * id and seq ("ID SEQ") on stdout; 1 when it is not (the server refused,
 * or could not be reached), with the reason on stderr; 2 on bad usage.
 *
 * No loop runs: each blocking call drives the connection itself until its
 * answer arrives, which is all a one-shot program needs. */
#include <parley.h>
#include <stdio.h>
#include <stdlib.h>

#define TIMEOUT_MS 10000

/* A failed call, explained: the server's error code when it refused
 * ("forbidden", "message_too_long", ...), the HTTP status when it refused
 * the connection (401: a bad token). */
static int report(parley_client *c, const char *what, int rc)
{
    if (rc == PARLEY_ERR_SERVER)
        fprintf(stderr, "send_once: %s: refused: %s: %s\n", what, parley_error_code(c),
                parley_error_message(c));
    else if (rc == PARLEY_ERR_HANDSHAKE)
        fprintf(stderr, "send_once: %s: %s (HTTP %d)\n", what, parley_strerror(rc),
                parley_http_status(c));
    else
        fprintf(stderr, "send_once: %s: %s\n", what, parley_strerror(rc));
    return 1;
}

int main(int argc, char **argv)
{
    const char *url = getenv("PARLEY_URL"), *token = getenv("PARLEY_TOKEN"), *room, *text;
    struct parley_message *m = NULL;
    parley_client *c;
    int rc, status;

    if (argc == 5) {
        url = argv[1];
        token = argv[2];
    } else if (argc != 3 || !url || !token) {
        fprintf(stderr, "usage: send_once URL TOKEN ROOM TEXT\n"
                        "       send_once ROOM TEXT   (with PARLEY_URL and PARLEY_TOKEN set)\n");
        return 2;
    }
    room = argv[argc - 2];
    text = argv[argc - 1];
    if (!(c = parley_client_new(url, NULL))) {
        fprintf(stderr, "send_once: bad URL: %s\n", url);
        return 2;
    }
    if ((rc = parley_set_token(c, token)) != PARLEY_OK)
        status = report(c, "token", rc);
    else if ((rc = parley_connect(c, TIMEOUT_MS)) != PARLEY_OK)
        status = report(c, "connect", rc);
    else if ((rc = parley_join(c, room, 0, TIMEOUT_MS)) != PARLEY_OK)
        status = report(c, "join", rc);
    else if ((rc = parley_send(c, room, text, NULL, TIMEOUT_MS, &m)) != PARLEY_OK)
        status = report(c, "send", rc);
    else {
        printf("%lld %lld\n", (long long)m->id, (long long)m->seq);
        status = 0;
    }
    parley_message_free(m); /* NULL when the send failed */
    /* A normal close (1000) rather than a dropped socket. */
    parley_disconnect(c);
    parley_client_destroy(c);
    return status;
}
