#!/usr/bin/env bats
# make install and make uninstall as a packager runs them: into a DESTDIR,
# from the build under test ($PARLEY_BUILD, so the sanitizer pass installs
# its own build), with no warnings. Then what an installed tree must give:
# a library with its soname and only the header's functions exported, a
# pkg-config file that is all an application needs (C99 and C++, shared and
# static), an example config that the installed parleyd accepts, a systemd
# unit that systemd-analyze verifies, and a config the operator edited that
# neither a reinstall nor an uninstall touches.

load helpers

VERSION=$(sed -n 's/^PARLEY_VERSION *:= *//p' "$REPO_DIR/Makefile")
HEADER=$REPO_DIR/sdk/include/parley.h

setup() {
    # Directories install creates above its own (usr/share...) follow the
    # umask: fix it so their modes are the ones a packager gets.
    umask 022
    D=$BATS_TEST_TMPDIR/dest
}

# pmake ARGS...: make in the repository on the build under test. A make
# check above us may have left MAKEFLAGS naming a jobserver this make
# cannot reach (it would warn): the packager's make starts clean.
pmake() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$REPO_DIR" --no-print-directory \
        BUILD="$PARLEY_BUILD" "$@"
}

# install_to DESTDIR PREFIX [MAKE ARGS...]: make install, which must succeed
# with nothing on stderr; its stdout is left in $output.
install_to() {
    run --separate-stderr pmake install DESTDIR="$1" PREFIX="$2" "${@:3}"
    assert_status 0 || return 1
    [ -z "$stderr" ] || fail "make install wrote on stderr:" "$stderr"
}

# expected_files P E: every file and link install puts, for the prefix P
# and the config directory E (both without the leading /), one "path type
# mode" or "path -> target" line each, sorted.
expected_files() {
    local p=$1 e=$2
    LC_ALL=C sort <<EOF
$e/parley/parleyd.conf f 644
$p/bin/parley f 755
$p/bin/parley-chat f 755
$p/bin/parleyd f 755
$p/include/parley.h f 644
$p/lib/libparley.a f 644
$p/lib/libparley.so -> libparley.so.0
$p/lib/libparley.so.0 -> libparley.so.$VERSION
$p/lib/libparley.so.$VERSION f 644
$p/lib/pkgconfig/libparley.pc f 644
$p/lib/systemd/system/parleyd.service f 644
$p/share/doc/parley/parleyd.conf.example f 644
$p/share/man/man1/parley-chat.1 f 644
$p/share/man/man1/parley.1 f 644
$p/share/man/man3/libparley.3 f 644
$p/share/man/man5/parleyd.conf.5 f 644
$p/share/man/man7/parley-protocol.7 f 644
$p/share/man/man8/parleyd.8 f 644
EOF
}

# listing DIR: the files and links under DIR, in expected_files' format.
listing() {
    find "$1" -mindepth 1 \( -type l -printf '%P -> %l\n' \) -o \( ! -type d -printf '%P %y %m\n' \) |
        LC_ALL=C sort
}

# expect_listing P E: the DESTDIR $D holds exactly expected_files P E.
expect_listing() {
    diff -u <(expected_files "$1" "$2") <(listing "$D") ||
        fail "the installed files differ from the expected list (- expected, + installed)"
}

# header_functions: the name of every function parley.h declares, sorted;
# fails unless each PARLEY_API line gave one.
header_functions() {
    local names n
    names=$(sed -nE 's/^PARLEY_API [^(]*[ *](parley_[A-Za-z0-9_]+)\(.*/\1/p' "$HEADER" | LC_ALL=C sort)
    n=$(grep -c '^PARLEY_API ' "$HEADER")
    [ "$(grep -c . <<<"$names")" -eq "$n" ] ||
        fail "parsed $(grep -c . <<<"$names") function names from $n PARLEY_API lines of $HEADER"
    printf '%s\n' "$names"
}

