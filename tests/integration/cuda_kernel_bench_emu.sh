#!/usr/bin/env bash
# The norm kernel benchmark's validation (dev/cuda/bench_kernels.cu) under the host
# emulation: every variant it would time on a GPU (the promoted kernels, the naive one, the
# chunk-size variants) matches the benchmark's double-precision reference on small shapes,
# so the program a GPU session runs is known to work before it gets there.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
out=$("$BUILD/emu/bench_kernels" 2>&1) || { echo "$out" | grep -E 'FAIL|error' | head -n 20; echo "FAIL: exit $?"; exit 1; }
n=$(echo "$out" | grep -c '^valid ')
echo "$out" | tail -n 1
[ "$n" -ge 100 ] || { echo "FAIL: only $n validations ran"; exit 1; }
echo "$n variant/case validations passed"
