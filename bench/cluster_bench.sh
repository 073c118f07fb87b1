#!/usr/bin/env bash
# The replicated broker's figures (docs/benchmarks.md, "Replicated broker"):
# 3 release brokers on free 127.0.0.1 ports in a temporary directory, driven
# by raftmq-testclient. Prints one line per figure on stdout ("figure ..."),
# every run's value on stderr. Each figure is the median of RUNS runs (min
# and max alongside).
#
#   bench/cluster_bench.sh [--quick]
#
#   1. throughput, 100-byte records, 3 partitions RF 3, fsync=always, several
#      batch sizes and in-flight windows (records/s acknowledged after commit)
#   2. the same with fsync=never (a separate cluster)
#   3. synchronous produce latency (one record in flight, 1 partition RF 3),
#      p50/p99/max, fsync=always and fsync=never
#   4. leader failover: a `probe` produces one record at a time to partition
#      0; the leader gets SIGKILL; failover = first acknowledgement by another
#      broker minus the kill time; the victim restarts and catches up before
#      the next trial
#   5. idle cost: CPU (% of one core, from /proc/PID/stat) and VmRSS per broker
#      with no topic and with 300 partitions RF 3
#
# --quick: shorter runs, one run per figure, 3 failover trials, short idle
# windows: a smoke run of the script, not figures to quote.
#
# Environment: BUILD (default build), RAFTMQ_BROKER (default
# $BUILD/bin/raftmq-broker: the optimised broker, not the sanitized one),
# RAFTMQ_TESTCLIENT, KEEP_TMP=1 (keep data dirs and logs), and the knobs
# RUNS, SECONDS_PER_RUN, TRIALS, IDLE_SECONDS, ONLY (a space-separated
# subset of: always never latency failover idle).
# Every process it starts is stopped by PID when it exits (lib.sh's trap);
# every wait is bounded.
set -u

QUICK=0
for arg in "$@"; do
    case $arg in
    --quick) QUICK=1 ;;
    -h | --help)
        sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "cluster_bench.sh: unknown argument '$arg' (see --help)" >&2
        exit 2
        ;;
    esac
done

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
RAFTMQ_BROKER=${RAFTMQ_BROKER:-$BUILD/bin/raftmq-broker}
# shellcheck source=tests/cluster/lib.sh
. "$BENCH_DIR/../tests/cluster/lib.sh"

if [ "$QUICK" = 1 ]; then
    RUNS=${RUNS:-1}
    SECONDS_PER_RUN=${SECONDS_PER_RUN:-0.5}
    TRIALS=${TRIALS:-3}
    IDLE_SECONDS=${IDLE_SECONDS:-2}
    IDLE_PARTITIONS=${IDLE_PARTITIONS:-30}
    THROUGHPUT_CASES=${THROUGHPUT_CASES:-"100:8 1000:8"}
else
    RUNS=${RUNS:-3}
    SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
    TRIALS=${TRIALS:-20}
    IDLE_SECONDS=${IDLE_SECONDS:-10}
    IDLE_PARTITIONS=${IDLE_PARTITIONS:-300}
    # batch records : requests in flight per partition
    THROUGHPUT_CASES=${THROUGHPUT_CASES:-"100:1 100:8 1000:1 1000:8 1000:32"}
fi
ONLY=${ONLY:-"always never latency failover idle"}
RECORD_BYTES=100
PROBE_ATTEMPT_MS=${PROBE_ATTEMPT_MS:-50}
CLK_TCK=$(getconf CLK_TCK)

wanted() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

# A figure line on stdout.
figure() { echo "figure $*"; }

# stats VALUES...: "median M (min A, max B, n N)"; the median of an even count
# is the lower middle value (a value that was measured).
stats() {
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "no data"; exit }
            printf "median %s (min %s, max %s, n %d)", v[int((NR + 1) / 2)], v[1], v[NR], NR
        }'
}

# percentile P VALUES...: nearest-rank percentile.
percentile() {
    local p=$1
    shift
    printf '%s\n' "$@" | sort -g | awk -v p="$p" '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "nan"; exit }
            r = int((p * NR + 99) / 100); if (r < 1) r = 1; if (r > NR) r = NR
            print v[r]
        }'
}

median() { percentile 50 "$@"; }

