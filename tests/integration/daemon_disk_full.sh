#!/usr/bin/env bash
# The state directory's disk fills up while a job trains and another waits: the daemon
# must keep answering (Health fast, little CPU, few log lines), the running job must pause
# rather than lose an epoch, nothing may be left RUNNING once space returns, and SIGTERM
# must still stop it while the disk is full. The state directory is a small tmpfs in a
# private mount namespace when this machine allows one (unshare -m); otherwise writes fail
# through brnd's test VFS (BRND_TEST_STORE_FAULT_FILE), which answers SQLITE_FULL
# (BRN_DISK_FULL_MODE=fault forces that).
if [ "${BRN_DISK_FULL_MODE:-}" != fault ] && [ -z "${BRN_DISK_FULL_NS:-}" ] && command -v unshare >/dev/null && unshare -m --propagation private true 2>/dev/null; then
    exec unshare -m --propagation private env BRN_DISK_FULL_NS=1 bash "$0" "$@"
fi
source "$(dirname "$0")/lib/client_lib.sh"
brn_setup
job_id() { printf '%s' "$OUT" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])"; }
field_is() { [ "$(job_field "$1" "$2")" = "$3" ]; }
epochs_at_least() { [ "$(epochs_stored "$1")" -ge "$2" ]; }

mkdir -p "$TMP/state"
disk_full_cleanup() {
    if [ -n "$DAEMON_PID" ]; then kill -KILL "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""; fi
    umount "$TMP/state" 2>/dev/null
    brn_cleanup
}
trap disk_full_cleanup EXIT
MODE=fault
if [ -n "${BRN_DISK_FULL_NS:-}" ] && mount -t tmpfs -o size=24m,mode=0700 tmpfs "$TMP/state" 2>/dev/null; then
    MODE=tmpfs
fi
note "mode: $MODE"
FAULT="$TMP/fault-on"
export BRND_TEST_STORE_FAULT_FILE="$FAULT"
[ "$MODE" = tmpfs ] && unset BRND_TEST_STORE_FAULT_FILE

fill_disk() {
    if [ "$MODE" = tmpfs ]; then
        dd if=/dev/zero of="$TMP/state/filler" bs=64k >/dev/null 2>&1 || true   # until ENOSPC
        [ "$(df --output=avail "$TMP/state" | tail -n 1)" -le 64 ] || fail "tmpfs not full"
    else
        touch "$FAULT"
    fi
}
free_disk() { rm -f "$TMP/state/filler" "$FAULT"; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }

# Health must answer within a second every time while the disk is full; prints the slowest (ms).
health_while_full() {
    local worst=0 i t0 t1 ms
    for i in $(seq 1 "$1"); do
        t0=$(date +%s%N)
        "$BRNCTL" --timeout 3 health >/dev/null 2>&1 || fail "Health failed while the disk was full"
        t1=$(date +%s%N)
        ms=$(((t1 - t0) / 1000000))
        [ "$ms" -gt "$worst" ] && worst=$ms
        sleep 0.4
    done
    [ "$worst" -lt 1000 ] || fail "Health took $worst ms while the disk was full"
    echo "$worst"
}

# Every job in a final state; each job's stored epochs are 1..N without a gap, N its epoch count.
check_jobs() {
    "$BRNCTL" list --json > "$TMP/jobs.json" || fail "list"
    "$BRNCTL" curves "$@" --json > "$TMP/curves.json" || fail "curves"
    /usr/bin/python3 - "$TMP/jobs.json" "$TMP/curves.json" <<'PY' || fail "jobs or curves wrong after the disk filled"
import json, sys
jobs = {j["id"]: j for j in json.load(open(sys.argv[1]))}
for c in json.load(open(sys.argv[2])):
    j = jobs[c["job_id"]]
    eps = [e["epoch"] for e in c.get("epochs", [])]
    assert j["state"] in ("SUCCEEDED", "FAILED"), (j["id"], j["state"], j.get("reason"))
    assert eps == list(range(1, len(eps) + 1)), (j["id"], "gap in the stored epochs", eps)
    if j["state"] == "SUCCEEDED":
        assert len(eps) == j["spec"]["epochs"], (j["id"], len(eps), j["spec"]["epochs"])
    else:  # only the disk may fail a job here (its checkpoint could not be written)
        assert "space" in j["reason"] or "write" in j["reason"], (j["id"], j["reason"])
    print("job", j["id"], j["state"], len(eps), "epochs")
PY
}

start_daemon
note "a job trains, another waits"
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 30 --name long --json
LONG=$(job_id)
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 2 --name queued --json
QUEUED=$(job_id)
wait_for 30 epochs_at_least "$LONG" 2

note "the disk fills up"
lines0=$(wc -l < "$TMP/brnd.log")
fill_disk
sleep 1
ticks0=$(cpu_ticks)
worst=$(health_while_full 8)
ticks1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
secs=4   # 8 x (0.4 s + a call)
cpu_pct=$(((ticks1 - ticks0) * 100 / hz / secs))
lines=$(($(wc -l < "$TMP/brnd.log") - lines0))
note "while full: Health slowest $worst ms, brnd CPU ~$cpu_pct%, $lines log lines"
[ "$cpu_pct" -lt 50 ] || fail "brnd used ~$cpu_pct% CPU while the disk was full (a busy loop?)"
[ "$lines" -lt 60 ] || fail "$lines log lines while the disk was full: $(tail -n 5 "$TMP/brnd.log")"
kill -0 "$DAEMON_PID" || fail "brnd died while the disk was full"
stored_full=$(epochs_stored "$LONG")
sleep 1
[ "$(epochs_stored "$LONG")" -eq "$stored_full" ] || fail "epochs were stored while the disk was full?"
[ "$(job_field "$QUEUED" state)" = QUEUED ] || fail "the queued job changed state: $(job_field "$QUEUED" state)"
expect_rc 69 "$BRNCTL" submit "${TINY[@]}" --epochs 1 --name while-full   # 5 s: the write's deadline
case "$OUT" in *"UNAVAILABLE: store busy"*"brnd is up but cannot use its database now"*) ;; *) fail "$OUT" ;; esac

note "space returns: the paused job goes on, the queued one runs, nothing stays RUNNING"
free_disk
expect_rc 0 "$BRNCTL" watch "$QUEUED"
wait_for 40 field_is "$LONG" state SUCCEEDED
check_jobs "$LONG" "$QUEUED"

note "SIGTERM while the disk is full stops brnd; the job resumes after the restart"
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 20 --name interrupted --json
INT=$(job_id)
wait_for 30 epochs_at_least "$INT" 2
fill_disk
sleep 1.5
t0=$(date +%s)
stop_daemon
note "stopped in $(($(date +%s) - t0)) s"
free_disk
start_daemon
expect_rc 0 "$BRNCTL" watch "$INT"
check_jobs "$LONG" "$QUEUED" "$INT"
/usr/bin/python3 -c "import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0]; sys.exit(r!='ok')" \
    "$TMP/state/brnd.db" || fail "integrity_check failed"
stop_daemon
note "ok"
