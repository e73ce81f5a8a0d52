"""Independent model fits side by side: in threads here, or as tasks on a Dask cluster.

Here: Python threads, each fit on one OpenMP thread. scikit-learn's boosting and BLAS release
the GIL, so two fits in two threads take about half the time of one after the other. One
OpenMP team spread over both cores instead gains little and, when another process takes a
core, loses 5-15x (its threads wait at every barrier); threads of single-threaded fits just
share the cores.

``fit_threads(n)`` sets how many run at once inside its block, on the thread that opened it;
a fit already running in a worker thread runs its own parts one after the other, so the
threads never multiply.

``alongside(first, second)`` runs two independent chains of work at once (``first`` in a
thread of its own, with this thread's fit settings): each chain's fits still go through
``side_by_side``, so the cores stay busy while one chain waits on its slowest fit.

When one chain of ``alongside`` fails, the other stops at its next fit (``side_by_side``
checks before starting each task, here or on a cluster) instead of running to its end first:
Python cannot stop a thread, so a fit already running finishes.

``fits_on_cluster(client)`` sends them to a Dask cluster instead (a ``distributed.Client``;
Dask is imported only then): each fit is one task on one thread of a worker. Every fit
carries its own seed, so the results are the same, bit for bit, on any number of workers or
here. Large arrays and frames among a task's arguments are sent once per call, as a task of
their own (not ``scatter``: data scattered to a worker that dies is lost, while a task's
result is made again on another worker, as the fit that died is run again there).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from functools import partial
from typing import Any, Final, Protocol, TypeVar

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

T = TypeVar("T")
U = TypeVar("U")
SEND_ONCE_BYTES: Final = 1 << 20
"""Arguments larger than this (arrays, frames) are sent to the cluster once per call, as a
task of their own the fits depend on, not inside each fit."""


class Cluster(Protocol):
    """What ``side_by_side`` uses of a ``distributed.Client``."""

    def submit(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...
    def gather(self, futures: Any) -> Any: ...


MALLOC_RETURN_BYTES: Final = 4 << 20
"""Freed blocks of at least this size go straight back to the system (``return_freed_memory``):
at 1M cases 1 MiB held 50 MB less than 4 MiB at the peak but cost 10% more time (the boosting's
per-round arrays then mapped afresh each time), 4 MiB +3.5%."""
_M_TRIM_THRESHOLD: Final = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD: Final = -3


def return_freed_memory() -> bool:
    """Have glibc's malloc give every freed block of ``MALLOC_RETURN_BYTES`` or more back to
    the system, for the rest of the process; False where the C library is not glibc.

    By default glibc raises its mmap threshold to the size of each large array freed (up to
    32 MiB), so later column-sized arrays come from per-thread heaps that small live objects
    keep from shrinking: with two chains of fits in two threads, the process kept about 0.7 GB
    it had freed (1M cases: training's peak 4.5 GB, 3.8 GB with this; docs/benchmarks.md).
    Dask's nanny does the same for its workers through ``MALLOC_TRIM_THRESHOLD_``; an
    environment variable is read only when a process starts, so here it is ``mallopt``."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return all(
        mallopt(ctypes.c_int(parameter), ctypes.c_int(MALLOC_RETURN_BYTES)) == 1
        for parameter in (_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD)
    )


_THREADS: ContextVar[int] = ContextVar("fit_threads", default=1)
_CLUSTER: ContextVar[Cluster | None] = ContextVar("fit_cluster", default=None)
_ABANDONED: ContextVar[tuple[threading.Event, ...]] = ContextVar("fit_abandoned", default=())
"""The failure flags of the ``alongside`` chains this thread works for: once one is set, no
further fit starts."""


class ChainAbandonedError(Exception):
    """The other chain of ``alongside`` failed: this one stopped before its next fit."""


def _stop_if_abandoned(abandoned: tuple[threading.Event, ...]) -> None:
    if any(event.is_set() for event in abandoned):
        raise ChainAbandonedError("stopped: the chain beside this one failed")


def _unless_abandoned(abandoned: tuple[threading.Event, ...], task: Callable[[], T]) -> T:
    """``task()`` unless a chain it works for was abandoned, with ``abandoned`` known inside it
    (a worker thread does not inherit its caller's context), so its own fits check it too."""
    _stop_if_abandoned(abandoned)
    token = _ABANDONED.set(abandoned)
    try:
        return task()
    finally:
        _ABANDONED.reset(token)


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


