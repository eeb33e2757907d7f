#!/usr/bin/env bats
# The HTTP routes of PROTOCOL.md section 1: /healthz, /api/register,
# /api/login, 404 JSON for anything else; passwords never stored or logged
# in clear.

load helpers

setup() {
    start_server
}

@test "GET /healthz answers 200 with JSON status healthy" {
    http GET /healthz
    expect_http 200 '.status == "healthy"'
    [[ "$HTTP_CTYPE" == application/json* ]] || fail "content type '$HTTP_CTYPE'"
}

@test "an unknown path answers 404 with a JSON error not_found" {
    local p
    for p in /nope /api /api/nope /ws/extra /healthz/x; do
        http GET "$p"
        expect_http 404 '.error.code == "not_found" and (.error.message | type == "string" and length > 0)'
        [[ "$HTTP_CTYPE" == application/json* ]] || fail "$p: content type '$HTTP_CTYPE'"
    done
    http POST /api/nope '{}'
    expect_http 404 '.error.code == "not_found"'
}

@test "register answers 201 with user, token and expires_in; the token opens a WebSocket" {
    http POST /api/register '{"username":"alice","password":"alice-password-1"}'
    expect_http 201 '(.user.id | type == "string" and length > 0) and .user.name == "alice" and (.token | type == "string") and (.expires_in | type == "number" and . > 0)'
    [[ "$HTTP_CTYPE" == application/json* ]] || fail "content type '$HTTP_CTYPE'"
    local tok id
    tok=$(jq -r .token <<<"$HTTP_BODY")
    id=$(jq -r .user.id <<<"$HTTP_BODY")
    jwt_payload "$tok" | jq -e --arg id "$id" '.sub == $id and (.exp | type == "number")' >/dev/null ||
        fail "token claims do not carry sub $id: $(jwt_payload "$tok")"
    run pcli --token "$tok" -c 'join lobby' -c 'send lobby hello'
    assert_status 0
    expect_json ".ok == true and .data.message.user == \"$id\""
}

@test "register of a taken name answers 409 conflict" {
    http POST /api/register '{"username":"bob","password":"bob-password-1"}'
    expect_http 201
    http POST /api/register '{"username":"bob","password":"other-password-2"}'
    expect_http 409 '.error.code == "conflict" and (.error.message | length > 0)'
}

@test "register with a bad username answers 400 bad_request" {
    local u body
    for u in '' 'has space' 'bang!' 'slash/name' "$(printf 'u%.0s' {1..65})"; do
        body=$(jq -cn --arg u "$u" '{username: $u, password: "long-enough-password-1"}')
        http POST /api/register "$body"
        expect_http 400 '.error.code == "bad_request"' || fail "username '$u'"
    done
}

@test "register with a short password answers 400 bad_request" {
    http POST /api/register '{"username":"dave","password":"abc"}'
    expect_http 400 '.error.code == "bad_request"'
    http POST /api/register '{"username":"dave","password":""}'
    expect_http 400 '.error.code == "bad_request"'
}

@test "register and login with a malformed or incomplete body answer 400 bad_request" {
    local b
    for b in '{"username":' '[]' '"x"' '{"username":"erin"}' '{"password":"erin-password-1"}' \
        '{"username":5,"password":"erin-password-1"}' '{"username":"erin","password":123456789}'; do
        http POST /api/register "$b"
        expect_http 400 '.error.code == "bad_request"' || fail "register body $b"
        http POST /api/login "$b"
        expect_http 400 '.error.code == "bad_request"' || fail "login body $b"
    done
}

