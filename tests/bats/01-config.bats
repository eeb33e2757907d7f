#!/usr/bin/env bats
# parleyd settings (PROTOCOL.md section 9): port 0, flags, environment,
# --config file, precedence flag > env > file, refusals with exit 2.

load helpers

# run_parleyd ARGS...: runs parleyd expecting it to refuse to start; bounded
# by timeout(1) so a server that wrongly starts cannot hang the suite (it
# then shows as status 124).
run_parleyd() {
    run timeout 10 "$PARLEYD" "$@"
}

# A name as the message may spell it: jwt_secret, jwt-secret or --jwt-secret.
name_re() {
    printf '%s' "$1" | sed 's/[_-]/[_-]/g'
}

@test "listen on port 0 picks a free port and prints 'listening on http://HOST:PORT'" {
    start_server
    [[ "$SRV_LINE" =~ ^listening\ on\ http://127\.0\.0\.1:([0-9]+)$ ]] ||
        fail "unexpected line: '$SRV_LINE'"
    [ "${BASH_REMATCH[1]}" -gt 0 ]
    [ "$(grep -c '^listening on' "$SRV_OUT")" -eq 1 ]
    http GET /healthz
    expect_http 200 '.status == "healthy"'
}

@test "an unknown flag stops the server with exit 2 and names it" {
    srv_init
    run_parleyd --listen 127.0.0.1:0 --db "$SRV_DIR/p.db" --jwt-secret "$SECRET" --frobnicate 1
    assert_status 2
    [[ "$output" == *frobnicate* ]] || fail "message does not name the flag: $output"
}

@test "a flag without its value stops the server with exit 2" {
    srv_init
    run_parleyd --jwt-secret "$SECRET" --listen 127.0.0.1:0 --db
    assert_status 2
    [[ "$output" =~ db ]] || fail "message does not name db: $output"
}

@test "a bad value of each setting stops the server with exit 2 and names it" {
    srv_init
    local bad=(
        listen 127.0.0.1:port
        listen 127.0.0.1:99999
        jwt_alg HS512
        jwt_alg none
        rate_messages ten/sixty
        rate_messages 5/0
        rate_requests /1
        rate_connections 5/
        max_message_bytes abc
        max_message_bytes -5
        session_ttl soon
        recover_max -1
        typing_timeout 5s
        ping_interval x
        idle_timeout -60
        outbound_limit lots
        log_level loud
    )
    local i name value flag problems=
    for ((i = 0; i < ${#bad[@]}; i += 2)); do
        name=${bad[i]} value=${bad[i + 1]}
        flag=--${name//_/-}
        run_parleyd --listen 127.0.0.1:0 --db "$SRV_DIR/p.db" --jwt-secret "$SECRET" "$flag" "$value"
        if [ "$status" -ne 2 ]; then
            problems+="$flag '$value': exit $status (want 2): $output"$'\n'
        elif ! [[ "${output,,}" =~ $(name_re "$name") ]]; then
            problems+="$flag '$value': message does not name $name: $output"$'\n'
        fi
    done
    [ -z "$problems" ] || fail "$problems"
}

@test "a short jwt_secret (31 bytes) is refused with exit 2" {
    srv_init
    run_parleyd --listen 127.0.0.1:0 --db "$SRV_DIR/p.db" --jwt-secret 0123456789012345678901234567890
    assert_status 2
    [[ "${output,,}" =~ $(name_re jwt_secret) ]] || fail "message does not name jwt_secret: $output"
    printf '%s' short-secret >"$SRV_DIR/secret"
    run_parleyd --listen 127.0.0.1:0 --db "$SRV_DIR/p.db" --jwt-secret-file "$SRV_DIR/secret"
    assert_status 2
    [[ "${output,,}" =~ $(name_re jwt_secret) ]] || fail "message does not name jwt_secret: $output"
}

@test "unusable key and certificate settings are bad values: exit 2 naming them" {
    srv_init
    printf 'not a key\n' >"$SRV_DIR/garbage.pem"
    local cases=(
        "jwt_public_key|--jwt-alg RS256"
        "jwt_public_key|--jwt-alg RS256 --jwt-public-key $SRV_DIR/missing.pem"
        "jwt_public_key|--jwt-alg ES256 --jwt-public-key $SRV_DIR/garbage.pem"
        "tls_cert|--jwt-secret $SECRET --tls-cert $SRV_DIR/missing.crt --tls-key $SRV_DIR/missing.key"
    )
    local c name args problems=
    for c in "${cases[@]}"; do
        name=${c%%|*}
        read -ra args <<<"${c#*|}"
        run_parleyd --listen 127.0.0.1:0 --db "$SRV_DIR/p.db" "${args[@]}"
        if [ "$status" -ne 2 ]; then
            problems+="${args[*]}: exit $status (want 2): $output"$'\n'
        elif ! [[ "${output,,}" =~ $(name_re "$name") ]]; then
            problems+="${args[*]}: message does not name $name: $output"$'\n'
        fi
    done
    [ -z "$problems" ] || fail "$problems"
}

@test "a port already in use stops the server with exit 1 (a run-time failure, not a bad setting)" {
    start_server
    run_parleyd --listen "127.0.0.1:$PARLEY_PORT" --db "$SRV_DIR/other.db" --jwt-secret "$SECRET"
    assert_status 1
    [ -n "$output" ] || fail "no message"
}

@test "a jwt_secret of exactly 32 bytes is accepted" {
    SECRET=01234567890123456789012345678901
    start_server
    run pcli --token "$(token alice)" -c 'join r32'
    assert_status 0
}

@test "jwt_secret_file reads the secret from a file" {
    srv_init
    printf '%s' "$SECRET" >"$SRV_DIR/secret"
    launch_server --listen 127.0.0.1:0 --db "$SRV_DIR/parley.db" --jwt-secret-file "$SRV_DIR/secret"
    run pcli --token "$(token alice)" -c 'join r'
    assert_status 0
}

@test "a bad value in the environment stops the server with exit 2 and names it" {
    srv_init
    PARLEYD_LOG_LEVEL=loud run_parleyd --listen 127.0.0.1:0 --db "$SRV_DIR/p.db" --jwt-secret "$SECRET"
    assert_status 2
    [[ "${output,,}" =~ $(name_re log_level) ]] || fail "message does not name log_level: $output"
}

@test "an unknown name or a bad value in the --config file stops the server with exit 2" {
    srv_init
    printf 'listen = 127.0.0.1:0\nfrobnicate = 1\n' >"$SRV_DIR/unknown.conf"
    run_parleyd --config "$SRV_DIR/unknown.conf" --db "$SRV_DIR/p.db" --jwt-secret "$SECRET"
    assert_status 2
    [[ "$output" == *frobnicate* ]] || fail "message does not name frobnicate: $output"

    printf 'listen = 127.0.0.1:0\nmax_message_bytes = many\n' >"$SRV_DIR/bad.conf"
    run_parleyd --config "$SRV_DIR/bad.conf" --db "$SRV_DIR/p.db" --jwt-secret "$SECRET"
    assert_status 2
    [[ "${output,,}" =~ $(name_re max_message_bytes) ]] || fail "message does not name max_message_bytes: $output"
}

@test "a missing --config file stops the server with exit 2" {
    srv_init
    run_parleyd --config "$SRV_DIR/does-not-exist.conf" --jwt-secret "$SECRET" --listen 127.0.0.1:0
    assert_status 2
    [[ "$output" == *does-not-exist.conf* ]] || fail "message does not name the file: $output"
}

@test "--config file alone is honoured (listen, db, jwt_secret)" {
    srv_init
    cat >"$SRV_DIR/parleyd.conf" <<EOF
listen = 127.0.0.1:0
db = $SRV_DIR/file.db
jwt_secret = $SECRET
log_level = debug
EOF
    launch_server --config "$SRV_DIR/parleyd.conf"
    [ -e "$SRV_DIR/file.db" ] || fail "db from the file not created: $(ls "$SRV_DIR")"
    run pcli --token "$(token alice)" -c 'join r'
    assert_status 0
}

@test "precedence: the environment wins over the file, a flag over both" {
    srv_init
    cat >"$SRV_DIR/parleyd.conf" <<EOF
listen = 127.0.0.1:0
db = $SRV_DIR/file.db
jwt_secret = file-secret-file-secret-file-secret-0001
EOF
    # env over file
    PARLEYD_DB=$SRV_DIR/env.db PARLEYD_JWT_SECRET=$SECRET launch_server --config "$SRV_DIR/parleyd.conf"
    [ -e "$SRV_DIR/env.db" ] || fail "env db not used: $(ls "$SRV_DIR")"
    [ ! -e "$SRV_DIR/file.db" ] || fail "file db created although the environment overrides it"
    run pcli --token "$(token alice)" -c 'join r'
    assert_status 0
    run pcli --token "$("$PARLEY" token --secret file-secret-file-secret-file-secret-0001 --sub alice)" -c 'join r'
    assert_status 3
    stop_server

    # flag over env over file
    PARLEYD_DB=$SRV_DIR/env2.db PARLEYD_JWT_SECRET=env-secret-env-secret-env-secret-env-0002 \
        launch_server --config "$SRV_DIR/parleyd.conf" --db "$SRV_DIR/flag.db" --jwt-secret "$SECRET"
    [ -e "$SRV_DIR/flag.db" ] || fail "flag db not used: $(ls "$SRV_DIR")"
    [ ! -e "$SRV_DIR/env2.db" ] || fail "env db created although a flag overrides it"
    run pcli --token "$(token alice)" -c 'join r'
    assert_status 0
    run pcli --token "$("$PARLEY" token --secret env-secret-env-secret-env-secret-env-0002 --sub alice)" -c 'join r'
    assert_status 3
}

@test "PARLEYD_LISTEN from the environment is honoured" {
    srv_init
    PARLEYD_LISTEN=127.0.0.1:0 launch_server --db "$SRV_DIR/parley.db" --jwt-secret "$SECRET"
    http GET /healthz
    expect_http 200
}

@test "without any secret the server creates <db>.secret (mode 0600) and keeps using it" {
    NO_SECRET=1 start_server
    [ -f "$SRV_DIR/parley.db.secret" ] || fail "no $SRV_DIR/parley.db.secret: $(ls -la "$SRV_DIR")"
    [ "$(stat -c %a "$SRV_DIR/parley.db.secret")" = 600 ] ||
        fail "mode $(stat -c %a "$SRV_DIR/parley.db.secret"), want 600"
    http POST /api/register '{"username":"carol","password":"carol-password-1"}'
    expect_http 201 '.token | type == "string"'
    local tok
    tok=$(printf '%s' "$HTTP_BODY" | jq -r .token)
    run pcli --token "$tok" -c 'join r'
    assert_status 0
    local before
    before=$(sha256sum <"$SRV_DIR/parley.db.secret")
    stop_server
    NO_SECRET=1 start_server
    [ "$(sha256sum <"$SRV_DIR/parley.db.secret")" = "$before" ] || fail "the secret changed on restart"
    run pcli --token "$tok" -c 'join r'
    assert_status 0
}