# write_app FILE: a program that prints the library's version and the
# number of the header's functions it holds the address of: linking it
# resolves every one of them (through C linkage, when built as C++).
write_app() {
    local names
    names=$(header_functions) || return 1
    {
        printf '#include <parley.h>\n#include <stdio.h>\n\n'
        printf 'typedef void (*app_fn)(void);\n'
        printf 'app_fn app_functions[] = {\n'
        sed 's/.*/    (app_fn)\&&,/' <<<"$names"
        printf '};\n\n'
        printf 'int main(void)\n{\n'
        printf '    int major = -1, minor = -1, patch = -1;\n'
        printf '    unsigned n = 0, i;\n\n'
        printf '    for (i = 0; i < sizeof(app_functions) / sizeof(app_functions[0]); i++)\n'
        printf '        n += app_functions[i] != NULL;\n'
        printf '    parley_lib_version(&major, &minor, &patch);\n'
        printf '    printf("%%d.%%d.%%d %%u\\n", major, minor, patch, n);\n'
        printf '    return 0;\n}\n'
    } >"$1"
}

# use_installed_pc: pkg-config finds the libparley.pc of the DESTDIR $D
# (PREFIX=/usr), its paths inside $D.
use_installed_pc() {
    export PKG_CONFIG_SYSROOT_DIR=$D PKG_CONFIG_PATH=$D/usr/lib/pkgconfig
}

