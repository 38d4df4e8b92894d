#!/usr/bin/env bash
# make demo: BN against Batch Renormalization when every example is normalized in a small
# group (microbatch), on a Fashion-MNIST subset, through the real service. Installs missing
# Debian packages (packages.txt), builds, starts brnd on a temporary state directory, trains
# two small WRNs (CPU: about a minute on 2 cores; the daemon uses a GPU when it has one),
# writes compare.svg, prints the curves, stops brnd.
#
# Environment: DEMO_OUT (default build/demo) receives compare.svg and curves.csv;
# DEMO_MICROBATCH (examples per normalization group), DEMO_EPOCHS, DEMO_TRAIN (train subset,
# 0 = all), DEMO_TEST, DEMO_DEPTH, DEMO_WIDTH set the size (CPU default: WRN-10-1,
# 10000/2000 examples, 3 epochs; with a CUDA device: WRN-16-4 on the whole set, 10 epochs).
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
    SIZE=(3 10000 2000 10 1)
fi
EPOCHS=${DEMO_EPOCHS:-${SIZE[0]}}
TRAIN=${DEMO_TRAIN:-${SIZE[1]}}
TEST=${DEMO_TEST:-${SIZE[2]}}
DEPTH=${DEMO_DEPTH:-${SIZE[3]}}
WIDTH=${DEMO_WIDTH:-${SIZE[4]}}
N_TRAIN=$TRAIN
[ "$N_TRAIN" -gt 0 ] || N_TRAIN=60000   # Fashion-MNIST's training set

# Each example normalized with the statistics of a group of MICROBATCH examples (ghost batch
# norm; docs/experiments.md, claim 1). BN trains on the group's statistics but is evaluated
# with the running averages, and the two disagree more the smaller the group. BRN corrects
# every group towards the running averages (r, d), so training sees what evaluation will see.
# Both run with their defaults: BRN's schedule and momentum are scaled to the run (README).
MICROBATCH=${DEMO_MICROBATCH:-2}
COMMON=(--dataset "$DATASET" --depth "$DEPTH" --width "$WIDTH" --train-subset "$TRAIN" --test-subset "$TEST"
        --epochs "$EPOCHS" --batch-size 64 --microbatch "$MICROBATCH" --no-augment --seed 1)
say "training WRN-$DEPTH-$WIDTH with BN, then with BRN ($DATASET, $N_TRAIN examples, $EPOCHS epochs, microbatch $MICROBATCH)"
BN=$("$BRNCTL" submit "${COMMON[@]}" --norm bn --name bn --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
BRN=$("$BRNCTL" submit "${COMMON[@]}" --norm brn --name brn --json |
      /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
rc=0
"$BRNCTL" watch "$BN" || rc=$?
"$BRNCTL" watch "$BRN" || rc=$?

say "results"
mkdir -p "$OUT"
"$BRNCTL" compare "$BN" "$BRN" --svg "$OUT/compare.svg" --title "BN vs BRN, WRN-$DEPTH-$WIDTH, $DATASET ($N_TRAIN examples), microbatch $MICROBATCH"
"$BRNCTL" curves "$BN" "$BRN" --csv > "$OUT/curves.csv"
echo
"$BRNCTL" curves "$BN" "$BRN"
echo
echo "picture: $OUT/compare.svg    numbers: $OUT/curves.csv"
exit $rc
