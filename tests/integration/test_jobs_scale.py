"""The jobs read what is due, not the table: 10 000 members of which 100 are due, on DynamoDB Local.
Every job must find its members through its due index (a Scan fails the test) and read about
one index entry and one member state per due member, plus a small constant."""

from __future__ import annotations

import pytest

from bench.jobs import AS_OF, JOB_ORDER, populate, quiet_events
from bench.local import count_reads
from chalicelib.services import jobs

MEMBERS, DUE = 10_000, 100
STATE_ITEMS = 3  # profile, one lot, one pending lot (at most) per due member
CONSTANT = 5  # the birthday cursor read, and slack


@pytest.fixture
def table_of_10k(ddb_local_table: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    from chalicelib import events

    publish = events.publish
    quiet_events()
    try:
        yield populate(MEMBERS, DUE)
    finally:
        events.publish = publish  # type: ignore[assignment]


@pytest.mark.ddb_local
def test_each_job_reads_the_members_due_and_never_scans(table_of_10k):
    for name in JOB_ORDER:
        with count_reads() as reads:
            result = jobs.run(name, AS_OF)
        assert reads.calls["Scan"] == 0, name
        assert result.members_changed == DUE, (name, result)
        assert reads.index_items <= DUE + CONSTANT, (name, reads)
        assert reads.member_queries <= DUE + CONSTANT, (name, reads)
        assert reads.items <= DUE * (1 + STATE_ITEMS) + CONSTANT, (name, reads)

        # Done: the same day again reads (almost) nothing.
        with count_reads() as again:
            assert jobs.run(name, AS_OF).members_changed == 0
        assert again.items <= CONSTANT, (name, again)
