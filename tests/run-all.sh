#!/usr/bin/env bash
# `make test`: unit tests (no servers), then the end-to-end scenarios against a hive lab that
# this script brings up and always takes down again. HH_SKIP_LAB=1 runs the unit tests only;
# HH_SITE=<project dir> reuses a lab that is already up (and leaves it up).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
status=0

# headless Chromium renders latest.html and the history page in unit tests (skipped, with its reason, without it)
if ! command -v chromium >/dev/null 2>&1; then
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }; } ||
    echo "chromium could not be installed: the Chromium render tests will be skipped"
fi

# a real OpenSSH server tests the SSH transport (skipped, with its reason, without it); the tests
# start their own sshd on 127.0.0.1 (note: where systemd runs services, Debian's package also
# enables and starts its ssh service)
if [ ! -x /usr/sbin/sshd ]; then
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null 2>&1; }; } ||
    echo "openssh-server could not be installed: the SSH transport tests will be skipped"
fi

echo "== unit tests"
$PY -m pytest -c tests/pytest.ini tests/unit tests/lab_infra -q || status=$?

if [ "${HH_SKIP_LAB:-0}" = 1 ]; then
  echo "== lab scenarios skipped (HH_SKIP_LAB=1)"
  exit $status
fi

echo "== hive lab"
bash lab/install-deps.sh || { echo "lab prerequisites could not be installed"; exit 1; }
started=0
if [ -z "${HH_SITE:-}" ]; then
  trap '$PY -m lab down' EXIT
  HH_SITE=$($PY -m lab up | tail -n 1) || { echo "lab up failed"; exit 1; }
  started=1
fi
export HH_SITE HH_LAB=1
echo "lab site: $HH_SITE"
$PY -m pytest -c tests/pytest.ini tests/lab -v --durations=0 || status=$?
if [ $started = 1 ]; then
  $PY -m lab down || status=1
  trap - EXIT
fi
exit $status
