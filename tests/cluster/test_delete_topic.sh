#!/usr/bin/env bash
# Topics created and deleted while their partitions are busy: 3 brokers; eight
# times a topic of 64 partitions replicated 3 ways is created, written to,
# and deleted. Deleting closes and frees partition groups in the middle of a
# loop turn in which their heartbeats may still be queued for processing,
# which once freed a group the loop was about to touch (found by ASan in
# test_tools). Every broker must stay up, remove the topic's directories,
# and exit 0 on SIGTERM with nothing left of the deleted topics.
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-8}
ADMIN=${RAFTMQ_ADMIN:-$BUILD/bin/raftmq-admin}

start_cluster 3
wait_ready
for ((round = 1; round <= ROUNDS; round++)); do
    tc create -t churn --partitions 64 --replicas 3 --timeout 30 >/dev/null || fail "create, round $round"
    tc produce -t churn --records 640 --seed "$round" --acks "$TC_TMP/acks$round" --timeout 30 \
        >/dev/null 2>&1 || fail "produce, round $round"
    "$ADMIN" -b "$BROKERS" --timeout 20000 topic delete churn >/dev/null 2>"$TC_TMP/delete.err" ||
        fail "delete, round $round: $(cat "$TC_TMP/delete.err")"
    # shellcheck disable=SC2317 # called through wait_until
    gone() { ! compgen -G "$TC_TMP/data[123]/topics/churn@*" >/dev/null; }
    wait_until 20 "round $round's partitions removed from every broker" gone
    for ((i = 1; i <= BROKER_COUNT; i++)); do
        alive "${BROKER_PID[$i]}" || fail "broker $i died in round $round (see its log)"
    done
done
log "$ROUNDS rounds of create, produce, delete"
for ((i = 1; i <= BROKER_COUNT; i++)); do
    stop_broker "$i"
    [ "$TC_STATUS" = 0 ] || fail "broker $i exited with status $TC_STATUS after SIGTERM"
done
pass
