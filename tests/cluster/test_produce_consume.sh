#!/usr/bin/env bash
# Produce and consume on a healthy cluster: 3 brokers, a topic of 3
# partitions replicated 3 ways, 100,000 deterministic records produced with
# pipelining, then every partition read back from offset 0: every
# acknowledged record must be at its offset with its exact bytes, nothing
# that was not produced may appear, and ids must be in order.
. "$(dirname "$0")/lib.sh"

RECORDS=${RECORDS:-100000}
SEED=${SEED:-7}

start_cluster 3
wait_ready
tc create -t orders --partitions 3 --replicas 3 --timeout 30 || fail "create"
tc produce -t orders --records "$RECORDS" --seed "$SEED" --acks "$TC_TMP/acks" \
    --inflight 8 --batch-records 100 --timeout 90 || fail "produce"
acked=$(ack_count "$TC_TMP/acks")
[ "$acked" = "$RECORDS" ] || fail "ack file has $acked acknowledgements, want $RECORDS"
tc verify -t orders --records "$RECORDS" --seed "$SEED" --acks "$TC_TMP/acks" --timeout 60 ||
    fail "verify"
pass
