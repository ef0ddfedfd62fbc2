"""Is a value a credential, or a word, a code reference, a placeholder? Used by the validators.

The generic rules (``password = ...``, ``hasło to ...``, ``--token ...``) find a
key and a value; these functions decide on the value: its entropy and character
mix, and whether it is a placeholder (``<password>``, ``${VAR}``, ``changeme``),
a code expression (``auth[1]``, ``settings.token``, ``get_token()``), a path, a
URL, a version or a plain word.
"""

from __future__ import annotations

import functools
import math
import re
import urllib.parse
from collections import Counter

_PLACEHOLDER_WORDS = {
    "null", "none", "nil", "undefined", "true", "false", "yes", "no", "empty", "blank",
    "changeme", "changeit", "change_me", "change-me", "replaceme", "replace_me", "replace-me",
    "password", "passwd", "secret", "token", "apikey", "api_key", "api-key", "key",
    "example", "sample", "dummy", "placeholder", "redacted", "hidden", "masked", "removed",
    "required", "optional", "default", "string", "str", "todo", "tbd", "fixme", "notset",
    "hasło", "haslo", "sekret", "tajne", "pass", "pw", "pwd", "user", "username", "login",
    "foo", "bar", "baz", "qux", "test", "testing", "secret123", "password123",
}  # fmt: skip
# substrings that mark a placeholder wherever they are (checked on the lowercase value)
_PLACEHOLDER_SUBSTRINGS = (
    "your", "example", "placeholder", "changeme", "change_me", "change-me", "replaceme",
    "replace_me", "replace-me", "dummy", "insert", "redacted", "<", ">", "${", "{{", "}}", "%(",
    "...", "…", "xxxx", "***", "####",
)  # fmt: skip
_PLACEHOLDER_START = re.compile(
    r"\$[A-Za-z_]|!\w|env[:.(/]|os\.environ|(?:os\.)?getenv|process\.env"
    r"|my[_\-]?(?:secret|password|token|key)|(?:password|passwd|secret|test)[0-9]{0,3}$",
    re.IGNORECASE,
)
_PLACEHOLDER_WHOLE = re.compile(
    r"%[sd]|\{\w*\}|:\w+|\?|@\w+"
    r"|(?:sk|pk|rk|ghp|gho|ghs|glpat|xox[abp]|hf|gsk|AKIA)[-_][A-Za-z0-9]{0,6}"  # sk-123, sk-xxx
)
# an interpolation anywhere: f"Bearer {token}", "%(password)s", "$PASS", "{0}"
_TEMPLATE = re.compile(r"\{[A-Za-z_0-9][^{}\s]{0,60}\}|%\(\w{1,40}\)[sd]|%[sd]\b|\$[A-Za-z_{]")
# a call or a subscript: get_auth_from_url(proxies[scheme, settings.SECRETS["db"]
_LONG_RUN = re.compile(r"[a-z]{21}")
_VOWEL = re.compile(r"[aeiouyAEIOUYąęóĄĘÓ]")
_URL_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_NUMBER = re.compile(r"[+-]?[0-9]{0,30}(?:\.[0-9]{1,30})?(?:[eE][+-]?[0-9]{1,4})?")
_CODE_CALL = re.compile(r"[A-Za-z_][\w.]{0,80}[(\[]")
_CODE_EXPRESSION = re.compile(
    r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+|(?:self|this|cls|settings|config|conf|env|os)\b.*"
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORDS = re.compile(
    r"[A-Za-ząćęłńóśźżĄĆĘŁŃÓŚŹŻ]{1,20}(?:[ _\-.'][A-Za-ząćęłńóśźżĄĆĘŁŃÓŚŹŻ]{1,20})*"
)
_CAMEL_PARTS = re.compile(r"[A-Z]?[a-z]{1,20}|[A-Z]{1,20}(?![a-z])|\d+")
_VERSION = re.compile(
    r"[vV]?\d{1,6}+(?:[._]\d{1,6}+){1,5}+(?:[-.+]?+[A-Za-z]{1,20}+\d{0,6}+){0,3}+"
    r"|\d{1,6}+(?:\.\d{1,6}+){0,4}+[a-z]{1,5}+\d{0,6}+"
)
_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}.*)?|\d{1,2}:\d{2}(?::\d{2})?|\d{1,2}[./]\d{1,2}[./]\d{2,4}"
)
_TECH_TERM = re.compile(
    r"(?:sha|md|hs|rs|es|ps|aes|base|utf|ucs|oauth|http|https|ipv|argon|pbkdf|x|tls|ssl|v|py"
    r"|python|ec|ed|s|k|i|l|win|arm|amd|x86_|int|uint|float|bcrypt|scrypt|crc|adler|blake"
    r"|ripemd|curve|p|secp|ssh|rsa|dsa|ecdsa|gpt|claude|llama|qwen|h|mp|vp|av|ogg|web)"
    r"[_\-]?\d+[a-z]{0,3}(?:[_\-]?\d+)?",
    re.IGNORECASE,
)
_UNIT = re.compile(r"\d+(?:\.\d+)?(?:ms|s|m|h|d|w|px|em|rem|pt|kb|mb|gb|tb|k|x|%|st|nd|rd|th)")
_STRONG_SYMBOL = set("!@#$%^&*+=?~|<>;")


