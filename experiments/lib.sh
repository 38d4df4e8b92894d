# Shared by the experiment scripts: options, the daemon, the sweep and its report.
# A script sets NAME, GRID, BASELINE and a settings() function (the job flags and the
# number of seeds per scale), then calls exp_main "$@". See experiments/README.md.
set -euo pipefail

EXP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$EXP_DIR/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BRND="$BUILD/brnd"
BRNCTL="$BUILD/brnctl"

# The presets every script starts from (a script adds or overrides flags in its settings()).
SMOKE_JOB=(--dataset synthetic --depth 10 --width 1 --train-subset 256 --test-subset 128 --batch-size 32
           --epochs 1 --no-augment --threads 1)
SMOKE_SEEDS=2
SMALL_JOB=(--dataset fashion-mnist --depth 10 --width 1 --train-subset 10000 --epochs 3 --batch-size 64
           --no-augment)
SMALL_SEEDS=3
FULL_JOB=(--dataset cifar10 --depth 16 --width 4 --epochs 200 --batch-size 128 --lr 0.1 --lr-schedule step
          --milestones 60,120,160 --lr-factor 0.2 --weight-decay 5e-4 --nesterov --augment)
FULL_SEEDS=3

SCALE=small
ADDR=""
OUT="$EXP_DIR/results"
STATE=""
DATA_DIR=""
TAG=""
SEEDS_OVERRIDE=""
DRY_RUN=0
EXTRA=()
DAEMON_PID=""

exp_usage() {
    cat <<USAGE
Usage: $(basename "$0") [--scale smoke|small|full] [--addr ADDR | --state-dir DIR [--data-dir DIR]]
                        [--out DIR] [--seeds N] [--tag TAG] [--dry-run] [-- JOB FLAGS...]

Runs the sweep "$NAME" through brnd and writes its report to OUT/$NAME-SCALE[-TAG]/
(report.md, report.json, report.csv, curves.svg).

  --scale S       smoke: synthetic data, seconds (the test suite's); small (default):
                  Fashion-MNIST, WRN-10-1, minutes on 2 cores; full: CIFAR-10, WRN-16-4,
                  200 epochs (a GPU box)
  --addr ADDR     use a running brnd (else one is started on --state-dir and stopped after)
  --state-dir DIR brnd's state when started here (default OUT/.brnd-state): a second run
                  finds the finished jobs there and only runs what is missing
  --data-dir DIR  brnd's datasets (default: its own, /usr/share/datasets)
  --out DIR       results folder (default experiments/results)
  --seeds N       seeds per setting (default: the scale's)
  --tag TAG       a new sweep name (NAME-SCALE-TAG), e.g. after changing the settings
  --dry-run       check every job with brnd and list them; submit and write nothing
  -- FLAGS        more job flags for every job (e.g. -- --epochs 5 --threads 2)
USAGE
}

exp_cleanup() {
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
}

exp_parse() {
    while [ $# -gt 0 ]; do
        case "$1" in
        --scale) SCALE=$2; shift 2 ;;
        --scale=*) SCALE=${1#*=}; shift ;;
        --addr) ADDR=$2; shift 2 ;;
        --addr=*) ADDR=${1#*=}; shift ;;
        --state-dir) STATE=$2; shift 2 ;;
        --state-dir=*) STATE=${1#*=}; shift ;;
        --data-dir) DATA_DIR=$2; shift 2 ;;
        --data-dir=*) DATA_DIR=${1#*=}; shift ;;
        --out) OUT=$2; shift 2 ;;
        --out=*) OUT=${1#*=}; shift ;;
        --seeds) SEEDS_OVERRIDE=$2; shift 2 ;;
        --seeds=*) SEEDS_OVERRIDE=${1#*=}; shift ;;
        --tag) TAG=$2; shift 2 ;;
        --tag=*) TAG=${1#*=}; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) exp_usage; exit 0 ;;
        --) shift; EXTRA=("$@"); break ;;
        *) echo "$(basename "$0"): unknown option '$1' (see --help)" >&2; exit 64 ;;
        esac
    done
    case "$SCALE" in smoke|small|full) ;; *) echo "$(basename "$0"): --scale: '$SCALE' is not smoke, small or full" >&2; exit 64 ;; esac
}

# Starts brnd on STATE unless --addr names a running one; sets BRN_ADDR for brnctl.
exp_daemon() {
    [ -x "$BRNCTL" ] || { echo "$(basename "$0"): build brnctl first (make)" >&2; exit 69; }
    if [ -n "$ADDR" ]; then
        export BRN_ADDR="$ADDR"
        "$BRNCTL" health >/dev/null || { echo "$(basename "$0"): no brnd at $ADDR" >&2; exit 69; }
        return
    fi
    [ -x "$BRND" ] || { echo "$(basename "$0"): build brnd first (make)" >&2; exit 69; }
    STATE=${STATE:-$OUT/.brnd-state}
    mkdir -p "$STATE"
    export BRN_ADDR="unix:$STATE/brnd.sock"
    local flags=(serve --state-dir "$STATE")
    [ -n "$DATA_DIR" ] && flags+=(--data-dir "$DATA_DIR")
    trap exp_cleanup EXIT
    trap 'exit 130' INT TERM
    "$BRND" "${flags[@]}" >>"$STATE/brnd.log" 2>&1 &
    DAEMON_PID=$!
    local i
    for i in $(seq 1 300); do
        "$BRNCTL" health >/dev/null 2>&1 && return
        kill -0 "$DAEMON_PID" 2>/dev/null || { tail -n 20 "$STATE/brnd.log" >&2; exit 69; }
        sleep 0.1
    done
    echo "$(basename "$0"): brnd did not become ready (see $STATE/brnd.log)" >&2
    exit 69
}

exp_main() {
    exp_parse "$@"
    export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
    JOB=()
    SEEDS=3
    settings
    [ -n "$SEEDS_OVERRIDE" ] && SEEDS=$SEEDS_OVERRIDE
    local sweep="$NAME-$SCALE${TAG:+-$TAG}" dir
    dir="$OUT/$sweep"
    exp_daemon
    local cmd=("$BRNCTL" sweep --name "$sweep" "${JOB[@]}" "${EXTRA[@]}" "${GRID[@]}" --seeds "$SEEDS")
    echo "== $sweep: ${cmd[*]}"
    if [ "$DRY_RUN" = 1 ]; then
        "${cmd[@]}" --dry-run
        return
    fi
    mkdir -p "$dir"
    local rc=0
    "${cmd[@]}" --wait || rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || exit "$rc"   # 1: some job did not succeed; the report says which
    "$BRNCTL" report "$sweep" --json --baseline "$BASELINE" >"$dir/report.json"
    "$BRNCTL" report "$sweep" --csv --baseline "$BASELINE" >"$dir/report.csv"
    {
        echo "# $sweep"
        echo
        echo "$DESCRIPTION"
        echo
        echo "    brnctl sweep --name $sweep ${JOB[*]} ${EXTRA[*]} ${GRID[*]} --seeds $SEEDS --wait"
        echo "    brnctl report $sweep --markdown --baseline $BASELINE --svg curves.svg"
        echo
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $("$BRNCTL" info | sed -n 1p), $(nproc) CPU cores"
        echo
        "$BRNCTL" report "$sweep" --markdown --baseline "$BASELINE" --svg "$dir/curves.svg" 2>/dev/null || true
        echo
        echo "![mean curves over seeds](curves.svg)"
    } >"$dir/report.md"
    echo "== $sweep: wrote $dir/report.md, curves.svg, report.json, report.csv"
    "$BRNCTL" report "$sweep" --baseline "$BASELINE"
}
