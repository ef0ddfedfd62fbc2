"""prellm.condense: huge pasted material (logs, traces, diffs, documents) as ranked evidence."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from prellm.condense import (
    INCIDENT_KINDS,
    Condensed,
    Finding,
    Material,
    chunk,
    condense,
    count_tokens,
    decode,
    detect_kind,
    merge,
    split_paste,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from material import ci_log, pod_log, traces_log  # noqa: E402


@cache
def _material(kind: str, lines: int, seed: int) -> tuple[str, list, Condensed]:
    """Generated material, what was planted in it, and its condensed form (made once)."""
    text, planted = {"pod": pod_log, "ci": ci_log, "traces": traces_log}[kind](lines, seed=seed)
    return text, planted, condense([Material(f"{kind}.log", text)])


def _by_kind(c: Condensed) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in c.findings:
        out[f.kind] = out.get(f.kind, 0) + f.count
    return out


# --- planted incidents are recovered exactly ------------------------------------------


@pytest.mark.parametrize("lines", [1_000, 10_000])
def test_pod_log_planted_incidents_recovered_exactly(lines):
    text, planted, c = _material("pod", lines, 7)
    assert text.count("\n") == lines
    assert c.kinds == {"pod.log": "log"}
    counts = _by_kind(c)
    for incident in planted:
        assert counts.get(incident["type"], 0) == incident["count"], incident
    # Ranking: incidents before anything ordinary, kills first.
    kinds = [f.kind for f in c.findings]
    assert kinds[0] == "oom_kill"
    last_incident = max(i for i, k in enumerate(kinds) if k in INCIDENT_KINDS)
    assert all(k not in ("template", "rare") for k in kinds[: last_incident + 1])
    assert c.input_lines == lines and c.input_bytes == len(text.encode())


def test_pod_log_finding_details():
    _, _, c = _material("pod", 1_000, 7)
    oom = next(f for f in c.findings if f.kind == "oom_kill")
    assert "Memory cgroup out of memory: Killed process <NUM> (java)" in oom.summary
    assert set(oom.sources) == {"node-1", "node-2"}
    crash = next(f for f in c.findings if f.kind == "crash_loop")
    assert len(crash.sources) == 1 and crash.sources[0].startswith("worker-")
    slow = next(f for f in c.findings if f.kind == "slow_query")
    assert slow.sources == ["db-0/postgres"]
    # The burst keeps its window: first/last as written, a few seconds apart.
    assert slow.first and slow.last and slow.first < slow.last
    assert slow.first[:16] == slow.last[:16]  # same minute
    error = next(f for f in c.findings if f.kind == "error")
    assert "connection refused" in error.summary and "<IP>" in error.summary
    assert 1 <= len(error.examples) <= 2 and all(len(e) <= 300 for e in error.examples)
    assert c.window[0] is not None and c.window[0] < (c.window[1] or "")
    assert c.templates > 5


@pytest.mark.parametrize("lines", [1_000, 10_000])
def test_ci_log_failing_test_recovered(lines):
    _, planted, c = _material("ci", lines, 5)
    counts = _by_kind(c)
    for incident in planted:
        assert counts.get(incident["type"], 0) == incident["count"], incident
    top = c.findings[0]
    assert top.kind == "test_failure"
    assert top.summary == planted[0]["what"]
    assert any("assert 41 == 42" in e for e in top.examples)
    passed = max((f for f in c.findings if f.kind == "template"), key=lambda f: f.count)
    assert "PASSED" in passed.summary and passed.count > lines * 0.9


@pytest.mark.parametrize("lines", [1_000, 10_000])
def test_traces_in_noise(lines):
    _, planted, c = _material("traces", lines, 11)
    counts = _by_kind(c)
    expected: dict[str, int] = {}
    for incident in planted:
        expected[incident["type"]] = expected.get(incident["type"], 0) + incident["count"]
    for kind, n in expected.items():
        assert counts.get(kind, 0) == n, kind
    summaries = [f.summary for f in c.findings if f.kind == "exception"]
    for incident in planted:
        if "summary" in incident:
            assert any(incident["summary"] in s for s in summaries), incident
    frames = [f for f in c.findings if f.kind == "frame"]
    user = [f for f in frames if f.severity == max(g.severity for g in frames)]
    assert {f.summary for f in user} >= {
        "com.shop.inventory.StockService.reserve(StockService.java:88)",
        "/app/jobs/sync.py:45 in fetch_rates",
        "/app/jobs/runner.py:77 in run",
    }
    folded = [f for f in frames if "folded" in f.summary]
    assert any("org.springframework" in f.summary for f in folded)
    assert all(f.count > 0 for f in folded)


@pytest.mark.parametrize("generator", [pod_log, ci_log, traces_log])
def test_all_noise_has_no_incident(generator: Callable[..., tuple[str, list]]):
    text, planted = generator(2_000, seed=13, noise=True)
    assert planted == []
    c = condense([Material("noise", text)])
    incidents = [(f.kind, f.summary) for f in c.findings if f.kind in INCIDENT_KINDS]
    assert incidents == []


def test_generator_sizes_and_seeds():
    a, _, _ = _material("pod", 10_000, 7)
    assert 600_000 < len(a.encode()) < 1_000_000  # about 75-90 bytes a line
    assert pod_log(1_000, seed=1) == pod_log(1_000, seed=1) != pod_log(1_000, seed=2)


# --- stack traces, diffs, documents as materials ---------------------------------------

PY_CHAIN = """\
Traceback (most recent call last):
  File "/srv/app/db.py", line 12, in load
    row = cursor.fetchone()["id"]
