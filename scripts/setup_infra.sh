#!/usr/bin/env bash
# Creates the two tool venvs of infra/ (idempotent: a stamp of the requirement files skips work):
#   .venv-infra  aws-cdk-lib, cdk-nag, cfn-lint, pytest + chalice and the app's runtime deps
#                (`chalice package`, run by the synth, imports app.py)
#   .venv-sam    aws-sam-translator alone: it pins pydantic~=2.13.3, the app pins 2.14, so it runs
#                as a subprocess from its own venv (infra/lint/expand_sam.py)
# Needs python3 (3.11) and Node.js >= 18 (jsii runs the CDK's JavaScript core in node).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if ! command -v node >/dev/null 2>&1; then
  echo "setup_infra: node is required by aws-cdk-lib (jsii); install Node.js 20" >&2
  exit 1
fi

make_venv() {  # make_venv DIR REQUIREMENTS...
  local dir=$1; shift
  local stamp="$dir/.requirements.sha256"
  local want
  want=$(cat "$@" | sha256sum | cut -d' ' -f1)
  if [[ -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  echo "setup_infra: installing $dir" >&2
  [[ -x "$dir/bin/python" ]] || "$PYTHON" -m venv "$dir"
  # chalice 1.34 breaks with pip >= 26.3
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "pip<26.3"
  local args=()
  for req in "$@"; do args+=(-r "$req"); done
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}"
  echo "$want" >"$stamp"
}

make_venv .venv-infra infra/requirements.txt requirements.txt
make_venv .venv-sam infra/requirements-sam.txt
