#!/usr/bin/env bats
# The man pages (DESIGN.md section 8): every page of man/ lints clean,
# renders with man(1) without a word on standard error, and has the
# sections its kind of page needs; and the reference pages cover what the
# code has, read from the code itself: parleyd.conf(5) every setting of
# server/config.c's table, parley(1) every command and option of the CLI's
# own help, libparley(3) every PARLEY_API function of parley.h. A name
# added to the code without its page fails here, naming it. And README.md
# links each page.

load helpers

MAN_DIR=$REPO_DIR/man

# The sections each page must have. Every page: NAME, SYNOPSIS,
# DESCRIPTION, EXAMPLES, SEE ALSO. Programs (1, 8) have options, an exit
# status and an environment; the configuration file has the server's exit
# status on a bad setting; the library has RETURN VALUE instead. FILES
# where a page names files: the server's installed ones, the shell's
# history, the library's header and pkg-config file, the config file.
required_sections() {
    local common=(NAME SYNOPSIS DESCRIPTION EXAMPLES "SEE ALSO")
    case $(basename "$1") in
    parley.1) printf '%s\n' "${common[@]}" OPTIONS COMMANDS "EXIT STATUS" ENVIRONMENT FILES ;;
    parley-chat.1) printf '%s\n' "${common[@]}" OPTIONS "EXIT STATUS" ENVIRONMENT ;;
    parleyd.8) printf '%s\n' "${common[@]}" OPTIONS "EXIT STATUS" ENVIRONMENT FILES ;;
    parleyd.conf.5) printf '%s\n' "${common[@]}" SETTINGS "EXIT STATUS" ENVIRONMENT FILES ;;
    libparley.3)
        printf '%s\n' "${common[@]}" FUNCTIONS "RETURN VALUE" "ABI AND VERSIONING" \
            ENVIRONMENT FILES
        ;;
    parley-protocol.7) printf '%s\n' "${common[@]}" "ERROR CODES" "CLOSE CODES" ;;
    *) return 1 ;;
    esac
}

pages() {
    compgen -G "$MAN_DIR/*.[1-8]"
}

