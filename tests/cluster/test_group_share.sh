#!/usr/bin/env bash
# A consumer group shares a topic's partitions, on a 3-broker cluster.
# A producer writes 6 partitions continuously while library members
# (raftmq-group-check run, each logging ASSIGN/REVOKE/REC/COMMIT with
# CLOCK_MONOTONIC times) come and go:
#   two members (3 partitions each), a third joins (2 each; only 2
#   partitions may move), one leaves cleanly (SIGTERM), one is killed
#   (SIGKILL) and the last takes its partitions after the session timeout
#   (3000 ms). Then `raftmq-group-check check` requires, from the logs:
#   - no partition owned by two members at any time (a killed member's
#     ownership ends when it was killed);
#   - every acknowledged record processed, with its id;
#   - records processed twice only after the killed member's last commit of
#     their partition (a clean leave and the join hand over without any);
#   - committed offsets never going backwards;
#   - around the leave and the kill, the members that stay revoke nothing
#     and keep consuming the partitions they had.
# Environment: see lib.sh; RAFTMQ_GROUP_CHECK; RECORDS, RATE.
. "$(dirname "$0")/lib.sh"

CHECK_BIN=${RAFTMQ_GROUP_CHECK:-}
if [ -z "$CHECK_BIN" ]; then
    CHECK_BIN=$REPO_DIR/$BUILD/test/bin/raftmq-group-check
    [ -x "$CHECK_BIN" ] || CHECK_BIN=$REPO_DIR/$BUILD/bin/raftmq-group-check
fi
[ -x "$CHECK_BIN" ] || { log "missing $CHECK_BIN (make test-build)"; exit 2; }

RECORDS=${RECORDS:-32000}
PARTITIONS=6
RATE=${RATE:-800}
SESSION_MS=3000

now() { "$CHECK_BIN" now; }
owned() { "$CHECK_BIN" owned "$@" 2>/dev/null; }
# shellcheck disable=SC2317 # called through wait_until
owned_is() {
    local want=$1
    shift
    [ "$(owned "$@")" = "$want" ]
}

declare -A MEMBER_PID
start_member() {
    start_bg "$1" "$CHECK_BIN" run -b "$BROKERS" -g share -t shared --log "$TC_TMP/$1.log" \
        --no-auto-commit --commit-every 50 --commit-interval 300 --session-timeout "$SESSION_MS" \
        --client-id "$1"
    MEMBER_PID[$1]=$TC_LAST_PID
    touch "$TC_TMP/$1.log"
}

start_cluster 3
wait_ready
tc create -t shared --partitions "$PARTITIONS" --replicas 3 >/dev/null || fail "create shared"
# One producer per partition: raftmq-testclient writes a partition's records
# before the next one's, and every partition must be written all along.
producers=()
for ((p = 0; p < PARTITIONS; p++)); do
    start_bg "producer$p" "$RAFTMQ_TESTCLIENT" produce -b "$BROKERS" -t shared --records "$RECORDS" \
        --seed 3 --partitions "$p" --acks "$TC_TMP/acks$p" --rate $((RATE / PARTITIONS)) \
        --inflight 2 --batch-records 10 --request-timeout 3000 --timeout 100
    producers+=("$TC_LAST_PID")
done
producer=${producers[0]}

# ---- two members ----------------------------------------------------------------------------
start_member m1
start_member m2
wait_until 40 "m1 and m2 to own 3 partitions each" owned_is "3 3" "$TC_TMP/m1.log" "$TC_TMP/m2.log"
log "m1 and m2 own 3 partitions each"
sleep 1

# ---- a third joins: incremental, only 2 partitions move ------------------------------------------
join_from=$(now)
start_member m3
wait_until 40 "2 partitions each for m1, m2, m3" owned_is "2 2 2" "$TC_TMP/m1.log" "$TC_TMP/m2.log" "$TC_TMP/m3.log"
join_to=$(now)
log "m3 joined: 2 partitions each"
sleep 1

# ---- m2 leaves cleanly ---------------------------------------------------------------------------
leave_from=$(now)
kill -TERM "${MEMBER_PID[m2]}"
wait_exit "${MEMBER_PID[m2]}" 30 || fail "m2 did not exit within 30 s of SIGTERM"
[ "$TC_STATUS" = 0 ] || fail "m2 exited with $TC_STATUS after SIGTERM"
wait_until 30 "m1 and m3 to own 3 partitions each" owned_is "3 3" "$TC_TMP/m1.log" "$TC_TMP/m3.log"
sleep 2 # the partitions that stayed put must keep being consumed meanwhile
leave_to=$(now)
log "m2 left: m1 and m3 own 3 partitions each"

# ---- m3 is killed: m1 takes its partitions after the session timeout --------------------------------
alive "$producer" || log "warning: the producer finished before the kill (raise RECORDS or lower RATE)"
kill -KILL "${MEMBER_PID[m3]}"
wait "${MEMBER_PID[m3]}" 2>/dev/null
killed_at=$(now)
wait_until 40 "m1 to own all 6 partitions" owned_is "6" "$TC_TMP/m1.log"
sleep 1
kill_to=$(now)
log "m3 killed: m1 owns all 6 partitions"

for ((p = 0; p < PARTITIONS; p++)); do
    wait_exit "${producers[$p]}" 120 || fail "producer $p did not finish within 120 s"
    [ "$TC_STATUS" = 0 ] || fail "producer $p exited with $TC_STATUS: $(tail -n 3 "$TC_TMP/producer$p.out")"
done
# One ack file for the checker: the first header, every producer's acknowledgements.
{ head -n 1 "$TC_TMP/acks0"; cat "$TC_TMP"/acks[0-9]* | grep '^[0-9]'; } >"$TC_TMP/acks"
# shellcheck disable=SC2317
processed_all() { "$CHECK_BIN" complete --acks "$TC_TMP/acks" "$TC_TMP"/m[123].log; }
wait_until 60 "every acknowledged record to be processed" processed_all
kill -TERM "${MEMBER_PID[m1]}"
wait_exit "${MEMBER_PID[m1]}" 30 || fail "m1 did not exit within 30 s of SIGTERM"
[ "$TC_STATUS" = 0 ] || fail "m1 exited with $TC_STATUS after SIGTERM"

"$CHECK_BIN" check --acks "$TC_TMP/acks" --killed "$TC_TMP/m3.log=$killed_at" \
    --max-revokes "$join_from" "$join_to" 2 \
    --quiet "$leave_from" "$leave_to" --quiet "$killed_at" "$kill_to" \
    "$TC_TMP/m1.log" "$TC_TMP/m2.log" "$TC_TMP/m3.log" >"$TC_TMP/check.out" 2>&1
status=$?
cat "$TC_TMP/check.out" >&2
[ "$status" = 0 ] || fail "the group's guarantees do not hold (see above)"
pass
