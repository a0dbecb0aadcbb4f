"""The CDK stays out of the app and of the main test suite: their venv (and the Lambda) has none of
aws_cdk, cdk_nag, cfnlint or samtranslator, and infra/ is not packaged."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INFRA_ONLY = {"aws_cdk", "cdk_nag", "constructs", "cfnlint", "samtranslator", "infra"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_app_and_main_test_suite_never_import_infra_tooling() -> None:
    files = [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]
    files += [p for p in (ROOT / "tests").rglob("*.py") if (ROOT / "tests" / "infra") not in p.parents]
    offenders = {str(p.relative_to(ROOT)): sorted(imported_roots(p) & INFRA_ONLY) for p in files}
    assert not {p: found for p, found in offenders.items() if found}
