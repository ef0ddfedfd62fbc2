"""Logs: every line parsed (timestamp, level, pod/host), classified, and mined into templates.

Plain-text and JSON-lines logs. Lines that differ only in ids, numbers, addresses and
durations share a template (masking, then ``drain3``); each template is counted with
its first/last timestamp, where it came from and an example. Stack traces inside a
log are folded into exception findings; pytest/junit/go test failures are found by
test id. Every pattern is anchored or guarded against starting inside a run, and lines
are cut to ``MAX_LINE_CHARS`` first, so adversarial lines cost linear time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .classify import classify, test_failure
from .detect import is_log_line
from .merge import Tally
from .miner import MAX_TEMPLATES, Miner
from .model import SEVERITY, Finding, earlier, later, trim, ts_key
from .text import MAX_LINE_CHARS, mask
from .traces import trace_findings

MAX_JSON_CHARS = 100_000
MAX_TRACE_LINES = 2000
MINED_CHARS = 400  # of a message that template mining sees

_PREFIX = re.compile(r"^\[(?:pod/)?([^\]/\s]{1,253})/([^\]\s]{1,253})\] ?")
_TS = re.compile(
    r"^\[?("
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?"
    r"|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2}"
    r"|\d{2}:\d{2}:\d{2}[.,]\d{1,9}"
    r")\]?[ \t]{0,8}"
)
_CLF_TS = re.compile(r"\[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?)\]")
_SYSLOG_HOST = re.compile(r"^([\w.-]{1,253}) ([\w./-]{1,100})(?:\[\d{1,10}\])?: ")
_KLOG = re.compile(
    r"^([IWEF])(\d{4} \d{2}:\d{2}:\d{2}\.\d{1,9}) {1,12}\d{1,10} [\w.-]{1,200}:\d{1,7}\] "
)
_LEVEL = re.compile(
    r"(?<![\w.-])(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|SEVERE"
    r"|PANIC|ALERT|EMERG|Error|Warning|Info|Debug)(?![\w.-])"
    r"|\[(error|warn|warning|info|debug|notice|crit|alert|emerg)\]"
    r"|(?<![\w.])(?:level|lvl|severity)=\"?([A-Za-z]{1,10})"
)
_SOURCE_KV = re.compile(
    r"(?<![\w.])(?:pod|pod_name|host|hostname|container|node|instance)=\"?([\w.:/-]{1,253})"
)
_K8S_OBJECT = re.compile(r"(?<![\w/.-])(?:pod|node)/([\w.-]{1,253})")
_LEVELS = {
    "trace": "info",
    "debug": "info",
    "info": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "err": "error",
    "fatal": "error",
    "critical": "error",
    "crit": "error",
    "severe": "error",
    "panic": "error",
    "alert": "error",
    "emerg": "error",
    "i": "info",
    "w": "warning",
    "e": "error",
    "f": "error",
    "d": "info",
}
_PINO = {10: "info", 20: "info", 30: "info", 40: "warning", 50: "error", 60: "error"}
MESSAGE_KEYS = ("msg", "message", "log", "text", "event", "MESSAGE")
LEVEL_KEYS = ("level", "severity", "lvl", "levelname", "log.level", "loglevel", "PRIORITY")
TS_KEYS = ("ts", "time", "timestamp", "@timestamp", "t", "datetime", "date", "asctime")
SOURCE_KEYS = (
    "pod",
    "pod_name",
    "kubernetes.pod_name",
    "host",
    "hostname",
    "container",
    "container_name",
    "kubernetes.container_name",
    "node",
    "instance",
)
TRACE_KEYS = ("stack_trace", "stacktrace", "stack", "exc_info", "exception", "traceback", "error")
_SKIP_KEYS = frozenset(
    (
        *MESSAGE_KEYS,
        *LEVEL_KEYS,
        *TS_KEYS,
        *SOURCE_KEYS,
        "kubernetes",
        "stream",
        "caller",
        "logger",
    )
)


@dataclass
class Line:
    """One parsed log line."""

    message: str
    ts: str | None = None
    level: str | None = None  # "error" | "warning" | "info" | None
    sources: list[str] = field(default_factory=list)
    trace: str | None = None  # a stack trace carried in a JSON field


def _level(word: str | int | None) -> str | None:
    if isinstance(word, bool) or word is None:
        return None
    if isinstance(word, int | float):
        return _PINO.get(int(word) // 10 * 10)
    return _LEVELS.get(str(word).strip().lower()[:10])


def _get(obj: dict[str, Any], dotted: str) -> Any:
    value: Any = obj.get(dotted)
    if value is None and "." in dotted:
        value = obj
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, dict):
        value = value.get("name") or value.get("hostname")
    return value


def _from_json(obj: dict[str, Any]) -> Line:
    """Message, level, timestamp and sources from a JSON log object."""
    message = next((str(obj[k]) for k in MESSAGE_KEYS if isinstance(obj.get(k), str)), "")
    level = next((_level(_get(obj, k)) for k in LEVEL_KEYS if _get(obj, k) is not None), None)
    ts = next((str(_get(obj, k)) for k in TS_KEYS if _get(obj, k) is not None), None)
    kube_value = obj.get("kubernetes")
    kube: dict[str, Any] = kube_value if isinstance(kube_value, dict) else {}
    sources = [str(v) for k in SOURCE_KEYS if isinstance(v := _get(obj, k), str | int)]
    sources += [str(v) for k in ("pod_name", "pod", "host") if isinstance(v := _get(kube, k), str)]
    extras = [
        f"{k}={str(v)[:200]}"
        for k, v in list(obj.items())[:40]
        if k not in _SKIP_KEYS
        and isinstance(v, str | int | float | bool)
        and not (isinstance(v, str) and "\n" in v)  # a trace: read as one below
    ][:12]
    if "log" in obj and not any(k in obj for k in ("msg", "message")):
        inner = _plain(message.rstrip("\n"))  # docker json-file: the line is inside "log"
        inner.ts = ts or inner.ts
        inner.sources = sources + inner.sources
        return inner
    line = Line(" ".join([message, *extras]).strip(), ts, level, list(dict.fromkeys(sources)))
    line.trace = _trace_text(obj)
    return line


def _trace_text(obj: dict[str, Any]) -> str | None:
    """A multi-line stack trace in one of the usual fields (ECS's error.stack_trace too)."""
    for k in TRACE_KEYS:
        value = obj.get(k)
        if isinstance(value, dict):
            value = value.get("stack_trace") or value.get("stack")
        if isinstance(value, str) and "\n" in value:
            return value
    return None


def _plain(rest: str) -> Line:
    """Timestamp, syslog host, klog header and level of a plain-text line."""
    line = Line(rest)
    sources: list[str] = []
    ts = _TS.match(rest)
    if ts:
        line.ts = ts.group(1)
        rest = rest[ts.end() :]
        if line.ts[:1].isalpha() and (host := _SYSLOG_HOST.match(rest)):
            sources.append(host.group(1))
            rest = rest[host.end() :]
        if again := _TS.match(rest):  # kubectl --timestamps before the app's own timestamp
            rest = rest[again.end() :]
    elif "[" in rest[:80] and (clf := _CLF_TS.search(rest[:120])):
        line.ts = clf.group(1)  # an access log: client, then [26/Nov/2026:00:00:00 +0000]
    klog = _KLOG.match(rest)
    if klog:
        line.level = _level(klog.group(1))
        line.ts = line.ts or klog.group(2)
        rest = rest[klog.end() :]
    if line.level is None and (level := _LEVEL.search(rest[:100])):
        line.level = _level(level.group(1) or level.group(2) or level.group(3))
    sources += [
        value
        for m in _SOURCE_KV.finditer(rest)
        if (value := m.group(1).rstrip(":.,/")) and not value[0].isdigit()  # an address: a peer
    ]
    sources += [m.group(1) for m in _K8S_OBJECT.finditer(rest)]
    line.message = rest
    line.sources = sources
    return line


def parse_line(raw: str) -> Line:
    """A log line's message, timestamp, level and sources (kubectl prefix, fields, JSON keys)."""
    text = raw[:MAX_LINE_CHARS]
    prefix = _PREFIX.match(text)
    rest = text[prefix.end() :] if prefix else text
    line: Line | None = None
    if rest.startswith("{") and len(raw) <= MAX_JSON_CHARS:
        full = raw[prefix.end() :] if prefix else raw
        try:
            obj = json.loads(full)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            line = _from_json(obj)
    if line is None:
        line = _plain(rest)
    if prefix:
        line.sources.insert(0, f"{prefix.group(1)}/{prefix.group(2)}")
    return line


def body(raw: str) -> str:
    """A line without its kubectl prefix and leading timestamp: what continuation checks see."""
    text = raw[:MAX_LINE_CHARS]
    prefix = _PREFIX.match(text)
    if prefix:
        text = text[prefix.end() :]
    ts = _TS.match(text)
    if ts:
        end = ts.end(1)
        end += text[end : end + 1] == "]"
        end += text[end : end + 1] == " "  # the separator, not the indentation after it
        text = text[end:]
    return text


_CHAIN = re.compile(
    r"^\s{0,8}(?:Caused by: |Suppressed: |During handling of the above|The above exception was"
    r"|Traceback \(most recent call last\)|\.\.\. \d{1,9} (?:more|common))"
)
_REPEAT = re.compile(r"\(x(\d{1,7}) over [\w.]{1,20}\)")
_PY_TRACE = re.compile(r"^\s{0,8}Traceback \(most recent call last\):")
_JAVA_HEAD = re.compile(
    r'^(?:Exception in thread "[^"]{0,200}" |Uncaught )?(?:[A-Za-z_$][\w$.]{0,300})?'
    r"(?:Exception|Error|Throwable)(?::|$)"
)


@dataclass
class LogResult:
    findings: list[Finding]
    templates: int
    window: tuple[str | None, str | None]
    notes: list[str] = field(default_factory=list)


def _starts_trace(text: str, lines: list[str], i: int) -> bool:
    if _PY_TRACE.match(text):
        return True
    if "Exception" not in text and "Error" not in text and "Throwable" not in text:
        return False
    if i + 1 >= len(lines) or not _JAVA_HEAD.match(text[:400]):
        return False
    return body(lines[i + 1]).lstrip().startswith("at ")


def _trace_end(lines: list[str], i: int) -> int:
    """The index after the stack trace that starts at line ``i``."""
    python = _PY_TRACE.match(body(lines[i])) is not None
    previous_indented = False
    j = i + 1
    while j < len(lines) and j - i < MAX_TRACE_LINES:
        text = body(lines[j])
        if not text.strip():
            k = j + 1
            while k < len(lines) and k - j < 3 and not lines[k].strip():
                k += 1
            if k < len(lines) and _CHAIN.match(body(lines[k])):
                j = k
                continue
            break
        indented = text[:1] in (" ", "\t")
        if indented or _CHAIN.match(text):
            previous_indented = indented
            j += 1
            continue
        if python and previous_indented and not is_log_line(text):
            previous_indented = False  # the exception line that ends a Python traceback
            j += 1
            continue
        break
    return j


class _LogState:
    """Everything one log accumulates while its lines are read."""

    def __init__(self, material: str) -> None:
        self.material = material
        self.miner = Miner()
        self.traces = Tally()
        self.tests: dict[str, Finding] = {}
        self.details: dict[str, str] = {}  # pytest section -> first "E   " line
        self.section = ""
        self.records = 0
        self.long_lines = 0
        self.structured = False  # the record before had a timestamp
        self.last_ts: str | None = None  # the latest record's, for lines that carry none
        self.windows: dict[int, list[Any]] = {}  # timestamp shape -> [count, first, last]

    def seen_at(self, ts: str | None) -> str:
        """Counts ``ts`` into the window; returns its sort key ("" without one)."""
        if not ts:
            return ""
        self.last_ts = ts
        key = ts_key(ts)
        shape = key.find(".")  # formats are compared only with their own
        held = self.windows.get(shape)
        if held is None:
            self.windows[shape] = [1, (key, ts), (key, ts)]
        else:
            held[0] += 1
            held[1] = min(held[1], (key, ts))
            held[2] = max(held[2], (key, ts))
        return key

    def window(self) -> tuple[str | None, str | None]:
        """First and last timestamp in the log's most common timestamp format."""
        if not self.windows:
            return None, None
        _, first, last = max(self.windows.values(), key=lambda held: held[0])
        return first[1], last[1]

    def trace(self, lines: list[str], line: Line) -> None:
        for f in trace_findings([body(raw) for raw in lines], self.material):
            f.first = f.last = line.ts or self.last_ts
            if f.kind == "exception":
                f.sources = list(line.sources)
            self.traces.add(f)

    def test(self, test_id: str, reason: str, line: Line, raw: str) -> None:
        held = self.tests.get(test_id)
        if held is None:
            held = self.tests[test_id] = Finding(
                "test_failure",
                SEVERITY["test_failure"],
                test_id,
                1,
                line.ts,
                line.ts,
                list(line.sources),
                [],
                self.material,
            )
        if reason and reason not in held.examples:
            held.examples.insert(0, trim(reason))
        del held.examples[2:]
        held.first = earlier(held.first, line.ts)
        held.last = later(held.last, line.ts)

    def pytest_line(self, message: str) -> bool:
        """Section headers and "E   " detail lines of a pytest failure report."""
        if message.startswith("E  "):
            self.details.setdefault(self.section, trim(message[1:]))
            return True
        if message.startswith("___") and message.rstrip().endswith("___"):
            self.section = message.strip("_ ").strip()
        return False

    def findings(self) -> list[Finding]:
        rare_max = max(2, self.records // 20_000)
        out: list[Finding] = []
        for (kind, cid), t in self.miner.tallies.items():
            final = (
                "rare"
                if kind == "template" and t.count <= rare_max and self.records >= 100
                else kind
            )
            out.append(
                Finding(
                    final,
                    SEVERITY[final],
                    self.miner.template(kind, cid),
                    t.count,
                    t.first[1] if t.first else None,
                    t.last[1] if t.last else None,
                    list(t.sources),
                    [trim(e) for e in t.examples],
                    self.material,
                )
            )
        for test_id, f in self.tests.items():
            detail = self.details.get(test_id.split("::")[-1]) or next(
                (d for s, d in self.details.items() if s and test_id.endswith(s)), None
            )
            if detail and len(f.examples) < 2 and detail not in f.examples:
                f.examples.append(detail)
        return [*out, *self.tests.values(), *self.traces.findings()]


def _step(state: _LogState, lines: list[str], i: int) -> int:
    """Reads the record that starts at line ``i``; returns where the next one starts."""
    raw = lines[i]
    if len(raw) > MAX_LINE_CHARS:
        state.long_lines += 1
    text = body(raw)
    if text[:1] in (" ", "\t") and state.structured and not is_log_line(text.lstrip()):
        return i + 1  # a continuation line of the (timestamped) record before
    state.records += 1
    if _starts_trace(text, lines, i):
        end = _trace_end(lines, i)
        line = parse_line(raw)
        state.seen_at(line.ts)
        state.trace(lines[i:end], line)
        state.structured = True
        return end
    line = parse_line(raw)
    state.structured = line.ts is not None
    key = state.seen_at(line.ts)
    if line.trace:
        state.trace(line.trace.split("\n")[:MAX_TRACE_LINES], line)
    message = line.message.strip()
    if not message:
        return i + 1
    if state.pytest_line(message):
        return i + 1
    failed = test_failure(message)
    if failed:
        state.test(failed[0], failed[1], line, raw)
        return i + 1
    kind = classify(message, line.level)
    mined = message[:MINED_CHARS]
    repeat = _REPEAT.search(mined)  # k8s events: "(x45 over 10m)" is 45 of them
    if repeat:
        mined = mined[: repeat.start()] + "(x<NUM> over <DUR>)" + mined[repeat.end() :]
    masked = mask(mined)
    weight = int(repeat.group(1)) if repeat else 1
    state.miner.add(kind, masked, line.ts, line.sources, raw[:MAX_LINE_CHARS], key, weight)
    return i + 1


def condense_log(text: str, material: str = "") -> LogResult:
    """Ranked-to-be findings of one log: templates, failing tests, exceptions in it."""
    state = _LogState(material)
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        i = _step(state, lines, i)
    notes = []
    if state.long_lines:
        notes.append(
            f"{material}: {state.long_lines} lines longer than {MAX_LINE_CHARS} characters"
            " were read only up to that length"
        )
    if state.miner.overflowed:
        notes.append(
            f"{material}: over {MAX_TEMPLATES} distinct templates of one kind;"
            " the rest were grouped by their first words"
        )
    return LogResult(state.findings(), state.miner.count, state.window(), notes)
