#!/usr/bin/env bats
# parley-chat, the terminal client (man/parley-chat.1), end to end: real
# parleyd, real parley-chat processes in tmux panes of a fixed size
# (100x30, TERM=xterm-256color, TZ=UTC, a UTF-8 locale), driven with
# send-keys and read with capture-pane. Every wait polls the screen for
# what must appear (bounded); nothing sleeps and hopes. Each test has its
# own tmux server (-L), killed in the teardown.

load helpers

# The helpers' teardown (stops the server, kills background clients), kept
# under another name: this suite's teardown runs it after closing tmux.
eval "helpers_$(declare -f teardown)"

PCHAT=$PARLEY_BUILD/parley-chat

setup() {
    [ -x "$PCHAT" ] || fail "no parley-chat at $PCHAT (run make all)"
    start_server
    TA=$(token alice)
    TB=$(token bob)
    TC=$(token carol)
    OUT=$BATS_TEST_TMPDIR
    export TZ=UTC LC_ALL=C.UTF-8
    unset NO_COLOR
    TMUX_L="pc$$-$BATS_TEST_NUMBER"
    # No tmux status line (the pane is the whole 100x30 window); a pane
    # whose program exited stays, so its last screen and status can be read.
    printf '%s\n' 'set -g status off' 'set -g remain-on-exit on' 'set -g history-limit 200' \
        >"$OUT/tmux.conf"
}

teardown() {
    local rc=0 pids= pid
    pc_check_exits || rc=1
    # Closing tmux hangs up every client's terminal: each must exit.
    for pid in $(tmx list-panes -a -F '#{pane_pid}' 2>/dev/null); do
        pids+=" $(ps -o pid= --ppid "$pid")"
    done
    tmx kill-server 2>/dev/null || true
    for pid in $pids; do
        if ! wait_for_exit "$pid" 5; then
            kill -9 "$pid" 2>/dev/null || true
            fail "parley-chat (pid $pid) did not exit within 5 s of its terminal's hangup"
            rc=1
        fi
    done
    helpers_teardown || rc=1
    return "$rc"
}

# ---- tmux -----------------------------------------------------------------

# tmx ARGS...: tmux on this test's own server.
tmx() {
    tmux -L "$TMUX_L" -f "$OUT/tmux.conf" "$@"
}

# pc_start NAME ARGS...: parley-chat ARGS (after --url $PARLEY_URL) in a new
# 100x30 tmux session NAME. Its stderr goes to $OUT/pc-NAME.err and its
# exit status, once it exits, to $OUT/pc-NAME.rc: a shell waits for it and
# writes it, because tmux (3.3a) sometimes never reaps a pane's process
# when the terminal closed first, so #{pane_dead_status} stays empty. The
# shell's traps are handlers, not ignores, so parley-chat gets the
# default dispositions.
pc_start() {
    local name=$1
    shift
    rm -f "$OUT/pc-$name.rc"
    tmx new-session -d -s "$name" -x 100 -y 30 \
        sh -c 'trap : HUP INT QUIT TERM; "$@" 2>>"$0.err"; echo $? >"$0.rc"' "$OUT/pc-$name" \
        env -u NO_COLOR TERM=xterm-256color TZ=UTC LC_ALL=C.UTF-8 \
        "$PCHAT" --url "$PARLEY_URL" "$@"
}

# pc_open NAME TOKEN ROOM...: pc_start with the token and rooms, then waits
# until the first room is shown, joined, and the client is connected.
pc_open() {
    local name=$1 tok=$2
    shift 2
    pc_start "$name" --token "$tok" "$@" || return 1
    screen_wait "$name" "-!- joined $1 \\([0-9]+ members?\\)" || return 1
    screen_wait -s "$name" "^ $1 │ connected"
}

# screen NAME: the pane's text, one line per row (all rows).
screen() {
    tmx capture-pane -p -t "$1"
}

# screen_part WHICH NAME: all of the screen, or only its status line (the
# row above the last) or its input line (the last row).
screen_part() {
    case $1 in
    all) screen "$2" ;;
    status) screen "$2" | tail -n 2 | head -n 1 ;;
    input) screen "$2" | tail -n 1 ;;
    esac
}

# screen_dump NAME: the screen framed with row numbers, the pane's state
# and the client's stderr, for failure messages.
screen_dump() {
    printf -- '--- screen of %s (%s, %s):\n' "$1" \
        "$(tmx display -p -t "$1" '#{pane_width}x#{pane_height}' 2>&1)" \
        "$([ -f "$OUT/pc-$1.rc" ] && echo "exited $(cat "$OUT/pc-$1.rc")" || echo running)"
    screen "$1" 2>&1 | awk '{ printf "%2d|%s|\n", NR - 1, $0 }'
    if [ -s "$OUT/pc-$1.err" ]; then
        printf -- '--- stderr of %s:\n' "$1"
        tail -n 20 "$OUT/pc-$1.err"
    fi
}

