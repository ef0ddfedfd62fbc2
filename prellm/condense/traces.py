"""Stack traces (Python and Java): the exception chain, user frames first, library frames folded."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .merge import Tally
from .model import SEVERITY, Finding, trim

_PY_START = re.compile(r"^\s{0,8}Traceback \(most recent call last\):")
_PY_FRAME = re.compile(r'^\s{1,16}File "([^"]{1,500})", line (\d{1,9})(?:, in (\S{1,200}))?')
_PY_CONTEXT = re.compile(r"^\s{0,8}During handling of the above exception")
_PY_CAUSE = re.compile(r"^\s{0,8}The above exception was the direct cause")
_PY_EXC = re.compile(r"^([A-Za-z_][\w.]{0,200})(?::\s?(.{0,500}))?$")
_JAVA_HEAD = re.compile(
    r'^\s{0,8}(?:Exception in thread "[^"]{0,200}" )?(Caused by: |Suppressed: )?'
    r"((?:[A-Za-z_$][\w$.]{0,300})?(?:Exception|Error|Throwable|Failure))"
    r"(?::\s?(.{0,500}))?$"
)
# Java "at pkg.Class.method(File.java:12)"; Node "at fn (/app/x.js:3:9)" or "at /app/x.js:3:9".
_JAVA_FRAME = re.compile(
    r"^\s{1,16}at (?:[\w.$-]{1,100}/){0,3}(?:([\w$.<>\[\] -]{1,400}) ?\(([^)]{0,300})\)|(\S{1,400}))"
)
_JAVA_MORE = re.compile(r"^\s{1,16}\.\.\. (\d{1,9}) (?:more|common frames omitted)")

PY_LIBRARY = ("site-packages", "dist-packages", "/lib/python", "<frozen", "\\lib\\", "/usr/lib/")
JAVA_LIBRARY = (
    "java.",
    "javax.",
    "jdk.",
    "sun.",
    "com.sun.",
    "jakarta.",
    "org.springframework.",
    "org.apache.",
    "org.hibernate.",
    "org.eclipse.",
    "org.junit.",
    "org.mockito.",
    "org.slf4j.",
    "org.postgresql.",
    "io.netty.",
    "io.grpc.",
    "io.micrometer.",
    "io.undertow.",
    "reactor.",
    "kotlin.",
    "kotlinx.",
    "scala.",
    "akka.",
    "groovy.",
    "com.fasterxml.",
    "com.google.",
    "com.zaxxer.",
    "ch.qos.",
    "okhttp3.",
    "net.bytebuddy.",
)
MAX_USER_FRAMES = 8  # per exception


@dataclass
class _Exc:
    line: str  # "ValueError: bad id" / "java.lang.IllegalStateException: boom"
    relation: str = ""  # "" (outermost), "Caused by", "During handling of", "Suppressed"
    user: list[tuple[str, str]] = field(default_factory=list)  # (where, code), innermost first
    library: dict[str, int] = field(default_factory=dict)  # package -> frames
    omitted: int = 0

    @property
    def type(self) -> str:
        return self.line.split(":", 1)[0].strip()


def _py_library(path: str) -> str | None:
    low = path.replace("\\", "/")
    for marker in PY_LIBRARY:
        at = low.find(marker.replace("\\", "/"))
        if at >= 0:
            rest = low[at + len(marker) :].strip("/").split("/")
            if marker in ("/lib/python", "/usr/lib/") and len(rest) > 1:
                rest = rest[1:]  # past "3.11/"
            return rest[0].removesuffix(".py") if rest and rest[0] else marker.strip("/<")
    return None


def _java_library(method: str) -> str | None:
    for prefix in JAVA_LIBRARY:
        if method.startswith(prefix):
            parts = method.split(".")
            return ".".join(parts[:3]) if len(parts) > 3 else prefix.rstrip(".")
    return None


def _node_library(where: str) -> str | None:
    if where.startswith(("node:", "internal/")):
        return "node"
    at = where.find("node_modules/")
    if at < 0:
        return None
    parts = where[at + 13 :].split("/")
    return "/".join(parts[:2]) if parts[0].startswith("@") else parts[0]


def _parse_python(lines: list[str]) -> list[_Exc]:
    """Python tracebacks in print order (root cause first), as a list of exceptions."""
    printed: list[_Exc] = []
    frames: list[tuple[str, str, str | None]] = []  # (path, line, func) then code
    codes: list[str] = []
    relation = ""
    in_trace = False
    for i, line in enumerate(lines):
        if _PY_START.match(line):
            in_trace, frames, codes = True, [], []
            continue
        if _PY_CONTEXT.match(line):
            relation = "During handling of"
            continue
        if _PY_CAUSE.match(line):
            relation = "Caused by"
            continue
        if not in_trace:
            continue
        frame = _PY_FRAME.match(line[:700])
        if frame:
            frames.append((frame.group(1), frame.group(2), frame.group(3)))
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            codes.append(nxt.strip() if nxt[:1] == " " and not _PY_FRAME.match(nxt) else "")
            continue
        if line[:1] in (" ", "\t") or not line.strip():
            continue
        exc = _PY_EXC.match(line[:700])
        if exc:
            printed.append(_python_exception(line, frames, codes, relation))
            in_trace, relation = False, ""
    return printed


def _python_exception(
    line: str, frames: list[tuple[str, str, str | None]], codes: list[str], relation: str
) -> _Exc:
    exc = _Exc(line=trim(line), relation=relation)
    for (path, number, func), code in zip(reversed(frames), reversed(codes), strict=True):
        library = _py_library(path)
        if library:
            exc.library[library] = exc.library.get(library, 0) + 1
        else:
            exc.user.append((f"{path}:{number} in {func or '?'}", trim(code)))
    return exc


def _order_python(printed: list[_Exc]) -> list[_Exc]:
    """Outermost first; each earlier one is what the next was raised from or during."""
    chain = list(reversed(printed))
    relations = [e.relation for e in printed]  # relation printed before exception i
    for i, exc in enumerate(chain):
        j = len(printed) - 1 - i  # index in print order
        exc.relation = relations[j + 1] if j + 1 < len(printed) else ""
    return chain


def _parse_java(lines: list[str]) -> list[_Exc]:
    """Java traces in print order (outermost first, then each "Caused by")."""
    chain: list[_Exc] = []
    current: _Exc | None = None
    for line in lines:
        frame = _JAVA_FRAME.match(line[:700])
        if frame and current is not None:
            method, where = frame.group(1) or "", frame.group(2) or frame.group(3) or ""
            library = _java_library(method) or _node_library(where)
            if library:
                current.library[library] = current.library.get(library, 0) + 1
            elif len(current.user) < 50:
                current.user.append((f"{method}({where})" if method else where, ""))
            continue
        more = _JAVA_MORE.match(line[:200])
        if more and current is not None:
            current.omitted += int(more.group(1))
            continue
        head = _JAVA_HEAD.match(line[:900])
        if head and (head.group(1) or current is None or "at " not in line[:20]):
            relation = (head.group(1) or "").strip().rstrip(":")
            text = head.group(2) + (f": {head.group(3)}" if head.group(3) else "")
            current = _Exc(line=trim(text), relation=relation)
            chain.append(current)
    return chain


def _findings(chain: list[_Exc], material: str) -> list[Finding]:
    out: list[Finding] = []
    outer = chain[0].type if chain else ""
    for exc in chain:
        summary = f"{exc.relation}: {exc.line}" if exc.relation else exc.line
        out.append(
            Finding("exception", SEVERITY["exception"], summary, 1, sources=[], material=material)
        )
    for exc in chain:
        for where, code in exc.user[:MAX_USER_FRAMES]:
            out.append(
                Finding(
                    "frame",
                    SEVERITY["frame"],
                    where,
                    1,
                    sources=[exc.type],
                    examples=[code] if code else [],
                    material=material,
                )
            )
        folded = sum(exc.library.values()) + exc.omitted + max(0, len(exc.user) - MAX_USER_FRAMES)
        if folded:
            top = sorted(exc.library.items(), key=lambda kv: -kv[1])[:4]
            packages = ", ".join(name for name, _ in top)
            out.append(
                Finding(
                    "frame",
                    SEVERITY["frame"] - 10,
                    f"library/omitted frames folded under {exc.type}"
                    + (f" ({packages})" if packages else ""),
                    folded,
                    sources=[exc.type or outer],
                    material=material,
                )
            )
    return out


def trace_findings(lines: list[str], material: str = "") -> list[Finding]:
    """Findings for the stack trace(s) in ``lines``: the chain first, then frames."""
    if any(_PY_START.match(line) for line in lines):
        chain = _order_python(_parse_python(lines))
    else:
        chain = _parse_java(lines)
    return _findings(chain, material)


def _blocks(lines: list[str]) -> list[list[str]]:
    """``lines`` cut where a new trace begins (Java header, or Python start after a trace)."""
    blocks: list[list[str]] = []
    current: list[str] = []
    python_done = False
    for i, line in enumerate(lines):
        new_py = _PY_START.match(line) is not None and python_done
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        new_java = _JAVA_FRAME.match(nxt[:700]) is not None and _JAVA_HEAD.match(line[:900])
        if (
            new_py or (new_java and not line.lstrip().startswith(("Caused by", "Suppressed")))
        ) and current:
            blocks.append(current)
            current, python_done = [], False
        current.append(line)
        if _PY_EXC.match(line[:700]) and line[:1] not in (" ", "\t") and not _PY_START.match(line):
            python_done = True
        if _PY_CONTEXT.match(line) or _PY_CAUSE.match(line):
            python_done = False
    if current:
        blocks.append(current)
    return blocks


def condense_trace(text: str, material: str = "") -> list[Finding]:
    """A trace material: every trace in it, repeated ones counted, not listed twice."""
    tally = Tally()
    for block in _blocks(text.split("\n")):
        for finding in trace_findings(block, material):
            tally.add(finding)
    return tally.findings()
