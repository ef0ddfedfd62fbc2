"""User sensitive-data rules (loading errors, actions, anchors, windows, time limits) and the
filter's message, content and schema entry points."""

from __future__ import annotations

import pytest

from prellm import ConfigError
from prellm.safety import SensitiveDataError, SensitiveDataFilter, load_rules
from prellm.safety import rules as rules_module
from prellm.safety.rules import RuleSpec
from prellm.safety.scan import Scan


def _rules(tmp_path, body: str):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n" + body)
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "  - name: x\n    label: X\n    pattern: 'a'\n    anchors: [Tkt]\n",
            "anchors are non-empty lowercase literals",
        ),
        (
            "  - name: x\n    label: X\n    pattern: 'a'\n    anchored: true\n",
            "'anchored' and 'window' need 'anchors' or 'prefilter'",
        ),
        (
            "  - name: x\n    label: X\n    pattern: 'a'\n    window: [2, 2]\n",
            "'anchored' and 'window' need 'anchors' or 'prefilter'",
        ),
        (
            "  - name: x\n    label: X\n    pattern: 'tkt'\n    prefilter: 'tk'\n",
            "prefilter: only shipped rules have one",
        ),
    ],
)
def test_bad_user_rules_are_config_errors(tmp_path, body, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_rules([_rules(tmp_path, body)])
    assert "rules.yaml" in str(info.value)


def test_a_missing_rules_file_is_a_config_error_naming_it(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="nope.yaml: cannot read"):
        load_rules([missing])


def test_an_explicit_null_prefilter_is_no_prefilter():
    spec = RuleSpec.model_validate({"name": "x", "label": "X", "pattern": "a", "prefilter": None})
    assert spec.prefilter is None


def test_mask_action_keeps_only_the_last_four_characters(tmp_path):
    rules = _rules(
        tmp_path, "  - name: card\n    label: CARD\n    pattern: 'CARD-\\d{8}'\n    action: mask\n"
    )
    f = SensitiveDataFilter(load_rules([rules]))
    out = f.redact("paid with CARD-12345678 and CARD-9")
    assert out == "paid with *********5678 and CARD-9"
    assert f.report == {"card": 1}
    assert f.restore(out) == out  # a mask cannot be undone


def test_a_literal_user_pattern_is_redacted_wherever_it_occurs(tmp_path):
    rules = _rules(tmp_path, "  - name: codename\n    label: CODENAME\n    pattern: 'bluebird'\n")
    f = SensitiveDataFilter(load_rules([rules]))
    assert (
        f.redact("project bluebird, again bluebird") == "project [CODENAME_1], again [CODENAME_1]"
    )
    assert f.redact("nothing here") == "nothing here"


def test_an_empty_value_group_redacts_nothing(tmp_path):
    rules = _rules(
        tmp_path, "  - name: ref\n    label: REF\n    pattern: 'ref:(?P<value>[0-9]*)'\n"
    )
    f = SensitiveDataFilter(load_rules([rules]))
    assert f.redact("ref: none, ref:42") == "ref: none, ref:[REF_1]"
    assert f.report == {"ref": 1}


def test_a_windowed_user_rule_does_not_take_a_match_the_window_cut_short(tmp_path):
    # In the window "abc" ends the text, so "abc(?!d)" matches there; in the whole text
    # it is followed by "d": not a match, nothing redacted.
    rules = _rules(
        tmp_path,
        "  - name: code\n    label: CODE\n    anchors: [abc]\n    window: [0, 0]\n"
        "    pattern: 'abc(?!d)'\n",
    )
    f = SensitiveDataFilter(load_rules([rules]))
    pad = " " * 100
    assert f.redact("abcd" + pad) == "abcd" + pad
    assert f.redact("abc!" + pad) == "[CODE_1]!" + pad


def test_user_rule_out_of_time_before_it_starts_fails_closed(tmp_path, monkeypatch):
    rules = _rules(
        tmp_path,
        "  - name: ticket\n    label: TICKET\n    anchors: [tkt-]\n    anchored: true\n"
        "    pattern: 'tkt-\\d{4}'\n",
    )
    loaded = load_rules([rules])
    monkeypatch.setattr(rules_module, "USER_RULE_BUDGET", (0.0, 0.0))
    with pytest.raises(SensitiveDataError, match="'ticket'.*was not sent"):
        SensitiveDataFilter(loaded).redact("see tkt-1234")


def test_anchored_user_rule_that_backtracks_at_run_time_fails_closed(tmp_path, monkeypatch):
    # linear on the load-time probes (they never contain "xq"), exponential on a run of x's
    rules = _rules(
        tmp_path,
        "  - name: slowq\n    label: SLOWQ\n    anchors: [xq]\n    anchored: true\n"
        "    pattern: 'xq(?:x|xx)+\\d'\n",
    )
    loaded = load_rules([rules])
    monkeypatch.setattr(rules_module, "USER_RULE_BUDGET", (0.05, 0.0))
    with pytest.raises(SensitiveDataError, match="slowq"):
        SensitiveDataFilter(loaded).redact("see xq" + "x" * 60 + " end")


# --- the filter's entry points ----------------------------------------------------------


def test_redact_content_handles_strings_parts_and_other_values():
    f = SensitiveDataFilter()
    assert f.redact_content("mail jan@firma.pl") == "mail [EMAIL_1]"
    parts = [
        {"type": "text", "text": "to jan@firma.pl"},
        {"type": "image_url", "image_url": {"url": "https://x/jan@firma.pl"}},
        "raw",
    ]
    assert f.redact_content(parts) == [
        {"type": "text", "text": "to [EMAIL_1]"},
        parts[1],  # only text parts are redacted
        "raw",
    ]
    assert f.redact_content(None) is None


def test_redact_messages_keeps_every_other_field():
    f = SensitiveDataFilter()
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "write to ola@firma.pl", "name": "jan"},
        {"role": "assistant", "tool_calls": []},
    ]
    assert f.redact_messages(messages) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "write to [EMAIL_1]", "name": "jan"},
        {"role": "assistant", "tool_calls": [], "content": None},
    ]
    assert messages[1]["content"] == "write to ola@firma.pl"  # the input is not changed


