#!/usr/bin/env bash
# brnctl against a real brnd: info/health, submit --wait, list/status, watch, curves as
# table/CSV/JSON/SVG, compare, idempotent submit, and the exit codes for bad input
# (65 invalid spec naming the field, 64 usage, 66 unknown job, 69 daemon unreachable).
source "$(dirname "$0")/lib/client_lib.sh"
brn_setup

note "daemon unreachable: 69"
expect_rc 69 "$BRNCTL" info
case "$OUT" in *"cannot reach brnd"*) ;; *) fail "no hint when unreachable: $OUT" ;; esac

start_daemon
expect_rc 0 "$BRNCTL" health
[ "$OUT" = SERVING ] || fail "health said: $OUT"
expect_rc 0 "$BRNCTL" info
case "$OUT" in *synthetic*) ;; *) fail "info lists no synthetic dataset: $OUT" ;; esac

note "submit --wait: exits 0 when the job succeeds, prints every epoch"
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 2 --name tiny-bn --wait
case "$OUT" in *"submitted job 1"*"epoch 1/2"*"epoch 2/2"*"SUCCEEDED"*) ;; *) fail "submit --wait output: $OUT" ;; esac
[ "$(job_field 1 state)" = SUCCEEDED ] || fail "job 1 is not SUCCEEDED"
[ "$(job_field 1 name)" = tiny-bn ] || fail "job 1 lost its name"

note "only the given flags are sent: the rest are the daemon's defaults"
"$BRNCTL" status 1 --json | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)["spec"]
assert s["depth"] == 10 and s["width"] == 1 and s["batch_size"] == 32 and s["epochs"] == 2, s
assert s["norm"] == "bn" and s["lr_schedule"] == "cosine", s   # defaults, not sent
' || fail "job 1's spec is not what was asked"

note "a second job with BRN, queued behind nothing, then list and status"
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 2 --norm brn --microbatch 8 --name tiny-brn --json
ID2=$(printf '%s' "$OUT" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
[ "$ID2" = 2 ] || fail "second job id $ID2"
note "watch to the end: plain lines (no terminal), exit 0"
expect_rc 0 "$BRNCTL" watch 2
case "$OUT" in *"epoch 2/2"*"SUCCEEDED"*) ;; *) fail "watch output: $OUT" ;; esac
case "$OUT" in *$'\r'*) fail "progress bar drawn on a pipe" ;; esac
expect_rc 0 "$BRNCTL" watch 2 --json
[ "$(printf '%s\n' "$OUT" | grep -c '"epoch":{')" -eq 2 ] || fail "watch --json did not replay 2 epochs: $OUT"
expect_rc 0 "$BRNCTL" list
case "$OUT" in *tiny-bn*SUCCEEDED*) ;; *) ;; esac
[ "$(printf '%s\n' "$OUT" | grep -c SUCCEEDED)" -eq 2 ] || fail "list: $OUT"
expect_rc 0 "$BRNCTL" list --state succeeded --limit 1 --json
printf '%s' "$OUT" | /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); assert len(j)==1 and j[0]['id']==2, j" ||
    fail "list --limit 1 (newest first): $OUT"
expect_rc 0 "$BRNCTL" list --state failed,cancelled --json
[ "$(printf '%s' "$OUT" | tr -d ' \n')" = "[]" ] || fail "no job failed yet: $OUT"
expect_rc 0 "$BRNCTL" status 2
case "$OUT" in *"state      SUCCEEDED"*"norm"*brn*) ;; *) fail "status 2: $OUT" ;; esac

note "curves: table, CSV, JSON, SVG; compare"
expect_rc 0 "$BRNCTL" curves 1 2
case "$OUT" in *"#1 tiny-bn bn WRN-10-1"*"#2 tiny-brn brn WRN-10-1"*"rmax=1.5 dmax=0.5 mb=8"*) ;; *) fail "curves table: $OUT" ;; esac
expect_rc 0 "$BRNCTL" curves 1 2 --csv
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 5 ] || fail "CSV rows: $OUT"
printf '%s\n' "$OUT" | head -n 1 | grep -q '^job_id,name,norm,epoch,step,train_loss,train_acc,test_loss,test_acc' || fail "CSV header"
expect_rc 0 "$BRNCTL" curves 1 --json
printf '%s' "$OUT" | /usr/bin/python3 -c '
import json, sys, math
c = json.load(sys.stdin)
assert len(c) == 1 and c[0]["job_id"] == 1 and len(c[0]["epochs"]) == 2, c
for e in c[0]["epochs"]:
    assert math.isfinite(e["train_loss"]) and 0 <= e["test_acc"] <= 1, e
' || fail "curves --json"
expect_rc 0 "$BRNCTL" curves 1 2 --svg "$TMP/curves.svg"
grep -q "</svg>" "$TMP/curves.svg" || fail "no SVG written"
expect_rc 0 "$BRNCTL" compare 1 2 --svg "$TMP/compare.svg"
case "$OUT" in *SUCCEEDED*"#1 tiny-bn"*"#2 tiny-brn"*) ;; *) fail "compare table: $OUT" ;; esac
[ "$(grep -c '<path ' "$TMP/compare.svg")" -eq 8 ] || fail "compare.svg should hold 2 jobs x 4 lines"
if command -v rsvg-convert >/dev/null; then
    rsvg-convert "$TMP/compare.svg" -o "$TMP/compare.png" || fail "rsvg-convert cannot render compare.svg"
fi

note "idempotency key: a retried submit returns the first job"
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 1 --idempotency-key retry-1 --json
A=$(printf '%s' "$OUT" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 1 --idempotency-key retry-1 --json
B=$(printf '%s' "$OUT" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
[ "$A" = "$B" ] || fail "idempotent submit created jobs $A and $B"

note "bad input: exit codes and messages"
expect_rc 65 "$BRNCTL" submit "${TINY[@]}" --depth 12
case "$OUT" in *INVALID_ARGUMENT*depth*) ;; *) fail "invalid depth message: $OUT" ;; esac
expect_rc 65 "$BRNCTL" submit "${TINY[@]}" --norm brn --rmax 0.5
case "$OUT" in *rmax*) ;; *) fail "invalid rmax message: $OUT" ;; esac
expect_rc 65 "$BRNCTL" submit --dataset imagenet
case "$OUT" in *dataset*) ;; *) fail "invalid dataset message: $OUT" ;; esac
expect_rc 64 "$BRNCTL" submit "${TINY[@]}" --data-dir /etc
case "$OUT" in *"--data-dir"*"not accepted"*) ;; *) fail "data-dir message: $OUT" ;; esac
expect_rc 64 "$BRNCTL" submit --depth ten
expect_rc 64 "$BRNCTL" submit --bogus-flag 1
expect_rc 64 "$BRNCTL" frobnicate
expect_rc 64 "$BRNCTL" status
expect_rc 66 "$BRNCTL" status 999
expect_rc 66 "$BRNCTL" curves 999
expect_rc 0 "$BRNCTL" submit --help
case "$OUT" in *"--idempotency-key"*"--batch-size"*"--rmax"*) ;; *) fail "submit --help lacks the spec flags" ;; esac

expect_rc 0 "$BRNCTL" health
stop_daemon
note "ok"
