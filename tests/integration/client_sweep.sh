#!/usr/bin/env bash
# brnctl sweep / report / labels against a real brnd: a bad grid submits nothing (64/65),
# a tiny sweep runs (--wait, one line per job), running it again creates no new job, the
# report's numbers equal what GetMetrics returns, incomplete groups say so, and the
# formats (text, markdown, CSV, JSON, SVG) are written.
source "$(dirname "$0")/lib/client_lib.sh"
brn_setup
start_daemon
PY=/usr/bin/python3
GRID=(--name t1 "${TINY[@]}" --epochs 2 --no-augment --grid norm=bn,gn --grid microbatch=0,8)
SWEEP=("${GRID[@]}" --seeds 2)
njobs() { "$BRNCTL" list --limit 1000 --json "$@" | $PY -c "import json,sys; print(len(json.load(sys.stdin)))"; }

note "bad grids fail the whole command and submit nothing"
expect_rc 64 "$BRNCTL" sweep --name t1 "${TINY[@]}" --grid colour=red,blue
case "$OUT" in *"colour: not a job spec field"*) ;; *) fail "unknown field: $OUT" ;; esac
expect_rc 64 "$BRNCTL" sweep --name t1 "${TINY[@]}" --grid microbatch=0,two
case "$OUT" in *"--grid microbatch"*) ;; *) fail "bad value: $OUT" ;; esac
expect_rc 64 "$BRNCTL" sweep "${TINY[@]}" --grid norm=bn
case "$OUT" in *"--name"*) ;; *) fail "missing name: $OUT" ;; esac
expect_rc 64 "$BRNCTL" sweep --name "a b" "${TINY[@]}"
expect_rc 65 "$BRNCTL" sweep --name t1 "${TINY[@]}" --grid microbatch=8,5
case "$OUT" in *"microbatch=5: microbatch: 5 does not divide batch-size 32"*) ;; *) fail "invalid point: $OUT" ;; esac
# only the daemon knows that cifar10 is not installed: its check of every job comes first
expect_rc 65 "$BRNCTL" sweep --name t1 "${TINY[@]}" --grid dataset=synthetic,cifar10
case "$OUT" in *"dataset"*"not available"*"nothing was submitted"*) ;; *) fail "daemon-side check: $OUT" ;; esac
[ "$(njobs)" = 0 ] || fail "a failed sweep submitted jobs"

note "labels on single jobs: submit --label, list --label, status"
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --epochs 1 --label team=x --label run=1 --json
expect_rc 65 "$BRNCTL" submit "${TINY[@]}" --label Team=x
case "$OUT" in *"INVALID_ARGUMENT: labels[0].key"*) ;; *) fail "bad label key: $OUT" ;; esac
expect_rc 64 "$BRNCTL" submit "${TINY[@]}" --label novalue
[ "$(njobs --label team=x)" = 1 ] && [ "$(njobs --label team=y)" = 0 ] || fail "list --label"
expect_rc 0 "$BRNCTL" status 1
case "$OUT" in *"labels     run=1 team=x"*) ;; *) fail "status shows no labels: $OUT" ;; esac
expect_rc 0 "$BRNCTL" watch 1

note "a tiny sweep: 2 norms x 2 microbatches (gn once: microbatch has no effect) x 2 seeds"
expect_rc 0 "$BRNCTL" sweep "${SWEEP[@]}" --dry-run
case "$OUT" in *"6 jobs (3 points x 2 seeds; 1 grid point merged"*"6 would be new"*) ;; *) fail "dry run: $OUT" ;; esac
[ "$(njobs)" = 1 ] || fail "--dry-run submitted jobs"
"$BRNCTL" sweep "${SWEEP[@]}" --dry-run --json 2>/dev/null | $PY -c "
import json, sys
jobs = json.load(sys.stdin)
assert len(jobs) == 6 and all(j['id'] == 0 and j['state'] == 'QUEUED' for j in jobs), jobs
labels = [{l['key']: l['value'] for l in j['labels']} for j in jobs]
assert labels[2] == {'norm': 'gn', 'seed': '1', 'sweep': 't1'}, labels[2]
assert 'microbatch' in jobs[2]['inert_fields'] and jobs[2]['spec']['norm'] == 'gn', jobs[2]
" || fail "sweep --dry-run --json"
expect_rc 0 "$BRNCTL" sweep "${SWEEP[@]}" --wait
case "$OUT" in *"6 new, 0 already"*"[6/6] job"*"all SUCCEEDED"*) ;; *) fail "sweep --wait: $OUT" ;; esac
[ "$(printf '%s\n' "$OUT" | grep -c '^\[.*SUCCEEDED.*test acc')" = 6 ] || fail "one line per finished job: $OUT"
[ "$(njobs --label sweep=t1)" = 6 ] || fail "6 jobs labelled sweep=t1"
[ "$(njobs --label sweep=t1 --label norm=gn)" = 2 ] || fail "gn: one point x 2 seeds"

