"""The chat a request carries, and what the large model finally receives.

A request is either a bare query or a whole OpenAI-style chat (system prompt,
history, content as a string or as a list of parts). The small model analyses
the last user turn with the earlier turns as context; the large model receives
the whole chat with that turn replaced by the composed prompt, and the
strategy's guidance added to the system prompt. Nothing the caller sent is
dropped.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .strategies.base import Composition

HISTORY_TURNS = 6  # earlier turns shown to the small model
HISTORY_CHARS = 600  # per turn: the small model needs the gist, not the whole thread


def text_of(content: Any) -> str:
    """The text of a message's content, whether a string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and p.get("type", "text") == "text"
        )
    return str(content)


@dataclass
class Conversation:
    messages: list[dict[str, Any]]
    last_user: int  # index of the turn the small model analyses

    @classmethod
    def from_input(cls, query: str | None, messages: list[dict[str, Any]] | None) -> Conversation:
        msgs = copy.deepcopy(list(messages or []))
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or "role" not in m:
                raise ConfigError(f"messages[{i}] is not a chat message with a 'role'")
        if query is not None:
            if not query.strip():
                raise ConfigError("the query is empty")
            msgs.append({"role": "user", "content": query})
        users = [i for i, m in enumerate(msgs) if m["role"] == "user"]
        if not users:
            raise ConfigError("nothing to answer: give a query or messages with a user turn")
        conv = cls(msgs, users[-1])
        if not conv.query.strip():
            raise ConfigError("the last user message is empty")
        return conv

    @property
    def continuation(self) -> bool:
        """The last message is a tool result or an assistant turn, not a new user turn."""
        role: str = self.messages[-1]["role"]
        return role != "user"

    @property
    def query(self) -> str:
        return text_of(self.messages[self.last_user].get("content"))

    def history_text(self) -> str:
        """Earlier turns, one line each, bounded: context for the small model."""
        lines = []
        for m in self.messages[: self.last_user][-HISTORY_TURNS:]:
            text = " ".join(text_of(m.get("content")).split())
            if len(text) > HISTORY_CHARS:
                text = text[: HISTORY_CHARS - 1] + "…"
            if text:
                lines.append(f"{m['role']}: {text}")
        return "\n".join(lines)

    def replace_last(self, text: str) -> list[dict[str, Any]]:
        """The chat with the analysed user turn's text replaced (other parts, e.g. images, kept)."""
        msgs = copy.deepcopy(self.messages)
        turn = msgs[self.last_user]
        content = turn.get("content")
        if isinstance(content, list):
            others = [
                p for p in content if not (isinstance(p, dict) and p.get("type", "text") == "text")
            ]
            turn["content"] = [{"type": "text", "text": text}, *others]
        else:
            turn["content"] = text
        return msgs


def build_large_messages(conv: Conversation, composition: Composition) -> list[dict[str, Any]]:
    """What the large model receives: the caller's chat, the composed turn, the added guidance."""
    msgs = (
        conv.replace_last(composition.user)
        if composition.user is not None
        else copy.deepcopy(conv.messages)
    )
    if composition.system:
        if msgs and msgs[0]["role"] in ("system", "developer"):
            # The caller's own system prompt comes first: it is theirs and it rules.
            first = msgs[0]
            first["content"] = f"{text_of(first.get('content'))}\n\n{composition.system}"
        else:
            msgs.insert(0, {"role": "system", "content": composition.system})
    return msgs
