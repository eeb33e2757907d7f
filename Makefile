# Parley: one entry point. `make` builds into build/, `make run` starts a
# server with a demo, `make check` runs every test suite.

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local

PARLEY_SOVERSION := 0
PARLEY_VERSION   := 0.1.0

WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -fPIC -fvisibility=hidden -pthread -MMD -MP
CPPFLAGS += -D_GNU_SOURCE -Icommon -Isdk/include
LDFLAGS  += -pthread

SERVER_LIBS := -lmicrohttpd -lcjson -ljwt -lsqlite3 -lpq -lhiredis -lssl -lcrypto -lm
SDK_LIBS    := -lwslay -lcjson -lcurl -lssl -lcrypto
CLI_LIBS    := -lreadline
CLIENT_LIBS := -lncursesw

COMMON_SRC := $(wildcard common/*.c)
SERVER_SRC := $(wildcard server/*.c)
SDK_SRC    := $(wildcard sdk/src/*.c)
CLI_SRC    := $(wildcard cli/*.c)
CLIENT_SRC := $(wildcard client/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

COMMON_OBJ := $(call obj,$(COMMON_SRC))
SERVER_OBJ := $(call obj,$(SERVER_SRC))
SDK_OBJ    := $(call obj,$(SDK_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))
CLIENT_OBJ := $(call obj,$(CLIENT_SRC))
# The client's modules that need neither a terminal nor a server: its unit
# tests (tests/unit/client/test_NAME.c -> test_client_NAME) link these.
CLIENT_PURE_OBJ := $(call obj,client/width.c client/wrap.c client/input.c \
	client/scrollback.c client/commands.c common/text.c)
# Server objects minus main, so unit tests can link the real modules.
SERVER_LIB_OBJ := $(filter-out $(BUILD)/obj/server/main.o,$(SERVER_OBJ))
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
CLIENT_TEST_SRC := $(wildcard tests/unit/client/test_*.c)
UNIT_BIN   += $(patsubst tests/unit/client/test_%.c,$(BUILD)/tests/test_client_%,$(CLIENT_TEST_SRC))

# The library file carries the full version; programs record the soname
# (bumped only when the ABI breaks, see libparley(3)), and the unversioned
# name is for the linker of programs built against it.
SONAME  := libparley.so.$(PARLEY_SOVERSION)
LIBFILE := libparley.so.$(PARLEY_VERSION)

.PHONY: all deps run check check-unit check-bats clean
all: $(BUILD)/parleyd $(BUILD)/parley $(BUILD)/parley-chat $(BUILD)/libparley.so \
	$(BUILD)/libparley.a

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/server/%.o: CPPFLAGS += -Iserver
$(BUILD)/obj/sdk/%.o: CPPFLAGS += -Isdk/src -DPARLEY_BUILDING
$(BUILD)/obj/cli/%.o: CPPFLAGS += -Icli
$(BUILD)/obj/client/%.o: CPPFLAGS += -Iclient
$(BUILD)/obj/tests/unit/client/%.o: CPPFLAGS += -Itests/unit -Iclient
$(BUILD)/obj/tests/%.o: CPPFLAGS += -Iserver -Isdk/src

$(BUILD)/parleyd: $(SERVER_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(SERVER_LIBS)

$(BUILD)/$(LIBFILE): $(SDK_OBJ) $(COMMON_OBJ) sdk/libparley.map
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=sdk/libparley.map \
		-o $@ $(SDK_OBJ) $(COMMON_OBJ) $(SDK_LIBS)

$(BUILD)/$(SONAME): $(BUILD)/$(LIBFILE)
	ln -sf $(LIBFILE) $@

$(BUILD)/libparley.so: $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(BUILD)/libparley.a: $(SDK_OBJ) $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The CLI links the static SDK so the binary runs from build/ without an
# install or LD_LIBRARY_PATH.
$(BUILD)/parley: $(CLI_OBJ) $(BUILD)/libparley.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libparley.a $(SDK_LIBS) $(CLI_LIBS)

# parley-chat links the static SDK too, and ncursesw.
$(BUILD)/parley-chat: $(CLIENT_OBJ) $(BUILD)/libparley.a
	$(CC) $(LDFLAGS) -o $@ $(CLIENT_OBJ) $(BUILD)/libparley.a $(SDK_LIBS) $(CLIENT_LIBS)

# The more specific pattern wins for test_client_NAME.
$(BUILD)/tests/test_client_%: $(BUILD)/obj/tests/unit/client/test_%.o $(CLIENT_PURE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(SERVER_LIB_OBJ) $(SDK_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(SERVER_LIB_OBJ) $(COMMON_OBJ) $(SERVER_LIBS) -lcurl

# --- the two commands --------------------------------------------------------

DEB_PKGS := build-essential clang pkg-config libmicrohttpd-dev libwslay-dev \
	libcjson-dev libjwt-dev libssl-dev libsqlite3-dev libreadline-dev \
	libcurl4-openssl-dev bats mandoc python3 python3-websockets sqlite3 jq curl \
	nginx-light openssl libclang-rt-14-dev chromium tmux libncurses-dev man-db \
	systemd parallel valgrind libpq-dev postgresql libhiredis-dev redis-server

deps:
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$(echo $$missing | sed 's/^/ /')"; \
		if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

run: deps all
	@mkdir -p var
	@scripts/demo.sh $(BUILD) var/parley.db http://127.0.0.1:8080 &
	$(BUILD)/parleyd --listen 127.0.0.1:8080 --db var/parley.db

# The build uses every core (as the sanitized build in run-all.sh does):
# done one file at a time it took about 4 of CI's minutes on 2 cores.
check: deps
	@$(MAKE) --no-print-directory -j$$(nproc) all $(UNIT_BIN)
	@tests/run-all.sh $(BUILD)

clean:
	rm -rf $(BUILD)

# --- install -----------------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=]: the three programs, the
# library (shared, with its soname and dev links, and static), its header
# and pkg-config file, the man pages, the systemd unit and the example
# config. Any directory below may be set on the command line. The config
# goes to SYSCONFDIR/parley only when none is there (an operator's file is
# never overwritten), with a copy in DOCDIR to compare with. make uninstall
# removes what install put, but keeps a config that differs from the
# example. Outside a DESTDIR, root's install refreshes the loader's cache
# (ldconfig), or programs would not find the new library in /usr/local/lib;
# LDCONFIG= turns that off.
BINDIR         ?= $(PREFIX)/bin
LIBDIR         ?= $(PREFIX)/lib
INCLUDEDIR     ?= $(PREFIX)/include
PKGCONFIGDIR   ?= $(LIBDIR)/pkgconfig
MANDIR         ?= $(PREFIX)/share/man
DOCDIR         ?= $(PREFIX)/share/doc/parley
SYSCONFDIR     ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
LDCONFIG       ?= ldconfig

PROGRAMS  := parleyd parley parley-chat
MAN_PAGES := $(wildcard man/*.[1-8])
# man/NAME.N -> MANDIR/manN/NAME.N
man_dest   = $(MANDIR)/man$(subst .,,$(suffix $(1)))/$(notdir $(1))
CONF      := $(SYSCONFDIR)/parley/parleyd.conf

# Everything install puts but the config, for uninstall.
INSTALLED := $(addprefix $(BINDIR)/,$(PROGRAMS)) \
	$(addprefix $(LIBDIR)/,$(LIBFILE) $(SONAME) libparley.so libparley.a) \
	$(INCLUDEDIR)/parley.h $(PKGCONFIGDIR)/libparley.pc \
	$(foreach p,$(MAN_PAGES),$(call man_dest,$(p))) \
	$(SYSTEMDUNITDIR)/parleyd.service $(DOCDIR)/parleyd.conf.example

# The two files naming installed paths, written for this install's
# directories (in BUILD, so the source tree stays clean).
SUBST := sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
	-e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@VERSION@|$(PARLEY_VERSION)|g'

.PHONY: install uninstall
install: all
	@mkdir -p $(BUILD)/install
	$(SUBST) sdk/libparley.pc.in >$(BUILD)/install/libparley.pc
	$(SUBST) dist/parleyd.service >$(BUILD)/install/parleyd.service
	install -d -m 0755 $(addprefix $(DESTDIR),$(BINDIR) $(LIBDIR) $(INCLUDEDIR) \
		$(PKGCONFIGDIR) $(DOCDIR) $(SYSCONFDIR)/parley $(SYSTEMDUNITDIR) \
		$(sort $(foreach p,$(MAN_PAGES),$(dir $(call man_dest,$(p))))))
	install -m 0755 $(addprefix $(BUILD)/,$(PROGRAMS)) $(DESTDIR)$(BINDIR)
	install -m 0644 $(BUILD)/$(LIBFILE) $(BUILD)/libparley.a $(DESTDIR)$(LIBDIR)
	ln -sf $(LIBFILE) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libparley.so
	install -m 0644 sdk/include/parley.h $(DESTDIR)$(INCLUDEDIR)
	install -m 0644 $(BUILD)/install/libparley.pc $(DESTDIR)$(PKGCONFIGDIR)
	for p in $(MAN_PAGES); do \
		install -m 0644 $$p $(DESTDIR)$(MANDIR)/man$${p##*.} || exit 1; \
	done
	install -m 0644 $(BUILD)/install/parleyd.service $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 0644 dist/parleyd.conf $(DESTDIR)$(DOCDIR)/parleyd.conf.example
	@if [ -e $(DESTDIR)$(CONF) ]; then \
		echo "kept $(DESTDIR)$(CONF) (the current example is $(DOCDIR)/parleyd.conf.example)"; \
	else \
		echo "install -m 0644 dist/parleyd.conf $(DESTDIR)$(CONF)"; \
		install -m 0644 dist/parleyd.conf $(DESTDIR)$(CONF); \
	fi
	$(if $(LDCONFIG),@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ]; then \
		echo $(LDCONFIG); $(LDCONFIG); \
	fi)

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@if cmp -s dist/parleyd.conf $(DESTDIR)$(CONF); then \
		echo "rm -f $(DESTDIR)$(CONF)"; rm -f $(DESTDIR)$(CONF); \
	elif [ -e $(DESTDIR)$(CONF) ]; then \
		echo "kept $(DESTDIR)$(CONF): it differs from the example"; \
	fi
	@for d in $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/parley; do \
		[ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d; \
	done

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# tests/sdk: small programs using only parley.h, linked like an app would.
SDKTEST_SRC := $(wildcard tests/sdk/*.c)
SDKTEST_BIN := $(patsubst tests/sdk/%.c,$(BUILD)/tests/sdk/%,$(SDKTEST_SRC))
$(BUILD)/tests/sdk/%: tests/sdk/%.c $(BUILD)/libparley.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libparley.a $(SDK_LIBS)
all: $(SDKTEST_BIN)

# --- fuzzing and sanitizers --------------------------------------------------
# tests/fuzz/NAME.c is one libFuzzer target, linked against the real modules
# into build/fuzz/fuzz-NAME; tests/fuzz/corpus/NAME/ holds its seeds (and a
# regression seed for every crash fixed), tests/fuzz/NAME.dict its tokens.
#   make fuzz          each target for FUZZ_SECONDS (new inputs go to
#                      build/fuzz/corpus/NAME, crashes to build/fuzz/artifacts)
#   make fuzz-replay   each target over its committed corpus only (TAP); the
#                      targets are linked against the ASan build's objects
#                      (replaying needs no coverage instrumentation, and
#                      make check builds those anyway)
#   make check-asan    everything built with ASan+UBSan into build/asan, then
#                      the unit and bats suites against it
# The sub-makes get their flags through the environment, so the CFLAGS +=
# above (warnings, -MMD) still apply. The envelope target keeps server
# state across inputs (rooms, messages), so most inputs allocate more than
# they free and libFuzzer's per-input leak check would rescan the whole
# heap every time (7x slower): it runs with -detect_leaks=0, and
# LeakSanitizer still checks everything at exit.
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build/fuzz
ASAN_BUILD   := build/asan
FUZZ_NAMES   := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/*.c))
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
FUZZ_LINK    := -fsanitize=fuzzer,address,undefined
ASAN_CFLAGS  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_ENV      := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: fuzz fuzz-build fuzz-bins fuzz-replay check-asan asan-build tests-bin
tests-bin: all $(UNIT_BIN)

fuzz-bins: $(patsubst %,$(BUILD)/fuzz-%,$(FUZZ_NAMES))

$(BUILD)/fuzz-%: tests/fuzz/%.c $(SERVER_LIB_OBJ) $(COMMON_OBJ)
	$(CC) $(CPPFLAGS) -Iserver $(CFLAGS) $(FUZZ_LINK) -o $@ $< $(SERVER_LIB_OBJ) $(COMMON_OBJ) $(SERVER_LIBS)

# The SDK target links the SDK's objects instead of the server's.
$(BUILD)/fuzz-sdk_frames: tests/fuzz/sdk_frames.c $(SDK_OBJ) $(COMMON_OBJ)
	$(CC) $(CPPFLAGS) -Isdk/src $(CFLAGS) $(FUZZ_LINK) -o $@ $< $(SDK_OBJ) $(COMMON_OBJ) $(SDK_LIBS)

fuzz-build:
	@CFLAGS='$(FUZZ_CFLAGS)' LDFLAGS='$(FUZZ_CFLAGS)' $(MAKE) --no-print-directory \
		BUILD=$(FUZZ_BUILD) CC=clang fuzz-bins

fuzz: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/artifacts
	@rc=0; for t in $(FUZZ_NAMES); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
		dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
		opts=; [ $$t = envelope ] && opts=-detect_leaks=0; \
		echo "# fuzz $$t for $(FUZZ_SECONDS) s"; \
		$(SAN_ENV) $(FUZZ_BUILD)/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-timeout=10 -rss_limit_mb=4096 $$dict $$opts -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- \
			$(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t >$(FUZZ_BUILD)/$$t.log 2>&1; \
		st=$$?; \
		execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/$$t.log); \
		rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $(FUZZ_BUILD)/$$t.log); \
		cov=$$(grep -oE 'cov: [0-9]+' $(FUZZ_BUILD)/$$t.log | tail -n 1); \
		if [ $$st -eq 0 ]; then \
			echo "$$t: $${execs:-?} executions, $${rate:-?}/s, $$cov, no crash"; \
		else \
			rc=1; grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' $(FUZZ_BUILD)/$$t.log | head -n 5; \
			echo "$$t: FAILED after $${execs:-?} executions (status $$st): see $(FUZZ_BUILD)/$$t.log and $(FUZZ_BUILD)/artifacts/"; \
		fi; \
	done; exit $$rc

# One TAP line per target: every committed seed runs once (no mutation).
fuzz-replay: asan-build
	@for t in $(FUZZ_NAMES); do \
		n=$$(ls tests/fuzz/corpus/$$t 2>/dev/null | wc -l); \
		if [ "$$n" -eq 0 ]; then echo "not ok - fuzz replay $$t: no corpus in tests/fuzz/corpus/$$t"; continue; fi; \
		if $(SAN_ENV) $(ASAN_BUILD)/fuzz-$$t tests/fuzz/corpus/$$t/* >$(ASAN_BUILD)/$$t.replay.log 2>&1; then \
			echo "ok - fuzz replay $$t ($$n inputs)"; \
		else \
			grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|Running: )' $(ASAN_BUILD)/$$t.replay.log | tail -n 8 | sed 's/^/# /'; \
			echo "not ok - fuzz replay $$t: see $(ASAN_BUILD)/$$t.replay.log"; \
		fi; \
	done

asan-build:
	@CFLAGS='$(ASAN_CFLAGS)' LDFLAGS='$(ASAN_CFLAGS)' $(MAKE) --no-print-directory \
		BUILD=$(ASAN_BUILD) CC=clang tests-bin fuzz-bins

# The unit and bats suites against the sanitized build: any report fails
# (run-all.sh builds it first, as one of its test lines).
check-asan: deps
	@tests/run-all.sh --asan $(ASAN_BUILD)

# --- bench -------------------------------------------------------------------
# make bench: parleyd against a Socket.IO 4.8 peer (bench/sio-peer), the same
# loadgen runs against both; the table goes to stdout and to
# $(BUILD)/bench/results.md (see bench/README.md). BENCH_QUICK=1 is a short
# smoke run. Packages come from make deps (valgrind for the instruction
# counts among them); the peer's node modules are the one download, npm ci
# from the committed lock, and only here.
LOADGEN_SRC    := $(wildcard bench/loadgen.c bench/loadgen/*.c)
LOADGEN_CFLAGS := -O2 -Wall -Wextra -Werror -std=gnu11

.PHONY: bench bench-peer
all: $(BUILD)/loadgen   # tests/bats/37-bench.bats drives parleyd with it (make check)
$(BUILD)/loadgen: $(LOADGEN_SRC)
	@mkdir -p $(dir $@)
	$(CC) $(LOADGEN_CFLAGS) $(LOADGEN_SRC) -o $@

bench-peer: deps
	@command -v npm >/dev/null || { echo 'make bench: the Socket.IO peer needs node and npm (Node.js 20)' >&2; exit 1; }
	cd bench/sio-peer && npm ci --no-audit --no-fund --loglevel=error

bench: deps bench-peer $(BUILD)/parleyd $(BUILD)/parley $(BUILD)/loadgen
	bench/run.sh $(BUILD)
