#!/usr/bin/env bash
# Runs every tests/cluster/test_*.sh in order, each bounded by TEST_TIMEOUT
# seconds, and prints PASS, FAIL or SKIP (exit status 77) per test, then
#   cluster tests: N passed, M failed
# Exit status non-zero if any test failed. Environment: see lib.sh
# (RAFTMQ_BROKER, RAFTMQ_TESTCLIENT, BUILD, KEEP_TMP).
set -u
cd "$(dirname "$0")/../.." || exit 2
TEST_TIMEOUT=${TEST_TIMEOUT:-180}
passed=0
failed=0
skipped=0
failed_names=""
for t in tests/cluster/test_*.sh; do
    name=$(basename "$t" .sh)
    start=$(date +%s)
    timeout -k 10 "$TEST_TIMEOUT" bash "$t"
    status=$?
    secs=$(($(date +%s) - start))
    case $status in
    0) echo "PASS $name (${secs}s)"; passed=$((passed + 1)) ;;
    77) echo "SKIP $name (${secs}s)"; skipped=$((skipped + 1)) ;;
    124 | 137) echo "FAIL $name (timed out after ${TEST_TIMEOUT}s)"; failed=$((failed + 1)); failed_names="$failed_names $name" ;;
    *) echo "FAIL $name (exit status $status, ${secs}s)"; failed=$((failed + 1)); failed_names="$failed_names $name" ;;
    esac
done
[ "$skipped" -gt 0 ] && echo "cluster tests skipped: $skipped"
[ "$failed" -gt 0 ] && echo "cluster tests failed:$failed_names"
echo "cluster tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