# tags PAGE SECTION: the text of every .TP/.TQ tag of SECTION (up to the
# next .SH), one per line, as it renders: continued lines joined, the font
# macros' arguments put together (.BR and the like without blanks), quotes
# and font escapes gone, \- as -.
tags() {
    awk -v want="$2" '
    function unescape(s) {
        gsub(/\\f(\[[A-Z]*\]|\(..|.)/, "", s)
        gsub(/\\-/, "-", s)
        gsub(/\\&|\\\||\\\^/, "", s)
        gsub(/\\e/, "\\", s)
        return s
    }
    # The arguments of a macro line, quotes honoured.
    function split_args(s, out,    n, i, c, q, cur, have) {
        n = 0; q = 0; cur = ""; have = 0
        for (i = 1; i <= length(s); i++) {
            c = substr(s, i, 1)
            if (c == "\"") { q = !q; have = 1; continue }
            if (!q && (c == " " || c == "\t")) {
                if (have) { out[++n] = cur; cur = ""; have = 0 }
                continue
            }
            cur = cur c; have = 1
        }
        if (have) out[++n] = cur
        return n
    }
    function text(line,    m, rest, args, n, i, r, sep) {
        if (line !~ /^\./) return unescape(line)
        m = line; sub(/[ \t].*/, "", m)
        rest = substr(line, length(m) + 1)
        n = split_args(rest, args)
        sep = (m ~ /^\.(BR|BI|IB|IR|RB|RI)$/) ? "" : " "
        r = ""
        for (i = 1; i <= n; i++) r = r (i > 1 ? sep : "") args[i]
        return unescape(r)
    }
    /^\.SH/ {
        s = $0; sub(/^\.SH[ \t]*/, "", s); gsub(/"/, "", s)
        insec = (s == want); next_is_tag = 0; next
    }
    !insec { next }
    pending != "" { $0 = pending $0; pending = "" }
    /[^\\]\\$/ { pending = substr($0, 1, length($0) - 1); next }
    next_is_tag { print text($0); next_is_tag = 0; next }
    /^\.(TP|TQ)([ \t]|$)/ { next_is_tag = 1 }
    ' "$1"
}

# section_names PAGE: its .SH headings.
section_names() {
    sed -n 's/^\.SH[ \t]*//p' "$1" | tr -d '"'
}

# missing WANTED HAVE: the lines of WANTED that are not lines of HAVE.
missing() {
    comm -23 <(printf '%s\n' "$1" | sort -u) <(printf '%s\n' "$2" | sort -u)
}

# compare WHAT CODE DOCUMENTED WHERE: fails naming every name of CODE that
# DOCUMENTED lacks, and with WHAT set, every name of DOCUMENTED that CODE
# does not have (a page describing what is gone).
compare() {
    local gone extra
    gone=$(missing "$2" "$3")
    [ -z "$1" ] || extra=$(missing "$3" "$2")
    [ -z "$gone" ] || echo "$4 lacks: $(echo $gone)" >&2
    [ -z "${extra:-}" ] || echo "$4 documents $1 that are not there: $(echo $extra)" >&2
    [ -z "$gone" ] && [ -z "${extra:-}" ]
}

@test "every man page lints clean (mandoc -Tlint -W warning)" {
    local page bad=0
    for page in $(pages); do
        run mandoc -Tlint -W warning "$page"
        if [ "$status" -ne 0 ] || [ -n "$output" ]; then
            printf '%s: status %s\n%s\n' "$page" "$status" "$output" >&2
            bad=1
        fi
    done
    [ $bad -eq 0 ]
}

# man-db's own renderer (groff), as a reader gets it: with every troff
# warning on in a UTF-8 locale, and as is in the C locale of a bare system.
@test "every man page renders with man -l and nothing on stderr" {
    local page bad=0 out err loc
    out=$BATS_TEST_TMPDIR/out
    err=$BATS_TEST_TMPDIR/err
    for page in $(pages); do
        for loc in C.UTF-8 C; do
            local warn=--warnings=w
            [ $loc = C ] && warn=
            if ! LC_ALL=$loc MANWIDTH=80 MANPAGER=cat PAGER=cat \
                man $warn -l "$page" >"$out" 2>"$err" || [ -s "$err" ] ||
                ! grep -q '^NAME' "$out"; then
                printf '%s (LC_ALL=%s):\n' "$page" "$loc" >&2
                cat "$err" >&2
                bad=1
            fi
        done
    done
    [ $bad -eq 0 ]
}

@test "every man page has the sections its kind of page needs" {
    local page bad=0 want gone
    for page in $(pages); do
        want=$(required_sections "$page") || {
            echo "$page: a page this test does not know: add it to required_sections" >&2
            bad=1
            continue
        }
        gone=$(missing "$want" "$(section_names "$page")")
        if [ -n "$gone" ]; then
            printf '%s lacks: %s\n' "$page" "$(echo $gone)" >&2
            bad=1
        fi
    done
    [ $bad -eq 0 ]
}

# The names of server/config.c's settings table, one per line.
config_settings() {
    sed -n '/^static const struct setting settings\[\] = {/,/^};/p' \
        "$REPO_DIR/server/config.c" | grep -oE '^ *\{"[a-z_]+"' | tr -dc 'a-z_\n'
}

@test "parleyd.conf(5) documents every setting server/config.c accepts, and no other" {
    local names documented
    names=$(config_settings)
    # The table is where the test reads from: a change of its shape must
    # not make this test pass on nothing.
    [ "$(echo "$names" | grep -c .)" -ge 20 ] || fail "read only: $names"
    documented=$(tags "$MAN_DIR/parleyd.conf.5" SETTINGS | awk '{print $1}')
    compare settings "$names" "$documented" "parleyd.conf.5 SETTINGS"
}

@test "parleyd(8) documents the flags that are not settings, from parleyd --help" {
    local flags documented
    run "$PARLEYD" --help
    assert_status 0
    flags=$(printf '%s\n' "$output" | grep -oE '^  --[a-z-]+' | tr -d ' ' |
        grep -vxF -f <(config_settings | tr _ - | sed 's/^/--/'))
    [ -n "$flags" ] || fail "no flags read from parleyd --help"
    documented=$(tags "$MAN_DIR/parleyd.8" OPTIONS | tr ', ' '\n\n')
    compare "" "$flags" "$documented" "parleyd.8 OPTIONS"
}

@test "parley(1) documents every command of the CLI's own help, and no other" {
    local cmds documented
    run "$PARLEY" -c help
    assert_status 0
    cmds=$(printf '%s\n' "$output" | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p')
    [ "$(echo "$cmds" | grep -c .)" -ge 30 ] || fail "read only: $cmds"
    # A tag names one command ("send [--id CMID] ..."), or several ("away,
    # busy, invisible").
    documented=$(tags "$MAN_DIR/parley.1" COMMANDS | awk '
        /^[a-z][a-z-]*(, [a-z][a-z-]*)+$/ { gsub(/, /, "\n"); print; next }
        { print $1 }')
    # The tags of `parley token`'s options (--secret...) are no commands.
    compare commands "$cmds" "$(echo "$documented" | grep -E '^[a-z][a-z-]*$')" \
        "parley.1 COMMANDS"
}

@test "parley(1) documents every option of parley --help" {
    local opts documented
    run "$PARLEY" --help
    assert_status 0
    opts=$(printf '%s\n' "$output" | grep -oE '(^|[[ |])--?[a-z][a-z-]*' | tr -d '[ |' | sort -u)
    [ "$(echo "$opts" | grep -c .)" -ge 10 ] || fail "read only: $opts"
    # Options are tags of OPTIONS; those of `parley token` are tags of its
    # subsection under COMMANDS.
    documented=$({ tags "$MAN_DIR/parley.1" OPTIONS; tags "$MAN_DIR/parley.1" COMMANDS; } |
        tr ', ' '\n\n')
    compare "" "$opts" "$documented" "parley.1 OPTIONS and COMMANDS"
}

@test "libparley(3) documents every PARLEY_API function of parley.h, and no other" {
    local funcs documented synopsis
    funcs=$(grep -E '^PARLEY_API ' "$REPO_DIR/sdk/include/parley.h" |
        grep -oE 'parley_[a-z0-9_]+ *\(' | tr -d ' (')
    [ "$(echo "$funcs" | grep -c .)" -ge 100 ] || fail "read only: $funcs"
    # Each is the tag (or one of the tags) of a paragraph of FUNCTIONS.
    documented=$(tags "$MAN_DIR/libparley.3" FUNCTIONS | grep -oE 'parley_[a-z0-9_]+\(\)' | tr -d '()')
    # And the SYNOPSIS gives each one's prototype.
    synopsis=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH/p' "$MAN_DIR/libparley.3" |
        grep -oE 'parley_[a-z0-9_]+\(' | tr -d '(')
    compare functions "$funcs" "$documented" "libparley.3 FUNCTIONS" &&
        compare functions "$funcs" "$synopsis" "libparley.3 SYNOPSIS"
}

@test "README.md links every man page" {
    local page bad=0
    for page in $(pages); do
        grep -qF "](man/$(basename "$page"))" "$REPO_DIR/README.md" || {
            echo "README.md has no link to man/$(basename "$page")" >&2
            bad=1
        }
    done
    [ $bad -eq 0 ]
}
