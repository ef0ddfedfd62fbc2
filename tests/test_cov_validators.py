"""The value validators that sensitive-data rules name in YAML: each says whether a matched
value is the real thing (a valid checksum, a number someone has, a random token) or not."""

from __future__ import annotations

import pytest

from prellm.safety.validators import VALIDATORS

CASES = {
    "luhn": {
        "4012 8888 8888 1881": True,  # Visa
        "378282246310005": True,  # Amex
        "5105105105105100": True,  # Mastercard
        "4012 8888 8888 1882": False,  # checksum off by one
        "4111 1111 1111 1111": False,  # two distinct digits: filler, not a card
        "9780306406157": False,  # an ISBN passes Luhn but has no card prefix
        "12": False,
    },
    "iban": {
        "GB82 WEST 1234 5698 7654 32": True,
        "DE89 3704 0044 0532 0130 00": True,
        "GB82WEST12345698765433": False,  # checksum
        "NOT AN IBAN": False,
    },
    "pesel": {
        "44051401359": True,
        "44051401358": False,  # checksum
        "11111111111": False,  # filler
        "4405140135": False,  # too short
        "44135101354": False,  # month 13
        "44053201351": False,  # day 32
    },
    "nip": {
        "1234563218": True,
        "123-456-32-18": True,
        "1234563217": False,
        "1111111111": False,
        "123456321": False,
    },
    "phone": {
        "+48 601 234 567": True,
        "601-234-567": True,
        "+1 212 555 0123": False,  # 555-01xx: reserved for fiction
        "123456789": False,  # a run of consecutive digits
        "+35236450.6": False,  # a signed decimal
        "1111111111": False,
        "2024-01-15 12:30:45": False,  # a timestamp
    },
    "basic_credentials": {
        "dXNlcjpwYXNz": True,  # user:pass
        "bm9jb2xvbg": False,  # "nocolon"
        "PHVzZXI+OjxwYXNzd29yZD4": False,  # "<user>:<password>"
        "!!!": False,
    },
    "not_placeholder": {
        "hunter2": True,
        '"xyzzy42"': True,
        "<password>": False,
        "PASSWORD": False,
        "${PASS}": False,
        "": False,
    },
    "bearer": {
        "abc123def456": True,
        "aZ8kLm3Qp9Xr2Tv7Wn5Yb1": True,
        "resource_metadata=": False,
        "some-words-here": False,
    },
    "mixed_token": {
        "aZ8kLm3Qp9Xr2Tv7Wn5Yb1": True,
        "deadbeefcafe1234": False,  # hex: no upper case
        "HelloWorld": False,
    },
    "secretish": {
        "hunter2!": True,
        '"9f8e7d6c5b4a39281706"': True,
        "reset": False,  # a word of prose
        "get_token()": False,  # code
        "DB_PASSWORD": False,  # a reference to another name
        "${SECRET}": False,  # a placeholder
    },
    "keyish": {
        "k9Zx2Lm8Qw": True,
        "sk-learn-compatible-api": False,
        "<your-key>": False,
    },
}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [(name, value, expected) for name, table in CASES.items() for value, expected in table.items()],
)
def test_a_validator_tells_the_real_thing_from_a_lookalike(name, value, expected):
    assert VALIDATORS[name](value) is expected


def test_every_validator_is_named_in_the_registry():
    assert set(CASES) == set(VALIDATORS)
