#!/usr/bin/env bats
# The browser example, sdk/examples/web, in headless Chromium against a real
# parleyd, with CLI clients in the same room. The page runs in its scripted
# mode: send=TEXT types TEXT and presses Enter once the room is loaded, and
# expect=TEXT keeps the document loading (tests/browser/serve.py's /hold)
# until a message reading TEXT arrives, so --dump-dom shows the chat then.
# The dumped DOM is turned into JSON lines (dom_json) for the checks.
# Skipped only when chromium is not installed.

load helpers
load browser

setup() {
    [ -n "$CHROMIUM" ] || skip "chromium is not installed"
}


# page_url TOKEN ROOM SEND EXPECT: the example page for this test's server,
# in scripted mode (SEND may be empty: nothing is sent).
page_url() {
    local q
    q=$(jq -rn --arg s "ws://127.0.0.1:$PARLEY_PORT" --arg t "$1" --arg r "$2" --arg send "$3" --arg e "$4" \
        '"server=\($s|@uri)&token=\($t|@uri)&room=\($r|@uri)&expect=\($e|@uri)"
         + (if $send == "" then "" else "&send=\($send|@uri)" end)')
    printf 'http://127.0.0.1:%s/index.html?%s\n' "$STATIC_PORT" "$q"
}

# page_start URL: Chromium dumps the DOM of URL into $DOM_FILE once the page
# is done, in the background (PAGE_PID), with a fresh profile.
page_start() {
    DOM_FILE=$BATS_TEST_TMPDIR/dom.$RANDOM.html
    bg_start "$DOM_FILE" chromium_dump 500 "$1"
    PAGE_PID=$BG_PID
}

# page_done [TIMEOUT_S]: waits for Chromium and sets DOM (the HTML) and
# DOMJ (dom_json of it).
page_done() {
    bg_wait "$PAGE_PID" "${1:-40}" || return 1
    [ "$BG_STATUS" -eq 0 ] || fail "chromium exited $BG_STATUS:" "$(tail -n 20 "$DOM_FILE.err")" || return 1
    DOM=$(cat "$DOM_FILE")
    DOMJ=$(dom_json <"$DOM_FILE")
}

# browse URL: page_start and page_done.
browse() {
    page_start "$1"
    page_done
}

# dom_json: the HTML on stdin as JSON lines: one per item of #messages,
# {"li": its class, its data-* attributes (id, seq, user, state), its parts
# by class (time, name, text, mark), "all": its whole text, "tags": every
# element inside it}, and
# one per element with an id (and the title), {"el": ID, "text", "hidden"}.
dom_json() {
    "$PY" -c '
import html.parser, json, sys
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
class Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open = []
    def handle_starttag(self, tag, attrs):
        for e in self.open:
            e["tags"].append(tag)
        e = {"tag": tag, "a": dict(attrs), "text": [], "tags": [], "parts": {}}
        if tag in VOID:
            self.done(e)
        else:
            self.open.append(e)
    def handle_data(self, data):
        for e in self.open:
            e["text"].append(data)
    def handle_endtag(self, tag):
        while self.open:
            e = self.open.pop()
            self.done(e)
            if e["tag"] == tag:
                break
    def done(self, e):
        a, text = e["a"], "".join(e["text"])
        if self.open and self.open[-1]["tag"] == "li" and a.get("class"):
            self.open[-1]["parts"][a["class"]] = text
        if e["tag"] == "li" and any(o["a"].get("id") == "messages" for o in self.open):
            rec = {"li": a.get("class", "")}
            rec.update({k[5:]: v for k, v in a.items() if k.startswith("data-")})
            rec.update(e["parts"])
            rec["all"] = text
            rec["tags"] = e["tags"]
            print(json.dumps(rec, ensure_ascii=False))
        elif "id" in a or e["tag"] == "title":
            print(json.dumps({"el": a.get("id", "title"), "text": text, "hidden": "hidden" in a}, ensure_ascii=False))
d = Dom()
d.feed(sys.stdin.read())
d.close()
'
}

# dom_ok FILTER...: every jq FILTER matches a line of DOMJ; shows the DOM
# and the page's server side if not.
dom_ok() {
    local f
    for f in "$@"; do
        [ -n "$(jsel "$f" "$DOMJ")" ] ||
            fail "nothing in the page matches: $f" "--- page:" "$DOMJ" "--- server:" "$(server_logs | tail -n 20)" ||
            return 1
    done
}

# el ID: the text of the page's element ID.
el() {
    jsel ".el == \"$1\"" "$DOMJ" | jq -r .text
}

# seqs: the seqs of the page's messages, in page order, as a compact array.
seqs() {
    jsel '.li | startswith("msg")' "$DOMJ" | jq -sc 'map(.seq | tonumber)'
}

# ack_id: the message id in CONN_ACK (a message:send ack).
ack_id() {
    jq -r .data.message.id <<<"$CONN_ACK"
}

# raw_send NAME ROOM TEXT: connection NAME sends TEXT exactly (no word
# splitting, whatever characters it holds).
raw_send() {
    conn_ok "$1" "raw message:send $(jq -nc --arg r "$2" --arg t "$3" '{room: $r, text: $t}')"
}

@test "the page loads the history, reports receipts per author, types, sends with Enter, shows the answer with ✓✓, notices and typing" {
    start_server
    start_static
    local tw tb tc b c b1 c1 b2 id
    tw=$(token webby --name 'Web User')
    tb=$(token bob)
    tc=$(token carol)
    # webby is a member from before, so the history below is unread for it.
    run pcli --token "$tw" -c 'join lobby'
    assert_status 0
    conn_open bob "$tb"
    conn_ok bob 'join lobby'
    conn_open carol "$tc"
    conn_ok carol 'join lobby'
    conn_ok bob 'send lobby first from bob'
    b1=$(ack_id)
    conn_ok carol 'send lobby hello from carol'
    c1=$(ack_id)
    conn_ok bob 'send lobby second from bob'
    b2=$(ack_id)
    b=$(conn_out bob)
    c=$(conn_out carol)

    page_start "$(page_url "$tw" lobby 'hello from the page' 'the CLI answers')"

    # Its receipts: each author's newest message, lowest id first, or the
    # server would not move webby's pointer for carol after bob's.
    wait_for_json "$c" ".event == \"message:read\" and .data.message_id == $c1 and .data.user == \"webby\"" 30
    wait_for_json "$b" ".event == \"message:read\" and .data.message_id == $b2 and .data.user == \"webby\""
    expect_no_json ".event == \"message:read\" and .data.message_id == $b1" "$(cat "$b")"
    # It typed, then sent with Enter, with a client_msg_id.
    wait_for_json "$b" '.event == "message:new" and .data.message.user == "webby"' 20
    expect_json '.event == "message:new" and .data.message.text == "hello from the page"
        and .data.message.name == "Web User" and (.data.message.client_msg_id | type == "string" and length > 0)' "$(cat "$b")"
    expect_json '.event == "message:typing" and .data.user == "webby" and .data.typing == true' "$(cat "$b")"
    id=$(jfirst '.event == "message:new" and .data.message.user == "webby"' "$(cat "$b")" | jq .data.message.id)

    # Notices: dave comes and goes, carol steps away, then types.
    run pcli --token "$(token dave)" -c 'join lobby' -c 'leave lobby'
    assert_status 0
    conn_ok carol away
    conn_ok carol 'typing lobby on'
    # bob reads the page's message, then answers.
    conn_ok bob "read $id"
    conn_ok bob 'send lobby the CLI answers'
    page_done

    [ "$(el status)" = "connected as Web User" ] || fail "status:" "$DOMJ"
    [ -z "$(el error)" ] || fail "an error shows:" "$(el error)"
    [ "$(seqs)" = "[1,2,3,4,5]" ] || fail "messages out of order or doubled: $(seqs)" "$DOMJ"
    dom_ok '.li == "msg" and .seq == "1" and .user == "bob" and .name == "bob" and .text == "first from bob"' \
        '.li == "msg" and .seq == "2" and .user == "carol" and .text == "hello from carol"' \
        '.li == "msg" and .seq == "3" and .user == "bob" and .text == "second from bob"' \
        '.li == "msg mine" and .seq == "4" and .user == "webby" and .name == "Web User"
            and .text == "hello from the page" and .state == "read" and .mark == "✓✓"' \
        '.li == "msg" and .seq == "5" and .user == "bob" and .text == "the CLI answers"' \
        '.li == "notice" and .all == "dave joined lobby"' \
        '.li == "notice" and .all == "dave left lobby"' \
        '.li == "notice" and .all == "carol is away"' \
        '.el == "typing" and .text == "carol is typing…"'
}

@test "text with markup is shown as text, both ways: no element is created, nothing runs" {
    start_server
    start_static
    local tw tb b hist live mine
    tw=$(token webby)
    tb=$(token bob)
    hist='<script>document.title="pwned"</script><b>bold?</b>'
    live='<img src=x onerror="document.title=&quot;pwned&quot;"> & <i>"quotes"</i>'
    mine="<u>mine</u> <script>alert('x')</script> &amp;"
    export hist live mine # for jq's $ENV
    conn_open bob "$tb"
    conn_ok bob 'join html'
    raw_send bob html "$hist"
    b=$(conn_out bob)

    page_start "$(page_url "$tw" html "$mine" "$live")"
    wait_for_json "$b" '.event == "message:new" and .data.message.user == "webby"' 30
    expect_json '.event == "message:new" and .data.message.text == $ENV.mine' "$(cat "$b")"
    raw_send bob html "$live"
    page_done

    # Each message holds exactly its parts (time, name, text, and a mark on
    # ours), with the text as sent.
    dom_ok \
        '.li == "msg" and .text == $ENV.hist and .tags == ["time", "span", "span"]' \
        '.li == "msg" and .text == $ENV.live and .tags == ["time", "span", "span"]' \
        '.li == "msg mine" and .text == $ENV.mine and .tags == ["time", "span", "span", "span"]'
    [ "$(el title)" = Parley ] || fail "a script ran: the title is now $(el title)"
    [[ $DOM != *'<img src="x"'* && $DOM != *'<b>bold'* && $DOM != *'<u>mine'* ]] || fail "markup became elements:" "$DOM"
}

@test "a bad token, or an expired one, shows an error in the page and is not retried" {
    start_server
    start_static
    local bad expired
    bad=$(mkjwt --secret 'not-the-secret-of-this-server-0123456789' --set sub=webby --exp-in 600)
    browse "$(page_url "$bad" lobby '' 'never')"
    [[ $(el error) == *"could not connect to ws://127.0.0.1:$PARLEY_PORT"*"refused"* ]] || fail "no error shown:" "$DOMJ"
    [ "$(el status)" = "not connected" ] || fail "status:" "$DOMJ"
    jsel '.el == "connect" and .hidden == false' "$DOMJ" | grep -q . || fail "the connect form is not offered again:" "$DOMJ"
    [ "$(jsel '.li | startswith("msg")' "$DOMJ" | grep -c .)" -eq 0 ] || fail "messages in a refused page:" "$DOMJ"
    [ "$(server_logs | grep -c 'upgrade from .* refused')" -eq 1 ] || fail "not exactly one attempt:" "$(server_logs)"

    # An expired token is not even tried.
    expired=$(mkjwt --secret "$SECRET" --set sub=webby --exp-in -60)
    browse "$(page_url "$expired" lobby '' 'never')"
    [[ $(el error) == "the token expired at "* ]] || fail "no expiry shown:" "$DOMJ"
    [ "$(server_logs | grep -c 'upgrade from .* refused')" -eq 1 ] || fail "the expired token was tried:" "$(server_logs)"
}

@test "after a server restart the page reconnects by itself and recovers what it missed, once and in order, and the receipts" {
    start_server
    start_static
    local tw tb b port i id
    tw=$(token webby)
    tb=$(token bob)
    conn_open bob "$tb"
    conn_ok bob 'join lobby'
    b=$(conn_out bob)
    page_start "$(page_url "$tw" lobby 'before the restart' 'missed two')"
    # The page has its session (made before it joins) and sent seq 1.
    wait_for_json "$b" '.event == "message:new" and .data.message.text == "before the restart"' 30
    id=$(jfirst '.event == "message:new"' "$(cat "$b")" | jq .data.message.id)
    conn_kill bob

    # While the page's port is closed, bob reads its message and writes,
    # through a server on another port with the same database; then the
    # server comes back. The page missed the read receipt's push: it asks.
    port=$PARLEY_PORT
    stop_server
    start_server
    [ "$PARLEY_PORT" != "$port" ] || fail "the interim server took the page's port"
    run pcli --token "$tb" -c "read $id" -c 'send lobby missed one' -c 'send lobby missed two'
    assert_status 0
    stop_server
    for ((i = 0; i < 20; i++)); do
        launch_server --listen "127.0.0.1:$port" --db "$SRV_DIR/parley.db" --jwt-secret "$SECRET" 2>/dev/null && break
        sleep 0.1
    done
    [ "$PARLEY_PORT" = "$port" ] || fail "parleyd could not listen on port $port again"
    page_done

    [ "$(seqs)" = "[1,2,3]" ] || fail "messages out of order or doubled: $(seqs)" "$DOMJ"
    dom_ok '.li == "msg mine" and .text == "before the restart" and .state == "read" and .mark == "✓✓"' \
        '.li == "msg" and .seq == "2" and .text == "missed one"' \
        '.li == "msg" and .seq == "3" and .text == "missed two"'
    [[ $DOM == *'<li class="notice">reconnected, 2 missed messages</li>'* ]] || fail "no recovery notice:" "$DOMJ"
    [ "$(el status)" = "connected as webby" ] || fail "status:" "$DOMJ"
    # It was connection:recover (with the page's last seq), not a fresh join.
    run conn_stats "$tb"
    jq -e '.recovered == 1 and .failed == 0' <<<"$output" >/dev/null || fail "connection:stats: $output"
}
