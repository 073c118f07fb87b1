#!/usr/bin/env bash
# Consumer groups: the refusals, and the tools, on a 3-broker cluster.
#   1. wire level (raftmq-group-check errors): a stale generation's commit
#      and a commit of a partition another member owns are ILLEGAL_GENERATION,
#      an unknown member UNKNOWN_MEMBER, an unknown topic UNKNOWN_TOPIC (named),
#      a missing partition UNKNOWN_PARTITION, a lower offset OFFSET_BACKWARDS
#      unless rewind is set, member "" while the group has members
#      GROUP_NOT_EMPTY; OFFSET_FETCH after each shows nothing moved;
#   2. raftmq-admin group list / describe: the group, its state, its member
#      (client id), committed offsets, end offsets and lag, owners;
#   3. group reset refused with a clear message while a member runs; after it
#      stops: --to earliest, latest, an offset (back: rewind) and one out of
#      range (kept in range); a member started afterwards starts at the reset
#      offsets; describe of an unknown group fails;
#   4. raftmq-consume -g: -c N commits N records and exits 0, a second one
#      started afterwards goes on from there, SIGINT leaves (revoked on
#      stderr), commits and exits 0; the records are printed once in all;
#      an unknown topic is an error (exit 1);
#   5. meanwhile a member whose handler takes 4 s a record (session timeout
#      3 s) keeps its partitions: never expelled, nothing lost.
# Environment: see lib.sh; RAFTMQ_GROUP_CHECK, RAFTMQ_ADMIN, RAFTMQ_CONSUME.
. "$(dirname "$0")/lib.sh"

CHECK_BIN=${RAFTMQ_GROUP_CHECK:-}
if [ -z "$CHECK_BIN" ]; then
    CHECK_BIN=$REPO_DIR/$BUILD/test/bin/raftmq-group-check
    [ -x "$CHECK_BIN" ] || CHECK_BIN=$REPO_DIR/$BUILD/bin/raftmq-group-check
fi
ADMIN=${RAFTMQ_ADMIN:-$REPO_DIR/$BUILD/bin/raftmq-admin}
CONSUME=${RAFTMQ_CONSUME:-$REPO_DIR/$BUILD/bin/raftmq-consume}
for bin in "$CHECK_BIN" "$ADMIN" "$CONSUME"; do
    [ -x "$bin" ] || { log "missing $bin (make build test-build)"; exit 2; }
done

admin() { "$ADMIN" -b "$BROKERS" --timeout 20000 "$@"; }
# describe_field GROUP PARTITION COLUMN: a column of the partition's row of
# `group describe` (3 committed, 4 end, 5 lag, 6 owner) for topic errs.
describe_field() {
    admin group describe "$1" | awk -v p="$2" -v col="$3" '$1 == "errs" && $2 == p { print $col }'
}

start_cluster 3
wait_ready
tc create -t errs --partitions 2 --replicas 3 >/dev/null || fail "create errs"
tc produce -t errs --records 200 --seed 5 --acks "$TC_TMP/errs.acks" >"$TC_TMP/produce.out" 2>&1 ||
    fail "produce: $(tail -n 3 "$TC_TMP/produce.out")"

# ---- 1. wire-level refusals ------------------------------------------------------------
"$CHECK_BIN" errors -b "$BROKERS" -g wire-errors -t errs >"$TC_TMP/errors.out" 2>&1 ||
    fail "wire-level group checks failed: $(grep -E 'FAIL|error' "$TC_TMP/errors.out" | head -n 20)"
checks=$(grep -c '^ok:' "$TC_TMP/errors.out")
[ "$checks" -ge 20 ] || fail "only $checks wire-level checks passed: $(tail -n 5 "$TC_TMP/errors.out")"
log "wire level: $checks checks passed"

# ---- 2. list and describe ------------------------------------------------------------------
admin group list >"$TC_TMP/list.out" || fail "group list failed"
awk '$1 == "wire-errors" && $2 == "empty" && $3 == 0 { found = 1 } END { exit !found }' "$TC_TMP/list.out" ||
    fail "group list does not show wire-errors as empty with 0 members: $(cat "$TC_TMP/list.out")"
[ "$(describe_field wire-errors 0 3)" = 7 ] || fail "describe: errs/0 committed is not 7"
[ "$(describe_field wire-errors 1 3)" = 9 ] || fail "describe: errs/1 committed is not 9"
[ "$(describe_field wire-errors 0 4)" = 100 ] || fail "describe: errs/0 end is not 100"
[ "$(describe_field wire-errors 0 5)" = 93 ] || fail "describe: errs/0 lag is not 100 - 7"
[ "$(describe_field wire-errors 1 5)" = 91 ] || fail "describe: errs/1 lag is not 100 - 9"

