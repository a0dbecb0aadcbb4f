"""The answer stored with a client's id: packed small (an entry over 1 KB costs twice the write
units), read back exactly, and older entries' plain JSON text still read."""

from __future__ import annotations

import json

import pytest

from chalicelib.store import codec

ANSWER = {
    "entry": {
        "entry_id": "purchase#web-1000",
        "kind": "purchase",
        "ref": "web-1000",
        "points": 337,
        "occurred_at": "2026-12-06T04:16:55.191208+00:00",
        "recorded_at": "2026-12-06T04:16:55.191208+00:00",
        "details": {
            "amount": "268.50",
            "lot_month": "2027-12",
            "spend_month": "2026-12",
            "pending": False,
            "lapsed_points": 0,
            "tier": "member",
            "order_number": 1,
            "lines": [{"amount": "68.50", "category": "fresh"}, {"amount": "100.00", "category": "household"}],
        },
        "balances_after": {"available": 437, "pending": 0, "lifetime_earned": 437},
    },
    "related_entries": [],
    "balances": {"available": 437, "pending": 0, "lifetime_earned": 437},
    "note": "会员日 ✓",  # any text survives
}


def test_a_stored_answer_is_packed_small_and_read_back_exactly() -> None:
    packed = codec.pack_response(ANSWER)
    text = json.dumps(ANSWER, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(packed) < len(text) / 3  # the preset dictionary: about 100 bytes for this answer
    assert codec.response_from_item({"response": packed}) == ANSWER


def test_an_older_entry_s_json_text_is_still_read() -> None:
    assert codec.response_from_item({"response": json.dumps(ANSWER)}) == ANSWER


def test_an_unknown_format_is_an_error_not_a_wrong_answer() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        codec.response_from_item({"response": b"\x02" + codec.pack_response(ANSWER)[1:]})
