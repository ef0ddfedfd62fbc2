"""prellm.condense edge cases: odd materials, log line shapes, diffs, overflow and budgets."""

from __future__ import annotations

import random
import string

import pytest

from prellm.condense import (
    Finding,
    Material,
    condense,
    count_tokens,
    detect_kind,
    merge,
    split_paste,
)
from prellm.condense.classify import classify
from prellm.condense.logs import parse_line
from prellm.condense.model import fit_tail, span

# --- materials ----------------------------------------------------------------------------


def test_materials_with_one_name_are_kept_apart():
    c = condense([Material("stdin", "first\n"), Material("stdin", "second\n")])
    assert list(c.kinds) == ["stdin", "stdin#2"]


def test_binary_and_unknown_kind_materials_are_noted():
    c = condense([Material("bin", "abc\0def\n"), Material("odd", "hello\n", "weird")])
    assert c.notes == [
        "bin: contains NUL bytes (binary?)",
        "odd: unknown kind 'weird', detected 'document'",
    ]
    assert c.kinds["odd"] == "document"


# --- log lines ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "level", "kind"),
    [
        ("ValueError: bad thing", None, "exception"),
        ('1.2.3.4 "GET /fail HTTP/1.1" 502 12', None, "error"),
        ("connection refused by peer", None, "error"),
        ("this call is deprecated now", None, "warning"),
        ("errors=0 all good, no failure words", "info", "template"),
    ],
)
def test_classify_without_a_level_reads_the_words(message, level, kind):
    assert classify(message, level) == kind


def test_json_log_with_a_boolean_level_has_no_level():
    line = parse_line('{"level": true, "msg": "hello"}')
    assert line.message == "hello" and line.level is None


def test_docker_json_file_line_is_read_from_its_log_field():
    line = parse_line(
        '{"log": "2024-01-01T00:00:00Z ERROR db down\\n", "stream": "stderr",'
        ' "time": "2024-01-01T00:00:01Z"}'
    )
    assert line.message == "ERROR db down"
    assert line.level == "error"
    assert line.ts == "2024-01-01T00:00:01Z"  # the runtime's time wins


def test_a_line_that_only_looks_like_json_is_plain_text():
    line = parse_line("{not json at all")
    assert line.message == "{not json at all" and line.level is None


def test_pytest_failure_detail_joins_the_failing_test():
    log = (
        "2024-01-01 00:00:00 INFO start\n"
        "___________ test_foo ___________\n"
        "E   AssertionError: boom\n"
        "FAILED tests/test_x.py::test_foo - AssertionError\n"
    )
    c = condense([Material("ci.log", log, "log")])
    failure = next(f for f in c.findings if f.kind == "test_failure")
    assert failure.summary == "tests/test_x.py::test_foo"
    assert failure.examples == ["AssertionError", "AssertionError: boom"]


def test_a_trace_ends_at_blank_lines_not_followed_by_a_chained_exception():
    log = (
        "2024-01-01 00:00:00 ERROR boom\n"
        "Traceback (most recent call last):\n"
        '  File "a.py", line 1, in <module>\n'
        "    f()\n"
        "ValueError: x\n"
        "\n"
        "\n"
        "2024-01-01 00:00:01 INFO next\n"
    )
    c = condense([Material("app.log", log, "log")])
    kinds = [(f.kind, f.summary) for f in c.findings]
    assert ("exception", "ValueError: x") in kinds
    assert ("template", "INFO next") in kinds  # the line after the blanks is a record again


def test_a_very_long_java_trace_is_read_up_to_its_limit():
    frames = "\n".join(f"\tat com.acme.C{i}.m(C{i}.java:{i})" for i in range(2100))
    log = f"2024-01-01 00:00:00 ERROR x\njava.lang.IllegalStateException: bad\n{frames}\n"
    c = condense([Material("j.log", log, "log")])
    exc = next(f for f in c.findings if f.kind == "exception")
    assert exc.summary == "java.lang.IllegalStateException: bad" and exc.count == 1
    # the indented frames past the limit continue the record: no finding of their own
    assert [f.kind for f in c.findings].count("exception") == 1
    assert not any(f.kind == "template" and "com.acme" in f.summary for f in c.findings)


