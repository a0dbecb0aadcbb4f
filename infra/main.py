"""The CDK app: one stack per stage (`dev`, `prod`), checked by cdk-nag (AwsSolutions) at synth.

    cd infra && npx aws-cdk@2.1148.1 deploy dev       # see infra/DEPLOY.md
    .venv-infra/bin/python infra/main.py              # synth both stages into cdk.out/

Context: `-c stage=dev` synthesizes one stage only; `-c alarm_email=ops@example.com` subscribes an
address to the alarm topic. Named `main.py`, not `app.py`: Chalice imports the module `app`.
"""

from __future__ import annotations

import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script (the CDK CLI's way): the project root holds infra/ and chalicelib/
    sys.path.insert(0, ROOT)

import aws_cdk as cdk  # noqa: E402

from infra import nag  # noqa: E402
from infra.stack import LoyaltyStack  # noqa: E402
from infra.stages import STAGES  # noqa: E402

# CDK feature flags this app relies on (kept here, not in cdk.json, so tests synthesize the same).
FEATURE_FLAGS = {
    # The access-log bucket admits S3's log delivery by bucket policy, not by the legacy ACL.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


def build_app(
    *,
    outdir: str | None = None,
    source_dir: str = ROOT,
    stages: list[str] | None = None,
    context: dict[str, str] | None = None,
) -> tuple[cdk.App, dict[str, LoyaltyStack]]:
    app = cdk.App(outdir=outdir, context={**FEATURE_FLAGS, **(context or {})})
    chosen = stages or _context_stages(app)
    alarm_email = app.node.try_get_context("alarm_email")
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))
    stacks = {
        name: LoyaltyStack(app, STAGES[name], source_dir=source_dir, alarm_email=alarm_email, env=env)
        for name in chosen
    }
    nag.check(app)
    return app, stacks


def _context_stages(app: cdk.App) -> list[str]:
    stage = app.node.try_get_context("stage")
    if stage is None:
        return list(STAGES)
    if stage not in STAGES:
        raise SystemExit(f"unknown stage {stage!r}: one of {', '.join(STAGES)}")
    return [stage]


def main() -> None:
    outdir = os.environ.get("CDK_OUTDIR") or os.path.join(ROOT, "cdk.out")
    app, _ = build_app(outdir=outdir)
    try:
        app.synth()
    finally:
        # Chalice's packages, already copied into the assembly as assets.
        shutil.rmtree(os.path.join(outdir, "chalice.out"), ignore_errors=True)


if __name__ == "__main__":
    main()