# What else the machine is doing: printed with each phase, for the doc's notes.
machine_note() {
    local others pid mine
    others=0
    for pid in $(pgrep -f raftmq 2>/dev/null); do
        mine=0
        for p in "${TC_PIDS[@]}" $$ "$BASHPID"; do [ "$pid" = "$p" ] && mine=1; done
        [ "$mine" = 0 ] && [ -d "/proc/$pid" ] && ! grep -q cluster_bench "/proc/$pid/cmdline" 2>/dev/null &&
            others=$((others + 1))
    done
    echo "# $1: load average $(cut -d' ' -f1-3 /proc/loadavg), other raftmq processes: $others"
}

# value_of KEY FILE: the value on the line "KEY VALUE" of a bench output.
value_of() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

# Starts a fresh 3-broker cluster with the given broker flags (the previous one,
# if any, is stopped first and its data removed).
fresh_cluster() {
    local i
    for ((i = 1; i <= BROKER_COUNT; i++)); do
        alive "${BROKER_PID[$i]:-}" && stop_broker "$i"
    done
    rm -rf "$TC_TMP"/data[0-9]*
    # Let the previous phase's page cache reach the disk first: its writeback
    # stalls the next phase's writes (tens of ms) on this virtual disk.
    timeout 120 sync
    start_cluster 3 "$@"
    wait_ready
}

# ---- 1, 2: throughput ----------------------------------------------------------------

# One `bench` run; prints records/s or "" on failure.
bench_run() {
    local out=$1 records=$2 batch=$3 inflight=$4
    tc bench -t tp3 --records "$records" --size "$RECORD_BYTES" --batch-records "$batch" \
        --inflight "$inflight" --codec none --timeout 300 >"$out" 2>"$out.err"
    local status=$?
    if [ "$status" != 0 ] || [ "$(value_of records_failed "$out")" != 0 ]; then
        log "bench failed (status $status): $(tail -n 3 "$out.err" | tr '\n' ' ')"
        return 1
    fi
    if [ "$(value_of retried_batches "$out")" != 0 ]; then
        log "retries: $(grep -m 3 retrying "$out.err" | tr '\n' ' ')"
    fi
    value_of records_per_s "$out"
}

