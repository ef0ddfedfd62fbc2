"""Extractors: a rule's match and the text around it in, the spans to redact out (none to reject).

Referenced by name from ``sensitive.yaml`` (``validator: assignment``). Each one
does a bounded amount of work per match (it looks at most a line or a few dozen
characters around it), so a rule stays linear in the size of the text.
"""

from __future__ import annotations

import bisect
import functools
import re
import urllib.parse
from collections.abc import Callable

from .heuristics import is_code_expression, is_placeholder, is_wordish, looks_secret
from .scan import Scan
from .validators import VALIDATORS, nip, phone
from .validators import not_placeholder as _not_placeholder

Span = tuple[int, int]
Extractor = Callable[[re.Match[str], Scan], list[Span]]

_KEY_SPLIT = re.compile(r"[_\-.\s$\[\]'\"`]+|(?<=[a-ząćęłńóśźż0-9])(?=[A-ZĄĆĘŁŃÓŚŹŻ])")
_STRONG = {
    "password", "passwd", "pass", "pwd", "pw", "passphrase", "passcode", "secret", "hasło", "haslo",
    "hasła", "hasla", "credentials", "credential", "creds", "apikey", "secretkey", "privatekey",
    "accesskey", "accountkey", "masterkey", "sharedkey", "authkey", "clientsecret", "appsecret",
    "sharedaccesskey", "sessionkey", "signingkey", "encryptionkey",
}  # fmt: skip
_WEAK = {"token", "auth", "authorization", "sig", "signature", "dsn", "bearer", "sas"}
_KEY_PREFIX = {
    "api", "access", "secret", "private", "signing", "sign", "encryption", "encrypt", "master",
    "account", "client", "app", "application", "auth", "license", "licence", "webhook",
    "service", "admin", "root", "shared", "storage", "session", "deploy", "bot", "subscription",
    "consumer", "ingest", "server", "sdk", "write", "read", "partner", "merchant", "hmac", "jwt",
    "aes", "crypto", "cipher", "wallet", "personal", "user", "db", "database", "stripe",
    "openai", "anthropic", "sendgrid", "mailgun", "twilio", "datadog", "dd", "azure", "aws",
    "gcp", "google", "maps", "firebase", "algolia", "pusher", "mapbox", "x", "cloudflare",
}  # fmt: skip
# a part anywhere in the name that makes it a count, a price or a limit, not a secret
_NOT_SECRET_PART = {
    "per", "max", "min", "num", "count", "cost", "price", "limit", "len", "size", "next", "page",
    "continuation", "pagination", "cursor", "sync", "marker", "offset", "usage", "budget",
}  # fmt: skip
_NOT_SECRET_LAST = {
    "name", "names", "id", "ids", "type", "types", "kind", "file", "files", "path", "paths",
    "dir", "url", "uri", "urls", "endpoint", "host", "field", "fields", "length", "len", "size",
    "count", "min", "max", "policy", "hash", "hashed", "expiry", "expires", "expiration", "ttl",
    "timeout", "age", "prefix", "suffix", "header", "headers", "param", "params", "label", "env",
    "var", "variable", "format", "mode", "method", "algorithm", "alg", "scheme", "strategy",
    "provider", "class", "store", "manager", "required", "enabled", "visible", "hint", "prompt",
    "message", "msg", "error", "errors", "regex", "pattern", "rule", "validator", "input",
    "form", "reset", "changed", "updated", "created", "at", "date", "time", "version", "index",
    "offset", "limit", "location", "source", "ref", "handler", "callback", "fn", "func",
    "function", "widget", "button", "text", "title", "description", "help", "template",
    "schema", "column", "table", "bytes", "bits", "budget", "usage", "used", "left", "cost",
    "price", "rate", "ratio", "level", "flag", "option", "options", "config", "settings",
    "backend", "cache", "list", "map", "dict", "set", "attr", "attribute", "property", "key",
    "keys", "secrets", "tokens", "response", "request", "classes", "placeholder",
    "tokenizer", "stdin", "encoding", "lifetime", "duration", "interval", "window", "mask",
    "masked", "display", "example", "sample", "check", "valid", "validation", "strength",
    "complexity", "length_min", "rotation", "rotate", "update", "storage", "vault",
}  # fmt: skip
# an unquoted value followed by more words: a description ("credentials: Base64-encoded
# credentials of ..."), not a value
_PROSE_AFTER = re.compile(r" {1,3}[A-Za-ząćęłńóśźż]{2,20} {1,3}[A-Za-ząćęłńóśźż(]")
_DOC_LINE = re.compile(r"(?:[:@](?:param|type|arg|raises?|returns?|ivar|cvar|var)\b)[^\n]{0,40}$")


