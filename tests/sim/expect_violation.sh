#!/bin/bash
# Proves the simulator's checkers can fail: runs a simulator whose Raft core
# was built with a planted bug (RAFT_PLANTED_BUG_DOUBLE_VOTE lets a node grant
# a second vote in a term it already voted in) and requires that it reports at
# least one violation, exits non-zero and prints a replay command.
set -u
sim=${1:?usage: expect_violation.sh PATH-TO-raftmq-sim-bug}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$sim" --seeds "${BUG_SEEDS:-300}" --steps "${BUG_STEPS:-10000}" >"$out" 2>&1
status=$?
last=$(tail -n 1 "$out")
violations=$(sed -n 's/.*violations=\([0-9]*\).*/\1/p' <<<"$last")
if [ "$status" -ne 0 ] && [ "${violations:-0}" -gt 0 ] && grep -q -- '--seed' "$out"; then
    echo "  planted bug caught: $last (exit $status)"
    grep -m 1 -E 'VIOLATION|violation:' "$out" | sed 's/^/  first report: /'
    exit 0
fi
echo "the simulator did NOT report the planted double-vote bug (exit $status):" >&2
tail -n 20 "$out" >&2
exit 1