def test_too_many_distinct_templates_are_grouped_by_their_first_words():
    rng = random.Random(3)

    def word() -> str:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(7))

    lines = [" ".join(word() for _ in range(2 + i % 31)) for i in range(3050)]
    lines += ["same three words alpha", "same three words beta"]
    c = condense([Material("big.log", "\n".join(lines), "log")])
    assert c.notes == [
        "big.log: over 3000 distinct templates of one kind;"
        " the rest were grouped by their first words"
    ]
    grouped = next(f for f in c.findings if f.summary == "same three words …")
    assert grouped.count == 2
    assert sum(f.count for f in c.findings) == len(lines)


def test_sources_of_one_template_are_capped():
    log = "\n".join(
        f'{{"pod": "pod-{i}", "level": "error", "msg": "connection refused"}}' for i in range(60)
    )
    c = condense([Material("p.log", log, "log")])
    (error,) = [f for f in c.findings if f.kind == "error"]
    assert error.count == 60
    assert error.sources == [f"pod-{i}" for i in range(50)]


def test_merge_caps_sources():
    a = Finding("error", 75, "db down", 1, sources=[f"a{i}" for i in range(40)])
    b = Finding("error", 75, "db down", 1, sources=[f"b{i}" for i in range(40)])
    (merged,) = merge([[a], [b]])
    assert merged.count == 2
    assert merged.sources == [f"a{i}" for i in range(40)] + [f"b{i}" for i in range(10)]


# --- diffs --------------------------------------------------------------------------------

_DIFF = """\
--- a/x.py
+++ b/x.py
@@ -1,3 +1,3 @@
 a
-b
+c
\\ No newline at end of file
@@ -10,5 +10,5 @@
 z
@@ -20,1 +20,1 @@
-q
+r
--- a/gone.py
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/new.py b/new.py
new file mode 100644
--- /dev/null
+++ b/new.py
@@ -0,0 +1 @@
+hi
"""


def test_plain_unified_diff_files_deleted_and_new_files():
    c = condense([Material("d.diff", _DIFF)])
    assert c.kinds == {"d.diff": "diff"}
    assert [f.summary for f in c.findings] == [
        # a hunk whose counts were wrong ends at the next hunk header
        "x.py: +2 -2 in 3 hunk(s)",
        "gone.py: +0 -1 in 1 hunk(s)",
        "new.py: +1 -0 in 1 hunk(s) (new file mode 100644)",
    ]


# --- detection and splitting ----------------------------------------------------------------


def test_a_short_trace_among_prose_is_a_trace():
    text = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "    foo()\n"
        "NameError: name 'foo' is not defined\n"
        + "\n".join(f"some plain words number {i} here" for i in range(20))
    )
    assert detect_kind(text) == "trace"


def test_split_paste_starts_the_block_where_the_log_becomes_dense():
    def log(i: int) -> str:
        return f"2024-01-01T00:00:{i % 60:02d}Z INFO worker {i} handled request"

    lines = ["Why does the worker restart?"]
    lines += [x for i in range(30) for x in (log(i), f"and then some words {i} here")]
    lines += [log(100 + i) for i in range(20)]
    question, block = split_paste("\n".join(lines))
    assert block is not None
    assert block.split("\n")[0] == log(15)
    assert block.endswith(log(119))
    assert question.startswith("Why does the worker restart?\n" + log(0))


# --- time spans and budgets -----------------------------------------------------------------


def test_span_is_empty_for_unparsed_or_backwards_times():
    assert span("yesterday", "today") == ""
    assert span("2024-01-01T00:00:10", "2024-01-01T00:00:00") == ""
    assert span("2024-01-01T00:00:00", "2024-01-01T00:00:15") == " (over 15 s)"


def test_fit_tail_keeps_text_that_fits():
    assert fit_tail("one\ntwo", 100) == "one\ntwo"
    assert fit_tail("one\ntwo\nthree", 2) == "three"


def test_render_with_a_tail_never_exceeds_the_budget():
    c = condense([Material("p.log", "2024-01-01T00:00:00Z ERROR connection refused\n", "log")])
    tail = "ż" * 40
    with_tail = 0
    for budget in range(1, 120):
        out = c.render(budget, tail=tail)
        assert count_tokens(out) <= budget
        if "\n\nLast lines:\n" in out:
            with_tail += 1
            assert tail.endswith(out.split("\n\nLast lines:\n", 1)[1])
    assert 0 < with_tail < 119  # small budgets leave no room for the tail