def test_redact_schema_walks_lists_and_nested_schemas_but_not_enums():
    f = SensitiveDataFilter()
    schema = {
        "type": ["string", "null"],
        "items": {"description": "mail jan@firma.pl", "enum": [{"to": "jan@firma.pl"}]},
        "anyOf": [{"title": "ola@firma.pl"}, True],
    }
    out = f.redact_schema(schema)
    assert out == {
        "type": ["string", "null"],
        "items": {"description": "mail [EMAIL_1]", "enum": [{"to": "jan@firma.pl"}]},
        "anyOf": [{"title": "[EMAIL_2]"}, True],
    }
    out["items"]["enum"][0]["to"] = "changed"
    assert schema["items"]["enum"][0]["to"] == "jan@firma.pl"  # a deep copy
    assert f.redact_schema([{"description": "x jan@firma.pl"}]) == [{"description": "x [EMAIL_1]"}]


# --- the scan's windows -----------------------------------------------------------------


def test_scan_windows_of_anchors_at_one_place_merge_and_are_memoised():
    scan = Scan("x" * 50 + "abc" + "y" * 100)
    first = scan.windows(("ab", "abc"), (2, 2))
    assert first == [(48, 55)]
    assert scan.windows(("ab", "abc"), (2, 2)) is first


def test_scan_prefilter_with_unicode_classes_runs_on_the_text():
    scan = Scan("ąę 12 żź " + "z" * 400)
    assert scan.pattern_windows(r"\d+", (1, 1)) == [(2, 6)]
