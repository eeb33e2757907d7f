#!/usr/bin/env bats
# Durability and shutdown (PROTOCOL.md 1.4 and 4): an acknowledged message
# survives kill -9; SIGTERM closes every client with 1001 and exits 0.

load helpers

setup() {
    start_server
    TA=$(token alice)
    TB=$(token bob)
    OUT=$BATS_TEST_TMPDIR
}

@test "every acknowledged message survives kill -9, with contiguous seq" {
    acked_survive_kill9
}

@test "acknowledged messages of concurrent senders all survive kill -9" {
    local k pids=() per=40
    run pcli --token "$TA" -c 'join busy'
    assert_status 0
    for k in 1 2 3; do
        bg_start "$OUT/s$k" bash -c '
            { echo "join busy"; for i in $(seq 1 '"$per"'); do echo "send busy w'"$k"'-$i"; done; } |
                "$0" --json --timeout 10000 --token "$1"' "$PARLEY" "$(token "writer$k")"
        pids+=("$BG_PID")
    done
    for k in 0 1 2; do
        bg_wait "${pids[k]}" 30
        [ "$BG_STATUS" -eq 0 ] || fail "writer $((k + 1)) failed: $(tail -n 3 "$OUT/s$((k + 1))" "$OUT/s$((k + 1)).err")"
    done
    kill9_server
    cat "$OUT"/s1 "$OUT"/s2 "$OUT"/s3 >"$OUT/all"
    local acked
    acked=$(jsel '.ok == true and .data.message != null' "$(cat "$OUT/all")" | jq -s -c 'map(.data.message.id) | sort')
    [ "$(jq length <<<"$acked")" -eq $((3 * per)) ] || fail "not $((3 * per)) acks"
    start_server
    run pcli --token "$TA" -c 'history busy --limit 100' -c 'history busy --limit 100 --before 21'
    assert_status 0
    local all
    all=$(jsel '.ok == true and .data.messages != null' | jq -s -c 'map(.data.messages) | add')
    [ "$(jq -c 'map(.seq) | sort' <<<"$all")" = "$(jq -nc "[range(1; $((3 * per + 1)))]")" ] ||
        fail "seqs not contiguous 1..$((3 * per)): $(jq -c 'map(.seq)' <<<"$all")"
    [ "$(jq -c 'map(.id) | sort' <<<"$all")" = "$acked" ] || fail "stored ids differ from acked ids"
}

@test "SIGTERM closes every client with 1001 and the server exits 0" {
    bg_start "$OUT/a" pcli --token "$TA" -c 'join r' -c 'wait close 20000'
    local a=$BG_PID
    bg_start "$OUT/b" pcli --token "$TB" -c 'join r' -c 'wait close 20000'
    local b=$BG_PID
    wait_for_json "$OUT/a" '.ok == true and .data.room == "r"' 10 "$a"
    wait_for_json "$OUT/b" '.ok == true and .data.room == "r"' 10 "$b"
    bg_start "$OUT/raw" rawws "$PARLEY_URL" --token "$(token carol)" --timeout 20 \
        'text:{"id":1,"event":"join:chat","data":{"room":"r"}}' recv until-close
    local raw=$BG_PID
    wait_for_json "$OUT/raw" '.json.id == 1' 10 "$raw"
    stop_server
    bg_wait "$a"
    bg_wait "$b"
    bg_wait "$raw"
    expect_json '.event == "close" and .data.code == 1001' "$(cat "$OUT/a")"
    expect_json '.event == "close" and .data.code == 1001' "$(cat "$OUT/b")"
    expect_json '.type == "close" and .code == 1001' "$(cat "$OUT/raw")"
}

@test "SIGINT shuts down like SIGTERM" {
    bg_start "$OUT/a" pcli --token "$TA" -c 'join r' -c 'wait close 20000'
    local a=$BG_PID
    wait_for_json "$OUT/a" '.ok == true and .data.room == "r"' 10 "$a"
    local pid=$SRV_PID rc=0
    SRV_PID=
    kill -INT "$pid"
    wait_for_exit "$pid" 10 || fail "parleyd did not exit on SIGINT"
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "exit status $rc after SIGINT"
    bg_wait "$a"
    expect_json '.event == "close" and .data.code == 1001' "$(cat "$OUT/a")"
}

@test "a message acknowledged just before SIGTERM is stored and was delivered" {
    bg_start "$OUT/b" pcli --token "$TB" -c 'join r' -c 'wait message:new 20000' -c 'wait close 20000'
    local b=$BG_PID
    wait_for_json "$OUT/b" '.ok == true and .data.room == "r"' 10 "$b"
    run pcli --token "$TA" -c 'join r' -c 'send r last-words'
    assert_status 0
    stop_server
    bg_wait "$b"
    expect_json '.event == "message:new" and .data.message.text == "last-words"' "$(cat "$OUT/b")"
    start_server
    run pcli --token "$TA" -c 'history r'
    expect_json '.ok == true and (.data.messages | map(.text) == ["last-words"])'
}
