"""Bytes to text, text to chunks, and the masks that turn log lines into templates.

Every pattern here is linear on adversarial input: a run that a quantifier repeats
can only start where the run starts (a look-behind forbids starting inside it), and
no repeated group contains another repetition.
"""

from __future__ import annotations

import re

from .model import count_tokens

MAX_LINE_CHARS = 1000  # longer lines are cut before any pattern sees them


def decode(data: bytes) -> tuple[str, bool]:
    """UTF-8 text of ``data``; if it is not UTF-8, decoded with replacement (then True)."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), True


def _split_long(line: str, max_chars: int) -> list[str]:
    return [line[i : i + max_chars] for i in range(0, len(line), max_chars)] or [""]


def chunk(text: str, max_tokens: int) -> list[str]:
    """``text`` in consecutive line-aligned chunks of at most ``max_tokens`` tokens each.

    A single line longer than the limit is cut into pieces; joining the chunks with
    newlines gives the text back.
    """
    max_tokens = max(1, max_tokens)
    max_chars = max(1, max_tokens * 4 // 2)  # a piece of a long line, safe for non-ASCII too
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for line in text.split("\n"):
        pieces = [line] if count_tokens(line) < max_tokens else _split_long(line, max_chars)
        for piece in pieces:
            cost = count_tokens(piece) + 1
            if current and used + cost > max_tokens:
                chunks.append("\n".join(current))
                current, used = [], 0
            current.append(piece)
            used += cost
    if current and (len(current) > 1 or current[0]):
        chunks.append("\n".join(current))
    return chunks


# One pass of masks over a log message: the variable parts become placeholders so that
# lines differing only in ids, numbers, addresses and durations share a template.
_MASK = re.compile(
    r"(?P<uuid>(?<![0-9A-Fa-f-])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f]))"
    r"|(?P<ip>(?<![\w.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?(?![\w.]))"
    r"|(?P<hex>(?<!\w)0[xX][0-9A-Fa-f]{1,64}(?![0-9A-Za-z]))"
    r"|(?P<dur>(?<![\w.])\d{1,12}(?:\.\d{1,9})?(?:ms|us|µs|ns|s|m|h)(?!\w))"
    r"|(?P<num>(?<![\w.])[-+]?\d{1,30}(?:\.\d{1,30})?(?![\w.]))"
    r"|(?P<id>(?<![\w-])[0-9A-Za-z]{0,40}\d[0-9A-Za-z]{0,40}(?![\w-]))"
)
_MASK_NAMES = {
    "uuid": "<UUID>",
    "ip": "<IP>",
    "hex": "<HEX>",
    "dur": "<DUR>",
    "num": "<NUM>",
    "id": "<ID>",
}


def _placeholder(m: re.Match[str]) -> str:
    group = m.lastgroup or "id"
    if group == "id" and len(m.group()) < 6:
        return m.group()  # "utf8", "http2", "v1": words, not ids
    return _MASK_NAMES[group]


def mask(message: str) -> str:
    """``message`` with uuids, IPs, hex, durations, numbers and digit-bearing ids masked."""
    return _MASK.sub(_placeholder, message[:MAX_LINE_CHARS])


_SPACES = re.compile(r"\s+")
_PLACEHOLDER = re.compile(r"<(?:UUID|IP|HEX|DUR|NUM|ID|\*)>")


def normalise(summary: str) -> str:
    """The key two summaries share when they say the same thing (for merging)."""
    masked = _PLACEHOLDER.sub("<*>", mask(summary.strip()))
    return _SPACES.sub(" ", masked).lower()
