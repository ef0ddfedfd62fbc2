"""Per-item results on disk (``.prellm/eval/<run>.jsonl``): an interrupted run resumes where it stopped."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def eval_dir() -> Path:
    return Path(os.environ.get("PRELLM_EVAL_DIR") or Path(".prellm") / "eval")


class ItemCache:
    def __init__(self, kind: str, key: dict[str, Any]) -> None:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        self.path = eval_dir() / f"{kind}-{digest}.jsonl"
        self.done: dict[str, dict[str, Any]] = {}
        self._cut = False  # the file ends mid-line: the next item starts a new line
        if self.path.is_file():
            text = self.path.read_text(encoding="utf-8")
            self._cut = bool(text) and not text.endswith("\n")
            for line in text.splitlines():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash: that item runs again
                self.done[str(item["id"])] = item

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self.done.get(str(item_id))

    def put(self, item: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(("\n" if self._cut else "") + json.dumps(item, ensure_ascii=False) + "\n")
        self._cut = False
        self.done[str(item["id"])] = item
