#!/usr/bin/env bash
# A broker paused long enough for its peers to drop their connections to it
# (ZeroMQ heartbeats: 1 s of silence) must hear them again soon after it
# resumes. Their reconnections come back under the same routing ids while
# its ROUTER may still hold the old connections; without ZMQ_ROUTER_HANDOVER
# the new ones were refused and the resumed broker stayed deaf for about
# 20 s (found by the fault suite, tests/faults/). Three rounds: pause a
# follower for 3 s while records are produced, resume it, and require the
# cluster to converge within a liveness bound far above the ~1 s reconnect
# and far below the 20 s it took before.
. "$(dirname "$0")/lib.sh"

ROUNDS=3
PAUSE_S=3
CONVERGE_S=${CONVERGE_S:-8}

start_cluster 3
wait_ready
tc create -t rejoin --partitions 1 --replicas 3 --timeout 30 || fail "create"
tc produce -t rejoin --records 1000 --seed 1 --acks "$TC_TMP/acks0" --timeout 30 >/dev/null ||
    fail "produce before the pauses"
for round in $(seq 1 "$ROUNDS"); do
    leader=$(tc leader -t rejoin -p 0 --timeout 10) || fail "no leader (round $round)"
    victim=$((leader % 3 + 1))
    log "round $round: pausing follower $victim for ${PAUSE_S}s (leader $leader)"
    kill -STOP "${BROKER_PID[$victim]}" || fail "SIGSTOP"
    tc produce -t rejoin --records 500 --seed $((round + 1)) --acks "$TC_TMP/acks$round" \
        --timeout 30 >/dev/null || { kill -CONT "${BROKER_PID[$victim]}"; fail "produce while paused"; }
    sleep "$PAUSE_S"
    kill -CONT "${BROKER_PID[$victim]}" || fail "SIGCONT"
    tc wait-converged --timeout "$CONVERGE_S" ||
        fail "round $round: broker $victim did not catch up within ${CONVERGE_S}s of resuming"
done
stop_all_and_compare_replicas
pass