def value_span(m: re.Match[str]) -> Span:
    """The ``value`` group, else the whole match, extended back over any ``pre*`` group.

    A ``pre`` group captured inside a lookbehind lets a pattern start at a literal
    (fast to find) while its span starts before it: ``k_(?<=(?P<pre>[rsp])k_)...``.
    """
    if "value" in m.re.groupindex and m.start("value") >= 0:
        return m.span("value")
    start, end = m.span()
    for name in _pre_groups(m.re):
        if 0 <= m.start(name) < start:
            start = m.start(name)
    return start, end


@functools.lru_cache(maxsize=512)
def _pre_groups(pattern: re.Pattern[str]) -> tuple[str, ...]:
    return tuple(n for n in pattern.groupindex if n.startswith("pre"))


def from_value_check(check: Callable[[str], bool]) -> Extractor:
    def extract(m: re.Match[str], scan: Scan) -> list[Span]:
        s, e = value_span(m)
        return [(s, e)] if s < e and check(scan.text[s:e]) else []

    return extract


def _token_start(text: str, pos: int, limit: int = 64) -> int:
    i, lo = pos, max(0, pos - limit)
    while i > lo and (text[i - 1].isalnum() or text[i - 1] in "_.-$"):
        i -= 1
    return i


def _line_start(text: str, pos: int, limit: int) -> int:
    """Where the line holding ``pos`` starts, looking back at most ``limit`` characters."""
    lo = max(0, pos - limit)
    nl = text.rfind("\n", lo, pos)
    return nl + 1 if nl >= 0 else lo


@functools.lru_cache(maxsize=4096)
def key_strength(key: str) -> int:
    """0: not a secret's name; 1: a token's (``token``, ``auth``); 2: a password's or secret's."""
    parts = [p.lower() for p in _KEY_SPLIT.split(key) if p]
    if (
        not parts
        or parts[-1] in _NOT_SECRET_LAST
        and not (parts[-1] == "key" and len(parts) > 1 and parts[-2] in _KEY_PREFIX)
    ):
        return 0
    if any(p in _NOT_SECRET_PART for p in parts):
        return 0
    if any(p in _STRONG for p in parts) or "".join(parts[-2:]) in _STRONG:
        return 2
    if any(p == "key" and i and parts[i - 1] in _KEY_PREFIX for i, p in enumerate(parts)):
        return 2
    return 1 if any(p in _WEAK for p in parts) else 0


_PREV_WORD = re.compile(r"([A-Za-z]{1,20}) \Z")


def _spaced_key(text: str, start: int, m: re.Match[str]) -> int:
    """ "API key: ...", "Secret key: ...": a key named in two words."""
    if text[start : m.end("rest")].lower() not in ("key", "token"):
        return 0
    prev = _PREV_WORD.search(text, max(0, start - 21), start)
    return 2 if prev and prev.group(1).lower() in _KEY_PREFIX else 0


def assignment(m: re.Match[str], scan: Scan) -> list[Span]:
    """``password = "..."``, ``API_KEY=...``, ``secret: ...``: by the key's name and the value's look."""
    text = scan.text
    start = _token_start(text, m.start())
    if _DOC_LINE.search(text, _line_start(text, start, 120), start):
        return []  # ":param auth: (optional)" documents a parameter
    strength = key_strength(text[start : m.end("rest")]) or _spaced_key(text, start, m)
    if not strength or m.group("sep") == ">" and text[start - 1 : start] != "<":
        return []  # ">" only closes an XML tag: <password>...</password>
    vs, ve = m.span("value")
    value = text[vs:ve]
    if m.group("q") is None:
        value = value.rstrip(".:\\")
        if is_code_expression(value, text[ve : ve + 1]) or _PROSE_AFTER.match(text, ve):
            return []
    else:
        value = value.rstrip("\\")
        if value[:1].isspace() or value[-1:].isspace() or value.startswith("-"):
            return []  # " --username=" + auth: a piece of a string being built
    if value == text[start : m.end("rest")]:
        return []  # key=key, "name": "name"
    return [(vs, vs + len(value))] if looks_secret(value, strong=strength == 2) else []


