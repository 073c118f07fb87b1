#!/usr/bin/env bash
# A follower that was down while the leader moved on further than its Raft
# core keeps in memory (raft_memory_bytes = 1 MiB here) must be caught up
# from the leader's segment files: 3 brokers, one partition replicated 3
# ways; broker X (a follower) is killed, 30,000 records (~4 MiB) are
# produced by the other two, X restarts and must reach the same commit
# index, the leader must log the catch-up from storage, every acknowledged
# record must be readable, and the replicas' logs must agree entry for entry.
. "$(dirname "$0")/lib.sh"

RECORDS=${RECORDS:-30000}
SEED=${SEED:-5}

start_cluster 3 --raft-memory-bytes 1m --segment-bytes 1m
wait_ready
tc create -t lagging --partitions 1 --replicas 3 --timeout 30 || fail "create"
leader=$(tc leader -t lagging -p 0 --timeout 10) || fail "no leader"
victim=$((leader % 3 + 1))
log "killing follower $victim (leader is $leader)"
kill_broker "$victim"

tc produce -t lagging --records "$RECORDS" --seed "$SEED" --acks "$TC_TMP/acks" --timeout 90 \
    --batch-records 100 >"$TC_TMP/produce.out" 2>&1 || fail "produce with one follower down"

# Compaction runs once a second: wait until the leader has let the entries
# the victim needs leave memory, so the catch-up must come from storage.
# shellcheck disable=SC2317 # called through wait_until
memory_reached() { grep -q "raft_memory_bytes reached" "$TC_TMP/broker$leader.log"; }
wait_until 30 "the leader compacting past the stopped follower" memory_reached

restart_broker "$victim"
wait_ready
tc wait-converged --timeout 60 || fail "the restarted follower did not catch up"
grep -q "catching node $victim up from storage" "$TC_TMP"/broker*.log ||
    fail "no leader logged catching node $victim up from storage (was raft_memory_bytes honoured?)"
tc verify -t lagging --records "$RECORDS" --seed "$SEED" --acks "$TC_TMP/acks" --timeout 60 ||
    fail "verify"

stop_all_and_compare_replicas
# The victim's copy holds the whole log: its partition's last index is at
# least what every replica had committed when wait-converged passed.
victim_last=$(sed -n 's/^group [1-9][0-9]* lagging\/0 first=[0-9]* last=\([0-9]*\).*/\1/p' "$TC_TMP/dump$victim.txt")
min_commit=$(sed -n 's/^group [1-9][0-9]* lagging\/0 .*commit=\([0-9]*\)/\1/p' "$TC_TMP"/dump[0-9]*.txt | sort -n | head -n 1)
if [ -z "$victim_last" ] || [ "$victim_last" -lt "$min_commit" ]; then
    fail "broker $victim's log ends at ${victim_last:-nothing}, below the common commit index $min_commit"
fi
pass
