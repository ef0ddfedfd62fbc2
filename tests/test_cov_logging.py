"""The ``prellm`` logger tree: levels, text or JSON lines, and no secret in any line."""

from __future__ import annotations

import json
import logging
import logging.config

import pytest

from prellm.observability.logging import (
    JsonFormatter,
    ScrubSecrets,
    get_logger,
    install_scrubber,
    json_logs,
    scrub,
    setup_logging,
    uvicorn_log_config,
)

NAMES = ("prellm", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture(autouse=True)
def _restore_loggers(monkeypatch):
    """Each test configures logging as an application would; put everything back after."""
    monkeypatch.delenv("PRELLM_LOG_FORMAT", raising=False)
    saved = {}
    for name in NAMES:
        lg = logging.getLogger(name)
        saved[name] = (lg.level, list(lg.handlers), list(lg.filters), lg.propagate, lg.disabled)
    yield
    for name, (level, handlers, filters, propagate, disabled) in saved.items():
        lg = logging.getLogger(name)
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.filters[:] = filters
        lg.propagate, lg.disabled = propagate, disabled


def _record(msg: object, args: object = None, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("prellm.test", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_scrub_redacts_authorization_and_api_keys():
    line = 'headers={"Authorization": "abc123", "x-api-key": "k-999"} api_key=s3cret'
    clean = scrub(line)
    assert "abc123" not in clean and "k-999" not in clean and "s3cret" not in clean
    assert clean.count("[REDACTED]") == 3
    assert scrub("nothing to hide here") == "nothing to hide here"


def test_a_bearer_token_is_redacted_not_just_its_scheme():
    assert "abc123" not in scrub("Authorization: Bearer abc123")


def test_a_record_is_scrubbed_in_its_arguments_and_its_message():
    positional = _record("calling %s with %s", ("upstream", "api_key=s3cret"))
    assert ScrubSecrets().filter(positional) is True
    assert positional.args[0] == "upstream" and "s3cret" not in positional.args[1]
    assert "s3cret" not in positional.getMessage()

    # A dict argument is scrubbed value by value; non-strings pass through.
    named = _record("%(who)s %(n)d", None)
    named.args = {"who": "x-api-key: t0ken", "n": 3}
    ScrubSecrets().filter(named)
    assert named.args["n"] == 3 and "t0ken" not in named.getMessage()

    # A secret that only appears once the message is merged is caught there.
    merged = _record("api_%s", ("key=s3cret",))
    ScrubSecrets().filter(merged)
    assert merged.getMessage() == "api_key=[REDACTED]" and merged.args is None


def test_a_secret_passed_as_an_argument_after_its_name_is_redacted():
    rec = _record("api_key=%s", ("s3cret",))
    ScrubSecrets().filter(rec)
    assert rec.getMessage() == "api_key=[REDACTED]"


def test_get_logger_adds_its_scrubber_once():
    lg = get_logger("prellm.test.once")
    get_logger("prellm.test.once")
    assert sum(isinstance(f, ScrubSecrets) for f in lg.filters) == 1


def test_json_lines_carry_level_logger_message_and_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = _record("failed %s", ("here",), exc_info=sys.exc_info())
    line = json.loads(JsonFormatter().format(rec))
    assert line["level"] == "warning" and line["logger"] == "prellm.test"
    assert line["message"] == "failed here"
    assert line["ts"].endswith("Z") and "T" in line["ts"]
    assert "ValueError: boom" in line["exc"]
    assert "exc" not in json.loads(JsonFormatter().format(_record("plain")))


@pytest.mark.parametrize(
    ("verbosity", "env", "level"),
    [
        (0, None, logging.WARNING),
        (1, None, logging.INFO),
        (2, None, logging.DEBUG),
        (5, None, logging.DEBUG),
        (0, "debug", logging.DEBUG),
        (2, "error", logging.ERROR),
        (0, "nonsense", logging.WARNING),
    ],
)
def test_the_level_comes_from_verbosity_or_the_environment(monkeypatch, verbosity, env, level):
    if env is None:
        monkeypatch.delenv("PRELLM_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("PRELLM_LOG_LEVEL", env)
    setup_logging(verbosity)
    assert logging.getLogger("prellm").level == level


def test_setup_logging_writes_scrubbed_text_lines_to_stderr_once(capsys, monkeypatch):
    monkeypatch.delenv("PRELLM_LOG_LEVEL", raising=False)
    setup_logging(1)
    setup_logging(1)  # idempotent: still one handler of ours
    lg = logging.getLogger("prellm")
    assert sum(getattr(h, "_prellm", False) for h in lg.handlers) == 1 and not lg.propagate
    logging.getLogger("prellm.x").info("key is api_key=s3cret")
    err = capsys.readouterr().err
    assert err.count("key is api_key=[REDACTED]") == 1
    assert " INFO prellm.x: " in err and "s3cret" not in err


def test_setup_logging_writes_json_when_asked(capsys, monkeypatch):
    monkeypatch.delenv("PRELLM_LOG_LEVEL", raising=False)
    monkeypatch.setenv("PRELLM_LOG_FORMAT", "JSON")
    assert json_logs()
    setup_logging(0)
    logging.getLogger("prellm.y").warning("budget at %d%%", 90)
    line = json.loads(capsys.readouterr().err.strip())
    assert line["message"] == "budget at 90%" and line["level"] == "warning"
    monkeypatch.delenv("PRELLM_LOG_FORMAT")
    setup_logging(0, fmt="json")  # the argument works without the environment
    logging.getLogger("prellm.y").warning("again")
    assert json.loads(capsys.readouterr().err.strip())["message"] == "again"


def test_install_scrubber_guards_an_application_configured_tree(caplog):
    install_scrubber()
    install_scrubber()
    lg = logging.getLogger("prellm")
    assert sum(isinstance(f, ScrubSecrets) for f in lg.filters) == 1
    with caplog.at_level(logging.WARNING, logger="prellm"):
        lg.warning("Authorization: t0ken")
    assert "t0ken" not in caplog.text and "[REDACTED]" in caplog.text


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_uvicorn_config_applies_and_scrubs(capsys, monkeypatch, fmt):
    if fmt == "json":
        monkeypatch.setenv("PRELLM_LOG_FORMAT", "json")
    config = uvicorn_log_config(verbose=True)
    assert {n: c["level"] for n, c in config["loggers"].items()} == dict.fromkeys(NAMES, "INFO")
    assert uvicorn_log_config(verbose=False)["loggers"]["uvicorn"]["level"] == "WARNING"
    logging.config.dictConfig(config)
    logging.getLogger("uvicorn.access").info('"GET /v1/models?api_key=s3cret HTTP/1.1" 200')
    err = capsys.readouterr().err.strip()
    # Once litellm is imported, its own record factory may have redacted it first.
    assert "s3cret" not in err and "REDACTED" in err
    if fmt == "json":
        assert json.loads(err)["logger"] == "uvicorn.access"
    else:
        assert " INFO uvicorn.access: " in err
