#!/usr/bin/env bash
# Idempotent producers at the wire level, across a leader failover: a
# producer id from INIT_PRODUCER_ID; each batch sent twice is stored once and
# both answers carry the same offsets; a sequence gap is OUT_OF_ORDER_SEQUENCE
# and an unknown producer UNKNOWN_PRODUCER. Then the leader is killed and the
# same batches are resent to the new leader: the producer table is rebuilt
# from the replicated log, so each gets its original offsets and the log
# holds every record exactly once. The killed broker restarts (rebuilding
# its table from storage) and the replicas agree entry for entry.
. "$(dirname "$0")/lib.sh"

start_cluster 3
wait_ready
tc create -t idem --partitions 1 --replicas 3 --timeout 30 || fail "create"
# The partition's preferred leader (first replica) leads once it is elected
# or handed back; it is the one killed, so that it leads again after restart.
ADMIN=${RAFTMQ_ADMIN:-$BUILD/bin/raftmq-admin}
leader=$("$ADMIN" -b "$BROKERS" --json topic describe idem | grep -o '"replicas":\[[0-9]*' | sed 's/.*\[//')
[ -n "$leader" ] || fail "no replicas in topic describe"
leads_again() { [ "$(tc leader -t idem -p 0 --timeout 2)" = "$leader" ]; }
wait_until 30 "broker $leader to lead" leads_again
tc idem-first -t idem -p 0 --acks "$TC_TMP/idem" --timeout 30 || fail "idempotent sends"
kill_broker "$leader"
log "killed leader $leader"
moved_away() { local l; l=$(tc leader -t idem -p 0 --timeout 2) && [ "$l" != "$leader" ]; }
wait_until 20 "a leader other than $leader" moved_away
tc idem-resend -t idem -p 0 --acks "$TC_TMP/idem" --timeout 30 || fail "resends after failover"
restart_broker "$leader"
tc wait-converged --timeout 60 || fail "no convergence after restart"
# The restarted broker rebuilt its table from storage: once it leads again
# (it is the preferred leader), resends are still recognised.
wait_until 30 "broker $leader to lead again" leads_again
tc idem-resend -t idem -p 0 --acks "$TC_TMP/idem" --timeout 30 || fail "resends after restart"
stop_all_and_compare_replicas
pass
