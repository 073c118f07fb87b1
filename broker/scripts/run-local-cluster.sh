#!/usr/bin/env bash
# `make run`: a 3-broker raftmq cluster on this machine, in the foreground.
#
#   broker 1: clients tcp://127.0.0.1:9292  peers tcp://127.0.0.1:9293
#   broker 2: clients tcp://127.0.0.1:9392  peers tcp://127.0.0.1:9393
#   broker 3: clients tcp://127.0.0.1:9492  peers tcp://127.0.0.1:9493
#
# Data lives in $RAFTMQ_RUN_DIR (default ./raftmq-data/local-cluster), kept
# between runs; delete the folder for a fresh cluster. Each broker's log
# lines are prefixed with its name. Ctrl-C (or SIGTERM) stops all three
# cleanly (leadership handed over, storage flushed) and waits for them.
set -uo pipefail

broker=${RAFTMQ_BROKER:-build/bin/raftmq-broker}
run_dir=${RAFTMQ_RUN_DIR:-./raftmq-data/local-cluster}
stop_wait_s=${RAFTMQ_STOP_WAIT_S:-15}

if [ ! -x "$broker" ]; then
    echo "run-local-cluster: $broker is missing; run 'make' first" >&2
    exit 1
fi
# broker 1's ports are 9292/9293 (the single-node defaults), 2's 9392/9393...
nodes=(--node "1,tcp://127.0.0.1:9293,tcp://127.0.0.1:9292"
       --node "2,tcp://127.0.0.1:9393,tcp://127.0.0.1:9392"
       --node "3,tcp://127.0.0.1:9493,tcp://127.0.0.1:9492")

for port in 9292 9293 9392 9393 9492 9493; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "run-local-cluster: port $port is in use; is another raftmq running?" >&2
        exit 1
    fi
done

pids=()
stop() {
    trap '' INT TERM
    echo "run-local-cluster: stopping brokers ${pids[*]}" >&2
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    local deadline=$((SECONDS + stop_wait_s)) status=0
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "run-local-cluster: broker $pid did not stop in ${stop_wait_s}s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null
            status=1
        fi
    done
    wait
    echo "run-local-cluster: stopped" >&2
    exit $status
}
trap stop INT TERM

mkdir -p "$run_dir"
for i in 1 2 3; do
    # Each broker runs in its own session, so that Ctrl-C on the terminal
    # reaches only this script, which stops them with one SIGTERM each (a
    # second signal would make a broker skip handing leadership over). The
    # log filter ignores SIGINT so the brokers' last lines still show.
    setsid "$broker" --node-id "$i" --data-dir "$run_dir/node$i" "${nodes[@]}" "$@" \
        2> >(trap '' INT; exec sed -u "s/^/broker$i | /" >&2) &
    pids+=($!)
done
echo "run-local-cluster: 3 brokers running (pids ${pids[*]}), data in $run_dir;" \
     "clients connect to tcp://127.0.0.1:9292,tcp://127.0.0.1:9392,tcp://127.0.0.1:9492; Ctrl-C stops them" >&2

# Stay in the foreground until a broker exits on its own or Ctrl-C.
while :; do
    for pid in "${pids[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            echo "run-local-cluster: broker $pid exited (status $?); stopping the others" >&2
            stop
        fi
    done
    sleep 0.5
done
