"""Card numbers (16 digits, Luhn) and card tokens (60 s, signed, bound to one member): pure rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import cards
from chalicelib.domain.errors import InvalidRequest
from chalicelib.services.cards import new_card_number

SECRET = b"a-test-secret-of-some-length"
T0 = 1_780_000_000  # a whole second
random_digits = st.text(alphabet="0123456789", min_size=cards.RANDOM_DIGITS, max_size=cards.RANDOM_DIGITS)


def test_known_luhn_numbers() -> None:
    # The textbook example and well-known test card numbers.
    assert cards.luhn_valid("79927398713") and not cards.luhn_valid("79927398710")
    assert cards.luhn_valid("4111111111111111") and cards.luhn_valid("5555555555554444")
    assert cards.luhn_check_digit("7992739871") == "3"
    for bad in ("", "0", "1234567812345678", "٧٩٩٢٧٣٩٨٧١٣", "79927398713 ", "7992-7398-713"):
        assert not cards.luhn_valid(bad), bad


@given(random_digits)
def test_every_generated_card_number_is_16_digits_and_luhn_valid(digits: str) -> None:
    number = cards.card_number(digits)
    assert len(number) == 16 and number.isascii() and number.isdigit()
    assert number.startswith(cards.CARD_PREFIX) and number[1:15] == digits
    assert cards.luhn_valid(number) and cards.valid_card_number(number)


@given(random_digits, st.integers(0, 15), st.integers(1, 9))
def test_a_single_mistyped_digit_is_always_caught(digits: str, position: int, shift: int) -> None:
    number = cards.card_number(digits)
    wrong = str((int(number[position]) + shift) % 10)
    assert not cards.luhn_valid(number[:position] + wrong + number[position + 1 :])


@given(random_digits, st.integers(0, 14))
def test_swapped_neighbours_are_caught_except_09_and_90(digits: str, position: int) -> None:
    number = cards.card_number(digits)
    a, b = number[position], number[position + 1]
    swapped = number[:position] + b + a + number[position + 2 :]
    if a != b and {a, b} != {"0", "9"}:
        assert not cards.luhn_valid(swapped)


def test_the_service_draws_valid_numbers_that_differ() -> None:
    drawn = {new_card_number() for _ in range(200)}
    assert len(drawn) == 200 and all(cards.valid_card_number(number) for number in drawn)


@pytest.mark.parametrize("digits", ["", "1" * 13, "1" * 15, "１" * 14, "a" * 14])
def test_the_generator_takes_14_ascii_digits_only(digits: str) -> None:
    with pytest.raises(ValueError):
        cards.card_number(digits)


# --- card tokens ----------------------------------------------------------------------------------


def token(member_id: str = "m.1:a", issued: float = T0) -> str:
    return cards.card_token(SECRET, member_id, cards.token_expiry(issued))


def refused(text: str, now: float = T0) -> str:
    with pytest.raises(InvalidRequest) as caught:
        cards.token_member(SECRET, text, now)
    assert caught.value.details[0]["field"] == "card_token"
    return caught.value.details[0]["message"]


def test_a_token_names_its_member_for_60_seconds_and_not_after() -> None:
    issued = token()
    assert cards.token_member(SECRET, issued, T0) == "m.1:a"
    assert cards.token_member(SECRET, issued, T0 + 59.999) == "m.1:a"
    assert refused(issued, T0 + 60) == "expired"
    assert refused(issued, T0 + 3600) == "expired"
    # issued mid-second: valid until 60 s after that second began
    assert cards.token_member(SECRET, token(issued=T0 + 0.7), T0 + 59.5) == "m.1:a"


def test_any_one_changed_character_is_refused() -> None:
    issued = token()
    for position, char in enumerate(issued):
        for other in {"0", "1", "a", "A", ".", "9"} - {char}:
            altered = issued[:position] + other + issued[position + 1 :]
            refused(altered)
    for altered in (issued + "0", issued[:-1], "0" + issued, issued.upper(), f" {issued}", issued.replace(".", "..")):
        refused(altered)


def test_another_members_token_or_signature_is_refused() -> None:
    mine, theirs = token("m1"), token("m2")
    _, expires, signature = theirs.rsplit(".", 2)
    refused(f"m1.{expires}.{signature}")  # their signature on my id
    refused(mine.replace("m1.", "m2.", 1))  # my token with their id
    refused(f"m1.{int(expires) + 600}.{mine.rsplit('.', 1)[1]}")  # a later expiry on my signature
    assert cards.token_member(SECRET, mine, T0) == "m1"
    # and a token signed with another secret (another stage) is nobody's
    with pytest.raises(InvalidRequest):
        cards.token_member(b"another-secret-of-some-length", mine, T0)


@pytest.mark.parametrize("text", ["", ".", "..", "m1..abc", "m1.x.abc", "m1.1e9.abc", "m1", "m1.٣٣.ab", "é.1.ab"])
def test_malformed_tokens_are_refused(text: str) -> None:
    refused(text)


def test_the_documented_example_is_a_card_number() -> None:
    from chalicelib.api.models import MemberLookupQuery

    (example,) = MemberLookupQuery.model_json_schema()["properties"]["card"]["anyOf"][0]["examples"]
    assert cards.valid_card_number(example)