KeyError: 'id'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/srv/app/main.py", line 40, in <module>
    main()
  File "/srv/app/main.py", line 33, in main
    user = load(uid)
  File "/usr/lib/python3.11/contextlib.py", line 81, in inner
    return func(*args, **kwds)
  File "/venv/lib/python3.11/site-packages/sqlalchemy/orm/session.py", line 2100, in execute
    raise exc
  File "/srv/app/db.py", line 14, in load
    raise LookupError(f"user {uid} not found") from e
LookupError: user 42 not found
"""

JAVA_CHAIN = """\
Exception in thread "main" java.lang.RuntimeException: checkout failed
\tat com.acme.shop.Checkout.run(Checkout.java:77)
\tat com.acme.shop.Main.main(Main.java:12)
Caused by: java.sql.SQLException: connection reset
\tat org.postgresql.core.v3.QueryExecutorImpl.execute(QueryExecutorImpl.java:355)
\tat com.zaxxer.hikari.pool.ProxyStatement.executeQuery(ProxyStatement.java:110)
\tat com.acme.shop.OrderRepo.find(OrderRepo.java:31)
\tat com.acme.shop.Checkout.run(Checkout.java:70)
\t... 1 more
"""


def test_python_trace_chain_user_frames_first():
    assert detect_kind(PY_CHAIN) == "trace"
    c = condense([Material("trace.txt", PY_CHAIN)])
    exceptions = [f.summary for f in c.findings if f.kind == "exception"]
    assert exceptions == ["LookupError: user 42 not found", "Caused by: KeyError: 'id'"]
    frames = [f for f in c.findings if f.kind == "frame"]
    user = [f.summary for f in frames if "folded" not in f.summary]
    # Innermost user frame first; library frames only as a count.
    assert user[0] == "/srv/app/db.py:14 in load"
    assert "/srv/app/main.py:33 in main" in user
    assert not any("site-packages" in s or "contextlib" in s for s in user)
    folded = next(f for f in frames if "folded" in f.summary)
    assert folded.count == 2 and "sqlalchemy" in folded.summary
    assert c.findings.index(folded) > max(c.findings.index(f) for f in frames if f is not folded)


def test_java_trace_chain():
    assert detect_kind(JAVA_CHAIN) == "trace"
    c = condense([Material("trace.txt", JAVA_CHAIN)])
    exceptions = [f.summary for f in c.findings if f.kind == "exception"]
    assert exceptions == [
        "java.lang.RuntimeException: checkout failed",
        "Caused by: java.sql.SQLException: connection reset",
    ]
    user = [f.summary for f in c.findings if f.kind == "frame" and "folded" not in f.summary]
    assert "com.acme.shop.OrderRepo.find(OrderRepo.java:31)" in user
    assert not any(s.startswith(("org.postgresql", "com.zaxxer")) for s in user)
    folded = [f for f in c.findings if "folded" in f.summary]
    assert sum(f.count for f in folded) == 3  # two library frames and "... 1 more"


def test_repeated_traces_are_counted_once():
    c = condense([Material("t", (JAVA_CHAIN + "\n") * 5)])
    top = next(f for f in c.findings if f.kind == "exception")
    assert top.count == 5 and len([f for f in c.findings if f.kind == "exception"]) == 2


DIFF = """\
diff --git a/app/models.py b/app/models.py
index 3f2a..9c1b 100644
--- a/app/models.py
+++ b/app/models.py
@@ -10,3 +10,5 @@ class User:
     name: str
