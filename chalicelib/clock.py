"""The one place the engine reads the time (tests and `--as-of` runs replace it)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
