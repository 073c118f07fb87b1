# raftmq: GNU Make build. Everything it writes goes under $(BUILD)/.
#
#   make            libraries and programs (optimised, -O2 -g)      -> build/bin, build/lib
#   make test       installs missing packages, builds with ASan+UBSan, runs every test
#   make sim        a long Raft simulator campaign: make sim SEEDS=1000000
#   make deps       installs missing Debian packages (root), or prints the command
#   make fuzz       builds the libFuzzer targets (clang)            -> build/fuzz
#   make fuzz-run   runs each fuzz target for FUZZ_SECONDS (default 60)
#   make bench      the standard client benchmarks: raftmq-bench against a 3-broker cluster
#                   (bench/standard.sh; BENCH_ARGS="--quick" or "--runs 3"; docs/benchmarks.md)
#   make bench-micro  builds and runs the micro benchmarks (codec, Raft core and elections, storage,
#                   the bare ZeroMQ round trip)
#   make bench-cluster  a 3-broker cluster's throughput, latency, failover, idle cost
#                   (BENCH_ARGS=--quick for a smoke run; docs/benchmarks.md)
#   make run        runs what exists of the broker (see README)
#   make install    PREFIX=/usr/local: programs, libraftmq (static, shared, raftmq.pc), headers
#   make clean      removes build/

.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD ?= build
PREFIX ?= /usr/local
CC ?= cc
FUZZ_CC ?= clang
# Simulator seeds/events per seed inside `make test`; `make sim SEEDS=...` campaigns.
SIM_SEEDS ?= 10000
SIM_STEPS ?= 10000
SEEDS ?= 100000
# Seconds each fuzz target runs inside `make test` (smoke) and `make fuzz-run` (campaign).
FUZZ_SMOKE_SECONDS ?= 4
FUZZ_SECONDS ?= 60

PKGS := libzmq liblz4 msgpack
TEST_PKGS := check

# Evaluated once per make invocation; the `test`, `run` and `all` entry points
# re-invoke make after .ci/deps has run so that these see installed packages.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wundef -Wvla
COMMON_CFLAGS := -std=gnu11 -g $(WARNINGS) -I. -MMD -MP \
                 -DRAFTMQ_SOURCE_DIR='"$(CURDIR)"'
RELEASE_CFLAGS := $(COMMON_CFLAGS) -O2 $(PKG_CFLAGS) $(CFLAGS)
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TEST_CFLAGS := $(COMMON_CFLAGS) -O1 $(SANITIZE) $(PKG_CFLAGS) $(CHECK_CFLAGS) $(CFLAGS)
FUZZ_CFLAGS := $(COMMON_CFLAGS) -O1 -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=all $(PKG_CFLAGS)

# Leak detection on; any sanitizer report fails the run.
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1

# Short progress lines by default; `make V=1` prints every command.
ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @echo "  $(1) $(2)"
endif

REL := $(BUILD)/release
TST := $(BUILD)/test
BIN := $(BUILD)/bin
LIB := $(BUILD)/lib

# ---- sources ----------------------------------------------------------------