_TRAILING = ".,;:!?)]}”\"'`"


def prose_secret(m: re.Match[str], scan: Scan) -> list[Span]:
    """``the password is X``, ``hasło do bazy: X``, ``użyj hasła X``: the stated value."""
    text = scan.text
    if m.start() and (text[m.start() - 1].isalnum() or text[m.start() - 1] in "_$/.-"):
        return []  # inside a word or a path: "bypassword", "$PWD", "/bin/pwd"
    vs, ve = m.span("value")
    value = text[vs:ve]
    while value and value[-1] in _TRAILING and not (value[-1] == "!" and len(value) > 1):
        value = value[:-1]
    if _DOTTED.fullmatch(value) or value[:1] in "([{" or "(" in value or not looks_secret(value):
        return []
    if m.group("direct") is not None and not any(c.isdigit() for c in value):
        return []  # "pwd X", "użyj hasła X": only a value with a digit is taken for a password
    return [(vs, vs + len(value))]


_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


_FLAG_SPLIT = re.compile(r"[-_]+")
_FLAG_KEYWORDS = {"password", "passwd", "pass", "pwd", "passphrase", "token", "secret", "apikey"}
_FLAG_SKIP = {"file", "stdin", "env", "path", "dir", "name", "id", "type", "url", "length", "cmd",
              "command", "helper", "prompt", "store", "auth", "policy", "reset", "source"}  # fmt: skip


def cli_secret_flag(m: re.Match[str], scan: Scan) -> list[Span]:
    """``--password X``, ``--token=X``, ``--api-key X`` (not ``--password-stdin``, ``--token-file``)."""
    parts = [p.lower() for p in _FLAG_SPLIT.split(m.group("flag")) if p]
    joined = ["".join(parts[i : i + 2]) for i in range(len(parts))]
    if not parts or parts[-1] in _FLAG_SKIP:
        return []
    if not any(p in _FLAG_KEYWORDS for p in parts + joined) and not (
        parts[-1] == "key" and len(parts) > 1 and parts[-2] in _KEY_PREFIX
    ):
        return []
    value = m.group("value")
    if len(value) < 4 or not _flag_value(value):
        return []
    return [m.span("value")]


def _flag_value(value: str) -> bool:
    v = value.strip("'\"")
    if is_placeholder(v) or re.fullmatch(r"[A-Z][A-Z0-9_]*|[a-z]+(?:[-_][a-z]+)*", v):
        return False  # --password PASSWORD (a metavar), --token secret-word
    return not v.startswith(("/", "./", "~/", "$", "%", "-")) and not v.isdigit()


def cli_user_password(m: re.Match[str], scan: Scan) -> list[Span]:
    """``curl -u user:pass``, ``--user user:pass``: the password after the colon."""
    user, value = m.group("user"), m.group("value")
    if user.isdigit() and value.isdigit():
        return []  # docker run -u 1000:1000
    return [m.span("value")] if _flag_value(value) else []


_P_CONTEXT = re.compile(
    r"\b(?:mysql\w*|mariadb\w*|sshpass|login)\b|(?<![\w-])(?:--user(?:name)?|--login|-u)\b"
)


def cli_p_flag(m: re.Match[str], scan: Scan) -> list[Span]:
    """``mysql -pSECRET``, ``docker login -u me -p TOKEN``, ``sshpass -p X``: not ``mkdir -p``."""
    text = scan.text
    line = text[_line_start(text, m.start(), 300) : m.start()]
    value = m.group("value").strip("'\"")
    if not _P_CONTEXT.search(line):
        return []
    if m.group("space") is None and not re.search(r"\b(?:mysql\w*|mariadb\w*|sshpass)\b", line):
        return []
    if value.isdigit() or re.fullmatch(r"[\d.:]+(?:/\w+)?", value) or not _flag_value(value):
        return []  # -p 2222, -p 5432:5432
    return [m.span("value")]


_CREDENTIAL_SCHEME = re.compile(
    r"(?:https?|s?ftps?|ssh|git|postgres(?:ql)?|mysql|mariadb|mssql|sqlserver|oracle|mongodb"
    r"|redis|rediss|amqps?|mqtts?|smtps?|imaps?|pop3s?|ldaps?|wss?|clickhouse|cassandra|couchdb"
    r"|snowflake|db2|neo4j|nats|kafka|socks5h?)(?:\+[a-z0-9]+)*",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]{0,30})\Z")


