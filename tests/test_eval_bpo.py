"""prellm eval compare on prompt sets (BPO's format): fields, the seeded sample, the
rewrite contender and the wins/ties/losses of a position-swapped judge."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from prellm import ConfigError
from prellm.cli.main import cli
from prellm.eval.compare import run_compare
from prellm.eval.data import Task, load_prompts, sample
from prellm.providers.testing import recorded_requests, register_function


@pytest.fixture(autouse=True)
def _eval_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PRELLM_EVAL_DIR", str(tmp_path / "eval"))


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _bpo_items(n: int) -> list[dict[str, str]]:
    """Items shaped like BPO's bpo_test.json."""
    return [
        {
            "prompt": f"question {i}",
            "optimized_prompt": f"question {i}, answered step by step",
            "good_res": "g",
            "bad_res": "b",
        }
        for i in range(1, n + 1)
    ]


def test_prompt_sets_in_jsonl_and_json(tmp_path):
    vicuna = _jsonl(
        tmp_path / "vicuna.jsonl",
        [
            {"question_id": 1, "text": "  How do I sleep better?  ", "category": "generic"},
            {"question_id": 2, "text": "Write a haiku", "category": "writing"},
        ],
    )
    tasks = load_prompts(vicuna)
    assert [(t.id, t.query, t.rewrite) for t in tasks] == [
        ("vicuna:1", "How do I sleep better?", None),
        ("vicuna:2", "Write a haiku", None),
    ]
    bpo = tmp_path / "bpo.json"
    bpo.write_text(json.dumps(_bpo_items(2)), encoding="utf-8")
    tasks = load_prompts(bpo, "prompt", "optimized_prompt")
    assert [(t.id, t.query, t.rewrite) for t in tasks] == [
        ("bpo:1", "question 1", "question 1, answered step by step"),
        ("bpo:2", "question 2", "question 2, answered step by step"),
    ]
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": _bpo_items(1)}), encoding="utf-8")
    assert load_prompts(wrapped, "prompt")[0].query == "question 1"


