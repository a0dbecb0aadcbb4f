#!/usr/bin/env bash
# The infrastructure tests: synthesize the CDK app offline (no AWS account), assert on the
# templates, run cdk-nag and cfn-lint (the `slow` ones; `-m "not slow"` skips them locally).
# They run in .venv-infra (aws-cdk-lib, cdk-nag, cfn-lint), never in the app's venv.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_infra.sh

export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
# Nothing here may reach AWS: no account, no profile, no credentials.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN

# --confcutdir: tests/conftest.py belongs to the main suite (moto, DynamoDB Local), not to this venv.
exec .venv-infra/bin/pytest --confcutdir=tests/infra -p no:cacheprovider tests/infra "$@"
