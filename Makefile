# raftmq: GNU Make build. Everything it writes goes under $(BUILD)/.
#
#   make            libraries and programs (optimised, -O2 -g)      -> build/bin, build/lib
#   make test       installs missing packages, builds with ASan+UBSan, runs every test
#   make deps       installs missing Debian packages (root), or prints the command
#   make fuzz       builds the libFuzzer targets (clang)            -> build/fuzz
#   make fuzz-run   runs each fuzz target for FUZZ_SECONDS (default 60)
#   make bench      builds and runs the benchmarks that exist so far
#   make run        runs what exists of the broker (see README)
#   make install    PREFIX=/usr/local: programs, static library, headers
#   make clean      removes build/

.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD ?= build
PREFIX ?= /usr/local
CC ?= cc
FUZZ_CC ?= clang
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
UNIT_TEST_SRC := $(wildcard tests/unit/*.c)
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

WIRE_LIB := $(LIB)/libraftmq_wire.a
WIRE_LIB_TEST := $(TST)/lib/libraftmq_wire.a
PROGRAMS := $(BIN)/raftmq-codec-bench $(BIN)/raftmq-wire-vectors
# raftmq-wire-vectors is a development tool (it rewrites tests/vectors/): not installed.
INSTALL_PROGRAMS := $(BIN)/raftmq-codec-bench
UNIT_TESTS := $(TST)/bin/raftmq-unit-tests
FUZZERS := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

# ---- entry points -----------------------------------------------------------

.PHONY: all build deps deps-check test test-build test-run fuzz fuzz-run fuzz-smoke \
        bench run install clean

all: deps-check
	@$(MAKE) --no-print-directory build

build: $(WIRE_LIB) $(PROGRAMS)

deps:
	@.ci/deps

deps-check:
	@.ci/deps --check || { echo "run 'make deps' (as root) first" >&2; exit 1; }

# The README's test command: set-up, build and every test, from a fresh clone.
test:
	@.ci/deps
	@$(MAKE) --no-print-directory test-run

test-build: $(UNIT_TESTS) $(FUZZERS) build

# The last line is a plain "tests: N passed, 0 failed" summary (unit checks
# plus fuzz targets) for CI; any failure stops the run with a non-zero status.
test-run: test-build
	@echo "== unit tests (ASan+UBSan+LSan): $(UNIT_TESTS) =="
	@set -o pipefail; $(UNIT_TESTS) 2>&1 | tee $(TST)/unit-tests.log
	@echo "== fuzz smoke: $(FUZZ_SMOKE_SECONDS)s per target =="
	@$(MAKE) --no-print-directory fuzz-smoke
	@checks=$$(sed -n 's/.*Checks: \([0-9]*\),.*/\1/p' $(TST)/unit-tests.log | tail -n 1); \
	    echo "tests: $$(( checks + $(words $(FUZZ_TARGETS)) )) passed, 0 failed"

fuzz: $(FUZZERS)

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

bench: all
	$(BIN)/raftmq-codec-bench

# There is no broker yet (issue 5): `make run` builds everything and says so.
run:
	@.ci/deps
	@$(MAKE) --no-print-directory build
	@echo "raftmq: the broker (raftmq-broker) does not exist yet; built so far: $(WIRE_LIB) and $(PROGRAMS)."
	@echo "raftmq: try '$(BIN)/raftmq-codec-bench' or 'make test'."

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/raftmq/wire
	install -m 755 $(INSTALL_PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(WIRE_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 wire/*.h $(DESTDIR)$(PREFIX)/include/raftmq/wire/

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

$(WIRE_LIB): $(WIRE_SRC:%.c=$(REL)/obj/%.o)
	@mkdir -p $(@D)
	$(call quiet,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(WIRE_LIB_TEST): $(WIRE_SRC:%.c=$(TST)/obj/%.o)
	@mkdir -p $(@D)
	$(call quiet,AR,$@)
	$(Q)$(AR) rcs $@ $^

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
               $(WIRE_LIB_TEST)
	@mkdir -p $(@D)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(TEST_CFLAGS) $^ $(PKG_LIBS) $(CHECK_LIBS) -o $@

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(WIRE_SRC) $(wildcard wire/*.h)
	@mkdir -p $(@D)
	$(call quiet,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(WIRE_SRC) $(PKG_LIBS) -o $@

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
