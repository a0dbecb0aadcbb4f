"""Attributes that put a member on the sparse indexes of due work (scheduled jobs)."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.model import Member


def due_attributes(member: Member) -> dict[str, Any]:
    """Index attributes written with every profile update; None removes the attribute."""
    return {}