-    email: str
+    email: str | None
+    phone: str | None = None
+    # -- comment that looks like a header
     age: int
@@ -40,2 +42,1 @@ def load():
-    return x
-    # old
+    return y
diff --git a/README.md b/README.md
--- a/README.md
+++ b/README.md
@@ -1 +1 @@
-Old title
+New title
"""


def test_diff_files_biggest_first():
    assert detect_kind(DIFF) == "diff"
    c = condense([Material("change.diff", DIFF)])
    assert [f.kind for f in c.findings] == ["hunk", "hunk"]
    first, second = c.findings
    assert first.summary == "app/models.py: +4 -3 in 2 hunk(s)"
    assert first.count == 7
    assert first.examples == ["@@ -10,3 +10,5 @@ class User:", "@@ -40,2 +42,1 @@ def load():"]
    assert second.summary == "README.md: +1 -1 in 1 hunk(s)"


DOC = "\n\n".join(
    [
        "# Operations handbook",
        "This handbook covers the shop's production environment.",
        "## Backups\nNightly backups of PostgreSQL run at 02:00 with pg_dump; "
        "they are kept for 30 days in the backup bucket.",
        "## Deploys\nDeploys go through the pipeline; a rollback is one click.",
        "## On-call\nThe on-call engineer answers pages within 15 minutes.",
    ]
)


def test_document_sections_ranked_by_query():
    assert detect_kind(DOC) == "document"
    c = condense([Material("handbook.md", DOC)], query="how long are postgres backups kept?")
    assert c.findings[0].kind == "section"
    assert c.findings[0].summary.startswith("Backups")
    assert "30 days" in c.findings[0].examples[0]
    plain = condense([Material("handbook.md", DOC)])
    assert [f.summary.split(" (")[0] for f in plain.findings][:2] == [
        "Operations handbook",
        "Backups",
    ]


def test_code_sections():
    code = "import os\n\n\ndef backup(path):\n    return os.path.exists(path)\n\n\nclass Store:\n    pass\n"
    assert detect_kind(code * 5) == "code"
    c = condense([Material("x.py", code, kind="code")], query="backup")
    assert c.findings[0].summary.startswith("def backup(path)")


# --- logs in other shapes ---------------------------------------------------------------


def test_json_lines_log():
    rows = []
    for i in range(300):
        rows.append(
            {
                "ts": f"2026-11-26T01:{i // 60:02d}:{i % 60:02d}Z",
                "level": "info",
                "msg": "request served",
                "path": f"/items/{i}",
                "kubernetes": {"pod_name": f"web-{i % 3}", "namespace_name": "shop"},
            }
        )
    for i in range(7):
        rows.append(
            {
                "@timestamp": f"2026-11-26T01:06:0{i}Z",
                "log.level": "ERROR",
                "message": f"payment {1000 + i} declined by provider",
                "host": {"name": "node-7"},
            }
        )
    rows.append(
        {"time": "2026-11-26T01:07:00Z", "level": 50, "msg": "worker stalled", "pod": "w-1"}
    )
    text = "\n".join(json.dumps(r) for r in rows)
    assert detect_kind(text) == "log"
    c = condense([Material("app.jsonl", text)])
    errors = [f for f in c.findings if f.kind == "error"]
    assert [(f.summary, f.count) for f in errors] == [
        ("payment <NUM> declined by provider", 7),
        ("worker stalled", 1),
    ]
    assert errors[0].sources == ["node-7"]
    assert errors[0].first == "2026-11-26T01:06:00Z" and errors[0].last == "2026-11-26T01:06:06Z"
    served = next(f for f in c.findings if f.count == 300)
    assert served.summary.startswith("request served path=")
    assert set(served.sources) == {"web-0", "web-1", "web-2"}
    assert c.window == ("2026-11-26T01:00:00Z", "2026-11-26T01:07:00Z")


def test_klog_syslog_and_events():
    text = "\n".join(
        [
            'I1126 01:00:00.000001    1234 kubelet.go:100] "SyncLoop" pod="shop/api-1"',
            'E1126 01:00:01.000001    1234 pod_workers.go:1298] "Error syncing pod" err="failed to'
            ' \\"StartContainer\\" with CrashLoopBackOff: \\"back-off 5m0s restarting failed'
            ' container=api pod=api-1\\"" pod="shop/api-1"',
            "Nov 26 01:00:02 node-3 kernel: Out of memory: Killed process 777 (python3)",
            "5m   Warning   BackOff   pod/api-2   Back-off restarting failed container",
            "Nov 26 01:00:03 node-3 sshd[99]: Accepted publickey for ops",
        ]
        * 20
    )
    c = condense([Material("mixed.log", text)])
    counts = _by_kind(c)
    assert counts["crash_loop"] == 40 and counts["oom_kill"] == 20
    crash_sources = {s for f in c.findings if f.kind == "crash_loop" for s in f.sources}
    assert {"shop/api-1", "api-2"} <= crash_sources
    oom = next(f for f in c.findings if f.kind == "oom_kill")
    assert oom.sources == ["node-3"]


def test_access_log_server_errors():
    ok = '10.0.0.{} - - [26/Nov/2026:00:{:02d}:{:02d} +0000] "GET /api/items/{} HTTP/1.1" 200 512'
    bad = '10.0.0.9 - - [26/Nov/2026:00:05:{:02d} +0000] "POST /api/pay HTTP/1.1" 502 157'
    rows = [ok.format(i % 200, i // 60, i % 60, i) for i in range(300)]
    rows += [bad.format(i) for i in range(12)]
    text = "\n".join(rows)
    assert detect_kind(text) == "log"
    c = condense([Material("access.log", text)])
    top = c.findings[0]
    assert (top.kind, top.count) == ("error", 12) and "POST /api/pay" in top.summary
    assert (top.first, top.last) == ("26/Nov/2026:00:05:00 +0000", "26/Nov/2026:00:05:11 +0000")
    assert c.window == ("26/Nov/2026:00:00:00 +0000", "26/Nov/2026:00:05:11 +0000")


def test_error_words_in_info_lines_are_not_errors():
    text = "\n".join(
        f"2026-11-26T00:00:{i % 60:02d}Z level=info msg=flush errors=0 error=nil n={i}"
        for i in range(100)
    )
    c = condense([Material("a.log", text)])
    assert not [f for f in c.findings if f.kind in INCIDENT_KINDS]


DESCRIBE = """\
Name:             api-7d9f8b6c5-x2x9k
Namespace:        shop
Node:             node-2/10.0.0.12
Containers:
  api:
    State:          Running
    Last State:     Terminated
      Reason:       OOMKilled
      Exit Code:    137
    Restart Count:  12
