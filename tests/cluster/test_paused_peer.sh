#!/usr/bin/env bash
# A peer that stops answering (SIGSTOP: its sockets stay open, nothing is
# read) must not block the others or grow their memory without bound:
# 3 brokers, 3 partitions replicated 3 ways; broker X is paused for the
# whole produce of 50,000 records, which must still be acknowledged by the
# other two (partitions X led move to a new leader); their resident memory
# must stay under a generous bound (Raft's in-flight window and the
# peer_queue_max high-water mark bound what is queued for X); X resumes
# (SIGCONT), every broker reaches the same commit index, everything reads
# back, and the replicas agree entry for entry.
. "$(dirname "$0")/lib.sh"

RECORDS=${RECORDS:-50000}
SEED=${SEED:-7}
RSS_LIMIT_KB=${RSS_LIMIT_KB:-400000}

start_cluster 3
wait_ready
tc create -t paused --partitions 3 --replicas 3 --timeout 30 || fail "create"
victim=$(tc leader -t paused -p 0 --timeout 10) || fail "no leader for partition 0"
log "pausing broker $victim (SIGSTOP), the leader of partition 0"
kill -STOP "${BROKER_PID[$victim]}" || fail "SIGSTOP"
resume() { kill -CONT "${BROKER_PID[$victim]}" 2>/dev/null; }

tc produce -t paused --records "$RECORDS" --seed "$SEED" --acks "$TC_TMP/acks" --timeout 90 \
    --request-timeout 2000 >"$TC_TMP/produce.out" 2>&1 || { resume; fail "produce while broker $victim was paused"; }
grep 'produce:' "$TC_TMP/produce.out" >&2
for ((i = 1; i <= BROKER_COUNT; i++)); do
    [ "$i" = "$victim" ] && continue
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/${BROKER_PID[$i]}/status")
    log "broker $i resident memory: ${rss} kB"
    [ "$rss" -lt "$RSS_LIMIT_KB" ] || { resume; fail "broker $i uses ${rss} kB with a paused peer (limit ${RSS_LIMIT_KB} kB)"; }
done

resume
log "broker $victim resumed (SIGCONT)"
tc wait-converged --timeout 60 || fail "the resumed broker did not catch up"
tc verify -t paused --records "$RECORDS" --seed "$SEED" --acks "$TC_TMP/acks" --timeout 60 ||
    fail "verify"
stop_all_and_compare_replicas
pass