def entropy(value: str) -> float:
    """Shannon entropy in bits per character (of the first 1024 characters)."""
    value = value[:1024]
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


# two or more of these words (and a number): "secret_key_123", "my-api-key", "testpassword1"
_PLACEHOLDER_COMPOUND = re.compile(
    r"(?:(?:my|your|the|test|demo|example|sample|dummy|fake|super|secret|key|api|password|pass"
    r"|pwd|token|auth|access|private|default|admin|user|some|another|new|old)[_\-.]?){2,6}[0-9]{0,4}",
    re.IGNORECASE,
)


def is_placeholder(value: str) -> bool:
    v = value.strip("'\"`")[:1024]
    low = v.lower()
    if low in _PLACEHOLDER_WORDS or len(set(low)) <= 2 or _PLACEHOLDER_COMPOUND.fullmatch(v):
        return True
    if any(p in low for p in _PLACEHOLDER_SUBSTRINGS) or _TEMPLATE.search(v):
        return True
    return bool(_PLACEHOLDER_START.match(v) or _PLACEHOLDER_WHOLE.fullmatch(v))


def is_code_expression(value: str, following: str = "") -> bool:
    """An unquoted value that is code: ``auth[1]``, ``settings.token``, ``get_token()``, ``DB_PASSWORD``."""
    if following[:1] in ("(", "[", ".") or value[:1] in "([{!&*@$-":
        return True
    if _CODE_EXPRESSION.fullmatch(value):
        return True
    if _IDENTIFIER.fullmatch(value):
        return is_snake_identifier(value) or is_wordish(value)
    return False


_SNAKE_PART = re.compile(r"[A-Za-z]+[0-9]{0,3}")


def is_snake_identifier(value: str) -> bool:
    """``user_password``, ``DB_PASSWORD``, ``OneLogin_Saml2_Auth``, ``key_b64``: a name in code."""
    parts = [p for p in value.split("_") if p]
    return len(parts) > 1 and all(_SNAKE_PART.fullmatch(p) for p in parts)


def is_wordish(value: str) -> bool:
    """Words or camelCase/snake_case made of words (``HTTPBasicAuth``, ``db-credentials``)."""
    value = value[:1024]
    if _WORDS.fullmatch(value):
        return True
    parts = _CAMEL_PARTS.findall(value)
    if "".join(parts) != re.sub(r"[_\-.]", "", value):
        return False
    if not parts or any(p.isdigit() for p in parts):
        return False
    wordlike = sum(
        bool(len(p) >= 2 and _VOWEL.search(p) or len(p) <= 5 and p.isupper()) for p in parts
    )
    if wordlike == len(parts):
        return not _LONG_RUN.search(value)
    # a longer camelCase name, all parts but one words: McpOauthTokenEndpointAuth
    return len(parts) >= 4 and wordlike == len(parts) - 1 and value.isalpha()