Events:
  Type     Reason     Age                From     Message
  ----     ------     ----               ----     -------
  Warning  BackOff    3m (x45 over 10m)  kubelet  Back-off restarting failed container api
  Normal   Pulled     2m (x13 over 40m)  kubelet  Container image "shop/api:v2" already present
  Warning  Unhealthy  1m (x30 over 40m)  kubelet  Liveness probe failed: connection refused
"""


def test_kubectl_describe_output():
    assert detect_kind(DESCRIBE) == "log"
    c = condense([Material("describe.txt", DESCRIBE)])
    counts = _by_kind(c)
    assert counts["oom_kill"] == 1 and counts["crash_loop"] == 45 and counts["restart"] == 1
    assert [f.kind for f in c.findings[:3]] == ["oom_kill", "crash_loop", "restart"]
    unhealthy = next(f for f in c.findings if "Liveness probe failed" in f.summary)
    assert unhealthy.kind == "warning" and unhealthy.count == 30


def test_prefixed_java_trace_inside_pod_log():
    lines = [f"[pod/api-1/app] 2026-11-26T00:00:0{i}Z INFO GET /healthz 200 1ms" for i in range(5)]
    lines.append("[pod/api-1/app] 2026-11-26T00:00:05Z ERROR request failed")
    lines += [f"[pod/api-1/app] 2026-11-26T00:00:05Z {row}" for row in JAVA_CHAIN.splitlines()]
    lines.append("[pod/api-1/app] 2026-11-26T00:00:06Z INFO GET /healthz 200 1ms")
    c = condense([Material("pod.log", "\r\n".join(lines))])
    exceptions = [f for f in c.findings if f.kind == "exception"]
    assert [f.summary for f in exceptions] == [
        "java.lang.RuntimeException: checkout failed",
        "Caused by: java.sql.SQLException: connection reset",
    ]
    assert exceptions[0].sources == ["api-1/app"] and exceptions[0].first == "2026-11-26T00:00:05Z"
    assert _by_kind(c)["error"] == 1
    health = next(f for f in c.findings if "healthz" in f.summary)
    assert health.count == 6


NODE_TRACE = """\
TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/app/src/users.js:42:17)
    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)
