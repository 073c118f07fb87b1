#!/usr/bin/env bash
# The standard client benchmarks (`make bench`; docs/benchmarks.md, "Client
# library and raftmq-bench"): raftmq-bench against 3 release brokers
# (fsync=always) on free 127.0.0.1 ports in a temporary directory.
#
#   bench/standard.sh [--quick] [--runs N] [--markdown FILE]
#
#   1. produce 10 M records of 100 B (3 partitions, RF 3), as fast as possible
#   2. synchronous produce: 20 k records of 100 B, one in flight (1 partition, RF 3)
#   3. consume the 10 M records of 1. from the beginning
#   4. produce 1 M records of 1 KiB (3 partitions, RF 3)
#   5. end to end (producer and consumer in one process): 100 B records at
#      50 % of the rate 1. measured, for E2E_SECONDS (default 10) seconds
#
# Producers use libraftmq's defaults (batches of 128 KiB, linger 5 ms, 5
# requests in flight per partition, idempotence) with --compression none:
# the values are random bytes, which LZ4 cannot shrink (it would only cost
# the client's CPU). Each run uses its own topics and deletes them at its end.
#
# Prints a table on stdout and writes it as Markdown, with the commands, to
# --markdown FILE (default $BUILD/bench/standard.md). --runs N repeats the set
# N times and reports the median of each figure (min and max in the
# Markdown). --quick: small counts (200 k / 2 k / 200 k / 50 k records,
# 3 s of e2e): a smoke run of the script, not figures to quote.
#
# Environment: BUILD (default build), RAFTMQ_BROKER (default
# $BUILD/bin/raftmq-broker: the optimised broker), RAFTMQ_BENCH (default
# $BUILD/bin/raftmq-bench), RAFTMQ_ADMIN (default $BUILD/bin/raftmq-admin),
# PRODUCERS (producer threads of the throughput runs, default 1),
# E2E_SECONDS, BENCH_TIMEOUT (seconds one raftmq-bench run may take, default
# 1800), KEEP_TMP=1 (keep the data directories and logs).
# Every broker is stopped by PID when the script exits (tests/cluster/lib.sh's
# trap); every wait is bounded.
set -u

QUICK=0
RUNS=1
MARKDOWN=""
usage_error() {
    echo "standard.sh: $1 (see --help)" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --runs)
        [ $# -ge 2 ] || usage_error "--runs needs a number"
        RUNS=$2
        shift
        ;;
    --runs=*) RUNS=${1#--runs=} ;;
    --markdown)
        [ $# -ge 2 ] || usage_error "--markdown needs a file name"
        MARKDOWN=$2
        shift
        ;;
    --markdown=*) MARKDOWN=${1#--markdown=} ;;
    -h | --help)
        sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) usage_error "unknown argument '$1'" ;;
    esac
    shift