out=$(admin group describe no-such-group 2>&1)
status=$?
[ "$status" = 1 ] || fail "describe of an unknown group: exit $status, expected 1"
grep -q "no members and no committed offsets" <<<"$out" || fail "describe of an unknown group says: $out"

# A library member of group lib-group reads both partitions, committing each record.
start_bg member1 "$CHECK_BIN" run -b "$BROKERS" -g lib-group -t errs --log "$TC_TMP/member1.log" \
    --no-auto-commit --client-id member-one --session-timeout 6000
member=$TC_LAST_PID
# shellcheck disable=SC2317 # called through wait_until
all_read() { "$CHECK_BIN" complete --acks "$TC_TMP/errs.acks" "$@"; }
wait_until 60 "the member to process all 200 records" all_read "$TC_TMP/member1.log"
# shellcheck disable=SC2317
lag_zero() { [ "$(describe_field lib-group 0 5)" = 0 ] && [ "$(describe_field lib-group 1 5)" = 0 ]; }
wait_until 30 "lib-group's lag to reach 0" lag_zero
admin group describe lib-group >"$TC_TMP/describe.out" || fail "describe lib-group"
grep -q "member-one" "$TC_TMP/describe.out" || fail "describe does not show the member's client id: $(cat "$TC_TMP/describe.out")"
member_id=$(awk '$2 == "member-one" { print $1 }' "$TC_TMP/describe.out")
[ -n "$member_id" ] || fail "no member row for member-one"
[ "$(describe_field lib-group 0 6)" = "$member_id" ] || fail "errs/0 is not shown as owned by $member_id"
[ "$(describe_field lib-group 1 3)" = 100 ] || fail "errs/1 committed is not 100"
admin group list | awk '$1 == "lib-group" && $2 == "stable" && $3 == 1 { f = 1 } END { exit !f }' ||
    fail "group list does not show lib-group stable with 1 member"
admin --json group describe lib-group | grep -q '"lag":0' || fail "describe --json has no lag"

# ---- 3. reset ---------------------------------------------------------------------------------
out=$(admin group reset lib-group --to earliest 2>&1)
status=$?
[ "$status" = 1 ] || fail "reset with a member running: exit $status, expected 1"
grep -q "group lib-group has 1 member; stop it before resetting it" <<<"$out" ||
    fail "reset with a member running says: $out"
[ "$(describe_field lib-group 0 3)" = 100 ] || fail "the refused reset moved errs/0"

kill -TERM "$member"
wait_exit "$member" 30 || fail "the member did not exit within 30 s of SIGTERM"
[ "$TC_STATUS" = 0 ] || fail "the member exited with $TC_STATUS after SIGTERM"
grep -q '^END' "$TC_TMP/member1.log" || fail "the member did not log its clean end"
admin group list | awk '$1 == "lib-group" && $2 == "empty" && $3 == 0 { f = 1 } END { exit !f }' ||
    fail "group list does not show lib-group empty after its member left"

admin group reset lib-group --to earliest >"$TC_TMP/reset.out" || fail "reset --to earliest failed"
[ "$(describe_field lib-group 0 3)" = 0 ] || fail "reset --to earliest: errs/0 is not 0"
[ "$(describe_field lib-group 1 5)" = 100 ] || fail "reset --to earliest: errs/1 lag is not 100"
admin group reset lib-group --to latest >/dev/null || fail "reset --to latest failed"
[ "$(describe_field lib-group 1 3)" = 100 ] || fail "reset --to latest: errs/1 is not 100"
admin group reset lib-group --to 5 --topic errs >/dev/null || fail "reset --to 5 failed"
[ "$(describe_field lib-group 0 3)" = 5 ] || fail "reset --to 5: errs/0 is not 5"
[ "$(describe_field lib-group 1 3)" = 5 ] || fail "reset --to 5: errs/1 is not 5"
admin group reset lib-group --to 100000 --topic errs >"$TC_TMP/reset-far.out" || fail "reset --to 100000"
[ "$(describe_field lib-group 0 3)" = 100 ] || fail "reset --to 100000: errs/0 is not kept at its end 100"
grep -q "out of range" "$TC_TMP/reset-far.out" || fail "reset past the end does not say it was moved"
admin group reset lib-group --to 5 >/dev/null || fail "reset --to 5 (every partition with offsets)"
out=$(admin group reset no-such-group --to earliest 2>&1)
[ $? = 1 ] || fail "reset of a group without offsets did not fail"
grep -q "no committed offsets" <<<"$out" || fail "reset of an unknown group says: $out"

# A member started now begins where the reset put the group.
start_bg member2 "$CHECK_BIN" run -b "$BROKERS" -g lib-group -t errs --log "$TC_TMP/member2.log" \
    --no-auto-commit --records 190
