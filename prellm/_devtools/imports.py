"""No import cycles in ``prellm/``, imports one way between layers, no function over the limit.

Every import counts: at module level, inside functions and under ``TYPE_CHECKING``.
An edge goes to the module an import statement names (``from .a import b`` names
``a.b`` when that is a module, else ``a``); parent packages are not implied.

    python -m prellm._devtools.imports        # exit 1 and one line per finding
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_FUNCTION_LINES = 80

# One-way layers: modules under the first name never import those under the others.
ADAPTERS = ("prellm.engine", "prellm.api", "prellm.server", "prellm.cli", "prellm.eval")
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("prellm.config", ("prellm.pipelines", "prellm.providers", "prellm.request", *ADAPTERS)),
    ("prellm.condense", ("prellm.providers", "prellm.request", "prellm.config", *ADAPTERS)),
    (
        "prellm.providers",
        ("prellm.host", "prellm.request", "prellm.pipelines", "prellm.strategies", *ADAPTERS),
    ),
    ("prellm.host", ("prellm.request", "prellm.pipelines", "prellm.strategies", *ADAPTERS)),
    ("prellm.safety", ("prellm.providers", "prellm.request", *ADAPTERS)),
    ("prellm.strategies", ("prellm.providers", "prellm.request", *ADAPTERS)),
    ("prellm.pipelines", ("prellm.request", *ADAPTERS)),
    ("prellm.request", ADAPTERS),
]
ROOT = Path(__file__).resolve().parents[1]  # the prellm package


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _base(module: str, is_package: bool, level: int) -> str:
    parts = module.split(".")
    keep = len(parts) - level + (1 if is_package else 0)
    return ".".join(parts[:keep])


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports, anywhere in its body."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = _base(module, is_package, node.level)
                base = f"{prefix}.{base}" if base else prefix
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != module}


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {m: imports_of(m, p, known) for m, p in known.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(g):
        if start in index:
            continue
        work = [(start, iter(sorted(g[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(g[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_violations(g: dict[str, set[str]]) -> list[str]:
    """``a -> b`` for every import that goes the wrong way between layers."""
    found = []
    for module, targets in sorted(g.items()):
        for layer, forbidden in LAYERS:
            if not _under(module, layer):
                continue
            for target in sorted(targets):
                if any(_under(target, f) for f in forbidden):
                    found.append(f"{module} -> {target}")
    return found


def long_functions(root: Path = ROOT, limit: int = MAX_FUNCTION_LINES) -> Iterator[str]:
    """``path:line name (N lines)`` for every function longer than ``limit`` lines."""
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                # From ``def`` to the last line: decorators (click's options) are declarations.
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    rel = path.relative_to(root.parent)
                    yield f"{rel}:{node.lineno} {node.name} ({length} lines)"


def main() -> int:
    g = graph()
    problems = [f"import cycle: {' <-> '.join(c)}" for c in cycles(g)]
    problems += [f"import against the layers: {v}" for v in layer_violations(g)]
    problems += [f"function over {MAX_FUNCTION_LINES} lines: {f}" for f in long_functions()]
    for p in problems:
        print(p)
    print(f"{len(modules())} modules, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
