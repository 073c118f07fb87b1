#!/usr/bin/env bash
# The command-line tools end to end: starts a 3-broker cluster on free
# loopback ports and drives raftmq-admin, raftmq-produce and raftmq-consume
# the way docs/tools.md tells a newcomer to, then checks their error cases
# and exit codes (0 ok, 1 operation failed, 2 usage): bad flags, unreachable
# brokers (bounded time), unknown topics and partitions, offsets out of
# range, a partition leader killed while producing, Ctrl-C on a following
# consumer. At the end every broker gets SIGTERM and must exit 0.
#
# Self-contained on purpose: it does not source tests/cluster/lib.sh.
#
# Environment:
#   BUILD             build directory (default: build)
#   RAFTMQ_BROKER     broker binary (default: $BUILD/test/bin/raftmq-broker)
#   TOOLS_BIN         directory of the tools (default: $BUILD/bin; $BUILD/test/bin
#                     has sanitizer builds: make tools-test)
#   KEEP_TMP=1        keep the temporary directory (data, logs, tool output)
set -u

cd "$(dirname "$0")/../.." || exit 2
# shellcheck source=tests/cluster/ports.sh
. tests/cluster/ports.sh
BUILD=${BUILD:-build}
RAFTMQ_BROKER=${RAFTMQ_BROKER:-$BUILD/test/bin/raftmq-broker}
TOOLS_BIN=${TOOLS_BIN:-$BUILD/bin}
ADMIN=$TOOLS_BIN/raftmq-admin
PRODUCE=$TOOLS_BIN/raftmq-produce
CONSUME=$TOOLS_BIN/raftmq-consume

# Bounds (seconds): liveness limits, generous so a slow ASan build passes.
START_TIMEOUT=20
TOOL_TIMEOUT=60
STOP_TIMEOUT=10
# An unreachable cluster must be reported within --timeout plus this slack.
UNREACHABLE_SLACK=3

log() { echo "test_tools: $*" >&2; }

for bin in "$RAFTMQ_BROKER" "$ADMIN" "$PRODUCE" "$CONSUME"; do
    if [ ! -x "$bin" ]; then
        log "missing executable $bin (build it first)"
        exit 2
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/raftmq-tools.XXXXXX") || exit 2
declare -a broker_pid=("" "" "" "")
follower_pid=""

# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
    for n in 1 2 3; do
        pid=${broker_pid[$n]}
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    done
    if [ -n "$follower_pid" ] && kill -0 "$follower_pid" 2>/dev/null; then
        kill -KILL "$follower_pid" 2>/dev/null
        wait "$follower_pid" 2>/dev/null
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ports=()
for _ in 1 2 3 4 5 6 7; do
    p=$(pick_port "${ports[@]}") || { log "no free port"; exit 2; }
    ports+=("$p")
done
declare -a peer_port=("" "${ports[0]}" "${ports[1]}" "${ports[2]}")
declare -a client_port=("" "${ports[3]}" "${ports[4]}" "${ports[5]}")
dead_port=${ports[6]} # nothing listens here: the "unreachable cluster"
node_flags=()
for n in 1 2 3; do
    node_flags+=(--node "$n,tcp://127.0.0.1:${peer_port[$n]},tcp://127.0.0.1:${client_port[$n]}")
done
BROKERS="127.0.0.1:${client_port[1]},127.0.0.1:${client_port[2]},127.0.0.1:${client_port[3]}"

broker_log_tails() {
    for n in 1 2 3; do
        log "last lines of broker $n's log ($tmp/broker$n.log):"
        tail -n 20 "$tmp/broker$n.log" >&2 2>/dev/null
    done
}

start_broker() {
    local n=$1
    mkdir -p "$tmp/data$n"
    "$RAFTMQ_BROKER" --node-id "$n" --data-dir "$tmp/data$n" "${node_flags[@]}" \
        2>>"$tmp/broker$n.log" >/dev/null &
    broker_pid[$n]=$!
    log "broker $n pid ${broker_pid[$n]}, client tcp://127.0.0.1:${client_port[$n]}"
}

