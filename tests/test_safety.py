"""SensitiveDataFilter: the corpus figures, reversibility, streaming, and what really leaves."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner
from sensitive_corpus import CLEAN, KINDS, SENSITIVE

from prellm import ConfigError, preprocess_and_execute, preprocess_and_execute_sync
from prellm.cli.main import cli
from prellm.providers.testing import recorded_requests, register_function
from prellm.safety import SensitiveDataFilter, load_rules


def test_corpus_recall_is_complete_and_every_value_comes_back():
    assert len(SENSITIVE) >= 100 and len({k for k, _, _ in SENSITIVE}) >= 20
    missed = []
    for kind, value, text in SENSITIVE:
        f = SensitiveDataFilter()
        redacted = f.redact(text)
        if value in redacted or f.restore(redacted) != text:
            missed.append((kind, redacted))
    assert missed == []


def test_clean_corpus_is_untouched():
    assert len(CLEAN) >= 100
    changed = [(t, SensitiveDataFilter().redact(t)) for t in CLEAN]
    assert [c for c in changed if c[0] != c[1]] == []


def test_same_value_same_placeholder_and_report_has_no_values():
    f = SensitiveDataFilter()
    a = f.redact("mail jan@firma.pl and again jan@firma.pl, also ola@firma.pl")
    assert a == "mail [EMAIL_1] and again [EMAIL_1], also [EMAIL_2]"
    assert f.report == {"email": 2}
    assert "firma" not in str(f.report)


def test_stream_restorer_handles_a_placeholder_split_across_chunks():
    f = SensitiveDataFilter()
    f.redact("key sk-proj-" + "a" * 40)
    r = f.restorer()
    chunks = ["Use ", "[SEC", "RET_", "1] in", " the header [", "not a placeholder"]
    out = "".join(r.feed(c) for c in chunks) + r.flush()
    assert out == "Use sk-proj-" + "a" * 40 + " in the header [not a placeholder"


def test_user_rules_add_and_override(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: employee_id\n    label: EMPLOYEE\n    pattern: 'EMP-\\d{6}'\n  - name: email\n    label: EMAIL\n    pattern: '\\S+@\\S+'\n    action: keep\n"
    )
    f = SensitiveDataFilter(load_rules([rules]))
    assert f.redact("EMP-123456 wrote to a@b.pl") == "[EMPLOYEE_1] wrote to a@b.pl"
    assert f.report == {"employee_id": 1, "email": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [", "rules.yaml:1"),
        ("rules:\n  - name: x\n    label: lower\n    pattern: 'a'\n", "label"),
        ("rules:\n  - name: x\n    label: X\n    pattern: '('\n", "invalid regex"),
        (
            "rules:\n  - name: x\n    label: X\n    pattern: 'a'\n    validator: eval\n",
            "unknown validator",
        ),
    ],
)
def test_bad_rule_files_are_config_errors_naming_the_file(tmp_path, text, message):
    rules = tmp_path / "rules.yaml"
    rules.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_rules([rules])
    assert "rules.yaml" in str(info.value)


SECRETS = {
    k: KINDS[k][0] for k in ("openai_project_key", "email", "iban", "password_assignment", "pesel")
}
QUERY = (
    f"My key is {SECRETS['openai_project_key']}, write to {SECRETS['email']}, "
    f"pay to {SECRETS['iban']}, db password: {SECRETS['password_assignment']}, PESEL {SECRETS['pesel']}."
)


def test_no_secret_reaches_the_large_model_and_the_answer_gets_them_back():
    large = register_function("echo_large", lambda m, p: "You said: " + m[-1]["content"])
    r = preprocess_and_execute_sync(
        QUERY, small_llm="test/echo", large_llm=large, strategy="structure"
    )
    sent = str(recorded_requests(large))
    for value in SECRETS.values():
        assert value not in sent
        assert value in r.content
        assert value not in r.decomposition.composed_prompt
    assert "[SECRET_1]" in sent and "[EMAIL_1]" in sent
    assert r.redactions == {
        "openai_key": 1,
        "email": 1,
        "iban": 1,
        "assigned_secret": 1,
        "pesel": 1,
    }
    assert any("redacted before sending" in n for n in r.notices)


def test_a_local_small_model_may_see_the_raw_text():
    preprocess_and_execute_sync(
        QUERY, small_llm="test/echo", large_llm="test/echo", strategy="classify"
    )
    assert SECRETS["email"] in str(recorded_requests("test/echo")[0]["messages"])


def test_remote_small_model_never_sees_secrets(provider):
    import json

    from prellm import PreLLM

    provider.responder = lambda body: json.dumps(
        {"intent": "other", "confidence": 1, "domain": "x", "language": "en", "missing": []}
    )
    PreLLM(
        "openai/small",
        "test/echo",
        "classify",
        small_kwargs={"api_base": provider.url, "api_key": "sk-x"},
    ).run(QUERY, user_context=f"mail {SECRETS['email']}")
    sent = str(provider.requests)
    for value in SECRETS.values():
        assert value not in sent


async def test_streamed_answers_are_restored():
    large = register_function("echo_large", lambda m, p: "Noted: " + m[-1]["content"])
    stream = await preprocess_and_execute(
        QUERY, small_llm="test/echo", large_llm=large, strategy="passthrough", stream=True
    )
    events = [e async for e in stream]
    text = "".join(e for e in events if isinstance(e, str))
    assert text == events[-1].content
    assert SECRETS["iban"] in text and "[IBAN_1]" not in text


def test_no_sanitize_sends_values_as_they_are():
    large = register_function("echo_large", lambda m, p: "ok")
    r = preprocess_and_execute_sync(
        QUERY, small_llm="test/echo", large_llm=large, strategy="passthrough", sanitize=False
    )
    assert SECRETS["email"] in str(recorded_requests(large))
    assert r.redactions == {}


def test_cli_query_full_of_secrets_against_a_recording_provider(provider, monkeypatch):
    monkeypatch.setenv("OPENAI_API_BASE", provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-upstream")
    provider.responder = lambda body: "Stored " + body["messages"][-1]["content"]
    r = CliRunner().invoke(
        cli, [QUERY, "--small", "test/echo", "--large", "openai/big", "-s", "passthrough"]
    )
    assert r.exit_code == 0, r.stderr
    sent = str(provider.requests)
    for value in SECRETS.values():
        assert value not in sent
        assert value in r.stdout
        assert value not in r.stderr


def test_no_secret_in_any_log_line(caplog, provider):
    caplog.set_level(logging.DEBUG)
    provider.responder = lambda body: (500, "upstream rejected " + body["messages"][-1]["content"])
    with pytest.raises(Exception) as info:
        preprocess_and_execute_sync(
            QUERY,
            small_llm="test/echo",
            large_llm="openai/big",
            strategy="passthrough",
            api_base=provider.url,
            api_key="sk-live-key-000000000000000000",
            num_retries=0,
        )
    logged = caplog.text + str(info.value)
    for value in [*SECRETS.values(), "sk-live-key-000000000000000000"]:
        assert value not in logged
