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

SERVER_LIBS := -lmicrohttpd -lwslay -lcjson -ljwt -lsqlite3 -lssl -lcrypto -lm
SDK_LIBS    := -lwslay -lcjson -lcurl -lssl -lcrypto
CLI_LIBS    := -lreadline

COMMON_SRC := $(wildcard common/*.c)
SERVER_SRC := $(wildcard server/*.c)
SDK_SRC    := $(wildcard sdk/src/*.c)
CLI_SRC    := $(wildcard cli/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

COMMON_OBJ := $(call obj,$(COMMON_SRC))
SERVER_OBJ := $(call obj,$(SERVER_SRC))
SDK_OBJ    := $(call obj,$(SDK_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))
# Server objects minus main, so unit tests can link the real modules.
SERVER_LIB_OBJ := $(filter-out $(BUILD)/obj/server/main.o,$(SERVER_OBJ))
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

SONAME := libparley.so.$(PARLEY_SOVERSION)

.PHONY: all deps run check check-unit check-bats clean
all: $(BUILD)/parleyd $(BUILD)/parley $(BUILD)/libparley.so $(BUILD)/libparley.a

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/server/%.o: CPPFLAGS += -Iserver
$(BUILD)/obj/sdk/%.o: CPPFLAGS += -Isdk/src -DPARLEY_BUILDING
$(BUILD)/obj/cli/%.o: CPPFLAGS += -Icli
$(BUILD)/obj/tests/%.o: CPPFLAGS += -Iserver -Isdk/src

$(BUILD)/parleyd: $(SERVER_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(SERVER_LIBS)

$(BUILD)/$(SONAME): $(SDK_OBJ) $(COMMON_OBJ) sdk/libparley.map
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=sdk/libparley.map \
		-o $@ $(SDK_OBJ) $(COMMON_OBJ) $(SDK_LIBS)

$(BUILD)/libparley.so: $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(BUILD)/libparley.a: $(SDK_OBJ) $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The CLI links the static SDK so the binary runs from build/ without an
# install or LD_LIBRARY_PATH.
$(BUILD)/parley: $(CLI_OBJ) $(BUILD)/libparley.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libparley.a $(SDK_LIBS) $(CLI_LIBS)

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(SERVER_LIB_OBJ) $(SDK_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(SERVER_LIB_OBJ) $(COMMON_OBJ) $(SERVER_LIBS) -lcurl

# --- the two commands --------------------------------------------------------

DEB_PKGS := build-essential clang pkg-config libmicrohttpd-dev libwslay-dev \
	libcjson-dev libjwt-dev libssl-dev libsqlite3-dev libreadline-dev \
	libcurl4-openssl-dev bats mandoc python3 python3-websockets sqlite3 jq curl \
	nginx-light openssl libclang-rt-14-dev chromium

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

check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@tests/run-all.sh $(BUILD)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# tests/sdk: small programs using only parley.h, linked like an app would.
SDKTEST_SRC := $(wildcard tests/sdk/*.c)
SDKTEST_BIN := $(patsubst tests/sdk/%.c,$(BUILD)/tests/sdk/%,$(SDKTEST_SRC))
$(BUILD)/tests/sdk/%: tests/sdk/%.c $(BUILD)/libparley.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libparley.a $(SDK_LIBS)
all: $(SDKTEST_BIN)
