#!/usr/bin/env bash
# Runs every fuzz target for a bounded time over a scratch copy of its seed corpus (so new
# inputs never land in git by accident). Usage: tests/fuzz/run.sh BUILD_DIR SECONDS_EACH
# Prints per target the executions and the corpus size; exits non-zero on any crash, leak
# or sanitizer report (the input is left as BUILD_DIR/crashes/<target>/crash-*).
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build/fuzz}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac   # absolute: a target may chdir
SECS=${2:-6}
export OMP_WAIT_POLICY=passive OMP_NUM_THREADS=1
# the targets' scratch files (dataset files, config files) stay under the build directory
export TMPDIR="$BUILD/tmp"
mkdir -p "$TMPDIR"
trap 'rm -rf "$TMPDIR"' EXIT
passed=0 failed=0
for bin in "$BUILD"/fuzz_*; do
    [ -x "$bin" ] || continue
    t=${bin##*/fuzz_}
    seeds="$PWD/tests/fuzz/corpus/$t"
    work="$BUILD/corpus/$t"
    crashes="$BUILD/crashes/$t"
    mkdir -p "$work" "$crashes"
    [ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null
    log="$BUILD/fuzz-$t.log"
    "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "$work" > "$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        echo "PASS fuzz_$t: ${execs:-?} executions in ${SECS}s, corpus $(ls "$work" | wc -l) inputs"
    else
        failed=$((failed + 1))
        echo "FAIL fuzz_$t (exit $rc): $(ls "$crashes" | head -n 3 | tr '\n' ' ')— last lines of $log:"
        grep -E "ERROR|SUMMARY|==[0-9]+==|runtime error|deadly signal" "$log" | head -n 15 | sed 's/^/    /'
    fi
done
echo
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
