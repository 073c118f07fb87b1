#!/usr/bin/env bash
# After a network cut between a follower and the other brokers heals, the
# follower must be heard again and catch up within seconds. The cluster runs
# in a network namespace this test creates (one loopback address per
# broker, peer_source_address), the cut is an nft rule inside it; needs root,
# ip and nft (skipped, visibly, without them). Found by the fault suite
# (tests/faults/): a sender's connection to the cut-off broker is aborted
# (unacknowledged data, ZMQ_TCP_MAXRT) and it reconnects under the same
# routing id while the receiver's ROUTER still holds the old connection;
# without ZMQ_ROUTER_HANDOVER the new one was refused and the follower stayed
# deaf for 20 s or more. Three rounds: cut for 4 s while 300 records are
# produced, heal, require convergence within a liveness bound far above the
# second or two a reconnect takes.
. "$(dirname "$0")/lib.sh"

ROUNDS=3
CUT_S=4
CONVERGE_S=${CONVERGE_S:-10}

[ "$(id -u)" = 0 ] || skip "needs root for a network namespace"
command -v ip >/dev/null 2>&1 && command -v nft >/dev/null 2>&1 || skip "needs ip and nft"
ns=raftmq-heal-$$
ip netns add "$ns" 2>/dev/null || skip "cannot create a network namespace here"
# The name goes first at exit (processes inside keep running until the
# cleanup stops them; the namespace is freed with the last of them).
trap 'st=$?; ip netns del "$ns" 2>/dev/null; (exit $st); tc_cleanup' EXIT
ip -n "$ns" link set lo up || fail "lo up"
ns_nft() { ip netns exec "$ns" nft "$@"; }
ns_nft add table inet heal || fail "nft table"
ns_nft 'add chain inet heal out { type filter hook output priority 0 ; policy accept ; }' ||
    fail "nft chain"

# The brokers and the test client run inside the namespace (exec: same PID).
for tool in broker testclient; do
    real=$RAFTMQ_BROKER
    [ "$tool" = testclient ] && real=$RAFTMQ_TESTCLIENT
    printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$ns" "$real" >"$TC_TMP/ns-$tool"
    chmod +x "$TC_TMP/ns-$tool"
done
real_broker=$RAFTMQ_BROKER
RAFTMQ_BROKER=$TC_TMP/ns-broker
RAFTMQ_TESTCLIENT=$TC_TMP/ns-testclient

BROKER_COUNT=3
nodes=""
for i in 1 2 3; do
    nodes="$nodes --node $i,tcp://127.0.0.1$i:7001,tcp://127.0.0.1$i:7002"
    BROKERS="$BROKERS${BROKERS:+,}tcp://127.0.0.1$i:7002"
done
for i in 1 2 3; do
    BROKER_LOG[i]=$TC_TMP/broker$i.log
    BROKER_ARGS[i]="--node-id $i --data-dir $TC_TMP/data$i$nodes --peer-source-address 127.0.0.1$i"
    launch_broker "$i"
done
wait_ready
tc create -t heal --partitions 1 --replicas 3 --timeout 30 || fail "create"
tc produce -t heal --records 1000 --seed 1 --acks "$TC_TMP/acks0" --timeout 30 >/dev/null ||
    fail "produce before the cuts"
for round in $(seq 1 "$ROUNDS"); do
    leader=$(tc leader -t heal -p 0 --timeout 10) || fail "no leader (round $round)"
    victim=$((leader % 3 + 1))
    log "round $round: broker $victim cut off from the others for ${CUT_S}s (leader $leader)"
    for other in 1 2 3; do
        [ "$other" = "$victim" ] && continue
        ns_nft add rule inet heal out ip saddr "127.0.0.1$victim" ip daddr "127.0.0.1$other" drop
        ns_nft add rule inet heal out ip saddr "127.0.0.1$other" ip daddr "127.0.0.1$victim" drop
    done
    started=$SECONDS
    tc produce -t heal --records 300 --seed $((round + 1)) --acks "$TC_TMP/acks$round" \
        --timeout 30 >/dev/null || { ns_nft flush chain inet heal out; fail "produce during the cut"; }
    left=$((CUT_S - (SECONDS - started)))
    [ "$left" -gt 0 ] && sleep "$left"
    ns_nft flush chain inet heal out || fail "heal"
    tc wait-converged --timeout "$CONVERGE_S" ||
        fail "round $round: broker $victim did not catch up within ${CONVERGE_S}s of the heal"
done
RAFTMQ_BROKER=$real_broker # dump runs outside the namespace
stop_all_and_compare_replicas
pass
