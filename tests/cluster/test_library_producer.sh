#!/usr/bin/env bash
# The libraftmq producer against 3 real brokers, checked by reading the log
# back at wire level (raftmq-producer-check: FETCH and the batch iterator,
# not the consumer library):
#
#   1. round trip, idempotent and not: keys, nil keys, headers, explicit
#      partitions; every report OK, every record exactly once at its
#      reported offset, per-key order and the FNV-1a placement kept;
#   2. ordering while answers are dropped (the producer's test hook) with
#      5 requests in flight: per partition the log order is the send order,
#      and with idempotence no record is stored twice (without it: 1 in
#      flight, order kept, duplicates allowed);
#   3. idempotence across a crash: the leader of partition 0 gets SIGKILL
#      while records flow and answers are dropped; after recovery every
#      acknowledged record is in the log exactly once and in order. The
#      killed broker restarts and the replicas must agree entry for entry.
. "$(dirname "$0")/lib.sh"

# The sanitizer build when there is one (make test-build), else the release build.
CHECK=${RAFTMQ_PRODUCER_CHECK:-$BUILD/test/bin/raftmq-producer-check}
[ -x "$CHECK" ] || CHECK=$BUILD/bin/raftmq-producer-check
case $CHECK in /*) ;; *) CHECK=$REPO_DIR/$CHECK ;; esac
[ -x "$CHECK" ] || { log "missing $CHECK (make build)"; exit 2; }

RECORDS=${RECORDS:-20000}

start_cluster 3
wait_ready
for t in rt rt_plain ord ord_plain failover; do
    tc create -t "$t" --partitions 3 --replicas 3 --timeout 30 || fail "create $t"
done

# check NAME ARGS...: runs the checker in the foreground, bounded; its output in $TC_TMP/NAME.out.
check() {
    local name=$1
    shift
    start_bg "$name" "$CHECK" "$@" -b "$BROKERS"
    wait_exit "$TC_LAST_PID" 120 || fail "$name: still running after 120 s"
    grep 'producer-check:' "$TC_TMP/$name.out" | tail -n 4 >&2
    [ "$TC_STATUS" = 0 ] || fail "$name: exit status $TC_STATUS"
}

# 1. Round trip.
check roundtrip roundtrip -t rt --records "$RECORDS"
check roundtrip_plain roundtrip -t rt_plain --records "$RECORDS" --no-idempotence

# 2. Ordering under retries: an answer dropped every 50 records.
check ordering ordering -t ord --records "$RECORDS" --drop-every 50
grep -q ' 0 stored more than once' "$TC_TMP/ordering.out" || fail "ordering: duplicates with idempotence"
check ordering_plain ordering -t ord_plain --records "$RECORDS" --drop-every 200 --no-idempotence

# 3. The leader of partition 0 dies while answers are being dropped.
start_bg failover "$CHECK" failover -t failover --records "$RECORDS" --drop-every 100 \
    --ready-file "$TC_TMP/ready" --wait-file "$TC_TMP/go" -b "$BROKERS"
checker=$TC_LAST_PID
# shellcheck disable=SC2317 # called through wait_until
ready() { [ -s "$TC_TMP/ready" ] || ! alive "$checker"; }
wait_until 60 "the checker names the leader of partition 0" ready
[ -s "$TC_TMP/ready" ] || fail "the checker exited before naming the leader"
victim=$(cat "$TC_TMP/ready")
log "killing broker $victim, the leader of failover/0, while records flow"
kill_broker "$victim"
sleep 1
touch "$TC_TMP/go"
wait_exit "$checker" 120 || fail "failover: still running after 120 s"
grep 'producer-check:' "$TC_TMP/failover.out" | tail -n 4 >&2
[ "$TC_STATUS" = 0 ] || fail "failover: exit status $TC_STATUS"
grep -q ' 0 stored more than once' "$TC_TMP/failover.out" || fail "failover: duplicates"

restart_broker "$victim"
wait_ready
tc wait-converged --timeout 60 || fail "the restarted broker did not catch up"
stop_all_and_compare_replicas
pass
