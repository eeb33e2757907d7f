#!/usr/bin/env bats
# The SDK examples (sdk/examples) as an application developer gets them:
# `make install` into a DESTDIR tree, the examples copied out of the source
# tree and built by their own Makefile with nothing but pkg-config pointed
# into that tree, once against libparley.so and once against libparley.a;
# then each runs against a real parleyd: the echo bot answers a CLI client
# (and keeps answering across a server restart), send_once's exit codes
# and the message it stored, poll_embed's stdin lines and printed
# messages.

load helpers

# setup_file: the install and both builds, once for the file. In the
# sanitizer pass (PARLEY_BUILD is the ASan+UBSan build) the installed
# library needs the sanitizer runtimes: the examples are then built the
# way that build is, with clang and the same -fsanitize flags.
setup_file() {
    local root=$BATS_FILE_TMPDIR/root kind log args=()
    log=$BATS_FILE_TMPDIR/install.log
    make -C "$REPO_DIR" --no-print-directory install DESTDIR="$root" PREFIX=/usr \
        BUILD="$PARLEY_BUILD" >"$log" 2>&1 || {
        printf 'make install failed:\n%s\n' "$(cat "$log")" >&2
        return 1
    }
    if nm -D --undefined-only "$root/usr/lib/libparley.so" | grep -q ' __asan_init'; then
        args=(CC=clang "CFLAGS=-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined"
            "LDFLAGS=-fsanitize=address,undefined")
    fi
    export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_PATH=$root/usr/lib/pkgconfig
    for kind in shared static; do
        cp -r "$REPO_DIR/sdk/examples" "$BATS_FILE_TMPDIR/$kind"
        log=$BATS_FILE_TMPDIR/$kind.log
        make -C "$BATS_FILE_TMPDIR/$kind" --no-print-directory "${args[@]}" \
            $([ $kind = static ] && echo STATIC=1) >"$log" 2>&1 || {
            printf 'the %s build of the examples failed:\n%s\n' "$kind" "$(cat "$log")" >&2
            return 1
        }
    done
}

setup() {
    ROOT=$BATS_FILE_TMPDIR/root
    SHARED=$BATS_FILE_TMPDIR/shared
    STATIC=$BATS_FILE_TMPDIR/static
    # Only the installed libparley.so is found there: the shared build runs
    # against the DESTDIR tree, not the build directory.
    export LD_LIBRARY_PATH=$ROOT/usr/lib
}

# ex KIND PROGRAM: the path of an example of the shared or static build.
ex() {
    printf '%s/%s/%s\n' "$BATS_FILE_TMPDIR" "$1" "$2"
}

# history_of ROOM: the messages of ROOM, one compact JSON object per line,
# as a member (cara) reads them with the CLI.
history_of() {
    local out
    out=$(pcli --token "$(token cara)" -c "join $1" -c "history $1 --limit 100") ||
        fail "history of $1 failed: $out" || return 1
    jq -c 'select(.ok == true and .data.messages != null) | .data.messages[]' <<<"$out"
}

# start_bot KIND: the echo bot of that build in the background as user
# "bot" in room r, URL and token from the environment; waits (bounded)
# until it has joined. BOT_PID, BOT_OUT (stderr in BOT_OUT.err).
start_bot() {
    BOT_OUT=$BATS_TEST_TMPDIR/bot.out
    PARLEY_TOKEN=$(token bot) bg_start "$BOT_OUT" "$(ex "$1" echo_bot)" r
    BOT_PID=$BG_PID
    wait_for_grep "$BOT_OUT" '^joined r as bot$' 10 "$BOT_PID"
}

# stop_bot SIGNAL: the bot exits 0 on SIGNAL, in bounded time.
stop_bot() {
    kill -"$1" "$BOT_PID"
    bg_wait "$BOT_PID" 10 || return 1
    [ "$BG_STATUS" -eq 0 ] || fail "echo_bot exited $BG_STATUS on SIG$1:" "$(cat "$BOT_OUT" "$BOT_OUT.err")"
}