def test_prompt_set_errors_name_the_file_item_and_fields(tmp_path):
    bpo = tmp_path / "bpo.json"
    bpo.write_text(json.dumps(_bpo_items(2)), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bpo.json:1: no text in field 'text' \(fields: bad_res"):
        load_prompts(bpo)
    with pytest.raises(ConfigError, match="bpo.json:1: no text in field 'rewrite'"):
        load_prompts(bpo, "prompt", "rewrite")
    bad = _jsonl(tmp_path / "bad.jsonl", [{"text": "ok"}])
    bad.write_text(bad.read_text() + '{"text": \n', encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.jsonl:2: not valid JSON"):
        load_prompts(bad)
    scalar = tmp_path / "scalar.json"
    scalar.write_text('{"text": "one"}', encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a JSON array"):
        load_prompts(scalar)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty"):
        load_prompts(empty)


def test_the_seeded_sample_is_stable(tmp_path):
    path = tmp_path / "bpo.json"
    path.write_text(json.dumps(_bpo_items(40)), encoding="utf-8")
    ids = [t.id for t in sample(load_prompts(path, "prompt", "optimized_prompt"), 5, seed=17)]
    again = [t.id for t in sample(load_prompts(path, "prompt", "optimized_prompt"), 5, seed=17)]
    other = [t.id for t in sample(load_prompts(path, "prompt"), 5, seed=18)]
    assert ids == again and len(set(ids)) == 5 and ids != other
    assert ids == sorted(ids, key=lambda i: int(i.split(":")[1]))  # file order


def test_the_rewrite_is_answered_by_the_same_large_model_without_the_small_one():
    large = register_function("bpo_large", lambda m, p: f"answer to: {m[-1]['content']}")
    small = register_function("bpo_small", lambda m, p: "not JSON")  # never asked here
    task = Task(id="t", query="Explain DNS", rewrite="Explain DNS to a beginner, in 3 steps")
    report = run_compare([task], small, large, ["passthrough"], rewrite="bpo", max_tokens=64)
    sent = [r["messages"][-1]["content"] for r in recorded_requests(large)]
    assert sent == ["Explain DNS", "Explain DNS to a beginner, in 3 steps"]
    assert all(r["params"]["max_tokens"] == 64 for r in recorded_requests(large))
    assert recorded_requests(small) == []
    items = report["items"]
    assert items["bpo"][0]["answer"] == "answer to: Explain DNS to a beginner, in 3 steps"
    assert list(report["strategies"]) == ["passthrough", "bpo"] and report["rewrite"] == "bpo"
    # A rewrite identical to the prompt is passthrough's request: its answer, not a second
    # generation, a tie with it without asking the judge.
    judge = register_function("bpo_never", lambda m, p: json.dumps({"winner": "A", "reason": ""}))
    same = Task(id="s", query="Explain TCP", rewrite="Explain TCP")
    before = len(recorded_requests(large))
    report = run_compare([same], small, large, [], judge_model=judge, rewrite="bpo")
    assert [r["messages"][-1]["content"] for r in recorded_requests(large)[before:]] == [
        "Explain TCP"
    ]
    bpo = report["items"]["bpo"][0]
    assert bpo["reused"] == "passthrough" and bpo["verdict"] == "tie"
    assert report["strategies"]["passthrough"]["vs_bpo"]["ties"] == 1
    assert recorded_requests(judge) == []
    # Without a rewrite on every task there is no such contender.
    report = run_compare([Task(id="u", query="Explain DNS")], small, large, [], rewrite="bpo")
    assert list(report["strategies"]) == ["passthrough"] and report["rewrite"] is None


def _kind(answer: str) -> str:
    return answer.split(":")[0]


def _scripted_judge(messages, params):
    """Judges by the script in the request: 'prefer x>y>z' (wherever the answers stand)
    or 'always A' / 'always B' (pure position bias)."""
    text = messages[-1]["content"]
    request = re.search(r'Request: """(.*?)"""', text, re.S).group(1)
    a = _kind(text.split("Answer A:")[1].split('"""')[1])
    b = _kind(text.split("Answer B:")[1].split('"""')[1])
    if request.startswith("always"):
        return json.dumps({"winner": request.split()[1], "reason": "position"})
    order = request.split("prefer ")[1].split(">")
    return json.dumps({"winner": "A" if order.index(a) < order.index(b) else "B", "reason": "x"})


def _labelled_large(messages, params):
    """plain: the original prompt; rewritten: the rewrite; composed: a strategy's prompt."""
    text = messages[-1]["content"]
    if text.startswith(("prefer", "always")):
        return "plain: " + text
    return ("rewritten: " if text.startswith("REWRITE") else "composed: ") + text[:40]


def test_wins_ties_losses_against_passthrough_and_the_rewrite():
    large = register_function("bpo_labelled", _labelled_large)
    judge = register_function("bpo_judge", _scripted_judge)
    scripts = [
        "prefer rewritten>composed>plain",
        "prefer plain>composed>rewritten",
        "prefer composed>plain>rewritten",
        "always A",
        "always B",
    ]
    tasks = [Task(id=f"t{i}", query=q, rewrite=f"REWRITE {q}") for i, q in enumerate(scripts)]
    # BPO sometimes leaves a prompt as it is: its answer is passthrough's.
    same = "prefer composed>plain>rewritten (unchanged)"
    tasks.append(Task(id="t5", query=same, rewrite=same))
    report = run_compare(tasks, "test/echo", large, ["structure"], judge_model=judge, rewrite="bpo")
    s = report["strategies"]
    wtl = {name: (v["wins"], v["ties"], v["losses"]) for name, v in s.items()}
    vs_bpo = {
        name: tuple(v["vs_bpo"][k] for k in ("wins", "ties", "losses")) for name, v in s.items()
    }
    # structure beats plain in t0, t2 and t5, loses in t1; the biased judge's t3 and t4 tie.
    assert wtl["structure"] == (3, 2, 1) and s["structure"]["win_rate_vs_passthrough"] == 0.6667
    assert vs_bpo["structure"] == (3, 2, 1)  # beats the rewrite in t1, t2 and t5
    assert wtl["bpo"] == (1, 3, 2)  # only t0 prefers the rewrite; t5 is the same answer
    assert vs_bpo["passthrough"] == (2, 3, 1)  # the rewrite's verdicts, inverted
    assert wtl["passthrough"] == (0, 0, 0) and s["bpo"]["vs_bpo"]["win_rate"] is None
    # t3 and t4: the judge picked by position, which the report counts.
    assert s["structure"]["judge_position_picks"] == 4 and s["bpo"]["judge_position_picks"] == 2
    # Every pair was judged twice, once in each order: (bpo, structure) vs passthrough and
    # structure vs bpo on t0-t4; on t5 only structure vs passthrough.
    assert len(recorded_requests(judge)) == 5 * 3 * 2 + 2
    assert all(s[name]["seconds_p50"] is not None for name in s)


def test_cli_reads_a_prompt_set_with_its_rewrite(tmp_path):
    path = tmp_path / "bpo_test.json"
    path.write_text(json.dumps(_bpo_items(6)), encoding="utf-8")
    judge = register_function("bpo_tie", lambda m, p: json.dumps({"winner": "tie", "reason": "="}))
    args = ["eval", "compare", str(path), "--text-field", "prompt", "--small", "test/echo"]
    args += ["--large", "test/echo", "--judge", judge, "--strategies", "passthrough,structure"]
    args += ["--rewrite-field", "optimized_prompt", "--rewrite-name", "bpo", "--limit", "3"]
    r = CliRunner().invoke(cli, [*args, "--seed", "5", "--max-tokens", "256", "--json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert list(out["strategies"]) == ["passthrough", "bpo", "structure"]
    assert out["strategies"]["structure"]["vs_bpo"]["ties"] == 3
    assert out["sample"] == {"limit": 3, "seed": 5} and out["max_tokens"] == 256
    ids = [i["id"] for i in out["items"]["bpo"]]
    assert ids == [f"{t.id}:bpo" for t in sample(load_prompts(path, "prompt"), 3, 5)]
    r = CliRunner().invoke(cli, [*args, "--seed", "5"])  # the table, from the run's cache
    # passthrough vs bpo, bpo vs passthrough, structure vs both: all ties
    assert r.exit_code == 0 and r.stdout.count("0/3/0") == 4
    r = CliRunner().invoke(cli, ["eval", "compare", str(path), "--rewrite-field", "x"])
    assert r.exit_code == 2 and "--rewrite-field needs --text-field" in r.stderr
