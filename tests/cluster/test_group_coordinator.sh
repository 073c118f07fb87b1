#!/usr/bin/env bash
# The group coordinator (the controller) is killed while a group consumes.
# 3 brokers, a topic of 4 partitions written continuously, a group of two
# library members (raftmq-group-check run) committing every 20 records.
# The controller gets SIGKILL; then:
#   - the members keep processing records and their commits succeed again
#     (at the new controller, which has every committed offset: they are
#     replicated through the metadata Raft group);
#   - `raftmq-admin group describe` after the failover shows, per partition,
#     committed offsets no lower than before it;
#   - from the logs (raftmq-group-check check): no partition owned by two
#     members at once, every acknowledged record processed, none twice (no
#     member died, so nothing may be read again), commits never backwards,
#     and the group's final committed offsets equal the members' last
#     commits;
#   - the killed broker restarts and rejoins.
# Environment: see lib.sh; RAFTMQ_GROUP_CHECK, RAFTMQ_ADMIN; RECORDS, RATE.
. "$(dirname "$0")/lib.sh"

CHECK_BIN=${RAFTMQ_GROUP_CHECK:-}
if [ -z "$CHECK_BIN" ]; then
    CHECK_BIN=$REPO_DIR/$BUILD/test/bin/raftmq-group-check
    [ -x "$CHECK_BIN" ] || CHECK_BIN=$REPO_DIR/$BUILD/bin/raftmq-group-check
fi
ADMIN=${RAFTMQ_ADMIN:-$REPO_DIR/$BUILD/bin/raftmq-admin}
for bin in "$CHECK_BIN" "$ADMIN"; do
    [ -x "$bin" ] || { log "missing $bin (make build test-build)"; exit 2; }
done

RECORDS=${RECORDS:-16000}
PARTITIONS=4
RATE=${RATE:-500}

admin() { "$ADMIN" -b "$BROKERS" --timeout 20000 "$@"; }
now() { "$CHECK_BIN" now; }
# shellcheck disable=SC2317 # called through wait_until
owned_is() {
    local want=$1
    shift
    [ "$("$CHECK_BIN" owned "$@" 2>/dev/null)" = "$want" ]
}
# "topic partition committed" of every partition with a committed offset.
committed_offsets() {
    admin group describe coordg | awk '$1 == "coord" && $3 ~ /^[0-9]+$/ { print $1, $2, $3 }'
}
# Lines of logs $2.. of kind $1 logged after mono time $3 ($5 is the time of REC and COMMIT).
count_after() {
    local kind=$1 since=$2
    shift 2
    cat "$@" | awk -v k="$kind" -v t="$since" '$1 == k && $5 > t { n++ } END { print n + 0 }'
}
# shellcheck disable=SC2317
progress_after() {
    [ "$(count_after REC "$killed_at" "$TC_TMP"/m[12].log)" -ge 200 ] &&
        [ "$(count_after COMMIT "$killed_at" "$TC_TMP"/m1.log)" -ge 1 ] &&
        [ "$(count_after COMMIT "$killed_at" "$TC_TMP"/m2.log)" -ge 1 ]
}

start_cluster 3
wait_ready
tc create -t coord --partitions "$PARTITIONS" --replicas 3 >/dev/null || fail "create coord"
# One producer per partition: raftmq-testclient writes a partition's records
# before the next one's, and every partition must be written all along.
producers=()
for ((p = 0; p < PARTITIONS; p++)); do
    start_bg "producer$p" "$RAFTMQ_TESTCLIENT" produce -b "$BROKERS" -t coord --records "$RECORDS" \
        --seed 9 --partitions "$p" --acks "$TC_TMP/acks$p" --rate $((RATE / PARTITIONS)) \
        --inflight 2 --batch-records 10 --request-timeout 3000 --timeout 100
    producers+=("$TC_LAST_PID")
done
producer=${producers[0]}

members=()
for m in m1 m2; do
    start_bg "$m" "$CHECK_BIN" run -b "$BROKERS" -g coordg -t coord --log "$TC_TMP/$m.log" \
        --no-auto-commit --commit-every 20 --commit-interval 300 --session-timeout 6000 --client-id "$m"
    members+=("$TC_LAST_PID")
    touch "$TC_TMP/$m.log"
done
wait_until 40 "m1 and m2 to own 2 partitions each" owned_is "2 2" "$TC_TMP/m1.log" "$TC_TMP/m2.log"
sleep 2
committed_offsets >"$TC_TMP/before.txt"
[ "$(wc -l <"$TC_TMP/before.txt")" = 4 ] || fail "before the kill, describe shows $(wc -l <"$TC_TMP/before.txt") committed partitions, expected 4: $(cat "$TC_TMP/before.txt")"

controller=$(admin --json topic list | grep -o '"controller_id":[0-9]*' | cut -d: -f2)
if [ -z "$controller" ] || [ "$controller" = 0 ]; then fail "no controller known"; fi
alive "$producer" || log "warning: the producer finished before the kill (raise RECORDS or lower RATE)"
log "killing broker $controller, the controller and so the group coordinator"
kill_broker "$controller"
killed_at=$(now)

wait_until 60 "records processed and commits made by both members after the kill" progress_after
log "after the kill: $(count_after REC "$killed_at" "$TC_TMP"/m[12].log) records processed, commits resumed"
committed_offsets >"$TC_TMP/after.txt"
[ "$(wc -l <"$TC_TMP/after.txt")" = 4 ] || fail "after the kill, describe shows $(wc -l <"$TC_TMP/after.txt") committed partitions: $(cat "$TC_TMP/after.txt")"
bad=$(awk 'NR == FNR { before[$1 " " $2] = $3; next }
           ($1 " " $2) in before && $3 + 0 < before[$1 " " $2] + 0 { print $1 "/" $2 ": " before[$1 " " $2] " -> " $3 }' \
    "$TC_TMP/before.txt" "$TC_TMP/after.txt")
[ -z "$bad" ] || fail "committed offsets went backwards across the failover: $bad"

for ((p = 0; p < PARTITIONS; p++)); do
    wait_exit "${producers[$p]}" 120 || fail "producer $p did not finish within 120 s"
    [ "$TC_STATUS" = 0 ] || fail "producer $p exited with $TC_STATUS: $(tail -n 3 "$TC_TMP/producer$p.out")"
done
# One ack file for the checker: the first header, every producer's acknowledgements.
{ head -n 1 "$TC_TMP/acks0"; cat "$TC_TMP"/acks[0-9]* | grep '^[0-9]'; } >"$TC_TMP/acks"
# shellcheck disable=SC2317
processed_all() { "$CHECK_BIN" complete --acks "$TC_TMP/acks" "$TC_TMP"/m[12].log; }
wait_until 60 "every acknowledged record to be processed" processed_all
for pid in "${members[@]}"; do
    kill -TERM "$pid"
    wait_exit "$pid" 30 || fail "member $pid did not exit within 30 s of SIGTERM"
    [ "$TC_STATUS" = 0 ] || fail "member $pid exited with $TC_STATUS after SIGTERM"
done
committed_offsets >"$TC_TMP/final.txt"
"$CHECK_BIN" check --acks "$TC_TMP/acks" --expect-committed "$TC_TMP/final.txt" \
    "$TC_TMP/m1.log" "$TC_TMP/m2.log" >"$TC_TMP/check.out" 2>&1
status=$?
cat "$TC_TMP/check.out" >&2
[ "$status" = 0 ] || fail "the group's guarantees do not hold across the coordinator failover (see above)"

restart_broker "$controller"
wait_ready
pass