note "the same command again creates no job; more seeds add only the new ones"
expect_rc 0 "$BRNCTL" sweep "${SWEEP[@]}"
case "$OUT" in *"0 new, 6 already submitted"*) ;; *) fail "re-run: $OUT" ;; esac
expect_rc 0 "$BRNCTL" sweep "${GRID[@]}" --seeds 3 --dry-run
case "$OUT" in *"9 jobs"*"3 would be new, 6 already submitted"*) ;; *) fail "more seeds: $OUT" ;; esac
[ "$(njobs)" = 7 ] || fail "re-running created jobs"
note "the same name with other flags is refused before anything is submitted"
expect_rc 65 "$BRNCTL" sweep "${SWEEP[@]}" --lr 0.05
case "$OUT" in *"different spec"*"nothing was submitted"*) ;; *) fail "changed flags: $OUT" ;; esac
[ "$(njobs)" = 7 ] || fail "a refused sweep submitted jobs"
expect_rc 65 "$BRNCTL" sweep "${GRID[@]}" --seed 3 --seeds 1 --lr 0.05   # only new jobs, other base flags
case "$OUT" in *"other base flags"*"lr 0.1 -> 0.05"*"nothing was submitted"*) ;;
*) fail "new jobs with changed flags: $OUT" ;; esac
expect_rc 65 "$BRNCTL" sweep --name t1 "${TINY[@]}" --epochs 3 --no-augment --grid norm=bn,brn --seeds 2
case "$OUT" in *"other base flags"*"epochs 2 -> 3"*) ;; *) fail "new points with changed flags: $OUT" ;; esac
[ "$(njobs)" = 7 ] || fail "a refused sweep submitted jobs"
expect_rc 0 "$BRNCTL" sweep --name t1 "${TINY[@]}" --epochs 2 --no-augment --grid norm=bn,brn,gn --grid microbatch=0,8 \
    --seeds 2 --dry-run   # more values with the same base flags are fine
case "$OUT" in *"4 would be new, 6 already submitted"*) ;; *) fail "more values: $OUT" ;; esac

note "the report equals what GetMetrics returns"
expect_rc 0 "$BRNCTL" report t1 --json
printf '%s' "$OUT" >"$TMP/report.json"
IDS=$($PY -c "import json; r=json.load(open('$TMP/report.json')); print(' '.join(str(j['id']) for g in r['groups'] for j in g['jobs']))")
"$BRNCTL" curves $IDS --json >"$TMP/curves.json" || fail "curves"
$PY - "$TMP/report.json" "$TMP/curves.json" <<'PYEOF' || fail "report numbers differ from GetMetrics"
import json, math, statistics, sys
rep = json.load(open(sys.argv[1]))
curves = {c["job_id"]: c for c in json.load(open(sys.argv[2]))}
assert rep["fields"] == ["norm", "microbatch"], rep["fields"]
assert rep["seeds"] == [1, 2], rep["seeds"]
labels = [(g["settings"]["norm"], g["settings"]["microbatch"]) for g in rep["groups"]]
assert labels == [("bn", "0"), ("bn", "8"), ("gn", "-")], labels
base = rep["groups"][0]["final_test_acc"]["mean"]
for g in rep["groups"]:
    assert g["n_done"] == 2 and g["complete"] and g["status"] == "2/2 done", g
    finals, bests, secs = [], [], []
    for j in g["jobs"]:
        eps = curves[j["id"]]["epochs"]
        tested = [e["test_acc"] for e in eps if e.get("evaluated")]
        finals.append(tested[-1]); bests.append(max(tested))
        secs.append(sum(e["seconds"] for e in eps) / len(eps))
        assert j["final_test_acc"] == tested[-1], (j, tested)
    f = g["final_test_acc"]
    assert abs(f["mean"] - statistics.mean(finals)) < 1e-12, (f, finals)
    assert abs(f["std"] - statistics.stdev(finals)) < 1e-12, (f, finals)
    assert f["min"] == min(finals) and f["max"] == max(finals) and f["n"] == 2
    assert abs(g["best_test_acc"]["mean"] - statistics.mean(bests)) < 1e-12
    assert abs(g["seconds_per_epoch"]["mean"] - statistics.mean(secs)) < 1e-12
    assert abs(g["gap_final_test_acc"] - (f["mean"] - base)) < 1e-12
    for e in g["curve"]:
        accs = [x["test_acc"] for j in g["jobs"] for x in curves[j["id"]]["epochs"] if x["epoch"] == e["epoch"]]
        assert abs(e["test_acc"] - statistics.mean(accs)) < 1e-12
