"""prellm.sync: blocking twins of coroutines and async iterators, inside a running loop too."""

from __future__ import annotations

import asyncio

import pytest

from prellm.sync import iterate_sync, run_sync


async def _value() -> int:
    await asyncio.sleep(0)
    return 7


async def _items(fail: bool = False):
    for i in range(3):
        yield i
    if fail:
        raise ValueError("cut")


def test_outside_a_loop():
    assert run_sync(_value) == 7
    assert list(iterate_sync(_items)) == [0, 1, 2]
    with pytest.raises(ValueError, match="cut"):
        list(iterate_sync(lambda: _items(fail=True)))


def test_inside_a_running_loop_work_moves_to_a_thread():
    async def main() -> tuple[int, list[int]]:
        return run_sync(_value), list(iterate_sync(_items))

    assert asyncio.run(main()) == (7, [0, 1, 2])

    async def failing() -> list[int]:
        return list(iterate_sync(lambda: _items(fail=True)))

    with pytest.raises(ValueError, match="cut"):
        asyncio.run(failing())


def test_a_consumer_that_stops_early_ends_the_worker():
    async def main() -> int:
        for item in iterate_sync(_items):
            return item
        return -1

    assert asyncio.run(main()) == 0
