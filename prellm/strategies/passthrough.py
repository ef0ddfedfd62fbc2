from __future__ import annotations

from .base import Strategy


class Passthrough(Strategy):
    """No small call: the user's messages reach the large model unchanged."""

    name = "passthrough"