# echo_scene KIND: ann, a CLI client in room r, gets the bot's answer;
# the bot answers nobody twice and never its own user (a message sent as
# "bot" from another connection).
echo_scene() {
    start_server
    start_bot "$1"
    conn_open ann "$(token ann)"
    conn_ok ann "join r"
    conn_ok ann "send r hello bot"
    local hello
    hello=$(jq -r .data.message.id <<<"$CONN_ACK")
    wait_for_json "$(conn_out ann)" '.event == "message:new" and .data.message.user == "bot"
        and .data.message.text == "echo: hello bot"' 10
    run pcli --token "$(token bot)" -c "send r from the bot user"
    assert_status 0
    # The bot handles messages in order: once the answer to this one is
    # in, the one before was handled (and must not have been answered).
    conn_ok ann "send r and now"
    wait_for_json "$(conn_out ann)" '.event == "message:new" and .data.message.text == "echo: and now"' 10
    stop_bot TERM
    run history_of r
    [ "$(grep -c '"text":"echo: hello bot"' <<<"$output")" -eq 1 ] || fail "not one answer to 'hello bot':" "$output"
    expect_json ".text == \"echo: hello bot\" and .user == \"bot\" and .reply_to == $hello"
    expect_no_json '.text | test("echo: from the bot user")'
    expect_no_json '.text | test("echo: echo:")'
}

@test "the examples build out of tree with only pkg-config, against libparley.so and libparley.a" {
    local kind p
    for kind in shared static; do
        for p in echo_bot send_once poll_embed; do
            [ -x "$(ex $kind $p)" ] || fail "no $kind $p"
        done
        # Every compile took the installed header, nothing of the source tree.
        grep -q -- "-I$ROOT/usr/include" "$BATS_FILE_TMPDIR/$kind.log" ||
            fail "the $kind build did not use the installed header:" "$(cat "$BATS_FILE_TMPDIR/$kind.log")"
        ! grep -q -- "$REPO_DIR" "$BATS_FILE_TMPDIR/$kind.log" ||
            fail "the $kind build used the source tree:" "$(cat "$BATS_FILE_TMPDIR/$kind.log")"
    done
    run readelf -d "$(ex shared echo_bot)"
    grep -q 'NEEDED.*\[libparley\.so\.0\]' <<<"$output" || fail "the shared build does not need libparley.so.0:" "$output"
    run ldd "$(ex shared echo_bot)"
    grep -q "libparley\.so\.0 => $ROOT/usr/lib/libparley\.so\.0 " <<<"$output" ||
        fail "the shared build does not load the installed library:" "$output"
    run readelf -d "$(ex static echo_bot)"
    ! grep -q 'libparley' <<<"$output" || fail "the static build still needs libparley.so:" "$output"
}

@test "echo_bot (shared build) answers a CLI client in the room, once, never its own user; SIGTERM: exit 0" {
    echo_scene shared
}

@test "echo_bot (static build) answers a CLI client in the room, once, never its own user; SIGTERM: exit 0" {
    echo_scene static
}

@test "echo_bot reconnects by itself across a server restart and answers again; SIGINT: exit 0" {
    start_server
    start_bot static
    local port=$PARLEY_PORT i up=
    stop_server
    # The same port and database: the bot knows only its URL. Binding can
    # briefly fail while the old socket goes away.
    for ((i = 0; i < 20; i++)); do
        launch_server --listen "127.0.0.1:$port" --db "$SRV_DIR/parley.db" \
            --jwt-secret "$SECRET" 2>/dev/null && up=1 && break
        sleep 0.1
    done
    [ -n "$up" ] || fail "parleyd could not listen on port $port again"
    wait_for_grep "$BOT_OUT.err" 'disconnected \(code 1001\), reconnecting' 10 "$BOT_PID"
    conn_open ann "$(token ann)"
    conn_ok ann "join r"
    conn_ok ann "send r after the restart"
    # Sent before or after the bot is back: live or replayed, it is answered.
    wait_for_json "$(conn_out ann)" '.event == "message:new" and .data.message.text == "echo: after the restart"' 20
    [ "$(grep -c '^echo_bot: connected$' "$BOT_OUT.err")" -ge 2 ] || fail "no second connect:" "$(cat "$BOT_OUT.err")"
    stop_bot INT
    run history_of r
    [ "$(grep -c '"text":"echo: after the restart"' <<<"$output")" -eq 1 ] || fail "not one answer:" "$output"
}

