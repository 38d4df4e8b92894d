#!/usr/bin/env bash
# TLS end to end with a CA made here: brnd --tls-cert/--tls-key --token-file on loopback TCP;
# brnctl --tls --ca and the Python client (ca=...) submit, watch and read a job through it; a
# wrong CA, a wrong server name and a plaintext client fail with a clear message and exit code.
source "$(dirname "$0")/lib/client_lib.sh"
brn_setup
command -v openssl >/dev/null || { echo "openssl is not installed"; exit 77; }
PY=/usr/bin/python3
C="$TMP/certs"
mkdir -p "$C"
mkca() { # NAME: a self-signed CA
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$1" \
        -keyout "$C/$1.key" -out "$C/$1.pem" 2>/dev/null || fail "openssl: CA $1"
}
mkca test-ca
mkca other-ca
# the server's certificate, signed by test-ca, for 127.0.0.1 and the name brnd.test
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=brnd.test" \
    -keyout "$C/server.key" -out "$C/server.csr" 2>/dev/null || fail "openssl: server key"
printf 'subjectAltName=IP:127.0.0.1,DNS:brnd.test\n' > "$C/san.ext"
openssl x509 -req -in "$C/server.csr" -CA "$C/test-ca.pem" -CAkey "$C/test-ca.key" -CAcreateserial -days 2 \
    -extfile "$C/san.ext" -out "$C/server.pem" 2>/dev/null || fail "openssl: sign"
TOKEN=tls-$RANDOM$RANDOM
printf '%s\n' "$TOKEN" > "$TMP/token"
chmod 600 "$TMP/token" "$C/server.key"

start_daemon --listen 127.0.0.1:0 --token-file "$TMP/token" --tls-cert "$C/server.pem" --tls-key "$C/server.key"
TCP=$(printf '%s\n' "$READY_LINE" | grep -o '127\.0\.0\.1:[0-9]*' | head -n 1)
[ -n "$TCP" ] || fail "no TCP port in: $READY_LINE"
export BRN_TOKEN="$TOKEN"

note "brnctl --tls --ca: health, info, submit --wait (a stream), curves"
expect_rc 0 "$BRNCTL" --addr "$TCP" --tls --ca "$C/test-ca.pem" health
[ "$OUT" = SERVING ] || fail "health over TLS: $OUT"
expect_rc 0 "$BRNCTL" --addr "$TCP" --ca "$C/test-ca.pem" info
expect_rc 0 "$BRNCTL" --addr "$TCP" --ca "$C/test-ca.pem" submit "${TINY[@]}" --epochs 2 --name over-tls --wait
expect_rc 0 "$BRNCTL" --addr "$TCP" --ca "$C/test-ca.pem" curves 1 --csv
[ "$(printf '%s\n' "$OUT" | grep -c '^1,')" -eq 2 ] || fail "curves over TLS: $OUT"
expect_rc 0 env BRN_CA="$C/test-ca.pem" "$BRNCTL" --addr "$TCP" list
expect_rc 0 "$BRNCTL" --addr "$TCP" --ca "$C/test-ca.pem" --tls-server-name brnd.test health

note "a wrong CA, a wrong name, no TLS: clear failures"
expect_rc 76 "$BRNCTL" --addr "$TCP" --ca "$C/other-ca.pem" info
case "$OUT" in *"TLS handshake with $TCP failed"*"not signed by the CA in $C/other-ca.pem"*) ;;
    *) fail "wrong CA: $OUT" ;; esac
expect_rc 76 "$BRNCTL" --addr "$TCP" --ca "$C/test-ca.pem" --tls-server-name other.test info
expect_rc 69 "$BRNCTL" --addr "$TCP" info
expect_rc 66 "$BRNCTL" --addr "$TCP" --ca "$TMP/missing.pem" info
printf 'not a certificate\n' > "$TMP/junk.pem"
expect_rc 65 "$BRNCTL" --addr "$TCP" --ca "$TMP/junk.pem" info
expect_rc 64 "$BRNCTL" --addr "unix:$TMP/state/brnd.sock" --tls info
note "a right CA without the token is still refused"
expect_rc 77 env -u BRN_TOKEN "$BRNCTL" --addr "$TCP" --ca "$C/test-ca.pem" info

note "the Python client: ca=, a wrong CA raises TLSError; example_submit.py end to end"
"$PY" - "$ROOT/client/python" "$TCP" "$C" <<'PYEOF' || fail "python TLS checks"
import sys
sys.path.insert(0, sys.argv[1])
import brn_client
addr, certs = sys.argv[2], sys.argv[3]
with brn_client.Client(addr, ca=certs + "/test-ca.pem") as c:
    assert c.health() == "SERVING"
    assert c.server_info().version
    assert [j.name for j in c.list_jobs()] == ["over-tls"]
with brn_client.Client(addr, ca=certs + "/test-ca.pem", server_name="brnd.test") as c:
    assert c.health() == "SERVING"
for kw in ({"ca": certs + "/other-ca.pem"}, {"ca": certs + "/test-ca.pem", "server_name": "other.test"}):
    with brn_client.Client(addr, timeout=5, **kw) as c:
        try:
            c.server_info()
            raise SystemExit("no TLS error with %r" % kw)
        except brn_client.TLSError as e:
            assert "TLS handshake" in str(e), e
print("python TLS ok")
PYEOF
expect_rc 0 "$PY" "$ROOT/client/python/example_submit.py" --addr "$TCP" --ca "$C/test-ca.pem" --quiet \
    --dataset synthetic --depth 10 --width 1 --train-subset 256 --test-subset 128 --batch-size 32 --threads 1 \
    --epochs 1
case "$OUT" in *"SUCCEEDED"*) ;; *) fail "example_submit over TLS: $OUT" ;; esac
expect_rc 76 "$PY" "$ROOT/client/python/example_submit.py" --addr "$TCP" --ca "$C/other-ca.pem" --epochs 1
case "$OUT" in *"TLS handshake"*) ;; *) fail "example_submit, wrong CA: $OUT" ;; esac
stop_daemon
note "ok"