member=$TC_LAST_PID
wait_exit "$member" 60 || fail "the second member did not process 190 records within 60 s"
[ "$TC_STATUS" = 0 ] || fail "the second member exited with $TC_STATUS"
first=$(awk '$1 == "REC" && !($3 in seen) { seen[$3] = $4 } END { print seen[0], seen[1] }' "$TC_TMP/member2.log")
[ "$first" = "5 5" ] || fail "after reset --to 5 the member started at '$first', expected '5 5'"

# ---- 4. raftmq-consume -g (while a slow member runs next to it) -------------------------------
# A handler slower than the session timeout (4 s a record, 3 s session) must not
# get its member expelled: the library heartbeats from its own thread.
start_bg slow "$CHECK_BIN" run -b "$BROKERS" -g slow-group -t errs --log "$TC_TMP/slow.log" \
    --no-auto-commit --session-timeout 3000 --delay-ms 4000 --records 3
slow=$TC_LAST_PID
"$CONSUME" -b "$BROKERS" -g tool-group -t errs -c 50 -f '%p:%o\n' --timeout 20000 \
    >"$TC_TMP/consume1.txt" 2>"$TC_TMP/consume1.err"
status=$?
[ "$status" = 0 ] || fail "raftmq-consume -g -c 50: exit $status: $(tail -n 3 "$TC_TMP/consume1.err")"
[ "$(wc -l <"$TC_TMP/consume1.txt")" = 50 ] || fail "raftmq-consume -g -c 50 printed $(wc -l <"$TC_TMP/consume1.txt") lines"
grep -q "assigned errs/0 errs/1\|assigned errs/1 errs/0" "$TC_TMP/consume1.err" ||
    fail "raftmq-consume -g did not report its assignment: $(cat "$TC_TMP/consume1.err")"
committed=$(admin group describe tool-group | awk '$1 == "errs" && $3 != "-" { s += $3 } END { print s + 0 }')
[ "$committed" = 50 ] || fail "after -c 50 the group committed $committed records, expected 50"

out=$("$CONSUME" -b "$BROKERS" -g tool-group -t errs -t no-such-topic --timeout 5000 2>&1 </dev/null)
status=$?
[ "$status" = 1 ] || fail "raftmq-consume -g with an unknown topic: exit $status, expected 1"
grep -q "unknown topic 'no-such-topic'" <<<"$out" || fail "raftmq-consume -g with an unknown topic says: $out"

start_bg consume2 "$CONSUME" -b "$BROKERS" -g tool-group -t errs -f '%p:%o\n' --no-auto-commit \
    --commit-every 10 --session-timeout 6000
consumer=$TC_LAST_PID
# shellcheck disable=SC2317
printed_rest() { [ "$(grep -c '^[01]:' "$TC_TMP/consume2.out")" -ge 150 ]; }
wait_until 60 "raftmq-consume -g to print the other 150 records" printed_rest
kill -INT "$consumer"
wait_exit "$consumer" 30 || fail "raftmq-consume -g did not exit within 30 s of SIGINT"
[ "$TC_STATUS" = 0 ] || fail "raftmq-consume -g exited with $TC_STATUS after SIGINT"
grep -q "revoked errs/" "$TC_TMP/consume2.out" || fail "raftmq-consume -g did not report the revoke on exit"
dups=$(cat "$TC_TMP/consume1.txt" "$TC_TMP/consume2.out" | grep '^[01]:' | sort | uniq -d | wc -l)
total=$(cat "$TC_TMP/consume1.txt" "$TC_TMP/consume2.out" | grep '^[01]:' | sort -u | wc -l)
[ "$dups" = 0 ] || fail "raftmq-consume -g printed $dups records twice across a clean hand-over"
[ "$total" = 200 ] || fail "raftmq-consume -g printed $total distinct records, expected 200"
committed=$(admin group describe tool-group | awk '$1 == "errs" && $3 != "-" { s += $3 } END { print s + 0 }')
[ "$committed" = 200 ] || fail "after SIGINT the group committed $committed records, expected 200"

wait_exit "$slow" 60 || fail "the slow member did not finish 3 records within 60 s"
[ "$TC_STATUS" = 0 ] || fail "the slow member exited with $TC_STATUS"
[ "$(grep -c '^REC' "$TC_TMP/slow.log")" = 3 ] || fail "the slow member processed $(grep -c '^REC' "$TC_TMP/slow.log") records, expected 3"
[ "$(grep -c '^ASSIGN' "$TC_TMP/slow.log")" = 2 ] ||
    fail "the slow member was assigned partitions more than once (expelled?): $(grep -v '^REC\|^COMMIT' "$TC_TMP/slow.log")"
grep -q '^REVOKE .* 1$' "$TC_TMP/slow.log" && fail "the slow member lost its partitions (expelled while its handler ran)"
grep -q "slow-group.*expired" "$TC_TMP"/broker*.log && fail "the coordinator expired the slow member"

pass
