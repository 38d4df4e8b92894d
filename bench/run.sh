#!/usr/bin/env bash
# Trains WRN-16-4 (batch 128, 32x32x3, random data) with BN and with BRN in our CPU engine
# and in PyTorch (Debian's python3-torch), same threads, back to back, and prints images/s
# and the ratios. Absolute numbers on a shared machine are noisy: compare within one run.
# Environment: THREADS (2), STEPS (4), DEPTH (16), WIDTH (4), BATCH (128).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
T=${THREADS:-2} S=${STEPS:-4} D=${DEPTH:-16} W=${WIDTH:-4} B=${BATCH:-128}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/bench_train" --depth "$D" --width "$W" --batch "$B" --threads "$T" --steps "$S" --warmup 1 | tee -a "$out"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    /usr/bin/python3 bench/torch_train_bench.py --depth "$D" --width "$W" --batch-size "$B" --threads "$T" --steps "$S" \
        --warmup 1 --norm both | tee -a "$out"
else
    echo "python3-torch is not installed: no reference numbers"
fi
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ours = {r["norm"]: r["images_per_sec"] for r in rows if r.get("impl") == "brn-c"}
torch = {r["norm"]: r["images_per_sec"] for r in rows if r.get("impl") != "brn-c"}
for norm in ("bn", "brn"):
    if norm in ours and norm in torch:
        print(f"{norm}: ours {ours[norm]:.1f} img/s, PyTorch {torch[norm]:.1f} img/s, ratio {ours[norm] / torch[norm]:.2f}x")
if "bn" in ours and "brn" in ours:
    print(f"ours: BRN is {100 * (ours['bn'] / ours['brn'] - 1):+.1f}% slower than BN")
PY
