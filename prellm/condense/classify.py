"""What a log line reports: a kill, a crash loop, an exception, a failing test, an error…

Specific patterns (OOM kills, back-offs, slow queries, failing tests) decide first,
whatever the line's level; then the level; a line without a level is judged by its
words, so ``errors=0`` or ``error=nil`` in an info line is not an error.
"""

from __future__ import annotations

import re

_ALERT = re.compile(
    r"(?i)oom|out of memory|crashloop|back-?off|kill|exception|traceback|slow|panic"
    r"|restart|query_time|duration: |error|fail|fatal|warn|refused|denied|timed out|deprecat"
)
_OOM = re.compile(
    r"(?i)OOMKill|out of memory: kill|memory cgroup out of memory|oom-kill|oom_kill"
    r"|oom killer|invoked oom-killer|reason: oomkilled|\bOOM killed"
)
_CRASH = re.compile(
    r"(?i)CrashLoopBackOff|back-off restarting failed|back-off \S{1,20} restarting failed"
    r"|(?<!\w)BackOff {1,20}pod/"
)
_EXCEPTION = re.compile(
    r"^(?:Traceback \(most recent call last\)|Exception in thread \"|panic: "
    r"|Unhandled exception|Uncaught exception"
    r"|[A-Za-z_$][\w$.]{0,200}(?:Exception|Error)(?::|$))"
)
_SLOW = re.compile(
    r"(?i)slow query|slow_query|query_time: |duration: \d{1,10}(?:\.\d{1,6})? ms {1,3}"
    r"(?:statement|execute)"
)
_RESTART = re.compile(
    r"(?i)restarting container|will be restarted|container \S{1,200} restarted"
    r"|restarted container|killing container|(?<![\w-])restart(?:ed|ing)(?![\w-])"
    r"|restart count: {0,20}[1-9]"
)
# A server error in an access log: '"GET / HTTP/1.1" 502' or status=503 / "status":500.
_HTTP_5XX = re.compile(r"HTTP/\d(?:\.\d)?\" 5\d\d |(?<![\w.])status\"?[=:] ?\"?5\d\d(?!\d)")
_ERROR_WORD = re.compile(
    r"(?i)(?<![\w-])(?:error(?!=(?:nil|null|none|0|false|\"\")(?!\w))|failed|failure|fatal"
    r"|refused|denied|unreachable|timed out|panic)(?![\w-])"
)
_WARNING_WORD = re.compile(r"(?i)(?<![\w-])(?:warn|warning|deprecated)(?![\w-])")
# Passing tests and test-runner banners ("==== 1 failed, 99 passed in 3.2s ====") are not errors.
_TEST_LINE = re.compile(r"^(?:[^\s:]{1,500}::\S{1,500} (?:PASSED|SKIPPED|XFAIL|XPASS)\b|={3,} )")

# Failing tests: pytest (verbose and short summary), go test, maven surefire, unittest, gradle.
_TEST_FAILED = re.compile(
    r"^(?:(?P<a>[^\s:]{1,500}::\S{1,500}) (?:FAILED|ERROR)\b"
    r"|(?:FAILED|ERROR) (?P<b>[^\s:]{1,500}::[^\s]{1,500})(?: - (?P<reason>.{1,500}))?"
    r"|\s{0,8}--- FAIL: (?P<c>\S{1,300})"
    r"|\[ERROR\] (?P<d>[\w$.()]{1,300})\s{1,10}(?:-- )?Time elapsed:.{0,80}<<< (?:FAILURE|ERROR)!"
    r"|(?:FAIL|ERROR): (?P<e>\w{1,200}) \((?P<f>[\w.]{1,300})\)"
    r"|(?P<g>[\w$.]{1,300} > [^>\s][^>]{0,300}) FAILED\s{0,8}$)"
)


def test_failure(message: str) -> tuple[str, str] | None:
    """(test id, reason or "") when ``message`` says a test failed."""
    if "FAIL" not in message and "ERROR" not in message:
        return None
    m = _TEST_FAILED.match(message)
    if m is None:
        return None
    if m.group("e"):
        return f"{m.group('f')}.{m.group('e')}", ""
    test = m.group("a") or m.group("b") or m.group("c") or m.group("d") or m.group("g") or ""
    return test, (m.group("reason") or "").strip()


def _specific(message: str, level: str | None) -> str | None:
    if _OOM.search(message):
        return "oom_kill"
    if _CRASH.search(message):
        return "crash_loop"
    if _EXCEPTION.match(message):
        return "exception"
    if _SLOW.search(message):
        return "slow_query"
    if level != "info" and _RESTART.search(message):
        return "restart"
    if _HTTP_5XX.search(message):
        return "error"
    return None


def classify(message: str, level: str | None) -> str:
    """The finding kind of one log message: an incident kind, "warning" or "template"."""
    if _ALERT.search(message[:500]) is None:
        if _HTTP_5XX.search(message[:500]):
            return "error"
        return {"error": "error", "warning": "warning"}.get(level or "", "template")
    specific = _specific(message, level)
    if specific:
        return specific
    if level == "error":
        return "error"
    if level == "warning":
        return "warning"
    if level == "info" or _TEST_LINE.match(message):
        return "template"
    if _ERROR_WORD.search(message):
        return "error"
    if _WARNING_WORD.search(message):
        return "warning"
    return "template"
