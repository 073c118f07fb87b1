#!/usr/bin/env bash
# The consumer of libraftmq (wire/raftmq.h) against three real brokers,
# through raftmq-consumer-check (tests/cluster/consumer_check.c):
#   1. seek: BEGINNING, an offset, TAIL(n), END (only newer records), a
#      timestamp (first record >= T, the one before it < T),
#      OFFSET_OUT_OF_RANGE with RESET_ERROR, RESET_EARLIEST, bad arguments,
#      every partition at once;
#   2. round trip of LZ4 batches from raftmq-testclient across 3 partitions:
#      every record once, in order, keys, values and headers byte-exact;
#   3. the same while the leader of partition 0 is killed (SIGKILL) in the
#      middle of the consumption: nothing skipped or repeated;
#   4. the leader of partition 0 killed while the consumer's long-poll waits
#      on it, then records produced: all read from the new leader, once.
# Environment: see lib.sh; RAFTMQ_CONSUMER_CHECK (default: the sanitized
# $BUILD/test/bin/raftmq-consumer-check, else $BUILD/bin/raftmq-consumer-check).
. "$(dirname "$0")/lib.sh"

CHECK_BIN=${RAFTMQ_CONSUMER_CHECK:-}
if [ -z "$CHECK_BIN" ]; then
    CHECK_BIN=$REPO_DIR/$BUILD/test/bin/raftmq-consumer-check
    [ -x "$CHECK_BIN" ] || CHECK_BIN=$REPO_DIR/$BUILD/bin/raftmq-consumer-check
fi
[ -x "$CHECK_BIN" ] || { log "missing $CHECK_BIN (make test-build)"; exit 2; }

check() { "$CHECK_BIN" "$@" -b "$BROKERS"; }

start_cluster 3
wait_ready

# ---- 1. seek ---------------------------------------------------------------------------
tc create -t seek --partitions 3 --replicas 3 >/dev/null || fail "create seek"
check seek -t seek --partitions 3 --timeout 60 >"$TC_TMP/seek.out" 2>&1 ||
    fail "seek checks failed: $(tail -n 20 "$TC_TMP/seek.out")"
log "$(tail -n 1 "$TC_TMP/seek.out")"

# ---- 2. round trip (LZ4) ------------------------------------------------------------------
tc create -t rt --partitions 3 --replicas 3 >/dev/null || fail "create rt"
tc produce -t rt --records 20000 --seed 7 --acks "$TC_TMP/rt.acks" --codec lz4 \
    >"$TC_TMP/rt-produce.out" 2>&1 || fail "produce rt: $(tail -n 5 "$TC_TMP/rt-produce.out")"
check roundtrip -t rt --partitions 3 --records 20000 --seed 7 --acks "$TC_TMP/rt.acks" --timeout 60 \
    >"$TC_TMP/rt.out" 2>&1 || fail "round trip failed: $(tail -n 20 "$TC_TMP/rt.out")"
log "$(tail -n 1 "$TC_TMP/rt.out")"

# ---- 3. the leader of partition 0 killed mid-consumption ------------------------------------
tc create -t failover --partitions 3 --replicas 3 >/dev/null || fail "create failover"
tc produce -t failover --records 30000 --seed 11 --acks "$TC_TMP/fo.acks" \
    >"$TC_TMP/fo-produce.out" 2>&1 || fail "produce failover: $(tail -n 5 "$TC_TMP/fo-produce.out")"
# Small fetches and buffers, so most of each partition is still to be fetched after the kill.
start_bg failover_check "$CHECK_BIN" roundtrip -b "$BROKERS" -t failover --partitions 3 --records 30000 --seed 11 \
    --acks "$TC_TMP/fo.acks" --pause-after 3000 --pause-file "$TC_TMP/paused" \
    --go-file "$TC_TMP/go" --fetch-bytes 16384 --buffer-bytes 32768 --timeout 90
check_pid=$TC_LAST_PID
wait_until 60 "the consumer to pause mid-way" test -f "$TC_TMP/paused"
leader=$(tc leader -t failover -p 0) || fail "cannot tell the leader of failover/0"
kill_broker "$leader"
touch "$TC_TMP/go"
wait_exit "$check_pid" 120 || fail "the consumer did not finish within 120 s"
[ "$TC_STATUS" = 0 ] || fail "round trip across the leader kill failed: $(tail -n 20 "$TC_TMP/failover_check.out")"
log "after killing broker $leader: $(tail -n 1 "$TC_TMP/failover_check.out")"
restart_broker "$leader"
wait_ready

# ---- 4. the leader killed under a waiting long-poll, records produced afterwards ----------------
tc create -t live --partitions 3 --replicas 3 >/dev/null || fail "create live"
start_bg live_check "$CHECK_BIN" roundtrip -b "$BROKERS" -t live --partitions 3 --records 20000 \
    --seed 13 --acks "$TC_TMP/live.acks" --live --pause-file "$TC_TMP/live-ready" \
    --go-file "$TC_TMP/live-go" --timeout 90
check_pid=$TC_LAST_PID
wait_until 60 "the consumer's first long-polls" test -f "$TC_TMP/live-ready"
leader=$(tc leader -t live -p 0) || fail "cannot tell the leader of live/0"
kill_broker "$leader"
tc produce -t live --records 20000 --seed 13 --acks "$TC_TMP/live.acks" \
    >"$TC_TMP/live-produce.out" 2>&1 || fail "produce live: $(tail -n 5 "$TC_TMP/live-produce.out")"
touch "$TC_TMP/live-go"
wait_exit "$check_pid" 120 || fail "the live consumer did not finish within 120 s"
[ "$TC_STATUS" = 0 ] || fail "live round trip across the leader kill failed: $(tail -n 20 "$TC_TMP/live_check.out")"
log "live, after killing broker $leader: $(tail -n 1 "$TC_TMP/live_check.out")"

pass