@test "echo_bot: 1 when the server refuses the token, at the start or once it expired; 2 on bad usage" {
    start_server
    run --separate-stderr "$(ex shared echo_bot)" "$PARLEY_URL" "$(SECRET=wrong token bot)" r
    assert_status 1
    [[ $stderr == *"HTTP 401"* ]] || fail "no HTTP 401 in: $stderr"
    # Expired: the server closes with 4001, the reconnect is refused, and
    # the bot, with no other token to offer, gives up.
    BOT_OUT=$BATS_TEST_TMPDIR/bot.out
    bg_start "$BOT_OUT" "$(ex shared echo_bot)" "$PARLEY_URL" "$(token bot --ttl 2)" r
    BOT_PID=$BG_PID
    wait_for_grep "$BOT_OUT" '^joined r as bot$' 10 "$BOT_PID"
    bg_wait "$BOT_PID" 20
    [ "$BG_STATUS" -eq 1 ] || fail "echo_bot exited $BG_STATUS after its token expired:" "$(cat "$BOT_OUT.err")"
    grep -q 'disconnected (code 4001), reconnecting' "$BOT_OUT.err" &&
        grep -q 'refuses the token (HTTP 401)' "$BOT_OUT.err" || fail "$(cat "$BOT_OUT.err")"
    run --separate-stderr env -u PARLEY_URL -u PARLEY_TOKEN "$(ex shared echo_bot)" r
    assert_status 2
    [[ $stderr == usage:* ]] || fail "no usage in: $stderr"
    run --separate-stderr "$(ex shared echo_bot)" "$PARLEY_URL" not-a-jwt r
    assert_status 2
}

# send_once_scene KIND
send_once_scene() {
    local so
    so=$(ex "$1" send_once)
    start_server
    run --separate-stderr "$so" "$PARLEY_URL" "$(token ann)" r "hello once"
    assert_status 0
    [[ $output =~ ^([0-9]+)\ ([0-9]+)$ ]] || fail "want 'ID SEQ', got: $output"
    local id=${BASH_REMATCH[1]} seq=${BASH_REMATCH[2]}
    # URL and token from the environment.
    PARLEY_URL=$PARLEY_URL PARLEY_TOKEN=$(token ann) run --separate-stderr "$so" r "from the env"
    assert_status 0
    run history_of r
    expect_json ".id == $id and .seq == $seq and .user == \"ann\" and .text == \"hello once\""
    expect_json '.seq == 2 and .text == "from the env"'

    # Refused: a private room of bob's, a text over the limit, a bad token.
    run pcli --token "$(token bob)" -c "join bobs private"
    assert_status 0
    run --separate-stderr "$so" "$PARLEY_URL" "$(token ann)" bobs "let me in"
    assert_status 1
    [[ $stderr == *forbidden* ]] || fail "no error code in: $stderr"
    run --separate-stderr "$so" "$PARLEY_URL" "$(token ann)" r "$(printf '%4001s' | tr ' ' x)"
    assert_status 1
    [[ $stderr == *refused:* ]] || fail "no refusal in: $stderr"
    run --separate-stderr "$so" "$PARLEY_URL" "$(SECRET=wrong token ann)" r "x"
    assert_status 1
    [[ $stderr == *"HTTP 401"* ]] || fail "no HTTP 401 in: $stderr"
    [ -z "$output" ] || fail "a refused send printed: $output"
    run history_of r
    [ "$(grep -c . <<<"$output")" -eq 2 ] || fail "a refused send was stored:" "$output"

    # Usage: no store, no connection.
    run --separate-stderr env -u PARLEY_URL -u PARLEY_TOKEN "$so" r "no server"
    assert_status 2
    [[ $stderr == usage:* ]] || fail "no usage in: $stderr"
    run --separate-stderr "$so" "$PARLEY_URL" "$(token ann)" r
    assert_status 2
    run --separate-stderr "$so" "ftp://nowhere" "$(token ann)" r "x"
    assert_status 2
}

