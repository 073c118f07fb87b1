#!/usr/bin/env bash
# Runs raftmq-faults (tests/faults/faults.c) inside a network namespace of
# its own, so that network faults (nft rules between per-broker loopback
# addresses) never touch the host's firewall, routes or other processes.
# The namespace is removed at the end, also on failure or interruption.
# Without root (or without ip/nft) it runs on the host's 127.0.0.1 and the
# network faults are skipped, visibly; kills, pauses and restarts still run.
#
# Usage: tests/faults/run.sh [raftmq-faults options]   (see raftmq-faults --help)
# Environment: BUILD (default build), FAULTS_BIN, RAFTMQ_BROKER, RAFTMQ_ADMIN.
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
FAULTS_BIN=${FAULTS_BIN:-$BUILD/test/bin/raftmq-faults}
broker_given=false
for a in "$@"; do
    [ "$a" = --broker ] && broker_given=true
done
args=(--admin "${RAFTMQ_ADMIN:-$BUILD/bin/raftmq-admin}")
$broker_given || args+=(--broker "${RAFTMQ_BROKER:-$BUILD/test/bin/raftmq-broker}")

if [ ! -x "$FAULTS_BIN" ]; then
    echo "run.sh: missing $FAULTS_BIN (make test-build first)" >&2
    exit 2
fi

harness_pid=""
ns=""
# shellcheck disable=SC2317 # called through traps
cleanup() {
    if [ -n "$harness_pid" ] && kill -0 "$harness_pid" 2>/dev/null; then
        kill -KILL "$harness_pid" 2>/dev/null
        wait "$harness_pid" 2>/dev/null
    fi
    if [ -n "$ns" ]; then
        # The brokers die with the harness (PR_SET_PDEATHSIG); anything left is killed.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    fi
}
trap cleanup EXIT
# An interruption reaches the harness, which stops early and cleans up.
trap '[ -n "$harness_pid" ] && kill -INT "$harness_pid" 2>/dev/null' INT TERM

if [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1 && command -v nft >/dev/null 2>&1 &&
    ip netns add "raftmq-faults-$$" 2>/dev/null; then
    ns="raftmq-faults-$$"
    ip -n "$ns" link set lo up || exit 2
    echo "run.sh: network namespace $ns (brokers on 127.0.0.11..; removed at the end)"
    ip netns exec "$ns" "$FAULTS_BIN" --netns "${args[@]}" "$@" &
else
    echo "run.sh: no network namespace (needs root, ip and nft): network faults are SKIPPED" >&2
    "$FAULTS_BIN" "${args[@]}" "$@" &
fi
harness_pid=$!
# wait returns early when a trapped signal arrives: wait again for the real status.
while :; do
    wait "$harness_pid"
    rc=$?
    kill -0 "$harness_pid" 2>/dev/null || break
done
harness_pid=""
exit "$rc"
