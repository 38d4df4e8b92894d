#!/usr/bin/env bash
# kill -9 the daemon mid-epoch and start it again: every reported epoch is still there,
# the job resumes from its checkpoint and finishes, its curve equals an uninterrupted
# run's (same seed, 1 thread), and a `brnctl watch` running across the crash follows
# the job to its end.
source "$(dirname "$0")/lib/client_lib.sh"
brn_setup
start_daemon

JOB=(--dataset synthetic --depth 10 --width 1 --train-subset 1024 --test-subset 128 --batch-size 32 --threads 1
     --epochs 3 --seed 7 --device cpu)  # the CPU run is the one defined to repeat exactly
curve_of() { "$BRNCTL" curves "$1" --json > "$2" || fail "curves $1"; }

note "reference: an uninterrupted run"
expect_rc 0 "$BRNCTL" submit "${JOB[@]}" --name reference --wait --json
REF=1
curve_of $REF "$TMP/ref.json"

note "the same job, killed with SIGKILL after its first epoch"
expect_rc 0 "$BRNCTL" submit "${JOB[@]}" --name crashed --json
ID=$(printf '%s' "$OUT" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
"$BRNCTL" watch "$ID" > "$TMP/watch.out" 2>&1 &
WATCH=$!
for i in $(seq 1 400); do
    n=$(epochs_stored "$ID" 2>/dev/null || echo 0)
    [ "$n" -ge 1 ] && break
    sleep 0.05
done
[ "$n" -ge 1 ] || fail "job $ID reported no epoch in 20s"
curve_of "$ID" "$TMP/before.json"
kill9_daemon
[ "$(/usr/bin/python3 -c "import json; print(len(json.load(open('$TMP/before.json'))[0]['epochs']))")" -lt 3 ] ||
    fail "the job finished before the kill: make it longer"
sleep 1
start_daemon
wait "$WATCH"
WRC=$?
[ "$WRC" -eq 0 ] || fail "watch across the crash exited $WRC: $(cat "$TMP/watch.out")"
grep -q "SUCCEEDED" "$TMP/watch.out" || fail "watch did not see the end: $(cat "$TMP/watch.out")"
[ "$(grep -c '^epoch ' "$TMP/watch.out")" -eq 3 ] || fail "watch printed epochs twice or missed one: $(cat "$TMP/watch.out")"
[ "$(job_field "$ID" state)" = SUCCEEDED ] || fail "resumed job is $(job_field "$ID" state)"
curve_of "$ID" "$TMP/after.json"

/usr/bin/python3 - "$TMP/ref.json" "$TMP/before.json" "$TMP/after.json" <<'PY' || fail "resumed curve differs"
import json, sys
ref, before, after = (json.load(open(p))[0]["epochs"] for p in sys.argv[1:4])
assert [e["epoch"] for e in after] == [1, 2, 3], after
# every epoch reported before the crash is still there, unchanged
for b in before:
    a = next(e for e in after if e["epoch"] == b["epoch"])
    for k in ("train_loss", "train_acc", "test_loss", "test_acc", "step"):
        assert a[k] == b[k], ("reported epoch changed", b["epoch"], k, b[k], a[k])
# and the resumed run's curve is the uninterrupted one's
for r, a in zip(ref, after):
    for k in ("train_loss", "test_acc", "train_acc", "test_loss", "step"):
        assert r[k] == a[k], ("epoch", r["epoch"], k, r[k], a[k])
print("resumed curve equals the uninterrupted run:", [(e["epoch"], e["train_loss"], e["test_acc"]) for e in after])
PY
expect_rc 0 "$BRNCTL" health
stop_daemon
note "ok"
