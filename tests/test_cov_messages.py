"""The chat a request carries: which turn the small model analyses, what it sees of the
history, and what the large model receives in the end. Nothing the caller sent is lost."""

from __future__ import annotations

import pytest

from prellm.errors import ConfigError
from prellm.messages import (
    HISTORY_CHARS,
    HISTORY_TURNS,
    Conversation,
    build_large_messages,
    text_of,
)
from prellm.strategies.base import Composition

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (None, ""),
        ("plain", "plain"),
        ([{"type": "text", "text": "a"}, IMAGE, {"text": "b"}, "junk"], "a\nb"),
        ([IMAGE], ""),
        (42, "42"),
    ],
)
def test_text_of_reads_strings_and_text_parts(content, text):
    assert text_of(content) == text


def test_a_bare_query_is_one_user_turn():
    conv = Conversation.from_input("What is 2+2?", None)
    assert conv.messages == [{"role": "user", "content": "What is 2+2?"}]
    assert conv.query == "What is 2+2?" and conv.last_user == 0 and not conv.continuation


def test_the_last_user_turn_is_analysed_and_the_callers_list_is_not_changed():
    sent = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "second question"}, IMAGE]},
        {"role": "tool", "content": "tool output", "tool_call_id": "t1"},
    ]
    before = [dict(m) for m in sent]
    conv = Conversation.from_input(None, sent)
    assert conv.last_user == 3 and conv.query == "second question"
    assert conv.continuation  # the chat ends on a tool result
    conv.messages[3]["content"] = "changed"
    assert sent == before


@pytest.mark.parametrize(
    ("query", "messages", "error"),
    [
        (None, None, "nothing to answer"),
        (None, [{"role": "system", "content": "x"}], "nothing to answer"),
        ("   ", None, "the query is empty"),
        (None, [{"role": "user", "content": "  "}], "last user message is empty"),
        (None, [{"content": "no role"}], r"messages\[0\] is not a chat message"),
        (None, [{"role": "user", "content": "ok"}, "text"], r"messages\[1\]"),
    ],
)
def test_unusable_input_is_refused_with_a_reason(query, messages, error):
    with pytest.raises(ConfigError, match=error):
        Conversation.from_input(query, messages)


def test_a_query_is_appended_after_the_given_messages():
    conv = Conversation.from_input("and now?", [{"role": "user", "content": "before"}])
    assert [m["content"] for m in conv.messages] == ["before", "and now?"]
    assert conv.last_user == 1 and conv.history_text() == "user: before"


def test_history_is_the_last_turns_each_cut_and_on_one_line():
    turns = [{"role": "user", "content": f"turn {i}\n  with   spaces"} for i in range(10)]
    turns.append({"role": "assistant", "content": "x" * (HISTORY_CHARS + 50)})
    turns.append({"role": "assistant", "content": [IMAGE]})  # no text: left out
    turns.append({"role": "user", "content": "now"})
    lines = Conversation.from_input(None, turns).history_text().split("\n")
    assert len(lines) == HISTORY_TURNS - 1  # the image-only turn is one of the six
    assert lines[0] == "user: turn 6 with spaces"
    assert lines[-1] == "assistant: " + "x" * (HISTORY_CHARS - 1) + "…"


def test_the_large_model_gets_the_composed_turn_and_the_guidance_as_system():
    conv = Conversation.from_input("fix my code", None)
    out = build_large_messages(conv, Composition(system="Answer step by step.", user="Fix: ..."))
    assert out == [
        {"role": "system", "content": "Answer step by step."},
        {"role": "user", "content": "Fix: ..."},
    ]
    assert conv.messages == [{"role": "user", "content": "fix my code"}]


@pytest.mark.parametrize("role", ["system", "developer"])
def test_the_callers_own_system_prompt_comes_first_and_is_kept(role):
    conv = Conversation.from_input(
        "q", [{"role": role, "content": [{"type": "text", "text": "Mine."}]}]
    )
    out = build_large_messages(conv, Composition(system="Added."))
    assert out[0] == {"role": role, "content": "Mine.\n\nAdded."}
    assert out[1] == {"role": "user", "content": "q"}  # the user's words as typed


def test_other_parts_of_the_composed_turn_are_kept():
    conv = Conversation.from_input(
        None, [{"role": "user", "content": [IMAGE, {"type": "text", "text": "what is this?"}]}]
    )
    out = build_large_messages(conv, Composition(user="Describe the image in detail."))
    assert out == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Describe the image in detail."}, IMAGE],
        }
    ]


def test_an_empty_composition_passes_the_chat_through_unchanged():
    sent = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    conv = Conversation.from_input("again", sent)
    out = build_large_messages(conv, Composition())
    assert out == conv.messages and out is not conv.messages