print("report == GetMetrics for", len(rep["groups"]), "groups")
PYEOF
expect_rc 0 "$BRNCTL" report t1
case "$OUT" in *"settings that differ: norm, microbatch"*"bn    0"*"baseline"*"gn    -"*"2/2 done"*) ;; *) fail "text report: $OUT" ;; esac
expect_rc 0 "$BRNCTL" report t1 --markdown --baseline norm=gn --svg "$TMP/t1.svg"
case "$OUT" in *"| norm | microbatch |"*"| gn | - | 2 |"*"| baseline |"*) ;; *) fail "markdown report: $OUT" ;; esac
grep -q 'class="band"' "$TMP/t1.svg" && grep -q "norm=gn  (n=2)" "$TMP/t1.svg" || fail "SVG without bands or groups"
if command -v rsvg-convert >/dev/null; then rsvg-convert "$TMP/t1.svg" -o "$TMP/t1.png" || fail "the SVG does not render"; fi
expect_rc 0 "$BRNCTL" report t1 --csv
[ "$(printf '%s\n' "$OUT" | wc -l)" = 4 ] || fail "CSV: header + 3 groups: $OUT"
expect_rc 64 "$BRNCTL" report t1 --baseline norm=bn
case "$OUT" in *"matches 2 groups"*) ;; *) fail "ambiguous baseline: $OUT" ;; esac
expect_rc 66 "$BRNCTL" report nosuch

note "a group with a cancelled seed says so"
expect_rc 0 "$BRNCTL" sweep --name t2 "${TINY[@]}" --epochs 1 --grid norm=bn --seeds 2 --json
LAST=$(printf '%s' "$OUT" | $PY -c "import json,sys; print(json.load(sys.stdin)[-1]['id'])")
expect_rc 0 "$BRNCTL" cancel "$LAST"
expect_rc 1 "$BRNCTL" sweep --name t2 "${TINY[@]}" --epochs 1 --grid norm=bn --seeds 2 --wait
case "$OUT" in *"CANCELLED"*"some did not succeed"*) ;; *) fail "wait with a cancelled job: $OUT" ;; esac
expect_rc 0 "$BRNCTL" report t2
case "$OUT" in *"1/2 done, 1 cancelled *"*"incomplete"*) ;; *) fail "incomplete group: $OUT" ;; esac

note "--wait ends when one of its jobs is deleted by someone else before it finished"
"$BRNCTL" sweep --name t4 "${TINY[@]}" --epochs 400 --grid norm=bn --seeds 2 --wait >"$TMP/t4.out" 2>&1 &
WAITER=$!
wait_for 30 sh -c "[ \"\$(\"$BRNCTL\" list --label sweep=t4 --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')\" = 2 ]"
for j in $("$BRNCTL" list --label sweep=t4 --json | $PY -c "import json,sys; print(' '.join(str(j['id']) for j in json.load(sys.stdin)))"); do
    expect_rc 0 "$BRNCTL" cancel "$j"
    expect_rc 0 "$BRNCTL" delete "$j"
done
for i in $(seq 1 100); do kill -0 "$WAITER" 2>/dev/null || break; sleep 0.1; done
kill -0 "$WAITER" 2>/dev/null && { kill "$WAITER"; fail "sweep --wait still waits for deleted jobs"; }
wait "$WAITER" && fail "sweep --wait exited 0 with its jobs deleted"
grep -q "is gone (deleted) before it finished" "$TMP/t4.out" || fail "no word of the deleted jobs: $(cat "$TMP/t4.out")"

note "--wait follows a sweep through a daemon crash; the jobs resume and finish"
"$BRNCTL" sweep --name t3 "${TINY[@]}" --train-subset 1024 --epochs 3 --no-augment --grid norm=bn,brn --wait \
    >"$TMP/t3.out" 2>&1 &
WAITER=$!
wait_for 60 grep -q '^\[1/2\] job' "$TMP/t3.out"
kill9_daemon
sleep 1
start_daemon
t0=$SECONDS
wait "$WAITER" || fail "sweep --wait across a restart: $(cat "$TMP/t3.out")"
grep -q "lost the daemon" "$TMP/t3.out" && grep -q '^\[2/2\] job .* SUCCEEDED' "$TMP/t3.out" &&
    grep -q "all SUCCEEDED" "$TMP/t3.out" || fail "sweep --wait across a restart: $(cat "$TMP/t3.out")"
note "(finished $((SECONDS - t0))s after the restart)"
expect_rc 0 "$BRNCTL" report t3
case "$OUT" in *"1/1 done"*) ;; *) fail "report after the restart: $OUT" ;; esac

stop_daemon
note "ok"
