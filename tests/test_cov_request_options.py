"""A request's options: provider sampling parameters pass the option check, and attached
files must be a list of text, bytes, paths or {name, content}."""

from __future__ import annotations

import pytest

from prellm import PreLLM
from prellm.errors import ConfigError
from prellm.providers.testing import recorded_requests


def test_top_k_passes_the_option_check_and_reaches_the_model():
    r = PreLLM("test/echo", "test/echo", "passthrough").run("hello", top_k=5)
    assert r.content == "hello"
    assert recorded_requests()[-1]["params"]["top_k"] == 5


def test_a_misspelt_option_is_still_refused_with_a_suggestion():
    with pytest.raises(ConfigError, match="unknown option 'top_kk'.*did you mean 'top_k'"):
        PreLLM("test/echo", "test/echo", "passthrough").run("hello", top_kk=5)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ("notes.txt", "files must be a list"),
        ([{"name": "a.txt", "content": 42}], r"files\[0\]: expected text, bytes, a path"),
    ],
)
def test_attached_files_of_the_wrong_shape_are_refused(files, message):
    with pytest.raises(ConfigError, match=message):
        PreLLM("test/echo", "test/echo", "passthrough").run("summarise", files=files)
    assert recorded_requests() == []