# screen_wait [-s|-i] [-F] [-n] NAME PATTERN [TIMEOUT_S]: polls the screen of
# NAME (every 0.1 s, up to TIMEOUT_S, default 10) until a line matches the
# extended regular expression PATTERN (-F: the fixed string), or with -n
# until none does. -s looks at the status line only, -i at the input line
# only. Fails showing the last screen.
screen_wait() {
    local OPTIND opt part=all want=1 mode=-E
    while getopts 'siFn' opt; do
        case $opt in
        s) part=status ;;
        i) part=input ;;
        F) mode=-F ;;
        n) want=0 ;;
        *) return 2 ;;
        esac
    done
    shift $((OPTIND - 1))
    local name=$1 pat=$2 timeout=${3:-10} i text has
    for ((i = 0; i < timeout * 10; i++)); do
        text=$(screen_part "$part" "$name" 2>/dev/null) || text=
        has=0
        grep -q "$mode" -- "$pat" <<<"$text" && has=1
        [ "$has" = "$want" ] && return 0
        sleep 0.1
    done
    local what="appear on"
    [ "$want" = 1 ] || what="go away from"
    fail "$name: /$pat/ did not $what the $part screen within ${timeout}s" "$(screen_dump "$name")"
}

# keys NAME KEY...: tmux key names (Enter, C-u, M-1, PPage...).
keys() {
    local name=$1
    shift
    tmx send-keys -t "$name" "$@"
}

# type_text NAME TEXT: types TEXT literally (no Enter), and waits until the
# input line shows its end (the field scrolls to keep the cursor visible).
type_text() {
    tmx send-keys -t "$1" -l -- "$2" || return 1
    local tail=$2
    [ "${#tail}" -le 12 ] || tail=${tail: -12}
    screen_wait -i -F "$1" "$tail"
}

# say NAME LINE: types LINE and Enter, then waits until the input line is
# empty again ("[ROOM]" alone).
say() {
    type_text "$1" "$2" || return 1
    keys "$1" Enter
    screen_wait -i "$1" '^\[[^]]+\]$'
}

# status_is NAME TEXT: the status line is exactly TEXT (trailing blanks
# aside), within the usual bound.
status_is() {
    screen_wait -s "$1" "^$(ere_quote "$2")\$"
}

# ere_quote TEXT: TEXT with the characters special to an ERE escaped.
ere_quote() {
    sed 's/[][\.*^$+?(){}|]/\\&/g' <<<"$1"
}

# pane_exit NAME [TIMEOUT_S]: how the client in NAME ended ("status N";
# "signal N" when a signal killed it), or "running" after TIMEOUT_S
# (default 10).
pane_exit() {
    local i f=$OUT/pc-$1.rc st
    for ((i = 0; i < ${2:-10} * 10; i++)); do
        if [ -s "$f" ]; then
            st=$(cat "$f")
            if [ "$st" -gt 128 ]; then echo "signal $((st - 128))"; else echo "status $st"; fi
            return
        fi
        sleep 0.1
    done
    echo running
}

# cursor_at NAME X Y: the terminal's cursor is at column X, row Y (from 0)
# within the usual bound.
cursor_at() {
    local i got
    for ((i = 0; i < 100; i++)); do
        got=$(tmx display -p -t "$1" '#{cursor_x},#{cursor_y}')
        [ "$got" = "$2,$3" ] && return 0
        sleep 0.1
    done
    fail "$1: the cursor is at $got, not $2,$3" "$(screen_dump "$1")"
}

# pc_wait_exit NAME STATUS: until the client in NAME has exited, with STATUS.
pc_wait_exit() {
    local got
    got=$(pane_exit "$1")
    [ "$got" = "status $2" ] || fail "$1: want an exit with status $2, got: $got" "$(screen_dump "$1")"
}

# pc_check_exits: no client of this test ended on its own other than with
# status 0 (a crash, an abort, a sanitizer report).
pc_check_exits() {
    local name got rc=0
    while read -r name; do
        [ -n "$name" ] && [ -s "$OUT/pc-$name.rc" ] || continue
        got=$(pane_exit "$name" 1)
        [ "$got" = "status 0" ] && continue
        fail "parley-chat in $name ended unexpectedly: $got" "$(screen_dump "$name")"
        rc=1
    done < <(tmx list-sessions -F '#{session_name}' 2>/dev/null)
    return "$rc"
}

# row_after NAME PATTERN: the screen row right below the last row matching
# the ERE PATTERN (empty when none).
row_after() {
    screen "$1" | awk -v re="$2" 'found { print; found = 0 } $0 ~ re { found = 1 }' | tail -n 1
}

# message_rows NAME PATTERN: the rows of the message whose first row
# matches PATTERN: that row and the continuation rows (indented by 2 or
# more, unlike the status line's 1) below it.
message_rows() {
    screen "$1" | awk -v re="$2" '
        go && /^  +[^ ]/ { print; next }
        { go = 0 }
        $0 ~ re { print; go = 1 }'
}

