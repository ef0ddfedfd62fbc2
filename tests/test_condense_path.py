"""Big inputs through the request path: attached or pasted material becomes evidence.

The mining itself is tested in test_condense.py; here: what the small and the large
model receive, what the result records, the filter on material, the map/reduce
path, ``--file`` in the CLI and ``prellm.files`` in the proxy.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import httpx
import pytest

from prellm import PreLLM
from prellm.providers.testing import clear_recorded, recorded_requests

QUESTION = "Why do the payment pods keep restarting?"
SECRET = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"


def pod_log(lines: int, seed: int = 7, *, oom: int = 3, secret: bool = False) -> str:
    """Ordinary traffic from three pods with a few OOM kills and back-offs planted."""
    rng = random.Random(seed)
    pods = ["payments-7d9f-abcde", "payments-7d9f-fghij", "gateway-5c4b-klmno"]
    out = []
    kills = set(rng.sample(range(lines), oom))
    for i in range(lines):
        ts = f"2026-11-20T10:{(i // 60) % 60:02d}:{i % 60:02d}Z"
        pod = pods[i % 3]
        if i in kills:
            out.append(f"{ts} [pod/{pod}/app] Killed process 4242 (java) OOMKilled exit 137")
            out.append(f"{ts} [pod/{pod}/app] Back-off restarting failed container app")
        else:
            ms, user = rng.randint(3, 900), rng.randint(1000, 99999)
            out.append(f"{ts} [pod/{pod}/app] INFO GET /api/v1/orders/{user} 200 {ms}ms")
    if secret:
        out.insert(lines // 2, f"2026-11-20T10:30:00Z [pod/{pods[0]}/app] DEBUG token={SECRET}")
    return "\n".join(out) + "\n"


def _large_request() -> dict:
    return recorded_requests("test/echo")[-1]


def _sent_text() -> str:
    return json.dumps(_large_request()["messages"], ensure_ascii=False)


def test_an_attached_log_is_condensed_to_evidence_and_the_question_kept():
    log = pod_log(3000)
    r = PreLLM("test/echo", "test/echo", "structure").run(QUESTION, files=[log])
    c = r.condensed
    assert c is not None and c.input_bytes == len(log.encode())
    assert c.input_lines >= 3000 and c.templates > 0 and c.findings > 0
    assert [s.step for s in c.steps][:2] == ["redact", "mine"]
    sent = _sent_text()
    assert QUESTION in sent and "OOMKilled" in sent
    # The large model gets evidence, not the whole log.
    assert len(sent) < len(log) / 5 and c.output_tokens <= 3000
    # The small model read the question and the findings, not the raw log.
    small = json.dumps(recorded_requests("test/echo")[0]["messages"])
    assert QUESTION in small and "OOMKilled" in small and len(small) < len(log) / 5


def test_small_material_is_attached_whole():
    r = PreLLM("test/echo", "test/echo", "passthrough").run(
        "What does this error mean?", files=[{"name": "err.txt", "content": "KeyError: 'user'"}]
    )
    assert r.condensed is not None and "not condensed" in " ".join(r.condensed.notes)
    sent = _sent_text()
    assert "What does this error mean?" in sent and "KeyError: 'user'" in sent


def test_a_log_pasted_after_the_question_is_split_off_and_condensed():
    log = pod_log(4000)
    r = PreLLM("test/echo", "test/echo", "passthrough").run(f"{QUESTION}\n\n{log}")
    assert r.condensed is not None and r.condensed.materials == {"pasted": "log"}
    turn = _large_request()["messages"][-1]["content"]
    assert turn.startswith(QUESTION) and "OOMKilled" in turn and len(turn) < len(log) / 5


def test_a_big_request_without_recognisable_material_says_so():
    words = " ".join(f"word{i}" for i in range(9000))
    r = PreLLM("test/echo", "test/echo", "passthrough").run(words)
    assert r.condensed is None
    assert any("no attached material" in n for n in r.notices)
    assert words in _sent_text()  # never lost


def test_secrets_in_material_never_leave_and_are_counted():
    log = pod_log(2500, secret=True)
    r = PreLLM("test/echo", "test/echo", "structure").run(QUESTION, files=[log])
    assert r.redactions and SECRET not in json.dumps(recorded_requests())
    # The answer is restored for the caller; what was sent and recorded stays redacted.
    assert SECRET not in r.decomposition.model_dump_json()


def test_map_reduce_reads_findings_in_chunks_and_records_each_call(tmp_path):
    (tmp_path / "prellm.yaml").write_text(
        "condense:\n  small_tokens: 60\n  map_tokens: 100\n  max_map_calls: 3\n"
    )
    doc = "\n\n".join(
        f"## Runbook step {k}: restart policy {k}\n\nWhen payment pods restart, check the "
        f"memory limit of service {k}, the liveness probe and the last deploy of step {k}. " * 3
        for k in range(40)
    )
    log = doc
    clear_recorded()
    r = PreLLM("test/echo", "test/echo", "structure", config=str(tmp_path / "prellm.yaml")).run(
        QUESTION, files=[log]
    )
    c = r.condensed
    assert c is not None and c.small_calls >= 2
    maps = [s for s in r.stages if s.stage.startswith("map_")]
    assert len(maps) == c.small_calls and all(s.role == "small" for s in maps)
    assert {"reduce", "evidence"} <= {s.step for s in c.steps}
    assert all(s.bytes_in > 0 for s in c.steps if s.step.startswith("map_"))
    # One analysis after the map calls, then the large model.
    assert len(recorded_requests("test/echo")) == c.small_calls + 2


def test_non_utf8_material_is_decoded_and_noted():
    data = pod_log(2500).encode() + b"\xff\xfe broken bytes\n"
    r = PreLLM("test/echo", "test/echo", "passthrough").run(QUESTION, files=[data])
    assert r.condensed is not None
    assert any("not UTF-8" in n for n in r.condensed.notes)


def test_a_path_is_read_and_a_missing_one_is_a_config_error(tmp_path):
    from pathlib import Path

    from prellm.errors import ConfigError

    (tmp_path / "app.log").write_text(pod_log(2500))
    r = PreLLM("test/echo", "test/echo", "passthrough").run(QUESTION, files=[tmp_path / "app.log"])
    assert r.condensed is not None and str(tmp_path / "app.log") in r.condensed.materials
    with pytest.raises(ConfigError, match="cannot read"):
        PreLLM("test/echo", "test/echo", "passthrough").run(QUESTION, files=[Path("/nope.log")])


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prellm", *args, "--small", "test/echo", "--large", "test/echo"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_file_and_piped_file(tmp_path):
    log = pod_log(2500)
    (tmp_path / "app.log").write_text(log)
    for args, stdin in (
        (["--file", str(tmp_path / "app.log")], None),
        (["--file", "-"], log),
    ):
        p = _cli(QUESTION, *args, "--json", "-s", "structure", stdin=stdin)
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["condensed"]["templates"] > 0 and "OOMKilled" in out["content"]


def test_cli_stdin_cannot_be_both_query_and_file():
    p = _cli("-", "--file", "-", stdin="x")
    assert p.returncode == 2 and "stdin is the file" in p.stderr


def test_the_proxy_takes_inline_files(serve):
    import openai

    url = serve(small="test/echo", large="test/echo", strategy="structure")
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60)
    log = pod_log(2500)
    r = client.chat.completions.create(
        model="prellm:default",
        messages=[{"role": "user", "content": QUESTION}],
        extra_body={"prellm": {"files": [{"name": "pods.log", "content": log}]}},
    )
    meta = r.model_extra["prellm"]
    assert meta["condensed"]["materials"] == {"pods.log": "log"}
    assert "OOMKilled" in _sent_text() and len(_sent_text()) < len(log) / 5
    bad = httpx.post(
        f"{url}/chat/completions",
        json={
            "model": "prellm:default",
            "messages": [{"role": "user", "content": QUESTION}],
            "prellm": {"files": [{"path": "/etc/passwd"}]},
        },
        timeout=30,
    )
    assert bad.status_code == 400 and "path" in bad.json()["error"]["message"]


def test_the_evidence_keeps_to_its_budget_and_says_what_was_left_out(tmp_path):
    from prellm.condense import count_tokens

    (tmp_path / "prellm.yaml").write_text("condense:\n  evidence_tokens: 300\n")
    lines = [f"2026-11-20T10:00:{i % 60:02d}Z ERROR job-{i} failed: code E{i}" for i in range(400)]
    lines += [f"2026-11-20T10:01:{i % 60:02d}Z WARN disk {i} slow" for i in range(400)]
    engine = PreLLM("test/echo", "test/echo", "passthrough", config=str(tmp_path / "prellm.yaml"))
    r = engine.run(QUESTION, files=["\n".join(lines * 10)])
    c = r.condensed
    assert c is not None and c.output_tokens <= 300
    turn = _large_request()["messages"][-1]["content"]
    assert count_tokens(turn) <= 300 + count_tokens(QUESTION) + 20


def test_an_all_noise_log_reports_no_incident():
    from prellm.condense import INCIDENT_KINDS

    log = pod_log(3000, oom=0)
    r = PreLLM("test/echo", "test/echo", "passthrough").run(QUESTION, files=[log])
    assert r.condensed is not None and r.condensed.findings >= 1
    turn = _large_request()["messages"][-1]["content"]
    assert not any(k.upper() in turn for k in INCIDENT_KINDS)


def test_a_bare_paste_without_a_question_is_condensed_and_asked_about():
    log = pod_log(3000)
    r = PreLLM("test/echo", "test/echo", "passthrough").run(log)
    assert r.condensed is not None and any("no question" in n for n in r.notices)
    turn = _large_request()["messages"][-1]["content"]
    assert turn.startswith("What does this material show?") and "OOMKilled" in turn
