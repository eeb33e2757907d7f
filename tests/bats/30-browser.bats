#!/usr/bin/env bats
# Interop with a real browser: headless Chromium loads the example page
# sdk/examples/web (plain JavaScript) from a static server on 127.0.0.1, its
# own WebSocket connects to parleyd with ?token= (browsers cannot set
# headers), joins a room and sends a message (the page's scripted mode:
# send=, and expect= holding --dump-dom until the answer is in); the CLI,
# waiting in that room, answers, and the page must show the answer in its
# DOM. The page's Origin is 127.0.0.1 on another port: same host, allowed by
# the default origin rule. What the page itself does is tested in
# 35-web-example.bats. Skipped only when chromium is not installed.

load helpers
load browser

setup() {
    [ -n "$CHROMIUM" ] || skip "chromium is not installed"
}


# browse URL: the DOM of URL after Chromium ran its scripts (--dump-dom),
# into DOM; a fresh profile each time.
browse() {
    DOM=$(chromium_dump 5000 "$1" 2>"$BATS_TEST_TMPDIR/chromium.err") ||
        fail "chromium failed:" "$(tail -n 20 "$BATS_TEST_TMPDIR/chromium.err")"
    printf '%s\n' "$DOM" >"$BATS_TEST_TMPDIR/dom.html"
}

# page_url HOST TOKEN TEXT: the page served from HOST, for room "browser":
# it sends TEXT, and is done when the CLI's answer has come.
page_url() {
    printf 'http://%s:%s/index.html?server=ws://127.0.0.1:%s&room=browser&token=%s&send=%s&expect=%s' \
        "$1" "$STATIC_PORT" "$PARLEY_PORT" "$2" "$3" 'hello%20page%2C%20this%20is%20the%20CLI'
}

@test "headless Chromium connects with ?token=, joins, sends, and shows the CLI's answer" {
    start_server
    start_static
    local cli=$BATS_TEST_TMPDIR/cli
    bg_pcli "$cli" --token "$(token bob)" --timeout 20000 -c 'join browser' \
        -c 'wait message:new 20000' -c 'send browser hello page, this is the CLI'
    local pid=$BG_PID
    wait_joined "$cli" browser "$pid"

    browse "$(page_url 127.0.0.1 "$(token webby --name 'Web User')" 'hello%20from%20chromium')"

    # The page: connected, sent (stored as seq 1), and shows bob's answer.
    [[ $DOM == *'<p id="status" aria-live="polite">connected as Web User</p>'* ]] || fail "page status:" "$DOM" "--- CLI:" "$(cat "$cli" "$cli.err")" "--- static:" "$(cat "$BATS_TEST_TMPDIR/static.err")" "--- server:" "$(server_logs | tail -n 15)"
    [[ $DOM == *'data-seq="1"><time '*'<span class="text">hello from chromium</span>'* ]] ||
        fail "the page's message is not stored:" "$DOM"
    [[ $DOM == *'data-user="bob"><time '*'<span class="text">hello page, this is the CLI</span>'* ]] ||
        fail "the answer is not in the page:" "$DOM"
    # The CLI got the page's message, with the name from the token, then answered.
    bg_ok "$pid" "$cli" 20
    expect_json '.event == "message:new" and .data.message.user == "webby"
        and .data.message.name == "Web User" and .data.message.text == "hello from chromium"' "$(cat "$cli")"
    expect_json '.ok == true and .data.message.text == "hello page, this is the CLI" and .data.message.seq == 2' "$(cat "$cli")"
    # The token came in the query string and is never logged.
    run server_logs
    [[ $output != *"token="* ]] || fail "a query token reached the log"
}

@test "a page served from another host (localhost) is refused by the origin rule" {
    start_server
    start_static
    browse "$(page_url localhost "$(token webby)" 'nope')"
    [[ $DOM == *'<p id="error" role="alert">could not connect to '*'refused'*'</p>'* ]] || fail "no error in the page:" "$DOM"
    [[ $DOM != *'class="msg'* ]] || fail "a message reached the refused page"
    run server_logs
    [[ $output == *"origin 'http://localhost:$STATIC_PORT'"* ]] || fail "no origin refusal in the log:" "$output"
}
