#!/usr/bin/env bash
# `brnd train` and the devices: without a usable GPU, --device cuda (and cuda:N) is refused
# before anything starts, saying why, with exit 69 (EX_UNAVAILABLE), and --device auto trains
# on the CPU; with one, both train on it. --precision bf16 on the CPU is refused naming the field.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
job=(--dataset synthetic --depth 10 --width 1 --batch-size 16 --steps 2 --threads 2)
fail() { echo "FAIL: $*"; exit 1; }

set +e
"$BUILD/brnd" train --device cuda "${job[@]}" >"$tmp/cuda.out" 2>"$tmp/cuda.err"
rc=$?
set -e
if grep -q 'is not available' "$tmp/cuda.err"; then
    echo "no usable GPU here: $(tail -n 1 "$tmp/cuda.err")"
    [ $rc = 69 ] || fail "--device cuda without a GPU exited $rc, not 69"
    grep -q '^brnd train: device: cuda is not available: .\+ (device_unavailable)$' "$tmp/cuda.err" ||
        fail "--device cuda: the message does not say why: $(cat "$tmp/cuda.err")"
    set +e
    "$BUILD/brnd" train --device cuda:1 "${job[@]}" 2>"$tmp/cuda1.err"
    rc=$?
    set -e
    [ $rc = 69 ] && grep -q 'device: cuda:1 is not available' "$tmp/cuda1.err" || fail "--device cuda:1: exit $rc"
    "$BUILD/brnd" train --device auto "${job[@]}" >"$tmp/auto.out" 2>"$tmp/auto.err" || fail "--device auto: $(tail -n 2 "$tmp/auto.err")"
    grep -q ', cpu (2 threads' "$tmp/auto.err" || fail "--device auto did not run on the CPU: $(head -n 1 "$tmp/auto.err")"
    echo "--device auto ran on the CPU: $(head -n 1 "$tmp/auto.err")"
else
    [ $rc = 0 ] || fail "--device cuda exited $rc: $(tail -n 2 "$tmp/cuda.err")"
    grep -q '(cuda:0, fp32)' "$tmp/cuda.err" || fail "--device cuda did not say which GPU: $(head -n 1 "$tmp/cuda.err")"
    "$BUILD/brnd" train --device auto "${job[@]}" 2>"$tmp/auto.err" >/dev/null || fail "--device auto on a GPU machine"
    grep -q '(cuda:0, fp32)' "$tmp/auto.err" || fail "--device auto did not pick the GPU: $(head -n 1 "$tmp/auto.err")"
    echo "GPU: $(head -n 1 "$tmp/cuda.err")"
fi
set +e
"$BUILD/brnd" train --device cpu --precision bf16 "${job[@]}" 2>"$tmp/cpu.err" >/dev/null
rc=$?
set -e
[ $rc = 64 ] && grep -q 'precision: bf16 needs a GPU' "$tmp/cpu.err" || fail "--device cpu --precision bf16: exit $rc $(cat "$tmp/cpu.err")"
echo "ok"
