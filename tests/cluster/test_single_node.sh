#!/usr/bin/env bash
# shellcheck disable=SC2034 # BROKER_* are read by lib.sh's helpers
# The zero-configuration broker: `raftmq-broker` with no arguments in an
# empty directory (it uses ./raftmq-data and the default ports 9292/9293).
# Create, produce 1000 records, verify; SIGINT must stop it with exit 0;
# restarted, it must still serve every acknowledged record. Skipped (exit
# 77, with a message) when the default ports are taken.
. "$(dirname "$0")/lib.sh"

RECORDS=1000
SEED=3
for port in 9292 9293; do
    port_in_use "$port" && skip "port $port is in use; the default configuration cannot run here"
done

BROKER_COUNT=1
BROKERS=tcp://127.0.0.1:9292
BROKER_LOG[1]=$TC_TMP/broker1.log
BROKER_ARGS[1]=""
mkdir -p "$TC_TMP/cwd"
cd "$TC_TMP/cwd" || fail "cd"
launch_broker 1
wait_ready
tc create -t single --partitions 2 --replicas 1 --timeout 20 || fail "create"
tc produce -t single --records "$RECORDS" --seed "$SEED" --acks "$TC_TMP/acks" --timeout 30 ||
    fail "produce"
tc verify -t single --records "$RECORDS" --seed "$SEED" --acks "$TC_TMP/acks" --timeout 30 ||
    fail "verify"
interrupt_broker 1
[ "$TC_STATUS" = 0 ] || fail "broker exited with status $TC_STATUS after SIGINT"
[ -d "$TC_TMP/cwd/raftmq-data" ] || fail "no ./raftmq-data in the broker's working directory"

restart_broker 1
wait_ready
tc verify -t single --records "$RECORDS" --seed "$SEED" --acks "$TC_TMP/acks" --timeout 30 ||
    fail "verify after restart"
stop_broker 1
[ "$TC_STATUS" = 0 ] || fail "broker exited with status $TC_STATUS after SIGTERM"
pass
