"""Independent model fits side by side: Python threads, each fit on one OpenMP thread.

scikit-learn's boosting and BLAS release the GIL, so two fits in two threads take about half
the time of one after the other. One OpenMP team spread over both cores instead gains little
and, when another process takes a core, loses 5-15x (its threads wait at every barrier);
threads of single-threaded fits just share the cores.

``fit_threads(n)`` sets how many run at once inside its block, on the thread that opened it;
a fit already running in a worker thread runs its own parts one after the other, so the
threads never multiply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from threadpoolctl import threadpool_limits

T = TypeVar("T")
_THREADS: ContextVar[int] = ContextVar("fit_threads", default=1)


@contextmanager
def fit_threads(count: int) -> Iterator[None]:
    """Within this block ``side_by_side`` runs up to ``count`` fits at once, each (and this
    thread) on one OpenMP and one BLAS thread."""
    token = _THREADS.set(count)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        _THREADS.reset(token)


def _single_threaded(task: Callable[[], T]) -> T:
    with threadpool_limits(limits=1):  # OpenMP's thread count is per thread: set it in each
        return task()


def side_by_side(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """The results of ``tasks`` in order, run in up to ``fit_threads`` threads (one after the
    other outside such a block or inside a worker thread)."""
    threads = min(_THREADS.get(), len(tasks))
    if threads <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(threads, thread_name_prefix="fit") as pool:
        return list(pool.map(_single_threaded, tasks))
