# tincan - plain, non-recursive GNU Makefile. Everything is built under $(BUILD).
#   make run     install missing Debian packages (as root), build the server and
#                the tincan CLI, serve ./data
#   make check   the same set-up, then every test (unit, ASan+UBSan, integration,
#                clients, Redis's stream test suite, fuzz time box)
#   make check-redis-suite  only Redis 7.0's own stream tests, against
#                redis-server and tincan (scripts/redis-suite.sh, docs/testing.md)
#   make bench   benchmarks against the peers, writes docs/benchmarks.md
#   make fuzz    unbounded fuzzing;  make asan  sanitizer build + tests
#   make crash   the kill -9 crash loops with hundreds of cycles (CYCLES=200)
#   make release optimised, hardened, stripped server and CLI with the
#                libraries Debian ships as .a linked in ($(BUILD)/release/)
#   make format / make lint

BUILD    ?= build
CC       ?= cc
PORT     ?= 6380
PKGS     := libuv libcrypto libzstd libcurl jansson libpcre2-8 libprotobuf-c
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -luv -lcrypto -lzstd -lcurl -ljansson -lpcre2-8 -lprotobuf-c)
WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Werror
CFLAGS   ?= -O2 -g
# src/ holds one folder per layer (core, store, bus, queue, lock, ring,
# archive, stream, contract); headers are included by name, so every folder is on the path.
SRC_DIRS := $(sort $(patsubst %/,%,$(dir $(wildcard src/*/*.c src/*/*.h))))
# Generated code (never committed) lives under $(BUILD)/gen: protoc-c's C for
# google/protobuf/descriptor.proto (Debian libprotobuf-dev ships the .proto),
# which src/contract/pbschema.c uses to read FileDescriptorSets. It is built
# with the same warnings as our own code (it is clean under them).
GEN       := $(BUILD)/gen
DESC_PROTO_DIR ?= /usr/include
PROTO_SRCS := $(GEN)/google/protobuf/descriptor.pb-c.c
GEN_HDRS  := $(PROTO_SRCS:.c=.h)
# The web console's files (web/) are compiled into the server: tools/webembed
# (our own, built first with the host compiler) writes them as C arrays into
# $(GEN)/webassets.c (src/ops/webassets.h declares them).
WEB_FILES := $(sort $(wildcard web/*))
WEB_GEN   := $(GEN)/webassets.c
WEBEMBED  := $(BUILD)/webembed
GEN_SRCS  := $(PROTO_SRCS) $(WEB_GEN)
INCLUDES := $(addprefix -I,$(SRC_DIRS)) -I$(GEN)
CFLAGS   += -std=c17 -D_GNU_SOURCE $(WARN) -MMD -MP $(INCLUDES) $(PKG_CFLAGS)
LDLIBS   := $(PKG_LIBS) -lhttp_parser -lpthread -lm
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined

SRCS     := $(wildcard src/*/*.c)
LIB_SRCS := $(filter-out src/core/main.c,$(SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)

GEN_OBJS      := $(GEN_SRCS:$(GEN)/%.c=$(BUILD)/obj/gen/%.o)
ASAN_GEN_OBJS := $(GEN_SRCS:$(GEN)/%.c=$(BUILD)/asan/gen/%.o)
OBJS      := $(SRCS:src/%.c=$(BUILD)/obj/%.o) $(GEN_OBJS)
LIB_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o) $(GEN_OBJS)
ASAN_OBJS := $(SRCS:src/%.c=$(BUILD)/asan/%.o) $(ASAN_GEN_OBJS)
ASAN_LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/asan/%.o) $(ASAN_GEN_OBJS)
UNITS     := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
ASAN_UNITS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/asan/unit/%)
FUZZERS   := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)

SERVER      := $(BUILD)/tincan-server
ASAN_SERVER := $(BUILD)/asan/tincan-server