wait_port() {
    local n=$1 waited=0
    until port_open "${client_port[$n]}"; do
        if ! kill -0 "${broker_pid[$n]}" 2>/dev/null; then
            wait "${broker_pid[$n]}"
            log "FAIL: broker $n exited during start-up with status $?"
            broker_pid[$n]=""
            broker_log_tails
            exit 1
        fi
        if [ $waited -ge $((START_TIMEOUT * 10)) ]; then
            log "FAIL: broker $n's client port did not open within ${START_TIMEOUT}s"
            broker_log_tails
            exit 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

failures=0
checks=0
failed_checks=() # repeated at the end: CI shows only the last lines of a run
fail() {
    log "FAIL: $*"
    failures=$((failures + 1))
    failed_checks+=("$*")
}
pass() {
    checks=$((checks + 1))
}

# run NAME CMD...: runs a tool bounded by TOOL_TIMEOUT with stdin from
# /dev/null; stdout in $tmp/NAME.out, stderr in $tmp/NAME.err, status in $rc.
run() {
    local name=$1
    shift
    timeout --kill-after=5 "$TOOL_TIMEOUT" "$@" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
}

# expect WANT NAME CMD...: run, then require exit status WANT.
expect() {
    local want=$1 name=$2
    shift 2
    run "$name" "$@"
    if [ "$rc" != "$want" ]; then
        fail "$name: exit status $rc, want $want: $*"
        sed 's/^/    stderr: /' "$tmp/$name.err" | head -n 10 >&2
    else
        pass
    fi
}

# contains NAME FILE-SUFFIX TEXT: the output file must contain TEXT.
contains() {
    if ! grep -qF -- "$3" "$tmp/$1.$2"; then
        fail "$1: $2 does not contain '$3'"
        head -n 10 "$tmp/$1.$2" | sed 's/^/    /' >&2
    else
        pass
    fi
}

# The producer's partitioner, in bash: FNV-1a 32 of the key's bytes mod count.
fnv_partition() {
    local key=$1 count=$2 h=2166136261 i c
    for ((i = 0; i < ${#key}; i++)); do
        printf -v c '%d' "'${key:i:1}"
        h=$(( ((h ^ c) * 16777619) & 0xffffffff ))
    done
    echo $((h % count))
}

# ---- 1. usage: no cluster needed ------------------------------------------------

for tool in "$ADMIN" "$PRODUCE" "$CONSUME"; do
    name=help_$(basename "$tool")
    expect 0 "$name" "$tool" --help
    contains "$name" out "Exit status"
    contains "$name" out "Examples"
done
contains help_raftmq-produce out "FNV-1a"
expect 2 usage_admin_unknown_option "$ADMIN" --bogus topic list
expect 2 usage_admin_no_command "$ADMIN"
expect 2 usage_admin_unknown_command "$ADMIN" topic frobnicate
expect 2 usage_admin_create_no_counts "$ADMIN" -b "$BROKERS" topic create t --partitions 3
expect 2 usage_admin_bad_number "$ADMIN" topic create t --partitions 3x --replicas 1
expect 2 usage_admin_zero_partitions "$ADMIN" topic create t --partitions 0 --replicas 1
expect 2 usage_admin_bad_name "$ADMIN" topic describe 'no spaces'
expect 2 usage_produce_no_topic "$PRODUCE" -b "$BROKERS"
expect 2 usage_produce_key_and_delim "$PRODUCE" -t t -k a -K :
expect 2 usage_produce_bad_header "$PRODUCE" -t t -H novalue
expect 2 usage_produce_missing_value "$PRODUCE" -t
expect 2 usage_consume_bad_offset "$CONSUME" -t t -o middle
expect 2 usage_consume_bad_format "$CONSUME" -t t -f '%q'
expect 2 usage_consume_bad_count "$CONSUME" -t t -c 0
contains usage_consume_bad_offset err "Try 'raftmq-consume --help'"

# ---- 2. unreachable brokers: exit 1 within the timeout ------------------------------

unreachable() {
    local name=$1
    shift
    local start=$SECONDS
    expect 1 "$name" "$@"
    local took=$((SECONDS - start))
    if [ $took -gt $((2 + UNREACHABLE_SLACK)) ]; then
        fail "$name: took ${took}s to report an unreachable cluster (--timeout 2000)"
    else
        pass
    fi
}
unreachable unreachable_admin "$ADMIN" -b "127.0.0.1:$dead_port" --timeout 2000 topic list
unreachable unreachable_status "$ADMIN" -b "127.0.0.1:$dead_port" --timeout 2000 cluster status
unreachable unreachable_produce "$PRODUCE" -b "127.0.0.1:$dead_port" -t t --timeout 2000
unreachable unreachable_consume "$CONSUME" -b "127.0.0.1:$dead_port" -t t --timeout 2000
contains unreachable_produce err "cannot reach the cluster"

# ---- 3. the cluster -----------------------------------------------------------------

for n in 1 2 3; do start_broker "$n"; done
for n in 1 2 3; do wait_port "$n"; done

# topic create waits for every partition's leader (the brokers may still be electing
# the metadata group's leader: --timeout covers it).
expect 0 create "$ADMIN" -b "$BROKERS" --timeout 20000 topic create orders --partitions 3 --replicas 3
contains create out "every partition has a leader"
expect 1 create_again "$ADMIN" -b "$BROKERS" topic create orders --partitions 3 --replicas 3
contains create_again err "TOPIC_EXISTS"
expect 1 create_rf_too_big "$ADMIN" -b "$BROKERS" topic create wide --partitions 1 --replicas 5
contains create_rf_too_big err "INVALID_REPLICATION_FACTOR"
# Any one broker will do: create follows NOT_LEADER to the controller.
for n in 1 2 3; do
    expect 0 "create_via_$n" "$ADMIN" -b "127.0.0.1:${client_port[$n]}" topic create "one$n" \
        --partitions 1 --replicas 1
done
expect 0 list "$ADMIN" -b "$BROKERS" topic list
contains list out "orders"
contains list out "one3"
expect 0 list_json "$ADMIN" -b "$BROKERS" --json topic list
contains list_json out '{"name":"orders","partitions":3,"replication_factor":3'
expect 0 describe "$ADMIN" -b "$BROKERS" topic describe orders
contains describe out "3 partitions, replication factor 3"
if grep -qE '^ +[0-9]+ +none ' "$tmp/describe.out"; then
    fail "describe: a partition has no leader right after create: $(cat "$tmp/describe.out")"
else
    pass
fi
expect 0 describe_json "$ADMIN" -b "$BROKERS" --json topic describe orders
contains describe_json out '"partition":2'
expect 1 describe_unknown "$ADMIN" -b "$BROKERS" topic describe nosuchtopic
contains describe_unknown err "unknown topic"
expect 1 delete_unknown "$ADMIN" -b "$BROKERS" topic delete nosuchtopic

# ---- 4. produce and consume lines ---------------------------------------------------

seq 1 5000 >"$tmp/lines.txt"
expect 0 produce_lines "$PRODUCE" -b "$BROKERS" -t orders --file "$tmp/lines.txt"
contains produce_lines err "5000 records acknowledged"
expect 0 consume_lines "$CONSUME" -b "$BROKERS" -t orders -e
if sort -n "$tmp/consume_lines.out" | cmp -s - "$tmp/lines.txt"; then
    pass
else
    fail "consume_lines: consumed $(wc -l <"$tmp/consume_lines.out") lines, not the 5000 produced"
fi
# Round robin spread nil keys over every partition.
for p in 0 1 2; do
    expect 0 "consume_p$p" "$CONSUME" -b "$BROKERS" -t orders -p "$p" -e
    n=$(wc -l <"$tmp/consume_p$p.out")
    if [ "$n" -lt 1600 ] || [ "$n" -gt 1700 ]; then
        fail "round robin: partition $p holds $n of 5000 records"
    else
        pass
    fi
done
expect 0 consume_count "$CONSUME" -b "$BROKERS" -t orders -c 7
[ "$(wc -l <"$tmp/consume_count.out")" = 7 ] && pass || fail "-c 7 printed $(wc -l <"$tmp/consume_count.out") lines"

# Keys: -K splits each line; every key lands on FNV-1a(key) mod 3, in order.
for i in $(seq 1 300); do echo "user$((i % 17)):event$i"; done >"$tmp/keyed.txt"
echo "no delimiter here" >>"$tmp/keyed.txt"
expect 0 produce_keyed "$PRODUCE" -b "$BROKERS" -t one1 -K : -H source=test_tools --file "$tmp/keyed.txt"
expect 0 create_keyed "$ADMIN" -b "$BROKERS" topic create keyed --partitions 3 --replicas 2
expect 0 produce_keyed3 "$PRODUCE" -b "$BROKERS" -t keyed -K : --file "$tmp/keyed.txt"
expect 0 consume_keyed "$CONSUME" -b "$BROKERS" -t keyed -e -f '%p %o %k %s\n'
[ "$(wc -l <"$tmp/consume_keyed.out")" = 301 ] && pass || fail "keyed: $(wc -l <"$tmp/consume_keyed.out") records, want 301"
bad_placement=0
declare -A want_part=()
while read -r part _offset key value; do
    if [ -z "$value" ]; then
        continue # the line without a delimiter: nil key, printed as an empty %k
    fi
    if [ -z "${want_part[$key]+x}" ]; then
        want_part[$key]=$(fnv_partition "$key" 3)
    fi
    [ "$part" = "${want_part[$key]}" ] || bad_placement=$((bad_placement + 1))
done <"$tmp/consume_keyed.out"
[ $bad_placement = 0 ] && pass || fail "keyed: $bad_placement records not on FNV-1a(key) mod 3"
grep -q ' no delimiter here$' "$tmp/consume_keyed.out" && pass || fail "keyed: the line without a delimiter is missing"
# Per key, the events come out in the order they were produced.
for key in user0 user5; do
    grep " $key " "$tmp/consume_keyed.out" | awk '{print substr($4, 6)}' >"$tmp/order.txt"
    sort -n "$tmp/order.txt" | cmp -s - "$tmp/order.txt" && pass || fail "keyed: $key out of order"
done

# -p and --sync, offsets and formats.
printf 'first\nsecond\nthird\n' >"$tmp/three.txt"
expect 0 produce_sync "$PRODUCE" -b "$BROKERS" -t one2 -p 0 --sync --file "$tmp/three.txt"
expect 0 consume_offset "$CONSUME" -b "$BROKERS" -t one2 -p 0 -o 1 -e -f '%t/%p/%o=%s\n'
contains consume_offset out "one2/0/1=second"
contains consume_offset out "one2/0/2=third"
if grep -q "=first" "$tmp/consume_offset.out"; then fail "-o 1 printed offset 0"; else pass; fi
expect 0 consume_empty "$CONSUME" -b "$BROKERS" -t one3 -e
[ -s "$tmp/consume_empty.out" ] && fail "an empty topic printed records" || pass

# ---- 5. operation errors ------------------------------------------------------------

expect 1 produce_unknown_topic "$PRODUCE" -b "$BROKERS" -t nosuchtopic
contains produce_unknown_topic err "unknown topic"
expect 1 consume_unknown_topic "$CONSUME" -b "$BROKERS" -t nosuchtopic -e
expect 1 produce_bad_partition "$PRODUCE" -b "$BROKERS" -t orders -p 3
expect 1 consume_bad_partition "$CONSUME" -b "$BROKERS" -t orders -p 3 -e
expect 1 consume_offset_range "$CONSUME" -b "$BROKERS" -t one2 -p 0 -o 100 -e
contains consume_offset_range err "out of range"
expect 1 produce_missing_file "$PRODUCE" -b "$BROKERS" -t orders --file "$tmp/does-not-exist"

# ---- 6. a following consumer, then Ctrl-C --------------------------------------------

timeout --kill-after=5 "$TOOL_TIMEOUT" "$CONSUME" -b "$BROKERS" -t one3 -o end \
    >"$tmp/follow.out" 2>"$tmp/follow.err" &
follower_pid=$!
# The consumer resolves "end" once it has found the partition's leader; a
# record produced before that is (rightly) not shown. So produce a line a
# second until one shows up (bounded), rather than guess when it is ready.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    echo "while you were watching $attempt" >"$tmp/late.txt"
    expect 0 produce_late "$PRODUCE" -b "$BROKERS" -t one3 --file "$tmp/late.txt"
    waited=0
    until grep -q "while you were watching" "$tmp/follow.out" || [ $waited -ge 10 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    grep -q "while you were watching" "$tmp/follow.out" && break
done
contains follow out "while you were watching"
kill -INT "$follower_pid"
wait "$follower_pid"
follow_rc=$?
follower_pid=""
[ $follow_rc = 0 ] && pass || fail "the following consumer exited $follow_rc after SIGINT, want 0"

# ---- 7. the leader of a partition dies while producing --------------------------------

expect 0 describe_before_kill "$ADMIN" -b "$BROKERS" --json topic describe orders
victim=$(sed -n 's/.*{"partition":0,"leader":\([0-9]*\),.*/\1/p' "$tmp/describe_before_kill.out")
if [ -z "$victim" ] || [ "$victim" = 0 ]; then
    fail "cannot tell partition 0's leader: $(cat "$tmp/describe_before_kill.out")"
else
    log "killing broker $victim (leader of orders/0) with SIGKILL"
    kill -KILL "${broker_pid[$victim]}"
    wait "${broker_pid[$victim]}" 2>/dev/null
    broker_pid[$victim]=""
    seq 100001 100500 >"$tmp/after_kill.txt"
    expect 0 produce_failover "$PRODUCE" -b "$BROKERS" -t orders -p 0 --timeout 30000 \
        --file "$tmp/after_kill.txt"
    contains produce_failover err "500 records acknowledged"
    expect 0 consume_failover "$CONSUME" -b "$BROKERS" -t orders -p 0 -e
    missing=$(grep -cvxFf "$tmp/consume_failover.out" "$tmp/after_kill.txt")
    [ "$missing" = 0 ] && pass || fail "failover: $missing acknowledged records not consumed"
    expect 0 status_degraded "$ADMIN" -b "$BROKERS" cluster status
    contains status_degraded out "NO"
    # Back to three brokers, from the same data directory.
    start_broker "$victim"
    wait_port "$victim"
fi

# Cluster status sees every broker again (bounded wait: the restarted one catches up).
waited=0
while :; do
    run status "$ADMIN" -b "$BROKERS" cluster status
    answered=$(grep -cE '^ +[0-9]+ +tcp://[^ ]+ +yes ' "$tmp/status.out")
    [ "$rc" = 0 ] && [ "$answered" = 3 ] && break
    if [ $waited -ge 20 ]; then
        fail "cluster status: $answered of 3 brokers answered (exit $rc)"
        cat "$tmp/status.out" "$tmp/status.err" >&2
        break
    fi
    sleep 0.5
    waited=$((waited + 1))
done
pass
contains status out "(metadata)"
expect 0 status_json "$ADMIN" -b "$BROKERS" --json cluster status
contains status_json out '"groups":['
contains status_json out '"match_index":'

# ---- 8. delete --------------------------------------------------------------------------

expect 0 delete "$ADMIN" -b "$BROKERS" topic delete one1
# Delete returns once the controller applied it; the other brokers (which also
# answer METADATA) apply it a moment later: a bounded wait, asking each one.
for n in 1 2 3; do
    waited=0
    while :; do
        run describe_deleted "$ADMIN" -b "127.0.0.1:${client_port[$n]}" topic describe one1
        [ "$rc" = 1 ] && break
        if [ $waited -ge 50 ]; then
            fail "broker $n still describes the deleted topic after 5 s (exit $rc)"
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
done
pass
# Deleting a topic replicated on all three brokers removes its partitions'
# data from every replica (each applies the delete a moment after the
# controller answers: a bounded wait).
for n in 1 2 3; do
    compgen -G "$tmp/data$n/topics/orders@*" >/dev/null && pass ||
        fail "broker $n has no data directory for orders before the delete"
done
expect 0 delete_orders "$ADMIN" -b "$BROKERS" topic delete orders
for n in 1 2 3; do
    waited=0
    while compgen -G "$tmp/data$n/topics/orders@*" >/dev/null && [ $waited -lt 50 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if compgen -G "$tmp/data$n/topics/orders@*" >/dev/null; then
        fail "broker $n still holds data of the deleted topic orders after 5 s"
    else
        pass
    fi
done
echo "too late" >"$tmp/late.txt"
expect 1 produce_deleted "$PRODUCE" -b "$BROKERS" -t one1 --file "$tmp/late.txt"
# The name can be used again: a new topic (new id, new directories) that
# starts empty, with nothing of the old one.
expect 0 recreate "$ADMIN" -b "$BROKERS" --timeout 20000 topic create orders --partitions 2 --replicas 3
echo "reborn" >"$tmp/reborn.txt"
expect 0 produce_reborn "$PRODUCE" -b "$BROKERS" -t orders -p 1 --file "$tmp/reborn.txt"
expect 0 consume_reborn "$CONSUME" -b "$BROKERS" -t orders -e
if [ "$(cat "$tmp/consume_reborn.out")" = "reborn" ]; then
    pass
else
    fail "the re-created topic holds: $(head -c 200 "$tmp/consume_reborn.out")"
fi

# ---- 9. every broker stops cleanly --------------------------------------------------------

for n in 1 2 3; do
    pid=${broker_pid[$n]}
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        fail "broker $n is not running at the end"
        continue
    fi
    kill -TERM "$pid"
done
for n in 1 2 3; do
    pid=${broker_pid[$n]}
    [ -n "$pid" ] || continue
    waited=0
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt $((STOP_TIMEOUT * 10)) ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        fail "broker $n did not exit within ${STOP_TIMEOUT}s of SIGTERM"
        continue
    fi
    wait "$pid"
    status=$?
    broker_pid[$n]=""
    [ $status = 0 ] && pass || fail "broker $n exited with status $status after SIGTERM (want 0)"
done

if [ $failures -eq 0 ]; then
    log "PASS ($checks checks)"
    exit 0
fi
broker_log_tails
for f in "${failed_checks[@]}"; do
    log "failed: $f"
done
log "$failures of $((checks + failures)) checks FAILED"
exit 1
