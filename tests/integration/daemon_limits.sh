#!/usr/bin/env bash
# Budgets and limits through the real daemon and brnctl: extreme specs are refused with the
# limit named (memory budget, epochs, steps) or clamped (threads); a full queue and too many
# WatchJob streams answer RESOURCE_EXHAUSTED; epoch-N checkpoints are kept to the newest K;
# a job whose files outgrow --max-job-disk fails; DeleteJob removes a finished job's files
# and records and refuses an unfinished one.
source "$(dirname "$0")/lib/client_lib.sh"
brn_setup
job_id() { printf '%s' "$OUT" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])"; }
field_is() { [ "$(job_field "$1" "$2")" = "$3" ]; }
json_get() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }

start_daemon --memory-budget 2G --max-epochs 500 --max-queued 2 --max-watch-streams 1 --keep-epoch-checkpoints 2 \
    --max-job-disk 8M
expect_rc 0 "$BRNCTL" info --json
CORES=$(printf '%s' "$OUT" | json_get "d['limits']['cpu_cores']")
[ "$(printf '%s' "$OUT" | json_get "d['devices'][0]['memory_budget_bytes']")" = $((2 << 30)) ] || fail "budget: $OUT"
expect_rc 0 "$BRNCTL" info
case "$OUT" in *"budget per job 2.0 GiB"*"500 epochs"*) ;; *) fail "info does not show the limits: $OUT" ;; esac

note "extreme specs: refused with the limit named, or clamped"
expect_rc 65 "$BRNCTL" submit --dataset synthetic --depth 28 --width 10 --batch-size 1024
case "$OUT" in *"memory: the job needs about"*"GiB on cpu"*"memory budget on this server is 2.0 GiB"*) ;; *) fail "$OUT" ;; esac
expect_rc 65 "$BRNCTL" submit --dataset synthetic --depth 16 --width 8 --batch-size 4096
case "$OUT" in *"memory:"*) ;; *) fail "$OUT" ;; esac
expect_rc 65 "$BRNCTL" submit "${TINY[@]}" --epochs 100000
case "$OUT" in *"epochs: 100000 is more than this server allows (max_epochs 500)"*) ;; *) fail "$OUT" ;; esac
expect_rc 65 "$BRNCTL" submit "${TINY[@]}" --steps 80000
case "$OUT" in *"steps: 80000 steps of 8 per epoch make 10000 epochs"*"max_epochs 500"*) ;; *) fail "$OUT" ;; esac
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --threads 1024 --epochs 400 --name long --json
LONG=$(job_id)
[ "$(job_field "$LONG" spec | /usr/bin/python3 -c "import ast,sys; print(ast.literal_eval(sys.stdin.read())['threads'])")" = "$CORES" ] ||
    fail "threads not clamped to $CORES: $(job_field "$LONG" spec)"
grep -q "job $LONG: submitted.*threads 1024 clamped to $CORES" "$TMP/brnd.log" || fail "no clamp in the log"
wait_for 30 field_is "$LONG" state RUNNING

note "a full queue and too many watch streams: RESOURCE_EXHAUSTED (exit 75)"
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 1 --name q1 --json
Q1=$(job_id)
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 1 --name q2 --json
expect_rc 75 "$BRNCTL" submit "${TINY[@]}" --epochs 1 --name q3
case "$OUT" in *"queue: 2 jobs are queued"*"--max-queued 2"*) ;; *) fail "$OUT" ;; esac
"$BRNCTL" watch "$LONG" > "$TMP/watch1.out" 2>&1 &
WATCH=$!
sleep 1
expect_rc 75 "$BRNCTL" watch "$LONG"
case "$OUT" in *"watch: 1 streams are open"*"--max-watch-streams 1"*) ;; *) fail "$OUT" ;; esac

note "delete: refused while queued or running"
expect_rc 65 "$BRNCTL" delete "$LONG"
case "$OUT" in *"is RUNNING: cancel it first"*) ;; *) fail "$OUT" ;; esac
expect_rc 65 "$BRNCTL" delete "$Q1"
expect_rc 0 "$BRNCTL" cancel "$LONG"
wait "$WATCH"
wait_for 30 field_is "$LONG" state CANCELLED

note "retention: the newest 2 epoch files are kept"
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 6 --save-every 1 --name kept --json
KEPT=$(job_id)
expect_rc 0 "$BRNCTL" watch "$KEPT"
files=$(cd "$TMP/state/jobs/$KEPT" && ls | sort | tr '\n' ' ')
[ "$files" = "epoch-5.safetensors epoch-6.safetensors last.safetensors " ] || fail "files of job $KEPT: $files"

note "a job whose files outgrow --max-job-disk fails"
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 300 --name big --json
BIG=$(job_id)
wait_for 60 test -f "$TMP/state/jobs/$BIG/last.safetensors"
head -c 9000000 /dev/zero > "$TMP/state/jobs/$BIG/extra.bin"   # what a misbehaving writer might leave
wait_for 60 field_is "$BIG" state FAILED
case "$(job_field "$BIG" reason)" in *"disk: the job's checkpoints take"*"--max-job-disk 8.0 MiB"*) ;;
    *) fail "reason: $(job_field "$BIG" reason)" ;; esac

note "delete a finished job: files and records go"
[ -d "$TMP/state/jobs/$KEPT" ] || fail "no files to delete"
expect_rc 0 "$BRNCTL" delete "$KEPT"
case "$OUT" in *"job $KEPT: deleted"*"MiB of checkpoints freed"*) ;; *) fail "$OUT" ;; esac
[ ! -e "$TMP/state/jobs/$KEPT" ] || fail "job $KEPT's directory is still there"
expect_rc 66 "$BRNCTL" status "$KEPT"
expect_rc 66 "$BRNCTL" curves "$KEPT"
expect_rc 66 "$BRNCTL" delete "$KEPT"
/usr/bin/python3 - "$TMP/state/brnd.db" "$KEPT" <<'PY' || fail "rows of the deleted job remain"
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for t in ("jobs", "epochs", "renorm_diag", "checkpoints", "job_labels"):
    col = "id" if t == "jobs" else "job_id"
    n = con.execute("SELECT count(*) FROM %s WHERE %s = ?" % (t, col), (int(sys.argv[2]),)).fetchone()[0]
    assert n == 0, (t, n)
PY
expect_rc 0 "$BRNCTL" health
stop_daemon
note "ok"
