#!/usr/bin/env bash
# The wheel runs anywhere: build it, install it in a fresh venv outside the checkout, and
# check that the installed `burgerwacht` (no source tree on its path) reports its
# version, migrates an embedded PostgreSQL (no BURGERWACHT_DATABASE_URL, a temporary
# BURGERWACHT_DATA_DIR) and serves /healthz and /readyz. Called by .ci/run after
# `make test`; any failure fails CI, and every step has a timeout so it cannot hang.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
chmod 755 "$WORK"  # the embedded server may run as its own system user (when we are root)
SERVER_PID=""

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { echo "wheel-smoke: $*" >&2; }
fail() { echo "wheel-smoke: FAILED: $*" >&2; [ -f "$WORK/web.log" ] && tail -n 40 "$WORK/web.log" >&2; exit 1; }

step "building the wheel"
timeout 300 "$PYTHON" -m pip wheel --no-deps --quiet --wheel-dir "$WORK/dist" "$ROOT" || fail "pip wheel"
WHEEL=$(ls "$WORK"/dist/burgerwacht-*.whl)

step "installing $(basename "$WHEEL") in a fresh venv in $WORK"
timeout 120 "$PYTHON" -m venv "$WORK/venv" || fail "venv"
timeout 900 "$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$WHEEL" || fail "pip install"

cd "$WORK"  # away from the checkout: nothing may be read from it
unset BURGERWACHT_DATABASE_URL BURGERWACHT_CONFIG BURGERWACHT_SIGNALS_CONFIG PYTHONPATH
export BURGERWACHT_DATA_DIR="$WORK/data"
PY="$WORK/venv/bin/python"
BW="$WORK/venv/bin/burgerwacht"

"$PY" - "$WORK/venv" <<'PY' || fail "burgerwacht is not imported from the venv"
import sys
import burgerwacht
sys.exit(0 if burgerwacht.__file__.startswith(sys.argv[1]) else f"imported from {burgerwacht.__file__}")
PY

VERSION=$(timeout 60 "$BW" --version) || fail "burgerwacht --version"
step "$VERSION"

MIGRATED=$(timeout 300 "$BW" migrate) || fail "burgerwacht migrate"
step "$MIGRATED"
echo "$MIGRATED" | grep -Eq '^applied [1-9][0-9]* migration' || fail "migrate applied no migration: $MIGRATED"

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "starting burgerwacht web on 127.0.0.1:$PORT"
timeout 300 "$BW" web --host 127.0.0.1 --port "$PORT" >"$WORK/web.log" 2>&1 &
SERVER_PID=$!

timeout 120 "$PY" - "$PORT" <<'PY' || fail "/healthz and /readyz"
import json, sys, time, urllib.error, urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"


def get(path):
    try:
        with urllib.request.urlopen(base + path, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


deadline = time.monotonic() + 90
while True:
    try:
        status, body = get("/healthz")
        break
    except (urllib.error.URLError, ConnectionError):
        if time.monotonic() > deadline:
            sys.exit("the service did not start listening")
        time.sleep(0.5)
assert status == 200 and body == {"status": "ok"}, (status, body)
print("wheel-smoke: /healthz", status, body, file=sys.stderr)
status, body = get("/readyz")
print("wheel-smoke: /readyz", status, body, file=sys.stderr)
assert status == 200 and body["status"] == "ready", (status, body)
# the console's vendored Leaflet ships in the wheel (package data) and is served
for path in ("leaflet.js", "leaflet.css", "images/layers.png"):
    with urllib.request.urlopen(f"{base}/console/static/vendor/leaflet-1.9.4/{path}", timeout=5) as resp:
        assert resp.status == 200 and resp.read(), path
import burgerwacht.console.api as console
assert (console.STATIC_DIR / console.LEAFLET / "LICENSE").is_file(), "Leaflet's LICENSE is not in the wheel"
print("wheel-smoke: the console's Leaflet is in the wheel", file=sys.stderr)
PY

kill -TERM "$SERVER_PID"
timeout 30 tail --pid="$SERVER_PID" -f /dev/null || fail "burgerwacht web did not stop on SIGTERM"
wait "$SERVER_PID" || fail "burgerwacht web exited with status $?"
SERVER_PID=""
step "ok"