# pc ARGS...: pkg-config's answer without its trailing blank.
pc() {
    local out
    out=$(pkg-config "$@") || return 1
    printf '%s\n' "${out%"${out##*[! ]}"}"
}

# compilers: sets APP_CC and APP_CXX (arrays). The sanitizer pass installs
# a library built with clang's ASan and UBSan: a program linking it needs
# those runtimes, so it is built by clang with the same -fsanitize.
compilers() {
    if nm -D --undefined-only "$D/usr/lib/libparley.so" | grep -q ' __asan_'; then
        APP_CC=(clang -fsanitize=address,undefined)
        APP_CXX=(clang++ -fsanitize=address,undefined)
    else
        APP_CC=(gcc)
        APP_CXX=(g++)
    fi
}

# expect_app_output: $output is the version of the Makefile and the count
# of the header's functions.
expect_app_output() {
    local n
    n=$(header_functions | grep -c .)
    [ "$output" = "$VERSION $n" ] || fail "the program printed '$output', want '$VERSION $n'"
}

@test "make install DESTDIR=... PREFIX=/usr puts exactly the expected files, modes, links and soname, with nothing on stderr" {
    install_to "$D" /usr
    expect_listing usr etc
    local dirs
    dirs=$(find "$D" -mindepth 1 -type d ! -perm 0755)
    [ -z "$dirs" ] || fail "directories not 0755:" "$dirs"
    run readelf -d "$D/usr/lib/libparley.so.$VERSION"
    assert_status 0
    grep -qF 'Library soname: [libparley.so.0]' <<<"$output" ||
        fail "the library's soname is not libparley.so.0:" "$output"
    local f
    for f in "$D"/usr/bin/* "$D/usr/lib/libparley.so.$VERSION"; do
        run readelf -d "$f"
        assert_status 0
        ! grep -E '\((RPATH|RUNPATH)\)' <<<"$output" || fail "$f carries a run path"
    done
    grep -qxF 'ExecStart=/usr/bin/parleyd --config /etc/parley/parleyd.conf' \
        "$D/usr/lib/systemd/system/parleyd.service" || fail "the unit's ExecStart names other paths"
    ! grep -nE '@[A-Z]+@' "$D/usr/lib/systemd/system/parleyd.service" "$D/usr/lib/pkgconfig/libparley.pc" ||
        fail "placeholders left unsubstituted"
    cmp "$REPO_DIR/dist/parleyd.conf" "$D/etc/parley/parleyd.conf"
    cmp "$REPO_DIR/dist/parleyd.conf" "$D/usr/share/doc/parley/parleyd.conf.example"
    cmp "$HEADER" "$D/usr/include/parley.h"
}

@test "make install of an up-to-date build writes nothing into the build but the two files it generates" {
    pmake -q all || skip "the build under test ($PARLEY_BUILD) is older than the sources"
    touch "$BATS_TEST_TMPDIR/stamp"
    install_to "$D" /usr
    local changed
    changed=$(find "$PARLEY_BUILD" -newer "$BATS_TEST_TMPDIR/stamp" ! -type d ! -path "$PARLEY_BUILD/install/*")
    [ -z "$changed" ] || fail "make install rebuilt:" "$changed"
}

@test "make install PREFIX=/usr/local puts everything under /usr/local, the config in /usr/local/etc" {
    install_to "$D" /usr/local
    expect_listing usr/local usr/local/etc
    grep -qxF 'ExecStart=/usr/local/bin/parleyd --config /usr/local/etc/parley/parleyd.conf' \
        "$D/usr/local/lib/systemd/system/parleyd.service" || fail "the unit's ExecStart names other paths"
    grep -qx 'prefix=/usr/local' "$D/usr/local/lib/pkgconfig/libparley.pc" ||
        fail "libparley.pc has another prefix:" "$(cat "$D/usr/local/lib/pkgconfig/libparley.pc")"
}

@test "the installed libparley.pc gives the version, --cflags, --libs and --static --libs" {
    install_to "$D" /usr
    use_installed_pc
    [ "$(pc --modversion libparley)" = "$VERSION" ] || fail "version $(pc --modversion libparley), want $VERSION"
    [ "$(pc --cflags libparley)" = "-I$D/usr/include" ] || fail "--cflags: $(pc --cflags libparley)"
    [ "$(pc --libs libparley)" = "-L$D/usr/lib -lparley" ] || fail "--libs: $(pc --libs libparley)"
    [ "$(pc --static --libs libparley)" = "-L$D/usr/lib -lparley -lwslay -lcjson -lcurl -lssl -lcrypto -pthread" ] ||
        fail "--static --libs: $(pc --static --libs libparley)"
    # Without the sysroot, the paths are the installed ones.
    [ "$(env -u PKG_CONFIG_SYSROOT_DIR pkg-config --variable=libdir libparley)" = /usr/lib ] ||
        fail "libdir: $(env -u PKG_CONFIG_SYSROOT_DIR pkg-config --variable=libdir libparley)"
}

@test "a C99 program (-std=c99 -pedantic -Wall -Wextra -Werror) builds with only pkg-config and runs on the installed libparley.so" {
    install_to "$D" /usr
    use_installed_pc
    compilers
    local app=$BATS_TEST_TMPDIR/app
    write_app "$app.c"
    run "${APP_CC[@]}" -std=c99 -pedantic -Wall -Wextra -Werror -o "$app" "$app.c" \
        $(pkg-config --cflags --libs libparley)
    assert_status 0
    [ -z "$output" ] || fail "the compiler warned:" "$output"
    run readelf -d "$app"
    grep -qF 'Shared library: [libparley.so.0]' <<<"$output" || fail "the program does not need libparley.so.0:" "$output"
    run env LD_LIBRARY_PATH="$D/usr/lib" "$app"
    assert_status 0
    expect_app_output
}

@test "a C99 program links the installed libparley.a with pkg-config --static and runs without the shared library" {
    install_to "$D" /usr
    use_installed_pc
    compilers
    local app=$BATS_TEST_TMPDIR/app libs
    write_app "$app.c"
    # -lparley would pick libparley.so: the archive is named instead, with
    # everything else --static says it needs.
    libs=$(pkg-config --static --libs libparley)
    libs=${libs/-lparley/$(pkg-config --variable=libdir libparley)/libparley.a}
    run "${APP_CC[@]}" -std=c99 -pedantic -Wall -Wextra -Werror -o "$app" "$app.c" \
        $(pkg-config --cflags libparley) $libs
    assert_status 0
    [ -z "$output" ] || fail "the compiler warned:" "$output"
    run readelf -d "$app"
    ! grep -F 'libparley' <<<"$output" || fail "the static program still needs the shared library"
    run "$app"
    assert_status 0
    expect_app_output
}

@test "a C++ program (-std=c++11 -Wall -Wextra -Werror) includes parley.h, links with only pkg-config and runs" {
    install_to "$D" /usr
    use_installed_pc
    compilers
    local app=$BATS_TEST_TMPDIR/app
    write_app "$app.cc"
    run "${APP_CXX[@]}" -std=c++11 -Wall -Wextra -Werror -o "$app" "$app.cc" \
        $(pkg-config --cflags --libs libparley)
    assert_status 0
    [ -z "$output" ] || fail "the compiler warned:" "$output"
    run env LD_LIBRARY_PATH="$D/usr/lib" "$app"
    assert_status 0
    expect_app_output
}

@test "the installed libparley.so exports only parley_* symbols: exactly the functions parley.h declares" {
    install_to "$D" /usr
    run nm -D --defined-only "$D/usr/lib/libparley.so"
    assert_status 0
    local other exported
    # The version node (PARLEY_0, type A) is not a symbol of the API.
    other=$(awk '$2 != "A" && $3 !~ /^parley_/' <<<"$output")
    [ -z "$other" ] || fail "exported symbols outside parley_*:" "$other"
    exported=$(awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' <<<"$output" | LC_ALL=C sort)
    diff -u <(header_functions) <(printf '%s\n' "$exported") ||
        fail "declared in parley.h (-) and exported (+) differ"
    ! awk '$2 != "A" && $2 != "T"' <<<"$output" | grep . || fail "exported symbols that are not functions"
}

@test "the example config names every setting of the installed parleyd at its default, and parleyd starts with it" {
    install_to "$D" /usr
    local conf=$D/etc/parley/parleyd.conf bin=$D/usr/bin/parleyd
    run "$bin" --help
    assert_status 0
    local names defaults name lines value def
    names=$(sed -nE 's/^  --([a-z-]+) .*/\1/p' <<<"$output" | grep -vxE 'config|help|version' | tr - _)
    # "Defaults: listen 127.0.0.1:8080, db parley.db, ... log_level info."
    defaults=$(sed -n '/^Defaults:/,$p' <<<"$output" | tr '\n' ' ' | sed -e 's/^Defaults: *//' -e 's/, */\n/g' |
        awk '{ v = $2; sub(/\.$/, "", v); print $1, v }')
    [ "$(grep -c . <<<"$names")" -ge 20 ] && [ "$(grep -c . <<<"$defaults")" -ge 15 ] ||
        fail "could not read the settings and defaults from parleyd --help:" "$output"
    for name in $names; do
        lines=$(grep -E "^#?$name *=" "$conf" || true)
        [ "$(grep -c . <<<"$lines")" -eq 1 ] || fail "setting $name: want one line in the example, found:" "$lines"
        def=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$defaults")
        value=$(sed -E "s/^#?$name *= *//" <<<"$lines")
        if [ "${lines:0:1}" = "#" ] && [ -n "$def" ] && [ "$def" != none ]; then
            [ "$value" = "$def" ] || fail "setting $name: the example shows '$value', parleyd's default is '$def'"
        fi
    done
    # No line names a setting parleyd does not know (uncommenting it would
    # stop the server).
    for name in $(sed -nE 's/^#?([a-z_]+) *=.*/\1/p' "$conf"); do
        grep -qxF "$name" <<<"$names" || fail "the example names an unknown setting: $name"
    done
    # The file as installed, its database moved into this test's directory
    # (flags win over the file) and any free port.
    PARLEYD=$bin launch_server --config "$conf" --db "$BATS_TEST_TMPDIR/parley.db" --listen 127.0.0.1:0
    http GET /healthz
    expect_http 200
    # The file is read: one bad line in a copy of it, and parleyd refuses
    # to start (exit 2), naming the line.
    cp "$conf" "$BATS_TEST_TMPDIR/bad.conf"
    echo 'log_level = loud' >>"$BATS_TEST_TMPDIR/bad.conf"
    run --separate-stderr timeout 10 "$bin" --config "$BATS_TEST_TMPDIR/bad.conf" \
        --db "$BATS_TEST_TMPDIR/bad.db" --listen 127.0.0.1:0
    assert_status 2
    grep -qF "bad.conf:$(wc -l <"$BATS_TEST_TMPDIR/bad.conf"): log_level" <<<"$stderr" ||
        fail "the refusal does not name the line:" "$stderr"
}

@test "systemd-analyze verify accepts the installed unit, and security rates its exposure below 2" {
    command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed (Debian's systemd package)"
    # verify checks that ExecStart's binary exists: a real prefix, no
    # DESTDIR (and no ldconfig, the prefix is this test's own). MANPATH
    # lets it find the man pages the unit's Documentation= names.
    local p=$BATS_TEST_TMPDIR/prefix unit
    run --separate-stderr pmake install PREFIX="$p" LDCONFIG=
    assert_status 0
    [ -z "$stderr" ] || fail "make install wrote on stderr:" "$stderr"
    unit=$p/lib/systemd/system/parleyd.service
    grep -qxF "ExecStart=$p/bin/parleyd --config $p/etc/parley/parleyd.conf" "$unit" ||
        fail "the unit's ExecStart:" "$(grep ExecStart "$unit")"
    run env MANPATH="$p/share/man" systemd-analyze verify "$unit"
    assert_status 0
    [ -z "$output" ] || fail "systemd-analyze verify complained:" "$output"
    run systemd-analyze security --offline=true "$unit"
    assert_status 0
    local level
    level=$(sed -nE 's/.*Overall exposure level for parleyd\.service: ([0-9.]+).*/\1/p' <<<"$output")
    [ -n "$level" ] || fail "no exposure level in:" "$output"
    awk -v l="$level" 'BEGIN { exit !(l < 2.0) }' || fail "exposure $level, want below 2:" "$output"
}

@test "a second make install keeps an edited etc/parley/parleyd.conf and updates everything else" {
    install_to "$D" /usr
    local conf=$D/etc/parley/parleyd.conf before
    echo 'log_level = warn' >>"$conf"
    before=$(cat "$conf")
    : >"$D/usr/include/parley.h"
    install_to "$D" /usr
    [ "$(cat "$conf")" = "$before" ] || fail "the edited config was overwritten"
    grep -qF "kept $conf" <<<"$output" || fail "make install did not say it kept the config:" "$output"
    cmp "$HEADER" "$D/usr/include/parley.h"
    cmp "$REPO_DIR/dist/parleyd.conf" "$D/usr/share/doc/parley/parleyd.conf.example"
    expect_listing usr etc
}

@test "make uninstall removes every file make install put, parley's own directories too" {
    install_to "$D" /usr
    run --separate-stderr pmake uninstall DESTDIR="$D" PREFIX=/usr
    assert_status 0
    [ -z "$stderr" ] || fail "make uninstall wrote on stderr:" "$stderr"
    local left
    left=$(find "$D" ! -type d)
    [ -z "$left" ] || fail "left behind:" "$left"
    [ ! -e "$D/etc/parley" ] && [ ! -e "$D/usr/share/doc/parley" ] || fail "parley's directories are left"
}

@test "make uninstall keeps a config the operator changed, and nothing else" {
    install_to "$D" /usr
    local conf=$D/etc/parley/parleyd.conf before
    echo 'log_level = warn' >>"$conf"
    before=$(cat "$conf")
    run --separate-stderr pmake uninstall DESTDIR="$D" PREFIX=/usr
    assert_status 0
    [ -z "$stderr" ] || fail "make uninstall wrote on stderr:" "$stderr"
    grep -qF "kept $conf" <<<"$output" || fail "make uninstall did not say it kept the config:" "$output"
    [ "$(find "$D" ! -type d)" = "$conf" ] || fail "left behind:" "$(find "$D" ! -type d)"
    [ "$(cat "$conf")" = "$before" ] || fail "the edited config changed"
}
