"""Checksum validators for sensitive-data rules, referenced by name from YAML (never eval'd)."""

from __future__ import annotations

import re
from collections.abc import Callable

_DIGITS = re.compile(r"\D")


# Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners,
# UnionPay, Maestro): a 13-digit EAN code also passes Luhn, but has none of these.
_CARD_PREFIX = re.compile(
    r"4|5[1-5]|2[2-7]|3[47]|6011|64[4-9]|65|35|30[0-5]|36|38|62|50|5[6-8]|6[37]"
)


def luhn(value: str) -> bool:
    """Payment card numbers (13-19 digits) pass the Luhn checksum."""
    digits = _DIGITS.sub("", value)
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1 or not _CARD_PREFIX.match(digits):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban(value: str) -> bool:
    """ISO 13616: move the country code and check digits to the end, mod 97 must be 1."""
    s = re.sub(r"\s", "", value).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", s):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def pesel(value: str) -> bool:
    """Polish national id: 11 digits, weighted checksum, a plausible birth date."""
    d = [int(c) for c in _DIGITS.sub("", value)]
    if len(d) != 11:
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    if (10 - sum(w * x for w, x in zip(weights, d, strict=False)) % 10) % 10 != d[10]:
        return False
    month = (d[2] * 10 + d[3]) % 20
    day = d[4] * 10 + d[5]
    return 1 <= month <= 12 and 1 <= day <= 31


def nip(value: str) -> bool:
    """Polish tax id: 10 digits, weighted checksum mod 11."""
    d = [int(c) for c in _DIGITS.sub("", value)]
    if len(d) != 10 or len(set(d)) == 1:
        return False
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    check = sum(w * x for w, x in zip(weights, d, strict=False)) % 11
    return check != 10 and check == d[9]


_WORDISH = re.compile(r"[A-Za-ząćęłńóśźżĄĆĘŁŃÓŚŹŻ]+")


_SLUG = re.compile(r"[a-z]+(?:[-_.][a-z]+)+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CODE_REFERENCE = re.compile(
    r"[A-Za-z_][\w.]*\(|[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$|.*\$\{|\{\{|%\(|<[A-Za-z_]"
)


def secretish(value: str) -> bool:
    """An assigned value that looks like a credential, not a word of prose or a code reference.

    ``password: hunter2!`` or ``token = 9f8e...`` yes; ``password: reset``,
    ``token = get_token()``, ``password = DB_PASSWORD`` or ``${SECRET}`` no.
    """
    v = value.strip("'\"`")
    if len(v) < 6 or v.lower() in {
        "null",
        "none",
        "changeme",
        "password",
        "secret",
        "example",
        "redacted",
    }:
        return False
    if v.startswith(("$", "os.environ", "process.env", "env.", "[")) or _CODE_REFERENCE.match(v):
        return False  # a reference to a secret, not the secret
    has_digit = any(c.isdigit() for c in v)
    has_letter = any(c.isalpha() for c in v)
    if _IDENTIFIER.fullmatch(v):
        mixed_case = v != v.lower() and v != v.upper() and not v.istitle()
        return (has_digit and has_letter) or (len(v) >= 12 and mixed_case)
    if _WORDISH.fullmatch(v) or _SLUG.fullmatch(v):
        return False
    return has_digit or any(not c.isalnum() for c in v)


def phone(value: str) -> bool:
    digits = _DIGITS.sub("", value)
    return 9 <= len(digits) <= 15


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "luhn": luhn,
    "iban": iban,
    "pesel": pesel,
    "nip": nip,
    "secretish": secretish,
    "phone": phone,
}
