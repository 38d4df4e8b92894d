#!/usr/bin/env bash
# Listener rules and the token's life: TCP needs a token unless --insecure-loopback is given
# for a literal loopback address (then a loud warning); host names never count as loopback;
# refused calls are logged at warn with the peer; SIGHUP re-reads the token file without
# stopping the daemon or the job it runs.
source "$(dirname "$0")/lib/client_lib.sh"
brn_setup

refused() { # WHY brnd-args...: brnd must refuse to start with exit 64 and say why
    local why=$1 rc=0
    shift
    OUT=$(timeout 20 "$BRND" serve --state-dir "$TMP/refused" --data-dir "$TMP/data" "$@" 2>&1) || rc=$?
    [ "$rc" -eq 64 ] || fail "$why: brnd $* exited $rc (want 64): $OUT"
}
note "TCP without a token is refused, whatever the address"
refused "loopback without a token" --listen 127.0.0.1:0
case "$OUT" in *--insecure-loopback*) ;; *) fail "the refusal does not mention --insecure-loopback: $OUT" ;; esac
refused "IPv6 loopback without a token" --listen '[::1]:0'
refused "any address without a token" --listen 0.0.0.0:0 --insecure-loopback
refused "a name that starts with 127." --listen 127.evil.example:0 --insecure-loopback
refused "localhost is a name, not an address" --listen localhost:0 --insecure-loopback
refused "--insecure-loopback takes no value" --insecure-loopback=yes --listen 127.0.0.1:0

note "--insecure-loopback on 127.0.0.1: works without a token, with a loud warning"
start_daemon --listen 127.0.0.1:0 --insecure-loopback
grep -q "warn: listen 127.0.0.1:0: INSECURE" "$TMP/brnd.log" || fail "no warning for --insecure-loopback"
TCP=$(printf '%s\n' "$READY_LINE" | grep -o '127\.0\.0\.1:[0-9]*' | head -n 1)
expect_rc 0 "$BRNCTL" --addr "$TCP" health
stop_daemon

note "refused calls are logged at warn with the peer's address"
printf 'first-%s\n' "$RANDOM$RANDOM" > "$TMP/token"
chmod 600 "$TMP/token"
OLD=$(cat "$TMP/token")
start_daemon --listen "unix:$TMP/state/brnd.sock" --listen 127.0.0.1:0 --token-file "$TMP/token"
TCP=$(printf '%s\n' "$READY_LINE" | grep -o '127\.0\.0\.1:[0-9]*' | head -n 1)
expect_rc 77 "$BRNCTL" --addr "$TCP" --token wrong info
expect_rc 77 "$BRNCTL" --addr "$TCP" info
grep -q "warn: auth: /brn.v1.Trainer/GetServerInfo from ipv4:127.0.0.1:[0-9]* refused: wrong bearer token" \
    "$TMP/brnd.log" || fail "no warn line naming the peer for a wrong token"
grep -q "refused: no authorization header" "$TMP/brnd.log" || fail "no warn line for a missing token"

note "SIGHUP re-reads the token file while a job trains; the job and the daemon go on"
expect_rc 0 "$BRNCTL" --addr "$TCP" --token "$OLD" submit "${TINY[@]}" --epochs 30 --name hup
ID=$(printf '%s\n' "$OUT" | grep -o '[0-9]\+' | head -n 1)
wait_for 60 sh -c "'$BRNCTL' --addr '$TCP' --token '$OLD' status $ID | grep -q RUNNING"
printf 'second-%s\n' "$RANDOM$RANDOM" > "$TMP/token.new"
chmod 600 "$TMP/token.new"
mv "$TMP/token.new" "$TMP/token"
NEW=$(cat "$TMP/token")
kill -HUP "$DAEMON_PID"
wait_for 10 grep -q "SIGHUP: token file .* reloaded" "$TMP/brnd.log"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "brnd died of SIGHUP"
expect_rc 77 "$BRNCTL" --addr "$TCP" --token "$OLD" info
expect_rc 0 "$BRNCTL" --addr "$TCP" --token "$NEW" info

note "a token file that became unreadable keeps the current token"
chmod 000 "$TMP/token"
if [ "$(id -u)" -ne 0 ]; then
    kill -HUP "$DAEMON_PID"
    wait_for 10 grep -q "not reloaded; the previous token stays in force" "$TMP/brnd.log"
fi
chmod 600 "$TMP/token"
: > "$TMP/token"
kill -HUP "$DAEMON_PID"
wait_for 10 grep -q "must hold one non-empty line" "$TMP/brnd.log"
expect_rc 0 "$BRNCTL" --addr "$TCP" --token "$NEW" info
expect_rc 77 "$BRNCTL" --addr "$TCP" --token "" info

expect_rc 0 "$BRNCTL" --addr "$TCP" --token "$NEW" watch "$ID"
[ "$(BRN_ADDR="$TCP" BRN_TOKEN="$NEW" job_field "$ID" state)" = SUCCEEDED ] || fail "the job did not succeed"
stop_daemon
note "ok"
