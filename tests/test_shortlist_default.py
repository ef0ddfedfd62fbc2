"""Big taxonomies are shortlisted by default: more than 20 intents, 8 offered per request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from prellm import PreLLM
from prellm.cli.main import cli
from prellm.config.loader import load_config
from prellm.errors import ConfigError
from prellm.intents import DEFAULT_SHORTLIST, shortlist_size
from prellm.providers.testing import recorded_requests, register_function

WORDS = [
    "refund", "card", "transfer", "rate", "pin", "fee", "atm", "loan", "salary", "cheque",
    "deposit", "wallet", "crypto", "limit", "statement", "address", "phone", "tax",
    "invoice", "pension", "mortgage", "insurance", "savings", "travel", "beneficiary",
]  # fmt: skip


def taxonomy(path: Path, count: int, shortlist: str | None = None) -> None:
    head = f"shortlist: {shortlist}\n" if shortlist is not None else ""
    path.write_text(
        head
        + "intents:\n"
        + "".join(
            f"  - {{name: {w}_help, examples: ['a question about my {w}']}}\n"
            for w in WORDS[:count]
        )
    )


def offered() -> list[str]:
    sent = recorded_requests("test/echo")[0]["params"]["response_format"]["json_schema"]
    return sent["schema"]["properties"]["intent"]["enum"]


def test_the_default_size():
    assert [shortlist_size(n, None) for n in (5, 20, 21, 77)] == [0, 0, DEFAULT_SHORTLIST, 8]
    assert shortlist_size(77, 0) == 0 and shortlist_size(77, 12) == 12
    assert shortlist_size(5, 8) == 0  # no fewer than asked: nothing to shortlist


def test_a_big_intents_file_is_shortlisted_without_asking(project):
    taxonomy(project / "intents.yaml", 25)
    (project / "prellm.yaml").write_text("intents: intents.yaml\nstrategy: classify\n")
    index, k = load_config().intent_shortlist or (None, None)
    assert index is not None and k == 8
    PreLLM("test/echo", "test/echo").run("I lost my card at the atm")
    names = offered()
    assert len(names) == 8 and {"card_help", "atm_help"} <= set(names)


@pytest.mark.parametrize(("count", "shortlist", "expected"), [(25, "0", 25), (20, None, 20)])
def test_a_small_taxonomy_or_shortlist_zero_offers_every_intent(
    project, count, shortlist, expected
):
    taxonomy(project / "intents.yaml", count, shortlist)
    (project / "prellm.yaml").write_text("intents: intents.yaml\nstrategy: classify\n")
    assert load_config().intent_shortlist is None
    PreLLM("test/echo", "test/echo").run("I lost my card at the atm")
    assert len(offered()) == expected


def test_a_shortlist_of_one_is_refused(project):
    taxonomy(project / "intents.yaml", 25, "1")
    (project / "prellm.yaml").write_text("intents: intents.yaml\n")
    with pytest.raises(ConfigError, match="at least 2"):
        load_config()


def _first_label(messages, params):
    enum = params["response_format"]["json_schema"]["schema"]["properties"]["intent"]["enum"]
    return json.dumps({"intent": enum[0], "confidence": 0.9, "language": "en", "missing": []})


@pytest.mark.parametrize(
    ("extra", "k"), [([], 8), (["--no-shortlist"], None), (["--shortlist", "0"], None)]
)
def test_eval_classify_shortlists_a_big_label_set_by_default(project, extra, k):
    small = register_function(f"first{len(extra)}", _first_label)
    data = project / "d.csv"
    data.write_text(
        "text,label\n" + "".join(f"my {w} question {i},{w}\n" for w in WORDS for i in range(2))
    )
    args = ["eval", "classify", str(data), "--small", small, "--limit", "2", "--json"]
    r = CliRunner().invoke(cli, [*args, *extra])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["shortlist_k"] == k
    offered = recorded_requests(small)[0]["params"]["response_format"]["json_schema"]
    assert len(offered["schema"]["properties"]["intent"]["enum"]) == (k or len(WORDS))


def test_eval_classify_refuses_both_shortlist_options(project):
    data = project / "d.csv"
    data.write_text("text,label\nhello,greet\nmoney back,refund\n")
    r = CliRunner().invoke(
        cli,
        ["eval", "classify", str(data), "--small", "test/echo", "--shortlist", "3"]
        + ["--no-shortlist"],
    )
    assert r.exit_code == 2 and "choose one" in r.stderr
