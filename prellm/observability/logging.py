"""The ``prellm`` logger tree: quiet by default, ``-v`` or ``PRELLM_LOG_LEVEL`` for more,
``PRELLM_LOG_FORMAT=json`` for JSON lines. Every record passes a scrubbing filter,
so no key, token, Authorization header or personal value reaches a log line."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time

_AUTH = re.compile(
    r"(?i)(authorization|api[_-]?key|x-api-key)(['\"]?\s*[:=]\s*['\"]?)([^'\"\s,}]+)"
)


class ScrubSecrets(logging.Filter):
    """Redact secrets in the formatted message (the args are merged in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from ..safety import SensitiveDataFilter

        message = record.getMessage()
        clean = _AUTH.sub(r"\1\2[REDACTED]", SensitiveDataFilter().redact(message))
        if clean != message:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(verbosity: int = 0, fmt: str | None = None) -> None:
    """Configure the ``prellm`` logger (idempotent). verbosity: 0 warnings, 1 info, 2 debug."""
    level_name = os.environ.get("PRELLM_LOG_LEVEL")
    level = (
        getattr(logging, level_name.upper(), logging.WARNING)
        if level_name
        else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    )
    logger = logging.getLogger("prellm")
    logger.setLevel(level)
    for h in list(logger.handlers):
        if getattr(h, "_prellm", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._prellm = True  # type: ignore[attr-defined]
    if (fmt or os.environ.get("PRELLM_LOG_FORMAT", "")).lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
    handler.addFilter(ScrubSecrets())
    logger.addHandler(handler)
    logger.propagate = False


def install_scrubber() -> None:
    """Scrub records of the prellm tree even when the application configures handlers itself."""
    logger = logging.getLogger("prellm")
    if not any(isinstance(f, ScrubSecrets) for f in logger.filters):
        logger.addFilter(ScrubSecrets())
