"""Option types whose valid values come from the package itself, read when needed.

The strategy names are the strategy registry's (``prellm.strategies.NAMES``),
imported only when an option is checked or its help is shown, so ``prellm
--help`` stays fast.
"""

from __future__ import annotations

from typing import Any

import click


def strategy_names() -> tuple[str, ...]:
    from ..strategies import NAMES

    return NAMES


class StrategyChoice(click.ParamType):  # type: ignore[type-arg]
    """A strategy name, checked against the registry."""

    name = "strategy"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "[" + "|".join(strategy_names()) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if value in strategy_names():
            return str(value)
        choices = ", ".join(repr(n) for n in strategy_names())
        self.fail(f"{value!r} is not one of {choices}.", param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(n) for n in strategy_names() if n.startswith(incomplete)]


STRATEGY = StrategyChoice()
