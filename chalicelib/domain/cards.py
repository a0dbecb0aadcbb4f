"""Membership cards: the card number (16 digits, a Luhn check digit last) and the short-lived card
token an app shows as a QR code. Pure: the random digits, the secret and the time come in."""

from __future__ import annotations

import hashlib
import hmac
import re

from chalicelib.domain.errors import InvalidRequest

CARD_PREFIX = "9"  # ISO/IEC 7812's "national use" digit: never read as a bank card of the big networks
CARD_LENGTH = 16
RANDOM_DIGITS = CARD_LENGTH - len(CARD_PREFIX) - 1  # the check digit is the last
CARD_PATTERN = r"^[0-9]{16}$"
TOKEN_SECONDS = 60
# Signed text starts with the token's purpose: no other signature made with the same secret (a
# cursor, a contact hash) can ever pass as a card token's.
TOKEN_PURPOSE = "card-token/v1"
TOKEN_PATTERN = r"^[A-Za-z0-9._:\-]+\.[0-9]{1,12}\.[0-9a-f]{32}$"
_DIGITS = re.compile(r"[0-9]+")


def luhn_check_digit(payload: str) -> str:
    """The digit that makes `payload` + digit pass the Luhn check (ISO/IEC 7812-1)."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:  # the digit left of the check digit is doubled, then every second one
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str(-total % 10)


def luhn_valid(number: str) -> bool:
    """ASCII digits only (`str.isdigit` would take other scripts' digits) and the check digit right."""
    return len(number) >= 2 and _DIGITS.fullmatch(number) is not None and luhn_check_digit(number[:-1]) == number[-1]


def card_number(random_digits: str) -> str:
    """The card number built from RANDOM_DIGITS random ASCII digits."""
    if len(random_digits) != RANDOM_DIGITS or _DIGITS.fullmatch(random_digits) is None:
        raise ValueError(f"expected {RANDOM_DIGITS} ASCII digits")
    payload = CARD_PREFIX + random_digits
    return payload + luhn_check_digit(payload)


def valid_card_number(number: str) -> bool:
    return len(number) == CARD_LENGTH and number.startswith(CARD_PREFIX) and luhn_valid(number)


# --- card tokens -------------------------------------------------------------------------------------
# `<member id>.<expiry, epoch seconds>.<HMAC-SHA256, 32 hex>`: readable by the till, bound to one
# member and one expiry by the signature. Member ids may hold dots: the token is split from the right.


def _signature(secret: bytes, member_id: str, expires: int) -> str:
    message = f"{TOKEN_PURPOSE}\n{member_id}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def card_token(secret: bytes, member_id: str, expires: int) -> str:
    return f"{member_id}.{expires}.{_signature(secret, member_id, expires)}"


def token_expiry(issued_at_epoch: float) -> int:
    """Valid TOKEN_SECONDS from the second it was issued."""
    return int(issued_at_epoch) + TOKEN_SECONDS


def token_member(secret: bytes, token: str, now_epoch: float) -> str:
    """The member a token was issued for; InvalidRequest when it is altered, malformed or expired.

    The whole token is compared with the one we would issue, so any changed character fails (a
    comparison of decoded values would pass `007` for `7`)."""
    invalid = InvalidRequest("invalid card token", [{"field": "card_token", "message": "altered or malformed"}])
    parts = token.rsplit(".", 2)
    if len(parts) != 3 or not token.isascii() or not _DIGITS.fullmatch(parts[1]) or len(parts[1]) > 12:
        raise invalid
    member_id, expires = parts[0], int(parts[1])
    if not hmac.compare_digest(card_token(secret, member_id, expires).encode(), token.encode()):
        raise invalid
    if now_epoch >= expires:
        raise InvalidRequest("the card token has expired", [{"field": "card_token", "message": "expired"}])
    return member_id
