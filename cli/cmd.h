/* Inside the command set: the command table's entry type, the helpers
 * every command uses, and the commands of cmd_chat.c and cmd_wire.c that
 * the table in commands.c lists. */
#ifndef PARLEY_CLI_CMD_H
#define PARLEY_CLI_CMD_H

#include <cjson/cJSON.h>

#include "cli.h"
#include "words.h"
/* Which argument words name rooms, for completion: bit i stands for the
 * i-th word after the command's name. */
#define ROOM_ARG(i) (1u << (i))
#define ROOM_ARGS_ALL (~0u)

struct command {
    const char *name;
    const char *args;    /* usage after the name */
    const char *summary; /* one line for help */
    int min_args;        /* words after the name */
    int max_args;        /* -1: no limit */
    /* > 0: only this many words (the name included) are split; the rest of
     * the line is handed over as typed (raw JSON needs no quoting). */
    int split_words;
    unsigned room_args; /* ROOM_ARG bits */
    int (*run)(struct cli *ctx, const struct command *cmd, struct words *w);

    /* For the commands that are one request (run is cmd_event): the event;
     * the builder of its data object from the words (returns 0, or -1 with
     * *why set for a usage error: nothing is sent then); and what to do
     * with the ack's data once it succeeded (print it for people, learn
     * rooms for completion). build or show may be NULL. */
    const char *event;
    int (*build)(const struct words *w, cJSON *data, const char **why);
    void (*show)(struct cli *ctx, const struct words *w, const cJSON *ack);
};

/* Prints a usage error (naming cmd's usage when cmd is not NULL); returns
 * CLI_EXIT_USAGE. */
int cmd_usage(struct cli *ctx, const struct command *cmd, const char *why);
/* Prints the out-of-memory error; returns CLI_EXIT_FAIL. */
int cmd_nomem(struct cli *ctx);
/* Parses a whole decimal number; 0 on success, -1 otherwise. */
int cmd_parse_i64(const char *s, long long *out);
/* The largest message id the protocol's JSON carries exactly (2^53 - 1),
 * and the largest the server accepts: a larger one is a bad argument,
 * refused before anything is sent. */
#define CMD_ID_MAX 9007199254740991LL
/* Parses a message id: a whole number from 1 to CMD_ID_MAX; 0 on success,
 * -1 otherwise. */
int cmd_parse_id(const char *s, long long *out);
/* Connects if needed, sends one request and prints its ack; *ack_out (if
 * not NULL) gets the ack's data JSON on success (free()). Returns the exit
 * status. */
int cmd_request(struct cli *ctx, const char *event, cJSON *data, char **ack_out);
/* Adds name: v to obj as an exact JSON integer (a double would round ids
 * past 2^53). Returns 0, or -1 when out of memory. */
int cmd_add_int(cJSON *obj, const char *name, long long v);

/* cmd_chat.c */
int cmd_account(struct cli *ctx, const struct command *cmd, struct words *w);
int cmd_join(struct cli *ctx, const struct command *cmd, struct words *w);
int cmd_leave(struct cli *ctx, const struct command *cmd, struct words *w);
int cmd_send(struct cli *ctx, const struct command *cmd, struct words *w);
int cmd_history(struct cli *ctx, const struct command *cmd, struct words *w);

/* cmd_events.c: the generic request command, and the builders and
 * printers of the table's request rows */
int cmd_event(struct cli *ctx, const struct command *cmd, struct words *w);
int build_room(const struct words *w, cJSON *data, const char **why);
int build_room_opt(const struct words *w, cJSON *data, const char **why);
int build_rooms(const struct words *w, cJSON *data, const char **why);
int build_invite(const struct words *w, cJSON *data, const char **why);
int build_typing(const struct words *w, cJSON *data, const char **why);
int build_message_id(const struct words *w, cJSON *data, const char **why);
void show_info(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_rooms(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_online(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_subscribed(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_unsubscribed(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_substatus(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_subs(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_invite(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_typing(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_typers(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_delivered(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_read(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_receipts(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_stats(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_deleted(struct cli *ctx, const struct words *w, const cJSON *ack);

/* cmd_presence.c: the builders and printers of the presence and recovery
 * rows */
/* The wire status for a status word (online, away, busy, offline,
 * invisible), NULL for any other word. */
const char *presence_status_wire(const char *word);
/* The i-th status word (for completion), NULL past the end. */
const char *presence_status_word(size_t i);
int build_status(const struct words *w, cJSON *data, const char **why);
int build_user(const struct words *w, cJSON *data, const char **why);
int build_recover(const struct words *w, cJSON *data, const char **why);
void show_status_set(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_who(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_whois(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_presence_stats(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_session(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_recover(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_session_info(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_recovery_stats(struct cli *ctx, const struct words *w, const cJSON *ack);

/* cmd_events.c: the monitoring rows (admin only) */
int build_mon_events(const struct words *w, cJSON *data, const char **why);
void show_metrics(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_mon_events(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_monitor_stats(struct cli *ctx, const struct words *w, const cJSON *ack);
void show_health(struct cli *ctx, const struct words *w, const cJSON *ack);
/* The i-th monitoring event type (what --type takes), NULL past the end. */
const char *mon_event_type(size_t i);

/* cmd_wire.c */
int cmd_raw(struct cli *ctx, const struct command *cmd, struct words *w);
int cmd_send_text(struct cli *ctx, const struct command *cmd, struct words *w);
int cmd_wait(struct cli *ctx, const struct command *cmd, struct words *w);

#endif
