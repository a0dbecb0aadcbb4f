"""Idempotency fingerprints are keyed: a kept ledger entry cannot confirm a guessed phone or email."""

import hashlib
import json

from chalicelib import config
from chalicelib.services.writes import fingerprint

BODY = {"member_id": "m1", "phone": "+86 138 0000 0001"}


def test_fingerprint_is_keyed_by_the_signing_secret(monkeypatch):
    monkeypatch.setenv("SIGNING_SECRET", "first-secret-of-enough-length")
    config.reset()
    first = fingerprint(BODY)
    monkeypatch.setenv("SIGNING_SECRET", "second-secret-of-enough-length")
    config.reset()
    second = fingerprint(BODY)
    config.reset()
    plain = hashlib.sha256(json.dumps(BODY, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert first != second
    assert plain not in (first, second)


def test_fingerprint_ignores_key_order():
    assert fingerprint({"b": 1, "a": 2}) == fingerprint({"a": 2, "b": 1})
