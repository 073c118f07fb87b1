#!/usr/bin/env bash
# `make run`'s cluster (broker/scripts/run-local-cluster.sh): three brokers
# on the fixed ports 9292/9392/9492 (+1 for peers) in the foreground. Start
# it, create a topic, produce 1000 records and read them back through it,
# then Ctrl-C (SIGINT to its process group, as a terminal sends): every
# broker must stop cleanly and the script must exit 0. Skipped (exit 77)
# when those ports are taken.
. "$(dirname "$0")/lib.sh"

RECORDS=1000
SEED=11
for port in 9292 9293 9392 9393 9492 9493; do
    port_in_use "$port" && skip "port $port is in use; make run's cluster cannot start here"
done
# shellcheck disable=SC2034 # read by lib.sh (wait_ready, tc)
BROKER_COUNT=3
# shellcheck disable=SC2034
BROKERS=tcp://127.0.0.1:9292,tcp://127.0.0.1:9392,tcp://127.0.0.1:9492

# Job control gives the script its own process group, which SIGINT reaches
# as Ctrl-C would (background jobs of a non-interactive shell ignore it).
set -m
RAFTMQ_BROKER=$RAFTMQ_BROKER RAFTMQ_RUN_DIR=$TC_TMP/run \
    broker/scripts/run-local-cluster.sh >"$TC_TMP/run.out" 2>&1 &
run_pid=$!
set +m
TC_PIDS+=("$run_pid")
wait_ready
tc create -t demo --partitions 3 --replicas 3 --timeout 20 || fail "create"
tc produce -t demo --records "$RECORDS" --seed "$SEED" --acks "$TC_TMP/acks" --timeout 30 ||
    fail "produce"
tc verify -t demo --records "$RECORDS" --seed "$SEED" --acks "$TC_TMP/acks" --timeout 30 ||
    fail "verify"

kill -INT -- "-$run_pid" || fail "cannot signal the run script's process group"
wait_exit "$run_pid" "$STOP_TIMEOUT" || fail "make run's script did not stop within ${STOP_TIMEOUT}s"
[ "$TC_STATUS" = 0 ] || { tail -n 30 "$TC_TMP/run.out" >&2; fail "run script exited with $TC_STATUS"; }
stopped=$(grep -c "stopped cleanly" "$TC_TMP/run.out")
[ "$stopped" = 3 ] || { tail -n 30 "$TC_TMP/run.out" >&2; fail "$stopped of 3 brokers logged a clean stop"; }
for i in 1 2 3; do
    grep -q "^broker$i | .*node=$i " "$TC_TMP/run.out" || fail "no prefixed log line from broker $i"
done
pass
