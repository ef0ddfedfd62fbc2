"""What a piece of material is (log, trace, diff, code, document), and where a paste starts.

Line patterns are anchored at the start and bounded, so each line costs at most a
few hundred steps whatever it holds; callers look at a line's first 300 characters.
"""

from __future__ import annotations

import re

HEAD = 300  # characters of a line the predicates look at

_TS = (
    r"(?:\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}"
    r"|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2}"
    r"|[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d"
    r"|\d{2}:\d{2}:\d{2}[.,]\d)"
)
_LEVEL_WORD = r"(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|SEVERE|PANIC)"
_PREFIX = r"(?:\[[^\]\s]{1,300}\] {1,4})?"  # kubectl logs --prefix: "[pod/name/container] "
_LOG_LINE = re.compile(
    rf"^{_PREFIX}(?:\[?{_TS}"
    rf"|\[?{_LEVEL_WORD}\b"
    r"|\{\s{0,4}\""
    r"|\S{1,100} \S{1,100} \S{1,100} \[\d{2}/[A-Z][a-z]{2}/\d{4}:"  # access log
    r"|(?:level|lvl|ts|time|t)=\S"
    r"|\d{1,4}[smhd] {1,20}(?:Normal|Warning) "
    r"|[^\s:]{1,300}::\S{1,300} (?:PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)\b"
    r"|(?:PASSED|FAILED|ERROR) [^\s:]{1,300}::"
    r"|(?:\+ |\$ |#\d{1,6} |Step \d|Collecting |Downloading |Installing |Requirement ))"
)
_TRACE_LINE = re.compile(
    r"^(?:Traceback \(most recent call last\):"
    r"|\s{1,16}File \"[^\"]{1,500}\", line \d"
    r"|\s{1,16}at \S"
    r"|\s{0,16}Caused by: "
    r"|\s{1,16}\.\.\. \d{1,9} more"
    r"|During handling of the above exception"
    r"|The above exception was the direct cause"
    r"|Exception in thread \""
    r"|[\w$.]{0,300}(?:Error|Exception|Exit|Interrupt|Warning)(?::|$))"
)
_FRAME_FILE = re.compile(r"^\s{1,16}File \"")
_TRACE_START = re.compile(
    r"^(?:Traceback \(most recent call last\):|Exception in thread \""
    r"|[a-z][\w$]{0,60}(?:\.[\w$]{1,60}){1,12}(?:Error|Exception)(?::|$)"
    r"|[A-Z][\w$]{0,60}(?:Error|Exception): )"
)
_DIFF_HEAD = re.compile(r"^(?:diff --git |--- \S|\+\+\+ \S|@@ -\d|index [0-9a-f]{4})")
_CODE_LINE = re.compile(
    r"^\s{0,40}(?:def |class |import |from [\w.]{1,200} import |func |fn |pub |public "
    r"|private |protected |package |#include|const |let |var |function |return\b"
    r"|if ?\(|for ?\(|while ?\(|\}|@\w|//|/\*)"
    r"|[;{}]\s{0,8}$|\):\s{0,8}$"
)
_BLANK = re.compile(r"^\s*$")
# `kubectl describe pod` output: no timestamps, but a log's worth of evidence.
_DESCRIBE = re.compile(
    r"^\s{0,12}(?:Last State|Restart Count|Exit Code|Reason|Events|Conditions|Containers"
    r"|Namespace|Node|Controlled By|QoS Class|Liveness|Readiness):\s"
)


def is_log_line(line: str) -> bool:
    return _LOG_LINE.match(line[:HEAD]) is not None


def is_trace_line(line: str) -> bool:
    return _TRACE_LINE.match(line[:HEAD]) is not None


def _trace_hits(lines: list[str]) -> list[bool]:
    """Trace lines, counting the source line printed under a Python frame."""
    out = []
    previous_frame = False
    for line in lines:
        hit = is_trace_line(line) or (previous_frame and line[:1] == " ")
        previous_frame = _FRAME_FILE.match(line[:HEAD]) is not None
        out.append(hit)
    return out


def _sample(text: str, limit: int = 400) -> list[str]:
    """Up to ``limit`` non-blank lines from the start of ``text``, each cut to ``HEAD``."""
    out: list[str] = []
    start = 0
    while len(out) < limit and start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start : min(end, start + HEAD)]
        if line.strip():
            out.append(line.rstrip("\r"))
        start = end + 1
    return out


def _is_diff(lines: list[str]) -> bool:
    heads = [line for line in lines[:60] if _DIFF_HEAD.match(line)]
    return any(h.startswith("@@ -") for h in heads) and any(
        h.startswith(("diff --git ", "--- ", "+++ ")) for h in heads
    )