done
case $RUNS in '' | *[!0-9]*) usage_error "--runs: '$RUNS' is not a number" ;; esac
if [ "$RUNS" -lt 1 ] || [ "$RUNS" -gt 100 ]; then usage_error "--runs: $RUNS is not in 1..100"; fi

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
RAFTMQ_BROKER=${RAFTMQ_BROKER:-$BUILD/bin/raftmq-broker}
RAFTMQ_BENCH=${RAFTMQ_BENCH:-$BUILD/bin/raftmq-bench}
RAFTMQ_ADMIN=${RAFTMQ_ADMIN:-$BUILD/bin/raftmq-admin}
MARKDOWN=${MARKDOWN:-$BUILD/bench/standard.md}
# shellcheck source=tests/cluster/lib.sh
. "$BENCH_DIR/../tests/cluster/lib.sh"
case $RAFTMQ_BENCH in /*) ;; *) RAFTMQ_BENCH=$REPO_DIR/$RAFTMQ_BENCH ;; esac
case $RAFTMQ_ADMIN in /*) ;; *) RAFTMQ_ADMIN=$REPO_DIR/$RAFTMQ_ADMIN ;; esac
for bin in "$RAFTMQ_BENCH" "$RAFTMQ_ADMIN"; do
    [ -x "$bin" ] || { log "missing executable $bin (make build first)"; exit 2; }
done
mkdir -p "$(dirname "$MARKDOWN")" || exit 2

if [ "$QUICK" = 1 ]; then
    PRODUCE_RECORDS=${PRODUCE_RECORDS:-200000}
    SYNC_RECORDS=${SYNC_RECORDS:-2000}
    BIG_RECORDS=${BIG_RECORDS:-50000}
    E2E_SECONDS=${E2E_SECONDS:-3}
else
    PRODUCE_RECORDS=${PRODUCE_RECORDS:-10000000}
    SYNC_RECORDS=${SYNC_RECORDS:-20000}
    BIG_RECORDS=${BIG_RECORDS:-1000000}
    E2E_SECONDS=${E2E_SECONDS:-10}
fi
PRODUCERS=${PRODUCERS:-1}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-1800}
FAILURES=0

# 1234567 -> 1,234,567
fmt_int() {
    awk -v v="$1" 'BEGIN { s = sprintf("%.0f", v); o = ""
        while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
        print s o }'
}

# The benchmarks, in table order: id, then the description in the table.
IDS="produce sync consume produce1k e2e"
declare -A TITLE=(
    [produce]="produce $(fmt_int "$PRODUCE_RECORDS") x 100 B, 3 partitions RF 3"
    [sync]="sync produce $(fmt_int "$SYNC_RECORDS") x 100 B, 1 partition RF 3"
    [consume]="consume the $(fmt_int "$PRODUCE_RECORDS") x 100 B"
    [produce1k]="produce $(fmt_int "$BIG_RECORDS") x 1 KiB, 3 partitions RF 3"
    [e2e]="e2e 100 B at 50 % of the produce rate, ${E2E_SECONDS} s"
)
declare -A CMD=()    # id -> the command line (brokers as $BROKERS)
declare -A VALUES=() # "id field" -> the runs' values, space-separated

# json_field KEY FILE: the value of "KEY" in a flat JSON object (raftmq-bench --json).
json_field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$2" | head -n 1; }

# median VALUES...: the middle value (the lower middle of an even count: a measured value).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
# minmax FORMATTER VALUES...: "smallest – largest", each through FORMATTER.
minmax() {
    local f=$1 lo hi
    shift
    lo=$(printf '%s\n' "$@" | sort -g | head -n 1)
    hi=$(printf '%s\n' "$@" | sort -g | tail -n 1)
    echo "$("$f" "$lo") – $("$f" "$hi")"
}

# What else the machine is doing, before each benchmark (for the notes of docs/benchmarks.md).
machine_note() {
    local others=0 pid p mine
    for pid in $(pgrep -f raftmq 2>/dev/null); do
        mine=0
        for p in "${TC_PIDS[@]}" $$ "$BASHPID"; do [ "$pid" = "$p" ] && mine=1; done
        [ "$mine" = 0 ] && [ -d "/proc/$pid" ] && ! grep -q standard.sh "/proc/$pid/cmdline" 2>/dev/null &&
            others=$((others + 1))
    done
    OTHERS_MAX=$((others > ${OTHERS_MAX:-0} ? others : ${OTHERS_MAX:-0}))
    echo "# $1: load average $(cut -d' ' -f1-3 /proc/loadavg), other raftmq processes: $others" >&2
}

# run_bench ID RUN MODE ARGS...: runs raftmq-bench --json, keeps the figures.
run_bench() {
    local id=$1 run=$2 out=$TC_TMP/$1.$2.json field value
    shift 2
    [ "$run" = 1 ] && CMD[$id]="raftmq-bench $1 -b \$BROKERS ${*:2} --json"
    # The previous benchmark's page cache reaches the disk first: its writeback
    # would stall this one's fdatasyncs (as in cluster_bench.sh).
    timeout 120 sync
    machine_note "$id run $run"
    log "run $run: raftmq-bench $*"
    timeout --kill-after=30 "$BENCH_TIMEOUT" "$RAFTMQ_BENCH" "$1" -b "$BROKERS" "${@:2}" --json >"$out"
    local status=$?
    if [ "$status" != 0 ] || [ ! -s "$out" ]; then
        log "$id run $run FAILED (exit status $status): $(json_field first_error "$out" 2>/dev/null)"
        FAILURES=$((FAILURES + 1))
        VALUES["$id failed"]="${VALUES["$id failed"]:-} 1"
        return 1
    fi
    for field in records_per_s mb_per_s latency_us_p50 latency_us_p90 latency_us_p99 \
        latency_us_p99_9 latency_us_max errors records ack_latency_us_p50 ack_latency_us_p99; do
        value=$(json_field "$field" "$out")
        [ -n "$value" ] && VALUES["$id $field"]="${VALUES["$id $field"]:-} $value"
    done
    return 0
}

# A latency in µs as "623 µs" or "2.41 ms"; "" stays "".
fmt_us() {
    [ -n "$1" ] || return 0
    awk -v v="$1" 'BEGIN { if (v < 1000) printf "%.0f µs", v; else if (v < 1e6) printf "%.2f ms", v / 1000; else printf "%.2f s", v / 1e6 }'
}

# fig ID FIELD: the median of the runs (or "-" when none succeeded).
fig() {
    local v
    # shellcheck disable=SC2086 # the values are words
    v=$(median ${VALUES["$1 $2"]:-})
    echo "${v:--}"
}

one_run() {
    local run=$1 rate e2e_rate
    local t100=std$run-100b t1k=std$run-1k tsync=std$run-sync te2e=std$run-e2e
    run_bench produce "$run" produce -t "$t100" --create --partitions 3 --replicas 3 \
        --records "$PRODUCE_RECORDS" --size 100 --compression none --producers "$PRODUCERS"
    rate=$(json_field records_per_s "$TC_TMP/produce.$run.json" 2>/dev/null)
    run_bench sync "$run" produce -t "$tsync" --create --partitions 1 --replicas 3 \
        --records "$SYNC_RECORDS" --size 100 --compression none --sync
    run_bench consume "$run" consume -t "$t100" --records "$PRODUCE_RECORDS"
    run_bench produce1k "$run" produce -t "$t1k" --create --partitions 3 --replicas 3 \
        --records "$BIG_RECORDS" --size 1024 --compression none --producers "$PRODUCERS"
    if [ -n "$rate" ]; then
        e2e_rate=$(awk -v r="$rate" 'BEGIN { x = int(r / 2); if (x < 1) x = 1; print x }')
        run_bench e2e "$run" e2e -t "$te2e" --create --partitions 3 --replicas 3 \
            --rate "$e2e_rate" --duration "$E2E_SECONDS" --size 100 --compression none
        [ "$run" = 1 ] && CMD[e2e]=${CMD[e2e]/--rate $e2e_rate/--rate RATE}
        E2E_RATES="${E2E_RATES:-} $e2e_rate"
    else
        log "e2e run $run skipped: the produce run gave no rate"
        FAILURES=$((FAILURES + 1))
    fi
    # Free the disk for the next run (10 M records are about 1.3 GB per broker).
    local t
    for t in "$t100" "$t1k" "$tsync" "$te2e"; do
        "$RAFTMQ_ADMIN" -b "$BROKERS" --timeout 30000 topic delete "$t" >/dev/null 2>&1 ||
            log "could not delete topic $t"
    done
}

START_NOTE="$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), load average at the start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# standard.sh: $START_NOTE; runs $RUNS$([ "$QUICK" = 1 ] && echo ', --quick')" >&2
start_cluster 3 --fsync always
wait_ready
for ((r = 1; r <= RUNS; r++)); do
    one_run "$r"
done
END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the table -----------------------------------------------------------------------------

table_row() {
    local id=$1 sep=$2 failed="" errs
    [ -n "${VALUES["$id failed"]:-}" ] && failed=" ($(wc -w <<<"${VALUES["$id failed"]}") of $RUNS runs FAILED)"
    # shellcheck disable=SC2086 # the values are words
    errs=$(echo ${VALUES["$id errors"]:-} | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }')
    local rps mbs
    rps=$(fig "$id" records_per_s)
    mbs=$(fig "$id" mb_per_s)
    [ "$rps" != - ] && rps=$(fmt_int "$rps")
    if [ "$id" = consume ]; then
        printf "%s${sep}%s${sep}%s${sep}%s${sep}%s${sep}%s${sep}%s${sep}%s${sep}%s\n" \
            "${TITLE[$id]}$failed" "$rps" "$mbs" "-" "-" "-" "-" "-" "$errs"
    else
        printf "%s${sep}%s${sep}%s${sep}%s${sep}%s${sep}%s${sep}%s${sep}%s${sep}%s\n" \
            "${TITLE[$id]}$failed" "$rps" "$mbs" \
            "$(fmt_us "$(fig "$id" latency_us_p50)")" "$(fmt_us "$(fig "$id" latency_us_p90)")" \
            "$(fmt_us "$(fig "$id" latency_us_p99)")" "$(fmt_us "$(fig "$id" latency_us_p99_9)")" \
            "$(fmt_us "$(fig "$id" latency_us_max)")" "$errs"
    fi
}

{
    printf "%-60s | %12s | %8s | %9s | %9s | %9s | %9s | %9s | %s\n" benchmark records/s MB/s p50 p90 p99 p99.9 max errors
    for id in $IDS; do
        IFS='|' read -r a b c d e f g h i <<<"$(table_row "$id" '|')"
        printf "%-60s | %12s | %8s | %9s | %9s | %9s | %9s | %9s | %s\n" "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i"
    done
    [ "$RUNS" -gt 1 ] && echo "(medians of $RUNS runs)"
}

{
    echo "Measured $START_NOTE; load average at the end $END_LOAD."
    echo "$RUNS run(s)$([ "$RUNS" -gt 1 ] && echo ', medians (min – max below)')$([ "$QUICK" = 1 ] && echo '; --quick: a smoke run, not figures to quote')."
    echo
    echo "| benchmark | records/s | MB/s | p50 | p90 | p99 | p99.9 | max | errors |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for id in $IDS; do
        echo "| $(table_row "$id" ' | ') |"
    done
    echo
    echo "Latency: produce, from \`send\` to the delivery report (commit on 2 of 3"
    echo "replicas, each after \`fdatasync\`); sync, the same with one record in flight;"
    echo "e2e, from the record's scheduled send time to its arrival at the consumer."
    echo "MB/s: 10^6 bytes of values per second."
    if [ -n "${VALUES["e2e ack_latency_us_p50"]:-}" ]; then
        echo "e2e, send to the delivery report (the producer's side of it): p50"
        echo "$(fmt_us "$(fig e2e ack_latency_us_p50)"), p99 $(fmt_us "$(fig e2e ack_latency_us_p99)")."
    fi
    echo "Other raftmq processes on the machine during the runs: at most ${OTHERS_MAX:-0}."
    if [ "$RUNS" -gt 1 ]; then
        echo
        for id in $IDS; do
            # shellcheck disable=SC2086 # the values are words
            [ -n "${VALUES["$id records_per_s"]:-}" ] &&
                echo "- ${TITLE[$id]}: records/s $(minmax fmt_int ${VALUES["$id records_per_s"]})$([ "$id" != consume ] && [ -n "${VALUES["$id latency_us_p99"]:-}" ] && echo ", p99 $(minmax fmt_us ${VALUES["$id latency_us_p99"]})")"
        done
    fi
    echo
    echo "Commands (BROKERS: the three brokers' client addresses; RATE: half the"
    echo "records/s of the first command, $(echo "${E2E_RATES:-none}" | xargs | tr ' ' '/') here):"
    echo
    echo "    bench/standard.sh$([ "$QUICK" = 1 ] && echo ' --quick')$([ "$RUNS" -gt 1 ] && echo " --runs $RUNS")    # or: make bench"
    for id in $IDS; do
        [ -n "${CMD[$id]:-}" ] && echo "    ${CMD[$id]}"
    done
} >"$MARKDOWN"
log "Markdown table and commands written to $MARKDOWN"

if [ "$FAILURES" -gt 0 ]; then
    log "$FAILURES benchmark run(s) failed"
    exit 1
fi
# shellcheck disable=SC2034 # read by the EXIT trap of lib.sh: a finished run exits 0
TC_FAILED=0