def url_password(m: re.Match[str], scan: Scan) -> list[Span]:
    """``scheme://user:password@host``: not a placeholder, not ``user:user`` (a default).

    A plain word is taken for a password only after a scheme that carries credentials
    (``postgres://``, ``https://``...): in ``github://org:repo@sha`` it is a name.
    """
    user, value = m.group("user"), m.group("value")
    plain = urllib.parse.unquote(value)
    if value == user or "," in value or " " in plain or not _not_placeholder(plain):
        return []  # ...:a%20secret@ is a phrase in an example
    if is_wordish(plain):
        scheme = _SCHEME.search(scan.text, max(0, m.start() - 31), m.start())
        if not scheme or not _CREDENTIAL_SCHEME.fullmatch(scheme.group(1)):
            return []
    return [m.span("value")]


def email(m: re.Match[str], scan: Scan) -> list[Span]:
    """An e-mail address, but not at a reserved example domain (RFC 2606) or in a template."""
    s, e = m.span()
    value = m.group(0)
    if s and scan.text[s - 1] == ":" and "://" in scan.text[max(0, s - 130) : s]:
        return []  # smb://user:password@host: a URL's credentials (url_password), not an address
    lead = len(value) - len(value.lstrip("."))
    local, _, domain = value[lead:].partition("@")
    tld = domain.rsplit(".", 1)[-1].lower()
    if not local or not _TLD.fullmatch(tld) or local.endswith("."):
        return []
    d = domain.lower()
    if d in _RESERVED or d.endswith(_RESERVED_SUFFIXES) or _EXAMPLE_LOCAL.fullmatch(local):
        return []
    return [(s + lead, e)]


_TLD = re.compile(
    r"[a-z]{2}|com|org|net|edu|gov|mil|int|info|biz|name|pro|aero|coop|museum|mobi|asia|tel"
    r"|travel|jobs|app|dev|io|ai|cloud|online|site|tech|store|shop|email|xyz|top|club|live"
    r"|blog|design|agency|digital|network|systems|solutions|services|company|group|team|work"
    r"|studio|media|news|world|today|life|space|website|host|codes|software|zone|global|page"
    r"|link|one|eus|cat|gal|berlin|london|nyc|paris|tokyo|amsterdam|wien|swiss|microsoft|google"
)
_EXAMPLE_LOCAL = re.compile(
    r"(?i)user(?:name)?|name|someone|somebody|foo|bar|baz|test|example|(?:john|jane)[._]?doe"
    r"|first[._]?last|email|your[\w.+\-]*"
)
_RESERVED = {"example.com", "example.org", "example.net", "localhost", "test.com", "domain.com"}
_RESERVED_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".example.com",
                      ".example.org", ".example.net", ".local")  # fmt: skip


def phone_context(m: re.Match[str], scan: Scan) -> list[Span]:
    """A number after ``tel.``, ``phone``, ``call``, ``zadzwoń``...: the keyword is a word."""
    text = scan.text
    if m.start() and text[m.start() - 1].isalpha():
        return []  # hotel, intel
    kw_end = m.end("kw")
    if kw_end < len(text) and text[kw_end].isalpha():
        return []  # telemetry, callback
    s, e = m.span("value")
    value = text[s:e].rstrip(".-) ")
    return [(s, s + len(value))] if phone(value) and _phone_shaped(value) else []


def _phone_shaped(value: str) -> bool:
    if re.fullmatch(r"\d+", value):
        return 9 <= len(value) <= 12  # 601234567, 48601234567
    return not re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?", value)  # an IP address


def nip_context(m: re.Match[str], scan: Scan) -> list[Span]:
    """A bare 10-digit NIP right after ``NIP``, ``VAT``, ``tax id`` (checksum too)."""
    text = scan.text
    if m.start() and text[m.start() - 1].isalnum():
        return []  # snippet, private
    s, e = m.span("value")
    return [(s, e)] if nip(text[s:e]) else []


_K8S_ENTRY = re.compile(r"^[ \t]+[^:\s]+:[ \t]*(?P<v>\S[^\n]*)", re.MULTILINE)
# a data: entry: base64, maybe quoted
_K8S_B64 = re.compile(
    r"^[ \t]++[^:\s]++:[ \t]*+(?P<q>[\"']?+)(?P<v>[A-Za-z0-9+/]{4,}+={0,2}+)(?P=q)[ \t]*+\r?$",
    re.MULTILINE,
)


