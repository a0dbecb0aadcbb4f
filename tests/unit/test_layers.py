"""Only chalicelib/store/ speaks DynamoDB's and the AWS SDK's dialect: elsewhere no botocore, no AWS
error class, no raw transaction items, expression attribute maps or typed attribute values."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AWS_DIALECT = re.compile(r'botocore|ClientError|TransactItems|ExpressionAttribute|\{"S":')


def test_no_aws_dialect_outside_the_store() -> None:
    store = ROOT / "chalicelib" / "store"
    sources = [ROOT / "app.py", *(p for p in sorted((ROOT / "chalicelib").rglob("*.py")) if store not in p.parents)]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if AWS_DIALECT.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_check_would_see_it() -> None:
    assert AWS_DIALECT.search('except ClientError as exc: {"S": key}')
