#!/usr/bin/env bash
# A job that kills brnd whenever it starts (BRND_TEST_CRASH_JOB_NAME: the worker aborts the
# process as that job starts, after its attempt was stored) must not crash-loop the daemon:
# after --max-crashes (default 3) deaths under it the job is FAILED with error "crashed",
# and the daemon stays up and runs the rest of the queue.
source "$(dirname "$0")/lib/client_lib.sh"
brn_setup
ulimit -c 0   # abort() without core files
export BRND_TEST_CRASH_JOB_NAME=crasher
field_is() { [ "$(job_field "$1" "$2")" = "$3" ]; }
job_id() { printf '%s' "$OUT" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])"; }

# waits until brnd has exited (crashed) or job $1 is in a final state; prints which
wait_crash_or_final() {
    local i st
    for i in $(seq 1 300); do
        if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
            wait "$DAEMON_PID" 2>/dev/null
            DAEMON_PID=""
            echo crashed
            return 0
        fi
        st=$(job_field "$1" state 2>/dev/null || true)
        case "$st" in SUCCEEDED | FAILED | CANCELLED) echo "$st"; return 0 ;; esac
        sleep 0.1
    done
    echo timeout
}

start_daemon
note "a long job runs; the crasher (higher priority) and another job wait behind it"
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 500 --name first --json
FIRST=$(job_id)
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 1 --priority 5 --name crasher --json
CRASHER=$(job_id)
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 1 --name after --json
AFTER=$(job_id)
wait_for 30 field_is "$FIRST" state RUNNING
expect_rc 0 "$BRNCTL" cancel "$FIRST"   # the crasher starts next

starts=1
for round in 1 2 3 4 5 6; do
    outcome=$(wait_crash_or_final "$CRASHER")
    note "start $starts: $outcome"
    case "$outcome" in
    crashed)
        [ "$starts" -lt 6 ] || fail "brnd crashed $starts times in a row: the crash loop does not end"
        start_daemon
        starts=$((starts + 1))
        ;;
    FAILED) break ;;
    *) fail "job $CRASHER: unexpected outcome '$outcome'" ;;
    esac
done
[ "$(job_field "$CRASHER" state)" = FAILED ] || fail "the crasher is not FAILED"
[ "$(job_field "$CRASHER" error)" = crashed ] || fail "error is '$(job_field "$CRASHER" error)', want crashed"
case "$(job_field "$CRASHER" reason)" in *crashed*3*) ;; *) fail "reason: $(job_field "$CRASHER" reason)" ;; esac
[ "$(job_field "$CRASHER" crashes)" = 3 ] || fail "crashes = $(job_field "$CRASHER" crashes), want 3"
[ "$(job_field "$CRASHER" attempts)" = 3 ] || fail "attempts = $(job_field "$CRASHER" attempts), want 3"
[ "$starts" -eq 4 ] || fail "brnd started $starts times; want 4 (3 crashes, then it stays up)"

note "the rest of the queue runs, and the daemon stays up"
expect_rc 0 "$BRNCTL" watch "$AFTER"
[ "$(job_field "$FIRST" state)" = CANCELLED ] || fail "job $FIRST: $(job_field "$FIRST" state)"
expect_rc 0 "$BRNCTL" health
kill -0 "$DAEMON_PID" || fail "brnd died"

note "--max-crashes 0 never gives up; a clean stop is not a crash"
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 40 --name slow --json
SLOW=$(job_id)
wait_for 30 field_is "$SLOW" state RUNNING
stop_daemon
start_daemon --max-crashes 0
wait_for 30 field_is "$SLOW" attempts 2
[ "$(job_field "$SLOW" crashes)" = 0 ] || fail "a clean stop counted as a crash"
expect_rc 0 "$BRNCTL" cancel "$SLOW"
stop_daemon

note "a start removes the checkpoint temporaries of dead writers, also of jobs that will not run again"
sh -c 'exit 0' &
DEAD=$!
wait "$DEAD"
mkdir -p "$TMP/state/jobs/$CRASHER"
: >"$TMP/state/jobs/$CRASHER/last.safetensors.tmp.$DEAD"
: >"$TMP/state/jobs/$SLOW/epoch-3.safetensors.tmp.$DEAD"
: >"$TMP/state/jobs/$SLOW/last.safetensors.tmp.$$"   # a live writer's: kept
start_daemon
[ ! -e "$TMP/state/jobs/$CRASHER/last.safetensors.tmp.$DEAD" ] || fail "a failed job's stale temporary is still there"
[ ! -e "$TMP/state/jobs/$SLOW/epoch-3.safetensors.tmp.$DEAD" ] || fail "a cancelled job's stale temporary is still there"
[ -e "$TMP/state/jobs/$SLOW/last.safetensors.tmp.$$" ] || fail "a live writer's temporary was removed"
grep -q "removed 2 checkpoint temporaries" "$TMP/brnd.log" || fail "no log line for the removed temporaries"
stop_daemon
note "ok"
