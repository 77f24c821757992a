"""Run one function in many real OS processes released together, and reap them all whatever happens."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

BARRIER_TIMEOUT = 120.0
"""Seconds a child waits for its siblings at the start line before giving up."""


def run_together(target: Callable[..., None], argument_lists: Sequence[tuple], *, timeout: float = 240.0) -> list:
    """Call `target(*arguments, barrier, results)` in one spawned process per argument list.

    The children wait on `barrier` (call `barrier.wait(BARRIER_TIMEOUT)`) so that they start their
    work together, and put one item each on `results`; the items are returned in arrival order.
    Every child is joined, then killed if still alive, even when a child fails or the wait times out.
    """
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(len(argument_lists))
    results = spawn.Queue()
    processes = [spawn.Process(target=target, args=(*arguments, barrier, results)) for arguments in argument_lists]
    try:
        for process in processes:
            process.start()
        return [results.get(timeout=timeout) for _ in processes]
    finally:
        for process in processes:
            if process.pid is None:
                continue
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=10)
        results.close()
        results.join_thread()


def child_outcome(work: Callable[[], Any]) -> Any:
    """`work()`, or a text naming the exception it raised (a child must always report something)."""
    try:
        return work()
    except Exception as crash:  # noqa: BLE001 - reported to the parent, which fails the test
        return f"crash: {type(crash).__name__}: {crash}"
