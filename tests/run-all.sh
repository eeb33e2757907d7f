#!/usr/bin/env bash
# Runs every suite (C unit tests, then bats) and ends with one line
# "N passed, M failed" over all of them. Exit status 1 on any failure.
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Counts TAP lines ("ok N", "not ok N") from a suite's output.
tally() {
    local p f
    p=$(grep -cE '^ok ' "$log" || true)
    f=$(grep -cE '^not ok ' "$log" || true)
    passed=$((passed + p))
    failed=$((failed + f))
}

for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    echo "# unit: $(basename "$t")"
    "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    tally
    # A crash or a non-zero exit with no failing line still counts as one failure.
    if [ $rc -ne 0 ] && ! grep -qE '^not ok ' "$log"; then
        echo "not ok - $(basename "$t") exited with status $rc"
        failed=$((failed + 1))
    fi
done

# The tree must build warning-free under clang as well as gcc.
echo "# build: clang"
if make -s --no-print-directory BUILD="$build/clang" CC=clang all >"$log" 2>&1; then
    echo "ok - clang builds everything with -Wall -Wextra -Werror"
    passed=$((passed + 1))
else
    cat "$log"
    echo "not ok - clang build"
    failed=$((failed + 1))
fi

# Man pages lint clean (mandoc -Tlint) and render.
for page in man/*.[1-8]; do
    [ -f "$page" ] || continue
    if mandoc -Tlint -W warning "$page" >"$log" 2>&1 && mandoc -Tutf8 "$page" >/dev/null 2>&1; then
        echo "ok - man page $page lints clean"
        passed=$((passed + 1))
    else
        cat "$log"
        echo "not ok - man page $page"
        failed=$((failed + 1))
    fi
done

if compgen -G "tests/bats/*.bats" >/dev/null; then
    echo "# bats"
    PARLEY_BUILD=$(cd "$build" && pwd) bats --tap tests/bats >"$log" 2>&1
    rc=$?
    cat "$log"
    tally
    if [ $rc -ne 0 ] && ! grep -qE '^not ok ' "$log"; then
        echo "not ok - bats exited with status $rc"
        failed=$((failed + 1))
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
