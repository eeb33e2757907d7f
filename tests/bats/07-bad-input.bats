#!/usr/bin/env bats
# Every bad input of PROTOCOL.md sections 1.4 and 2. Request-level errors
# are answered with bad_request and the connection stays open; frame-level
# errors close the connection with 1002/1003/1007/1009. The server must
# survive all of it (teardown checks it still runs and exits 0 on SIGTERM).

load helpers

setup() {
    OUT=$BATS_TEST_TMPDIR
}

# hex STRING: the bytes of STRING in hexadecimal.
hex() {
    printf '%s' "$1" | od -An -tx1 | tr -d ' \n'
}

# chars N C: the character C repeated N times.
chars() {
    local s
    printf -v s '%*s' "$1" ''
    printf '%s' "${s// /$2}"
}

# close_code: the code of the close line in $output ("" if none).
close_code() {
    jsel '.type == "close"' | head -n 1 | jq -r .code
}

# expect_close CODE STEPS...: rawws runs STEPS; the server must close with CODE.
expect_close() {
    local want=$1
    shift
    run rawws "$PARLEY_URL" --token "$(token alice)" "$@" until-close
    [ "$(close_code)" = "$want" ] || fail "steps [$*]: close $(close_code), want $want; output:" "$output"
}

# --- request-level errors: bad_request, the connection stays open ------------

