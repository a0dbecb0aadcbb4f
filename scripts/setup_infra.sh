#!/usr/bin/env bash
# Creates the two tool venvs of infra/ (idempotent: a stamp of the requirement files skips work):
#   .venv-infra  aws-cdk-lib, cdk-nag, cfn-lint, pytest + chalice and the app's runtime deps
#                (`chalice package`, run by the synth, imports app.py)
#   .venv-sam    aws-sam-translator alone: it pins pydantic~=2.13.3, the app pins 2.14, so it runs
#                as a subprocess from its own venv (infra/lint/expand_sam.py)
# Needs Python 3.12 for .venv-infra (below), python3 for .venv-sam, and Node.js >= 18 (jsii runs
# the CDK's JavaScript core in node).
set -euo pipefail
cd "$(dirname "$0")/.."

# The functions run on Lambda's python3.12 (infra/stack.py: LAMBDA_RUNTIME). `chalice package`, which
# the synth runs, takes the runtime and the wheels it downloads (pydantic-core's native module) from
# the interpreter it runs in, so .venv-infra must be a 3.12 venv. PYTHON_INFRA overrides the search.
LAMBDA_PYTHON=3.12
find_python() {
  local found
  for found in "${PYTHON_INFRA:-}" "$(command -v "python$LAMBDA_PYTHON" 2>/dev/null || true)" \
               "$(pyenv root 2>/dev/null || true)"/versions/"$LAMBDA_PYTHON".*/bin/python"$LAMBDA_PYTHON"; do
    if [[ -n "$found" && -x "$found" ]] && "$found" -c "import sys, venv, ssl; sys.exit(sys.version_info[:2] != tuple(map(int, '$LAMBDA_PYTHON'.split('.'))))" 2>/dev/null; then
      echo "$found"
      return 0
    fi
  done
  echo "setup_infra: Python $LAMBDA_PYTHON is required for .venv-infra (the Lambda runtime); install it (e.g. pyenv install $LAMBDA_PYTHON, or your distribution's python$LAMBDA_PYTHON) or set PYTHON_INFRA" >&2
  return 1
}
INFRA_PYTHON=$(find_python)

if ! command -v node >/dev/null 2>&1; then
  echo "setup_infra: node is required by aws-cdk-lib (jsii); install Node.js 20" >&2
  exit 1
fi

make_venv() {  # make_venv DIR PYTHON REQUIREMENTS...
  local dir=$1 python=$2; shift 2
  local stamp="$dir/.requirements.sha256"
  local version want
  version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  want=$( (echo "python $version"; cat "$@") | sha256sum | cut -d' ' -f1)
  if [[ -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  if [[ -x "$dir/bin/python" && "$("$dir/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$version" ]]; then
    echo "setup_infra: $dir runs another Python than $version: rebuilding it" >&2
    rm -rf "$dir"
  fi
  echo "setup_infra: installing $dir (Python $version)" >&2
  [[ -x "$dir/bin/python" ]] || "$python" -m venv "$dir"
  # chalice 1.34 breaks with pip >= 26.3
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "pip<26.3"
  local args=()
  for req in "$@"; do args+=(-r "$req"); done
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}"
  echo "$want" >"$stamp"
}

make_venv .venv-infra "$INFRA_PYTHON" infra/requirements.txt requirements.txt
make_venv .venv-sam "${PYTHON:-python3}" infra/requirements-sam.txt
