"""What `loyalty demo` prints: one line per simulated month while it runs, a summary at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

JOB_ORDER = ("pending", "expiry", "tier-review", "dormant", "birthday")


@dataclass
class Summary:
    members: int = 0
    start: date | None = None
    end: date | None = None  # today
    days: int = 0
    member_days: int = 0
    tally: Counter[str] = field(default_factory=Counter)  # calls made, by kind; refusals by code
    jobs: Counter[str] = field(default_factory=Counter)  # runs and members changed, by job
    files: Counter[str] = field(default_factory=Counter)  # files, rows, applied, ... (report counts)
    reasons: Counter[str] = field(default_factory=Counter)  # rejected rows, by reason
    points_expired: int = 0
    final: dict[str, Any] = field(default_factory=dict)
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)  # the seed campaigns' results
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)  # jobs, files, day, evening


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counter.items())) or "none"


def refusals(summary: Summary) -> Counter[str]:
    return Counter({kind: n for kind, n in summary.tally.items() if kind.startswith("refused")})


def month_line(month: str, summary: Summary, seconds: float) -> str:
    tally, files = summary.tally, summary.files
    runs = sum(n for name, n in summary.jobs.items() if name.endswith(" runs"))
    refused = sum(refusals(summary).values())
    return (
        f"{month}: {tally['enrolments']:,} members, {tally['orders online']:,} online orders, "
        f"{files['files']:,} store files ({files['applied'] - files['non_member']:,} member receipts, "
        f"{files['non_member']:,} others), {tally['returns online']:,} online returns, "
        f"{tally['redemptions']:,} redemptions, {tally['activities']:,} activities, {runs:,} job runs"
        + (f", {refused:,} refused" if refused else "")
        + f" ({seconds:.0f} s)"
    )


def summary_lines(summary: Summary) -> list[str]:
    start, end = summary.start, summary.end
    tally, files, final = summary.tally, summary.files, summary.final
    jobs = [
        f"{name} {summary.jobs[name + ' runs']:,} runs ({summary.jobs[name + ' members changed']:,} members changed)"
        for name in JOB_ORDER
        if summary.jobs[name + " runs"]
    ]
    lines = [
        f"done in {summary.seconds:.0f} s: {summary.members:,} members, {start} to {end} "
        f"({summary.member_days:,} member-days); time in "
        + ", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in summary.phase_seconds.items()),
        f"members: {_counts(final.get('status', Counter()))}; tiers: {_counts(final.get('tier', Counter()))}",
        f"online: {tally['orders online']:,} orders, {tally['returns online']:,} returns, "
        f"{tally['coupons used']:,} coupons used; {tally['activities']:,} activities, "
        f"{tally['redemptions']:,} redemptions, {tally['profile updates']:,} profile updates, "
        f"{tally['adjustments']:,} adjustments, {tally['erasures']:,} erasures",
        f"store files: {files['files']:,} ({files['files completed']:,} completed), {files['rows']:,} rows: "
        f"{files['applied'] - files['non_member']:,} member receipts, {files['non_member']:,} non-member sales, "
        f"{files['rejected']:,} rejected ({_counts(summary.reasons)}), {files['duplicates']:,} duplicates",
        f"points: {final.get('points_outstanding', 0):,} outstanding, {summary.points_expired:,} expired by the jobs",
        f"jobs (as of each simulated day): {'; '.join(jobs) or 'none'}",
        f"books: {final.get('problems', 0)} problem(s) in the demo members' ledgers (`loyalty check` checks all)",
    ]
    outside = final.get("written_outside_replay", 0)
    if outside:
        lines.append(
            f"warning: {outside:,} ledger entries or coupons of demo members are dated after the replay: something "
            "else ran the scheduled jobs as of today while the demo replayed the past (`loyalty dev`'s scheduler "
            "must honour loyalty_tools.demo.pause.scheduler_paused()); dormancies and reactivations are not true"
        )
    for campaign_id, found in summary.campaigns.items():
        budget = "" if found["budget_left"] is None else f", {found['budget_left']:,} of its budget left"
        lines.append(
            f"campaign {campaign_id}: {found['applied']:,} purchases of {found['participants']:,} members, "
            f"{found['points_granted']:,} points{budget}; participants' sales {found['participant_sales']}"
        )
    refused = refusals(summary)
    if refused:
        lines.append(f"refused calls: {_counts(refused)}")
    lines.append(
        f"KPIs: `loyalty dev` rolls the table's stream up within seconds: GET /kpis?from={start}&to={end} "
        "(ops key) and the ops page GET /ops"
    )
    return lines
