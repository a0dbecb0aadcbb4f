"""Sales-file key and name rules: ASCII digits only, nothing after the extension."""

from __future__ import annotations

import pytest

from chalicelib.ingest import names


@pytest.mark.parametrize(
    "name",
    [
        "2026-11-21.csv\n",
        "2026-11-21.csv.gz\n",
        "２０２６-11-21.csv",
        "٢٠٢٦-11-21.csv",
        "2026-11-21.csv ",
        "2026-11-21.CSV",
    ],
)
def test_names_off_the_rule_are_refused(name: str) -> None:
    assert not names.valid_file_name(name)
    assert not names.parse_key(f"incoming/s1/{name}").valid


@pytest.mark.parametrize("name", ["2026-11-21.csv", "2026-11-21-till-2.csv.gz"])
def test_names_on_the_rule_are_taken(name: str) -> None:
    assert names.valid_file_name(name)
    assert names.parse_key(f"incoming/s1/{name}").valid
