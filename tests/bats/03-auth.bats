#!/usr/bin/env bats
# The gate of GET /ws (PROTOCOL.md 1.1 and 1.2): JWT from the Authorization
# header or ?token=, HS256 only with the configured secret, claims checked,
# Origin checked (same host by default, an exact allowlist when configured).

load helpers

# upgrade [rawws options...]: attempts the WebSocket handshake with
# tests/clients/rawws.py and sets UP_STATUS (101, 401, ...) and UP_BODY.
upgrade() {
    run rawws "$PARLEY_URL" "$@" close:1000
    UP_STATUS=$(jq -r '.status // empty' <<<"${lines[0]:-}" 2>/dev/null || true)
    UP_BODY=$(jq -r '.body // empty' <<<"${lines[0]:-}" 2>/dev/null || true)
    [ -n "$UP_STATUS" ] || fail "no handshake answer: $output"
}

# expect_upgrade STATUS [rawws options...]
expect_upgrade() {
    local want=$1
    shift
    upgrade "$@"
    if [ "$UP_STATUS" != "$want" ]; then
        fail "upgrade with [$*]: HTTP $UP_STATUS, want $want: $output"
        return 1
    fi
    if [ "$want" != 101 ]; then
        local code=unauthorized
        [ "$want" = 403 ] && code=forbidden
        jq -e --arg c "$code" '.error.code == $c' <<<"$UP_BODY" >/dev/null ||
            fail "HTTP $want body is not a JSON error $code: $UP_BODY"
    fi
}

@test "an upgrade without a token is refused with 401 and a JSON error" {
    start_server
    expect_upgrade 401
    run pcli -c 'join r'
    assert_status 3
    expect_json '.ok == false and .error.status == 401'
}

@test "a token made by 'parley token' is accepted in the Authorization header" {
    start_server
    expect_upgrade 101 --token "$(token alice)"
}

@test "an HS256 token minted by an independent implementation is accepted" {
    start_server
    expect_upgrade 101 --token "$(mkjwt --secret "$SECRET" --set sub=alice --set name=Alice --exp-in 300)"
}

@test "an expired token is refused with 401" {
    start_server
    expect_upgrade 401 --token "$(mkjwt --secret "$SECRET" --set sub=alice --exp-in -5)"
    run pcli --token "$(mkjwt --secret "$SECRET" --set sub=alice --exp-in -5)" -c 'join r'
    assert_status 3
    expect_json '.ok == false and .error.status == 401'
}

@test "a token without exp, without sub, or with a bad sub is refused with 401" {
    start_server
    expect_upgrade 401 --token "$(mkjwt --secret "$SECRET" --set sub=alice)"
    expect_upgrade 401 --token "$(mkjwt --secret "$SECRET" --exp-in 300)"
    expect_upgrade 401 --token "$(mkjwt --secret "$SECRET" --set 'sub=a b' --exp-in 300)"
    expect_upgrade 401 --token "$(mkjwt --secret "$SECRET" --set 'sub=' --exp-in 300)"
    expect_upgrade 401 --token "$(mkjwt --secret "$SECRET" --set "sub=$(printf 'x%.0s' {1..65})" --exp-in 300)"
    expect_upgrade 401 --token "$(mkjwt --secret "$SECRET" --set 'sub=42' --exp-in 300)"
    # 64 characters of the allowed set are fine.
    expect_upgrade 101 --token "$(mkjwt --secret "$SECRET" --set "sub=a.b_c-d@e$(printf 'x%.0s' {1..54})" --exp-in 300)"
}

@test "a token signed with another secret is refused with 401" {
    start_server
    expect_upgrade 401 --token "$(mkjwt --secret "$(random_secret)" --set sub=alice --exp-in 300)"
    expect_upgrade 401 --token "$("$PARLEY" token --secret "$(random_secret)" --sub alice)"
}

