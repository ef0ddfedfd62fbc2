"""Intent shortlists: the "none of these" label's place, and calibrating its threshold."""

from __future__ import annotations

import pytest

from prellm.config.schema import IntentSpec
from prellm.intents import LabelIndex, calibrate_oos_score, shortlist_size

INTENTS = [
    IntentSpec(
        name="deploy",
        description="ship a release to an environment",
        examples=["deploy the app to production", "roll out version 2 to staging"],
    ),
    IntentSpec(
        name="rollback",
        description="go back to an earlier release",
        examples=["roll back the last deployment", "revert production to yesterday"],
    ),
    IntentSpec(name="billing", examples=["why is my invoice so high"]),
    IntentSpec(name="out_of_scope", description="anything else"),
]


@pytest.fixture
def index() -> LabelIndex:
    return LabelIndex(INTENTS)


def _names(items: list[dict[str, str]]) -> list[str]:
    return [i["name"] for i in items]


def test_the_fallback_label_goes_last_when_a_label_matches_well(index):
    items = index.shortlist(
        "deploy the app to production", 2, fallback="out_of_scope", fallback_score=0.5
    )
    assert _names(items) == ["deploy", "rollback", "out_of_scope"]
    assert items[0]["description"] == (
        'ship a release to an environment (e.g. "deploy the app to production")'
    )
    assert items[-1] == {"name": "out_of_scope", "description": "anything else"}


def test_the_fallback_label_goes_first_when_nothing_matches(index):
    items = index.shortlist("bake a chocolate cake", 2, fallback="out_of_scope", fallback_score=0.5)
    assert _names(items)[0] == "out_of_scope" and len(items) == 3


def test_the_fallback_label_goes_before_the_first_weak_match(index):
    strong = index.rank("roll back production", 1)[0].score
    items = index.shortlist(
        "roll back production", 3, fallback="out_of_scope", fallback_score=strong
    )
    assert _names(items)[0] == "rollback" and _names(items)[1] == "out_of_scope"


def test_without_a_threshold_the_fallback_is_offered_last_and_once(index):
    items = index.shortlist("anything else entirely", 4, fallback="out_of_scope")
    assert _names(items).count("out_of_scope") == 1 and _names(items)[-1] == "out_of_scope"
    assert "e.g." not in items[-1]["description"]


def test_a_label_without_description_is_described_by_its_name(index):
    items = index.shortlist("invoice too high", 1)
    assert items == [
        {"name": "billing", "description": 'billing (e.g. "why is my invoice so high")'}
    ]


def test_calibration_picks_a_score_that_separates_in_scope_from_out_of_scope(index):
    in_scope = ["deploy version 3 to production", "roll back the release", "invoice is high"]
    out_of_scope = ["bake a cake", "what is the weather", "tell me a joke"]
    threshold = calibrate_oos_score(index, in_scope, out_of_scope)
    top = {t: index.rank(t, 1)[0].score for t in in_scope + out_of_scope}
    assert all(top[t] < threshold for t in out_of_scope)
    assert all(top[t] >= threshold for t in in_scope)
    assert threshold == min(top[t] for t in in_scope) > 0  # the lowest that separates them


def test_calibration_needs_both_kinds_of_text(index):
    with pytest.raises(ValueError, match="in-scope and out-of-scope"):
        calibrate_oos_score(index, [], ["bake a cake"])
    with pytest.raises(ValueError, match="in-scope and out-of-scope"):
        calibrate_oos_score(index, ["deploy it"], [])


def test_shortlist_size_defaults_and_limits():
    assert shortlist_size(77, None) == 8 and shortlist_size(20, None) == 0
    assert shortlist_size(10, 4) == 4 and shortlist_size(10, 0) == 0
    assert shortlist_size(5, 5) == 0  # as many as there are: no shortlist
