#!/usr/bin/env bash
# A partition that cannot commit must push back, not buffer without bound:
# 3 brokers with max_uncommitted_bytes = 2 MiB; both followers of a
# one-partition topic are paused (SIGSTOP), so nothing commits. A producer
# pushing ~7 MB must be refused with BACKPRESSURE once the leader holds
# 2 MiB of uncommitted batches (it retries until its deadline and fails),
# the leader's memory stays small, and after SIGCONT the partition commits
# again: a second produce completes and everything acknowledged reads back.
. "$(dirname "$0")/lib.sh"

SEED=${SEED:-13}

# Long election timeouts: the leader, hearing no quorum, keeps leading for
# at least 2 s after the pause (check-quorum), time enough for the burst.
start_cluster 3 --max-uncommitted-bytes 2m --request-timeout-ms 60000 \
    --election-timeout-min-ms 2000 --election-timeout-max-ms 4000 --heartbeat-ms 100
wait_ready
tc create -t pushback --partitions 1 --replicas 3 --timeout 30 || fail "create"
leader=$(tc leader -t pushback -p 0 --timeout 10) || fail "no leader"
paused=()
for ((i = 1; i <= BROKER_COUNT; i++)); do
    [ "$i" = "$leader" ] && continue
    kill -STOP "${BROKER_PID[$i]}" || fail "SIGSTOP broker $i"
    paused+=("$i")
done
resume() { for i in "${paused[@]}"; do kill -CONT "${BROKER_PID[$i]}" 2>/dev/null; done; }
log "paused brokers ${paused[*]}; leader $leader cannot commit"

# 50,000 records of ~100 B, 64 batches of 1,000 in flight: far more than
# 2 MiB arrives while the leader still leads.
# Only the leader is asked: the paused brokers would not answer METADATA.
if "$RAFTMQ_TESTCLIENT" produce -b "${BROKER_CLIENT[$leader]}" -t pushback --records 50000 --seed "$SEED" --acks "$TC_TMP/acks1" \
    --batch-records 1000 --inflight 64 --request-timeout 2000 --timeout 6 \
    >"$TC_TMP/produce1.out" 2>&1; then
    resume
    fail "a produce with no quorum succeeded"
fi
grep -q "BACKPRESSURE" "$TC_TMP/produce1.out" ||
    { resume; cat "$TC_TMP/produce1.out" >&2; fail "no BACKPRESSURE answer while the partition could not commit"; }
acked=$(ack_count "$TC_TMP/acks1")
[ "$acked" = 0 ] || { resume; fail "$acked records acknowledged without a quorum"; }
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/${BROKER_PID[$leader]}/status")
log "leader resident memory while refusing: ${rss} kB"
[ "$rss" -lt 400000 ] || { resume; fail "leader uses ${rss} kB while pushing back"; }

resume
log "resumed brokers ${paused[*]}"
tc produce -t pushback --records 5000 --seed $((SEED + 1)) --acks "$TC_TMP/acks2" --timeout 60 \
    >"$TC_TMP/produce2.out" 2>&1 || fail "produce after the followers came back"
tc wait-converged --timeout 60 || fail "no convergence after resume"
tc verify -t pushback --records 5000 --seed $((SEED + 1)) --acks "$TC_TMP/acks2" --timeout 60 \
    >"$TC_TMP/verify.out" 2>&1 || true
# The first producer's refused batches are not in the log, but the ones the
# leader had accepted (up to 2 MiB) commit once the followers are back; so
# only check that every acknowledged record of the second run is there.
grep -q "5000/5000 acknowledged records present" "$TC_TMP/verify.out" ||
    { cat "$TC_TMP/verify.out" >&2; fail "acknowledged records missing after resume"; }
stop_all_and_compare_replicas
pass
