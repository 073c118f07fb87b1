# shellcheck shell=bash
# Helpers for the multi-process cluster tests: source it from a test_*.sh.
#
#   . "$(dirname "$0")/lib.sh"
#   start_cluster 3            # brokers 1..3 on free loopback ports; sets BROKERS
#   tc create -t t --partitions 3 --replicas 3
#   kill_broker 2; restart_broker 2; stop_broker 1   # by PID, bounded
#   pass                       # or fail "why": exits, the EXIT trap cleans up
#
# Environment:
#   RAFTMQ_BROKER      broker binary (default $BUILD/test/bin/raftmq-broker)
#   RAFTMQ_TESTCLIENT  client binary (default $BUILD/bin/raftmq-testclient)
#   BUILD              build directory (default build)
#   KEEP_TMP=1         keep the temporary directory (data dirs, logs, ack files)
#
# Every process a test starts is recorded (TC_PIDS) and killed by the EXIT
# trap: SIGTERM, then SIGKILL after STOP_TIMEOUT seconds. On failure the
# tail of every broker log is printed. Nothing here needs python3.

set -u

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$CLUSTER_DIR/../.." && pwd)
BUILD=${BUILD:-build}
RAFTMQ_BROKER=${RAFTMQ_BROKER:-$BUILD/test/bin/raftmq-broker}
RAFTMQ_TESTCLIENT=${RAFTMQ_TESTCLIENT:-$BUILD/bin/raftmq-testclient}
case $RAFTMQ_BROKER in /*) ;; *) RAFTMQ_BROKER=$REPO_DIR/$RAFTMQ_BROKER ;; esac
case $RAFTMQ_TESTCLIENT in /*) ;; *) RAFTMQ_TESTCLIENT=$REPO_DIR/$RAFTMQ_TESTCLIENT ;; esac

# Bounds, in seconds. Generous: the sanitized broker is several times slower.
STOP_TIMEOUT=${STOP_TIMEOUT:-10}
START_TIMEOUT=${START_TIMEOUT:-30}

TEST_NAME=$(basename "$0" .sh)
TC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/raftmq-$TEST_NAME.XXXXXX") || exit 2
TC_PIDS=()          # every process started, for the cleanup
BROKER_PID=()       # by node id; "" when not running
BROKER_ARGS=()      # by node id: the flags it was started with
BROKER_LOG=()       # by node id
# shellcheck disable=SC2034 # for tests that talk to one broker
BROKER_CLIENT=()    # by node id: client address
BROKER_COUNT=0
BROKERS=""          # comma-separated client addresses of every broker
TC_USED_PORTS=" "
TC_FAILED=1         # until pass

log() { echo "$TEST_NAME: $*" >&2; }

for tc_bin in "$RAFTMQ_BROKER" "$RAFTMQ_TESTCLIENT"; do
    if [ ! -x "$tc_bin" ]; then
        log "missing executable $tc_bin (build it first: make build and the test broker)"
        exit 2
    fi
done

# True while pid $1 runs (and is not a zombie we already reaped).
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Waits up to $2 seconds for pid $1 to exit; its exit status in TC_STATUS.
# Returns 1 if it is still running.
wait_exit() {
    local pid=$1 limit=$2 i
    for ((i = 0; i < limit * 10; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    alive "$pid" && return 1
    wait "$pid" 2>/dev/null
    TC_STATUS=$?
    return 0
}

print_logs() {
    local i
    for ((i = 1; i <= BROKER_COUNT; i++)); do
        [ -f "${BROKER_LOG[$i]:-}" ] || continue
        echo "---- tail of broker $i log (${BROKER_LOG[$i]}) ----" >&2
        tail -n 40 "${BROKER_LOG[$i]}" >&2
    done
    for f in "$TC_TMP"/*.out; do
        [ -f "$f" ] || continue
        echo "---- tail of $(basename "$f") ----" >&2
        tail -n 20 "$f" >&2
    done
}

# shellcheck disable=SC2317 # runs from the EXIT trap
tc_cleanup() {
    local status=$? pid
    trap - EXIT
    [ "$TC_FAILED" = 1 ] && [ "$status" = 0 ] && status=1
    if [ "$status" != 0 ] && [ "$status" != 77 ]; then
        print_logs
    fi
    for pid in "${TC_PIDS[@]}"; do
        alive "$pid" && kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${TC_PIDS[@]}"; do
        if ! wait_exit "$pid" "$STOP_TIMEOUT"; then
            log "pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    done
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        log "kept $TC_TMP"
    else
        rm -rf "$TC_TMP"
    fi
    exit "$status"
}
trap tc_cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    log "FAIL: $*"
    exit 1
}

pass() {
    TC_FAILED=0
    log "PASS"
    exit 0
}

# Exit status 77: run.sh reports the test as skipped.
skip() {
    TC_FAILED=0
    log "SKIP: $*"
    exit 77
}

# shellcheck source=tests/cluster/ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

# Prints a port this test has not handed out yet (ports.sh: pick_port).
free_port() {
    local port
    # shellcheck disable=SC2086 # the used ports are words
    if ! port=$(pick_port $TC_USED_PORTS); then
        log "no free port found"
        return 1
    fi
    TC_USED_PORTS="$TC_USED_PORTS$port "
    echo "$port"
}

# Starts process "$@" in the background, logging to $TC_TMP/$name.out; PID in TC_LAST_PID.
start_bg() {
    local name=$1
    shift
    "$@" >"$TC_TMP/$name.out" 2>&1 &
    TC_LAST_PID=$!
    TC_PIDS+=("$TC_LAST_PID")
}

# Starts broker $1 with the flags recorded for it.
launch_broker() {
    local id=$1
    # shellcheck disable=SC2086 # the recorded flags are words
    "$RAFTMQ_BROKER" ${BROKER_ARGS[$id]} 2>>"${BROKER_LOG[$id]}" >>"${BROKER_LOG[$id]}" &
    BROKER_PID[id]=$!
    TC_PIDS+=("${BROKER_PID[$id]}")
}

# start_cluster N [extra broker flags...]: brokers 1..N, each with its own data
# dir and log under $TC_TMP; sets BROKERS. Does not wait for readiness (wait_ready).
start_cluster() {
    local n=$1 i nodes="" peer client
    shift
    BROKER_COUNT=$n
    BROKERS=""
    for ((i = 1; i <= n; i++)); do
        peer=$(free_port) || fail "no free port"
        client=$(free_port) || fail "no free port"
        nodes="$nodes --node $i,tcp://127.0.0.1:$peer,tcp://127.0.0.1:$client"
        # shellcheck disable=SC2034 # for tests that talk to one broker
        BROKER_CLIENT[i]=tcp://127.0.0.1:$client
        BROKERS="$BROKERS${BROKERS:+,}tcp://127.0.0.1:$client"
    done
    for ((i = 1; i <= n; i++)); do
        BROKER_LOG[i]=$TC_TMP/broker$i.log
        BROKER_ARGS[i]="--node-id $i --data-dir $TC_TMP/data$i$nodes $*"
        launch_broker "$i"
    done
    log "started $n brokers: $BROKERS (logs and data in $TC_TMP)"
}

# Waits until every broker answers METADATA with a controller.
wait_ready() {
    tc wait-ready --brokers "$BROKER_COUNT" --timeout "$START_TIMEOUT" >/dev/null ||
        fail "cluster not ready within ${START_TIMEOUT}s"
}

# signal_broker ID SIGNAL: sends it and waits up to STOP_TIMEOUT for the
# broker to exit (SIGKILL and a failure after that). Exit status in TC_STATUS.
signal_broker() {
    local id=$1 sig=$2 pid=${BROKER_PID[$1]}
    alive "$pid" || fail "broker $id (pid $pid) is not running"
    kill "-$sig" "$pid"
    if ! wait_exit "$pid" "$STOP_TIMEOUT"; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        BROKER_PID[id]=""
        fail "broker $id did not exit within ${STOP_TIMEOUT}s of SIG$sig"
    fi
    BROKER_PID[id]=""
    log "broker $id exited after SIG$sig (exit status $TC_STATUS)"
}

# SIGTERM to broker $1 (a clean stop).
stop_broker() { signal_broker "$1" TERM; }

# SIGINT to broker $1 (what Ctrl-C sends).
interrupt_broker() { signal_broker "$1" INT; }

# SIGKILL to broker $1 (a crash: no clean shutdown).
kill_broker() {
    local id=$1 pid=${BROKER_PID[$1]}
    alive "$pid" || fail "broker $id (pid $pid) is not running"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    BROKER_PID[id]=""
    log "broker $id killed (SIGKILL)"
}

# Starts broker $1 again with the same flags and data dir.
restart_broker() {
    local id=$1
    alive "${BROKER_PID[$id]:-}" && fail "broker $id is still running"
    echo "---- restart ----" >>"${BROKER_LOG[$id]}"
    launch_broker "$id"
    log "broker $id restarted (pid ${BROKER_PID[$id]})"
}

# tc COMMAND [args...]: runs the test client against every broker.
tc() {
    local cmd=$1
    shift
    "$RAFTMQ_TESTCLIENT" "$cmd" -b "$BROKERS" "$@"
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s.
wait_until() {
    local limit=$1 what=$2 i
    shift 2
    for ((i = 0; i < limit * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    fail "timed out after ${limit}s waiting for: $what"
}

# Lines of file $1 that are acknowledgements ("partition offset id").
ack_count() {
    [ -f "$1" ] || { echo 0; return; }
    grep -c '^[0-9]' "$1" || true
}

# Stops every broker with SIGTERM (each must exit 0), dumps each data
# directory with `raftmq-broker dump` into $TC_TMP/dumpN.txt and requires
# the replicas to agree (compare_dumps).
stop_all_and_compare_replicas() {
    local i
    for ((i = 1; i <= BROKER_COUNT; i++)); do
        stop_broker "$i"
        [ "$TC_STATUS" = 0 ] || fail "broker $i exited with status $TC_STATUS after SIGTERM"
    done
    for ((i = 1; i <= BROKER_COUNT; i++)); do
        "$RAFTMQ_BROKER" dump --data-dir "$TC_TMP/data$i" >"$TC_TMP/dump$i.txt" 2>"$TC_TMP/dump$i.err" ||
            fail "dump of broker $i failed: $(tail -n 3 "$TC_TMP/dump$i.err")"
    done
    compare_dumps "$TC_TMP"/dump[0-9]*.txt >&2 || fail "replicas disagree on committed entries"
}

# compare_dumps FILE...: the outputs of `raftmq-broker dump` of replicas.
# Per group, every entry with INDEX <= the smallest commit among the dumps
# that hold the group (and >= the largest first index) must be identical.
# Prints a summary; fails on any difference or if nothing was compared.
compare_dumps() {
    awk '
        $1 == "group" {
            g = $2
            for (i = 3; i <= NF; i++) {
                if ($i ~ /^first=/) first[FILENAME, g] = substr($i, 7) + 0
                if ($i ~ /^commit=/) commit[FILENAME, g] = substr($i, 8) + 0
            }
            if (!((FILENAME, g) in holds)) { holds[FILENAME, g] = 1; holders[g]++ }
            groups[g] = 1
            files[FILENAME] = 1
            next
        }
        $1 == "entry" {
            entry[FILENAME, $2, $3] = $0
            next
        }
        END {
            bad = 0; compared = 0; ngroups = 0
            for (g in groups) {
                if (holders[g] < 2) continue
                ngroups++
                lo = 0; hi = -1; init = 0
                for (f in files) {
                    if (!((f, g) in holds)) continue
                    if (!init || commit[f, g] < hi) hi = commit[f, g]
                    if (!init || first[f, g] > lo) lo = first[f, g]
                    init = 1
                }
                if (lo < 1) lo = 1
                for (idx = lo; idx <= hi; idx++) {
                    ref = ""; reff = ""
                    for (f in files) {
                        if (!((f, g) in holds)) continue
                        line = ((f, g, idx) in entry) ? entry[f, g, idx] : "(missing)"
                        if (reff == "") { ref = line; reff = f; continue }
                        if (line != ref || line == "(missing)") {
                            if (bad < 10) printf "group %s index %d: %s has \"%s\", %s has \"%s\"\n", g, idx, reff, ref, f, line
                            bad++
                        }
                    }
                    compared++
                }
            }
            printf "compare_dumps: %d groups, %d committed entries compared, %d differences\n", ngroups, compared, bad
            exit (bad > 0 || compared == 0) ? 1 : 0
        }
    ' "$@"
}
