"""Run a function over many independent points, serially or on an executor.

Sweeps and repeated seeds are embarrassingly parallel: every point is a whole simulation
that shares nothing with the others. `run_points` hands them to any
`concurrent.futures.Executor`-like object (`submit(fn, arg)` returning a future with
`.result()`), so `--jobs N` (worker processes) and a user's Dask cluster
(`distributed.Client(...).get_executor()`) take the same path; results come back in the
points' order whatever order they finish in, so a parallel run equals a serial one.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import Protocol, TypeVar

from fognet.errors import ConfigError

P = TypeVar("P")
R = TypeVar("R")


class Done(Protocol):
    def __call__(self, index: int) -> None: ...


def run_points(
    fn: Callable[[P], R],
    points: Sequence[P],
    executor: Executor | None = None,
    done: Done | None = None,
) -> list[R]:
    """`[fn(p) for p in points]`, on `executor` if given; `done(i)` as each point finishes.

    `fn` and the points must be picklable for a process or Dask executor (a module-level
    function and frozen dataclasses are)."""
    tick = done or (lambda index: None)
    if executor is None:
        out = []
        for index, point in enumerate(points):
            out.append(fn(point))
            tick(index)
        return out
    futures = {executor.submit(fn, point): index for index, point in enumerate(points)}
    results: list[R | None] = [None] * len(points)
    for future in as_completed(futures):
        index = futures[future]
        results[index] = future.result()
        tick(index)
    return results  # type: ignore[return-value]


def process_executor(jobs: int) -> Executor | None:
    """`jobs` worker processes (spawned, so no thread or onnxruntime state is forked), or
    None for jobs == 1: the points then run in this process."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, not {jobs}")
    if jobs == 1:
        return None
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def dask_executor(address: str) -> Executor:
    """The executor of a Dask cluster at `address` (the optional `dask` extra).

    fognet distributes no jobs of its own: a user with a cluster gets the same points
    run there instead of in local worker processes."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--dask needs the dask extra: pip install 'fognet[dask]'") from None
    return Client(address).get_executor()