# unwrap ROWS: the text of a wrapped message: the "HH:MM <name> " prefix
# of the first row and the indentation of the others removed, the rows
# joined with one space (wrapping breaks at spaces and drops them).
unwrap() {
    sed -E '1s/^[0-9]{2}:[0-9]{2} <[^>]*> //; 2,$s/^ +//' <<<"$1" | paste -sd ' '
}

# page_until NAME KEY REGEX: presses KEY (PPage, NPage) until NAME's screen
# matches REGEX, waiting after each press for the screen to change (a page
# may come before the older history it asked for: then the screen does not
# move and the next press goes on); at most 30 presses.
page_until() {
    local i j before
    for ((i = 0; i < 30; i++)); do
        screen "$1" | grep -qE "$3" && return 0
        before=$(screen "$1")
        keys "$1" "$2"
        for ((j = 0; j < 30; j++)); do
            [ "$(screen "$1")" != "$before" ] && break
            sleep 0.1
        done
    done
    screen_wait "$1" "$3" 5
}

# while_away PORT CLI_ARGS... [-- PARLEYD_ARGS...]: with the server
# stopped and the clients trying to reconnect to PORT: carol ($TC) runs
# the CLI with CLI_ARGS against a server on the same database but another
# port, which the clients cannot reach (so what she sends is missed by
# their sessions), then the server comes back on PORT (binding may need a
# few tries while the old socket goes away). PARLEYD_ARGS go to both.
while_away() {
    local port=$1 cli=() srv=() i
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        cli+=("$1")
        shift
    done
    [ $# -eq 0 ] || shift
    srv=("$@")
    start_server "${srv[@]}" || return 1
    [ "$PARLEY_PORT" != "$port" ] || fail "the interim server took the clients' port" || return 1
    run pcli --token "$TC" "${cli[@]}"
    assert_status 0 || return 1
    stop_server || return 1
    for ((i = 0; i < 20; i++)); do
        launch_server --listen "127.0.0.1:$port" --db "$SRV_DIR/parley.db" --jwt-secret "$SECRET" \
            "${srv[@]}" 2>/dev/null && break
        sleep 0.1
    done
    [ "$PARLEY_PORT" = "$port" ] || fail "parleyd could not listen on port $port again"
}

# ---- the tests ----------------------------------------------------------------

@test "two users chat: each line sent with Enter appears on both screens, names are user ids or the token's name" {
    pc_open alice "$TA" lobby
    pc_open bob "$TB" lobby
    screen_wait alice '^[0-9]{2}:[0-9]{2} -!- bob joined lobby$'
    say alice 'hello bob, are you there?'
    screen_wait bob '^[0-9]{2}:[0-9]{2} <alice> hello bob, are you there\?$'
    screen_wait alice '^[0-9]{2}:[0-9]{2} <alice> hello bob, are you there\?( ✓✓?)?$'
    say bob 'yes, loud and clear'
    screen_wait alice '^[0-9]{2}:[0-9]{2} <bob> yes, loud and clear$'
    screen_wait bob '^[0-9]{2}:[0-9]{2} <bob> yes, loud and clear( ✓✓?)?$'
    # Both screens show both lines, in the order they were sent, with
    # nothing between them.
    [[ $(row_after bob '<alice> hello bob') == *'<bob> yes, loud and clear'* ]] ||
        fail "bob's screen is out of order" "$(screen_dump bob)"
    [[ $(row_after alice '<alice> hello bob') == *'<bob> yes, loud and clear'* ]] ||
        fail "alice's screen is out of order" "$(screen_dump alice)"
    # A token with a name claim shows that name.
    run pcli --token "$(token carol --name Carol)" -c 'join lobby' -c 'send lobby hi from Carol'
    assert_status 0
    screen_wait bob '^[0-9]{2}:[0-9]{2} <Carol> hi from Carol$'
    screen_wait alice '^[0-9]{2}:[0-9]{2} <Carol> hi from Carol$'
    status_is bob ' lobby │ connected'
    # Up recalls the line sent; Ctrl+U empties the line again.
    keys alice Up
    screen_wait -i alice '^\[lobby\] hello bob, are you there\?$'
    keys alice C-u
    screen_wait -i alice '^\[lobby\]$'
    # /quit and Ctrl+D on an empty line end the client with status 0.
    type_text alice '/quit'
    keys alice Enter
    pc_wait_exit alice 0
    keys bob C-d
    pc_wait_exit bob 0
}

@test "typing: the other user's status line shows who is typing until the line is cleared" {
    pc_open alice "$TA" lobby
    pc_open bob "$TB" lobby
    type_text alice 'I am writing somethi'
    status_is bob ' lobby │ connected │ alice is typing…'
    # Never yourself.
    status_is alice ' lobby │ connected'
    # A message arriving meanwhile leaves alice's line and cursor alone.
    say bob 'sorry to interrupt'
    screen_wait alice '<bob> sorry to interrupt$'
    screen_wait -i alice '^\[lobby\] I am writing somethi$'
    cursor_at alice 28 29
    # A second typer, with the CLI on a connection that stays open.
    conn_open carol "$TC"
    conn_ok carol 'join lobby'
    conn_ok carol 'typing lobby on'
    screen_wait -s bob '^ lobby │ connected │ (alice and carol|carol and alice) are typing…$'
    conn_open dave "$(token dave)"
    conn_ok dave 'join lobby'
    conn_ok dave 'typing lobby on'
    status_is bob ' lobby │ connected │ 3 people are typing…'
    conn_ok dave 'typing lobby off'
    conn_ok carol 'typing lobby off'
    status_is bob ' lobby │ connected │ alice is typing…'
    # Ctrl+U empties the line: typing false goes out at once, well before
    # the server's 5 s expiry.
    keys alice C-u
    screen_wait -i alice '^\[lobby\]$'
    screen_wait -s -n bob 'typing' 3
    status_is bob ' lobby │ connected'
}

@test "marks: ✓✓ once the other user's screen shows the message, ✓ while it is only delivered" {
    pc_open alice "$TA" lobby
    pc_open bob "$TB" lobby
    say alice 'read me please'
    screen_wait bob '<alice> read me please$'
    screen_wait alice '^[0-9]{2}:[0-9]{2} <alice> read me please ✓✓$'
    # Bob opens dev: lobby stays open (its messages are delivered) but is
    # not on his screen (they are not read).
    say bob '/join dev'
    screen_wait bob '-!- joined dev \([0-9]+ members?\)'
    screen_wait -s bob '^ dev │ connected'
    say alice 'only delivered'
    status_is bob ' dev │ connected │ 1:lobby(1)'
    screen_wait alice '^[0-9]{2}:[0-9]{2} <alice> only delivered ✓$'
    # The server agrees: delivered to bob, read by no one.
    run pcli --token "$TA" -c 'history lobby'
    assert_status 0
    local id
    id=$(jfirst '.ok == true and .data.messages != null' | jq '.data.messages[] | select(.text == "only delivered") | .id')
    [ -n "$id" ] || fail "no message 'only delivered' in $output"
    run pcli --token "$TA" -c "raw message:delivery-status {\"message_id\":$id}"
    assert_status 0
    expect_json '.ok == true and (.data.delivered_to | map(.user)) == ["bob"] and .data.read_by == []'
    screen_wait -n -F alice 'only delivered ✓✓' 1
    # Back to lobby with Alt+1: the message is on bob's screen, so read.
    keys bob M-1
    status_is bob ' lobby │ connected'
    screen_wait bob '<alice> only delivered$'
    screen_wait alice '^[0-9]{2}:[0-9]{2} <alice> only delivered ✓✓$'
    # And with /switch: a message to lobby while bob looks at dev again.
    say bob '/switch dev'
    screen_wait -s bob '^ dev │ connected'
    say alice 'third one'
    screen_wait alice '^[0-9]{2}:[0-9]{2} <alice> third one ✓$'
    say bob '/switch lobby'
    screen_wait alice '^[0-9]{2}:[0-9]{2} <alice> third one ✓✓$'
}

@test "rooms: /join opens a window, unread counts N:ROOM(U) on the status line, Alt+N and /switch, /rooms, /leave" {
    run pcli --token "$TB" -c 'join archive'
    assert_status 0
    pc_open alice "$TA" lobby
    pc_open bob "$TB" lobby
    say bob '/join dev'
    screen_wait bob '-!- joined dev \(1 member\)|-!- joined dev \(1 members\)'
    status_is bob ' dev │ connected'
    keys bob M-1
    status_is bob ' lobby │ connected'
    say alice '/join dev'
    screen_wait alice '-!- joined dev \(2 members\)'
    status_is alice ' dev │ connected'
    say alice 'dev one'
    say alice 'dev two'
    status_is bob ' lobby │ connected │ 2:dev(2)'
    say bob '/rooms'
    screen_wait bob '-!- rooms: 1:lobby 2:dev\(2\) archive$'
    # Alt+2 shows dev and clears its count.
    keys bob M-2
    status_is bob ' dev │ connected'
    screen_wait bob '<alice> dev one$'
    screen_wait bob '<alice> dev two$'
    [[ $(row_after bob '<alice> dev one$') == *'<alice> dev two' ]] || fail "dev is out of order" "$(screen_dump bob)"
    screen_wait -i bob '^\[dev\]$'
    # /switch by name and by number.
    say bob '/switch lobby'
    status_is bob ' lobby │ connected'
    screen_wait -i bob '^\[lobby\]$'
    say bob '/switch 2'
    status_is bob ' dev │ connected'
    # An unread message in lobby while dev is shown.
    say alice '/switch lobby'
    status_is alice ' lobby │ connected'
    say alice 'lobby news'
    status_is bob ' dev │ connected │ 1:lobby(1)'
    # /leave closes the current window; bob is no longer a member of dev.
    say bob '/leave'
    status_is bob ' lobby │ connected'
    screen_wait bob '<alice> lobby news$'
    say bob '/rooms'
    screen_wait bob '-!- rooms: 1:lobby archive$'
    keys alice M-2
    status_is alice ' dev │ connected'
    screen_wait alice '-!- bob left dev$'
    # Without a ROOM argument the rooms you are a member of are opened;
    # with none, a hint.
    pc_start bob2 --token "$TB"
    screen_wait -s bob2 '^ (lobby|archive) │ connected'
    say bob2 '/rooms'
    screen_wait bob2 '-!- rooms: (1:lobby 2:archive|1:archive 2:lobby)$'
    pc_start erin --token "$(token erin)"
    screen_wait erin '-!- no room: /join ROOM$'
    screen_wait -s erin '^ connected$'
}

@test "presence: /away and the others show on the other user's screen as notices, /who lists statuses" {
    pc_open alice "$TA" lobby
    pc_open bob "$TB" lobby
    say alice '/away'
    screen_wait alice '^[0-9]{2}:[0-9]{2} -!- you are now away$'
    screen_wait bob '^[0-9]{2}:[0-9]{2} -!- alice is now away$'
    say bob '/who'
    screen_wait bob '-!- members of lobby: .*alice \(away\)'
    screen_wait bob '-!- members of lobby: .*bob \(online\)'
    say alice '/busy'
    screen_wait bob '-!- alice is now busy$'
    say alice '/online'
    screen_wait bob '-!- alice is now online$'
    say alice '/invisible'
    screen_wait bob '-!- alice is now offline$'
    say bob '/who lobby'
    screen_wait bob '-!- members of lobby: .*alice \(offline\)'
}

@test "/delete shows (deleted) on both screens; /reply quotes the message it answers; /ids shows ids" {
    pc_open alice "$TA" lobby
    pc_open bob "$TB" lobby
    say bob 'what time is the deploy?'
    screen_wait alice '<bob> what time is the deploy\?$'
    say alice '/reply at noon'
    screen_wait bob '<alice> ↪ bob: what time is the deploy\?.*at noon$'
    screen_wait alice '<alice> ↪ bob: what time is the deploy\?.*at noon( ✓✓?)?$'
    # /ids, and /reply to a message by its id.
    run pcli --token "$TA" -c 'history lobby'
    assert_status 0
    local id
    id=$(jfirst '.ok == true and .data.messages != null' | jq '.data.messages[] | select(.text == "what time is the deploy?") | .id')
    [ -n "$id" ] || fail "no bob's message in $output"
    say alice '/ids'
    screen_wait alice "<bob> #$id what time is the deploy\\?\$"
    say alice "/reply $id noon UTC"
    screen_wait bob '<alice> ↪ bob: what time is the deploy\?.*noon UTC$'
    # A long message is quoted by its first 30 columns and "…".
    say bob 'this question is much longer than thirty columns'
    screen_wait alice '<bob> (#[0-9]+ )?this question is much longer than thirty columns$'
    say alice '/reply indeed'
    screen_wait bob '<alice> ↪ bob: this question is much longer t….*indeed$'
    # /delete removes alice's newest message, on both screens.
    say alice 'oops, wrong room'
    screen_wait bob '<alice> oops, wrong room$'
    say alice '/delete'
    screen_wait -n bob 'oops, wrong room'
    screen_wait -n alice 'oops, wrong room'
    screen_wait bob '<alice> \(deleted\)$'
    screen_wait alice '<alice> (#[0-9]+ )?\(deleted\)( ✓✓?)?$'
    # The earlier messages are still there.
    screen_wait bob '<alice> ↪ bob: .*noon UTC$'
}

@test "server restart: the clients reconnect to the same port, say so, and show what was sent while they were away" {
    run pcli --token "$TC" -c 'join lobby'
    assert_status 0
    pc_open alice "$TA" lobby
    pc_open bob "$TB" lobby
    say alice 'before the restart'
    screen_wait bob '<alice> before the restart$'
    local port=$PARLEY_PORT
    stop_server
    screen_wait bob '-!- disconnected \(1001\), reconnecting…$'
    screen_wait -s bob '^ lobby │ (reconnecting…|connecting…|offline)'
    while_away "$port" -c 'send lobby missed one' -c 'send lobby missed two'
    screen_wait bob '-!- reconnected, 2 missed messages$' 20
    screen_wait alice '-!- reconnected, 2 missed messages$' 20
    screen_wait bob '<carol> missed one$'
    screen_wait bob '<carol> missed two$'
    [[ $(row_after bob '<carol> missed one$') == *'<carol> missed two' ]] ||
        fail "missed messages out of order" "$(screen_dump bob)"
    status_is bob ' lobby │ connected'
    # The chat goes on.
    say bob 'after the restart'
    screen_wait alice '<bob> after the restart$'
    screen_wait bob '<bob> after the restart ✓✓$'
}

@test "server restart with the session lost: the clients say so and reload the history they missed" {
    # The server replays at most 2 missed messages; 3 are missed.
    stop_server
    start_server --recover-max 2
    run pcli --token "$TC" -c 'join lobby'
    assert_status 0
    pc_open alice "$TA" lobby
    pc_open bob "$TB" lobby
    say alice 'before the restart'
    screen_wait bob '<alice> before the restart$'
    local port=$PARLEY_PORT
    stop_server
    screen_wait bob '-!- disconnected \(1001\), reconnecting…$'
    while_away "$port" -c 'send lobby lost 1' -c 'send lobby lost 2' -c 'send lobby lost 3' -- --recover-max 2
    screen_wait bob '-!- reconnected; session lost, reloading history$' 20
    screen_wait bob '<carol> lost 1$'
    [[ $(row_after bob '<carol> lost 1$') == *'<carol> lost 2' ]] || fail "out of order" "$(screen_dump bob)"
    [[ $(row_after bob '<carol> lost 2$') == *'<carol> lost 3' ]] || fail "out of order" "$(screen_dump bob)"
    [ "$(screen bob | grep -c '<alice> before the restart$')" -eq 1 ] || fail "history doubled" "$(screen_dump bob)"
    status_is bob ' lobby │ connected'
    say bob 'after the restart'
    screen_wait alice '<bob> after the restart$'
    screen_wait alice '<carol> lost 3$'
}

@test "resize: the conversation is laid out again for the new width, the input line still works" {
    pc_open alice "$TA" lobby
    pc_open bob "$TB" lobby
    local words
    words=$(seq -f 'w%02g' 1 40 | paste -sd ' ')
    say alice "$words"
    screen_wait bob '<alice> w01 w02'
    # 100 columns: 14 for "HH:MM <alice> ", 86 for the text (21 words),
    # continuation rows indented by 14.
    local rows
    rows=$(message_rows bob '<alice> w01 ')
    [ "$(unwrap "$rows")" = "$words" ] || fail "the message is not all there" "$(screen_dump bob)"
    [ "$(wc -l <<<"$rows")" -eq 2 ] || fail "want 2 rows at 100 columns" "$(screen_dump bob)"
    tmx resize-window -t bob -x 60 -y 20
    # 60 columns: 46 for the text, 11 words a row, 4 rows.
    screen_wait bob '^[0-9]{2}:[0-9]{2} <alice> w01 w02 w03 w04 w05 w06 w07 w08 w09 w10 w11$'
    rows=$(message_rows bob '<alice> w01 ')
    [ "$(unwrap "$rows")" = "$words" ] || fail "the message is not all there at 60 columns" "$(screen_dump bob)"
    [ "$(wc -l <<<"$rows")" -eq 4 ] || fail "want 4 rows at 60 columns" "$(screen_dump bob)"
    grep -qE '^ {14}w12 w13 ' <<<"$rows" || fail "continuation rows not indented by 14" "$(screen_dump bob)"
    [ "$(screen bob | wc -l)" -eq 20 ] || fail "not 20 rows" "$(screen_dump bob)"
    status_is bob ' lobby │ connected'
    screen_wait -i bob '^\[lobby\]$'
    say bob 'typed after the resize'
    screen_wait alice '<bob> typed after the resize$'
    screen_wait bob '^[0-9]{2}:[0-9]{2} <bob> typed after the resize( ✓✓?)?$'
    # The row under the wrapped message is the next message.
    [[ $(row_after bob '^ +w34 ') == *'<bob> typed after the resize'* ]] ||
        fail "the row under the message is not the next one" "$(screen_dump bob)"
}

@test "unicode: CJK, emoji and combining marks are shown and wrapped by columns, the rows around them intact" {
    pc_open alice "$TA" lobby
    pc_open bob "$TB" lobby
    # Typed: 2-column and 0-column characters in the input line.
    say alice $'héllo 世界 🎉 cafe\xcc\x81'
    screen_wait bob $'^[0-9]{2}:[0-9]{2} <alice> héllo 世界 🎉 cafe\xcc\x81$'
    # Sent by the CLI: 6 units of 30 columns (14 CJK, 4 emoji, "café" with a
    # combining acute, "Ωmega"): 180 columns, 3 rows at 100 columns.
    local unit text
    unit=$'日本語テキスト 🎉👍 cafe\xcc\x81 Ωmega'
    text="$unit $unit $unit $unit $unit $unit"
    # carol's connection stays open: its closing would add a notice.
    conn_open carol "$TC"
    conn_ok carol 'join lobby'
    conn_ok carol "send lobby $text"
    say alice 'the row below'
    screen_wait bob '<alice> the row below$'
    local rows
    rows=$(message_rows bob '<carol> 日本')
    [ "$(unwrap "$rows")" = "$text" ] || fail "the message is not shown as sent" "$(screen_dump bob)"
    [ "$(wc -l <<<"$rows")" -eq 3 ] || fail "want 3 rows" "$(screen_dump bob)"
    # Every row of it fits: the first starts at column 0 with its time.
    grep -qE '^[0-9]{2}:[0-9]{2} <carol> 日本語' <<<"$rows" || fail "first row shifted" "$(screen_dump bob)"
    [[ $(row_after bob 'Ωmega$') =~ ^[0-9]{2}:[0-9]{2}\ \<alice\>\ the\ row\ below$ ]] ||
        fail "the row under the message is damaged" "$(screen_dump bob)"
    status_is bob ' lobby │ connected'
    screen_wait -i bob '^\[lobby\]$'
    # Ctrl+L redraws the same screen.
    local before
    before=$(screen bob)
    keys bob C-l
    screen_wait bob '<alice> the row below$'
    [ "$(screen bob)" = "$before" ] || fail "Ctrl+L changed the screen" "$before" "$(screen_dump bob)"
}

@test "bad input: a refused login exits 1 saying why, no credentials exit 2 with the usage, escape sequences in messages are not obeyed" {
    run pcli -c 'register dora correct-horse-1'
    assert_status 0
    run --separate-stderr "$PCHAT" --url "$PARLEY_URL" --user dora --password wrong-horse-1 lobby </dev/null
    assert_status 1
    grep -qiE 'invalid username or password|unauthori[sz]ed|401' <<<"$stderr" ||
        fail "the refusal is not named on stderr:" "$stderr"
    run --separate-stderr "$PCHAT" --url "$PARLEY_URL" --token not-a-token lobby </dev/null
    assert_status 1
    [ -n "$stderr" ] || fail "nothing on stderr for a refused token"
    run --separate-stderr env -u PARLEY_TOKEN -u PARLEY_USER -u PARLEY_PASSWORD "$PCHAT" --url "$PARLEY_URL" lobby </dev/null
    assert_status 2
    grep -qi 'usage' <<<"$output$stderr" || fail "no usage:" "$output" "$stderr"
    run "$PCHAT" --version
    assert_status 0
    [[ $output =~ ^parley-chat\ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail "--version: $output"
    run "$PCHAT" --help
    assert_status 0
    grep -qi 'usage' <<<"$output" || fail "--help: $output"
    # Escape sequences from a raw client: the screen is not cleared, the
    # pane's title not set, the ESC shows as U+FFFD.
    pc_open bob "$TB" lobby
    run pcli --token "$TA" -c 'join lobby' -c 'send lobby the line before'
    assert_status 0
    screen_wait bob '<alice> the line before$'
    run pcli --token "$TC" -c 'join lobby' -c $'send lobby \e[2Jboom' -c $'send lobby \e]2;pwned\a title' \
        -c $'send lobby \e[31mred\e[0m \xe2\x80\xaeevil'
    assert_status 0
    screen_wait bob '<carol> �\[2Jboom$'
    screen_wait bob '<carol> �\]2;pwned� title$'
    screen_wait bob '<carol> �\[31mred�\[0m �evil$'
    screen_wait bob '<alice> the line before$' 1
    screen_wait bob '-!- joined lobby' 1
    [[ $(tmx display -p -t bob '#{pane_title}') != *pwned* ]] || fail "the pane's title was set"
    status_is bob ' lobby │ connected'
    # Bad commands: unknown, a missing argument, a refusal by the server;
    # "//" sends a line starting with "/".
    say bob '/frob'
    screen_wait bob '^[0-9]{2}:[0-9]{2} -!- unknown command /frob \(try /help\)$'
    say bob '/join'
    screen_wait bob '^[0-9]{2}:[0-9]{2} -!- usage: /join ROOM$'
    run pcli --token "$TC" -c 'join vault private'
    assert_status 0
    say bob '/join vault'
    screen_wait bob '^[0-9]{2}:[0-9]{2} -!- error: forbidden: '
    status_is bob ' lobby │ connected'
    say bob '//etc/passwd is not a command'
    screen_wait bob '<bob> /etc/passwd is not a command( ✓✓?)?$'
}

@test "line mode: a pipe sends its lines; incoming rows print as [ROOM] HH:MM <name> text; EOF quits" {
    run pcli --token "$TB" -c 'join lobby'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join lobby' -c 'wait message:new 10000'
    local b=$BG_PID
    wait_joined "$OUT/b" lobby "$b"
    run bash -c 'printf "hello from a pipe\n" | "$1" --line --url "$2" --token "$3" lobby' _ "$PCHAT" "$PARLEY_URL" "$TA"
    assert_status 0
    grep -qE '^\[lobby\] [0-9]{2}:[0-9]{2} <alice> hello from a pipe' <<<"$output" ||
        fail "own line not printed:" "$output"
    bg_ok "$b" "$OUT/b"
    local id
    id=$(jfirst '.event == "message:new" and .data.message.text == "hello from a pipe" and .data.message.user == "alice"' "$(cat "$OUT/b")" |
        jq .data.message.id)
    [ -n "$id" ] || fail "bob did not receive the line:" "$(cat "$OUT/b")"
    # Standard input a FIFO kept open, standard output a file: line mode
    # without --line.
    mkfifo "$OUT/a.in"
    "$PCHAT" --url "$PARLEY_URL" --token "$TA" lobby <"$OUT/a.in" >"$OUT/a" 2>"$OUT/a.err" 3>&- &
    local a=$!
    BG_PIDS+=("$a")
    local fd
    exec {fd}>"$OUT/a.in"
    wait_for_grep "$OUT/a" '^\[lobby\] ([0-9]{2}:[0-9]{2} )?-!- joined lobby \(2 members\)$' 10 "$a"
    # History on opening.
    grep -qE '^\[lobby\] [0-9]{2}:[0-9]{2} <alice> hello from a pipe$' "$OUT/a" || fail "no history:" "$(cat "$OUT/a")"
    # A receipt for alice's message (before bob sends: sending moves the
    # sender's read pointer, so a later read would change nothing).
    run pcli --token "$TB" -c "read $id"
    assert_status 0
    wait_for_grep "$OUT/a" "^\\[lobby\\] ([0-9]{2}:[0-9]{2} )?-!- read: $id by bob\$" 10 "$a"
    local t0 t1 line
    t0=$(date -u +%H:%M)
    run pcli --token "$TB" -c 'send lobby hi line mode'
    assert_status 0
    t1=$(date -u +%H:%M)
    wait_for_grep "$OUT/a" '^\[lobby\] [0-9]{2}:[0-9]{2} <bob> hi line mode$' 10 "$a"
    line=$(grep -m1 'hi line mode' "$OUT/a")
    [[ $line == "[lobby] $t0 <bob> hi line mode" || $line == "[lobby] $t1 <bob> hi line mode" ]] ||
        fail "not the time in UTC ($t0): $line"
    # Commands work too.
    printf '/who\n' >&"$fd"
    wait_for_grep "$OUT/a" '^\[lobby\] ([0-9]{2}:[0-9]{2} )?-!- members of lobby: .*bob \(' 10 "$a"
    printf 'one more line\n' >&"$fd"
    exec {fd}>&-
    bg_wait "$a" 10
    [ "$BG_STATUS" -eq 0 ] || fail "exit status $BG_STATUS at EOF:" "$(cat "$OUT/a" "$OUT/a.err")"
    run pcli --token "$TB" -c 'history lobby'
    assert_status 0
    expect_json '.ok == true and (.data.messages | map(.text) | index("one more line")) != null'
}

@test "history: messages sent earlier appear on opening; PageUp scrolls up and loads older ones back to the first" {
    run pcli --token "$TB" -c 'join lobby'
    assert_status 0
    send_n "$TB" lobby m 1 120
    # (Not pc_open: the spec leaves the place of the "joined" notice among
    # the history open, and above it, it would be off screen.)
    pc_start alice --token "$TA" lobby
    screen_wait alice '<bob> m 120$'
    status_is alice ' lobby │ connected'
    screen_wait alice '<bob> m 100$'
    screen_wait -n alice '<bob> m 1$' 1
    # PageUp until the first message shows.
    page_until alice PPage '<bob> m 1$'
    # What is shown is consecutive: no message lost or doubled on the way.
    local seqs
    seqs=$(screen alice | sed -nE 's/.*<bob> m ([0-9]+)$/\1/p' | paste -sd ' ')
    [ "$seqs" = "$(seq 1 "$(wc -w <<<"$seqs")" | paste -sd ' ')" ] ||
        fail "not consecutive from 1: $seqs" "$(screen_dump alice)"
    [ "$(wc -w <<<"$seqs")" -ge 20 ] || fail "too few rows: $seqs" "$(screen_dump alice)"
    # PageDown goes back down to the newest.
    page_until alice NPage '<bob> m 120$'
    # Still live.
    run pcli --token "$TB" -c 'send lobby m 121'
    assert_status 0
    screen_wait alice '<bob> m 121$'
}

@test "keys: Home and End as vt220/tmux send them edit the line; an escape sequence no key is bound to is dropped, not typed" {
    pc_open alice "$TA" lobby
    screen_wait alice ' lobby │ connected'
    type_text alice 'abc'
    keys alice Home
    type_text alice 'X'
    keys alice End
    # Raw bytes, whatever tmux's own key table says: ESC [ 1 ~ (Home),
    # ESC [ 4 ~ (End), and ESC [ 99 Z, which no terminal key sends.
    tmx send-keys -t alice -l $'\e[99Z'
    tmx send-keys -t alice -l $'\e[1~'
    type_text alice 'W'
    tmx send-keys -t alice -l $'\e[4~'
    type_text alice 'Y'
    screen_wait -i alice '^\[lobby\] WXabcY$'
}
