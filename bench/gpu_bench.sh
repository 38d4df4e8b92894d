#!/usr/bin/env bash
# GPU training speed: brn's CUDA backend beside PyTorch on the same card (bench/RESULTS.md).
# WRN-16-4 and WRN-28-10, batch 128, random 32x32x3 data, BN and BRN. Ours: bf16, tf32 and
# fp32, each with and without the CUDA graph (bench_train). PyTorch: eager (channels_last,
# bf16 autocast) and torch.compile (bf16, each compilation capped), bench/torch_gpu_bench.py.
# The most telling runs go first, so that a tight budget drops the least.
#
# Usage: bench/gpu_bench.sh [results.jsonl]
# Env: BUILD (build), BUDGET seconds for everything (300), STEPS timed steps (15),
#      COMPILE_CAP seconds per torch.compile process (150: both models, one norm), PYTHON (python3), PEAK_TFLOPS (990,
#      the H100/H200 dense bf16 datasheet figure), MEASURED_TFLOPS (790, a large bf16 GEMM
#      measured on this kind of card), BENCH_ERR (where the runs' errors go: results.err).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUTF=${1:-$BUILD/gpu-bench.jsonl}
BUDGET=${BUDGET:-300} STEPS=${STEPS:-15} CAP=${COMPILE_CAP:-150} PY=${PYTHON:-python3}
ERR=${BENCH_ERR:-${OUTF%.jsonl}.err}
T0=$SECONDS
left() { echo $((BUDGET - (SECONDS - T0))); }
: >"$OUTF"

ours() { # depth width precision graph [input: device (batches built on the GPU) | host (staged, uploaded)]
    local t
    t=$(left)
    if [ "$t" -lt 15 ]; then echo "skipped: ours WRN-$1-$2 $3 graph $4 (out of time)"; return; fi
    timeout "$t" "$BUILD/bench_train" --device cuda --precision "$3" --graph "$4" --depth "$1" --width "$2" \
        --batch 128 --steps "$STEPS" --warmup 3 --norms bn,brn --input "${5:-device}" >>"$OUTF" 2>>"$ERR" ||
        echo "FAILED: ours WRN-$1-$2 $3 graph $4 input ${5:-device}: $(tail -n 1 "$ERR")"
}

torch_run() { # mode models norms [cap]: one PyTorch process, one JSON line per finished run
    local t cap=${4:-}
    t=$(left)
    [ -n "$cap" ] && [ "$cap" -lt "$t" ] && t=$cap
    if [ "$t" -lt 30 ]; then echo "skipped: PyTorch $1 $2 $3 (out of time)"; return; fi
    timeout "$t" "$PY" bench/torch_gpu_bench.py --mode "$1" --precision bf16 --models "$2" --norms "$3" \
        --batch-size 128 --steps "$STEPS" --warmup 5 >>"$OUTF" 2>>"$ERR" ||
        echo "FAILED or stopped at ${t}s: PyTorch $1 $2 $3 (what finished is kept): $(tail -n 1 "$ERR")"
}

for m in "16 4" "28 10"; do ours $m bf16 1; done
torch_run eager 16x4,28x10 bn,brn
ours 16 4 bf16 1 host   # the batch staged on the host and uploaded, as before the dataset lived on the GPU
for m in "16 4" "28 10"; do
    ours $m bf16 0
    for p in tf32 fp32; do for g in 1 0; do ours $m $p $g; done; done
done
torch_run compile 16x4,28x10 bn "$CAP"
torch_run compile 16x4,28x10 brn "$CAP"
echo "bench: $((SECONDS - T0))s; results in $OUTF"

PEAK=${PEAK_TFLOPS:-990} MEASURED=${MEASURED_TFLOPS:-790} "$PY" - "$OUTF" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
peak, measured = float(os.environ["PEAK"]), float(os.environ["MEASURED"])
ours = {(r["depth"], r["width"], r["norm"], r["precision"], r["graph"]): r for r in rows
        if r.get("impl") == "brn-c" and r.get("input", "device") == "device"}