def k8s_secret(m: re.Match[str], scan: Scan) -> list[Span]:
    """The values of a ``data:`` / ``stringData:`` block of a manifest of ``kind: Secret``."""
    if not _in_secret_document(m.start(), scan):
        return []
    text, body_start, body_end = scan.text, m.start("body"), m.end("body")
    if m.group("block") == "data":
        return [
            e.span("v")
            for e in _K8S_B64.finditer(text, body_start, body_end)
            if not (e.end("v") - e.start("v")) % 4
        ]
    spans: list[Span] = []  # stringData: plain values
    for entry in _K8S_ENTRY.finditer(text, body_start, body_end):
        vs, ve = entry.span("v")
        while ve > vs and text[ve - 1] in " \t\r":
            ve -= 1
        if ve - vs > 1 and text[vs] in "'\"" and text[ve - 1] == text[vs]:
            vs, ve = vs + 1, ve - 1
        if not is_placeholder(text[vs:ve]):
            spans.append((vs, ve))
    return spans


# literal first (fast to find); whether each is at the start of its line is checked after
_DOC_SEP = re.compile(r"---")
_SECRET_KIND = re.compile(r"kind:[ \t]*[\"']?Secret[\"']?[ \t]*$", re.MULTILINE)


def _line_starts(text: str, pattern: re.Pattern[str], indent: bool) -> list[int]:
    out = []
    for m in pattern.finditer(text):
        p = m.start()
        lead = text[_line_start(text, p, 32) : p]
        if p == 0 or text[p - 1] == "\n" or indent and lead and not lead.strip(" \t"):
            out.append(p)
    return out


def _in_secret_document(pos: int, scan: Scan) -> bool:
    """Whether ``pos`` is in a YAML document (between ``---`` lines) that says ``kind: Secret``."""
    memo = scan.memo.get("k8s")
    if memo is None:
        seps = _line_starts(scan.text, _DOC_SEP, indent=False)
        kinds = _line_starts(scan.text, _SECRET_KIND, indent=True)
        memo = scan.memo["k8s"] = [seps, kinds, (0, -1, False)]
    seps, kinds, (last_lo, last_hi, last) = memo
    if last_lo <= pos < last_hi:
        return bool(last)
    i = bisect.bisect_right(seps, pos)
    lo = seps[i - 1] if i else 0
    hi = seps[i] if i < len(seps) else len(scan.text)
    j = bisect.bisect_left(kinds, lo)
    found = j < len(kinds) and kinds[j] < hi
    memo[2] = (lo, hi, found)
    return found


EXTRACTORS: dict[str, Extractor] = {
    "assignment": assignment,
    "prose_secret": prose_secret,
    "cli_secret_flag": cli_secret_flag,
    "cli_user_password": cli_user_password,
    "cli_p_flag": cli_p_flag,
    "email": email,
    "url_password": url_password,
    "phone_context": phone_context,
    "nip_context": nip_context,
    "k8s_secret": k8s_secret,
}


# How far before a match each extractor looks (None: further, e.g. the whole manifest).
# A rule's decision is then a function of that much text before the match and the
# match itself, so repeated identical candidates are decided once per text.
LOOKBACK: dict[str, int | None] = {
    "assignment": 200,
    "prose_secret": 2,
    "cli_secret_flag": 0,
    "cli_user_password": 0,
    "cli_p_flag": 320,
    "email": 130,
    "url_password": 32,
    "phone_context": 2,
    "nip_context": 2,
    "k8s_secret": None,
}


def lookback(name: str | None) -> int | None:
    return LOOKBACK.get(name, 0) if name else 0


def extractor(name: str | None) -> Extractor | None:
    """The extractor for a YAML ``validator:`` name (a value validator is wrapped as one)."""
    if name is None:
        return None
    if name in EXTRACTORS:
        return EXTRACTORS[name]
    return from_value_check(VALIDATORS[name])


def known(name: str) -> bool:
    return name in EXTRACTORS or name in VALIDATORS


__all__ = [
    "EXTRACTORS",
    "LOOKBACK",
    "Extractor",
    "Span",
    "extractor",
    "key_strength",
    "known",
    "lookback",
    "value_span",
]
