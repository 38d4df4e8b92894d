#!/usr/bin/env bash
# Cancelling running and queued jobs, and restarting the daemon (SIGTERM mid-job): jobs,
# states and curves survive, and the interrupted job resumes and finishes.
source "$(dirname "$0")/lib/client_lib.sh"
brn_setup
start_daemon

is_running_with_epoch() { [ "$(job_field "$1" state)" = RUNNING ] && [ "$(epochs_stored "$1")" -ge 1 ]; }
is_running() { [ "$(job_field "$1" state)" = RUNNING ]; }

note "cancel a running job: watch ends with CANCELLED and exit 1"
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 200 --name long --json
LONG=$(printf '%s' "$OUT" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 1 --name queued --json
QUEUED=$(printf '%s' "$OUT" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
wait_for 20 is_running_with_epoch "$LONG"
[ "$(job_field "$QUEUED" state)" = QUEUED ] || fail "second job should wait for the first"
if command -v script >/dev/null; then
    note "watch on a terminal draws a progress bar in place"
    timeout 4 script -q -c "$BRNCTL watch $LONG" /dev/null > "$TMP/tty.out" 2>&1 || true
    grep -qE $'\r\e\\[K(\\[[#.]+\\] )? *[0-9]+% epoch [0-9]+/200 batch' "$TMP/tty.out" ||
        fail "no progress bar on a terminal: $(head -c 400 "$TMP/tty.out" | cat -A)"
fi
note "cancel a queued job: CANCELLED at once"
expect_rc 0 "$BRNCTL" cancel "$QUEUED"
case "$OUT" in *CANCELLED*) ;; *) fail "queued job not cancelled at once: $OUT" ;; esac
expect_rc 0 "$BRNCTL" cancel "$LONG"
expect_rc 1 "$BRNCTL" watch "$LONG"
case "$OUT" in *CANCELLED*) ;; *) fail "watch after cancel: $OUT" ;; esac
[ "$(job_field "$LONG" state)" = CANCELLED ] || fail "job $LONG not CANCELLED"
expect_rc 65 "$BRNCTL" cancel "$LONG"   # already finished: FAILED_PRECONDITION
expect_rc 0 "$BRNCTL" curves "$LONG" --csv   # the epochs it did are kept
[ "$(printf '%s\n' "$OUT" | wc -l)" -ge 2 ] || fail "cancelled job lost its epochs"

note "restart with SIGTERM mid-job: the job resumes after the restart"
expect_rc 0 "$BRNCTL" submit --dataset synthetic --depth 10 --width 1 --train-subset 1024 --test-subset 128 \
    --batch-size 32 --threads 1 --epochs 3 --name restarted --json
R=$(printf '%s' "$OUT" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
wait_for 20 is_running "$R"
"$BRNCTL" list --json > "$TMP/before.json"
stop_daemon
start_daemon
expect_rc 0 "$BRNCTL" health
expect_rc 0 "$BRNCTL" watch "$R"
case "$OUT" in *"epoch 3/3"*SUCCEEDED*) ;; *) fail "restarted job did not finish: $OUT" ;; esac
[ "$(epochs_stored "$R")" -eq 3 ] || fail "restarted job has $(epochs_stored "$R") epochs, want 3"
"$BRNCTL" list --json > "$TMP/after.json"
/usr/bin/python3 - "$TMP/before.json" "$TMP/after.json" "$R" <<'PY' || fail "jobs changed across the restart"
import json, sys
before = {j["id"]: j for j in json.load(open(sys.argv[1]))}
after = {j["id"]: j for j in json.load(open(sys.argv[2]))}
r = int(sys.argv[3])
assert set(before) == set(after), (set(before), set(after))
for i, j in before.items():
    if i == r:
        continue
    for k in ("state", "name", "spec", "epoch", "created_ms", "finished_ms"):
        assert j[k] == after[i][k], (i, k, j[k], after[i][k])
PY
expect_rc 0 "$BRNCTL" health
stop_daemon
note "ok"