throughput_phase() {
    local fsync=$1 case batch inflight rate records r rates
    machine_note "throughput fsync=$fsync"
    fresh_cluster --fsync "$fsync"
    tc create -t tp3 --partitions 3 --replicas 3 --timeout 30 >/dev/null || fail "create tp3"
    for case in $THROUGHPUT_CASES; do
        batch=${case%%:*}
        inflight=${case##*:}
        # A short calibration run (not counted) sizes the measured runs.
        rate=$(bench_run "$TC_TMP/cal.out" $((batch * 3 * 20)) "$batch" "$inflight") || rate=""
        [ -n "$rate" ] || { figure "throughput fsync=$fsync batch=$batch inflight=$inflight: FAILED (calibration)"; continue; }
        records=$(awk -v r="$rate" -v s="$SECONDS_PER_RUN" -v b="$batch" \
            'BEGIN { n = r * s; q = 3 * b; n = int((n + q - 1) / q) * q; if (n < q) n = q; print n }')
        rates=()
        for ((r = 1; r <= RUNS; r++)); do
            rate=$(bench_run "$TC_TMP/tp.out" "$records" "$batch" "$inflight") || continue
            log "fsync=$fsync batch=$batch inflight=$inflight run $r: $rate records/s ($records records, $(value_of elapsed_s "$TC_TMP/tp.out") s, retried batches $(value_of retried_batches "$TC_TMP/tp.out"))"
            rates+=("$rate")
        done
        figure "throughput fsync=$fsync 3 partitions RF3 ${RECORD_BYTES}B batch=$batch inflight/partition=$inflight:" \
            "$(stats "${rates[@]}") records/s, $records records per run"
    done
}

# ---- 3: synchronous latency -----------------------------------------------------------

latency_phase() {
    local fsync=$1 p50 records r out p50s=() p99s=() maxs=()
    machine_note "latency fsync=$fsync"
    fresh_cluster --fsync "$fsync"
    tc create -t lat1 --partitions 1 --replicas 3 --timeout 30 >/dev/null || fail "create lat1"
    out=$TC_TMP/lat.out
    tc bench -t lat1 --records 300 --size "$RECORD_BYTES" --sync --codec none --timeout 120 >"$out" 2>"$out.err" ||
        fail "latency calibration: $(tail -n 3 "$out.err")"
    p50=$(value_of latency_us_p50 "$out")
    records=$(awk -v p="$p50" -v s="$SECONDS_PER_RUN" \
        'BEGIN { n = int(s * 1e6 / (p > 1 ? p * 1.3 : 1)); if (n < 500) n = 500; if (n > 50000) n = 50000; print n }')
    for ((r = 1; r <= RUNS; r++)); do
        if ! tc bench -t lat1 --records "$records" --size "$RECORD_BYTES" --sync --codec none \
            --timeout 300 >"$out" 2>"$out.err"; then
            log "latency run $r failed: $(tail -n 3 "$out.err" | tr '\n' ' ')"
            continue
        fi
        log "sync fsync=$fsync run $r: p50 $(value_of latency_us_p50 "$out") p99 $(value_of latency_us_p99 "$out") max $(value_of latency_us_max "$out") us, $(value_of records_per_s "$out") records/s ($records records)"
        p50s+=("$(value_of latency_us_p50 "$out")")
        p99s+=("$(value_of latency_us_p99 "$out")")
        maxs+=("$(value_of latency_us_max "$out")")
    done
    figure "sync latency fsync=$fsync 1 partition RF3 ${RECORD_BYTES}B, $records requests per run: p50 $(stats "${p50s[@]}") us"
    figure "sync latency fsync=$fsync 1 partition RF3 ${RECORD_BYTES}B, $records requests per run: p99 $(stats "${p99s[@]}") us"
    figure "sync latency fsync=$fsync 1 partition RF3 ${RECORD_BYTES}B, $records requests per run: max $(stats "${maxs[@]}") us"
}

# ---- 4: failover ----------------------------------------------------------------------

# Lines "ack T NODE ..." in file $1.
ack_lines() {
    local n
    n=$(grep -c '^ack ' "$1" 2>/dev/null)
    echo "${n:-0}" # 0 too before the probe has created its file
}

# First "ack" line at or after wall ms $2 from a node other than $3 in file $1: its time.
first_ack_after() { awk -v t="$2" -v v="$3" '$1 == "ack" && $2 >= t && $3 != v { print $2; exit }' "$1"; }

failover_phase() {
    local t probe file victim controller kill_ms ack_ms last_node i ms times=() discarded=0
    local detail=$TC_TMP/failover.txt
    machine_note "failover"
    fresh_cluster --fsync always
    tc create -t fo --partitions 1 --replicas 3 --timeout 30 >/dev/null || fail "create fo"
    : >"$detail"
    for ((t = 1; t <= TRIALS; t++)); do
        file=$TC_TMP/probe$t.out
        start_bg "probe$t" "$RAFTMQ_TESTCLIENT" probe -b "$BROKERS" -t fo -p 0 \
            --attempt-ms "$PROBE_ATTEMPT_MS" --timeout 120
        probe=$TC_LAST_PID
        for ((i = 0; i < 100 && $(ack_lines "$file") < 50; i++)); do sleep 0.1; done
        [ "$(ack_lines "$file")" -ge 50 ] || fail "trial $t: the probe got $(ack_lines "$file") acks in 10 s"
        # A random phase against the heartbeat and election timers.
        sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
        controller=$(tc wait-ready --brokers 3 --timeout 10 | awk 'NR == 1 { sub(",", "", $4); print $4 }')
        victim=$(tc leader -t fo -p 0 --timeout 10) || fail "trial $t: no leader"
        kill_ms=$(date +%s%3N)
        kill_broker "$victim"
        ack_ms=""
        for ((i = 0; i < 200; i++)); do
            ack_ms=$(first_ack_after "$file" "$kill_ms" "$victim")
            [ -n "$ack_ms" ] && break
            sleep 0.05
        done
        # The trial counts only if the victim was still the leader the probe used
        # (a leadership move between `leader` and the kill would time a follower's crash).
        last_node=$(awk -v t="$kill_ms" '$1 == "ack" && $2 < t { n = $3 } END { print n }' "$file")
        if [ -z "$ack_ms" ]; then
            figure "failover trial $t: no acknowledgement within 10 s of killing broker $victim"
            ms=10000
        else
            ms=$((ack_ms - kill_ms))
        fi
        sleep 0.5 # acks after the failover, to see that they keep coming
        kill -TERM "$probe" 2>/dev/null
        wait_exit "$probe" 10 || { kill -KILL "$probe"; wait "$probe" 2>/dev/null; }
        local misses new_leader gap
        misses=$(awk -v t="$kill_ms" '$1 == "miss" && $2 >= t' "$file" | wc -l)
        new_leader=$(awk -v t="$kill_ms" -v v="$victim" '$1 == "ack" && $2 >= t && $3 != v { print $3; exit }' "$file")
        # The longest gap between two acks before the kill: the probe's noise floor.
        gap=$(awk -v t="$kill_ms" '$1 == "ack" && $2 < t { if (p) { g = $2 - p; if (g > m) m = g } p = $2 } END { print m + 0 }' "$file")
        echo "trial $t: killed broker $victim (controller $controller) at $kill_ms, first ack from broker ${new_leader:-none} after $ms ms, $misses failed attempts, longest ack gap before the kill $gap ms" >>"$detail"
        if [ "$last_node" = "$victim" ]; then
            times+=("$ms")
        else
            echo "trial $t: DISCARDED: the last ack before the kill came from broker ${last_node:-none}, not the victim" >>"$detail"
            discarded=$((discarded + 1))
            [ "$discarded" -le "$TRIALS" ] || fail "too many discarded failover trials"
            t=$((t - 1))
        fi
        log "$(tail -n 1 "$detail")"
        restart_broker "$victim"
        wait_ready
        tc wait-converged --timeout 30 >/dev/null || fail "trial $t: broker $victim did not catch up within 30 s"
        # Past the preferred-leader rebalance (every 2 s), which may move the
        # leadership back to the restarted broker: the next trial starts stable.
        sleep 3
    done
    figure "failover (SIGKILL of partition 0's leader, probe attempts ${PROBE_ATTEMPT_MS} ms, $TRIALS trials, $discarded discarded):" \
        "median $(median "${times[@]}") ms, p90 $(percentile 90 "${times[@]}") ms, max $(percentile 100 "${times[@]}") ms, min $(percentile 0 "${times[@]}") ms; all: $(printf '%s ' "${times[@]}")"
    cat "$detail" >&2
}

# ---- 5: idle cost ----------------------------------------------------------------------

# CPU ticks (utime + stime) of pid $1.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

# idle_measure LABEL: RUNS windows of IDLE_SECONDS; per broker median CPU % and RSS.
idle_measure() {
    local label=$1 r i t0 t1 before=() after=() cpu
    declare -A per_broker=()
    for ((r = 1; r <= RUNS; r++)); do
        t0=$(date +%s%N)
        for ((i = 1; i <= 3; i++)); do before[i]=$(cpu_ticks "${BROKER_PID[$i]}"); done
        sleep "$IDLE_SECONDS"
        t1=$(date +%s%N)
        for ((i = 1; i <= 3; i++)); do after[i]=$(cpu_ticks "${BROKER_PID[$i]}"); done
        for ((i = 1; i <= 3; i++)); do
            cpu=$(awk -v d=$((after[i] - before[i])) -v hz="$CLK_TCK" -v ns=$((t1 - t0)) \
                'BEGIN { printf "%.2f", 100 * d / hz / (ns / 1e9) }')
            per_broker[$i]="${per_broker[$i]:-} $cpu"
            log "idle $label window $r broker $i: $cpu % of a core"
        done
    done
    for ((i = 1; i <= 3; i++)); do
        # shellcheck disable=SC2086 # the values are words
        figure "idle $label broker $i: CPU $(stats ${per_broker[$i]}) % of one core over ${IDLE_SECONDS} s windows, VmRSS $(($(rss_kb "${BROKER_PID[$i]}") / 1024)) MiB"
    done
}

idle_phase() {
    machine_note "idle"
    fresh_cluster --fsync always
    sleep 3
    idle_measure "0 topics"
    tc create -t idle --partitions "$IDLE_PARTITIONS" --replicas 3 --timeout 120 >"$TC_TMP/idle-create.out" ||
        fail "create idle ($IDLE_PARTITIONS partitions)"
    log "partitions led per broker (count, node): $(sed 's/.*leaders://' "$TC_TMP/idle-create.out" | tr ' ' '\n' | grep -E '^[0-9]+$' | sort | uniq -c | tr -s ' \n' ' ')"
    tc wait-converged --timeout 60 >/dev/null || fail "the $IDLE_PARTITIONS groups did not converge"
    sleep 3
    idle_measure "$IDLE_PARTITIONS partitions RF3"
}

# ---- main --------------------------------------------------------------------------------

echo "# cluster_bench: broker $RAFTMQ_BROKER, $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), runs per figure $RUNS$([ "$QUICK" = 1 ] && echo ', --quick')"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)"
wanted always && throughput_phase always
wanted never && throughput_phase never
if wanted latency; then
    latency_phase always
    latency_phase never
fi
wanted failover && failover_phase
wanted idle && idle_phase
machine_note "end"
# shellcheck disable=SC2034 # read by the EXIT trap of lib.sh: a finished run exits 0
TC_FAILED=0