# The tincan CLI (cli/): its own main plus the server's library objects, which
# come from an archive so that only what it calls is linked. It reads Parquet
# files other engines wrote (snappy, gzip) and talks to a server (hiredis).
CLI_SRCS      := $(wildcard cli/*.c)
CLI_OBJS      := $(CLI_SRCS:cli/%.c=$(BUILD)/cli/%.o)
ASAN_CLI_OBJS := $(CLI_SRCS:cli/%.c=$(BUILD)/asan/cli/%.o)
CLI_LIB_OBJS  := $(filter-out $(BUILD)/cli/main.o,$(CLI_OBJS))
ASAN_CLI_LIB_OBJS := $(filter-out $(BUILD)/asan/cli/main.o,$(ASAN_CLI_OBJS))
CLI_LIBS      := -lhiredis -lsnappy -lz
LIB_A         := $(BUILD)/libtincan.a
ASAN_LIB_A    := $(BUILD)/asan/libtincan.a
CLI           := $(BUILD)/tincan
ASAN_CLI      := $(BUILD)/asan/tincan

.PHONY: all server asan-server cli asan-cli run check check-unit check-integration \
        check-clients check-fuzz check-redis-suite unit asan fuzz crash bench bench-tools tools deps format \
        lint release \
        clean

all: server cli
server: $(SERVER)
asan-server: $(ASAN_SERVER)
cli: $(CLI)
asan-cli: $(ASAN_CLI)

$(SERVER): $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(ASAN_SERVER): $(ASAN_OBJS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

$(LIB_A): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(ASAN_LIB_A): $(ASAN_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(CLI): $(CLI_OBJS) $(LIB_A)
	$(CC) $(CFLAGS) -o $@ $^ $(CLI_LIBS) $(LDLIBS)

$(ASAN_CLI): $(ASAN_CLI_OBJS) $(ASAN_LIB_A)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(CLI_LIBS) $(LDLIBS)

$(BUILD)/cli/%.o: cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icli -c -o $@ $<

$(BUILD)/asan/cli/%.o: cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -Icli -c -o $@ $<

# Every object waits (order-only) for the generated headers: on a fresh clone
# there is no .d file yet to say which source includes them.
$(BUILD)/obj/%.o: src/%.c | $(GEN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/asan/%.o: src/%.c | $(GEN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c -o $@ $<

# protoc-c writes the .c and the .h in one run; the grouped target (&:) tells
# make so, and the .proto's path makes both rebuild if protobuf is upgraded.
$(PROTO_SRCS) $(GEN_HDRS) &: $(DESC_PROTO_DIR)/google/protobuf/descriptor.proto
	@mkdir -p $(GEN)
	protoc-c -I$(DESC_PROTO_DIR) --c_out=$(GEN) google/protobuf/descriptor.proto

$(WEBEMBED): tools/webembed.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

$(WEB_GEN): $(WEBEMBED) $(WEB_FILES)
	@mkdir -p $(GEN)
	$(WEBEMBED) $@ $(WEB_FILES)

$(BUILD)/obj/gen/%.o: $(GEN)/%.c $(GEN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/asan/gen/%.o: $(GEN)/%.c $(GEN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c -o $@ $<

# Unit tests link the server's objects and the CLI's (all but its main).
$(BUILD)/unit/%: tests/unit/%.c $(LIB_OBJS) $(CLI_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -Icli -o $@ $< $(LIB_OBJS) $(CLI_LIB_OBJS) \
	    $(CLI_LIBS) $(LDLIBS)

$(BUILD)/asan/unit/%: tests/unit/%.c $(ASAN_LIB_OBJS) $(ASAN_CLI_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -Itests/unit -Icli -o $@ $< $(ASAN_LIB_OBJS) \
	    $(ASAN_CLI_LIB_OBJS) $(CLI_LIBS) $(LDLIBS)

# libFuzzer targets need clang; they link the library sources (and the
# generated ones) directly.
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(GEN_SRCS) $(GEN_HDRS)
	@mkdir -p $(dir $@)
	clang -std=c17 -D_GNU_SOURCE -g -O1 $(INCLUDES) $(PKG_CFLAGS) \
	    -fsanitize=fuzzer,address,undefined -o $@ $< $(LIB_SRCS) $(GEN_SRCS) \
	    $(LDLIBS)

# ---- make release -------------------------------------------------------
# The binaries to ship: the same sources, no sanitizers, hardening flags, each
# stripped with its debug info beside it (tincan-server.debug, found by gdb
# through .gnu_debuglink). Each -lNAME of the link becomes Debian's static
# archive (libNAME.a, or libNAME_a.a as libuv1-dev names it) unless NAME is in
# REL_DYNAMIC: libcurl has no usable static closure on Debian (GSSAPI, LDAP,
# RTMP, SSH2, PSL and nghttp2 ship no .a), and the libraries libcurl.so loads
# itself (OpenSSL, zlib, zstd) stay shared too, so that the process holds one
# copy of each; glibc stays shared (getaddrinfo's NSS). docs/operations.md,
# "Packaging", lists the result; scripts/release-rootfs.sh collects a root
# filesystem for it.
REL          := $(BUILD)/release
REL_CFLAGS   := $(CFLAGS) -fstack-protector-strong -D_FORTIFY_SOURCE=2
REL_LDFLAGS  := -Wl,-z,relro,-z,now -Wl,--as-needed -static-libgcc
REL_DYNAMIC  := curl ssl crypto z zstd pthread dl rt m c
# libsnappy.a is C++: its runtime comes from libstdc++.a then.
REL_CLI_LIBS := $(CLI_LIBS) -lstdc++
REL_OBJS     := $(SRCS:src/%.c=$(REL)/obj/%.o) $(GEN_SRCS:$(GEN)/%.c=$(REL)/obj/gen/%.o)
REL_LIB_OBJS := $(filter-out $(REL)/obj/core/main.o,$(REL_OBJS))
REL_CLI_OBJS := $(CLI_SRCS:cli/%.c=$(REL)/cli/%.o)
REL_LIB_A    := $(REL)/libtincan.a
REL_SERVER   := $(REL)/tincan-server
REL_CLI      := $(REL)/tincan

# $(call rel_archive,FILE): the compiler's path of FILE if it has one, else empty.
rel_archive = $(filter /%,$(shell $(CC) -print-file-name=$(1)))
# $(call rel_lib,NAME): how the release links -lNAME.
rel_lib = $(if $(filter $(REL_DYNAMIC),$(1)),-l$(1),$(or \
    $(call rel_archive,lib$(1).a),$(call rel_archive,lib$(1)_a.a),-l$(1)))
rel_libs = $(foreach w,$(1),$(if $(filter -l%,$(w)),$(call rel_lib,$(w:-l%=%)),$(w)))

release: $(REL_SERVER) $(REL_CLI)

# Links $@ from the prerequisites and libraries $(1), then splits the debug info.
define rel_link
	$(CC) $(REL_CFLAGS) $(REL_LDFLAGS) -o $@.full $^ $(call rel_libs,$(1))
	objcopy --only-keep-debug $@.full $@.debug
	objcopy --strip-all --add-gnu-debuglink=$@.debug $@.full $@
	@rm -f $@.full
endef

$(REL_SERVER): $(REL_OBJS)
	$(call rel_link,$(LDLIBS))

$(REL_CLI): $(REL_CLI_OBJS) $(REL_LIB_A)
	$(call rel_link,$(REL_CLI_LIBS) $(LDLIBS))

$(REL_LIB_A): $(REL_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(REL)/obj/%.o: src/%.c | $(GEN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -c -o $@ $<

$(REL)/obj/gen/%.o: $(GEN)/%.c $(GEN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -c -o $@ $<

$(REL)/cli/%.o: cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -Icli -c -o $@ $<

deps:
	@sh scripts/deps.sh

# make run needs only the build packages; check and bench need them all.
run:
	@sh scripts/deps.sh build
	@$(MAKE) --no-print-directory server cli
	@mkdir -p data
	exec $(SERVER) --bind 127.0.0.1 --port $(PORT) --dir ./data

unit: $(UNITS) $(ASAN_UNITS)
	@sh scripts/run-units.sh $(UNITS) $(ASAN_UNITS)

check: deps
	@$(MAKE) --no-print-directory server asan-server cli asan-cli $(UNITS) \
	    $(ASAN_UNITS) $(FUZZERS) bench-tools tools
	@BUILD=$(BUILD) sh scripts/check.sh

# Redis's stream tests (downloads the Debian source of the installed
# redis-server once, into $(BUILD)/redis-suite; the report is there too).
check-redis-suite: deps
	@$(MAKE) --no-print-directory server
	@BUILD=$(BUILD) sh scripts/redis-suite.sh

asan: deps
	@$(MAKE) --no-print-directory asan-server asan-cli $(ASAN_UNITS)
	@BUILD=$(BUILD) TINCAN_ONLY=asan sh scripts/check.sh

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZERS)
	@BUILD=$(BUILD) FUZZ_SECONDS=0 sh scripts/fuzz.sh

CYCLES ?= 200
crash: deps
	@$(MAKE) --no-print-directory server
	TINCAN_BIN=$(abspath $(SERVER)) TINCAN_CRASH_CYCLES=$(CYCLES) \
	    TINCAN_BUS_CRASH_ROUNDS=$(CYCLES) /usr/bin/python3 -m pytest -q \
	    tests/integration/test_store_crash.py tests/integration/test_bus_crash.py

# Test tools (tests/tools/*.c): small programs the integration tests run, each
# linked with the server's library objects.
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOLS     := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)
tools: $(TOOLS)

$(BUILD)/tools/%: tests/tools/%.c $(LIB_A) | $(GEN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

# The benchmark load drivers (C, so the rows measure servers, not Python).
BENCH_TOOLS := $(BUILD)/bench/loadgen $(BUILD)/bench/amqpload $(BUILD)/bench/rpcload
bench-tools: $(BENCH_TOOLS)

$(BUILD)/bench/loadgen: bench/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lhiredis -lpthread

# RabbitMQ's side of the bus row, through rabbitmq-c (Debian librabbitmq-dev).
$(BUILD)/bench/amqpload: bench/amqpload.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lrabbitmq -lpthread

# The RPC rows' round trips: tincan and NATS in raw RESP / NATS text,
# RabbitMQ's direct reply-to through rabbitmq-c.
$(BUILD)/bench/rpcload: bench/rpcload.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lrabbitmq -lpthread

bench: deps
	@$(MAKE) --no-print-directory server cli bench-tools
	@BUILD=$(BUILD) /usr/bin/python3 bench/bench.py

format:
	clang-format -i src/*/*.c src/*/*.h cli/*.c cli/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c

lint:
	cppcheck --quiet --enable=warning,performance,portability --std=c11 \
	    --error-exitcode=1 $(INCLUDES) src

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(ASAN_CLI_OBJS:.o=.d) \
    $(REL_OBJS:.o=.d) $(REL_CLI_OBJS:.o=.d)
