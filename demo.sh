#!/usr/bin/env bash
# make demo: BN against Batch Renormalization on a Fashion-MNIST subset, through the real
# service. Installs missing Debian packages (packages.txt), builds, starts brnd on a
# temporary state directory, trains two small WRNs (CPU: a few minutes on 2 cores; the
# daemon uses a GPU when it has one), writes compare.svg, prints the curves, stops brnd.
#
# Environment: DEMO_OUT (default build/demo) receives compare.svg and curves.csv;
# DEMO_EPOCHS, DEMO_TRAIN (train subset, 0 = all), DEMO_TEST, DEMO_DEPTH, DEMO_WIDTH set the
# size (CPU default: WRN-10-1, 5000/1000 examples, 3 epochs; with a CUDA device: WRN-16-4 on
# the whole set, 10 epochs).
set -euo pipefail
cd "$(dirname "$0")"
BUILD=${BUILD:-build}
OUT=${DEMO_OUT:-$BUILD/demo}

say() { printf '\n== %s\n' "$*"; }

# ---- Debian packages (the shared installer: only what is missing) -------------------
scripts/install-deps.sh packages.txt

# ---- build -------------------------------------------------------------------------
say "building"
${MAKE:-make} -j2 BUILD="$BUILD" all
BRND=$BUILD/brnd
BRNCTL=$BUILD/brnctl

# ---- daemon ------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/brn-demo.XXXXXX")
DAEMON_PID=""
cleanup() {
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting brnd on $TMP/state"
"$BRND" serve --state-dir "$TMP/state" --log-level warn >"$TMP/brnd.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 200); do
    grep -q "ready on" "$TMP/brnd.log" && break
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$TMP/brnd.log" >&2; exit 70; }
    sleep 0.1
done
grep -q "ready on" "$TMP/brnd.log" || { echo "demo: brnd did not start" >&2; cat "$TMP/brnd.log" >&2; exit 70; }
export BRN_ADDR="unix:$TMP/state/brnd.sock"
"$BRNCTL" info

DATASET=fashion-mnist
if ! "$BRNCTL" info --json | /usr/bin/python3 -c "import json,sys; sys.exit('fashion-mnist' not in json.load(sys.stdin)['datasets'])"; then
    echo "demo: fashion-mnist is not installed in brnd's data directory (/usr/share/datasets); using synthetic data"
    DATASET=synthetic
fi

if "$BRNCTL" info --json | /usr/bin/python3 -c "import json,sys; sys.exit(not any(d['kind'] == 'cuda' for d in json.load(sys.stdin)['devices']))"; then
    SIZE=(10 0 0 16 4)   # epochs, train, test (0 = all), depth, width: full size on a GPU
else
    SIZE=(5 10000 2000 10 1)
fi
EPOCHS=${DEMO_EPOCHS:-${SIZE[0]}}
TRAIN=${DEMO_TRAIN:-${SIZE[1]}}
TEST=${DEMO_TEST:-${SIZE[2]}}
DEPTH=${DEMO_DEPTH:-${SIZE[3]}}
WIDTH=${DEMO_WIDTH:-${SIZE[4]}}
N_TRAIN=$TRAIN
[ "$N_TRAIN" -gt 0 ] || N_TRAIN=60000   # Fashion-MNIST's training set

# Microbatches of 4 examples are where BN's batch statistics hurt and BRN is meant to help
# (Ioffe 2017, section 4.3). The paper's schedule (5k steps of BN, then r_max/d_max ramped
# up over 40k/25k steps, moving averages with momentum 0.01) is scaled to this run (~250
# steps on the CPU): momentum 0.1 so the averages converge in ~30 steps, plain BN for the
# first ~17% of the steps (the averages must be right before r and d use them), d_max
# reached at 50%, r_max at 70%.
BATCH=64
STEPS=$(( N_TRAIN / BATCH * EPOCHS ))
COMMON=(--dataset "$DATASET" --depth "$DEPTH" --width "$WIDTH" --train-subset "$TRAIN" --test-subset "$TEST"
        --epochs "$EPOCHS" --batch-size "$BATCH" --microbatch 4 --norm-momentum 0.1 --lr 0.1 --seed 1)
RENORM=(--rmax 3 --dmax 5 --renorm-warmup $(( STEPS * 17 / 100 )) --dmax-steps $(( STEPS / 2 ))
        --rmax-steps $(( STEPS * 7 / 10 )))
say "training WRN-$DEPTH-$WIDTH with BN, then with BRN ($DATASET, $N_TRAIN examples, $EPOCHS epochs)"
BN=$("$BRNCTL" submit "${COMMON[@]}" --norm bn --name bn --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
BRN=$("$BRNCTL" submit "${COMMON[@]}" --norm brn "${RENORM[@]}" --name brn --json |
      /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
rc=0
"$BRNCTL" watch "$BN" || rc=$?
"$BRNCTL" watch "$BRN" || rc=$?

say "results"
mkdir -p "$OUT"
"$BRNCTL" compare "$BN" "$BRN" --svg "$OUT/compare.svg" --title "BN vs BRN, WRN-$DEPTH-$WIDTH, $DATASET ($N_TRAIN examples), microbatch 4"
"$BRNCTL" curves "$BN" "$BRN" --csv > "$OUT/curves.csv"
echo
"$BRNCTL" curves "$BN" "$BRN"
echo
echo "picture: $OUT/compare.svg    numbers: $OUT/curves.csv"
exit $rc