@test "bad requests get bad_request and the connection stays open" {
    start_server
    local t
    t=$(token alice)
    local bad=(
        "raw message:send '\"just a string\"'"
        'raw message:send [1,2]'
        'raw message:send 5'
        'raw message:send null'
        'raw no:such-event {}'
        'raw join:chat:extra {"room":"r"}'
        'raw message:send {"room":"r","text":""}'
        "raw message:send {\"room\":\"r\",\"text\":\"$(chars 4001 a)\"}"
        "raw message:send {\"room\":\"r\",\"text\":\"$(chars 4001 é)\"}"
        'raw message:send {"room":"r","text":5}'
        'raw message:send {"room":"r","text":["a"]}'
        'raw message:send {"room":"r","text":{"t":"a"}}'
        'raw message:send {"room":"r","text":true}'
        'raw message:send {"room":"r"}'
        'raw message:send {"text":"no room"}'
        'raw message:send {"room":"r","text":"x","client_msg_id":""}'
        'raw message:send {"room":"r","text":"x","reply_to":"1"}'
        'raw message:send {"room":"r","text":"x","reply_to":-4}'
        'raw join:chat {"room":"bad room"}'
        'raw join:chat {"room":""}'
        "raw join:chat {\"room\":\"$(chars 65 r)\"}"
        'raw join:chat {"room":"r/s"}'
        'raw join:chat {"room":"café"}'
        'raw join:chat {"room":5}'
        'raw join:chat {"room":null}'
        'raw join:chat {"room":"ok","private":"yes"}'
        'raw join:chat {}'
        'raw leave:chat {}'
        'raw message:history {"room":["r"]}'
    )
    local args=(-c 'join r') c
    for c in "${bad[@]}"; do
        args+=(-c "$c" -c 'history r')
    done
    args+=(-c 'send r still-open')
    run pcli --token "$t" "${args[@]}"
    assert_status 1
    local nbad ngood
    # The CLI sends a `raw` whose DATA is not an object without an id (it
    # could not be an envelope it builds), so those come back as error pushes.
    nbad=$(jcount '(.ok == false and .error.code == "bad_request" and (.error.message | type == "string" and length > 0))
        or (.event == "error" and .data.code == "bad_request")')
    ngood=$(jcount '.ok == true and .data.messages != null')
    [ "$nbad" -eq "${#bad[@]}" ] || fail "$nbad bad_request answers, want ${#bad[@]}:" "$output"
    [ "$ngood" -eq "${#bad[@]}" ] || fail "$ngood good history acks in between, want ${#bad[@]}:" "$output"
    expect_json '.ok == true and .data.message.text == "still-open"'
    # Nothing of the bad requests was stored: one message, one room.
    run pcli --token "$t" -c 'history r' -c 'join ok'
    expect_json '.ok == true and (.data.messages | map(.text) == ["still-open"])'
    expect_json '.ok == true and .data.room == "ok" and .data.member_count == 1 and .data.last_seq == 0'
}

@test "text of 4000 characters is accepted, counted in characters not bytes" {
    start_server
    run pcli --token "$(token alice)" -c 'join r' \
        -c "send r $(chars 4000 a)" -c "send r $(chars 4000 é)" -c "send r $(chars 3999 b)€"
    assert_status 0
    [ "$(jcount '.ok == true and (.data.message.text | length == 4000)')" -eq 3 ] || fail "$output"
}

@test "a NUL or lone surrogate smuggled in a JSON escape is refused or kept intact, never truncated" {
    start_server
    local t
    t=$(token alice)
    run rawws "$PARLEY_URL" --token "$t" \
        'text:{"id":1,"event":"join:chat","data":{"room":"r"}}' recv \
        'text:{"id":2,"event":"message:send","data":{"room":"r","text":"ab\u0000cd"}}' recv \
        'text:{"id":3,"event":"message:send","data":{"room":"r","text":"lone \ud800 surrogate"}}' recv \
        'text:{"id":4,"event":"message:history","data":{"room":"r"}}' recv
    assert_status 0
    # id 2: bad_request, or stored with the NUL (5 characters).
    expect_json '.json.id == 2 and ((.json.ok == false and .json.error.code == "bad_request") or (.json.data.message.text == "ab\u0000cd"))'
    # id 3 is not valid JSON text (a lone surrogate): bad_request, as an ack or an error push.
    expect_json '(.json.id == 3 or .json.event == "error") and ((.json.error.code // .json.data.code) == "bad_request")'
    expect_no_json '.json.id == 4 and (.json.data.messages | map(.text) | any(. == "ab" or . == "lone"))'
}

@test "bad requests without an id get an error push naming the problem; the connection stays open" {
    start_server
    local bad=(
        '{not json'
        '{"event":"join:chat","data":{"room":"r"}'
        '[]'
        "'\"just a string\"'"    # the CLI drops the outer single quotes
        '42'
        'null'
        '{"data":{}}'
        '{"event":5,"data":{}}'
        '{"event":"no:such","data":{}}'
        '{"event":"message:send","data":"x"}'
        '{"event":"message:send","data":{"room":"r","text":""}}'
        '{"id":0,"event":"join:chat","data":{"room":"zz"}}'
        '{"id":-1,"event":"join:chat","data":{"room":"zz"}}'
        '{"id":1.5,"event":"join:chat","data":{"room":"zz"}}'
        '{"id":"7","event":"join:chat","data":{"room":"zz"}}'
        '{"id":true,"event":"join:chat","data":{"room":"zz"}}'
        '{"id":9007199254740992,"event":"join:chat","data":{"room":"zz"}}'
    )
    local args=(-c 'join r') b
    for b in "${bad[@]}"; do
        args+=(-c "send-text $b")
    done
    args+=(-c 'send zz not-joined' -c 'send r still-open')
    run pcli --token "$(token alice)" "${args[@]}"
    local n
    n=$(jcount '.event == "error" and .data.code == "bad_request" and (.data.message | length > 0) and (.data | has("event"))')
    [ "$n" -eq "${#bad[@]}" ] || fail "$n error pushes, want ${#bad[@]}:" "$output"
    expect_json '.event == "error" and .data.event == "no:such"'
    expect_json '.event == "error" and .data.event == "message:send"'
    # No ack for any of them: none had a usable id.
    expect_no_json '.ok == false and .id != null and .error.code == "bad_request"'
    # The requests with a bad id were not run: zz was never joined.
    expect_json '.ok == false and .error.code == "forbidden"'
    expect_json '.ok == true and .data.message.text == "still-open"'
}

@test "a request with a valid id and a bad envelope gets its ack; unknown fields are ignored; ids up to 2^53-1" {
    start_server
    run rawws "$PARLEY_URL" --token "$(token alice)" \
        'text:{"id":3,"data":{}}' recv \
        'text:{"id":4,"event":"nope","data":{}}' recv \
        'text:{"id":5,"event":"join:chat","data":["r"]}' recv \
        'text:{"id":6,"event":"join:chat","data":{"room":"r","colour":"blue"},"extra":[1,2]}' recv \
        'text:{"id":9007199254740991,"event":"message:history","data":{"room":"r"}}' recv \
        'text:{"event":"message:send","data":{"room":"r","text":"no ack wanted"}}' \
        'text:{"id":7,"event":"message:history","data":{"room":"r"}}' recv
    assert_status 0
    expect_json '.json == {"id":3,"ok":false,"error":{"code":"bad_request","message":.json.error.message}}'
    expect_json '.json.id == 4 and .json.ok == false and .json.error.code == "bad_request"'
    expect_json '.json.id == 5 and .json.ok == false and .json.error.code == "bad_request"'
    expect_json '.json.id == 6 and .json.ok == true and .json.data.room == "r"'
    expect_json '.json.id == 9007199254740991 and .json.ok == true'
    # The request without id ran (no ack was sent: the next frame is id 7's ack).
    expect_json '.json.id == 7 and (.json.data.messages | map(.text) == ["no ack wanted"])'
    [ "$(jcount '.type == "text"')" -eq 6 ] || fail "want exactly 6 frames back: $output"
}

# --- frame-level errors: the connection is closed --------------------------

@test "a binary frame closes the connection with 1003" {
    start_server
    expect_close 1003 binary:7b7d
    expect_close 1003 'text:{"id":1,"event":"join:chat","data":{"room":"r"}}' recv binary:00ff
    http GET /healthz
    expect_http 200
}

@test "invalid UTF-8 in a text message closes the connection with 1007" {
    start_server
    expect_close 1007 texthex:c328
    expect_close 1007 texthex:7b22a0227d           # a lone continuation byte
    expect_close 1007 texthex:c0af                 # overlong "/"
    expect_close 1007 texthex:eda080               # an encoded surrogate
    expect_close 1007 texthex:f4908080             # above U+10FFFF
    expect_close 1007 frag:7b2261223a22c3,28227d   # split across fragments
    http GET /healthz
    expect_http 200
}

@test "valid UTF-8 split across fragments is one good message" {
    start_server
    # {"id":1,"event":"join:chat","data":{"room":"r"}} then a send of "é",
    # whose two bytes are split between fragments.
    local join send1 send2
    join=$(hex '{"id":1,"event":"join:chat","data":{"room":"r"}}')
    send1=$(hex '{"id":2,"event":"message:send","data":{"room":"r","text":"')c3
    send2=a9$(hex '"}}')
    run rawws "$PARLEY_URL" --token "$(token alice)" \
        "frag:${join:0:20},${join:20:20},${join:40}" recv "frag:$send1,$send2" recv
    assert_status 0
    expect_json '.json.id == 1 and .json.ok == true'
    expect_json '.json.id == 2 and .json.ok == true and .json.data.message.text == "é"'
}

@test "a message over max_message_bytes closes the connection with 1009; one at the limit does not" {
    start_server --max-message-bytes 1024
    # 1024 bytes: within the limit, answered (it is not JSON) with an error push.
    run rawws "$PARLEY_URL" --token "$(token alice)" textsize:1024 recv
    assert_status 0
    expect_json '.json.event == "error" and .json.data.code == "bad_request"'
    expect_close 1009 textsize:1025
    expect_close 1009 textsize:100000
    # The limit holds for the whole message, not per fragment.
    expect_close 1009 "frag:$(chars 1200 61),$(chars 1200 62)"
    http GET /healthz
    expect_http 200
}

@test "the default message limit is 65536 bytes" {
    start_server
    run rawws "$PARLEY_URL" --token "$(token alice)" textsize:65536 recv
    assert_status 0
    expect_json '.json.event == "error" and .json.data.code == "bad_request"'
    expect_close 1009 textsize:65537
}

@test "an unmasked client frame closes the connection with 1002 (RFC 6455)" {
    start_server
    expect_close 1002 'unmasked:{"id":1,"event":"join:chat","data":{"room":"r"}}'
}

@test "a client ping is answered with a pong carrying the same data" {
    start_server
    run rawws "$PARLEY_URL" --token "$(token alice)" ping:hello-ping recv-any
    assert_status 0
    expect_json '.type == "pong" and .data == "hello-ping"'
}

# --- ping and idle timeout ---------------------------------------------------

@test "the server pings every ping_interval and closes a silent peer with 1001 after idle_timeout" {
    start_server --ping-interval 1 --idle-timeout 2
    run rawws "$PARLEY_URL" --token "$(token alice)" --timeout 8 recv-ping
    assert_status 0
    expect_json '.type == "ping"'
    # A peer that answers nothing, not even pings, is closed with 1001.
    run rawws "$PARLEY_URL" --token "$(token alice)" --timeout 8 --no-pong until-close
    [ "$(close_code)" = 1001 ] || fail "close $(close_code), want 1001: $output"
}

@test "a peer that answers pings stays connected past idle_timeout" {
    start_server --ping-interval 1 --idle-timeout 2
    run rawws "$PARLEY_URL" --token "$(token alice)" --timeout 8 hold:3500 \
        'text:{"id":1,"event":"join:chat","data":{"room":"r"}}' recv
    assert_status 0
    expect_no_json '.type == "close"'
    expect_json '.json.id == 1 and .json.ok == true'
}

@test "a NUL escape cannot alias a room name or a client_msg_id" {
    start_server
    run rawws "$PARLEY_URL" --token "$(token alice)" \
        'text:{"id":1,"event":"join:chat","data":{"room":"r\u0000evil"}}' recv \
        'text:{"id":2,"event":"join:chat","data":{"room":"r"}}' recv \
        'text:{"id":3,"event":"message:send","data":{"room":"r","text":"x","client_msg_id":"k\u0000one"}}' recv \
        'text:{"id":4,"event":"message:send","data":{"room":"r","text":"y","client_msg_id":"k\u0000two"}}' recv
    assert_status 0
    # "r\u0000evil" is not a room name (NUL is outside its grammar).
    expect_json '.json.id == 1 and .json.ok == false and .json.error.code == "bad_request"'
    # Two different keys are never the same retry: refused, or two messages.
    expect_no_json '.json.id == 4 and .json.ok == true and .json.data.message.text == "x"'
}
