"""Eval inputs: datasets, taxonomies, task sets and prompt sets, with errors that name the
file and the line; the per-item cache surviving a cut line; summary figures on edge cases."""

from __future__ import annotations

import pytest

from prellm import ConfigError
from prellm.eval import metrics
from prellm.eval.cache import ItemCache
from prellm.eval.classify import OUT_OF_SCOPE, summarize
from prellm.eval.data import load_dataset, load_prompts, load_tasks, load_taxonomy


def test_a_taxonomy_that_cannot_be_read_or_repeats_a_label_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"labels\.yaml: cannot read: No such file"):
        load_taxonomy(tmp_path / "labels.yaml")
    dup = tmp_path / "dup.yaml"
    dup.write_text("intents:\n  - name: greet\n  - name: bye\n  - name: greet\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml: duplicate label names"):
        load_taxonomy(dup)


def test_jsonl_datasets_skip_blank_lines_and_refuse_non_objects(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": " hi ", "label": "greet"}\n\n   \n{"text": "bye", "label": "bye"}\n')
    assert load_dataset(data) == [
        {"text": "hi", "label": "greet"},
        {"text": "bye", "label": "bye"},
    ]
    listed = tmp_path / "l.ndjson"
    listed.write_text('{"text": "hi", "label": "greet"}\n["hi", "greet"]\n')
    with pytest.raises(ConfigError, match=r"l\.ndjson:2: each line must be a JSON object"):
        load_dataset(listed)


def test_a_dataset_with_only_a_header_or_blank_lines_has_no_rows(tmp_path):
    header = tmp_path / "h.csv"
    header.write_text("text,label\n")
    with pytest.raises(ConfigError, match=r"h\.csv: the dataset has no rows"):
        load_dataset(header)
    blank = tmp_path / "b.jsonl"
    blank.write_text("\n  \n\n ")
    with pytest.raises(ConfigError, match=r"b\.jsonl: the dataset is empty"):
        load_dataset(blank)
    with pytest.raises(ConfigError, match=r"nope\.csv: cannot read"):
        load_dataset(tmp_path / "nope.csv")


def test_task_files_in_yaml_lists_and_jsonl(tmp_path):
    listed = tmp_path / "tasks.yaml"
    listed.write_text("- query: Deploy app\n  checks: {contains: [kubectl]}\n- query: Explain\n")
    tasks = load_tasks(listed)
    assert [(t.id, t.query) for t in tasks] == [("task1", "Deploy app"), ("task2", "Explain")]
    assert tasks[0].checks.contains == ["kubectl"]
    lines = tmp_path / "tasks.jsonl"
    lines.write_text('{"id": "a", "query": "one"}\n\n{"query": "two"}\n')
    assert [(t.id, t.query) for t in load_tasks(lines)] == [("a", "one"), ("task2", "two")]


def test_task_file_errors_name_the_file_and_place(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read"):
        load_tasks(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "one"}\n{"query": \n')
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2: not valid JSON"):
        load_tasks(bad)
    empty_query = tmp_path / "q.yaml"
    empty_query.write_text("tasks:\n  - query: ''\n")
    with pytest.raises(ConfigError, match=r"q\.yaml: tasks\.0\.query: "):
        load_tasks(empty_query)
    none = tmp_path / "none.yaml"
    none.write_text("tasks: []\n")
    with pytest.raises(ConfigError, match=r"none\.yaml: tasks: "):
        load_tasks(none)


def test_prompt_set_file_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"absent\.json: cannot read"):
        load_prompts(tmp_path / "absent.json", "prompt")
    broken = tmp_path / "broken.json"
    broken.write_text('[\n  {"prompt": "a"},\n  {"prompt": \n]')
    with pytest.raises(ConfigError, match=r"broken\.json:4: not valid JSON"):
        load_prompts(broken, "prompt")
    strings = tmp_path / "strings.json"
    strings.write_text('{"data": [{"prompt": "fine"}, "just a string"]}')
    with pytest.raises(ConfigError, match=r"strings\.json:2: each item must be a JSON object"):
        load_prompts(strings, "prompt")


def test_a_cache_line_cut_by_a_crash_is_run_again(tmp_path, monkeypatch):
    monkeypatch.setenv("PRELLM_EVAL_DIR", str(tmp_path))
    cache = ItemCache("compare", {"run": 1})
    cache.put({"id": "t1", "answer": "kept"})
    with cache.path.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "t2", "answ')  # the process died mid-write
    again = ItemCache("compare", {"run": 1})
    assert again.get("t1") == {"id": "t1", "answer": "kept"}
    assert again.get("t2") is None
    again.put({"id": "t2", "answer": "redone"})
    assert ItemCache("compare", {"run": 1}).get("t2") == {"id": "t2", "answer": "redone"}
    assert ItemCache("compare", {"run": 2}).get("t1") is None  # another run, another file


def test_percentile_of_nothing_is_zero():
    assert metrics.percentile([], 50) == 0.0
    assert metrics.percentile([3.0], 95) == 3.0


def _result(gold: str, pred: str | None) -> dict:
    return {
        "gold": gold,
        "pred": pred,
        "ms": 10.0,
        "valid_first": True,
        "fallback": None,
        "tokens_in": 5,
        "tokens_out": 2,
    }


def test_out_of_scope_items_get_their_own_detection_rate():
    results = [
        _result("greet", "greet"),
        _result("refund", "greet"),
        _result(OUT_OF_SCOPE, OUT_OF_SCOPE),
        _result(OUT_OF_SCOPE, "greet"),
    ]
    report = summarize(results, total=4)
    assert report["accuracy"] == 0.5
    assert report["in_scope_accuracy"] == 0.5 and report["oos_detection_rate"] == 0.5


def test_only_out_of_scope_items_have_no_in_scope_accuracy():
    report = summarize([_result(OUT_OF_SCOPE, OUT_OF_SCOPE)], total=1)
    assert report["in_scope_accuracy"] is None and report["oos_detection_rate"] == 1.0
    plain = summarize([_result("greet", "greet")], total=1)
    assert "in_scope_accuracy" not in plain and "oos_detection_rate" not in plain
