#!/usr/bin/env bash
# Every check CI runs: lint, format, types, tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin

"$bin/ruff" check .
"$bin/ruff" format --check .

targets=(chalicelib loyalty_tools)
[ -f app.py ] && targets+=(app.py)
# mypy refuses a folder without Python files
if [ -n "$(find infra -name '*.py' -print -quit 2>/dev/null)" ]; then targets+=(infra); fi
"$bin/mypy" "${targets[@]}"
"$bin/lint-imports"  # the layer contracts of pyproject.toml [tool.importlinter]

# The CDK tests run in their own venv (aws-cdk-lib, cdk-nag, cfn-lint): scripts/test_infra.sh.
status=0
"$bin/pytest" --ignore=tests/infra "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
[ "$status" -eq 0 ] || exit "$status"
bash scripts/test_infra.sh
