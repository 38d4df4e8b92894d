#!/usr/bin/env bash
# WatchJob on a long curve: a finished job with 10,000 stored epochs (with their renorm
# diagnostics; written straight into brnd.db rather than trained) is watched to the end:
# every epoch arrives once and in order, and brnctl watch exits 0. The catch-up is paged
# (bounded memory) instead of queueing every stored epoch at once.
source "$(dirname "$0")/lib/client_lib.sh"
brn_setup
EPOCHS=10000
start_daemon
expect_rc 0 "$BRNCTL" submit "${TINY[@]}" --norm brn --epochs 1 --name long-curve --json
ID=$(printf '%s' "$OUT" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
expect_rc 0 "$BRNCTL" watch "$ID"
stop_daemon

note "write epochs 2..$EPOCHS into the store"
/usr/bin/python3 - "$TMP/state/brnd.db" "$ID" "$EPOCHS" <<'PY' || fail "could not write the epochs"
import sqlite3, sys
db, job, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
con = sqlite3.connect(db)
cols = [r[1] for r in con.execute("PRAGMA table_info(epochs)")]
row = dict(zip(cols, con.execute("SELECT * FROM epochs WHERE job_id = ? AND epoch = 1", (job,)).fetchone()))
dcols = [r[1] for r in con.execute("PRAGMA table_info(renorm_diag)")]
diag = [dict(zip(dcols, r)) for r in con.execute("SELECT * FROM renorm_diag WHERE job_id = ? AND epoch = 1", (job,))]
assert diag, "a BRN job has renorm diagnostics"
with con:
    for e in range(2, n + 1):
        r = dict(row, epoch=e, step=row["step"] * e, train_loss=1.0 / e)
        con.execute("INSERT INTO epochs (%s) VALUES (%s)" % (",".join(cols), ",".join("?" * len(cols))),
                    [r[c] for c in cols])
        for d in diag:
            d = dict(d, epoch=e)
            con.execute("INSERT INTO renorm_diag (%s) VALUES (%s)" % (",".join(dcols), ",".join("?" * len(dcols))),
                        [d[c] for c in dcols])
    con.execute("UPDATE jobs SET epoch = ? WHERE id = ?", (n, job))
print("diagnostics per epoch:", len(diag))
PY

start_daemon
note "watch it: every epoch once, in order, exit 0"
t0=$(date +%s)
"$BRNCTL" watch "$ID" --json > "$TMP/watch.json" 2> "$TMP/watch.err"
rc=$?
note "watch took $(($(date +%s) - t0)) s"
[ "$rc" -eq 0 ] || fail "watch exited $rc: $(cat "$TMP/watch.err")"
/usr/bin/python3 - "$TMP/watch.json" "$EPOCHS" <<'PY' || fail "the watched curve is wrong"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
epochs = [e["epoch"]["epoch"] for e in events if "epoch" in e]
jobs = [e["job"]["state"] for e in events if "job" in e]
n = int(sys.argv[2])
assert epochs == list(range(1, n + 1)), (len(epochs), epochs[:3], epochs[-3:])
assert jobs == ["SUCCEEDED"], jobs
assert all(len(e["epoch"]["renorm"]) > 0 for e in events if "epoch" in e)
PY
expect_rc 0 "$BRNCTL" watch "$ID"
[ "$(printf '%s\n' "$OUT" | grep -c '^epoch ')" -eq "$EPOCHS" ] || fail "text watch printed $(printf '%s\n' "$OUT" | grep -c '^epoch ') epoch lines"
expect_rc 0 "$BRNCTL" health
stop_daemon
note "ok"
