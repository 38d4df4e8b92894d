#!/usr/bin/env bash
# A TCP listener on 127.0.0.1 with a token file: no token or a wrong one is
# UNAUTHENTICATED (brnctl exit 77), the right one works (flag, env, file).
source "$(dirname "$0")/lib/client_lib.sh"
brn_setup
TOKEN=s3cret-$RANDOM$RANDOM
printf '%s\n' "$TOKEN" > "$TMP/token"
chmod 600 "$TMP/token"
start_daemon --listen "unix:$TMP/state/brnd.sock" --listen 127.0.0.1:0 --token-file "$TMP/token"
# the readiness line names the real port: "brnd: ready on unix:/..., 127.0.0.1:PORT"
TCP=$(printf '%s\n' "$READY_LINE" | grep -o '127\.0\.0\.1:[0-9]*' | head -n 1)
[ -n "$TCP" ] && [ "${TCP##*:}" != 0 ] || fail "no TCP port in: $READY_LINE"
note "listening on $TCP"

expect_rc 77 "$BRNCTL" --addr "$TCP" info
case "$OUT" in *UNAUTHENTICATED*) ;; *) fail "no token: $OUT" ;; esac
expect_rc 77 "$BRNCTL" --addr "$TCP" --token wrong info
expect_rc 77 "$BRNCTL" --addr "$TCP" --token "${TOKEN}x" list
expect_rc 77 "$BRNCTL" --addr "$TCP" --token "" info
expect_rc 0 "$BRNCTL" --addr "$TCP" --token "$TOKEN" info
expect_rc 0 env BRN_TOKEN="$TOKEN" "$BRNCTL" --addr "$TCP" list
expect_rc 0 "$BRNCTL" --addr "$TCP" --token-file "$TMP/token" health
expect_rc 77 "$BRNCTL" --addr "$TCP" --token wrong submit "${TINY[@]}" --epochs 1
expect_rc 0 "$BRNCTL" --addr "$TCP" --token-file "$TMP/token" submit "${TINY[@]}" --epochs 1 --wait
note "the daemon is still healthy after the refused calls"
expect_rc 0 "$BRNCTL" --addr "$TCP" --token "$TOKEN" health
[ "$OUT" = SERVING ] || fail "health: $OUT"
stop_daemon
note "ok"
