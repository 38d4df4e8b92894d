#!/usr/bin/env bash
# Checkpoints under faults, through `brnd train --resume` and the daemon:
# - a run state forged with a matching checksum (batch = -1000000) is refused with a clear
#   message (exit 65), never a crash;
# - a truncated last.safetensors and a corrupt newest epoch file fall back to the newest
#   valid epoch-N, and the run then ends exactly as an uninterrupted one;
# - stale "*.tmp.<pid>" files of dead writers are removed at start, a live writer's kept;
# - --steps 1000000000000 is refused naming the field (brnd train and SubmitJob).
source "$(dirname "$0")/lib/client_lib.sh"
brn_setup
TOOL="$ROOT/tests/integration/lib/ckpt_tool.py"
RUN=(--dataset synthetic --depth 10 --width 1 --batch-size 32 --threads 1 --train-subset 256 --test-subset 64
     --no-augment --lr-schedule constant --json)  # constant LR: a run cut short is a prefix of a longer one

last_test_acc() { # the final epoch's test accuracy from --json output
    grep '"epoch"' "$1" | tail -n 1 | /usr/bin/python3 -c "import json,sys; print(repr(json.load(sys.stdin)['test_acc']))"
}

note "an uninterrupted run of 4 epochs, for reference"
"$BRND" train "${RUN[@]}" --epochs 4 --checkpoint-dir "$TMP/ref" > "$TMP/ref.out" 2> "$TMP/ref.err" ||
    fail "reference run: $(tail -n 3 "$TMP/ref.err")"
REF=$(last_test_acc "$TMP/ref.out")

note "a forged run state with a valid checksum: refused, no crash"
"$BRND" train "${RUN[@]}" --epochs 2 --checkpoint-dir "$TMP/forged" > /dev/null 2>&1 || fail "forged: first run"
/usr/bin/python3 "$TOOL" set-state "$TMP/forged/last.safetensors" batch=-1000000 epoch=1 || fail "ckpt_tool"
/usr/bin/python3 "$TOOL" verify "$TMP/forged/last.safetensors" > /dev/null || fail "the forged file's checksum"
expect_rc 65 "$BRND" train "${RUN[@]}" --epochs 3 --checkpoint-dir "$TMP/forged" --resume
case "$OUT" in *"run state: batch -1000000 is not in 0..8"*) ;; *) fail "forged batch: $OUT" ;; esac
for bad in 'step=-5' 'epoch=99' 'seen=-1' 'correct=100000' 'step=3' 'loss_sum=-1' 'epoch=1.5' \
           'renorm_diag=[[1,1,1,1,1]]'; do
    "$BRND" train "${RUN[@]}" --epochs 2 --checkpoint-dir "$TMP/f2" > /dev/null 2>&1 || fail "f2: first run"
    /usr/bin/python3 "$TOOL" set-state "$TMP/f2/last.safetensors" "$bad" || fail "ckpt_tool $bad"
    expect_rc 65 "$BRND" train "${RUN[@]}" --epochs 3 --checkpoint-dir "$TMP/f2" --resume
    case "$OUT" in *"no usable checkpoint"*) ;; *) fail "forged $bad: $OUT" ;; esac
    rm -rf "$TMP/f2"
done
note "a checkpoint written for another batch size is refused by name"
"$BRND" train "${RUN[@]}" --epochs 1 --checkpoint-dir "$TMP/bs" > /dev/null 2>&1 || fail "bs: first run"
expect_rc 65 "$BRND" train "${RUN[@]}" --batch-size 16 --epochs 2 --checkpoint-dir "$TMP/bs" --resume
case "$OUT" in *"written with batch_size 32, this job has 16"*) ;; *) fail "batch size: $OUT" ;; esac

note "truncated last.safetensors and a corrupt epoch-3: resumed from epoch-2, same result"
"$BRND" train "${RUN[@]}" --epochs 3 --save-every 1 --checkpoint-dir "$TMP/fb" > /dev/null 2>&1 || fail "fb: first run"
truncate -s 5000 "$TMP/fb/last.safetensors"
/usr/bin/python3 - "$TMP/fb/epoch-3.safetensors" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-100] ^= 0x10          # one bit of one weight
open(p, "wb").write(bytes(b))
EOF
sleep 300 & LIVE=$!
touch "$TMP/fb/last.safetensors.tmp.999999999" "$TMP/fb/epoch-9.safetensors.tmp.$LIVE"
"$BRND" train "${RUN[@]}" --epochs 4 --save-every 1 --checkpoint-dir "$TMP/fb" --resume > "$TMP/fb.out" 2> "$TMP/fb.err"
rc=$?
kill "$LIVE" 2>/dev/null
wait "$LIVE" 2>/dev/null
[ $rc -eq 0 ] || fail "fallback resume exited $rc: $(tail -n 5 "$TMP/fb.err")"
grep -q "resumed from $TMP/fb/epoch-2.safetensors (step 16, epoch 2)" "$TMP/fb.err" ||
    fail "no log line naming the checkpoint used: $(cat "$TMP/fb.err")"
grep -q "epoch-3.safetensors not usable either: .*checksum mismatch" "$TMP/fb.err" || fail "epoch-3 was not refused"
grep -q "removed 1 unfinished checkpoint file" "$TMP/fb.err" || fail "stale temporaries: $(cat "$TMP/fb.err")"
[ ! -e "$TMP/fb/last.safetensors.tmp.999999999" ] || fail "a dead writer's temporary is still there"
[ -e "$TMP/fb/epoch-9.safetensors.tmp.$LIVE" ] || fail "a live writer's temporary was removed"
GOT=$(last_test_acc "$TMP/fb.out")
[ "$GOT" = "$REF" ] || fail "after the fallback the run ends at test_acc $GOT, uninterrupted $REF"

note "nothing usable at all: a clear error, exit 65"
truncate -s 100 "$TMP/fb/last.safetensors"
for f in "$TMP"/fb/epoch-*.safetensors; do truncate -s 7 "$f"; done
expect_rc 65 "$BRND" train "${RUN[@]}" --epochs 5 --checkpoint-dir "$TMP/fb" --resume
case "$OUT" in *"no usable checkpoint to resume from"*) ;; *) fail "no usable checkpoint: $OUT" ;; esac

note "--steps 1000000000000: refused by brnd train and by SubmitJob, naming the field"
expect_rc 64 "$BRND" train "${RUN[@]}" --steps 1000000000000
case "$OUT" in *"steps: 1000000000000 is not in 0..1000000000"*) ;; *) fail "brnd train --steps: $OUT" ;; esac
expect_rc 64 "$BRND" train "${RUN[@]}" --steps 900000000
case "$OUT" in *"steps: 900000000 steps are"*"at most 100000 epochs"*) ;; *) fail "steps as epochs: $OUT" ;; esac
start_daemon
expect_rc 65 "$BRNCTL" submit "${TINY[@]}" --steps 1000000000000
case "$OUT" in *INVALID_ARGUMENT*"steps: "*) ;; *) fail "SubmitJob --steps: $OUT" ;; esac
stop_daemon
note "ok"