def detect_kind(text: str) -> str:
    """ "log", "trace", "diff", "code" or "document", from the first few hundred lines."""
    lines = _sample(text)
    if not lines:
        return "document"
    if _is_diff(lines):
        return "diff"
    n = len(lines)
    logged = [is_log_line(line) for line in lines]
    logs = sum(logged)
    traces = sum(1 for t, g in zip(_trace_hits(lines), logged, strict=True) if t and not g)
    starts = any(_TRACE_START.match(line) for line in lines)
    if starts and traces >= 0.3 * n and logs < traces:
        return "trace"
    if logs >= 0.3 * n or sum(1 for line in lines if _DESCRIBE.match(line)) >= 5:
        return "log"
    if starts and traces >= 2:
        return "trace"
    if sum(1 for line in lines if _CODE_LINE.match(line)) >= 0.25 * n:
        return "code"
    return "document"


MIN_BLOCK_LINES = 30  # a pasted block shorter than this stays part of the question
MIN_DOCUMENT_CHARS = 8000  # a question, then prose at least this long: a pasted document
_FENCE = re.compile(r"^\s{0,3}(?:```|~~~)")


def _structured(lines: list[str]) -> list[bool]:
    diff = False
    out = []
    for line, traced in zip(lines, _trace_hits(lines), strict=True):
        head = line[:HEAD]
        if head.startswith("diff --git ") or (head.startswith("--- ") and not diff):
            diff = True
        hit = traced or is_log_line(head) or (diff and head[:1] in "+- @\\di")
        out.append(hit)
    return out


def _block_start(lines: list[str], hits: list[bool]) -> int | None:
    """The first line after which (nearly) everything is structured, if there is one."""
    n = len(lines)
    suffix_hits = [0] * (n + 1)
    suffix_text = [0] * (n + 1)
    for i in range(n - 1, -1, -1):
        blank = not lines[i].strip()
        suffix_hits[i] = suffix_hits[i + 1] + (1 if hits[i] else 0)
        suffix_text[i] = suffix_text[i + 1] + (0 if blank else 1)
    for i in range(_after_prose(lines, hits), n):
        if not hits[i] or suffix_hits[i] < MIN_BLOCK_LINES:
            continue
        if suffix_hits[i] >= 0.7 * suffix_text[i]:
            return i
    return None


def _is_prose(line: str, hit: bool) -> bool:
    """A line of someone writing: unstructured, not indented, a few words."""
    head = line[:HEAD]
    return not hit and head[:1] not in (" ", "\t", "") and head.count(" ") >= 2


def _after_prose(lines: list[str], hits: list[bool]) -> int:
    """Where the last run of three or more prose lines (before any later structure) ends.

    The block starts after it: prose between structured lines is the question going on,
    not part of the paste. A run after the last structured line is a trailing question.
    """
    after = 0
    run = 0
    last_hit = max((i for i, hit in enumerate(hits) if hit), default=-1)
    for i in range(last_hit):  # the lines before the last structured one
        line, hit = lines[i], hits[i]
        if _is_prose(line, hit):
            run += 1
            if run >= 3:
                after = i + 1
        elif hit or line.strip():
            run = 0
    return after


def _trailing_question(lines: list[str], hits: list[bool]) -> int:
    """Where prose after the block starts (a question asked after the paste), else len."""
    end = len(lines)
    while end > 0 and (_BLANK.match(lines[end - 1][:HEAD]) or _FENCE.match(lines[end - 1])):
        end -= 1
    i = end
    while i > 0 and not hits[i - 1] and end - i < 10:
        i -= 1
    if i == end or i == 0 or not hits[i - 1]:
        return len(lines)
    tail = "\n".join(lines[i:end])
    return i if len(tail) < 1000 and "?" in tail else len(lines)


def _strip_fences(block: str) -> str:
    lines = block.split("\n")
    while lines and (not lines[0].strip() or _FENCE.match(lines[0])):
        lines.pop(0)
    while lines and (not lines[-1].strip() or _FENCE.match(lines[-1])):
        lines.pop()
    return "\n".join(lines)


def _split_document(text: str) -> tuple[str, str | None]:
    head, sep, rest = text.partition("\n\n")
    question = head.strip()
    if (
        sep
        and len(text) >= MIN_DOCUMENT_CHARS
        and 0 < len(question) <= 600
        and question.endswith(("?", ":"))
        and len(rest) >= 10 * len(question)
    ):
        return question, rest.strip("\n")
    return text, None


def split_paste(text: str) -> tuple[str, str | None]:
    """A question followed by a pasted log/trace/diff/document -> (question, block).

    Anything else -> (text, None): an ordinary question, with or without a short code
    snippet, is never split. A short question written after the paste joins the question;
    a paste with no question at all gives ``("", block)``. Linear in the length of ``text``.
    """
    lines = text.split("\n")
    hits = _structured(lines)
    start = _block_start(lines, hits)
    if start is None:
        return _split_document(text)
    end = _trailing_question(lines, hits)
    before = _strip_fences("\n".join(lines[:start]).strip())
    after = _strip_fences("\n".join(lines[end:]).strip())
    question = f"{before}\n\n{after}" if before and after else before or after
    block = _strip_fences("\n".join(lines[start:end]))
    if not block:
        return text, None
    return question, block
