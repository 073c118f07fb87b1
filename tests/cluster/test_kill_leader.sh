#!/usr/bin/env bash
# A partition leader crashes under load: 3 brokers, 3 partitions replicated 3
# ways. A producer runs in the background (rate-limited, so it is still
# producing when the leader dies); after its first acknowledgements the
# leader of partition 0 gets SIGKILL. The producer must finish every record
# (retrying at the new leader), the killed broker restarts with the same
# flags and catches up, every acknowledged record must be readable, and
# after a clean SIGTERM of every broker (exit status 0) the replicas' logs
# must agree entry for entry up to their common commit index.
. "$(dirname "$0")/lib.sh"

RECORDS=${RECORDS:-100000}
RATE=${RATE:-20000}
SEED=${SEED:-11}

start_cluster 3
wait_ready
tc create -t events --partitions 3 --replicas 3 --timeout 30 || fail "create"

start_bg producer "$RAFTMQ_TESTCLIENT" produce -b "$BROKERS" -t events --records "$RECORDS" \
    --seed "$SEED" --acks "$TC_TMP/acks" --rate "$RATE" --inflight 4 --batch-records 50 \
    --request-timeout 3000 --timeout 90
producer=$TC_LAST_PID

# shellcheck disable=SC2317 # called through wait_until
enough_acks() { [ "$(ack_count "$TC_TMP/acks")" -ge 1000 ]; }
wait_until 30 "1000 acknowledgements" enough_acks

victim=$(tc leader -t events -p 0 --timeout 10) || fail "no leader for partition 0"
before=$(ack_count "$TC_TMP/acks")
alive "$producer" || log "warning: the producer finished before the kill (raise RECORDS or lower RATE)"
log "killing broker $victim, the leader of partition 0, after $before acknowledgements"
kill_broker "$victim"

wait_exit "$producer" 120 || fail "producer still running after 120 s"
[ "$TC_STATUS" = 0 ] || fail "producer exited with status $TC_STATUS"
acked=$(ack_count "$TC_TMP/acks")
[ "$acked" -gt "$before" ] || fail "no acknowledgement after the kill"
[ "$acked" = "$RECORDS" ] || fail "$acked of $RECORDS records acknowledged"
grep 'produce:' "$TC_TMP/producer.out" >&2
new_leader=$(tc leader -t events -p 0 --timeout 10) || fail "no leader for partition 0 after the kill"
[ "$new_leader" != "$victim" ] || fail "partition 0 still led by the killed broker $victim"

restart_broker "$victim"
wait_ready
tc wait-converged --timeout 60 || fail "the restarted broker did not catch up"
tc verify -t events --records "$RECORDS" --seed "$SEED" --acks "$TC_TMP/acks" --timeout 60 ||
    fail "verify"

# Preferred leaders (each partition's first replica) are handed back once
# the restarted broker has caught up.
ADMIN=${RAFTMQ_ADMIN:-$BUILD/bin/raftmq-admin}
# shellcheck disable=SC2317 # called through wait_until
preferred_leaders() {
    local json leaders firsts
    json=$("$ADMIN" -b "$BROKERS" --json topic describe events) || return 1
    leaders=$(grep -o '"partition":[0-9]*,"leader":[0-9]*' <<<"$json" | sed 's/.*"leader"://')
    firsts=$(grep -o '"replicas":\[[0-9]*' <<<"$json" | sed 's/.*\[//')
    [ -n "$leaders" ] && [ "$leaders" = "$firsts" ]
}
wait_until 30 "every partition led by its preferred (first) replica again" preferred_leaders

stop_all_and_compare_replicas
pass
