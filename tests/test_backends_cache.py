"""StateCache on both backends: hits, misses, expiry, the per-namespace bound, purge."""

from __future__ import annotations

import threading
import time

import pytest
from test_backends_fixtures import backend  # noqa: F401 - the fixture

from prellm.store.cache import StateCache


def test_hit_miss_and_json_values(backend):  # noqa: F811
    cache = StateCache()
    assert cache.get("turns", "a") is None
    value = {"system": "Be brief.", "user": "Wdróż aplikację", "n": [1, 2.5, None]}
    cache.put("turns", "a", value, ttl_s=60)
    assert cache.get("turns", "a") == value
    assert cache.get("other", "a") is None  # namespaces are separate
    cache.put("turns", "a", {"user": "new"}, ttl_s=60)
    assert cache.get("turns", "a") == {"user": "new"}
    assert StateCache().get("turns", "a") == {"user": "new"}  # another connection sees it


def test_expired_entries_are_never_returned_and_purge_removes_them(backend):  # noqa: F811
    cache = StateCache()
    cache.get("turns", "warm-up")  # opened and migrated before the clock starts
    start = time.monotonic()
    cache.put("turns", "short", {"v": 1}, ttl_s=1.0)
    cache.put("turns", "long", {"v": 2}, ttl_s=60)
    cache.put("turns", "gone", {"v": 3}, ttl_s=-1)
    assert cache.get("turns", "gone") is None
    if time.monotonic() - start < 0.9:  # a loaded machine may take longer than the TTL
        assert cache.get("turns", "short") == {"v": 1}
    time.sleep(max(0.0, 1.1 - (time.monotonic() - start)))
    assert cache.get("turns", "short") is None
    assert cache.purge() == 2
    assert cache.size("turns") == 1 and cache.get("turns", "long") == {"v": 2}


def test_each_namespace_is_bounded_and_the_oldest_go_first(backend):  # noqa: F811
    cache = StateCache(max_entries=5, limits={"small": 2})
    for i in range(8):
        cache.put("turns", f"k{i}", {"i": i}, ttl_s=60)
    cache.put("turns", "k4", {"i": 40}, ttl_s=60)  # rewritten: the newest again
    cache.put("turns", "k8", {"i": 8}, ttl_s=60)
    kept = [i for i in range(9) if cache.get("turns", f"k{i}") is not None]
    assert kept == [4, 5, 6, 7, 8] and cache.size("turns") == 5
    for i in range(3):
        cache.put("small", f"k{i}", {"i": i}, ttl_s=60)
    assert cache.size("small") == 2 and cache.get("small", "k0") is None
    assert cache.size("turns") == 5  # one namespace's bound does not touch another


def test_concurrent_writers_keep_the_bound(backend):  # noqa: F811
    cache = StateCache(max_entries=10)

    def write(t: int) -> None:
        for i in range(15):
            cache.put("busy", f"{t}-{i}", {"t": t, "i": i}, ttl_s=60)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.size("busy") == 10


def test_shared_is_one_cache_per_database(backend):  # noqa: F811
    assert StateCache.shared() is StateCache.shared()
    StateCache.shared().put("turns", "x", {"ok": True}, ttl_s=60)
    assert StateCache().get("turns", "x") == {"ok": True}


def test_values_must_be_json(backend):  # noqa: F811
    with pytest.raises(TypeError):
        StateCache().put("turns", "bad", {"v": object()}, ttl_s=60)
