#!/usr/bin/env bash
# Runs the unit test binaries and the integration scripts; prints one closing line
# "N passed, N failed, N skipped" and exits non-zero when anything failed.
# Usage: tests/run.sh [unit|integration|gpu]   (default: unit and integration; unit includes the GPU tests)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
# OpenMP threads that spin while waiting starve each other when the machine is busy with
# other work (tests run beside builds): sleep instead, unless the caller says otherwise.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
what=${1:-all}
passed=0 failed=0 skipped=0 failed_names=()
run_one() { # name, command...
    local name=$1; shift
    local log="$BUILD/test-logs/$name.log" t0=$SECONDS
    mkdir -p "$BUILD/test-logs"
    "$@" >"$log" 2>&1
    local rc=$?
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1)); echo "PASS $name ($((SECONDS - t0))s)"
    elif [ $rc -eq 77 ]; then   # the automake convention: the test cannot run here
        skipped=$((skipped + 1)); echo "SKIP $name: $(tail -n 1 "$log")"
    else
        failed=$((failed + 1)); failed_names+=("$name"); echo "FAIL $name ($((SECONDS - t0))s) — last lines of $log:"
        tail -n 25 "$log" | sed 's/^/    /'
    fi
}
if [ "$what" = gpu ]; then   # the GPU tests alone (make test-gpu); `unit` and `all` run them too
    for t in "$BUILD"/tests/test_gpu_*; do
        [ -x "$t" ] || continue
        run_one "$(basename "$t")" "$t"
    done
fi
if [ "$what" = all ] || [ "$what" = unit ]; then
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        run_one "$(basename "$t")" "$t"
    done
fi
if [ "$what" = all ] || [ "$what" = integration ]; then
    for t in tests/integration/*.sh tests/integration/*.py; do
        [ -e "$t" ] || continue
        case "$t" in *.py) run_one "$(basename "$t")" /usr/bin/python3 "$t" ;; *) run_one "$(basename "$t")" bash "$t" ;; esac
    done
fi
echo
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
