"""The program simulator's self-check: a seeded history written through the real services on the
local stack (`loyalty demo`: enrolments, purchases online and in store files, returns, referrals,
redemptions, activities, dormancy and comebacks, expiries, birthdays, an erasure), exported in
DynamoDB's export format, replayed under the current program: every member's tier, balances, lots
and lifetime points, and the program's totals, come out as stored.

The program is the default one with members going dormant after 20 days and points expiring after
one month, so that 60 simulated days see dormancies, a reactivation and expiries (as test_demo.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from chalicelib import config
from chalicelib.program import PROGRAM_FILE, load_program
from chalicelib.services import check, members
from chalicelib.store import exports
from loyalty_tools import demo
from loyalty_tools import simulate as simulator
from loyalty_tools.cli import cli
from loyalty_tools.local.stack import LocalResources

MEMBERS, DAYS, SEED, STORES = 15, 60, 4, 2
UNTIL = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai: the last day is replayed whole


@pytest.fixture
def quick_program(local_stack: LocalResources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    program = json.loads(PROGRAM_FILE.read_text(encoding="utf-8"))
    file = tmp_path / "program.json"
    text = json.dumps({**program, "dormant_after_days": 20, "expiry_months": 1})
    file.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PROGRAM_FILE", str(file))
    config.reset()
    load_program.cache_clear()
    yield text
    load_program.cache_clear()


@pytest.mark.ddb_local
def test_the_current_program_replayed_reproduces_the_stored_state(quick_program: str, tmp_path: Path) -> None:
    # Every job every day, as the hourly scheduler runs them (the demo alone runs them on the days it
    # predicts, which can miss one: a store file landing the day after a purchase moves a dormancy).
    options = demo.Options(members=MEMBERS, days=DAYS, seed=SEED, stores=STORES, workers=4, jobs_every=1, until=UNTIL)
    demo.run(options)
    export = tmp_path / "export"
    assert exports.export_members(export, UNTIL)["members"] == MEMBERS

    run = simulator.run(export, quick_program, quick_program, workers=1, check=True)

    report = run.report
    assert run.mode.check and report.checked == MEMBERS
    assert report.differences == [] and report.reproduced == MEMBERS
    # The program's totals, from the stored members, equal the replay's (and the proposal is the same program).
    views = [members.view(member_id) for member_id in check.member_ids()]
    live = [v for v in views if v["status"] != "erased"]
    assert report.current.outstanding == sum(v["points"]["available"] + v["points"]["pending"] for v in live)
    assert report.current.lifetime == sum(v["points"]["lifetime_earned"] for v in views)
    tiers: dict[str, int] = {}
    for view in live:
        tiers[view["tier"]["code"]] = tiers.get(view["tier"]["code"], 0) + 1
    assert dict(report.current.by_tier) == tiers and report.current.erased == 1
    assert report.proposed.as_dict() == report.current.as_dict() and not report.moves
    # Without --check the current figures are the recorded ones: the same (expiries, bonuses, coupons and all).
    recorded = simulator.run(export, quick_program, quick_program, workers=2).report
    assert recorded.checked == 0 and recorded.current.as_dict() == report.current.as_dict()
    # What the history held: every rule the replay runs had something to do.
    now = report.current
    # The command prints it: the table side by side and the self-check's verdict; a bad file is refused.
    program_file = tmp_path / "program.json"
    command = ["simulate", "--program", str(program_file), "--export", str(export), "--workers", "1", "--check"]
    printed = CliRunner().invoke(cli, command)
    assert printed.exit_code == 0, printed.output
    assert f"reproduces the stored state of {MEMBERS} of {MEMBERS} members" in printed.output
    assert "points outstanding at the end" in printed.output and "liability value (CNY)" in printed.output
    (tmp_path / "bad.json").write_text('{"tiers": []}', encoding="utf-8")
    refused = CliRunner().invoke(cli, ["simulate", "--program", str(tmp_path / "bad.json"), "--export", str(export)])
    assert refused.exit_code == 1 and "invalid program" in refused.output and "Traceback" not in refused.output
    assert now.expired > 0 and now.earned["reactivation"] > 0 and now.earned["referral"] > 0
    assert now.returned > 0 and now.redeemed > 0 and now.coupons["welcome_back"] > 0 and now.coupons["birthday"] > 0
