"""Template mining: masked log messages grouped by ``drain3``, one tally per template."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .model import ts_key

if TYPE_CHECKING:
    from drain3.drain import Drain

MAX_TEMPLATES = 3000  # per kind; past it, new messages are grouped by their first words
MAX_CACHE = 200_000  # masked messages remembered -> template, so repeats skip drain
MAX_SOURCES = 50


@dataclass
class Tallied:
    """What one template has seen."""

    kind: str
    count: int = 0
    first: tuple[str, str] | None = None  # (sort key, as written)
    last: tuple[str, str] | None = None
    sources: dict[str, None] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    order: int = 0  # when it was first seen

    def see(self, ts: str | None, key: str, sources: list[str], raw: str, weight: int = 1) -> None:
        self.count += weight
        if ts:
            if self.first is None or key < self.first[0]:
                self.first = (key, ts)
            if self.last is None or key >= self.last[0]:
                self.last = (key, ts)
        for source in sources:
            if len(self.sources) < MAX_SOURCES:
                self.sources.setdefault(source, None)
        if not self.examples:
            self.examples.append(raw)
        elif self.count > 1 and raw != self.examples[0]:
            self.examples[1:] = [raw]  # the latest other example


class Miner:
    """One drain per finding kind, so an error never shares a template with an info line."""

    def __init__(self) -> None:
        self._drains: dict[str, Drain] = {}
        self._cache: dict[tuple[str, str], int] = {}
        self._overflow: dict[tuple[str, str], int] = {}
        self._overflow_names: dict[int, str] = {}
        self.tallies: dict[tuple[str, int], Tallied] = {}
        self.overflowed = False

    def _cluster(self, kind: str, masked: str) -> int:
        drain = self._drains.get(kind)
        if drain is None:
            # Imported here: drain3 pulls in jsonpickle (a fifth of a second), and
            # `import prellm` should not pay for it until a log is condensed.
            from drain3.drain import Drain

            drain = self._drains[kind] = Drain(depth=4, sim_th=0.4, max_children=100)
        if drain.clusters_counter < MAX_TEMPLATES:
            cluster, _ = drain.add_log_message(masked)
            return int(cluster.cluster_id)
        self.overflowed = True
        head = " ".join(masked.split()[:3])
        key = (kind, head)
        if key not in self._overflow:
            self._overflow[key] = -1 - len(self._overflow)
            self._overflow_names[self._overflow[key]] = head + " …"
        return self._overflow[key]

    def add(
        self,
        kind: str,
        masked: str,
        ts: str | None,
        sources: list[str],
        raw: str,
        key: str = "",
        weight: int = 1,
    ) -> None:
        """``weight`` messages of ``kind``; ``key`` is ``ts_key(ts)`` when the caller has it."""
        cid = self._cache.get((kind, masked))
        if cid is None:
            cid = self._cluster(kind, masked)
            if len(self._cache) < MAX_CACHE:
                self._cache[(kind, masked)] = cid
        tally = self.tallies.get((kind, cid))
        if tally is None:
            tally = self.tallies[(kind, cid)] = Tallied(kind, order=len(self.tallies))
        tally.see(ts, key or (ts_key(ts) if ts else ""), sources, raw, weight)

    def template(self, kind: str, cid: int) -> str:
        if cid < 0:
            return self._overflow_names[cid]
        cluster = self._drains[kind].id_to_cluster.get(cid)
        return str(cluster.get_template()) if cluster is not None else "?"

    @property
    def count(self) -> int:
        return len(self.tallies)