staged = {(r["depth"], r["width"], r["norm"]): r for r in rows if r.get("impl") == "brn-c" and r.get("input") == "host"}
torch = {(r["depth"], r["width"], r["norm"], r["mode"]): r for r in rows if r.get("impl") == "torch" and "mode" in r}
gpu = next((r["gpu"] for r in rows if r.get("gpu")), next((r["backend"] for r in rows if r.get("backend")), "?"))
print(f"GPU: {gpu}; images/s, batch 128, 32x32x3; TFLOP/s over conv+linear FLOPs; peak {peak:g} (datasheet) / {measured:g} (measured GEMM)")
print(f"{'model':10} {'norm':4} {'ours bf16 graph':>15} {'no graph':>9} {'tf32':>8} {'fp32':>8} {'torch eager':>11} {'compile':>9} {'x eager':>8} {'x comp.':>8} {'TFLOP/s':>8} {'%peak':>6} {'%meas':>6} {'epoch s':>8}")
def ips(r):
    return r["images_per_sec"] if r else None
def f(v, w, p=1):
    return f"{v:{w}.{p}f}" if v is not None else f"{'-':>{w}}"
for (d, w) in ((16, 4), (28, 10)):
    for n in ("bn", "brn"):
        g = ours.get((d, w, n, "bf16", 1))
        ng = ours.get((d, w, n, "bf16", 0))
        t32 = ours.get((d, w, n, "tf32", 1))
        f32 = ours.get((d, w, n, "fp32", 1))
        te, tc = torch.get((d, w, n, "eager")), torch.get((d, w, n, "compile"))
        xe = ips(g) / ips(te) if g and te else None
        xc = ips(g) / ips(tc) if g and tc else None
        tf = g["tflops"] if g else None
        print(f"WRN-{d}-{w:<4} {n:4} {f(ips(g), 15)} {f(ips(ng), 9)} {f(ips(t32), 8)} {f(ips(f32), 8)} {f(ips(te), 11)} "
              f"{f(ips(tc), 9)} {f(xe, 8, 2)} {f(xc, 8, 2)} {f(tf, 8)} {f(tf / peak * 100 if tf else None, 6)} "
              f"{f(tf / measured * 100 if tf else None, 6)} {f(g['cifar10_epoch_seconds'] if g else None, 8, 2)}")
for (d, w, n), h in sorted(staged.items()):
    g = ours.get((d, w, n, "bf16", 1))
    print(f"WRN-{d}-{w} {n} bf16 graph: batches staged on the host and uploaded {h['images_per_sec']:.1f} images/s, "
          f"built on the GPU from the resident dataset {f(ips(g), 1)}")
print("targets (bf16, CUDA graph):")
for (d, w) in ((16, 4), (28, 10)):
    g, te, tc = ours.get((d, w, "bn", "bf16", 1)), torch.get((d, w, "bn", "eager")), torch.get((d, w, "bn", "compile"))
    if g and te:
        x = ips(g) / ips(te)
        print(f"  WRN-{d}-{w} BN vs PyTorch eager: {x:.2f}x (target >= 1.3x: {'met' if x >= 1.3 else 'NOT met'})")
    if g and tc:
        x = ips(g) / ips(tc)
        print(f"  WRN-{d}-{w} BN vs torch.compile: {x:.2f}x (target >= 1.0x: {'met' if x >= 1.0 else 'NOT met'})")
    b, r = ours.get((d, w, "bn", "bf16", 1)), ours.get((d, w, "brn", "bf16", 1))
    if b and r:
        slow = (ips(b) / ips(r) - 1) * 100
        print(f"  WRN-{d}-{w} ours BRN vs BN: {slow:+.1f}% slower (target within 3%: {'met' if slow <= 3 else 'NOT met'})")
g = ours.get((28, 10, "bn", "bf16", 1))
if g:
    pct = g["tflops"] / peak * 100
    print(f"  WRN-28-10 BN bf16: {g['tflops']:.0f} TFLOP/s = {pct:.0f}% of the {peak:g} peak (target >= 40%: {'met' if pct >= 40 else 'NOT met'})")
PY