@test "send_once (shared build): 0 and 'ID SEQ' of the stored message, 1 refused with the reason, 2 usage" {
    send_once_scene shared
}

@test "send_once (static build): 0 and 'ID SEQ' of the stored message, 1 refused with the reason, 2 usage" {
    send_once_scene static
}

# poll_embed_scene KIND: poll_embed as ann reads lines from a FIFO; bob,
# a CLI client, receives them and sends one that poll_embed prints; the
# end of its stdin ends it with status 0, its last line (no newline) sent.
poll_embed_scene() {
    start_server
    conn_open bob "$(token bob)"
    conn_ok bob "join r"
    conn_start pe "$(ex "$1" poll_embed)" "$PARLEY_URL" "$(token ann)" r
    local pe pid=${CONN_PID[pe]} fd=${CONN_FD[pe]}
    pe=$(conn_out pe)
    wait_for_grep "$pe.err" '^poll_embed: in r;' 10 "$pid"
    printf 'hello from stdin\n' >&"$fd"
    wait_for_json "$(conn_out bob)" '.event == "message:new" and .data.message.user == "ann"
        and .data.message.text == "hello from stdin"' 10
    wait_for_grep "$pe" '^#1 ann: hello from stdin$' 10 "$pid"
    conn_ok bob "send r hello from bob"
    wait_for_grep "$pe" '^#2 bob: hello from bob$' 10 "$pid"
    printf 'last words' >&"$fd"
    exec {fd}>&-
    bg_wait "$pid" 15 || return 1
    [ "$BG_STATUS" -eq 0 ] || fail "poll_embed exited $BG_STATUS at EOF:" "$(cat "$pe" "$pe.err")"
    wait_for_json "$(conn_out bob)" '.event == "message:new" and .data.message.text == "last words"' 10
    grep -q '^#3 ann: last words$' "$pe" || fail "poll_embed did not print its last line:" "$(cat "$pe")"
}

@test "poll_embed (shared build): stdin lines reach another client, its messages are printed, EOF: exit 0" {
    poll_embed_scene shared
}

@test "poll_embed (static build): stdin lines reach another client, its messages are printed, EOF: exit 0" {
    poll_embed_scene static
}

@test "the examples leak nothing and make no memory error (valgrind)" {
    command -v valgrind >/dev/null || skip "no valgrind"
    local vg=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9)
    start_server
    run "${vg[@]}" "$(ex shared send_once)" "$PARLEY_URL" "$(token ann)" r "checked"
    assert_status 0
    run "${vg[@]}" "$(ex shared send_once)" "$PARLEY_URL" "$(token ann)" nope/bad "refused"
    assert_status 1
    BOT_OUT=$BATS_TEST_TMPDIR/bot.out
    bg_start "$BOT_OUT" "${vg[@]}" "$(ex shared echo_bot)" "$PARLEY_URL" "$(token bot)" r
    BOT_PID=$BG_PID
    wait_for_grep "$BOT_OUT" '^joined r as bot$' 30 "$BOT_PID"
    run "${vg[@]}" "$(ex shared poll_embed)" "$PARLEY_URL" "$(token ann)" r <<<"valgrind line"
    assert_status 0
    run pcli --token "$(token ann)" -c "send r another"
    assert_status 0
    wait_for_grep "$BOT_OUT" '^answered #4 of ann in r$' 30 "$BOT_PID"
    stop_bot TERM
}