WIRE_SRC := $(wildcard wire/*.c)
RAFT_SRC := $(wildcard raft/*.c)
STORAGE_SRC := $(wildcard broker/storage/*.c)
# The broker's modules (everything in broker/ but main.c) form a library, so
# unit tests link them; broker/main.c is the raftmq-broker program.
BROKER_SRC := $(filter-out broker/main.c,$(wildcard broker/*.c))
SIM_SRC := $(wildcard tests/sim/*.c)
UNIT_TEST_SRC := $(wildcard tests/unit/*.c)
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
# What the fuzz targets are linked with: the protocol, and the broker's two
# decoders of peer bytes (the peer codec, with the Raft core's configuration
# decoding, and the metadata state machine).
FUZZ_SRC := $(WIRE_SRC) $(RAFT_SRC) broker/peer_codec.c broker/metadata.c

# libraftmq, the client library (wire/raftmq.h): the protocol and connection
# core, the producer and the consumer. The shared library exports only the
# raftmq_* API (wire/libraftmq.map); its objects are built position-independent.
CLIENT_SRC := $(WIRE_SRC) $(wildcard producers/producer.c consumers/consumer.c consumers/group.c)
CLIENT_LIB := $(LIB)/libraftmq.a
CLIENT_LIB_TEST := $(TST)/lib/libraftmq.a
CLIENT_SO_VERSION := 0.1.0
CLIENT_SO := $(LIB)/libraftmq.so.$(CLIENT_SO_VERSION)
PIC := $(BUILD)/pic

WIRE_LIB := $(LIB)/libraftmq_wire.a
WIRE_LIB_TEST := $(TST)/lib/libraftmq_wire.a
RAFT_LIB := $(LIB)/libraftmq_raft.a
RAFT_LIB_TEST := $(TST)/lib/libraftmq_raft.a
STORAGE_LIB := $(LIB)/libraftmq_storage.a
STORAGE_LIB_TEST := $(TST)/lib/libraftmq_storage.a
BROKER_LIB := $(LIB)/libraftmq_broker.a
BROKER_LIB_TEST := $(TST)/lib/libraftmq_broker.a
LIBS := $(WIRE_LIB) $(RAFT_LIB) $(STORAGE_LIB) $(BROKER_LIB) $(CLIENT_LIB) $(CLIENT_SO)
# Everything the broker program links, in link order.
BROKER_LINK := $(BROKER_LIB) $(STORAGE_LIB) $(RAFT_LIB) $(WIRE_LIB)
BROKER_LINK_TEST := $(BROKER_LIB_TEST) $(STORAGE_LIB_TEST) $(RAFT_LIB_TEST) $(WIRE_LIB_TEST)
PROGRAMS := $(BIN)/raftmq-broker $(BIN)/raftmq-codec-bench $(BIN)/raftmq-wire-vectors $(BIN)/raftmq-sim \
            $(BIN)/raftmq-raft-bench $(BIN)/raftmq-storage-bench $(BIN)/raftmq-transport-bench \
            $(BIN)/raftmq-admin $(BIN)/raftmq-produce $(BIN)/raftmq-consume
# raftmq-wire-vectors is a development tool (it rewrites tests/vectors/): not installed.
INSTALL_PROGRAMS := $(BIN)/raftmq-broker $(BIN)/raftmq-codec-bench $(BIN)/raftmq-raft-bench $(BIN)/raftmq-storage-bench \
                    $(BIN)/raftmq-admin $(BIN)/raftmq-produce $(BIN)/raftmq-consume
UNIT_TESTS := $(TST)/bin/raftmq-unit-tests
# The broker built with the sanitizers: the cluster tests run it.
BROKER_TEST := $(TST)/bin/raftmq-broker
FUZZERS := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

# ---- cluster test client and multi-process tests (tests/cluster/) --------------
# raftmq-testclient drives real brokers in tests/cluster/*.sh; records.c (its
# deterministic records and ack-file format) is unit-tested too. A test tool:
# built by `make build`, not installed.
CLUSTER_COMMON_SRC := tests/cluster/records.c
PROGRAMS += $(BIN)/raftmq-testclient

$(BIN)/raftmq-testclient: $(REL)/obj/tests/cluster/testclient.o \
                          $(CLUSTER_COMMON_SRC:%.c=$(REL)/obj/%.o) $(WIRE_LIB)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) $^ $(PKG_LIBS) -o $@

$(UNIT_TESTS): $(CLUSTER_COMMON_SRC:%.c=$(TST)/obj/%.o)

# Runs tests/cluster/run.sh against the sanitized broker (RAFTMQ_BROKER).
.PHONY: cluster-test
cluster-test: $(BIN)/raftmq-testclient $(TST)/bin/raftmq-broker
	@BUILD=$(BUILD) RAFTMQ_BROKER=$(TST)/bin/raftmq-broker RAFTMQ_TESTCLIENT=$(BIN)/raftmq-testclient \
	    tests/cluster/run.sh
# ---- end of the cluster test block ---------------------------------------------

# The fault-injection suite's history checker (tests/faults/checker.c) is pure
# C with no I/O: the unit-test runner links it for its tests (test_checker.c).
$(UNIT_TESTS): $(TST)/obj/tests/faults/checker.o

# ---- entry points -----------------------------------------------------------

.PHONY: all build deps deps-check test test-build test-run fuzz fuzz-run fuzz-smoke \
        bench bench-micro run install clean raft-purity sim

all: deps-check
	@$(MAKE) --no-print-directory build

build: $(LIBS) $(PROGRAMS)

deps:
	@.ci/deps

deps-check:
	@.ci/deps --check || { echo "run 'make deps' (as root) first" >&2; exit 1; }

# The README's test command: set-up, build and every test, from a fresh clone.
test:
	@.ci/deps
	@$(MAKE) --no-print-directory test-run

test-build: raft-purity $(UNIT_TESTS) $(FUZZERS) build $(BIN)/raftmq-sim-bug $(BROKER_TEST) \
            $(BIN)/raftmq-testclient

# The last line is a plain "tests: N passed, 0 failed" summary (unit checks,
# simulator runs, fuzz targets, cluster tests, the install check, the fault campaign and its
# self-test) for CI; any failure stops
# the run with a non-zero status.
test-run: test-build
	@echo "== unit tests (ASan+UBSan+LSan): $(UNIT_TESTS) =="
	@set -o pipefail; $(UNIT_TESTS) 2>&1 | tee $(TST)/unit-tests.log
	@echo "== Raft simulator: $(SIM_SEEDS) seeds x $(SIM_STEPS) events =="
	@$(BIN)/raftmq-sim --seeds $(SIM_SEEDS) --steps $(SIM_STEPS)
	@echo "== Raft simulator must catch a planted double-vote bug =="
	@tests/sim/expect_violation.sh $(BIN)/raftmq-sim-bug
	@echo "== fuzz smoke: $(FUZZ_SMOKE_SECONDS)s per target =="
	@$(MAKE) --no-print-directory fuzz-smoke
	@echo "== cluster tests: real brokers (ASan+UBSan) on 127.0.0.1 =="
	@set -o pipefail; $(MAKE) --no-print-directory cluster-test 2>&1 | tee $(TST)/cluster-tests.log
	@echo "== libraftmq installed into a scratch prefix, an application built against it =="
	@BUILD=$(BUILD) tests/install/check.sh
	@echo "== fault injection: $(FAULTS_SMOKE_SECONDS) s of mixed faults on real brokers (ASan+UBSan) =="
	@$(MAKE) --no-print-directory faults-smoke
	@echo "== fault injection self-test: a broker that acknowledges before commit must be caught =="
	@$(MAKE) --no-print-directory faults-selftest
	@checks=$$(sed -n 's/.*Checks: \([0-9]*\),.*/\1/p' $(TST)/unit-tests.log | tail -n 1); \
	    cluster=$$(sed -n 's/^cluster tests: \([0-9]*\) passed.*/\1/p' $(TST)/cluster-tests.log); \
	    echo "tests: $$(( checks + 6 + $(words $(FUZZ_TARGETS)) + cluster )) passed, 0 failed"

fuzz: $(FUZZERS)

# raft/ is a pure state machine: libc and its own headers only (DESIGN.md, "Raft").
RAFT_ALLOWED_INCLUDES := assert.h inttypes.h limits.h stdbool.h stddef.h stdint.h stdio.h \
                         stdlib.h string.h
raft-purity:
	@bad=$$(grep -Hn '^[[:space:]]*#[[:space:]]*include' raft/*.[ch] | \
	    grep -vE '#[[:space:]]*include[[:space:]]*"[a-z_]+\.h"' | \
	    grep -vE '#[[:space:]]*include[[:space:]]*<($(subst $(eval) ,|,$(subst .,\.,$(RAFT_ALLOWED_INCLUDES))))>'); \
	if [ -n "$$bad" ]; then \
	    echo "raft/ must include only libc and its own headers; found:" >&2; \
	    echo "$$bad" >&2; exit 1; \
	fi; \
	echo "  raft/ includes only: $(RAFT_ALLOWED_INCLUDES) and its own headers"
	@for f in $$(grep -ho '#[[:space:]]*include[[:space:]]*"[a-z_]*\.h"' raft/*.[ch] | \
	        sed 's/.*"\(.*\)"/\1/' | sort -u); do \
	    [ -f raft/$$f ] || { echo "raft/ includes \"$$f\" which is not in raft/" >&2; exit 1; }; \
	done

# A long simulator campaign: make sim SEEDS=1000000 [SIM_STEPS=10000]
sim: $(BIN)/raftmq-sim
	$(BIN)/raftmq-sim --seeds $(SEEDS) --steps $(SIM_STEPS)

# Each target starts from its committed seed corpus; new inputs go to a scratch
# directory under build/, so the committed corpus only changes on purpose.
define run_fuzzer
	@mkdir -p $(BUILD)/fuzz/work/$(1)
	@echo "-- fuzz_$(1): $(2)s"
	@if $(BUILD)/fuzz/fuzz_$(1) -max_total_time=$(2) -print_final_stats=1 -max_len=65536 \
	        -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/work/$(1) tests/fuzz/corpus/$(1) \
	        > $(BUILD)/fuzz/$(1).log 2>&1; then \
	    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|INFO: seed corpus|Done)' \
	        $(BUILD)/fuzz/$(1).log; \
	else \
	    tail -n 80 $(BUILD)/fuzz/$(1).log; \
	    echo "fuzz_$(1) FAILED: full log $(BUILD)/fuzz/$(1).log, reproducer in $(BUILD)/fuzz/"; \
	    exit 1; \
	fi

endef

fuzz-smoke: $(FUZZERS)
	$(foreach t,$(FUZZ_TARGETS),$(call run_fuzzer,$(t),$(FUZZ_SMOKE_SECONDS)))

fuzz-run: $(FUZZERS)
	$(foreach t,$(FUZZ_TARGETS),$(call run_fuzzer,$(t),$(FUZZ_SECONDS)))

bench-micro: all
	$(BIN)/raftmq-codec-bench
	$(BIN)/raftmq-raft-bench
	$(BIN)/raftmq-sim --election-trials 1000
	$(BIN)/raftmq-storage-bench
	$(BIN)/raftmq-transport-bench

# The standard client benchmarks (bench/standard.sh, docs/benchmarks.md): raftmq-bench
# against 3 release brokers (fsync=always) on free 127.0.0.1 ports, stopped by PID
# at the end. BENCH_ARGS="--quick" for a smoke run, "--runs 3" for medians.
bench: build $(BIN)/raftmq-bench
	BUILD=$(BUILD) bench/standard.sh $(BENCH_ARGS)

# The replicated broker's figures (docs/benchmarks.md): 3 release brokers on
# free 127.0.0.1 ports, stopped by PID at the end. About 10 minutes; --quick: 1.
.PHONY: bench-cluster
bench-cluster: build
	BUILD=$(BUILD) bench/cluster_bench.sh $(BENCH_ARGS)

# A 3-broker cluster on 127.0.0.1 in the foreground (README); Ctrl-C stops it.
run:
	@.ci/deps
	@$(MAKE) --no-print-directory build
	@broker/scripts/run-local-cluster.sh

# libraftmq for applications: raftmq.h, the static and shared library, and
# raftmq.pc (pkg-config; --static adds the private dependencies). The wire
# and Raft libraries and their headers are installed for in-tree tools.
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/include/raftmq/wire $(DESTDIR)$(PREFIX)/include/raftmq/raft
	install -m 755 $(INSTALL_PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(CLIENT_LIB) $(WIRE_LIB) $(RAFT_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(CLIENT_SO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libraftmq.so.$(CLIENT_SO_VERSION) $(DESTDIR)$(PREFIX)/lib/libraftmq.so.0
	ln -sf libraftmq.so.$(CLIENT_SO_VERSION) $(DESTDIR)$(PREFIX)/lib/libraftmq.so
	install -m 644 wire/raftmq.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(CLIENT_SO_VERSION)|' wire/raftmq.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/raftmq.pc
	install -m 644 wire/*.h $(DESTDIR)$(PREFIX)/include/raftmq/wire/
	install -m 644 raft/raft.h $(DESTDIR)$(PREFIX)/include/raftmq/raft/

clean:
	rm -rf $(BUILD)

# ---- rules ------------------------------------------------------------------

$(REL)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call quiet,CC,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) -c $< -o $@

$(TST)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call quiet,CC,$@)
	$(Q)$(CC) $(TEST_CFLAGS) -c $< -o $@

$(PIC)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call quiet,CC,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) -fPIC -fno-semantic-interposition -c $< -o $@

$(CLIENT_LIB): $(CLIENT_SRC:%.c=$(REL)/obj/%.o)
$(CLIENT_LIB_TEST): $(CLIENT_SRC:%.c=$(TST)/obj/%.o)
$(CLIENT_SO): $(CLIENT_SRC:%.c=$(PIC)/obj/%.o) wire/libraftmq.map
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) -shared -Wl,-soname,libraftmq.so.0 \
	    -Wl,--version-script=wire/libraftmq.map $(filter %.o,$^) $(PKG_LIBS) -pthread -o $@
	$(Q)ln -sf $(@F) $(LIB)/libraftmq.so.0 && ln -sf $(@F) $(LIB)/libraftmq.so

$(WIRE_LIB): $(WIRE_SRC:%.c=$(REL)/obj/%.o)
$(WIRE_LIB_TEST): $(WIRE_SRC:%.c=$(TST)/obj/%.o)
$(RAFT_LIB): $(RAFT_SRC:%.c=$(REL)/obj/%.o)
$(RAFT_LIB_TEST): $(RAFT_SRC:%.c=$(TST)/obj/%.o)
$(STORAGE_LIB): $(STORAGE_SRC:%.c=$(REL)/obj/%.o)
$(STORAGE_LIB_TEST): $(STORAGE_SRC:%.c=$(TST)/obj/%.o)
$(BROKER_LIB): $(BROKER_SRC:%.c=$(REL)/obj/%.o)
$(BROKER_LIB_TEST): $(BROKER_SRC:%.c=$(TST)/obj/%.o)

# Two separate pattern rules: one rule with two target patterns would be a
# grouped target, building both variants whenever either is needed.
define archive
	@mkdir -p $(@D)
	$(call quiet,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^
endef
$(LIB)/%.a:
	$(archive)
$(TST)/lib/%.a:
	$(archive)

$(BIN)/raftmq-broker: $(REL)/obj/broker/main.o $(BROKER_LINK)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) $^ $(PKG_LIBS) -lpthread -o $@

$(BROKER_TEST): $(TST)/obj/broker/main.o $(BROKER_LINK_TEST)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(TEST_CFLAGS) $^ $(PKG_LIBS) -lpthread -o $@

$(BIN)/raftmq-codec-bench: $(REL)/obj/bench/codec_bench.o $(WIRE_LIB)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) $^ $(PKG_LIBS) -o $@

$(BIN)/raftmq-wire-vectors: $(REL)/obj/tests/vectors/wire_vectors_main.o \
                            $(REL)/obj/tests/vectors/examples.o $(WIRE_LIB)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) $^ $(PKG_LIBS) -o $@

$(UNIT_TESTS): $(UNIT_TEST_SRC:%.c=$(TST)/obj/%.o) $(TST)/obj/tests/vectors/examples.o \
               $(BROKER_LINK_TEST)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(TEST_CFLAGS) $^ $(PKG_LIBS) $(CHECK_LIBS) -lpthread -o $@

# The simulator is built optimised (the Raft core's assertions are on in every
# build): `make test` runs thousands of seeds and must stay fast.
$(BIN)/raftmq-sim: $(SIM_SRC:%.c=$(REL)/obj/%.o) $(RAFT_LIB)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) $^ -o $@

# The same simulator over a core built with a planted bug (a node may vote
# twice in one term): `make test` requires the checkers to report it.
$(REL)/bug/raft/%.o: raft/%.c
	@mkdir -p $(@D)
	$(call quiet,CC,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) -DRAFT_PLANTED_BUG_DOUBLE_VOTE -c $< -o $@

$(BIN)/raftmq-sim-bug: $(SIM_SRC:%.c=$(REL)/obj/%.o) $(RAFT_SRC:%.c=$(REL)/bug/%.o)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) $^ -o $@

$(BIN)/raftmq-raft-bench: $(REL)/obj/bench/raft_bench.o $(RAFT_LIB)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) $^ -o $@

$(BIN)/raftmq-transport-bench: $(REL)/obj/bench/transport_bench.o
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) $^ $(PKG_LIBS) -lpthread -o $@

$(BIN)/raftmq-storage-bench: $(REL)/obj/bench/storage_bench.o $(STORAGE_LIB) $(WIRE_LIB)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) $^ $(PKG_LIBS) -lpthread -o $@

# ---- cluster test: raftmq-badinput (tests/cluster/test_bad_input.sh) --------
# Sends a running broker malformed and refused requests over ZeroMQ and checks
# each answer. A test tool, built with `make build` but not installed.
build: $(BIN)/raftmq-badinput

$(BIN)/raftmq-badinput: $(REL)/obj/tests/cluster/badinput.o $(WIRE_LIB)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) $^ $(PKG_LIBS) -o $@
# ---- end raftmq-badinput ------------------------------------------------------

# ---- raftmq-bench (bench/raftmq_bench.c; bench/standard.sh is `make bench`) ----
# The client library's benchmark tool: produce, consume and end-to-end runs
# against a cluster, latency in bench/histogram.c (unit-tested, so the test
# runner links the sanitized histogram too). Release build only; installed.
build: $(BIN)/raftmq-bench
INSTALL_PROGRAMS += $(BIN)/raftmq-bench

$(BIN)/raftmq-bench: $(REL)/obj/bench/raftmq_bench.o $(REL)/obj/bench/group_bench.o \
                     $(REL)/obj/bench/histogram.o $(CLIENT_LIB)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(RELEASE_CFLAGS) $^ $(PKG_LIBS) -lpthread -lm -o $@

$(UNIT_TESTS): $(TST)/obj/bench/histogram.o
# ---- end raftmq-bench -----------------------------------------------------------

# ---- command-line tools: raftmq-admin, raftmq-produce, raftmq-consume ----------
# (docs/tools.md; tests/cluster/test_tools.sh). They link libraftmq (which
# holds the whole wire library, wire/tool.c included). The $(TST)/bin variants are the same tools with
# the sanitizers, for running test_tools.sh with TOOLS_BIN=$(TST)/bin.
TOOLS_TEST := $(TST)/bin/raftmq-admin $(TST)/bin/raftmq-produce $(TST)/bin/raftmq-consume

define link_tool
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(1) $^ $(PKG_LIBS) -pthread -o $@
endef
$(BIN)/raftmq-admin: $(REL)/obj/broker/tools/admin.o $(CLIENT_LIB)
	$(call link_tool,$(RELEASE_CFLAGS))
$(BIN)/raftmq-produce: $(REL)/obj/producers/produce.o $(CLIENT_LIB)
	$(call link_tool,$(RELEASE_CFLAGS))
$(BIN)/raftmq-consume: $(REL)/obj/consumers/consume.o $(CLIENT_LIB)
	$(call link_tool,$(RELEASE_CFLAGS))
$(TST)/bin/raftmq-admin: $(TST)/obj/broker/tools/admin.o $(CLIENT_LIB_TEST)
	$(call link_tool,$(TEST_CFLAGS))
$(TST)/bin/raftmq-produce: $(TST)/obj/producers/produce.o $(CLIENT_LIB_TEST)
	$(call link_tool,$(TEST_CFLAGS))
$(TST)/bin/raftmq-consume: $(TST)/obj/consumers/consume.o $(CLIENT_LIB_TEST)
	$(call link_tool,$(TEST_CFLAGS))

tools-test: $(TOOLS_TEST)
.PHONY: tools-test
# ---- end command-line tools ----------------------------------------------------

# ---- libraftmq producer check (tests/cluster/test_library_producer.sh) ---------
# raftmq-producer-check drives the producer of libraftmq against real brokers
# and reads the log back at wire level. A test tool: the release build comes
# with `make build`, the sanitizer build with `make test-build` (the cluster
# test prefers it). The unit tests (tests/unit/test_producer.c) link the
# producer too.
PRODUCER_CHECK := $(BIN)/raftmq-producer-check
PRODUCER_CHECK_TEST := $(TST)/bin/raftmq-producer-check
build: $(PRODUCER_CHECK)
test-build: $(PRODUCER_CHECK_TEST)
cluster-test: $(PRODUCER_CHECK_TEST)

$(PRODUCER_CHECK): $(REL)/obj/tests/cluster/producer_check.o $(CLIENT_LIB)
	$(call link_tool,$(RELEASE_CFLAGS))
$(PRODUCER_CHECK_TEST): $(TST)/obj/tests/cluster/producer_check.o $(CLIENT_LIB_TEST)
	$(call link_tool,$(TEST_CFLAGS))

$(UNIT_TESTS): $(TST)/obj/producers/producer.o
# ---- end libraftmq producer check ------------------------------------------------

# ---- consumer: raftmq-consume's formats, raftmq-consumer-check ------------------
# raftmq-consume's output formats (-f, --json) are consumers/consume_format.c,
# unit-tested with the consumer library (tests/unit/test_consumer.c).
# raftmq-consumer-check drives the consumer API against real brokers in
# tests/cluster/test_library_consumer.sh (a test tool: built, not installed).
$(BIN)/raftmq-consume: $(REL)/obj/consumers/consume_format.o
$(TST)/bin/raftmq-consume: $(TST)/obj/consumers/consume_format.o
$(UNIT_TESTS): $(TST)/obj/consumers/consume_format.o $(TST)/obj/consumers/consumer.o \
               $(TST)/obj/consumers/group.o $(CLIENT_LIB_TEST)

$(BIN)/raftmq-consumer-check: $(REL)/obj/tests/cluster/consumer_check.o \
                              $(CLUSTER_COMMON_SRC:%.c=$(REL)/obj/%.o) $(CLIENT_LIB)
	$(call link_tool,$(RELEASE_CFLAGS))
$(TST)/bin/raftmq-consumer-check: $(TST)/obj/tests/cluster/consumer_check.o \
                                  $(CLUSTER_COMMON_SRC:%.c=$(TST)/obj/%.o) $(CLIENT_LIB_TEST)
	$(call link_tool,$(TEST_CFLAGS))

build: $(BIN)/raftmq-consumer-check
test-build: $(TST)/bin/raftmq-consumer-check
cluster-test: $(TST)/bin/raftmq-consumer-check $(BIN)/raftmq-consume $(BIN)/raftmq-produce
# ---- end consumer ---------------------------------------------------------------

# ---- consumer groups: raftmq-group-check (tests/cluster/test_group_*.sh) ---------
# One group member on libraftmq that logs its assignments, records and commits,
# the checker of those logs, and wire-level checks of the group requests. A
# test tool: release build with `make build`, sanitizer build with
# `make test-build` (the cluster tests prefer it).
GROUP_CHECK := $(BIN)/raftmq-group-check
GROUP_CHECK_TEST := $(TST)/bin/raftmq-group-check
$(GROUP_CHECK): $(REL)/obj/tests/cluster/group_check.o $(CLUSTER_COMMON_SRC:%.c=$(REL)/obj/%.o) \
                $(CLIENT_LIB)
	$(call link_tool,$(RELEASE_CFLAGS))
$(GROUP_CHECK_TEST): $(TST)/obj/tests/cluster/group_check.o \
                     $(CLUSTER_COMMON_SRC:%.c=$(TST)/obj/%.o) $(CLIENT_LIB_TEST)
	$(call link_tool,$(TEST_CFLAGS))
build: $(GROUP_CHECK)
test-build: $(GROUP_CHECK_TEST)
cluster-test: $(GROUP_CHECK_TEST) $(BIN)/raftmq-admin $(BIN)/raftmq-consume
# ---- end consumer groups ------------------------------------------------------------

# ---- fault-injection suite (tests/faults/, docs/testing.md) -----------------------
# raftmq-faults runs real brokers under kills, pauses, partitions, restarts and
# power losses and checks the history (tests/faults/checker.c). `make test`
# runs a short campaign (FAULTS_SMOKE_SECONDS of faults, a new seed each run)
# and the self-test: a broker built to acknowledge before commit must be
# caught. `make faults DURATION=600 SEED=42` runs a long campaign.
FAULTS := $(TST)/bin/raftmq-faults
# The self-test's broken broker: the test build, with the two files that
# RAFTMQ_UNSAFE_ACK_BEFORE_COMMIT changes compiled with it.
BROKER_UNSAFE := $(TST)/bin/raftmq-broker-unsafe
UNSAFE_OBJS := $(TST)/unsafe/broker/partition.o $(TST)/unsafe/broker/server.o
FAULTS_SMOKE_SECONDS ?= 60
DURATION ?= 600
SEED ?=
FAULTS_ARGS ?=
test-build: $(FAULTS) $(BROKER_UNSAFE)

$(FAULTS): $(TST)/obj/tests/faults/faults.o $(TST)/obj/tests/faults/checker.o $(CLIENT_LIB_TEST)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(TEST_CFLAGS) $^ $(PKG_LIBS) -lpthread -o $@

$(TST)/unsafe/%.o: %.c
	@mkdir -p $(@D)
	$(call quiet,CC,$@)
	$(Q)$(CC) $(TEST_CFLAGS) -DRAFTMQ_UNSAFE_ACK_BEFORE_COMMIT -c $< -o $@

$(BROKER_UNSAFE): $(TST)/obj/broker/main.o $(UNSAFE_OBJS) $(BROKER_LINK_TEST)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(TEST_CFLAGS) $^ $(PKG_LIBS) -lpthread -o $@

.PHONY: faults faults-smoke faults-selftest
faults: $(FAULTS) $(BROKER_TEST) $(BIN)/raftmq-admin
	@BUILD=$(BUILD) tests/faults/run.sh --duration $(DURATION) $(if $(SEED),--seed $(SEED)) $(FAULTS_ARGS)
faults-smoke: $(FAULTS) $(BROKER_TEST) $(BIN)/raftmq-admin
	@BUILD=$(BUILD) tests/faults/run.sh --duration $(FAULTS_SMOKE_SECONDS)
faults-selftest: $(FAULTS) $(BROKER_UNSAFE) $(BIN)/raftmq-admin
	@BUILD=$(BUILD) tests/faults/run.sh --broker $(BROKER_UNSAFE) --faults isolate,lonely,kill \
	    --duration 30 --expect-violation
# ---- end fault-injection suite ----------------------------------------------------

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SRC) $(wildcard wire/*.h raft/*.h broker/*.h)
	@mkdir -p $(@D)
	$(call quiet,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(FUZZ_SRC) $(PKG_LIBS) -o $@

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
