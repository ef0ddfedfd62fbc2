"""Validators for sensitive-data rules, referenced by name from YAML (never eval'd).

Two kinds. A *value validator* (``VALIDATORS``) gets the matched value and says
yes or no: checksums (``luhn``, ``iban``, ``pesel``, ``nip``), ``phone``,
``secretish``, ``keyish``... An *extractor* (``EXTRACTORS``, in ``extractors.py``)
gets the whole match and the text around it and returns the spans to redact
(none to reject): it can look at the key name before a value, the line a flag
is on, or the manifest a ``data:`` block belongs to.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from .heuristics import entropy, is_placeholder, is_snake_identifier, is_wordish, looks_secret

_DIGITS = re.compile(r"\D")


# Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners,
# UnionPay, Maestro): a 13-digit EAN code also passes Luhn, but has none of these.
_CARD_PREFIX = re.compile(
    r"4|5[1-5]|2[2-7]|3[47]|6011|64[4-9]|65|35|30[0-5]|36|38|62|50|5[6-8]|6[37]"
)


def luhn(value: str) -> bool:
    """Payment card numbers (13-19 digits) pass the Luhn checksum."""
    digits = _DIGITS.sub("", value)
    if not 13 <= len(digits) <= 19 or len(set(digits)) <= 2 or not _CARD_PREFIX.match(digits):
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
    if len(d) != 11 or len(set(d)) <= 2:
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
    if len(d) != 10 or len(set(d)) <= 2:
        return False
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    check = sum(w * x for w, x in zip(weights, d, strict=False)) % 11
    return check != 10 and check == d[9]


def secretish(value: str) -> bool:
    """An assigned value that looks like a credential, not a word of prose or a code reference.

    ``password: hunter2!`` or ``token = 9f8e...`` yes; ``password: reset``,
    ``token = get_token()``, ``password = DB_PASSWORD`` or ``${SECRET}`` no.
    """
    return looks_secret(value.strip("'\"`"))


def phone(value: str) -> bool:
    digits = _DIGITS.sub("", value)
    if not 9 <= len(digits) <= 15 or len(set(digits)) <= 2:
        return False
    if value.lstrip().startswith("+1") and digits[4:7] == "555" and len(digits) == 11:
        return False  # +1 xxx 555-01xx: reserved for fiction and documentation
    if re.fullmatch(r"\+?\d+\.\d{1,3}", value.strip()):
        return False  # +35236450.6: a signed decimal
    if digits in "01234567890123456789" or digits in "98765432109876543210":
        return False  # a run of consecutive digits, not a number anyone has
    return not re.match(r"\+?\d{4}[-./]\d{1,2}[-./]\d{1,2}", value)  # a date, not a number


def keyish(value: str) -> bool:
    """A token, not a slug of words (``sk-learn-compatible-api``) or a placeholder."""
    return not is_placeholder(value) and not is_wordish(value)


def bearer(value: str) -> bool:
    """A bearer token: not a name (``resource_metadata=``) and random-looking."""
    v = value.rstrip("=")
    if is_placeholder(v) or is_wordish(v) or is_snake_identifier(v) or "/" in v and "." in v[:3]:
        return False
    return any(c.isdigit() for c in v) or (len(v) >= 20 and entropy(v) >= 3.5)


def mixed_token(value: str) -> bool:
    """Upper case, lower case and digits: a random base62 token, not a hex hash or a word."""
    return (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
        and entropy(value) >= 3.5
    )


def basic_credentials(value: str) -> bool:
    """``Authorization: Basic ...``: base64 of ``user:password``."""
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return ":" in decoded and decoded.isprintable() and not is_placeholder(decoded)


def not_placeholder(value: str) -> bool:
    """Any value but a placeholder (``<password>``, ``${PASS}``, ``PASSWORD``, ``xxx``)."""
    v = value.strip("'\"`")
    return bool(v) and not is_placeholder(v) and not re.fullmatch(r"[A-Z][A-Z0-9_]*", v)


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "luhn": luhn,
    "iban": iban,
    "pesel": pesel,
    "nip": nip,
    "secretish": secretish,
    "phone": phone,
    "keyish": keyish,
    "bearer": bearer,
    "mixed_token": mixed_token,
    "basic_credentials": basic_credentials,
    "not_placeholder": not_placeholder,
}
