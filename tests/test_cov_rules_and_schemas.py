"""Domain rules (keyword matching across case, accents and inflections) and response schemas
(a schemas.yaml entry, a dict or a Pydantic model becoming a validating model)."""

from __future__ import annotations

import pydantic
import pytest

from prellm.config.schema import DomainRule, ResponseSchemaSpec
from prellm.errors import ConfigError
from prellm.response_schema import model_of, schema_request
from prellm.rules import match_rules, normalize


def _rule(name: str, keywords: list[str], require: list[dict] | None = None) -> DomainRule:
    return DomainRule.model_validate({"name": name, "keywords": keywords, "require": require or []})


DEPLOY = _rule(
    "deploy",
    ["wdrożenie", "deploy", "release notes"],
    require=[
        {"name": "environment", "keywords": ["production", "staging", "środowisko"]},
        {"name": "version", "pattern": r"\bv?\d+\.\d+(\.\d+)?\b"},
    ],
)
CONTRACT = _rule("contract", ["umowa"], require=[{"name": "parties", "keywords": ["strony"]}])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wdróż ŁÓDŹ", "wdroz lodz"),
        ("Straße", "strasse"),
        ("øresund đakovo", "oresund dakovo"),
        ("ÉCOLE", "ecole"),
    ],
)
def test_normalize_drops_case_and_accents(text, expected):
    assert normalize(text) == expected


def test_a_keyword_matches_a_longer_word_and_across_accents():
    match = match_rules("Plan the deployment to production of v2.3", [CONTRACT, DEPLOY])
    assert match is not None and match.rule.name == "deploy"
    assert match.missing == []
    assert match_rules("Zaplanuj WDROZENIE", [DEPLOY]).rule.name == "deploy"


def test_an_inflected_polish_word_matches_its_keyword():
    """'umowa' (5+ letters) drops its last letter: 'umowę', 'umowy' match too."""
    for query in ("Sprawdź umowę najmu", "Warunki umowy", "umowa"):
        match = match_rules(query, [CONTRACT])
        assert match is not None and match.missing == ["parties"], query


def test_a_short_keyword_is_a_prefix_not_a_stem():
    cat = _rule("cat", ["cat"])
    assert match_rules("my category", [cat]) is not None
    assert match_rules("a ca", [cat]) is None


def test_a_phrase_keyword_needs_the_words_in_order():
    assert match_rules("write the release notes for 1.2", [DEPLOY]).rule.name == "deploy"
    assert match_rules("notes on the release", [DEPLOY]) is None


def test_missing_facts_are_listed_in_rule_order():
    match = match_rules("deploy it", [DEPLOY])
    assert match is not None and match.missing == ["environment", "version"]
    match = match_rules("deploy 1.4 please", [DEPLOY])
    assert match.missing == ["environment"]  # the pattern found the version
    match = match_rules("deploy to staging", [DEPLOY])
    assert match.missing == ["version"]


def test_the_first_matching_rule_wins_and_no_match_is_none():
    both = "deploy the umowa"
    assert match_rules(both, [CONTRACT, DEPLOY]).rule.name == "contract"
    assert match_rules(both, [DEPLOY, CONTRACT]).rule.name == "deploy"
    assert match_rules("hello there", [CONTRACT, DEPLOY]) is None
    assert match_rules("deploy", []) is None


SCHEMAS = {
    "ticket": ResponseSchemaSpec.model_validate(
        {
            "description": "a support ticket",
            "fields": {
                "summary": {"type": "string", "min_length": 3, "max_length": 40},
                "priority": {"type": "string", "enum": ["low", "high"]},
                "score": {"type": "number", "minimum": 0, "maximum": 1},
                "count": {"type": "integer", "required": False},
                "urgent": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "anything": {"type": "array"},
                "meta": {"type": "object"},
                "owner": {
                    "type": "object",
                    "fields": {"name": {"type": "string", "description": "who"}},
                },
            },
        }
    )
}
GOOD = {
    "summary": "Printer on fire",
    "priority": "high",
    "score": 0.5,
    "urgent": True,
    "tags": ["hw"],
    "anything": [1, "a"],
    "meta": {"k": 1},
    "owner": {"name": "Ada"},
}


def test_a_named_schema_validates_what_it_describes():
    req = schema_request(SCHEMAS, "ticket")
    assert req is not None and req.name == "ticket"
    value = req.model.model_validate(GOOD)
    assert value.count is None and value.owner.name == "Ada"
    props = req.json_schema["properties"]
    assert set(props) == set(SCHEMAS["ticket"].fields)
    assert "count" not in req.json_schema.get("required", [])
    assert "summary" in req.json_schema["required"]


@pytest.mark.parametrize(
    "change",
    [
        {"summary": "ab"},  # too short
        {"priority": "urgent"},  # not in the enum
        {"score": 1.5},  # above the maximum
        {"tags": "hw"},  # not an array
        {"owner": {"name": "Ada", "age": 3}},
        {"extra": 1},
    ],
)
def test_a_named_schema_refuses_what_it_does_not_describe(change):
    model = schema_request(SCHEMAS, "ticket").model
    with pytest.raises(pydantic.ValidationError):
        model.model_validate({**GOOD, **change})


def test_a_required_field_must_be_there():
    model = schema_request(SCHEMAS, "ticket").model
    with pytest.raises(pydantic.ValidationError):
        model.model_validate({k: v for k, v in GOOD.items() if k != "urgent"})


def test_an_unknown_schema_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown response schema 'nope' \(known: ticket\)"):
        schema_request(SCHEMAS, "nope")
    with pytest.raises(ConfigError, match=r"known: none configured"):
        schema_request({}, "nope")


def test_a_dict_schema_and_a_pydantic_model_are_taken_as_they_are():
    req = schema_request({}, {"fields": {"answer": {"type": "integer"}}})
    assert req.name == "response" and req.model.model_validate({"answer": 4}).answer == 4

    class Verdict(pydantic.BaseModel):
        ok: bool

    req = schema_request({}, Verdict)
    assert req.name == "Verdict" and req.model is Verdict
    assert req.json_schema["properties"]["ok"]["type"] == "boolean"
    assert schema_request(SCHEMAS, None) is None


def test_an_invalid_dict_schema_is_a_config_error():
    with pytest.raises(ConfigError, match="invalid response schema"):
        schema_request({}, {"fields": {"answer": {"type": "float"}}})


def test_model_names_are_class_like():
    spec = SCHEMAS["ticket"]
    assert model_of("support_ticket", spec).__name__ == "SupportTicket"
    assert model_of("my-answer", spec).__name__ == "MyAnswer"
    assert model_of("", spec).__name__ == "Response"


def test_a_field_named_title_stays_in_the_schema():
    spec = ResponseSchemaSpec.model_validate({"fields": {"title": {"type": "string"}}})
    req = schema_request({"doc": spec}, "doc")
    assert "title" in req.json_schema["properties"]
