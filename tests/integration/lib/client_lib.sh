# Shared helpers for the client integration tests: a real build/brnd on a temporary
# state directory, the real build/brnctl, and cleanup on every exit path.
# Source it, then call brn_setup; the daemon is always killed at exit (trap).
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BRND="$BUILD/brnd"
BRNCTL="$BUILD/brnctl"
DAEMON_PID=""
TMP=""

# A tiny job: synthetic data, WRN-10-1, 1 thread: a second or two per epoch at most.
TINY=(--dataset synthetic --depth 10 --width 1 --train-subset 256 --test-subset 128 --batch-size 32 --threads 1)

fail() { echo "FAIL: $*" >&2; [ -n "$TMP" ] && [ -f "$TMP/brnd.log" ] && tail -n 30 "$TMP/brnd.log" >&2; exit 1; }
note() { echo "-- $*"; }

brn_cleanup() {
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -KILL "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    DAEMON_PID=""
    [ -n "$TMP" ] && rm -rf "$TMP"
}

brn_setup() {
    [ -x "$BRND" ] && [ -x "$BRNCTL" ] || fail "build $BRND and $BRNCTL first (make)"
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/brn-it.XXXXXX")
    trap brn_cleanup EXIT
    trap 'exit 130' INT TERM
    mkdir -p "$TMP/data"
    export BRN_ADDR="unix:$TMP/state/brnd.sock"
    unset BRN_TOKEN
}

# start_daemon [extra brnd serve flags...]: starts brnd and waits for its readiness line.
start_daemon() {
    "$BRND" serve --state-dir "$TMP/state" --data-dir "$TMP/data" "$@" >>"$TMP/brnd.log" 2>&1 &
    DAEMON_PID=$!
    local before=${READY_SEEN:-0} i
    for i in $(seq 1 200); do
        local n
        n=$(grep -c "ready on" "$TMP/brnd.log" 2>/dev/null || true)
        if [ "${n:-0}" -gt "$before" ]; then
            READY_SEEN=$n
            READY_LINE=$(grep "ready on" "$TMP/brnd.log" | tail -n 1)
            return 0
        fi
        kill -0 "$DAEMON_PID" 2>/dev/null || fail "brnd exited before it was ready"
        sleep 0.1
    done
    fail "brnd not ready after 20s"
}

# stop_daemon: SIGTERM and wait (a clean stop).
stop_daemon() {
    kill -TERM "$DAEMON_PID" 2>/dev/null
    local i
    for i in $(seq 1 300); do
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$DAEMON_PID" 2>/dev/null && fail "brnd did not stop within 30s of SIGTERM"
    wait "$DAEMON_PID" 2>/dev/null
    DAEMON_PID=""
}

kill9_daemon() {
    kill -KILL "$DAEMON_PID"
    wait "$DAEMON_PID" 2>/dev/null
    DAEMON_PID=""
}

# expect_rc WANT cmd...: runs cmd, output in $OUT (stdout+stderr), fails unless exit == WANT.
expect_rc() {
    local want=$1 rc=0
    shift
    OUT=$("$@" 2>&1) || rc=$?
    [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want; output: $OUT"
}

# job_field ID KEY: one top-level field of `brnctl status --json`.
job_field() {
    "$BRNCTL" status "$1" --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"
}

# wait_for SECONDS cmd...: polls cmd until it succeeds.
wait_for() {
    local t=$1 i
    shift
    for i in $(seq 1 $((t * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "timed out after ${t}s waiting for: $*"
}

epochs_stored() { # ID -> number of epochs in GetMetrics
    "$BRNCTL" curves "$1" --json | /usr/bin/python3 -c "import json,sys; print(len(json.load(sys.stdin)[0].get('epochs', [])))"
}