@contextmanager
def fits_on_cluster(client: Cluster) -> Iterator[None]:
    """Within this block ``side_by_side`` runs its fits as tasks on ``client``'s cluster."""
    token = _CLUSTER.set(client)
    try:
        yield
    finally:
        _CLUSTER.reset(token)


@contextmanager
def fits_on_cluster_at(address: str | None) -> Iterator[None]:
    """``fits_on_cluster`` with a client of the Dask scheduler at ``address`` (Dask imported
    only then); None: the fits run here, as without this block."""
    if address is None:
        yield
        return
    from distributed import Client

    try:
        client = Client(address)
    except OSError as exc:
        raise OSError(f"the Dask cluster at {address} cannot be reached: {exc}") from None
    with client, fits_on_cluster(client):
        yield


def _single_threaded(task: Callable[[], T]) -> T:
    with threadpool_limits(limits=1):  # OpenMP's thread count is per thread: set it in each
        return task()


def _call_single_threaded(func: Callable[..., T], args: list[Any], kwargs: dict[str, Any]) -> T:
    return _single_threaded(partial(func, *args, **kwargs))


def _size(value: object) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, pl.DataFrame):
        return int(value.estimated_size())
    return 0


def _identity(value: T) -> T:
    return value


def _on_cluster(client: Cluster, tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Each task as a cluster task; a ``partial``'s large arguments sent once, as tasks of
    their own that the fits depend on."""
    import dask

    sent: dict[int, Any] = {}

    def shipped(value: object) -> object:
        if _size(value) <= SEND_ONCE_BYTES:
            return value
        if id(value) not in sent:
            sent[id(value)] = client.submit(_identity, value, pure=False)
        return sent[id(value)]

    futures = []
    # each large argument is sent once, on purpose: Dask's warning is for data inside every task
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "100GB"}):
        for task in tasks:
            func, args, kwargs = (
                (task.func, task.args, task.keywords)
                if isinstance(task, partial)
                else (task, (), {})
            )
            sent_args = [shipped(a) for a in args]
            sent_kwargs = {name: shipped(v) for name, v in kwargs.items()}
            call = (_call_single_threaded, func, sent_args, sent_kwargs)
            futures.append(client.submit(*call, pure=False))
    return list(client.gather(futures))


def side_by_side(tasks: Sequence[Callable[[], T]], *, on_cluster: bool = True) -> list[T]:
    """The results of ``tasks`` in order: on the cluster of ``fits_on_cluster`` (unless
    ``on_cluster`` is False: predictions, cheaper here than their inputs are to send), else in
    up to ``fit_threads`` threads (one after the other outside such a block or inside a worker
    thread)."""
    abandoned = _ABANDONED.get()
    _stop_if_abandoned(abandoned)
    client = _CLUSTER.get()
    if client is not None and on_cluster and tasks:
        return _on_cluster(client, tasks)
    threads = min(_THREADS.get(), len(tasks))
    checked = [partial(_unless_abandoned, abandoned, task) for task in tasks]
    if threads <= 1:
        return [task() for task in checked]
    with ThreadPoolExecutor(threads, thread_name_prefix="fit") as pool:
        return list(pool.map(_single_threaded, checked))


def alongside(first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
    """``first()`` in a thread of its own while this thread runs ``second()``; both results.
    ``first`` keeps this thread's ``fit_threads`` and cluster, so both chains send their fits
    on as before; every fit carries its own seed, so the results are those of one chain after
    the other. When one chain fails, the other stops at its next fit and that failure is
    raised; where both fail on their own, ``first``'s error, as if it had run first."""
    failed = threading.Event()
    token = _ABANDONED.set((*_ABANDONED.get(), failed))
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="chain") as pool:
            started = pool.submit(copy_context().run, _setting_on_failure, failed, first)
            try:
                done = _setting_on_failure(failed, second, single_threaded=False)
            except Exception:
                first_error = started.exception()  # waits for ``first``: stopped at its next fit
                if first_error is None or isinstance(first_error, ChainAbandonedError):
                    raise
                raise first_error from None
            return started.result(), done
    finally:
        _ABANDONED.reset(token)


def _setting_on_failure(
    failed: threading.Event, chain: Callable[[], T], *, single_threaded: bool = True
) -> T:
    """``chain()``, with ``failed`` set if it raises, so the chain beside it stops."""
    try:
        return _single_threaded(chain) if single_threaded else chain()
    except BaseException:
        failed.set()
        raise
