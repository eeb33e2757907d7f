#!/usr/bin/env bash
# Runs every suite and ends with one line "N passed, M failed" over all of
# them. Exit status 1 on any failure.
#
#   tests/run-all.sh [BUILD]          (make check) C unit tests, man pages
#       and bats against BUILD (default build/), then the sanitizer pass
#       below against build/asan, with the fuzz targets replayed over their
#       committed corpora (make fuzz-replay) once it is built.
#   tests/run-all.sh --asan [BUILD]   (make check-asan) only the sanitizer
#       pass: builds BUILD (default build/asan) with ASan+UBSan (make
#       asan-build), runs the unit tests and bats against it.
#
# The ASan build is made with clang and the tree's -Wall -Wextra -Werror: it
# is also the check that the tree builds warning-free under clang (the
# default build is gcc's), so there is no separate clang build.
#
# In the sanitizer pass every report fails the run: ASan and UBSan stop the
# process (halt_on_error, -fno-sanitize-recover=all), LeakSanitizer makes it
# exit non-zero, and every report is also written to a log file
# (log_path), so one from a process whose exit status no test looks at (a
# client killed in the background, a server stopped by the teardown)
# still counts: each such file is one failure, shown with its summary.
# valgrind cannot run sanitized binaries: in that pass a shim named
# valgrind in PATH runs the program directly, under ASan and LSan instead.
set -u
mode=full
if [ "${1:-}" = "--asan" ]; then
    mode=asan
    shift
fi
if [ $mode = asan ]; then
    build=${1:-build/asan}
else
    build=${1:-build}
fi
cd "$(dirname "$0")/.."
passed=0
failed=0
log=$(mktemp)
tmpdirs=()
trap 'rm -f "$log"; rm -rf "${tmpdirs[@]}"' EXIT

# Counts TAP lines ("ok N", "not ok N") from a suite's output.
tally() {
    local p f
    p=$(grep -cE '^ok ' "$log" || true)
    f=$(grep -cE '^not ok ' "$log" || true)
    passed=$((passed + p))
    failed=$((failed + f))
}

# unit_tests BUILD: every C unit test binary of BUILD, TAP.
unit_tests() {
    local t rc
    for t in "$1"/tests/test_*; do
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
}

# bats_suites BUILD: every tests/bats suite against BUILD's binaries.
bats_suites() {
    local rc
    compgen -G "tests/bats/*.bats" >/dev/null || return 0
    echo "# bats ($1)"
    # Two suites (files) at a time, or one per core: most of a test is
    # waiting for a server, a peer or a timer, and every test has its own
    # server on its own port, temp dir and tmux socket. Tests within a file
    # stay in order (they may share setup_file state).
    local jobs=()
    command -v parallel >/dev/null &&
        jobs=(--jobs "$(( $(nproc) > 2 ? $(nproc) : 2 ))" --no-parallelize-within-files)
    PARLEY_BUILD=$(cd "$1" && pwd) bats --tap --timing "${jobs[@]}" tests/bats >"$log" 2>&1
    rc=$?
    cat "$log"
    tally
    if [ $rc -ne 0 ] && ! grep -qE '^not ok ' "$log"; then
        echo "not ok - bats exited with status $rc"
        failed=$((failed + 1))
    fi
}

# asan_pass BUILD: builds BUILD sanitized, runs the unit and bats suites
# against it with every report logged, then counts the reports.
asan_pass() {
    local b=$1 rdir shim f n rc
    echo "# sanitizers: ASan + UBSan build in $b"
    if make -s -j"$(nproc)" --no-print-directory asan-build ASAN_BUILD="$b" >"$log" 2>&1; then
        echo "ok - clang builds everything with -Wall -Wextra -Werror (ASan+UBSan, tests and fuzz targets included)"
        passed=$((passed + 1))
    else
        cat "$log"
        echo "not ok - clang ASan+UBSan build"
        failed=$((failed + 1))
        return
    fi
    if [ "$mode" = full ]; then
        # Every fuzz target over its committed corpus: one line each.
        echo "# fuzz replay"
        make -s --no-print-directory fuzz-replay ASAN_BUILD="$b" >"$log" 2>&1
        rc=$?
        cat "$log"
        tally
        if [ $rc -ne 0 ] && ! grep -qE '^not ok ' "$log"; then
            echo "not ok - make fuzz-replay exited with status $rc"
            failed=$((failed + 1))
        fi
    fi
    rdir=$(mktemp -d)
    shim=$(mktemp -d)
    tmpdirs+=("$rdir" "$shim")
    cat >"$shim/valgrind" <<'EOF'
#!/bin/sh
# run-all.sh's sanitizer pass: valgrind cannot run ASan binaries; the
# program runs as is and ASan/LSan check it (a report exits non-zero).
while [ $# -gt 0 ]; do
    case $1 in -*) shift ;; *) break ;; esac
done
exec "$@"
EOF
    chmod +x "$shim/valgrind"
    local old_path=$PATH
    export ASAN_OPTIONS="detect_leaks=1:log_path=$rdir/asan:log_exe_name=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$rdir/ubsan:log_exe_name=1"
    export PATH="$shim:$PATH"
    unit_tests "$b"
    bats_suites "$b"
    unset ASAN_OPTIONS UBSAN_OPTIONS
    PATH=$old_path
    n=0
    for f in "$rdir"/*; do
        [ -f "$f" ] || continue
        n=$((n + 1))
        echo "# sanitizer report $(basename "$f"):"
        grep -E 'ERROR:|SUMMARY:|runtime error:' "$f" | head -n 5 | sed 's/^/#   /'
        echo "not ok - sanitizer report from $(basename "$f" | sed 's/^[a-z]*\.\(.*\)\.[0-9]*$/\1/')"
        failed=$((failed + 1))
    done
    if [ $n -eq 0 ]; then
        echo "ok - no sanitizer report from any process of the unit and bats suites"
        passed=$((passed + 1))
    fi
}

if [ $mode = full ]; then
    unit_tests "$build"

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

    bats_suites "$build"

    asan_pass build/asan
else
    asan_pass "$build"
fi

echo "# wall time: $SECONDS s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
