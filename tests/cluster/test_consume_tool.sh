#!/usr/bin/env bash
# raftmq-consume (on libraftmq's consumer) against three brokers: -o -N,
# -o @TIMESTAMP_MS, the %h and %S directives, --json (every line parses,
# non-UTF-8 bytes included), -e on full and empty partitions, Ctrl-C on a
# following consumer (exit 0, output flushed), usage errors, and an
# unreachable cluster (exit 1 within --timeout, with a clear message).
# Data comes from raftmq-produce. Environment: see lib.sh; TOOLS_BIN (default
# $BUILD/bin) holds raftmq-consume and raftmq-produce.
. "$(dirname "$0")/lib.sh"

TOOLS_BIN=${TOOLS_BIN:-$BUILD/bin}
case $TOOLS_BIN in /*) ;; *) TOOLS_BIN=$REPO_DIR/$TOOLS_BIN ;; esac
CONSUME=$TOOLS_BIN/raftmq-consume
PRODUCE=$TOOLS_BIN/raftmq-produce
for bin in "$CONSUME" "$PRODUCE"; do
    [ -x "$bin" ] || { log "missing $bin (make build)"; exit 2; }
done
TOOL_TIMEOUT=60

# consume NAME ARGS...: raftmq-consume bounded by TOOL_TIMEOUT; out/err in $TC_TMP/NAME.{out,err}, status in rc.
consume() {
    local name=$1
    shift
    timeout -k 5 "$TOOL_TIMEOUT" "$CONSUME" -b "$BROKERS" "$@" </dev/null >"$TC_TMP/$name.out" 2>"$TC_TMP/$name.err"
    rc=$?
}
expect_rc() {
    [ "$rc" = "$1" ] || fail "$2: exit status $rc, want $1; stderr: $(head -c 600 "$TC_TMP/$2.err")"
}
produce() {
    "$PRODUCE" -b "$BROKERS" "$@" >/dev/null 2>"$TC_TMP/produce.err" ||
        fail "raftmq-produce $*: $(tail -n 3 "$TC_TMP/produce.err")"
}

# ---- usage and an unreachable cluster (no brokers needed) --------------------------------
for bad in "-o -0" "-o @x" "-o -" "-f %q" "--json -f %s"; do
    # shellcheck disable=SC2086 # the flags are words
    timeout 10 "$CONSUME" -t t $bad </dev/null >/dev/null 2>"$TC_TMP/usage.err"
    [ $? = 2 ] || fail "raftmq-consume -t t $bad: not a usage error"
done
dead=$(free_port) || fail "no free port"
start=$SECONDS
timeout -k 5 30 "$CONSUME" -b "127.0.0.1:$dead" -t t --timeout 2000 -e </dev/null \
    >/dev/null 2>"$TC_TMP/unreachable.err"
rc=$?
took=$((SECONDS - start))
[ "$rc" = 1 ] || fail "unreachable cluster: exit status $rc, want 1"
[ "$took" -le 5 ] || fail "unreachable cluster: took ${took}s with --timeout 2000"
grep -q "cannot reach the cluster" "$TC_TMP/unreachable.err" ||
    fail "unreachable cluster: unclear message: $(cat "$TC_TMP/unreachable.err")"

start_cluster 3
wait_ready

# ---- -o -N: the last N records of each partition ------------------------------------------------
tc create -t tail --partitions 2 --replicas 3 >/dev/null || fail "create tail"
seq 1 100 | produce -t tail -p 0
seq 101 150 | produce -t tail -p 1
consume tail5 -t tail -o -5 -e -f '%p %o %s\n'
expect_rc 0 tail5
sort -k1,1n -k2,2n "$TC_TMP/tail5.out" >"$TC_TMP/tail5.sorted"
{
    for i in 0 1 2 3 4; do echo "0 $((95 + i)) $((96 + i))"; done
    for i in 0 1 2 3 4; do echo "1 $((45 + i)) $((146 + i))"; done
} >"$TC_TMP/tail5.want"
cmp -s "$TC_TMP/tail5.sorted" "$TC_TMP/tail5.want" ||
    fail "-o -5 printed: $(tr '\n' ';' <"$TC_TMP/tail5.out")"
consume tailall -t tail -o -1000 -e
expect_rc 0 tailall
[ "$(wc -l <"$TC_TMP/tailall.out")" = 150 ] || fail "-o -1000 printed $(wc -l <"$TC_TMP/tailall.out") records, want all 150"

# ---- -o @TIMESTAMP_MS ------------------------------------------------------------------------------
tc create -t ts --partitions 1 --replicas 3 >/dev/null || fail "create ts"
seq 1 10 | produce -t ts
seq 11 20 | produce -t ts
consume tsall -t ts -e -f '%o %T\n'
expect_rc 0 tsall
[ "$(wc -l <"$TC_TMP/tsall.out")" = 20 ] || fail "ts: $(wc -l <"$TC_TMP/tsall.out") records, want 20"
T=$(awk '$1 == 10 { print $2 }' "$TC_TMP/tsall.out")
[ -n "$T" ] || fail "ts: no record at offset 10"
# The first offset whose timestamp is >= T (timestamps need not be distinct or ordered).
want_first=$(awk -v t="$T" '$2 >= t { print $1; exit }' "$TC_TMP/tsall.out")
consume tsfrom -t ts -o "@$T" -e -f '%o %T\n'
expect_rc 0 tsfrom
read -r got_first got_ts <"$TC_TMP/tsfrom.out"
[ "$got_first" = "$want_first" ] || fail "-o @$T started at offset $got_first, want $want_first"
[ "$got_ts" -ge "$T" ] || fail "-o @$T: first record's timestamp $got_ts < $T"
if [ "$got_first" -gt 0 ]; then
    before=$(awk -v o=$((got_first - 1)) '$1 == o { print $2 }' "$TC_TMP/tsall.out")
    [ "$before" -lt "$T" ] || fail "-o @$T: the record before the first one has timestamp $before >= $T"
fi
[ "$(wc -l <"$TC_TMP/tsfrom.out")" = $((20 - want_first)) ] ||
    fail "-o @$T printed $(wc -l <"$TC_TMP/tsfrom.out") records, want $((20 - want_first))"
consume tslate -t ts -o "@$((T + 100000000))" -e
expect_rc 0 tslate
[ -s "$TC_TMP/tslate.out" ] && fail "a timestamp after every record printed records"

# ---- %h and %S ------------------------------------------------------------------------------------
tc create -t fmt --partitions 1 --replicas 3 >/dev/null || fail "create fmt"
printf 'hello\n\nabc\n' | produce -t fmt -k K -H a=1 -H b=x=y
consume fmt -t fmt -e -f '%o|%k|%S|%h|%s\n'
expect_rc 0 fmt
printf '0|K|5|a=1,b=x=y|hello\n1|K|0|a=1,b=x=y|\n2|K|3|a=1,b=x=y|abc\n' >"$TC_TMP/fmt.want"
cmp -s "$TC_TMP/fmt.out" "$TC_TMP/fmt.want" || fail "-f with %h %S printed: $(cat "$TC_TMP/fmt.out")"
consume fmtnone -t tail -p 1 -o 49 -e -f '[%h][%S]\n'
expect_rc 0 fmtnone
[ "$(cat "$TC_TMP/fmtnone.out")" = "[][3]" ] || fail "%h of no headers: $(cat "$TC_TMP/fmtnone.out")"

# ---- --json ----------------------------------------------------------------------------------------
tc create -t json --partitions 1 --replicas 3 >/dev/null || fail "create json"
printf 'k1:plain value\ncaf\xc3\xa9 "q" \\ \ttab \xff\xfe end\x01\n' | produce -t json -K : -H h=v
consume json -t json -e --json
expect_rc 0 json
[ "$(wc -l <"$TC_TMP/json.out")" = 2 ] || fail "--json printed $(wc -l <"$TC_TMP/json.out") lines, want 2"
grep -q '"key":null' "$TC_TMP/json.out" || fail "--json: a record without a key has no \"key\":null"
grep -qF '\u00ff\u00fe' "$TC_TMP/json.out" || fail "--json: bytes that are not UTF-8 not shown as \\u00XX"
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' <"$TC_TMP/json.out" ||
        fail "--json output does not parse: $(cat "$TC_TMP/json.out")"
    python3 - "$TC_TMP/json.out" <<'EOF' || fail "--json fields are wrong: $(cat "$TC_TMP/json.out")"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
a, b = rows
assert a == {"topic": "json", "partition": 0, "offset": 0, "timestamp": a["timestamp"],
             "key": "k1", "value": "plain value", "headers": [{"name": "h", "value": "v"}]}, a
assert isinstance(a["timestamp"], int) and a["timestamp"] > 0
assert b["key"] is None and b["offset"] == 1
assert b["value"] == 'caf\u00e9 "q" \\ \ttab \u00ff\u00fe end\u0001', repr(b["value"])
EOF
    # Every record of a bigger topic parses too.
    consume jsonall -t tail -e --json
    expect_rc 0 jsonall
    python3 -c 'import json,sys; rows=[json.loads(l) for l in sys.stdin]; assert len(rows) == 150' \
        <"$TC_TMP/jsonall.out" || fail "--json of 150 records does not parse"
else
    log "python3 not found: --json checked with grep only"
fi

# ---- -e on an empty topic; Ctrl-C on a following consumer ----------------------------------------------
tc create -t empty --partitions 3 --replicas 3 >/dev/null || fail "create empty"
consume empty -t empty -e
expect_rc 0 empty
[ -s "$TC_TMP/empty.out" ] && fail "-e on an empty topic printed records"

"$CONSUME" -b "$BROKERS" -t empty -o end -f '%s\n' >"$TC_TMP/follow.out" 2>"$TC_TMP/follow.err" &
follower=$!
TC_PIDS+=("$follower")
# "end" is resolved once the consumer has started: produce until a line shows up (bounded).
for attempt in $(seq 1 20); do
    echo "late $attempt" | produce -t empty -p 0
    for _ in $(seq 1 10); do
        grep -q '^late ' "$TC_TMP/follow.out" && break 2
        sleep 0.1
    done
done
grep -q '^late ' "$TC_TMP/follow.out" || fail "the following consumer printed nothing"
kill -INT "$follower"
wait_exit "$follower" 10 || fail "the following consumer ignored SIGINT"
[ "$TC_STATUS" = 0 ] || fail "the following consumer exited $TC_STATUS after SIGINT, want 0"

pass