_SLUG_SPLIT = re.compile(r"[-_.]")
_SHORT_TECH = re.compile(r"(?=[0-9]{0,3}[A-Za-z])[A-Za-z0-9]{1,4}")  # m2m, k8s, v2, s3; not 2024


def is_slug(value: str) -> bool:
    """Words joined by ``-``/``_``/``.`` with at most one short technical part: ``m2m-client-credentials``."""
    parts = [p for p in _SLUG_SPLIT.split(value) if p]
    if len(parts) < 2:
        return False
    words = [p for p in parts if len(p) >= 4 and p.isalpha() and is_wordish(p)]
    others = [p for p in parts if p not in words]
    return (
        bool(words)
        and len(others) <= 1
        and all(_SHORT_TECH.fullmatch(p) or is_wordish(p) for p in others)
    )


def is_phrase(value: str) -> bool:
    """Words with spaces (``see vault``, ``Credentials | None``): prose or a type, not a secret."""
    parts = value.split()
    return len(parts) > 1 and any(len(p) >= 3 and is_wordish(p) for p in parts)


def is_path_or_url(value: str) -> bool:
    value = value[:1024]
    if "://" in value or value.startswith(("/", "./", "../", "~/", "\\\\")):
        return True
    if re.match(r"[A-Za-z]:[\\/]", value):
        return True
    return "/" in value and all(_WORDS.fullmatch(p) or not p for p in re.split(r"[/.]", value))


# a slug with a date or a version: "token-counting-2024-11-01", "gpt-4o-mini-2024-07-18"
_SLUG_DATED = re.compile(
    r"[A-Za-z]{1,20}+(?:[-_.][A-Za-z0-9]{1,20}+){0,8}+[-_.@](?:[0-9]{4}[-_.]?[0-9]{2}[-_.]?[0-9]{2}"
    r"|[0-9]{8}|v?[0-9]{1,4}(?:\.[0-9]{1,4}){0,3})"
)


def is_boring(value: str) -> bool:
    """A version, a date or time, a number with a unit, a well-known technical term."""
    return len(value) <= 64 and bool(
        _SLUG_DATED.fullmatch(value)
        or _VERSION.fullmatch(value)
        or _DATE.fullmatch(value)
        or _TECH_TERM.fullmatch(value)
        or _UNIT.fullmatch(value.lower())
    )


@functools.lru_cache(maxsize=4096)
def looks_secret(value: str, *, strong: bool = True) -> bool:
    """A value that has a credential's shape: mixed characters, enough entropy, not a word.

    ``strong``: the context says plainly that this is a password or secret (the key is
    ``password``, ``secret``, ``api_key``...); otherwise (``token``, ``auth``) the value
    must look random on its own.
    """
    v = value.strip()
    if "%" in v and _URL_ESCAPE.search(v) and " " in urllib.parse.unquote(v):
        v = urllib.parse.unquote(v)  # "Basic%20" is "Basic "
    if len(v) < (6 if strong else 8) or is_placeholder(v) or is_path_or_url(v) or is_boring(v):
        return False
    if is_slug(v):
        return False
    if "@" in v and re.fullmatch(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+", v):
        return False  # an e-mail address: the e-mail rule's business
    if is_wordish(v) or is_phrase(v) or _CODE_CALL.match(v) or is_snake_identifier(v):
        return False
    if _NUMBER.fullmatch(v):
        return False
    digits = sum(c.isdigit() for c in v)
    letters = sum(c.isalpha() for c in v)
    symbols = sum(c in _STRONG_SYMBOL for c in v)
    h = entropy(v)
    if digits == len(v):
        return strong and len(v) >= 10 and h >= 2.5
    if len(v) >= 20 and h >= 3.5:
        return True
    if not strong and len(v) < 12 and h < 3.0:
        return False
    if digits and letters:
        return True
    if symbols and letters:
        return True
    upper = sum(c.isupper() for c in v)
    return upper > 1 and upper < letters and h >= 3.0
