"""The prompt registry: named Jinja2 templates, checked as a set, rendered in a sandbox."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from prellm.config.prompts import PromptRegistry, PromptSpec
from prellm.errors import ConfigError


def _registry(**texts: str) -> PromptRegistry:
    """The shipped required prompts (so check() gets past them) plus ``texts``."""
    base = {name: PromptSpec(text="x") for name in PromptRegistry.REQUIRED}
    return PromptRegistry(
        {**base, **{k.replace("__", "."): PromptSpec(text=v) for k, v in texts.items()}}
    )


def test_the_shipped_prompts_pass_their_own_check_and_render():
    reg = PromptRegistry.default()
    assert reg is PromptRegistry.default()  # built once per process
    reg.check()
    assert set(PromptRegistry.REQUIRED) <= set(reg.prompts)


def test_render_fills_variables_includes_and_collapses_blank_lines():
    reg = _registry(
        greet="Hello {{ who }}!\n\n\n{% include 'sig' %}\n\n",
        sig="{% if formal %}Regards{% endif %}\n\n-- preLLM",
    )
    assert reg.render("greet", who="Ada", formal=True) == "Hello Ada!\n\nRegards\n-- preLLM"
    # trim_blocks ate the newline after endif; runs of blank lines collapse to one.
    assert reg.render("greet", who="Ada", formal=False) == "Hello Ada!\n\n-- preLLM"


def test_a_missing_variable_is_an_error_not_a_blank():
    reg = _registry(greet="Hello {{ name }}!")
    with pytest.raises(ConfigError, match=r"prompt 'greet': UndefinedError: 'name' is undefined"):
        reg.render("greet")


def test_the_sandbox_refuses_to_reach_python_internals():
    reg = _registry(evil="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(ConfigError, match="SecurityError"):
        reg.render("evil")


def test_an_unknown_prompt_is_named():
    with pytest.raises(ConfigError, match="unknown prompt 'nope'"):
        _registry().render("nope")
    assert _registry(a="t").spec("a").text == "t"


def test_check_reports_a_syntax_error_with_its_line():
    reg = _registry(broken="line one\n{% if x %}never closed")
    with pytest.raises(ConfigError, match=r"prompt 'broken': template line 2: "):
        reg.check()


def test_check_reports_an_include_of_an_unknown_prompt():
    with pytest.raises(ConfigError, match="prompt 'a' includes unknown prompt 'ghost'"):
        _registry(a="{% include 'ghost' %}").check()


def test_check_reports_a_missing_required_prompt():
    reg = _registry()
    del reg.prompts["analyze.repair"]
    with pytest.raises(ConfigError, match="prompt 'analyze.repair' is missing"):
        reg.check()


def test_check_reports_an_include_cycle_along_its_path():
    reg = _registry(a="{% include 'b' %}", b="{% include 'c' %}", c="{% include 'a' %}")
    with pytest.raises(
        ConfigError,
        match=r"prompt include cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)",
    ):
        reg.check()


@pytest.mark.parametrize("bad", [{"text": "t", "max_tokens": 0}, {"text": "t", "temperature": 3}])
def test_prompt_settings_are_bounded(bad):
    with pytest.raises(ValidationError):
        PromptSpec.model_validate(bad)
