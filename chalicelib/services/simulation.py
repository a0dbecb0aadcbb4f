"""The program simulator's use cases (docs/simulate.md): a proposed program read from its file, a
bucket of members replayed under the current and the proposed program, reports merged. The same
functions run in `loyalty simulate`'s worker processes and in the simulation Lambda on AWS."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.domain import simulation
from chalicelib.domain.campaigns import Campaign
from chalicelib.domain.history import Window
from chalicelib.domain.history import recorded as history_figures
from chalicelib.domain.simulation import Campaigns, Scenario
from chalicelib.domain.simulation_figures import Report, liability, state_differences, tier_move
from chalicelib.program import Program, ProgramFileError, parse_program
from chalicelib.services import campaigns as campaign_service
from chalicelib.store import exports


@dataclass(frozen=True)
class Proposal:
    """A proposed program: the program file's format, plus an optional `campaigns` list (the bodies
    of POST /campaigns) that replaces the recorded campaigns."""

    program: Program
    campaigns: tuple[Campaign, ...] | None = None


def parse_proposal(text: str, source: str = "program") -> Proposal:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProgramFileError(f"{source}: not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ProgramFileError(f"{source}: a program is a JSON object")
    listed = document.pop("campaigns", None)
    program = parse_program(json.dumps(document), source)
    if listed is None:
        return Proposal(program)
    try:
        return Proposal(program, tuple(Campaign.model_validate(c) for c in listed))
    except ValueError as exc:
        raise ProgramFileError(f"{source}: invalid campaigns: {exc}") from exc


def recorded_campaigns(lines: Iterable[str]) -> tuple[Campaign, ...]:
    """The campaigns stored in the table (the export's campaign items), as the live path reads them."""
    return tuple(campaign_service._campaign(exports.item_from_line(line)) for line in lines)


def scenarios(current: Program, proposal: Proposal, recorded: tuple[Campaign, ...]) -> tuple[Scenario, Scenario]:
    as_recorded = Campaigns(recorded, as_recorded=True)
    proposed = as_recorded if proposal.campaigns is None else Campaigns(proposal.campaigns)
    return Scenario(current, as_recorded), Scenario(proposal.program, proposed)


def replay_members(
    members: dict[str, list[dict[str, Any]]],
    current: Scenario,
    proposed: Scenario,
    window: Window,
    mode: Mode,
) -> Report:
    """Each member replayed under the proposed program. The current program's figures are the
    recorded ones when the window ends on the export's day, else (or to self-check) a replay too."""
    report = Report()
    for member_id in sorted(members):
        history, stored = exports.history_from_items(members[member_id])
        then = simulation.replay(proposed, history, window)
        if mode.replay_current:
            now = simulation.replay(current, history, window)
            figures, member = now.figures, now.member
            if mode.check:
                report.add_check(member_id, state_differences(member, stored))
        else:
            figures, member = history_figures(current.program, history, stored, window), stored
        report.add_member(figures, then.figures, tier_move(member, then.member))
    return report


def replay_bucket(
    member_lines: Iterable[str],
    campaign_lines: Iterable[str],
    current: Program,
    proposal: Proposal,
    window: Window,
    mode: Mode,
) -> Report:
    now, then = scenarios(current, proposal, recorded_campaigns(campaign_lines))
    return replay_members(exports.members_of(member_lines), now, then, window, mode)


@dataclass(frozen=True)
class Mode:
    replay_current: bool  # else the current figures are the recorded ones
    check: bool  # compare the current program's replay with the stored state

    def as_dict(self) -> dict[str, bool]:
        return {"replay_current": self.replay_current, "check": self.check}


def plan(exported_on: date, first: date | None, last: date | None, check: bool) -> tuple[Window, Mode]:
    """The window, and how the current figures come: recorded up to the export's day; replayed for an
    earlier end (the stored state is the export day's) or for the self-check (which needs that day)."""
    end = last or exported_on
    on_export_day = end == exported_on
    return Window(end, first), Mode(replay_current=check or not on_export_day, check=check and on_export_day)


def _row(label: str, current: object, proposed: object, change: str = "") -> str:
    return f"{label:<34}{current!s:>16}{proposed!s:>16}{change:>12}"


def _figure_rows(report: Report, current: Program, proposed: Program) -> list[tuple[str, int, int]]:
    now, then = report.current, report.proposed
    codes = [t.code for t in current.tiers] + [t.code for t in proposed.tiers]
    rows = [("members", now.members, then.members), ("  erased", now.erased, then.erased)]
    rows += [(f"  in tier {code}", now.by_tier[code], then.by_tier[code]) for code in dict.fromkeys(codes)]
    rows.append(("points earned", sum(now.earned.values()), sum(then.earned.values())))
    sources = sorted(set(now.earned) | set(then.earned))
    rows += [(f"  from {source}", now.earned[source], then.earned[source]) for source in sources]
    rows += [
        ("points taken back by returns", now.returned, then.returned),
        ("points redeemed", now.redeemed, then.redeemed),
        ("points expired", now.expired, then.expired),
        ("points outstanding at the end", now.outstanding, then.outstanding),
    ]
    return rows


def table_lines(report: Report, window: Window, mode: Mode, current: Program, proposed: Program) -> list[str]:
    """Current and proposed side by side, then the tier moves and the self-check."""
    lines = [_row("", "current", "proposed", "change")]
    for label, now, then in _figure_rows(report, current, proposed):
        lines.append(_row(label, f"{now:,}", f"{then:,}", f"{then - now:+,}" if then != now else ""))
    now_value, now_basis = liability(current, report.current.outstanding)
    then_value, then_basis = liability(proposed, report.proposed.outstanding)
    label = f"liability value ({current.currency})"
    lines.append(_row(label, f"{now_value:,}", f"{then_value:,}", f"{then_value - now_value:+,}"))
    lines += [f"  current at {now_basis}", f"  proposed at {then_basis}", ""]
    lines.append(f"members who would move up a tier: {report.moved(proposed, True):,}")
    lines.append(f"members who would move down a tier: {report.moved(proposed, False):,}")
    lines += [f"  {move.replace('>', ' -> ')}: {count:,}" for move, count in sorted(report.moves.items())]
    refused = report.proposed.refused
    if refused:
        counts = ", ".join(f"{kind} {n:,}" for kind, n in sorted(refused.items()))
        lines.append(f"recorded writes the proposed program refuses: {counts}")
    lines.append(_check_line(report, mode))
    return lines


def _check_line(report: Report, mode: Mode) -> str:
    if not mode.check:
        source = "replayed (the stored state is the export day's)" if mode.replay_current else "as recorded"
        return f"current figures {source}; self-check not run (--check, with the window ending on the export's day)"
    verdict = "reproduces" if report.reproduced == report.checked else "does NOT reproduce"
    return (
        f"self-check: the current program's replay {verdict} the stored state of "
        f"{report.reproduced:,} of {report.checked:,} members"
    )
