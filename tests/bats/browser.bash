# What the browser suites (30-browser, 35-web-example) share: Debian's
# Chromium, the static server of the example page, and the headless run.

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)

# start_static: tests/browser/serve.py (the page's files, plus the /hold and
# /done that keep --dump-dom waiting for the chat) on a free port of
# 127.0.0.1; sets STATIC_PORT.
start_static() {
    local f=$BATS_TEST_TMPDIR/static i
    bg_start "$f" "$PY" "$REPO_DIR/tests/browser/serve.py"
    for ((i = 0; i < 100; i++)); do
        STATIC_PORT=$(sed -n 's/^serving on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$f" | head -n 1)
        [ -n "$STATIC_PORT" ] && return 0
        sleep 0.05
    done
    fail "the static server did not start:" "$(cat "$f" "$f.err")"
}

# chromium_dump BUDGET_MS URL: the DOM of URL on stdout once its scripts
# ran (--dump-dom), with a fresh profile. It replaces the calling shell
# (exec), so in the background (bg_start) its pid is Chromium's timeout.
chromium_dump() {
    exec timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$BATS_TEST_TMPDIR/profile.$RANDOM" \
        --virtual-time-budget="$1" --dump-dom "$2"
}