@test "login answers 200 with token and expires_in; the token opens a WebSocket" {
    http POST /api/register '{"username":"frank","password":"frank-password-1"}'
    expect_http 201
    local id
    id=$(jq -r .user.id <<<"$HTTP_BODY")
    http POST /api/login '{"username":"frank","password":"frank-password-1"}'
    expect_http 200 '(.token | type == "string") and (.expires_in | type == "number" and . > 0)'
    local tok
    tok=$(jq -r .token <<<"$HTTP_BODY")
    jwt_payload "$tok" | jq -e --arg id "$id" '.sub == $id' >/dev/null ||
        fail "login token sub is not $id: $(jwt_payload "$tok")"
    run pcli --token "$tok" -c 'join lobby'
    assert_status 0
}

@test "login with a bad password or an unknown user answers 401 unauthorized" {
    http POST /api/register '{"username":"grace","password":"grace-password-1"}'
    expect_http 201
    http POST /api/login '{"username":"grace","password":"grace-password-2"}'
    expect_http 401 '.error.code == "unauthorized"'
    http POST /api/login '{"username":"nobody","password":"grace-password-1"}'
    expect_http 401 '.error.code == "unauthorized"'
}

@test "the CLI registers and logs in over HTTP (--user/--password/--register)" {
    run pcli --user heidi --password heidi-password-1 --register -c 'join lobby'
    assert_status 0
    run pcli --user heidi --password heidi-password-1 -c 'join lobby'
    assert_status 0
    run pcli --user heidi --password wrong-password-9 -c 'join lobby'
    assert_status 3
    expect_json '.ok == false and .status == 401 and .error.code == "unauthorized"'
    run pcli --user heidi --password heidi-password-1 --register -c 'join lobby'
    assert_status 3
    expect_json '.ok == false and .status == 409 and .error.code == "conflict"'
}

@test "the password appears neither in the database files nor in the server log" {
    stop_server
    start_server --log-level debug
    local pw=Zq7-secret-passphrase-$RANDOM$RANDOM wrong=Wx9-wrong-passphrase-$RANDOM$RANDOM
    http POST /api/register "{\"username\":\"ivan\",\"password\":\"$pw\"}"
    expect_http 201
    http POST /api/login "{\"username\":\"ivan\",\"password\":\"$pw\"}"
    expect_http 200
    http POST /api/login "{\"username\":\"ivan\",\"password\":\"$wrong\"}"
    expect_http 401
    run pcli --user ivan --password "$pw" -c 'join lobby'
    assert_status 0
    stop_server
    local p forms=()
    for p in "$pw" "$wrong"; do
        forms+=("$p" "$(printf '%s' "$p" | base64 -w0 | tr -d =)" "$(printf '%s' "$p" | od -An -tx1 | tr -d ' \n')")
    done
    local f form
    for f in "$SRV_DIR"/*; do
        for form in "${forms[@]}"; do
            if grep -aqF -- "$form" "$f"; then
                fail "'$form' (a password or its encoding) found in $(basename "$f")"
            fi
        done
    done
    # The account is really stored: the user is in the database.
    sqlite3 "$SRV_DIR/parley.db" .dump | grep -q ivan || fail "user ivan not in the database"
}

@test "a password of 8 bytes is accepted, 7 is not; usernames are case-sensitive ids" {
    http POST /api/register '{"username":"Kim","password":"1234567"}'
    expect_http 400 '.error.code == "bad_request"'
    http POST /api/register '{"username":"Kim","password":"12345678"}'
    expect_http 201 '.user.id == "Kim" and .user.name == "Kim"'
    http POST /api/login '{"username":"kim","password":"12345678"}'
    expect_http 401 '.error.code == "unauthorized"'
}

@test "a wrong method answers 405 and a body over 4096 bytes answers 413, both with JSON errors" {
    http GET /api/register
    expect_http 405 '.error.code == "bad_request"'
    http POST /healthz '{}'
    expect_http 405 '.error.code == "bad_request"'
    local big
    big=$(jq -cn --arg p "$(printf 'p%.0s' {1..5000})" '{username: "lena", password: $p}')
    http POST /api/register "$big"
    expect_http 413 '.error.code == "too_large"'
}
