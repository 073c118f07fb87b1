#!/usr/bin/env bash
# Bad input against a real broker: starts ONE raftmq-broker (a single-node
# cluster) on free loopback ports, runs raftmq-badinput against its client
# port, then stops the broker with SIGTERM and requires exit status 0 within
# 10 s (a crash, a sanitizer report or a hang on shutdown fails the test).
#
# Self-contained on purpose: it does not source tests/cluster/lib.sh.
#
# Environment:
#   BUILD             build directory (default: build)
#   RAFTMQ_BROKER     broker binary (default: $BUILD/test/bin/raftmq-broker)
#   RAFTMQ_BADINPUT   checker binary (default: $BUILD/bin/raftmq-badinput)
#   KEEP_TMP=1        keep the temporary directory (data and broker log)
set -u

cd "$(dirname "$0")/../.." || exit 2
# shellcheck source=tests/cluster/ports.sh
. tests/cluster/ports.sh
BUILD=${BUILD:-build}
RAFTMQ_BROKER=${RAFTMQ_BROKER:-$BUILD/test/bin/raftmq-broker}
RAFTMQ_BADINPUT=${RAFTMQ_BADINPUT:-$BUILD/bin/raftmq-badinput}

# Bounds (seconds): liveness limits, generous so a slow ASan build passes.
START_TIMEOUT=20
CHECKER_TIMEOUT=600
STOP_TIMEOUT=10

log() { echo "test_bad_input: $*" >&2; }

for bin in "$RAFTMQ_BROKER" "$RAFTMQ_BADINPUT"; do
    if [ ! -x "$bin" ]; then
        log "missing executable $bin (build it first)"
        exit 2
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/raftmq-badinput.XXXXXX") || exit 2
broker_pid=""

# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
    if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
        kill -KILL "$broker_pid" 2>/dev/null
        wait "$broker_pid" 2>/dev/null
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

peer_port=$(pick_port) || { log "no free port"; exit 2; }
client_port=$(pick_port "$peer_port") || { log "no free port"; exit 2; }
mkdir -p "$tmp/data"

"$RAFTMQ_BROKER" --node-id 1 --data-dir "$tmp/data" \
    --node "1,tcp://127.0.0.1:$peer_port,tcp://127.0.0.1:$client_port" \
    2>"$tmp/broker.log" >/dev/null &
broker_pid=$!
log "broker pid $broker_pid, client tcp://127.0.0.1:$client_port, peer tcp://127.0.0.1:$peer_port"

# Wait until the client port accepts connections (or the broker died).
waited=0
until port_open "$client_port"; do
    if ! kill -0 "$broker_pid" 2>/dev/null; then
        wait "$broker_pid"
        log "FAIL: the broker exited during start-up with status $?"
        broker_log_tail
        broker_pid=""
        exit 1
    fi
    if [ $waited -ge $((START_TIMEOUT * 10)) ]; then
        log "FAIL: the broker's client port did not open within ${START_TIMEOUT}s"
        broker_log_tail
        exit 1
    fi
    sleep 0.1
    waited=$((waited + 1))
done

status=0
timeout --kill-after=5 "$CHECKER_TIMEOUT" "$RAFTMQ_BADINPUT" "tcp://127.0.0.1:$client_port"
checker_status=$?
if [ $checker_status -ne 0 ]; then
    log "FAIL: raftmq-badinput exited with status $checker_status"
    status=1
fi

# The broker must have survived every case, then shut down cleanly.
if ! kill -0 "$broker_pid" 2>/dev/null; then
    wait "$broker_pid"
    log "FAIL: the broker died during the test (status $?)"
    broker_pid=""
    broker_log_tail
    exit 1
fi
kill -TERM "$broker_pid"
waited=0
while kill -0 "$broker_pid" 2>/dev/null && [ $waited -lt $((STOP_TIMEOUT * 10)) ]; do
    sleep 0.1
    waited=$((waited + 1))
done
if kill -0 "$broker_pid" 2>/dev/null; then
    log "FAIL: the broker did not exit within ${STOP_TIMEOUT}s of SIGTERM"
    broker_log_tail
    exit 1
fi
wait "$broker_pid"
broker_status=$?
broker_pid=""
if [ $broker_status -ne 0 ]; then
    log "FAIL: the broker exited with status $broker_status after SIGTERM (want 0)"
    status=1
fi

if [ $status -eq 0 ]; then
    log "PASS"
else
    broker_log_tail
fi
exit $status