@test "alg none and other algorithms are refused with 401" {
    start_server
    expect_upgrade 401 --token "$(mkjwt --alg none --set sub=alice --exp-in 300)"
    expect_upgrade 401 --token "$(mkjwt --alg none --set sub=alice --exp-in 300 | sed 's/\.$//')"
    expect_upgrade 401 --token "$(mkjwt --alg None --set sub=alice --exp-in 300)"
    expect_upgrade 401 --token "$(mkjwt --alg HS512 --secret "$SECRET" --set sub=alice --exp-in 300)"
    expect_upgrade 401 --token "$(mkjwt --alg HS384 --secret "$SECRET" --set sub=alice --exp-in 300)"
    # Crafted by hand: header {"alg":"none"}, the payload, no signature.
    local h p
    h=$(printf '{"alg":"none","typ":"JWT"}' | base64 -w0 | tr '+/' '-_' | tr -d =)
    p=$(printf '{"sub":"alice","exp":%d}' $(($(date +%s) + 300)) | base64 -w0 | tr '+/' '-_' | tr -d =)
    expect_upgrade 401 --token "$h.$p."
    # The signature of a good token moved onto a forged payload.
    local good sig forged
    good=$(token alice)
    sig=${good##*.}
    forged=$(printf '{"sub":"admin","exp":%d,"role":"admin"}' $(($(date +%s) + 300)) | base64 -w0 | tr '+/' '-_' | tr -d =)
    expect_upgrade 401 --token "${good%%.*}.$forged.$sig"
}

@test "garbage tokens are refused with 401 and the server survives" {
    start_server
    local t
    for t in abc a.b.c ... "$(printf 'A%.0s' {1..3000})" 'eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.xx'; do
        expect_upgrade 401 --token "$t"
    done
    expect_upgrade 401 --header 'Authorization: Basic YWxpY2U6cHc='
    expect_upgrade 101 --token "$(token alice)"
}

@test "nbf and iat are honoured with 60 s of leeway" {
    start_server
    expect_upgrade 101 --token "$(mkjwt --secret "$SECRET" --set sub=alice --exp-in 300 --nbf-in 30)"
    expect_upgrade 401 --token "$(mkjwt --secret "$SECRET" --set sub=alice --exp-in 900 --nbf-in 600)"
    expect_upgrade 101 --token "$(mkjwt --secret "$SECRET" --set sub=alice --exp-in 300 --iat-in 30)"
    expect_upgrade 401 --token "$(mkjwt --secret "$SECRET" --set sub=alice --exp-in 900 --iat-in 600)"
}

@test "jwt_issuer and jwt_audience are checked when configured" {
    start_server --jwt-issuer https://issuer.example --jwt-audience parley-test
    local ok=(--secret "$SECRET" --set sub=alice --exp-in 300)
    expect_upgrade 101 --token "$(mkjwt "${ok[@]}" --set iss=https://issuer.example --set aud=parley-test)"
    expect_upgrade 101 --token "$(mkjwt "${ok[@]}" --set iss=https://issuer.example --set 'aud=["other","parley-test"]')"
    expect_upgrade 401 --token "$(mkjwt "${ok[@]}" --set aud=parley-test)"
    expect_upgrade 401 --token "$(mkjwt "${ok[@]}" --set iss=https://evil.example --set aud=parley-test)"
    expect_upgrade 401 --token "$(mkjwt "${ok[@]}" --set iss=https://issuer.example)"
    expect_upgrade 401 --token "$(mkjwt "${ok[@]}" --set iss=https://issuer.example --set aud=other)"
}

@test "a token in ?token= is accepted and never written to the log" {
    start_server --log-level debug
    local t
    t=$(token alice)
    expect_upgrade 101 --query-token "$t"
    # A refused one is not logged either.
    local bad
    bad=$(mkjwt --secret "$(random_secret)" --set sub=mallory --exp-in 300)
    expect_upgrade 401 --query-token "$bad"
    stop_server
    local sig
    for sig in "${t##*.}" "${bad##*.}"; do
        if server_logs | grep -qF -- "$sig"; then
            fail "a query token appears in the server log:" "$(server_logs | grep -F -- "$sig")"
        fi
    done
}

@test "the Authorization header is taken before ?token=" {
    start_server
    expect_upgrade 101 --token "$(token alice)" --query-token garbage
}

@test "a foreign Origin is refused with 403 (before any token check)" {
    start_server
    expect_upgrade 403 --token "$(token alice)" --origin http://evil.example
    expect_upgrade 403 --token "$(token alice)" --origin "http://evil.example:$PARLEY_PORT"
    expect_upgrade 403 --token "$(token alice)" --origin http://127.0.0.1.evil.example
    expect_upgrade 403 --origin http://evil.example
}

@test "an Origin on the request's host is allowed whatever its scheme and port" {
    start_server
    expect_upgrade 101 --token "$(token alice)" --origin "http://127.0.0.1:$PARLEY_PORT"
    expect_upgrade 101 --token "$(token alice)" --origin http://127.0.0.1
    expect_upgrade 101 --token "$(token alice)" --origin https://127.0.0.1:8443
    expect_upgrade 101 --token "$(token alice)" --origin http://localhost:3000 --host "localhost:$PARLEY_PORT"
    expect_upgrade 403 --token "$(token alice)" --origin http://localhost:3000
}

@test "no Origin (a native client) is allowed" {
    start_server
    expect_upgrade 101 --token "$(token alice)"
}

@test "with an origins allowlist only exact scheme, host and port matches pass" {
    start_server --origins "https://chat.example:8443,http://app.example"
    local t
    t=$(token alice)
    expect_upgrade 101 --token "$t" --origin https://chat.example:8443
    expect_upgrade 101 --token "$t" --origin http://app.example
    expect_upgrade 101 --token "$t"
    expect_upgrade 403 --token "$t" --origin http://chat.example:8443
    expect_upgrade 403 --token "$t" --origin https://chat.example
    expect_upgrade 403 --token "$t" --origin https://chat.example:9443
    expect_upgrade 403 --token "$t" --origin http://app.example:8080
    expect_upgrade 403 --token "$t" --origin https://app.example
    expect_upgrade 403 --token "$t" --origin https://evil.example
    # The allowlist replaces the same-host rule.
    expect_upgrade 403 --token "$t" --origin "http://127.0.0.1:$PARLEY_PORT"
}

@test "origins '*' allows any origin" {
    start_server --origins '*'
    expect_upgrade 101 --token "$(token alice)" --origin https://anything.example:1234
}

@test "RS256: a token signed with the private key is accepted; HS256 with the public key as secret is not" {
    srv_init
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$SRV_DIR/rsa.pem" 2>/dev/null
    openssl pkey -in "$SRV_DIR/rsa.pem" -pubout -out "$SRV_DIR/rsa.pub" 2>/dev/null
    NO_SECRET=1 start_server --jwt-alg RS256 --jwt-public-key "$SRV_DIR/rsa.pub"
    expect_upgrade 101 --token "$(mkjwt --alg RS256 --key "$SRV_DIR/rsa.pem" --set sub=alice --exp-in 300)"
    expect_upgrade 401 --token "$(mkjwt --alg HS256 --secret "$(cat "$SRV_DIR/rsa.pub")" --set sub=alice --exp-in 300)"
    expect_upgrade 401 --token "$(mkjwt --alg none --set sub=alice --exp-in 300)"
    expect_upgrade 401 --token "$(mkjwt --alg RS256 --key "$SRV_DIR/rsa.pem" --set sub=alice --exp-in -5)"
}

@test "ES256: a token signed with the private key is accepted; others are not" {
    srv_init
    openssl ecparam -name prime256v1 -genkey -noout -out "$SRV_DIR/ec.pem" 2>/dev/null
    openssl ec -in "$SRV_DIR/ec.pem" -pubout -out "$SRV_DIR/ec.pub" 2>/dev/null
    NO_SECRET=1 start_server --jwt-alg ES256 --jwt-public-key "$SRV_DIR/ec.pub"
    expect_upgrade 101 --token "$(mkjwt --alg ES256 --key "$SRV_DIR/ec.pem" --set sub=alice --exp-in 300)"
    expect_upgrade 401 --token "$(mkjwt --alg HS256 --secret "$(cat "$SRV_DIR/ec.pub")" --set sub=alice --exp-in 300)"
    openssl ecparam -name prime256v1 -genkey -noout -out "$SRV_DIR/other.pem" 2>/dev/null
    expect_upgrade 401 --token "$(mkjwt --alg ES256 --key "$SRV_DIR/other.pem" --set sub=alice --exp-in 300)"
}

@test "a name claim that is not a string of at most 128 bytes makes the token invalid" {
    start_server
    expect_upgrade 101 --token "$(mkjwt --secret "$SECRET" --set sub=alice --exp-in 300 --set "name=$(printf 'n%.0s' {1..128})")"
    expect_upgrade 401 --token "$(mkjwt --secret "$SECRET" --set sub=alice --exp-in 300 --set "name=$(printf 'n%.0s' {1..129})")"
    expect_upgrade 401 --token "$(mkjwt --secret "$SECRET" --set sub=alice --exp-in 300 --set 'name=42')"
}
