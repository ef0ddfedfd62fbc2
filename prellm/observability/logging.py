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
    r"(?i)(authorization|api[_-]?key|x-api-key)(['\"]?\s*[:=]\s*['\"]?)"
    r"((?:bearer|basic|token)\s+)?([^'\"\s,}]+)"
)


def scrub(text: str) -> str:
    from ..safety import SensitiveDataFilter

    return _AUTH.sub(r"\1\2\3[REDACTED]", SensitiveDataFilter().redact(text))


class ScrubSecrets(logging.Filter):
    """Redact secrets in a record: each string argument (so formatters that read the
    arguments, like uvicorn's access log, keep working), then the merged message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: scrub(v) if isinstance(v, str) else v for k, v in record.args.items()}
        try:
            message = record.getMessage()  # the format with its (scrubbed) arguments
        except (TypeError, ValueError):  # a caller's bad format: scrubbed, never raised
            record.msg, record.args = scrub(str(record.msg)), None
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def get_logger(name: str) -> logging.Logger:
    """A logger of the ``prellm`` tree whose every record is scrubbed, however the
    application configures handlers (a filter on a parent logger does not see a child's
    records)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, ScrubSecrets) for f in logger.filters):
        logger.addFilter(ScrubSecrets())
    return logger


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


def json_logs() -> bool:
    return os.environ.get("PRELLM_LOG_FORMAT", "").lower() == "json"


def uvicorn_log_config(verbose: bool) -> dict[str, object]:
    """uvicorn's logging (and the ``prellm`` tree's in each worker): scrubbed, JSON lines
    when ``PRELLM_LOG_FORMAT=json``."""
    level = "INFO" if verbose else "WARNING"
    formatter: dict[str, object] = (
        {"()": "prellm.observability.logging.JsonFormatter"}
        if json_logs()
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s", "datefmt": "%H:%M:%S"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"scrub": {"()": "prellm.observability.logging.ScrubSecrets"}},
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "main",
                "filters": ["scrub"],
            }
        },
        "loggers": {
            name: {"handlers": ["stderr"], "level": level, "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "prellm")
        },
    }