"""


def test_node_trace():
    assert detect_kind(NODE_TRACE) == "trace"
    c = condense([Material("t", NODE_TRACE)])
    assert [(f.kind, f.summary) for f in c.findings][:2] == [
        ("exception", "TypeError: Cannot read properties of undefined (reading 'id')"),
        ("frame", "getUser (/app/src/users.js:42:17)"),
    ]
    assert c.findings[2].summary == "library/omitted frames folded under TypeError (express, node)"
    assert c.findings[2].count == 2


def test_stack_traces_in_json_fields():
    trace = "java.lang.IllegalStateException: boom\n\tat com.acme.A.run(A.java:10)\n"
    rows = [
        {
            "@timestamp": f"2026-11-26T00:00:0{i}Z",
            "log.level": "ERROR",
            "message": "request failed",
            "error": {"type": "IllegalStateException", "stack_trace": trace},
        }
        for i in range(3)
    ]
    rows.append({"ts": "2026-11-26T00:00:09Z", "level": "error", "msg": "x", "error": "refused"})
    c = condense([Material("j", "\n".join(json.dumps(r) for r in rows))])
    found = {(f.kind, f.summary): f.count for f in c.findings}
    assert found[("exception", "java.lang.IllegalStateException: boom")] == 3
    assert found[("frame", "com.acme.A.run(A.java:10)")] == 3
    assert found[("error", "request failed")] == 3 and found[("error", "x error=refused")] == 1


@pytest.mark.parametrize(
    ("line", "test_id"),
    [
        ("tests/test_a.py::test_b[x-1] FAILED [ 50%]", "tests/test_a.py::test_b[x-1]"),
        ("FAILED tests/test_a.py::TestC::test_d - assert 0", "tests/test_a.py::TestC::test_d"),
        ("--- FAIL: TestParse (0.00s)", "TestParse"),
        (
            "[ERROR] com.acme.FooTest.testBar -- Time elapsed: 0.01 s <<< FAILURE!",
            "com.acme.FooTest.testBar",
        ),
        (
            "[ERROR] testBar(com.acme.FooTest)  Time elapsed: 0.01 s  <<< ERROR!",
            "testBar(com.acme.FooTest)",
        ),
        ("com.acme.FooTest > testBar() FAILED", "com.acme.FooTest > testBar()"),
        ("FAIL: test_x (pkg.mod.TestY)", "pkg.mod.TestY.test_x"),
    ],
)
def test_failing_test_formats(line, test_id):
    text = "\n".join(["collected 3 items", "tests/test_a.py::test_ok PASSED", line, line])
    c = condense([Material("ci", text, kind="log")])
    failures = [f for f in c.findings if f.kind == "test_failure"]
    assert [(f.summary, f.count) for f in failures] == [(test_id, 1)]


# --- decode, notes, detect ---------------------------------------------------------------


def test_decode_and_note():
    assert decode("zażółć".encode()) == ("zażółć", False)
    text, replaced = decode(b"ok line\n\xff\xfe bad bytes\n")
    assert replaced and "\ufffd" in text
    c = condense([Material("app.log", text)])
    assert c.notes == ["app.log: not UTF-8, decoded with replacement"]
    assert "Note: app.log: not UTF-8" in c.render(500)


# --- split_paste ----------------------------------------------------------------------------


def _pod_lines(n: int) -> str:
    text = _material("pod", 1_000, 7)[0]
    return "\n".join(text.split("\n")[:n])


def test_split_paste_question_then_log():
    block = _pod_lines(200)
    question, found = split_paste("Why do my pods keep restarting?\n\n" + block)
    assert question == "Why do my pods keep restarting?"
    assert found == block


def test_split_paste_fenced_and_trailing_question():
    block = _pod_lines(200)
    text = f"Here are the logs from prod:\n```\n{block}\n```\nWhat is going wrong?"
    question, found = split_paste(text)
    assert found == block
    assert question == "Here are the logs from prod:\n\nWhat is going wrong?"


def test_split_paste_trace_and_diff():
    trace = (PY_CHAIN + "\n") * 3
    question, found = split_paste("What does this mean?\n" + trace)
    assert question == "What does this mean?" and found == trace.strip("\n")
    big_diff = DIFF * 4
    question, found = split_paste("Review this change please:\n" + big_diff)
    assert question == "Review this change please:" and found == big_diff.strip("\n")


def test_split_paste_document():
    doc = ("A paragraph of the report about quarterly numbers and plans. " * 20 + "\n\n") * 12
    question, found = split_paste("Summarise this report:\n\n" + doc)
    assert question == "Summarise this report:" and found == doc.strip("\n")


def test_split_paste_keeps_a_log_line_quoted_in_the_question():
    block = _pod_lines(200)
    question = (
        "My pods crash. Here is one line I saw:\n"
        "2026-11-26T00:00:00Z ERROR boom happened\n"
        "And then the whole thing went down after the deploy.\n"
        "I think it is the payment service but I am not sure.\n"
        "Can you tell me what is wrong with it?"
    )
    assert split_paste(f"{question}\n\n{block}") == (question, block)


def test_split_paste_without_question():
    block = _pod_lines(100)
    assert split_paste(block) == ("", block)
    question, found = split_paste(block + "\n\nWhy is the payment call refused?")
    assert question == "Why is the payment call refused?" and found == block


@pytest.mark.parametrize(
    "text",
    [
        "How do I configure a readiness probe for my Flask app?",
        "I have a deployment.\n\nIt restarts every few minutes and I see OOMKilled.\n\n"
        "What should I check first? Also, how do I raise the memory limit?",
        "Why does this fail?\n\n```python\nimport json\n\ndef load(path):\n"
        "    with open(path) as fh:\n        return json.load(fh)['id']\n```\n"
        "It raises KeyError: 'id' sometimes.",
        "Refactor this:\n\n" + "\n".join(f"    x{i} = compute({i})" for i in range(60)),
        "My log says:\n2026-11-26T00:00:00Z ERROR boom\n2026-11-26T00:00:01Z ERROR boom\n"
        "What does it mean?",
        "",
    ],
)
def test_split_paste_leaves_ordinary_questions_alone(text):
    assert split_paste(text) == (text, None)


def test_detect_kinds():
    assert detect_kind(_pod_lines(50)) == "log"
    assert detect_kind(PY_CHAIN) == "trace"
    assert detect_kind(DIFF) == "diff"
    assert detect_kind(DOC) == "document"
    assert detect_kind("") == "document"


# --- render, stats, chunk, merge -------------------------------------------------------------


def test_render_within_budget_and_says_what_was_cut():
    _, _, c = _material("pod", 10_000, 7)
    for budget in (50, 200, 800, 3000):
        out = c.render(budget)
        assert count_tokens(out) <= budget
    small = c.render(300)
    assert "findings left out for the budget" in small
    assert "OOM_KILL" in small
    full = c.render(100_000)
    assert "left out" not in full and full.count("\n1. ") == 1


def test_render_tail_within_budget():
    text, _, c = _material("pod", 1_000, 7)
    tail = "\n".join(text.splitlines()[-50:])
    out = c.render(1000, tail=tail)
    assert count_tokens(out) <= 1000
    assert "Last lines:" in out and out.endswith(text.splitlines()[-1])
    assert c.render(0) == ""


def test_stats_json():
    stats = _material("pod", 1_000, 7)[2].stats()
    assert json.loads(json.dumps(stats)) == stats
    assert stats["input_lines"] == 1_000 and stats["kinds"] == {"pod.log": "log"}
    assert set(stats) == {"input_bytes", "input_lines", "templates", "findings", "kinds", "window"}


def test_chunk_line_aligned_and_bounded():
    text = _material("pod", 1_000, 7)[0]
    chunks = chunk(text, 2000)
    assert len(chunks) > 5
    assert all(count_tokens(c) <= 2000 for c in chunks)
    assert "\n".join(chunks) == text.rstrip("\n") or "\n".join(chunks) == text
    long_line = "x" * 50_000
    pieces = chunk(long_line, 1000)
    assert "".join(pieces) == long_line and all(count_tokens(p) <= 1000 for p in pieces)
    assert chunk("", 100) == []


def test_merge_semantics():
    a = Finding(
        "error",
        75,
        "db timeout after 30s on 10.0.0.1",
        3,
        "2026-11-26T00:00:05Z",
        "2026-11-26T00:00:09Z",
        ["api-1"],
        ["e1"],
        "app.log",
    )
    b = Finding(
        "error",
        75,
        "db  timeout after 31s on 10.0.0.2",
        2,
        "2026-11-26T00:00:01Z",
        "2026-11-26T00:00:07Z",
        ["api-2", "api-1"],
        ["e2", "e3"],
        "app.log",
    )
    oom = Finding("oom_kill", 100, "Killed process 1 (java)", 1, None, None, ["node-1"])
    warn = Finding("warning", 40, "db timeout after 30s on 10.0.0.1", 9)
    merged = merge([[a, warn], [b, oom]])
    assert [f.kind for f in merged] == ["oom_kill", "error", "warning"]
    error = merged[1]
    assert error.count == 5
    assert error.first == "2026-11-26T00:00:01Z" and error.last == "2026-11-26T00:00:09Z"
    assert error.sources == ["api-1", "api-2"]
    assert error.examples == ["e1", "e2"]
    assert a.count == 3 and b.sources == ["api-2", "api-1"]  # inputs untouched
    # Frames with different line numbers stay apart.
    f1 = Finding("frame", 30, "app.py:10 in f", 1)
    f2 = Finding("frame", 30, "app.py:12 in f", 1)
    assert len(merge([[f1], [f2]])) == 2


def test_count_tokens():
    assert count_tokens("") == 0
    assert count_tokens("abcd") == 1
    assert count_tokens("a" * 400) == 100
    assert count_tokens("żółć" * 10) > count_tokens("zolc" * 10)


# --- adversarial input: linear time --------------------------------------------------------

ADVERSARIAL = [
    "a." * 500_000,
    "[" * 10**6,
    "1" * 10**6,
    "0x" + "f" * 10**6,
    ("1." * 300_000) + "x",
    "{" + '"a":' * 200_000,
    "\t at " * 200_000,
    ("9" * 5000 + " ") * 200,
    ("2026-11-26T00:00:00Z " * 50_000),
    "_" * 10**6,
    ("ERROR " + "=" * 2000 + "\n") * 500,
    ('  File "' + "/" * 5000 + "\n") * 200,
    ("-" * 999 + "\n") * 1000,
    ("@@ -1" + "1" * 5000 + "\n") * 200,
    ("::" * 500 + "\n") * 1000,
    ("Error:" * 166 + "\n") * 1000,
]


def _run_with_deadline(fn: Callable[[], object], seconds: float) -> None:
    """Fails if ``fn`` has not returned in ``seconds`` (a hang, not a slow machine)."""
    done = threading.Event()
    error: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # pragma: no cover - reported below
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=target, daemon=True).start()
    assert done.wait(seconds), "did not finish: a pattern is not linear on this input"
    if error:
        raise error[0]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_adversarial_input_completes(text):
    def everything() -> None:
        split_paste("why?\n" + text)
        detect_kind(text)
        for kind in ("log", "trace", "diff", "document"):
            c = condense([Material("x", text, kind=kind)], query="a b c")
            c.render(500)
        chunk(text, 500)

    _run_with_deadline(everything, 100)
