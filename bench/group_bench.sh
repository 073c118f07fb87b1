#!/usr/bin/env bash
# Consumer-group figures (docs/benchmarks.md, "Consumer groups"): 3 release
# brokers on free 127.0.0.1 ports in a temporary directory, one topic of 6
# partitions RF 3, then `raftmq-bench group` (bench/group_bench.c):
#   1. records/s read by one consumer assigned all 6 partitions, then by a
#      group of 3 (RECORDS records of 100 bytes, produced first)
#   2. TRIALS times a 4th member joins the group of 3 and leaves again:
#      time until the group consumes again with the new assignment
#      (median/max), and the longest gap on partitions that did not move
# RUNS runs, each on a fresh cluster; every run's summary is printed.
#
#   bench/group_bench.sh [--quick]
#
# Environment: BUILD (default build), RAFTMQ_BROKER (default
# $BUILD/bin/raftmq-broker, the optimised broker), RUNS (3), TRIALS (20),
# RECORDS (1000000), RATE (2000 records/s during the trials), KEEP_TMP=1.
# --quick: 1 run, 3 trials, 100000 records (a smoke run, not figures).
set -u
QUICK=0
for arg in "$@"; do
    case $arg in
    --quick) QUICK=1 ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "group_bench.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
    esac
done
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
RAFTMQ_BROKER=${RAFTMQ_BROKER:-$BUILD/bin/raftmq-broker}
# shellcheck source=tests/cluster/lib.sh
. "$BENCH_DIR/../tests/cluster/lib.sh"
if [ "$QUICK" = 1 ]; then
    RUNS=${RUNS:-1} TRIALS=${TRIALS:-3} RECORDS=${RECORDS:-100000}
else
    RUNS=${RUNS:-3} TRIALS=${TRIALS:-20} RECORDS=${RECORDS:-1000000}
fi
RATE=${RATE:-2000}
case $BUILD in /*) BIN_DIR=$BUILD/bin ;; *) BIN_DIR=$REPO_DIR/$BUILD/bin ;; esac
BENCH=$BIN_DIR/raftmq-bench
ADMIN=$BIN_DIR/raftmq-admin
[ -x "$BENCH" ] && [ -x "$ADMIN" ] || { echo "group_bench.sh: build first (make build)" >&2; exit 2; }

for ((run = 1; run <= RUNS; run++)); do
    for ((i = 1; i <= ${BROKER_COUNT:-0}; i++)); do
        alive "${BROKER_PID[$i]:-}" && stop_broker "$i"
    done
    rm -rf "$TC_TMP"/data[0-9]*
    start_cluster 3
    wait_ready
    "$ADMIN" -b "$BROKERS" topic create gbench --partitions 6 --replicas 3 >/dev/null ||
        fail "cannot create the topic"
    echo "# run $run: load average $(cut -d' ' -f1-3 /proc/loadavg)"
    timeout 900 "$BENCH" group -b "$BROKERS" -t gbench --members 3 --trials "$TRIALS" \
        --records "$RECORDS" --rate "$RATE" --json || fail "raftmq-bench group failed (run $run)"
done
pass
