"""Blocking twins of coroutines and async iterators, also from inside a running event loop
(used by the framework integrations, whose sync APIs may be called from async code).

preLLM's engine is async. Without a running loop in this thread, a coroutine runs on a
private one here; with one (a notebook, an async app calling sync code), it runs on a
worker thread, as ``asyncio.run`` cannot nest.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``make()`` returns to its end and return its value."""
    if not _loop_running():
        return asyncio.run(make())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def iterate_sync(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """Iterate the async iterator ``make()`` returns, item by item."""
    if _loop_running():
        yield from _iterate_in_thread(make)
        return
    with asyncio.Runner() as runner:
        agen = make()
        try:
            while True:
                try:
                    yield runner.run(_next(agen))
                except StopAsyncIteration:
                    return
        finally:
            if hasattr(agen, "aclose"):
                runner.run(agen.aclose())


async def _next(agen: AsyncIterator[T]) -> T:
    return await anext(agen)


def _iterate_in_thread(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    items: queue.Queue[Any] = queue.Queue(maxsize=64)
    stop = threading.Event()

    async def pump() -> None:
        try:
            async for item in make():
                if stop.is_set():
                    break
                items.put((True, item))
        except BaseException as exc:  # handed to the consumer
            items.put((False, exc))
        finally:
            items.put((True, _DONE))

    worker = threading.Thread(target=lambda: asyncio.run(pump()), daemon=True)
    worker.start()
    try:
        while True:
            ok, item = items.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a pump waiting on a full queue
            with contextlib.suppress(queue.Empty):
                items.get(timeout=0.05)
